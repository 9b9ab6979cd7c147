// Unit tests of the rule compiler and matcher: each kind of match item (content, nocase,
// binary content, pcre) with offset/depth at the exact window edges, in BLOCK and STREAM
// mode; multi-item rules (logical combinations) firing once, when the last item arrives;
// matches split across stream writes reported during the completing write; Hyperscan
// compile errors mapped to the item's file:line:col; a differential test against a naive
// reference matcher; and the on-disk database cache (hit, corrupt byte, truncation).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/compiler.hpp"
#include "rules/matcher.hpp"

namespace sentinel::rules {
namespace {

namespace fs = std::filesystem;
using config::LoadError;
using config::SourcePos;

// ---------------------------------------------------------------------------------------
// Building rules

MatchItem content(std::string bytes, bool nocase = false) {
  MatchItem item;
  item.kind = MatchItem::Kind::kContent;
  item.pattern = std::move(bytes);
  item.nocase = nocase;
  item.pos = {"test.toml", 0, 0};
  return item;
}

MatchItem pcre(std::string expression, bool nocase = false) {
  MatchItem item = content(std::move(expression), nocase);
  item.kind = MatchItem::Kind::kPcre;
  return item;
}

MatchItem at(MatchItem item, uint32_t line, uint32_t column) {
  item.pos = {"test.toml", line, column};
  return item;
}

MatchItem window(MatchItem item, std::optional<uint32_t> offset, std::optional<uint32_t> depth) {
  item.offset = offset;
  item.depth = depth;
  return item;
}

Rule rule(uint32_t sid, Proto proto, std::vector<MatchItem> items) {
  Rule r;
  r.sid = sid;
  r.msg = "rule " + std::to_string(sid);
  r.proto = proto;
  r.match = std::move(items);
  r.pos = {"test.toml", sid, 1};
  return r;
}

std::shared_ptr<const RuleSet> compile(const std::vector<Rule>& rules,
                                       const std::string& cache_dir = {}) {
  CompileOptions options;
  options.cache_dir = cache_dir;
  return compile_rules(rules, options);
}

Scratch scratch_for(const RuleSet& set) {
  Scratch scratch;
  const HsStatus status = scratch.allocate_for(set);
  EXPECT_TRUE(status.ok()) << status.call << ": " << hs_error_name(status.code);
  return scratch;
}

const uint8_t* bytes_of(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// ---------------------------------------------------------------------------------------
// Scanning helpers

// The sids a BLOCK scan of `payload` reports, in report order (each at most once).
std::vector<uint32_t> block_sids(const RuleSet& set, Scratch& scratch, std::string_view payload) {
  std::vector<uint32_t> sids;
  sids.reserve(set.rule_count());
  const HsStatus status =
      scan_block(set, scratch, bytes_of(payload), payload.size(),
                 [&](const CompiledRule& r, uint64_t) noexcept { sids.push_back(r.sid); });
  EXPECT_TRUE(status.ok()) << status.call << ": " << hs_error_name(status.code);
  return sids;
}

std::set<uint32_t> block_set(const RuleSet& set, Scratch& scratch, std::string_view payload) {
  const std::vector<uint32_t> sids = block_sids(set, scratch, payload);
  return {sids.begin(), sids.end()};
}

constexpr size_t kAtClose = SIZE_MAX;

struct StreamHit {
  uint32_t sid;
  uint64_t end;  // offset just past the match, from the stream start
  size_t write;  // index of the write during which it was reported; kAtClose
  friend bool operator==(const StreamHit&, const StreamHit&) = default;
};

std::ostream& operator<<(std::ostream& os, const StreamHit& h) {
  return os << "{sid " << h.sid << ", end " << h.end << ", write "
            << (h.write == kAtClose ? std::string("close") : std::to_string(h.write)) << "}";
}

// Opens a stream, writes each element of `writes`, closes it; every report with the write
// it happened in.
std::vector<StreamHit> stream_hits(const RuleSet& set, Scratch& scratch,
                                   const std::vector<std::string>& writes) {
  std::vector<StreamHit> hits;
  hits.reserve(set.rule_count() + 1);
  Stream stream;
  HsStatus status = open_stream(set, stream);
  EXPECT_TRUE(status.ok()) << status.call << ": " << hs_error_name(status.code);
  size_t write = 0;
  auto on_match = [&](const CompiledRule& r, uint64_t end) noexcept {
    hits.push_back({r.sid, end, write});
  };
  for (; write < writes.size(); ++write) {
    status =
        scan_stream(set, stream, scratch, bytes_of(writes[write]), writes[write].size(), on_match);
    EXPECT_TRUE(status.ok()) << status.call << ": " << hs_error_name(status.code);
  }
  write = kAtClose;
  status = close_stream(set, stream, scratch, on_match);
  EXPECT_TRUE(status.ok()) << status.call << ": " << hs_error_name(status.code);
  EXPECT_FALSE(stream.is_open());
  return hits;
}

std::vector<std::string> one_byte_writes(std::string_view data) {
  std::vector<std::string> out;
  for (const char ch : data) out.emplace_back(1, ch);
  return out;
}

std::set<uint32_t> sids_of(const std::vector<StreamHit>& hits) {
  std::set<uint32_t> out;
  for (const StreamHit& h : hits) out.insert(h.sid);
  return out;
}

// ---------------------------------------------------------------------------------------
// Databases and rule data

TEST(RulesCompiler, ProtoChoosesTheDatabases) {
  {
    const auto set = compile({rule(1, Proto::kTcp, {content("abc")})});
    EXPECT_NE(set->stream_db(), nullptr);
    EXPECT_EQ(set->block_db(), nullptr);
    EXPECT_GT(set->stream_state_size(), 0u);
  }
  for (const Proto proto : {Proto::kUdp, Proto::kIcmp}) {
    const auto set = compile({rule(1, proto, {content("abc")})});
    EXPECT_EQ(set->stream_db(), nullptr);
    EXPECT_NE(set->block_db(), nullptr);
    EXPECT_EQ(set->stream_state_size(), 0u);
  }
  const auto set =
      compile({rule(1, Proto::kIp, {content("abc")}), rule(2, Proto::kTcp, {content("tcp-only")}),
               rule(3, Proto::kUdp, {content("udp"), content("only")})});
  ASSERT_NE(set->stream_db(), nullptr);
  ASSERT_NE(set->block_db(), nullptr);
  EXPECT_EQ(set->rule_count(), 3u);
  EXPECT_EQ(set->report().stream.expressions, 2u);  // rules 1 and 2
  EXPECT_EQ(set->report().block.expressions, 4u);   // rule 1; rule 3: 2 items + combination
  EXPECT_EQ(set->expression_count(), 6u);
  Scratch scratch = scratch_for(*set);
  EXPECT_GT(scratch.size(), 0u);
  EXPECT_EQ(block_set(*set, scratch, "abc tcp-only udp only"), (std::set<uint32_t>{1, 3}));
  EXPECT_EQ(sids_of(stream_hits(*set, scratch, {"abc tcp-only udp only"})),
            (std::set<uint32_t>{1, 2}));
  std::printf("[ info ] 3 rules: stream state %zu B, stream db %zu B, block db %zu B, %.1f ms\n",
              set->stream_state_size(), set->report().stream.bytes, set->report().block.bytes,
              set->report().total_ms);
}

TEST(RulesCompiler, EmptyRuleSetHasNoDatabases) {
  const auto set = compile({});
  EXPECT_EQ(set->stream_db(), nullptr);
  EXPECT_EQ(set->block_db(), nullptr);
  Scratch scratch = scratch_for(*set);
  EXPECT_TRUE(scratch.empty());
  EXPECT_TRUE(block_sids(*set, scratch, "anything").empty());
  EXPECT_TRUE(stream_hits(*set, scratch, {"anything"}).empty());
}

TEST(RulesCompiler, CompiledRuleCarriesTheRuleData) {
  Rule r = rule(2017172150, Proto::kTcp, {content("/ctrlt/DeviceUpgrade_1")});
  r.gid = 7;
  r.rev = 3;
  r.action = Action::kDrop;
  r.direction = Direction::kToVendor;
  r.severity = 1;
  r.classtype = "attempted-admin";
  r.msg = "Huawei HG532 UPnP command injection (CVE-2017-17215)";
  r.dst_ports = {{37215, 37215}};
  r.src_ports = {{1024, 65535}};
  std::string why;
  r.dst_nets.include.push_back(*config::parse_cidr("192.0.2.0/24", why));
  r.src_nets.exclude.push_back(*config::parse_cidr("2001:db8::/32", why));
  r.metadata["cve"] = {"CVE-2017-17215"};
  const auto set = compile({r});
  const CompiledRule& c = set->rule(0);
  EXPECT_EQ(c.sid, r.sid);
  EXPECT_EQ(c.gid, 7u);
  EXPECT_EQ(c.rev, 3u);
  EXPECT_EQ(c.action, Action::kDrop);
  EXPECT_EQ(c.proto, Proto::kTcp);
  EXPECT_EQ(c.direction, Direction::kToVendor);
  EXPECT_EQ(c.severity, 1);
  EXPECT_EQ(c.classtype, "attempted-admin");
  EXPECT_EQ(c.msg, r.msg);
  ASSERT_EQ(c.dst_ports.size(), 1u);
  EXPECT_EQ(c.dst_ports[0].lo, 37215);
  ASSERT_EQ(c.src_ports.size(), 1u);
  EXPECT_EQ(c.src_ports[0].lo, 1024);
  EXPECT_EQ(c.dst_nets.include, r.dst_nets.include);
  EXPECT_EQ(c.src_nets.exclude, r.src_nets.exclude);
  EXPECT_EQ(c.metadata, r.metadata);
  EXPECT_EQ(c.pos.line, r.pos.line);
  EXPECT_EQ(c.items, 1u);
}

// ---------------------------------------------------------------------------------------
// Match items

TEST(RulesCompiler, Content) {
  const auto set = compile({rule(1, Proto::kUdp, {content("GET /admin")})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_sids(*set, scratch, "GET /admin HTTP/1.0"), (std::vector<uint32_t>{1}));
  EXPECT_EQ(block_sids(*set, scratch, "xxGET /adminGET /admin"), (std::vector<uint32_t>{1}));
  EXPECT_TRUE(block_sids(*set, scratch, "get /admin").empty());
  EXPECT_TRUE(block_sids(*set, scratch, "GET /admi").empty());
  EXPECT_TRUE(block_sids(*set, scratch, "").empty());
}

TEST(RulesCompiler, Nocase) {
  const auto set = compile({rule(1, Proto::kUdp, {content("SeLeCt * FROM", true)}),
                            rule(2, Proto::kUdp, {content("Exact")})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_set(*set, scratch, "select * from t"), (std::set<uint32_t>{1}));
  EXPECT_EQ(block_set(*set, scratch, "SELECT * FROM t"), (std::set<uint32_t>{1}));
  EXPECT_TRUE(block_set(*set, scratch, "SELECT + FROM").empty());
  EXPECT_TRUE(block_set(*set, scratch, "EXACT exact").empty());
  EXPECT_EQ(block_set(*set, scratch, "Exact"), (std::set<uint32_t>{2}));
}

TEST(RulesCompiler, BinaryContentAndRegexMetacharacters) {
  // |00 FF|, regex metacharacters, a backslash and braces: all literal bytes.
  constexpr char kBytes[] = "\x00\xff|.*(\\x{41}$^[]?+";
  const std::string pattern(kBytes, sizeof kBytes - 1);
  const auto set = compile({rule(1, Proto::kUdp, {content(pattern)}),
                            rule(2, Proto::kUdp, {content(std::string("\x01\x02\x03", 3))})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_set(*set, scratch, "pre" + pattern + "post"), (std::set<uint32_t>{1}));
  std::string other = pattern;
  other[3] = 'x';  // '.' must not act as a wildcard
  EXPECT_TRUE(block_set(*set, scratch, other).empty());
  other = pattern;
  other[0] = '\x01';
  EXPECT_TRUE(block_set(*set, scratch, other).empty());
  EXPECT_EQ(block_set(*set, scratch, std::string("\x00\x01\x02\x03\x04", 5)),
            (std::set<uint32_t>{2}));
  EXPECT_TRUE(block_set(*set, scratch, std::string("\x01\x02\x02\x03", 4)).empty());
}

TEST(RulesCompiler, Pcre) {
  const auto set =
      compile({rule(1, Proto::kUdp, {pcre(R"(NewStatusURL>\$\()")}),
               rule(2, Proto::kUdp, {pcre("a.b")}), rule(3, Proto::kUdp, {pcre("(?s)c.d")}),
               rule(4, Proto::kUdp, {pcre("user=[a-z]{3,}\\d", true)})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_set(*set, scratch, "<NewStatusURL>$(/bin/busybox"), (std::set<uint32_t>{1}));
  EXPECT_TRUE(block_set(*set, scratch, "<NewStatusURL>$/bin").empty());
  // PCRE defaults: '.' does not match a newline unless (?s).
  EXPECT_EQ(block_set(*set, scratch, "axb"), (std::set<uint32_t>{2}));
  EXPECT_TRUE(block_set(*set, scratch, "a\nb").empty());
  EXPECT_EQ(block_set(*set, scratch, "c\nd"), (std::set<uint32_t>{3}));
  EXPECT_EQ(block_set(*set, scratch, "USER=ROOT1"), (std::set<uint32_t>{4}));
  EXPECT_TRUE(block_set(*set, scratch, "user=ro1").empty());
}

// Snort window [offset, offset+depth): a match exactly at either edge fires, one byte
// outside does not — BLOCK and STREAM (byte-by-byte writes) alike.
struct WindowCase {
  std::string payload;
  bool fires;
};

void expect_window(const RuleSet& set, const std::vector<WindowCase>& cases) {
  Scratch scratch = scratch_for(set);
  for (const WindowCase& c : cases) {
    EXPECT_EQ(block_set(set, scratch, c.payload).size(), c.fires ? 1u : 0u)
        << "block: " << c.payload;
    EXPECT_EQ(sids_of(stream_hits(set, scratch, {c.payload})).size(), c.fires ? 1u : 0u)
        << "stream: " << c.payload;
    EXPECT_EQ(sids_of(stream_hits(set, scratch, one_byte_writes(c.payload))).size(),
              c.fires ? 1u : 0u)
        << "stream, 1-byte writes: " << c.payload;
  }
}

TEST(RulesCompiler, ContentOffsetDepthEdges) {
  // "abc" must lie in [2, 7).
  expect_window(*compile({rule(1, Proto::kIp, {window(content("abc"), 2, 5)})}),
                {{"xxabc", true},      // starts at offset
                 {"xxxxabc", true},    // ends at offset + depth
                 {"xabc", false},      // starts one byte early
                 {"xxxxxabc", false},  // ends one byte late
                 {"xxxxxabcabc", false},
                 {"abcxabcxx", true}});  // the second occurrence is inside
  // depth only: "abc" in [0, 4).
  expect_window(*compile({rule(1, Proto::kIp, {window(content("abc"), std::nullopt, 4)})}),
                {{"abc", true}, {"xabc", true}, {"xxabc", false}});
  // offset only: "abc" starting at 3 or later.
  expect_window(*compile({rule(1, Proto::kIp, {window(content("abc"), 3, std::nullopt)})}),
                {{"xxxabc", true}, {"xxabc", false}, {"abcxxxxxxxxxxxxxxabc", true}});
  // depth == content length: only at exactly offset.
  expect_window(*compile({rule(1, Proto::kIp, {window(content("ab", true), 1, 2)})}),
                {{"xAB", true}, {"AB", false}, {"xxAB", false}});
}

TEST(RulesCompiler, PcreOffsetDepthEdges) {
  // Fixed width (3): exact, like content.
  expect_window(*compile({rule(1, Proto::kIp, {window(pcre("a[0-9]c"), 2, 5)})}),
                {{"xxa1c", true}, {"xxxxa1c", true}, {"xa1c", false}, {"xxxxxa1c", false}});
  // Variable width: max_offset bounds the end exactly; min_offset = offset + min width.
  expect_window(*compile({rule(1, Proto::kIp, {window(pcre("ab+c"), 1, 6)})}),
                {{"xabbbc", true},     // ends at 6 <= 7
                 {"xxxxxabc", false},  // ends at 8
                 {"xabbbbc", true},    // ends exactly at 7
                 {"abc", false}});     // ends at 3 < 1 + 3
}

TEST(RulesCompiler, MultiItemRuleNeedsEveryItem) {
  const auto set = compile(
      {rule(1, Proto::kIp, {content("USER admin"), content("PASS", true), pcre("back[d]oor")})});
  EXPECT_EQ(set->rule(0).items, 3u);
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_sids(*set, scratch, "USER admin\r\npass backdoor\r\n"),
            (std::vector<uint32_t>{1}));
  // Order does not matter; each item once is enough; the rule is reported once.
  EXPECT_EQ(block_sids(*set, scratch, "backdoor PASS USER admin PASS backdoor USER admin"),
            (std::vector<uint32_t>{1}));
  EXPECT_TRUE(block_sids(*set, scratch, "USER admin\r\npass backd00r\r\n").empty());
  EXPECT_TRUE(block_sids(*set, scratch, "USER admin backdoor").empty());
  EXPECT_TRUE(block_sids(*set, scratch, "PASS backdoor").empty());

  // STREAM: the items in different writes; reported during the write that completes the
  // last one, once, not at close.
  const std::vector<StreamHit> hits = stream_hits(
      *set, scratch, {"USER admin\r\n", "PASS x\r\n", "no\r\n", "back", "door!", "USER admin"});
  EXPECT_EQ(hits, (std::vector<StreamHit>{{1, 32, 4}}));
  EXPECT_TRUE(stream_hits(*set, scratch, {"USER admin\r\n", "PASS x\r\n", "nope"}).empty());
}

// Hyperscan 5.4 reports a logical combination in stream mode only at the next match or at
// close; the matcher's own AND must report during the write that completes the rule —
// including when that write is the flow's last and when one write holds every item.
TEST(RulesCompiler, MultiItemStreamRuleFiresInTheCompletingWriteNotAtClose) {
  const auto set = compile({rule(1, Proto::kTcp, {content("USER"), content("PASS")}),
                            rule(2, Proto::kTcp, {pcre("GET [^ ]+\\.cgi"), content("cmd=")})});
  EXPECT_EQ(set->stream_items().size(), 4u);
  EXPECT_EQ(set->stream_item_words(), 1u);
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(stream_hits(*set, scratch, {"USER x PASS y"}), (std::vector<StreamHit>{{1, 11, 0}}));
  EXPECT_EQ(stream_hits(*set, scratch, {"USER x ", "PA", "SS"}),
            (std::vector<StreamHit>{{1, 11, 2}}));
  EXPECT_EQ(stream_hits(*set, scratch, {"GET /a.cgi?", "cmd=reboot"}),
            (std::vector<StreamHit>{{2, 15, 1}}));
  EXPECT_EQ(stream_hits(*set, scratch, one_byte_writes("cmd= GET /x.cgi USER PASS")),
            (std::vector<StreamHit>{{2, 15, 14}, {1, 25, 24}}));
}

TEST(RulesCompiler, StreamItemBitmapInCallerMemory) {
  const auto set = compile({rule(1, Proto::kIp, {content("one"), content("two")}),
                            rule(2, Proto::kUdp, {content("u1"), content("u2")})});
  ASSERT_EQ(set->stream_item_words(), 1u);  // the udp rule has no stream slots
  Scratch scratch = scratch_for(*set);
  std::vector<uint64_t> words(1, ~uint64_t{0});  // garbage: open_stream zeroes it
  Stream stream;
  ASSERT_TRUE(open_stream(*set, stream, words).ok());
  EXPECT_EQ(words[0], 0u);
  int hits = 0;
  auto count = [&](const CompiledRule&, uint64_t) noexcept { ++hits; };
  ASSERT_TRUE(scan_stream(*set, stream, scratch, bytes_of("two"), 3, count).ok());
  EXPECT_NE(words[0], 0u);
  EXPECT_EQ(hits, 0);
  ASSERT_TRUE(scan_stream(*set, stream, scratch, bytes_of(" one"), 4, count).ok());
  EXPECT_EQ(hits, 1);
  ASSERT_TRUE(reset_stream(*set, stream, scratch, count).ok());
  EXPECT_EQ(words[0], 0u);
  ASSERT_TRUE(close_stream(*set, stream, scratch, count).ok());
  // Too small a bitmap is refused, and leaves the stream closed.
  const HsStatus status = open_stream(*set, stream, std::span<uint64_t>());
  EXPECT_EQ(status.code, HS_INVALID);
  EXPECT_FALSE(stream.is_open());
  // No multi-item tcp/ip rule: no bitmap needed.
  const auto single = compile({rule(1, Proto::kTcp, {content("x")})});
  EXPECT_EQ(single->stream_item_words(), 0u);
  ASSERT_TRUE(open_stream(*single, stream, std::span<uint64_t>()).ok());
  EXPECT_TRUE(stream.is_open());
}

TEST(RulesCompiler, MultiItemRuleWithWindows) {
  // Each item keeps its own window inside the combination.
  const auto set = compile({rule(
      1, Proto::kIp, {window(content("HDR"), 0, 3), window(content("KEY"), 10, std::nullopt)})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(block_set(*set, scratch, "HDR.......KEY"), (std::set<uint32_t>{1}));
  EXPECT_TRUE(block_set(*set, scratch, "HDR......KEY").empty());    // KEY at 9
  EXPECT_TRUE(block_set(*set, scratch, "xHDR.......KEY").empty());  // HDR at 1
  EXPECT_EQ(sids_of(stream_hits(*set, scratch, one_byte_writes("HDR.......KEY"))),
            (std::set<uint32_t>{1}));
}

// ---------------------------------------------------------------------------------------
// STREAM mode across writes

TEST(RulesCompiler, StreamMatchSplitAcrossWritesFiresOnceAtTheCompletingWrite) {
  const auto set = compile({rule(1, Proto::kTcp, {content("backdoor")}),
                            rule(2, Proto::kTcp, {content("CALLHOME", true)})});
  Scratch scratch = scratch_for(*set);
  // Two writes.
  EXPECT_EQ(stream_hits(*set, scratch, {"xx back", "door yy backdoor"}),
            (std::vector<StreamHit>{{1, 11, 1}}));
  // One-byte writes: reported while writing the final 'r' (byte 9 of "..backdoor..").
  EXPECT_EQ(stream_hits(*set, scratch, one_byte_writes("..backdoor..backdoor")),
            (std::vector<StreamHit>{{1, 10, 9}}));
  EXPECT_EQ(stream_hits(*set, scratch, one_byte_writes("callhome")),
            (std::vector<StreamHit>{{2, 8, 7}}));
  // Empty writes in between change nothing.
  EXPECT_EQ(stream_hits(*set, scratch, {"call", "", "ho", "", "me"}),
            (std::vector<StreamHit>{{2, 8, 4}}));
  // An incomplete match never fires, not even at close.
  EXPECT_TRUE(stream_hits(*set, scratch, {"back", "doo"}).empty());
}

TEST(RulesCompiler, StreamResetStartsAFreshStream) {
  const auto set = compile({rule(1, Proto::kTcp, {window(content("abc"), std::nullopt, 3)})});
  Scratch scratch = scratch_for(*set);
  Stream stream;
  ASSERT_TRUE(open_stream(*set, stream).ok());
  ASSERT_TRUE(stream.is_open());
  int hits = 0;
  auto on_match = [&](const CompiledRule&, uint64_t) noexcept { ++hits; };
  ASSERT_TRUE(scan_stream(*set, stream, scratch, bytes_of("abc"), 3, on_match).ok());
  EXPECT_EQ(hits, 1);
  ASSERT_TRUE(reset_stream(*set, stream, scratch, on_match).ok());
  EXPECT_TRUE(stream.is_open());
  // Offsets count from the reset, and SINGLEMATCH is per stream.
  ASSERT_TRUE(scan_stream(*set, stream, scratch, bytes_of("abc"), 3, on_match).ok());
  EXPECT_EQ(hits, 2);
  ASSERT_TRUE(close_stream(*set, stream, scratch, on_match).ok());
  EXPECT_FALSE(stream.is_open());
  EXPECT_EQ(hits, 2);
}

TEST(RulesCompiler, EndOfStreamMatchesComeAtClose) {
  const auto set = compile({rule(1, Proto::kTcp, {pcre("quit$")})});
  Scratch scratch = scratch_for(*set);
  EXPECT_EQ(stream_hits(*set, scratch, {"qu", "it"}), (std::vector<StreamHit>{{1, 4, kAtClose}}));
  // A Stream destroyed without close_stream frees its state silently (ASan checks it).
  Stream stream;
  ASSERT_TRUE(open_stream(*set, stream).ok());
  ASSERT_TRUE(scan_stream(*set, stream, scratch, bytes_of("quit"), 4,
                          [](const CompiledRule&, uint64_t) noexcept {})
                  .ok());
}

TEST(RulesCompiler, CallbackCanStopTheScan) {
  const auto set =
      compile({rule(1, Proto::kIp, {content("a")}), rule(2, Proto::kIp, {content("b")})});
  Scratch scratch = scratch_for(*set);
  int calls = 0;
  auto stop = [&](const CompiledRule&, uint64_t) noexcept {
    ++calls;
    return MatchControl::kStop;
  };
  const HsStatus status = scan_block(*set, scratch, bytes_of("ab"), 2, stop);
  EXPECT_TRUE(status.stopped());
  EXPECT_STREQ(status.call, "hs_scan");
  EXPECT_EQ(calls, 1);

  Stream stream;
  ASSERT_TRUE(open_stream(*set, stream).ok());
  EXPECT_TRUE(scan_stream(*set, stream, scratch, bytes_of("a"), 1, stop).stopped());
  EXPECT_TRUE(scan_stream(*set, stream, scratch, bytes_of("b"), 1, stop).stopped());
  EXPECT_EQ(calls, 2);
}

TEST(RulesCompiler, ClonedScratchScansToo) {
  const auto set = compile({rule(1, Proto::kIp, {content("clone")})});
  Scratch first = scratch_for(*set);
  Scratch second;
  ASSERT_TRUE(first.clone_into(second).ok());
  EXPECT_FALSE(second.empty());
  EXPECT_EQ(block_set(*set, second, "a clone"), (std::set<uint32_t>{1}));
}

// ---------------------------------------------------------------------------------------
// Errors

TEST(RulesCompiler, UnsupportedPcreNamesTheItemAndHyperscansMessage) {
  try {
    (void)compile({rule(10, Proto::kTcp, {content("fine"), at(pcre(R"((a)\1)"), 12, 15)})});
    FAIL() << "expected a LoadError";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().file, "test.toml");
    EXPECT_EQ(e.pos().line, 12u);
    EXPECT_EQ(e.pos().column, 15u);
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("test.toml:12:15: pcre '(a)\\1' rejected by Hyperscan: ", 0), 0u) << what;
    EXPECT_NE(what.find("Back-references are unsupported"), std::string::npos) << what;
    std::printf("[ info ] %s\n", what.c_str());
  }
}

TEST(RulesCompiler, CompileErrorIndexMapsToTheRightItemInEitherDatabase) {
  // The bad item is in the block database only, after expressions of ip rules that are in
  // both: the index Hyperscan reports must map back through the block list.
  const std::vector<Rule> rules = {
      rule(1, Proto::kTcp, {content("one")}),
      rule(2, Proto::kIp, {content("two"), pcre("t[wo]+")}),
      rule(3, Proto::kUdp, {at(content("three"), 30, 3), at(pcre("th(?<n>r)\\k<n>"), 31, 7)}),
      rule(4, Proto::kIp, {content("four")}),
  };
  try {
    (void)compile(rules);
    FAIL() << "expected a LoadError";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().line, 31u) << e.what();
    EXPECT_EQ(e.pos().column, 7u) << e.what();
  }
  // And in the stream database (a tcp rule after ip rules).
  const std::vector<Rule> stream_rules = {
      rules[0], rules[1], rules[3],
      rule(5, Proto::kTcp, {at(pcre("ok"), 40, 2), at(pcre("x{2,1}"), 41, 4)})};
  try {
    (void)compile(stream_rules);
    FAIL() << "expected a LoadError";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().line, 41u) << e.what();
    EXPECT_EQ(e.pos().column, 4u) << e.what();
    EXPECT_NE(std::string(e.what()).find("pcre 'x{2,1}' rejected by Hyperscan: "),
              std::string::npos)
        << e.what();
  }
}

void expect_load_error(const std::vector<Rule>& rules, uint32_t line, uint32_t column,
                       const std::string& text) {
  try {
    (void)compile(rules);
    ADD_FAILURE() << "expected a LoadError containing " << text;
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().line, line) << e.what();
    EXPECT_EQ(e.pos().column, column) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(RulesCompiler, InvalidItemsAreLoadErrorsAtTheirPosition) {
  expect_load_error({rule(5, Proto::kTcp, {})}, 5, 1, "rule 5 has no match items");
  expect_load_error({rule(5, Proto::kTcp, {at(content(""), 6, 9)})}, 6, 9, "empty content");
  expect_load_error({rule(5, Proto::kTcp, {at(pcre(""), 6, 9)})}, 6, 9, "empty pcre");
  expect_load_error({rule(5, Proto::kTcp, {at(pcre(std::string("a\0b", 3)), 6, 9)})}, 6, 9,
                    "NUL byte");
  expect_load_error({rule(5, Proto::kTcp, {at(window(content("abcd"), 1, 3), 7, 2)})}, 7, 2,
                    "depth 3 is shorter than the content (4 bytes)");
  expect_load_error({rule(5, Proto::kTcp, {at(window(pcre("a"), 0, 0), 7, 2)})}, 7, 2,
                    "depth must be at least 1");
  // With an offset the pcre goes through hs_expression_info first: same kind of message.
  expect_load_error({rule(5, Proto::kTcp, {at(window(pcre("(a"), 4, std::nullopt), 8, 3)})}, 8, 3,
                    "pcre '(a' rejected by Hyperscan: ");
  // A window a pcre can never fit in is Hyperscan's call.
  expect_load_error({rule(5, Proto::kUdp, {at(window(pcre("abcdef"), 0, 3), 9, 4)})}, 9, 4,
                    "rejected by Hyperscan: ");
  // A combination Hyperscan refuses only as a whole database (no expression index): the
  // rule that fails on its own is named (ET sid 2016304 has this shape).
  expect_load_error({rule(3, Proto::kUdp, {content("abc")}),
                     rule(7, Proto::kUdp, {content("xyz"), pcre("(?m)^q\\s*$")})},
                    7, 1, "the rule's match items rejected by Hyperscan (block database): ");
}

// ---------------------------------------------------------------------------------------
// Differential test against a naive reference matcher

struct RefItem {
  std::string bytes;
  bool nocase;
  std::optional<uint32_t> offset;
  std::optional<uint32_t> depth;
};

char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ref_item_matches(const RefItem& item, std::string_view payload) {
  const size_t offset = item.offset.value_or(0);
  if (offset > payload.size()) return false;
  size_t end = payload.size();
  if (item.depth) end = std::min(end, offset + *item.depth);
  if (end < offset) return false;
  const std::string_view window = payload.substr(offset, end - offset);
  auto eq = [&](char a, char b) { return item.nocase ? fold(a) == fold(b) : a == b; };
  return std::search(window.begin(), window.end(), item.bytes.begin(), item.bytes.end(), eq) !=
         window.end();
}

TEST(RulesCompiler, DifferentialAgainstNaiveSearch) {
  const uint32_t seed = 20240611;
  std::mt19937 rng(seed);
  auto uniform = [&](size_t lo, size_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<size_t>(lo, hi)(rng);
  };
  const std::string alphabet("abAB\x00\xff|.", 8);
  auto random_payload = [&](size_t max_len) {
    std::string s(uniform(0, max_len), '\0');
    for (char& c : s) c = alphabet[uniform(0, alphabet.size() - 1)];
    return s;
  };

  constexpr size_t kRules = 120;
  constexpr size_t kPayloads = 300;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < kPayloads; ++i) payloads.push_back(random_payload(160));

  std::vector<Rule> rules;
  std::vector<std::vector<RefItem>> refs;
  const Proto protos[] = {Proto::kTcp, Proto::kUdp, Proto::kIcmp, Proto::kIp};
  for (size_t r = 0; r < kRules; ++r) {
    const size_t n_items = uniform(0, 9) < 8 ? 1 : uniform(2, 3);
    std::vector<MatchItem> items;
    std::vector<RefItem> ref;
    for (size_t i = 0; i < n_items; ++i) {
      // A literal drawn from a payload, so most rules can match somewhere.
      const std::string* from = &payloads[uniform(0, kPayloads - 1)];
      while (from->size() < 8) from = &payloads[uniform(0, kPayloads - 1)];
      const std::string& from_payload = *from;
      const size_t len = uniform(2, 7);
      const size_t start = uniform(0, from_payload.size() - len);
      RefItem ri{from_payload.substr(start, len), uniform(0, 2) == 0, std::nullopt, std::nullopt};
      if (uniform(0, 3) == 0) ri.offset = static_cast<uint32_t>(uniform(0, 80));
      if (uniform(0, 3) == 0) ri.depth = static_cast<uint32_t>(uniform(len, 90));
      MatchItem item = window(content(ri.bytes, ri.nocase), ri.offset, ri.depth);
      items.push_back(item);
      ref.push_back(ri);
    }
    rules.push_back(rule(static_cast<uint32_t>(r), protos[uniform(0, 3)], items));
    refs.push_back(ref);
  }

  const auto set = compile(rules);
  Scratch scratch = scratch_for(*set);
  size_t block_hits = 0;
  size_t stream_hit_count = 0;
  for (size_t p = 0; p < kPayloads; ++p) {
    const std::string& payload = payloads[p];
    std::set<uint32_t> want_block;
    std::set<uint32_t> want_stream;
    for (size_t r = 0; r < kRules; ++r) {
      const bool all = std::all_of(refs[r].begin(), refs[r].end(), [&](const RefItem& it) {
        return ref_item_matches(it, payload);
      });
      if (!all) continue;
      if (rules[r].proto != Proto::kTcp) want_block.insert(static_cast<uint32_t>(r));
      if (rules[r].proto == Proto::kTcp || rules[r].proto == Proto::kIp) {
        want_stream.insert(static_cast<uint32_t>(r));
      }
    }
    const std::vector<uint32_t> got_block = block_sids(*set, scratch, payload);
    EXPECT_EQ(std::set<uint32_t>(got_block.begin(), got_block.end()).size(), got_block.size())
        << "a rule reported twice; seed " << seed << " payload " << p;
    EXPECT_EQ(std::set<uint32_t>(got_block.begin(), got_block.end()), want_block)
        << "seed " << seed << " payload " << p;

    // The same payload as a stream in random pieces.
    std::vector<std::string> writes;
    for (size_t at = 0; at < payload.size();) {
      const size_t n = std::min(payload.size() - at, uniform(1, 24));
      writes.push_back(payload.substr(at, n));
      at += n;
    }
    const std::vector<StreamHit> got_stream = stream_hits(*set, scratch, writes);
    EXPECT_EQ(sids_of(got_stream).size(), got_stream.size())
        << "a rule reported twice; seed " << seed << " payload " << p;
    EXPECT_EQ(sids_of(got_stream), want_stream) << "seed " << seed << " payload " << p;
    for (const StreamHit& h : got_stream) EXPECT_NE(h.write, kAtClose);
    block_hits += want_block.size();
    stream_hit_count += want_stream.size();
  }
  // The test means something only if plenty of rules fire (and plenty do not).
  EXPECT_GT(block_hits, kPayloads);
  EXPECT_GT(stream_hit_count, kPayloads);
  EXPECT_LT(block_hits, kPayloads * kRules / 2);
  std::printf("[ info ] differential: %zu rules, %zu payloads, %zu block and %zu stream matches\n",
              kRules, kPayloads, block_hits, stream_hit_count);
}

// Figures for the record (printed, never asserted): 1000 rules, a fifth with two items.
TEST(RulesCompiler, ThousandRulesFigures) {
  std::mt19937 rng(7);
  std::vector<Rule> rules;
  for (uint32_t i = 0; i < 1000; ++i) {
    std::string lit = "sig" + std::to_string(i) + "-";
    for (int k = 0; k < 6; ++k) lit += static_cast<char>('a' + rng() % 26);
    std::vector<MatchItem> items{content(lit, i % 3 == 0)};
    if (i % 5 == 0)
      items.push_back(i % 10 == 0 ? pcre("x" + std::to_string(i) + "=[0-9]{2,8}")
                                  : content("k" + std::to_string(i)));
    rules.push_back(
        rule(i + 1, i % 2 == 0 ? Proto::kTcp : (i % 4 == 1 ? Proto::kUdp : Proto::kIp), items));
  }
  const auto set = compile(rules);
  Scratch scratch = scratch_for(*set);
  std::printf(
      "[ info ] 1000 rules: %zu expressions, %.1f ms; stream db %zu B, state %zu B + "
      "%zu B items; block db %zu B; scratch %zu B\n",
      set->expression_count(), set->report().total_ms, set->report().stream.bytes,
      set->stream_state_size(), set->stream_item_words() * 8, set->report().block.bytes,
      scratch.size());
  EXPECT_EQ(block_set(*set, scratch, "..." + rules[1].match[0].pattern + "..."),
            (std::set<uint32_t>{2}));
}

// ---------------------------------------------------------------------------------------
// Compiled-database cache

class RulesCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sentinel-test-rules-cache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<Rule> rules() {
    return {rule(1, Proto::kTcp, {content("stream-only"), pcre("x[0-9]+y")}),
            rule(2, Proto::kUdp, {content("BLOCK", true)}),
            rule(3, Proto::kIp, {window(content("both"), 1, 8)})};
  }

  // The cache file of one mode (exactly one must exist).
  fs::path file(const std::string& mode) const {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(mode + "-") && name.ends_with(".hsdb")) found.push_back(entry.path());
    }
    EXPECT_EQ(found.size(), 1u) << mode;
    return found.empty() ? fs::path() : found.front();
  }

  static void expect_works(const RuleSet& set) {
    Scratch scratch = scratch_for(set);
    EXPECT_EQ(block_set(set, scratch, "xboth block stream-only x12y"), (std::set<uint32_t>{2, 3}));
    EXPECT_EQ(sids_of(stream_hits(set, scratch, one_byte_writes("xboth block stream-only x12y"))),
              (std::set<uint32_t>{1, 3}));
  }

  fs::path dir_;
};

TEST_F(RulesCache, NoCacheDirMeansNotUsed) {
  const auto set = compile(rules());
  EXPECT_EQ(set->report().stream.cache, CacheOutcome::kNotUsed);
  EXPECT_EQ(set->report().block.cache, CacheOutcome::kNotUsed);
  const auto tcp_only = compile({rule(1, Proto::kTcp, {content("x")})}, dir_.string());
  EXPECT_EQ(tcp_only->report().stream.cache, CacheOutcome::kMiss);
  EXPECT_EQ(tcp_only->report().block.cache, CacheOutcome::kNotUsed);  // no block database
  EXPECT_FALSE(tcp_only->report().block.present);
}

TEST_F(RulesCache, SecondCompileLoadsFromTheCache) {
  const auto first = compile(rules(), dir_.string());
  EXPECT_EQ(first->report().stream.cache, CacheOutcome::kMiss);
  EXPECT_EQ(first->report().block.cache, CacheOutcome::kMiss);
  expect_works(*first);
  ASSERT_FALSE(file("stream").empty());
  ASSERT_FALSE(file("block").empty());

  const auto second = compile(rules(), dir_.string());
  EXPECT_EQ(second->report().stream.cache, CacheOutcome::kHit);
  EXPECT_EQ(second->report().block.cache, CacheOutcome::kHit);
  EXPECT_EQ(second->stream_state_size(), first->stream_state_size());
  EXPECT_EQ(second->report().stream.bytes, first->report().stream.bytes);
  expect_works(*second);
  std::printf("[ info ] cache: compile %.2f ms, load %.2f ms (stream db %zu B, block db %zu B)\n",
              first->report().total_ms, second->report().total_ms, first->report().stream.bytes,
              first->report().block.bytes);

  // Text that does not reach Hyperscan (msg, ports) keeps the key; an item change does not.
  std::vector<Rule> edited = rules();
  edited[0].msg = "renamed";
  edited[0].dst_ports = {{80, 80}};
  const auto third = compile(edited, dir_.string());
  EXPECT_EQ(third->report().stream.cache, CacheOutcome::kHit);
  EXPECT_EQ(third->rule(0).msg, "renamed");
  edited[1].match[0].nocase = false;
  const auto fourth = compile(edited, dir_.string());
  EXPECT_EQ(fourth->report().stream.cache, CacheOutcome::kHit);
  EXPECT_EQ(fourth->report().block.cache, CacheOutcome::kMiss);
}

void flip_byte(const fs::path& path, size_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open());
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x01));
  ASSERT_TRUE(f.good());
}

TEST_F(RulesCache, CorruptByteIsIgnoredAndRecompiled) {
  (void)compile(rules(), dir_.string());
  const fs::path stream_file = file("stream");
  const size_t size = fs::file_size(stream_file);
  // One byte in the database part, one in the key, one in the header's lengths.
  for (const size_t at : {size - 7, size / 2, size_t{60}, size_t{17}}) {
    flip_byte(stream_file, at);
    const auto set = compile(rules(), dir_.string());
    EXPECT_EQ(set->report().stream.cache, CacheOutcome::kRejected) << "byte " << at;
    EXPECT_EQ(set->report().block.cache, CacheOutcome::kHit);
    expect_works(*set);
    // The bad file was replaced: the next compile hits again.
    EXPECT_EQ(compile(rules(), dir_.string())->report().stream.cache, CacheOutcome::kHit);
  }
}

TEST_F(RulesCache, TruncatedFileIsIgnoredAndRecompiled) {
  (void)compile(rules(), dir_.string());
  const fs::path block_file = file("block");
  const uintmax_t size = fs::file_size(block_file);
  for (const uintmax_t keep : {size - 1, size / 2, uintmax_t{39}, uintmax_t{0}}) {
    fs::resize_file(block_file, keep);
    const auto set = compile(rules(), dir_.string());
    EXPECT_EQ(set->report().block.cache, CacheOutcome::kRejected) << "kept " << keep;
    EXPECT_EQ(set->report().stream.cache, CacheOutcome::kHit);
    expect_works(*set);
    EXPECT_EQ(fs::file_size(block_file), size);
  }
  // Bytes appended to a valid file are rejected too.
  { std::ofstream(block_file, std::ios::app | std::ios::binary) << "tail"; }
  EXPECT_EQ(compile(rules(), dir_.string())->report().block.cache, CacheOutcome::kRejected);
}

TEST_F(RulesCache, UnwritableCacheDirIsOnlyAWarning) {
  fs::create_directories(dir_);
  const fs::path blocker = dir_ / "file";
  { std::ofstream(blocker) << "not a directory"; }
  const auto set = compile(rules(), (blocker / "cache").string());
  EXPECT_EQ(set->report().stream.cache, CacheOutcome::kMiss);
  expect_works(*set);
}

TEST_F(RulesCache, KeepsOnlyTheNewestFilesPerMode) {
  for (uint32_t i = 0; i < 7; ++i) {
    (void)compile({rule(1, Proto::kTcp, {content("rev" + std::to_string(i))})}, dir_.string());
  }
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 4u);
}

}  // namespace
}  // namespace sentinel::rules

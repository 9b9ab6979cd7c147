// Unit tests of the rule loader: a rule with every key reads into the exact Rule, absent
// keys take their documented defaults, |hex| contents decode as in Snort, "!" nets and port
// ranges land where they belong, every kind of bad input is rejected with the exact
// message and file:line:col an operator would see, rule directories list in bytewise
// order, and the shipped classification.toml loads with the usual classtypes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/error.hpp"
#include "rules/loader.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {
namespace {

using config::LoadError;

// A small table of our own, so that these tests do not depend on the shipped file.
const ClassificationTable kClasses{
    {"attempted-admin", {"Attempted Administrator Privilege Gain", 1}},
    {"attempted-recon", {"Attempted Information Leak", 2}},
    {"misc-activity", {"Misc activity", 3}},
    {"tcp-connection", {"A TCP connection was detected", 4}},
};

std::vector<Rule> load(std::string_view text) { return load_rules_text(text, "r.toml", kClasses); }

std::string cidrs(const std::vector<config::Cidr>& list) {
  std::string text;
  for (const config::Cidr& cidr : list) text += (text.empty() ? "" : " ") + cidr.to_string();
  return text;
}

std::string ports(const std::vector<PortRange>& list) {
  std::string text;
  for (const PortRange& range : list) {
    text += (text.empty() ? "" : " ") + std::to_string(range.lo) + "-" + std::to_string(range.hi);
  }
  return text;
}

// A directory of its own under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rules_loader.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, std::string_view text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(RulesLoader, ReadsEveryKey) {
  const std::vector<Rule> rules = load(R"toml(# a rule with every key
[[rule]]
sid = 2017172150
rev = 7
gid = 1000
msg = "Huawei HG532 UPnP command injection (CVE-2017-17215)"
action = "drop"
severity = 2
classtype = "attempted-admin"
proto = "tcp"
direction = "to_vendor"
src_nets = ["10.0.0.0/8", "!10.1.0.0/16", "2001:db8::/32", "!2001:db8:1::/48"]
dst_nets = ["192.0.2.1"]
src_ports = ["1024-65535"]
dst_ports = [37215, "8000-8080"]
match = [
  { content = "/ctrlt/DeviceUpgrade_1", nocase = true },
  { content = "|3c|NewStatusURL|3e|" },
  { pcre = 'NewStatusURL>\$\(', offset = 0, depth = 4096 },
]
metadata = { cve = ["CVE-2017-17215"], affected = ["Huawei HG532", "HG532e"] }
)toml");
  ASSERT_EQ(rules.size(), 1u);
  const Rule& rule = rules[0];
  EXPECT_EQ(rule.sid, 2017172150u);
  EXPECT_EQ(rule.rev, 7u);
  EXPECT_EQ(rule.gid, 1000u);
  EXPECT_EQ(rule.msg, "Huawei HG532 UPnP command injection (CVE-2017-17215)");
  EXPECT_EQ(rule.action, Action::kDrop);
  EXPECT_EQ(rule.severity, 2);  // given: wins over the classtype's 1
  EXPECT_EQ(rule.classtype, "attempted-admin");
  EXPECT_EQ(rule.proto, Proto::kTcp);
  EXPECT_EQ(rule.direction, Direction::kToVendor);
  EXPECT_EQ(cidrs(rule.src_nets.include), "10.0.0.0/8 2001:db8::/32");
  EXPECT_EQ(cidrs(rule.src_nets.exclude), "10.1.0.0/16 2001:db8:1::/48");
  EXPECT_EQ(cidrs(rule.dst_nets.include), "192.0.2.1/32");
  EXPECT_TRUE(rule.dst_nets.exclude.empty());
  EXPECT_EQ(ports(rule.src_ports), "1024-65535");
  EXPECT_EQ(ports(rule.dst_ports), "37215-37215 8000-8080");
  EXPECT_EQ(rule.pos.file, "r.toml");
  EXPECT_EQ(rule.pos.line, 2u);
  EXPECT_EQ(rule.pos.column, 1u);

  ASSERT_EQ(rule.match.size(), 3u);
  EXPECT_EQ(rule.match[0].kind, MatchItem::Kind::kContent);
  EXPECT_EQ(rule.match[0].pattern, "/ctrlt/DeviceUpgrade_1");
  EXPECT_TRUE(rule.match[0].nocase);
  EXPECT_FALSE(rule.match[0].offset.has_value());
  EXPECT_FALSE(rule.match[0].depth.has_value());
  EXPECT_EQ(rule.match[0].pos.line, 17u);
  EXPECT_EQ(rule.match[0].pos.column, 3u);
  EXPECT_EQ(rule.match[1].kind, MatchItem::Kind::kContent);
  EXPECT_EQ(rule.match[1].pattern, "<NewStatusURL>");
  EXPECT_FALSE(rule.match[1].nocase);
  EXPECT_EQ(rule.match[1].pos.line, 18u);
  EXPECT_EQ(rule.match[2].kind, MatchItem::Kind::kPcre);
  EXPECT_EQ(rule.match[2].pattern, R"(NewStatusURL>\$\()");
  EXPECT_FALSE(rule.match[2].nocase);
  EXPECT_EQ(rule.match[2].offset, 0u);
  EXPECT_EQ(rule.match[2].depth, 4096u);
  EXPECT_EQ(rule.match[2].pos.file, "r.toml");
  EXPECT_EQ(rule.match[2].pos.line, 19u);

  const std::map<std::string, std::vector<std::string>> metadata{
      {"cve", {"CVE-2017-17215"}}, {"affected", {"Huawei HG532", "HG532e"}}};
  EXPECT_EQ(rule.metadata, metadata);
}

TEST(RulesLoader, Defaults) {
  const std::vector<Rule> rules =
      load("[[rule]]\nsid = 1\nmsg = \"m\"\nmatch = [{ pcre = 'x' }]\n");
  ASSERT_EQ(rules.size(), 1u);
  const Rule& rule = rules[0];
  EXPECT_EQ(rule.sid, 1u);
  EXPECT_EQ(rule.rev, 1u);
  EXPECT_EQ(rule.gid, kGidSignatures);
  EXPECT_EQ(rule.action, Action::kAlert);
  EXPECT_EQ(rule.severity, 3);
  EXPECT_EQ(rule.classtype, "");
  EXPECT_EQ(rule.proto, Proto::kIp);
  EXPECT_EQ(rule.direction, Direction::kAny);
  EXPECT_TRUE(rule.src_nets.include.empty() && rule.src_nets.exclude.empty());
  EXPECT_TRUE(rule.dst_nets.include.empty() && rule.dst_nets.exclude.empty());
  EXPECT_TRUE(rule.src_ports.empty());
  EXPECT_TRUE(rule.dst_ports.empty());
  EXPECT_TRUE(rule.metadata.empty());
  ASSERT_EQ(rule.match.size(), 1u);
  EXPECT_EQ(rule.match[0].kind, MatchItem::Kind::kPcre);
  EXPECT_EQ(rule.match[0].pattern, "x");
  EXPECT_FALSE(rule.match[0].nocase);
  EXPECT_FALSE(rule.match[0].offset.has_value());
  EXPECT_FALSE(rule.match[0].depth.has_value());
}

TEST(RulesLoader, EmptyListsMeanAny) {
  const std::vector<Rule> rules = load(
      "[[rule]]\nsid = 1\nmsg = \"m\"\nproto = \"icmp\"\nsrc_nets = []\ndst_nets = []\n"
      "src_ports = []\ndst_ports = []\nmetadata = {}\nmatch = [{ content = 'x' }]\n");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_TRUE(rules[0].src_nets.include.empty());
  EXPECT_TRUE(rules[0].dst_ports.empty());
  EXPECT_TRUE(rules[0].metadata.empty());
}

TEST(RulesLoader, SeverityFromClasstype) {
  const std::vector<Rule> rules = load(R"toml(
[[rule]]
sid = 1
msg = "recon"
classtype = "attempted-recon"
match = [{ content = "a" }]
[[rule]]
sid = 2
msg = "informational"
classtype = "tcp-connection"
match = [{ content = "a" }]
[[rule]]
sid = 3
msg = "given wins"
classtype = "tcp-connection"
severity = 1
match = [{ content = "a" }]
[[rule]]
sid = 4
msg = "given, no classtype"
severity = 4
match = [{ content = "a" }]
)toml");
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0].severity, 2);
  EXPECT_EQ(rules[1].severity, 4);
  EXPECT_EQ(rules[2].severity, 1);
  EXPECT_EQ(rules[3].severity, 4);
  EXPECT_EQ(rules[3].classtype, "");
}

TEST(RulesLoader, EnumSpellings) {
  const std::pair<const char*, Action> actions[] = {{"alert", Action::kAlert},
                                                    {"drop", Action::kDrop},
                                                    {"reject", Action::kReject},
                                                    {"pass", Action::kPass}};
  for (const auto& [name, action] : actions) {
    const std::string text = std::string("[[rule]]\nsid = 1\nmsg = 'm'\naction = '") + name +
                             "'\nmatch = [{ content = 'x' }]\n";
    EXPECT_EQ(load(text).at(0).action, action) << name;
  }
  const std::pair<const char*, Proto> protos[] = {
      {"ip", Proto::kIp}, {"tcp", Proto::kTcp}, {"udp", Proto::kUdp}, {"icmp", Proto::kIcmp}};
  for (const auto& [name, proto] : protos) {
    const std::string text = std::string("[[rule]]\nsid = 1\nmsg = 'm'\nproto = '") + name +
                             "'\nmatch = [{ content = 'x' }]\n";
    EXPECT_EQ(load(text).at(0).proto, proto) << name;
  }
  const std::pair<const char*, Direction> directions[] = {{"any", Direction::kAny},
                                                          {"to_core", Direction::kToCore},
                                                          {"to_vendor", Direction::kToVendor}};
  for (const auto& [name, direction] : directions) {
    const std::string text = std::string("[[rule]]\nsid = 1\nmsg = 'm'\ndirection = '") + name +
                             "'\nmatch = [{ content = 'x' }]\n";
    EXPECT_EQ(load(text).at(0).direction, direction) << name;
  }
}

TEST(RulesLoader, NegatedNets) {
  const std::vector<Rule> rules = load(R"toml(
[[rule]]
sid = 1
msg = "m"
src_nets = ["!192.0.2.0/24"]
dst_nets = ["0.0.0.0/0", "::/0", "!10.0.0.0/8", "!fe80::/10", "198.51.100.7"]
match = [{ content = "x" }]
)toml");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_TRUE(rules[0].src_nets.include.empty());  // any, except...
  EXPECT_EQ(cidrs(rules[0].src_nets.exclude), "192.0.2.0/24");
  EXPECT_EQ(cidrs(rules[0].dst_nets.include), "0.0.0.0/0 ::/0 198.51.100.7/32");
  EXPECT_EQ(cidrs(rules[0].dst_nets.exclude), "10.0.0.0/8 fe80::/10");
}

TEST(RulesLoader, PortRanges) {
  const std::vector<Rule> rules = load(R"toml(
[[rule]]
sid = 1
msg = "m"
proto = "udp"
src_ports = [0, 65535, "0-65535"]
dst_ports = [53, "22-22", "8000-8080", "1-2"]
match = [{ content = "x" }]
)toml");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(ports(rules[0].src_ports), "0-0 65535-65535 0-65535");
  EXPECT_EQ(ports(rules[0].dst_ports), "53-53 22-22 8000-8080 1-2");
}

TEST(RulesLoader, MatchAsArrayOfTables) {
  const std::vector<Rule> rules = load(R"toml(
[[rule]]
sid = 1
msg = "m"
[[rule.match]]
content = "a|00|"
depth = 2
[[rule.match]]
pcre = "b+"
nocase = true
[rule.metadata]
tag = ["x"]
)toml");
  ASSERT_EQ(rules.size(), 1u);
  ASSERT_EQ(rules[0].match.size(), 2u);
  EXPECT_EQ(rules[0].match[0].pattern, std::string("a\0", 2));
  EXPECT_EQ(rules[0].match[0].depth, 2u);
  EXPECT_EQ(rules[0].match[0].pos.line, 5u);
  EXPECT_EQ(rules[0].match[1].pattern, "b+");
  EXPECT_TRUE(rules[0].match[1].nocase);
  EXPECT_EQ(rules[0].metadata.at("tag"), std::vector<std::string>{"x"});
}

TEST(RulesLoader, RulesInFileOrder) {
  const std::vector<Rule> rules = load(R"toml(
[[rule]]
sid = 30
msg = "first"
match = [{ content = "x" }]
[[rule]]
sid = 10
msg = "second"
match = [{ content = "x" }]
[[rule]]
sid = 10
gid = 5
msg = "same sid, other gid"
match = [{ content = "x" }]
)toml");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].sid, 30u);
  EXPECT_EQ(rules[0].pos.line, 2u);
  EXPECT_EQ(rules[1].sid, 10u);
  EXPECT_EQ(rules[1].pos.line, 6u);
  EXPECT_EQ(rules[2].gid, 5u);
  EXPECT_EQ(rules[2].pos.line, 10u);
}

TEST(RulesLoader, OtherSectionsAreIgnored) {
  const std::vector<Rule> rules = load(R"toml(
[policy]
mode = "enforce"
default = "alert"

[[allow]]
name = "ntp"
from = "vendor"
proto = "udp"
dst_nets = ["10.0.0.10/32"]
dst_ports = [123]

[[rule]]
sid = 2017172150
msg = "Huawei HG532 UPnP command injection (CVE-2017-17215)"
match = [{ content = "/ctrlt/DeviceUpgrade_1" }]

[[filter]]
name = "no-telnet"
expr = "tcp dst port 23 or tcp dst port 2323"
action = "drop"
sid = 3000001
msg = "telnet towards the vendor box"
)toml");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].sid, 2017172150u);
  EXPECT_EQ(rules[0].pos.line, 13u);
}

TEST(RulesLoader, NoRules) {
  EXPECT_TRUE(load("").empty());
  EXPECT_TRUE(load("# nothing\n[policy]\nmode = 'learn'\n").empty());
  EXPECT_TRUE(load("rule = []\n").empty());
}

struct HexCase {
  const char* text;
  std::string bytes;
};

TEST(RulesLoader, DecodesHex) {
  const HexCase cases[] = {
      {"plain", "plain"},
      {"|3c|", "<"},
      {"|3C 3e|", "<>"},
      {"|3c3e|", "<>"},
      {"|00|", std::string(1, '\0')},
      {"a|00 ff|b", std::string("a\0\xff", 3) + "b"},
      {"|  41\t42  |", "AB"},
      {"|7c|", "|"},
      {"x|41|y|42|z", "xAyBz"},
      {"|41||42|", "AB"},
      {"|DE AD be ef|", "\xde\xad\xbe\xef"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},  // UTF-8 passes through as its bytes
  };
  for (const HexCase& c : cases) {
    std::string why;
    const std::optional<std::string> bytes = decode_content(c.text, why);
    ASSERT_TRUE(bytes.has_value()) << c.text << ": " << why;
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

struct HexError {
  const char* text;
  const char* why;
};

TEST(RulesLoader, RejectsBadHex) {
  const HexError cases[] = {
      {"|3c", "unterminated |hex| block '|3c' (no closing '|')"},
      {"abc|", "unterminated |hex| block '|' (no closing '|')"},
      {"|41|b|42", "unterminated |hex| block '|42' (no closing '|')"},
      {"|3c 4|", "odd number of hex digits in |3c 4| (bytes are pairs of digits)"},
      {"|3|", "odd number of hex digits in |3| (bytes are pairs of digits)"},
      {"|3 c|", "odd number of hex digits in |3 c| (bytes are pairs of digits)"},
      {"|3g|", "'g' is not a hex digit in |3g|"},
      {"|0x41|", "'x' is not a hex digit in |0x41|"},
      {"|41\n|", "'\\x0a' is not a hex digit in |41\n|"},
      {"||", "empty |hex| block ||"},
      {"a| |b", "empty |hex| block | |"},
      {"", "must not be empty"},
  };
  for (const HexError& c : cases) {
    std::string why;
    EXPECT_FALSE(decode_content(c.text, why).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
}

struct BadInput {
  const char* what;
  std::string text;
  const char* error;  // the exact what()
};

void PrintTo(const BadInput& input, std::ostream* out) { *out << input.what; }

class RulesBadInput : public testing::TestWithParam<BadInput> {};

TEST_P(RulesBadInput, IsRejectedWithPosition) {
  try {
    (void)load_rules_text(GetParam().text, "bad.toml", kClasses);
    FAIL() << "accepted: " << GetParam().text;
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), GetParam().error) << GetParam().text;
    EXPECT_EQ(e.pos().file, "bad.toml");
  }
}

// Lines 1-4 of a good rule; a case adds line 5.
#define HEAD "[[rule]]\nsid = 1\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n"
// Lines 1-3; a case writes the match list on line 4.
#define HEAD_NO_MATCH "[[rule]]\nsid = 1\nmsg = \"m\"\n"

const BadInput kBadInputs[] = {
    // The file as a whole.
    {"toml_syntax", "[[rule]]\nsid = \n",
     "bad.toml:2:7: Error while parsing key-value pair: expected value, saw '\\n'"},
    {"unknown_table", "[rules]\nsid = 1\n", "bad.toml:1:2: unknown table [rules]"},
    {"unknown_array_of_tables", "[[rule]]\nsid = 1\n[[filters]]\nx = 1\n",
     "bad.toml:3:3: unknown table [[filters]]"},
    {"unknown_top_level_key", "version = 2\n" HEAD,
     "bad.toml:1:1: unknown key 'version' at top level"},
    {"rule_is_a_table", "[rule]\nsid = 1\n",
     "bad.toml:1:1: rule: expected an array of tables ([[rule]]), got table"},
    {"rule_element_not_table", "rule = [1]\n",
     "bad.toml:1:9: rule[0]: expected a table, got integer"},

    // Keys of [[rule]].
    {"unknown_key", HEAD "content = \"x\"\n", "bad.toml:5:1: unknown key 'content' in [[rule]]"},
    {"unknown_key_first_in_file", HEAD "zz = 1\naa = 2\n",
     "bad.toml:5:1: unknown key 'zz' in [[rule]]"},
    {"unknown_subtable", HEAD "[rule.options]\nx = 1\n",
     "bad.toml:5:7: unknown key 'options' in [[rule]]"},
    {"missing_sid", "[[rule]]\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:1:1: missing required key 'sid' in [[rule]]"},
    {"missing_msg", "\n[[rule]]\nsid = 1\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:1: missing required key 'msg' in [[rule]]"},
    {"missing_match", HEAD_NO_MATCH, "bad.toml:1:1: missing required key 'match' in [[rule]]"},
    {"missing_in_second_rule", HEAD "[[rule]]\nsid = 2\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:5:1: missing required key 'msg' in [[rule]]"},

    // sid, rev, gid.
    {"sid_string", "[[rule]]\nsid = \"1\"\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:7: rule.sid: expected an integer, got string"},
    {"sid_float", "[[rule]]\nsid = 1.0\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:7: rule.sid: expected an integer, got float"},
    {"sid_zero", "[[rule]]\nsid = 0\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:7: rule.sid: 0 is out of range 1..4294967295"},
    {"sid_negative", "[[rule]]\nsid = -5\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:7: rule.sid: -5 is out of range 1..4294967295"},
    {"sid_above_u32", "[[rule]]\nsid = 4294967296\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:2:7: rule.sid: 4294967296 is out of range 1..4294967295"},
    {"rev_zero", HEAD "rev = 0\n", "bad.toml:5:7: rule.rev: 0 is out of range 1..4294967295"},
    {"rev_string", HEAD "rev = \"2\"\n", "bad.toml:5:7: rule.rev: expected an integer, got string"},
    {"gid_zero", HEAD "gid = 0\n", "bad.toml:5:7: rule.gid: 0 is out of range 1..4294967295"},
    {"gid_policy", HEAD "gid = 2\n",
     "bad.toml:5:7: rule.gid: 2 is reserved (2 policy, 3 filters, 4 anomalies)"},
    {"gid_filters", HEAD "gid = 3\n",
     "bad.toml:5:7: rule.gid: 3 is reserved (2 policy, 3 filters, 4 anomalies)"},
    {"gid_anomalies", HEAD "gid = 4\n",
     "bad.toml:5:7: rule.gid: 4 is reserved (2 policy, 3 filters, 4 anomalies)"},
    {"duplicate_sid", HEAD "\n[[rule]]\nmsg = \"again\"\nsid = 1\nmatch = [{ pcre = \"y\" }]\n",
     "bad.toml:8:7: rule.sid: duplicate sid 1 (gid 1), first defined at bad.toml:2"},
    {"duplicate_sid_explicit_gid",
     "[[rule]]\nsid = 7\ngid = 9\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n"
     "[[rule]]\nsid = 7\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n"
     "[[rule]]\ngid = 9\nsid = 7\nmsg = \"m\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:12:7: rule.sid: duplicate sid 7 (gid 9), first defined at bad.toml:2"},

    // msg, action, severity, classtype, proto, direction.
    {"msg_empty", "[[rule]]\nsid = 1\nmsg = \"\"\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:3:7: rule.msg: must not be empty"},
    {"msg_not_string", "[[rule]]\nsid = 1\nmsg = [\"m\"]\nmatch = [{ content = \"x\" }]\n",
     "bad.toml:3:7: rule.msg: expected a string, got array"},
    {"action_unknown", HEAD "action = \"block\"\n",
     "bad.toml:5:10: rule.action: 'block' is not one of alert, drop, reject, pass"},
    {"action_case", HEAD "action = \"Drop\"\n",
     "bad.toml:5:10: rule.action: 'Drop' is not one of alert, drop, reject, pass"},
    {"severity_zero", HEAD "severity = 0\n",
     "bad.toml:5:12: rule.severity: 0 is out of range 1..4"},
    {"severity_five", HEAD "severity = 5\n",
     "bad.toml:5:12: rule.severity: 5 is out of range 1..4"},
    {"severity_string", HEAD "severity = \"high\"\n",
     "bad.toml:5:12: rule.severity: expected an integer, got string"},
    {"classtype_unknown", HEAD "classtype = \"attempted-admn\"\n",
     "bad.toml:5:13: rule.classtype: unknown classtype 'attempted-admn' (not in the "
     "classification table)"},
    {"classtype_empty", HEAD "classtype = \"\"\n",
     "bad.toml:5:13: rule.classtype: must not be empty"},
    {"proto_unknown", HEAD "proto = \"sctp\"\n",
     "bad.toml:5:9: rule.proto: 'sctp' is not one of ip, tcp, udp, icmp"},
    {"direction_unknown", HEAD "direction = \"to_server\"\n",
     "bad.toml:5:13: rule.direction: 'to_server' is not one of any, to_core, to_vendor"},

    // Nets.
    {"nets_not_array", HEAD "src_nets = \"10.0.0.0/8\"\n",
     "bad.toml:5:12: rule.src_nets: expected an array, got string"},
    {"nets_element_not_string", HEAD "dst_nets = [\"10.0.0.0/8\", 10]\n",
     "bad.toml:5:27: rule.dst_nets[1]: expected a string, got integer"},
    {"cidr_bad_address", HEAD "src_nets = [\"10.0.0.256/32\"]\n",
     "bad.toml:5:13: rule.src_nets[0]: invalid address '10.0.0.256'"},
    {"cidr_host_bits", HEAD "dst_nets = [\"::/0\", \"10.1.2.3/8\"]\n",
     "bad.toml:5:21: rule.dst_nets[1]: host bits set in 10.1.2.3/8 (did you mean 10.0.0.0/8?)"},
    {"cidr_bad_length", HEAD "dst_nets = [\"2001:db8::/129\"]\n",
     "bad.toml:5:13: rule.dst_nets[0]: invalid prefix length '129' (IPv6 allows 0..128)"},
    {"cidr_negated_host_bits", HEAD "src_nets = [\"!10.1.2.3/8\"]\n",
     "bad.toml:5:13: rule.src_nets[0]: host bits set in 10.1.2.3/8 (did you mean 10.0.0.0/8?)"},
    {"cidr_negation_alone", HEAD "src_nets = [\"!\"]\n",
     "bad.toml:5:13: rule.src_nets[0]: invalid address ''"},
    {"cidr_negation_space", HEAD "src_nets = [\"! 10.0.0.0/8\"]\n",
     "bad.toml:5:13: rule.src_nets[0]: invalid address ' 10.0.0.0'"},
    {"cidr_empty", HEAD "src_nets = [\"\"]\n",
     "bad.toml:5:13: rule.src_nets[0]: invalid address ''"},

    // Ports.
    {"ports_not_array", HEAD "dst_ports = 80\n",
     "bad.toml:5:13: rule.dst_ports: expected an array, got integer"},
    {"port_above_range", HEAD "dst_ports = [80, 65536]\n",
     "bad.toml:5:18: rule.dst_ports[1]: 65536 is out of range 0..65535"},
    {"port_negative", HEAD "src_ports = [-1]\n",
     "bad.toml:5:14: rule.src_ports[0]: -1 is out of range 0..65535"},
    {"port_float", HEAD "dst_ports = [80.0]\n",
     "bad.toml:5:14: rule.dst_ports[0]: expected a port number or a \"lo-hi\" string, got float"},
    {"port_range_reversed", HEAD "dst_ports = [\"9000-8000\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: port range '9000-8000' has lo > hi"},
    {"port_range_above", HEAD "dst_ports = [\"1-70000\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: port 70000 in '1-70000' is out of range 0..65535"},
    {"port_range_huge", HEAD "dst_ports = [\"99999999999999999999999-1\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: port 99999999999999999999999 in "
     "'99999999999999999999999-1' is out of range 0..65535"},
    {"port_range_open", HEAD "dst_ports = [\"80-\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: '80-' is not a port range \"lo-hi\""},
    {"port_string_number", HEAD "dst_ports = [\"80\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: '80' is not a port range \"lo-hi\""},
    {"port_range_three", HEAD "dst_ports = [\"1-2-3\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: '1-2-3' is not a port range \"lo-hi\""},
    {"port_range_spaces", HEAD "dst_ports = [\"1 - 2\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: '1 - 2' is not a port range \"lo-hi\""},
    {"port_range_sign", HEAD "dst_ports = [\"+1-2\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: '+1-2' is not a port range \"lo-hi\""},
    {"port_name", HEAD "dst_ports = [\"http\"]\n",
     "bad.toml:5:14: rule.dst_ports[0]: 'http' is not a port range \"lo-hi\""},
    {"icmp_with_dst_ports", HEAD "proto = \"icmp\"\ndst_ports = [8]\n",
     "bad.toml:6:13: rule.dst_ports: proto icmp has no ports (ports need tcp, udp or ip)"},
    {"icmp_with_src_ports", HEAD "src_ports = [\"1-2\"]\nproto = \"icmp\"\n",
     "bad.toml:5:13: rule.src_ports: proto icmp has no ports (ports need tcp, udp or ip)"},

    // The match list and its items.
    {"match_empty", HEAD_NO_MATCH "match = []\n",
     "bad.toml:4:9: rule.match: must have at least one item"},
    {"match_not_array", HEAD_NO_MATCH "match = { content = \"x\" }\n",
     "bad.toml:4:9: rule.match: expected an array, got table"},
    {"match_item_not_table", HEAD_NO_MATCH "match = [\"x\"]\n",
     "bad.toml:4:10: rule.match[0]: expected a table, got string"},
    {"match_item_unknown_key",
     HEAD_NO_MATCH "match = [{ content = \"x\" }, { content = \"y\", within = 4 }]\n",
     "bad.toml:4:46: unknown key 'within' in rule.match[1]"},
    {"match_item_both", HEAD_NO_MATCH "match = [{ content = \"x\", pcre = \"y\" }]\n",
     "bad.toml:4:34: rule.match[0]: has both content and pcre (one per item; write two items "
     "to need both)"},
    {"match_item_neither", HEAD_NO_MATCH "match = [{ nocase = true }]\n",
     "bad.toml:4:10: rule.match[0]: needs content or pcre"},
    {"content_empty", HEAD_NO_MATCH "match = [{ content = \"\" }]\n",
     "bad.toml:4:22: rule.match[0].content: must not be empty"},
    {"content_not_string", HEAD_NO_MATCH "match = [{ content = 0x41 }]\n",
     "bad.toml:4:22: rule.match[0].content: expected a string, got integer"},
    {"pcre_empty", HEAD_NO_MATCH "match = [{ pcre = '' }]\n",
     "bad.toml:4:19: rule.match[0].pcre: must not be empty"},
    {"nocase_not_bool", HEAD_NO_MATCH "match = [{ content = \"x\", nocase = 1 }]\n",
     "bad.toml:4:36: rule.match[0].nocase: expected a boolean, got integer"},
    {"offset_negative", HEAD_NO_MATCH "match = [{ content = \"x\", offset = -1 }]\n",
     "bad.toml:4:36: rule.match[0].offset: -1 is out of range 0..4294967295"},
    {"offset_above_u32", HEAD_NO_MATCH "match = [{ content = \"x\", offset = 4294967296 }]\n",
     "bad.toml:4:36: rule.match[0].offset: 4294967296 is out of range 0..4294967295"},
    {"depth_zero", HEAD_NO_MATCH "match = [{ pcre = \"x\", depth = 0 }]\n",
     "bad.toml:4:32: rule.match[0].depth: 0 is out of range 1..4294967295"},
    {"depth_float", HEAD_NO_MATCH "match = [{ pcre = \"x\", depth = 1.5 }]\n",
     "bad.toml:4:32: rule.match[0].depth: expected an integer, got float"},
    {"depth_shorter_than_content", HEAD_NO_MATCH "match = [{ content = \"abcde\", depth = 4 }]\n",
     "bad.toml:4:39: rule.match[0].depth: 4 is less than the content's length (5 bytes)"},
    {"depth_shorter_than_decoded",
     HEAD_NO_MATCH "match = [{ content = \"|00 01 02|\", depth = 2 }]\n",
     "bad.toml:4:44: rule.match[0].depth: 2 is less than the content's length (3 bytes)"},
    {"offset_plus_depth_overflows",
     HEAD_NO_MATCH "match = [{ content = \"x\", offset = 4294967295, depth = 1 }]\n",
     "bad.toml:4:56: rule.match[0].depth: offset + depth exceeds 4294967295"},
    {"hex_unterminated", HEAD_NO_MATCH "match = [{ content = \"GET |20\" }]\n",
     "bad.toml:4:22: rule.match[0].content: unterminated |hex| block '|20' (no closing '|')"},
    {"hex_odd_digits", HEAD_NO_MATCH "match = [{ content = \"|3c 4|\" }]\n",
     "bad.toml:4:22: rule.match[0].content: odd number of hex digits in |3c 4| (bytes are pairs "
     "of digits)"},
    {"hex_not_hex", HEAD_NO_MATCH "match = [{ content = \"a\" }, { content = \"|3g|\" }]\n",
     "bad.toml:4:41: rule.match[1].content: 'g' is not a hex digit in |3g|"},
    {"hex_empty_block", HEAD_NO_MATCH "match = [{ content = \"||\" }]\n",
     "bad.toml:4:22: rule.match[0].content: empty |hex| block ||"},

    // Metadata.
    {"metadata_not_table", HEAD "metadata = [\"cve\"]\n",
     "bad.toml:5:12: rule.metadata: expected a table, got array"},
    {"metadata_value_not_array", HEAD "metadata = { cve = \"CVE-2017-17215\" }\n",
     "bad.toml:5:20: rule.metadata.cve: expected an array, got string"},
    {"metadata_element_not_string", HEAD "metadata = { a = [\"x\"], cve = [2017] }\n",
     "bad.toml:5:32: rule.metadata.cve[0]: expected a string, got integer"},
    {"metadata_element_empty", HEAD "metadata = { cve = [\"\"] }\n",
     "bad.toml:5:21: rule.metadata.cve[0]: must not be empty"},
};

#undef HEAD
#undef HEAD_NO_MATCH

INSTANTIATE_TEST_SUITE_P(Table, RulesBadInput, testing::ValuesIn(kBadInputs),
                         [](const testing::TestParamInfo<BadInput>& info) {
                           return std::string(info.param.what);
                         });

TEST(RulesLoader, FilesLoadInOrderAndShareSids) {
  const TempDir dir;
  const std::string a =
      dir.write("a.toml", "[[rule]]\nsid = 1\nmsg = 'a'\nmatch = [{ content = 'x' }]\n");
  const std::string b = dir.write("b.toml",
                                  "[policy]\nmode = 'learn'\n"
                                  "[[rule]]\nsid = 2\nmsg = 'b'\nmatch = [{ content = 'x' }]\n");
  const std::vector<Rule> rules = load_rule_files({b, a}, kClasses);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].msg, "b");
  EXPECT_EQ(rules[0].pos.file, b);
  EXPECT_EQ(rules[0].pos.line, 3u);
  EXPECT_EQ(rules[1].msg, "a");
  EXPECT_EQ(rules[1].pos.file, a);
  EXPECT_TRUE(load_rule_files({}, kClasses).empty());

  const std::string c =
      dir.write("c.toml", "\n\n[[rule]]\nmsg = 'c'\nsid = 2\nmatch = [{ content = 'x' }]\n");
  try {
    (void)load_rule_files({a, b, c}, kClasses);
    FAIL() << "accepted a duplicate sid across files";
  } catch (const LoadError& e) {
    EXPECT_EQ(std::string(e.what()),
              c + ":5:7: rule.sid: duplicate sid 2 (gid 1), first defined at " + b + ":4");
  }
}

TEST(RulesLoader, MissingRuleFile) {
  try {
    (void)load_rule_files({"/nonexistent/x.toml"}, kClasses);
    FAIL() << "accepted a missing file";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/x.toml: cannot open: No such file or directory");
  }
}

TEST(RulesLoader, RuleFilesInBytewiseOrder) {
  const TempDir dir;
  for (const char* name :
       {"b.toml", "a.toml", "B.toml", "_x.toml", "10.toml", "9.toml", "\xc3\xa4.toml", "a.toml.bak",
        "a.TOML", ".hidden.toml", ".toml", "notes.txt", "toml"}) {
    dir.write(name, "");
  }
  std::filesystem::create_directory(dir.path() + "/d.toml");
  const std::vector<std::string> files = rule_files_in(dir.path());
  std::vector<std::string> expected;
  for (const char* name :
       {"10.toml", "9.toml", "B.toml", "_x.toml", "a.toml", "b.toml", "\xc3\xa4.toml"}) {
    expected.push_back(dir.path() + "/" + name);
  }
  EXPECT_EQ(files, expected);
  // A trailing slash does not double.
  EXPECT_EQ(rule_files_in(dir.path() + "/"), expected);

  const TempDir empty;
  EXPECT_TRUE(rule_files_in(empty.path()).empty());
}

TEST(RulesLoader, RuleDirectoryMustExist) {
  try {
    (void)rule_files_in("/nonexistent/rules.d");
    FAIL() << "listed a missing directory";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(),
                 "/nonexistent/rules.d: cannot list rule directory: No such file or directory");
  }
  const TempDir dir;
  const std::string file = dir.write("x.toml", "");
  try {
    (void)rule_files_in(file);
    FAIL() << "listed a file";
  } catch (const LoadError& e) {
    EXPECT_EQ(std::string(e.what()), file + ": cannot list rule directory: Not a directory");
  }
}

TEST(Classifications, ShippedFileLoads) {
  const ClassificationTable classes =
      load_classifications(SENTINEL_SOURCE_DIR "/config/classification.toml");
  const std::pair<const char*, uint8_t> expected[] = {
      {"attempted-admin", 1},
      {"attempted-user", 1},
      {"web-application-attack", 1},
      {"trojan-activity", 1},
      {"policy-violation", 1},
      {"successful-admin", 1},
      {"shellcode-detect", 1},
      {"attempted-recon", 2},
      {"misc-attack", 2},
      {"bad-unknown", 2},
      {"denial-of-service", 2},
      {"attempted-dos", 2},
      {"protocol-command-decode", 3},
      {"network-scan", 3},
      {"not-suspicious", 3},
      {"unknown", 3},
      {"misc-activity", 3},
      {"tcp-connection", 4},
  };
  for (const auto& [name, severity] : expected) {
    const auto found = classes.find(name);
    ASSERT_NE(found, classes.end()) << name;
    EXPECT_EQ(found->second.severity, severity) << name;
  }
  EXPECT_EQ(classes.at("attempted-admin").description, "Attempted Administrator Privilege Gain");
  EXPECT_EQ(classes.at("trojan-activity").description, "A Network Trojan was detected");
  for (const auto& [name, entry] : classes) {
    EXPECT_FALSE(entry.description.empty()) << name;
    EXPECT_GE(entry.severity, 1) << name;
    EXPECT_LE(entry.severity, 4) << name;
  }
  EXPECT_GE(classes.size(), 40u);

  // Rules name them.
  const std::vector<Rule> rules = load_rules_text(
      "[[rule]]\nsid = 1\nmsg = 'm'\nclasstype = 'web-application-attack'\n"
      "match = [{ content = 'x' }]\n",
      "r.toml", classes);
  EXPECT_EQ(rules.at(0).severity, 1);
}

TEST(Classifications, ReadsText) {
  const ClassificationTable classes = load_classifications_text(
      "[a-b]\ndescription = \"A B\"\nseverity = 4\n[\"quoted name\"]\ndescription = \"Q\"\n"
      "severity = 1\n",
      "c.toml");
  ASSERT_EQ(classes.size(), 2u);
  EXPECT_EQ(classes.at("a-b").description, "A B");
  EXPECT_EQ(classes.at("a-b").severity, 4);
  EXPECT_EQ(classes.at("quoted name").severity, 1);
  EXPECT_TRUE(load_classifications_text("", "c.toml").empty());
}

class ClassificationsBadInput : public testing::TestWithParam<BadInput> {};

TEST_P(ClassificationsBadInput, IsRejectedWithPosition) {
  try {
    (void)load_classifications_text(GetParam().text, "c.toml");
    FAIL() << "accepted: " << GetParam().text;
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), GetParam().error) << GetParam().text;
  }
}

const BadInput kBadClassifications[] = {
    {"toml_syntax", "[a\n",
     "c.toml:1:3: Error while parsing table header: expected ']', saw '\\n'"},
    {"not_a_table", "x = 1\n", "c.toml:1:5: x: expected a table, got integer"},
    {"unknown_key", "[x]\ndescription = \"X\"\nseverity = 1\npriority = 1\n",
     "c.toml:4:1: unknown key 'priority' in [x]"},
    {"missing_description", "\n[x]\nseverity = 1\n",
     "c.toml:2:1: missing required key 'description' in [x]"},
    {"missing_severity", "[x]\ndescription = \"X\"\n",
     "c.toml:1:1: missing required key 'severity' in [x]"},
    {"empty_description", "[x]\ndescription = \"\"\nseverity = 1\n",
     "c.toml:2:15: x.description: must not be empty"},
    {"severity_range", "[x]\ndescription = \"X\"\nseverity = 5\n",
     "c.toml:3:12: x.severity: 5 is out of range 1..4"},
    {"severity_type", "[x]\ndescription = \"X\"\nseverity = \"high\"\n",
     "c.toml:3:12: x.severity: expected an integer, got string"},
    {"first_fault_in_file_order", "[z]\nseverity = 9\n[a]\nseverity = 8\n",
     "c.toml:1:1: missing required key 'description' in [z]"},
};

INSTANTIATE_TEST_SUITE_P(Table, ClassificationsBadInput, testing::ValuesIn(kBadClassifications),
                         [](const testing::TestParamInfo<BadInput>& info) {
                           return std::string(info.param.what);
                         });

TEST(Classifications, MissingFile) {
  try {
    (void)load_classifications("/nonexistent/classification.toml");
    FAIL() << "accepted a missing file";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(),
                 "/nonexistent/classification.toml: cannot open: No such file or directory");
  }
}

}  // namespace
}  // namespace sentinel::rules

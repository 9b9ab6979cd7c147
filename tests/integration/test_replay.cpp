// The sentinel command line and replay's contracts: exit statuses, errors that name the
// file and position, link types, sides, order, truncated captures, fail-open/fail-closed.
#include <gtest/gtest.h>

#include "tests/integration/replay_harness.hpp"

namespace fs = std::filesystem;
using namespace sentinel::testing;

namespace {

const std::string kSentinel = SENTINEL_BINARY;
const fs::path kBenign = fs::path(SENTINEL_CORPUS_DIR) / "pcaps" / "benign";
const fs::path kMalformed = fs::path(SENTINEL_CORPUS_DIR) / "pcaps" / "malformed";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A capture of `link_type` holding `frames`.
void write_capture(const std::string& path, int link_type, const std::vector<std::vector<uint8_t>>& frames) {
  pcap_t* dead = pcap_open_dead(link_type, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr);
  for (size_t i = 0; i < frames.size(); ++i) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(1000 + i);
    h.caplen = h.len = static_cast<uint32_t>(frames[i].size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frames[i].data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

std::string ipv4_src(const Frame& f) {
  // Ethernet/IPv4 without VLAN tags, as in icmp-echo.pcap.
  return std::to_string(f.data[26]) + "." + std::to_string(f.data[27]) + "." +
         std::to_string(f.data[28]) + "." + std::to_string(f.data[29]);
}

}  // namespace

TEST(Cli, VersionAndBuildInfo) {
  TempDir tmp;
  RunResult r = run_sentinel(kSentinel, {"-V"}, tmp);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("sentinel ", 0), 0u) << r.out;
  r = run_sentinel(kSentinel, {"--build-info"}, tmp);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* key : {"dpdk: DPDK 22.11", "hyperscan: ", "libbpf: ", "libpcap: ", "compiler: ", "cpu_sse4_2: ", "bpf_jit: yes", "filters_dir: /"}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << " missing in\n" << r.out;
  }
}

TEST(Cli, UsageErrorsExitOne) {
  TempDir tmp;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--no-such-option"}, {"-w", "x.pcap"}, {"-c"}, {"stray"},
        {"--vendor-net", "10.0.0.0/8"}}) {
    const RunResult r = run_sentinel(kSentinel, args, tmp);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
  }
}

TEST(Cli, TestConfigGoodAndBad) {
  TempDir tmp;
  const std::string good = tmp / "good.toml";
  write_file(good, "[ports]\nvendor = \"net_null0\"\ncore = \"net_null1\"\n[network]\nvendor_nets = [\"192.0.2.0/24\"]\n");
  RunResult r = run_sentinel(kSentinel, {"-c", good, "-T"}, tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("192.0.2.0/24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("configuration OK"), std::string::npos) << r.out;

  const std::string bad = tmp / "bad.toml";
  write_file(bad, "[dataplane]\nworkers = 2\nburst_size = 0\n");
  r = run_sentinel(kSentinel, {"-c", bad, "-T"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, bad + ":3:14: dataplane.burst_size: 0 is out of range 1..256\n");
}

// -T compiles the rules and filters and prints counts; -S replaces the rules directory, -s
// adds to it; a bad rule or filter is file:line:col and exit 1; a missing rules directory
// is an error.
TEST(Cli, TestConfigCompilesRules) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "rules.d");
  write_file(tmp / "rules.d/a.toml",
             "[[rule]]\nsid = 1\nmsg = \"a\"\naction = \"drop\"\nproto = \"tcp\"\nmatch = [{ content = \"x\" }]\n"
             "[[rule]]\nsid = 2\nmsg = \"b\"\nproto = \"udp\"\nmatch = [{ pcre = 'a+b' }]\n");
  write_file(tmp / "extra.toml", "[[rule]]\nsid = 3\nmsg = \"c\"\naction = \"reject\"\nmatch = [{ content = \"y\" }]\n");
  const std::string cfg = tmp / "sentinel.toml";
  write_file(cfg, "[rules]\ndir = \"" + (tmp / "rules.d") + "\"\ncache_dir = \"\"\n");
  RunResult r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-s", tmp / "extra.toml"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("signatures: 3 (alert 1, drop 1, reject 1, pass 0; tcp 1, udp 1, icmp 0, ip 1)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stream database: 2 expressions"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("block database: 2 expressions"), std::string::npos) << r.out;
  r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-S", tmp / "extra.toml"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("signatures: 1 "), std::string::npos) << r.out;

  write_file(tmp / "bad.toml", "[[rule]]\nsid = 1\nmsg = \"a\"\nmatch = [{ pcre = '(a)\\1' }]\n");
  r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-S", tmp / "bad.toml"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(tmp / "bad.toml:4:10: pcre '(a)\\1' rejected by Hyperscan: Back-references are unsupported."), std::string::npos) << r.err;

  // Filters compile in -T (each with its JIT size); a bad expression is file:line:col with
  // libpcap's words and exit 1.
  write_file(tmp / "filters.toml", "[[filter]]\nname = \"telnet\"\nexpr = \"tcp dst port 23\"\naction = \"drop\"\n"
                                   "sid = 3000001\nmsg = \"telnet\"\n");
  r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-S", tmp / "filters.toml"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("filters: 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("telnet  drop any sid 3000001  expr tcp dst port 23"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("filter telnet: tcp dst port 23, JIT "), std::string::npos) << r.out;
  write_file(tmp / "filters.toml", "[[filter]]\nname = \"telnet\"\nexpr = \"tcp dst port\"\nsid = 1\nmsg = \"t\"\n");
  r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-S", tmp / "filters.toml"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(tmp / "filters.toml:3:8: filter 'telnet': can't parse filter expression: syntax error"),
            std::string::npos) << r.err;

  write_file(cfg, "[rules]\ndir = \"" + (tmp / "missing") + "\"\ncache_dir = \"\"\n");
  r = run_sentinel(kSentinel, {"-c", cfg, "-T", "-s", tmp / "extra.toml"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
}

TEST(Cli, DumpConfigReadsBackTheSame) {
  TempDir tmp;
  const std::string cfg = tmp / "c.toml";
  write_file(cfg, "[dataplane]\nworkers = 1\nburst_size = 64\n[network]\nvendor_nets = [\"2001:db8::/32\"]\n[failure]\nmalformed_core = \"drop\"\n");
  const RunResult first = run_sentinel(kSentinel, {"-c", cfg, "--dump-config"}, tmp);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("burst_size = 64"), std::string::npos) << first.out;
  const std::string dumped = tmp / "dumped.toml";
  write_file(dumped, first.out);
  const RunResult second = run_sentinel(kSentinel, {"-c", dumped, "--dump-config"}, tmp);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
}

TEST(Replay, MissingFileAndUnsupportedLinkType) {
  TempDir tmp;
  RunResult r = run_sentinel(kSentinel, {"-r", tmp / "nope.pcap", "-l", tmp / "log"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope.pcap"), std::string::npos) << r.err;

  const std::string ppp = tmp / "ppp.pcap";
  write_capture(ppp, DLT_PPP, {{0xff, 0x03, 0x00, 0x21}});
  r = run_sentinel(kSentinel, {"-r", ppp, "-l", tmp / "log"}, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unsupported link type PPP"), std::string::npos) << r.err;
}

// A capture cut mid-record: what was read is processed and written, then exit 2.
TEST(Replay, TruncatedCaptureExitsTwoAfterWritingWhatItRead) {
  TempDir tmp;
  const Capture whole = read_capture((kBenign / "http-get.pcap").string());
  std::string bytes = slurp(kBenign / "http-get.pcap");
  bytes.resize(bytes.size() - 10);
  const std::string cut = tmp / "cut.pcap";
  std::ofstream(cut, std::ios::binary) << bytes;
  const RunResult r = run_sentinel(kSentinel, {"-r", cut, "-w", tmp / "out.pcap", "-l", tmp / "log"}, tmp);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("read error after"), std::string::npos) << r.err;
  const nlohmann::json stats = last_eve_stats(tmp / "log");
  EXPECT_EQ(stats["frames_read"], whole.frames.size() - 1);
  EXPECT_EQ(read_capture(tmp / "out.pcap").frames.size(), whole.frames.size() - 1);
}

// Sides by outermost IP source; order kept although the sides alternate frame by frame.
TEST(Replay, SidesFollowVendorNetsAndOrderIsKept) {
  TempDir tmp;
  const std::string file = (kBenign / "icmp-echo.pcap").string();
  const Capture in = read_capture(file);
  const std::string vendor_host = ipv4_src(in.frames[0]);
  size_t from_vendor = 0;
  for (const Frame& f : in.frames) from_vendor += ipv4_src(f) == vendor_host;
  ASSERT_GT(from_vendor, 0u);
  ASSERT_LT(from_vendor, in.frames.size());

  const RunResult r = run_sentinel(
      kSentinel, {"-r", file, "-w", tmp / "out.pcap", "-l", tmp / "log", "--vendor-net", vendor_host + "/32"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json stats = last_eve_stats(tmp / "log");
  EXPECT_EQ(stats["to_core"]["received"], from_vendor);
  EXPECT_EQ(stats["to_vendor"]["received"], in.frames.size() - from_vendor);
  const Capture out = read_capture(tmp / "out.pcap");
  ASSERT_EQ(out.frames.size(), in.frames.size());
  for (size_t i = 0; i < in.frames.size(); ++i) EXPECT_EQ(out.frames[i].data, in.frames[i].data) << i;
}

// The same malformed capture under both failure policies of the vendor side.
TEST(Replay, MalformedVendorFramesFollowTheFailurePolicy) {
  TempDir tmp;
  const std::string file = (kMalformed / "tcpdump-ipv4_invalid_hdr_length.pcap").string();
  const std::vector<std::string> all_vendor = {"--vendor-net", "0.0.0.0/0"};

  RunResult r = run_sentinel(kSentinel, {"-r", file, "-l", tmp / "closed", "--vendor-net", "0.0.0.0/0"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json stats = last_eve_stats(tmp / "closed");
  EXPECT_EQ(stats["drops"]["ipv4_bad_ihl"], 1);
  EXPECT_EQ(stats["forwarded"], 0);

  const std::string open = tmp / "open.toml";
  write_file(open, "[failure]\nmalformed_vendor = \"pass\"\n");
  r = run_sentinel(kSentinel, {"-c", open, "-r", file, "-l", tmp / "open", "--vendor-net", "0.0.0.0/0"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  stats = last_eve_stats(tmp / "open");
  EXPECT_EQ(stats["dropped"], 0);
  EXPECT_EQ(stats["forwarded"], 1);
  EXPECT_EQ(stats["malformed_passed"]["ipv4_bad_ihl"], 1);
  EXPECT_NE(r.out.find("malformed, passed (fail open)"), std::string::npos) << r.out;
}

// Non-Ethernet link types get the documented synthetic Ethernet header.
TEST(Replay, RawIpGetsSyntheticEthernetHeader) {
  TempDir tmp;
  const std::vector<uint8_t> ipv4_udp = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1,
                                         192, 0, 2, 2, 0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0};
  const std::string raw = tmp / "raw.pcap";
  write_capture(raw, DLT_RAW, {ipv4_udp});
  const RunResult r = run_sentinel(kSentinel, {"-r", raw, "-w", tmp / "out.pcap", "-l", tmp / "log"}, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Capture out = read_capture(tmp / "out.pcap");
  ASSERT_EQ(out.frames.size(), 1u);
  const std::vector<uint8_t> header = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
  ASSERT_EQ(out.frames[0].data.size(), header.size() + ipv4_udp.size());
  EXPECT_TRUE(std::equal(header.begin(), header.end(), out.frames[0].data.begin()));
  EXPECT_TRUE(std::equal(ipv4_udp.begin(), ipv4_udp.end(), out.frames[0].data.begin() + 14));
}

// [[filter]] through the whole sentinel: real captures of the corpus replayed with a drop
// filter. What -w writes must be the capture minus exactly the frames libpcap's own
// pcap_offline_filter matches with the same expression, byte for byte and in order; the
// summary's `filter` drops and the EVE alerts (one per dropped frame, gid 3) must count
// them. A second filter with action alert shows alert filters never remove a frame.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/replay_harness.hpp"

namespace sentinel::testing {
namespace {

const char* const kCaptures[] = {
    "benign/http-get.pcap",         "benign/dns-udp-single.pcap",   "benign/icmp-echo.pcap",
    "benign/http-vlan-802.1q.pcap", "benign/mixed-lan-wikipedia.pcap", "benign/ftp-ipv6.pcap",
    "benign/arp-who-has.pcap",      "benign/tcp-fast-retransmit.pcap", "benign/ntp-sync-with-dns.pcap",
    "benign/mixed-services-std-ports.pcap",
};

// Byte offsets and flags, compound clauses, IPv6 and non-IP.
const char* const kExpressions[] = {
    "tcp dst port 80 or udp port 53",
    "icmp or icmp6 or arp",
    "vlan or tcp[13] & 4 != 0 or ip6",
};

// The frames of `capture` that `expr` matches, as libpcap decides.
std::vector<bool> pcap_matches(const Capture& capture, const std::string& expr) {
  pcap_t* dead = pcap_open_dead(capture.link_type, 262144);
  bpf_program code{};
  if (pcap_compile(dead, &code, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error(expr + ": " + why);
  }
  std::vector<bool> out;
  for (const Frame& f : capture.frames) {
    pcap_pkthdr h{};
    h.caplen = static_cast<bpf_u_int32>(f.data.size());
    h.len = h.caplen;  // the dataplane sees the captured bytes: replay hands it no more
    out.push_back(pcap_offline_filter(&code, &h, f.data.data()) != 0);
  }
  pcap_freecode(&code);
  pcap_close(dead);
  return out;
}

TEST(FilterReplay, DropFilterRemovesExactlyTheMatchingFrames) {
  size_t runs = 0, total_dropped = 0, total_frames = 0;
  for (const char* name : kCaptures) {
    const std::string path = std::string(SENTINEL_CORPUS_DIR) + "/pcaps/" + name;
    const Capture capture = read_capture(path);
    ASSERT_EQ(capture.link_type, DLT_EN10MB) << path;
    for (const char* expr : kExpressions) {
      SCOPED_TRACE(std::string(name) + " | " + expr);
      const TempDir tmp;
      std::ofstream(tmp / "sentinel.toml") << "[rules]\ncache_dir = \"\"\nfilter_alerts_per_second = 1000000\n"
                                           << "[log]\ndir = \"" << tmp.path().string() << "\"\n";
      std::ofstream(tmp / "filters.toml") << "[[filter]]\nname = \"seen\"\nexpr = \"ip or ip6 or arp\"\n"
                                          << "sid = 3900001\nmsg = \"seen\"\n\n"
                                          << "[[filter]]\nname = \"cut\"\nexpr = \"" << expr << "\"\n"
                                          << "action = \"drop\"\nsid = 3900002\nmsg = \"cut\"\n";
      const RunResult r = run_sentinel(SENTINEL_BINARY,
                                       {"-c", tmp / "sentinel.toml", "-S", tmp / "filters.toml", "-r", path, "-w",
                                        tmp / "out.pcap"},
                                       tmp);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const std::vector<bool> matches = pcap_matches(capture, expr);
      std::vector<std::vector<uint8_t>> expected;
      size_t dropped = 0;
      for (size_t i = 0; i < capture.frames.size(); ++i) {
        if (matches[i]) {
          ++dropped;
        } else {
          expected.push_back(capture.frames[i].data);
        }
      }
      const Capture out = read_capture(tmp / "out.pcap");
      ASSERT_EQ(out.frames.size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(out.frames[i].data, expected[i]) << "output frame " << i;
      const nlohmann::json stats = last_eve_stats(tmp.path().string());
      EXPECT_EQ(stats["dropped"].get<uint64_t>(), dropped);
      // One drop alert per dropped frame; alert-filter alerts only on frames that crossed.
      std::ifstream eve(tmp / "eve.json");
      std::string line;
      size_t drop_alerts = 0, seen_alerts = 0;
      while (std::getline(eve, line)) {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.value("event_type", "") != "alert") continue;
        EXPECT_EQ(j["alert"]["gid"], 3);
        if (j["alert"]["signature_id"] == 3900002) {
          ++drop_alerts;
          EXPECT_EQ(j["sentinel"]["verdict"], "dropped");
          EXPECT_EQ(j["flow_id"], 0);
        } else {
          ++seen_alerts;
        }
      }
      EXPECT_EQ(drop_alerts, dropped);
      EXPECT_LE(seen_alerts, capture.frames.size());
      ++runs;
      total_dropped += dropped;
      total_frames += capture.frames.size();
    }
  }
  std::printf("filter replay: %zu runs, %zu frames, %zu dropped by filters, every output frame as libpcap decides\n",
              runs, total_frames, total_dropped);
  EXPECT_GT(total_dropped, 100u) << "the expressions must bite";
  EXPECT_LT(total_dropped, total_frames) << "and not everything";
}

}  // namespace
}  // namespace sentinel::testing

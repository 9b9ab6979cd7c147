// The shipped C filters (bpf/filters/) against the corpus, frame by frame, through the API
// the dataplane uses: Program::from_object() with the object's declared defaults (and
// `args` where said), every frame of a capture read with libpcap into an mbuf (chained
// when it exceeds one segment), parsed by the dataplane parser, seen through
// dataplane::frame_view() with CurrentFrame set, then Program::run().
//
//   dns_tunnel   flags >= 80 % of the DNS queries (QR = 0, to UDP/TCP port 53) of every
//                DNS-tunnel capture of covert/ (names matched by the globs below, so a
//                capture added later is covered), and no frame at all of any benign
//                capture — the table lists those carrying DNS (port 53 or 5353).
//   icmp_tunnel  flags >= 90 % of the echo requests/replies of covert/*icmp*tunnel*, and
//                no frame of any benign capture (benign/icmp-echo.pcap among them).
//   cwmp_acs     on benign/*tr069*|*cwmp*: with the capture's ACS (the servers its CPE
//                connects to) listed in acs, no match; with no list or another address,
//                every frame carrying the CWMP namespace matches and nothing else does.
//                No frame of the other benign captures matches.
// Captures whose link type is not Ethernet are skipped, and said so. Prints a table of
// per-capture figures (frames judged, flagged, %).
#include <arpa/inet.h>
#include <fnmatch.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/filter_program.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/parser.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel {
namespace {

namespace fs = std::filesystem;
using bpf::Program;

constexpr double kMinDnsTunnelRate = 0.80;
constexpr double kMinIcmpTunnelRate = 0.90;

rte_mempool* g_pool = nullptr;

const fs::path kCorpus = fs::path(SENTINEL_CORPUS_DIR) / "pcaps";

// Captures of `dir` whose file name matches one of `globs`, sorted.
std::vector<fs::path> captures(const std::string& dir, const std::vector<std::string>& globs) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(kCorpus / dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || (name.find(".pcap") == std::string::npos)) continue;
    for (const std::string& g : globs) {
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0) {
        out.push_back(e.path());
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string rel(const fs::path& p) { return p.parent_path().filename().string() + "/" + p.filename().string(); }

// --- the filters, loaded as dataplane/filters.cpp does -------------------------------------

using Args = std::map<std::string, std::vector<uint64_t>>;

std::unique_ptr<Program> load(const std::string& name, const Args& args = {}) {
  const std::string path = std::string(SENTINEL_FILTERS_BUILD_DIR) + "/" + name + ".bpf.o";
  const std::vector<bpf::ArgSpec> specs = bpf::object_args(path);
  bpf::ArgSlots slots{};
  for (const bpf::ArgSpec& s : specs) {
    for (uint32_t k = 0; k < s.count; ++k) slots[s.slot + k] = s.default_value;
  }
  for (const auto& [arg, values] : args) {
    const auto s = std::find_if(specs.begin(), specs.end(), [&](const bpf::ArgSpec& a) { return a.name == arg; });
    if (s == specs.end() || values.size() > s->count) throw std::invalid_argument(name + ": bad argument " + arg);
    for (size_t k = 0; k < values.size(); ++k) slots[s->slot + k] = values[k];
  }
  std::unique_ptr<Program> p = Program::from_object(path, "filter", slots);
  if (!p->jitted()) throw std::runtime_error(name + ": not JIT-compiled");
  return p;
}

// --- frames ---------------------------------------------------------------------------------

struct MbufDeleter {
  void operator()(rte_mbuf* m) const noexcept { rte_pktmbuf_free(m); }
};
using Mbuf = std::unique_ptr<rte_mbuf, MbufDeleter>;

// A frame in as many chained segments as it needs.
Mbuf make_mbuf(const uint8_t* data, size_t size) {
  rte_mbuf* head = nullptr;
  size_t at = 0;
  do {
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    if (seg == nullptr) throw std::runtime_error("mbuf pool exhausted");
    const size_t n = std::min<size_t>(size - at, rte_pktmbuf_tailroom(seg));
    if (n != 0) std::memcpy(rte_pktmbuf_append(seg, static_cast<uint16_t>(n)), data + at, n);
    at += n;
    if (head == nullptr) {
      head = seg;
    } else if (rte_pktmbuf_chain(head, seg) != 0) {
      rte_pktmbuf_free(seg);
      rte_pktmbuf_free(head);
      throw std::runtime_error("frame too long for an mbuf chain");
    }
  } while (at < size);
  return Mbuf(head);
}

// What the test knows of a frame, independently of the filters.
struct Facts {
  bool ok = false;          // parsed without a malformation (the dataplane inspects it)
  bool dns_query = false;   // QR = 0, to UDP/TCP port 53
  bool dns_any = false;     // UDP/TCP port 53 or 5353, either direction
  bool echo = false;        // ICMP echo request/reply, ICMPv6 echo request/reply
  bool cwmp = false;        // TCP payload carrying "urn:dslforum-org:cwmp"
  bool tcp_payload = false;
  bool syn = false;         // SYN without ACK
  uint32_t dst_v4 = 0;      // host order, IPv4 only
};

Facts facts_of(const uint8_t* d, uint32_t caplen, const dataplane::PacketInfo& pkt) {
  Facts f;
  f.ok = true;
  if (pkt.l3 != dataplane::L3::kIpv4 && pkt.l3 != dataplane::L3::kIpv6) return f;
  if (pkt.l3 == dataplane::L3::kIpv4) {
    uint32_t dst = 0;
    std::memcpy(&dst, pkt.dst_ip.data(), 4);
    f.dst_v4 = ntohl(dst);
  }
  if ((pkt.flags & dataplane::kFlagHasL4) == 0 || (pkt.flags & dataplane::kFlagLaterFragment) != 0) return f;
  const uint32_t po = pkt.payload_offset;
  const uint32_t present = caplen > po ? std::min(caplen - po, pkt.payload_len) : 0;
  const uint8_t* p = d + po;
  const bool udp = pkt.ip_proto == 17, tcp = pkt.ip_proto == 6;
  if (udp || tcp) {
    const auto dns_port = [](uint16_t port) { return port == 53 || port == 5353; };
    f.dns_any = dns_port(pkt.src_port) || dns_port(pkt.dst_port);
    const uint32_t at = tcp ? 2 : 0;  // DNS over TCP: after the 2-byte length
    if (pkt.dst_port == 53 && present >= at + 12) f.dns_query = (p[at + 2] & 0x80) == 0;
  }
  if (pkt.ip_proto == 1) f.echo = pkt.icmp_type == 0 || pkt.icmp_type == 8;
  if (pkt.ip_proto == 58) f.echo = pkt.icmp_type == 128 || pkt.icmp_type == 129;
  if (tcp) {
    f.tcp_payload = present > 0;
    f.syn = (pkt.tcp_flags & 0x12) == 0x02;
    static constexpr std::string_view kNs = "urn:dslforum-org:cwmp";
    f.cwmp = std::string_view(reinterpret_cast<const char*>(p), present).find(kNs) != std::string_view::npos;
  }
  return f;
}

struct Frame {
  Facts facts;
  std::vector<bool> hit;  // per program
};

// Every frame of a capture through `programs` (`skipped` says why a capture was not read).
struct Scan {
  std::string skipped;  // why, when not scanned
  std::vector<Frame> frames;
  size_t malformed = 0;
};

Scan scan(const fs::path& path, const std::vector<const Program*>& programs) {
  Scan out;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), err);
  if (pc == nullptr) throw std::runtime_error(path.string() + ": " + err);
  const int link = pcap_datalink(pc);
  if (link != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link);
    out.skipped = "link type " + std::string(name != nullptr ? name : std::to_string(link)) + ", not Ethernet";
    pcap_close(pc);
    return out;
  }
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  while (pcap_next_ex(pc, &h, &d) == 1) {
    Mbuf m = make_mbuf(d, h->caplen);
    dataplane::PacketInfo info;
    // As the worker replays a capture: the wire length is the frame's original length.
    const dataplane::DropReason why = dataplane::parse_frame(d, h->caplen, std::max(h->len, h->caplen), info);
    Frame f;
    if (why == dataplane::DropReason::kNone) {
      f.facts = facts_of(d, h->caplen, info);
    } else {
      ++out.malformed;
      info.l3 = dataplane::L3::kOther;
      info.flags |= dataplane::kFlagMalformed;
    }
    const bpf::FrameView view = dataplane::frame_view(info, m.get());
    const bpf::CurrentFrame current(view);
    for (const Program* p : programs) f.hit.push_back(p->run(m.get()) != 0);
    out.frames.push_back(std::move(f));
  }
  pcap_close(pc);
  return out;
}

void row(const std::string& capture, const std::string& filter, const std::string& what, size_t judged, size_t flagged,
         const std::string& note = {}) {
  const double pct = judged == 0 ? 0.0 : 100.0 * static_cast<double>(flagged) / static_cast<double>(judged);
  std::printf("  %-52s %-12s %-14s %7zu %7zu %6.1f%%  %s\n", capture.c_str(), filter.c_str(), what.c_str(), judged,
              flagged, pct, note.c_str());
}
void header() {
  std::printf("  %-52s %-12s %-14s %7s %7s %7s\n", "capture", "filter", "judged", "n", "flagged", "%");
}

// --- dns_tunnel -------------------------------------------------------------------------------

TEST(ShippedFiltersCorpus, DnsTunnelFlagsTunnelQueries) {
  const std::unique_ptr<Program> dns = load("dns_tunnel");
  const std::vector<fs::path> tunnels = captures(
      "covert", {"dns-tunnel-*", "dns-exfil-*", "*dnscat*", "*iodine*", "*sods*", "*dns2tcp*", "*dns*tunnel*"});
  ASSERT_GE(tunnels.size(), 9U) << "the DNS-tunnel captures of covert/ are missing";
  std::printf("dns_tunnel on the DNS-tunnel captures (>= %.0f %% of DNS queries):\n", 100 * kMinDnsTunnelRate);
  header();
  for (const fs::path& path : tunnels) {
    SCOPED_TRACE(rel(path));
    const Scan s = scan(path, {dns.get()});
    if (!s.skipped.empty()) {
      std::printf("  %-52s skipped: %s\n", rel(path).c_str(), s.skipped.c_str());
      continue;
    }
    size_t queries = 0, flagged = 0, other_hits = 0;
    for (const Frame& f : s.frames) {
      queries += f.facts.dns_query;
      flagged += f.facts.dns_query && f.hit[0];
      other_hits += !f.facts.dns_query && f.hit[0];
    }
    row(rel(path), "dns_tunnel", "DNS queries", queries, flagged,
        s.malformed != 0 ? std::to_string(s.malformed) + " malformed frames" : "");
    EXPECT_GT(queries, 0U) << "matched the DNS-tunnel globs but holds no DNS query to port 53";
    EXPECT_GE(static_cast<double>(flagged), kMinDnsTunnelRate * static_cast<double>(queries))
        << flagged << " of " << queries << " queries flagged";
    EXPECT_EQ(other_hits, 0U) << "frames other than DNS queries flagged";
  }
}

// --- benign: no frame flagged by dns_tunnel or icmp_tunnel -------------------------------------

TEST(ShippedFiltersCorpus, BenignCapturesRaiseNothing) {
  const std::unique_ptr<Program> dns = load("dns_tunnel");
  const std::unique_ptr<Program> icmp = load("icmp_tunnel");
  const std::unique_ptr<Program> cwmp = load("cwmp_acs");
  const std::vector<fs::path> benign = captures("benign", {"*"});
  ASSERT_GE(benign.size(), 50U);
  const std::vector<fs::path> cwmp_captures = captures("benign", {"*tr069*", "*cwmp*"});
  std::printf("benign captures with DNS (port 53/5353) or ICMP echo, and those skipped (no frame may be flagged):\n");
  header();
  size_t dns_captures = 0, echo_captures = 0;
  for (const fs::path& path : benign) {
    SCOPED_TRACE(rel(path));
    const Scan s = scan(path, {dns.get(), icmp.get(), cwmp.get()});
    if (!s.skipped.empty()) {
      std::printf("  %-52s skipped: %s\n", rel(path).c_str(), s.skipped.c_str());
      continue;
    }
    size_t dns_frames = 0, queries = 0, echoes = 0, dns_hits = 0, icmp_hits = 0, cwmp_hits = 0;
    for (const Frame& f : s.frames) {
      dns_frames += f.facts.dns_any;
      queries += f.facts.dns_query;
      echoes += f.facts.echo;
      dns_hits += f.hit[0];
      icmp_hits += f.hit[1];
      cwmp_hits += f.hit[2];
    }
    if (dns_frames != 0) {
      ++dns_captures;
      row(rel(path), "dns_tunnel", "DNS queries:53", queries, dns_hits,
          std::to_string(dns_frames) + " frames on port 53/5353");
    }
    if (echoes != 0) {
      ++echo_captures;
      row(rel(path), "icmp_tunnel", "echo", echoes, icmp_hits);
    }
    EXPECT_EQ(dns_hits, 0U) << "dns_tunnel flagged frames of a benign capture";
    EXPECT_EQ(icmp_hits, 0U) << "icmp_tunnel flagged frames of a benign capture";
    if (std::find(cwmp_captures.begin(), cwmp_captures.end(), path) == cwmp_captures.end()) {
      EXPECT_EQ(cwmp_hits, 0U) << "cwmp_acs flagged frames of a capture without CWMP";
    }
  }
  // The captures the requirement names are among them.
  EXPECT_GE(dns_captures, 10U);
  EXPECT_GE(echo_captures, 1U);
}

// --- icmp_tunnel --------------------------------------------------------------------------------

TEST(ShippedFiltersCorpus, IcmpTunnelFlagsTunnelEchoes) {
  const std::unique_ptr<Program> icmp = load("icmp_tunnel");
  const std::vector<fs::path> tunnels = captures("covert", {"*icmp*tunnel*"});
  ASSERT_GE(tunnels.size(), 1U);
  std::printf("icmp_tunnel on the ICMP-tunnel captures (>= %.0f %% of echo requests/replies):\n",
              100 * kMinIcmpTunnelRate);
  header();
  for (const fs::path& path : tunnels) {
    SCOPED_TRACE(rel(path));
    const Scan s = scan(path, {icmp.get()});
    if (!s.skipped.empty()) {
      std::printf("  %-52s skipped: %s\n", rel(path).c_str(), s.skipped.c_str());
      continue;
    }
    size_t echoes = 0, flagged = 0, other_hits = 0;
    for (const Frame& f : s.frames) {
      echoes += f.facts.echo;
      flagged += f.facts.echo && f.hit[0];
      other_hits += !f.facts.echo && f.hit[0];
    }
    row(rel(path), "icmp_tunnel", "echo", echoes, flagged);
    EXPECT_GT(echoes, 0U);
    EXPECT_GE(static_cast<double>(flagged), kMinIcmpTunnelRate * static_cast<double>(echoes));
    EXPECT_EQ(other_hits, 0U);
  }
}

// --- cwmp_acs -------------------------------------------------------------------------------------

std::string dotted(uint32_t a) {
  const in_addr n{htonl(a)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &n, buf, sizeof buf) != nullptr ? buf : "?";
}

TEST(ShippedFiltersCorpus, CwmpAcsMatchesOnlyUnlistedServers) {
  const std::vector<fs::path> sessions = captures("benign", {"*tr069*", "*cwmp*"});
  ASSERT_GE(sessions.size(), 1U);
  const std::unique_ptr<Program> unlisted = load("cwmp_acs");
  const uint64_t elsewhere = 0xc0000201;  // 192.0.2.1, in no capture
  const std::unique_ptr<Program> other = load("cwmp_acs", {{"acs", {elsewhere}}});
  std::printf("cwmp_acs on the CWMP captures:\n");
  header();
  for (const fs::path& path : sessions) {
    SCOPED_TRACE(rel(path));
    // First pass: the ground truth, and the ACS — the servers the CPE opens connections to.
    const Scan truth = scan(path, {unlisted.get(), other.get()});
    if (!truth.skipped.empty()) {
      std::printf("  %-52s skipped: %s\n", rel(path).c_str(), truth.skipped.c_str());
      continue;
    }
    std::set<uint32_t> servers;
    size_t cwmp_frames = 0;
    for (const Frame& f : truth.frames) {
      if (f.facts.syn && f.facts.dst_v4 != 0) servers.insert(f.facts.dst_v4);
      cwmp_frames += f.facts.cwmp;
    }
    ASSERT_GT(cwmp_frames, 0U) << "no frame carries the CWMP namespace";
    ASSERT_FALSE(servers.empty()) << "no connection opened in the capture: the ACS is unknown";
    ASSERT_LE(servers.size(), 8U) << "more servers than acs slots";
    std::vector<uint64_t> acs(servers.begin(), servers.end());
    std::string listed;
    for (const uint32_t a : servers) listed += (listed.empty() ? "" : ",") + dotted(a);
    const std::unique_ptr<Program> known = load("cwmp_acs", {{"acs", acs}});
    const Scan with_acs = scan(path, {known.get()});

    size_t hits_none = 0, hits_other = 0, hits_known = 0, missed = 0, stray = 0;
    for (size_t i = 0; i < truth.frames.size(); ++i) {
      const Frame& f = truth.frames[i];
      hits_none += f.hit[0];
      hits_other += f.hit[1];
      hits_known += with_acs.frames[i].hit[0];
      missed += f.facts.cwmp && !f.hit[0];
      stray += f.hit[0] && !f.facts.tcp_payload;
      EXPECT_EQ(f.hit[0], f.hit[1]) << "frame " << i + 1 << ": another address listed changes the verdict";
    }
    const std::string note = "ACS " + listed + "; " + std::to_string(truth.frames.size()) + " frames";
    row(rel(path), "cwmp_acs", "ns frames", cwmp_frames, hits_none, "no acs listed; " + note);
    row(rel(path), "cwmp_acs", "ns frames", cwmp_frames, hits_other, "acs=192.0.2.1");
    row(rel(path), "cwmp_acs", "ns frames", cwmp_frames, hits_known, "acs=" + listed);
    EXPECT_EQ(missed, 0U) << "frames carrying the CWMP namespace not matched";
    EXPECT_EQ(stray, 0U) << "frames without TCP payload matched";
    EXPECT_EQ(hits_known, 0U) << "matches with the capture's ACS listed";
  }
}

}  // namespace
}  // namespace sentinel

int main(int argc, char** argv) {
  return sentinel::test::run_tests_with_eal(argc, argv, "test_shipped_filters", "256", [] {
    sentinel::g_pool = rte_pktmbuf_pool_create("shipped_filters", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (sentinel::g_pool == nullptr) {
      std::fprintf(stderr, "rte_pktmbuf_pool_create: %s\n", rte_strerror(rte_errno));
      std::exit(1);
    }
  });
}

// The worker's inspection and verdict stages through the real Worker: frames go in on
// ring-backed ports, and what comes out of each port, the drop reasons counted and the
// alert records queued are compared with a table of cases (CONVENTIONS.md #11). Covers
// verdict precedence (pass > drop > reject > alert), flow blocking in both directions,
// reject frames (TCP RST both ways, ICMP port unreachable), rule constraints and the
// bad-checksum policy. Brings up its own EAL (--no-huge, unique file prefix).
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/checksum.hpp"
#include "dataplane/ports.hpp"
#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "rules/compiler.hpp"
#include "rules/loader.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;

namespace {

rte_mempool* g_pool = nullptr;

struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t port = 0;
};
RingPort g_vendor, g_core;

RingPort make_port(const std::string& name) {
  RingPort p;
  p.rx = rte_ring_create((name + "_rx").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "_tx").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.port = static_cast<uint16_t>(rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY));
  (void)start_port(name, p.port, {1, 1024, 1024}, g_pool);
  return p;
}

// Addresses: the vendor box 10.0.0.2, a core host 192.168.1.5.
constexpr uint8_t kVendorIp[4] = {10, 0, 0, 2};
constexpr uint8_t kCoreIp[4] = {192, 168, 1, 5};
constexpr uint8_t kVendorMac[6] = {2, 0, 0, 0, 0, 2};
constexpr uint8_t kCoreMac[6] = {2, 0, 0, 0, 0, 1};

struct Pkt {
  bool from_vendor = false;  // sent by the vendor box (to_core) or by the core host (to_vendor)
  uint8_t proto = 6;
  uint8_t flags = 0x18;      // TCP flags (PSH|ACK)
  uint32_t seq = 1;
  uint32_t ack = 1;
  std::string payload;
  bool bad_checksum = false;
};

void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

std::vector<uint8_t> frame(const Pkt& k) {
  const uint8_t* src = k.from_vendor ? kVendorIp : kCoreIp;
  const uint8_t* dst = k.from_vendor ? kCoreIp : kVendorIp;
  const uint16_t sport = k.from_vendor ? 80 : 40000;
  const uint16_t dport = k.from_vendor ? 40000 : 80;
  const uint32_t l4 = k.proto == 6 ? 20 : 8;
  std::vector<uint8_t> f(14 + 20 + l4 + k.payload.size(), 0);
  std::memcpy(f.data(), k.from_vendor ? kCoreMac : kVendorMac, 6);
  std::memcpy(f.data() + 6, k.from_vendor ? kVendorMac : kCoreMac, 6);
  put16(f.data() + 12, 0x0800);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + l4 + k.payload.size()));
  ip[8] = 64;
  ip[9] = k.proto;
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  const uint16_t ipc = internet_checksum(ip, 20);
  std::memcpy(ip + 10, &ipc, 2);
  uint8_t* t = ip + 20;
  put16(t, sport);
  put16(t + 2, dport);
  if (k.proto == 6) {
    put32(t + 4, k.seq);
    put32(t + 8, k.ack);
    t[12] = 5 << 4;
    t[13] = k.flags;
    put16(t + 14, 65535);
  } else {
    put16(t + 4, static_cast<uint16_t>(8 + k.payload.size()));
  }
  std::memcpy(t + l4, k.payload.data(), k.payload.size());
  uint16_t c = l4_checksum(src, dst, false, k.proto, t, static_cast<uint32_t>(l4 + k.payload.size()));
  if (k.bad_checksum) c ^= 0x5a5a;
  std::memcpy(t + (k.proto == 6 ? 16 : 6), &c, 2);
  return f;
}

bool checksums_ok(const std::vector<uint8_t>& f) {
  const uint8_t* ip = f.data() + 14;
  if (fold_sum(rte_raw_cksum(ip, 20)) != 0xffff) return false;
  const uint32_t l4_len = static_cast<uint32_t>(f.size() - 34);
  return fold_sum(pseudo_header_sum(ip + 12, ip + 16, false, ip[9], l4_len) + rte_raw_cksum(ip + 20, l4_len)) == 0xffff;
}

struct Out {
  std::vector<uint8_t> bytes;
  bool to_core;  // left through the core port
};

class WorkerTest : public testing::Test {
 protected:
  void load(const std::string& rules_toml, config::Config cfg = {}) {
    const rules::ClassificationTable classes =
        rules::load_classifications(SENTINEL_SOURCE_DIR "/config/classification.toml");
    set_ = rules::compile_rules(rules::load_rules_text(rules_toml, "t.toml", classes), {});
    cfg.flows.capacity = 1024;
    cfg.failure.malformed_vendor = config::FailAction::kPass;
    WorkerSetup setup = worker_setup(cfg, g_vendor.port, g_core.port, 0, set_.get(), nullptr, nullptr, false);
    worker_ = std::make_unique<Worker>(setup, next_id_++);
  }

  // Sends one frame through and returns what left either port.
  std::vector<Out> send(const Pkt& k) {
    const std::vector<uint8_t> f = frame(k);
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    EXPECT_EQ(rte_ring_enqueue(k.from_vendor ? g_vendor.rx : g_core.rx, m), 0);
    (void)worker_->poll_once();
    std::vector<Out> out;
    for (const RingPort* p : {&g_vendor, &g_core}) {
      void* obj = nullptr;
      while (rte_ring_dequeue(p->tx, &obj) == 0) {
        auto* mb = static_cast<rte_mbuf*>(obj);
        const auto* d = rte_pktmbuf_mtod(mb, const uint8_t*);
        out.push_back({std::vector<uint8_t>(d, d + mb->pkt_len), p == &g_core});
        rte_pktmbuf_free(mb);
      }
    }
    return out;
  }

  std::vector<AlertRecord> alerts() {
    std::vector<AlertRecord> v(64);
    v.resize(worker_->alerts().pop(v.data(), 64));
    return v;
  }

  uint64_t drops(DropReason r) const { return worker_->counters().drops[static_cast<size_t>(r)].get(); }

  std::shared_ptr<const rules::RuleSet> set_;
  std::unique_ptr<Worker> worker_;
  static inline uint32_t next_id_ = 0;
};

Pkt to_vendor(std::string payload, uint32_t seq = 1001) {
  Pkt k;
  k.payload = std::move(payload);
  k.seq = seq;
  k.ack = 5001;
  return k;
}

Pkt to_core(std::string payload, uint32_t seq = 5001) {
  Pkt k;
  k.from_vendor = true;
  k.payload = std::move(payload);
  k.seq = seq;
  k.ack = 1001;
  return k;
}

std::string rule(uint32_t sid, const char* action, const char* content, const char* extra = "") {
  return "[[rule]]\nsid = " + std::to_string(sid) + "\nmsg = \"r" + std::to_string(sid) + "\"\naction = \"" +
         action + "\"\n" + extra + "match = [{ content = \"" + content + "\" }]\n";
}

}  // namespace

TEST_F(WorkerTest, AlertForwardsAndLogs) {
  load(rule(1, "alert", "EVIL"));
  const auto out = send(to_vendor("GET /EVIL"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].to_core);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 1u);
  EXPECT_EQ(a[0].gid, 1u);
  EXPECT_EQ(a[0].verdict, Verdict::kForwarded);
  EXPECT_EQ(a[0].direction, Direction::kToVendor);
  EXPECT_EQ(a[0].in_iface, Side::kCore);
  EXPECT_EQ(a[0].src_port, 40000);
  EXPECT_EQ(a[0].dst_port, 80);
}

TEST_F(WorkerTest, DropBlocksTheFlowBothWays) {
  load(rule(1, "drop", "EVIL"));
  EXPECT_EQ(send(to_vendor("GET /")).size(), 1u);
  EXPECT_TRUE(send(to_vendor("EVIL", 1006)).empty());
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
  EXPECT_TRUE(send(to_core("HTTP/1.0 200 OK")).empty());
  EXPECT_TRUE(send(to_vendor("more", 1010)).empty());
  EXPECT_EQ(drops(DropReason::kFlowBlocked), 2u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].verdict, Verdict::kDropped);
  EXPECT_EQ(a[0].action, rules::Action::kDrop);
}

TEST_F(WorkerTest, MatchAcrossSegmentsDropsTheCompletingSegment) {
  load(rule(1, "drop", "EVILPATTERN"));
  EXPECT_EQ(send(to_vendor("xxEVILP", 1001)).size(), 1u);
  EXPECT_TRUE(send(to_vendor("ATTERNyy", 1008)).empty());
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
}

TEST_F(WorkerTest, GapFillingSegmentThatCompletesAMatchIsDropped) {
  load(rule(1, "drop", "EVILPATTERN"));
  EXPECT_EQ(send(to_vendor("GET ", 1001)).size(), 1u);
  EXPECT_EQ(send(to_vendor("ATTERN", 1010)).size(), 1u);  // out of order: forwarded at once
  EXPECT_TRUE(alerts().empty());
  EXPECT_TRUE(send(to_vendor("EVILP", 1005)).empty());    // fills the gap: the match completes
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
}

TEST_F(WorkerTest, PassBeatsDropAndStopsInspection) {
  load(rule(1, "drop", "EVIL") + rule(2, "pass", "GET"));
  EXPECT_EQ(send(to_vendor("GET /EVIL")).size(), 1u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(send(to_vendor("EVIL again", 1010)).size(), 1u);  // the flow is no longer inspected
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(drops(DropReason::kSignature), 0u);
}

TEST_F(WorkerTest, DropBeatsRejectNoResetsSent) {
  load(rule(1, "reject", "EVIL") + rule(2, "drop", "GET"));
  const auto out = send(to_vendor("GET /EVIL"));
  EXPECT_TRUE(out.empty());
  const auto a = alerts();
  ASSERT_EQ(a.size(), 2u);
  for (const AlertRecord& r : a) EXPECT_EQ(r.verdict, Verdict::kDropped);
}

TEST_F(WorkerTest, RejectBeatsAlertAndResetsBothEnds) {
  load(rule(1, "reject", "EVIL") + rule(2, "alert", "GET"));
  Pkt k = to_vendor("GET /EVIL", 1001);
  const auto out = send(k);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(alerts().size(), 2u);
  for (const Out& o : out) {
    ASSERT_EQ(o.bytes.size(), 54u);
    EXPECT_TRUE(checksums_ok(o.bytes));
    const uint8_t* ip = o.bytes.data() + 14;
    const uint8_t* t = ip + 20;
    EXPECT_TRUE(t[13] & 0x04) << "RST";
    if (o.to_core) {  // back to the sender (the core host): from the vendor box
      EXPECT_EQ(std::memcmp(ip + 12, kVendorIp, 4), 0);
      EXPECT_EQ(std::memcmp(o.bytes.data(), kCoreMac, 6), 0);
      EXPECT_EQ(get32(t + 4), 5001u);                         // where the receiver stands
      EXPECT_EQ(get32(t + 8), 1001u + k.payload.size());      // acknowledging the segment
    } else {          // on to the receiver (the vendor box)
      EXPECT_EQ(std::memcmp(ip + 12, kCoreIp, 4), 0);
      EXPECT_EQ(get32(t + 4), 1001u);
    }
  }
  EXPECT_EQ(worker_->counters().inspect.reject_sent.get(), 2u);
  EXPECT_TRUE(send(to_core("reply")).empty());
}

TEST_F(WorkerTest, UdpRejectSendsPortUnreachable) {
  load(rule(1, "reject", "EVIL", "proto = \"udp\"\n"));
  Pkt k = to_vendor("EVIL");
  k.proto = 17;
  const auto out = send(k);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to_core);
  const uint8_t* ip = out[0].bytes.data() + 14;
  EXPECT_EQ(ip[9], 1);       // ICMP
  EXPECT_EQ(ip[20], 3);      // destination unreachable
  EXPECT_EQ(ip[21], 3);      // port unreachable
  EXPECT_EQ(std::memcmp(ip + 12, kVendorIp, 4), 0);
  EXPECT_EQ(std::memcmp(ip + 16, kCoreIp, 4), 0);
  EXPECT_EQ(fold_sum(rte_raw_cksum(ip + 20, static_cast<uint32_t>(out[0].bytes.size() - 34))), 0xffffu);
  EXPECT_EQ(std::memcmp(ip + 28, frame(k).data() + 14, 28), 0) << "quotes the IP header and 8 bytes";
}

TEST_F(WorkerTest, ConstraintsThatDoNotHoldDoNotFire) {
  load(rule(1, "alert", "EVIL", "direction = \"to_core\"\n") + rule(2, "alert", "EVIL", "dst_ports = [81]\n") +
       rule(3, "alert", "EVIL", "src_nets = [\"10.0.0.0/8\"]\n") + rule(4, "alert", "EVIL", "proto = \"udp\"\n") +
       rule(5, "alert", "EVIL", "dst_nets = [\"10.0.0.0/8\", \"!10.0.0.2\"]\n") +
       rule(6, "alert", "EVIL", "direction = \"to_vendor\"\ndst_ports = [\"79-80\"]\nsrc_nets = [\"192.168.0.0/16\"]\n"));
  EXPECT_EQ(send(to_vendor("EVIL")).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 6u);
}

TEST_F(WorkerTest, BadChecksumSegmentIsNeverScanned) {
  load(rule(1, "alert", "EVIL"));
  Pkt k = to_vendor("EVIL");
  k.bad_checksum = true;
  EXPECT_EQ(send(k).size(), 1u);  // [failure] bad_checksum = "pass"
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(worker_->counters().malformed_passed[static_cast<size_t>(DropReason::kBadChecksum)].get(), 1u);
  EXPECT_EQ(send(to_vendor("EVIL")).size(), 1u);  // the good retransmission is scanned
  EXPECT_EQ(alerts().size(), 1u);
}

TEST_F(WorkerTest, BadChecksumDropPolicy) {
  config::Config cfg;
  cfg.failure.bad_checksum = config::FailAction::kDrop;
  load(rule(1, "alert", "EVIL"), cfg);
  Pkt k = to_vendor("EVIL");
  k.bad_checksum = true;
  EXPECT_TRUE(send(k).empty());
  EXPECT_EQ(drops(DropReason::kBadChecksum), 1u);
}

TEST_F(WorkerTest, OverlapConflictRaisesOneAnomaly) {
  load(rule(1, "alert", "EVIL"));
  EXPECT_EQ(send(to_vendor("GOOD", 1001)).size(), 1u);
  EXPECT_EQ(send(to_vendor("EVIL", 1001)).size(), 1u);  // same bytes, different data
  EXPECT_EQ(send(to_vendor("EVIL", 1001)).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u) << "the first-seen bytes are scanned, the conflict reported once";
  EXPECT_EQ(a[0].gid, rules::kGidAnomalies);
  EXPECT_EQ(a[0].sid, static_cast<uint32_t>(Anomaly::kOverlapConflict));
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string prefix = "test-worker-" + std::to_string(getpid());
  std::vector<std::string> args = {"test_worker", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                                   "--no-telemetry", "--file-prefix", prefix, "--lcores", "0@(0-1)",
                                   "--log-level", "lib.eal:error", "--log-level", "pmd.*:error"};
  std::vector<char*> eal_argv;
  for (std::string& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  const std::filesystem::path runtime_dir = rte_eal_get_runtime_dir();
  install_stream_allocator();
  g_pool = rte_pktmbuf_pool_create("test_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  g_vendor = make_port("vendor");
  g_core = make_port("core");
  const int rc = RUN_ALL_TESTS();
  (void)rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
  return rc;
}

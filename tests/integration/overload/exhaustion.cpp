// Mbuf and tx exhaustion: what the worker does when it cannot send or cannot get mbufs, and
// that no mbuf is ever lost. Three cases:
//   TxFull          the core port's tx ring (255 frames) is never drained: 4,096 frames to
//                   core, 255 forwarded, the rest dropped with reason tx_full and freed at
//                   once (the pool lacks exactly the 255 held by the ring); the other
//                   direction keeps forwarding; a reject verdict's RST towards the full side
//                   is counted as reject_failed while the one to the sender goes out.
//   RxPoolExhausted the vendor port is net_null (its rx allocates from a pool of its own,
//                   511 mbufs) and the core port's tx ring is not drained: the pool runs dry,
//                   rx stalls (the worker keeps polling, forwarding the other direction),
//                   and recovers when the ring is drained — three times over.
//   RejectNoMbufs   a pool of 255 mbufs, every one of them a frame that triggers a reject
//                   rule: the RSTs that cannot be allocated are counted (reject_failed),
//                   the triggering frames dropped (reason signature).
// Each: frames in = forwarded + drops by reason, every reason checked; after the traffic
// stops and the rings are drained, rte_mempool_avail_count of every pool is exactly what it
// was at the start. Prints the figures of each case.
#include "tests/integration/overload/overload_common.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::overload;
using dataplane::Worker;

constexpr unsigned kSmallTxRing = 256;  // holds 255
constexpr unsigned kNullPoolSize = 511;
constexpr unsigned kTinyPoolSize = 255;
const char* const kNullDev = "net_null0,size=64,copy=1";

rte_mempool* g_pool = nullptr;       // the ring ports' pool (frames the test builds)
rte_mempool* g_null_pool = nullptr;  // net_null's rx pool
rte_mempool* g_tiny_pool = nullptr;
RingPort g_vendor;      // rx 4096, tx 1024
RingPort g_core_small;  // tx ring of kSmallTxRing
RingPort g_core;        // rx 1024, tx 1024
uint16_t g_null = 0;
uint32_t g_next_id = 0;

constexpr uint32_t kVendorBox = ip4(10, 0, 0, 2);
constexpr uint32_t kServer = ip4(192, 168, 1, 5);

// A small flow table: every case here has few flows, and the worker's per-slot arrays cost
// time and memory at construction under meson's MALLOC_PERTURB_.
const char* const kConfig = "[flows]\ncapacity = 1024\n";

const char* const kRejectRule = R"([[rule]]
sid = 7
msg = "reject me"
action = "reject"
proto = "tcp"
match = [{ content = "REJECTME" }]
)";

Packet udp(bool from_vendor, uint16_t sport, uint16_t dport) {
  Packet k;
  k.from_vendor = from_vendor;
  k.proto = 17;
  k.src = from_vendor ? kVendorBox : kServer;
  k.dst = from_vendor ? kServer : kVendorBox;
  k.sport = sport;
  k.dport = dport;
  return k;
}

// A mid-stream TCP segment of flow `i` from the vendor box carrying the reject rule's content.
Packet reject_trigger(uint32_t i) {
  Packet k;
  k.src = kVendorBox;
  k.dst = kServer;
  k.sport = static_cast<uint16_t>(20000 + i);
  k.dport = 80;
  k.flags = tcp::kPshAck;
  k.seq = 1000;
  k.ack = 2000;
  return k;
}

}  // namespace

TEST(Exhaustion, TxFull) {
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  auto s = make_sentinel(kConfig, kRejectRule, "", "", g_vendor.id, g_core_small.id, g_next_id++);
  Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();
  uint64_t frames_in = 0;

  // 4,096 datagrams to the core side, whose tx ring is never drained during the run.
  constexpr uint32_t kToCore = 4096;
  for (uint32_t base = 0; base < kToCore; base += 512) {
    for (uint32_t i = base; i < base + 512; ++i) enqueue(g_vendor.rx, make_frame(g_pool, udp(true, static_cast<uint16_t>(1024 + i), 9), "to the core"));
    frames_in += 512;
    (void)poll_until_empty(w, g_vendor, g_core_small);
  }
  const unsigned held = rte_ring_count(g_core_small.tx);
  EXPECT_EQ(held, kSmallTxRing - 1) << "the tx ring is full";
  EXPECT_EQ(c.dir[0].forwarded.get(), kSmallTxRing - 1);
  EXPECT_EQ(drops(c, DropReason::kTxFull), kToCore - (kSmallTxRing - 1));
  EXPECT_EQ(rte_mempool_avail_count(g_pool), pool_start - held) << "every frame that could not be sent was freed";

  // The other direction is not held up.
  constexpr uint32_t kToVendor = 512;
  for (uint32_t i = 0; i < kToVendor; ++i) enqueue(g_core_small.rx, make_frame(g_pool, udp(false, 9, static_cast<uint16_t>(1024 + i)), "to the vendor"));
  frames_in += kToVendor;
  (void)poll_until_empty(w, g_vendor, g_core_small);
  EXPECT_EQ(free_all(g_vendor.tx), kToVendor);
  EXPECT_EQ(c.dir[1].forwarded.get(), kToVendor);

  // Reject verdicts with the receiver's side full: the RST to the sender goes out, the one
  // towards the full side cannot (reject_failed); the trigger is dropped (signature).
  constexpr uint32_t kTriggers = 16;
  for (uint32_t i = 0; i < kTriggers; ++i) enqueue(g_vendor.rx, make_frame(g_pool, reject_trigger(i), "xx REJECTME xx"));
  frames_in += kTriggers;
  (void)poll_until_empty(w, g_vendor, g_core_small);
  EXPECT_EQ(c.inspect.reject_sent.get(), kTriggers);
  EXPECT_EQ(c.inspect.reject_failed.get(), kTriggers);
  EXPECT_EQ(free_all(g_vendor.tx), kTriggers) << "the RSTs to the sender";

  expect_accounting(c, frames_in,
                    {{DropReason::kTxFull, kToCore - (kSmallTxRing - 1)}, {DropReason::kSignature, kTriggers}});
  const unsigned before_drain = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(free_all(g_core_small.tx), held);
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(pool_end, pool_start) << "every mbuf back once the rings are drained";

  print_figures("exhaustion_tx_full", {{"tx_ring_frames", kSmallTxRing - 1},
                                       {"sent_to_core", kToCore},
                                       {"forwarded_to_core", c.dir[0].forwarded.get()},
                                       {"tx_full", drops(c, DropReason::kTxFull)},
                                       {"sent_to_vendor", kToVendor},
                                       {"forwarded_to_vendor", c.dir[1].forwarded.get()},
                                       {"reject_sent", c.inspect.reject_sent.get()},
                                       {"reject_failed", c.inspect.reject_failed.get()},
                                       {"mbufs", {{"start", pool_start}, {"avail_while_ring_full", before_drain}, {"end", pool_end}}},
                                       {"counters", counters_json(c)}});
}

TEST(Exhaustion, RxPoolExhausted) {
  const unsigned null_start = rte_mempool_avail_count(g_null_pool);
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  ASSERT_EQ(null_start, kNullPoolSize);
  // net_null's frames are 64 zero bytes (an 802.3 frame, no IP): forwarded whatever the
  // parser makes of them.
  auto s = make_sentinel(std::string(kConfig) + "\n[failure]\nmalformed_vendor = \"pass\"\n", "", "", "", g_null, g_core.id, g_next_id++);
  Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();
  constexpr int kRounds = 3;
  constexpr uint32_t kIdlePolls = 64;  // polls in a row that receive nothing: rx has stalled
  constexpr uint32_t kMaxPolls = 100000;
  Json rounds = Json::array();
  uint64_t to_vendor_in = 0;
  for (int r = 0; r < kRounds; ++r) {
    const uint64_t rx_before = c.dir[0].rx_packets.get();
    uint32_t idle = 0;
    uint32_t polls = 0;
    while (idle < kIdlePolls && polls < kMaxPolls) {
      idle = w.poll_once() == 0 ? idle + 1 : 0;
      ++polls;
    }
    ASSERT_LT(polls, kMaxPolls) << "rx never stalled";
    const uint64_t got = c.dir[0].rx_packets.get() - rx_before;
    const unsigned held = rte_ring_count(g_core.tx);
    const unsigned avail = rte_mempool_avail_count(g_null_pool);
    EXPECT_EQ(held, got) << "every frame received is held by the core port's tx ring";
    EXPECT_EQ(avail + held, kNullPoolSize) << "every mbuf is in the ring or the pool";
    EXPECT_LT(avail, s->cfg.dataplane.burst_size) << "rx stalled because the pool could not fill a burst";
    // Meanwhile the other direction still goes through.
    for (uint32_t i = 0; i < 32; ++i) enqueue(g_core.rx, make_frame(g_pool, udp(false, 9, static_cast<uint16_t>(2000 + i)), "to the vendor"));
    to_vendor_in += 32;
    (void)poll_until_empty(w, g_vendor, g_core);  // g_vendor's rx is empty: only g_core.rx matters
    rounds.push_back({{"received_until_stall", got}, {"null_pool_avail_at_stall", avail}, {"polls", polls}});
    // Drain: the pool refills, rx resumes in the next round.
    EXPECT_EQ(free_all(g_core.tx), held);
    EXPECT_EQ(rte_mempool_avail_count(g_null_pool), kNullPoolSize);
  }
  EXPECT_EQ(c.dir[1].forwarded.get(), to_vendor_in) << "net_null's tx took (and freed) them";
  expect_accounting(c, std::nullopt, {});
  const unsigned null_end = rte_mempool_avail_count(g_null_pool);
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(null_end, null_start);
  EXPECT_EQ(pool_end, pool_start);
  print_figures("exhaustion_rx_pool", {{"null_pool_size", kNullPoolSize},
                                       {"rounds", rounds},
                                       {"forwarded_to_vendor_meanwhile", c.dir[1].forwarded.get()},
                                       {"null_mbufs", {{"start", null_start}, {"end", null_end}}},
                                       {"mbufs", {{"start", pool_start}, {"end", pool_end}}},
                                       {"counters", counters_json(c)}});
}

TEST(Exhaustion, RejectNoMbufs) {
  const unsigned tiny_start = rte_mempool_avail_count(g_tiny_pool);
  ASSERT_EQ(tiny_start, kTinyPoolSize);
  auto s = make_sentinel(kConfig, kRejectRule, "", "", g_vendor.id, g_core.id, g_next_id++);
  Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();
  // Every mbuf of the pool becomes a trigger: the pool is empty when the worker runs.
  std::vector<rte_mbuf*> triggers;
  for (rte_mbuf* m; (m = make_frame(g_tiny_pool, reject_trigger(static_cast<uint32_t>(triggers.size())), "REJECTME")) != nullptr;) {
    triggers.push_back(m);
  }
  ASSERT_EQ(triggers.size(), kTinyPoolSize);
  EXPECT_EQ(rte_mempool_avail_count(g_tiny_pool), 0u);
  for (rte_mbuf* m : triggers) enqueue(g_vendor.rx, m);
  (void)poll_until_empty(w, g_vendor, g_core);
  const uint64_t rst_to_sender = free_all(g_vendor.tx);
  const uint64_t rst_to_receiver = free_all(g_core.tx);
  const uint64_t sent = c.inspect.reject_sent.get();
  const uint64_t failed = c.inspect.reject_failed.get();
  EXPECT_EQ(sent + failed, 2u * kTinyPoolSize) << "two RSTs per TCP reject, each sent or counted failed";
  EXPECT_GE(failed, 2u) << "the first trigger found the pool empty";
  EXPECT_EQ(rst_to_sender + rst_to_receiver, sent);
  expect_accounting(c, kTinyPoolSize, {{DropReason::kSignature, kTinyPoolSize}});
  const unsigned tiny_end = rte_mempool_avail_count(g_tiny_pool);
  EXPECT_EQ(tiny_end, tiny_start);
  print_figures("exhaustion_reject_no_mbufs", {{"pool_size", kTinyPoolSize},
                                               {"triggers", kTinyPoolSize},
                                               {"reject_sent", sent},
                                               {"reject_failed", failed},
                                               {"rst_to_sender", rst_to_sender},
                                               {"rst_to_receiver", rst_to_receiver},
                                               {"mbufs", {{"start", tiny_start}, {"end", tiny_end}}},
                                               {"counters", counters_json(c)}});
}

int main(int argc, char** argv) {
  return run_with_eal(argc, argv, "ovl-exhaust", 256, {"--vdev", kNullDev}, [] {
    // Without a per-lcore cache: the counts of the small pools are exact at every step.
    g_pool = rte_pktmbuf_pool_create("exhaust_pool", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    g_null_pool = rte_pktmbuf_pool_create("null_pool", kNullPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    g_tiny_pool = rte_pktmbuf_pool_create("tiny_pool", kTinyPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_pool == nullptr || g_null_pool == nullptr || g_tiny_pool == nullptr) {
      throw std::runtime_error("rte_pktmbuf_pool_create");
    }
    g_vendor = make_ring_port("vendor", g_pool, 4096, 1024);
    g_core_small = make_ring_port("core_small", g_pool, 1024, kSmallTxRing);
    g_core = make_ring_port("core", g_pool, 1024, 1024);
    g_null = dataplane::find_port("vendor", kNullDev);
    (void)dataplane::start_port("vendor", g_null, {1, 1024, 1024}, g_null_pool);
  });
}

// SYN flood: 1,000,000 distinct TCP SYN flows from the vendor side (to_core) against a
// flow table of 4,096 entries, while one established TCP flow (full handshake) carries a
// segment each way in every round of 1,024 SYNs. No SYN is ever answered, so every flood
// flow stays embryonic and each new one past the table's bound evicts the oldest
// (evicted_embryonic_pressure); nothing times out (timeouts of an hour), so the counts are
// exact:
//   - the table's size, sampled after every poll, never exceeds its capacity, and ends full;
//   - evictions = SYN flows - (capacity - 1): the established flow keeps its slot;
//   - the established flow is never evicted: each round's to_vendor segment carries that
//     round's marker (a rule per round, since a rule alerts once per stream) and raises its
//     alert with the flow id of the first round's, and no packet of the flow ever creates
//     a flow again (flows created = SYN flows + 1);
//   - after the flood a signature in the established flow is caught: the drop rule drops
//     the segment (reason signature, alert with the same flow id) and blocks the flow;
//   - resident memory after the flood exceeds the value after a warm-up (the table full
//     and evicting, every mbuf of the pool used) by at most kRssSlackMiB;
//   - frames in = forwarded + drops by reason (signature 1, flow_blocked 1, nothing else),
//     and the mbuf pool ends as full as it started.
// The worker is polled from the test's thread (poll_once), so the samples are exact and the
// run is deterministic. Prints frames, Mpps (wall, and the worker's own time in poll_once),
// evictions, table size and RSS before/after as one JSON object.
#include <rte_cycles.h>

#include <chrono>

#include "tests/integration/overload/overload_common.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::overload;
using dataplane::AlertRecord;
using dataplane::Worker;

constexpr uint32_t kCapacity = 4096;
constexpr uint32_t kSynFlows = 1'000'000;
constexpr uint32_t kWarmupSyns = 4 * kCapacity;  // the table full and evicting for a while
constexpr uint32_t kChunk = 1024;                // SYNs per round
// Resident growth allowed between the warm-up and the end of the flood. A table that grew
// with the flood (say 64 bytes a flow) would add over 60 MiB; the allowance covers the
// allocator and libraries touching a few more pages.
constexpr double kRssSlackMiB = 8.0;

rte_mempool* g_pool = nullptr;
RingPort g_vendor, g_core;

// The established flow: the vendor box 172.16.0.2:40000 to a core server 192.168.1.5:443
// (the flood's sources are 10.0.0.1 onwards).
constexpr uint32_t kVendorHost = ip4(172, 16, 0, 2);
constexpr uint32_t kCoreHost = ip4(192, 168, 1, 5);
constexpr uint16_t kVendorPort = 40000;
constexpr uint16_t kServicePort = 443;

const char* const kConfig = R"([flows]
capacity = 4096
timeout_embryonic = 3600
timeout_established = 3600
)";

constexpr uint32_t kRounds = (kSynFlows + kChunk - 1) / kChunk;
constexpr uint32_t kMarkerSid = 100000;  // + round

// A marker rule per round (a rule alerts once per stream: each round's marker is a rule of
// its own, so that every round's alert names the flow it was raised in), and a drop rule.
std::string rules_text() {
  std::string t = "[[rule]]\nsid = 2\nmsg = \"evil pattern\"\naction = \"drop\"\nmatch = [{ content = \"EVILPATTERN\" }]\n";
  for (uint32_t r = 0; r < kRounds; ++r) {
    char marker[32];
    std::snprintf(marker, sizeof marker, "MARKER-%06u", r);
    t += "\n[[rule]]\nsid = " + std::to_string(kMarkerSid + r) + "\nmsg = \"marker " + std::to_string(r) +
         "\"\naction = \"alert\"\nproto = \"tcp\"\nmatch = [{ content = \"" + marker + "\" }]\n";
  }
  return t;
}

Packet established(bool from_vendor, uint8_t flags, uint32_t seq, uint32_t ack) {
  Packet k;
  k.from_vendor = from_vendor;
  k.src = from_vendor ? kVendorHost : kCoreHost;
  k.dst = from_vendor ? kCoreHost : kVendorHost;
  k.sport = from_vendor ? kVendorPort : kServicePort;
  k.dport = from_vendor ? kServicePort : kVendorPort;
  k.flags = flags;
  k.seq = seq;
  k.ack = ack;
  return k;
}

// Flood flow i: 10.0.0.1 + i, a port of its own, to the core server's port 80.
Packet flood_syn(uint32_t i) {
  Packet k;
  k.src = ip4(10, 0, 0, 0) + 1 + i;
  k.dst = kCoreHost;
  k.sport = static_cast<uint16_t>(1024 + i % 60000);
  k.dport = 80;
  k.flags = tcp::kSyn;
  k.seq = i * 2654435761u;
  return k;
}

}  // namespace

TEST(SynFlood, TableStaysBoundedAndTheEstablishedFlowSurvives) {
  static_assert(kWarmupSyns % kChunk == 0);
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  const Memory mem_start = read_memory();
  auto s = make_sentinel(kConfig, rules_text(), "", "", g_vendor.id, g_core.id, 0);
  Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();
  ASSERT_EQ(c.flow_capacity.get(), kCapacity);

  uint64_t frames_in = 0;
  uint64_t out_core = 0;
  uint64_t out_vendor = 0;
  uint64_t max_size = 0;
  uint64_t samples = 0;
  uint64_t over_capacity = 0;  // samples above the bound
  uint64_t poll_cycles = 0;
  const auto sample = [&] {
    const uint64_t n = table_size(c);
    max_size = std::max(max_size, n);
    over_capacity += n > kCapacity;
    ++samples;
  };
  const auto poll = [&] {
    const uint64_t t0 = rte_rdtsc();
    uint64_t polls = 0;
    while (rte_ring_count(g_vendor.rx) + rte_ring_count(g_core.rx) != 0) {
      const uint32_t n = w.poll_once();
      ++polls;
      sample();
      if (n == 0) throw std::runtime_error("frames waiting but the worker received none");
    }
    poll_cycles += rte_rdtsc() - t0;
    out_core += free_all(g_core.tx);
    out_vendor += free_all(g_vendor.tx);
    return polls;
  };
  std::vector<AlertRecord> alerts(64);
  const auto pop_alerts = [&] {
    std::vector<AlertRecord> got;
    for (uint32_t n; (n = w.alerts().pop(alerts.data(), 64)) != 0;) got.insert(got.end(), alerts.begin(), alerts.begin() + n);
    return got;
  };
  const auto send_one = [&](const Packet& k, std::string_view payload = {}) {
    enqueue(k.from_vendor ? g_vendor.rx : g_core.rx, make_frame(g_pool, k, payload));
    ++frames_in;
    (void)poll();
  };

  // The established flow: a full handshake.
  uint32_t vseq = 1001;  // next sequence number of each end
  uint32_t cseq = 5001;
  send_one(established(true, tcp::kSyn, 1000, 0));
  send_one(established(false, tcp::kSynAck, 5000, 1001));
  send_one(established(true, tcp::kAck, vseq, cseq));
  ASSERT_EQ(out_core + out_vendor, 3u);
  ASSERT_EQ(c.flows.created.get(), 1u);

  // Rounds: kChunk SYNs on the vendor port with the established flow's to_core segment in
  // their middle, its to_vendor segment (the marker) on the core port.
  uint32_t next_syn = 0;
  uint64_t rounds = 0;
  uint64_t marker_alerts = 0;
  uint64_t other_alerts = 0;
  uint64_t flow_id = 0;
  uint64_t flow_id_changes = 0;
  std::array<rte_mbuf*, kChunk + 1> burst{};
  char text[64];
  const auto round = [&] {
    const uint32_t n = std::min(kChunk, kSynFlows - next_syn);
    if (rte_pktmbuf_alloc_bulk(g_pool, burst.data(), n) != 0) throw std::runtime_error("mbuf pool empty");
    for (uint32_t i = 0; i < n; ++i) {
      rte_mbuf* m = burst[i];
      auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kHeadersTcp));
      (void)write_frame(p, flood_syn(next_syn + i), {});
    }
    next_syn += n;
    const int tn = std::snprintf(text, sizeof text, "hello from the vendor, round %08llu",
                                 static_cast<unsigned long long>(rounds));
    const std::string_view to_core(text, static_cast<size_t>(tn));
    rte_mbuf* data = make_frame(g_pool, established(true, tcp::kPshAck, vseq, cseq), to_core);
    vseq += static_cast<uint32_t>(to_core.size());
    const uint32_t half = n / 2;
    if (rte_ring_enqueue_bulk(g_vendor.rx, reinterpret_cast<void**>(burst.data()), half, nullptr) != half) {
      throw std::runtime_error("vendor rx ring full");
    }
    enqueue(g_vendor.rx, data);
    if (rte_ring_enqueue_bulk(g_vendor.rx, reinterpret_cast<void**>(burst.data() + half), n - half, nullptr) !=
        n - half) {
      throw std::runtime_error("vendor rx ring full");
    }
    const int mn = std::snprintf(text, sizeof text, "to the vendor: MARKER-%06llu", static_cast<unsigned long long>(rounds));
    const std::string_view marker(text, static_cast<size_t>(mn));
    enqueue(g_core.rx, make_frame(g_pool, established(false, tcp::kPshAck, cseq, vseq), marker));
    cseq += static_cast<uint32_t>(marker.size());
    frames_in += n + 2;
    (void)poll();
    ++rounds;
    for (const AlertRecord& a : pop_alerts()) {
      if (a.gid != 1 || a.sid != kMarkerSid + rounds - 1) {
        ++other_alerts;
        continue;
      }
      ++marker_alerts;
      if (flow_id == 0) flow_id = a.flow_id;
      flow_id_changes += a.flow_id != flow_id;
    }
  };

  // Warm-up: every mbuf of the pool resident, the table full and evicting.
  touch_pool(g_pool);
  while (next_syn < kWarmupSyns) round();
  const Memory mem_warm = read_memory();
  const uint64_t frames_warm = frames_in;
  const uint64_t poll_cycles_warm = poll_cycles;
  EXPECT_EQ(table_size(c), kCapacity) << "the warm-up fills the table";

  // The flood.
  const auto t0 = std::chrono::steady_clock::now();
  while (next_syn < kSynFlows) round();
  const double flood_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Memory mem_after = read_memory();
  const uint64_t flood_frames = frames_in - frames_warm;
  const double flood_poll_s = static_cast<double>(poll_cycles - poll_cycles_warm) / static_cast<double>(rte_get_tsc_hz());

  EXPECT_EQ(rounds, kRounds);
  EXPECT_EQ(marker_alerts, rounds) << "every round's marker in the established flow was scanned and alerted";
  EXPECT_EQ(other_alerts, 0u);
  EXPECT_NE(flow_id, 0u);
  EXPECT_EQ(flow_id_changes, 0u) << "the established flow kept its flow id throughout";

  // After the flood: the signature in the established flow is caught and blocks the flow.
  const uint64_t core_before = out_core;
  send_one(established(true, tcp::kPshAck, vseq, cseq), "GET /EVILPATTERN HTTP/1.0");
  EXPECT_EQ(out_core, core_before) << "the segment with the signature was dropped";
  const std::vector<AlertRecord> evil = pop_alerts();
  ASSERT_EQ(evil.size(), 1u);
  EXPECT_EQ(evil[0].sid, 2u);
  EXPECT_EQ(evil[0].flow_id, flow_id) << "raised in the same (never evicted) flow";
  EXPECT_EQ(evil[0].verdict, dataplane::Verdict::kDropped);
  const uint64_t vendor_before = out_vendor;
  send_one(established(false, tcp::kPshAck, cseq, vseq), "HTTP/1.0 200 OK");
  EXPECT_EQ(out_vendor, vendor_before) << "the blocked flow's reply was dropped";

  // The table's bound and its evictions.
  EXPECT_EQ(over_capacity, 0u) << "the table never held more than its capacity";
  EXPECT_EQ(max_size, kCapacity);
  EXPECT_EQ(table_size(c), kCapacity);
  const dataplane::FlowTableCounters& f = c.flows;
  EXPECT_EQ(f.created.get(), uint64_t{kSynFlows} + 1) << "each flood flow once, the established flow once";
  EXPECT_EQ(f.evicted_embryonic_pressure.get(), uint64_t{kSynFlows} - (kCapacity - 1))
      << "every flood flow past the capacity left by the established one evicts one";
  EXPECT_EQ(f.evicted_timeout.get(), 0u);
  EXPECT_EQ(f.expired.get(), 0u);
  EXPECT_EQ(f.table_full.get(), 0u) << "embryonic flows always make room";
  EXPECT_EQ(f.removed.get(), 0u);

  // Accounting and memory.
  expect_accounting(c, frames_in, {{DropReason::kSignature, 1}, {DropReason::kFlowBlocked, 1}});
  EXPECT_EQ(accounting(c).forwarded, out_core + out_vendor) << "what the worker counts forwarded left the ports";
  const double rss_growth = mem_after.rss_mib - mem_warm.rss_mib;
  EXPECT_LE(rss_growth, kRssSlackMiB) << "VmRSS after warm-up " << mem_warm.rss_mib << " MiB, after the flood "
                                      << mem_after.rss_mib << " MiB";
  EXPECT_EQ(free_all(g_core.tx) + free_all(g_vendor.tx), 0u);
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(pool_end, pool_start);

  Json figures = {
      {"syn_flows", kSynFlows},
      {"table_capacity", kCapacity},
      {"frames", frames_in},
      {"flood_frames", flood_frames},
      {"flood_seconds", round2(flood_s)},
      {"mpps_wall", round2(static_cast<double>(flood_frames) / flood_s / 1e6)},
      {"mpps_worker", round2(static_cast<double>(flood_frames) / flood_poll_s / 1e6)},
      {"evicted_embryonic_pressure", f.evicted_embryonic_pressure.get()},
      {"table_size_end", table_size(c)},
      {"table_size_max", max_size},
      {"table_samples", samples},
      {"established_flow_id", flow_id},
      {"marker_alerts", marker_alerts},
      {"rss_mib", {{"start", round2(mem_start.rss_mib)},
                   {"after_warmup", round2(mem_warm.rss_mib)},
                   {"after_flood", round2(mem_after.rss_mib)},
                   {"growth", round2(rss_growth)},
                   {"slack", kRssSlackMiB},
                   {"hwm", round2(mem_after.hwm_mib)}}},
      {"mbufs", {{"start", pool_start}, {"end", pool_end}}},
      {"counters", counters_json(c)},
      {"note", "net_ring ports (pointer handoff): Mpps is the packet path plus frame building, not a NIC figure; "
               "mpps_worker counts only the time inside poll_once"}};
  print_figures("syn_flood", std::move(figures));
}

int main(int argc, char** argv) {
  return run_with_eal(argc, argv, "ovl-synflood", 256, {}, [] {
    g_pool = rte_pktmbuf_pool_create("synflood_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_pool == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create");
    g_vendor = make_ring_port("vendor", g_pool, 2048, 2048);
    g_core = make_ring_port("core", g_pool, 2048, 2048);
  });
}

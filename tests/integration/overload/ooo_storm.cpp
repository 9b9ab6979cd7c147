// Out-of-order storm: TCP flows whose segments fill both reassembly buffers of their flow
// slot ([flows] reassembly_buffer = 8,192 bytes per flow direction) with out-of-order data
// whose holes are never filled, then overflow one of them. Per flow, from the vendor side:
// a SYN, then 8,191 bytes starting one byte past the next expected one (a 1-byte hole);
// from the core side: 16 bytes in order (mid-stream pickup), then 8,128 bytes after a
// 64-byte hole; then one more vendor segment just past the buffer (the overflow) and a
// core segment that would fill the core side's hole with a signature. No flow is ever
// answered with a SYN-ACK, so all stay embryonic and a new one evicts the oldest.
// 1,024 flows fill every slot's two buffers (the warm-up: memory baseline), then 8,192
// more flow through the same table. Claims, for [failure] reassembly_overflow = "pass"
// and "drop":
//   - memory is bounded: VmRSS after the storm exceeds the value after the warm-up by at
//     most kRssSlackMiB (the buffers are preallocated per slot: capacity x 2 x 8 KiB =
//     16 MiB, all resident after the warm-up; per-flow allocation would add 128 MiB);
//   - every flow's overflow is counted once (inspect.reassembly_overflows = flows) and
//     raises one gid 4 sid 2 anomaly alert, action alert ("pass") or drop ("drop");
//   - the action: "pass" forwards the overflowing segment and stops inspecting the flow
//     (the later segment with the signature is forwarded without an alert); "drop" drops
//     it (reason reassembly_overflow) and blocks the flow (the later segment: flow_blocked);
//   - a control flow shows the signature alerts when the stream is inspected;
//   - frames in = forwarded + drops by reason, every reason checked; the mbuf pool ends
//     as full as it started.
// The worker is polled from the test's thread (deterministic). Prints the figures.
#include <chrono>

#include "tests/integration/overload/overload_common.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::overload;
using dataplane::AlertRecord;
using dataplane::Anomaly;
using dataplane::Worker;

constexpr uint32_t kCapacity = 1024;
constexpr uint32_t kBuffer = 8192;       // [flows] reassembly_buffer
constexpr uint32_t kSegment = 1024;      // largest payload of the storm's segments
constexpr uint32_t kCoreHole = 64;       // bytes missing before the core side's buffered data
constexpr uint32_t kWarmupFlows = kCapacity;
constexpr uint32_t kStormFlows = 8 * kCapacity;
constexpr uint32_t kGroup = 64;          // flows sent step by step together
constexpr double kRssSlackMiB = 8.0;

rte_mempool* g_pool = nullptr;
RingPort g_vendor, g_core;
uint32_t g_next_id = 0;

constexpr uint32_t kServer = ip4(192, 168, 1, 5);
constexpr uint32_t kVendorIsn = 1000;
constexpr uint32_t kCoreSeq = 5000;

std::string config_text(const char* action) {
  return "[flows]\ncapacity = 1024\nreassembly_buffer = 8192\ntimeout_embryonic = 3600\ntimeout_established = 3600\n\n"
         "[failure]\nreassembly_overflow = \"" + std::string(action) + "\"\n";
}

const char* const kRules = R"([[rule]]
sid = 1
msg = "signature in the stream"
action = "alert"
proto = "tcp"
match = [{ content = "SIGNATURE1" }]
)";

Packet segment(uint32_t flow, bool from_vendor, uint8_t flags, uint32_t seq) {
  Packet k;
  k.from_vendor = from_vendor;
  const uint32_t vendor = ip4(10, 1, 0, 0) + flow;
  const auto port = static_cast<uint16_t>(1024 + flow % 60000);
  k.src = from_vendor ? vendor : kServer;
  k.dst = from_vendor ? kServer : vendor;
  k.sport = from_vendor ? port : 80;
  k.dport = from_vendor ? 80 : port;
  k.flags = flags;
  k.seq = seq;
  k.ack = from_vendor ? kCoreSeq : kVendorIsn + 1;
  return k;
}

// [from, to) of a stream in segments of at most kSegment bytes: (offset, length) pairs.
std::vector<std::pair<uint32_t, uint32_t>> pieces(uint32_t from, uint32_t to) {
  std::vector<std::pair<uint32_t, uint32_t>> v;
  for (uint32_t off = from; off < to; off += kSegment) v.emplace_back(off, std::min(kSegment, to - off));
  return v;
}

void run_storm(const char* action) {
  const bool drop = std::string(action) == "drop";
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  const Memory mem_start = read_memory();
  auto s = make_sentinel(config_text(action), kRules, "", "", g_vendor.id, g_core.id, g_next_id++);
  Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();

  uint64_t frames_in = 0;
  uint64_t out = 0;
  uint64_t anomaly_overflow = 0;
  uint64_t anomaly_overflow_wrong_action = 0;
  uint64_t anomaly_other = 0;
  uint64_t signature_alerts = 0;
  std::vector<AlertRecord> buf(256);
  const auto collect_alerts = [&] {
    for (uint32_t n; (n = w.alerts().pop(buf.data(), 256)) != 0;) {
      for (uint32_t i = 0; i < n; ++i) {
        const AlertRecord& a = buf[i];
        if (a.gid == rules::kGidAnomalies && a.sid == static_cast<uint32_t>(Anomaly::kReassemblyOverflow)) {
          ++anomaly_overflow;
          anomaly_overflow_wrong_action += a.action != (drop ? rules::Action::kDrop : rules::Action::kAlert);
        } else if (a.gid == rules::kGidAnomalies) {
          ++anomaly_other;
        } else if (a.gid == 1 && a.sid == 1) {
          ++signature_alerts;
        }
      }
    }
  };
  const auto flush = [&] {
    (void)poll_until_empty(w, g_vendor, g_core);
    out += free_all(g_core.tx) + free_all(g_vendor.tx);
    collect_alerts();
  };
  const std::string bulk(kSegment, 'a');  // no signature in it
  const std::string pickup(16, 'p');      // the core side's first bytes, in order
  const auto push = [&](const Packet& k, std::string_view payload) {
    enqueue(k.from_vendor ? g_vendor.rx : g_core.rx, make_frame(g_pool, k, payload));
    ++frames_in;
  };

  // Control: the signature in order in an inspected stream raises its alert.
  const uint32_t control = 0xffff;
  push(segment(control, true, tcp::kSyn, kVendorIsn), {});
  flush();
  push(segment(control, true, tcp::kPshAck, kVendorIsn + 1), "GET /SIGNATURE1 HTTP/1.0");
  flush();
  EXPECT_EQ(signature_alerts, 1u) << "the control flow's signature is seen";

  // The storm, kGroup flows at a time, step by step.
  const auto vendor_pieces = pieces(1, kBuffer);            // ends exactly at the buffer's end
  const auto core_pieces = pieces(kCoreHole, kBuffer);
  const std::string follow_up = std::string("SIGNATURE1") + std::string(kCoreHole - 10, 'b');
  uint32_t next_flow = 0;
  const auto group = [&] {
    const uint32_t first = next_flow;
    next_flow += kGroup;
    for (uint32_t f = first; f < next_flow; ++f) push(segment(f, true, tcp::kSyn, kVendorIsn), {});
    flush();
    for (const auto& [off, len] : vendor_pieces) {
      for (uint32_t f = first; f < next_flow; ++f) {
        push(segment(f, true, tcp::kPshAck, kVendorIsn + 1 + off), std::string_view(bulk).substr(0, len));
      }
      flush();
    }
    for (uint32_t f = first; f < next_flow; ++f) push(segment(f, false, tcp::kPshAck, kCoreSeq), pickup);
    flush();
    for (const auto& [off, len] : core_pieces) {
      for (uint32_t f = first; f < next_flow; ++f) {
        push(segment(f, false, tcp::kPshAck, kCoreSeq + 16 + off), std::string_view(bulk).substr(0, len));
      }
      flush();
    }
    // The overflow: the vendor side's next bytes lie past its full buffer.
    for (uint32_t f = first; f < next_flow; ++f) {
      push(segment(f, true, tcp::kPshAck, kVendorIsn + 1 + kBuffer), std::string_view(bulk).substr(0, 64));
    }
    flush();
    // The core side's hole filled, with a signature: scanned only if the flow still were.
    for (uint32_t f = first; f < next_flow; ++f) push(segment(f, false, tcp::kPshAck, kCoreSeq + 16), follow_up);
    flush();
  };

  touch_pool(g_pool);
  while (next_flow < kWarmupFlows) group();
  const Memory mem_warm = read_memory();
  const uint64_t overflows_warm = c.inspect.reassembly_overflows.get();
  const auto t0 = std::chrono::steady_clock::now();
  while (next_flow < kWarmupFlows + kStormFlows) group();
  const double storm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Memory mem_after = read_memory();

  const uint64_t flows = next_flow;
  EXPECT_EQ(overflows_warm, kWarmupFlows);
  EXPECT_EQ(c.inspect.reassembly_overflows.get(), flows) << "one overflow per flow";
  EXPECT_EQ(anomaly_overflow, flows) << "one gid 4 sid 2 alert per overflow";
  EXPECT_EQ(anomaly_overflow_wrong_action, 0u) << "the alert's action follows [failure] reassembly_overflow";
  EXPECT_EQ(anomaly_other, 0u) << "no overlap conflicts: the storm never contradicts itself";
  EXPECT_EQ(alerts_of(c, dataplane::AlertSource::kAnomaly, drop ? rules::Action::kDrop : rules::Action::kAlert), flows);
  EXPECT_EQ(signature_alerts, 1u) << "only the control flow: overflowed flows are no longer inspected";
  EXPECT_EQ(c.inspect.alerts_dropped.get(), 0u);
  EXPECT_EQ(c.flows.table_full.get(), 0u);
  EXPECT_EQ(c.flows.evicted_embryonic_pressure.get(), flows + 1 - kCapacity);
  EXPECT_EQ(table_size(c), kCapacity);

  if (drop) {
    expect_accounting(c, frames_in, {{DropReason::kReassemblyOverflow, flows}, {DropReason::kFlowBlocked, flows}});
  } else {
    expect_accounting(c, frames_in, {});
  }
  EXPECT_EQ(accounting(c).forwarded, out);
  const double rss_growth = mem_after.rss_mib - mem_warm.rss_mib;
  EXPECT_LE(rss_growth, kRssSlackMiB) << "VmRSS after warm-up " << mem_warm.rss_mib << " MiB, after the storm "
                                      << mem_after.rss_mib << " MiB";
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(pool_end, pool_start);

  const uint64_t storm_frames = frames_in;  // all of them, warm-up included
  print_figures(std::string("ooo_storm_") + action,
                {{"setting", action},
                 {"table_capacity", kCapacity},
                 {"reassembly_buffer", kBuffer},
                 {"buffer_bound_mib", round2(double{kCapacity} * 2 * kBuffer / (1024.0 * 1024.0))},
                 {"flows", flows},
                 {"frames", storm_frames},
                 {"storm_seconds", round2(storm_s)},
                 {"reassembly_overflows", c.inspect.reassembly_overflows.get()},
                 {"anomaly_alerts", anomaly_overflow},
                 {"rss_mib", {{"start", round2(mem_start.rss_mib)},
                              {"after_warmup", round2(mem_warm.rss_mib)},
                              {"after_storm", round2(mem_after.rss_mib)},
                              {"growth", round2(rss_growth)},
                              {"slack", kRssSlackMiB},
                              {"hwm", round2(mem_after.hwm_mib)}}},
                 {"mbufs", {{"start", pool_start}, {"end", pool_end}}},
                 {"counters", counters_json(c)}});
}

}  // namespace

TEST(OooStorm, OverflowPass) { run_storm("pass"); }
TEST(OooStorm, OverflowDrop) { run_storm("drop"); }

int main(int argc, char** argv) {
  return run_with_eal(argc, argv, "ovl-ooo", 256, {}, [] {
    g_pool = rte_pktmbuf_pool_create("ooo_pool", 4095, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_pool == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create");
    g_vendor = make_ring_port("vendor", g_pool, 1024, 1024);
    g_core = make_ring_port("core", g_pool, 1024, 1024);
  });
}

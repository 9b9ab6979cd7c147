// Per-worker counters. Each worker owns one WorkerCounters (cache-line aligned, nothing
// shared with another worker); the control plane sums them when it reports. A Counter has
// exactly one writer, so an increment is a relaxed load and store — a plain add in the
// generated code, no locked instruction — and readers on other threads see whole values.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "dataplane/drop_reason.hpp"

namespace sentinel::dataplane {

enum class Direction : uint8_t { kToCore = 0, kToVendor = 1 };
inline constexpr size_t kDirectionCount = 2;
inline constexpr std::array<const char*, kDirectionCount> kDirectionNames = {"to_core",
                                                                             "to_vendor"};

class Counter {
 public:
  // [owner thread only]
  void add(uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  // [any]
  [[nodiscard]] uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A level one thread raises and lowers while others read it.
class Gauge {
 public:
  // [owner thread only]
  void add(int64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  // [any]
  [[nodiscard]] int64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

struct DirectionCounters {
  Counter rx_packets;
  Counter forwarded;
  Counter dropped;
};

// Upper bounds (microseconds) of the burst-latency histogram's buckets; one more bucket
// counts everything above the last.
inline constexpr std::array<double, 10> kLatencyBoundsUs = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
inline constexpr size_t kLatencyBuckets = kLatencyBoundsUs.size() + 1;

// Alerts by where they come from and by the action of what raised them (pass never alerts).
enum class AlertSource : uint8_t { kSignature = 0, kAnomaly = 1, kPolicy = 2, kFilter = 3 };
inline constexpr size_t kAlertSourceCount = 4;
inline constexpr std::array<const char*, kAlertSourceCount> kAlertSourceNames = {"signature", "anomaly", "policy",
                                                                                  "filter"};
inline constexpr size_t kAlertActionCount = 3;  // rules::Action kAlert, kDrop, kReject
inline constexpr std::array<const char*, kAlertActionCount> kAlertActionNames = {"alert", "drop", "reject"};

// Flow-table events (one writer: the worker that owns the table).
struct FlowTableCounters {
  Counter created;                     // flows inserted
  Counter expired;                     // removed on timeout by a lookup or by expire()
  Counter evicted_timeout;             // table full: an expired flow made room
  Counter evicted_embryonic_pressure;  // table full: the oldest embryonic flow made room
  Counter table_full;                  // table full and nothing evictable: flow refused
  Counter removed;                     // removed by remove()
};

struct InspectCounters {
  std::array<std::array<Counter, kAlertActionCount>, kAlertSourceCount> alerts;  // generated
  Counter alerts_dropped;        // generated but not queued (ring full, too many per packet)
  Counter stream_bytes;          // TCP stream bytes handed to Hyperscan
  Counter depth_reached;         // flow directions that reached [flows] inspect_depth
  Counter reassembly_overflows;  // flow directions whose out-of-order buffer overflowed
  Counter segments_uninspected;  // TCP segments cut by the capture: never fed to a stream
  Counter scan_errors;           // Hyperscan calls that failed (the flow stops being scanned)
  Counter reject_sent;           // RST / ICMP frames sent for reject verdicts
  Counter reject_failed;         // ... that could not be built (no mbuf) or sent (tx full)
};

// Communication policy decisions (one writer: the worker).
struct PolicyCounters {
  Counter allowed;     // flows an [[allow]] permits (exempt ND/MLD and ICMP errors are not flows)
  Counter violations;  // flows none permits, and non-IP (source MAC, ethertype) pairs alerted
  Counter learn_entries;     // learn: distinct observations recorded
  Counter learn_table_full;  // learn: new observations refused, the table was full
};

// [[filter]] matches (one writer: the worker).
inline constexpr size_t kFilterActionCount = 3;  // alert, drop, pass
inline constexpr std::array<const char*, kFilterActionCount> kFilterActionNames = {"alert", "drop", "pass"};
struct FilterCounters {
  std::array<Counter, kFilterActionCount> matches;  // filter matches, by the filter's action
  Counter interpreted_packets;  // frames at least one filter ran on without the JIT
  Counter alerts_suppressed;    // filter alerts over [rules] filter_alerts_per_second
};

// Moving flows onto a reloaded RuleSet (one writer: the worker).
struct ReloadCounters {
  Counter flows_migrated;  // flows re-judged and rescanned under a newer RuleSet on their next packet
  Counter flows_swept;     // idle flows whose streams the sweep closed so an old RuleSet could go
};

// IP reassembly (one writer: the worker). A held fragment is neither forwarded nor dropped
// yet: rx = forwarded + dropped + held, per worker, at any time.
struct FragmentCounters {
  Counter datagrams;  // datagrams reassembled and inspected whole
  Counter fragments;  // the fragments they were made of
  Gauge held;         // fragments waiting for the rest of their datagram
};

struct alignas(64) WorkerCounters {
  std::array<DirectionCounters, kDirectionCount> dir;
  std::array<Counter, kDropReasonCount> drops;             // frames dropped, by reason
  std::array<Counter, kDropReasonCount> malformed_passed;  // malformed, forwarded (fail open)
  Counter busy_cycles;  // TSC cycles of polls that found frames
  Counter idle_cycles;  // TSC cycles of empty polls
  // Sampled bursts, rx to tx: per-bucket counts (not cumulative), their sum and count.
  std::array<Counter, kLatencyBuckets> latency_buckets;
  Counter latency_cycles;
  Counter latency_samples;
  FlowTableCounters flows;
  Counter flow_capacity;  // the worker's flow-table size, added once at start
  InspectCounters inspect;
  PolicyCounters policy;
  FilterCounters filter;
  ReloadCounters reload;
  FragmentCounters fragments;
};

struct FlowTotals {
  uint64_t created = 0;
  uint64_t expired = 0;
  uint64_t evicted_timeout = 0;
  uint64_t evicted_embryonic_pressure = 0;
  uint64_t table_full = 0;
  uint64_t removed = 0;
  uint64_t capacity = 0;

  [[nodiscard]] uint64_t active() const noexcept {
    return created - expired - evicted_timeout - evicted_embryonic_pressure - removed;
  }
};

struct InspectTotals {
  std::array<std::array<uint64_t, kAlertActionCount>, kAlertSourceCount> alerts{};
  uint64_t alerts_dropped = 0;
  uint64_t stream_bytes = 0;
  uint64_t depth_reached = 0;
  uint64_t reassembly_overflows = 0;
  uint64_t segments_uninspected = 0;
  uint64_t scan_errors = 0;
  uint64_t reject_sent = 0;
  uint64_t reject_failed = 0;

  [[nodiscard]] uint64_t alerts_total() const noexcept {
    uint64_t n = 0;
    for (const auto& by_action : alerts) {
      for (uint64_t v : by_action) n += v;
    }
    return n;
  }
};

struct PolicyTotals {
  uint64_t allowed = 0;
  uint64_t violations = 0;
  uint64_t learn_entries = 0;
  uint64_t learn_table_full = 0;
};

struct ReloadTotals {
  uint64_t flows_migrated = 0;
  uint64_t flows_swept = 0;
};

struct FilterTotals {
  std::array<uint64_t, kFilterActionCount> matches{};
  uint64_t interpreted_packets = 0;
  uint64_t alerts_suppressed = 0;
};

// A sum over workers, taken by the control plane.
struct FragmentTotals {
  uint64_t datagrams = 0;
  uint64_t fragments = 0;
  int64_t held = 0;
};

struct Totals {
  std::array<uint64_t, kDirectionCount> rx_packets{};
  std::array<uint64_t, kDirectionCount> forwarded{};
  std::array<uint64_t, kDirectionCount> dropped{};
  std::array<uint64_t, kDropReasonCount> drops{};
  std::array<uint64_t, kDropReasonCount> malformed_passed{};
  uint64_t busy_cycles = 0;
  uint64_t idle_cycles = 0;
  std::array<uint64_t, kLatencyBuckets> latency_buckets{};
  uint64_t latency_cycles = 0;
  uint64_t latency_samples = 0;
  FlowTotals flows;
  InspectTotals inspect;
  PolicyTotals policy;
  FilterTotals filter;
  ReloadTotals reload;
  FragmentTotals fragments;

  [[nodiscard]] uint64_t rx_total() const noexcept { return rx_packets[0] + rx_packets[1]; }
  [[nodiscard]] uint64_t forwarded_total() const noexcept { return forwarded[0] + forwarded[1]; }
  [[nodiscard]] uint64_t dropped_total() const noexcept { return dropped[0] + dropped[1]; }
};

// [any] Reads every worker's counters once.
[[nodiscard]] inline Totals sum_counters(std::span<const WorkerCounters* const> workers) noexcept {
  Totals t;
  for (const WorkerCounters* w : workers) {
    for (size_t d = 0; d < kDirectionCount; ++d) {
      t.rx_packets[d] += w->dir[d].rx_packets.get();
      t.forwarded[d] += w->dir[d].forwarded.get();
      t.dropped[d] += w->dir[d].dropped.get();
    }
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      t.drops[r] += w->drops[r].get();
      t.malformed_passed[r] += w->malformed_passed[r].get();
    }
    t.busy_cycles += w->busy_cycles.get();
    t.idle_cycles += w->idle_cycles.get();
    for (size_t b = 0; b < kLatencyBuckets; ++b) t.latency_buckets[b] += w->latency_buckets[b].get();
    t.latency_cycles += w->latency_cycles.get();
    t.latency_samples += w->latency_samples.get();
    const FlowTableCounters& f = w->flows;
    t.flows.created += f.created.get();
    t.flows.expired += f.expired.get();
    t.flows.evicted_timeout += f.evicted_timeout.get();
    t.flows.evicted_embryonic_pressure += f.evicted_embryonic_pressure.get();
    t.flows.table_full += f.table_full.get();
    t.flows.removed += f.removed.get();
    t.flows.capacity += w->flow_capacity.get();
    const InspectCounters& c = w->inspect;
    for (size_t s = 0; s < kAlertSourceCount; ++s) {
      for (size_t a = 0; a < kAlertActionCount; ++a) t.inspect.alerts[s][a] += c.alerts[s][a].get();
    }
    t.inspect.alerts_dropped += c.alerts_dropped.get();
    t.inspect.stream_bytes += c.stream_bytes.get();
    t.inspect.depth_reached += c.depth_reached.get();
    t.inspect.reassembly_overflows += c.reassembly_overflows.get();
    t.inspect.segments_uninspected += c.segments_uninspected.get();
    t.inspect.scan_errors += c.scan_errors.get();
    t.inspect.reject_sent += c.reject_sent.get();
    t.inspect.reject_failed += c.reject_failed.get();
    t.policy.allowed += w->policy.allowed.get();
    t.policy.violations += w->policy.violations.get();
    t.policy.learn_entries += w->policy.learn_entries.get();
    t.policy.learn_table_full += w->policy.learn_table_full.get();
    for (size_t a = 0; a < kFilterActionCount; ++a) t.filter.matches[a] += w->filter.matches[a].get();
    t.filter.interpreted_packets += w->filter.interpreted_packets.get();
    t.filter.alerts_suppressed += w->filter.alerts_suppressed.get();
    t.reload.flows_migrated += w->reload.flows_migrated.get();
    t.reload.flows_swept += w->reload.flows_swept.get();
    t.fragments.datagrams += w->fragments.datagrams.get();
    t.fragments.fragments += w->fragments.fragments.get();
    t.fragments.held += w->fragments.held.get();
  }
  return t;
}

}  // namespace sentinel::dataplane

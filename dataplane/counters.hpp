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

struct DirectionCounters {
  Counter rx_packets;
  Counter forwarded;
  Counter dropped;
};

// Upper bounds (microseconds) of the burst-latency histogram's buckets; one more bucket
// counts everything above the last.
inline constexpr std::array<double, 10> kLatencyBoundsUs = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
inline constexpr size_t kLatencyBuckets = kLatencyBoundsUs.size() + 1;

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
};

// A sum over workers, taken by the control plane.
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
  }
  return t;
}

}  // namespace sentinel::dataplane

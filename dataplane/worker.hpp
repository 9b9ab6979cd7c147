// Worker: one lcore's run-to-completion loop. Rx queue q of the vendor port goes to tx
// queue q of the core port (to_core) and rx queue q of the core port back to tx queue q of
// the vendor port (to_vendor). Each burst is parsed, judged and sent; a frame is either
// forwarded or dropped with a counted reason, never lost without a count.
//
// The per-packet path allocates nothing, takes no lock, makes no syscall, logs nothing and
// throws nothing. Live mode runs run() on a worker lcore; replay calls poll_once() from the
// main thread — the same code either way.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "config/config.hpp"
#include "config/limits.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/packet.hpp"

namespace sentinel::dataplane {

inline constexpr uint16_t kMaxBurst = config::kMaxBurst;
// Bytes of a chained (multi-segment) mbuf copied out so headers can be parsed contiguously.
inline constexpr uint32_t kHeaderScratch = 512;
// One burst in this many (a power of two) is timed from rx to tx for the latency histogram.
inline constexpr uint32_t kLatencySampleEvery = 64;
static_assert((kLatencySampleEvery & (kLatencySampleEvery - 1)) == 0, "a power of two");

inline constexpr size_t kLatencyBounds = kLatencyBoundsUs.size();

struct WorkerSetup {
  uint16_t vendor_port = 0;
  uint16_t core_port = 0;
  uint16_t queue = 0;
  uint16_t burst = 32;
  bool drop_malformed_to_core = true;     // [failure] malformed_vendor = "drop"
  bool drop_malformed_to_vendor = false;  // [failure] malformed_core = "drop"
  // Offset of a uint32_t mbuf dynfield holding the frame's length on the wire, or -1. Set
  // by replay, whose captures may be cut by a snaplen; live frames are whole.
  int wire_len_field = -1;
};

// [control] The setup of the worker polling `queue` of both ports, with the [failure]
// policy for malformed frames of each side.
[[nodiscard]] WorkerSetup worker_setup(const config::Config& config, uint16_t vendor_port,
                                       uint16_t core_port, uint16_t queue) noexcept;

class alignas(64) Worker {
 public:
  explicit Worker(const WorkerSetup& setup) noexcept;

  // [worker] Polls both rx queues once. Returns the number of frames received.
  uint32_t poll_once() noexcept;
  // [worker] Polls until `stop` becomes true.
  void run(const std::atomic<bool>& stop) noexcept;

  // [any] This worker's counters; read them with Counter::get().
  [[nodiscard]] const WorkerCounters& counters() const noexcept { return counters_; }

 private:
  template <Direction kDir, bool kWireLenField>
  uint32_t forward(uint16_t rx_port, uint16_t tx_port) noexcept;
  template <bool kWireLenField>
  uint32_t poll_both() noexcept;
  [[nodiscard]] uint32_t wire_len_of(const rte_mbuf* m) const noexcept;

  void record_latency(uint64_t cycles) noexcept;

  WorkerCounters counters_;
  WorkerSetup setup_;
  std::array<uint64_t, kLatencyBounds> latency_bounds_cycles_{};  // kLatencyBoundsUs in TSC cycles
  uint32_t bursts_ = 0;
  PacketInfo info_[kMaxBurst];
  rte_mbuf* rx_[kMaxBurst];
  rte_mbuf* tx_[kMaxBurst];
  uint16_t slow_[kMaxBurst];  // burst indexes the common-case parse did not take
  alignas(64) uint8_t header_scratch_[kHeaderScratch];
};

}  // namespace sentinel::dataplane

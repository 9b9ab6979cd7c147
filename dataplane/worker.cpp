// The worker loop and its burst stages (see worker.hpp).
#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "dataplane/parser.hpp"

namespace sentinel::dataplane {

WorkerSetup worker_setup(const config::Config& config, uint16_t vendor_port, uint16_t core_port,
                         uint16_t queue) noexcept {
  WorkerSetup setup;
  setup.vendor_port = vendor_port;
  setup.core_port = core_port;
  setup.queue = queue;
  setup.burst = static_cast<uint16_t>(config.dataplane.burst_size);
  setup.drop_malformed_to_core = config.failure.malformed_vendor == config::FailAction::kDrop;
  setup.drop_malformed_to_vendor = config.failure.malformed_core == config::FailAction::kDrop;
  return setup;
}

Worker::Worker(const WorkerSetup& setup) noexcept : setup_(setup) {
  const double cycles_per_us = static_cast<double>(rte_get_tsc_hz()) / 1e6;
  for (size_t b = 0; b < kLatencyBounds; ++b) {
    latency_bounds_cycles_[b] = static_cast<uint64_t>(kLatencyBoundsUs[b] * cycles_per_us);
  }
}

void Worker::record_latency(uint64_t cycles) noexcept {
  size_t b = 0;
  while (b < kLatencyBounds && cycles > latency_bounds_cycles_[b]) ++b;
  counters_.latency_buckets[b].add(1);
  counters_.latency_cycles.add(cycles);
  counters_.latency_samples.add(1);
}

uint32_t Worker::wire_len_of(const rte_mbuf* m) const noexcept {
  return *RTE_MBUF_DYNFIELD(m, setup_.wire_len_field, const uint32_t*);
}

template <Direction kDir, bool kWireLenField>
uint32_t Worker::forward(uint16_t rx_port, uint16_t tx_port) noexcept {
  const uint16_t n = rte_eth_rx_burst(rx_port, setup_.queue, rx_, setup_.burst);
  if (n == 0) return 0;
  const bool timed = (++bursts_ & (kLatencySampleEvery - 1)) == 0;
  const uint64_t rx_tsc = timed ? rte_rdtsc() : 0;

  // Stage 1, every frame: the common-case parse, small enough to keep in registers.
  // Frames it does not take are listed for stage 2.
  constexpr uint16_t kPrefetchAhead = 4;  // on a NIC the first touch of a frame misses
  for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx_[i], void*));
  uint16_t n_slow = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(rx_[i + kPrefetchAhead], void*));
    const rte_mbuf* m = rx_[i];
    const uint32_t wire_len = kWireLenField ? wire_len_of(m) : m->pkt_len;
    const bool common = m->nb_segs == 1 &&
        parser_detail::parse_common(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, wire_len, info_[i]);
    slow_[n_slow] = i;
    n_slow += !common;
  }

  // Stage 2, the rest: the full parser, and the side's failure policy for malformed frames.
  uint16_t n_dropped = 0;
  for (uint16_t k = 0; k < n_slow; ++k) {
    const uint16_t i = slow_[k];
    rte_mbuf* m = rx_[i];
    const uint32_t wire_len = kWireLenField ? wire_len_of(m) : m->pkt_len;
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t captured = m->data_len;
    if (m->nb_segs > 1) {
      captured = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, captured, header_scratch_));
    }
    const DropReason why = parser_detail::parse_frame_full(data, captured, wire_len, info_[i]);
    if (why == DropReason::kNone) continue;
    const bool drop = kDir == Direction::kToCore ? setup_.drop_malformed_to_core
                                                 : setup_.drop_malformed_to_vendor;
    if (drop) {
      counters_.drops[static_cast<size_t>(why)].add(1);
      rte_pktmbuf_free(m);
      rx_[i] = nullptr;
      ++n_dropped;
    } else {
      counters_.malformed_passed[static_cast<size_t>(why)].add(1);
    }
  }

  // Stage 3: send. The burst goes out as received unless frames were dropped from it.
  rte_mbuf** out = rx_;
  uint16_t n_out = n;
  if (n_dropped != 0) [[unlikely]] {
    n_out = 0;
    for (uint16_t i = 0; i < n; ++i) {
      if (rx_[i] != nullptr) tx_[n_out++] = rx_[i];
    }
    out = tx_;
  }
  const uint16_t sent = n_out ? rte_eth_tx_burst(tx_port, setup_.queue, out, n_out) : 0;
  if (sent < n_out) [[unlikely]] {
    counters_.drops[static_cast<size_t>(DropReason::kTxFull)].add(n_out - sent);
    rte_pktmbuf_free_bulk(out + sent, n_out - sent);
  }
  if (timed) record_latency(rte_rdtsc() - rx_tsc);
  DirectionCounters& c = counters_.dir[static_cast<size_t>(kDir)];
  c.rx_packets.add(n);
  c.forwarded.add(sent);
  c.dropped.add(static_cast<uint64_t>(n_dropped) + (n_out - sent));
  return n;
}

template <bool kWireLenField>
uint32_t Worker::poll_both() noexcept {
  return forward<Direction::kToCore, kWireLenField>(setup_.vendor_port, setup_.core_port) +
         forward<Direction::kToVendor, kWireLenField>(setup_.core_port, setup_.vendor_port);
}

uint32_t Worker::poll_once() noexcept {
  return setup_.wire_len_field >= 0 ? poll_both<true>() : poll_both<false>();
}

void Worker::run(const std::atomic<bool>& stop) noexcept {
  uint64_t last = rte_rdtsc();
  while (!stop.load(std::memory_order_relaxed)) {
    const uint32_t n = poll_once();
    const uint64_t now = rte_rdtsc();
    (n ? counters_.busy_cycles : counters_.idle_cycles).add(now - last);
    last = now;
  }
}

}  // namespace sentinel::dataplane

// The worker loop and its burst stages (see worker.hpp).
#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>

#include "dataplane/parser.hpp"

namespace sentinel::dataplane {

Worker::Worker(const WorkerSetup& setup) noexcept : setup_(setup) {}

template <Direction kDir, bool kWireLenField>
uint32_t Worker::forward(uint16_t rx_port, uint16_t tx_port) noexcept {
  const uint16_t n = rte_eth_rx_burst(rx_port, setup_.queue, rx_, setup_.burst);
  if (n == 0) return 0;
  constexpr size_t d = static_cast<size_t>(kDir);
  const bool drop_malformed =
      kDir == Direction::kToCore ? setup_.drop_malformed_to_core : setup_.drop_malformed_to_vendor;

  uint64_t bytes = 0;
  uint16_t n_tx = 0;
  uint16_t n_malformed_dropped = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx_[i];
    bytes += m->pkt_len;
    uint32_t wire_len = m->pkt_len;
    if constexpr (kWireLenField) {
      wire_len = *RTE_MBUF_DYNFIELD(m, setup_.wire_len_field, const uint32_t*);
    }
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t captured = m->data_len;
    if (m->nb_segs > 1) [[unlikely]] {
      captured = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, captured, header_scratch_));
    }
    const DropReason why = parse_frame(data, captured, wire_len, info_[i]);
    if (why != DropReason::kNone) [[unlikely]] {
      if (drop_malformed) {
        counters_.drops[static_cast<size_t>(why)].add(1);
        ++n_malformed_dropped;
        rte_pktmbuf_free(m);
        continue;
      }
      counters_.malformed_passed[static_cast<size_t>(why)].add(1);
    }
    tx_[n_tx++] = m;
  }

  const uint16_t sent = n_tx ? rte_eth_tx_burst(tx_port, setup_.queue, tx_, n_tx) : 0;
  if (sent < n_tx) [[unlikely]] {
    counters_.drops[static_cast<size_t>(DropReason::kTxFull)].add(n_tx - sent);
    rte_pktmbuf_free_bulk(tx_ + sent, n_tx - sent);
  }
  DirectionCounters& c = counters_.dir[d];
  c.rx_packets.add(n);
  c.rx_bytes.add(bytes);
  c.forwarded.add(sent);
  c.dropped.add(static_cast<uint64_t>(n_malformed_dropped) + (n_tx - sent));
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

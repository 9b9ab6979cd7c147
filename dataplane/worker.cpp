// The worker loop and its burst stages (see worker.hpp); provision.cpp builds its state.
#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include <cstring>
#include <span>

#include "dataplane/checksum.hpp"
#include "dataplane/parser.hpp"
#include "dataplane/reject.hpp"

namespace sentinel::dataplane {
namespace {


bool nets_accept(const rules::NetSet& nets, bool v6, const uint8_t* addr) noexcept {
  bool in = nets.include.empty();
  for (const config::Cidr& c : nets.include) {
    if (c.contains(v6, addr)) {
      in = true;
      break;
    }
  }
  if (!in) return false;
  for (const config::Cidr& c : nets.exclude) {
    if (c.contains(v6, addr)) return false;
  }
  return true;
}

bool ports_accept(std::span<const rules::PortRange> ranges, bool has_ports, uint16_t port) noexcept {
  if (ranges.empty()) return true;
  if (!has_ports) return false;
  for (const rules::PortRange& r : ranges) {
    if (port >= r.lo && port <= r.hi) return true;
  }
  return false;
}

// The constraints Hyperscan does not check: protocol, direction, addresses and ports.
bool rule_applies(const rules::CompiledRule& r, const PacketInfo& pkt, Direction dir) noexcept {
  switch (r.proto) {
    case rules::Proto::kIp: break;
    case rules::Proto::kTcp: if (pkt.ip_proto != ip_proto::kTcp) return false; break;
    case rules::Proto::kUdp: if (pkt.ip_proto != ip_proto::kUdp) return false; break;
    case rules::Proto::kIcmp:
      if (pkt.ip_proto != ip_proto::kIcmp && pkt.ip_proto != ip_proto::kIcmpv6) return false;
      break;
  }
  if (r.direction == rules::Direction::kToCore && dir != Direction::kToCore) return false;
  if (r.direction == rules::Direction::kToVendor && dir != Direction::kToVendor) return false;
  const bool v6 = pkt.l3 == L3::kIpv6;
  if (!nets_accept(r.src_nets, v6, pkt.src_ip.data()) || !nets_accept(r.dst_nets, v6, pkt.dst_ip.data())) {
    return false;
  }
  const bool has_ports = (pkt.flags & kFlagHasL4) != 0 && (pkt.ip_proto == ip_proto::kTcp || pkt.ip_proto == ip_proto::kUdp);
  return ports_accept(r.src_ports, has_ports, pkt.src_port) && ports_accept(r.dst_ports, has_ports, pkt.dst_port);
}

// pass > drop > reject > alert.
int precedence(rules::Action a) noexcept {
  switch (a) {
    case rules::Action::kPass: return 3;
    case rules::Action::kDrop: return 2;
    case rules::Action::kReject: return 1;
    case rules::Action::kAlert: return 0;
  }
  return 0;
}

uint32_t read32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

void Worker::on_flow_removed(void* self, uint32_t slot) noexcept {
  static_cast<Worker*>(self)->reset_flow(slot);
}

// Frees what the slot's last flow held (its Hyperscan streams go back to the pool).
void Worker::reset_flow(uint32_t slot) noexcept {
  FlowInspect& fi = inspect_[slot];
  for (rules::Stream& hs : fi.hs) hs = rules::Stream{};
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

uint64_t Worker::alert_time_ns(const rte_mbuf* m) const noexcept {
  if (setup_.timestamp_field >= 0) return *RTE_MBUF_DYNFIELD(m, setup_.timestamp_field, const uint64_t*);
  return wall_ns_at_tsc0_ + static_cast<uint64_t>(static_cast<double>(rte_rdtsc() - tsc0_) * ns_per_tsc_);
}

// The L4 payload as one contiguous run (copied out of a chained mbuf), cut to what the
// frame holds.
const uint8_t* Worker::payload_of(rte_mbuf* m, const uint8_t* headers, uint32_t& len) noexcept {
  const PacketInfo& pkt = *cur_pkt_;
  const uint32_t have = m->pkt_len > pkt.payload_offset ? m->pkt_len - pkt.payload_offset : 0;
  len = pkt.payload_len < have ? pkt.payload_len : have;
  if (len == 0) return nullptr;
  if (m->nb_segs == 1) return headers + pkt.payload_offset;
  if (len > sizeof payload_scratch_) len = sizeof payload_scratch_;
  return static_cast<const uint8_t*>(rte_pktmbuf_read(m, pkt.payload_offset, len, payload_scratch_));
}

void Worker::add_pending(uint32_t gid, uint32_t sid, uint32_t rev, rules::Action action) noexcept {
  if (action == rules::Action::kPass) {
    pass_matched_ = true;
    return;
  }
  if (n_pending_ == config::kMaxAlertsPerPacket) {
    // More than a packet can carry: the verdict still sees it; counted as a dropped alert
    // unless a pass suppresses the packet's alerts.
    const auto src = gid == rules::kGidAnomalies ? AlertSource::kAnomaly : AlertSource::kSignature;
    if (n_lost_ == 0) std::memset(lost_, 0, sizeof lost_);
    ++lost_[static_cast<size_t>(src)][static_cast<size_t>(action)];
    ++n_lost_;
    if (precedence(action) > precedence(lost_worst_)) lost_worst_ = action;
    return;
  }
  pending_[n_pending_++] = {gid, sid, rev, action};
}

void Worker::on_rule(const rules::CompiledRule& rule, Direction dir) noexcept {
  if (!rule_applies(rule, *cur_pkt_, dir)) return;
  add_pending(rule.gid, rule.sid, rule.rev, rule.action);
}

// Hands in-order stream bytes of one flow direction to its Hyperscan stream.
struct Worker::StreamSink {
  Worker* w;
  FlowInspect* fi;
  size_t d;       // the stream: which end of the flow sent these bytes
  Direction dir;  // the side they came from, for the rules' direction
  void deliver(const uint8_t* p, uint32_t n) noexcept {
    const rules::RuleSet* rs = w->setup_.rules;
    if (rs == nullptr || rs->stream_db() == nullptr || (fi->scan_failed & (1u << d)) != 0) return;
    rules::Stream& hs = fi->hs[d];
    if (!hs.is_open()) {
      const size_t slot = static_cast<size_t>(fi - w->inspect_.get());
      std::span<uint64_t> items(w->items_.get() + (slot * 2 + d) * w->item_words_, w->item_words_);
      if (!rules::open_stream(*rs, hs, items).ok()) {
        fi->scan_failed |= static_cast<uint8_t>(1u << d);
        w->counters_.inspect.scan_errors.add(1);
        return;
      }
    }
    Worker* self = w;
    const Direction dd = dir;
    const rules::HsStatus st = rules::scan_stream(*rs, hs, w->scratch_, p, n,
        [self, dd](const rules::CompiledRule& rule, uint64_t) noexcept { self->on_rule(rule, dd); });
    w->counters_.inspect.stream_bytes.add(n);
    if (!st.ok()) {
      fi->scan_failed |= static_cast<uint8_t>(1u << d);
      w->counters_.inspect.scan_errors.add(1);
    }
  }
};

void Worker::scan_tcp(FlowInspect& fi, size_t end, Direction dir, rte_mbuf* m, const uint8_t* headers) noexcept {
  const PacketInfo& pkt = *cur_pkt_;
  uint32_t len = 0;
  const uint8_t* payload = payload_of(m, headers, len);
  const uint32_t seq = read32(headers + pkt.l4_offset + 4);
  StreamSink sink{this, &fi, end, dir};
  StreamDirection& sd = fi.stream[end];
  const StreamEvent ev = sd.on_segment(seq, pkt.tcp_flags, payload, len, sink);
  if (ev == kStreamNone) return;
  if ((ev & kStreamOverlapConflict) != 0) {
    add_pending(rules::kGidAnomalies, static_cast<uint32_t>(Anomaly::kOverlapConflict), 1, rules::Action::kAlert);
  }
  if ((ev & kStreamDepthReached) != 0) counters_.inspect.depth_reached.add(1);
  if ((ev & kStreamOverflow) != 0) {
    counters_.inspect.reassembly_overflows.add(1);
    add_pending(rules::kGidAnomalies, static_cast<uint32_t>(Anomaly::kReassemblyOverflow), 1,
                setup_.drop_reassembly_overflow ? rules::Action::kDrop : rules::Action::kAlert);
    if (!setup_.drop_reassembly_overflow) fi.state = FlowInspect::State::kPassed;
  }
}

void Worker::scan_packet(rte_mbuf* m, const uint8_t* headers, Direction dir) noexcept {
  const rules::RuleSet* rs = setup_.rules;
  if (rs == nullptr || rs->block_db() == nullptr) return;
  uint32_t len = 0;
  const uint8_t* payload = payload_of(m, headers, len);
  if (len == 0) return;
  Worker* self = this;
  const rules::HsStatus st = rules::scan_block(*rs, scratch_, payload, len,
      [self, dir](const rules::CompiledRule& rule, uint64_t) noexcept { self->on_rule(rule, dir); });
  if (!st.ok()) counters_.inspect.scan_errors.add(1);
}

void Worker::emit_alerts(const FlowEntry& flow, const rte_mbuf* m, Direction dir, bool dropped) noexcept {
  const PacketInfo& pkt = *cur_pkt_;
  AlertRecord rec;
  rec.ts_ns = alert_time_ns(m);
  rec.flow_id = flow.flow_id;
  rec.pcap_cnt = setup_.frame_number_field >= 0 ? *RTE_MBUF_DYNFIELD(m, setup_.frame_number_field, const uint64_t*) : 0;
  rec.src_addr = pkt.src_ip;
  rec.dst_addr = pkt.dst_ip;
  const bool ports = (pkt.flags & kFlagHasL4) != 0 && (pkt.ip_proto == ip_proto::kTcp || pkt.ip_proto == ip_proto::kUdp);
  rec.src_port = ports ? pkt.src_port : 0;
  rec.dst_port = ports ? pkt.dst_port : 0;
  rec.icmp_type = pkt.icmp_type;
  rec.icmp_code = pkt.icmp_code;
  rec.ip_version = pkt.l3 == L3::kIpv6 ? 6 : 4;
  rec.ip_proto = pkt.ip_proto;
  rec.in_iface = dir == Direction::kToCore ? Side::kVendor : Side::kCore;
  rec.direction = dir;
  rec.verdict = dropped ? Verdict::kDropped : Verdict::kForwarded;
  if (n_lost_ != 0) {
    for (size_t src = 0; src < kAlertSourceCount; ++src) {
      for (size_t a = 0; a < kAlertActionCount; ++a) counters_.inspect.alerts[src][a].add(lost_[src][a]);
    }
    counters_.inspect.alerts_dropped.add(n_lost_);
  }
  for (uint32_t k = 0; k < n_pending_; ++k) {
    const Pending& p = pending_[k];
    rec.gid = p.gid;
    rec.sid = p.sid;
    rec.rev = p.rev;
    rec.action = p.action;
    const auto src = p.gid == rules::kGidAnomalies ? AlertSource::kAnomaly : AlertSource::kSignature;
    counters_.inspect.alerts[static_cast<size_t>(src)][static_cast<size_t>(p.action)].add(1);
    if (!alert_ring_->push(rec)) counters_.inspect.alerts_dropped.add(1);
  }
}

void Worker::reject(rte_mbuf* m, const uint8_t* headers, uint32_t headers_len, uint16_t rx_port,
                    uint16_t& n_rejects) noexcept {
  const RejectFrames r = build_reject(m, headers, headers_len, *cur_pkt_);
  const bool expected_two = cur_pkt_->ip_proto == ip_proto::kTcp;
  const uint32_t built = (r.to_sender != nullptr) + (r.to_receiver != nullptr);
  counters_.inspect.reject_failed.add((expected_two ? 2u : 1u) - built);
  for (rte_mbuf* f : {r.to_sender, r.to_receiver}) {
    if (f == nullptr) continue;
    // Replay orders its output by these: the frames take the dropped trigger's place.
    if (setup_.wire_len_field >= 0) *RTE_MBUF_DYNFIELD(f, setup_.wire_len_field, uint32_t*) = f->pkt_len;
    if (setup_.timestamp_field >= 0) {
      *RTE_MBUF_DYNFIELD(f, setup_.timestamp_field, uint64_t*) = *RTE_MBUF_DYNFIELD(m, setup_.timestamp_field, const uint64_t*);
    }
    if (setup_.frame_number_field >= 0) {
      *RTE_MBUF_DYNFIELD(f, setup_.frame_number_field, uint64_t*) =
          *RTE_MBUF_DYNFIELD(m, setup_.frame_number_field, const uint64_t*);
    }
  }
  if (r.to_sender != nullptr) {
    rte_mbuf* f = r.to_sender;
    if (rte_eth_tx_burst(rx_port, setup_.queue, &f, 1) == 1) {
      counters_.inspect.reject_sent.add(1);
    } else {
      rte_pktmbuf_free(f);
      counters_.inspect.reject_failed.add(1);
    }
  }
  if (r.to_receiver != nullptr) tx_[kMaxBurst + n_rejects++] = r.to_receiver;
}

template <Direction kDir>
DropReason Worker::inspect(uint16_t i, uint16_t rx_port, uint16_t& n_rejects) noexcept {
  const FlowLookup& fl = flows_[i];
  if (fl.entry == nullptr) return DropReason::kNone;  // not IP, malformed, or the table refused it
  const uint32_t slot = flow_table_->slot_of(fl.entry);
  FlowInspect& fi = inspect_[slot];
  if (fl.created) {
    reset_flow(slot);
    const uint32_t buf = setup_.flows.reassembly_buffer;
    for (size_t d = 0; d < fi.stream.size(); ++d) {
      fi.stream[d].init({ooo_.get() + (size_t{slot} * 2 + d) * buf, buf}, setup_.flows.inspect_depth);
    }
    fi.state = FlowInspect::State::kInspecting;
    fi.scan_failed = 0;
  }
  if (fi.state == FlowInspect::State::kBlocked) return DropReason::kFlowBlocked;
  if (fi.state == FlowInspect::State::kPassed) return DropReason::kNone;

  rte_mbuf* m = rx_[i];
  const PacketInfo& pkt = info_[i];
  cur_pkt_ = &pkt;
  n_pending_ = 0;
  n_lost_ = 0;
  lost_worst_ = rules::Action::kAlert;
  pass_matched_ = false;
  const uint8_t* headers = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t headers_len = m->data_len;
  if (m->nb_segs > 1) {
    headers_len = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
    headers = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, headers_len, header_scratch_));
  }

  const bool has_l4 = (pkt.flags & kFlagHasL4) != 0 && (pkt.flags & kFlagLaterFragment) == 0;
  if (pkt.ip_proto == ip_proto::kTcp) {
    if (!has_l4) return DropReason::kNone;  // a later fragment or a header cut by the capture
    const bool carries = pkt.payload_len != 0 || (pkt.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin | tcp_flag::kRst)) != 0;
    if (carries) {
      const ChecksumResult ck = setup_.flows.verify_checksums ? verify_tcp_checksums(m, headers, pkt)
                                                              : (pkt.flags & kFlagSnapTruncated) != 0
                                                                    ? ChecksumResult::kUnverifiable
                                                                    : ChecksumResult::kGood;
      if (ck == ChecksumResult::kBad) {
        if (setup_.drop_bad_checksum) return DropReason::kBadChecksum;
        counters_.malformed_passed[static_cast<size_t>(DropReason::kBadChecksum)].add(1);
        return DropReason::kNone;
      }
      if (ck == ChecksumResult::kUnverifiable) {
        counters_.inspect.segments_uninspected.add(1);
        return DropReason::kNone;
      }
      scan_tcp(fi, fl.from_lo ? 0 : 1, kDir, m, headers);
    }
  } else if ((pkt.flags & kFlagLaterFragment) == 0) {
    scan_packet(m, headers, kDir);
  }

  if (pass_matched_) {  // stops inspection of the flow; its alerts of this packet are not logged
    fi.state = FlowInspect::State::kPassed;
    return DropReason::kNone;
  }
  if (n_pending_ == 0) return DropReason::kNone;
  rules::Action worst = lost_worst_;
  for (uint32_t k = 0; k < n_pending_; ++k) {
    if (precedence(pending_[k].action) > precedence(worst)) worst = pending_[k].action;
  }
  const bool drop = worst == rules::Action::kDrop || worst == rules::Action::kReject;
  emit_alerts(*fl.entry, m, kDir, drop);
  if (!drop) return DropReason::kNone;
  fi.state = FlowInspect::State::kBlocked;
  if (worst == rules::Action::kReject) reject(m, headers, headers_len, rx_port, n_rejects);
  bool signature = false;
  for (uint32_t k = 0; k < n_pending_; ++k) signature |= pending_[k].gid != rules::kGidAnomalies;
  return signature ? DropReason::kSignature : DropReason::kReassemblyOverflow;
}

template <Direction kDir, bool kReplay>
uint32_t Worker::forward(uint16_t rx_port, uint16_t tx_port) noexcept {
  const uint16_t n = rte_eth_rx_burst(rx_port, setup_.queue, rx_, setup_.burst);
  if (n == 0) return 0;
  // Streams opened (for flows created below) or closed (evictions) use this worker's pool.
  StreamStatePool::bind_to_this_thread(stream_pool_.get());
  const bool timed = (++bursts_ & (kLatencySampleEvery - 1)) == 0;
  const uint64_t rx_tsc = rte_rdtsc();
  if constexpr (kReplay) {
    // Each frame's capture time, held where the capture's clock steps back: flows age by
    // the time of their own frames, even across a jump inside one burst.
    for (uint16_t i = 0; i < n; ++i) {
      const uint64_t ts = *RTE_MBUF_DYNFIELD(rx_[i], setup_.timestamp_field, const uint64_t*);
      if (ts > now_) now_ = ts;
      times_[i] = now_;
    }
  } else {
    now_ = rx_tsc;
  }

  // Stage 1, every frame: the common-case parse, small enough to keep in registers.
  // Frames it does not take are listed for stage 2.
  constexpr uint16_t kPrefetchAhead = 4;  // on a NIC the first touch of a frame misses
  for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx_[i], void*));
  uint16_t n_slow = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(rx_[i + kPrefetchAhead], void*));
    const rte_mbuf* m = rx_[i];
    const uint32_t wire_len = kReplay ? wire_len_of(m) : m->pkt_len;
    wire_[i] = wire_len;
    const bool common = m->nb_segs == 1 &&
        parser_detail::parse_common(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, wire_len, info_[i]);
    slow_[n_slow] = i;
    n_slow += !common;
  }

  // Stage 2, the rest: the full parser, and the side's failure policy for malformed frames.
  // Malformed frames are not inspected (no flow): their L3 is hidden from the flow lookup.
  uint16_t n_dropped = 0;
  for (uint16_t k = 0; k < n_slow; ++k) {
    const uint16_t i = slow_[k];
    rte_mbuf* m = rx_[i];
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t captured = m->data_len;
    if (m->nb_segs > 1) {
      captured = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, captured, header_scratch_));
    }
    const DropReason why = parser_detail::parse_frame_full(data, captured, wire_[i], info_[i]);
    if (why == DropReason::kNone) continue;
    info_[i].l3 = L3::kOther;
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

  // Stage 3: flow lookup for the whole burst.
  if constexpr (kReplay) {
    flow_table_->lookup_or_create_burst({info_, n}, kDir, {wire_, n}, std::span<const uint64_t>(times_, n), {flows_, n});
  } else {
    flow_table_->lookup_or_create_burst({info_, n}, kDir, {wire_, n}, now_, {flows_, n});
  }

  // Stage 4: inspection and verdict, frame by frame in arrival order (a flow's segments
  // must reach its stream in order).
  uint16_t n_rejects = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (rx_[i] == nullptr) continue;
    const DropReason why = inspect<kDir>(i, rx_port, n_rejects);
    if (why == DropReason::kNone) continue;
    counters_.drops[static_cast<size_t>(why)].add(1);
    rte_pktmbuf_free(rx_[i]);
    rx_[i] = nullptr;
    ++n_dropped;
  }

  // Stage 5: send. The burst goes out as received unless frames were dropped from it;
  // reject frames for the far side follow it.
  rte_mbuf** out = rx_;
  uint16_t n_out = n;
  if (n_dropped != 0 || n_rejects != 0) [[unlikely]] {
    n_out = 0;
    for (uint16_t i = 0; i < n; ++i) {
      if (rx_[i] != nullptr) tx_[n_out++] = rx_[i];
    }
    out = tx_;
  }
  const uint16_t n_fwd = n_out;
  if (n_rejects != 0) [[unlikely]] {
    std::memmove(tx_ + n_out, tx_ + kMaxBurst, n_rejects * sizeof(rte_mbuf*));
    n_out = static_cast<uint16_t>(n_out + n_rejects);
  }
  const uint16_t sent = n_out ? rte_eth_tx_burst(tx_port, setup_.queue, out, n_out) : 0;
  const uint16_t fwd_sent = sent < n_fwd ? sent : n_fwd;
  if (sent < n_out) [[unlikely]] {
    if (fwd_sent < n_fwd) counters_.drops[static_cast<size_t>(DropReason::kTxFull)].add(n_fwd - fwd_sent);
    counters_.inspect.reject_failed.add(n_out - (sent > n_fwd ? sent : n_fwd));
    rte_pktmbuf_free_bulk(out + sent, n_out - sent);
  }
  counters_.inspect.reject_sent.add(sent - fwd_sent);
  if (timed) record_latency(rte_rdtsc() - rx_tsc);
  DirectionCounters& c = counters_.dir[static_cast<size_t>(kDir)];
  c.rx_packets.add(n);
  c.forwarded.add(fwd_sent);
  c.dropped.add(static_cast<uint64_t>(n_dropped) + (n_fwd - fwd_sent));
  return n;
}

template <bool kReplay>
uint32_t Worker::poll_both() noexcept {
  const uint32_t n = forward<Direction::kToCore, kReplay>(setup_.vendor_port, setup_.core_port) +
                     forward<Direction::kToVendor, kReplay>(setup_.core_port, setup_.vendor_port);
  if (!kReplay) now_ = rte_rdtsc();
  StreamStatePool::bind_to_this_thread(stream_pool_.get());
  (void)flow_table_->expire(now_, kExpireBudget);
  return n;
}

uint32_t Worker::poll_once() noexcept {
  return setup_.timestamp_field >= 0 ? poll_both<true>() : poll_both<false>();
}

void Worker::run(const std::atomic<bool>& stop) noexcept {
  StreamStatePool::bind_to_this_thread(stream_pool_.get());
  uint64_t last = rte_rdtsc();
  while (!stop.load(std::memory_order_relaxed)) {
    const uint32_t n = poll_once();
    const uint64_t now = rte_rdtsc();
    (n ? counters_.busy_cycles : counters_.idle_cycles).add(now - last);
    last = now;
  }
}

}  // namespace sentinel::dataplane

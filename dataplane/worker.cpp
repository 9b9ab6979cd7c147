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

uint16_t read16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

constexpr uint16_t kEthertypeMin = 0x0600;  // below: an IEEE 802.3 length

AlertSource alert_source(uint32_t gid) noexcept {
  if (gid == rules::kGidAnomalies) return AlertSource::kAnomaly;
  if (gid == rules::kGidPolicy) return AlertSource::kPolicy;
  if (gid == rules::kGidFilters) return AlertSource::kFilter;
  return AlertSource::kSignature;
}

bool has_ports(const PacketInfo& pkt) noexcept {
  return (pkt.flags & kFlagHasL4) != 0 && (pkt.ip_proto == ip_proto::kTcp || pkt.ip_proto == ip_proto::kUdp);
}

bool is_icmp(const PacketInfo& pkt) noexcept {
  return pkt.ip_proto == ip_proto::kIcmp || pkt.ip_proto == ip_proto::kIcmpv6;
}

// ICMP messages that quote a packet of another flow: destination unreachable (incl.
// fragmentation needed), source quench, redirect, time exceeded, parameter problem;
// ICMPv6 destination unreachable, packet too big, time exceeded, parameter problem.
bool is_icmp_error(const PacketInfo& pkt) noexcept {
  if ((pkt.flags & kFlagHasL4) == 0) return false;
  if (pkt.ip_proto == ip_proto::kIcmp) {
    return pkt.icmp_type == 3 || pkt.icmp_type == 4 || pkt.icmp_type == 5 || pkt.icmp_type == 11 ||
           pkt.icmp_type == 12;
  }
  return pkt.ip_proto == ip_proto::kIcmpv6 && pkt.icmp_type >= 1 && pkt.icmp_type <= 4;
}

// The packet an ICMP error quotes (its IP header and first 8 L4 bytes), as far as the flow
// key needs it. False when the quote is cut short or is not plain IPv4/IPv6.
bool parse_quoted(const uint8_t* headers, uint32_t headers_len, const PacketInfo& outer, PacketInfo& q) noexcept {
  uint32_t off = uint32_t{outer.l4_offset} + 8;
  q = PacketInfo{};
  if (outer.ip_proto == ip_proto::kIcmp) {
    if (off + 20 > headers_len || (headers[off] >> 4) != 4) return false;
    const uint32_t ihl = (headers[off] & 0x0fu) * 4u;
    if (ihl < 20) return false;
    q.l3 = L3::kIpv4;
    q.ip_proto = headers[off + 9];
    std::memcpy(q.src_ip.data(), headers + off + 12, 4);
    std::memcpy(q.dst_ip.data(), headers + off + 16, 4);
    if ((read16(headers + off + 6) & 0x1fffu) != 0) return true;  // a later fragment: no ports
    off += ihl;
  } else {
    if (off + 40 > headers_len || (headers[off] >> 4) != 6) return false;
    q.l3 = L3::kIpv6;
    q.ip_proto = headers[off + 6];  // extension headers in a quote are not followed
    std::memcpy(q.src_ip.data(), headers + off + 8, 16);
    std::memcpy(q.dst_ip.data(), headers + off + 24, 16);
    off += 40;
  }
  if ((q.ip_proto == ip_proto::kTcp || q.ip_proto == ip_proto::kUdp) && off + 4 <= headers_len) {
    q.src_port = read16(headers + off);
    q.dst_port = read16(headers + off + 2);
    q.flags |= kFlagHasL4;
  } else if (is_icmp(q) && off + 8 <= headers_len) {  // a quoted echo: its flow is keyed by identifier
    q.icmp_type = headers[off];
    q.src_port = q.dst_port = read16(headers + off + 4);
    q.flags |= kFlagHasL4;
  }
  return true;
}

bool in_nets(std::span<const config::Cidr> nets, bool v6, const uint8_t* addr) noexcept {
  for (const config::Cidr& c : nets) {
    if (c.contains(v6, addr)) return true;
  }
  return false;
}

// The query for a flow opened by the packet's sender (`reverse`: by its receiver).
rules::PolicyQuery query_of(const PacketInfo& pkt, Direction dir, bool reverse) noexcept {
  rules::PolicyQuery q;
  q.v6 = pkt.l3 == L3::kIpv6;
  q.ip_proto = pkt.ip_proto;
  q.from_vendor = (dir == Direction::kToCore) != reverse;
  q.src = reverse ? pkt.dst_ip : pkt.src_ip;
  q.dst = reverse ? pkt.src_ip : pkt.dst_ip;
  if (has_ports(pkt)) {
    q.src_port = reverse ? pkt.dst_port : pkt.src_port;
    q.dst_port = reverse ? pkt.src_port : pkt.dst_port;
  } else if (is_icmp(pkt) && (pkt.flags & kFlagHasL4) != 0) {
    q.dst_port = pkt.icmp_type;
  }
  return q;
}

}  // namespace

void Worker::on_flow_removed(void* self, uint32_t slot) noexcept {
  static_cast<Worker*>(self)->reset_flow(slot);
}

// Frees what the slot's last flow held (its Hyperscan streams go back to the pool).
void Worker::reset_flow(uint32_t slot) noexcept { close_streams(inspect_[slot]); }

// Closes the flow's Hyperscan streams (without end-of-stream reports) and releases the
// generation they were opened on.
void Worker::close_streams(FlowInspect& fi) noexcept {
  for (rules::Stream& hs : fi.hs) {
    if (!hs.is_open()) continue;
    hs = rules::Stream{};
    fi.streams_owner->streams.add(-1);
  }
  fi.streams_owner = nullptr;
}

// A flow judged under an older generation, on its first packet since: its streams are
// closed (reopened on this generation's database when bytes next arrive, at their offset
// in the flow) and the policy judges it again. Partial matches across the reload are lost.
void Worker::migrate(FlowInspect& fi) noexcept {
  if (fi.streams_owner != gw_) close_streams(fi);
  fi.generation = static_cast<uint32_t>(gen_->number());
  counters_.reload.flows_migrated.add(1);
  if (policy_ == nullptr) fi.policy = PolicyState::kUndecided;
  if (policy_ == nullptr || setup_.learn) return;  // learn mode keeps its observation
  switch (fi.policy) {
    case PolicyState::kAllowed: fi.rejudge = Rejudge::kWasAllowed; break;
    case PolicyState::kViolation:
    case PolicyState::kDenied: fi.rejudge = Rejudge::kWasViolation; break;
    default: fi.rejudge = Rejudge::kNo; break;  // judged packet by packet (ICMP errors, exempt control)
  }
  fi.policy = PolicyState::kUndecided;
}

// Takes `gen` as the generation to inspect with from now on. After a reload, idle flows are
// swept so that none pins the previous one for long.
void Worker::adopt(const Generation* gen) noexcept {
  const bool first = gen_ == nullptr;
  gen_ = gen;
  gw_ = &gen->worker(published_ == &own_published_ ? 0 : setup_.queue);  // one worker per queue
  const Inspection& in = gen->inspection();
  rules_ = in.rules;
  policy_ = in.policy;
  classifier_ = in.classifier;
  filters_ = in.filters;
  if (!first) {
    sweeping_ = true;
    sweep_next_ = 0;
  }
}

// Visits the next kSweepBudget flow slots: streams of an older generation are closed.
void Worker::sweep() noexcept {
  const uint32_t capacity = setup_.flows.capacity;
  const uint32_t end = sweep_next_ + kSweepBudget < capacity ? sweep_next_ + kSweepBudget : capacity;
  for (uint32_t s = sweep_next_; s < end; ++s) {
    FlowInspect& fi = inspect_[s];
    if (fi.streams_owner == nullptr || fi.streams_owner == gw_) continue;
    close_streams(fi);
    counters_.reload.flows_swept.add(1);
  }
  sweep_next_ = end;
  sweeping_ = end < capacity;
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

void Worker::add_pending(uint32_t gid, uint32_t sid, uint32_t rev, rules::Action action, uint8_t flags,
                         uint32_t suppressed) noexcept {
  if (action == rules::Action::kPass) {
    pass_matched_ = true;
    return;
  }
  if (n_pending_ == config::kMaxAlertsPerPacket) {
    // More than a packet can carry: the verdict still sees it; counted as a dropped alert
    // unless a pass suppresses the packet's alerts.
    const AlertSource src = alert_source(gid);
    if (n_lost_ == 0) std::memset(lost_, 0, sizeof lost_);
    ++lost_[static_cast<size_t>(src)][static_cast<size_t>(action)];
    ++n_lost_;
    if (precedence(action) > precedence(lost_worst_)) lost_worst_ = action;
    return;
  }
  pending_[n_pending_++] = {gid, sid, rev, action, flags, suppressed};
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
    const rules::RuleSet* rs = w->rules_;
    if (rs == nullptr || rs->stream_db() == nullptr || (fi->scan_failed & (1u << d)) != 0 || w->scan_off_) return;
    rules::Stream& hs = fi->hs[d];
    if (hs.is_open() && fi->streams_owner != w->gw_) w->close_streams(*fi);  // opened on an older generation
    if (!hs.is_open()) {
      const size_t slot = static_cast<size_t>(fi - w->inspect_.get());
      std::span<uint64_t> items(w->items_.get() + (slot * 2 + d) * w->item_words_, w->item_words_);
      // The bytes of this direction before `p`: a stream reopened after a reload keeps
      // counting rule offsets from the flow's start.
      const uint64_t before = fi->stream[d].delivered();
      if (!rules::open_stream(*rs, hs, items, static_cast<uint32_t>(before)).ok()) {
        fi->scan_failed |= static_cast<uint8_t>(1u << d);
        w->counters_.inspect.scan_errors.add(1);
        return;
      }
      if (fi->streams_owner == nullptr) fi->streams_owner = w->gw_;
      w->gw_->streams.add(1);
    }
    Worker* self = w;
    const Direction dd = dir;
    const rules::HsStatus st = rules::scan_stream(*rs, hs, w->gw_->scratch, p, n,
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
  if ((ev & kStreamDepthReached) != 0) {
    counters_.inspect.depth_reached.add(1);
    if (setup_.drop_depth_reached) {
      add_pending(rules::kGidAnomalies, static_cast<uint32_t>(Anomaly::kDepthReached), 1, rules::Action::kDrop);
    }
  }
  if ((ev & kStreamOverflow) != 0) {
    counters_.inspect.reassembly_overflows.add(1);
    add_pending(rules::kGidAnomalies, static_cast<uint32_t>(Anomaly::kReassemblyOverflow), 1,
                setup_.drop_reassembly_overflow ? rules::Action::kDrop : rules::Action::kAlert);
    if (!setup_.drop_reassembly_overflow) fi.state = FlowInspect::State::kPassed;
  }
}

void Worker::scan_packet(rte_mbuf* m, const uint8_t* headers, Direction dir) noexcept {
  const rules::RuleSet* rs = rules_;
  if (rs == nullptr || rs->block_db() == nullptr) return;
  uint32_t len = 0;
  const uint8_t* payload = payload_of(m, headers, len);
  if (len == 0) return;
  Worker* self = this;
  const rules::HsStatus st = rules::scan_block(*rs, gw_->scratch, payload, len,
      [self, dir](const rules::CompiledRule& rule, uint64_t) noexcept { self->on_rule(rule, dir); });
  if (!st.ok()) counters_.inspect.scan_errors.add(1);
}

// The record of an alert raised by the packet being inspected, before gid/sid/action. A
// frame that is not IP (or is malformed: its addresses are not to be trusted) is described
// by its ethertype and source MAC (ip_version 0).
AlertRecord Worker::alert_base(const rte_mbuf* m, Direction dir, bool dropped) const noexcept {
  const PacketInfo& pkt = *cur_pkt_;
  AlertRecord rec;
  rec.generation = static_cast<uint32_t>(gen_->number());
  rec.ts_ns = alert_time_ns(m);
  rec.pcap_cnt = setup_.frame_number_field >= 0 ? *RTE_MBUF_DYNFIELD(m, setup_.frame_number_field, const uint64_t*) : 0;
  rec.in_iface = dir == Direction::kToCore ? Side::kVendor : Side::kCore;
  rec.direction = dir;
  rec.verdict = dropped ? Verdict::kDropped : Verdict::kForwarded;
  const bool malformed = (pkt.flags & kFlagMalformed) != 0;
  if (malformed || (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6)) {
    rec.ip_version = 0;
    // 802.3 frames carry a length, not an ethertype: one class, "llc".
    rec.ether_type = pkt.ethertype < kEthertypeMin ? rules::kEthertypeLlc : pkt.ethertype;
    if (m->data_len >= 12) std::memcpy(rec.src_mac.data(), rte_pktmbuf_mtod_offset(m, const uint8_t*, 6), 6);
    rec.flags = malformed ? kAlertFlagMalformed : 0;
    return rec;
  }
  rec.src_addr = pkt.src_ip;
  rec.dst_addr = pkt.dst_ip;
  const bool ports = has_ports(pkt);
  rec.src_port = ports ? pkt.src_port : 0;
  rec.dst_port = ports ? pkt.dst_port : 0;
  rec.icmp_type = pkt.icmp_type;
  rec.icmp_code = pkt.icmp_code;
  rec.ip_version = pkt.l3 == L3::kIpv6 ? 6 : 4;
  rec.ip_proto = pkt.ip_proto;
  return rec;
}

void Worker::emit_alerts(uint64_t flow_id, const rte_mbuf* m, Direction dir, bool dropped) noexcept {
  AlertRecord rec = alert_base(m, dir, dropped);
  rec.flow_id = flow_id;
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
    rec.flags = static_cast<uint8_t>(rec.flags | p.flags);
    rec.suppressed = p.suppressed;
    const AlertSource src = alert_source(p.gid);
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
  if (r.to_receiver != nullptr) rejects_[n_rejects++] = r.to_receiver;
}

// IPv6's link-local control when [policy.l2] allow_icmpv6_nd lets it bypass the allows:
// neighbour/router discovery (133-137) and multicast listener discovery (130-132, 143),
// without which IPv6 stops working on the segment. ICMP errors are judged by the flow they
// quote (police()).
bool Worker::is_exempt(const PacketInfo& pkt) const noexcept {
  if (!policy_->allow_icmpv6_nd || pkt.ip_proto != ip_proto::kIcmpv6 || (pkt.flags & kFlagHasL4) == 0) {
    return false;
  }
  return (pkt.icmp_type >= 130 && pkt.icmp_type <= 137) || pkt.icmp_type == 143;
}

// Anti-spoofing: IP frames from the vendor port must come from [network] vendor_nets. The
// unspecified and link-local sources of DHCP and neighbour discovery are let through.
template <Direction kDir>
uint16_t Worker::drop_spoofed(uint16_t n) noexcept {
  static constexpr uint8_t kZero[16] = {};
  uint16_t dropped = 0;
  for (uint16_t i = 0; i < n; ++i) {
    PacketInfo& pkt = info_[i];
    if (rx_[i] == nullptr || (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6)) continue;  // malformed: l3 hidden
    const bool v6 = pkt.l3 == L3::kIpv6;
    const uint8_t* src = pkt.src_ip.data();
    if (in_nets(setup_.vendor_nets, v6, src)) continue;
    if (std::memcmp(src, kZero, v6 ? 16 : 4) == 0) continue;
    if (v6 && src[0] == 0xfe && (src[1] & 0xc0) == 0x80) continue;
    if (!setup_.drop_spoofed) {  // fail open: counted, then a flow like any other
      counters_.malformed_passed[static_cast<size_t>(DropReason::kSpoofedSource)].add(1);
      continue;
    }
    counters_.drops[static_cast<size_t>(DropReason::kSpoofedSource)].add(1);
    rte_pktmbuf_free(rx_[i]);
    rx_[i] = nullptr;
    pkt.l3 = L3::kOther;  // makes no flow
    ++dropped;
  }
  return dropped;
}

// Records a classified flow's decision (`allow`: the 1-based allow, or kNoAllow).
void Worker::decide(FlowInspect& fi, uint32_t allow) noexcept {
  const Rejudge rejudge = fi.rejudge;
  fi.rejudge = Rejudge::kNo;
  if (allow != rules::PolicyClassifier::kNoAllow) {
    fi.policy = PolicyState::kAllowed;
    if (rejudge != Rejudge::kWasAllowed) counters_.policy.allowed.add(1);
    if (allow <= gen_->allow_count()) gw_->allow_hits[allow - 1].add(1);
    return;
  }
  if (rejudge == Rejudge::kWasViolation) {  // still a violation after a reload: alerted once already
    const rules::PolicyDefault d = policy_->default_action;
    fi.policy = d == rules::PolicyDefault::kAllow || d == rules::PolicyDefault::kAlert ? PolicyState::kViolation
                                                                                      : PolicyState::kDenied;
    return;
  }
  counters_.policy.violations.add(1);
  switch (policy_->default_action) {
    case rules::PolicyDefault::kAllow: fi.policy = PolicyState::kViolation; break;
    case rules::PolicyDefault::kAlert:
    case rules::PolicyDefault::kDrop:
    case rules::PolicyDefault::kReject: fi.policy = PolicyState::kNewViolation; break;
  }
}

// Stage 3b: flows created by this burst get fresh inspection state; flows the policy has
// not decided yet are classified together (enforce) or recorded (learn). A TCP flow first
// seen without its SYN is classified both ways round: either orientation may be the
// permitted one.
template <Direction kDir>
void Worker::admit(uint16_t n) noexcept {
  uint16_t nq = 0;
  for (uint16_t i = 0; i < n; ++i) {
    const FlowLookup& fl = flows_[i];
    if (rx_[i] == nullptr || fl.entry == nullptr) continue;
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
      fi.policy = PolicyState::kUndecided;
      fi.midstream = false;
      fi.rejudge = Rejudge::kNo;
      fi.learn = LearnTable::kNone;
      fi.generation = static_cast<uint32_t>(gen_->number());
    } else if (fi.generation != static_cast<uint32_t>(gen_->number())) {
      migrate(fi);
    }
    if (policy_ == nullptr || fi.policy != PolicyState::kUndecided) continue;
    const PacketInfo& pkt = info_[i];
    // Judged packet by packet in police(), never deciding the flow they share with other
    // packets of the two hosts: exempt control, and errors (by the flow they quote, learnt
    // in inspect()). Later fragments carry no ports: until IP reassembly gives them their
    // first fragment's, they are a port-less flow of their own, which only an allow
    // without ports permits (fail closed).
    if (is_icmp_error(pkt) || is_exempt(pkt)) continue;
    const bool tcp = pkt.ip_proto == ip_proto::kTcp;
    if (fl.created) fi.midstream = tcp && (pkt.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) != tcp_flag::kSyn;
    if (setup_.learn) {
      learn_flow(fi, pkt, kDir);
      continue;
    }
    fi.policy = PolicyState::kQueued;
    // A flow judged again after a reload: its opener may be this packet's receiver.
    const bool reverse = !fl.created && fl.from_lo != (fl.entry->opener_is_lo != 0);
    queries_[nq] = query_of(pkt, kDir, reverse);
    query_pkt_[nq++] = i;
    if (fi.midstream) {
      queries_[nq] = query_of(pkt, kDir, !reverse);
      query_pkt_[nq++] = i;
    }
  }
  if (nq == 0) return;
  classifier_->classify({queries_, nq}, {allow_of_, nq});
  for (uint16_t k = 0; k < nq; ++k) {
    const uint16_t i = query_pkt_[k];
    uint32_t allow = allow_of_[k];
    if (k + 1 < nq && query_pkt_[k + 1] == i) {  // the mid-stream pair: either orientation
      if (allow == rules::PolicyClassifier::kNoAllow) allow = allow_of_[k + 1];
      ++k;
    }
    decide(inspect_[flow_table_->slot_of(flows_[i].entry)], allow);
  }
}

// Learn mode: records the flow's observation. Mid-stream, the lower port is taken for the
// server's (either way round is permitted when enforced).
void Worker::learn_flow(FlowInspect& fi, const PacketInfo& pkt, Direction dir) noexcept {
  const bool reverse = fi.midstream && has_ports(pkt) && pkt.src_port < pkt.dst_port;
  const rules::PolicyQuery q = query_of(pkt, dir, reverse);
  const LearnKey key{q.src, q.dst, q.dst_port, q.ip_proto, static_cast<uint8_t>(q.v6),
                     static_cast<uint8_t>(q.from_vendor), {}};
  const uint32_t before = learn_->size();
  fi.learn = learn_->record(key);
  if (fi.learn == LearnTable::kNone) counters_.policy.learn_table_full.add(1);
  counters_.policy.learn_entries.add(learn_->size() - before);
  fi.policy = PolicyState::kAllowed;
}

// The policy's verdict on one packet of an IP flow in enforce mode. An ICMP error follows
// the flow it quotes when that flow is known; otherwise it is a flow of its own.
template <Direction kDir>
Worker::Policing Worker::police(FlowInspect& fi, const PacketInfo& pkt, const uint8_t* headers,
                                uint32_t headers_len) noexcept {
  if (is_exempt(pkt)) return Policing::kForward;
  if (is_icmp_error(pkt)) {
    if (const FlowEntry* e = quoted_flow(pkt, headers, headers_len)) {
      const PolicyState ps = inspect_[flow_table_->slot_of(e)].policy;
      if (ps == PolicyState::kDenied) return Policing::kDrop;
      if (ps != PolicyState::kUndecided && ps != PolicyState::kQueued) return Policing::kForward;
    }
    if (fi.policy == PolicyState::kUndecided) {
      const rules::PolicyQuery q = query_of(pkt, kDir, false);
      uint32_t allow = 0;
      classifier_->classify({&q, 1}, {&allow, 1});
      decide(fi, allow);
    }
  }
  switch (fi.policy) {
    case PolicyState::kNewViolation:
      if (policy_->default_action == rules::PolicyDefault::kAlert) {
        fi.policy = PolicyState::kViolation;
        return Policing::kForwardAlert;
      }
      fi.policy = PolicyState::kDenied;
      return Policing::kDropAlert;
    case PolicyState::kDenied: return Policing::kDrop;
    default: return Policing::kForward;
  }
}

// The flow an ICMP error reports on: the quoted packet's flow, when the error goes back to
// that packet's sender (an error addressed elsewhere follows nothing: it would be a way to
// talk to anyone under an allowed flow's cover).
const FlowEntry* Worker::quoted_flow(const PacketInfo& pkt, const uint8_t* headers, uint32_t headers_len) noexcept {
  PacketInfo quoted;
  if (!parse_quoted(headers, headers_len, pkt, quoted)) return nullptr;
  if (quoted.l3 != pkt.l3 || std::memcmp(quoted.src_ip.data(), pkt.dst_ip.data(), pkt.l3 == L3::kIpv6 ? 16 : 4) != 0) {
    return nullptr;
  }
  return flow_table_->find(quoted, now_);
}

// An IP packet the full flow table refused is judged on its own, so that filling the table
// never opens a way around the policy: permitted when either orientation is (it may be a
// reply), else the default action, alerted packet by packet (the alert ring bounds them).
template <Direction kDir>
DropReason Worker::police_unflowed(uint16_t i) noexcept {
  const PacketInfo& pkt = info_[i];
  if (setup_.learn || is_exempt(pkt)) return DropReason::kNone;
  rte_mbuf* m = rx_[i];
  if (is_icmp_error(pkt) && m->nb_segs == 1) {
    if (const FlowEntry* e = quoted_flow(pkt, rte_pktmbuf_mtod(m, const uint8_t*), m->data_len)) {
      return inspect_[flow_table_->slot_of(e)].policy == PolicyState::kDenied ? DropReason::kPolicy : DropReason::kNone;
    }
  }
  const rules::PolicyQuery q[2] = {query_of(pkt, kDir, false), query_of(pkt, kDir, true)};
  uint32_t allow[2] = {};
  classifier_->classify(q, allow);
  if (allow[0] != rules::PolicyClassifier::kNoAllow || allow[1] != rules::PolicyClassifier::kNoAllow) {
    return DropReason::kNone;
  }
  const rules::PolicyDefault d = policy_->default_action;
  if (d == rules::PolicyDefault::kAllow) return DropReason::kNone;
  const bool drop = d != rules::PolicyDefault::kAlert;
  policy_violation(pkt, m, kDir, drop);
  return drop ? DropReason::kPolicy : DropReason::kNone;
}

// A violation by a frame without a flow: counted and alerted on its own (no flow id).
void Worker::policy_violation(const PacketInfo& pkt, const rte_mbuf* m, Direction dir, bool drop) noexcept {
  counters_.policy.violations.add(1);
  cur_pkt_ = &pkt;
  AlertRecord rec = alert_base(m, dir, drop);
  rec.gid = rules::kGidPolicy;
  rec.sid = policy_->default_sid;
  rec.rev = 1;
  rec.action = drop ? rules::Action::kDrop : rules::Action::kAlert;
  counters_.inspect.alerts[static_cast<size_t>(AlertSource::kPolicy)][static_cast<size_t>(rec.action)].add(1);
  if (!alert_ring_->push(rec)) counters_.inspect.alerts_dropped.add(1);
}

// The policy for a frame without a flow: non-IP and malformed frames against [policy.l2]
// (learn mode records the ethertypes); IP frames the full flow table refused, by
// police_unflowed().
template <Direction kDir>
DropReason Worker::police_frame(uint16_t i) noexcept {
  const PacketInfo& pkt = info_[i];
  // A malformed frame a [failure] key passes has no trustworthy addresses: no allow can
  // permit it, so it is a violation like a non-IP frame of its ethertype (never a way
  // around the policy).
  const bool malformed = (pkt.flags & kFlagMalformed) != 0;
  if (!malformed && (pkt.l3 == L3::kIpv4 || pkt.l3 == L3::kIpv6)) return police_unflowed<kDir>(i);
  // 802.3 frames carry a length, not an ethertype: one class, "llc".
  const uint16_t et = pkt.ethertype < kEthertypeMin ? rules::kEthertypeLlc : pkt.ethertype;
  if (setup_.learn) {
    if (!malformed) learn_->record_ethertype(et);
    return DropReason::kNone;
  }
  if (!malformed && (gen_->l2_allowed()[et / 64] >> (et % 64) & 1) != 0) return DropReason::kNone;
  const rules::PolicyDefault d = policy_->default_action;
  if (d == rules::PolicyDefault::kAllow) return DropReason::kNone;
  const bool drop = d != rules::PolicyDefault::kAlert;  // reject: nothing to answer a non-IP frame with
  const rte_mbuf* m = rx_[i];
  static constexpr uint8_t kNoMac[6] = {};
  const uint8_t* src_mac = m->data_len >= 12 ? rte_pktmbuf_mtod_offset(m, const uint8_t*, 6) : kNoMac;  // eth_truncated
  if (l2_limiter_->should_alert(src_mac, et, now_)) policy_violation(pkt, m, kDir, drop);
  return drop ? DropReason::kPolicy : DropReason::kNone;
}

// The filter alerts of burst frame i join the packet's pending alerts.
void Worker::add_filter_alerts(uint16_t i) noexcept {
  for (uint8_t k = 0; k < n_filter_alerts_[i]; ++k) {
    const FilterAlert& a = filter_alerts_[i][k];
    const rules::Filter& f = filters_->filters[a.filter].spec;
    add_pending(rules::kGidFilters, f.sid, f.rev, rules::Action::kAlert, 0, a.suppressed);
  }
}

// Whether filter `filter` may raise an alert now (its window's budget); when it may,
// `suppressed` is how many it held back since its last one.
bool Worker::filter_alert(uint16_t filter, uint32_t& suppressed) noexcept {
  FilterAlertWindow& w = gw_->filter_windows[filter];
  if (now_ - w.start >= second_) {
    w.start = now_;
    w.sent = 0;
  }
  if (w.sent >= setup_.filter_alerts_per_second) {
    ++w.suppressed;
    counters_.filter.alerts_suppressed.add(1);
    return false;
  }
  ++w.sent;
  suppressed = w.suppressed;
  w.suppressed = 0;
  return true;
}

// Stage 2b: the [[filter]] programs of this direction on every frame still in the burst,
// in load order. alert: recorded, written with the frame's verdict; drop: the frame goes
// (reason filter) and its alerts with it; pass: the frame skips policy and signatures.
// Returns the frames dropped.
template <Direction kDir>
uint16_t Worker::run_filters(uint16_t n) noexcept {
  const FilterSet& fs = *filters_;
  std::memset(filter_pass_, 0, n * sizeof filter_pass_[0]);
  std::memset(n_filter_alerts_, 0, n * sizeof n_filter_alerts_[0]);
  const std::span<const uint16_t> order = kDir == Direction::kToCore ? fs.to_core : fs.to_vendor;
  if (order.empty()) return 0;
  uint16_t n_dropped = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx_[i];
    if (m == nullptr) continue;
    const bpf::FrameView view = frame_view(info_[i], m);
    const bpf::CurrentFrame current(view);
    bool interpreted = false;
    for (const uint16_t f : order) {
      const ActiveFilter& af = fs.filters[f];
      interpreted |= !af.program->jitted();
      if (af.program->run(m) == 0) continue;
      gw_->filter_hits[f].add(1);
      const rules::Action action = af.spec.action;
      counters_.filter.matches[action == rules::Action::kAlert ? 0 : action == rules::Action::kDrop ? 1 : 2].add(1);
      if (action == rules::Action::kPass) {
        filter_pass_[i] = true;
        break;
      }
      uint32_t suppressed = 0;
      const bool alert = filter_alert(f, suppressed);
      if (action == rules::Action::kAlert) {
        if (!alert) continue;
        if (n_filter_alerts_[i] == config::kMaxAlertsPerPacket) {
          counters_.inspect.alerts[static_cast<size_t>(AlertSource::kFilter)][0].add(1);
          counters_.inspect.alerts_dropped.add(1);
          continue;
        }
        filter_alerts_[i][n_filter_alerts_[i]++] = {f, suppressed};
        continue;
      }
      // Drop: the frame never reaches the flow table; its alerts go out now, without a flow.
      cur_pkt_ = &info_[i];
      n_pending_ = 0;
      n_lost_ = 0;
      add_filter_alerts(i);
      if (alert) add_pending(rules::kGidFilters, af.spec.sid, af.spec.rev, rules::Action::kDrop, 0, suppressed);
      if (n_pending_ != 0) emit_alerts(0, m, kDir, true);
      n_filter_alerts_[i] = 0;
      n_dropped = static_cast<uint16_t>(n_dropped + discard(i, DropReason::kFilter));
      info_[i].l3 = L3::kOther;  // makes no flow
      break;
    }
    if (interpreted) counters_.filter.interpreted_packets.add(1);
  }
  return n_dropped;
}

// Frees burst slot i (a reassembled datagram: its copies and its fragments) and counts it
// dropped for `why`. Returns the frames dropped.
uint16_t Worker::discard(uint16_t i, DropReason why) noexcept {
  rte_mbuf* m = rx_[i];
  rx_[i] = nullptr;
  if (!whole_[i]) [[likely]] {
    counters_.drops[static_cast<size_t>(why)].add(1);
    rte_pktmbuf_free(m);
    return 1;
  }
  whole_[i] = false;
  rte_mbuf* fragments[Reassembler::kMaxFragmentsPerDatagram];
  const uint32_t n = reassembler_->release(m, fragments);
  rte_pktmbuf_free_bulk(fragments, n);
  counters_.drops[static_cast<size_t>(why)].add(n);
  return static_cast<uint16_t>(n);
}

// Fragments that cannot make a datagram: dropped for their cause or, where its [failure]
// key passes, sent after the burst uninspected. Returns the frames dropped.
uint16_t Worker::bury_fragments(const DeadFragment* dead, uint32_t n) noexcept {
  uint16_t n_dropped = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const auto why = static_cast<size_t>(dead[k].why);
    if ((setup_.pass_fragments >> (why - static_cast<size_t>(DropReason::kFragOverlap)) & 1u) != 0) {
      counters_.malformed_passed[why].add(1);
      released_[n_released_++] = dead[k].original;
    } else {
      counters_.drops[why].add(1);
      rte_pktmbuf_free(dead[k].original);
      ++n_dropped;
    }
  }
  return n_dropped;
}

// Sends the fragments bury_fragments() released (fail open), counted for `dir`.
void Worker::send_released(Direction dir, uint16_t tx_port) noexcept {
  const uint16_t sent = rte_eth_tx_burst(tx_port, setup_.queue, released_, static_cast<uint16_t>(n_released_));
  if (sent < n_released_) {
    counters_.drops[static_cast<size_t>(DropReason::kTxFull)].add(n_released_ - sent);
    rte_pktmbuf_free_bulk(released_ + sent, n_released_ - sent);
  }
  DirectionCounters& c = counters_.dir[static_cast<size_t>(dir)];
  c.forwarded.add(sent);
  c.dropped.add(n_released_ - sent);
  n_released_ = 0;
}

void Worker::sync_held() noexcept {
  counters_.fragments.held.add(static_cast<int64_t>(reassembler_->held()) - counters_.fragments.held.get());
}

void Worker::give_up_fragments() noexcept {
  for (const Direction dir : {Direction::kToCore, Direction::kToVendor}) {
    const uint16_t tx_port = dir == Direction::kToCore ? setup_.core_port : setup_.vendor_port;
    for (;;) {
      uint32_t n_dead = 0;
      reassembler_->expire(dir, UINT64_MAX / 2, dead_, n_dead);
      if (n_dead == 0) break;
      counters_.dir[static_cast<size_t>(dir)].dropped.add(bury_fragments(dead_, n_dead));
      if (n_released_ != 0) send_released(dir, tx_port);
    }
  }
  sync_held();
}

// Stage 2c: each fragment of the burst goes to its direction's reassembly table. One that
// completes a datagram is replaced by the datagram, parsed afresh (the first fragment's
// ports); the others leave the burst, held. Returns the frames dropped.
template <Direction kDir, bool kReplay>
uint16_t Worker::reassemble(uint16_t n_frags) noexcept {
  uint16_t n_dropped = 0;
  for (uint16_t k = 0; k < n_frags; ++k) {
    const uint16_t i = frags_[k];
    rte_mbuf* m = rx_[i];
    if (m == nullptr) continue;  // spoofed
    uint32_t n_dead = 0;
    rte_mbuf* whole = reassembler_->add(kDir, m, info_[i], wire_[i], kReplay ? times_[i] : now_, dead_, n_dead);
    rx_[i] = nullptr;
    n_dropped = static_cast<uint16_t>(n_dropped + bury_fragments(dead_, n_dead));
    if (whole == nullptr) continue;
    rx_[i] = whole;
    whole_[i] = true;
    wire_[i] = Reassembler::wire_bytes(whole);
    counters_.fragments.datagrams.add(1);
    counters_.fragments.fragments.add(Reassembler::count(whole));
    const uint32_t captured = whole->pkt_len < kHeaderScratch ? whole->pkt_len : kHeaderScratch;
    const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(whole, 0, captured, header_scratch_));
    const DropReason why = parser_detail::parse_frame_full(data, captured, whole->pkt_len, info_[i]);
    if (why == DropReason::kNone) continue;
    // A datagram malformed as a whole (its L4 header, say): the side's failure policy.
    info_[i].l3 = L3::kOther;
    info_[i].flags |= kFlagMalformed;
    const bool drop = kDir == Direction::kToCore ? setup_.drop_malformed_to_core : setup_.drop_malformed_to_vendor;
    if (drop) {
      n_dropped = static_cast<uint16_t>(n_dropped + discard(i, why));
    } else {
      counters_.malformed_passed[static_cast<size_t>(why)].add(Reassembler::count(whole));
    }
  }
  return n_dropped;
}

// Whether a TCP segment may enter its stream: its checksums hold ([flows] verify_checksums)
// and the capture did not cut it. Otherwise `why` is the verdict (bad_checksum under
// [failure] bad_checksum = "drop", else none).
bool Worker::segment_usable(rte_mbuf* m, const uint8_t* headers, const PacketInfo& pkt, DropReason& why) noexcept {
  const ChecksumResult ck = setup_.flows.verify_checksums ? verify_tcp_checksums(m, headers, pkt)
                                                          : (pkt.flags & kFlagSnapTruncated) != 0
                                                                ? ChecksumResult::kUnverifiable
                                                                : ChecksumResult::kGood;
  why = DropReason::kNone;
  if (ck == ChecksumResult::kBad) {
    if (setup_.drop_bad_checksum) {
      why = DropReason::kBadChecksum;
    } else {
      counters_.malformed_passed[static_cast<size_t>(DropReason::kBadChecksum)].add(1);
    }
    return false;
  }
  if (ck == ChecksumResult::kUnverifiable) {
    counters_.inspect.segments_uninspected.add(1);
    return false;
  }
  return true;
}

// The per-packet scan of an IP frame without a flow (the full table refused it), after its
// filter alerts: its verdict, alerts left pending. A pass rule drops the scan's alerts.
DropReason Worker::scan_unflowed(rte_mbuf* m, Direction dir, uint16_t rx_port, uint16_t& n_rejects) noexcept {
  const uint8_t* headers = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t headers_len = m->data_len;
  if (m->nb_segs > 1) {
    headers_len = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
    headers = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, headers_len, header_scratch_));
  }
  const uint32_t n_kept = n_pending_;
  lost_worst_ = rules::Action::kAlert;
  pass_matched_ = false;
  scan_packet(m, headers, dir);
  if (pass_matched_) {
    n_pending_ = n_kept;
    n_lost_ = 0;
    return DropReason::kNone;
  }
  rules::Action worst = lost_worst_;
  for (uint32_t k = n_kept; k < n_pending_; ++k) {
    if (precedence(pending_[k].action) > precedence(worst)) worst = pending_[k].action;
  }
  if (worst == rules::Action::kReject) reject(m, headers, headers_len, rx_port, n_rejects);
  return worst == rules::Action::kDrop || worst == rules::Action::kReject ? DropReason::kSignature
                                                                          : DropReason::kNone;
}

template <Direction kDir>
DropReason Worker::inspect(uint16_t i, uint16_t rx_port, uint16_t& n_rejects) noexcept {
  const FlowLookup& fl = flows_[i];
  rte_mbuf* m = rx_[i];
  const PacketInfo& pkt = info_[i];
  const bool passed = filter_pass_[i];
  if (fl.entry == nullptr) {  // not IP, malformed, or the table refused it
    const bool refused = (pkt.l3 == L3::kIpv4 || pkt.l3 == L3::kIpv6) && (pkt.flags & kFlagMalformed) == 0;
    DropReason why = DropReason::kNone;
    if (refused && setup_.drop_table_full) {
      why = DropReason::kFlowTableFull;
    } else {
      if (refused) counters_.malformed_passed[static_cast<size_t>(DropReason::kFlowTableFull)].add(1);
      if (policy_ != nullptr && !passed) why = police_frame<kDir>(i);
    }
    cur_pkt_ = &pkt;
    n_pending_ = 0;
    n_lost_ = 0;
    add_filter_alerts(i);
    // Per-packet rules need no flow: a refused datagram that the policy let through is
    // still scanned (a TCP segment is not: its rules match the stream, which has no flow).
    if (refused && why == DropReason::kNone && !passed && pkt.ip_proto != ip_proto::kTcp &&
        (pkt.flags & kFlagHasL4) != 0) [[unlikely]] {
      why = scan_unflowed(m, kDir, rx_port, n_rejects);
    }
    if (n_pending_ != 0) emit_alerts(0, m, kDir, why != DropReason::kNone);
    return why;
  }
  FlowInspect& fi = inspect_[flow_table_->slot_of(fl.entry)];
  cur_pkt_ = &pkt;
  const uint8_t* headers = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t headers_len = m->data_len;
  if (m->nb_segs > 1) {
    headers_len = m->pkt_len < kHeaderScratch ? m->pkt_len : kHeaderScratch;
    headers = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, headers_len, header_scratch_));
  }
  n_pending_ = 0;
  n_lost_ = 0;
  lost_worst_ = rules::Action::kAlert;
  pass_matched_ = false;
  add_filter_alerts(i);
  const bool has_l4 = (pkt.flags & kFlagHasL4) != 0 && (pkt.flags & kFlagLaterFragment) == 0;
  const bool carries = pkt.ip_proto == ip_proto::kTcp && has_l4 &&
                       (pkt.payload_len != 0 || (pkt.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin | tcp_flag::kRst)) != 0);

  if (passed) {  // a pass filter: no policy, no scanning; the stream still follows the segment
    DropReason why = DropReason::kNone;
    if (carries && segment_usable(m, headers, pkt, why)) {
      scan_off_ = true;
      scan_tcp(fi, fl.from_lo ? 0 : 1, kDir, m, headers);
      scan_off_ = false;
    }
    if (n_pending_ != 0) emit_alerts(fl.entry->flow_id, m, kDir, false);
    return DropReason::kNone;
  }

  Policing policing = Policing::kForward;
  if (setup_.learn) {
    // An ICMP error of a flow not seen is an observation of its own, as enforcing judges it.
    if (fi.learn == LearnTable::kNone && is_icmp_error(pkt) && quoted_flow(pkt, headers, headers_len) == nullptr) {
      learn_flow(fi, pkt, kDir);
    }
    if (fi.learn != LearnTable::kNone) learn_->add_bytes(fi.learn, wire_[i]);
  } else if (policy_ != nullptr) {
    policing = police<kDir>(fi, pkt, headers, headers_len);
  }
  if (policing == Policing::kDrop) {  // the flow's policy alert went out with its first packet
    if (n_pending_ != 0) emit_alerts(fl.entry->flow_id, m, kDir, true);
    return DropReason::kPolicy;
  }
  if (policing == Policing::kDropAlert) {
    const bool reject_it = policy_->default_action == rules::PolicyDefault::kReject;
    add_pending(rules::kGidPolicy, policy_->default_sid, 1,
                reject_it ? rules::Action::kReject : rules::Action::kDrop, fi.midstream ? kAlertFlagMidStream : 0);
    emit_alerts(fl.entry->flow_id, m, kDir, true);
    if (reject_it) reject(m, headers, headers_len, rx_port, n_rejects);
    return DropReason::kPolicy;
  }
  if (policing == Policing::kForwardAlert) {
    add_pending(rules::kGidPolicy, policy_->default_sid, 1, rules::Action::kAlert,
                fi.midstream ? kAlertFlagMidStream : 0);
  }
  // Filter and policy alerts: they go out with the verdict whatever the scan finds.
  const uint32_t n_kept = n_pending_;
  const auto unscanned = [&](DropReason why) noexcept {
    if (n_kept != 0) emit_alerts(fl.entry->flow_id, m, kDir, why != DropReason::kNone);
    return why;
  };
  if (fi.state == FlowInspect::State::kBlocked) return unscanned(DropReason::kFlowBlocked);
  if (fi.state == FlowInspect::State::kPassed) return unscanned(DropReason::kNone);

  if (pkt.ip_proto == ip_proto::kTcp) {
    if (!has_l4) return unscanned(DropReason::kNone);  // a later fragment or a header cut by the capture
    if (carries) {
      DropReason why = DropReason::kNone;
      if (!segment_usable(m, headers, pkt, why)) return unscanned(why);
      scan_tcp(fi, fl.from_lo ? 0 : 1, kDir, m, headers);
    }
  } else if ((pkt.flags & kFlagLaterFragment) == 0) {
    scan_packet(m, headers, kDir);
  }

  if (pass_matched_) {  // stops inspection of the flow; its signature alerts of this packet are not logged
    fi.state = FlowInspect::State::kPassed;
    n_pending_ = n_kept;
    n_lost_ = 0;
    if (n_pending_ != 0) emit_alerts(fl.entry->flow_id, m, kDir, false);
    return DropReason::kNone;
  }
  if (n_pending_ == 0) return DropReason::kNone;
  rules::Action worst = lost_worst_;
  for (uint32_t k = 0; k < n_pending_; ++k) {
    if (precedence(pending_[k].action) > precedence(worst)) worst = pending_[k].action;
  }
  const bool drop = worst == rules::Action::kDrop || worst == rules::Action::kReject;
  emit_alerts(fl.entry->flow_id, m, kDir, drop);
  if (!drop) return DropReason::kNone;
  fi.state = FlowInspect::State::kBlocked;
  if (worst == rules::Action::kReject) reject(m, headers, headers_len, rx_port, n_rejects);
  // A signature's drop names the reason; otherwise the stream's own failure does.
  DropReason why = DropReason::kReassemblyOverflow;
  for (uint32_t k = n_kept; k < n_pending_; ++k) {
    if (pending_[k].gid != rules::kGidAnomalies) return DropReason::kSignature;
    if (pending_[k].sid == static_cast<uint32_t>(Anomaly::kDepthReached)) why = DropReason::kDepthReached;
  }
  return why;
}

template <Direction kDir, bool kReplay>
uint32_t Worker::forward(uint16_t rx_port, uint16_t tx_port) noexcept {
  DirectionCounters& c = counters_.dir[static_cast<size_t>(kDir)];
  // Datagrams of this direction whose time ran out give their fragments up first.
  if (reassembler_->held() != 0) [[unlikely]] {
    uint32_t n_dead = 0;
    reassembler_->expire(kDir, kReplay ? now_ : rte_rdtsc(), dead_, n_dead);
    c.dropped.add(bury_fragments(dead_, n_dead));
    sync_held();
  }
  const uint16_t n = rte_eth_rx_burst(rx_port, setup_.queue, rx_, setup_.burst);
  if (n == 0) {
    if (n_released_ != 0) [[unlikely]] send_released(kDir, tx_port);
    return 0;
  }
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
  uint16_t n_frags = 0;
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
    if (why == DropReason::kNone) {
      // A fragment the capture cut cannot be reassembled: it stays a frame of its own.
      constexpr uint8_t kWhole = kFlagFragment | kFlagSnapTruncated;
      if ((info_[i].flags & kWhole) == kFlagFragment) frags_[n_frags++] = i;
      continue;
    }
    info_[i].l3 = L3::kOther;
    info_[i].flags |= kFlagMalformed;
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

  // Anti-spoofing, before a spoofed frame can make a flow.
  if constexpr (kDir == Direction::kToCore) {
    if (!setup_.vendor_nets.empty()) n_dropped = static_cast<uint16_t>(n_dropped + drop_spoofed<kDir>(n));
  }

  // Stage 2c: IP fragments are held until their datagram is complete; the datagram takes
  // the place of the fragment that completed it and is inspected whole.
  const bool reshaped = n_frags != 0;
  if (n_frags != 0) [[unlikely]] n_dropped = static_cast<uint16_t>(n_dropped + reassemble<kDir, kReplay>(n_frags));

  // Stage 2b: the [[filter]] programs; dropped frames never make a flow.
  if (filters_ != nullptr) n_dropped = static_cast<uint16_t>(n_dropped + run_filters<kDir>(n));

  // Stage 3: flow lookup for the whole burst.
  if constexpr (kReplay) {
    flow_table_->lookup_or_create_burst({info_, n}, kDir, {wire_, n}, std::span<const uint64_t>(times_, n), {flows_, n});
  } else {
    flow_table_->lookup_or_create_burst({info_, n}, kDir, {wire_, n}, now_, {flows_, n});
  }

  // Stage 3b: created flows set up; undecided flows classified by the policy.
  admit<kDir>(n);

  // Stage 4: inspection and verdict, frame by frame in arrival order (a flow's segments
  // must reach its stream in order).
  uint16_t n_rejects = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (rx_[i] == nullptr) continue;
    const DropReason why = inspect<kDir>(i, rx_port, n_rejects);
    if (why == DropReason::kNone) continue;
    n_dropped = static_cast<uint16_t>(n_dropped + discard(i, why));
  }

  // Stage 5: send. The burst goes out as received unless frames were dropped from it;
  // reject frames for the far side follow it.
  rte_mbuf** out = rx_;
  uint16_t n_out = n;
  if (n_dropped != 0 || n_rejects != 0 || reshaped) [[unlikely]] {
    n_out = 0;
    for (uint16_t i = 0; i < n; ++i) {
      if (rx_[i] == nullptr) continue;
      if (whole_[i]) {  // the datagram goes out as the fragments that arrived
        whole_[i] = false;
        n_out = static_cast<uint16_t>(n_out + reassembler_->release(rx_[i], tx_ + n_out));
      } else {
        tx_[n_out++] = rx_[i];
      }
    }
    out = tx_;
  }
  const uint16_t n_fwd = n_out;
  if (n_rejects != 0) [[unlikely]] {
    std::memcpy(tx_ + n_out, rejects_, n_rejects * sizeof(rte_mbuf*));
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
  if (n_released_ != 0) [[unlikely]] send_released(kDir, tx_port);
  if (reshaped) [[unlikely]] sync_held();
  if (timed) record_latency(rte_rdtsc() - rx_tsc);
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
  if (sweeping_) [[unlikely]] sweep();
  return n;
}

uint32_t Worker::poll_once() noexcept {
  // The generation is read once per poll: every frame of the poll sees the same one.
  const Generation* gen = published_->load(std::memory_order_acquire);
  if (gen != gen_) [[unlikely]] adopt(gen);
  return setup_.timestamp_field >= 0 ? poll_both<true>() : poll_both<false>();
}

void Worker::run(const std::atomic<bool>& stop) noexcept {
  StreamStatePool::bind_to_this_thread(stream_pool_.get());
  rte_rcu_qsbr* const qsbr = setup_.qsbr;
  if (qsbr != nullptr) rte_rcu_qsbr_thread_online(qsbr, setup_.queue);
  uint64_t last = rte_rdtsc();
  while (!stop.load(std::memory_order_relaxed)) {
    const uint32_t n = poll_once();
    // Between polls the worker holds nothing it read from a generation it has not re-read.
    if (qsbr != nullptr) rte_rcu_qsbr_quiescent(qsbr, setup_.queue);
    const uint64_t now = rte_rdtsc();
    (n ? counters_.busy_cycles : counters_.idle_cycles).add(now - last);
    last = now;
  }
  if (qsbr != nullptr) rte_rcu_qsbr_thread_offline(qsbr, setup_.queue);
}

}  // namespace sentinel::dataplane

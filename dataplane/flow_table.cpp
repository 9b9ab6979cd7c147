// FlowTable: see flow_table.hpp. The constructor and destructor run on the control plane;
// everything else runs on the owning worker and must stay noexcept and allocation-free.
#include "dataplane/flow_table.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_random.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "dataplane/setup_error.hpp"
#include "dataplane/stream.hpp"

namespace sentinel::dataplane {

namespace {


// Bits of FlowEntry::tcp_seen.
constexpr uint8_t kSeenLo = 1U << 0;        // the lo endpoint sent a packet
constexpr uint8_t kSeenHi = 1U << 1;        // the hi endpoint sent a packet
constexpr uint8_t kSynAck = 1U << 2;        // the responder sent SYN+ACK
constexpr uint8_t kMidstream = 1U << 3;     // the first packet was not a bare SYN
constexpr uint8_t kFinLo = 1U << 4;
constexpr uint8_t kFinHi = 1U << 5;

uint32_t hash_crc(const void* key, uint32_t len, uint32_t init) { return rte_hash_crc(key, len, init); }

constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpv6EchoRequest = 128;
constexpr uint8_t kIcmpv6EchoReply = 129;
// FlowKey::pad[0] of echo flows, whose ends are ordered by role, not by address.
constexpr uint8_t kKeyEcho = 1;

}  // namespace

CanonicalKey make_flow_key(const PacketInfo& pkt) noexcept {
  CanonicalKey out{};
  FlowKey& k = out.key;
  k.ip_proto = pkt.ip_proto;
  k.l3 = pkt.l3;
  uint16_t sport = 0;
  uint16_t dport = 0;
  if ((pkt.flags & kFlagHasL4) != 0 && (pkt.ip_proto == ip_proto::kTcp || pkt.ip_proto == ip_proto::kUdp)) {
    sport = pkt.src_port;
    dport = pkt.dst_port;
  }
  const size_t alen = pkt.l3 == L3::kIpv4 ? 4 : 16;
  const bool icmp = pkt.ip_proto == ip_proto::kIcmp || pkt.ip_proto == ip_proto::kIcmpv6;
  if (icmp && (pkt.flags & kFlagHasL4) != 0) {
    const bool v4 = pkt.ip_proto == ip_proto::kIcmp;
    const bool request = pkt.icmp_type == (v4 ? kIcmpEchoRequest : kIcmpv6EchoRequest);
    const bool reply = pkt.icmp_type == (v4 ? kIcmpEchoReply : kIcmpv6EchoReply);
    if (request || reply) {
      // An echo flow: its identifier and the requester as `lo`, whatever the addresses'
      // order, so an echo request from the other end is a flow of its own and never
      // passes as a reply to this one (which the policy would then allow).
      std::memcpy(k.lo_ip.data(), request ? pkt.src_ip.data() : pkt.dst_ip.data(), alen);
      std::memcpy(k.hi_ip.data(), request ? pkt.dst_ip.data() : pkt.src_ip.data(), alen);
      k.lo_port = pkt.src_port;
      k.pad[0] = kKeyEcho;
      out.from_lo = request;
      return out;
    }
  }
  const int cmp = std::memcmp(pkt.src_ip.data(), pkt.dst_ip.data(), alen);
  const bool src_is_lo = cmp < 0 || (cmp == 0 && sport <= dport);
  // Copy only the address bytes in use: the rest of each key address stays 0.
  std::memcpy(k.lo_ip.data(), src_is_lo ? pkt.src_ip.data() : pkt.dst_ip.data(), alen);
  std::memcpy(k.hi_ip.data(), src_is_lo ? pkt.dst_ip.data() : pkt.src_ip.data(), alen);
  k.lo_port = src_is_lo ? sport : dport;
  k.hi_port = src_is_lo ? dport : sport;
  out.from_lo = src_is_lo;
  return out;
}

FlowTable::FlowTable(const FlowTableConfig& config) : capacity_(config.capacity) {
  if (config.capacity < kMinCapacity || config.capacity > kMaxCapacity) {
    throw std::invalid_argument("flow table capacity " + std::to_string(config.capacity) + " not in [" +
                                std::to_string(kMinCapacity) + ", " + std::to_string(kMaxCapacity) + "]");
  }
  if (config.worker_id >= (1U << kFlowIdWorkerBits)) {
    throw std::invalid_argument("flow table worker id " + std::to_string(config.worker_id) + " too large");
  }
  timeouts_[static_cast<size_t>(FlowState::kEmbryonic)] = config.timeout_embryonic;
  timeouts_[static_cast<size_t>(FlowState::kEstablished)] = config.timeout_established;
  timeouts_[static_cast<size_t>(FlowState::kClosed)] = config.timeout_closed;
  flow_id_base_ = static_cast<uint64_t>(config.worker_id) << kFlowIdCounterBits;
  if (config.counters != nullptr) counters_ = config.counters;

  // rte_hash names are process-wide and must be unique.
  static std::atomic<uint32_t> instance{0};
  const std::string name = "flows_w" + std::to_string(config.worker_id) + "_" + std::to_string(instance++);

  rte_hash_parameters params{};
  params.name = name.c_str();
  params.entries = config.capacity;
  params.key_len = sizeof(FlowKey);
  params.hash_func = hash_crc;
  // A random seed: the vendor side must not be able to aim collisions at one bucket.
  params.hash_func_init_val = static_cast<uint32_t>(rte_rand());
  params.socket_id = config.socket_id;
  // One writer (this worker) and no concurrent readers: no MULTI_WRITER_ADD, no
  // RW_CONCURRENCY. Extendable buckets guarantee that exactly `capacity` keys fit, and the
  // key position returned by add/lookup is then in [0, capacity).
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  hash_ = check_ptr(rte_hash_create(&params), "rte_hash_create(" + name + ")");

  entries_ = static_cast<FlowEntry*>(
      rte_zmalloc_socket(name.c_str(), sizeof(FlowEntry) * config.capacity, RTE_CACHE_LINE_SIZE, config.socket_id));
  if (entries_ == nullptr) {
    rte_hash_free(hash_);
    throw SetupError("rte_zmalloc_socket(" + name + " entries): " + rte_strerror(rte_errno));
  }
  for (uint32_t i = 0; i < capacity_; ++i) {
    entries_[i].emb_prev = kFlowNil;
    entries_[i].emb_next = kFlowNil;
  }
}

FlowTable::~FlowTable() {
  rte_free(entries_);
  rte_hash_free(hash_);
}

void FlowTable::emb_push_back(uint32_t slot) noexcept {
  FlowEntry& e = entries_[slot];
  e.emb_prev = emb_tail_;
  e.emb_next = kFlowNil;
  if (emb_tail_ != kFlowNil) {
    entries_[emb_tail_].emb_next = slot;
  } else {
    emb_head_ = slot;
  }
  emb_tail_ = slot;
}

void FlowTable::emb_unlink(uint32_t slot) noexcept {
  FlowEntry& e = entries_[slot];
  if (e.emb_prev != kFlowNil) {
    entries_[e.emb_prev].emb_next = e.emb_next;
  } else {
    emb_head_ = e.emb_next;
  }
  if (e.emb_next != kFlowNil) {
    entries_[e.emb_next].emb_prev = e.emb_prev;
  } else {
    emb_tail_ = e.emb_prev;
  }
  e.emb_prev = kFlowNil;
  e.emb_next = kFlowNil;
}

void FlowTable::remove_slot(uint32_t slot) noexcept {
  FlowEntry& e = entries_[slot];
  if (e.in_use == 0) return;
  if (hook_ != nullptr) hook_(hook_context_, slot);
  void* key = nullptr;
  if (rte_hash_get_key_with_position(hash_, static_cast<int32_t>(slot), &key) == 0) {
    // Cannot fail for a key that is present; the slot is released either way.
    (void)rte_hash_del_key(hash_, key);
  }
  if (e.state == FlowState::kEmbryonic) emb_unlink(slot);
  e.in_use = 0;
  --size_;
}

void FlowTable::remove(FlowEntry* entry) noexcept {
  if (entry == nullptr || entry->in_use == 0) return;
  remove_slot(index_of(entry));
  counters_->removed.add(1);
}

const FlowKey* FlowTable::key_of(const FlowEntry* entry) const noexcept {
  void* key = nullptr;
  if (entry == nullptr || entry->in_use == 0 ||
      rte_hash_get_key_with_position(hash_, static_cast<int32_t>(index_of(entry)), &key) != 0) {
    return nullptr;
  }
  return static_cast<const FlowKey*>(key);
}

uint32_t FlowTable::expire(uint64_t now_tsc, uint32_t budget) noexcept {
  uint32_t removed = 0;
  for (uint32_t i = 0; i < budget && i < capacity_; ++i) {
    const uint32_t slot = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 == capacity_ ? 0 : sweep_cursor_ + 1;
    if (entries_[slot].in_use != 0 && is_expired(entries_[slot], now_tsc)) {
      remove_slot(slot);
      counters_->expired.add(1);
      ++removed;
    }
  }
  return removed;
}

bool FlowTable::make_room(uint64_t now_tsc) noexcept {
  // 1. An expired flow near the sweep cursor (bounded scan).
  for (uint32_t i = 0; i < kEvictScan && i < capacity_; ++i) {
    const uint32_t slot = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 == capacity_ ? 0 : sweep_cursor_ + 1;
    const FlowEntry& e = entries_[slot];
    if (e.in_use != 0 && !pinned(e) && is_expired(e, now_tsc)) {
      remove_slot(slot);
      counters_->evicted_timeout.add(1);
      return true;
    }
  }
  // 2. The oldest embryonic flow (an expired one there counts as a timeout), skipping
  // flows the running burst has returned (at most a burst's worth, so bounded).
  for (uint32_t slot = emb_head_; slot != kFlowNil; slot = entries_[slot].emb_next) {
    if (pinned(entries_[slot])) continue;
    const bool expired = is_expired(entries_[slot], now_tsc);
    remove_slot(slot);
    (expired ? counters_->evicted_timeout : counters_->evicted_embryonic_pressure).add(1);
    return true;
  }
  // 3. Only established or closed flows that have not timed out: refuse.
  counters_->table_full.add(1);
  return false;
}

void FlowTable::account(FlowEntry& e, const PacketInfo& pkt, Direction dir, bool from_lo, uint32_t wire_bytes,
                        uint64_t now_tsc) noexcept {
  const auto d = static_cast<size_t>(dir);
  e.burst_gen = burst_gen_;
  e.last_seen = now_tsc;
  e.packets[d] += 1;
  e.bytes[d] += wire_bytes;
  e.tcp_seen |= from_lo ? kSeenLo : kSeenHi;
  if (e.state == FlowState::kClosed) return;

  const bool both_seen = (e.tcp_seen & (kSeenLo | kSeenHi)) == (kSeenLo | kSeenHi);
  FlowState next = e.state;
  if (pkt.ip_proto == ip_proto::kTcp && (pkt.flags & kFlagHasL4) != 0) {
    const uint8_t f = pkt.tcp_flags;
    const bool from_opener = from_lo == (e.opener_is_lo != 0);
    if ((f & tcp_flag::kRst) != 0) {
      next = FlowState::kClosed;
    } else {
      if ((f & tcp_flag::kFin) != 0) e.tcp_seen |= from_lo ? kFinLo : kFinHi;
      if ((e.tcp_seen & (kFinLo | kFinHi)) == (kFinLo | kFinHi)) {
        next = FlowState::kClosed;
      } else if (e.state == FlowState::kEmbryonic) {
        const bool syn = (f & tcp_flag::kSyn) != 0;
        const bool ack = (f & tcp_flag::kAck) != 0;
        if (!from_opener && syn && ack) e.tcp_seen |= kSynAck;
        if (both_seen && (((e.tcp_seen & kMidstream) != 0) ||
                          (from_opener && ack && !syn && (e.tcp_seen & kSynAck) != 0))) {
          next = FlowState::kEstablished;
        }
      }
    }
  } else if (e.state == FlowState::kEmbryonic && both_seen) {
    next = FlowState::kEstablished;
  }
  if (next != e.state) {
    if (e.state == FlowState::kEmbryonic) emb_unlink(index_of(&e));
    e.state = next;
  }
}

FlowEntry* FlowTable::find(const PacketInfo& pkt, uint64_t now_tsc) noexcept {
  if (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6) return nullptr;
  const CanonicalKey ck = make_flow_key(pkt);
  const int32_t pos = rte_hash_lookup(hash_, &ck.key);
  if (pos < 0 || static_cast<uint32_t>(pos) >= capacity_) return nullptr;
  FlowEntry& e = entries_[pos];
  return is_expired(e, now_tsc) ? nullptr : &e;
}

FlowLookup FlowTable::lookup_or_create(const PacketInfo& pkt, Direction dir, uint32_t wire_bytes,
                                       uint64_t now_tsc) noexcept {
  if (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6) return {nullptr, false, dir, false};
  const CanonicalKey ck = make_flow_key(pkt);
  const hash_sig_t sig = rte_hash_hash(hash_, &ck.key);

  int32_t pos = rte_hash_lookup_with_hash(hash_, &ck.key, sig);
  if (pos >= 0 && static_cast<uint32_t>(pos) < capacity_) {
    FlowEntry& e = entries_[pos];
    if (!is_expired(e, now_tsc)) {
      account(e, pkt, dir, ck.from_lo, wire_bytes, now_tsc);
      return {&e, false, dir, ck.from_lo};
    }
    remove_slot(static_cast<uint32_t>(pos));  // timed out: the packet starts a new flow
    counters_->expired.add(1);
  }

  if (size_ >= capacity_ && !make_room(now_tsc)) return {nullptr, false, dir, ck.from_lo};
  pos = rte_hash_add_key_with_hash(hash_, &ck.key, sig);
  if (pos < 0 || static_cast<uint32_t>(pos) >= capacity_) {
    // Not expected with extendable buckets and size_ < capacity_; refuse rather than fail.
    if (pos >= 0) (void)rte_hash_del_key_with_hash(hash_, &ck.key, sig);
    counters_->table_full.add(1);
    return {nullptr, false, dir, ck.from_lo};
  }
  const auto slot = static_cast<uint32_t>(pos);
  FlowEntry& e = entries_[slot];
  // Never 0: SIEM filters read a zero flow_id as "missing".
  if ((++next_flow_counter_ & ((uint64_t{1} << kFlowIdCounterBits) - 1)) == 0) ++next_flow_counter_;
  e.flow_id = flow_id_base_ | (next_flow_counter_ & ((uint64_t{1} << kFlowIdCounterBits) - 1));
  e.first_seen = now_tsc;
  e.last_seen = now_tsc;
  e.packets = {};
  e.bytes = {};
  e.state = FlowState::kEmbryonic;
  e.opener = dir;
  e.opener_is_lo = ck.from_lo ? 1 : 0;
  e.tcp_seen = 0;
  if (pkt.ip_proto == ip_proto::kTcp && (pkt.flags & kFlagHasL4) != 0 &&
      (pkt.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) != tcp_flag::kSyn) {
    e.tcp_seen = kMidstream;
  }
  e.in_use = 1;
  ++size_;
  emb_push_back(slot);
  counters_->created.add(1);
  account(e, pkt, dir, ck.from_lo, wire_bytes, now_tsc);
  return {&e, true, dir, ck.from_lo};
}

void FlowTable::lookup_or_create_burst(std::span<const PacketInfo> pkts, Direction dir,
                                       std::span<const uint32_t> wire_bytes, uint64_t now_tsc,
                                       std::span<FlowLookup> out) noexcept {
  lookup_or_create_burst(pkts, dir, wire_bytes, std::span<const uint64_t>(&now_tsc, 1), out);
}

void FlowTable::lookup_or_create_burst(std::span<const PacketInfo> pkts, Direction dir,
                                       std::span<const uint32_t> wire_bytes, std::span<const uint64_t> times,
                                       std::span<FlowLookup> out) noexcept {
  const size_t n = std::min({pkts.size(), wire_bytes.size(), out.size()});
  if (times.empty()) return;
  const auto time_of = [&times](size_t i) { return times.size() == 1 ? times[0] : times[i]; };
  last_gen_ = last_gen_ + 1 == 0 ? 1 : last_gen_ + 1;
  burst_gen_ = last_gen_;
  std::array<CanonicalKey, RTE_HASH_LOOKUP_BULK_MAX> keys;
  std::array<const void*, RTE_HASH_LOOKUP_BULK_MAX> key_ptrs;
  std::array<int32_t, RTE_HASH_LOOKUP_BULK_MAX> positions;
  std::array<uint16_t, RTE_HASH_LOOKUP_BULK_MAX> index;  // packet of each looked-up key
  for (size_t base = 0; base < n; base += RTE_HASH_LOOKUP_BULK_MAX) {
    const size_t chunk = std::min<size_t>(n - base, RTE_HASH_LOOKUP_BULK_MAX);
    uint32_t nkeys = 0;
    for (size_t i = 0; i < chunk; ++i) {
      const PacketInfo& pkt = pkts[base + i];
      out[base + i] = {nullptr, false, dir, false};
      if (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6) continue;
      keys[nkeys] = make_flow_key(pkt);
      key_ptrs[nkeys] = &keys[nkeys].key;
      index[nkeys] = static_cast<uint16_t>(i);
      ++nkeys;
    }
    if (nkeys == 0) continue;
    if (rte_hash_lookup_bulk(hash_, key_ptrs.data(), nkeys, positions.data()) != 0) {
      positions.fill(-ENOENT);  // cannot happen with valid arguments; take the scalar path
    }
    // The positions stay valid until the table changes (a flow created or removed); after
    // that the rest of the chunk goes through the scalar path.
    bool changed = false;
    for (uint32_t k = 0; k < nkeys; ++k) {
      const size_t i = base + index[k];
      const int32_t pos = positions[k];
      if (!changed && pos >= 0 && static_cast<uint32_t>(pos) < capacity_ &&
          !is_expired(entries_[pos], time_of(i))) {
        account(entries_[pos], pkts[i], dir, keys[k].from_lo, wire_bytes[i], time_of(i));
        out[i] = {&entries_[pos], false, dir, keys[k].from_lo};
        continue;
      }
      const uint32_t size_before = size_;
      const uint64_t created_before = counters_->created.get();
      out[i] = lookup_or_create(pkts[i], dir, wire_bytes[i], time_of(i));
      changed = changed || size_ != size_before || counters_->created.get() != created_before;
    }
  }
  burst_gen_ = 0;
}

}  // namespace sentinel::dataplane

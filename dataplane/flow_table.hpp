// FlowTable: one worker's table of flows. A flow is a canonical (direction-independent)
// 5-tuple, so both directions of a conversation find the same FlowEntry; the entry
// remembers which direction opened it, when it was first and last seen (TSC), its state and
// per-direction packet and byte counts. Keys live in an rte_hash (single writer, extendable
// buckets so that exactly `capacity` flows fit) that maps each key to a slot of an entry
// array preallocated at construction; the hash's key position is the slot index.
//
// Timeouts depend on the state (embryonic < established, closed shortest) and are applied
// lazily when a flow is looked up and by expire(), an incremental sweep that visits a
// bounded number of slots per call. When the table is full, a new flow takes the slot of an
// expired flow if a short bounded scan finds one, else the oldest embryonic flow (O(1):
// embryonic flows are kept in a creation-ordered list), else it is refused (table_full).
// Established flows are never evicted before they time out.
//
// Construction and destruction are [control] (may allocate and throw SetupError); every
// other member is [worker]: noexcept, no allocation, no locks, used by exactly one thread.
// The counters may be read by any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/counters.hpp"
#include "dataplane/packet.hpp"

struct rte_hash;

namespace sentinel::dataplane {

// The rte_hash key: the (address, port) pair that sorts lower is `lo`, so both directions
// of a flow give the same bytes. Padding is zeroed (the hash reads every byte).
struct FlowKey {
  std::array<uint8_t, 16> lo_ip;  // IPv4: first 4 bytes, the rest 0
  std::array<uint8_t, 16> hi_ip;
  uint16_t lo_port;               // TCP/UDP ports, host byte order; 0 for other protocols
  uint16_t hi_port;
  uint8_t ip_proto;
  L3 l3;                          // kIpv4 or kIpv6: keeps 10.0.0.1 apart from 0a00:0001::
  std::array<uint8_t, 2> pad;     // pad[0] 1: an ICMP echo flow (requester as lo, identifier as lo_port)

  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
static_assert(sizeof(FlowKey) == 40, "no implicit padding in the hashed key");

// Whether a packet travels from `lo` to `hi` of its canonical key.
// 8-aligned: rte_hash_crc reads the key in 8-byte words (an array of these is hashed in place).
struct alignas(8) CanonicalKey {
  FlowKey key;
  bool from_lo;
};

// [any] The canonical key of an IPv4/IPv6 packet. Ports are taken only for TCP and UDP with
// a parsed L4 header (kFlagHasL4); otherwise (later fragments, ...) they are 0. ICMP echo
// requests and replies key by identifier with the requester as `lo`; other ICMP messages
// by the address pair.
[[nodiscard]] CanonicalKey make_flow_key(const PacketInfo& pkt) noexcept;

enum class FlowState : uint8_t {
  kEmbryonic = 0,    // TCP without a completed handshake, or only one direction seen
  kEstablished = 1,  // both directions seen (TCP: handshake completed, or picked up mid-stream)
  kClosed = 2,       // TCP: an RST, or a FIN from each side
};
inline constexpr size_t kFlowStateCount = 3;

inline constexpr uint32_t kFlowNil = UINT32_MAX;

struct alignas(64) FlowEntry {
  uint64_t flow_id;       // unique per table and worker, < 2^51
  uint64_t first_seen;    // TSC
  uint64_t last_seen;     // TSC
  std::array<uint64_t, kDirectionCount> packets;  // indexed by Direction
  std::array<uint64_t, kDirectionCount> bytes;
  FlowState state;
  Direction opener;       // direction of the flow's first packet (kToCore: the vendor side opened it)
  uint8_t opener_is_lo;   // 1 when the opener is the key's `lo` endpoint
  uint8_t tcp_seen;       // bits of kTcpSeen*: handshake and teardown progress
  uint8_t in_use;
  uint32_t emb_prev;      // embryonic list (slot indices, kFlowNil ends it)
  uint32_t emb_next;
  uint32_t burst_gen;     // last lookup_or_create_burst() that returned this entry
};
static_assert(sizeof(FlowEntry) % 64 == 0, "entries start on cache lines");

struct FlowTableConfig {
  uint32_t capacity = 65536;            // flows; at least kMinCapacity
  uint32_t worker_id = 0;               // < 2^kFlowIdWorkerBits; goes into every flow_id
  int socket_id = -1;                   // NUMA socket of the hash and entries (-1: any)
  uint64_t timeout_embryonic = 0;       // TSC cycles of idleness per state; 0 never expires
  uint64_t timeout_established = 0;
  uint64_t timeout_closed = 0;
  // Where the table counts its events (e.g. the worker's WorkerCounters::flows); nullptr:
  // counters of its own. Must outlive the table.
  FlowTableCounters* counters = nullptr;
};

struct FlowLookup {
  FlowEntry* entry;  // nullptr: refused, the table is full of flows that may not be evicted
  bool created;
  Direction dir;     // the packet's direction (as passed in)
  bool from_lo;      // the packet travels from the key's `lo` endpoint: which end sent it
};

class FlowTable {
 public:
  static constexpr uint32_t kMinCapacity = 8;         // rte_hash needs one bucket's worth
  static constexpr uint32_t kMaxCapacity = 1u << 26;  // 4 GiB of entries at most
  static constexpr unsigned kFlowIdCounterBits = 40;
  static constexpr unsigned kFlowIdWorkerBits = 11;   // 40 + 11 = 51
  // Slots a full table scans for an expired flow before it evicts an embryonic one.
  static constexpr uint32_t kEvictScan = 16;

  // [control] Creates the hash and the entry array; throws SetupError (naming the call) on
  // failure or std::invalid_argument on a bad config.
  explicit FlowTable(const FlowTableConfig& config);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // [worker] Finds the packet's flow, creating it if needed (a flow found timed out is
  // replaced by a new one), then accounts the packet: last_seen, counts for `dir`
  // (`wire_bytes` added to bytes), and state changes from TCP flags. Only IPv4/IPv6
  // packets have flows: anything else returns {nullptr, false} (not counted as
  // table_full). The entry pointer is valid until the next call that may create a flow or
  // remove one (lookup_or_create, expire, remove): a later call may evict it.
  [[nodiscard]] FlowLookup lookup_or_create(const PacketInfo& pkt, Direction dir, uint32_t wire_bytes,
                                            uint64_t now_tsc) noexcept;

  // [worker] The same as lookup_or_create() for each packet of a burst, in order, with one
  // rte_hash_lookup_bulk per 64 packets for the flows that exist. All packets travel in
  // `dir` (a burst comes from one rx queue); `wire_bytes[i]` belongs to `pkts[i]`, and
  // `out[i]` receives its result. The three spans have the same length (extra elements of
  // `wire_bytes`/`out` are ignored, missing ones shorten the burst). Every entry returned
  // stays the packet's flow until the call returns: a flow one packet of the burst
  // touched is never evicted to make room for a later packet of the same burst (that
  // packet is refused instead when nothing else can go), so later stages may keep out[i].
  void lookup_or_create_burst(std::span<const PacketInfo> pkts, Direction dir, std::span<const uint32_t> wire_bytes,
                              uint64_t now_tsc, std::span<FlowLookup> out) noexcept;
  // [worker] The same with a time per packet (`times[i]` for `pkts[i]`; a single element
  // applies to all), for replay, where a burst may span a jump of the capture's clock. The
  // times must not decrease along the burst.
  void lookup_or_create_burst(std::span<const PacketInfo> pkts, Direction dir, std::span<const uint32_t> wire_bytes,
                              std::span<const uint64_t> times, std::span<FlowLookup> out) noexcept;

  // [worker] Finds a flow without creating or accounting anything; nullptr if absent or
  // timed out (a timed-out flow is left for expire() or the next lookup_or_create()).
  [[nodiscard]] FlowEntry* find(const PacketInfo& pkt, uint64_t now_tsc) noexcept;

  // [worker] Visits at most `budget` slots, continuing where the previous call stopped,
  // and removes the flows that timed out. Returns how many were removed.
  uint32_t expire(uint64_t now_tsc, uint32_t budget) noexcept;

  // [worker] Removes a flow (e.g. after the verdict stage closes it for good).
  void remove(FlowEntry* entry) noexcept;

  // [worker] The slot of an entry: an index in [0, capacity()) that stays the flow's for
  // its lifetime, for per-flow state kept beside the table.
  [[nodiscard]] uint32_t slot_of(const FlowEntry* e) const noexcept { return index_of(e); }

  // Called with a flow's slot just before the flow leaves the table (expiry, eviction,
  // remove()), so state kept beside the table can be released. [worker] noexcept.
  using RemoveHook = void (*)(void* context, uint32_t slot) noexcept;
  // [control] Installs the hook (nullptr: none).
  void set_remove_hook(RemoveHook hook, void* context) noexcept {
    hook_ = hook;
    hook_context_ = context;
  }

  // [worker] The entry's canonical key.
  [[nodiscard]] const FlowKey* key_of(const FlowEntry* entry) const noexcept;

  // [worker] True when the flow has been idle longer than its state's timeout.
  [[nodiscard]] bool is_expired(const FlowEntry& e, uint64_t now_tsc) const noexcept {
    const uint64_t t = timeouts_[static_cast<size_t>(e.state)];
    return t != 0 && now_tsc - e.last_seen > t;
  }

  [[nodiscard]] uint32_t size() const noexcept { return size_; }
  [[nodiscard]] uint32_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] const FlowTableCounters& counters() const noexcept { return *counters_; }

 private:
  [[nodiscard]] uint32_t index_of(const FlowEntry* e) const noexcept {
    return static_cast<uint32_t>(e - entries_);
  }
  void remove_slot(uint32_t slot) noexcept;
  [[nodiscard]] bool make_room(uint64_t now_tsc) noexcept;
  [[nodiscard]] bool pinned(const FlowEntry& e) const noexcept { return burst_gen_ != 0 && e.burst_gen == burst_gen_; }
  void emb_push_back(uint32_t slot) noexcept;
  void emb_unlink(uint32_t slot) noexcept;
  void account(FlowEntry& e, const PacketInfo& pkt, Direction dir, bool from_lo, uint32_t wire_bytes,
               uint64_t now_tsc) noexcept;

  rte_hash* hash_ = nullptr;
  FlowEntry* entries_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  uint32_t sweep_cursor_ = 0;
  uint32_t emb_head_ = kFlowNil;  // oldest embryonic flow
  uint32_t emb_tail_ = kFlowNil;
  uint64_t flow_id_base_ = 0;
  uint64_t next_flow_counter_ = 0;
  uint32_t burst_gen_ = 0;  // generation of the running burst; 0 outside a burst
  uint32_t last_gen_ = 0;
  std::array<uint64_t, kFlowStateCount> timeouts_{};
  FlowTableCounters own_counters_;
  FlowTableCounters* counters_ = &own_counters_;
  RemoveHook hook_ = nullptr;
  void* hook_context_ = nullptr;
};

}  // namespace sentinel::dataplane

// Worker: one lcore's run-to-completion loop. Rx queue q of the vendor port goes to tx
// queue q of the core port (to_core) and rx queue q of the core port back to tx queue q of
// the vendor port (to_vendor). Each burst goes through staged passes — parse, flow lookup,
// inspection (TCP streams and per-packet payloads against the RuleSet), verdict, send — and
// every frame is either forwarded or dropped with a counted reason, never lost uncounted.
//
// The per-packet path allocates nothing, takes no lock, makes no syscall, logs nothing and
// throws nothing: flows, stream buffers and Hyperscan stream state are preallocated when
// the worker is built, alerts leave through a ring. Live mode runs run() on a worker lcore;
// replay calls poll_once() from the main thread — the same code either way.
#pragma once

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "config/config.hpp"
#include "config/limits.hpp"
#include "dataplane/alert_ring.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/flow_table.hpp"
#include "dataplane/fragments.hpp"
#include "dataplane/generation.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/policy_state.hpp"
#include "dataplane/reserved.hpp"
#include "dataplane/stream.hpp"
#include "dataplane/stream_pool.hpp"
#include "rules/matcher.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"

namespace sentinel::dataplane {

inline constexpr uint16_t kMaxBurst = config::kMaxBurst;
// Bytes of a chained (multi-segment) mbuf copied out so headers can be parsed contiguously.
inline constexpr uint32_t kHeaderScratch = 512;
// One burst in this many (a power of two) is timed from rx to tx for the latency histogram.
inline constexpr uint32_t kLatencySampleEvery = 64;
static_assert((kLatencySampleEvery & (kLatencySampleEvery - 1)) == 0, "a power of two");
// Flow-table slots visited per poll for expired flows.
inline constexpr uint32_t kExpireBudget = 64;
// Flow slots visited per poll, after a reload, for idle flows whose streams still pin the
// previous generation (a full pass takes capacity / kSweepBudget polls).
inline constexpr uint32_t kSweepBudget = 64;

inline constexpr size_t kLatencyBounds = kLatencyBoundsUs.size();

struct WorkerSetup {
  uint16_t vendor_port = 0;
  uint16_t core_port = 0;
  uint16_t queue = 0;
  uint16_t burst = 32;
  bool drop_malformed_to_core = true;     // [failure] malformed_vendor = "drop"
  bool drop_malformed_to_vendor = false;  // [failure] malformed_core = "drop"
  bool drop_bad_checksum = false;         // [failure] bad_checksum = "drop"
  bool drop_reassembly_overflow = false;  // [failure] reassembly_overflow = "drop"
  bool drop_depth_reached = false;        // [failure] depth_reached = "drop"
  config::FlowsConfig flows;
  // Live mode: the published generation (dataplane/ruleset.hpp), read once per poll, and
  // the RCU variable the worker reports its quiescent state to once per loop (thread id =
  // queue). Both null: the worker inspects with the parts below, for good (replay, tests).
  const std::atomic<const Generation*>* published = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  // The signatures; nullptr = none (flows are still tracked and streams reassembled). The
  // control plane keeps the RuleSet alive for as long as the worker exists.
  const rules::RuleSet* rules = nullptr;
  // The communication policy (nullptr: the stage is off); in enforce mode its classifier,
  // in learn mode (`learn`) none: flows are recorded, never judged. Both outlive the worker.
  const rules::Policy* policy = nullptr;
  const rules::PolicyClassifier* classifier = nullptr;
  bool learn = false;
  // Anti-spoofing on the vendor port when not empty ([network] vendor_nets); outlives the worker.
  std::span<const config::Cidr> vendor_nets;
  bool drop_spoofed = true;  // [failure] spoofed_source = "drop"
  // [failure] flow_table_full = "drop": an IP frame whose new flow the full table refused
  // is dropped; otherwise it is judged on its own (filters, policy, per-packet signatures).
  bool drop_table_full = false;
  // IP reassembly limits, and the fragment causes ([failure] frag_*) that pass instead of
  // drop: bit (reason - DropReason::kFragOverlap).
  config::FragmentsConfig fragments;
  uint32_t pass_fragments = 0;
  // The [[filter]] programs (nullptr: none); outlive the worker. Each filter's alerts per
  // second on this worker: [rules] filter_alerts_per_second shared out over the workers.
  const FilterSet* filters = nullptr;
  uint32_t filter_alerts_per_second = 100;
  // Replay only (else -1): offsets of mbuf dynfields holding the frame's length on the wire
  // (uint32_t; captures may be cut by a snaplen), its capture time (ns since the epoch,
  // uint64_t; the worker's clock then) and its 1-based number in the capture (uint64_t).
  int wire_len_field = -1;
  int timestamp_field = -1;
  int frame_number_field = -1;
};

// [control] The setup of the worker polling `queue` of both ports, from the configuration.
[[nodiscard]] WorkerSetup worker_setup(const config::Config& config, uint16_t vendor_port,
                                       uint16_t core_port, uint16_t queue, const Inspection& inspection) noexcept;

// A flow's standing with the communication policy, decided on its first packet.
enum class PolicyState : uint8_t {
  kUndecided,     // not yet classified (or an ICMP error flow, judged packet by packet)
  kQueued,        // classification pending in this burst
  kAllowed,       // an [[allow]] permits it (or learn mode)
  kNewViolation,  // none permits it; its next packet raises the alert
  kViolation,     // none permits it, forwarded (default allow or alert)
  kDenied,        // none permits it, default drop/reject: every packet dropped (reason policy)
};

// A flow judged again by a reloaded policy, and what it was: only a changed outcome is
// counted (sentinel_policy_flows_total) and alerted.
enum class Rejudge : uint8_t { kNo, kWasAllowed, kWasViolation };

// What inspection keeps per flow, beside the flow table's entry (same slot).
struct alignas(64) FlowInspect {
  enum class State : uint8_t {
    kInspecting,  // scanned
    kPassed,      // a pass rule matched, or inspection stopped (overflow): forwarded unscanned
    kBlocked,     // a drop/reject verdict: every later packet is dropped
  };
  // First: every packet reads these before anything else.
  State state = State::kInspecting;
  uint8_t scan_failed = 0;  // bit per stream: a Hyperscan call failed, scanning stopped
  PolicyState policy = PolicyState::kUndecided;
  bool midstream = false;   // TCP first seen without its SYN (for the policy alert)
  Rejudge rejudge = Rejudge::kNo;
  uint32_t learn = LearnTable::kNone;  // learn mode: the flow's observation
  uint32_t generation = 0;  // the generation that judged the flow (low 32 bits)
  // The generation's worker state the open streams in `hs` count against; null when none is open.
  GenerationWorker* streams_owner = nullptr;
  // By the sending endpoint (0: the flow key's `lo` end), not by side: a replayed capture
  // may put both ends of a flow on one side.
  std::array<rules::Stream, 2> hs;
  std::array<StreamDirection, 2> stream;
};

class alignas(64) Worker {
 public:
  // [control] Builds the flow table, inspection state, stream-state pool, Hyperscan scratch
  // and alert ring. `id` numbers the worker (flow ids, ring names). Throws SetupError.
  Worker(const WorkerSetup& setup, uint32_t id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // [worker] Polls both rx queues once. Returns the number of frames received.
  uint32_t poll_once() noexcept;
  // [worker thread, between polls] The input ended (replay): every datagram still being
  // reassembled is given up as timed out — its fragments dropped or, per [failure]
  // frag_timeout, sent — so that every frame received is accounted for.
  void give_up_fragments() noexcept;
  // [worker] Polls until `stop` becomes true.
  void run(const std::atomic<bool>& stop) noexcept;

  // [any] This worker's counters; read them with Counter::get().
  [[nodiscard]] const WorkerCounters& counters() const noexcept { return counters_; }
  // [control] The ring its alerts leave through.
  [[nodiscard]] AlertRing& alerts() noexcept { return *alert_ring_; }
  // [any] Learn mode's observations; nullptr unless learning.
  [[nodiscard]] const LearnTable* learn_table() const noexcept { return learn_.get(); }
  // [owner] The generation inspected with since the last poll.
  [[nodiscard]] const Generation& generation() const noexcept { return *gen_; }
  // [owner] Flows each [[allow]] of that generation permitted, by allow index (empty without a policy).
  [[nodiscard]] std::span<const Counter> allow_hits() const noexcept {
    return {gw_->allow_hits.get(), gen_->allow_count()};
  }
  // [owner] Frames each [[filter]] of that generation matched, by filter index (empty without filters).
  [[nodiscard]] std::span<const Counter> filter_hits() const noexcept {
    return {gw_->filter_hits.get(), gen_->filter_count()};
  }

 private:
  struct Pending {
    uint32_t gid;
    uint32_t sid;
    uint32_t rev;
    rules::Action action;
    uint8_t flags;        // kAlertFlag*
    uint32_t suppressed;  // filters: alerts of the filter held back since its last one
  };
  // An alert-action filter match of a burst frame, written with the frame's verdict.
  struct FilterAlert {
    uint16_t filter;
    uint32_t suppressed;
  };
  // What the policy does with one packet of an IP flow.
  enum class Policing : uint8_t { kForward, kForwardAlert, kDrop, kDropAlert };
  struct StreamSink;

  template <Direction kDir, bool kReplay>
  uint32_t forward(uint16_t rx_port, uint16_t tx_port) noexcept;
  template <bool kReplay>
  uint32_t poll_both() noexcept;
  template <Direction kDir>
  DropReason inspect(uint16_t i, uint16_t rx_port, uint16_t& n_rejects) noexcept;
  template <Direction kDir>
  uint16_t drop_spoofed(uint16_t n) noexcept;
  template <Direction kDir>
  uint16_t run_filters(uint16_t n) noexcept;
  template <Direction kDir, bool kReplay>
  uint16_t reassemble(uint16_t n_frags) noexcept;
  uint16_t bury_fragments(const DeadFragment* dead, uint32_t n) noexcept;
  uint16_t discard(uint16_t i, DropReason why) noexcept;
  void send_released(Direction dir, uint16_t tx_port) noexcept;
  void sync_held() noexcept;
  bool filter_alert(uint16_t filter, uint32_t& suppressed) noexcept;
  bool segment_usable(rte_mbuf* m, const uint8_t* headers, const PacketInfo& pkt, DropReason& why) noexcept;
  void add_filter_alerts(uint16_t i) noexcept;
  template <Direction kDir>
  void admit(uint16_t n) noexcept;
  void decide(FlowInspect& fi, uint32_t allow) noexcept;
  template <Direction kDir>
  Policing police(FlowInspect& fi, const PacketInfo& pkt, const uint8_t* headers, uint32_t headers_len) noexcept;
  template <Direction kDir>
  DropReason police_frame(uint16_t i) noexcept;
  template <Direction kDir>
  DropReason police_unflowed(uint16_t i) noexcept;
  void policy_violation(const PacketInfo& pkt, const rte_mbuf* m, Direction dir, bool drop) noexcept;
  [[nodiscard]] bool is_exempt(const PacketInfo& pkt) const noexcept;
  [[nodiscard]] const FlowEntry* quoted_flow(const PacketInfo& pkt, const uint8_t* headers,
                                             uint32_t headers_len) noexcept;
  void learn_flow(FlowInspect& fi, const PacketInfo& pkt, Direction dir) noexcept;
  void scan_tcp(FlowInspect& fi, size_t end, Direction dir, rte_mbuf* m, const uint8_t* headers) noexcept;
  void scan_packet(rte_mbuf* m, const uint8_t* headers, Direction dir) noexcept;
  DropReason scan_unflowed(rte_mbuf* m, Direction dir, uint16_t rx_port, uint16_t& n_rejects) noexcept;
  void on_rule(const rules::CompiledRule& rule, Direction dir) noexcept;
  void add_pending(uint32_t gid, uint32_t sid, uint32_t rev, rules::Action action, uint8_t flags = 0,
                   uint32_t suppressed = 0) noexcept;
  [[nodiscard]] AlertRecord alert_base(const rte_mbuf* m, Direction dir, bool dropped) const noexcept;
  void emit_alerts(uint64_t flow_id, const rte_mbuf* m, Direction dir, bool dropped) noexcept;
  void reject(rte_mbuf* m, const uint8_t* headers, uint32_t headers_len, uint16_t rx_port,
              uint16_t& n_rejects) noexcept;
  const uint8_t* payload_of(rte_mbuf* m, const uint8_t* headers, uint32_t& len) noexcept;
  void reset_flow(uint32_t slot) noexcept;
  void close_streams(FlowInspect& fi) noexcept;
  void migrate(FlowInspect& fi) noexcept;
  void adopt(const Generation* gen) noexcept;
  void sweep() noexcept;
  static void on_flow_removed(void* self, uint32_t slot) noexcept;
  [[nodiscard]] uint32_t wire_len_of(const rte_mbuf* m) const noexcept;
  [[nodiscard]] uint64_t alert_time_ns(const rte_mbuf* m) const noexcept;

  void record_latency(uint64_t cycles) noexcept;

  WorkerCounters counters_;
  WorkerSetup setup_;
  std::array<uint64_t, kLatencyBounds> latency_bounds_cycles_{};  // kLatencyBoundsUs in TSC cycles
  uint32_t bursts_ = 0;
  uint64_t now_ = 0;         // flow clock: TSC (live) or capture ns (replay), never backwards
  uint64_t wall_ns_at_tsc0_ = 0;  // live alert timestamps: wall clock at tsc0_
  uint64_t tsc0_ = 0;
  double ns_per_tsc_ = 0;

  std::unique_ptr<FlowTable> flow_table_;
  std::unique_ptr<FlowInspect[]> inspect_;
  Reserved<uint8_t> ooo_;                   // reassembly buffers: 2 per flow slot (one per end)
  Reserved<uint64_t> items_;                // item bitmaps: 2 per flow slot
  size_t item_words_ = 0;
  std::unique_ptr<StreamStatePool> stream_pool_;
  std::unique_ptr<AlertRing> alert_ring_;
  std::unique_ptr<Reassembler> reassembler_;

  // The generation inspected with (see WorkerSetup::published) and its parts, cached.
  std::unique_ptr<Generation> own_generation_;  // without a published one
  std::atomic<const Generation*> own_published_{nullptr};
  const std::atomic<const Generation*>* published_ = nullptr;
  const Generation* gen_ = nullptr;
  GenerationWorker* gw_ = nullptr;
  const rules::RuleSet* rules_ = nullptr;
  const rules::Policy* policy_ = nullptr;
  const rules::PolicyClassifier* classifier_ = nullptr;
  const FilterSet* filters_ = nullptr;
  uint32_t sweep_next_ = 0;  // the next slot the sweep visits
  bool sweeping_ = false;    // a sweep pass is under way

  // Communication policy.
  std::unique_ptr<LearnTable> learn_;
  std::unique_ptr<L2AlertLimiter> l2_limiter_;
  // [[filter]] stage.
  uint64_t second_ = 0;                   // flow-clock ticks per second
  bool scan_off_ = false;                 // the frame being inspected skips scanning (filter pass)
  bool filter_pass_[kMaxBurst] = {};      // a pass filter matched the frame (written by run_filters only)
  uint8_t n_filter_alerts_[kMaxBurst] = {};
  FilterAlert filter_alerts_[kMaxBurst][config::kMaxAlertsPerPacket];
  rules::PolicyQuery queries_[2 * kMaxBurst];  // undecided flows of a burst: both orientations when mid-stream
  uint32_t allow_of_[2 * kMaxBurst];
  uint16_t query_pkt_[2 * kMaxBurst];          // the burst index each query belongs to

  // The packet being inspected, for the match callbacks.
  const PacketInfo* cur_pkt_ = nullptr;
  Pending pending_[config::kMaxAlertsPerPacket];
  uint32_t n_pending_ = 0;
  uint16_t lost_[kAlertSourceCount][kAlertActionCount] = {};  // beyond pending_, by source and action
  uint32_t n_lost_ = 0;
  rules::Action lost_worst_ = rules::Action::kAlert;
  bool pass_matched_ = false;

  PacketInfo info_[kMaxBurst];
  FlowLookup flows_[kMaxBurst];
  uint32_t wire_[kMaxBurst];
  uint64_t times_[kMaxBurst];  // replay: each frame's capture time, never decreasing
  rte_mbuf* rx_[kMaxBurst];
  // Forwarded frames (a reassembled datagram stands for up to all of its fragments), then
  // reject frames for the far side.
  rte_mbuf* tx_[kMaxBurst * (Reassembler::kMaxFragmentsPerDatagram + 1)];
  rte_mbuf* rejects_[kMaxBurst];
  uint16_t slow_[kMaxBurst];  // burst indexes the common-case parse did not take
  uint16_t frags_[kMaxBurst];  // burst indexes of IP fragments
  bool whole_[kMaxBurst] = {};  // the slot holds a reassembled datagram (copies) for its fragments
  // Fragments that could not make a datagram and that [failure] passes: sent after the burst.
  rte_mbuf* released_[kMaxBurst * Reassembler::kMaxDeadPerAdd + Reassembler::kMaxDeadPerExpire];
  uint32_t n_released_ = 0;
  DeadFragment dead_[Reassembler::kMaxDeadPerExpire];
  static_assert(Reassembler::kMaxDeadPerExpire >= Reassembler::kMaxDeadPerAdd);
  alignas(64) uint8_t header_scratch_[kHeaderScratch];
  alignas(64) uint8_t payload_scratch_[65536];  // a chained mbuf's payload, made contiguous
};

}  // namespace sentinel::dataplane

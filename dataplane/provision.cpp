// A worker's state, built and torn down on the control plane (see worker.hpp): the flow
// table, the per-flow inspection arrays, the stream-state pool, Hyperscan scratch and the
// alert ring. Everything here may allocate and throw; nothing here runs per packet.
#include <rte_cycles.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <iterator>
#include <string>

#include "dataplane/setup_error.hpp"
#include "dataplane/worker.hpp"

namespace sentinel::dataplane {

WorkerSetup worker_setup(const config::Config& config, uint16_t vendor_port, uint16_t core_port,
                         uint16_t queue, const Inspection& inspection) noexcept {
  WorkerSetup setup;
  setup.vendor_port = vendor_port;
  setup.core_port = core_port;
  setup.queue = queue;
  setup.burst = static_cast<uint16_t>(config.dataplane.burst_size);
  setup.drop_malformed_to_core = config.failure.malformed_vendor == config::FailAction::kDrop;
  setup.drop_malformed_to_vendor = config.failure.malformed_core == config::FailAction::kDrop;
  setup.drop_bad_checksum = config.failure.bad_checksum == config::FailAction::kDrop;
  setup.drop_reassembly_overflow = config.failure.reassembly_overflow == config::FailAction::kDrop;
  setup.drop_depth_reached = config.failure.depth_reached == config::FailAction::kDrop;
  setup.flows = config.flows;
  setup.rules = inspection.rules;
  setup.policy = inspection.policy;
  setup.classifier = inspection.classifier;
  setup.learn = inspection.learn;
  setup.vendor_nets = config.network.vendor_nets;
  setup.drop_spoofed = config.failure.spoofed_source == config::FailAction::kDrop;
  setup.drop_table_full = config.failure.flow_table_full == config::FailAction::kDrop;
  setup.fragments = config.fragments;
  const config::FailureConfig& f = config.failure;
  const config::FailAction fragment_actions[] = {f.frag_overlap, f.frag_too_many, f.frag_oversize, f.frag_timeout,
                                                 f.frag_table_full};
  static_assert(std::size(fragment_actions) ==
                static_cast<size_t>(DropReason::kFragTableFull) - static_cast<size_t>(DropReason::kFragOverlap) + 1);
  for (size_t k = 0; k < std::size(fragment_actions); ++k) {
    if (fragment_actions[k] == config::FailAction::kPass) setup.pass_fragments |= 1u << k;
  }
  setup.filters = inspection.filters;
  // Each worker gets an even share of the budget, at least one alert a second.
  const uint32_t share = config.rules.filter_alerts_per_second / config.dataplane.workers;
  setup.filter_alerts_per_second = share != 0 ? share : 1;
  return setup;
}

Worker::Worker(const WorkerSetup& setup, uint32_t id) : setup_(setup) {
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  const double cycles_per_us = tsc_hz / 1e6;
  for (size_t b = 0; b < kLatencyBounds; ++b) {
    latency_bounds_cycles_[b] = static_cast<uint64_t>(kLatencyBoundsUs[b] * cycles_per_us);
  }
  tsc0_ = rte_rdtsc();
  wall_ns_at_tsc0_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count());
  ns_per_tsc_ = 1e9 / tsc_hz;

  const config::FlowsConfig& fl = setup_.flows;
  // The flow clock: capture nanoseconds in replay, TSC cycles live.
  const double ticks_per_second = setup_.timestamp_field >= 0 ? 1e9 : tsc_hz;
  FlowTableConfig ft;
  ft.capacity = fl.capacity;
  ft.worker_id = id;
  ft.socket_id = static_cast<int>(rte_socket_id());
  ft.timeout_embryonic = static_cast<uint64_t>(fl.timeout_embryonic * ticks_per_second);
  ft.timeout_established = static_cast<uint64_t>(fl.timeout_established * ticks_per_second);
  ft.timeout_closed = static_cast<uint64_t>(fl.timeout_closed * ticks_per_second);
  ft.counters = &counters_.flows;
  flow_table_ = std::make_unique<FlowTable>(ft);
  flow_table_->set_remove_hook(&Worker::on_flow_removed, this);
  counters_.flow_capacity.add(fl.capacity);

  inspect_.reset(new FlowInspect[fl.capacity]);
  // Untouched pages of these stay unbacked: only flows that carry data touch their share.
  ooo_ = Reserved<uint8_t>(size_t{fl.capacity} * 2 * fl.reassembly_buffer, "reassembly buffers");
  // Room for the largest item bitmap any generation may bring: its stream state and bitmap
  // must fit [flows] stream_state_max together (load_signatures checks).
  item_words_ = fl.stream_state_max / sizeof(uint64_t);
  items_ = Reserved<uint64_t>(size_t{fl.capacity} * 2 * item_words_, "item bitmaps");
  stream_pool_ = std::make_unique<StreamStatePool>(fl.capacity * 2, fl.stream_state_max);
  if (setup_.published != nullptr) {
    published_ = setup_.published;
  } else {
    own_generation_ = std::make_unique<Generation>(
        1, "", Inspection{setup_.rules, setup_.policy, setup_.classifier, setup_.learn, setup_.filters}, 1);
    own_published_.store(own_generation_.get(), std::memory_order_release);
    published_ = &own_published_;
  }
  adopt(published_->load(std::memory_order_acquire));
  alert_ring_ = std::make_unique<AlertRing>("alerts_w" + std::to_string(id), config::kAlertRingSize);

  if (policy_ != nullptr && !setup_.learn && classifier_ == nullptr) {
    throw SetupError("worker: an enforced policy needs its classifier");
  }
  // Learn mode is fixed for the worker's life (a reload cannot switch it); the L2 limiter is
  // there whenever a later generation may bring a policy.
  static std::atomic<uint32_t> instance{0};
  const std::string suffix = "_w" + std::to_string(id) + "_" + std::to_string(instance++);
  if (setup_.learn) learn_ = std::make_unique<LearnTable>(config::kLearnTableSize, "learn" + suffix);
  if (policy_ != nullptr || setup_.published != nullptr) {
    l2_limiter_ = std::make_unique<L2AlertLimiter>(
        "l2alert" + suffix, static_cast<uint64_t>(fl.timeout_embryonic * ticks_per_second));
  }
  second_ = static_cast<uint64_t>(ticks_per_second);
  reassembler_ = std::make_unique<Reassembler>(setup_.fragments, second_, static_cast<int>(rte_socket_id()));
}

Worker::~Worker() {
  // Streams hand their state back to this worker's pool, whichever thread runs this.
  StreamStatePool::bind_to_this_thread(stream_pool_.get());
  flow_table_.reset();  // before the inspection state its hook resets
  for (uint32_t s = 0; s < setup_.flows.capacity; ++s) close_streams(inspect_[s]);
  StreamStatePool::bind_to_this_thread(nullptr);
}

}  // namespace sentinel::dataplane

// Prometheus metrics. Everything is read at scrape time: a MetricsSnapshot is taken from the
// workers' counters, the ports' statistics and /proc, then turned into metric families. The
// worker loop never touches prometheus-cpp, so a scrape costs the same at any packet rate.
// Labels are bounded: ports, directions, verdicts, drop reasons and worker ids only.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/counters.hpp"
#include "rules/policy.hpp"

namespace prometheus {
class Exposer;
}

namespace sentinel::dataplane {

struct PortSnapshot {
  std::string side;  // "vendor" | "core"
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_dropped = 0;  // NIC misses (imissed); af_packet cannot report them
  uint64_t rx_errors = 0;
  uint64_t rx_nombuf = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
  bool up = false;
};

struct WorkerTimes {
  double busy_seconds = 0;
  double idle_seconds = 0;
};

// The running rule set and its reloads.
struct RulesetSnapshot {
  uint64_t generation = 1;
  std::string hash;
  double last_reload_time = 0;  // unix seconds; 0 = no reload yet
  bool last_reload_success = true;
  uint64_t reloads_success = 0;
  uint64_t reloads_failure = 0;
  uint64_t retired_pending = 0;  // replaced generations still referenced
};

struct MetricsSnapshot {
  std::string version;
  std::string dpdk_version;
  std::string hyperscan_version;
  bool jit = false;
  std::vector<PortSnapshot> ports;
  Totals totals;                     // all workers
  std::vector<WorkerTimes> workers;  // by worker index
  double latency_sum_seconds = 0;    // of the sampled bursts in totals.latency_*
  double process_start_time_seconds = 0;
  double process_cpu_seconds = 0;
  double process_resident_bytes = 0;
  uint64_t signatures_loaded = 0;
  uint64_t allows_loaded = 0;       // [[allow]] tables of the running policy
  uint64_t filters_loaded = 0;      // [[filter]] tables
  uint64_t alert_write_errors = 0;  // alerts the EVE writer could not write
  RulesetSnapshot ruleset;
};

// [any] The metric families of a snapshot, in a fixed order. Pure: the unit test feeds it
// known values and compares the exposition text.
[[nodiscard]] std::vector<prometheus::MetricFamily> metric_families(const MetricsSnapshot& s);

// [control] The facts that do not change while running: versions, JIT availability.
[[nodiscard]] MetricsSnapshot build_facts();
// [control] `facts` plus everything read now: both ports through ethdev, the workers'
// counters (TSC cycles turned into seconds) and this process from /proc.
[[nodiscard]] MetricsSnapshot take_snapshot(const MetricsSnapshot& facts, uint16_t vendor_port,
                                            uint16_t core_port,
                                            std::span<const WorkerCounters* const> workers);

// Per-rule counts for the opt-in /metrics/rules ([metrics] rules): one series per allow
// and per filter.
struct RuleCountsSnapshot {
  std::vector<std::string> allow_names;  // by allow index
  std::vector<uint64_t> allow_flows;     // flows each permitted, summed over workers
  std::vector<std::string> filter_names;  // by filter index
  std::vector<uint64_t> filter_matches;   // frames each matched, summed over workers
};

class Generation;

// [control] What /metrics/rules reads at each scrape: the per-allow flow counts and per-filter
// match counts of the generation `current` returns (the running one; kept alive by the
// pointer while read), summed over its workers. They start from zero with each generation.
[[nodiscard]] std::function<RuleCountsSnapshot()> rule_counts_source(
    std::function<std::shared_ptr<const Generation>()> current);

// [any] The families of /metrics/rules.
[[nodiscard]] std::vector<prometheus::MetricFamily> rule_metric_families(const RuleCountsSnapshot& s);

// The /metrics endpoint: a prometheus-cpp Exposer (civetweb) on the management address,
// serving one Collectable that calls `take_snapshot` per scrape, and /metrics/rules when
// `take_rule_counts` is given.
class MetricsServer {
 public:
  // [control] Binds `listen` ("IPv4:port" / "[IPv6]:port"). Throws std::runtime_error when
  // the address cannot be bound. The callbacks run on the HTTP server's threads.
  MetricsServer(const std::string& listen, std::function<MetricsSnapshot()> take_snapshot,
                std::function<RuleCountsSnapshot()> take_rule_counts = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  class Collector;
  std::shared_ptr<Collector> collector_;
  std::shared_ptr<Collector> rule_collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace sentinel::dataplane

// Prometheus metrics (see metrics.hpp).
#include "dataplane/metrics.hpp"

#include <prometheus/exposer.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <sstream>

#include "bpf/filter_program.hpp"
#include "dataplane/build_info.hpp"
#include "dataplane/worker.hpp"
#include "sentinel_build_config.h"

namespace sentinel::dataplane {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  return MetricFamily{name, help, type, {}};
}

ClientMetric counter(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

// A family with one unlabelled sample.
MetricFamily single(const char* name, const char* help, MetricType type, uint64_t value) {
  MetricFamily f = family(name, help, type);
  const auto v = static_cast<double>(value);
  f.metric.push_back(type == MetricType::Gauge ? gauge(v) : counter(v));
  return f;
}

// One family with a sample per port, `port` labelled vendor/core.
template <typename Field>
MetricFamily per_port(const MetricsSnapshot& s, const char* name, const char* help, MetricType type,
                      Field field) {
  MetricFamily f = family(name, help, type);
  for (const PortSnapshot& p : s.ports) {
    const double v = static_cast<double>(field(p));
    f.metric.push_back(type == MetricType::Gauge ? gauge(v, {{"port", p.side}})
                                                 : counter(v, {{"port", p.side}}));
  }
  return f;
}

}  // namespace

std::vector<MetricFamily> metric_families(const MetricsSnapshot& s) {
  std::vector<MetricFamily> out;
  MetricFamily info = family("sentinel_build_info", "Versions this sentinel was built with; always 1.",
                             MetricType::Gauge);
  info.metric.push_back(gauge(1, {{"version", s.version},
                                  {"dpdk", s.dpdk_version},
                                  {"hyperscan", s.hyperscan_version},
                                  {"jit", s.jit ? "true" : "false"}}));
  out.push_back(std::move(info));

  out.push_back(per_port(s, "sentinel_port_receive_packets_total", "Frames the port received.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.rx_packets; }));
  out.push_back(per_port(s, "sentinel_port_receive_bytes_total", "Bytes the port received.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.rx_bytes; }));
  out.push_back(per_port(s, "sentinel_port_receive_dropped_total",
                         "Frames the NIC dropped because its rx queue was full (imissed). af_packet "
                         "ports cannot report these: they stay 0.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.rx_dropped; }));
  out.push_back(per_port(s, "sentinel_port_receive_errors_total", "Erroneous frames the port received.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.rx_errors; }));
  out.push_back(per_port(s, "sentinel_port_receive_nombuf_total",
                         "Frames the port could not receive for want of an mbuf.", MetricType::Counter,
                         [](const PortSnapshot& p) { return p.rx_nombuf; }));
  out.push_back(per_port(s, "sentinel_port_transmit_packets_total", "Frames the port sent.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.tx_packets; }));
  out.push_back(per_port(s, "sentinel_port_transmit_bytes_total", "Bytes the port sent.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.tx_bytes; }));
  out.push_back(per_port(s, "sentinel_port_transmit_errors_total", "Frames the port failed to send.",
                         MetricType::Counter, [](const PortSnapshot& p) { return p.tx_errors; }));
  out.push_back(per_port(s, "sentinel_port_up", "1 when the port's link is up.", MetricType::Gauge,
                         [](const PortSnapshot& p) { return p.up ? 1 : 0; }));

  MetricFamily packets = family("sentinel_packets_total",
                                "Frames the dataplane judged, by direction and verdict.",
                                MetricType::Counter);
  for (size_t d = 0; d < kDirectionCount; ++d) {
    packets.metric.push_back(counter(static_cast<double>(s.totals.forwarded[d]),
                                     {{"direction", kDirectionNames[d]}, {"verdict", "forwarded"}}));
    packets.metric.push_back(counter(static_cast<double>(s.totals.dropped[d]),
                                     {{"direction", kDirectionNames[d]}, {"verdict", "dropped"}}));
  }
  out.push_back(std::move(packets));

  MetricFamily drops = family("sentinel_drops_total", "Frames dropped, by reason.", MetricType::Counter);
  MetricFamily passed = family("sentinel_malformed_passed_total",
                               "Malformed or invalid frames forwarded because their [failure] policy fails open, by reason.",
                               MetricType::Counter);
  for (size_t r = 1; r < kDropReasonCount; ++r) {
    const std::string reason(kDropReasonNames[r]);
    drops.metric.push_back(counter(static_cast<double>(s.totals.drops[r]), {{"reason", reason}}));
    if (can_fail_open(static_cast<DropReason>(r))) {
      passed.metric.push_back(counter(static_cast<double>(s.totals.malformed_passed[r]), {{"reason", reason}}));
    }
  }
  out.push_back(std::move(drops));
  out.push_back(std::move(passed));

  const InspectTotals& in = s.totals.inspect;
  MetricFamily alerts = family("sentinel_alerts_total",
                               "Alerts raised, by source and by the action of what raised them.",
                               MetricType::Counter);
  for (size_t src = 0; src < kAlertSourceCount; ++src) {
    for (size_t a = 0; a < kAlertActionCount; ++a) {
      alerts.metric.push_back(counter(static_cast<double>(in.alerts[src][a]),
                                      {{"source", kAlertSourceNames[src]}, {"action", kAlertActionNames[a]}}));
    }
  }
  out.push_back(std::move(alerts));
  out.push_back(single("sentinel_alerts_dropped_total",
                       "Alerts raised but not written: alert ring full, more than a packet carries, or "
                       "eve.json not writable.",
                       MetricType::Counter, in.alerts_dropped + s.alert_write_errors));

  const FlowTotals& fl = s.totals.flows;
  out.push_back(single("sentinel_flows_active", "Flows in the flow tables.", MetricType::Gauge, fl.active()));
  out.push_back(single("sentinel_flows_created_total", "Flows created.", MetricType::Counter, fl.created));
  out.push_back(single("sentinel_flows_expired_total", "Flows removed after their idle timeout.",
                       MetricType::Counter, fl.expired));
  MetricFamily evicted = family("sentinel_flows_evicted_total",
                                "Flows removed from a full table to make room: timeout (idle past its "
                                "timeout), embryonic (the oldest flow without a completed handshake).",
                                MetricType::Counter);
  evicted.metric.push_back(counter(static_cast<double>(fl.evicted_timeout), {{"reason", "timeout"}}));
  evicted.metric.push_back(counter(static_cast<double>(fl.evicted_embryonic_pressure), {{"reason", "embryonic"}}));
  out.push_back(std::move(evicted));
  out.push_back(single("sentinel_flows_refused_total",
                       "Packets whose new flow found the table full of established flows; handled per "
                       "[failure] flow_table_full.",
                       MetricType::Counter, fl.table_full));
  out.push_back(single("sentinel_flow_table_capacity", "Flow-table entries, all workers.", MetricType::Gauge,
                       fl.capacity));

  const std::pair<const char*, const char*> stream_help[] = {
      {"sentinel_stream_bytes_inspected_total", "TCP stream bytes scanned."},
      {"sentinel_stream_depth_reached_total", "Flow directions no longer scanned past [flows] inspect_depth."},
      {"sentinel_stream_reassembly_overflows_total",
       "Flow directions whose out-of-order bytes overflowed [flows] reassembly_buffer."},
      {"sentinel_stream_segments_uninspected_total",
       "TCP segments cut short by the capture's snap length, never fed to a stream."},
      {"sentinel_scan_errors_total", "Hyperscan calls that failed; the flow direction stops being scanned."},
  };
  const uint64_t stream_values[] = {in.stream_bytes, in.depth_reached, in.reassembly_overflows,
                                    in.segments_uninspected, in.scan_errors};
  for (size_t k = 0; k < std::size(stream_values); ++k) {
    out.push_back(single(stream_help[k].first, stream_help[k].second, MetricType::Counter, stream_values[k]));
  }
  MetricFamily rejects = family("sentinel_reject_frames_total",
                                "TCP RST and ICMP unreachable frames for reject verdicts, by result.",
                                MetricType::Counter);
  rejects.metric.push_back(counter(static_cast<double>(in.reject_sent), {{"result", "sent"}}));
  rejects.metric.push_back(counter(static_cast<double>(in.reject_failed), {{"result", "failed"}}));
  out.push_back(std::move(rejects));
  MetricFamily loaded = family("sentinel_rules_loaded", "Rules in the running rule set, by kind.",
                               MetricType::Gauge);
  loaded.metric.push_back(gauge(static_cast<double>(s.signatures_loaded), {{"kind", "signature"}}));
  loaded.metric.push_back(gauge(static_cast<double>(s.allows_loaded), {{"kind", "allow"}}));
  loaded.metric.push_back(gauge(static_cast<double>(s.filters_loaded), {{"kind", "filter"}}));
  out.push_back(std::move(loaded));
  const PolicyTotals& pt = s.totals.policy;
  MetricFamily decisions = family("sentinel_policy_flows_total",
                                  "Flows the communication policy decided, by decision (non-IP violations "
                                  "count once per source MAC and ethertype alerted).",
                                  MetricType::Counter);
  decisions.metric.push_back(counter(static_cast<double>(pt.allowed), {{"decision", "allowed"}}));
  decisions.metric.push_back(counter(static_cast<double>(pt.violations), {{"decision", "violation"}}));
  out.push_back(std::move(decisions));
  out.push_back(single("sentinel_policy_learn_entries",
                       "Learn mode: distinct (side, proto, source, destination, port) observations held.",
                       MetricType::Gauge, pt.learn_entries));
  out.push_back(single("sentinel_policy_learn_table_full_total",
                       "Learn mode: new observations not recorded because the table was full.",
                       MetricType::Counter, pt.learn_table_full));
  const RulesetSnapshot& rs = s.ruleset;
  out.push_back(single("sentinel_ruleset_generation",
                       "Generation of the rule set in force: 1 at start, one more per successful reload.",
                       MetricType::Gauge, rs.generation));
  MetricFamily ruleset_info = family("sentinel_ruleset_info",
                                     "The rule set in force, by its content hash (SHA-256 of its files); always 1.",
                                     MetricType::Gauge);
  ruleset_info.metric.push_back(gauge(1, {{"hash", rs.hash}}));
  out.push_back(std::move(ruleset_info));
  MetricFamily reload_time = family("sentinel_ruleset_last_reload_timestamp_seconds",
                                    "When the last reload attempt ended (unix time); 0 before the first.",
                                    MetricType::Gauge);
  reload_time.metric.push_back(gauge(rs.last_reload_time));
  out.push_back(std::move(reload_time));
  out.push_back(single("sentinel_ruleset_last_reload_success",
                       "1 when the last reload put its rule set in force (or none was tried), 0 when it failed.",
                       MetricType::Gauge, rs.last_reload_success ? 1 : 0));
  MetricFamily reloads = family("sentinel_ruleset_reloads_total",
                                "Reload attempts, by result; a failed one changed nothing.", MetricType::Counter);
  reloads.metric.push_back(counter(static_cast<double>(rs.reloads_success), {{"result", "success"}}));
  reloads.metric.push_back(counter(static_cast<double>(rs.reloads_failure), {{"result", "failure"}}));
  out.push_back(std::move(reloads));
  out.push_back(single("sentinel_ruleset_retired_pending",
                       "Replaced rule sets not freed yet: in their grace period, or a flow's stream still uses them.",
                       MetricType::Gauge, rs.retired_pending));
  out.push_back(single("sentinel_flows_migrated_total",
                       "Flows moved to a newer rule set on their first packet after a reload (re-judged by the "
                       "policy, streams reopened on the new databases).",
                       MetricType::Counter, s.totals.reload.flows_migrated));
  out.push_back(single("sentinel_flows_swept_total",
                       "Idle flows whose streams the post-reload sweep closed so an old rule set could be freed.",
                       MetricType::Counter, s.totals.reload.flows_swept));
  out.push_back(single("sentinel_fragments_reassembled_total",
                       "IP datagrams reassembled from fragments and inspected whole.", MetricType::Counter,
                       s.totals.fragments.datagrams));
  out.push_back(single("sentinel_fragments_reassembled_fragments_total",
                       "Fragments of the reassembled datagrams, forwarded or dropped with their datagram.",
                       MetricType::Counter, s.totals.fragments.fragments));
  out.push_back(single("sentinel_fragments_held",
                       "Fragments held until their datagram is complete (neither forwarded nor dropped yet).",
                       MetricType::Gauge, static_cast<uint64_t>(std::max<int64_t>(s.totals.fragments.held, 0))));
  const FilterTotals& ft = s.totals.filter;
  MetricFamily matches = family("sentinel_filter_matches_total",
                                "[[filter]] matches (every match of every filter), by the filter's action.",
                                MetricType::Counter);
  for (size_t a = 0; a < kFilterActionCount; ++a) {
    matches.metric.push_back(counter(static_cast<double>(ft.matches[a]), {{"action", kFilterActionNames[a]}}));
  }
  out.push_back(std::move(matches));
  out.push_back(single("sentinel_filter_interpreted_packets_total",
                       "Frames at least one [[filter]] ran on in the rte_bpf interpreter (no JIT).",
                       MetricType::Counter, ft.interpreted_packets));
  out.push_back(single("sentinel_filter_alerts_suppressed_total",
                       "[[filter]] alerts not written: over [rules] filter_alerts_per_second.",
                       MetricType::Counter, ft.alerts_suppressed));

  MetricFamily busy = family("sentinel_worker_busy_seconds_total",
                             "Time the worker spent on polls that found frames.", MetricType::Counter);
  MetricFamily idle = family("sentinel_worker_idle_seconds_total",
                             "Time the worker spent on polls that found nothing.", MetricType::Counter);
  for (size_t w = 0; w < s.workers.size(); ++w) {
    busy.metric.push_back(counter(s.workers[w].busy_seconds, {{"worker", std::to_string(w)}}));
    idle.metric.push_back(counter(s.workers[w].idle_seconds, {{"worker", std::to_string(w)}}));
  }
  out.push_back(std::move(busy));
  out.push_back(std::move(idle));

  MetricFamily latency = family("sentinel_packet_processing_seconds",
                                "Time from rx to tx of sampled bursts (one in 64).",
                                MetricType::Histogram);
  ClientMetric h;
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kLatencyBoundsUs.size(); ++b) {
    cumulative += s.totals.latency_buckets[b];
    h.histogram.bucket.push_back({cumulative, kLatencyBoundsUs[b] / 1e6});
  }
  cumulative += s.totals.latency_buckets[kLatencyBoundsUs.size()];
  h.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  h.histogram.sample_count = s.totals.latency_samples;
  h.histogram.sample_sum = s.latency_sum_seconds;
  latency.metric.push_back(std::move(h));
  out.push_back(std::move(latency));

  MetricFamily start = family("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.", MetricType::Gauge);
  start.metric.push_back(gauge(s.process_start_time_seconds));
  out.push_back(std::move(start));
  MetricFamily cpu = family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                            MetricType::Counter);
  cpu.metric.push_back(counter(s.process_cpu_seconds));
  out.push_back(std::move(cpu));
  MetricFamily rss = family("process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::Gauge);
  rss.metric.push_back(gauge(s.process_resident_bytes));
  out.push_back(std::move(rss));
  return out;
}

namespace {

PortSnapshot read_port(const std::string& side, uint16_t port) {
  PortSnapshot p;
  p.side = side;
  rte_eth_stats st{};
  if (rte_eth_stats_get(port, &st) == 0) {
    p.rx_packets = st.ipackets;
    p.rx_bytes = st.ibytes;
    p.rx_dropped = st.imissed;
    p.rx_errors = st.ierrors;
    p.rx_nombuf = st.rx_nombuf;
    p.tx_packets = st.opackets;
    p.tx_bytes = st.obytes;
    p.tx_errors = st.oerrors;
  }
  rte_eth_link link{};
  p.up = rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
  return p;
}

void read_process(MetricsSnapshot& s) {
  // /proc/self/stat: fields after the parenthesised name; utime, stime (14, 15), starttime
  // (22) in clock ticks, rss (24) in pages.
  std::ifstream stat_file("/proc/self/stat");
  std::string line;
  std::getline(stat_file, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string v; fields >> v;) f.push_back(v);
  // f[0] is field 3 (state).
  auto field = [&f](size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0; };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.process_cpu_seconds = (field(14) + field(15)) / ticks;
  s.process_resident_bytes = field(24) * static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream proc_stat("/proc/stat");
  while (std::getline(proc_stat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      s.process_start_time_seconds = std::stod(line.substr(6)) + field(22) / ticks;
    }
  }
}

}  // namespace

MetricsSnapshot build_facts() {
  MetricsSnapshot s;
  s.version = SENTINEL_VERSION;
  s.dpdk_version = dpdk_version();
  s.hyperscan_version = hyperscan_version();
  s.jit = bpf::jit_available();
  return s;
}

MetricsSnapshot take_snapshot(const MetricsSnapshot& facts, uint16_t vendor_port, uint16_t core_port,
                              std::span<const WorkerCounters* const> workers) {
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  MetricsSnapshot s = facts;
  s.ports = {read_port("vendor", vendor_port), read_port("core", core_port)};
  s.totals = sum_counters(workers);
  for (const WorkerCounters* w : workers) {
    s.workers.push_back({static_cast<double>(w->busy_cycles.get()) / tsc_hz,
                         static_cast<double>(w->idle_cycles.get()) / tsc_hz});
  }
  s.latency_sum_seconds = static_cast<double>(s.totals.latency_cycles) / tsc_hz;
  read_process(s);
  return s;
}

std::function<RuleCountsSnapshot()> rule_counts_source(std::function<std::shared_ptr<const Generation>()> current) {
  return [current = std::move(current)] {
    const std::shared_ptr<const Generation> g = current();
    RuleCountsSnapshot s;
    const Inspection& in = g->inspection();
    if (in.policy != nullptr) {
      for (const rules::Allow& a : in.policy->allows) s.allow_names.push_back(a.name);
    }
    if (in.filters != nullptr) {
      for (const ActiveFilter& f : in.filters->filters) s.filter_names.push_back(f.spec.name);
    }
    s.allow_flows.assign(g->allow_count(), 0);
    s.filter_matches.assign(g->filter_count(), 0);
    for (size_t w = 0; w < g->worker_count(); ++w) {
      const GenerationWorker& gw = g->worker(w);
      for (size_t i = 0; i < s.allow_flows.size(); ++i) s.allow_flows[i] += gw.allow_hits[i].get();
      for (size_t i = 0; i < s.filter_matches.size(); ++i) s.filter_matches[i] += gw.filter_hits[i].get();
    }
    return s;
  };
}

std::vector<MetricFamily> rule_metric_families(const RuleCountsSnapshot& s) {
  MetricFamily allows = family("sentinel_policy_allow_flows_total", "Flows each [[allow]] permitted, by name.",
                               MetricType::Counter);
  for (size_t i = 0; i < s.allow_names.size() && i < s.allow_flows.size(); ++i) {
    allows.metric.push_back(counter(static_cast<double>(s.allow_flows[i]), {{"allow", s.allow_names[i]}}));
  }
  MetricFamily filters = family("sentinel_filter_rule_matches_total", "Frames each [[filter]] matched, by name.",
                                MetricType::Counter);
  for (size_t i = 0; i < s.filter_names.size() && i < s.filter_matches.size(); ++i) {
    filters.metric.push_back(counter(static_cast<double>(s.filter_matches[i]), {{"filter", s.filter_names[i]}}));
  }
  std::vector<MetricFamily> out;
  out.push_back(std::move(allows));
  out.push_back(std::move(filters));
  return out;
}

class MetricsServer::Collector : public prometheus::Collectable {
 public:
  explicit Collector(std::function<std::vector<MetricFamily>()> collect) : collect_(std::move(collect)) {}
  std::vector<MetricFamily> Collect() const override {
    // The HTTP server may serve two scrapes at once; ethdev stats reads are not promised
    // to be thread-safe, so snapshots are taken one at a time.
    const std::lock_guard<std::mutex> lock(mutex_);
    return collect_();
  }

 private:
  std::function<std::vector<MetricFamily>()> collect_;
  mutable std::mutex mutex_;
};

MetricsServer::MetricsServer(const std::string& listen, std::function<MetricsSnapshot()> take_snapshot,
                             std::function<RuleCountsSnapshot()> take_rule_counts)
    : collector_(std::make_shared<Collector>([take = std::move(take_snapshot)] { return metric_families(take()); })) {
  // civetweb takes IPv6 as "[::1]:9752", the same form the config takes.
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    throw std::runtime_error("metrics.listen = \"" + listen +
                             "\": cannot serve /metrics there (address in use, or not local?): " +
                             e.what());
  }
  exposer_->RegisterCollectable(collector_, "/metrics");
  if (take_rule_counts) {
    rule_collector_ = std::make_shared<Collector>(
        [take = std::move(take_rule_counts)] { return rule_metric_families(take()); });
    exposer_->RegisterCollectable(rule_collector_, "/metrics/rules");
  }
}

MetricsServer::~MetricsServer() = default;

}  // namespace sentinel::dataplane

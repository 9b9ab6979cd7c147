// The exposition text of a known snapshot: metric names, HELP/TYPE lines, labels, the
// order of families and the histogram's cumulative buckets are the contract Prometheus
// users and their dashboards depend on. The golden file is that contract, written out.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <sstream>

#include "dataplane/metrics.hpp"

using namespace sentinel::dataplane;

namespace {

MetricsSnapshot known_snapshot() {
  MetricsSnapshot s;
  s.version = "0.1.0";
  s.dpdk_version = "22.11.11";
  s.hyperscan_version = "5.4.0";
  s.jit = true;
  PortSnapshot vendor;
  vendor.side = "vendor";
  vendor.rx_packets = 1000;
  vendor.rx_bytes = 64000;
  vendor.rx_dropped = 3;
  vendor.rx_errors = 2;
  vendor.rx_nombuf = 1;
  vendor.tx_packets = 500;
  vendor.tx_bytes = 32000;
  vendor.up = true;
  PortSnapshot core = vendor;
  core.side = "core";
  core.rx_packets = 500;
  core.tx_packets = 990;
  core.up = false;
  s.ports = {vendor, core};
  s.totals.forwarded = {990, 500};
  s.totals.dropped = {10, 0};
  s.totals.drops[static_cast<size_t>(DropReason::kIpv4BadIhl)] = 7;
  s.totals.drops[static_cast<size_t>(DropReason::kTxFull)] = 3;
  s.totals.malformed_passed[static_cast<size_t>(DropReason::kTcpBadOption)] = 4;
  s.totals.latency_buckets = {0, 5, 10, 3, 0, 0, 0, 0, 0, 0, 2};
  s.totals.latency_samples = 20;
  s.latency_sum_seconds = 0.0025;
  s.workers = {{1.5, 8.5}, {2.25, 7.75}};
  s.process_start_time_seconds = 1764000000;
  s.process_cpu_seconds = 12.5;
  s.process_resident_bytes = 104857600;
  s.totals.inspect.alerts[0] = {5, 2, 1};  // signature: alert, drop, reject
  s.totals.inspect.alerts[1] = {3, 0, 0};  // anomaly
  s.totals.inspect.alerts_dropped = 4;
  s.alert_write_errors = 1;
  s.totals.inspect.stream_bytes = 123456;
  s.totals.inspect.depth_reached = 2;
  s.totals.inspect.reassembly_overflows = 1;
  s.totals.flows = {100, 20, 5, 3, 1, 2, 131072};  // created, expired, evicted x2, refused, removed
  s.signatures_loaded = 42;
  s.allows_loaded = 12;
  s.totals.inspect.alerts[2] = {6, 7, 0};  // policy
  s.totals.drops[static_cast<size_t>(DropReason::kPolicy)] = 7;
  s.totals.drops[static_cast<size_t>(DropReason::kSpoofedSource)] = 2;
  s.totals.policy = {40, 13, 9, 1};  // allowed, violations, learn entries, learn table full
  s.filters_loaded = 3;
  s.totals.inspect.alerts[3] = {11, 4, 0};  // filter
  s.totals.drops[static_cast<size_t>(DropReason::kFilter)] = 4;
  s.totals.filter = {{15, 4, 2}, 6, 8};  // matches alert/drop/pass, interpreted, suppressed
  s.ruleset = {7, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 1764000300.5, false, 6, 2, 1};
  s.totals.reload = {250, 31};  // flows migrated, swept
  return s;
}

std::string exposition(const MetricsSnapshot& s) {
  return prometheus::TextSerializer().Serialize(metric_families(s));
}

std::string golden() {
  std::ifstream in(SENTINEL_SOURCE_DIR "/tests/unit/data/metrics_golden.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST(Metrics, ExpositionMatchesTheGoldenFile) {
  const std::string text = exposition(known_snapshot());
  if (std::getenv("SENTINEL_WRITE_GOLDEN") != nullptr) {
    std::ofstream(SENTINEL_SOURCE_DIR "/tests/unit/data/metrics_golden.txt") << text;
  }
  EXPECT_EQ(text, golden());
}

// The same contract line by line, so a failure names what changed.
TEST(Metrics, KeyLines) {
  const std::string t = exposition(known_snapshot());
  for (const char* line : {
           "sentinel_alerts_total{source=\"signature\",action=\"drop\"} 2",
           "sentinel_alerts_total{source=\"anomaly\",action=\"alert\"} 3",
           "sentinel_alerts_dropped_total 5",
           "sentinel_flows_active 70",
           "sentinel_flows_created_total 100",
           "sentinel_flows_evicted_total{reason=\"timeout\"} 5",
           "sentinel_flows_evicted_total{reason=\"embryonic\"} 3",
           "sentinel_flow_table_capacity 131072",
           "sentinel_stream_bytes_inspected_total 123456",
           "sentinel_stream_depth_reached_total 2",
           "sentinel_stream_reassembly_overflows_total 1",
           "sentinel_rules_loaded{kind=\"signature\"} 42",
           "sentinel_ruleset_generation 7",
           "sentinel_ruleset_info{hash=\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"} 1",
           "sentinel_ruleset_last_reload_timestamp_seconds 1764000300.5",
           "sentinel_ruleset_last_reload_success 0",
           "sentinel_ruleset_reloads_total{result=\"success\"} 6",
           "sentinel_ruleset_reloads_total{result=\"failure\"} 2",
           "sentinel_ruleset_retired_pending 1",
           "sentinel_flows_migrated_total 250",
           "sentinel_rules_loaded{kind=\"allow\"} 12",
           "sentinel_alerts_total{source=\"policy\",action=\"drop\"} 7",
           "sentinel_drops_total{reason=\"policy\"} 7",
           "sentinel_drops_total{reason=\"spoofed_source\"} 2",
           "sentinel_policy_flows_total{decision=\"allowed\"} 40",
           "sentinel_policy_flows_total{decision=\"violation\"} 13",
           "sentinel_policy_learn_entries 9",
           "sentinel_policy_learn_table_full_total 1",
           "sentinel_rules_loaded{kind=\"filter\"} 3",
           "sentinel_alerts_total{source=\"filter\",action=\"alert\"} 11",
           "sentinel_drops_total{reason=\"filter\"} 4",
           "sentinel_filter_matches_total{action=\"alert\"} 15",
           "sentinel_filter_matches_total{action=\"drop\"} 4",
           "sentinel_filter_matches_total{action=\"pass\"} 2",
           "sentinel_filter_interpreted_packets_total 6",
           "sentinel_filter_alerts_suppressed_total 8",
       }) {
    EXPECT_TRUE(has_line(t, line)) << line;
  }
  for (const char* line : {
           R"(sentinel_build_info{version="0.1.0",dpdk="22.11.11",hyperscan="5.4.0",jit="true"} 1)",
           R"(sentinel_port_receive_packets_total{port="vendor"} 1000)",
           R"(sentinel_port_receive_dropped_total{port="vendor"} 3)",
           R"(sentinel_port_transmit_packets_total{port="core"} 990)",
           R"(sentinel_port_up{port="vendor"} 1)",
           R"(sentinel_port_up{port="core"} 0)",
           R"(sentinel_packets_total{direction="to_core",verdict="forwarded"} 990)",
           R"(sentinel_packets_total{direction="to_core",verdict="dropped"} 10)",
           R"(sentinel_packets_total{direction="to_vendor",verdict="forwarded"} 500)",
           R"(sentinel_drops_total{reason="ipv4_bad_ihl"} 7)",
           R"(sentinel_drops_total{reason="tx_full"} 3)",
           R"(sentinel_drops_total{reason="eth_truncated"} 0)",
           R"(sentinel_malformed_passed_total{reason="tcp_bad_option"} 4)",
           R"(sentinel_worker_busy_seconds_total{worker="1"} 2.25)",
           R"(sentinel_worker_idle_seconds_total{worker="0"} 8.5)",
           R"(sentinel_packet_processing_seconds_bucket{le="1e-06"} 0)",
           R"(sentinel_packet_processing_seconds_bucket{le="2e-06"} 5)",
           R"(sentinel_packet_processing_seconds_bucket{le="5e-06"} 15)",
           R"(sentinel_packet_processing_seconds_bucket{le="1e-05"} 18)",
           R"(sentinel_packet_processing_seconds_bucket{le="0.001"} 18)",
           R"(sentinel_packet_processing_seconds_bucket{le="+Inf"} 20)",
           R"(sentinel_packet_processing_seconds_count 20)",
           R"(sentinel_packet_processing_seconds_sum 0.0025)",
           R"(process_cpu_seconds_total 12.5)",
           R"(process_resident_memory_bytes 104857600)",
       }) {
    EXPECT_TRUE(has_line(t, line)) << line << "\nin:\n" << t;
  }
}

// /metrics/rules: one series per allow and per filter, by name.
TEST(Metrics, RuleCounts) {
  RuleCountsSnapshot r;
  r.allow_names = {"ntp to core", "dns \"resolver\""};
  r.allow_flows = {5, 0};
  const std::string t = prometheus::TextSerializer().Serialize(rule_metric_families(r));
  EXPECT_TRUE(has_line(t, R"(sentinel_policy_allow_flows_total{allow="ntp to core"} 5)")) << t;
  EXPECT_TRUE(has_line(t, R"(sentinel_policy_allow_flows_total{allow="dns \"resolver\""} 0)")) << t;
  EXPECT_EQ(t.find("sentinel_filter_rule_matches_total{"), std::string::npos) << "no filters, no series";
  r.filter_names = {"dns-tunnel", "no-telnet"};
  r.filter_matches = {7, 0};
  const std::string f = prometheus::TextSerializer().Serialize(rule_metric_families(r));
  EXPECT_TRUE(has_line(f, R"(sentinel_filter_rule_matches_total{filter="dns-tunnel"} 7)")) << f;
  EXPECT_TRUE(has_line(f, R"(sentinel_filter_rule_matches_total{filter="no-telnet"} 0)")) << f;
}

// Every drop reason is exported from the start, at 0 when nothing was dropped for it.
TEST(Metrics, EveryDropReasonPresent) {
  const std::string t = exposition(MetricsSnapshot{});
  for (size_t r = 1; r < kDropReasonCount; ++r) {
    const std::string line = "sentinel_drops_total{reason=\"" + std::string(kDropReasonNames[r]) + "\"} 0";
    EXPECT_TRUE(has_line(t, line)) << line;
  }
  EXPECT_EQ(t.find("reason=\"none\""), std::string::npos);
}

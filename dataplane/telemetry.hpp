// The /sentinel/info command on the DPDK telemetry socket
// (/var/run/dpdk/<file prefix>/dpdk_telemetry.v2): version, uptime, ports and workers,
// for tools that speak DPDK telemetry rather than Prometheus.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace sentinel::dataplane {

struct TelemetryInfo {
  std::string version;
  std::string vendor_port;  // as configured
  std::string core_port;
  unsigned workers = 0;
};

// [control] Registers /sentinel/info answering with `info` (copied) and the uptime since
// this call. Once per process; the EAL must be initialised. Throws SetupError on failure.
void register_telemetry(const TelemetryInfo& info);

// What /sentinel/ruleset answers: the rule set in force and the last reload.
struct RulesetTelemetry {
  uint64_t generation = 0;
  std::string hash;
  uint64_t files = 0;
  uint64_t signatures = 0;
  uint64_t allows = 0;
  uint64_t filters = 0;
  uint64_t reloads_success = 0;
  uint64_t reloads_failure = 0;
  bool last_reload_success = true;
  double last_reload_time = 0;  // unix seconds; 0 = none yet
  std::string last_reload_trigger;
  std::string last_reload_error;  // file:line:col: message of the last failure
  uint64_t retired_pending = 0;
};

// /sentinel/ruleset answered from `read` (called on the telemetry thread; it must be safe
// there) for as long as this object lives; afterwards the command answers an empty dict.
class RulesetTelemetrySource {
 public:
  // [control] Registers the command on first use. Throws SetupError on failure.
  explicit RulesetTelemetrySource(std::function<RulesetTelemetry()> read);
  ~RulesetTelemetrySource();
  RulesetTelemetrySource(const RulesetTelemetrySource&) = delete;
  RulesetTelemetrySource& operator=(const RulesetTelemetrySource&) = delete;
};

}  // namespace sentinel::dataplane

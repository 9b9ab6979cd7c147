// /sentinel/info (see telemetry.hpp).
#include "dataplane/telemetry.hpp"

#include <rte_telemetry.h>

#include <chrono>
#include <mutex>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

// The telemetry callback takes no user pointer: what it reports lives here, written once
// before the command is registered and only read afterwards (by the telemetry thread).
struct Registered {
  TelemetryInfo info;
  std::chrono::steady_clock::time_point start;
};
Registered* registered = nullptr;
// /sentinel/ruleset's source: set and cleared by RulesetTelemetrySource, read by the
// telemetry thread.
std::mutex ruleset_mu;
std::function<RulesetTelemetry()> ruleset_source;
bool ruleset_registered = false;

// Telemetry strings are bounded (RTE_TEL_MAX_STRING_LEN with its NUL): cut, never refused.
std::string fit(const std::string& s) { return s.substr(0, RTE_TEL_MAX_STRING_LEN - 1); }

int sentinel_ruleset(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const std::lock_guard lock(ruleset_mu);
  if (!ruleset_source) return 0;  // shutting down
  const RulesetTelemetry r = ruleset_source();
  rte_tel_data_add_dict_u64(d, "generation", r.generation);
  rte_tel_data_add_dict_string(d, "hash", fit(r.hash).c_str());
  rte_tel_data_add_dict_u64(d, "files", r.files);
  rte_tel_data_add_dict_u64(d, "signatures", r.signatures);
  rte_tel_data_add_dict_u64(d, "allows", r.allows);
  rte_tel_data_add_dict_u64(d, "filters", r.filters);
  rte_tel_data_add_dict_u64(d, "reloads_success", r.reloads_success);
  rte_tel_data_add_dict_u64(d, "reloads_failure", r.reloads_failure);
  rte_tel_data_add_dict_u64(d, "last_reload_success", r.last_reload_success ? 1 : 0);
  rte_tel_data_add_dict_u64(d, "last_reload_timestamp_seconds", static_cast<uint64_t>(r.last_reload_time));
  rte_tel_data_add_dict_string(d, "last_reload_trigger", fit(r.last_reload_trigger).c_str());
  rte_tel_data_add_dict_string(d, "last_reload_error", fit(r.last_reload_error).c_str());
  rte_tel_data_add_dict_u64(d, "retired_pending", r.retired_pending);
  return 0;
}

int sentinel_info(const char*, const char*, rte_tel_data* d) {
  const Registered& r = *registered;
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "version", r.info.version.c_str());
  const auto up = std::chrono::steady_clock::now() - r.start;
  rte_tel_data_add_dict_u64(d, "uptime_seconds",
                            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(up).count()));
  rte_tel_data_add_dict_string(d, "vendor_port", r.info.vendor_port.c_str());
  rte_tel_data_add_dict_string(d, "core_port", r.info.core_port.c_str());
  rte_tel_data_add_dict_u64(d, "workers", r.info.workers);
  return 0;
}

}  // namespace

void register_telemetry(const TelemetryInfo& info) {
  if (registered != nullptr) throw SetupError("/sentinel/info is registered already");
  registered = new Registered{info, std::chrono::steady_clock::now()};  // lives as long as the process
  (void)check_rte(rte_telemetry_register_cmd("/sentinel/info", sentinel_info,
                                             "Sentinel version, uptime, ports and workers. No parameters"),
                  "rte_telemetry_register_cmd(/sentinel/info)");
}

RulesetTelemetrySource::RulesetTelemetrySource(std::function<RulesetTelemetry()> read) {
  const std::lock_guard lock(ruleset_mu);
  ruleset_source = std::move(read);
  if (ruleset_registered) return;
  (void)check_rte(rte_telemetry_register_cmd("/sentinel/ruleset", sentinel_ruleset,
                                             "The rule set in force (generation, content hash, rule counts) and "
                                             "the last reload. No parameters"),
                  "rte_telemetry_register_cmd(/sentinel/ruleset)");
  ruleset_registered = true;
}

RulesetTelemetrySource::~RulesetTelemetrySource() {
  const std::lock_guard lock(ruleset_mu);
  ruleset_source = nullptr;
}

}  // namespace sentinel::dataplane

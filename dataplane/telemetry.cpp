// /sentinel/info (see telemetry.hpp).
#include "dataplane/telemetry.hpp"

#include <rte_telemetry.h>

#include <chrono>

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

}  // namespace sentinel::dataplane

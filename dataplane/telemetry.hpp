// The /sentinel/info command on the DPDK telemetry socket
// (/var/run/dpdk/<file prefix>/dpdk_telemetry.v2): version, uptime, ports and workers,
// for tools that speak DPDK telemetry rather than Prometheus.
#pragma once

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

}  // namespace sentinel::dataplane

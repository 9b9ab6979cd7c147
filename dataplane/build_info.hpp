// --build-info and -V: what this binary was built with and what this CPU offers.
#pragma once

#include <string>

namespace sentinel::dataplane {

// [control] "sentinel 0.1.0".
[[nodiscard]] std::string version_text();
// [control] One "key: value" line per fact: versions of sentinel, DPDK, Hyperscan, libbpf,
// libpcap and the compiler; the CPU features the dataplane uses; whether the rte_bpf JIT
// works here (checked by loading a one-instruction program).
[[nodiscard]] std::string build_info_text();
// [any] "22.11.11", "5.4.0": the versions alone, as metric labels want them.
[[nodiscard]] std::string dpdk_version();
[[nodiscard]] std::string hyperscan_version();

}  // namespace sentinel::dataplane

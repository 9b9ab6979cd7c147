// Build and platform facts (see build_info.hpp).
#include "dataplane/build_info.hpp"

#include <bpf/libbpf.h>
#include <hs/hs.h>
#include <rte_cpuflags.h>
#include <rte_version.h>

#include "bpf/filter_program.hpp"
#include "dataplane/replay.hpp"
#include "sentinel_build_config.h"

namespace sentinel::dataplane {

std::string version_text() { return std::string("sentinel ") + SENTINEL_VERSION; }

std::string dpdk_version() {
  const std::string v = rte_version();  // "DPDK 22.11.11"
  const size_t space = v.find(' ');
  return space == std::string::npos ? v : v.substr(space + 1);
}

std::string hyperscan_version() {
  const std::string v = hs_version();  // "5.4.0 2021-01-26"
  return v.substr(0, v.find(' '));
}

std::string build_info_text() {
  auto yes = [](bool b) { return b ? std::string("yes") : std::string("no"); };
  std::string s;
  s += "version: " + version_text() + "\n";
  s += "compiler: " SENTINEL_COMPILER "\n";
  s += std::string("dpdk: ") + rte_version() + " (built against " SENTINEL_DPDK_VERSION ")\n";
  s += std::string("hyperscan: ") + hs_version() + "\n";
  s += "hyperscan_platform_ok: " + yes(hs_valid_platform() == HS_SUCCESS) + "\n";
  s += std::string("libbpf: ") + libbpf_version_string() + "\n";
  s += "libpcap: " + libpcap_version() + "\n";
  s += "cpu_sse4_2: " + yes(rte_cpu_get_flag_enabled(RTE_CPUFLAG_SSE4_2) > 0) + "\n";
  s += "cpu_avx2: " + yes(rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX2) > 0) + "\n";
  s += "cpu_avx512f: " + yes(rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) > 0) + "\n";
  s += "bpf_jit: " + yes(bpf::jit_available()) + "\n";
  s += "filters_dir: " SENTINEL_FILTERS_DIR "\n";
  return s;
}

}  // namespace sentinel::dataplane

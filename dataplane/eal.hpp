// EAL start-up: turns the configuration into EAL arguments (lcores, memory, devices, file
// prefix), decides on hugepages, and initialises the EAL once per process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace sentinel::dataplane {

enum class RunMode { kLive, kReplay };

struct EalPlan {
  std::vector<std::string> args;  // argv for rte_eal_init, argv[0] included
  bool hugepages = false;
  std::string memory_note;        // what was decided about memory, and why, for the log
};

// [control] Plans the EAL for `mode`. Live: one lcore for the control plane plus one per
// worker, the two configured ports, hugepages per [dataplane] hugepages (auto reserves them
// when root and possible). Replay: no hardware, no hugepages, no telemetry and a file
// prefix of its own, so replays run beside each other and beside a live sentinel.
// `extra` are the user's EAL arguments (after `--`), appended last. Throws SetupError.
[[nodiscard]] EalPlan plan_eal(const config::Config& config, RunMode mode,
                               const std::vector<std::string>& extra);

// [control] rte_eal_init with the plan. Throws SetupError.
void init_eal(const EalPlan& plan);

// [control] rte_eal_cleanup; for a replay also removes the runtime directory its private
// file prefix created under /var/run/dpdk.
void cleanup_eal(bool remove_runtime_dir) noexcept;

// EAL memory for a packet pool of `mbufs`, `flows` flow-table entries (all workers) and
// `workers` IP reassemblers, in MiB, with headroom for rings and the EAL.
[[nodiscard]] unsigned memory_mib_for(unsigned mbufs, uint64_t flows, const config::FragmentsConfig& fragments,
                                      unsigned workers) noexcept;

// True for "0000:03:00.0" or "03:00.0"; everything else is a vdev string.
[[nodiscard]] bool is_pci_address(const std::string& port) noexcept;
// The ethdev name of a configured port: the PCI address (domain added) or the vdev name.
[[nodiscard]] std::string port_device_name(const std::string& port);

}  // namespace sentinel::dataplane

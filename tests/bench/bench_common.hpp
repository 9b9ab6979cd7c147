// What the benchmarks that drive a real Worker share: the EAL started the same way (one
// lcore, no PCI, no hugepages, a per-process file prefix), ring-backed ports (pointer
// handoff: no I/O cost), big-endian stores for hand-built frames, timing figures and
// draining a worker's alert ring. Header-only; each benchmark is its own executable.
#pragma once

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "dataplane/ports.hpp"
#include "dataplane/worker.hpp"

namespace sentinel::bench {

// Starts the EAL as every benchmark does: --no-huge with `memory_mb` of ordinary memory,
// lcore 0, no PCI, no shared config, no telemetry, quiet logs, the file prefix
// "<prefix_stem>-<pid>". Returns false (after a message on stderr) when it fails.
inline bool start_eal(const char* program, const std::string& prefix_stem, unsigned memory_mb) {
  const std::string prefix = prefix_stem + "-" + std::to_string(getpid());
  std::vector<std::string> args = {program, "--no-huge", "-m", std::to_string(memory_mb), "--no-pci",
                                   "--no-shconf", "--no-telemetry", "--file-prefix", prefix, "--lcores", "0",
                                   "--log-level", "lib.eal:error", "--log-level", "pmd.*:error"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return false;
  }
  return true;
}

// Stops the EAL and removes its runtime directory (taken before rte_eal_cleanup).
inline void stop_eal() {
  const std::filesystem::path runtime_dir = rte_eal_get_runtime_dir();
  (void)rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
}

inline void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }

// A port backed by two rings: the benchmark enqueues frames on `rx` for the worker to
// receive and dequeues what the worker sent from `tx`.
struct RingPort {
  rte_ring* rx;
  rte_ring* tx;
  uint16_t id;
};

inline constexpr unsigned kRingSize = 8192;  // each ring holds kRingSize - 1 frames

inline RingPort make_ring_port(const std::string& name, rte_mempool* pool) {
  RingPort p{};
  p.rx = rte_ring_create((name + "_rx").c_str(), kRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "_tx").c_str(), kRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.id = static_cast<uint16_t>(rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY));
  (void)dataplane::start_port(name, p.id, {1, 1024, 1024}, pool);
  return p;
}

// Seconds of each repetition of one measurement; reported as median, min and max.
struct Figures {
  std::vector<double> seconds;
  [[nodiscard]] double median() const {
    std::vector<double> v = seconds;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  [[nodiscard]] double min() const { return *std::min_element(seconds.begin(), seconds.end()); }
  [[nodiscard]] double max() const { return *std::max_element(seconds.begin(), seconds.end()); }
};

// Empties a worker's alert ring, as the control plane's alert writer would.
inline void drain_alerts(dataplane::Worker& w) {
  dataplane::AlertRecord sink[256];
  while (w.alerts().pop(sink, 256) != 0) {}
}

// Alerts a worker generated, all sources and actions.
inline uint64_t alerts_generated(const dataplane::WorkerCounters& c) {
  uint64_t n = 0;
  for (const auto& by : c.inspect.alerts) {
    for (const dataplane::Counter& x : by) n += x.get();
  }
  return n;
}

}  // namespace sentinel::bench

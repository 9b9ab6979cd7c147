// EAL planning and initialisation (see eal.hpp).
#include "dataplane/eal.hpp"

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_pci.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dataplane/fragments.hpp"
#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

constexpr unsigned kReplayMbufs = 8191;
constexpr const char* kHugeDir = "/dev/hugepages";

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    throw SetupError(std::string("sched_getaffinity: ") + std::strerror(errno));
  }
  std::vector<unsigned> cpus;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

std::string join(const std::vector<unsigned>& v) {
  std::string s;
  for (unsigned x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

struct HugepageState {
  unsigned free_pages = 0;
  unsigned total_pages = 0;
  unsigned page_kib = 2048;
  bool mounted = false;
};

HugepageState read_hugepages() {
  HugepageState s;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  unsigned long value = 0;
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream in(line);
    if (!(in >> key >> value)) continue;
    if (key == "HugePages_Total:") s.total_pages = static_cast<unsigned>(value);
    if (key == "HugePages_Free:") s.free_pages = static_cast<unsigned>(value);
    if (key == "Hugepagesize:") s.page_kib = static_cast<unsigned>(value);
  }
  std::ifstream mounts("/proc/mounts");
  while (std::getline(mounts, line)) {
    if (line.find(" hugetlbfs ") != std::string::npos) s.mounted = true;
  }
  return s;
}

// Tries to make `mib` of free hugepages available and hugetlbfs mounted. Root only; every
// step that fails is reported in `note` rather than thrown: the caller decides.
bool reserve_hugepages(unsigned mib, std::string& note) {
  HugepageState s = read_hugepages();
  const unsigned pages = (mib * 1024 + s.page_kib - 1) / s.page_kib;
  if (s.free_pages >= pages && s.mounted) {
    note = "hugepages: using " + std::to_string(pages) + " of " +
           std::to_string(s.free_pages) + " free " + std::to_string(s.page_kib) + " KiB pages";
    return true;
  }
  if (geteuid() != 0) {
    note = "not root and only " + std::to_string(s.free_pages) + " free hugepages (need " +
           std::to_string(pages) + ")";
    return false;
  }
  if (!s.mounted) {
    ::mkdir(kHugeDir, 0755);
    if (::mount("nodev", kHugeDir, "hugetlbfs", 0, nullptr) != 0) {
      note = std::string("cannot mount hugetlbfs on ") + kHugeDir + ": " + std::strerror(errno);
      return false;
    }
  }
  if (s.free_pages < pages) {
    std::ofstream nr("/proc/sys/vm/nr_hugepages");
    nr << (s.total_pages + pages - s.free_pages) << '\n';
    nr.close();
    s = read_hugepages();
    if (s.free_pages < pages) {
      note = "reserved only " + std::to_string(s.free_pages) + " of " + std::to_string(pages) +
             " hugepages (memory fragmented?)";
      return false;
    }
  }
  note = "hugepages: reserved " + std::to_string(pages) + " " + std::to_string(s.page_kib) +
         " KiB pages";
  return true;
}

// rte_ip_frag (22.11) logs every table it creates at INFO under the USER1 type.
constexpr const char* kQuietIpFrag = "user1:warning";

}  // namespace

unsigned memory_mib_for(unsigned mbufs, uint64_t flows, const config::FragmentsConfig& fragments,
                        unsigned workers) noexcept {
  const unsigned long per_mbuf = RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + 64;
  // A flow: its 128-byte entry plus the rte_hash key slot, bucket share and ext buckets.
  constexpr uint64_t kPerFlow = 320;
  const uint64_t bytes = mbufs * per_mbuf + flows * kPerFlow + workers * Reassembler::memory_bytes(fragments);
  return static_cast<unsigned>(bytes / (1024 * 1024)) + 96;
}

bool is_pci_address(const std::string& port) noexcept {
  rte_pci_addr addr{};
  return rte_pci_addr_parse(port.c_str(), &addr) == 0;
}

std::string port_device_name(const std::string& port) {
  rte_pci_addr addr{};
  if (rte_pci_addr_parse(port.c_str(), &addr) == 0) {
    char name[PCI_PRI_STR_SIZE];
    rte_pci_device_name(&addr, name, sizeof name);  // always with the domain
    return name;
  }
  return port.substr(0, port.find(','));
}

EalPlan plan_eal(const config::Config& config, RunMode mode,
                 const std::vector<std::string>& extra) {
  EalPlan plan;
  plan.args = {"sentinel"};
  auto add = [&plan](std::initializer_list<std::string> a) {
    plan.args.insert(plan.args.end(), a);
  };
  const std::vector<unsigned> cpus = allowed_cpus();

  if (mode == RunMode::kReplay) {
    // Not pinned: parallel replays share the CPUs the scheduler gives them.
    add({"--lcores", "0@(" + join(cpus) + ")", "--no-huge", "-m",
         std::to_string(memory_mib_for(kReplayMbufs, config.flows.capacity, config.fragments, 1)), "--no-pci", "--no-shconf",
         "--no-telemetry", "--file-prefix", "sentinel-replay-" + std::to_string(::getpid()),
         "--log-level", "lib.eal:warning", "--log-level", kQuietIpFrag});
    plan.memory_note = "replay: --no-huge";
  } else {
    const unsigned workers = config.dataplane.workers;
    if (cpus.size() < workers + 1) {
      throw SetupError("dataplane.workers = " + std::to_string(workers) + " needs " +
                       std::to_string(workers + 1) + " CPUs (the main lcore and one per worker); " +
                       std::to_string(cpus.size()) + " available");
    }
    add({"-l", join(std::vector<unsigned>(cpus.begin(), cpus.begin() + workers + 1)),
         "--main-lcore", std::to_string(cpus[0]), "--file-prefix", "sentinel", "--log-level", kQuietIpFrag});
    const unsigned mib = memory_mib_for(config.dataplane.mbufs, uint64_t{config.flows.capacity} * workers,
                                        config.fragments, workers);
    if (config.dataplane.hugepages != config::Hugepages::kOff) {
      std::string why;
      plan.hugepages = reserve_hugepages(mib, why);
      if (!plan.hugepages && config.dataplane.hugepages == config::Hugepages::kOn) {
        throw SetupError("dataplane.hugepages = \"on\" but hugepages are unavailable: " + why);
      }
      plan.memory_note = plan.hugepages ? why : "hugepages unavailable (" + why + "): --no-huge -m " + std::to_string(mib);
    } else {
      plan.memory_note = "hugepages off by config: --no-huge -m " + std::to_string(mib);
    }
    if (!plan.hugepages) add({"--no-huge", "-m", std::to_string(mib)});
    bool any_pci = false;
    for (const std::string* port : {&config.ports.vendor, &config.ports.core}) {
      if (is_pci_address(*port)) {
        add({"-a", *port});
        any_pci = true;
      } else {
        add({"--vdev", *port});
      }
    }
    if (!any_pci) add({"--no-pci"});
  }
  plan.args.insert(plan.args.end(), extra.begin(), extra.end());
  return plan;
}

void cleanup_eal(bool remove_runtime_dir) noexcept {
  const std::string dir = rte_eal_get_runtime_dir();
  (void)rte_eal_cleanup();
  // A replay's runtime directory is its own (per-pid prefix) and empty after cleanup.
  if (remove_runtime_dir) (void)::rmdir(dir.c_str());
}

void init_eal(const EalPlan& plan) {
  std::vector<char*> argv;
  std::vector<std::string> copy = plan.args;  // rte_eal_init may permute argv
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(copy.size()), argv.data());
  if (rc < 0) {
    // Some EAL failures leave rte_errno unset; the EAL's own log lines above say why.
    throw SetupError(std::string("rte_eal_init: ") +
                     (rte_errno != 0 ? rte_strerror(rte_errno) : "failed (see the EAL messages above)"));
  }
}

}  // namespace sentinel::dataplane

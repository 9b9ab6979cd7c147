// main() of the unit tests that need DPDK: a private EAL (no hugepages, no PCI, a file
// prefix of its own because meson runs test binaries side by side), set-up after it, the
// tests, then the EAL's runtime directory removed.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace sentinel::test {

// `extra`: more EAL arguments (a --vdev, say).
inline int run_tests_with_eal(int argc, char** argv, const std::string& name, const char* memory_mb,
                              const std::function<void()>& setup = {}, const std::vector<std::string>& extra = {}) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string prefix = name + "-" + std::to_string(getpid());
  std::vector<std::string> args = {name, "--no-huge", "-m", memory_mb, "--no-pci", "--no-shconf",
                                   "--no-telemetry", "--file-prefix", prefix, "--lcores", "0@(0-1)",
                                   "--log-level", "lib.eal:error", "--log-level", "pmd.*:error"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> eal_argv;
  for (std::string& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  const std::filesystem::path runtime_dir = rte_eal_get_runtime_dir();
  if (setup) setup();
  const int rc = RUN_ALL_TESTS();
  (void)rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
  return rc;
}

}  // namespace sentinel::test

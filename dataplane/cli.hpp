// The sentinel command line (Suricata-style). See usage_text() for every option.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace sentinel::dataplane {

struct CliOptions {
  std::string config_path;               // -c; empty: built-in defaults
  bool test_config = false;              // -T
  std::string read_pcap;                 // -r
  std::string write_pcap;                // -w
  std::string log_dir;                   // -l
  std::vector<std::string> vendor_nets;  // --vendor-net, repeatable
  std::vector<std::string> rules_only;   // -S, repeatable: only these rule files
  std::vector<std::string> rules_extra;  // -s, repeatable: these rule files as well
  std::string learn_policy;              // --learn-policy: replay in learn mode, write here
  bool version = false;                  // -V, --version
  bool build_info = false;               // --build-info
  bool dump_config = false;              // --dump-config
  bool help = false;                     // -h, --help
  std::vector<std::string> eal_args;     // everything after `--`
};

// [control] Parses argv. On a usage error returns nullopt and sets `error`.
[[nodiscard]] std::optional<CliOptions> parse_cli(int argc, char** argv, std::string& error);
[[nodiscard]] const char* usage_text() noexcept;

}  // namespace sentinel::dataplane

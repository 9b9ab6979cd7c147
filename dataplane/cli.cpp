// Command-line parsing (see cli.hpp).
#include "dataplane/cli.hpp"

#include <getopt.h>

namespace sentinel::dataplane {

const char* usage_text() noexcept {
  return R"(usage:
  sentinel -c FILE                 run the inline bridge until SIGINT/SIGTERM
  sentinel -c FILE -T              check the configuration and compile the rules, print
                                   what was loaded, exit
  sentinel [-c FILE] -r PCAP [-w OUT.pcap] [-l DIR] [--vendor-net CIDR]...
                                   replay a capture offline through the dataplane
  sentinel [-c FILE] -r PCAP --vendor-net CIDR... --learn-policy OUT.toml
                                   learn the communication policy from a capture
options:
  -c, --config FILE      configuration (TOML); without it the built-in defaults apply
  -T, --test-config      load and check everything, then exit (0 = good, 1 = error)
  -r, --read PCAP        replay this capture (pcap or pcapng) instead of running live
  -w, --write OUT.pcap   replay: write the forwarded frames (nanosecond pcap, Ethernet)
  -l, --log-dir DIR      log directory (eve.json); overrides [log] dir
  -S FILE                load only this rule file instead of [rules] dir; repeatable
  -s FILE                load this rule file as well; repeatable
      --vendor-net CIDR  replay: a vendor-side network; repeat for more; replaces
                         [network] vendor_nets
      --learn-policy OUT.toml
                         replay in policy learn mode (no enforcement, no policy
                         alerts) and write the learned policy file to OUT.toml
  -V, --version          print the version
      --build-info       print library versions, CPU features and eBPF JIT availability
      --dump-config      print the effective configuration as TOML
  -h, --help             this text
  -- EAL-ARGS...         extra DPDK EAL arguments, appended last (for debugging)
signals (live): SIGINT/SIGTERM stop cleanly; SIGUSR1 reopens eve.json (after log
rotation); SIGUSR2 writes <log dir>/learned-policy.toml when the policy is in learn
mode; SIGHUP reloads the rule files (as a change to them does, [rules] watch).
exit status: 0 success, 1 error, 2 replay stopped by a capture read error.
)";
}

std::optional<CliOptions> parse_cli(int argc, char** argv, std::string& error) {
  enum : int { kBuildInfo = 1000, kDumpConfig, kVendorNet, kLearnPolicy };
  static const option kLong[] = {
      {"config", required_argument, nullptr, 'c'},
      {"test-config", no_argument, nullptr, 'T'},
      {"read", required_argument, nullptr, 'r'},
      {"write", required_argument, nullptr, 'w'},
      {"log-dir", required_argument, nullptr, 'l'},
      {"vendor-net", required_argument, nullptr, kVendorNet},
      {"learn-policy", required_argument, nullptr, kLearnPolicy},
      {"version", no_argument, nullptr, 'V'},
      {"build-info", no_argument, nullptr, kBuildInfo},
      {"dump-config", no_argument, nullptr, kDumpConfig},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  CliOptions o;
  opterr = 0;
  optind = 1;
  int c = 0;
  while ((c = getopt_long(argc, argv, "+:c:Tr:w:l:S:s:Vh", kLong, nullptr)) != -1) {
    switch (c) {
      case 'c': o.config_path = optarg; break;
      case 'T': o.test_config = true; break;
      case 'r': o.read_pcap = optarg; break;
      case 'w': o.write_pcap = optarg; break;
      case 'l': o.log_dir = optarg; break;
      case 'S': o.rules_only.emplace_back(optarg); break;
      case 's': o.rules_extra.emplace_back(optarg); break;
      case kVendorNet: o.vendor_nets.emplace_back(optarg); break;
      case kLearnPolicy: o.learn_policy = optarg; break;
      case 'V': o.version = true; break;
      case kBuildInfo: o.build_info = true; break;
      case kDumpConfig: o.dump_config = true; break;
      case 'h': o.help = true; break;
      case ':':
        error = std::string("option ") + argv[optind - 1] + " needs a value";
        return std::nullopt;
      default:
        error = std::string("unknown option ") + argv[optind - 1];
        return std::nullopt;
    }
  }
  // getopt stops at `--`; anything after it is for the EAL. A bare word is a mistake.
  if (optind < argc && std::string(argv[optind - 1]) != "--") {
    error = std::string("unexpected argument '") + argv[optind] + "'";
    return std::nullopt;
  }
  for (int i = optind; i < argc; ++i) o.eal_args.emplace_back(argv[i]);
  if (!o.write_pcap.empty() && o.read_pcap.empty()) {
    error = "-w needs -r: only a replay writes forwarded frames";
    return std::nullopt;
  }
  if (!o.vendor_nets.empty() && o.read_pcap.empty()) {
    error = "--vendor-net needs -r: live mode takes [network] vendor_nets from the config";
    return std::nullopt;
  }
  if (!o.learn_policy.empty() && o.read_pcap.empty()) {
    error = "--learn-policy needs -r: a running sentinel learns with [policy] mode = \"learn\" and SIGUSR2";
    return std::nullopt;
  }
  if (o.test_config && !o.read_pcap.empty()) {
    error = "-T and -r exclude each other";
    return std::nullopt;
  }
  return o;
}

}  // namespace sentinel::dataplane

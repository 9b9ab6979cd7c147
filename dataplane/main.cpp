// sentinel: the inline network sentinel. This file is the one boundary where errors of
// the control plane (LoadError, SetupError) become a message and an exit status.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "config/config.hpp"
#include "dataplane/build_info.hpp"
#include "dataplane/cli.hpp"
#include "dataplane/eal.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/live.hpp"
#include "dataplane/policy.hpp"
#include "dataplane/replay.hpp"
#include "dataplane/report.hpp"
#include "dataplane/signals.hpp"
#include "dataplane/signatures.hpp"
#include "dataplane/stream_pool.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::dataplane;

constexpr int kExitError = 1;
constexpr int kExitReadError = 2;

// The configuration with the command line's overrides applied.
config::Config effective_config(const CliOptions& cli) {
  config::Config c = cli.config_path.empty() ? config::Config{} : config::load_config_file(cli.config_path);
  if (!cli.log_dir.empty()) c.log.dir = cli.log_dir;
  if (!cli.vendor_nets.empty()) {
    c.network.vendor_nets.clear();
    for (const std::string& text : cli.vendor_nets) {
      std::string why;
      const auto net = config::parse_cidr(text, why);
      if (!net) throw config::LoadError({"--vendor-net", 0, 0}, text + ": " + why);
      c.network.vendor_nets.push_back(*net);
    }
  }
  return c;
}

void set_up_logging(const config::Config& c) {
  auto logger = spdlog::stderr_color_mt("sentinel");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$: %v");
  logger->set_level(spdlog::level::from_str(c.log.level));
  spdlog::set_default_logger(logger);
}

void print_loaded(const config::Config& c, const LoadedSignatures& sigs) {
  std::printf("config: %s\n", c.source.c_str());
  std::printf("  ports: vendor \"%s\", core \"%s\"\n", c.ports.vendor.c_str(), c.ports.core.c_str());
  std::printf("  dataplane: %u worker(s), burst %u, %u mbufs, hugepages %s\n", c.dataplane.workers,
              c.dataplane.burst_size, c.dataplane.mbufs, config::to_string(c.dataplane.hugepages));
  std::printf("  vendor nets: %zu\n", c.network.vendor_nets.size());
  for (const config::Cidr& n : c.network.vendor_nets) std::printf("    %s\n", n.to_string().c_str());
  std::printf("  failure: malformed_vendor %s, malformed_core %s\n",
              config::to_string(c.failure.malformed_vendor), config::to_string(c.failure.malformed_core));
  std::printf("  log: dir %s, level %s\n", c.log.dir.c_str(), c.log.level.c_str());
  const config::FailureConfig& f = c.failure;
  std::printf("  failure: bad_checksum %s, reassembly_overflow %s, depth_reached %s, spoofed_source %s, "
              "flow_table_full %s\n",
              config::to_string(f.bad_checksum), config::to_string(f.reassembly_overflow),
              config::to_string(f.depth_reached), config::to_string(f.spoofed_source),
              config::to_string(f.flow_table_full));
  std::printf("  failure: frag_overlap %s, frag_too_many %s, frag_oversize %s, frag_timeout %s, frag_table_full %s\n",
              config::to_string(f.frag_overlap), config::to_string(f.frag_too_many), config::to_string(f.frag_oversize),
              config::to_string(f.frag_timeout), config::to_string(f.frag_table_full));
  std::printf("  fragments: timeout %u s, %u datagrams per direction, %u fragments held, datagrams up to %u bytes\n",
              c.fragments.timeout, c.fragments.max_datagrams, c.fragments.max_fragments, c.fragments.max_datagram_size);
  std::printf("  flows: %u per worker, inspect depth %u, reassembly buffer %u, checksums %s\n",
              c.flows.capacity, c.flows.inspect_depth, c.flows.reassembly_buffer,
              c.flows.verify_checksums ? "verified" : "not verified");
  std::printf("  metrics: http://%s/metrics\n", c.metrics.listen.c_str());
  print_signatures(stdout, sigs, c);
}

int run(const CliOptions& cli) {
  if (cli.version) {
    std::printf("%s\n", version_text().c_str());
    return 0;
  }
  if (cli.build_info) {
    std::printf("%s", build_info_text().c_str());
    return 0;
  }
  const config::Config config = effective_config(cli);
  if (cli.dump_config) {
    std::printf("%s", config::dump_config(config).c_str());
    return 0;
  }
  set_up_logging(config);
  const LoadedSignatures signatures =
      load_signatures(config, RuleSources{cli.rules_only, cli.rules_extra});
  if (cli.test_config) {
    print_loaded(config, signatures);
    const bool enforce = signatures.policy && signatures.policy->mode == rules::PolicyMode::kEnforce;
    if (enforce || !signatures.filters.empty()) {
      // rte_acl and rte_bpf_convert allocate EAL memory: a private replay-style EAL, gone again after.
      init_eal(plan_eal(config, RunMode::kReplay, cli.eal_args));
      if (enforce) {
        const std::unique_ptr<ActivePolicy> policy = activate_policy(signatures.policy, false);
        std::printf("  policy classifier: %zu IPv4 + %zu IPv6 ACL rules\n", policy->classifier->acl_rules_v4(),
                    policy->classifier->acl_rules_v6());
      }
      if (const std::unique_ptr<FilterSet> filters = compile_filters(signatures.filters, filters_dir(config))) {
        for (const ActiveFilter& f : filters->filters) {
          if (f.program->jitted()) {
            std::printf("  filter %s: %s, JIT %zu bytes\n", f.spec.name.c_str(), f.source.c_str(), f.program->jit_size());
          } else {
            std::printf("  filter %s: %s, interpreted (no JIT)\n", f.spec.name.c_str(), f.source.c_str());
          }
        }
      }
      cleanup_eal(true);
    }
    std::printf("configuration OK\n");
    return 0;
  }
  install_stream_allocator();

  if (!cli.read_pcap.empty()) {
    if (!cli.learn_policy.empty() && config.network.vendor_nets.empty()) {
      throw config::LoadError({"--learn-policy", 0, 0},
                              "needs the vendor side's networks (--vendor-net CIDR or [network] vendor_nets): "
                              "without them no flow is the vendor's");
    }
    PcapSource source(cli.read_pcap);  // before the EAL: a bad file fails fast
    const EalPlan plan = plan_eal(config, RunMode::kReplay, cli.eal_args);
    init_eal(plan);
    ReplayOptions options;
    options.out_pcap = cli.write_pcap;
    options.vendor_nets = config.network.vendor_nets;
    options.learn_policy = cli.learn_policy;
    if (config.metrics_given) options.metrics_listen = config.metrics.listen;
    options.rule_metrics = config.metrics.rules;
    const ReplayResult result = run_replay(source, config, options, signatures, [] {
      const int sig = wait_control_signal(0);
      return sig == SIGINT || sig == SIGTERM;
    });
    print_summary(stdout, result.stats);
    write_eve_stats(config.log.dir, result.stats);
    cleanup_eal(true);
    if (!result.read_error.empty()) {
      spdlog::error("-r {}: read error after {} frames: {}", cli.read_pcap,
                    result.stats.frames_read, result.read_error);
      return kExitReadError;
    }
    return 0;
  }

  const EalPlan plan = plan_eal(config, RunMode::kLive, cli.eal_args);
  spdlog::info("{}", plan.memory_note);
  init_eal(plan);
  const RunStats stats = run_live(config, signatures, RuleSources{cli.rules_only, cli.rules_extra});
  print_summary(stdout, stats);
  write_eve_stats(config.log.dir, stats);
  cleanup_eal(false);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  block_control_signals();
  std::string usage_error;
  const auto cli = parse_cli(argc, argv, usage_error);
  if (!cli) {
    std::fprintf(stderr, "sentinel: %s\n%s", usage_error.c_str(), usage_text());
    return kExitError;
  }
  if (cli->help) {
    std::printf("%s", usage_text());
    return 0;
  }
  try {
    return run(*cli);
  } catch (const config::LoadError& e) {
    std::fprintf(stderr, "%s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sentinel: error: %s\n", e.what());
  }
  return kExitError;
}

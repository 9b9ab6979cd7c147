// Live mode (see live.hpp).
#include "dataplane/live.hpp"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <vector>

#include "dataplane/alerts.hpp"
#include "dataplane/build_info.hpp"
#include "dataplane/eve.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/metrics.hpp"
#include "dataplane/policy.hpp"
#include "dataplane/ports.hpp"
#include "dataplane/reload.hpp"
#include "dataplane/ruleset.hpp"
#include "dataplane/setup_error.hpp"
#include "dataplane/signals.hpp"
#include "dataplane/telemetry.hpp"
#include "dataplane/worker.hpp"

namespace sentinel::dataplane {
namespace {

constexpr int kControlTickMs = 10;

struct LaunchArgs {
  Worker* worker;
  const std::atomic<bool>* stop;
};

int worker_main(void* arg) {
  auto* a = static_cast<LaunchArgs*>(arg);
  a->worker->run(*a->stop);
  return 0;
}

void print_stats_line(const Totals& now, const Totals& before, double seconds) {
  std::printf("stats:");
  for (size_t d = 0; d < kDirectionCount; ++d) {
    const double pps = static_cast<double>(now.rx_packets[d] - before.rx_packets[d]) / seconds;
    std::printf(" %s rx=%llu fwd=%llu drop=%llu (%.0f pps)%s", kDirectionNames[d],
                static_cast<unsigned long long>(now.rx_packets[d]),
                static_cast<unsigned long long>(now.forwarded[d]),
                static_cast<unsigned long long>(now.dropped[d]), pps, d == 0 ? " |" : "");
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

RunStats run_live(const config::Config& config, const LoadedSignatures& signatures, const RuleSources& sources) {
  const config::DataplaneConfig& dp = config.dataplane;
  const uint16_t vendor = find_port("vendor", config.ports.vendor);
  const uint16_t core = find_port("core", config.ports.core);
  rte_mempool* pool = check_ptr(
      rte_pktmbuf_pool_create("packet_pool", dp.mbufs, dp.mbuf_cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                              rte_eth_dev_socket_id(vendor)),
      "rte_pktmbuf_pool_create(" + std::to_string(dp.mbufs) + " mbufs)");
  const PortSettings settings{static_cast<uint16_t>(dp.workers),
                              static_cast<uint16_t>(dp.rx_descriptors),
                              static_cast<uint16_t>(dp.tx_descriptors)};
  spdlog::info("{}", start_port("vendor", vendor, settings, pool));
  spdlog::info("{}", start_port("core", core, settings, pool));
  check_same_mtu(vendor, core);

  const bool learn = signatures.policy && signatures.policy->mode == rules::PolicyMode::kLearn;
  RulesetPublisher publisher(build_ruleset(config, signatures, 1, dp.workers, learn), dp.workers);
  spdlog::info("rules: generation 1, hash {}", publisher.current().generation->hash());
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<const WorkerCounters*> counters;
  std::vector<AlertRing*> rings;
  for (uint16_t queue = 0; queue < dp.workers; ++queue) {
    WorkerSetup setup = worker_setup(config, vendor, core, queue, publisher.current().generation->inspection());
    setup.published = &publisher.slot();
    setup.qsbr = publisher.qsbr();
    workers.push_back(std::make_unique<Worker>(setup, queue));
    counters.push_back(&workers.back()->counters());
    rings.push_back(&workers.back()->alerts());
  }
  EveWriter eve(config.log.dir);
  AlertDrain alerts(eve, [&publisher](uint32_t generation) -> const AlertCatalog& {
    return publisher.catalog(generation);
  });
  spdlog::info("alerts: {}", eve.path());
  std::vector<const LearnTable*> learn_tables;
  for (const auto& w : workers) learn_tables.push_back(w->learn_table());
  Reloader reloader(config, sources, publisher, dp.workers, learn);

  register_telemetry({version_text(), config.ports.vendor, config.ports.core, dp.workers});
  const RulesetTelemetrySource ruleset_telemetry_source(
      [&publisher, &reloader] { return ruleset_telemetry(publisher, reloader.status()); });
  const MetricsSnapshot facts = build_facts();
  const MetricsServer metrics(
      config.metrics.listen,
      [facts, vendor, core, &counters, &eve, &publisher, &reloader] {
        MetricsSnapshot snap = take_snapshot(facts, vendor, core, counters);
        snap.alert_write_errors = eve.write_errors();
        const std::shared_ptr<const Ruleset> rs = publisher.current_shared();
        snap.signatures_loaded = rs->signatures;
        snap.allows_loaded = rs->allows;
        snap.filters_loaded = rs->filters;
        const ReloadStatus st = reloader.status();
        snap.ruleset = {rs->generation->number(), rs->generation->hash(), st.last_time, st.last_success,
                        st.successes, st.failures, publisher.pending()};
        return snap;
      },
      config.metrics.rules ? rule_counts_source([&publisher] {
        const std::shared_ptr<const Ruleset> rs = publisher.current_shared();
        return std::shared_ptr<const Generation>(rs, rs->generation.get());
      })
                           : std::function<RuleCountsSnapshot()>{});
  spdlog::info("metrics: http://{}/metrics{}", config.metrics.listen,
               config.metrics.rules ? " and /metrics/rules" : "");

  std::vector<LaunchArgs> launch(workers.size());
  uint16_t queue = 0;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    launch[queue] = {workers[queue].get(), &stop};
    (void)check_rte(rte_eal_remote_launch(worker_main, &launch[queue], lcore),
                    "rte_eal_remote_launch(lcore " + std::to_string(lcore) + ")");
    spdlog::info("worker {} on lcore {}: vendor queue {} <-> core queue {}", queue, lcore, queue, queue);
    ++queue;
  }
  spdlog::info("forwarding: vendor port {} <-> core port {} with {} worker(s); SIGINT/SIGTERM stops",
               vendor, core, workers.size());

  const auto start = std::chrono::steady_clock::now();
  auto last_stats = start;
  Totals before{};
  std::string vendor_link = link_text(vendor);
  std::string core_link = link_text(core);
  auto last_link_check = start;
  for (;;) {
    // Short waits: the alert rings are drained between them.
    const int sig = wait_control_signal(reloader.building() ? 1 : kControlTickMs);
    const auto drain = [&] {
      if (alerts.drain(rings) != 0) eve.flush();
    };
    drain();
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) reloader.request("SIGHUP");
    reloader.tick(drain);
    if (sig == SIGUSR1) {
      try {
        eve.reopen();
        spdlog::info("SIGUSR1: reopened {}", eve.path());
      } catch (const EveError& e) {
        spdlog::error("SIGUSR1: {} (alerts are counted as dropped until a reopen succeeds)", e.what());
      }
    }
    if (sig == SIGUSR2) {
      if (!learn) {
        spdlog::warn("SIGUSR2 (write learned policy): no policy in learn mode ([policy] mode = \"learn\")");
      } else {
        const std::string out = config.log.dir + "/learned-policy.toml";
        try {
          const LearnedSummary learned =
              write_learned_policy_file(learn_tables, publisher.current().generation->parts().policy->policy, out,
                                        "live traffic on this sentinel");
          spdlog::info("SIGUSR2: learned {} observation(s) of {} flow(s), written to {}", learned.observations,
                       learned.flows, out);
        } catch (const std::exception& e) {
          spdlog::error("SIGUSR2: {}", e.what());
        }
      }
    }
    const auto tick = std::chrono::steady_clock::now();
    if (tick - last_link_check < std::chrono::milliseconds(250)) continue;
    last_link_check = tick;
    for (auto [port, side, last] : {std::tuple{vendor, "vendor", &vendor_link},
                                    std::tuple{core, "core", &core_link}}) {
      std::string now = link_text(port);
      if (now != *last) spdlog::warn("{} port {}: link {} (was {})", side, port, now, *last);
      *last = std::move(now);
    }
    const auto now = std::chrono::steady_clock::now();
    if (config.log.stats_interval != 0 &&
        now - last_stats >= std::chrono::seconds(config.log.stats_interval)) {
      const Totals totals = sum_counters(counters);
      print_stats_line(totals, before, std::chrono::duration<double>(now - last_stats).count());
      before = totals;
      last_stats = now;
    }
  }
  stop.store(true, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  reloader.wait();
  (void)alerts.drain(rings);
  eve.close();

  RunStats stats;
  stats.mode = "live";
  stats.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.totals = sum_counters(counters);
  stats.frames_read = stats.totals.rx_total();
  stats.alerts_written = alerts.written();
  stats.alert_write_errors = eve.write_errors();
  rte_eth_stats port_stats{};
  for (uint16_t port : {vendor, core}) {
    if (rte_eth_stats_get(port, &port_stats) == 0) stats.rx_nombuf += port_stats.rx_nombuf;
  }
  stop_port(vendor);
  stop_port(core);
  return stats;
}

}  // namespace sentinel::dataplane

// Alert storm: a UDP signature that matches every packet, 1,000,000 frames at full rate
// through a worker running its own loop (Worker::run on a thread of its own, as live mode
// runs it), and the real alert path behind it: the worker's AlertRing, drained by an
// AlertDrain into an EveWriter writing eve.json in a temporary directory. The test's thread
// plays the live control loop: drain(), flush() when it wrote something, a 1 ms pause (each
// drain() call takes records until the ring is empty; the longest call is printed). A
// generator thread recycles 4,096 frames from the core port's tx ring back into the vendor
// port's rx ring until a million went in. To be sure the ring overflows, the drain starts
// only once the worker has counted a dropped alert (a slow drain: polled, bounded). Claims:
//   - the dataplane forwards every frame: frames in = forwarded, no drop of any reason;
//   - one alert per frame is generated, and alerts generated = EVE lines written + alerts
//     dropped (the counter behind sentinel_alerts_dropped_total), exactly; the dropped
//     count is not zero;
//   - every line of eve.json parses as JSON and is the rule's alert; the writer reports no
//     write error; the mbuf pool ends as full as it started.
// Prints frames, Mpps, alerts generated / written / dropped.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dataplane/alerts.hpp"
#include "dataplane/eve.hpp"
#include "tests/integration/overload/overload_common.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::overload;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kFrames = 1'000'000;
constexpr uint32_t kInFlight = 4096;  // frames recycled by the generator
constexpr uint32_t kFlows = 256;
constexpr auto kDeadline = std::chrono::seconds(150);  // a hang fails the test (meson's timeout: 180 s)

rte_mempool* g_pool = nullptr;
RingPort g_vendor, g_core;

const char* const kRules = R"([[rule]]
sid = 1
msg = "storm: every datagram"
action = "alert"
proto = "udp"
match = [{ content = "STORM" }]
)";

}  // namespace

TEST(AlertStorm, EveGetsEveryAlertOrCountsItDropped) {
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  char dir_template[] = "/tmp/sentinel-alert-storm-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;

  // 256 flows: a small table (the worker's per-slot arrays cost time and memory at
  // construction under meson's MALLOC_PERTURB_).
  auto s = make_sentinel("[flows]\ncapacity = 1024\n", kRules, "", "", g_vendor.id, g_core.id, 0);
  dataplane::Worker& w = *s->worker;
  const dataplane::WorkerCounters& c = s->counters();
  const dataplane::AlertCatalog catalog(s->rules.get(), classifications());
  auto eve = std::make_unique<dataplane::EveWriter>(dir.string());
  dataplane::AlertDrain drain(*eve, [&catalog](uint32_t) -> const dataplane::AlertCatalog& { return catalog; });
  dataplane::AlertRing* rings[1] = {&w.alerts()};

  std::vector<rte_mbuf*> frames(kInFlight);
  for (uint32_t i = 0; i < kInFlight; ++i) {
    Packet k;
    k.proto = 17;
    const uint32_t f = i % kFlows;
    k.src = ip4(10, 2, 0, 0) + f;
    k.dst = ip4(192, 168, 1, 5);
    k.sport = static_cast<uint16_t>(5000 + f);
    k.dport = 9999;
    frames[i] = make_frame(g_pool, k, "STORM " + std::string(40, static_cast<char>('a' + i % 26)));
    ASSERT_NE(frames[i], nullptr);
  }

  const auto start = Clock::now();
  const auto deadline = start + kDeadline;
  std::atomic<bool> stop_worker{false};
  std::atomic<bool> stop_gen{false};
  std::atomic<bool> gen_done{false};
  std::atomic<uint64_t> enqueued{0};
  std::atomic<uint64_t> retired{0};  // frames the generator freed: the target was reached
  std::thread worker_thread([&] { w.run(stop_worker); });
  std::thread gen_thread([&] {
    uint64_t sent = rte_ring_enqueue_burst(g_vendor.rx, reinterpret_cast<void**>(frames.data()), kInFlight, nullptr);
    enqueued.store(sent);
    rte_mbuf* buf[512];
    while (sent < kFrames && !stop_gen.load(std::memory_order_relaxed)) {
      const unsigned n = rte_ring_dequeue_burst(g_core.tx, reinterpret_cast<void**>(buf), 512, nullptr);
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      const auto k = static_cast<unsigned>(std::min<uint64_t>(n, kFrames - sent));
      const unsigned q = rte_ring_enqueue_burst(g_vendor.rx, reinterpret_cast<void**>(buf), k, nullptr);
      rte_pktmbuf_free_bulk(buf + q, n - q);  // past the target (never for lack of room: the ring holds them all)
      retired.fetch_add(n - q, std::memory_order_relaxed);
      sent += q;
      enqueued.store(sent, std::memory_order_relaxed);
    }
    gen_done.store(true);
  });
  const auto rx_now = [&c] { return c.dir[0].rx_packets.get() + c.dir[1].rx_packets.get(); };

  // A slow drain: nothing is taken off the ring until the worker has dropped an alert.
  while (c.inspect.alerts_dropped.get() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const bool overflowed = c.inspect.alerts_dropped.get() != 0;
  const uint64_t frames_at_first_drop = rx_now();
  const double paused_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  // Then the control loop's job: drain every millisecond until every frame went through.
  uint64_t ticks = 0;
  double longest_drain_ms = 0;
  while (!(gen_done.load() && rx_now() == enqueued.load()) && Clock::now() < deadline) {
    const auto t = Clock::now();
    if (drain.drain(rings) != 0) eve->flush();
    longest_drain_ms = std::max(longest_drain_ms, std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    ++ticks;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool finished = gen_done.load() && rx_now() == enqueued.load();
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  stop_gen.store(true);
  gen_thread.join();
  stop_worker.store(true);
  worker_thread.join();
  (void)drain.drain(rings);
  eve->close();
  const uint64_t frames_in = enqueued.load();
  const uint64_t left_over = free_all(g_core.tx) + free_all(g_vendor.rx) + free_all(g_vendor.tx) + free_all(g_core.rx);

  ASSERT_TRUE(finished) << "the storm did not finish within " << kDeadline.count() << " s";
  ASSERT_TRUE(overflowed) << "the alert ring never overflowed";
  EXPECT_EQ(frames_in, kFrames);

  // eve.json: every line parses and is the rule's alert.
  uint64_t lines = 0;
  uint64_t bad_json = 0;
  uint64_t not_the_alert = 0;
  uint64_t bytes = 0;
  {
    std::ifstream in(eve->path());
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      bytes += line.size() + 1;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        ++bad_json;
        continue;
      }
      not_the_alert += !(j.value("event_type", "") == "alert" && j.contains("alert") &&
                         j["alert"].value("signature_id", 0) == 1);
    }
  }
  const uint64_t generated = alerts_generated(c);
  const uint64_t dropped = c.inspect.alerts_dropped.get();

  expect_accounting(c, frames_in, {});
  EXPECT_EQ(accounting(c).forwarded, frames_in) << "every frame forwarded";
  EXPECT_EQ(generated, frames_in) << "one alert per frame";
  EXPECT_EQ(alerts_of(c, dataplane::AlertSource::kSignature, rules::Action::kAlert), frames_in);
  EXPECT_EQ(lines, drain.written()) << "every record drained became a line";
  EXPECT_EQ(lines, eve->lines_queued());
  EXPECT_EQ(generated, lines + dropped) << "alerts generated = written + dropped";
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(bad_json, 0u) << "every line of eve.json is JSON";
  EXPECT_EQ(not_the_alert, 0u);
  EXPECT_EQ(eve->write_errors(), 0u);
  EXPECT_EQ(left_over + retired.load(), kInFlight) << "every recycled frame, freed by the generator or left in a ring";
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(pool_end, pool_start);

  print_figures("alert_storm", {{"frames", frames_in},
                                {"seconds", round2(elapsed_s)},
                                {"mpps_wall", round2(static_cast<double>(frames_in) / elapsed_s / 1e6)},
                                {"alerts_generated", generated},
                                {"alerts_written", lines},
                                {"alerts_dropped", dropped},
                                {"eve_bytes", bytes},
                                {"alert_ring_size", config::kAlertRingSize},
                                {"drain_paused_ms", round2(paused_ms)},
                                {"frames_at_first_dropped_alert", frames_at_first_drop},
                                {"drain_calls", ticks},
                                {"longest_drain_call_ms", round2(longest_drain_ms)},
                                {"mbufs", {{"start", pool_start}, {"end", pool_end}}},
                                {"counters", counters_json(c)}});
  eve.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

int main(int argc, char** argv) {
  return run_with_eal(argc, argv, "ovl-alerts", 256, {}, [] {
    g_pool = rte_pktmbuf_pool_create("alerts_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_pool == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create");
    g_vendor = make_ring_port("vendor", g_pool, 8192, 8192);
    g_core = make_ring_port("core", g_pool, 8192, 8192);
  });
}

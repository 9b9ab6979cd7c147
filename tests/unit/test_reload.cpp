// Reload on the control plane: the debouncer; a generation's lifetime under RCU with fake
// worker loops on threads of their own (retired only after the grace period and once its
// streams are closed, alert rings drained first); the Reloader end to end on a rules
// directory (valid, invalid and unchanged files, learn mode refused, the inotify watcher);
// the content hash. Brings up its own EAL (--no-huge, unique file prefix).
#include <gtest/gtest.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/reload.hpp"
#include "dataplane/ruleset.hpp"
#include "eal_main.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;
using namespace std::chrono_literals;

namespace {

using Clock = Debouncer::Clock;

TEST(Debouncer, OneEventIsDueAfterTheQuietTime) {
  Debouncer d(100ms, 1000ms);
  const Clock::time_point t0{};
  EXPECT_FALSE(d.due(t0 + 500ms)) << "nothing happened";
  d.event(t0);
  EXPECT_TRUE(d.pending());
  EXPECT_FALSE(d.due(t0 + 99ms));
  EXPECT_TRUE(d.due(t0 + 100ms));
  EXPECT_FALSE(d.due(t0 + 101ms)) << "once per burst";
  EXPECT_FALSE(d.pending());
}

TEST(Debouncer, ABurstOfEventsMakesOneReload) {
  Debouncer d(100ms, 1000ms);
  const Clock::time_point t0{};
  int due = 0;
  // An editor's save or an rsync: 20 events 30 ms apart, then silence.
  for (int i = 0; i < 20; ++i) {
    d.event(t0 + i * 30ms);
    due += d.due(t0 + i * 30ms + 29ms);
  }
  EXPECT_EQ(due, 0);
  EXPECT_FALSE(d.due(t0 + 19 * 30ms + 99ms));
  EXPECT_TRUE(d.due(t0 + 19 * 30ms + 100ms));
}

TEST(Debouncer, ChangesThatNeverStopStillReloadAfterMaxWait) {
  Debouncer d(100ms, 1000ms);
  const Clock::time_point t0{};
  int due = 0;
  for (int i = 0; i <= 250; ++i) {  // an event every 10 ms for 2.5 s
    d.event(t0 + i * 10ms);
    due += d.due(t0 + i * 10ms);
  }
  EXPECT_EQ(due, 2) << "at 1 s and 2 s after the first event of each burst";
}

// A worker loop as Worker::run has it: the published generation read once per loop, a
// stream opened on each generation taken (counted as the worker counts it; it stays open
// like an idle flow's), RCU quiescence reported once per loop. It can be held inside a loop
// (not quiescent) and told to close its stream on a given generation.
class FakeWorker {
 public:
  FakeWorker(const RulesetPublisher& publisher, unsigned id) : publisher_(publisher), id_(id) {
    thread_ = std::thread([this] { run(); });
    wait_loops(2);
  }
  ~FakeWorker() {
    stop_ = true;
    thread_.join();
  }
  // Holds the loop after it read the published generation, before it reports quiescence.
  void hold() {
    hold_ = true;
    while (!held_) std::this_thread::yield();
  }
  void release() {
    hold_ = false;
    wait_loops(2);
  }
  void close_stream_on(uint64_t generation) {
    close_ = generation;
    while (close_ != 0) std::this_thread::yield();
  }
  void wait_loops(uint64_t n) {
    const uint64_t target = loops_ + n;
    while (loops_ < target) std::this_thread::yield();
  }

 private:
  void run() {
    rte_rcu_qsbr* q = publisher_.qsbr();
    rte_rcu_qsbr_thread_online(q, id_);
    const Generation* current = nullptr;
    std::vector<std::pair<uint64_t, GenerationWorker*>> open;  // streams by generation
    while (!stop_) {
      const Generation* g = publisher_.slot().load(std::memory_order_acquire);
      if (g != current) {
        g->worker(id_).streams.add(1);
        open.emplace_back(g->number(), &g->worker(id_));
        current = g;
      }
      if (const uint64_t c = close_; c != 0) {
        std::erase_if(open, [c](const auto& s) {
          if (s.first != c) return false;
          s.second->streams.add(-1);
          return true;
        });
        close_ = 0;
      }
      while (hold_ && !stop_) {  // held_ is set inside: a hold() that came after the check waits for the next loop
        held_ = true;
        std::this_thread::yield();
      }
      held_ = false;
      rte_rcu_qsbr_quiescent(q, id_);
      ++loops_;
    }
    for (const auto& s : open) s.second->streams.add(-1);
    rte_rcu_qsbr_thread_offline(q, id_);
  }

  const RulesetPublisher& publisher_;
  unsigned id_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, hold_{false}, held_{false};
  std::atomic<uint64_t> close_{0};
  std::atomic<uint64_t> loops_{0};
};

std::unique_ptr<Ruleset> empty_ruleset(uint64_t number, size_t workers) {
  auto rs = std::make_unique<Ruleset>();
  rs->generation = std::make_unique<Generation>(number, "h" + std::to_string(number), Inspection{}, workers);
  rs->catalog = std::make_unique<AlertCatalog>(nullptr, rules::ClassificationTable{});
  return rs;
}

TEST(RulesetLifetime, RetiredOnlyAfterTheGracePeriodAndItsLastStream) {
  RulesetPublisher publisher(empty_ruleset(1, 2), 2);
  const std::weak_ptr<const Ruleset> first = publisher.current_shared();
  {
    FakeWorker w0(publisher, 0), w1(publisher, 1);
    int drains = 0;
    const auto drain = [&] { ++drains; };
    w1.hold();  // w1 is inside a poll that read generation 1
    publisher.publish(empty_ruleset(2, 2));
    EXPECT_EQ(publisher.current().generation->number(), 2u);
    EXPECT_EQ(publisher.pending(), 1u);
    w0.wait_loops(100);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(publisher.retire(drain), 0u);
    EXPECT_EQ(drains, 0) << "the grace period has not ended: w1 has not been quiescent since";
    EXPECT_FALSE(first.expired());
    w1.release();
    // Grace over; but both workers still have a stream open on generation 1.
    EXPECT_EQ(publisher.retire(drain), 0u);
    EXPECT_EQ(drains, 1) << "the rings are drained once, when the grace period ends";
    EXPECT_EQ(publisher.pending(), 1u);
    // Records of generation 1 still drain with its catalog.
    EXPECT_EQ(&publisher.catalog(1), first.lock()->catalog.get());
    EXPECT_EQ(&publisher.catalog(2), publisher.current().catalog.get());
    w0.close_stream_on(1);
    EXPECT_EQ(publisher.retire(drain), 0u) << "w1's stream still pins it";
    EXPECT_FALSE(first.expired());
    w1.close_stream_on(1);
    EXPECT_EQ(publisher.retire(drain), 1u);
    EXPECT_EQ(publisher.pending(), 0u);
    EXPECT_TRUE(first.expired());
    EXPECT_EQ(drains, 1);
  }
}

TEST(RulesetLifetime, SeveralGenerationsRetireInAnyOrderOfTheirStreams) {
  RulesetPublisher publisher(empty_ruleset(1, 1), 1);
  FakeWorker w(publisher, 0);
  const std::weak_ptr<const Ruleset> g1 = publisher.current_shared();
  publisher.publish(empty_ruleset(2, 1));
  w.wait_loops(2);
  const std::weak_ptr<const Ruleset> g2 = publisher.current_shared();
  publisher.publish(empty_ruleset(3, 1));
  w.wait_loops(2);
  EXPECT_EQ(publisher.pending(), 2u);
  w.close_stream_on(2);  // the younger one's streams go first
  EXPECT_EQ(publisher.retire([] {}), 1u);
  EXPECT_TRUE(g2.expired());
  EXPECT_FALSE(g1.expired());
  EXPECT_EQ(publisher.pending(), 1u);
  w.close_stream_on(1);
  EXPECT_EQ(publisher.retire([] {}), 1u);
  EXPECT_TRUE(g1.expired());
  EXPECT_EQ(publisher.pending(), 0u);
}

TEST(RulesetLifetime, AnOfflineWorkerDoesNotHoldTheGracePeriod) {
  RulesetPublisher publisher(empty_ruleset(1, 3), 3);  // workers 1 and 2 never come online
  FakeWorker w(publisher, 0);
  const std::weak_ptr<const Ruleset> g1 = publisher.current_shared();
  publisher.publish(empty_ruleset(2, 3));
  w.wait_loops(2);
  w.close_stream_on(1);
  EXPECT_EQ(publisher.retire([] {}), 1u);
  EXPECT_TRUE(g1.expired());
}

// ---------------------------------------------------------------------------------------
// Reloader on a rules directory.

class ReloaderTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sentinel-reload-" + std::to_string(getpid()) + "-" +
                                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "rules.d");
    config_.rules.dir = (dir_ / "rules.d").string();
    config_.rules.cache_dir = (dir_ / "cache").string();
    config_.rules.reload_debounce_ms = 20;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    const std::filesystem::path tmp = dir_ / "tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, dir_ / "rules.d" / name);
  }
  static std::string rule(uint32_t sid, const std::string& content) {
    return "[[rule]]\nsid = " + std::to_string(sid) + "\nmsg = \"m" + std::to_string(sid) +
           "\"\nproto = \"tcp\"\nmatch = [{ content = \"" + content + "\" }]\n";
  }
  // Ticks until a reload attempt ends (the status changes); false after 10 s.
  static bool tick_until_done(Reloader& r) {
    const ReloadStatus before = r.status();
    for (int i = 0; i < 10000; ++i) {
      r.tick([] {});
      const ReloadStatus now = r.status();
      if (now.successes != before.successes || now.failures != before.failures) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  std::filesystem::path dir_;
  config::Config config_;
};

TEST_F(ReloaderTest, ValidInvalidAndUnchangedFiles) {
  config_.rules.watch = false;
  write("a.toml", rule(1, "alpha"));
  RulesetPublisher publisher(build_ruleset(config_, RuleSources{}, 1, 1, false), 1);
  const std::string hash1 = publisher.current().generation->hash();
  EXPECT_EQ(hash1.size(), 64u);
  Reloader reloader(config_, RuleSources{}, publisher, 1, false);

  write("a.toml", rule(1, "beta"));
  reloader.request("test");
  ASSERT_TRUE(tick_until_done(reloader));
  EXPECT_EQ(publisher.current().generation->number(), 2u);
  EXPECT_NE(publisher.current().generation->hash(), hash1);
  EXPECT_EQ(publisher.current().generation->inspection().rules->rule(0).sid, 1u);
  ReloadStatus st = reloader.status();
  EXPECT_EQ(st.successes, 1u);
  EXPECT_TRUE(st.last_success);
  EXPECT_GT(st.last_time, 0);

  // A bad second file: nothing of it (or of the first file's new text) takes effect.
  write("a.toml", rule(1, "gamma") + rule(2, "delta"));
  write("b.toml", rule(3, "ok") + "[[rule]]\nsid = 4\nmsg = \"bad\"\nproto = \"tcp\"\nmatch = [{ pcre = \"(unclosed\" }]\n");
  reloader.request("test");
  ASSERT_TRUE(tick_until_done(reloader));
  st = reloader.status();
  EXPECT_EQ(st.failures, 1u);
  EXPECT_FALSE(st.last_success);
  EXPECT_NE(st.last_error.find("b.toml:"), std::string::npos) << st.last_error;
  EXPECT_EQ(publisher.current().generation->number(), 2u);
  EXPECT_EQ(publisher.current().signatures, 1u);

  // Fixed: the next generation has all three files' rules.
  write("b.toml", rule(3, "ok"));
  reloader.request("test");
  ASSERT_TRUE(tick_until_done(reloader));
  EXPECT_EQ(publisher.current().generation->number(), 3u);
  EXPECT_EQ(publisher.current().signatures, 3u);
  EXPECT_TRUE(reloader.status().last_success);

  // Nothing changed: success, no new generation.
  const std::string hash3 = publisher.current().generation->hash();
  reloader.request("test");
  ASSERT_TRUE(tick_until_done(reloader));
  EXPECT_EQ(publisher.current().generation->number(), 3u);
  EXPECT_EQ(publisher.current().generation->hash(), hash3);
  EXPECT_EQ(reloader.status().successes, 3u);
  reloader.wait();
}

TEST_F(ReloaderTest, LearnModeCannotBeSwitchedByAReload) {
  config_.rules.watch = false;
  write("a.toml", rule(1, "alpha"));
  RulesetPublisher publisher(build_ruleset(config_, RuleSources{}, 1, 1, false), 1);
  Reloader reloader(config_, RuleSources{}, publisher, 1, false);
  write("p.toml", "[policy]\nmode = \"learn\"\n");
  reloader.request("test");
  ASSERT_TRUE(tick_until_done(reloader));
  const ReloadStatus st = reloader.status();
  EXPECT_EQ(st.failures, 1u);
  EXPECT_NE(st.last_error.find("p.toml:1:1: [policy] mode"), std::string::npos) << st.last_error;
  EXPECT_EQ(publisher.current().generation->number(), 1u);
}

TEST_F(ReloaderTest, FileChangesTriggerOneDebouncedReload) {
  write("a.toml", rule(1, "alpha"));
  RulesetPublisher publisher(build_ruleset(config_, RuleSources{}, 1, 1, false), 1);
  Reloader reloader(config_, RuleSources{}, publisher, 1, false);
  // Editor droppings are not rule files.
  std::ofstream(dir_ / "rules.d" / ".a.toml.swp") << "x";
  std::ofstream(dir_ / "rules.d" / "notes.txt") << "x";
  for (int i = 0; i < 50; ++i) reloader.tick([] {});
  EXPECT_EQ(reloader.status().successes + reloader.status().failures, 0u);
  // Several files written together: one reload.
  write("a.toml", rule(1, "one"));
  write("b.toml", rule(2, "two"));
  write("c.toml", rule(3, "three"));
  ASSERT_TRUE(tick_until_done(reloader));
  for (int i = 0; i < 100; ++i) {
    reloader.tick([] {});
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(reloader.status().successes, 1u);
  EXPECT_EQ(publisher.current().generation->number(), 2u);
  EXPECT_EQ(publisher.current().signatures, 3u);
  EXPECT_NE(reloader.status().last_trigger.find("inotify"), std::string::npos);
}

TEST(RulesetHash, FollowsTheFilesBytes) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("sentinel-hash-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "a.toml").string();
  LoadedSignatures s;
  s.classification_source = "builtin";
  s.files = {f};
  std::ofstream(f) << "x = 1\n";
  const std::string h1 = ruleset_hash(s, nullptr);
  EXPECT_EQ(h1, ruleset_hash(s, nullptr));
  std::ofstream(f) << "x = 2\n";
  EXPECT_NE(ruleset_hash(s, nullptr), h1);
  std::ofstream(f) << "x = 1\n";
  EXPECT_EQ(ruleset_hash(s, nullptr), h1);
  s.files = {f, f};
  EXPECT_NE(ruleset_hash(s, nullptr), h1) << "a file twice is another set";
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) { return sentinel::test::run_tests_with_eal(argc, argv, "test_reload", "256"); }

// Hot reload in live mode. A SIGHUP, or a change to the rule files (inotify, debounced so an
// editor's save or an rsync of many files yields one reload), starts a build of the next
// generation on a control thread of its own (ruleset.hpp); the main control loop keeps
// draining alerts meanwhile. A build that fails anywhere changes nothing: the running
// generation stays, the error (file:line:col) is logged and counted. A build that succeeds is
// published; the previous generation is freed after its grace period, once no flow's stream
// uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/ruleset.hpp"
#include "dataplane/signatures.hpp"
#include "dataplane/telemetry.hpp"

namespace sentinel::dataplane {

// Coalesces a burst of change events into one reload: due once no event has come for
// `quiet`, or `max_wait` after the burst's first event when events keep coming.
class Debouncer {
 public:
  using Clock = std::chrono::steady_clock;
  Debouncer(Clock::duration quiet, Clock::duration max_wait) noexcept : quiet_(quiet), max_wait_(max_wait) {}

  void event(Clock::time_point now) noexcept;
  // True once per burst, when it is due; the burst is then over.
  [[nodiscard]] bool due(Clock::time_point now) noexcept;
  [[nodiscard]] bool pending() const noexcept { return pending_; }

 private:
  Clock::duration quiet_;
  Clock::duration max_wait_;
  bool pending_ = false;
  Clock::time_point first_{};
  Clock::time_point last_{};
};

// inotify on the rule files: the rules directory (its *.toml files and the filter objects
// beside them, *.o) unless -S names the files, and the directories of -S/-s files (those
// names only).
class RulesWatcher {
 public:
  // [control] Throws SetupError when inotify cannot watch a directory.
  RulesWatcher(const config::Config& config, const RuleSources& sources);
  ~RulesWatcher();
  RulesWatcher(const RulesWatcher&) = delete;
  RulesWatcher& operator=(const RulesWatcher&) = delete;

  // [control] Reads the waiting events without blocking; returns how many concern rule files
  // and sets `name` to the last one's file name.
  size_t poll(std::string& name);

 private:
  int fd_ = -1;
  struct Watch {
    int wd;
    bool whole_dir;             // the rules directory: *.toml and *.o
    std::set<std::string> names;  // otherwise: these file names only
  };
  std::vector<Watch> watches_;
};

struct ReloadStatus {
  uint64_t successes = 0;
  uint64_t failures = 0;
  double last_time = 0;      // unix seconds of the last attempt's end; 0 = none yet
  bool last_success = true;  // nothing failed yet
  std::string last_error;    // of the last failure
  std::string last_trigger;  // "SIGHUP", "inotify: <file>", …
  double last_ms = 0;        // the last attempt, trigger to published (or failed)
};

// [any] /sentinel/ruleset's answer.
[[nodiscard]] RulesetTelemetry ruleset_telemetry(const RulesetPublisher& publisher, const ReloadStatus& status);

class Reloader {
 public:
  // [control] `watch`: [rules] watch (inotify). `learn`: the workers' learn mode.
  Reloader(const config::Config& config, RuleSources sources, RulesetPublisher& publisher, size_t workers,
           bool learn);
  ~Reloader();

  // [control] Asks for a reload; one already asked for or running absorbs it (a request that
  // arrives while a build runs starts another one after it, so no change is missed).
  void request(const std::string& trigger);
  // [control] Once per control tick: reads the watcher, starts and finishes builds, publishes,
  // retires. `drain` empties the alert rings (see RulesetPublisher::retire).
  void tick(const std::function<void()>& drain);
  // [control] Waits for a build under way (shutdown).
  void wait();
  // [control] A build is under way (the control loop ticks faster to publish it sooner).
  [[nodiscard]] bool building() const noexcept { return build_.valid(); }

  // [any]
  [[nodiscard]] ReloadStatus status() const;

 private:
  struct Built {
    std::unique_ptr<Ruleset> ruleset;
    std::string error;
  };
  void start(const std::string& trigger);
  void finish(Built built);

  const config::Config& config_;
  RuleSources sources_;
  RulesetPublisher& publisher_;
  size_t workers_;
  bool learn_;
  std::unique_ptr<RulesWatcher> watcher_;
  Debouncer debounce_;
  std::future<Built> build_;
  bool again_ = false;          // a request came while building
  std::string again_trigger_;
  std::string trigger_;
  std::string pending_name_;  // the last changed file of the burst being debounced
  std::chrono::steady_clock::time_point started_{};
  uint64_t next_number_;
  mutable std::mutex mu_;
  ReloadStatus status_;
};

}  // namespace sentinel::dataplane

// Hot reload (see reload.hpp).
#include "dataplane/reload.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void Debouncer::event(Clock::time_point now) noexcept {
  if (!pending_) first_ = now;
  pending_ = true;
  last_ = now;
}

bool Debouncer::due(Clock::time_point now) noexcept {
  if (!pending_ || (now - last_ < quiet_ && now - first_ < max_wait_)) return false;
  pending_ = false;
  return true;
}

RulesWatcher::RulesWatcher(const config::Config& config, const RuleSources& sources) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw SetupError(std::string("inotify_init1: ") + std::strerror(errno));
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE;
  const auto add = [&](const std::string& dir, bool whole, const std::string& name) {
    const int wd = inotify_add_watch(fd_, dir.c_str(), kMask);
    if (wd < 0) throw SetupError("inotify_add_watch(" + dir + "): " + std::strerror(errno));
    auto w = std::find_if(watches_.begin(), watches_.end(), [wd](const Watch& x) { return x.wd == wd; });
    if (w == watches_.end()) w = watches_.insert(watches_.end(), Watch{wd, false, {}});  // one per directory
    w->whole_dir |= whole;
    if (!name.empty()) w->names.insert(name);
  };
  if (sources.only.empty()) add(config.rules.dir, true, "");
  for (const auto* list : {&sources.only, &sources.extra}) {
    for (const std::string& f : *list) {
      const std::filesystem::path p = std::filesystem::absolute(f);
      add(p.parent_path().string(), false, p.filename().string());
    }
  }
}

RulesWatcher::~RulesWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

size_t RulesWatcher::poll(std::string& name) {
  alignas(inotify_event) char buf[16384];
  size_t relevant = 0;
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing more
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {  // events were lost: reload to be sure
        ++relevant;
        name = "(inotify queue overflow)";
        continue;
      }
      if (ev->len == 0) continue;
      const std::string file(ev->name);
      for (const Watch& w : watches_) {
        if (w.wd != ev->wd) continue;
        const bool rule_file = file[0] != '.' && (ends_with(file, ".toml") || ends_with(file, ".o"));
        if ((w.whole_dir && rule_file) || w.names.count(file) != 0) {
          ++relevant;
          name = file;
        }
      }
    }
  }
  return relevant;
}

Reloader::Reloader(const config::Config& config, RuleSources sources, RulesetPublisher& publisher, size_t workers,
                   bool learn)
    : config_(config),
      sources_(std::move(sources)),
      publisher_(publisher),
      workers_(workers),
      learn_(learn),
      debounce_(std::chrono::milliseconds(config.rules.reload_debounce_ms),
                std::chrono::milliseconds(config.rules.reload_debounce_ms) * 10),
      next_number_(publisher.current().generation->number() + 1) {
  if (config.rules.watch) {
    watcher_ = std::make_unique<RulesWatcher>(config, sources_);
    spdlog::info("reload: on SIGHUP and on changes to the rule files (inotify, {} ms quiet)",
                 config.rules.reload_debounce_ms);
  } else {
    spdlog::info("reload: on SIGHUP ([rules] watch = false)");
  }
}

Reloader::~Reloader() { wait(); }

void Reloader::wait() {
  if (build_.valid()) build_.wait();
}

void Reloader::request(const std::string& trigger) {
  if (build_.valid()) {
    again_ = true;
    again_trigger_ = trigger;
    return;
  }
  start(trigger);
}

void Reloader::start(const std::string& trigger) {
  trigger_ = trigger;
  started_ = std::chrono::steady_clock::now();
  const uint64_t number = next_number_;
  spdlog::info("reload ({}): building generation {}", trigger, number);
  // The build reads files, compiles and allocates; it must not hold up the alert drain.
  build_ = std::async(std::launch::async, [this, number]() -> Built {
    try {
      return {build_ruleset(config_, sources_, number, workers_, learn_), {}};
    } catch (const std::exception& e) {
      return {nullptr, e.what()};
    }
  });
}

void Reloader::finish(Built built) {
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  ReloadStatus s = status();
  s.last_time = unix_now();
  s.last_trigger = trigger_;
  s.last_ms = ms;
  if (!built.ruleset) {
    ++s.failures;
    s.last_success = false;
    s.last_error = built.error;
    spdlog::error("reload ({}) failed, generation {} stays in force: {}", trigger_,
                  publisher_.current().generation->number(), built.error);
  } else if (built.ruleset->generation->hash() == publisher_.current().generation->hash()) {
    // Nothing changed (a SIGHUP, a touch): the flows keep their streams and decisions.
    ++s.successes;
    s.last_success = true;
    spdlog::info("reload ({}): files unchanged (hash {}), generation {} stays in force; {:.1f} ms", trigger_,
                 built.ruleset->generation->hash(), publisher_.current().generation->number(), ms);
  } else {
    const Ruleset& rs = *built.ruleset;
    const Generation& g = *rs.generation;
    ++s.successes;
    s.last_success = true;
    ++next_number_;
    spdlog::info("reload ({}): generation {} published, hash {}: {} signature(s), {} allow(s), {} filter(s) from {} "
                 "file(s); {:.1f} ms from trigger (build {:.1f} ms)",
                 trigger_, g.number(), g.hash(), rs.signatures, rs.allows, rs.filters, rs.files.size(), ms,
                 rs.built_seconds * 1e3);
    publisher_.publish(std::move(built.ruleset));
  }
  {
    const std::lock_guard lock(mu_);
    status_ = std::move(s);
  }
  (void)malloc_trim(0);  // what the compilers freed goes back to the system, not kept as heap
}

void Reloader::tick(const std::function<void()>& drain) {
  const auto now = std::chrono::steady_clock::now();
  if (watcher_) {
    std::string name;
    if (watcher_->poll(name) != 0) {
      debounce_.event(now);
      pending_name_ = name;
    }
    if (debounce_.due(now)) request("inotify: " + pending_name_);
  }
  if (build_.valid() && build_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    finish(build_.get());
    if (again_) {
      again_ = false;
      start(again_trigger_);
    }
  }
  if (publisher_.retire(drain) != 0) (void)malloc_trim(0);
}

RulesetTelemetry ruleset_telemetry(const RulesetPublisher& publisher, const ReloadStatus& status) {
  const std::shared_ptr<const Ruleset> rs = publisher.current_shared();
  RulesetTelemetry t;
  t.generation = rs->generation->number();
  t.hash = rs->generation->hash();
  t.files = rs->files.size();
  t.signatures = rs->signatures;
  t.allows = rs->allows;
  t.filters = rs->filters;
  t.reloads_success = status.successes;
  t.reloads_failure = status.failures;
  t.last_reload_success = status.last_success;
  t.last_reload_time = status.last_time;
  t.last_reload_trigger = status.last_trigger;
  t.last_reload_error = status.last_error;
  t.retired_pending = publisher.pending();
  return t;
}

ReloadStatus Reloader::status() const {
  const std::lock_guard lock(mu_);
  return status_;
}

}  // namespace sentinel::dataplane

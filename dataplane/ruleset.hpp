// Rule sets on the control plane: building one from the rule files (read → validate →
// compile Hyperscan databases through the cache, the policy's rte_acl contexts and the
// [[filter]] programs → one immutable Generation) and publishing it to the workers with
// rte_rcu_qsbr. A published generation replaces the previous one with a release store; the
// previous one is retired once every worker has reported a quiescent state since (the grace
// period) and no Hyperscan stream is open on its databases any more.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/alerts.hpp"
#include "dataplane/generation.hpp"
#include "dataplane/signatures.hpp"

namespace sentinel::dataplane {

// A generation and what the control plane keeps beside it.
struct Ruleset {
  std::unique_ptr<Generation> generation;
  std::unique_ptr<AlertCatalog> catalog;  // the EVE meta of its alerts
  std::vector<std::string> files;         // the rule files, in load order
  size_t signatures = 0;
  size_t allows = 0;
  size_t filters = 0;
  double built_seconds = 0;  // read to ready, wall clock
};

// [control] Reads every rule file and builds generation `number` for `workers` workers:
// signatures through the database cache, the policy's classifier (rte_acl contexts named
// after the generation), the filters (rte_bpf). `learn` is the policy mode the workers were
// started with: a reload cannot switch learn mode on or off (the learn tables exist from the
// start or not at all). Needs the EAL; may run on any control thread. Throws
// config::LoadError (file:line:col) or SetupError; nothing is published then.
[[nodiscard]] std::unique_ptr<Ruleset> build_ruleset(const config::Config& config, const RuleSources& sources,
                                                     uint64_t number, size_t workers, bool learn);

// [control] The same from files already read (the start, which has printed them).
[[nodiscard]] std::unique_ptr<Ruleset> build_ruleset(const config::Config& config, const LoadedSignatures& loaded,
                                                     uint64_t number, size_t workers, bool learn);

// [control] SHA-256 (hex) over what a rule set was built from: the classtype table, each
// rule file (path and bytes, in load order) and each filter object file.
[[nodiscard]] std::string ruleset_hash(const LoadedSignatures& loaded, const FilterSet* filters);

class RulesetPublisher {
 public:
  // [control] Publishes `first` and registers workers 0..workers-1 with a new QSBR
  // variable. Needs the EAL. Throws SetupError.
  RulesetPublisher(std::unique_ptr<Ruleset> first, unsigned workers);
  ~RulesetPublisher();
  RulesetPublisher(const RulesetPublisher&) = delete;
  RulesetPublisher& operator=(const RulesetPublisher&) = delete;

  // What the workers read (WorkerSetup::published, ::qsbr).
  [[nodiscard]] const std::atomic<const Generation*>& slot() const noexcept { return slot_; }
  [[nodiscard]] rte_rcu_qsbr* qsbr() const noexcept { return qsbr_; }

  // [control] Makes `next` the generation workers take on their next poll; the current one
  // starts its grace period.
  void publish(std::unique_ptr<Ruleset> next);
  // [control] Frees the generations past their grace period whose streams are all closed.
  // `drain` runs first, once any generation has finished its grace period: it must empty the
  // alert rings, whose records may name that generation. Returns the number freed.
  size_t retire(const std::function<void()>& drain);

  // [control thread] The published rule set.
  [[nodiscard]] const Ruleset& current() const noexcept { return *current_; }
  // [any] The same, kept alive for the caller (metrics, telemetry).
  [[nodiscard]] std::shared_ptr<const Ruleset> current_shared() const;
  // [control] The alert catalog of `generation` (low 32 bits), or the current one's.
  [[nodiscard]] const AlertCatalog& catalog(uint32_t generation) const noexcept;
  // [any] Generations replaced but not freed yet.
  [[nodiscard]] size_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

 private:
  struct Retiring {
    std::shared_ptr<const Ruleset> ruleset;
    uint64_t token;    // rte_rcu_qsbr_start when it was replaced
    bool grace_over;   // every worker has been quiescent since
  };

  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const Generation*> slot_{nullptr};
  std::shared_ptr<const Ruleset> current_;
  std::vector<Retiring> retiring_;
  std::atomic<size_t> pending_{0};
  mutable std::mutex mu_;  // current_ against readers on other threads
};

}  // namespace sentinel::dataplane

// A Generation: one complete set of what the workers inspect with — signatures (the
// Hyperscan RuleSet), the policy and its rte_acl classifier, the [[filter]] programs — under
// one generation number and content hash, plus each worker's state that belongs to that set
// (Hyperscan scratch, per-rule hit counters, filter alert windows, the count of streams open
// on its databases). The rules are immutable once built; live mode publishes generations
// through rte_rcu_qsbr (dataplane/ruleset.hpp) and replaces them on reload.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/counters.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/policy.hpp"
#include "rules/matcher.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"

namespace sentinel::dataplane {

// What a worker inspects with; each part may be null (that stage is off).
struct Inspection {
  const rules::RuleSet* rules = nullptr;
  const rules::Policy* policy = nullptr;
  const rules::PolicyClassifier* classifier = nullptr;  // enforce mode
  bool learn = false;
  const FilterSet* filters = nullptr;
};

// A filter's alerts in the current one-second window of the flow clock.
struct FilterAlertWindow {
  uint64_t start = 0;
  uint32_t sent = 0;
  uint32_t suppressed = 0;  // since the last alert sent
};

// One worker's state for one generation; only that worker writes it.
struct alignas(64) GenerationWorker {
  rules::Scratch scratch;                               // for the generation's databases
  std::unique_ptr<Counter[]> allow_hits;                // flows each [[allow]] permitted
  std::unique_ptr<Counter[]> filter_hits;               // frames each [[filter]] matched
  std::unique_ptr<FilterAlertWindow[]> filter_windows;  // by filter index
  Gauge streams;  // Hyperscan streams open on the generation's STREAM database
};

// What a generation built by the control plane owns (each may be null).
struct GenerationParts {
  std::shared_ptr<const rules::RuleSet> rules;
  std::unique_ptr<ActivePolicy> policy;
  std::unique_ptr<FilterSet> filters;
};

class Generation {
 public:
  // [control] Owns `parts`; state for `workers` workers (scratch allocated here). Throws
  // SetupError when Hyperscan cannot allocate scratch.
  Generation(uint64_t number, std::string hash, GenerationParts parts, size_t workers);
  // [control] Views `inspection`, whose parts outlive this (replay, tests, benchmarks).
  Generation(uint64_t number, std::string hash, const Inspection& inspection, size_t workers);
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  [[nodiscard]] uint64_t number() const noexcept { return number_; }
  [[nodiscard]] const std::string& hash() const noexcept { return hash_; }
  [[nodiscard]] const Inspection& inspection() const noexcept { return inspection_; }
  [[nodiscard]] const GenerationParts& parts() const noexcept { return parts_; }
  // [policy.l2] allow_ethertypes, a bit each.
  [[nodiscard]] const std::array<uint64_t, 65536 / 64>& l2_allowed() const noexcept { return l2_allowed_; }
  [[nodiscard]] size_t allow_count() const noexcept { return n_allows_; }
  [[nodiscard]] size_t filter_count() const noexcept { return n_filters_; }
  [[nodiscard]] size_t worker_count() const noexcept { return n_workers_; }
  // [owner worker] Its state; [any] reads of the counters in it.
  [[nodiscard]] GenerationWorker& worker(size_t i) const noexcept { return workers_[i]; }
  // [any] Streams still open on this generation's databases, over all workers.
  [[nodiscard]] int64_t streams_open() const noexcept;

 private:
  void prepare(size_t workers);

  uint64_t number_;
  std::string hash_;
  GenerationParts parts_;
  Inspection inspection_;
  std::array<uint64_t, 65536 / 64> l2_allowed_{};
  size_t n_allows_ = 0;
  size_t n_filters_ = 0;
  size_t n_workers_ = 0;
  std::unique_ptr<GenerationWorker[]> workers_;
};

}  // namespace sentinel::dataplane

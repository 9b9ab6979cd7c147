// The communication policy on the control plane: the loaded Policy made ready for the
// workers (its rte_acl classifier compiled in enforce mode), and learn mode's output —
// every worker's observations merged into a policy file (--learn-policy, SIGUSR2).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dataplane/metrics.hpp"
#include "dataplane/policy_state.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"

namespace sentinel::dataplane {

struct ActivePolicy {
  rules::Policy policy;
  std::unique_ptr<rules::PolicyClassifier> classifier;  // enforce mode only
  [[nodiscard]] bool learn() const noexcept { return policy.mode == rules::PolicyMode::kLearn; }
};

// [control] nullptr when there is no policy and `force_learn` is false. `force_learn`
// (--learn-policy) switches a loaded policy to learn mode, or learns under the defaults when
// none is loaded. Compiles the classifier (needs the EAL) into rte_acl contexts named after
// `name`, which no live classifier may share; throws LoadError or runtime_error.
[[nodiscard]] std::unique_ptr<ActivePolicy> activate_policy(const std::optional<rules::Policy>& loaded,
                                                            bool force_learn, const std::string& name = "policy");

struct LearnedSummary {
  size_t observations = 0;  // distinct (side, proto, source, destination, port) over all workers
  size_t flows = 0;
};

// [control] Merges the workers' learn tables and writes the policy file to `path` (through
// a temporary file renamed into place, so a reader never sees half a file). `origin` goes
// into its header comment. Throws runtime_error naming the path when it cannot be written.
LearnedSummary write_learned_policy_file(std::span<const LearnTable* const> tables, const rules::Policy& policy,
                                         const std::string& path, const std::string& origin);

}  // namespace sentinel::dataplane

// Policy activation and learned-policy output (see policy.hpp).
#include "dataplane/policy.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "dataplane/worker.hpp"
#include "rules/policy_learn.hpp"

namespace sentinel::dataplane {

std::unique_ptr<ActivePolicy> activate_policy(const std::optional<rules::Policy>& loaded, bool force_learn,
                                              const std::string& name) {
  if (!loaded && !force_learn) return nullptr;
  auto active = std::make_unique<ActivePolicy>();
  if (loaded) active->policy = *loaded;
  if (force_learn) active->policy.mode = rules::PolicyMode::kLearn;
  const rules::Policy& p = active->policy;
  if (active->learn()) {
    spdlog::info("policy: learn mode: flows are recorded, not judged (default {} and {} allow(s) not enforced)",
                 rules::to_string(p.default_action), p.allows.size());
    return active;
  }
  const auto t0 = std::chrono::steady_clock::now();
  active->classifier = std::make_unique<rules::PolicyClassifier>(p, name);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("policy: enforce, default {}, {} allow(s) → {} IPv4 + {} IPv6 ACL rules in {:.1f} ms",
               rules::to_string(p.default_action), p.allows.size(), active->classifier->acl_rules_v4(),
               active->classifier->acl_rules_v6(), ms);
  return active;
}

LearnedSummary write_learned_policy_file(std::span<const LearnTable* const> tables, const rules::Policy& policy,
                                         const std::string& path, const std::string& origin) {
  std::vector<rules::LearnedFlow> flows;
  std::vector<uint16_t> ethertypes;
  for (const LearnTable* t : tables) {
    if (t != nullptr) t->snapshot(flows, ethertypes);
  }
  const rules::LearnLimits limits{policy.learn_min_hosts, policy.learn_max_prefix_v4, policy.learn_max_prefix_v6,
                                  policy.default_sid};
  const std::string text = rules::write_learned_policy(flows, ethertypes, limits, policy.allow_icmpv6_nd, origin);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("learned policy: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("learned policy: cannot rename " + tmp + " to " + path + ": " + ec.message());
  LearnedSummary summary;
  summary.observations = flows.size();
  for (const rules::LearnedFlow& f : flows) summary.flows += f.flows;
  return summary;
}

}  // namespace sentinel::dataplane

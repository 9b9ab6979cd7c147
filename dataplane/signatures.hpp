// Loading the signatures at start: the classtype table, the rule files (the [rules] dir, or
// -S files only, plus -s files), validation and compilation into one immutable RuleSet,
// and the check that its Hyperscan stream state fits the per-flow slot. Control plane only:
// throws config::LoadError (file:line:col) for anything wrong in the files.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "rules/filter.hpp"
#include "rules/matcher.hpp"
#include "rules/policy.hpp"
#include "rules/rule.hpp"

namespace sentinel::dataplane {

struct RuleSources {
  std::vector<std::string> only;   // -S: these files instead of the rules directory
  std::vector<std::string> extra;  // -s: these files as well
};

struct LoadedSignatures {
  std::vector<std::string> files;  // in load order
  rules::ClassificationTable classes;
  std::string classification_source;
  std::shared_ptr<const rules::RuleSet> set;  // never null after load_signatures()
  std::optional<rules::Policy> policy;        // the files' [policy], if one has it
  std::vector<rules::Filter> filters;         // their [[filter]] tables (compiled by compile_filters())
};

// [control] Reads, validates and compiles the signatures and reads the policy and the
// filters (compiled later, by activate_policy() and compile_filters(): rte_acl and
// rte_bpf_convert need the EAL). Throws config::LoadError.
[[nodiscard]] LoadedSignatures load_signatures(const config::Config& config, const RuleSources& sources);

// [control] What -T prints about the signatures: files, rule counts by action and protocol,
// databases (expressions, bytes, compile or cache time), stream state per flow direction,
// and the policy's settings and allows.
void print_signatures(std::FILE* out, const LoadedSignatures& s, const config::Config& config);

}  // namespace sentinel::dataplane

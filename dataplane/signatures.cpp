// Signature loading (see signatures.hpp).
#include "dataplane/signatures.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <filesystem>

#include "config/builtin.hpp"
#include "rules/compiler.hpp"
#include "rules/loader.hpp"

namespace sentinel::dataplane {

LoadedSignatures load_signatures(const config::Config& config, const RuleSources& sources) {
  LoadedSignatures out;
  if (config.rules.classification.empty()) {
    out.classification_source = config::kBuiltinClassificationName;
    out.classes = rules::load_classifications_text(config::kBuiltinClassification,
                                                   config::kBuiltinClassificationName);
  } else {
    out.classification_source = config.rules.classification;
    out.classes = rules::load_classifications(config.rules.classification);
  }
  if (sources.only.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(config.rules.dir, ec)) {
      throw config::LoadError({config.source, 0, 0},
                              "rules.dir = \"" + config.rules.dir +
                                  "\": not a directory (create it, set [rules] dir, or name rule "
                                  "files with -S FILE)");
    }
    out.files = rules::rule_files_in(config.rules.dir);
  } else {
    out.files = sources.only;
  }
  out.files.insert(out.files.end(), sources.extra.begin(), sources.extra.end());
  const std::vector<rules::Rule> loaded = rules::load_rule_files(out.files, out.classes);
  spdlog::info("rules: {} signature(s) from {} file(s)", loaded.size(), out.files.size());
  out.set = rules::compile_rules(loaded, {config.rules.cache_dir});
  out.policy = rules::load_policy_files(out.files);
  out.filters = rules::load_filter_files(out.files);
  const size_t need = out.set->stream_state_size();
  if (need > config.flows.stream_state_max) {
    throw config::LoadError({config.source, 0, 0},
                            "the rules need " + std::to_string(need) +
                                " bytes of Hyperscan stream state per flow direction; "
                                "flows.stream_state_max is " +
                                std::to_string(config.flows.stream_state_max) + " (raise it)");
  }
  return out;
}

void print_signatures(std::FILE* out, const LoadedSignatures& s, const config::Config& config) {
  const rules::RuleSet& set = *s.set;
  std::fprintf(out, "  classification: %s (%zu classtypes)\n", s.classification_source.c_str(), s.classes.size());
  std::fprintf(out, "  rule files: %zu\n", s.files.size());
  for (const std::string& f : s.files) std::fprintf(out, "    %s\n", f.c_str());
  std::array<size_t, 4> by_action{};
  std::array<size_t, 4> by_proto{};
  for (const rules::CompiledRule& r : set.rules()) {
    ++by_action[static_cast<size_t>(r.action)];
    ++by_proto[static_cast<size_t>(r.proto)];
  }
  std::fprintf(out, "  signatures: %zu (alert %zu, drop %zu, reject %zu, pass %zu; tcp %zu, udp %zu, icmp %zu, ip %zu)\n",
               set.rule_count(), by_action[0], by_action[1], by_action[2], by_action[3], by_proto[1],
               by_proto[2], by_proto[3], by_proto[0]);
  const rules::CompileReport& rep = set.report();
  for (const auto& [name, db] : {std::pair{"stream", rep.stream}, std::pair{"block", rep.block}}) {
    if (!db.present) {
      std::fprintf(out, "  %s database: none\n", name);
      continue;
    }
    std::fprintf(out, "  %s database: %zu expressions, %zu bytes, %.1f ms (cache %s)\n", name, db.expressions,
                 db.bytes, db.ms, rules::cache_outcome_name(db.cache));
  }
  std::fprintf(out, "  stream state per flow direction: %zu of %u bytes allowed, item bitmap %zu bytes\n",
               set.stream_state_size(), config.flows.stream_state_max, set.stream_item_words() * 8);
  std::fprintf(out, "  filters: %zu%s\n", s.filters.size(), s.filters.empty() ? " (no [[filter]] tables)" : "");
  for (const rules::Filter& f : s.filters) {
    std::fprintf(out, "    %s:%u  %s  %s %s sid %u  %s\n", f.pos.file.c_str(), f.pos.line, f.name.c_str(),
                 f.action == rules::Action::kDrop ? "drop" : f.action == rules::Action::kPass ? "pass" : "alert",
                 f.direction == rules::Direction::kToCore ? "to_core" : f.direction == rules::Direction::kToVendor ? "to_vendor" : "any",
                 f.sid, f.expr.empty() ? ("object " + f.object + " section " + f.section).c_str() : ("expr " + f.expr).c_str());
  }
  if (!s.policy) {
    std::fprintf(out, "  policy: none (no [policy] table: the stage is off)\n");
    return;
  }
  const rules::Policy& p = *s.policy;
  std::fprintf(out, "  policy: %s:%u, mode %s, default %s (gid %u sid %u), %zu allow(s)\n", p.pos.file.c_str(),
               p.pos.line, rules::to_string(p.mode), rules::to_string(p.default_action), rules::kGidPolicy,
               p.default_sid, p.allows.size());
  for (const rules::Allow& a : p.allows) {
    std::fprintf(out, "    %s:%u  %s\n", a.pos.file.c_str(), a.pos.line, a.name.c_str());
  }
}

}  // namespace sentinel::dataplane

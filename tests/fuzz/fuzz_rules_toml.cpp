// Fuzz target: the rule loaders (rules/loader.hpp [[rule]], rules/policy.hpp [policy] and
// [[allow]], rules/filter.hpp [[filter]]) and the classification table loader.
//
// Input: TOML text; a form feed (\f) starts the next file (at most 3 files, named a.toml,
// b.toml, c.toml), so cross-file checks (a second [policy], duplicate filter names) run too.
// Every file goes through load_rules_text (with the built-in classification table) and
// load_classifications_text; all files together through load_policy_texts and
// load_filter_texts.
//
// Invariants (abort when broken): each loader loads or throws config::LoadError whose
// what() is "file:line:col: message" with a file it was given and a line inside it; never
// another exception. What loads obeys the documented schema: rules have a sid unique per
// gid, a gid that is not reserved, at least one match item, severity 1-4, a classtype in
// the table, ordered port ranges, canonical CIDRs that read back equal, positions in their
// file; filters have unique names and sids, and exactly one of expr / object.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/builtin.hpp"
#include "rules/filter.hpp"
#include "rules/loader.hpp"
#include "rules/policy.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/load_error_check.hpp"

namespace {

namespace rules = sentinel::rules;
using sentinel::fuzz::check_cidr;
using sentinel::fuzz::loads;
using sentinel::fuzz::NamedTexts;

const rules::ClassificationTable& builtin_classes() {
  static const rules::ClassificationTable table = rules::load_classifications_text(
      sentinel::config::kBuiltinClassification, sentinel::config::kBuiltinClassificationName);
  return table;
}

void check_pos(const sentinel::config::SourcePos& pos, const std::string& file, const char* what) {
  FUZZ_CHECK(pos.file == file && pos.line >= 1 && pos.column >= 1, "%s at '%s':%u:%u, loaded from '%s'", what,
             pos.file.c_str(), pos.line, pos.column, file.c_str());
}

void check_nets(const rules::NetSet& n, const char* what) {
  for (const auto& c : n.include) check_cidr(c, what);
  for (const auto& c : n.exclude) check_cidr(c, what);
}

void check_ports(const std::vector<rules::PortRange>& ports, const char* what) {
  for (const auto& p : ports) FUZZ_CHECK(p.lo <= p.hi, "%s: port range %u-%u", what, p.lo, p.hi);
}

void check_rules(const std::vector<rules::Rule>& loaded, const std::string& file, const rules::ClassificationTable& classes) {
  std::set<std::pair<uint32_t, uint32_t>> ids;
  for (const rules::Rule& r : loaded) {
    check_pos(r.pos, file, "rule");
    FUZZ_CHECK(ids.emplace(r.gid, r.sid).second, "rule %u:%u loaded twice", r.gid, r.sid);
    FUZZ_CHECK(r.gid != rules::kGidPolicy && r.gid != rules::kGidFilters && r.gid != rules::kGidAnomalies,
               "rule %u:%u has a reserved gid", r.gid, r.sid);
    FUZZ_CHECK(!r.match.empty(), "rule %u:%u without match items", r.gid, r.sid);
    FUZZ_CHECK(r.severity >= 1 && r.severity <= 4, "rule %u:%u severity %u", r.gid, r.sid, r.severity);
    FUZZ_CHECK(r.classtype.empty() || classes.count(r.classtype) == 1, "rule %u:%u classtype '%s' not in the table",
               r.gid, r.sid, r.classtype.c_str());
    check_nets(r.src_nets, "rule src_nets");
    check_nets(r.dst_nets, "rule dst_nets");
    check_ports(r.src_ports, "rule src_ports");
    check_ports(r.dst_ports, "rule dst_ports");
    for (const rules::MatchItem& m : r.match) check_pos(m.pos, file, "match item");
  }
}

void check_filters(const std::vector<rules::Filter>& filters, const NamedTexts& files) {
  std::set<std::string> names;
  std::set<uint32_t> sids;
  for (const rules::Filter& f : filters) {
    FUZZ_CHECK(!f.name.empty() && names.insert(f.name).second, "filter name '%s' empty or loaded twice", f.name.c_str());
    FUZZ_CHECK(f.sid >= 1 && sids.insert(f.sid).second, "filter sid %u zero or loaded twice", f.sid);
    FUZZ_CHECK(f.severity >= 1 && f.severity <= 4, "filter '%s' severity %u", f.name.c_str(), f.severity);
    FUZZ_CHECK(f.expr.empty() != f.object.empty(), "filter '%s': expr '%s', object '%s'", f.name.c_str(),
               f.expr.c_str(), f.object.c_str());
    bool known = false;
    for (const auto& [name, text] : files) known |= f.pos.file == name;
    FUZZ_CHECK(known && f.pos.line >= 1, "filter '%s' at '%s':%u", f.name.c_str(), f.pos.file.c_str(), f.pos.line);
  }
}

void check_policy(const std::optional<rules::Policy>& policy) {
  if (!policy) return;
  std::set<std::string> names;
  for (const rules::Allow& a : policy->allows) {
    FUZZ_CHECK(names.insert(a.name).second, "allow '%s' loaded twice", a.name.c_str());
    check_nets(a.src_nets, "allow src_nets");
    check_nets(a.dst_nets, "allow dst_nets");
    check_ports(a.src_ports, "allow src_ports");
    check_ports(a.dst_ports, "allow dst_ports");
    FUZZ_CHECK(a.proto == rules::Proto::kIcmp || a.icmp_types.empty(), "allow '%s': icmp_types on a non-ICMP allow",
               a.name.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  NamedTexts files;
  for (size_t from = 0;;) {
    const size_t ff = files.size() < 2 ? all.find('\f', from) : std::string_view::npos;
    files.emplace_back(std::string(1, static_cast<char>('a' + files.size())) + ".toml",
                       std::string(all.substr(from, ff == std::string_view::npos ? std::string_view::npos : ff - from)));
    if (ff == std::string_view::npos) break;
    from = ff + 1;
  }
  const rules::ClassificationTable& classes = builtin_classes();
  for (const auto& file : files) {
    const std::string& name = file.first;  // not a structured binding: lambdas capture it
    const std::string& text = file.second;
    const NamedTexts one{file};
    std::vector<rules::Rule> loaded;
    if (loads("load_rules_text", one, [&] { loaded = rules::load_rules_text(text, name, classes); })) {
      check_rules(loaded, name, classes);
    }
    rules::ClassificationTable table;
    if (loads("load_classifications_text", one, [&] { table = rules::load_classifications_text(text, name); })) {
      for (const auto& [cls, c] : table) {
        FUZZ_CHECK(!cls.empty() && c.severity >= 1 && c.severity <= 4, "classtype '%s' severity %u", cls.c_str(),
                   c.severity);
      }
    }
  }
  std::optional<rules::Policy> policy;
  if (loads("load_policy_texts", files, [&] { policy = rules::load_policy_texts(files); })) check_policy(policy);
  std::vector<rules::Filter> filters;
  if (loads("load_filter_texts", files, [&] { filters = rules::load_filter_texts(files); })) check_filters(filters, files);
  return 0;
}

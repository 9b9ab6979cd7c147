// Filter: one [[filter]] table of the rule files, validated, before compilation — a
// pcap-filter expression or a C filter's ELF object, run on every frame of its direction
// by the dataplane (dataplane/filters.hpp compiles them with rte_bpf). Nothing here knows
// about ports, workers or packets.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/error.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {

// One entry of `args`: a name and its values (one, or an array's), as given.
struct FilterArg {
  std::string name;
  std::vector<uint64_t> values;
  config::SourcePos pos;  // the key
};

struct Filter {
  std::string name;             // unique across the loaded files
  std::string expr;             // pcap-filter syntax; or
  std::string object;           // an ELF object: a name in [rules] filters_dir, or a path
  std::string section = "filter";
  std::vector<FilterArg> args;  // objects only
  Action action = Action::kAlert;  // alert | drop | pass
  Direction direction = Direction::kAny;
  uint32_t sid = 0;             // gid 3 (kGidFilters)
  uint32_t rev = 1;
  std::string msg;
  uint8_t severity = 2;
  config::SourcePos pos;        // the [[filter]] table
  config::SourcePos source_pos; // its expr or object key
};

// Reads the [[filter]] tables of `files` in file order, then table order (the order the
// dataplane runs them). Names and sids are unique. Throws LoadError (file:line:col) on the
// first fault.
[[nodiscard]] std::vector<Filter> load_filter_files(const std::vector<std::string>& files);
// Same, for (name, text) pairs in load order (tests, fuzzing).
[[nodiscard]] std::vector<Filter> load_filter_texts(const std::vector<std::pair<std::string, std::string>>& named_texts);

}  // namespace sentinel::rules

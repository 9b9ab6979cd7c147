// The rule loader: rule files ([[rule]] tables, TOML) and the classification table
// (config/classification.toml) → validated Rules. Every check that needs only the text
// happens here, each fault a config::LoadError at its file:line:col; what needs Hyperscan
// (a pcre that does not compile) is the compiler's (rules/compiler.hpp). Control plane
// only: may allocate and throw; never linked into the worker.
//
// A rule file's top level holds [[rule]] tables and, read by their own loaders, [policy],
// [[allow]] and [[filter]]; any other top-level key is an error. The schema of [[rule]]
// is closed (ARCHITECTURE.md, "The rule language"): an unknown key is an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/error.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {

// Reads the classification table (config/classification.toml: one [name] table per
// classtype with `description` and `severity`, both required). Throws LoadError.
[[nodiscard]] ClassificationTable load_classifications(const std::string& path);
// Same, from text; `name` is the file name in errors.
[[nodiscard]] ClassificationTable load_classifications_text(std::string_view text,
                                                            const std::string& name);

// The rule files of `dir`: its entries named *.toml (not hidden, not directories), as
// "dir/name", in bytewise order of name, so the load order is the same on every box.
// Throws LoadError when `dir` cannot be listed (missing, not a directory).
[[nodiscard]] std::vector<std::string> rule_files_in(const std::string& dir);

// Reads every [[rule]] of `files`, in file order then table order. (gid, sid) is unique
// across all of them. Throws LoadError on the first fault.
[[nodiscard]] std::vector<Rule> load_rule_files(const std::vector<std::string>& files,
                                                const ClassificationTable& classes);
// One file's rules from text (tests, fuzzing); `name` is the file name in errors.
[[nodiscard]] std::vector<Rule> load_rules_text(std::string_view text, const std::string& name,
                                                const ClassificationTable& classes);

// Decodes a content string as Snort writes it: bytes as they are, except that |...|
// holds hex byte pairs ("|3c 3E|" → "<>"; spaces and tabs allowed between pairs). A
// literal '|' is written |7c|. On a fault returns nullopt and sets `why` (unterminated
// bar, odd digit count, non-hex character, empty |...|).
[[nodiscard]] std::optional<std::string> decode_content(std::string_view text, std::string& why);

}  // namespace sentinel::rules

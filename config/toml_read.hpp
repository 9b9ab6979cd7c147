// Strict TOML reading, shared by every loader of the control plane (sentinel.toml,
// classification.toml, the rule files): toml++ parses, then these helpers check one node
// at a time and throw LoadError with the node's file:line:col. `path` arguments name the
// value as the operator wrote it ("dataplane.workers", "rule.match[1].depth") and open
// every message. Control plane only: toml++ and exceptions, never on the hot path.
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/cidr.hpp"
#include "config/error.hpp"

namespace sentinel::config::detail {

[[noreturn]] inline void fail(const toml::source_region& where, const std::string& message) {
  throw LoadError({where.path ? *where.path : std::string(), where.begin.line, where.begin.column},
                  message);
}

inline std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// Throws "<path>: expected an integer, got string" unless `node` has type `wanted`.
inline void expect_type(const toml::node& node, toml::node_type wanted, const std::string& path) {
  if (node.type() == wanted) return;
  const std::string_view name = type_name(wanted);
  const bool vowel = std::string_view("aeiou").find(name.front()) != std::string_view::npos;
  fail(node.source(), path + ": expected " + (vowel ? "an " : "a ") + std::string(name) + ", got " +
                          std::string(type_name(node.type())));
}

// Rejects the first key, in file order, of `table` that `known` does not list: "unknown
// key 'x' in <where>". An empty `where` means the root table, whose keys are tables:
// "unknown table [x]", "unknown table [[x]]" or "unknown key 'x' at top level".
inline void reject_unknown_keys(const toml::table& table,
                                std::initializer_list<std::string_view> known,
                                std::string_view where) {
  const toml::key* first = nullptr;
  for (auto&& [key, node] : table) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    if (first == nullptr || key.source().begin < first->source().begin) first = &key;
  }
  if (first == nullptr) return;
  const std::string name(first->str());
  if (!where.empty()) fail(first->source(), "unknown key '" + name + "' in " + std::string(where));
  const toml::node& node = *table.get(name);
  if (node.is_table()) fail(first->source(), "unknown table [" + name + "]");
  if (node.is_array_of_tables()) fail(first->source(), "unknown table [[" + name + "]]");
  fail(first->source(), "unknown key '" + name + "' at top level");
}

// An integer in lo..hi.
inline int64_t integer_in(const toml::node& node, const std::string& path, int64_t lo, int64_t hi) {
  expect_type(node, toml::node_type::integer, path);
  const int64_t value = node.as_integer()->get();
  if (value < lo || value > hi) {
    fail(node.source(), path + ": " + std::to_string(value) + " is out of range " +
                            std::to_string(lo) + ".." + std::to_string(hi));
  }
  return value;
}

// A non-empty string.
inline const std::string& nonempty_string(const toml::node& node, const std::string& path) {
  expect_type(node, toml::node_type::string, path);
  const std::string& value = node.as_string()->get();
  if (value.empty()) fail(node.source(), path + ": must not be empty");
  return value;
}

inline bool boolean(const toml::node& node, const std::string& path) {
  expect_type(node, toml::node_type::boolean, path);
  return node.as_boolean()->get();
}

// A string that is one of `names`; returns its index.
template <size_t N>
size_t one_of(const toml::node& node, const std::string& path,
              const std::array<std::string_view, N>& names) {
  expect_type(node, toml::node_type::string, path);
  const std::string& value = node.as_string()->get();
  const auto it = std::find(names.begin(), names.end(), value);
  if (it == names.end()) {
    std::string allowed;
    for (std::string_view name : names) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    }
    fail(node.source(), path + ": '" + value + "' is not one of " + allowed);
  }
  return static_cast<size_t>(it - names.begin());
}

// `text` (the string value of `node`, or a part of it) as a CIDR.
inline Cidr cidr(const toml::node& node, std::string_view text, const std::string& path) {
  std::string why;
  const std::optional<Cidr> parsed = parse_cidr(text, why);
  if (!parsed) fail(node.source(), path + ": " + why);
  return *parsed;
}

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

// The whole file; "path: cannot open: <errno text>" or "cannot read" (e.g. a directory).
inline std::string read_file(const std::string& path) {
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw LoadError({path, 0, 0}, std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  char buffer[4096];
  while (const size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) text.append(buffer, n);
  // A directory opens but does not read.
  if (std::ferror(file.get())) {
    throw LoadError({path, 0, 0}, std::string("cannot read: ") + std::strerror(errno));
  }
  return text;
}

// Parses `text`; a syntax error becomes a LoadError at its position in `name`.
inline toml::table parse(std::string_view text, const std::string& name) {
  try {
    return toml::parse(text, std::string_view(name));
  } catch (const toml::parse_error& e) {
    throw LoadError({name, e.source().begin.line, e.source().begin.column},
                    std::string(e.description()));
  }
}

}  // namespace sentinel::config::detail

// The [[filter]] loader. Like the other loaders of the rules directory it reads each table
// key by key in a fixed order, so the first fault found is always the same one, with
// messages that open with the value's path ("filter.args.max_label") at its file:line:col.
// What needs libpcap or the ELF object (an expression that does not compile, an argument
// the object does not declare) is checked when the filters are compiled
// (dataplane/filters.cpp), at the same positions.
#include <toml++/toml.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/cidr.hpp"
#include "config/toml_read.hpp"
#include "rules/filter.hpp"
#include "rules/loader_detail.hpp"

namespace sentinel::rules {

namespace {

using config::detail::expect_type;
using config::detail::fail;
using config::detail::integer_in;
using config::detail::nonempty_string;
using config::detail::one_of;
using config::detail::reject_unknown_keys;
using config::detail::type_name;
using detail::element_path;
using detail::kU32Max;
using detail::position;
using detail::required;

// Spellings, indexed by the enum values they stand for (rule.hpp).
constexpr std::array<std::string_view, 3> kActionNames{"alert", "drop", "pass"};
constexpr std::array<Action, 3> kActions{Action::kAlert, Action::kDrop, Action::kPass};
constexpr std::array<std::string_view, 3> kDirectionNames{"any", "to_core", "to_vendor"};

// One argument value: a non-negative integer, a boolean, or an IPv4 address string.
uint64_t arg_value(const toml::node& node, const std::string& path) {
  if (node.is_integer()) {
    const int64_t v = node.as_integer()->get();
    if (v < 0) fail(node.source(), path + ": " + std::to_string(v) + " is negative (arguments are unsigned)");
    return static_cast<uint64_t>(v);
  }
  if (node.is_boolean()) return node.as_boolean()->get() ? 1 : 0;
  if (node.is_string()) {
    const std::string& text = node.as_string()->get();
    std::string why;
    const std::optional<config::Cidr> addr = config::parse_cidr(text, why);
    if (!addr || addr->v6 || addr->prefix_len != 32 || text.find('/') != std::string::npos) {
      fail(node.source(), path + ": '" + text + "' is not an IPv4 address (argument strings are IPv4 addresses)");
    }
    return uint64_t{addr->addr[0]} << 24 | uint64_t{addr->addr[1]} << 16 | uint64_t{addr->addr[2]} << 8 |
           addr->addr[3];
  }
  fail(node.source(), path + ": expected an integer, a boolean or an IPv4 address string, got " +
                          std::string(type_name(node.type())));
}

std::vector<FilterArg> read_args(const toml::node& node) {
  expect_type(node, toml::node_type::table, "filter.args");
  std::vector<FilterArg> args;
  for (const auto& [key, value] : *node.as_table()) {
    FilterArg arg;
    arg.name = std::string(key.str());
    arg.pos = position(key.source());
    const std::string path = "filter.args." + arg.name;
    if (value.is_array()) {
      const toml::array& array = *value.as_array();
      if (array.empty()) fail(value.source(), path + ": an empty array (leave the argument out for its default)");
      for (size_t i = 0; i < array.size(); ++i) arg.values.push_back(arg_value(array[i], element_path(path, i)));
    } else {
      arg.values.push_back(arg_value(value, path));
    }
    args.push_back(std::move(arg));
  }
  return args;
}

class FilterReader {
 public:
  void read_text(std::string_view text, const std::string& name) {
    const toml::table root = config::detail::parse(text, name);
    const toml::node* filters = root.get("filter");
    if (filters == nullptr) return;
    if (!filters->is_array()) {
      fail(filters->source(), "filter: expected an array of tables ([[filter]]), got " +
                                  std::string(type_name(filters->type())));
    }
    const toml::array& array = *filters->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
      expect_type(array[i], toml::node_type::table, element_path("filter", i));
      out_.push_back(read_filter(*array[i].as_table()));
    }
  }

  std::vector<Filter> finish() && { return std::move(out_); }

 private:
  Filter read_filter(const toml::table& table) {
    reject_unknown_keys(table,
                        {"name", "expr", "object", "section", "args", "action", "direction", "sid", "rev", "msg",
                         "severity"},
                        "filter");
    Filter f;
    f.pos = position(table.source());
    const toml::node& name = required(table, "name", "[[filter]]");
    f.name = nonempty_string(name, "filter.name");
    if (const auto it = names_.find(f.name); it != names_.end()) {
      fail(name.source(), "filter.name: '" + f.name + "' is already the name of the filter at " + it->second);
    }
    const toml::node* expr = table.get("expr");
    const toml::node* object = table.get("object");
    if (expr != nullptr && object != nullptr) {
      const bool object_later = expr->source().begin < object->source().begin;
      fail((object_later ? object : expr)->source(),
           "filter: both 'expr' and 'object': a filter is an expression or a C program, not both");
    }
    if (expr == nullptr && object == nullptr) {
      fail(table.source(), "filter '" + f.name + "': one of 'expr' (pcap-filter syntax) or 'object' (an eBPF ELF file) is required");
    }
    if (expr != nullptr) {
      f.expr = nonempty_string(*expr, "filter.expr");
      f.source_pos = position(expr->source());
      for (const char* key : {"section", "args"}) {
        if (const toml::node* n = table.get(key)) {
          fail(n->source(), std::string("filter.") + key + ": only for 'object' filters (an expression takes none)");
        }
      }
    } else {
      f.object = nonempty_string(*object, "filter.object");
      f.source_pos = position(object->source());
      if (const toml::node* n = table.get("section")) f.section = nonempty_string(*n, "filter.section");
      if (const toml::node* n = table.get("args")) f.args = read_args(*n);
    }
    if (const toml::node* n = table.get("action")) {
      f.action = kActions[one_of(*n, "filter.action", kActionNames)];
    }
    if (const toml::node* n = table.get("direction")) {
      f.direction = static_cast<Direction>(one_of(*n, "filter.direction", kDirectionNames));
    }
    const toml::node& sid = required(table, "sid", "[[filter]] '" + f.name + "'");
    f.sid = static_cast<uint32_t>(integer_in(sid, "filter.sid", 1, kU32Max));
    if (const auto it = sids_.find(f.sid); it != sids_.end()) {
      fail(sid.source(), "filter.sid: " + std::to_string(f.sid) + " is already the sid of filter '" + it->second +
                             "' (filters share gid 3)");
    }
    if (const toml::node* n = table.get("rev")) f.rev = static_cast<uint32_t>(integer_in(*n, "filter.rev", 1, kU32Max));
    f.msg = nonempty_string(required(table, "msg", "[[filter]] '" + f.name + "'"), "filter.msg");
    if (const toml::node* n = table.get("severity")) {
      f.severity = static_cast<uint8_t>(integer_in(*n, "filter.severity", 1, 4));
    }
    names_.emplace(f.name, f.pos.file + ":" + std::to_string(f.pos.line));
    sids_.emplace(f.sid, f.name);
    return f;
  }

  std::vector<Filter> out_;
  std::map<std::string, std::string> names_;  // name → where defined
  std::map<uint32_t, std::string> sids_;      // sid → filter name
};

}  // namespace

std::vector<Filter> load_filter_files(const std::vector<std::string>& files) {
  FilterReader reader;
  for (const std::string& file : files) reader.read_text(config::detail::read_file(file), file);
  return std::move(reader).finish();
}

std::vector<Filter> load_filter_texts(const std::vector<std::pair<std::string, std::string>>& named_texts) {
  FilterReader reader;
  for (const auto& [name, text] : named_texts) reader.read_text(text, name);
  return std::move(reader).finish();
}

}  // namespace sentinel::rules

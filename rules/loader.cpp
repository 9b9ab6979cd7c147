// The rule loader. toml++ parses each file; then every [[rule]] is read key by key into a
// Rule, in a fixed order of keys, so that the first fault found is always the same one.
// Messages open with the value's path as written ("rule.match[1].depth") and carry the
// position of the offending value (or of the table, for a missing key).
#include "rules/loader.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "config/toml_read.hpp"
#include "rules/loader_detail.hpp"

namespace sentinel::rules {

namespace {

using config::detail::boolean;
using config::detail::expect_type;
using config::detail::fail;
using config::detail::integer_in;
using config::detail::nonempty_string;
using config::detail::one_of;
using config::detail::reject_unknown_keys;
using config::detail::type_name;

using detail::array_at;
using detail::element_path;
using detail::kProtoNames;
using detail::kU32Max;
using detail::position;
using detail::read_nets;
using detail::read_ports;
using detail::required;

// Spellings of the enums, indexed by their values (rule.hpp); Proto's are shared.
constexpr std::array<std::string_view, 4> kActionNames{"alert", "drop", "reject", "pass"};
constexpr std::array<std::string_view, 3> kDirectionNames{"any", "to_core", "to_vendor"};

// Shows a byte of a message readably.
std::string printable(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) return std::string(1, c);
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("\\x") + kHex[byte >> 4] + kHex[byte & 0xf];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Entries of `table` in file order (a toml::table iterates in key order).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(
    const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : table) entries.emplace_back(&key, &node);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first->source().begin < b.first->source().begin;
  });
  return entries;
}

MatchItem read_match_item(const toml::node& node, const std::string& path) {
  expect_type(node, toml::node_type::table, path);
  const toml::table& table = *node.as_table();
  reject_unknown_keys(table, {"content", "pcre", "nocase", "offset", "depth"}, path);
  MatchItem item;
  item.pos = position(node.source());
  const toml::node* content = table.get("content");
  const toml::node* pcre = table.get("pcre");
  if (content != nullptr && pcre != nullptr) {
    const toml::node& later = content->source().begin < pcre->source().begin ? *pcre : *content;
    fail(later.source(),
         path + ": has both content and pcre (one per item; write two items to need both)");
  }
  if (content == nullptr && pcre == nullptr) fail(node.source(), path + ": needs content or pcre");
  if (content != nullptr) {
    const std::string content_path = path + ".content";
    std::string why;
    std::optional<std::string> bytes = decode_content(nonempty_string(*content, content_path), why);
    if (!bytes) fail(content->source(), content_path + ": " + why);
    item.kind = MatchItem::Kind::kContent;
    item.pattern = std::move(*bytes);
  } else {
    item.kind = MatchItem::Kind::kPcre;
    item.pattern = nonempty_string(*pcre, path + ".pcre");
  }
  if (const toml::node* nocase = table.get("nocase")) {
    item.nocase = boolean(*nocase, path + ".nocase");
  }
  if (const toml::node* offset = table.get("offset")) {
    item.offset = static_cast<uint32_t>(integer_in(*offset, path + ".offset", 0, kU32Max));
  }
  if (const toml::node* depth = table.get("depth")) {
    const std::string depth_path = path + ".depth";
    item.depth = static_cast<uint32_t>(integer_in(*depth, depth_path, 1, kU32Max));
    if (item.kind == MatchItem::Kind::kContent && *item.depth < item.pattern.size()) {
      fail(depth->source(), depth_path + ": " + std::to_string(*item.depth) +
                                " is less than the content's length (" +
                                std::to_string(item.pattern.size()) + " bytes)");
    }
    // The match window [offset, offset + depth) must be addressable as 32-bit offsets.
    if (int64_t{item.offset.value_or(0)} + *item.depth > kU32Max) {
      fail(depth->source(), depth_path + ": offset + depth exceeds " + std::to_string(kU32Max));
    }
  }
  return item;
}

std::map<std::string, std::vector<std::string>> read_metadata(const toml::node& node,
                                                              const std::string& path) {
  expect_type(node, toml::node_type::table, path);
  std::map<std::string, std::vector<std::string>> metadata;
  for (const auto& [key, value] : in_file_order(*node.as_table())) {
    const std::string key_path = path + "." + std::string(key->str());
    const toml::array& array = array_at(*value, key_path);
    std::vector<std::string>& strings = metadata[std::string(key->str())];
    for (size_t i = 0; i < array.size(); ++i) {
      strings.push_back(nonempty_string(array[i], element_path(key_path, i)));
    }
  }
  return metadata;
}

// Reads rule files one after another, remembering every (gid, sid) seen.
class RuleReader {
 public:
  explicit RuleReader(const ClassificationTable& classes) : classes_(classes) {}

  void read_text(std::string_view text, const std::string& name, std::vector<Rule>& out) {
    const toml::table root = config::detail::parse(text, name);
    reject_unknown_keys(root, {"rule", "policy", "allow", "filter"}, "");
    const toml::node* rules = root.get("rule");
    if (rules == nullptr) return;
    if (!rules->is_array()) {
      fail(rules->source(), "rule: expected an array of tables ([[rule]]), got " +
                                std::string(type_name(rules->type())));
    }
    const toml::array& array = *rules->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
      expect_type(array[i], toml::node_type::table, element_path("rule", i));
      out.push_back(read_rule(*array[i].as_table()));
    }
  }

 private:
  Rule read_rule(const toml::table& table) {
    static constexpr std::string_view kWhere = "[[rule]]";
    reject_unknown_keys(
        table,
        {"sid", "rev", "gid", "msg", "action", "severity", "classtype", "proto", "direction",
         "src_nets", "dst_nets", "src_ports", "dst_ports", "match", "metadata"},
        kWhere);
    Rule rule;
    rule.pos = position(table.source());

    const toml::node& sid = required(table, "sid", kWhere);
    rule.sid = static_cast<uint32_t>(integer_in(sid, "rule.sid", 1, kU32Max));
    if (const toml::node* rev = table.get("rev")) {
      rule.rev = static_cast<uint32_t>(integer_in(*rev, "rule.rev", 1, kU32Max));
    }
    if (const toml::node* gid = table.get("gid")) {
      rule.gid = static_cast<uint32_t>(integer_in(*gid, "rule.gid", 1, kU32Max));
      if (rule.gid == kGidPolicy || rule.gid == kGidFilters || rule.gid == kGidAnomalies) {
        fail(gid->source(), "rule.gid: " + std::to_string(rule.gid) +
                                " is reserved (2 policy, 3 filters, 4 anomalies)");
      }
    }
    const auto [first, inserted] = seen_.try_emplace({rule.gid, rule.sid}, position(sid.source()));
    if (!inserted) {
      const config::SourcePos& at = first->second;
      fail(sid.source(), "rule.sid: duplicate sid " + std::to_string(rule.sid) + " (gid " +
                             std::to_string(rule.gid) + "), first defined at " + at.file + ":" +
                             std::to_string(at.line));
    }
    rule.msg = nonempty_string(required(table, "msg", kWhere), "rule.msg");
    if (const toml::node* action = table.get("action")) {
      rule.action = static_cast<Action>(one_of(*action, "rule.action", kActionNames));
    }
    if (const toml::node* classtype = table.get("classtype")) {
      rule.classtype = nonempty_string(*classtype, "rule.classtype");
      const auto found = classes_.find(rule.classtype);
      if (found == classes_.end()) {
        fail(classtype->source(), "rule.classtype: unknown classtype '" + rule.classtype +
                                      "' (not in the classification table)");
      }
      rule.severity = found->second.severity;
    }
    if (const toml::node* severity = table.get("severity")) {
      rule.severity = static_cast<uint8_t>(integer_in(*severity, "rule.severity", 1, 4));
    }
    if (const toml::node* proto = table.get("proto")) {
      rule.proto = static_cast<Proto>(one_of(*proto, "rule.proto", kProtoNames));
    }
    if (const toml::node* direction = table.get("direction")) {
      rule.direction =
          static_cast<Direction>(one_of(*direction, "rule.direction", kDirectionNames));
    }
    if (const toml::node* nets = table.get("src_nets")) {
      rule.src_nets = read_nets(*nets, "rule.src_nets");
    }
    if (const toml::node* nets = table.get("dst_nets")) {
      rule.dst_nets = read_nets(*nets, "rule.dst_nets");
    }
    for (const auto& [key, ports] :
         {std::pair{"src_ports", &rule.src_ports}, std::pair{"dst_ports", &rule.dst_ports}}) {
      const toml::node* node = table.get(key);
      if (node == nullptr) continue;
      const std::string path = std::string("rule.") + key;
      *ports = read_ports(*node, path);
      if (rule.proto == Proto::kIcmp && !ports->empty()) {
        fail(node->source(), path + ": proto icmp has no ports (ports need tcp, udp or ip)");
      }
    }

    const toml::node& match = required(table, "match", kWhere);
    const toml::array& items = array_at(match, "rule.match");
    if (items.empty()) fail(match.source(), "rule.match: must have at least one item");
    for (size_t i = 0; i < items.size(); ++i) {
      rule.match.push_back(read_match_item(items[i], element_path("rule.match", i)));
    }
    if (const toml::node* metadata = table.get("metadata")) {
      rule.metadata = read_metadata(*metadata, "rule.metadata");
    }
    return rule;
  }

  const ClassificationTable& classes_;
  std::map<std::pair<uint32_t, uint32_t>, config::SourcePos> seen_;  // (gid, sid) → its sid
};

}  // namespace

std::optional<std::string> decode_content(std::string_view text, std::string& why) {
  std::string bytes;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '|') {
      bytes += text[i++];
      continue;
    }
    const size_t close = text.find('|', i + 1);
    if (close == std::string_view::npos) {
      why = "unterminated |hex| block '" + std::string(text.substr(i)) + "' (no closing '|')";
      return std::nullopt;
    }
    const std::string_view block = text.substr(i + 1, close - i - 1);
    const std::string shown = "|" + std::string(block) + "|";
    int high = -1;  // the first digit of a pair, while waiting for the second
    bool any = false;
    for (const char c : block) {
      if (c == ' ' || c == '\t') {
        if (high >= 0) break;  // a pair split by a space: reported as odd below
        continue;
      }
      const int value = hex_value(c);
      if (value < 0) {
        why = "'" + printable(c) + "' is not a hex digit in " + shown;
        return std::nullopt;
      }
      any = true;
      if (high < 0) {
        high = value;
      } else {
        bytes += static_cast<char>(high << 4 | value);
        high = -1;
      }
    }
    if (high >= 0) {
      why = "odd number of hex digits in " + shown + " (bytes are pairs of digits)";
      return std::nullopt;
    }
    if (!any) {
      why = "empty |hex| block " + shown;
      return std::nullopt;
    }
    i = close + 1;
  }
  if (bytes.empty()) {
    why = "must not be empty";
    return std::nullopt;
  }
  return bytes;
}

ClassificationTable load_classifications(const std::string& path) {
  return load_classifications_text(config::detail::read_file(path), path);
}

ClassificationTable load_classifications_text(std::string_view text, const std::string& name) {
  const toml::table root = config::detail::parse(text, name);
  ClassificationTable classes;
  for (const auto& [key, node] : in_file_order(root)) {
    const std::string classtype(key->str());
    expect_type(*node, toml::node_type::table, classtype);
    const toml::table& table = *node->as_table();
    const std::string where = "[" + classtype + "]";
    reject_unknown_keys(table, {"description", "severity"}, where);
    Classification& entry = classes[classtype];
    entry.description =
        nonempty_string(required(table, "description", where), classtype + ".description");
    entry.severity = static_cast<uint8_t>(
        integer_in(required(table, "severity", where), classtype + ".severity", 1, 4));
  }
  return classes;
}

std::vector<std::string> rule_files_in(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw config::LoadError({dir, 0, 0}, "cannot list rule directory: " + ec.message());
  std::vector<std::string> names;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    // As the shell's *.toml: hidden entries (editor locks, ".toml") are not rule files.
    if (name.front() == '.' || !name.ends_with(".toml")) continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) continue;
    names.push_back(name);
  }
  if (ec) throw config::LoadError({dir, 0, 0}, "cannot list rule directory: " + ec.message());
  // std::string compares through char_traits<char>, i.e. as unsigned bytes: bytewise order.
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  files.reserve(names.size());
  for (const std::string& name : names) {
    files.push_back((std::filesystem::path(dir) / name).string());
  }
  return files;
}

std::vector<Rule> load_rule_files(const std::vector<std::string>& files,
                                  const ClassificationTable& classes) {
  RuleReader reader(classes);
  std::vector<Rule> rules;
  for (const std::string& file : files) {
    reader.read_text(config::detail::read_file(file), file, rules);
  }
  return rules;
}

std::vector<Rule> load_rules_text(std::string_view text, const std::string& name,
                                  const ClassificationTable& classes) {
  RuleReader reader(classes);
  std::vector<Rule> rules;
  reader.read_text(text, name, rules);
  return rules;
}

}  // namespace sentinel::rules

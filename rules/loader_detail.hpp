// Readers shared by the loaders of the rules directory (rules/loader.cpp for [[rule]],
// rules/policy_loader.cpp for [policy] and [[allow]]), so that nets, ports and protocols
// are written the same way in every table. Internal to the build-side rules library:
// toml++ and exceptions (config/toml_read.hpp), never on the hot path.
#pragma once

#include <toml++/toml.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/error.hpp"
#include "config/toml_read.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules::detail {

// Spellings of Proto, indexed by its values (rule.hpp).
inline constexpr std::array<std::string_view, 4> kProtoNames{"ip", "tcp", "udp", "icmp"};

inline constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
inline constexpr int64_t kPortMax = std::numeric_limits<uint16_t>::max();

inline config::SourcePos position(const toml::source_region& where) {
  return {where.path ? *where.path : std::string(), where.begin.line, where.begin.column};
}

inline std::string element_path(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// A table's value for a key that must be there.
inline const toml::node& required(const toml::table& table, std::string_view key,
                                  std::string_view where) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    config::detail::fail(
        table.source(), "missing required key '" + std::string(key) + "' in " + std::string(where));
  }
  return *node;
}

inline const toml::array& array_at(const toml::node& node, const std::string& path) {
  config::detail::expect_type(node, toml::node_type::array, path);
  return *node.as_array();
}

// "10.0.0.0/8" → include, "!10.1.0.0/16" → exclude.
inline NetSet read_nets(const toml::node& node, const std::string& path) {
  NetSet nets;
  const toml::array& array = array_at(node, path);
  for (size_t i = 0; i < array.size(); ++i) {
    const std::string element = element_path(path, i);
    config::detail::expect_type(array[i], toml::node_type::string, element);
    const std::string_view text = array[i].as_string()->get();
    if (!text.empty() && text.front() == '!') {
      nets.exclude.push_back(config::detail::cidr(array[i], text.substr(1), element));
    } else {
      nets.include.push_back(config::detail::cidr(array[i], text, element));
    }
  }
  return nets;
}

// A port number, or a "lo-hi" string.
inline PortRange read_port(const toml::node& node, const std::string& path) {
  using config::detail::fail;
  if (node.is_integer()) {
    const auto port = static_cast<uint16_t>(config::detail::integer_in(node, path, 0, kPortMax));
    return {port, port};
  }
  if (!node.is_string()) {
    fail(node.source(), path + ": expected a port number or a \"lo-hi\" string, got " +
                            std::string(config::detail::type_name(node.type())));
  }
  const std::string& text = node.as_string()->get();
  const size_t dash = text.find('-');
  std::array<uint16_t, 2> bounds{};
  const std::array<std::string_view, 2> parts{
      std::string_view(text).substr(0, dash),
      dash == std::string::npos ? std::string_view() : std::string_view(text).substr(dash + 1)};
  for (size_t i = 0; i < 2; ++i) {
    const std::string_view part = parts[i];
    uint64_t value = 0;
    const char* end = part.data() + part.size();
    const auto [ptr, ec] = std::from_chars(part.data(), end, value);
    if (part.empty() || ptr != end || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
      fail(node.source(), path + ": '" + text + "' is not a port range \"lo-hi\"");
    }
    if (ec == std::errc::result_out_of_range || value > kPortMax) {
      fail(node.source(),
           path + ": port " + std::string(part) + " in '" + text + "' is out of range 0..65535");
    }
    bounds[i] = static_cast<uint16_t>(value);
  }
  if (bounds[0] > bounds[1]) {
    fail(node.source(), path + ": port range '" + text + "' has lo > hi");
  }
  return {bounds[0], bounds[1]};
}

inline std::vector<PortRange> read_ports(const toml::node& node, const std::string& path) {
  std::vector<PortRange> ports;
  const toml::array& array = array_at(node, path);
  for (size_t i = 0; i < array.size(); ++i) {
    ports.push_back(read_port(array[i], element_path(path, i)));
  }
  return ports;
}

}  // namespace sentinel::rules::detail

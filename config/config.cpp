// The sentinel.toml loader: toml++ parses, then each schema table is read key by key into
// Config. The schema is closed: every key the file gives is either understood and checked
// or rejected with its position, because a misspelt key that silently falls back to its
// default is the worst kind of configuration error on a box in the field.
#include "config/config.hpp"

#include <arpa/inet.h>

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <type_traits>

#include "config/toml_read.hpp"

namespace sentinel::config {

namespace {

using detail::cidr;
using detail::expect_type;
using detail::fail;
using detail::integer_in;
using detail::nonempty_string;
using detail::one_of;
using detail::reject_unknown_keys;

// Spellings of the enums, indexed by their values.
constexpr std::array<std::string_view, 3> kHugepagesNames{"auto", "on", "off"};
constexpr std::array<std::string_view, 2> kFailActionNames{"pass", "drop"};
constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug",    "info", "warning",
                                                     "error", "critical", "off"};

// One table of the schema, possibly absent; its readers leave a value alone when its key
// is absent and otherwise either store it or throw.
class Section {
 public:
  Section(const toml::table& root, std::string_view name,
          std::initializer_list<std::string_view> keys)
      : name_(name) {
    const toml::node* node = root.get(name);
    if (node == nullptr) return;
    expect_type(*node, toml::node_type::table, name_);
    table_ = node->as_table();
    reject_unknown_keys(*table_, keys, "[" + name_ + "]");
  }

  const toml::node* get(std::string_view key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  std::string path(std::string_view key) const { return name_ + "." + std::string(key); }

  // A non-empty string.
  void read(std::string_view key, std::string& out) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    out = nonempty_string(*node, path(key));
  }

  // A string, possibly empty ("" switches the feature off or picks the built-in).
  void read_maybe_empty(std::string_view key, std::string& out) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    expect_type(*node, toml::node_type::string, path(key));
    out = node->as_string()->get();
  }

  void read(std::string_view key, bool& out) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    expect_type(*node, toml::node_type::boolean, path(key));
    out = node->as_boolean()->get();
  }

  // An integer in lo..hi, and a power of two when asked.
  void read(std::string_view key, uint32_t lo, uint32_t hi, uint32_t& out,
            bool power_of_two = false) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    out = static_cast<uint32_t>(integer_in(*node, path(key), lo, hi));
    if (power_of_two && !std::has_single_bit(out)) {
      fail(node->source(), path(key) + ": " + std::to_string(out) + " is not a power of two");
    }
  }

  // One of `names`: stored as the enum value of the same index, or as the name itself.
  template <typename T, size_t N>
  void read(std::string_view key, const std::array<std::string_view, N>& names, T& out) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    const size_t index = one_of(*node, path(key), names);
    if constexpr (std::is_enum_v<T>) {
      out = static_cast<T>(index);
    } else {
      out = std::string(names[index]);
    }
  }

  // An array of CIDR strings.
  void read(std::string_view key, std::vector<Cidr>& out) const {
    const toml::node* node = get(key);
    if (node == nullptr) return;
    expect_type(*node, toml::node_type::array, path(key));
    const toml::array& array = *node->as_array();
    out.clear();
    for (size_t i = 0; i < array.size(); ++i) {
      const std::string element = path(key) + "[" + std::to_string(i) + "]";
      expect_type(array[i], toml::node_type::string, element);
      out.push_back(cidr(array[i], array[i].as_string()->get(), element));
    }
  }

 private:
  std::string name_;
  const toml::table* table_ = nullptr;
};

void read_ports(const toml::table& root, PortsConfig& ports) {
  const Section section(root, "ports", {"vendor", "core"});
  section.read("vendor", ports.vendor);
  section.read("core", ports.core);
  if (ports.vendor != ports.core) return;
  // The defaults differ, so at least one of the two was given: point at it.
  const char* given = section.get("core") != nullptr ? "core" : "vendor";
  const char* other = section.get("core") != nullptr ? "vendor" : "core";
  fail(section.get(given)->source(), section.path(given) + ": must differ from ports." + other +
                                         " (both are '" + ports.core + "')");
}

void read_dataplane(const toml::table& root, DataplaneConfig& dataplane) {
  const Section section(root, "dataplane",
                        {"workers", "burst_size", "rx_descriptors", "tx_descriptors", "mbufs",
                         "mbuf_cache", "hugepages"});
  section.read("workers", 1, kMaxWorkers, dataplane.workers);
  section.read("burst_size", 1, kMaxBurst, dataplane.burst_size);
  section.read("rx_descriptors", 64, 16384, dataplane.rx_descriptors, true);
  section.read("tx_descriptors", 64, 16384, dataplane.tx_descriptors, true);
  section.read("mbufs", 1024, 4194304, dataplane.mbufs);
  section.read("mbuf_cache", 0, 512, dataplane.mbuf_cache);  // RTE_MEMPOOL_CACHE_MAX_SIZE
  section.read("hugepages", kHugepagesNames, dataplane.hugepages);
}

void read_log(const toml::table& root, LogConfig& log) {
  const Section section(root, "log", {"dir", "level", "stats_interval"});
  section.read("dir", log.dir);
  section.read("level", kLogLevels, log.level);
  section.read("stats_interval", 0, 3600, log.stats_interval);
}

void read_network(const toml::table& root, NetworkConfig& network) {
  const Section section(root, "network", {"vendor_nets"});
  section.read("vendor_nets", network.vendor_nets);
}

void read_failure(const toml::table& root, FailureConfig& failure) {
  const Section section(root, "failure", {"malformed_vendor", "malformed_core", "bad_checksum",
                                          "reassembly_overflow", "spoofed_source", "flow_table_full", "depth_reached",
                                          "frag_overlap", "frag_too_many", "frag_oversize", "frag_timeout",
                                          "frag_table_full"});
  section.read("malformed_vendor", kFailActionNames, failure.malformed_vendor);
  section.read("malformed_core", kFailActionNames, failure.malformed_core);
  section.read("bad_checksum", kFailActionNames, failure.bad_checksum);
  section.read("reassembly_overflow", kFailActionNames, failure.reassembly_overflow);
  section.read("spoofed_source", kFailActionNames, failure.spoofed_source);
  section.read("flow_table_full", kFailActionNames, failure.flow_table_full);
  section.read("depth_reached", kFailActionNames, failure.depth_reached);
  section.read("frag_overlap", kFailActionNames, failure.frag_overlap);
  section.read("frag_too_many", kFailActionNames, failure.frag_too_many);
  section.read("frag_oversize", kFailActionNames, failure.frag_oversize);
  section.read("frag_timeout", kFailActionNames, failure.frag_timeout);
  section.read("frag_table_full", kFailActionNames, failure.frag_table_full);
}

void read_rules(const toml::table& root, RulesConfig& rules) {
  const Section section(root, "rules", {"dir", "cache_dir", "classification", "filters_dir", "filter_alerts_per_second",
                                        "watch", "reload_debounce_ms"});
  section.read("dir", rules.dir);
  section.read_maybe_empty("cache_dir", rules.cache_dir);
  section.read_maybe_empty("classification", rules.classification);
  section.read_maybe_empty("filters_dir", rules.filters_dir);
  section.read("filter_alerts_per_second", 1, 1000000, rules.filter_alerts_per_second);
  section.read("watch", rules.watch);
  section.read("reload_debounce_ms", 10, 60000, rules.reload_debounce_ms);
}

void read_flows(const toml::table& root, FlowsConfig& flows) {
  const Section section(root, "flows",
                        {"capacity", "inspect_depth", "reassembly_buffer", "stream_state_max",
                         "timeout_embryonic", "timeout_established", "timeout_closed",
                         "verify_checksums"});
  section.read("capacity", kMinFlows, kMaxFlows, flows.capacity);
  section.read("inspect_depth", 0, UINT32_MAX, flows.inspect_depth);
  section.read("reassembly_buffer", 0, kMaxReassemblyBuffer, flows.reassembly_buffer);
  section.read("stream_state_max", 256, kMaxStreamState, flows.stream_state_max);
  section.read("timeout_embryonic", 1, 86400, flows.timeout_embryonic);
  section.read("timeout_established", 1, 86400 * 7, flows.timeout_established);
  section.read("timeout_closed", 1, 86400, flows.timeout_closed);
  section.read("verify_checksums", flows.verify_checksums);
}

void read_fragments(const toml::table& root, FragmentsConfig& fragments) {
  const Section section(root, "fragments", {"timeout", "max_datagrams", "max_fragments", "max_datagram_size"});
  section.read("timeout", 1, 600, fragments.timeout);
  section.read("max_datagrams", kMinFragDatagrams, kMaxFragDatagrams, fragments.max_datagrams);
  section.read("max_fragments", kMinFragments, kMaxFragments, fragments.max_fragments);
  section.read("max_datagram_size", 576, 65535, fragments.max_datagram_size);
}

// "IPv4:port" or "[IPv6]:port" with a numeric address: the endpoint binds one address.
bool valid_listen_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
  const unsigned long number = std::stoul(port);
  if (number == 0 || number > 65535) return false;
  std::string host = text.substr(0, colon);
  unsigned char addr[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    return inet_pton(AF_INET6, host.c_str(), addr) == 1;
  }
  return inet_pton(AF_INET, host.c_str(), addr) == 1;
}

void read_metrics(const toml::table& root, MetricsConfig& metrics, bool& given) {
  const Section section(root, "metrics", {"listen", "rules"});
  given = root.get("metrics") != nullptr;
  section.read("listen", metrics.listen);
  section.read("rules", metrics.rules);
  if (const toml::node* node = section.get("listen"); node && !valid_listen_address(metrics.listen)) {
    fail(node->source(), section.path("listen") + ": '" + metrics.listen +
                             "' is not IPv4:port or [IPv6]:port (numeric address, port 1..65535)");
  }
}

}  // namespace

Config load_config_file(const std::string& path) {
  return load_config_text(detail::read_file(path), path);
}

Config load_config_text(std::string_view text, const std::string& name) {
  const toml::table root = detail::parse(text, name);
  reject_unknown_keys(root, {"ports", "dataplane", "log", "network", "failure", "metrics", "rules", "flows", "fragments"},
                      "");
  Config config;
  config.source = name;
  read_ports(root, config.ports);
  read_dataplane(root, config.dataplane);
  read_log(root, config.log);
  read_network(root, config.network);
  read_failure(root, config.failure);
  read_metrics(root, config.metrics, config.metrics_given);
  read_rules(root, config.rules);
  read_flows(root, config.flows);
  read_fragments(root, config.fragments);
  return config;
}

std::string dump_config(const Config& config) {
  const DataplaneConfig& dp = config.dataplane;
  const FlowsConfig& fl = config.flows;
  toml::array vendor_nets;
  for (const Cidr& cidr : config.network.vendor_nets) vendor_nets.push_back(cidr.to_string());
  const std::pair<const char*, toml::table> sections[] = {
      {"ports", toml::table{{"vendor", config.ports.vendor}, {"core", config.ports.core}}},
      {"dataplane", toml::table{{"workers", int64_t{dp.workers}},
                                {"burst_size", int64_t{dp.burst_size}},
                                {"rx_descriptors", int64_t{dp.rx_descriptors}},
                                {"tx_descriptors", int64_t{dp.tx_descriptors}},
                                {"mbufs", int64_t{dp.mbufs}},
                                {"mbuf_cache", int64_t{dp.mbuf_cache}},
                                {"hugepages", to_string(dp.hugepages)}}},
      {"log", toml::table{{"dir", config.log.dir},
                          {"level", config.log.level},
                          {"stats_interval", int64_t{config.log.stats_interval}}}},
      {"network", toml::table{{"vendor_nets", std::move(vendor_nets)}}},
      {"failure", toml::table{{"malformed_vendor", to_string(config.failure.malformed_vendor)},
                              {"malformed_core", to_string(config.failure.malformed_core)},
                              {"bad_checksum", to_string(config.failure.bad_checksum)},
                              {"reassembly_overflow", to_string(config.failure.reassembly_overflow)},
                              {"spoofed_source", to_string(config.failure.spoofed_source)},
                              {"flow_table_full", to_string(config.failure.flow_table_full)},
                              {"depth_reached", to_string(config.failure.depth_reached)},
                              {"frag_overlap", to_string(config.failure.frag_overlap)},
                              {"frag_too_many", to_string(config.failure.frag_too_many)},
                              {"frag_oversize", to_string(config.failure.frag_oversize)},
                              {"frag_timeout", to_string(config.failure.frag_timeout)},
                              {"frag_table_full", to_string(config.failure.frag_table_full)}}},
      {"metrics", toml::table{{"listen", config.metrics.listen}, {"rules", config.metrics.rules}}},
      {"rules", toml::table{{"dir", config.rules.dir},
                            {"cache_dir", config.rules.cache_dir},
                            {"classification", config.rules.classification},
                            {"filters_dir", config.rules.filters_dir},
                            {"filter_alerts_per_second", config.rules.filter_alerts_per_second},
                            {"watch", config.rules.watch},
                            {"reload_debounce_ms", config.rules.reload_debounce_ms}}},
      {"flows", toml::table{{"capacity", int64_t{fl.capacity}},
                            {"inspect_depth", int64_t{fl.inspect_depth}},
                            {"reassembly_buffer", int64_t{fl.reassembly_buffer}},
                            {"stream_state_max", int64_t{fl.stream_state_max}},
                            {"timeout_embryonic", int64_t{fl.timeout_embryonic}},
                            {"timeout_established", int64_t{fl.timeout_established}},
                            {"timeout_closed", int64_t{fl.timeout_closed}},
                            {"verify_checksums", fl.verify_checksums}}},
      {"fragments", toml::table{{"timeout", int64_t{config.fragments.timeout}},
                                {"max_datagrams", int64_t{config.fragments.max_datagrams}},
                                {"max_fragments", int64_t{config.fragments.max_fragments}},
                                {"max_datagram_size", int64_t{config.fragments.max_datagram_size}}}},
  };
  // A toml::table orders its keys by name; formatting one table at a time keeps the
  // schema's order of tables, which is the order sentinel.toml documents them in.
  std::ostringstream out;
  for (const auto& [name, table] : sections) {
    if (out.tellp() > 0) out << "\n\n";
    out << toml::table{{name, table}};
  }
  out << "\n";
  return out.str();
}

const char* to_string(Hugepages h) noexcept {
  const auto i = static_cast<size_t>(h);
  return i < kHugepagesNames.size() ? kHugepagesNames[i].data() : "?";
}

const char* to_string(FailAction a) noexcept {
  const auto i = static_cast<size_t>(a);
  return i < kFailActionNames.size() ? kFailActionNames[i].data() : "?";
}

}  // namespace sentinel::config

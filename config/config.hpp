// Config: the box's configuration (sentinel.toml) as validated values. The defaults below
// are the built-in configuration used without -c; config/sentinel.toml documents every key
// with these same values (a unit test keeps the two equal). Loading is strict: an unknown
// key, a wrong type or an out-of-range value is a LoadError with file:line:col.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/cidr.hpp"
#include "config/error.hpp"
#include "config/limits.hpp"

namespace sentinel::config {

enum class Hugepages : uint8_t { kAuto, kOn, kOff };
enum class FailAction : uint8_t { kPass, kDrop };

struct PortsConfig {
  // A PCI address ("0000:03:00.0") or a DPDK vdev string ("net_af_packet0,iface=veth-v").
  std::string vendor = "0000:03:00.0";
  std::string core = "0000:04:00.0";
  friend bool operator==(const PortsConfig&, const PortsConfig&) = default;
};

struct DataplaneConfig {
  uint32_t workers = 1;             // 1..kMaxWorkers; one lcore each, plus the main lcore
  uint32_t burst_size = 32;         // 1..kMaxBurst
  uint32_t rx_descriptors = 1024;   // per rx queue
  uint32_t tx_descriptors = 1024;   // per tx queue
  uint32_t mbufs = 16383;           // mbufs in the packet pool shared by both ports
  uint32_t mbuf_cache = 256;        // per-lcore mempool cache
  Hugepages hugepages = Hugepages::kAuto;
  friend bool operator==(const DataplaneConfig&, const DataplaneConfig&) = default;
};

struct LogConfig {
  std::string dir = "/var/log/sentinel";
  std::string level = "info";  // trace | debug | info | warning | error | critical | off
  uint32_t stats_interval = 0;  // seconds between live `stats:` lines on stdout; 0 = none
  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

struct NetworkConfig {
  std::vector<Cidr> vendor_nets;  // addresses of the vendor equipment
  friend bool operator==(const NetworkConfig&, const NetworkConfig&) = default;
};

struct MetricsConfig {
  // Management address of the Prometheus endpoint (/metrics), "IPv4:port" or "[IPv6]:port".
  // Never an inline port: those carry no address.
  std::string listen = "127.0.0.1:9752";
  bool rules = false;  // also serve /metrics/rules: counts per allow (one series each)
  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

struct RulesConfig {
  std::string dir = "/etc/sentinel/rules.d";    // *.toml rule files, loaded in name order
  std::string cache_dir = "/var/cache/sentinel";  // compiled Hyperscan databases; "" = none
  std::string classification;                     // classtype table; "" = the built-in one
  std::string filters_dir;                        // [[filter]] objects named without '/'; "" = the installed ones
  uint32_t filter_alerts_per_second = 100;        // per filter, over all workers
  bool watch = true;                              // live: reload on changes to the rule files (inotify)
  uint32_t reload_debounce_ms = 500;              // quiet time after the last change before reloading
  friend bool operator==(const RulesConfig&, const RulesConfig&) = default;
};

struct FlowsConfig {
  uint32_t capacity = 65536;             // flows per worker
  uint32_t inspect_depth = 1048576;      // stream bytes scanned per flow direction; 0 = all
  uint32_t reassembly_buffer = 4096;     // out-of-order bytes held per flow direction
  uint32_t stream_state_max = 4096;      // Hyperscan stream state bytes per flow direction
  uint32_t timeout_embryonic = 30;       // seconds idle, per flow state
  uint32_t timeout_established = 600;
  uint32_t timeout_closed = 10;
  bool verify_checksums = true;          // IPv4 header and TCP checksums before streaming
  friend bool operator==(const FlowsConfig&, const FlowsConfig&) = default;
};

// IP reassembly (rte_ip_frag): fragments are held until their datagram is complete.
struct FragmentsConfig {
  uint32_t timeout = 30;               // seconds from a datagram's first fragment to its last
  uint32_t max_datagrams = 1024;       // datagrams being reassembled, per worker and direction
  uint32_t max_fragments = 2048;       // fragments held, per worker (both directions)
  uint32_t max_datagram_size = 65535;  // bytes of IP payload a reassembled datagram may have
  friend bool operator==(const FragmentsConfig&, const FragmentsConfig&) = default;
};

struct FailureConfig {
  FailAction malformed_vendor = FailAction::kDrop;  // malformed frame from the vendor side
  FailAction malformed_core = FailAction::kPass;    // malformed frame from the core side
  FailAction bad_checksum = FailAction::kPass;      // TCP segment with a bad IP/TCP checksum
  FailAction reassembly_overflow = FailAction::kPass;  // out-of-order buffer overflowed
  FailAction spoofed_source = FailAction::kDrop;     // vendor-port IP source outside vendor_nets
  FailAction flow_table_full = FailAction::kPass;    // new flow, table full of unevictable flows
  FailAction depth_reached = FailAction::kPass;      // flow direction past [flows] inspect_depth
  // IP fragments that cannot make a datagram; pass forwards them uninspected.
  FailAction frag_overlap = FailAction::kDrop;     // overlapping or duplicate fragments
  FailAction frag_too_many = FailAction::kDrop;    // more fragments than a datagram may have
  FailAction frag_oversize = FailAction::kDrop;    // datagram beyond [fragments] max_datagram_size
  FailAction frag_timeout = FailAction::kDrop;     // incomplete after [fragments] timeout
  FailAction frag_table_full = FailAction::kDrop;  // no room to hold another datagram or fragment
  friend bool operator==(const FailureConfig&, const FailureConfig&) = default;
};

struct Config {
  std::string source = "<built-in>";  // the file it came from
  PortsConfig ports;
  DataplaneConfig dataplane;
  LogConfig log;
  NetworkConfig network;
  FailureConfig failure;
  MetricsConfig metrics;
  RulesConfig rules;
  FlowsConfig flows;
  FragmentsConfig fragments;
  // Whether the file had a [metrics] table: live mode always serves metrics, replay only
  // when asked. Not a setting of its own, so not compared or dumped.
  bool metrics_given = false;
  friend bool operator==(const Config& a, const Config& b) {
    return a.ports == b.ports && a.dataplane == b.dataplane && a.log == b.log &&
           a.network == b.network && a.failure == b.failure && a.metrics == b.metrics && a.rules == b.rules &&
           a.flows == b.flows && a.fragments == b.fragments;
  }
};

// Reads and validates `path`. Throws LoadError (file:line:col) on any fault.
[[nodiscard]] Config load_config_file(const std::string& path);
// Same, from text; `name` is used as the file name in errors.
[[nodiscard]] Config load_config_text(std::string_view text, const std::string& name);
// The effective configuration as TOML (--dump-config); load_config_text() reads it back equal.
[[nodiscard]] std::string dump_config(const Config& config);

const char* to_string(Hugepages h) noexcept;
const char* to_string(FailAction a) noexcept;

}  // namespace sentinel::config

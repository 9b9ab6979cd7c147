// Policy: the communication policy as the rule files state it ([policy], [[allow]] and
// [policy.l2] tables in the rules directory), validated, before compilation. The loader
// below produces it; rules/policy_classifier.hpp compiles its allows to rte_acl contexts.
// Nothing here knows about ports, workers or packets.
//
// Semantics (README, "Communication policy"): a flow is decided on its first packet by the
// side that opened it; an [[allow]] that permits the opener's 5-tuple allows the flow both
// ways. Flows no allow permits get `default_action`, alerted with gid 2 / `default_sid`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/error.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {

enum class PolicyMode : uint8_t { kEnforce, kLearn };
// What happens to a flow no [[allow]] permits.
enum class PolicyDefault : uint8_t { kAllow, kAlert, kDrop, kReject };

struct Allow {
  std::string name;          // unique across the loaded files
  bool from_vendor = true;   // from = "vendor": the vendor side opens the flow; "core": the core side
  Proto proto = Proto::kIp;  // kIcmp: ICMP for IPv4, ICMPv6 for IPv6
  NetSet src_nets;           // the opener's address; empty include = any
  NetSet dst_nets;           // the responder's address
  std::vector<PortRange> src_ports;  // tcp/udp only; empty = any
  std::vector<PortRange> dst_ports;
  std::vector<uint8_t> icmp_types;   // icmp only; empty = any
  config::SourcePos pos;             // the [[allow]] table
};

inline constexpr uint32_t kDefaultPolicySid = 1000001;
inline constexpr uint16_t kEthertypeArp = 0x0806;
// Stands for every IEEE 802.3 frame (STP, CDP, ...: a length below 0x0600 in the type
// field, not an ethertype), named "llc" in allow_ethertypes.
inline constexpr uint16_t kEthertypeLlc = 0x0000;

struct Policy {
  PolicyMode mode = PolicyMode::kEnforce;
  PolicyDefault default_action = PolicyDefault::kAlert;
  uint32_t default_sid = kDefaultPolicySid;
  uint32_t learn_min_hosts = 4;     // learn: aggregate a service's destinations only from this many hosts
  uint8_t learn_max_prefix_v4 = 24;  // ... and never into a prefix shorter than these
  uint8_t learn_max_prefix_v6 = 64;
  // [policy.l2]: non-IP ethertypes let across (host byte order), and whether IPv6's
  // link-local control — neighbour/router discovery (ICMPv6 133-137) and multicast listener
  // discovery (130-132, 143) — bypasses the allows.
  std::vector<uint16_t> allow_ethertypes{kEthertypeArp};
  bool allow_icmpv6_nd = true;
  std::vector<Allow> allows;  // in file order, then table order: the first listed wins a tie
  config::SourcePos pos;      // the [policy] table
};

// Reads the [policy], [policy.l2] and [[allow]] tables of `files` (any rules-directory file;
// [[rule]] and [[filter]] tables are left to their loaders). nullopt when no file has a
// [policy] table: the stage is off. Throws LoadError (file:line:col) on the first fault: a
// second [policy] table, an [[allow]] without any [policy], an unknown key, a duplicate
// name, an allow that can never match (IPv4-only sources with IPv6-only destinations),
// ports on a protocol without ports, icmp_types on a non-ICMP allow.
[[nodiscard]] std::optional<Policy> load_policy_files(const std::vector<std::string>& files);
// Same, for texts given as (name, text) pairs in load order (tests, fuzzing).
[[nodiscard]] std::optional<Policy> load_policy_texts(
    const std::vector<std::pair<std::string, std::string>>& named_texts);

// "arp", "lldp", ... or nullptr for an ethertype without a name the loader accepts.
[[nodiscard]] const char* ethertype_name(uint16_t ethertype) noexcept;
[[nodiscard]] const char* to_string(PolicyDefault d) noexcept;
[[nodiscard]] const char* to_string(PolicyMode m) noexcept;

}  // namespace sentinel::rules

// Learn mode's output: what the workers observed, turned into a complete policy file that
// the policy loader reads back ([policy] mode = "enforce", default = "alert", then one
// [[allow]] per service). Control plane only.
//
// A service is (opening side, protocol, destination port or ICMP type, address family).
// Its observed sources are listed as host prefixes. Its destinations are listed as host
// prefixes too, except that destinations sharing one block of the widest allowed prefix
// (learn_max_prefix_v4/v6) are aggregated into their longest common prefix when there are
// at least learn_min_hosts of them: never wider than the limits, never from few hosts.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "rules/policy.hpp"

namespace sentinel::rules {

// One distinct (opening side, proto, source, destination, destination port) and its traffic.
struct LearnedFlow {
  std::array<uint8_t, 16> src{};  // the opener, network byte order (IPv4: first 4 bytes)
  std::array<uint8_t, 16> dst{};
  uint64_t flows = 0;
  uint64_t bytes = 0;             // wire bytes, both directions
  uint16_t dst_port = 0;          // TCP/UDP destination port, ICMP type; 0 otherwise
  uint8_t ip_proto = 0;           // IANA number
  bool v6 = false;
  bool from_vendor = true;
};

struct LearnLimits {
  uint32_t min_hosts = 4;
  uint8_t max_prefix_v4 = 24;
  uint8_t max_prefix_v6 = 64;
  uint32_t default_sid = kDefaultPolicySid;
};

// The policy file text. `ethertypes`: non-IP ethertypes seen (host byte order), written to
// [policy.l2]; `allow_icmpv6_nd` is carried over. `origin` goes into the header comment
// (e.g. the capture or "live, worker 0-3, since ..."). Deterministic: the same input in any
// order gives the same text.
[[nodiscard]] std::string write_learned_policy(std::span<const LearnedFlow> flows,
                                               std::span<const uint16_t> ethertypes,
                                               const LearnLimits& limits, bool allow_icmpv6_nd,
                                               std::string_view origin);

}  // namespace sentinel::rules

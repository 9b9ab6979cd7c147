// AlertRecord: what a worker knows about one alert, in a fixed-size, trivially copyable
// record it can fill on the hot path and hand to the control plane (through a per-worker
// SPSC ring) without allocating. Everything that can be looked up later from the rule —
// message, classification, severity, metadata — stays out; the control plane joins it in
// when it turns the record into an EVE JSON line (dataplane/eve.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include "dataplane/counters.hpp"  // Direction
#include "rules/rule.hpp"           // rules::Action

namespace sentinel::dataplane {

// The side whose port received the frame.
enum class Side : uint8_t { kVendor = 0, kCore = 1 };

// What happened to the frame that raised the alert.
enum class Verdict : uint8_t { kForwarded = 0, kDropped = 1 };

// Flow ids fit in 51 bits, as Suricata's do, so that JSON consumers that read numbers as
// doubles (JavaScript, jq) see them exactly.
inline constexpr uint64_t kFlowIdLimit = uint64_t{1} << 51;

struct AlertRecord {
  uint64_t ts_ns = 0;      // capture (replay) or wall-clock (live) time, ns since the epoch
  uint64_t flow_id = 0;    // < kFlowIdLimit
  uint64_t pcap_cnt = 0;   // 1-based frame number in the replayed pcap; 0 when live
  uint32_t gid = 0;
  uint32_t sid = 0;
  uint32_t rev = 0;
  // Network byte order. IPv4 uses the first 4 bytes; the rest stay zero.
  std::array<uint8_t, 16> src_addr{};
  std::array<uint8_t, 16> dst_addr{};
  uint16_t src_port = 0;   // host byte order; TCP/UDP (and SCTP) only
  uint16_t dst_port = 0;
  uint8_t icmp_type = 0;   // ICMP and ICMPv6 only
  uint8_t icmp_code = 0;
  uint8_t ip_version = 4;  // 4 or 6; 0 for a non-IP frame (policy.l2)
  uint8_t ip_proto = 0;    // IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 IPv6-ICMP)
  Side in_iface = Side::kVendor;
  Direction direction = Direction::kToCore;
  Verdict verdict = Verdict::kForwarded;
  rules::Action action = rules::Action::kAlert;  // the rule's action
  uint8_t flags = 0;       // kAlertFlag*
  uint16_t ether_type = 0;             // non-IP alerts (ip_version 0): host byte order
  std::array<uint8_t, 6> src_mac{};    // non-IP alerts: the sender
  uint32_t suppressed = 0;             // filters: alerts of the same filter held back before this one
  uint32_t generation = 0;             // the RuleSet generation that raised it (low 32 bits)
};

// Bits of AlertRecord::flags.
inline constexpr uint8_t kAlertFlagMidStream = 1U << 0;  // policy: TCP flow first seen without its SYN
inline constexpr uint8_t kAlertFlagMalformed = 1U << 1;  // policy: a malformed frame a [failure] key passed

static_assert(std::is_trivially_copyable_v<AlertRecord>);
static_assert(std::is_standard_layout_v<AlertRecord>);
static_assert(sizeof(AlertRecord) <= 128, "an AlertRecord must stay within two cache lines");

}  // namespace sentinel::dataplane

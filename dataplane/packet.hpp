// PacketInfo: the compact per-packet record the parser fills and every later stage reads
// (filters, flow lookup, policy, scan). Offsets are from the first byte of the Ethernet
// header. Addresses are kept in network byte order; IPv4 uses the first 4 bytes.
#pragma once

#include <array>
#include <cstdint>

namespace sentinel::dataplane {

enum class L3 : uint8_t {
  kOther = 0,  // a non-IP, non-ARP ethertype (LLDP, MPLS, PPPoE, 802.3 LLC, ...)
  kArp,
  kIpv4,
  kIpv6,
};

// Bits of PacketInfo::flags.
inline constexpr uint8_t kFlagFragment = 1U << 0;       // part of a fragmented IP datagram
inline constexpr uint8_t kFlagLaterFragment = 1U << 1;  // offset != 0: no L4 header here
inline constexpr uint8_t kFlagSnapTruncated = 1U << 2;  // capture cut the frame; parse stopped
inline constexpr uint8_t kFlagIpOptions = 1U << 3;      // IPv4 options or IPv6 extension headers
inline constexpr uint8_t kFlagHasL4 = 1U << 4;          // src_port/dst_port/icmp fields valid
inline constexpr uint8_t kFlagMalformed = 1U << 5;      // malformed but passed (fail open): no flow, no policy

// IANA protocol numbers of PacketInfo::ip_proto that the dataplane names.
namespace ip_proto {
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kIcmpv6 = 58;
inline constexpr uint8_t kSctp = 132;
}  // namespace ip_proto

inline constexpr uint8_t kMaxVlanTags = 4;
inline constexpr uint8_t kMaxIpv6ExtHeaders = 8;

struct alignas(64) PacketInfo {
  std::array<uint8_t, 16> src_ip;  // ARP: sender protocol address
  std::array<uint8_t, 16> dst_ip;  // ARP: target protocol address
  uint32_t payload_len;            // L4 payload bytes as the headers declare them
  uint16_t l3_offset;
  uint16_t l4_offset;              // 0 when there is no L4 header
  uint16_t payload_offset;
  uint16_t ethertype;              // after VLAN tags, host byte order
  uint16_t vlan_tci;               // outermost tag, 0 if untagged
  uint16_t src_port;               // TCP/UDP, host byte order; ICMP echo: the identifier in both
  uint16_t dst_port;
  uint8_t vlan_count;
  L3 l3;
  uint8_t ip_proto;                // the L4 protocol after IPv6 extension headers
  uint8_t flags;
  uint8_t tcp_flags;
  uint8_t icmp_type;
  uint8_t icmp_code;
  uint8_t ttl;                     // IPv4 TTL or IPv6 hop limit
};

static_assert(sizeof(PacketInfo) == 64, "one cache line per packet record");

}  // namespace sentinel::dataplane

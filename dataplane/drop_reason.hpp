// DropReason: why a frame was not forwarded, or why it was malformed. Numbered once here;
// the number never changes meaning and the snake_case name is the `reason` label of the
// drop metrics and the key in EVE stats. Add new reasons at the end, before kCount.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sentinel::dataplane {

// X(enumerator, name). The first group is what the parser detects (malformed frames).
#define SENTINEL_DROP_REASONS(X)                                                      \
  X(kNone, "none")                                                                    \
  X(kEthTruncated, "eth_truncated")             /* shorter than an Ethernet header */ \
  X(kVlanTruncated, "vlan_truncated")           /* 802.1Q/802.1ad tag cut short */    \
  X(kVlanTooDeep, "vlan_too_deep")              /* more tags than kMaxVlanTags */     \
  X(kArpTruncated, "arp_truncated")                                                   \
  X(kArpBadLength, "arp_bad_length")            /* hlen/plen not 6/4 for Ethernet/IPv4 */ \
  X(kIpv4Truncated, "ipv4_truncated")           /* < 20 bytes of header */            \
  X(kIpv4BadVersion, "ipv4_bad_version")                                              \
  X(kIpv4BadIhl, "ipv4_bad_ihl")                /* IHL < 5 or past the frame */      \
  X(kIpv4BadTotalLength, "ipv4_bad_total_length")                                     \
  X(kIpv4BadOption, "ipv4_bad_option")          /* option length runs past the header */ \
  X(kIpv4BadFragment, "ipv4_bad_fragment")      /* offset + length beyond 65535 */    \
  X(kIpv6Truncated, "ipv6_truncated")           /* < 40 bytes of header */            \
  X(kIpv6BadVersion, "ipv6_bad_version")                                              \
  X(kIpv6BadPayloadLength, "ipv6_bad_payload_length")                                 \
  X(kIpv6ExtTruncated, "ipv6_ext_truncated")    /* extension header past the payload */ \
  X(kIpv6ExtChainTooLong, "ipv6_ext_chain_too_long")                                  \
  X(kIpv6HopByHopNotFirst, "ipv6_hop_by_hop_not_first")                               \
  X(kIpv6BadFragment, "ipv6_bad_fragment")      /* offset + length beyond 65535 */    \
  X(kTcpTruncated, "tcp_truncated")             /* < 20 bytes of TCP header */        \
  X(kTcpBadDataOffset, "tcp_bad_data_offset")   /* data offset < 5 or past the packet */ \
  X(kTcpBadOption, "tcp_bad_option")            /* option length runs past the header */ \
  X(kUdpTruncated, "udp_truncated")                                                   \
  X(kUdpBadLength, "udp_bad_length")            /* length < 8 or past the IP payload */ \
  X(kIcmpTruncated, "icmp_truncated")                                                 \
  X(kIcmpv6Truncated, "icmpv6_truncated")                                             \
  X(kTxFull, "tx_full")                         /* the output queue had no room */

enum class DropReason : uint8_t {
#define SENTINEL_X(e, name) e,
  SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
      kCount
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames = {
#define SENTINEL_X(e, name) name,
    SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
};

[[nodiscard]] constexpr std::string_view drop_reason_name(DropReason r) noexcept {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kDropReasonNames[i] : "unknown";
}

// Reasons the parser reports: everything between kNone and kTxFull.
[[nodiscard]] constexpr bool is_malformed(DropReason r) noexcept {
  return r != DropReason::kNone && r < DropReason::kTxFull;
}

}  // namespace sentinel::dataplane

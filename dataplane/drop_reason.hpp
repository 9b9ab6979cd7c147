// DropReason: why a frame was not forwarded, or why it was malformed. Numbered once here;
// the number never changes meaning and the snake_case name is the `reason` label of the
// drop metrics and the key in EVE stats. Add new reasons at the end, before kCount.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sentinel::dataplane {

// X(enumerator, name, kind). kMalformed: the parser found the frame malformed (dropped or
// passed per the side's [failure] policy); kDataplane: a later stage decided.
#define SENTINEL_DROP_REASONS(X)                                                                   \
  X(kNone, "none", kNotADrop)                                                                      \
  X(kEthTruncated, "eth_truncated", kMalformed)             /* shorter than an Ethernet header */  \
  X(kVlanTruncated, "vlan_truncated", kMalformed)           /* 802.1Q/802.1ad tag cut short */     \
  X(kVlanTooDeep, "vlan_too_deep", kMalformed)              /* more tags than kMaxVlanTags */      \
  X(kArpTruncated, "arp_truncated", kMalformed)                                                    \
  X(kArpBadLength, "arp_bad_length", kMalformed)            /* hlen/plen not 6/4 for Ethernet/IPv4 */\
  X(kIpv4Truncated, "ipv4_truncated", kMalformed)           /* < 20 bytes of header */             \
  X(kIpv4BadVersion, "ipv4_bad_version", kMalformed)                                               \
  X(kIpv4BadIhl, "ipv4_bad_ihl", kMalformed)                /* IHL < 5 or past the frame */        \
  X(kIpv4BadTotalLength, "ipv4_bad_total_length", kMalformed)                                      \
  X(kIpv4BadOption, "ipv4_bad_option", kMalformed)          /* option length runs past the header */\
  X(kIpv4BadFragment, "ipv4_bad_fragment", kMalformed)      /* past 65535, empty, or not 8-byte units */\
  X(kIpv6Truncated, "ipv6_truncated", kMalformed)           /* < 40 bytes of header */             \
  X(kIpv6BadVersion, "ipv6_bad_version", kMalformed)                                               \
  X(kIpv6BadPayloadLength, "ipv6_bad_payload_length", kMalformed)                                  \
  X(kIpv6ExtTruncated, "ipv6_ext_truncated", kMalformed)    /* extension header past the payload */\
  X(kIpv6ExtChainTooLong, "ipv6_ext_chain_too_long", kMalformed)                                   \
  X(kIpv6HopByHopNotFirst, "ipv6_hop_by_hop_not_first", kMalformed)                                \
  X(kIpv6BadFragment, "ipv6_bad_fragment", kMalformed)      /* past 65535, empty, or not 8-byte units */\
  X(kTcpTruncated, "tcp_truncated", kMalformed)             /* < 20 bytes of TCP header */         \
  X(kTcpBadDataOffset, "tcp_bad_data_offset", kMalformed)   /* data offset < 5 or past the packet */\
  X(kTcpBadOption, "tcp_bad_option", kMalformed)            /* option length runs past the header */\
  X(kUdpTruncated, "udp_truncated", kMalformed)                                                    \
  X(kUdpBadLength, "udp_bad_length", kMalformed)            /* length < 8 or past the IP payload */\
  X(kIcmpTruncated, "icmp_truncated", kMalformed)                                                  \
  X(kIcmpv6Truncated, "icmpv6_truncated", kMalformed)                                              \
  X(kTxFull, "tx_full", kDataplane)                         /* the output queue had no room */  \
  X(kSignature, "signature", kDataplane)                    /* a drop/reject rule matched */   \
  X(kFlowBlocked, "flow_blocked", kDataplane)               /* its flow was dropped earlier */ \
  X(kBadChecksum, "bad_checksum", kDataplane)               /* TCP segment: IPv4/TCP checksum */\
  X(kReassemblyOverflow, "reassembly_overflow", kDataplane) /* out-of-order buffer full */  \
  X(kPolicy, "policy", kDataplane)                          /* no [[allow]], default drop/reject */\
  X(kSpoofedSource, "spoofed_source", kDataplane)           /* vendor port, source not a vendor net */\
  X(kFilter, "filter", kDataplane)                          /* a [[filter]] with action drop matched */\
  X(kFlowTableFull, "flow_table_full", kDataplane)          /* new flow, table full, fail closed */\
  X(kFragOverlap, "frag_overlap", kDataplane)               /* fragments overlap or repeat */      \
  X(kFragTooMany, "frag_too_many", kDataplane)              /* more fragments than rte_ip_frag holds */\
  X(kFragOversize, "frag_oversize", kDataplane)             /* ends past [fragments] max_datagram_size */\
  X(kFragTimeout, "frag_timeout", kDataplane)               /* datagram incomplete at its timeout */\
  X(kFragTableFull, "frag_table_full", kDataplane)          /* no room to hold the fragment */ \
  X(kDepthReached, "depth_reached", kDataplane)             /* [flows] inspect_depth, fail closed */

enum class DropKind : uint8_t { kNotADrop, kMalformed, kDataplane };

enum class DropReason : uint8_t {
#define SENTINEL_X(e, name, kind) e,
  SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
      kCount
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames = {
#define SENTINEL_X(e, name, kind) name,
    SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
};

[[nodiscard]] constexpr std::string_view drop_reason_name(DropReason r) noexcept {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kDropReasonNames[i] : "unknown";
}

inline constexpr std::array<DropKind, kDropReasonCount> kDropReasonKinds = {
#define SENTINEL_X(e, name, kind) DropKind::kind,
    SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
};

// Fragments that cannot make a datagram, per cause (each has a [failure] key).
[[nodiscard]] constexpr bool is_fragment_cause(DropReason r) noexcept {
  return r >= DropReason::kFragOverlap && r <= DropReason::kFragTableFull;
}

// Reasons a [failure] key may pass instead of drop (fail open): counted as passed then.
[[nodiscard]] constexpr bool can_fail_open(DropReason r) noexcept;

// Reasons the parser reports.
[[nodiscard]] constexpr bool is_malformed(DropReason r) noexcept {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount && kDropReasonKinds[i] == DropKind::kMalformed;
}

constexpr bool can_fail_open(DropReason r) noexcept {
  return is_malformed(r) || r == DropReason::kBadChecksum || r == DropReason::kSpoofedSource ||
         r == DropReason::kFlowTableFull || is_fragment_cause(r);
}

}  // namespace sentinel::dataplane

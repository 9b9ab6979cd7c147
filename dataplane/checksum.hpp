// Internet checksums of the packet path: verifying a received segment's IPv4 header and
// TCP/UDP checksum, and computing them for frames Sentinel builds (reject). IPv4 and IPv6
// alike: the pseudo-header is summed from the addresses the parser found, so IPv6
// extension headers need no special case. [any] noexcept, no allocation.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "dataplane/packet.hpp"

namespace sentinel::dataplane {

[[nodiscard]] inline uint32_t fold_sum(uint64_t s) noexcept {
  while ((s >> 16) != 0) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

// The unfolded sum of the pseudo-header (RFC 793 / RFC 8200 §8.1).
[[nodiscard]] inline uint64_t pseudo_header_sum(const uint8_t* src, const uint8_t* dst, bool v6,
                                                uint8_t proto, uint32_t l4_len) noexcept {
  const size_t alen = v6 ? 16 : 4;
  uint64_t s = rte_raw_cksum(src, alen);
  s += rte_raw_cksum(dst, alen);
  // rte_raw_cksum sums 16-bit words as they lie in memory; add the numbers the same way.
  s += rte_cpu_to_be_16(proto);
  s += rte_cpu_to_be_16(static_cast<uint16_t>(l4_len >> 16));
  s += rte_cpu_to_be_16(static_cast<uint16_t>(l4_len));
  return s;
}

// The checksum field value for `l4` (checksum field zeroed by the caller), to be stored
// with memcpy as it is (it is already in memory order).
[[nodiscard]] inline uint16_t l4_checksum(const uint8_t* src, const uint8_t* dst, bool v6, uint8_t proto,
                                          const uint8_t* l4, uint32_t l4_len) noexcept {
  const uint32_t s = fold_sum(pseudo_header_sum(src, dst, v6, proto, l4_len) + rte_raw_cksum(l4, l4_len));
  const auto c = static_cast<uint16_t>(~s & 0xffff);
  return c == 0 && proto == 17 ? 0xffff : c;  // UDP sends 0 as 0xffff
}

// The IPv4 header or ICMP checksum field value over `len` bytes (field zeroed), memory order.
[[nodiscard]] inline uint16_t internet_checksum(const uint8_t* p, uint32_t len) noexcept {
  return static_cast<uint16_t>(~fold_sum(rte_raw_cksum(p, len)) & 0xffff);
}

enum class ChecksumResult : uint8_t { kGood, kBad, kUnverifiable };

// Checks the IPv4 header checksum (IPv4) and the TCP checksum of a parsed TCP segment.
// `headers` holds the frame's first bytes contiguously (at least through the TCP header);
// the L4 bytes are summed from the mbuf, chained or not. A NIC's verdict in ol_flags is
// taken when it gives one. kUnverifiable: the capture cut the segment short.
[[nodiscard]] inline ChecksumResult verify_tcp_checksums(const rte_mbuf* m, const uint8_t* headers,
                                                         const PacketInfo& pkt) noexcept {
  const uint64_t l4_flags = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  const uint64_t ip_flags = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  const bool v6 = pkt.l3 == L3::kIpv6;
  if (l4_flags == RTE_MBUF_F_RX_L4_CKSUM_BAD || (!v6 && ip_flags == RTE_MBUF_F_RX_IP_CKSUM_BAD)) {
    return ChecksumResult::kBad;
  }
  if (l4_flags == RTE_MBUF_F_RX_L4_CKSUM_GOOD && (v6 || ip_flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD)) {
    return ChecksumResult::kGood;
  }
  if ((pkt.flags & kFlagSnapTruncated) != 0) return ChecksumResult::kUnverifiable;
  if (!v6) {
    const uint8_t* ip = headers + pkt.l3_offset;
    if (fold_sum(rte_raw_cksum(ip, (ip[0] & 0x0fu) * 4u)) != 0xffff) return ChecksumResult::kBad;
  }
  const uint32_t l4_len = static_cast<uint32_t>(pkt.payload_offset - pkt.l4_offset) + pkt.payload_len;
  uint16_t l4_sum = 0;
  if (rte_raw_cksum_mbuf(m, pkt.l4_offset, l4_len, &l4_sum) != 0) return ChecksumResult::kUnverifiable;
  const uint64_t s = pseudo_header_sum(pkt.src_ip.data(), pkt.dst_ip.data(), v6, pkt.ip_proto, l4_len) + l4_sum;
  return fold_sum(s) == 0xffff ? ChecksumResult::kGood : ChecksumResult::kBad;
}

}  // namespace sentinel::dataplane

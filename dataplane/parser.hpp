// The frame parser: Ethernet (802.1Q/802.1ad/QinQ tags), ARP, IPv4 (options, fragments),
// IPv6 (extension-header chains, fragments), TCP (options), UDP, ICMP, ICMPv6 → PacketInfo.
//
// Two lengths: `captured` bytes may be read; `wire_len` is the frame's length on the wire
// (larger only for replayed captures cut by a snaplen). Header lengths are checked against
// what the wire carried, so a malformed frame gets the reason of its first fault. A header
// that was on the wire but not captured stops the parse with kFlagSnapTruncated: that frame
// was cut by the capture, not by the sender, and is not malformed.
//
// [any] noexcept, no allocation: runs on workers per packet and on the control plane.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/drop_reason.hpp"
#include "dataplane/packet.hpp"

namespace sentinel::dataplane {

// parse_common() writes PacketInfo as little-endian words; these are the offsets it assumes.
static_assert(sizeof(PacketInfo) == 64 && offsetof(PacketInfo, dst_ip) == 16 &&
              offsetof(PacketInfo, payload_len) == 32 && offsetof(PacketInfo, l3_offset) == 36 &&
              offsetof(PacketInfo, l4_offset) == 38 && offsetof(PacketInfo, payload_offset) == 40 &&
              offsetof(PacketInfo, ethertype) == 42 && offsetof(PacketInfo, vlan_tci) == 44 &&
              offsetof(PacketInfo, src_port) == 46 && offsetof(PacketInfo, dst_port) == 48 &&
              offsetof(PacketInfo, vlan_count) == 50 && offsetof(PacketInfo, l3) == 51 &&
              offsetof(PacketInfo, ip_proto) == 52 && offsetof(PacketInfo, flags) == 53 &&
              offsetof(PacketInfo, tcp_flags) == 54 && offsetof(PacketInfo, icmp_type) == 55 &&
              offsetof(PacketInfo, icmp_code) == 56 && offsetof(PacketInfo, ttl) == 57 &&
              __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);

namespace parser_detail {

inline uint16_t rd16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

enum class Need : uint8_t { kOk, kSnap, kMalformed };

// Is [off, off+n) readable? `limit` is where the enclosing header says its data ends.
inline Need need(uint32_t off, uint32_t n, uint32_t limit, uint32_t captured) noexcept {
  if (off + n > limit) return Need::kMalformed;
  if (off + n > captured) return Need::kSnap;
  return Need::kOk;
}

// Marks a frame whose next header was on the wire but not in the capture; parsing stops.
inline DropReason snap(PacketInfo& out) noexcept {
  out.flags |= kFlagSnapTruncated;
  return DropReason::kNone;
}

// Walks IPv4 or TCP options in [p, p+len): EOL ends, NOP is one byte, every other option
// has a length byte covering itself and must stay inside the header.
inline bool options_well_formed(const uint8_t* p, uint32_t len) noexcept {
  uint32_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    if (kind == 0) return true;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= len) return false;
    const uint8_t olen = p[i + 1];
    if (olen < 2 || i + olen > len) return false;
    i += olen;
  }
  return true;
}

inline DropReason parse_l4(const uint8_t* d, uint32_t l4, uint32_t limit, uint32_t captured,
                           PacketInfo& out) noexcept {
  out.l4_offset = static_cast<uint16_t>(l4);
  out.payload_offset = static_cast<uint16_t>(l4);
  out.payload_len = limit - l4;
  switch (out.ip_proto) {
    case 6: {  // TCP
      const Need n = need(l4, 20, limit, captured);
      if (n == Need::kMalformed) return DropReason::kTcpTruncated;
      if (n == Need::kSnap) return snap(out);
      const uint32_t hlen = static_cast<uint32_t>(d[l4 + 12] >> 4) * 4;
      if (hlen < 20 || l4 + hlen > limit) return DropReason::kTcpBadDataOffset;
      out.src_port = rd16(d + l4);
      out.dst_port = rd16(d + l4 + 2);
      out.tcp_flags = d[l4 + 13];
      out.flags |= kFlagHasL4;
      if (l4 + hlen > captured) return snap(out);
      if (!options_well_formed(d + l4 + 20, hlen - 20)) return DropReason::kTcpBadOption;
      out.payload_offset = static_cast<uint16_t>(l4 + hlen);
      out.payload_len = limit - (l4 + hlen);
      return DropReason::kNone;
    }
    case 17: {  // UDP
      const Need n = need(l4, 8, limit, captured);
      if (n == Need::kMalformed) return DropReason::kUdpTruncated;
      if (n == Need::kSnap) return snap(out);
      const uint32_t ulen = rd16(d + l4 + 4);
      // A first fragment carries only part of the datagram the length covers; whether the
      // pieces agree is for reassembly to judge.
      const bool first_fragment = (out.flags & kFlagFragment) != 0;
      if (ulen < 8 || (!first_fragment && l4 + ulen > limit)) return DropReason::kUdpBadLength;
      out.src_port = rd16(d + l4);
      out.dst_port = rd16(d + l4 + 2);
      out.flags |= kFlagHasL4;
      out.payload_offset = static_cast<uint16_t>(l4 + 8);
      out.payload_len = (first_fragment ? limit - l4 : ulen) - 8;
      return DropReason::kNone;
    }
    case 1:     // ICMP
    case 58: {  // ICMPv6
      const bool v6 = out.ip_proto == 58;
      const Need n = need(l4, v6 ? 4 : 8, limit, captured);
      if (n == Need::kMalformed) return v6 ? DropReason::kIcmpv6Truncated : DropReason::kIcmpTruncated;
      if (n == Need::kSnap) return snap(out);
      out.icmp_type = d[l4];
      out.icmp_code = d[l4 + 1];
      out.flags |= kFlagHasL4;
      // Echo request/reply: the identifier, in both port fields, keys the flow.
      const bool echo = v6 ? (out.icmp_type == 128 || out.icmp_type == 129) : (out.icmp_type == 8 || out.icmp_type == 0);
      if (echo) {
        const Need id = need(l4, 8, limit, captured);
        if (id == Need::kSnap) return snap(out);
        if (id == Need::kOk) out.src_port = out.dst_port = rd16(d + l4 + 4);
      }
      const uint32_t hlen = v6 ? 4 : 8;
      out.payload_offset = static_cast<uint16_t>(l4 + hlen);
      out.payload_len = limit - (l4 + hlen);
      return DropReason::kNone;
    }
    default:  // other protocols (GRE, ESP, SCTP, ...): the rest of the IP payload
      return DropReason::kNone;
  }
}

// A fragment carries data, and every fragment but the last a multiple of 8 bytes (RFC 791,
// RFC 8200): no receiver reassembles anything else.
constexpr bool fragment_well_formed(uint32_t payload, bool more_frags) noexcept {
  return payload != 0 && (!more_frags || payload % 8 == 0);
}

inline DropReason parse_ipv4(const uint8_t* d, uint32_t l3, uint32_t captured, uint32_t wire_len,
                             PacketInfo& out) noexcept {
  const Need n = need(l3, 20, wire_len, captured);
  if (n == Need::kMalformed) return DropReason::kIpv4Truncated;
  if (n == Need::kSnap) return snap(out);
  const uint8_t* ip = d + l3;
  if ((ip[0] >> 4) != 4) return DropReason::kIpv4BadVersion;
  const uint32_t ihl = static_cast<uint32_t>(ip[0] & 0x0f) * 4;
  if (ihl < 20 || l3 + ihl > wire_len) return DropReason::kIpv4BadIhl;
  const uint32_t total = rd16(ip + 2);
  if (total < ihl || l3 + total > wire_len) return DropReason::kIpv4BadTotalLength;
  std::memcpy(out.src_ip.data(), ip + 12, 4);
  std::memcpy(out.dst_ip.data(), ip + 16, 4);
  out.ttl = ip[8];
  out.ip_proto = ip[9];
  const uint16_t frag = rd16(ip + 6);
  const uint32_t frag_off = static_cast<uint32_t>(frag & 0x1fff) * 8;
  const bool more_frags = (frag & 0x2000) != 0;
  if (frag_off + (total - ihl) > 65535) return DropReason::kIpv4BadFragment;
  if ((frag_off != 0 || more_frags) && !fragment_well_formed(total - ihl, more_frags)) {
    return DropReason::kIpv4BadFragment;
  }
  if (ihl > 20) {
    out.flags |= kFlagIpOptions;
    if (l3 + ihl > captured) return snap(out);
    if (!options_well_formed(ip + 20, ihl - 20)) return DropReason::kIpv4BadOption;
  }
  const uint32_t l4 = l3 + ihl;
  const uint32_t limit = l3 + total;
  if (frag_off != 0 || more_frags) out.flags |= kFlagFragment;
  if (frag_off != 0) {
    out.flags |= kFlagLaterFragment;
    out.payload_offset = static_cast<uint16_t>(l4);
    out.payload_len = limit - l4;
    return DropReason::kNone;
  }
  return parse_l4(d, l4, limit, captured, out);
}

inline DropReason parse_ipv6(const uint8_t* d, uint32_t l3, uint32_t captured, uint32_t wire_len,
                             PacketInfo& out) noexcept {
  const Need n = need(l3, 40, wire_len, captured);
  if (n == Need::kMalformed) return DropReason::kIpv6Truncated;
  if (n == Need::kSnap) return snap(out);
  const uint8_t* ip = d + l3;
  if ((ip[0] >> 4) != 6) return DropReason::kIpv6BadVersion;
  const uint32_t plen = rd16(ip + 4);
  // Zero means a jumbogram, which cannot cross an Ethernet link.
  if (plen == 0 || l3 + 40 + plen > wire_len) return DropReason::kIpv6BadPayloadLength;
  std::memcpy(out.src_ip.data(), ip + 8, 16);
  std::memcpy(out.dst_ip.data(), ip + 24, 16);
  out.ttl = ip[7];
  const uint32_t limit = l3 + 40 + plen;
  uint8_t next = ip[6];
  uint32_t off = l3 + 40;
  for (uint8_t count = 0;; ++count) {
    uint32_t hlen = 0;
    switch (next) {
      case 0:    // hop-by-hop options: only directly after the fixed header
        if (count != 0) return DropReason::kIpv6HopByHopNotFirst;
        [[fallthrough]];
      case 43:   // routing
      case 60:   // destination options
      case 135:  // mobility
      case 139:  // HIP
      case 140:  // shim6
      case 51:   // AH (length in 4-byte units, minus 2)
      case 44:   // fragment
        break;
      default:  // an upper-layer protocol, ESP or no-next-header (59): the chain ends
        out.ip_proto = next;
        return parse_l4(d, off, limit, captured, out);
    }
    if (count == kMaxIpv6ExtHeaders) return DropReason::kIpv6ExtChainTooLong;
    out.flags |= kFlagIpOptions;
    const Need h = need(off, 8, limit, captured);
    if (h == Need::kMalformed) return DropReason::kIpv6ExtTruncated;
    if (h == Need::kSnap) return snap(out);
    if (next == 44) {
      hlen = 8;
      const uint16_t fo = rd16(d + off + 2);
      const uint32_t frag_off = static_cast<uint32_t>(fo & 0xfff8);
      const bool more_frags = (fo & 1) != 0;
      if (frag_off + (limit - (off + 8)) > 65535) return DropReason::kIpv6BadFragment;
      if ((frag_off != 0 || more_frags) && !fragment_well_formed(limit - (off + 8), more_frags)) {
        return DropReason::kIpv6BadFragment;
      }
      if (frag_off != 0 || more_frags) out.flags |= kFlagFragment;
      if (frag_off != 0) {
        out.flags |= kFlagLaterFragment;
        out.ip_proto = d[off];
        out.payload_offset = static_cast<uint16_t>(off + 8);
        out.payload_len = limit - (off + 8);
        return DropReason::kNone;
      }
    } else if (next == 51) {
      hlen = (static_cast<uint32_t>(d[off + 1]) + 2) * 4;
    } else {
      hlen = (static_cast<uint32_t>(d[off + 1]) + 1) * 8;
    }
    if (off + hlen > limit) return DropReason::kIpv6ExtTruncated;
    if (off + hlen > captured) return snap(out);
    next = d[off];
    off += hlen;
  }
}

inline DropReason parse_arp(const uint8_t* d, uint32_t l3, uint32_t captured, uint32_t wire_len,
                            PacketInfo& out) noexcept {
  const Need n = need(l3, 8, wire_len, captured);
  if (n == Need::kMalformed) return DropReason::kArpTruncated;
  if (n == Need::kSnap) return snap(out);
  const uint8_t* a = d + l3;
  const uint32_t hlen = a[4];
  const uint32_t plen = a[5];
  // Ethernet/IPv4 ARP is the only kind with a meaning on this link; others pass as opaque.
  if (rd16(a) != 1 || rd16(a + 2) != 0x0800) return DropReason::kNone;
  if (hlen != 6 || plen != 4) return DropReason::kArpBadLength;
  const Need body = need(l3, 28, wire_len, captured);
  if (body == Need::kMalformed) return DropReason::kArpTruncated;
  if (body == Need::kSnap) return snap(out);
  std::memcpy(out.src_ip.data(), a + 14, 4);
  std::memcpy(out.dst_ip.data(), a + 24, 4);
  return DropReason::kNone;
}

// The frames that make up nearly all traffic — untagged Ethernet, IPv4 without options or
// fragmentation, TCP (no options, or the NOP NOP timestamp block) or UDP, whole and
// consistent — are parsed here with the checks folded into one rarely-taken branch and the
// TCP/UDP choice made by selects rather than jumps: mixed traffic would mispredict it on
// every other packet. Returns false for anything else, leaving it to the full parser,
// which produces the same PacketInfo (a unit test checks both ways agree).
[[gnu::always_inline]] inline bool parse_common(const uint8_t* d, uint32_t captured, uint32_t wire_len,
                         PacketInfo& out) noexcept {
  constexpr uint32_t kL3 = 14;
  constexpr uint32_t kL4 = kL3 + 20;
  if (captured != wire_len || captured < kL4 + 20) return false;
  const uint8_t* ip = d + kL3;
  const uint32_t total = rd16(ip + 2);
  const uint32_t limit = kL3 + total;
  const uint8_t proto = ip[9];
  const bool tcp = proto == 6;
  const uint32_t tcp_hlen = static_cast<uint32_t>(d[kL4 + 12] >> 4) * 4;
  // The first four option bytes when they were captured; else any four bytes we may read
  // (the length checks below then reject the frame).
  const bool options_captured = tcp_hlen == 32 && captured >= kL4 + 24;
  uint32_t ts_block = 0;
  std::memcpy(&ts_block, d + (options_captured ? kL4 + 20 : kL4), 4);
  const uint32_t udp_len = rd16(d + kL4 + 4);
  const uint32_t tcp_mask = 0U - static_cast<uint32_t>(tcp);  // all ones for TCP: a select
  const uint32_t l4_hlen = (tcp_hlen & tcp_mask) | (8U & ~tcp_mask);
  const uint32_t l4_len = ((limit - kL4) & tcp_mask) | (udp_len & ~tcp_mask);
  // Ethertype 0x0800, version 4 with IHL 5, no fragment offset or MF: bytes 12-14 and
  // 20-21 compared at once (little-endian loads).
  uint32_t at12 = 0;
  uint16_t at20 = 0;
  std::memcpy(&at12, d + 12, 4);
  std::memcpy(&at20, d + 20, 2);
  const bool bad = ((((at12 & 0xffffffU) ^ 0x450008U) | (at20 & 0xff3fU)) != 0) |
                   (limit > wire_len) | (total < 20 + 8) | (!tcp & (proto != 17)) |
                   (l4_hlen > l4_len) | (kL4 + l4_len > limit) |
                   (tcp & (tcp_hlen != 20) & ((tcp_hlen != 32) | (ts_block != 0x0a080101)));
  if (bad) return false;
  // The record is written as eight whole words rather than some twenty field stores.
  uint32_t src = 0;
  uint32_t dst = 0;
  std::memcpy(&src, ip + 12, 4);
  std::memcpy(&dst, ip + 16, 4);
  const uint64_t payload_offset = kL4 + l4_hlen;
  const uint64_t words[8] = {
      src,
      0,
      dst,
      0,
      (l4_len - l4_hlen) | uint64_t{kL3} << 32 | uint64_t{kL4} << 48,
      payload_offset | uint64_t{0x0800} << 16 | uint64_t{rd16(d + kL4)} << 48,
      uint64_t{rd16(d + kL4 + 2)} | uint64_t{static_cast<uint8_t>(L3::kIpv4)} << 24 |
          uint64_t{proto} << 32 | uint64_t{kFlagHasL4} << 40 |
          uint64_t{static_cast<uint8_t>(d[kL4 + 13] & tcp_mask)} << 48,
      uint64_t{ip[8]} << 8,
  };
  // Word by word: copying the array whole makes the compiler stage it on the stack and
  // reload it as 16-byte vectors, which stalls store forwarding.
  auto* dest = reinterpret_cast<uint8_t*>(&out);
  for (size_t i = 0; i < 8; ++i) std::memcpy(dest + 8 * i, &words[i], 8);
  return true;
}

// The full parser: every kind of frame this file describes, and the first fault of a
// malformed one. [any] noexcept.
[[nodiscard]] inline DropReason parse_frame_full(const uint8_t* data, uint32_t captured,
                                                 uint32_t wire_len, PacketInfo& out) noexcept {
  std::memset(&out, 0, sizeof out);
  if (captured > wire_len) captured = wire_len;
  const Need eth = need(0, 14, wire_len, captured);
  if (eth == Need::kMalformed) return DropReason::kEthTruncated;
  if (eth == Need::kSnap) return snap(out);
  uint32_t off = 12;
  uint16_t type = rd16(data + off);
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    if (out.vlan_count == kMaxVlanTags) return DropReason::kVlanTooDeep;
    const Need tag = need(off, 6, wire_len, captured);
    if (tag == Need::kMalformed) return DropReason::kVlanTruncated;
    if (tag == Need::kSnap) return snap(out);
    if (out.vlan_count == 0) out.vlan_tci = rd16(data + off + 2);
    ++out.vlan_count;
    off += 4;
    type = rd16(data + off);
  }
  const uint32_t l3 = off + 2;
  out.ethertype = type;
  out.l3_offset = static_cast<uint16_t>(l3);
  switch (type) {
    case 0x0800:
      out.l3 = L3::kIpv4;
      return parse_ipv4(data, l3, captured, wire_len, out);
    case 0x86dd:
      out.l3 = L3::kIpv6;
      return parse_ipv6(data, l3, captured, wire_len, out);
    case 0x0806:
      out.l3 = L3::kArp;
      return parse_arp(data, l3, captured, wire_len, out);
    default:
      out.l3 = L3::kOther;
      return DropReason::kNone;
  }
}

}  // namespace parser_detail

// Parses one frame into `out` (fully overwritten). Returns kNone for a well-formed frame,
// else the reason of the first malformation found. [any] noexcept.
[[nodiscard, gnu::always_inline]] inline DropReason parse_frame(const uint8_t* data, uint32_t captured,
                                            uint32_t wire_len, PacketInfo& out) noexcept {
  if (parser_detail::parse_common(data, captured, wire_len, out)) [[likely]] {
    return DropReason::kNone;
  }
  return parser_detail::parse_frame_full(data, captured, wire_len, out);
}

}  // namespace sentinel::dataplane

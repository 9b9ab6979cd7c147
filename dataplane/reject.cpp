// Reject frames (see reject.hpp).
#include "dataplane/reject.hpp"

#include <rte_byteorder.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "dataplane/checksum.hpp"
#include "dataplane/stream.hpp"  // tcp_flag

namespace sentinel::dataplane {
namespace {

constexpr uint8_t kTtl = 64;

void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) noexcept {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint32_t get32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Starts a frame: the trigger's L2 header (MACs swapped when `back`) and an IP header from
// `src` to `dst` carrying `l4_len` bytes of `proto`. Returns the L4 start, or nullptr.
uint8_t* start_frame(rte_mbuf* m, const uint8_t* headers, const PacketInfo& pkt, bool back,
                     const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t l4_len) noexcept {
  const bool v6 = pkt.l3 == L3::kIpv6;
  const uint32_t ip_len = v6 ? 40 : 20;
  const uint32_t len = pkt.l3_offset + ip_len + l4_len;
  auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
  if (f == nullptr) return nullptr;
  // The L2 header (at most 14 bytes and kMaxVlanTags tags), assembled aside first.
  std::array<uint8_t, 14 + 4 * kMaxVlanTags> l2;
  std::memcpy(l2.data(), headers, pkt.l3_offset);
  if (back) {  // swap the MAC addresses (a loop: GCC 12 -Warray-bounds misfires on memcpy here)
    for (size_t i = 0; i < 6; ++i) std::swap(l2[i], l2[i + 6]);
  }
  std::memcpy(f, l2.data(), pkt.l3_offset);
  uint8_t* ip = f + pkt.l3_offset;
  std::memset(ip, 0, ip_len);
  if (v6) {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<uint16_t>(l4_len));
    ip[6] = proto;
    ip[7] = kTtl;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, dst, 16);
  } else {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(ip_len + l4_len));
    put16(ip + 6, 0x4000);  // DF
    ip[8] = kTtl;
    ip[9] = proto;
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    const uint16_t c = internet_checksum(ip, 20);
    std::memcpy(ip + 10, &c, 2);
  }
  return ip + ip_len;
}

rte_mbuf* tcp_rst(const rte_mbuf* trigger, const uint8_t* headers, const PacketInfo& pkt, bool back) noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(trigger->pool);
  if (m == nullptr) return nullptr;
  const uint8_t* tcp = headers + pkt.l4_offset;
  const uint32_t seq = get32(tcp + 4);
  const uint32_t ack = get32(tcp + 8);
  const bool has_ack = (pkt.tcp_flags & tcp_flag::kAck) != 0;
  const uint32_t seg_len = pkt.payload_len + ((pkt.tcp_flags & tcp_flag::kSyn) ? 1 : 0) + ((pkt.tcp_flags & tcp_flag::kFin) ? 1 : 0);
  const uint8_t* src = back ? pkt.dst_ip.data() : pkt.src_ip.data();
  const uint8_t* dst = back ? pkt.src_ip.data() : pkt.dst_ip.data();
  uint8_t* t = start_frame(m, headers, pkt, back, src, dst, ip_proto::kTcp, 20);
  if (t == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(t, 0, 20);
  put16(t, back ? pkt.dst_port : pkt.src_port);
  put16(t + 2, back ? pkt.src_port : pkt.dst_port);
  if (back) {
    // To the sender: from where its peer stands, acknowledging the dropped segment.
    put32(t + 4, has_ack ? ack : 0);
    put32(t + 8, seq + seg_len);
    t[13] = tcp_flag::kRst | tcp_flag::kAck;
  } else {
    // To the receiver: exactly where the dropped segment would have started.
    put32(t + 4, seq);
    put32(t + 8, has_ack ? ack : 0);
    t[13] = has_ack ? (tcp_flag::kRst | tcp_flag::kAck) : tcp_flag::kRst;
  }
  t[12] = 5 << 4;
  const uint16_t c = l4_checksum(src, dst, pkt.l3 == L3::kIpv6, ip_proto::kTcp, t, 20);
  std::memcpy(t + 16, &c, 2);
  return m;
}

rte_mbuf* port_unreachable(const rte_mbuf* trigger, const uint8_t* headers, uint32_t headers_len,
                           const PacketInfo& pkt) noexcept {
  const bool v6 = pkt.l3 == L3::kIpv6;
  // Quote the datagram from its IP header: IPv4 asks for the header and 8 bytes (RFC 792),
  // ICMPv6 for as much as fits (RFC 4443); kRejectQuote bounds both.
  const uint32_t avail = headers_len > pkt.l3_offset ? headers_len - pkt.l3_offset : 0;
  const uint32_t want = v6 ? kRejectQuote : static_cast<uint32_t>(pkt.l4_offset - pkt.l3_offset) + 8;
  const uint32_t quote = std::min({avail, want, kRejectQuote});
  rte_mbuf* m = rte_pktmbuf_alloc(trigger->pool);
  if (m == nullptr) return nullptr;
  const uint8_t proto = v6 ? ip_proto::kIcmpv6 : ip_proto::kIcmp;
  // From the datagram's destination back to its sender.
  uint8_t* icmp = start_frame(m, headers, pkt, true, pkt.dst_ip.data(), pkt.src_ip.data(), proto, 8 + quote);
  if (icmp == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(icmp, 0, 8);
  icmp[0] = v6 ? 1 : 3;  // destination unreachable
  icmp[1] = v6 ? 4 : 3;  // port unreachable
  std::memcpy(icmp + 8, headers + pkt.l3_offset, quote);
  uint16_t c = 0;
  if (v6) {
    c = l4_checksum(pkt.dst_ip.data(), pkt.src_ip.data(), true, proto, icmp, 8 + quote);
  } else {
    c = internet_checksum(icmp, 8 + quote);
  }
  std::memcpy(icmp + 2, &c, 2);
  return m;
}

}  // namespace

RejectFrames build_reject(const rte_mbuf* trigger, const uint8_t* headers, uint32_t headers_len,
                          const PacketInfo& pkt) noexcept {
  RejectFrames out;
  if ((pkt.flags & kFlagHasL4) == 0 || (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6)) return out;
  if (pkt.ip_proto == ip_proto::kTcp) {
    out.to_sender = tcp_rst(trigger, headers, pkt, true);
    out.to_receiver = tcp_rst(trigger, headers, pkt, false);
  } else if (pkt.ip_proto == ip_proto::kUdp) {
    out.to_sender = port_unreachable(trigger, headers, headers_len, pkt);
  }
  return out;
}

}  // namespace sentinel::dataplane

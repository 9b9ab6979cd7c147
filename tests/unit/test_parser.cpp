// Unit tests of the frame parser as fixture tables run through the real parse_frame: good
// frames of every kind with every PacketInfo field they should produce, one malformed frame
// (at least) for every DropReason the parser can return, the stable name table, and every
// prefix of every fixture cut two ways (short wire frame: malformed or fine; short capture:
// never malformed). Frames are built from small header builders, so each row reads as the
// stack of headers it is. Run under ASan: buffers are exactly as long as `captured`.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/drop_reason.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/parser.hpp"

namespace sentinel::dataplane {

// gtest finds these by ADL and prints names instead of raw bytes.
void PrintTo(DropReason r, std::ostream* os) { *os << drop_reason_name(r); }
void PrintTo(L3 l3, std::ostream* os) {
  switch (l3) {
    case L3::kOther: *os << "other"; return;
    case L3::kArp: *os << "arp"; return;
    case L3::kIpv4: *os << "ipv4"; return;
    case L3::kIpv6: *os << "ipv6"; return;
  }
  *os << "L3(" << static_cast<int>(l3) << ")";
}

namespace {

// ---------------------------------------------------------------------------------------
// Frame builder
// ---------------------------------------------------------------------------------------

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;
using Ip4 = std::array<uint8_t, 4>;
using Ip6 = std::array<uint8_t, 16>;

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes be16(uint32_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
Bytes be32(uint32_t v) { return be16(v >> 16) + be16(v & 0xffff); }
template <size_t N>
Bytes raw(const std::array<uint8_t, N>& a) { return Bytes(a.begin(), a.end()); }
Bytes filler(size_t n, uint8_t byte = 0xab) { return Bytes(n, byte); }
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes head(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)); }
// Ethernet minimum (without FCS): short frames carry padding after the IP packet.
Bytes pad_to(Bytes b, size_t n) {
  if (b.size() < n) b.resize(n, 0);
  return b;
}

constexpr Mac kMacCore = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr Mac kMacVendor = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr Mac kMacBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Mac kMacLldp = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
constexpr Mac kMacStp = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00};
constexpr Mac kMacIgmp = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x16};  // 224.0.0.22
constexpr Ip4 kIp4A = {192, 0, 2, 1};
constexpr Ip4 kIp4B = {198, 51, 100, 2};
constexpr Ip4 kIp4Gw = {192, 0, 2, 254};
constexpr Ip4 kIp4Igmp = {224, 0, 0, 22};
constexpr Ip6 kIp6A = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr Ip6 kIp6B = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherLldp = 0x88cc;
constexpr uint16_t kEtherMpls = 0x8847;
constexpr uint16_t kTpid8021Q = 0x8100;
constexpr uint16_t kTpid8021ad = 0x88a8;
constexpr uint16_t kTpid9100 = 0x9100;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIgmp = 2;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoNoNext = 59;
constexpr uint8_t kProtoDstOpts = 60;

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;

// Header sizes, so expected offsets read as sums of headers.
constexpr uint16_t kEth = 14;
constexpr uint16_t kTag = 4;
constexpr uint16_t kIp4Hdr = 20;
constexpr uint16_t kIp6Hdr = 40;
constexpr uint16_t kTcpHdr = 20;
constexpr uint16_t kUdpHdr = 8;
constexpr uint16_t kIcmpHdr = 8;
constexpr uint16_t kIcmp6Hdr = 4;  // type, code, checksum: the parser's view of ICMPv6
constexpr uint16_t kArpBody = 28;

Bytes eth(const Mac& dst, const Mac& src, uint16_t type) { return raw(dst) + raw(src) + be16(type); }
// The 4 bytes that follow a TPID: the TCI, then the next ethertype (or TPID).
Bytes tag(uint16_t tci, uint16_t next_type) { return be16(tci) + be16(next_type); }

struct V4 {
  uint8_t proto = kProtoTcp;
  Ip4 src = kIp4A;
  Ip4 dst = kIp4B;
  uint8_t ttl = 64;
  uint16_t frag = 0;   // flags + fragment offset field: frag4(...) or kDf
  Bytes options = {};  // padded with EOL to a 4-byte multiple
  uint8_t version = 4;
  int ihl = -1;        // header words; -1: from the options
  int total = -1;      // total length; -1: header + payload
};
constexpr uint16_t kDf = 0x4000;
constexpr uint16_t frag4(uint32_t offset_bytes, bool more) {
  return static_cast<uint16_t>((more ? 0x2000 : 0) | (offset_bytes / 8));
}

Bytes ipv4(const V4& h, const Bytes& payload) {
  Bytes opts = h.options;
  while (opts.size() % 4 != 0) opts.push_back(0);
  const size_t ihl = h.ihl >= 0 ? static_cast<size_t>(h.ihl) : (20 + opts.size()) / 4;
  const size_t total = h.total >= 0 ? static_cast<size_t>(h.total) : 20 + opts.size() + payload.size();
  Bytes b = Bytes{static_cast<uint8_t>(h.version << 4 | (ihl & 0x0f)), 0} + be16(static_cast<uint32_t>(total)) +
            be16(0x1c46) + be16(h.frag) + Bytes{h.ttl, h.proto, 0, 0} + raw(h.src) + raw(h.dst) + opts;
  uint32_t sum = 0;  // header checksum, for realism: the parser does not verify it
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += static_cast<uint32_t>(b[i] << 8 | b[i + 1]);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  b[10] = static_cast<uint8_t>(~sum >> 8);
  b[11] = static_cast<uint8_t>(~sum);
  return b + payload;
}

struct V6 {
  uint8_t next = kProtoTcp;
  Ip6 src = kIp6A;
  Ip6 dst = kIp6B;
  uint8_t hop_limit = 64;
  uint8_t version = 6;
  int plen = -1;  // payload length; -1: the payload's size
};

Bytes ipv6(const V6& h, const Bytes& payload) {
  const size_t plen = h.plen >= 0 ? static_cast<size_t>(h.plen) : payload.size();
  return Bytes{static_cast<uint8_t>(h.version << 4), 0, 0, 0} + be16(static_cast<uint32_t>(plen)) +
         Bytes{h.next, h.hop_limit} + raw(h.src) + raw(h.dst) + payload;
}

// Hop-by-hop or destination options header of `size` bytes (a multiple of 8), filled
// with one PadN option.
Bytes opts6(uint8_t next, size_t size) {
  return Bytes{next, static_cast<uint8_t>(size / 8 - 1), 1, static_cast<uint8_t>(size - 4)} + Bytes(size - 4, 0);
}
// Any extension header with a chosen Hdr Ext Len byte, `size` bytes long in the frame.
Bytes ext6(uint8_t next, uint8_t hdr_ext_len, size_t size) {
  return Bytes{next, hdr_ext_len} + Bytes(size - 2, 0);
}
// Type 2 routing header (Mobile IPv6): 24 bytes.
Bytes routing6(uint8_t next) { return Bytes{next, 2, 2, 1, 0, 0, 0, 0} + raw(kIp6A); }
Bytes frag6(uint8_t next, uint32_t offset_bytes, bool more) {
  return Bytes{next, 0} + be16((offset_bytes & 0xfff8) | (more ? 1 : 0)) + be32(0x12345678);
}
// Authentication header with a 12-byte ICV: 24 bytes, Payload Len (24/4 - 2) = 4.
Bytes ah6(uint8_t next, uint8_t payload_len = 4) {
  return Bytes{next, payload_len, 0, 0} + be32(0x1000) + be32(1) + filler(12, 0x5a);
}

struct Tcp {
  uint16_t sport = 40000;
  uint16_t dport = 443;
  uint8_t flags = kAck;
  Bytes options = {};  // padded with EOL to a 4-byte multiple
  Bytes payload = {};
  int doff = -1;       // data offset in words; -1: from the options
};
Bytes tcp(const Tcp& t) {
  Bytes opts = t.options;
  while (opts.size() % 4 != 0) opts.push_back(0);
  const size_t doff = t.doff >= 0 ? static_cast<size_t>(t.doff) : (20 + opts.size()) / 4;
  return be16(t.sport) + be16(t.dport) + be32(1000) + be32((t.flags & kAck) != 0 ? 2000 : 0) +
         Bytes{static_cast<uint8_t>(doff << 4), t.flags} + be16(65535) + be16(0) + be16(0) + opts + t.payload;
}
Bytes mss(uint16_t v) { return Bytes{2, 4} + be16(v); }
Bytes sack_perm() { return {4, 2}; }
Bytes timestamps(uint32_t val, uint32_t ecr) { return Bytes{8, 10} + be32(val) + be32(ecr); }
Bytes nop() { return {1}; }
Bytes wscale(uint8_t shift) { return {3, 3, shift}; }

struct Udp {
  uint16_t sport = 53000;
  uint16_t dport = 53;
  Bytes payload = {};
  int len = -1;  // -1: 8 + payload
};
Bytes udp(const Udp& u) {
  const size_t len = u.len >= 0 ? static_cast<size_t>(u.len) : 8 + u.payload.size();
  return be16(u.sport) + be16(u.dport) + be16(static_cast<uint32_t>(len)) + be16(0) + u.payload;
}

// ICMP and ICMPv6 share the layout: type, code, checksum, 4 bytes of "rest of header".
Bytes icmp(uint8_t type, uint8_t code, const Bytes& rest4, const Bytes& payload) {
  return Bytes{type, code, 0, 0} + rest4 + payload;
}
constexpr uint16_t kEchoId = 0x1234;
Bytes echo(uint8_t type, const Bytes& payload) { return icmp(type, 0, be16(kEchoId) + be16(1), payload); }

struct Arp {
  uint16_t op = 1;
  Mac sha = kMacVendor;
  Ip4 spa = kIp4A;
  Mac tha = {};
  Ip4 tpa = kIp4Gw;
  uint16_t htype = 1;
  uint16_t ptype = kEtherIpv4;
  uint8_t hlen = 6;
  uint8_t plen = 4;
};
Bytes arp(const Arp& a) {
  return be16(a.htype) + be16(a.ptype) + Bytes{a.hlen, a.plen} + be16(a.op) + raw(a.sha) + raw(a.spa) +
         raw(a.tha) + raw(a.tpa);
}

Bytes lldp_tlv(uint8_t type, const Bytes& value) {
  return be16(static_cast<uint32_t>(type) << 9 | static_cast<uint32_t>(value.size())) + value;
}

// ---------------------------------------------------------------------------------------
// Expectations and running the parser
// ---------------------------------------------------------------------------------------

Ip6 in16(const Ip4& a) {
  Ip6 r{};
  std::copy(a.begin(), a.end(), r.begin());
  return r;
}

// Every PacketInfo field; rows name the ones that are not zero.
struct Want {
  L3 l3 = L3::kOther;
  uint16_t ethertype = 0;
  uint8_t vlan_count = 0;
  uint16_t vlan_tci = 0;
  uint16_t l3_offset = 0;
  uint16_t l4_offset = 0;
  uint16_t payload_offset = 0;
  uint32_t payload_len = 0;
  uint8_t ip_proto = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint8_t ttl = 0;
  uint8_t flags = 0;
  Ip6 src_ip = {};
  Ip6 dst_ip = {};
};

void expect_info(const PacketInfo& got, const Want& want) {
  EXPECT_EQ(got.l3, want.l3) << "l3";
#define SENTINEL_EXPECT_FIELD(f) EXPECT_EQ(+got.f, +want.f) << #f
  SENTINEL_EXPECT_FIELD(ethertype);
  SENTINEL_EXPECT_FIELD(vlan_count);
  SENTINEL_EXPECT_FIELD(vlan_tci);
  SENTINEL_EXPECT_FIELD(l3_offset);
  SENTINEL_EXPECT_FIELD(l4_offset);
  SENTINEL_EXPECT_FIELD(payload_offset);
  SENTINEL_EXPECT_FIELD(payload_len);
  SENTINEL_EXPECT_FIELD(ip_proto);
  SENTINEL_EXPECT_FIELD(src_port);
  SENTINEL_EXPECT_FIELD(dst_port);
  SENTINEL_EXPECT_FIELD(tcp_flags);
  SENTINEL_EXPECT_FIELD(icmp_type);
  SENTINEL_EXPECT_FIELD(icmp_code);
  SENTINEL_EXPECT_FIELD(ttl);
  SENTINEL_EXPECT_FIELD(flags);
#undef SENTINEL_EXPECT_FIELD
  EXPECT_EQ(got.src_ip, want.src_ip) << "src_ip";
  EXPECT_EQ(got.dst_ip, want.dst_ip) << "dst_ip";
}

// All fields as one line: compares whole records with a readable diff.
std::string describe(const PacketInfo& p) {
  std::string s = "l3=" + std::to_string(static_cast<int>(p.l3));
  const auto add = [&s](const char* name, uint32_t v) { s += std::string(" ") + name + "=" + std::to_string(v); };
  add("ethertype", p.ethertype);
  add("vlan_count", p.vlan_count);
  add("vlan_tci", p.vlan_tci);
  add("l3_offset", p.l3_offset);
  add("l4_offset", p.l4_offset);
  add("payload_offset", p.payload_offset);
  add("payload_len", p.payload_len);
  add("ip_proto", p.ip_proto);
  add("src_port", p.src_port);
  add("dst_port", p.dst_port);
  add("tcp_flags", p.tcp_flags);
  add("icmp_type", p.icmp_type);
  add("icmp_code", p.icmp_code);
  add("ttl", p.ttl);
  add("flags", p.flags);
  s += " src_ip=";
  for (uint8_t b : p.src_ip) s += std::to_string(b) + ".";
  s += " dst_ip=";
  for (uint8_t b : p.dst_ip) s += std::to_string(b) + ".";
  return s;
}

constexpr uint32_t kAll = UINT32_MAX;

struct Parsed {
  DropReason reason;
  PacketInfo info;
};

// Parses the first `captured` bytes of `frame` (wire length `wire_len`) from a heap buffer
// of exactly `captured` bytes, so ASan reports any read past the capture. `out` starts as
// garbage: parse_frame promises to overwrite all of it.
Parsed parse(const Bytes& frame, uint32_t captured, uint32_t wire_len) {
  const auto buf = std::make_unique<uint8_t[]>(captured);
  std::memcpy(buf.get(), frame.data(), captured);
  Parsed p{};
  std::memset(&p.info, 0xa5, sizeof p.info);
  p.reason = parse_frame(buf.get(), captured, wire_len, p.info);
  return p;
}

bool is_identifier(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

void print_frame(const Bytes& frame, std::ostream* os) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < frame.size(); ++i) {
    *os << (i % 2 == 0 && i != 0 ? " " : "") << kHex[frame[i] >> 4] << kHex[frame[i] & 0x0f];
  }
}

// ---------------------------------------------------------------------------------------
// Good frames
// ---------------------------------------------------------------------------------------

struct GoodRow {
  std::string what;
  Bytes frame;               // the frame as it was on the wire
  Want want;
  uint32_t captured = kAll;  // bytes the capture kept; kAll: the whole frame
  uint32_t headers_end = 0;  // first byte past every header the parser reads; 0: derived
};
void PrintTo(const GoodRow& r, std::ostream* os) {
  *os << r.what << " [";
  print_frame(r.frame, os);
  *os << "]";
}

// Where the headers of a fully captured good frame end: a capture shorter than this must
// stop with kFlagSnapTruncated, a longer one must parse exactly like the whole frame.
uint32_t headers_end(const GoodRow& r) {
  if (r.headers_end != 0) return r.headers_end;
  if (r.want.l3 == L3::kArp) return r.want.l3_offset + kArpBody;
  if (r.want.l3 == L3::kOther) return r.want.l3_offset;
  return r.want.payload_offset;
}

// Frames reused by several rows.
Bytes syn_with_all_options() {
  return eth(kMacCore, kMacVendor, kEtherIpv4) +
         ipv4({.proto = kProtoTcp, .frag = kDf},
              tcp({.sport = 40000, .dport = 443, .flags = kSyn,
                   .options = mss(1460) + sack_perm() + timestamps(1, 0) + nop() + wscale(7)}));
}
Bytes http_request() {
  return eth(kMacCore, kMacVendor, kEtherIpv4) +
         ipv4({.proto = kProtoTcp, .frag = kDf},
              tcp({.sport = 40000, .dport = 80, .flags = kPsh | kAck,
                   .options = nop() + nop() + timestamps(7, 5), .payload = text("GET / HTTP/1.1\r\n")}));
}
Bytes dns_query() {
  return eth(kMacCore, kMacVendor, kEtherIpv4) +
         ipv4({.proto = kProtoUdp}, udp({.sport = 53000, .dport = 53, .payload = filler(29)}));
}
Bytes router_alert_igmp() {
  return pad_to(eth(kMacIgmp, kMacVendor, kEtherIpv4) +
                    ipv4({.proto = kProtoIgmp, .dst = kIp4Igmp, .ttl = 1, .options = {0x94, 0x04, 0x00, 0x00}},
                         Bytes{0x16, 0x00, 0x00, 0x00} + raw(kIp4Igmp)),
                60);
}
Bytes dot1q_udp() {
  return eth(kMacCore, kMacVendor, kTpid8021Q) + tag(0xa064, kEtherIpv4) +
         ipv4({.proto = kProtoUdp}, udp({.sport = 5000, .dport = 5001, .payload = filler(20)}));
}
Bytes qinq_tcp() {
  return eth(kMacCore, kMacVendor, kTpid8021ad) + tag(0x00c8, kTpid8021Q) + tag(0x0064, kEtherIpv4) +
         ipv4({.proto = kProtoTcp}, tcp({.sport = 40001, .dport = 22, .flags = kAck}));
}
Bytes arp_request() {
  return pad_to(eth(kMacBroadcast, kMacVendor, kEtherArp) + arp({.op = 1, .spa = kIp4A, .tpa = kIp4Gw}), 60);
}
Bytes ipv6_ext_chain_tcp() {
  return eth(kMacCore, kMacVendor, kEtherIpv6) +
         ipv6({.next = kProtoHopByHop},
              opts6(kProtoDstOpts, 8) + opts6(kProtoRouting, 16) + routing6(kProtoTcp) +
                  tcp({.sport = 40002, .dport = 443, .flags = kAck, .payload = filler(10)}));
}
Bytes ipv6_dstopts_no_next() {
  return eth(kMacCore, kMacVendor, kEtherIpv6) + ipv6({.next = kProtoDstOpts}, opts6(kProtoNoNext, 16));
}

std::vector<GoodRow> good_rows() {
  const Ip6 a4 = in16(kIp4A);
  const Ip6 b4 = in16(kIp4B);
  return {
      // --- IPv4 ---------------------------------------------------------------------
      {.what = "ipv4_tcp_syn_mss_sackperm_timestamps_nop_wscale",
       .frame = syn_with_all_options(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kTcpHdr + 20, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 443, .tcp_flags = kSyn, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_tcp_psh_ack_timestamps_with_payload",
       .frame = http_request(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kTcpHdr + 12, .payload_len = 16, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 80, .tcp_flags = kPsh | kAck, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_tcp_fin_ack_padded_to_60",
       .frame = pad_to(eth(kMacCore, kMacVendor, kEtherIpv4) +
                           ipv4({.proto = kProtoTcp}, tcp({.sport = 40000, .dport = 443, .flags = kFin | kAck})),
                       60),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kTcpHdr, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 443, .tcp_flags = kFin | kAck, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_router_alert_option_igmp_padded_to_60",
       .frame = router_alert_igmp(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr + 4,
                .payload_offset = kEth + kIp4Hdr + 4, .payload_len = 8, .ip_proto = kProtoIgmp, .ttl = 1,
                .flags = kFlagIpOptions, .src_ip = a4, .dst_ip = in16(kIp4Igmp)}},
      {.what = "ipv4_timestamp_option_then_udp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) +
                ipv4({.proto = kProtoUdp, .options = {0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
                     udp({.sport = 5353, .dport = 5353, .payload = filler(20)})),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr + 12,
                .payload_offset = kEth + kIp4Hdr + 12 + kUdpHdr, .payload_len = 20, .ip_proto = kProtoUdp,
                .src_port = 5353, .dst_port = 5353, .ttl = 64, .flags = kFlagIpOptions | kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_nop_eol_options_then_tcp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) +
                ipv4({.proto = kProtoTcp, .options = {0x01, 0x00, 0x00, 0x00}}, tcp({.flags = kAck})),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr + 4,
                .payload_offset = kEth + kIp4Hdr + 4 + kTcpHdr, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 443, .tcp_flags = kAck, .ttl = 64,
                .flags = kFlagIpOptions | kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_udp_dns_query",
       .frame = dns_query(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kUdpHdr, .payload_len = 29, .ip_proto = kProtoUdp,
                .src_port = 53000, .dst_port = 53, .ttl = 64, .flags = kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_udp_6_bytes_with_ethernet_padding",
       .frame = pad_to(eth(kMacCore, kMacVendor, kEtherIpv4) +
                           ipv4({.proto = kProtoUdp}, udp({.sport = 123, .dport = 123, .payload = filler(6)})),
                       60),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kUdpHdr, .payload_len = 6, .ip_proto = kProtoUdp,
                .src_port = 123, .dst_port = 123, .ttl = 64, .flags = kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_icmp_echo_request",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) + ipv4({.proto = kProtoIcmp}, echo(8, filler(56))),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kIcmpHdr, .payload_len = 56, .ip_proto = kProtoIcmp,
                .src_port = kEchoId, .dst_port = kEchoId, .icmp_type = 8, .icmp_code = 0, .ttl = 64,
                .flags = kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_icmp_port_unreachable_quoting_udp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) +
                ipv4({.proto = kProtoIcmp, .src = kIp4B, .dst = kIp4A},
                     icmp(3, 3, be32(0),
                          head(ipv4({.proto = kProtoUdp}, udp({.sport = 53000, .dport = 53, .payload = filler(4)})),
                               28))),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kIcmpHdr, .payload_len = 28, .ip_proto = kProtoIcmp,
                .icmp_type = 3, .icmp_code = 3, .ttl = 64, .flags = kFlagHasL4, .src_ip = b4, .dst_ip = a4}},
      {.what = "ipv4_first_fragment_udp_length_covers_whole_datagram",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) +
                ipv4({.proto = kProtoUdp, .frag = frag4(0, true)},
                     udp({.sport = 5000, .dport = 5001, .payload = filler(32), .len = 1000})),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kUdpHdr, .payload_len = 32, .ip_proto = kProtoUdp,
                .src_port = 5000, .dst_port = 5001, .ttl = 64, .flags = kFlagFragment | kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      // The 0xab filler would be a UDP header with length 0xabab: it must not be read as one.
      {.what = "ipv4_later_fragment_has_no_l4",
       .frame = pad_to(eth(kMacCore, kMacVendor, kEtherIpv4) +
                           ipv4({.proto = kProtoUdp, .frag = frag4(40, false)}, filler(24)),
                       60),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = 0,
                .payload_offset = kEth + kIp4Hdr, .payload_len = 24, .ip_proto = kProtoUdp, .ttl = 64,
                .flags = kFlagFragment | kFlagLaterFragment, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_middle_fragment_more_fragments_and_offset",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) +
                ipv4({.proto = kProtoTcp, .frag = frag4(1480, true)}, filler(40)),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = 0,
                .payload_offset = kEth + kIp4Hdr, .payload_len = 40, .ip_proto = kProtoTcp, .ttl = 64,
                .flags = kFlagFragment | kFlagLaterFragment, .src_ip = a4, .dst_ip = b4}},
      {.what = "ipv4_gre_is_opaque_payload",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv4) + ipv4({.proto = 47}, be16(0) + be16(0x6558) + filler(20)),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr, .payload_len = 24, .ip_proto = 47, .ttl = 64, .src_ip = a4,
                .dst_ip = b4}},
      // --- VLAN tags ----------------------------------------------------------------
      {.what = "dot1q_pcp5_vid100_ipv4_udp",
       .frame = dot1q_udp(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .vlan_count = 1, .vlan_tci = 0xa064,
                .l3_offset = kEth + kTag, .l4_offset = kEth + kTag + kIp4Hdr,
                .payload_offset = kEth + kTag + kIp4Hdr + kUdpHdr, .payload_len = 20, .ip_proto = kProtoUdp,
                .src_port = 5000, .dst_port = 5001, .ttl = 64, .flags = kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      {.what = "qinq_88a8_8100_ipv4_tcp",
       .frame = qinq_tcp(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .vlan_count = 2, .vlan_tci = 0x00c8,
                .l3_offset = kEth + 2 * kTag, .l4_offset = kEth + 2 * kTag + kIp4Hdr,
                .payload_offset = kEth + 2 * kTag + kIp4Hdr + kTcpHdr, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 40001, .dst_port = 22, .tcp_flags = kAck, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = a4, .dst_ip = b4}},
      {.what = "three_tags_9100_88a8_8100_ipv6_udp",
       .frame = eth(kMacCore, kMacVendor, kTpid9100) + tag(0x0001, kTpid8021ad) + tag(0x0002, kTpid8021Q) +
                tag(0x0003, kEtherIpv6) + ipv6({.next = kProtoUdp}, udp({.sport = 547, .dport = 546, .payload = filler(12)})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .vlan_count = 3, .vlan_tci = 0x0001,
                .l3_offset = kEth + 3 * kTag, .l4_offset = kEth + 3 * kTag + kIp6Hdr,
                .payload_offset = kEth + 3 * kTag + kIp6Hdr + kUdpHdr, .payload_len = 12, .ip_proto = kProtoUdp,
                .src_port = 547, .dst_port = 546, .ttl = 64, .flags = kFlagHasL4, .src_ip = kIp6A,
                .dst_ip = kIp6B}},
      {.what = "four_tags_at_the_limit_ipv4_udp",
       .frame = eth(kMacCore, kMacVendor, kTpid8021Q) + tag(10, kTpid8021Q) + tag(20, kTpid8021Q) +
                tag(30, kTpid8021Q) + tag(40, kEtherIpv4) +
                ipv4({.proto = kProtoUdp}, udp({.sport = 1, .dport = 2, .payload = filler(4)})),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .vlan_count = kMaxVlanTags, .vlan_tci = 10,
                .l3_offset = kEth + 4 * kTag, .l4_offset = kEth + 4 * kTag + kIp4Hdr,
                .payload_offset = kEth + 4 * kTag + kIp4Hdr + kUdpHdr, .payload_len = 4, .ip_proto = kProtoUdp,
                .src_port = 1, .dst_port = 2, .ttl = 64, .flags = kFlagHasL4, .src_ip = a4, .dst_ip = b4}},
      // --- ARP ----------------------------------------------------------------------
      {.what = "arp_request_padded_to_60",
       .frame = arp_request(),
       .want = {.l3 = L3::kArp, .ethertype = kEtherArp, .l3_offset = kEth, .src_ip = a4, .dst_ip = in16(kIp4Gw)}},
      {.what = "dot1q_arp_reply",
       .frame = pad_to(eth(kMacVendor, kMacCore, kTpid8021Q) + tag(100, kEtherArp) +
                           arp({.op = 2, .sha = kMacCore, .spa = kIp4Gw, .tha = kMacVendor, .tpa = kIp4A}),
                       60),
       .want = {.l3 = L3::kArp, .ethertype = kEtherArp, .vlan_count = 1, .vlan_tci = 100,
                .l3_offset = kEth + kTag, .src_ip = in16(kIp4Gw), .dst_ip = a4}},
      {.what = "arp_ieee802_hardware_is_opaque",
       .frame = pad_to(eth(kMacBroadcast, kMacVendor, kEtherArp) + arp({.htype = 6}), 60),
       .want = {.l3 = L3::kArp, .ethertype = kEtherArp, .l3_offset = kEth},
       .headers_end = kEth + 8},
      // --- Other ethertypes: no L3 parse, no error ------------------------------------
      {.what = "lldp",
       .frame = pad_to(eth(kMacLldp, kMacVendor, kEtherLldp) + lldp_tlv(1, Bytes{4} + raw(kMacVendor)) +
                           lldp_tlv(2, Bytes{7} + text("p1")) + lldp_tlv(3, be16(120)) + lldp_tlv(0, {}),
                       60),
       .want = {.l3 = L3::kOther, .ethertype = kEtherLldp, .l3_offset = kEth}},
      {.what = "mpls_label_over_ipv4_is_not_descended",
       .frame = eth(kMacCore, kMacVendor, kEtherMpls) + be32((16 << 12) | (1 << 8) | 64) +
                ipv4({.proto = kProtoUdp}, udp({.payload = filler(8)})),
       .want = {.l3 = L3::kOther, .ethertype = kEtherMpls, .l3_offset = kEth}},
      {.what = "ieee8023_length_field_llc_stp_bpdu",
       .frame = pad_to(eth(kMacStp, kMacVendor, 38) + Bytes{0x42, 0x42, 0x03} + filler(35, 0), 60),
       .want = {.l3 = L3::kOther, .ethertype = 38, .l3_offset = kEth}},
      // --- IPv6 ---------------------------------------------------------------------
      {.what = "ipv6_tcp_syn_ack_mss",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoTcp}, tcp({.sport = 443, .dport = 40000, .flags = kSyn | kAck, .options = mss(1440)})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr,
                .payload_offset = kEth + kIp6Hdr + kTcpHdr + 4, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 443, .dst_port = 40000, .tcp_flags = kSyn | kAck, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_udp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoUdp, .hop_limit = 3}, udp({.sport = 4500, .dport = 4500, .payload = filler(100)})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr,
                .payload_offset = kEth + kIp6Hdr + kUdpHdr, .payload_len = 100, .ip_proto = kProtoUdp,
                .src_port = 4500, .dst_port = 4500, .ttl = 3, .flags = kFlagHasL4, .src_ip = kIp6A,
                .dst_ip = kIp6B}},
      // The parser's ICMPv6 header is 4 bytes: identifier and sequence count as payload (the
      // identifier also goes in both port fields: it keys echo flows).
      {.what = "icmpv6_echo_request",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) + ipv6({.next = kProtoIcmpv6}, echo(128, filler(32))),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr,
                .payload_offset = kEth + kIp6Hdr + kIcmp6Hdr, .payload_len = 4 + 32, .ip_proto = kProtoIcmpv6,
                .src_port = kEchoId, .dst_port = kEchoId, .icmp_type = 128, .icmp_code = 0, .ttl = 64,
                .flags = kFlagHasL4, .src_ip = kIp6A, .dst_ip = kIp6B},
       .headers_end = kEth + kIp6Hdr + 8},
      {.what = "ipv6_hop_by_hop_dstopts_routing_then_tcp",
       .frame = ipv6_ext_chain_tcp(),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth,
                .l4_offset = kEth + kIp6Hdr + 8 + 16 + 24, .payload_offset = kEth + kIp6Hdr + 8 + 16 + 24 + kTcpHdr,
                .payload_len = 10, .ip_proto = kProtoTcp, .src_port = 40002, .dst_port = 443, .tcp_flags = kAck,
                .ttl = 64, .flags = kFlagIpOptions | kFlagHasL4, .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_eight_dstopts_headers_at_the_limit",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoDstOpts},
                     opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) +
                         opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) +
                         opts6(kProtoDstOpts, 8) + opts6(kProtoUdp, 8) + udp({.sport = 9, .dport = 9})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 64,
                .payload_offset = kEth + kIp6Hdr + 64 + kUdpHdr, .payload_len = 0, .ip_proto = kProtoUdp,
                .src_port = 9, .dst_port = 9, .ttl = 64, .flags = kFlagIpOptions | kFlagHasL4, .src_ip = kIp6A,
                .dst_ip = kIp6B}},
      {.what = "ipv6_first_fragment_udp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoFragment},
                     frag6(kProtoUdp, 0, true) + udp({.sport = 4000, .dport = 4001, .payload = filler(48), .len = 2000})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 8,
                .payload_offset = kEth + kIp6Hdr + 8 + kUdpHdr, .payload_len = 48, .ip_proto = kProtoUdp,
                .src_port = 4000, .dst_port = 4001, .ttl = 64,
                .flags = kFlagFragment | kFlagIpOptions | kFlagHasL4, .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_later_fragment_has_no_l4",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoFragment}, frag6(kProtoUdp, 1448, false) + filler(64)),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = 0,
                .payload_offset = kEth + kIp6Hdr + 8, .payload_len = 64, .ip_proto = kProtoUdp, .ttl = 64,
                .flags = kFlagFragment | kFlagLaterFragment | kFlagIpOptions, .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_atomic_fragment_tcp_is_not_a_fragment",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoFragment}, frag6(kProtoTcp, 0, false) + tcp({.sport = 1234, .dport = 80})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 8,
                .payload_offset = kEth + kIp6Hdr + 8 + kTcpHdr, .payload_len = 0, .ip_proto = kProtoTcp,
                .src_port = 1234, .dst_port = 80, .tcp_flags = kAck, .ttl = 64,
                .flags = kFlagIpOptions | kFlagHasL4, .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_ah_then_tcp",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoAh}, ah6(kProtoTcp) + tcp({.sport = 500, .dport = 179, .payload = filler(8)})),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 24,
                .payload_offset = kEth + kIp6Hdr + 24 + kTcpHdr, .payload_len = 8, .ip_proto = kProtoTcp,
                .src_port = 500, .dst_port = 179, .tcp_flags = kAck, .ttl = 64,
                .flags = kFlagIpOptions | kFlagHasL4, .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_ah_then_esp_is_opaque_payload",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) +
                ipv6({.next = kProtoAh}, ah6(kProtoEsp) + be32(0x2000) + be32(1) + filler(16)),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 24,
                .payload_offset = kEth + kIp6Hdr + 24, .payload_len = 24, .ip_proto = kProtoEsp, .ttl = 64,
                .flags = kFlagIpOptions, .src_ip = kIp6A, .dst_ip = kIp6B}},
      // No next header: what follows is ignored; the parser still points l4_offset there.
      {.what = "ipv6_no_next_header",
       .frame = eth(kMacCore, kMacVendor, kEtherIpv6) + ipv6({.next = kProtoNoNext}, filler(8)),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr,
                .payload_offset = kEth + kIp6Hdr, .payload_len = 8, .ip_proto = kProtoNoNext, .ttl = 64,
                .src_ip = kIp6A, .dst_ip = kIp6B}},
      {.what = "ipv6_dstopts_then_no_next_header",
       .frame = ipv6_dstopts_no_next(),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .l4_offset = kEth + kIp6Hdr + 16,
                .payload_offset = kEth + kIp6Hdr + 16, .payload_len = 0, .ip_proto = kProtoNoNext, .ttl = 64,
                .flags = kFlagIpOptions, .src_ip = kIp6A, .dst_ip = kIp6B}},
      // --- Snap-truncated: the capture cut a header the wire carried; not malformed ----
      {.what = "snap_inside_ethernet_header",
       .frame = syn_with_all_options(),
       .want = {.flags = kFlagSnapTruncated},
       .captured = 10},
      {.what = "snap_inside_vlan_tag",
       .frame = dot1q_udp(),
       .want = {.flags = kFlagSnapTruncated},
       .captured = 16},
      {.what = "snap_inside_inner_vlan_tag",
       .frame = qinq_tcp(),
       .want = {.vlan_count = 1, .vlan_tci = 0x00c8, .flags = kFlagSnapTruncated},
       .captured = kEth + kTag + 2},
      {.what = "snap_inside_ipv4_header",
       .frame = syn_with_all_options(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .flags = kFlagSnapTruncated},
       .captured = kEth + 12},
      {.what = "snap_inside_ipv4_options",
       .frame = router_alert_igmp(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .ip_proto = kProtoIgmp, .ttl = 1,
                .flags = kFlagIpOptions | kFlagSnapTruncated, .src_ip = a4, .dst_ip = in16(kIp4Igmp)},
       .captured = kEth + kIp4Hdr + 2},
      // The fixed TCP header was captured: ports and flags are known, the options are not.
      {.what = "snap_inside_tcp_options",
       .frame = syn_with_all_options(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr, .payload_len = kTcpHdr + 20, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 443, .tcp_flags = kSyn, .ttl = 64,
                .flags = kFlagHasL4 | kFlagSnapTruncated, .src_ip = a4, .dst_ip = b4},
       .captured = kEth + kIp4Hdr + kTcpHdr + 10},
      {.what = "snap_inside_udp_header",
       .frame = dns_query(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr, .payload_len = kUdpHdr + 29, .ip_proto = kProtoUdp, .ttl = 64,
                .flags = kFlagSnapTruncated, .src_ip = a4, .dst_ip = b4},
       .captured = kEth + kIp4Hdr + 4},
      {.what = "snap_inside_ipv6_header",
       .frame = ipv6_ext_chain_tcp(),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .flags = kFlagSnapTruncated},
       .captured = kEth + 30},
      {.what = "snap_inside_ipv6_extension_chain",
       .frame = ipv6_ext_chain_tcp(),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .ttl = 64,
                .flags = kFlagIpOptions | kFlagSnapTruncated, .src_ip = kIp6A, .dst_ip = kIp6B},
       .captured = kEth + kIp6Hdr + 8 + 4},
      // The 16-byte destination options header starts inside the capture and ends past it.
      {.what = "snap_inside_ipv6_dstopts_body",
       .frame = ipv6_dstopts_no_next(),
       .want = {.l3 = L3::kIpv6, .ethertype = kEtherIpv6, .l3_offset = kEth, .ttl = 64,
                .flags = kFlagIpOptions | kFlagSnapTruncated, .src_ip = kIp6A, .dst_ip = kIp6B},
       .captured = kEth + kIp6Hdr + 12},
      {.what = "snap_inside_arp_body",
       .frame = arp_request(),
       .want = {.l3 = L3::kArp, .ethertype = kEtherArp, .l3_offset = kEth, .flags = kFlagSnapTruncated},
       .captured = kEth + 20},
      // Only payload was cut: every header is whole, nothing to flag; lengths stay declared.
      {.what = "snap_inside_tcp_payload_is_not_flagged",
       .frame = http_request(),
       .want = {.l3 = L3::kIpv4, .ethertype = kEtherIpv4, .l3_offset = kEth, .l4_offset = kEth + kIp4Hdr,
                .payload_offset = kEth + kIp4Hdr + kTcpHdr + 12, .payload_len = 16, .ip_proto = kProtoTcp,
                .src_port = 40000, .dst_port = 80, .tcp_flags = kPsh | kAck, .ttl = 64, .flags = kFlagHasL4,
                .src_ip = a4, .dst_ip = b4},
       .captured = kEth + kIp4Hdr + kTcpHdr + 12 + 4},
  };
}

const std::vector<GoodRow>& good_table() {
  static const std::vector<GoodRow> rows = good_rows();
  return rows;
}

// ---------------------------------------------------------------------------------------
// Malformed frames: one row at least per reason the parser returns
// ---------------------------------------------------------------------------------------

struct BadRow {
  std::string what;
  Bytes frame;
  DropReason want;
  uint32_t captured = kAll;  // a malformation the captured bytes show stays one under a snap
};
void PrintTo(const BadRow& r, std::ostream* os) {
  *os << r.what << " -> " << drop_reason_name(r.want) << " [";
  print_frame(r.frame, os);
  *os << "]";
}

std::vector<BadRow> bad_rows() {
  const Bytes e4 = eth(kMacCore, kMacVendor, kEtherIpv4);
  const Bytes e6 = eth(kMacCore, kMacVendor, kEtherIpv6);
  const Bytes ea = eth(kMacBroadcast, kMacVendor, kEtherArp);
  const Bytes udp4 = udp({.sport = 1000, .dport = 2000, .payload = filler(8)});
  using R = DropReason;
  return {
      {.what = "eth_13_bytes", .frame = head(syn_with_all_options(), 13), .want = R::kEthTruncated},
      {.what = "eth_empty", .frame = {}, .want = R::kEthTruncated},
      {.what = "vlan_tag_cut_after_tci", .frame = eth(kMacCore, kMacVendor, kTpid8021Q) + be16(100),
       .want = R::kVlanTruncated},
      {.what = "qinq_inner_tag_cut_after_tpid",
       .frame = eth(kMacCore, kMacVendor, kTpid8021ad) + tag(200, kTpid8021Q), .want = R::kVlanTruncated},
      {.what = "five_vlan_tags",
       .frame = eth(kMacCore, kMacVendor, kTpid8021Q) + tag(1, kTpid8021Q) + tag(2, kTpid8021Q) +
                tag(3, kTpid8021Q) + tag(4, kTpid8021Q) + tag(5, kEtherIpv4) + ipv4({.proto = kProtoUdp}, udp4),
       .want = R::kVlanTooDeep},
      {.what = "arp_header_cut_at_7_bytes", .frame = ea + head(arp({}), 7), .want = R::kArpTruncated},
      {.what = "arp_body_cut_at_20_bytes", .frame = ea + head(arp({}), 20), .want = R::kArpTruncated},
      {.what = "arp_hardware_length_8", .frame = pad_to(ea + arp({.hlen = 8}), 60), .want = R::kArpBadLength},
      {.what = "arp_protocol_length_16", .frame = pad_to(ea + arp({.plen = 16}), 60), .want = R::kArpBadLength},
      {.what = "ipv4_header_19_bytes", .frame = e4 + head(ipv4({}, {}), 19), .want = R::kIpv4Truncated},
      {.what = "ipv4_version_6_under_ethertype_0800", .frame = e4 + ipv4({.proto = kProtoUdp, .version = 6}, udp4),
       .want = R::kIpv4BadVersion},
      {.what = "ipv4_ihl_4", .frame = e4 + ipv4({.proto = kProtoUdp, .ihl = 4}, udp4), .want = R::kIpv4BadIhl},
      {.what = "ipv4_ihl_15_past_the_frame", .frame = e4 + ipv4({.proto = kProtoUdp, .ihl = 15}, udp4),
       .want = R::kIpv4BadIhl},
      {.what = "ipv4_total_length_19_below_ihl", .frame = e4 + ipv4({.proto = kProtoUdp, .total = 19}, udp4),
       .want = R::kIpv4BadTotalLength},
      {.what = "ipv4_total_length_zero", .frame = e4 + ipv4({.proto = kProtoUdp, .total = 0}, udp4),
       .want = R::kIpv4BadTotalLength},
      {.what = "ipv4_total_length_past_the_frame", .frame = e4 + ipv4({.proto = kProtoUdp, .total = 1500}, udp4),
       .want = R::kIpv4BadTotalLength},
      {.what = "ipv4_total_length_below_ihl_with_options",
       .frame = e4 + ipv4({.proto = kProtoUdp, .options = {0x94, 0x04, 0, 0}, .total = 22}, udp4),
       .want = R::kIpv4BadTotalLength},
      {.what = "ipv4_option_length_past_header",
       .frame = e4 + ipv4({.proto = kProtoUdp, .options = {0x94, 0x06, 0, 0}}, udp4), .want = R::kIpv4BadOption},
      {.what = "ipv4_option_length_1", .frame = e4 + ipv4({.proto = kProtoUdp, .options = {0x07, 0x01, 0, 0}}, udp4),
       .want = R::kIpv4BadOption},
      {.what = "ipv4_option_kind_in_last_byte",
       .frame = e4 + ipv4({.proto = kProtoUdp, .options = {0x01, 0x01, 0x01, 0x44}}, udp4),
       .want = R::kIpv4BadOption},
      {.what = "ipv4_fragment_ends_past_65535",
       .frame = e4 + ipv4({.proto = kProtoUdp, .frag = frag4(65528, false)}, filler(16)),
       .want = R::kIpv4BadFragment},
      {.what = "ipv6_header_39_bytes", .frame = e6 + head(ipv6({}, filler(20)), 39), .want = R::kIpv6Truncated},
      {.what = "ipv6_version_4_under_ethertype_86dd", .frame = e6 + ipv6({.next = kProtoUdp, .version = 4}, udp4),
       .want = R::kIpv6BadVersion},
      {.what = "ipv6_payload_length_zero", .frame = e6 + ipv6({.next = kProtoUdp, .plen = 0}, udp4),
       .want = R::kIpv6BadPayloadLength},
      {.what = "ipv6_payload_length_past_the_frame", .frame = e6 + ipv6({.next = kProtoUdp, .plen = 17}, udp4),
       .want = R::kIpv6BadPayloadLength},
      {.what = "ipv6_dstopts_shorter_than_8", .frame = e6 + ipv6({.next = kProtoDstOpts}, Bytes{kProtoTcp, 0, 1, 0}),
       .want = R::kIpv6ExtTruncated},
      {.what = "ipv6_dstopts_length_past_payload",
       .frame = e6 + ipv6({.next = kProtoDstOpts}, ext6(kProtoUdp, 1, 8)), .want = R::kIpv6ExtTruncated},
      {.what = "ipv6_ah_length_past_payload", .frame = e6 + ipv6({.next = kProtoAh}, ah6(kProtoUdp, 10)),
       .want = R::kIpv6ExtTruncated},
      {.what = "ipv6_nine_dstopts_headers",
       .frame = e6 + ipv6({.next = kProtoDstOpts},
                          opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) +
                              opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) +
                              opts6(kProtoDstOpts, 8) + opts6(kProtoDstOpts, 8) + opts6(kProtoUdp, 8) + udp4),
       .want = R::kIpv6ExtChainTooLong},
      {.what = "ipv6_hop_by_hop_after_dstopts",
       .frame = e6 + ipv6({.next = kProtoDstOpts}, opts6(kProtoHopByHop, 8) + opts6(kProtoUdp, 8) + udp4),
       .want = R::kIpv6HopByHopNotFirst},
      {.what = "ipv6_fragment_ends_past_65535",
       .frame = e6 + ipv6({.next = kProtoFragment}, frag6(kProtoUdp, 65528, false) + filler(16)),
       .want = R::kIpv6BadFragment},
      {.what = "ipv4_tcp_19_bytes", .frame = e4 + ipv4({.proto = kProtoTcp}, head(tcp({}), 19)),
       .want = R::kTcpTruncated},
      {.what = "ipv6_tcp_12_bytes", .frame = e6 + ipv6({.next = kProtoTcp}, head(tcp({}), 12)),
       .want = R::kTcpTruncated},
      {.what = "tcp_data_offset_4", .frame = e4 + ipv4({.proto = kProtoTcp}, tcp({.doff = 4})),
       .want = R::kTcpBadDataOffset},
      {.what = "tcp_data_offset_15_past_the_packet",
       .frame = e4 + ipv4({.proto = kProtoTcp}, tcp({.payload = filler(8), .doff = 15})),
       .want = R::kTcpBadDataOffset},
      // The Ethernet padding would hold the 4 option bytes; the IP packet does not.
      {.what = "tcp_data_offset_into_ethernet_padding",
       .frame = pad_to(e4 + ipv4({.proto = kProtoTcp}, tcp({.doff = 6})), 60), .want = R::kTcpBadDataOffset},
      {.what = "tcp_mss_option_cut_by_header_end",
       .frame = e4 + ipv4({.proto = kProtoTcp}, tcp({.options = {1, 1, 2, 4}})), .want = R::kTcpBadOption},
      {.what = "tcp_option_length_zero", .frame = e4 + ipv4({.proto = kProtoTcp}, tcp({.options = {2, 0, 0, 0}})),
       .want = R::kTcpBadOption},
      {.what = "tcp_option_kind_in_last_byte",
       .frame = e6 + ipv6({.next = kProtoTcp}, tcp({.options = {1, 1, 1, 3}})), .want = R::kTcpBadOption},
      {.what = "ipv4_udp_7_bytes", .frame = e4 + ipv4({.proto = kProtoUdp}, head(udp4, 7)), .want = R::kUdpTruncated},
      {.what = "ipv6_udp_4_bytes", .frame = e6 + ipv6({.next = kProtoUdp}, head(udp4, 4)), .want = R::kUdpTruncated},
      {.what = "udp_length_7", .frame = e4 + ipv4({.proto = kProtoUdp}, udp({.payload = filler(8), .len = 7})),
       .want = R::kUdpBadLength},
      {.what = "udp_length_past_ip_payload",
       .frame = e4 + ipv4({.proto = kProtoUdp}, udp({.payload = filler(8), .len = 17})), .want = R::kUdpBadLength},
      {.what = "udp_length_into_ethernet_padding",
       .frame = pad_to(e4 + ipv4({.proto = kProtoUdp}, udp({.payload = filler(2), .len = 20})), 60),
       .want = R::kUdpBadLength},
      {.what = "ipv6_udp_length_past_payload",
       .frame = e6 + ipv6({.next = kProtoUdp}, udp({.payload = filler(8), .len = 100})), .want = R::kUdpBadLength},
      {.what = "icmp_7_bytes", .frame = pad_to(e4 + ipv4({.proto = kProtoIcmp}, head(echo(8, {}), 7)), 60),
       .want = R::kIcmpTruncated},
      {.what = "icmpv6_3_bytes", .frame = e6 + ipv6({.next = kProtoIcmpv6}, head(echo(128, {}), 3)),
       .want = R::kIcmpv6Truncated},
      // A cut capture does not hide a fault the captured headers already show.
      {.what = "snap_keeps_ipv4_total_length_past_the_wire_frame",
       .frame = pad_to(e4 + ipv4({.proto = kProtoUdp, .total = 1500}, udp4), 100), .want = R::kIpv4BadTotalLength,
       .captured = 40},
      {.what = "snap_keeps_ipv6_payload_length_past_the_wire_frame",
       .frame = e6 + ipv6({.next = kProtoUdp, .plen = 1000}, udp4 + filler(40)), .want = R::kIpv6BadPayloadLength,
       .captured = kEth + kIp6Hdr},
      {.what = "snap_keeps_tcp_truncated_by_ip_total_length",
       .frame = pad_to(e4 + ipv4({.proto = kProtoTcp}, head(tcp({}), 10)), 80), .want = R::kTcpTruncated,
       .captured = kEth + kIp4Hdr + 4},
  };
}

const std::vector<BadRow>& bad_table() {
  static const std::vector<BadRow> rows = bad_rows();
  return rows;
}

constexpr DropReason kAllReasons[] = {
#define SENTINEL_X(e, name, kind) DropReason::e,
    SENTINEL_DROP_REASONS(SENTINEL_X)
#undef SENTINEL_X
};
static_assert(std::size(kAllReasons) == kDropReasonCount);

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

template <typename Row>
std::string row_name(const testing::TestParamInfo<Row>& info) {
  return info.param.what;
}

class ParserGood : public testing::TestWithParam<GoodRow> {};

TEST_P(ParserGood, ParsesEveryField) {
  const GoodRow& row = GetParam();
  SCOPED_TRACE(row.what);
  const auto wire = static_cast<uint32_t>(row.frame.size());
  const uint32_t captured = row.captured == kAll ? wire : row.captured;
  ASSERT_LE(captured, wire);
  const Parsed p = parse(row.frame, captured, wire);
  EXPECT_EQ(p.reason, DropReason::kNone);
  expect_info(p.info, row.want);
}

INSTANTIATE_TEST_SUITE_P(Table, ParserGood, testing::ValuesIn(good_table()), row_name<GoodRow>);

class ParserMalformed : public testing::TestWithParam<BadRow> {};

TEST_P(ParserMalformed, ReturnsTheReason) {
  const BadRow& row = GetParam();
  SCOPED_TRACE(row.what);
  const auto wire = static_cast<uint32_t>(row.frame.size());
  const uint32_t captured = row.captured == kAll ? wire : row.captured;
  ASSERT_LE(captured, wire);
  const Parsed p = parse(row.frame, captured, wire);
  EXPECT_EQ(p.reason, row.want);
  EXPECT_EQ(p.info.flags & kFlagSnapTruncated, 0) << "a malformed frame is not a snap-truncated one";
}

INSTANTIATE_TEST_SUITE_P(Table, ParserMalformed, testing::ValuesIn(bad_table()), row_name<BadRow>);

// Every prefix of every fixture, two ways. As a whole short frame (captured == wire_len ==
// prefix): never a read past the buffer, and the verdict is kNone or a parser reason. As a
// short capture of the whole frame (wire_len unchanged): never malformed for a good frame;
// kFlagSnapTruncated exactly when a header was cut; otherwise the same record as the whole
// frame. A capture longer than wire_len is clamped to it.
class ParserPrefixes : public testing::TestWithParam<GoodRow> {};

TEST_P(ParserPrefixes, ShortFrameOrShortCapture) {
  const GoodRow& row = GetParam();
  const auto wire = static_cast<uint32_t>(row.frame.size());
  const Parsed whole = parse(row.frame, wire, wire);
  ASSERT_EQ(whole.reason, DropReason::kNone);
  const uint32_t end = headers_end(row);
  ASSERT_LE(end, wire);
  for (uint32_t len = 0; len <= wire; ++len) {
    SCOPED_TRACE(row.what + " cut at " + std::to_string(len) + " of " + std::to_string(wire));
    const Parsed short_frame = parse(row.frame, len, len);
    EXPECT_TRUE(short_frame.reason == DropReason::kNone || is_malformed(short_frame.reason))
        << drop_reason_name(short_frame.reason);
    EXPECT_EQ(short_frame.info.flags & kFlagSnapTruncated, 0);

    const Parsed clamped = parse(row.frame, wire, len);
    EXPECT_EQ(clamped.reason, short_frame.reason);
    EXPECT_EQ(describe(clamped.info), describe(short_frame.info));

    const Parsed short_capture = parse(row.frame, len, wire);
    EXPECT_EQ(short_capture.reason, DropReason::kNone);
    if (len < end) {
      EXPECT_NE(short_capture.info.flags & kFlagSnapTruncated, 0) << "a header was cut: " << describe(short_capture.info);
      EXPECT_LE(short_capture.info.payload_offset, len) << "payload_offset past the capture";
    } else {
      EXPECT_EQ(describe(short_capture.info), describe(whole.info));
    }
  }
}

// Snap-truncated rows are prefixes of whole-frame rows: only the whole frames are cut here.
std::vector<GoodRow> whole_frame_rows() {
  std::vector<GoodRow> rows;
  std::copy_if(good_table().begin(), good_table().end(), std::back_inserter(rows),
               [](const GoodRow& r) { return r.captured == kAll; });
  return rows;
}

INSTANTIATE_TEST_SUITE_P(Table, ParserPrefixes, testing::ValuesIn(whole_frame_rows()), row_name<GoodRow>);

// The same for malformed fixtures: a short capture stops before the fault (kNone with the
// snap flag) or finds the same fault, never another one.
class ParserMalformedPrefixes : public testing::TestWithParam<BadRow> {};

TEST_P(ParserMalformedPrefixes, ShortFrameOrShortCapture) {
  const BadRow& row = GetParam();
  const auto wire = static_cast<uint32_t>(row.frame.size());
  for (uint32_t len = 0; len <= wire; ++len) {
    SCOPED_TRACE(row.what + " cut at " + std::to_string(len) + " of " + std::to_string(wire));
    const Parsed short_frame = parse(row.frame, len, len);
    EXPECT_TRUE(short_frame.reason == DropReason::kNone || is_malformed(short_frame.reason))
        << drop_reason_name(short_frame.reason);
    const Parsed short_capture = parse(row.frame, len, wire);
    if (short_capture.reason == DropReason::kNone) {
      EXPECT_NE(short_capture.info.flags & kFlagSnapTruncated, 0) << describe(short_capture.info);
    } else {
      EXPECT_EQ(short_capture.reason, row.want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParserMalformedPrefixes, testing::ValuesIn(bad_table()), row_name<BadRow>);

TEST(ParserTables, RowNamesAreUniqueIdentifiers) {
  std::set<std::string> seen;
  for (const auto& r : good_table()) {
    EXPECT_TRUE(is_identifier(r.what)) << r.what;
    EXPECT_TRUE(seen.insert(r.what).second) << "duplicate " << r.what;
  }
  for (const auto& r : bad_table()) {
    EXPECT_TRUE(is_identifier(r.what)) << r.what;
    EXPECT_TRUE(seen.insert(r.what).second) << "duplicate " << r.what;
  }
}

// Adding a DropReason the parser can return without a fixture that produces it fails here.
TEST(ParserTables, MalformedTableCoversEveryParserReason) {
  std::set<DropReason> covered;
  for (const auto& r : bad_table()) {
    EXPECT_TRUE(is_malformed(r.want)) << r.what << " expects " << drop_reason_name(r.want);
    covered.insert(r.want);
  }
  for (DropReason r : kAllReasons) {
    if (is_malformed(r)) {
      EXPECT_EQ(covered.count(r), 1U) << "no malformed fixture for " << drop_reason_name(r);
    }
  }
  EXPECT_FALSE(is_malformed(DropReason::kNone));
  EXPECT_FALSE(is_malformed(DropReason::kTxFull));
}

TEST(ParserTables, GoodTableCoversEveryL3AndFlag) {
  std::set<L3> l3s;
  uint8_t flags = 0;
  for (const auto& r : good_table()) {
    l3s.insert(r.want.l3);
    flags = static_cast<uint8_t>(flags | r.want.flags);
  }
  EXPECT_EQ(l3s, (std::set<L3>{L3::kOther, L3::kArp, L3::kIpv4, L3::kIpv6}));
  EXPECT_EQ(flags, kFlagFragment | kFlagLaterFragment | kFlagSnapTruncated | kFlagIpOptions | kFlagHasL4);
}

TEST(DropReasonNames, UniqueNonEmptySnakeCase) {
  // std::regex would do, but GCC 12 warns inside <regex> under the sanitizers (werror).
  const auto snake_case = [](std::string_view n) {
    return std::all_of(n.begin(), n.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
  };
  std::set<std::string_view> seen;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string_view name = kDropReasonNames[i];
    SCOPED_TRACE("reason " + std::to_string(i));
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(snake_case(name)) << name;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(drop_reason_name(static_cast<DropReason>(i)), name);
  }
  EXPECT_EQ(drop_reason_name(DropReason::kCount), "unknown");
  EXPECT_EQ(drop_reason_name(static_cast<DropReason>(200)), "unknown");
}

// The numbers are metric identities: pinned, so a reorder or an insertion fails here. New
// reasons go at the end and get a row of their own.
TEST(DropReasonNames, NumbersAndNamesArePinned) {
  static_assert(static_cast<int>(DropReason::kNone) == 0);
  static_assert(static_cast<int>(DropReason::kEthTruncated) == 1);
  struct Pin {
    DropReason reason;
    int number;
    std::string_view name;
  };
  constexpr Pin kPins[] = {
      {DropReason::kNone, 0, "none"},
      {DropReason::kEthTruncated, 1, "eth_truncated"},
      {DropReason::kVlanTruncated, 2, "vlan_truncated"},
      {DropReason::kVlanTooDeep, 3, "vlan_too_deep"},
      {DropReason::kArpTruncated, 4, "arp_truncated"},
      {DropReason::kArpBadLength, 5, "arp_bad_length"},
      {DropReason::kIpv4Truncated, 6, "ipv4_truncated"},
      {DropReason::kIpv4BadVersion, 7, "ipv4_bad_version"},
      {DropReason::kIpv4BadIhl, 8, "ipv4_bad_ihl"},
      {DropReason::kIpv4BadTotalLength, 9, "ipv4_bad_total_length"},
      {DropReason::kIpv4BadOption, 10, "ipv4_bad_option"},
      {DropReason::kIpv4BadFragment, 11, "ipv4_bad_fragment"},
      {DropReason::kIpv6Truncated, 12, "ipv6_truncated"},
      {DropReason::kIpv6BadVersion, 13, "ipv6_bad_version"},
      {DropReason::kIpv6BadPayloadLength, 14, "ipv6_bad_payload_length"},
      {DropReason::kIpv6ExtTruncated, 15, "ipv6_ext_truncated"},
      {DropReason::kIpv6ExtChainTooLong, 16, "ipv6_ext_chain_too_long"},
      {DropReason::kIpv6HopByHopNotFirst, 17, "ipv6_hop_by_hop_not_first"},
      {DropReason::kIpv6BadFragment, 18, "ipv6_bad_fragment"},
      {DropReason::kTcpTruncated, 19, "tcp_truncated"},
      {DropReason::kTcpBadDataOffset, 20, "tcp_bad_data_offset"},
      {DropReason::kTcpBadOption, 21, "tcp_bad_option"},
      {DropReason::kUdpTruncated, 22, "udp_truncated"},
      {DropReason::kUdpBadLength, 23, "udp_bad_length"},
      {DropReason::kIcmpTruncated, 24, "icmp_truncated"},
      {DropReason::kIcmpv6Truncated, 25, "icmpv6_truncated"},
      {DropReason::kTxFull, 26, "tx_full"},
      {DropReason::kSignature, 27, "signature"},
      {DropReason::kFlowBlocked, 28, "flow_blocked"},
      {DropReason::kBadChecksum, 29, "bad_checksum"},
      {DropReason::kReassemblyOverflow, 30, "reassembly_overflow"},
  };
  EXPECT_LE(std::size(kPins), kDropReasonCount);
  for (const Pin& pin : kPins) {
    EXPECT_EQ(static_cast<int>(pin.reason), pin.number) << pin.name;
    EXPECT_EQ(drop_reason_name(pin.reason), pin.name);
  }
  EXPECT_EQ(drop_reason_name(DropReason::kTxFull), "tx_full");
  EXPECT_EQ(drop_reason_name(DropReason::kNone), "none");
}

}  // namespace
}  // namespace sentinel::dataplane

// parse_frame() takes the common case through parser_detail::parse_common(); whatever
// that accepts must be exactly what the full parser makes of the same bytes. Random
// Ethernet/IPv4/TCP-or-UDP frames with random lengths, flags and options probe the edges.
TEST(CommonPath, AgreesWithTheFullParser) {
  using sentinel::dataplane::DropReason;
  using sentinel::dataplane::PacketInfo;
  std::mt19937 rng(20261129);
  auto byte = [&rng] { return static_cast<uint8_t>(rng()); };
  size_t accepted = 0;
  constexpr size_t kRounds = 200000;
  for (size_t round = 0; round < kRounds; ++round) {
    std::vector<uint8_t> f(14 + 20 + 40 + 16);
    for (uint8_t& b : f) b = byte();
    const uint32_t len = 40 + rng() % (f.size() - 40 + 1);
    f[12] = 0x08;
    f[13] = rng() % 16 == 0 ? byte() : 0x00;
    f[14] = rng() % 8 == 0 ? byte() : 0x45;
    const uint32_t total = rng() % 4 == 0 ? rng() % 128 : len - 14 - rng() % 3;
    f[16] = static_cast<uint8_t>(total >> 8);
    f[17] = static_cast<uint8_t>(total);
    if (rng() % 2 == 0) f[20] = f[21] = 0;  // not a fragment (DF may stay set)
    f[23] = rng() % 8 == 0 ? byte() : (rng() % 2 ? 6 : 17);
    if (f[23] == 17 && rng() % 2) {  // a UDP length that fits
      const uint32_t udp_len = total - 20 - rng() % 3;
      f[38] = static_cast<uint8_t>(udp_len >> 8);
      f[39] = static_cast<uint8_t>(udp_len);
    }
    if (f[23] == 6) {
      const uint8_t doff = rng() % 3 == 0 ? byte() >> 4 : (rng() % 2 ? 5 : 8);
      f[46] = static_cast<uint8_t>(doff << 4);
      if (doff == 8 && rng() % 2) f[54] = f[55] = 1, f[56] = 8, f[57] = 10;  // NOP NOP TS
    }
    const uint32_t captured = rng() % 8 == 0 ? len - rng() % 10 : len;

    PacketInfo common;
    PacketInfo full;
    std::memset(&common, 0xa5, sizeof common);
    std::memset(&full, 0x5a, sizeof full);
    if (!sentinel::dataplane::parser_detail::parse_common(f.data(), captured, len, common)) continue;
    ++accepted;
    ASSERT_EQ(sentinel::dataplane::parser_detail::parse_frame_full(f.data(), captured, len, full),
              DropReason::kNone)
        << "round " << round;
    ASSERT_EQ(std::memcmp(&common, &full, sizeof full), 0) << "round " << round;
  }
  EXPECT_GT(accepted, kRounds / 20) << "the generator should reach the common path often";
}

// Fuzz target: the frame parser (dataplane/parser.hpp).
//
// Input: one byte choosing how the frame is captured, then the frame F (n bytes).
//   0x00        F whole (captured = wire = n)
//   0x01..0x7f  also F cut after that many bytes (captured c < n, wire n): snaplen paths
//   0x80..0xef  also F without its last 1..112 bytes (captured c < n, wire n)
//   0xf0..0xff  only F with a wire length 512..8192 bytes longer than what was captured
// Every parse reads a heap copy of exactly the captured bytes, so ASan sees any overread.
//
// Invariants (abort when broken):
// - the result is kNone or a malformed-frame reason; flags are parser flags only and
//   consistent (later fragment => fragment, snap-truncated => kNone, L4 fields => IP);
//   a well-formed frame's offsets are ordered and its payload ends within the wire length;
// - parse_common accepting a frame => parse_frame_full gives kNone and the same PacketInfo;
// - a snaplen cut changes nothing but stopping early: unless the cut frame is reported
//   snap-truncated, its result and PacketInfo equal those of the whole frame;
// - parsing is deterministic and overwrites all of PacketInfo;
// - a whole well-formed frame's fields agree with its bytes (addresses, TTL, protocol,
//   ports, flags, fragment bits, header and payload bounds), and its option lists are
//   well-formed by an independent walk, which also confirms every bad-option verdict.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/parser.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using sentinel::dataplane::DropKind;
using sentinel::dataplane::DropReason;
using sentinel::dataplane::L3;
using sentinel::dataplane::PacketInfo;
namespace pd = sentinel::dataplane::parser_detail;
namespace dp = sentinel::dataplane;

void dump(const char* what, const PacketInfo& p) {
  std::fprintf(stderr, "  %s:", what);
  const auto* b = reinterpret_cast<const uint8_t*>(&p);
  for (size_t i = 0; i < sizeof p; ++i) std::fprintf(stderr, "%s%02x", i % 16 == 0 ? "\n    " : " ", b[i]);
  std::fprintf(stderr, "\n");
}

bool same(const PacketInfo& a, const PacketInfo& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// parse_frame_full on an exact heap copy of the captured bytes, checked for determinism.
DropReason parse_full(const uint8_t* frame, uint32_t captured, uint32_t wire, PacketInfo& out) {
  const std::vector<uint8_t> copy(frame, frame + captured);
  std::memset(&out, 0xa5, sizeof out);
  const DropReason r = pd::parse_frame_full(copy.data(), captured, wire, out);
  PacketInfo again;
  std::memset(&again, 0x5a, sizeof again);
  const DropReason r2 = pd::parse_frame_full(copy.data(), captured, wire, again);
  if (r2 != r || !same(again, out)) {
    dump("first", out);
    dump("second", again);
  }
  FUZZ_CHECK(r2 == r && same(again, out), "parse_frame_full not deterministic (or leaves fields unwritten)");
  return r;
}

void check_info(DropReason r, const PacketInfo& p, uint32_t wire) {
  const auto ri = static_cast<size_t>(r);
  FUZZ_CHECK(ri < dp::kDropReasonCount && dp::kDropReasonKinds[ri] != DropKind::kDataplane,
             "result %zu is not a parser reason", ri);
  constexpr uint8_t kParserFlags = dp::kFlagFragment | dp::kFlagLaterFragment | dp::kFlagSnapTruncated |
                                   dp::kFlagIpOptions | dp::kFlagHasL4;
  FUZZ_CHECK((p.flags & ~kParserFlags) == 0, "flags 0x%02x: not the parser's", p.flags);
  FUZZ_CHECK(!(p.flags & dp::kFlagLaterFragment) || (p.flags & dp::kFlagFragment), "later fragment without fragment");
  FUZZ_CHECK(!(p.flags & dp::kFlagSnapTruncated) || r == DropReason::kNone, "snap-truncated but reason %zu", ri);
  FUZZ_CHECK(p.vlan_count <= dp::kMaxVlanTags, "vlan_count %u", p.vlan_count);
  if (p.flags & dp::kFlagHasL4) {
    FUZZ_CHECK(p.l3 == L3::kIpv4 || p.l3 == L3::kIpv6, "L4 fields on a non-IP frame");
    FUZZ_CHECK(!(p.flags & dp::kFlagLaterFragment), "L4 fields on a later fragment");
    FUZZ_CHECK(p.ip_proto == 6 || p.ip_proto == 17 || p.ip_proto == 1 || p.ip_proto == 58, "L4 fields for proto %u",
               p.ip_proto);
    FUZZ_CHECK(p.l4_offset >= p.l3_offset + (p.l3 == L3::kIpv4 ? 20 : 40), "l4_offset %u, l3_offset %u", p.l4_offset,
               p.l3_offset);
  }
  if (r != DropReason::kNone) return;
  FUZZ_CHECK(uint64_t{p.payload_offset} + p.payload_len <= wire, "payload [%u, +%u) past the wire length %u",
             p.payload_offset, p.payload_len, wire);
  if (p.flags & dp::kFlagSnapTruncated) return;
  // A whole, well-formed frame.
  FUZZ_CHECK(p.l3_offset == 14 + 4 * p.vlan_count, "l3_offset %u with %u tags", p.l3_offset, p.vlan_count);
  if (p.l3 == L3::kIpv4 || p.l3 == L3::kIpv6) {
    FUZZ_CHECK(p.payload_offset >= p.l3_offset + (p.l3 == L3::kIpv4 ? 20 : 40), "payload_offset %u before L4",
               p.payload_offset);
  }
  if (p.flags & dp::kFlagHasL4) {
    const uint32_t hdr = p.ip_proto == 6 ? 20 : p.ip_proto == 58 ? 4 : 8;
    FUZZ_CHECK(p.payload_offset >= p.l4_offset + hdr, "payload_offset %u inside the %u-byte L4 header at %u",
               p.payload_offset, hdr, p.l4_offset);
  }
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// RFC 791 / 9293 option lists, walked independently of the parser: EOL ends, NOP is one
// byte, any other option has a length byte >= 2 that keeps it inside the list.
FUZZ_MODEL bool options_ok(const uint8_t* p, size_t len) {
  for (size_t i = 0; i < len;) {
    if (p[i] == 0) return true;
    if (p[i] == 1) {
      ++i;
      continue;
    }
    if (len - i < 2 || p[i + 1] < 2 || p[i + 1] > len - i) return false;
    i += p[i + 1];
  }
  return true;
}

// The fields of a whole, well-formed frame against its bytes.
void check_against_bytes(const uint8_t* f, const PacketInfo& p) {
  const uint32_t l3 = p.l3_offset;
  FUZZ_CHECK(p.ethertype == be16(f + l3 - 2), "ethertype 0x%04x", p.ethertype);
  FUZZ_CHECK(p.vlan_count == 0 || p.vlan_tci == be16(f + 14), "vlan_tci 0x%04x", p.vlan_tci);
  uint32_t ip_end = 0;
  if (p.l3 == L3::kIpv4) {
    const uint8_t* ip = f + l3;
    const uint32_t ihl = (ip[0] & 15u) * 4;
    ip_end = l3 + be16(ip + 2);
    FUZZ_CHECK(p.ttl == ip[8] && p.ip_proto == ip[9] && std::memcmp(p.src_ip.data(), ip + 12, 4) == 0 &&
                   std::memcmp(p.dst_ip.data(), ip + 16, 4) == 0,
               "IPv4 ttl, protocol or addresses differ from the header");
    const uint16_t frag = be16(ip + 6);
    FUZZ_CHECK(((p.flags & dp::kFlagFragment) != 0) == ((frag & 0x3fff) != 0), "fragment flag, frag field 0x%04x", frag);
    FUZZ_CHECK(((p.flags & dp::kFlagLaterFragment) != 0) == ((frag & 0x1fff) != 0), "later-fragment flag");
    FUZZ_CHECK(((p.flags & dp::kFlagIpOptions) != 0) == (ihl > 20), "IP-options flag with IHL %u", ihl);
    FUZZ_CHECK(options_ok(ip + 20, ihl - 20), "IPv4 options accepted that are malformed");
    if (p.flags & dp::kFlagHasL4) FUZZ_CHECK(p.l4_offset == l3 + ihl, "l4_offset %u, IHL %u", p.l4_offset, ihl);
  } else if (p.l3 == L3::kIpv6) {
    const uint8_t* ip = f + l3;
    ip_end = l3 + 40 + be16(ip + 4);
    FUZZ_CHECK(p.ttl == ip[7] && std::memcmp(p.src_ip.data(), ip + 8, 16) == 0 &&
                   std::memcmp(p.dst_ip.data(), ip + 24, 16) == 0,
               "IPv6 hop limit or addresses differ from the header");
    if (!(p.flags & dp::kFlagIpOptions)) {
      FUZZ_CHECK(p.ip_proto == ip[6], "ip_proto %u, next header %u", p.ip_proto, ip[6]);
      if (p.flags & dp::kFlagHasL4) FUZZ_CHECK(p.l4_offset == l3 + 40, "l4_offset %u", p.l4_offset);
    }
  } else {
    return;
  }
  if (!(p.flags & dp::kFlagHasL4)) return;
  const uint8_t* l4 = f + p.l4_offset;
  if (p.ip_proto == 6 || p.ip_proto == 17) {
    FUZZ_CHECK(p.src_port == be16(l4) && p.dst_port == be16(l4 + 2), "ports %u %u", p.src_port, p.dst_port);
  }
  if (p.ip_proto == 6) {
    const uint32_t hlen = (l4[12] >> 4) * 4u;
    FUZZ_CHECK(p.tcp_flags == l4[13], "tcp_flags 0x%02x", p.tcp_flags);
    FUZZ_CHECK(p.payload_offset == p.l4_offset + hlen && p.payload_offset + p.payload_len == ip_end,
               "TCP payload [%u, +%u), header %u bytes at %u, IP ends at %u", p.payload_offset, p.payload_len, hlen,
               p.l4_offset, ip_end);
    FUZZ_CHECK(options_ok(l4 + 20, hlen - 20), "TCP options accepted that are malformed");
  } else if (p.ip_proto == 17) {
    FUZZ_CHECK(p.payload_offset == p.l4_offset + 8u, "UDP payload_offset %u", p.payload_offset);
    if (!(p.flags & dp::kFlagFragment)) {
      FUZZ_CHECK(p.payload_len + 8u == be16(l4 + 4), "UDP payload_len %u, length field %u", p.payload_len, be16(l4 + 4));
    }
  } else {
    FUZZ_CHECK(p.icmp_type == l4[0] && p.icmp_code == l4[1], "ICMP type/code %u/%u", p.icmp_type, p.icmp_code);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size - 1 > 65535) return -1;  // one Ethernet frame: at most 64 KiB
  const uint8_t mode = data[0];
  const uint8_t* frame = data + 1;
  const auto n = static_cast<uint32_t>(size - 1);

  if (mode >= 0xf0) {  // captured n of a longer frame
    const uint32_t wire = n + ((mode & 0x0f) + 1u) * 512;
    PacketInfo p;
    const DropReason r = parse_full(frame, n, wire, p);
    check_info(r, p, wire);
    PacketInfo common;
    FUZZ_CHECK(!pd::parse_common(frame, n, wire, common), "parse_common accepted a frame cut by the capture");
    return 0;
  }

  PacketInfo full;
  const DropReason r = parse_full(frame, n, n, full);
  check_info(r, full, n);
  FUZZ_CHECK(!(full.flags & dp::kFlagSnapTruncated), "a whole frame reported snap-truncated");
  if (r == DropReason::kNone) check_against_bytes(frame, full);
  if (r == DropReason::kTcpBadOption) {
    const uint8_t* l4 = frame + full.l4_offset;
    FUZZ_CHECK(!options_ok(l4 + 20, (l4[12] >> 4) * 4u - 20), "well-formed TCP options rejected");
  }
  if (r == DropReason::kIpv4BadOption) {
    const uint8_t* ip = frame + full.l3_offset;
    FUZZ_CHECK(!options_ok(ip + 20, (ip[0] & 15u) * 4 - 20), "well-formed IPv4 options rejected");
  }

  {
    const std::vector<uint8_t> copy(frame, frame + n);
    PacketInfo common;
    std::memset(&common, 0x5a, sizeof common);
    if (pd::parse_common(copy.data(), n, n, common)) {
      if (r != DropReason::kNone || !same(common, full)) {
        dump("parse_common", common);
        dump("parse_frame_full", full);
      }
      FUZZ_CHECK(r == DropReason::kNone, "parse_common accepted, parse_frame_full: %s",
                 std::string(dp::drop_reason_name(r)).c_str());
      FUZZ_CHECK(same(common, full), "parse_common and parse_frame_full disagree");
    }
    PacketInfo pub;
    FUZZ_CHECK(dp::parse_frame(copy.data(), n, n, pub) == r && same(pub, full), "parse_frame differs from the full parser");
  }

  if (mode == 0) return 0;
  const uint32_t cut = mode < 0x80 ? mode : (mode - 0x7fu <= n ? n - (mode - 0x7fu) : 0);
  if (cut >= n) return 0;
  PacketInfo part;
  const DropReason rc = parse_full(frame, cut, n, part);
  check_info(rc, part, n);
  if (rc == DropReason::kNone && (part.flags & dp::kFlagSnapTruncated)) return 0;  // stopped early: fine
  if (rc != r || !same(part, full)) {
    dump("cut", part);
    dump("whole", full);
  }
  FUZZ_CHECK(rc == r, "cut at %u of %u: %s, whole frame: %s", cut, n, std::string(dp::drop_reason_name(rc)).c_str(),
             std::string(dp::drop_reason_name(r)).c_str());
  FUZZ_CHECK(same(part, full), "cut at %u of %u: PacketInfo differs from the whole frame's", cut, n);
  return 0;
}

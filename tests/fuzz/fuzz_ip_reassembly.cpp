// IP reassembly (dataplane/fragments.hpp): a sequence of IPv4 and IPv6 fragments of a few
// datagrams per direction — any offsets, lengths, flags, overlaps, duplicates, extension
// headers before the fragment header, and clock steps — fed to one Reassembler the way the
// worker feeds it (only what the parser calls a fragment).
//
// Invariants: every fragment handed over comes back exactly once, either in a reassembled
// datagram or as a dead fragment with a fragment cause; held() counts the rest; a datagram
// parses as one unfragmented packet whose payload holds, at each of its fragments' offsets,
// exactly that fragment's bytes; after giving everything up nothing is held and every mbuf
// is back in its pool.
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/fragments.hpp"
#include "dataplane/parser.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using sentinel::dataplane::DeadFragment;
using sentinel::dataplane::Direction;
using sentinel::dataplane::DropReason;
using sentinel::dataplane::L3;
using sentinel::dataplane::PacketInfo;
using sentinel::dataplane::Reassembler;
using sentinel::fuzz::Input;

constexpr uint64_t kTicksPerSecond = 1000;
constexpr uint32_t kMaxDatagramSize = 1500;  // [fragments] max_datagram_size of the target
rte_mempool* g_pool = nullptr;
std::unique_ptr<Reassembler> g_reassembler;
std::string g_runtime_dir;

void remove_runtime_dir() {
  g_reassembler.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_runtime_dir, ec);
}

void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// One fragment frame from the input (make_seeds.py writes the same records from the
// corpus' fragments): a shape byte (bit 0 IPv6, bit 1 a destination options header before
// the fragment header, bits 2-3 which of 4 datagrams, bit 4 TCP instead of UDP), the offset
// in 8-byte units (u16), more-fragments (bit 0 of a byte), the length (u16 % 1473) and a
// fill byte for the payload.
std::vector<uint8_t> fragment_frame(Input& in, bool& v6) {
  const uint8_t shape = in.u8();
  v6 = (shape & 1) != 0;
  const bool ext_before = (shape & 2) != 0;
  const uint8_t datagram = (shape >> 2) & 3;  // a few ids, so fragments meet
  const bool other_proto = (shape & 0x10) != 0;
  const uint32_t offset_units = in.u16() & 0x1fff;
  const bool more = (in.u8() & 1) != 0;
  const uint32_t len = in.u16() % 1473;
  const uint8_t fill = in.u8();
  std::vector<uint8_t> f(14, 0);
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  const uint8_t proto = other_proto ? 6 : 17;
  if (!v6) {
    uint8_t ip[20] = {0x45, 0};
    put16(ip + 2, 20 + len);
    put16(ip + 4, 0x100 + datagram);
    put16(ip + 6, (more ? 0x2000 : 0) | offset_units);
    ip[8] = 64;
    ip[9] = proto;
    const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    std::memcpy(ip + 12, addrs, 8);
    f.insert(f.end(), ip, ip + 20);
  } else {
    uint8_t ip[40] = {0x60};
    const uint32_t ext = ext_before ? 8 : 0;
    put16(ip + 4, ext + 8 + len);
    ip[6] = ext_before ? 60 : 44;
    ip[7] = 64;
    ip[23] = 1;
    ip[39] = 2;
    ip[8] = ip[24] = 0x20;
    f.insert(f.end(), ip, ip + 40);
    if (ext_before) {
      const uint8_t dest_opts[8] = {44, 0, 1, 4, 0, 0, 0, 0};  // PadN
      f.insert(f.end(), dest_opts, dest_opts + 8);
    }
    const uint32_t fo = offset_units << 3 | (more ? 1 : 0);
    const uint8_t fh[8] = {proto, 0, static_cast<uint8_t>(fo >> 8), static_cast<uint8_t>(fo), 0, 0, 0,
                           static_cast<uint8_t>(0x10 + datagram)};
    f.insert(f.end(), fh, fh + 8);
  }
  for (uint32_t i = 0; i < len; ++i) f.push_back(static_cast<uint8_t>(fill + i));
  return f;
}

struct Held {
  rte_mbuf* original;
  uint32_t offset;
  std::vector<uint8_t> payload;
};

uint32_t rd16(const uint8_t* p) { return static_cast<uint32_t>(p[0] << 8 | p[1]); }

// The fragment's offset and IP payload (after the fragment header), from the original frame.
FUZZ_MODEL Held describe(rte_mbuf* m, const PacketInfo& pkt) {
  const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t l3 = pkt.l3_offset;
  Held h{m, 0, {}};
  if (pkt.l3 == L3::kIpv4) {
    const uint32_t ihl = static_cast<uint32_t>(d[l3] & 0x0f) * 4;
    h.offset = (rd16(d + l3 + 6) & 0x1fff) * 8;
    h.payload.assign(d + l3 + ihl, d + l3 + rd16(d + l3 + 2));
  } else {
    const uint32_t off = l3 + 40 + (d[l3 + 6] == 60 ? 8 : 0);  // at most one destination options header
    h.offset = rd16(d + off + 2) & 0xfff8u;
    h.payload.assign(d + off + 8, d + l3 + 40 + rd16(d + l3 + 4));
  }
  return h;
}

FUZZ_MODEL void check_datagram(rte_mbuf* whole, std::vector<Held>& held, std::set<rte_mbuf*>& outstanding) {
  // The datagram parses as one packet, not a fragment.
  std::vector<uint8_t> bytes(whole->pkt_len);
  const void* p = rte_pktmbuf_read(whole, 0, whole->pkt_len, bytes.data());
  FUZZ_CHECK(p != nullptr, "datagram unreadable");
  if (p != bytes.data()) std::memcpy(bytes.data(), p, whole->pkt_len);
  PacketInfo info{};
  const DropReason why =
      sentinel::dataplane::parser_detail::parse_frame_full(bytes.data(), whole->pkt_len, whole->pkt_len, info);
  FUZZ_CHECK(why == DropReason::kNone || !sentinel::dataplane::is_fragment_cause(why), "reason %u",
             static_cast<unsigned>(why));
  if (why == DropReason::kNone) {
    FUZZ_CHECK((info.flags & sentinel::dataplane::kFlagFragment) == 0, "a datagram still marked a fragment");
  }
  // The frames have no VLAN tags: IP at 14; the datagram has no fragment header left.
  const bool v4 = bytes[12] == 0x08;
  const uint32_t ip_payload = v4 ? 14 + static_cast<uint32_t>(bytes[14] & 0x0f) * 4 : 14 + 40;
  rte_mbuf* originals[Reassembler::kMaxFragmentsPerDatagram];
  const uint32_t n = g_reassembler->release(whole, originals);
  FUZZ_CHECK(n >= 2, "a datagram of %u fragments", n);
  for (uint32_t k = 0; k < n; ++k) {
    FUZZ_CHECK(outstanding.erase(originals[k]) == 1, "fragment %p returned twice or never given", static_cast<void*>(originals[k]));
    bool found = false;
    for (auto it = held.begin(); it != held.end(); ++it) {
      if (it->original != originals[k]) continue;
      FUZZ_CHECK(ip_payload + it->offset + it->payload.size() <= bytes.size(), "fragment beyond the datagram");
      FUZZ_CHECK(std::memcmp(bytes.data() + ip_payload + it->offset, it->payload.data(), it->payload.size()) == 0,
                 "datagram bytes at offset %u differ from the fragment's", it->offset);
      held.erase(it);
      found = true;
      break;
    }
    FUZZ_CHECK(found, "an unknown original");
    rte_pktmbuf_free(originals[k]);
  }
}

FUZZ_MODEL void bury(const DeadFragment* dead, uint32_t n, std::vector<Held>& held, std::set<rte_mbuf*>& outstanding) {
  for (uint32_t k = 0; k < n; ++k) {
    FUZZ_CHECK(sentinel::dataplane::is_fragment_cause(dead[k].why), "dead for reason %u",
               static_cast<unsigned>(dead[k].why));
    FUZZ_CHECK(outstanding.erase(dead[k].original) == 1, "dead fragment %p returned twice or never given",
               static_cast<void*>(dead[k].original));
    for (const Held& h : held) {
      if (h.original != dead[k].original) continue;
      const bool beyond = h.offset + h.payload.size() > kMaxDatagramSize;
      // Oversize exactly when the fragment ends past the bound.
      FUZZ_CHECK(beyond == (dead[k].why == DropReason::kFragOversize), "a fragment ending at %zu dead for reason %u",
                 h.offset + h.payload.size(), static_cast<unsigned>(dead[k].why));
    }
    std::erase_if(held, [&](const Held& h) { return h.original == dead[k].original; });
    rte_pktmbuf_free(dead[k].original);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  const std::string prefix = "fuzz_ip_reassembly-" + std::to_string(getpid());
  g_runtime_dir = "/var/run/dpdk/" + prefix;
  std::vector<std::string> args = {(*argv)[0], "--no-huge", "-m", "128", "--no-pci", "--no-shconf", "--no-telemetry",
                                   "--file-prefix", prefix, "--lcores", "0@(0-1)", "--log-level", "lib.eal:error",
                                   "--log-level", "lib.ipfrag:error"};
  std::vector<char*> eal_argv;
  for (std::string& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    std::abort();
  }
  std::atexit(remove_runtime_dir);
  g_pool = rte_pktmbuf_pool_create("fuzz_frames", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  sentinel::config::FragmentsConfig config;
  config.timeout = 1;
  config.max_datagrams = 16;
  config.max_fragments = 64;
  config.max_datagram_size = kMaxDatagramSize;
  g_reassembler = std::make_unique<Reassembler>(config, kTicksPerSecond, static_cast<int>(rte_socket_id()));
  if (g_pool == nullptr) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const unsigned pool_before = rte_mempool_avail_count(g_pool);
  std::set<rte_mbuf*> outstanding;
  std::vector<Held> held;
  DeadFragment dead[Reassembler::kMaxDeadPerExpire];
  uint64_t now = 1;
  // Each op: a byte (bit 0 the direction, bits 1-5 a clock step of 40 ms units, bits 6-7
  // both set: expire instead of adding a fragment), then the fragment's record.
  for (int ops = 0; in.left() != 0 && ops < 256; ++ops) {
    const uint8_t op = in.u8();
    const auto dir = static_cast<Direction>(op & 1);
    now += (op >> 1) & 0x1f ? ((op >> 1) & 0x1f) * 40 : 0;  // up to 1.2 s per step
    if ((op & 0xc0) == 0xc0) {
      uint32_t n_dead = 0;
      g_reassembler->expire(dir, now, dead, n_dead);
      FUZZ_CHECK(n_dead <= Reassembler::kMaxDeadPerExpire, "expire: %u dead", n_dead);
      bury(dead, n_dead, held, outstanding);
      continue;
    }
    bool v6 = false;
    const std::vector<uint8_t> frame = fragment_frame(in, v6);
    PacketInfo pkt{};
    const DropReason why =
        sentinel::dataplane::parser_detail::parse_frame_full(frame.data(), static_cast<uint32_t>(frame.size()),
                                                             static_cast<uint32_t>(frame.size()), pkt);
    if (why != DropReason::kNone || (pkt.flags & sentinel::dataplane::kFlagFragment) == 0) continue;  // not held
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    FUZZ_CHECK(m != nullptr, "frame pool empty: fragments leak");
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
    outstanding.insert(m);
    held.push_back(describe(m, pkt));
    uint32_t n_dead = 0;
    rte_mbuf* whole = g_reassembler->add(dir, m, pkt, static_cast<uint32_t>(frame.size()), now, dead, n_dead);
    FUZZ_CHECK(n_dead <= Reassembler::kMaxDeadPerAdd, "add: %u dead", n_dead);
    bury(dead, n_dead, held, outstanding);
    if (whole != nullptr) check_datagram(whole, held, outstanding);
    FUZZ_CHECK(g_reassembler->held() == outstanding.size(), "held() %u, outstanding %zu", g_reassembler->held(),
               outstanding.size());
  }
  // Give everything up: nothing may stay behind.
  for (const Direction dir : {Direction::kToCore, Direction::kToVendor}) {
    for (;;) {
      uint32_t n_dead = 0;
      g_reassembler->expire(dir, UINT64_MAX / 2, dead, n_dead);
      if (n_dead == 0) break;
      bury(dead, n_dead, held, outstanding);
    }
  }
  FUZZ_CHECK(outstanding.empty() && g_reassembler->held() == 0, "%zu fragments never returned", outstanding.size());
  FUZZ_CHECK(rte_mempool_avail_count(g_pool) == pool_before, "frame pool %u of %u", rte_mempool_avail_count(g_pool),
             pool_before);
  return 0;
}

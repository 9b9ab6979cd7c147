// Communication policy benchmark (prints JSON; asserts nothing about speed).
//
// Policies: 10,000 generated [[allow]] tables (fixed seed) written as a policy file and read
// by the real loader — a quarter IPv6, a tenth opened from the core side, tcp/udp/icmp
// 70/25/5; sources any (40%), one or two /24s (/64s) (55%), or a /16 (/56) minus a "!"
// /24 (/64) (5%); one to three distinct destinations each, /32 (/128) or /24 (/64), a tenth
// of the /24s minus a "!" host; one to four service ports, a tenth with a port range too,
// 3% with a source-port range; ICMP types — and a policy of 1 allow: vendor-opened TCP to
// the whole destination space the 10,000 use. Both enforce, default "alert".
// Traffic: vendor-opened TCP flows, a quarter IPv6. "permitted": each flow drawn from a
// random vendor-opened TCP allow of the 10,000 (source, destination and port inside it), so
// both policies permit every flow; "violating": destinations in 198.18.0.0/15 and
// 2001:db8:ffff::/48, which no allow names, so every flow is a violation (one alert each).
// Three measurements, in one run:
//   classify      PolicyClassifier::classify alone on batches of 32 queries (the worker's
//                 burst): the SYN flows' queries, plus (10,000 only) queries drawn from every
//                 kind of allow (udp, icmp, core-opened); plus load and ACL build times,
//                 ACL rule counts and the EAL heap the contexts take.
//   new_flows     a stream of TCP SYNs (Linux-style options: 74-byte IPv4 / 94-byte IPv6
//                 frames), each opening a new flow, through the real Worker on ring-backed
//                 ports: policy off, 1 allow, 10,000 allows, for both traffics. The flow
//                 table (capacity kSynCapacity) is sized so it never fills; a fresh worker per
//                 run. Frames are copied into mbufs per chunk of 4096 outside the timing
//                 (as a NIC would have written them); the clock runs from the chunk's enqueue
//                 until the worker has sent its last frame. Violation alerts are drained
//                 from the alert ring between chunks (untimed), as the alert writer would.
//   established   64-byte frames (60 without FCS) of 4096 established IPv4 flows, half TCP
//                 (handshake first, 6-byte payloads, sequence numbers moved on and checksums
//                 redone between passes, untimed) and half UDP (18-byte payloads), both
//                 directions: policy off vs 10,000 allows. The decision is cached in the flow
//                 at its first packet, so the policy should cost nothing here.
// EAL: --no-huge (the 2^20-flow table and the 10,000-allow contexts want more than a small
// hugepage reservation), one lcore. Configurations alternate within each repetition
// (rotating the order), so a load change on a shared machine falls on all of them; each
// figure is the median of kRepeats with min and max, and rates and ratios are also given
// from the fastest repetition ("_best": the least disturbed). Compare the ratios of one
// run, not absolute rates across runs.
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"
#include "tests/bench/bench_common.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;
using bench::Figures;
using bench::put16;
using bench::put32;
using Json = nlohmann::ordered_json;

namespace {

constexpr uint32_t kAllowsLarge = 10000;
constexpr uint32_t kSynFlows = 1u << 19;     // SYNs per new-flow run, each opening a flow
constexpr uint32_t kSynCapacity = 1u << 20;  // [flows] capacity of those runs: half used
constexpr uint32_t kChunk = 4096;            // frames handed to the worker at once
constexpr uint32_t kEstFlows = 4096;
constexpr int kEstPasses = 50;               // per repetition, after one untimed pass
constexpr uint32_t kQueries = 65536;
constexpr int kQueryPasses = 16;
constexpr size_t kQueryBatch = 32;
constexpr int kRepeats = 5;
constexpr double kV6Share = 0.25;
constexpr unsigned kEalMemoryMb = 4096;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPshAck = 0x18;

// ---- The generated policy. ----

constexpr uint16_t kTcpServices[] = {22, 23, 80, 102, 443, 502, 1883, 2404, 4840, 7547, 8080, 8443, 8883, 9100, 20000, 44818};
constexpr uint16_t kUdpServices[] = {53, 67, 123, 161, 162, 514, 1812, 1813, 2152, 4789, 5060, 47808};

std::string v4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

std::string fmt(const char* f, unsigned a, unsigned b = 0, unsigned c = 0) {
  char buf[96];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

std::string toml_list(const std::vector<std::string>& items, bool quote) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + (quote ? "\"" + items[i] + "\"" : items[i]);
  return s + "]";
}

struct PolicyStats {
  uint32_t allows = 0, v6 = 0, from_core = 0, tcp = 0, udp = 0, icmp = 0;
  uint32_t negated_src = 0, negated_dst = 0, port_ranges = 0, src_port_ranges = 0;
};

// The policy file of `n` allows (see the top of the file).
std::string generate_policy(uint32_t n, std::mt19937& rng, PolicyStats& st) {
  std::uniform_real_distribution<double> uni(0, 1);
  auto below = [&](uint32_t k) { return static_cast<uint32_t>(rng() % k); };
  uint32_t host_core = 0, net_core = 0, host_core6 = 0, net_core6 = 0;      // destinations, vendor-opened
  uint32_t host_vendor = 0, net_vendor = 0, host_vendor6 = 0, net_vendor6 = 0;  // destinations, core-opened
  std::string t = "[policy]\nmode = \"enforce\"\ndefault = \"alert\"\n";
  for (uint32_t i = 0; i < n; ++i) {
    const bool v6 = uni(rng) < kV6Share;
    const bool vendor = uni(rng) < 0.9;
    const double pr = uni(rng);
    const char* proto = pr < 0.7 ? "tcp" : pr < 0.95 ? "udp" : "icmp";
    st.allows++;
    st.v6 += v6;
    st.from_core += !vendor;
    (pr < 0.7 ? st.tcp : pr < 0.95 ? st.udp : st.icmp)++;
    // The opener's nets.
    std::vector<std::string> src;
    const double sr = uni(rng);
    if (sr >= 0.4 && sr < 0.95) {
      for (uint32_t k = 0, m = 1 + below(2); k < m; ++k) {
        src.push_back(v6 ? fmt(vendor ? "2001:db8:aaaa:%x::/64" : "2001:db8:bbbb:%x::/64", below(0xff00))
                         : vendor ? fmt("10.%u.%u.0/24", below(200), below(256))
                                  : fmt("192.168.%u.0/24", below(256)));
      }
    } else if (sr >= 0.95) {
      const unsigned a = below(vendor ? (v6 ? 0xff : 200) : 0xff), b = below(256);
      if (v6) {
        src.push_back(fmt(vendor ? "2001:db8:aaaa:%02x00::/56" : "2001:db8:bbbb:%02x00::/56", a));
        src.push_back(fmt(vendor ? "!2001:db8:aaaa:%02x%02x::/64" : "!2001:db8:bbbb:%02x%02x::/64", a, b));
      } else if (vendor) {
        src.push_back(fmt("10.%u.0.0/16", a));
        src.push_back(fmt("!10.%u.%u.0/24", a, b));
      } else {
        src.push_back("192.168.0.0/16");
        src.push_back(fmt("!192.168.%u.0/24", b));
      }
      st.negated_src++;
    }
    // The responder's: distinct hosts and networks.
    std::vector<std::string> dst;
    for (uint32_t k = 0, m = 1 + below(3); k < m; ++k) {
      if (uni(rng) < 0.7) {
        if (v6) {
          const uint32_t h = 1 + (vendor ? host_core6++ : host_vendor6++);
          dst.push_back(fmt(vendor ? "2001:db8:cccc::%x:%x/128" : "2001:db8:aaaa:ffff::%x:%x/128", h >> 16, h & 0xffff));
        } else {
          dst.push_back(vendor ? v4_text((172u << 24 | 16u << 16) + 1 + host_core++) + "/32"
                               : v4_text((10u << 24 | 200u << 16) + 1 + host_vendor++) + "/32");
        }
      } else {
        std::string hole;
        if (v6) {
          const uint32_t c = vendor ? net_core6++ : net_vendor6++ % 255;
          dst.push_back(fmt(vendor ? "2001:db8:dddd:%x::/64" : "2001:db8:aaaa:ff%02x::/64", c));
          hole = fmt(vendor ? "!2001:db8:dddd:%x::%x/128" : "!2001:db8:aaaa:ff%02x::%x/128", c, 1 + below(1000));
        } else {
          const uint32_t base = vendor ? (100u << 24 | 64u << 16) + (net_core++ << 8)
                                       : (10u << 24 | 224u << 16) + (net_vendor++ << 8);
          dst.push_back(v4_text(base) + "/24");
          hole = "!" + v4_text(base + 1 + below(254)) + "/32";
        }
        if (uni(rng) < 0.1) {
          dst.push_back(hole);
          st.negated_dst++;
        }
      }
    }
    t += "\n[[allow]]\nname = \"allow " + std::to_string(i) + "\"\nfrom = \"" + (vendor ? "vendor" : "core") +
         "\"\nproto = \"" + proto + "\"\n";
    if (!src.empty()) t += "src_nets = " + toml_list(src, true) + "\n";
    t += "dst_nets = " + toml_list(dst, true) + "\n";
    if (pr < 0.95) {
      const bool tcp = pr < 0.7;
      std::vector<std::string> ports;
      for (uint32_t k = 0, m = 1 + below(4); k < m; ++k) {
        ports.push_back(std::to_string(tcp ? kTcpServices[below(std::size(kTcpServices))]
                                           : kUdpServices[below(std::size(kUdpServices))]));
      }
      if (uni(rng) < 0.1) {
        const unsigned lo = 8000 + below(1000);
        ports.push_back(fmt("\"%u-%u\"", lo, lo + 99));
        st.port_ranges++;
      }
      t += "dst_ports = " + toml_list(ports, false) + "\n";
      if (uni(rng) < 0.03) {
        t += "src_ports = [\"1024-65535\"]\n";
        st.src_port_ranges++;
      }
    } else {
      const double r = uni(rng);
      if (r < 0.5) t += v6 ? "icmp_types = [128]\n" : "icmp_types = [8]\n";
      else if (r < 0.7) t += v6 ? "icmp_types = [128, 129]\n" : "icmp_types = [0, 8]\n";
    }
  }
  return t;
}

const char* kOneAllowPolicy =
    "[policy]\nmode = \"enforce\"\ndefault = \"alert\"\n\n"
    "[[allow]]\nname = \"vendor tcp to the core\"\nfrom = \"vendor\"\nproto = \"tcp\"\n"
    "dst_nets = [\"172.16.0.0/12\", \"100.64.0.0/10\", \"2001:db8:cccc::/48\", \"2001:db8:dddd::/48\"]\n";

// ---- Flows drawn from the policy. ----

// One flow as its opener sent its first packet.
struct Tuple {
  bool v6 = false;
  bool from_vendor = true;
  uint8_t proto = kProtoTcp;
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;
};

config::Cidr cidr(const char* text) {
  std::string why;
  return *config::parse_cidr(text, why);
}

std::array<uint8_t, 16> random_in(const config::Cidr& c, std::mt19937& rng) {
  std::array<uint8_t, 16> a = c.addr;
  const unsigned bits = c.v6 ? 128 : 32;
  for (unsigned b = c.prefix_len; b < bits; ++b) {
    if (rng() & 1) a[b / 8] ^= static_cast<uint8_t>(0x80 >> (b % 8));
  }
  return a;
}

// An address of `nets` in the family, outside its "!" entries; `any` when it has no include.
std::array<uint8_t, 16> pick_address(const rules::NetSet& nets, bool v6, const config::Cidr& any, std::mt19937& rng) {
  std::vector<const config::Cidr*> in;
  for (const config::Cidr& c : nets.include) {
    if (c.v6 == v6) in.push_back(&c);
  }
  for (;;) {
    const std::array<uint8_t, 16> a = random_in(in.empty() ? any : *in[rng() % in.size()], rng);
    bool out = false;
    for (const config::Cidr& e : nets.exclude) out = out || e.contains(v6, a.data());
    if (!out) return a;
  }
}

uint16_t pick_port(const std::vector<rules::PortRange>& ranges, uint16_t lo, uint16_t hi, std::mt19937& rng) {
  if (!ranges.empty()) {
    const rules::PortRange& r = ranges[rng() % ranges.size()];
    lo = r.lo;
    hi = r.hi;
  }
  return static_cast<uint16_t>(lo + rng() % (uint32_t{hi} - lo + 1));
}

// A flow `allow` permits.
Tuple tuple_of(const rules::Allow& allow, std::mt19937& rng) {
  Tuple t;
  t.v6 = allow.dst_nets.include.front().v6;  // every generated allow lists destinations of one family
  t.from_vendor = allow.from_vendor;
  static const config::Cidr kVendor4 = cidr("10.0.0.0/9"), kVendor6 = cidr("2001:db8:aaaa::/48");
  static const config::Cidr kCore4 = cidr("192.168.0.0/16"), kCore6 = cidr("2001:db8:bbbb::/48");
  const config::Cidr& any = allow.from_vendor ? (t.v6 ? kVendor6 : kVendor4) : (t.v6 ? kCore6 : kCore4);
  t.src = pick_address(allow.src_nets, t.v6, any, rng);
  t.dst = pick_address(allow.dst_nets, t.v6, any, rng);
  switch (allow.proto) {
    case rules::Proto::kTcp:
    case rules::Proto::kUdp:
      t.proto = allow.proto == rules::Proto::kTcp ? kProtoTcp : kProtoUdp;
      t.sport = pick_port(allow.src_ports, 1024, 65535, rng);
      t.dport = pick_port(allow.dst_ports, 1, 65535, rng);
      break;
    case rules::Proto::kIcmp:
      t.proto = t.v6 ? kProtoIcmpv6 : kProtoIcmp;
      t.dport = allow.icmp_types.empty() ? (t.v6 ? 128 : 8) : allow.icmp_types[rng() % allow.icmp_types.size()];
      break;
    case rules::Proto::kIp:
      t.proto = kProtoUdp;
      t.sport = 40000;
      t.dport = 40000;
      break;
  }
  return t;
}

// A vendor-opened TCP flow to an address no allow names.
Tuple violating_tuple(std::mt19937& rng) {
  static const config::Cidr kSrc4 = cidr("10.0.0.0/9"), kSrc6 = cidr("2001:db8:aaaa::/48");
  static const config::Cidr kDst4 = cidr("198.18.0.0/15"), kDst6 = cidr("2001:db8:ffff::/48");
  Tuple t;
  t.v6 = std::uniform_real_distribution<double>(0, 1)(rng) < kV6Share;
  t.src = random_in(t.v6 ? kSrc6 : kSrc4, rng);
  t.dst = random_in(t.v6 ? kDst6 : kDst4, rng);
  t.sport = static_cast<uint16_t>(1024 + rng() % 64512);
  t.dport = kTcpServices[rng() % std::size(kTcpServices)];
  return t;
}

// `n` distinct flows from `draw`.
template <typename Draw>
std::vector<Tuple> distinct_tuples(size_t n, Draw&& draw) {
  std::vector<Tuple> out;
  std::unordered_set<std::string> seen;
  out.reserve(n);
  while (out.size() < n) {
    const Tuple t = draw();
    std::string key(reinterpret_cast<const char*>(t.src.data()), t.src.size());
    key.append(reinterpret_cast<const char*>(t.dst.data()), t.dst.size());
    for (const unsigned v : {unsigned{t.v6}, unsigned{t.from_vendor}, unsigned{t.proto}, unsigned{t.sport}, unsigned{t.dport}}) {
      key += std::to_string(v) + ",";
    }
    if (seen.insert(std::move(key)).second) out.push_back(t);
  }
  return out;
}

rules::PolicyQuery query_of(const Tuple& t) {
  rules::PolicyQuery q;
  q.src = t.src;
  q.dst = t.dst;
  q.src_port = t.sport;
  q.dst_port = t.dport;
  q.ip_proto = t.proto;
  q.v6 = t.v6;
  q.from_vendor = t.from_vendor;
  return q;
}

// ---- Frames. ----

// MSS 1460, SACK permitted, timestamps, NOP, window scale 7: a Linux SYN's 20 option bytes.
constexpr uint8_t kSynOptions[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
constexpr uint16_t kMinFrame = 60;  // 64 on the wire with the FCS
constexpr size_t kFrameStride = 128;

// Writes one packet of `t` (opener → responder, or back when `reverse`) into `f` with valid
// checksums; returns the frame's length (padded to 60 bytes).
uint16_t write_frame(uint8_t* f, const Tuple& t, bool reverse, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint16_t payload) {
  const bool tcp = t.proto == kProtoTcp;
  const bool syn = tcp && (flags & kSyn) != 0;
  const uint16_t l4_len = static_cast<uint16_t>((tcp ? 20 + (syn ? 20 : 0) : 8) + payload);
  const uint16_t l3_len = t.v6 ? 40 : 20;
  const uint16_t len = static_cast<uint16_t>(14 + l3_len + l4_len);
  std::memset(f, 0, std::max(len, kMinFrame));
  const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 1}, mac_b[6] = {2, 0, 0, 0, 0, 2};
  std::memcpy(f, reverse ? mac_a : mac_b, 6);
  std::memcpy(f + 6, reverse ? mac_b : mac_a, 6);
  const uint8_t* src = reverse ? t.dst.data() : t.src.data();
  const uint8_t* dst = reverse ? t.src.data() : t.dst.data();
  uint8_t* l3 = f + 14;
  uint8_t* l4 = l3 + l3_len;
  if (t.v6) {
    put16(f + 12, 0x86dd);
    put32(l3, 0x60000000);
    put16(l3 + 4, l4_len);
    l3[6] = t.proto;
    l3[7] = 64;
    std::memcpy(l3 + 8, src, 16);
    std::memcpy(l3 + 24, dst, 16);
  } else {
    put16(f + 12, 0x0800);
    l3[0] = 0x45;
    put16(l3 + 2, static_cast<uint16_t>(l3_len + l4_len));
    put16(l3 + 6, 0x4000);  // DF
    l3[8] = 64;
    l3[9] = t.proto;
    std::memcpy(l3 + 12, src, 4);
    std::memcpy(l3 + 16, dst, 4);
  }
  put16(l4, reverse ? t.dport : t.sport);
  put16(l4 + 2, reverse ? t.sport : t.dport);
  if (tcp) {
    put32(l4 + 4, seq);
    put32(l4 + 8, ack);
    l4[12] = static_cast<uint8_t>(((syn ? 40 : 20) / 4) << 4);
    l4[13] = flags;
    put16(l4 + 14, 64240);
    if (syn) std::memcpy(l4 + 20, kSynOptions, sizeof kSynOptions);
    std::memset(l4 + l4_len - payload, 't', payload);
  } else {
    put16(l4 + 4, l4_len);
    std::memset(l4 + 8, 'u', payload);
  }
  const size_t ck_at = tcp ? 16 : 6;
  uint16_t ck = 0;
  if (t.v6) {
    ck = rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(l3), l4);
  } else {
    const uint16_t ip_ck = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(l3));
    std::memcpy(l3 + 10, &ip_ck, 2);
    ck = rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(l3), l4);
  }
  std::memcpy(l4 + ck_at, &ck, 2);
  return std::max(len, kMinFrame);
}

// Frames built once, copied into mbufs when sent.
struct FrameStore {
  std::vector<uint8_t> bytes;
  std::vector<uint16_t> len;
  [[nodiscard]] size_t size() const { return len.size(); }
  [[nodiscard]] const uint8_t* frame(size_t i) const { return bytes.data() + i * kFrameStride; }
};

FrameStore syn_frames(const std::vector<Tuple>& flows) {
  FrameStore s;
  s.bytes.resize(flows.size() * kFrameStride);
  s.len.resize(flows.size());
  for (size_t i = 0; i < flows.size(); ++i) {
    s.len[i] = write_frame(s.bytes.data() + i * kFrameStride, flows[i], false, kSyn, 1000 + static_cast<uint32_t>(i), 0, 0);
  }
  return s;
}

rte_mbuf* mbuf_of(rte_mempool* pool, const uint8_t* frame, uint16_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  std::memcpy(rte_pktmbuf_append(m, len), frame, len);
  return m;
}

// ---- Running a worker. ----

struct Case {
  const char* name;
  const rules::Policy* policy;
  const rules::PolicyClassifier* classifier;
};

struct Bench {
  rte_mempool* pool;
  bench::RingPort vendor;
  bench::RingPort core;
  uint32_t next_worker_id = 0;

  Worker make_worker(const config::Config& cfg, const Case& c) {
    return Worker(worker_setup(cfg, vendor.id, core.id, 0, {nullptr, c.policy, c.classifier}), next_worker_id++);
  }
};

// Hands the worker `n` frames on the vendor port (and `n_core` on the core port) and polls
// until it has taken them all; returns the seconds that took.
double feed(Worker& w, const bench::RingPort& vendor, rte_mbuf** frames, unsigned n, const bench::RingPort& core,
            rte_mbuf** core_frames, unsigned n_core) {
  const auto t0 = std::chrono::steady_clock::now();
  if (n != 0) (void)rte_ring_enqueue_bulk(vendor.rx, reinterpret_cast<void**>(frames), n, nullptr);
  if (n_core != 0) (void)rte_ring_enqueue_bulk(core.rx, reinterpret_cast<void**>(core_frames), n_core, nullptr);
  while (rte_ring_count(vendor.rx) != 0 || rte_ring_count(core.rx) != 0) (void)w.poll_once();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Takes what the worker sent on both ports, freeing it when `free_them`; returns the count.
unsigned collect(const Bench& b, bool free_them) {
  static void* out[bench::kRingSize];
  unsigned total = 0;
  for (rte_ring* r : {b.vendor.tx, b.core.tx}) {
    const unsigned k = rte_ring_dequeue_burst(r, out, bench::kRingSize, nullptr);
    if (free_them) rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(out), k);
    total += k;
  }
  return total;
}

struct RunCounters {
  uint64_t forwarded = 0, dropped = 0, flows_created = 0, table_full = 0;
  uint64_t allowed = 0, violations = 0, alerts = 0, alerts_dropped = 0;
};

RunCounters counters_of(const Worker& w) {
  const WorkerCounters& c = w.counters();
  RunCounters r;
  for (const DirectionCounters& d : c.dir) {
    r.forwarded += d.forwarded.get();
    r.dropped += d.dropped.get();
  }
  r.flows_created = c.flows.created.get();
  r.table_full = c.flows.table_full.get();
  r.allowed = c.policy.allowed.get();
  r.violations = c.policy.violations.get();
  r.alerts = bench::alerts_generated(c);
  r.alerts_dropped = c.inspect.alerts_dropped.get();
  return r;
}

Json counters_json(const RunCounters& r) {
  return Json{{"forwarded", r.forwarded}, {"dropped", r.dropped},       {"flows_created", r.flows_created},
              {"table_full", r.table_full}, {"policy_allowed", r.allowed}, {"policy_violations", r.violations},
              {"alerts", r.alerts},       {"alerts_dropped", r.alerts_dropped}};
}

// Every SYN of `frames` through a fresh worker; returns the seconds and its counters.
double run_syns(Bench& b, const config::Config& cfg, const Case& c, const FrameStore& frames, RunCounters& rc) {
  Worker w = b.make_worker(cfg, c);
  std::vector<rte_mbuf*> m(kChunk);
  double secs = 0;
  for (size_t at = 0; at < frames.size(); at += kChunk) {
    const auto n = static_cast<unsigned>(std::min<size_t>(kChunk, frames.size() - at));
    if (rte_pktmbuf_alloc_bulk(b.pool, m.data(), n) != 0) {
      std::fprintf(stderr, "policy_bench: mbuf pool exhausted\n");
      std::exit(1);
    }
    for (unsigned i = 0; i < n; ++i) {
      std::memcpy(rte_pktmbuf_append(m[i], frames.len[at + i]), frames.frame(at + i), frames.len[at + i]);
    }
    secs += feed(w, b.vendor, m.data(), n, b.core, nullptr, 0);
    (void)collect(b, true);
    bench::drain_alerts(w);
  }
  rc = counters_of(w);
  return secs;
}

// Established flows: the frames of each direction, built once and reused every pass.
struct Established {
  std::vector<Tuple> flows;
  std::vector<rte_mbuf*> fwd;  // opener → responder
  std::vector<rte_mbuf*> rev;
};

uint32_t isn(size_t flow, bool responder) { return (responder ? 0x50000000u : 0x10000000u) + static_cast<uint32_t>(flow) * 7919u; }

// Moves the TCP frames' sequence numbers on to `pass` and redoes their checksums.
void set_pass(Established& e, int pass) {
  constexpr uint32_t kPayload = 6;
  for (size_t i = 0; i < e.flows.size(); ++i) {
    if (e.flows[i].proto != kProtoTcp) continue;
    const uint32_t a = isn(i, false) + 1 + kPayload * static_cast<uint32_t>(pass);
    const uint32_t r = isn(i, true) + 1 + kPayload * static_cast<uint32_t>(pass);
    for (auto [m, seq, ack] : {std::tuple{e.fwd[i], a, r}, std::tuple{e.rev[i], r, a + kPayload}}) {
      uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, 14);
      uint8_t* tcp = ip + 20;
      put32(tcp + 4, seq);
      put32(tcp + 8, ack);
      put16(tcp + 16, 0);
      const uint16_t ck = rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), tcp);
      std::memcpy(tcp + 16, &ck, 2);
    }
  }
}

// Opens every TCP flow of `e` with a handshake through the worker (untimed).
void handshake(Bench& b, Worker& w, const Established& e) {
  std::vector<uint8_t> buf(kFrameStride);
  for (int step = 0; step < 3; ++step) {
    std::vector<rte_mbuf*> m;
    for (size_t i = 0; i < e.flows.size(); ++i) {
      const Tuple& t = e.flows[i];
      if (t.proto != kProtoTcp) continue;
      const uint32_t a = isn(i, false), r = isn(i, true);
      const uint16_t len = step == 0   ? write_frame(buf.data(), t, false, kSyn, a, 0, 0)
                           : step == 1 ? write_frame(buf.data(), t, true, kSyn | kAck, r, a + 1, 0)
                                       : write_frame(buf.data(), t, false, kAck, a + 1, r + 1, 0);
      m.push_back(mbuf_of(b.pool, buf.data(), len));
    }
    if (step == 1) {
      (void)feed(w, b.vendor, nullptr, 0, b.core, m.data(), static_cast<unsigned>(m.size()));
    } else {
      (void)feed(w, b.vendor, m.data(), static_cast<unsigned>(m.size()), b.core, nullptr, 0);
    }
    (void)collect(b, true);
  }
}

// kEstPasses passes of every established frame (after the handshake and one untimed pass).
double run_established(Bench& b, const config::Config& cfg, const Case& c, Established& e, RunCounters& rc) {
  Worker w = b.make_worker(cfg, c);
  handshake(b, w, e);
  const auto n = static_cast<unsigned>(e.flows.size());
  double secs = 0;
  for (int p = 0; p <= kEstPasses; ++p) {
    set_pass(e, p);
    const double t = feed(w, b.vendor, e.fwd.data(), n, b.core, e.rev.data(), n);
    if (p > 0) secs += t;
    if (collect(b, false) != 2 * n) {
      std::fprintf(stderr, "policy_bench: the worker did not forward every established frame\n");
      std::exit(1);
    }
    bench::drain_alerts(w);
  }
  rc = counters_of(w);
  return secs;
}

// ---- Output helpers. ----

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

// The median's rate and time per item, and the same from the fastest repetition ("best":
// the least disturbed by other load on a shared machine).
Json figures_json(const Figures& f, double items, const std::string& rate_key, double rate_scale) {
  const double med = f.median();
  return Json{{"seconds_median", round_to(med, 6)},
              {"seconds_min", round_to(f.min(), 6)},
              {"seconds_max", round_to(f.max(), 6)},
              {rate_key, round_to(items / med / rate_scale, 3)},
              {rate_key + "_best", round_to(items / f.min() / rate_scale, 3)},
              {"ns_per_item", round_to(med / items * 1e9, 1)},
              {"ns_per_item_best", round_to(f.min() / items * 1e9, 1)}};
}

// a / b of a figure of two blocks, from the medians and from the best repetitions.
void add_ratio(Json& to, const std::string& name, const Json& a, const Json& b, const std::string& key) {
  to[name] = round_to(a[key].get<double>() / b[key].get<double>(), 3);
  to[name + "_best"] = round_to(a[key + "_best"].get<double>() / b[key + "_best"].get<double>(), 3);
}

// Bytes allocated from the EAL heap, all sockets (rte_acl keeps its contexts there).
uint64_t eal_heap_bytes() {
  uint64_t n = 0;
  for (unsigned i = 0; i < rte_socket_count(); ++i) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0) n += st.heap_allocsz_bytes;
  }
  return n;
}

double loadavg() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return v;
}

// Everything between the EAL's start and stop, so the classifiers, ports and mbufs are gone
// before rte_eal_cleanup.
void run() {
  install_stream_allocator();
  Json out;
  out["machine"] = Json{{"cpus", std::thread::hardware_concurrency()},
                        {"loadavg_1m_start", loadavg()},
                        {"eal", "--no-huge -m " + std::to_string(kEalMemoryMb) + ", one lcore"}};

  // ---- Policies. ----
  std::mt19937 rng(20240605);
  PolicyStats stats;
  const std::string large_text = generate_policy(kAllowsLarge, rng, stats);
  auto t0 = std::chrono::steady_clock::now();
  const std::optional<rules::Policy> large = rules::load_policy_texts({{"bench-10000.toml", large_text}});
  const double load_large = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::optional<rules::Policy> one = rules::load_policy_texts({{"bench-1.toml", kOneAllowPolicy}});
  uint64_t heap0 = eal_heap_bytes();
  t0 = std::chrono::steady_clock::now();
  const rules::PolicyClassifier cls_large(*large, "bench_large");
  const double build_large = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t heap_large = eal_heap_bytes() - heap0;
  heap0 = eal_heap_bytes();
  t0 = std::chrono::steady_clock::now();
  const rules::PolicyClassifier cls_one(*one, "bench_one");
  const double build_one = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t heap_one = eal_heap_bytes() - heap0;
  out["policies"] = Json{
      {"allows_10000",
       {{"allows", large->allows.size()},
        {"file_bytes", large_text.size()},
        {"ipv6", stats.v6},
        {"from_core", stats.from_core},
        {"tcp", stats.tcp},
        {"udp", stats.udp},
        {"icmp", stats.icmp},
        {"negated_src", stats.negated_src},
        {"negated_dst", stats.negated_dst},
        {"dst_port_ranges", stats.port_ranges},
        {"src_port_ranges", stats.src_port_ranges},
        {"acl_rules_v4", cls_large.acl_rules_v4()},
        {"acl_rules_v6", cls_large.acl_rules_v6()},
        {"load_ms", round_to(load_large * 1e3, 1)},
        {"acl_build_ms", round_to(build_large * 1e3, 1)},
        {"acl_heap_bytes", heap_large}}},
      {"allows_1",
       {{"allows", one->allows.size()},
        {"acl_rules_v4", cls_one.acl_rules_v4()},
        {"acl_rules_v6", cls_one.acl_rules_v6()},
        {"acl_build_ms", round_to(build_one * 1e3, 3)},
        {"acl_heap_bytes", heap_one}}}};

  // ---- Flows. ----
  std::vector<const rules::Allow*> vendor_tcp, vendor_tcp4, vendor_udp4;
  for (const rules::Allow& a : large->allows) {
    const bool v6 = a.dst_nets.include.front().v6;
    if (!a.from_vendor) continue;
    if (a.proto == rules::Proto::kTcp) vendor_tcp.push_back(&a);
    if (a.proto == rules::Proto::kTcp && !v6) vendor_tcp4.push_back(&a);
    if (a.proto == rules::Proto::kUdp && !v6) vendor_udp4.push_back(&a);
  }
  const std::vector<Tuple> permitted =
      distinct_tuples(kSynFlows, [&] { return tuple_of(*vendor_tcp[rng() % vendor_tcp.size()], rng); });
  const std::vector<Tuple> violating = distinct_tuples(kSynFlows, [&] { return violating_tuple(rng); });
  size_t k_est = 0;
  Established est;
  est.flows = distinct_tuples(kEstFlows, [&] {
    const auto& from = k_est++ % 2 == 0 ? vendor_tcp4 : vendor_udp4;
    return tuple_of(*from[rng() % from.size()], rng);
  });
  const std::vector<Tuple> mixed =
      distinct_tuples(kQueries, [&] { return tuple_of(large->allows[rng() % large->allows.size()], rng); });
  size_t permitted_v6 = 0;
  for (const Tuple& t : permitted) permitted_v6 += t.v6;

  // ---- 1. Classification alone. ----
  auto queries_of = [](const std::vector<Tuple>& flows) {
    std::vector<rules::PolicyQuery> q;
    for (size_t i = 0; i < kQueries && i < flows.size(); ++i) q.push_back(query_of(flows[i]));
    return q;
  };
  const std::vector<rules::PolicyQuery> q_permitted = queries_of(permitted);
  const std::vector<rules::PolicyQuery> q_violating = queries_of(violating);
  const std::vector<rules::PolicyQuery> q_mixed = queries_of(mixed);
  struct ClassifyCase {
    const char* name;
    const rules::PolicyClassifier* cls;
    const std::vector<rules::PolicyQuery>* queries;
    Figures fig;
    size_t matched = 0;
  };
  std::vector<ClassifyCase> ccases = {{"allows_1_permitted", &cls_one, &q_permitted, {}, 0},
                                      {"allows_1_violating", &cls_one, &q_violating, {}, 0},
                                      {"allows_10000_permitted", &cls_large, &q_permitted, {}, 0},
                                      {"allows_10000_violating", &cls_large, &q_violating, {}, 0},
                                      {"allows_10000_mixed_kinds", &cls_large, &q_mixed, {}, 0}};
  std::vector<uint32_t> result(kQueries);
  for (int r = -1; r < kRepeats; ++r) {  // r = -1 warms up
    for (size_t k = 0; k < ccases.size(); ++k) {
      ClassifyCase& cc = ccases[(k + static_cast<size_t>(r + 1)) % ccases.size()];
      const std::vector<rules::PolicyQuery>& q = *cc.queries;
      const auto c0 = std::chrono::steady_clock::now();
      for (int p = 0; p < kQueryPasses; ++p) {
        for (size_t i = 0; i < q.size(); i += kQueryBatch) {
          const size_t n = std::min(kQueryBatch, q.size() - i);
          cc.cls->classify({q.data() + i, n}, {result.data() + i, n});
        }
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      if (r < 0) {
        cc.matched = 0;
        for (size_t i = 0; i < q.size(); ++i) cc.matched += result[i] != rules::PolicyClassifier::kNoAllow;
      } else {
        cc.fig.seconds.push_back(secs);
      }
    }
  }
  Json classify{{"batch", kQueryBatch}, {"queries", kQueries}, {"passes", kQueryPasses}, {"repeats", kRepeats}};
  for (const ClassifyCase& cc : ccases) {
    Json j = figures_json(cc.fig, static_cast<double>(cc.queries->size()) * kQueryPasses, "mqueries_per_s", 1e6);
    j["matched"] = cc.matched;
    classify[cc.name] = j;
  }
  add_ratio(classify, "ratio_ns_10000_vs_1_permitted", classify["allows_10000_permitted"], classify["allows_1_permitted"],
            "ns_per_item");
  add_ratio(classify, "ratio_ns_10000_vs_1_violating", classify["allows_10000_violating"], classify["allows_1_violating"],
            "ns_per_item");
  out["classify"] = classify;

  // ---- The worker. ----
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  Bench b{pool, bench::make_ring_port("vendor", pool), bench::make_ring_port("core", pool)};
  const Case cases[] = {{"off", nullptr, nullptr}, {"allows_1", &*one, &cls_one}, {"allows_10000", &*large, &cls_large}};

  // ---- 2. New flows. ----
  config::Config syn_cfg;
  syn_cfg.flows.capacity = kSynCapacity;
  syn_cfg.dataplane.burst_size = 32;
  const FrameStore syn_permitted = syn_frames(permitted);
  const FrameStore syn_violating = syn_frames(violating);
  struct SynCell {
    Figures fig;
    RunCounters rc;
  };
  SynCell syn[2][3];  // [traffic][case]
  {
    RunCounters ignored;
    (void)run_syns(b, syn_cfg, cases[0], syn_permitted, ignored);  // warm-up: pages, caches
  }
  for (int r = 0; r < kRepeats; ++r) {
    for (int k = 0; k < 6; ++k) {
      const int idx = (k + r) % 6;
      const int traffic = idx / 3, c = idx % 3;
      SynCell& cell = syn[traffic][c];
      cell.fig.seconds.push_back(run_syns(b, syn_cfg, cases[c], traffic == 0 ? syn_permitted : syn_violating, cell.rc));
    }
  }
  Json new_flows{{"syns_per_run", kSynFlows},
                 {"flow_capacity", kSynCapacity},
                 {"ipv6_share", round_to(static_cast<double>(permitted_v6) / kSynFlows, 3)},
                 {"frame_bytes", {{"ipv4", 74}, {"ipv6", 94}}},
                 {"chunk", kChunk},
                 {"repeats", kRepeats}};
  const char* traffic_names[] = {"permitted", "violating"};
  for (int tr = 0; tr < 2; ++tr) {
    Json t;
    for (int c = 0; c < 3; ++c) {
      Json j = figures_json(syn[tr][c].fig, kSynFlows, "mpps", 1e6);
      j["counters"] = counters_json(syn[tr][c].rc);
      t[cases[c].name] = j;
    }
    const Json off = t["off"], a1 = t["allows_1"], a10k = t["allows_10000"];
    add_ratio(t, "ratio_mpps_10000_vs_1", a10k, a1, "mpps");
    add_ratio(t, "ratio_mpps_1_vs_off", a1, off, "mpps");
    add_ratio(t, "ratio_mpps_10000_vs_off", a10k, off, "mpps");
    // What the policy stage adds per SYN: the difference in time per frame from policy off.
    for (const auto& [name, j] : {std::pair{"1", &a1}, std::pair{"10000", &a10k}}) {
      for (const auto& [suffix, key] : {std::pair{"", "ns_per_item"}, std::pair{"_best", "ns_per_item_best"}}) {
        t[std::string("policy_ns_per_syn_") + name + suffix] = round_to((*j)[key].get<double>() - off[key].get<double>(), 1);
      }
    }
    new_flows[traffic_names[tr]] = t;
  }
  out["new_flows"] = new_flows;

  // ---- 3. Established flows. ----
  config::Config est_cfg;  // the shipped [flows] defaults
  est_cfg.dataplane.burst_size = 32;
  std::vector<uint8_t> buf(kFrameStride);
  for (size_t i = 0; i < est.flows.size(); ++i) {
    const Tuple& t = est.flows[i];
    const bool tcp = t.proto == kProtoTcp;
    const uint16_t payload = tcp ? 6 : 18;
    est.fwd.push_back(mbuf_of(pool, buf.data(), write_frame(buf.data(), t, false, kPshAck, 0, 0, payload)));
    est.rev.push_back(mbuf_of(pool, buf.data(), write_frame(buf.data(), t, true, kPshAck, 0, 0, payload)));
  }
  const Case est_cases[] = {cases[0], cases[2]};
  SynCell estab[2];
  {
    RunCounters ignored;
    (void)run_established(b, est_cfg, est_cases[0], est, ignored);  // warm-up
  }
  for (int r = 0; r < kRepeats; ++r) {
    for (int k = 0; k < 2; ++k) {
      const int c = (k + r) % 2;
      estab[c].fig.seconds.push_back(run_established(b, est_cfg, est_cases[c], est, estab[c].rc));
    }
  }
  const double est_frames = 2.0 * kEstFlows * kEstPasses;
  Json established{{"flows", kEstFlows},
                   {"tcp_flows", kEstFlows / 2},
                   {"udp_flows", kEstFlows / 2},
                   {"frame_bytes", kMinFrame},
                   {"wire_bytes", kMinFrame + 4},
                   {"frames_per_pass", 2 * kEstFlows},
                   {"passes", kEstPasses},
                   {"flow_capacity", est_cfg.flows.capacity},
                   {"repeats", kRepeats}};
  for (int c = 0; c < 2; ++c) {
    Json j = figures_json(estab[c].fig, est_frames, "mpps", 1e6);
    j["counters"] = counters_json(estab[c].rc);
    established[est_cases[c].name] = j;
  }
  add_ratio(established, "ratio_mpps_10000_vs_off", established["allows_10000"], established["off"], "mpps");
  out["established"] = established;
  out["machine"]["loadavg_1m_end"] = loadavg();

  std::printf("%s\n", out.dump(2).c_str());
  std::fflush(stdout);
  for (rte_mbuf* m : est.fwd) rte_pktmbuf_free(m);
  for (rte_mbuf* m : est.rev) rte_pktmbuf_free(m);
}

}  // namespace

int main() {
  if (!bench::start_eal("policy_bench", "bench-policy", kEalMemoryMb)) return 1;
  run();
  bench::stop_eal();
  return 0;
}

// The worker's inspection and verdict stages through the real Worker: frames go in on
// ring-backed ports, and what comes out of each port, the drop reasons counted and the
// alert records queued are compared with a table of cases (CONVENTIONS.md #11). Covers
// verdict precedence (pass > drop > reject > alert), flow blocking in both directions,
// reject frames (TCP RST both ways, ICMP port unreachable), rule constraints and the
// bad-checksum policy; then the communication policy stage: allowed flows and their
// replies (IPv4, IPv6), default alert/drop/reject/allow, from = "core", mid-stream TCP,
// ICMP errors that follow the flow they quote, neighbour discovery, non-IP frames against
// [policy.l2], anti-spoofing on the vendor port, the ways around the policy that must stay
// shut (IP fragments, ICMP errors sent elsewhere, the ND exemption, a full flow table,
// malformed frames a [failure] policy passes), learn mode (its table, and the learned file
// replayed in enforce mode), per-allow hit counts and bursts of new flows classified
// together; then the [[filter]] stage: alert/drop/pass, direction, evaluation order, pass
// skipping policy and signatures while the stream still follows, non-IP frames, the per-
// filter alert limit and its suppressed count. Brings up its own EAL (--no-huge, unique
// file prefix).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/checksum.hpp"
#include "dataplane/ports.hpp"
#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "rules/compiler.hpp"
#include "rules/filter.hpp"
#include "rules/loader.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"
#include "rules/policy_learn.hpp"
#include "tests/unit/eal_main.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;

namespace {

rte_mempool* g_pool = nullptr;

struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t port = 0;
};
RingPort g_vendor, g_core;

RingPort make_port(const std::string& name) {
  RingPort p;
  p.rx = rte_ring_create((name + "_rx").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "_tx").c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.port = static_cast<uint16_t>(rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY));
  (void)start_port(name, p.port, {1, 1024, 1024}, g_pool);
  return p;
}

using Addr = std::array<uint8_t, 16>;  // network byte order; IPv4 in the first 4 bytes
using Mac = std::array<uint8_t, 6>;

Addr ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return Addr{a, b, c, d}; }
Addr ip6(const char* text) {
  Addr a{};
  if (inet_pton(AF_INET6, text, a.data()) != 1) throw std::invalid_argument(text);
  return a;
}
std::string addr_text(const Addr& a, bool v6) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof buf);
  return buf;
}

// Addresses: the vendor box 10.0.0.2, a core host 192.168.1.5.
constexpr uint8_t kVendorIp[4] = {10, 0, 0, 2};
constexpr uint8_t kCoreIp[4] = {192, 168, 1, 5};
constexpr Mac kVendorMac = {2, 0, 0, 0, 0, 2};
constexpr Mac kCoreMac = {2, 0, 0, 0, 0, 1};

void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// One IPv4/IPv6 frame: TCP, UDP, ICMP or ICMPv6 (8-byte header: type, code, checksum and
// `icmp_rest`, then the payload), with correct checksums unless `bad_checksum`.
struct Ip {
  bool from_vendor = true;  // arrives on the vendor port (MACs vendor → core), else the core port
  bool v6 = false;
  Addr src{};
  Addr dst{};
  uint8_t proto = 6;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t flags = 0x18;  // TCP flags
  uint32_t seq = 1;
  uint32_t ack = 1;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint32_t icmp_rest = 0;  // ICMP bytes 4-7: identifier/sequence, next-hop MTU, ...
  std::vector<uint8_t> payload;
  bool bad_checksum = false;
};

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> ip_frame(const Ip& k) {
  const uint32_t l3 = k.v6 ? 40 : 20;
  const uint32_t l4_len = (k.proto == 6 ? 20 : 8) + static_cast<uint32_t>(k.payload.size());
  std::vector<uint8_t> f(14 + l3 + l4_len, 0);
  std::memcpy(f.data(), (k.from_vendor ? kCoreMac : kVendorMac).data(), 6);
  std::memcpy(f.data() + 6, (k.from_vendor ? kVendorMac : kCoreMac).data(), 6);
  put16(f.data() + 12, k.v6 ? 0x86dd : 0x0800);
  uint8_t* ip = f.data() + 14;
  if (k.v6) {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<uint16_t>(l4_len));
    ip[6] = k.proto;
    ip[7] = k.proto == 58 ? 255 : 64;
    std::memcpy(ip + 8, k.src.data(), 16);
    std::memcpy(ip + 24, k.dst.data(), 16);
  } else {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(20 + l4_len));
    ip[8] = 64;
    ip[9] = k.proto;
    std::memcpy(ip + 12, k.src.data(), 4);
    std::memcpy(ip + 16, k.dst.data(), 4);
    const uint16_t ipc = internet_checksum(ip, 20);
    std::memcpy(ip + 10, &ipc, 2);
  }
  uint8_t* t = ip + l3;
  size_t ck_at = 2;  // ICMP, ICMPv6
  if (k.proto == 6) {
    put16(t, k.sport);
    put16(t + 2, k.dport);
    put32(t + 4, k.seq);
    put32(t + 8, k.ack);
    t[12] = 5 << 4;
    t[13] = k.flags;
    put16(t + 14, 65535);
    ck_at = 16;
  } else if (k.proto == 17) {
    put16(t, k.sport);
    put16(t + 2, k.dport);
    put16(t + 4, static_cast<uint16_t>(l4_len));
    ck_at = 6;
  } else {
    t[0] = k.icmp_type;
    t[1] = k.icmp_code;
    put32(t + 4, k.icmp_rest);
  }
  std::copy(k.payload.begin(), k.payload.end(), t + (k.proto == 6 ? 20 : 8));
  uint16_t c = k.proto == 1 ? internet_checksum(t, l4_len)
                            : l4_checksum(k.src.data(), k.dst.data(), k.v6, k.proto, t, l4_len);
  if (k.bad_checksum) c ^= 0x5a5a;
  std::memcpy(t + ck_at, &c, 2);
  return f;
}

// A non-IP frame, padded to the Ethernet minimum.
std::vector<uint8_t> l2_frame(const Mac& src, const Mac& dst, uint16_t ethertype, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> f(std::max<size_t>(14 + body.size(), 60), 0);
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  put16(f.data() + 12, ethertype);
  if (!body.empty()) std::memcpy(f.data() + 14, body.data(), body.size());
  return f;
}

constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Mac kLldpMulticast = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};

std::vector<uint8_t> arp_request(const Mac& sender, const Addr& spa, const Addr& tpa) {
  std::vector<uint8_t> a(28, 0);
  put16(a.data(), 1);
  put16(a.data() + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  put16(a.data() + 6, 1);
  std::memcpy(a.data() + 8, sender.data(), 6);
  std::memcpy(a.data() + 14, spa.data(), 4);
  std::memcpy(a.data() + 24, tpa.data(), 4);
  return l2_frame(sender, kBroadcast, 0x0806, a);
}

std::vector<uint8_t> lldp(const Mac& sender) {
  // Chassis ID (MAC), port ID, TTL, end.
  std::vector<uint8_t> b = {0x02, 0x07, 0x04};
  b.insert(b.end(), sender.begin(), sender.end());
  for (uint8_t x : {0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0x00, 0x78, 0x00, 0x00}) b.push_back(x);
  return l2_frame(sender, kLldpMulticast, 0x88cc, b);
}

// An IEEE 802.3 frame with an LLC header (a spanning-tree BPDU): the type field is a length.
std::vector<uint8_t> stp_bpdu(const Mac& sender) {
  std::vector<uint8_t> b = {0x42, 0x42, 0x03, 0x00, 0x00, 0x00, 0x00};
  b.resize(38, 0);
  return l2_frame(sender, {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}, static_cast<uint16_t>(b.size()), b);
}

// The signature tests' frames: between the vendor box and a core host, ports 80 and 40000.
struct Pkt {
  bool from_vendor = false;  // sent by the vendor box (to_core) or by the core host (to_vendor)
  uint8_t proto = 6;
  uint8_t flags = 0x18;      // TCP flags (PSH|ACK)
  uint32_t seq = 1;
  uint32_t ack = 1;
  std::string payload;
  bool bad_checksum = false;
  uint16_t core_port = 40000;  // the core host's end of the flow
};

std::vector<uint8_t> frame(const Pkt& k) {
  Ip ip;
  ip.from_vendor = k.from_vendor;
  std::memcpy(ip.src.data(), k.from_vendor ? kVendorIp : kCoreIp, 4);
  std::memcpy(ip.dst.data(), k.from_vendor ? kCoreIp : kVendorIp, 4);
  ip.proto = k.proto;
  ip.sport = k.from_vendor ? 80 : k.core_port;
  ip.dport = k.from_vendor ? k.core_port : 80;
  ip.flags = k.flags;
  ip.seq = k.seq;
  ip.ack = k.ack;
  ip.payload = bytes_of(k.payload);
  ip.bad_checksum = k.bad_checksum;
  return ip_frame(ip);
}

bool checksums_ok(const std::vector<uint8_t>& f) {
  const bool v6 = get16(f.data() + 12) == 0x86dd;
  const uint8_t* ip = f.data() + 14;
  if (v6) {
    const uint32_t l4_len = static_cast<uint32_t>(f.size() - 54);
    return fold_sum(pseudo_header_sum(ip + 8, ip + 24, true, ip[6], l4_len) + rte_raw_cksum(ip + 40, l4_len)) == 0xffff;
  }
  if (fold_sum(rte_raw_cksum(ip, 20)) != 0xffff) return false;
  const uint32_t l4_len = static_cast<uint32_t>(f.size() - 34);
  if (ip[9] == 1) return fold_sum(rte_raw_cksum(ip + 20, l4_len)) == 0xffff;
  return fold_sum(pseudo_header_sum(ip + 12, ip + 16, false, ip[9], l4_len) + rte_raw_cksum(ip + 20, l4_len)) == 0xffff;
}

struct Out {
  std::vector<uint8_t> bytes;
  bool to_core;  // left through the core port
};

class WorkerTest : public testing::Test {
 protected:
  // Signatures only (the policy stage off).
  void load(const std::string& rules_toml, config::Config cfg = {}) { start(rules_toml, std::move(cfg), nullptr); }

  // The communication policy from rules-directory TOML ([policy], [[allow]], [policy.l2]),
  // with signatures `rules_toml` (none when empty). mode = "learn" starts the worker learning.
  void load_policy(const std::string& policy_toml, config::Config cfg = {}, const std::string& rules_toml = "") {
    start(rules_toml, std::move(cfg), &policy_toml);
  }

  // [[filter]] tables `filters_toml`, with signatures and a policy when given.
  void load_filters(const std::string& filters_toml, config::Config cfg = {}, const std::string& rules_toml = "",
                    const std::string* policy_toml = nullptr) {
    worker_.reset();
    filters_ = compile_filters(rules::load_filter_texts({{"filters.toml", filters_toml}}), "/nonexistent");
    start(rules_toml, std::move(cfg), policy_toml, false);
  }

  void start(const std::string& rules_toml, config::Config cfg, const std::string* policy_toml,
             bool reset_filters = true) {
    worker_.reset();  // before what it points to
    gens_.clear();
    if (reset_filters) filters_.reset();
    cfg_ = std::move(cfg);  // the worker's setup keeps a span of vendor_nets
    cfg_.flows.capacity = 1024;
    cfg_.failure.malformed_vendor = config::FailAction::kPass;
    gens_.push_back(build(rules_toml, policy_toml, 1));
    // The worker reads its generation from a published slot, as in live mode.
    slot_.store(gens_.back().gen.get(), std::memory_order_release);
    WorkerSetup setup = worker_setup(cfg_, g_vendor.port, g_core.port, 0, gens_.back().gen->inspection());
    setup.published = &slot_;
    worker_ = std::make_unique<Worker>(setup, next_id_++);
  }

  // Publishes the next generation to the running worker, as a reload does: signatures from
  // `rules_toml`, the policy from `policy_toml` (none when null), the same filters. The
  // previous one stays alive (the publisher keeps it until its streams are closed).
  void reload(const std::string& rules_toml, const std::string* policy_toml = nullptr) {
    gens_.push_back(build(rules_toml, policy_toml, gens_.back().gen->number() + 1));
    slot_.store(gens_.back().gen.get(), std::memory_order_release);
  }

  // One generation's parts, at addresses that stay put.
  struct Built {
    std::shared_ptr<const rules::RuleSet> set;
    std::unique_ptr<rules::Policy> policy;
    std::unique_ptr<rules::PolicyClassifier> classifier;
    std::unique_ptr<Generation> gen;
  };

  Built build(const std::string& rules_toml, const std::string* policy_toml, uint64_t number) {
    Built b;
    const rules::ClassificationTable classes =
        rules::load_classifications(SENTINEL_SOURCE_DIR "/config/classification.toml");
    if (!rules_toml.empty()) b.set = rules::compile_rules(rules::load_rules_text(rules_toml, "t.toml", classes), {});
    bool learn = false;
    if (policy_toml != nullptr) {
      std::optional<rules::Policy> p = rules::load_policy_texts({{"policy.toml", *policy_toml}});
      if (!p) throw std::runtime_error("no [policy] table in:\n" + *policy_toml);
      b.policy = std::make_unique<rules::Policy>(std::move(*p));
      learn = b.policy->mode == rules::PolicyMode::kLearn;
      if (!learn) {
        b.classifier = std::make_unique<rules::PolicyClassifier>(
            *b.policy, "wt" + std::to_string(next_id_) + "_g" + std::to_string(number));
      }
    }
    b.gen = std::make_unique<Generation>(
        number, "", Inspection{b.set.get(), b.policy.get(), b.classifier.get(), learn, filters_.get()}, 1);
    return b;
  }

  // Sends frames arriving on one port in one burst and returns what left either port.
  std::vector<Out> send_burst(const std::vector<std::vector<uint8_t>>& frames, bool on_vendor) {
    for (const std::vector<uint8_t>& f : frames) {
      rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
      std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
      EXPECT_EQ(rte_ring_enqueue(on_vendor ? g_vendor.rx : g_core.rx, m), 0);
    }
    (void)worker_->poll_once();
    std::vector<Out> out;
    for (const RingPort* p : {&g_vendor, &g_core}) {
      void* obj = nullptr;
      while (rte_ring_dequeue(p->tx, &obj) == 0) {
        auto* mb = static_cast<rte_mbuf*>(obj);
        const auto* d = rte_pktmbuf_mtod(mb, const uint8_t*);
        out.push_back({std::vector<uint8_t>(d, d + mb->pkt_len), p == &g_core});
        rte_pktmbuf_free(mb);
      }
    }
    return out;
  }
  std::vector<Out> send_frame(const std::vector<uint8_t>& f, bool on_vendor) { return send_burst({f}, on_vendor); }
  // Sends one frame through and returns what left either port.
  std::vector<Out> send(const Pkt& k) { return send_frame(frame(k), k.from_vendor); }
  std::vector<Out> send(const Ip& k) { return send_frame(ip_frame(k), k.from_vendor); }

  std::vector<AlertRecord> alerts() {
    std::vector<AlertRecord> v(64);
    v.resize(worker_->alerts().pop(v.data(), 64));
    return v;
  }

  uint64_t drops(DropReason r) const { return worker_->counters().drops[static_cast<size_t>(r)].get(); }
  uint64_t all_drops() const {
    uint64_t n = 0;
    for (const Counter& c : worker_->counters().drops) n += c.get();
    return n;
  }
  uint64_t passed(DropReason r) const { return worker_->counters().malformed_passed[static_cast<size_t>(r)].get(); }
  uint64_t allowed() const { return worker_->counters().policy.allowed.get(); }
  uint64_t violations() const { return worker_->counters().policy.violations.get(); }
  std::vector<uint64_t> hits() const {
    std::vector<uint64_t> v;
    for (const Counter& c : worker_->allow_hits()) v.push_back(c.get());
    return v;
  }

  config::Config cfg_;
  std::unique_ptr<FilterSet> filters_;
  std::vector<Built> gens_;  // every generation published to the worker; back() is in force
  std::atomic<const Generation*> slot_{nullptr};
  std::unique_ptr<Worker> worker_;  // last: destroyed before what its setup points to
  static inline uint32_t next_id_ = 0;
};

Pkt to_vendor(std::string payload, uint32_t seq = 1001) {
  Pkt k;
  k.payload = std::move(payload);
  k.seq = seq;
  k.ack = 5001;
  return k;
}

Pkt to_core(std::string payload, uint32_t seq = 5001) {
  Pkt k;
  k.from_vendor = true;
  k.payload = std::move(payload);
  k.seq = seq;
  k.ack = 1001;
  return k;
}

std::string rule(uint32_t sid, const char* action, const char* content, const char* extra = "") {
  return "[[rule]]\nsid = " + std::to_string(sid) + "\nmsg = \"r" + std::to_string(sid) + "\"\naction = \"" +
         action + "\"\n" + extra + "match = [{ content = \"" + content + "\" }]\n";
}

}  // namespace

TEST_F(WorkerTest, AlertForwardsAndLogs) {
  load(rule(1, "alert", "EVIL"));
  const auto out = send(to_vendor("GET /EVIL"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].to_core);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 1u);
  EXPECT_EQ(a[0].gid, 1u);
  EXPECT_EQ(a[0].verdict, Verdict::kForwarded);
  EXPECT_EQ(a[0].direction, Direction::kToVendor);
  EXPECT_EQ(a[0].in_iface, Side::kCore);
  EXPECT_EQ(a[0].src_port, 40000);
  EXPECT_EQ(a[0].dst_port, 80);
}

TEST_F(WorkerTest, DropBlocksTheFlowBothWays) {
  load(rule(1, "drop", "EVIL"));
  EXPECT_EQ(send(to_vendor("GET /")).size(), 1u);
  EXPECT_TRUE(send(to_vendor("EVIL", 1006)).empty());
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
  EXPECT_TRUE(send(to_core("HTTP/1.0 200 OK")).empty());
  EXPECT_TRUE(send(to_vendor("more", 1010)).empty());
  EXPECT_EQ(drops(DropReason::kFlowBlocked), 2u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].verdict, Verdict::kDropped);
  EXPECT_EQ(a[0].action, rules::Action::kDrop);
}

TEST_F(WorkerTest, MatchAcrossSegmentsDropsTheCompletingSegment) {
  load(rule(1, "drop", "EVILPATTERN"));
  EXPECT_EQ(send(to_vendor("xxEVILP", 1001)).size(), 1u);
  EXPECT_TRUE(send(to_vendor("ATTERNyy", 1008)).empty());
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
}

TEST_F(WorkerTest, GapFillingSegmentThatCompletesAMatchIsDropped) {
  load(rule(1, "drop", "EVILPATTERN"));
  EXPECT_EQ(send(to_vendor("GET ", 1001)).size(), 1u);
  EXPECT_EQ(send(to_vendor("ATTERN", 1010)).size(), 1u);  // out of order: forwarded at once
  EXPECT_TRUE(alerts().empty());
  EXPECT_TRUE(send(to_vendor("EVILP", 1005)).empty());    // fills the gap: the match completes
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
}

TEST_F(WorkerTest, PassBeatsDropAndStopsInspection) {
  load(rule(1, "drop", "EVIL") + rule(2, "pass", "GET"));
  EXPECT_EQ(send(to_vendor("GET /EVIL")).size(), 1u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(send(to_vendor("EVIL again", 1010)).size(), 1u);  // the flow is no longer inspected
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(drops(DropReason::kSignature), 0u);
}

TEST_F(WorkerTest, DropBeatsRejectNoResetsSent) {
  load(rule(1, "reject", "EVIL") + rule(2, "drop", "GET"));
  const auto out = send(to_vendor("GET /EVIL"));
  EXPECT_TRUE(out.empty());
  const auto a = alerts();
  ASSERT_EQ(a.size(), 2u);
  for (const AlertRecord& r : a) EXPECT_EQ(r.verdict, Verdict::kDropped);
}

TEST_F(WorkerTest, RejectBeatsAlertAndResetsBothEnds) {
  load(rule(1, "reject", "EVIL") + rule(2, "alert", "GET"));
  Pkt k = to_vendor("GET /EVIL", 1001);
  const auto out = send(k);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(alerts().size(), 2u);
  for (const Out& o : out) {
    ASSERT_EQ(o.bytes.size(), 54u);
    EXPECT_TRUE(checksums_ok(o.bytes));
    const uint8_t* ip = o.bytes.data() + 14;
    const uint8_t* t = ip + 20;
    EXPECT_TRUE(t[13] & 0x04) << "RST";
    if (o.to_core) {  // back to the sender (the core host): from the vendor box
      EXPECT_EQ(std::memcmp(ip + 12, kVendorIp, 4), 0);
      EXPECT_EQ(std::memcmp(o.bytes.data(), kCoreMac.data(), 6), 0);
      EXPECT_EQ(get32(t + 4), 5001u);                         // where the receiver stands
      EXPECT_EQ(get32(t + 8), 1001u + k.payload.size());      // acknowledging the segment
    } else {          // on to the receiver (the vendor box)
      EXPECT_EQ(std::memcmp(ip + 12, kCoreIp, 4), 0);
      EXPECT_EQ(get32(t + 4), 1001u);
    }
  }
  EXPECT_EQ(worker_->counters().inspect.reject_sent.get(), 2u);
  EXPECT_TRUE(send(to_core("reply")).empty());
}

// [failure] depth_reached: past [flows] inspect_depth a flow direction is forwarded
// unscanned (pass), or the segment that reaches it and the rest of the flow are dropped.
TEST_F(WorkerTest, DepthReachedPassesOrDrops) {
  for (const config::FailAction action : {config::FailAction::kPass, config::FailAction::kDrop}) {
    SCOPED_TRACE(config::to_string(action));
    config::Config cfg;
    cfg.flows.inspect_depth = 16;
    cfg.failure.depth_reached = action;
    load(rule(1, "drop", "SECRET"), cfg);
    EXPECT_EQ(send(to_core("0123456789", 5001)).size(), 1u) << "within the depth";
    const auto out = send(to_core("abcdefghijSECRETxyz", 5011));  // reaches it at byte 16
    EXPECT_EQ(worker_->counters().inspect.depth_reached.get(), 1u);
    const auto after = send(to_core("more", 5030));
    const auto a = alerts();
    if (action == config::FailAction::kPass) {
      EXPECT_EQ(out.size(), 1u);
      EXPECT_EQ(after.size(), 1u);
      EXPECT_TRUE(a.empty()) << "SECRET lies past the depth: never scanned";
      EXPECT_EQ(all_drops(), 0u);
    } else {
      EXPECT_TRUE(out.empty());
      EXPECT_TRUE(after.empty());
      EXPECT_EQ(drops(DropReason::kDepthReached), 1u);
      EXPECT_EQ(drops(DropReason::kFlowBlocked), 1u);
      ASSERT_EQ(a.size(), 1u);
      EXPECT_EQ(a[0].gid, rules::kGidAnomalies);
      EXPECT_EQ(a[0].sid, static_cast<uint32_t>(Anomaly::kDepthReached));
    }
  }
}

TEST_F(WorkerTest, UdpRejectSendsPortUnreachable) {
  load(rule(1, "reject", "EVIL", "proto = \"udp\"\n"));
  Pkt k = to_vendor("EVIL");
  k.proto = 17;
  const auto out = send(k);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to_core);
  const uint8_t* ip = out[0].bytes.data() + 14;
  EXPECT_EQ(ip[9], 1);       // ICMP
  EXPECT_EQ(ip[20], 3);      // destination unreachable
  EXPECT_EQ(ip[21], 3);      // port unreachable
  EXPECT_EQ(std::memcmp(ip + 12, kVendorIp, 4), 0);
  EXPECT_EQ(std::memcmp(ip + 16, kCoreIp, 4), 0);
  EXPECT_EQ(fold_sum(rte_raw_cksum(ip + 20, static_cast<uint32_t>(out[0].bytes.size() - 34))), 0xffffu);
  EXPECT_EQ(std::memcmp(ip + 28, frame(k).data() + 14, 28), 0) << "quotes the IP header and 8 bytes";
}

TEST_F(WorkerTest, ConstraintsThatDoNotHoldDoNotFire) {
  load(rule(1, "alert", "EVIL", "direction = \"to_core\"\n") + rule(2, "alert", "EVIL", "dst_ports = [81]\n") +
       rule(3, "alert", "EVIL", "src_nets = [\"10.0.0.0/8\"]\n") + rule(4, "alert", "EVIL", "proto = \"udp\"\n") +
       rule(5, "alert", "EVIL", "dst_nets = [\"10.0.0.0/8\", \"!10.0.0.2\"]\n") +
       rule(6, "alert", "EVIL", "direction = \"to_vendor\"\ndst_ports = [\"79-80\"]\nsrc_nets = [\"192.168.0.0/16\"]\n"));
  EXPECT_EQ(send(to_vendor("EVIL")).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 6u);
}

TEST_F(WorkerTest, BadChecksumSegmentIsNeverScanned) {
  load(rule(1, "alert", "EVIL"));
  Pkt k = to_vendor("EVIL");
  k.bad_checksum = true;
  EXPECT_EQ(send(k).size(), 1u);  // [failure] bad_checksum = "pass"
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(worker_->counters().malformed_passed[static_cast<size_t>(DropReason::kBadChecksum)].get(), 1u);
  EXPECT_EQ(send(to_vendor("EVIL")).size(), 1u);  // the good retransmission is scanned
  EXPECT_EQ(alerts().size(), 1u);
}

TEST_F(WorkerTest, BadChecksumDropPolicy) {
  config::Config cfg;
  cfg.failure.bad_checksum = config::FailAction::kDrop;
  load(rule(1, "alert", "EVIL"), cfg);
  Pkt k = to_vendor("EVIL");
  k.bad_checksum = true;
  EXPECT_TRUE(send(k).empty());
  EXPECT_EQ(drops(DropReason::kBadChecksum), 1u);
}

TEST_F(WorkerTest, OverlapConflictRaisesOneAnomaly) {
  load(rule(1, "alert", "EVIL"));
  EXPECT_EQ(send(to_vendor("GOOD", 1001)).size(), 1u);
  EXPECT_EQ(send(to_vendor("EVIL", 1001)).size(), 1u);  // same bytes, different data
  EXPECT_EQ(send(to_vendor("EVIL", 1001)).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u) << "the first-seen bytes are scanned, the conflict reported once";
  EXPECT_EQ(a[0].gid, rules::kGidAnomalies);
  EXPECT_EQ(a[0].sid, static_cast<uint32_t>(Anomaly::kOverlapConflict));
}

// ---------------------------------------------------------------------------------------
// Communication policy.

namespace {

constexpr uint32_t kSid = 1000042;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kAck = 0x10;
constexpr uint8_t kSynAck = 0x12;
constexpr uint8_t kPshAck = 0x18;

// One address family's hosts: the vendor box on the vendor side, the rest on the core side.
struct Hosts {
  const char* name;
  bool v6;
  Addr vendor;  // the vendor box (inside [network] vendor_nets when set)
  Addr server;  // allowed: HTTPS from the vendor side
  Addr dns;     // allowed: DNS from the vendor side
  Addr other;   // listed nowhere
  Addr core;    // a core host: may open SSH to the vendor box
  Addr router;  // sends ICMP errors
};

const Hosts& hosts4() {
  static const Hosts h{"IPv4", false, ip4(10, 0, 0, 2), ip4(192, 168, 1, 10), ip4(192, 168, 1, 53),
                       ip4(192, 168, 1, 99), ip4(192, 168, 1, 5), ip4(192, 168, 1, 1)};
  return h;
}
const Hosts& hosts6() {
  static const Hosts h{"IPv6", true, ip6("2001:db8:1::2"), ip6("2001:db8:2::10"), ip6("2001:db8:2::53"),
                       ip6("2001:db8:2::99"), ip6("2001:db8:2::5"), ip6("2001:db8:2::1")};
  return h;
}
const std::array<const Hosts*, 2>& both_families() {
  static const std::array<const Hosts*, 2> all{&hosts4(), &hosts6()};
  return all;
}

// Allow 1: HTTPS from the vendor to the server; 2: DNS from the vendor; 3: SSH from the
// core (192.168.1.0/26, 2001:db8:2::/64) to anything. `extra` follows (more allows,
// [policy.l2]).
std::string policy_text(const std::string& default_action, const std::string& extra = "",
                        const std::string& mode = "enforce") {
  return "[policy]\nmode = \"" + mode + "\"\ndefault = \"" + default_action + "\"\ndefault_sid = " +
         std::to_string(kSid) +
         "\n\n"
         "[[allow]]\nname = \"https to the server\"\nfrom = \"vendor\"\nproto = \"tcp\"\n"
         "dst_nets = [\"192.168.1.10/32\", \"2001:db8:2::10/128\"]\ndst_ports = [443]\n\n"
         "[[allow]]\nname = \"dns\"\nfrom = \"vendor\"\nproto = \"udp\"\n"
         "dst_nets = [\"192.168.1.53/32\", \"2001:db8:2::53/128\"]\ndst_ports = [53]\n\n"
         "[[allow]]\nname = \"ssh from the core\"\nfrom = \"core\"\nproto = \"tcp\"\n"
         "src_nets = [\"192.168.1.0/26\", \"2001:db8:2::/64\"]\ndst_ports = [22]\n\n" +
         extra;
}

// A TCP segment; sequence numbers as a handshake would have them (SYN 1000, SYN-ACK 5000).
Ip tcp(const Hosts& h, bool from_vendor, const Addr& src, uint16_t sport, const Addr& dst, uint16_t dport,
       uint8_t flags, const std::string& payload = "") {
  Ip k;
  k.from_vendor = from_vendor;
  k.v6 = h.v6;
  k.src = src;
  k.dst = dst;
  k.proto = 6;
  k.sport = sport;
  k.dport = dport;
  k.flags = flags;
  const bool syn = (flags & kSyn) != 0;
  const bool ack = (flags & kAck) != 0;
  k.seq = syn ? (ack ? 5000 : 1000) : 1001;
  k.ack = ack ? (syn ? 1001 : 5001) : 0;
  k.payload = bytes_of(payload);
  return k;
}

Ip udp(const Hosts& h, bool from_vendor, const Addr& src, uint16_t sport, const Addr& dst, uint16_t dport,
       const std::string& payload = "query") {
  Ip k;
  k.from_vendor = from_vendor;
  k.v6 = h.v6;
  k.src = src;
  k.dst = dst;
  k.proto = 17;
  k.sport = sport;
  k.dport = dport;
  k.payload = bytes_of(payload);
  return k;
}

// An ICMP/ICMPv6 message of the family of `h`.
Ip icmp(const Hosts& h, bool from_vendor, const Addr& src, const Addr& dst, uint8_t type, uint8_t code = 0,
        uint32_t rest = 0, std::vector<uint8_t> body = {}) {
  Ip k;
  k.from_vendor = from_vendor;
  k.v6 = h.v6;
  k.src = src;
  k.dst = dst;
  k.proto = h.v6 ? 58 : 1;
  k.icmp_type = type;
  k.icmp_code = code;
  k.icmp_rest = rest;
  k.payload = std::move(body);
  return k;
}

// An ICMP error quoting `quoted` (IPv4: its IP header and 8 bytes; IPv6: all of it).
Ip icmp_error(const Hosts& h, bool from_vendor, const Addr& src, const Addr& dst, uint8_t type, uint8_t code,
              const Ip& quoted, uint32_t rest = 0) {
  const std::vector<uint8_t> f = ip_frame(quoted);
  const size_t n = h.v6 ? f.size() - 14 : 28;
  return icmp(h, from_vendor, src, dst, type, code, rest, std::vector<uint8_t>(f.begin() + 14, f.begin() + 14 + static_cast<long>(n)));
}

// An ICMPv6 neighbour solicitation for `target`.
Ip neighbour_solicitation(bool from_vendor, const Addr& src, const Addr& dst, const Addr& target) {
  return icmp(hosts6(), from_vendor, src, dst, 135, 0, 0, std::vector<uint8_t>(target.begin(), target.end()));
}

void expect_policy_alert(const AlertRecord& a, rules::Action action, Direction dir, uint8_t flags = 0) {
  EXPECT_EQ(a.gid, rules::kGidPolicy);
  EXPECT_EQ(a.sid, kSid);
  EXPECT_EQ(a.rev, 1u);
  EXPECT_EQ(a.action, action);
  EXPECT_EQ(a.verdict, action == rules::Action::kAlert ? Verdict::kForwarded : Verdict::kDropped);
  EXPECT_EQ(a.direction, dir);
  EXPECT_EQ(a.in_iface, dir == Direction::kToCore ? Side::kVendor : Side::kCore);
  EXPECT_EQ(a.flags, flags);
}

// The alert names the packet that raised it.
void expect_about(const AlertRecord& a, const Ip& k) {
  EXPECT_EQ(a.ip_version, k.v6 ? 6 : 4);
  EXPECT_EQ(a.ip_proto, k.proto);
  EXPECT_EQ(addr_text(a.src_addr, k.v6), addr_text(k.src, k.v6));
  EXPECT_EQ(addr_text(a.dst_addr, k.v6), addr_text(k.dst, k.v6));
  const bool ports = k.proto == 6 || k.proto == 17;
  EXPECT_EQ(a.src_port, ports ? k.sport : 0);
  EXPECT_EQ(a.dst_port, ports ? k.dport : 0);
  if (!ports) {
    EXPECT_EQ(a.icmp_type, k.icmp_type);
    EXPECT_EQ(a.icmp_code, k.icmp_code);
  }
}

// A non-IP policy alert.
void expect_l2_alert(const AlertRecord& a, rules::Action action, Direction dir, uint16_t ethertype, const Mac& src) {
  expect_policy_alert(a, action, dir);
  EXPECT_EQ(a.ip_version, 0);
  EXPECT_EQ(a.ip_proto, 0);
  EXPECT_EQ(a.ether_type, ethertype);
  EXPECT_EQ(a.src_mac, src);
  EXPECT_EQ(a.src_addr, Addr{});
  EXPECT_EQ(a.dst_addr, Addr{});
}

// What left the ports, as "core"/"vendor" per frame.
std::vector<std::string> sides(const std::vector<Out>& out) {
  std::vector<std::string> v;
  for (const Out& o : out) v.emplace_back(o.to_core ? "core" : "vendor");
  return v;
}
const std::vector<std::string> kToCoreOnly{"core"};
const std::vector<std::string> kToVendorOnly{"vendor"};
const std::vector<std::string> kNothing{};

std::string describe(const rules::LearnedFlow& f) {
  const char* proto = f.ip_proto == 6 ? "tcp" : f.ip_proto == 17 ? "udp" : f.ip_proto == 1 ? "icmp" : f.ip_proto == 58 ? "icmpv6" : "ip";
  return std::string(f.from_vendor ? "vendor " : "core ") + proto + " " + addr_text(f.src, f.v6) + " -> " +
         addr_text(f.dst, f.v6) + " port " + std::to_string(f.dst_port) + ": flows " + std::to_string(f.flows) +
         " bytes " + std::to_string(f.bytes);
}

std::string learned(const std::string& side, const char* proto, const Addr& src, const Addr& dst, uint16_t port,
                    bool v6, uint64_t flows, uint64_t bytes) {
  rules::LearnedFlow f;
  f.from_vendor = side == "vendor";
  f.ip_proto = std::string(proto) == "tcp" ? 6 : std::string(proto) == "udp" ? 17 : std::string(proto) == "icmp" ? 1 : 58;
  f.src = src;
  f.dst = dst;
  f.dst_port = port;
  f.v6 = v6;
  f.flows = flows;
  f.bytes = bytes;
  return describe(f);
}

size_t wire(const Ip& k) { return ip_frame(k).size(); }

// `k` as two IP fragments: the first carries `first` bytes of the IP payload (a multiple
// of 8, holding the L4 header), the second the rest.
// The IP payload of `k` (its L4 header and data) cut into fragments {offset, length}, in
// the order given; `bytes` replaces the payload bytes of every fragment when not empty (an
// overlap that says something else). More-fragments is set unless a piece reaches the end.
std::vector<std::vector<uint8_t>> split(const Ip& k, const std::vector<std::pair<size_t, size_t>>& pieces,
                                        uint32_t id = 0x1234, const std::vector<uint8_t>& bytes = {}) {
  const std::vector<uint8_t> whole = ip_frame(k);
  const size_t l3 = k.v6 ? 40 : 20;
  std::vector<uint8_t> payload(whole.begin() + 14 + static_cast<long>(l3), whole.end());
  const size_t total = payload.size();
  if (!bytes.empty()) payload = bytes;
  std::vector<std::vector<uint8_t>> out;
  for (const auto& [off, len] : pieces) {
    const bool more = off + len < total;
    std::vector<uint8_t> f(whole.begin(), whole.begin() + 14 + static_cast<long>(l3));
    uint8_t* ip = f.data() + 14;
    if (k.v6) {
      put16(ip + 4, static_cast<uint16_t>(8 + len));
      ip[6] = 44;
      const uint8_t fh[8] = {k.proto, 0, static_cast<uint8_t>(off >> 8), static_cast<uint8_t>((off & 0xf8) | (more ? 1 : 0)),
                             static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16), static_cast<uint8_t>(id >> 8),
                             static_cast<uint8_t>(id)};
      f.insert(f.end(), fh, fh + 8);
    } else {
      put16(ip + 2, static_cast<uint16_t>(20 + len));
      put16(ip + 4, static_cast<uint16_t>(id));
      put16(ip + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8)));
      ip[10] = ip[11] = 0;
      const uint16_t c = internet_checksum(ip, 20);
      std::memcpy(ip + 10, &c, 2);
    }
    f.insert(f.end(), payload.begin() + static_cast<long>(off), payload.begin() + static_cast<long>(off + len));
    out.push_back(std::move(f));
  }
  return out;
}

// Two fragments: `first` bytes, then the rest.
std::vector<std::vector<uint8_t>> fragments(const Ip& k, size_t first, uint32_t id = 0x1234) {
  const size_t total = ip_frame(k).size() - 14 - (k.v6 ? 40 : 20);
  return split(k, {{0, first}, {first, total - first}}, id);
}

// A frame and the port it arrives on.
struct Sent {
  std::vector<uint8_t> bytes;
  bool on_vendor;
};
Sent sent(const Ip& k) { return {ip_frame(k), k.from_vendor}; }

}  // namespace

TEST_F(WorkerTest, PolicyOffChangesNothing) {
  load("");
  const Hosts& h = hosts4();
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send_frame(lldp(kVendorMac), true)), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(allowed() + violations(), 0u);
  EXPECT_TRUE(worker_->allow_hits().empty());
  EXPECT_EQ(worker_->learn_table(), nullptr);
}

TEST_F(WorkerTest, PolicyAllowsAFlowAndItsReply) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kSyn))), kToCoreOnly);
    EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kSynAck))), kToVendorOnly);
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kPshAck, "GET / HTTP/1.0\r\n\r\n"))), kToCoreOnly);
    EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kPshAck, "HTTP/1.0 200 OK\r\n"))), kToVendorOnly);
    EXPECT_EQ(sides(send(udp(h, true, h.vendor, 5353, h.dns, 53))), kToCoreOnly);
    EXPECT_EQ(sides(send(udp(h, false, h.dns, 53, h.vendor, 5353, "answer"))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    EXPECT_EQ(all_drops(), 0u);
    EXPECT_EQ(allowed(), 2u) << "one decision per flow";
    EXPECT_EQ(violations(), 0u);
    EXPECT_EQ(hits(), (std::vector<uint64_t>{1, 1, 0}));
  }
}

TEST_F(WorkerTest, PolicyDefaultAlertForwardsAndAlertsOncePerFlow) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("alert"));
    const Ip syn = tcp(h, true, h.vendor, 40000, h.other, 443, kSyn);
    EXPECT_EQ(sides(send(syn)), kToCoreOnly);
    std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kAlert, Direction::kToCore);
    expect_about(a[0], syn);
    // The rest of the flow, both ways: forwarded, no further alert.
    EXPECT_EQ(sides(send(tcp(h, false, h.other, 443, h.vendor, 40000, kSynAck))), kToVendorOnly);
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kAck))), kToCoreOnly);
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kPshAck, "hello"))), kToCoreOnly);
    EXPECT_EQ(sides(send(tcp(h, false, h.other, 443, h.vendor, 40000, kPshAck, "world"))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    // Another flow to the same place: its own alert.
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40001, h.other, 443, kSyn))), kToCoreOnly);
    a = alerts();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].src_port, 40001);
    // A UDP violation.
    const Ip dns = udp(h, true, h.vendor, 5353, h.other, 53);
    EXPECT_EQ(sides(send(dns)), kToCoreOnly);
    EXPECT_EQ(sides(send(dns)), kToCoreOnly);
    a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kAlert, Direction::kToCore);
    expect_about(a[0], dns);
    EXPECT_EQ(all_drops(), 0u);
    EXPECT_EQ(violations(), 3u);
    EXPECT_EQ(allowed(), 0u);
    EXPECT_EQ(worker_->counters().inspect.alerts[static_cast<size_t>(AlertSource::kPolicy)][0].get(), 3u);
  }
}

TEST_F(WorkerTest, PolicyDefaultDropDropsEveryPacketOfTheFlow) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const Ip syn = tcp(h, true, h.vendor, 40000, h.other, 443, kSyn);
    EXPECT_EQ(sides(send(syn)), kNothing);
    std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToCore);
    expect_about(a[0], syn);
    EXPECT_EQ(sides(send(syn)), kNothing);  // the retransmission
    EXPECT_EQ(sides(send(tcp(h, false, h.other, 443, h.vendor, 40000, kSynAck))), kNothing);
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kPshAck, "data"))), kNothing);
    // An allowed flow beside it is untouched.
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40001, h.server, 443, kSyn))), kToCoreOnly);
    EXPECT_TRUE(alerts().empty()) << "one alert per violating flow";
    EXPECT_EQ(drops(DropReason::kPolicy), 4u);
    EXPECT_EQ(all_drops(), 4u);
    EXPECT_EQ(worker_->counters().dir[0].dropped.get() + worker_->counters().dir[1].dropped.get(), 4u);
    EXPECT_EQ(violations(), 1u);
    EXPECT_EQ(allowed(), 1u);
  }
}

TEST_F(WorkerTest, PolicyDefaultRejectResetsTcpAndUnreachesUdp) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("reject"));
    const size_t ip_len = h.v6 ? 40 : 20;
    const Ip syn = tcp(h, true, h.vendor, 40000, h.other, 443, kSyn);
    const std::vector<Out> out = send(syn);
    ASSERT_EQ(out.size(), 2u) << "a RST to each end, the SYN itself not forwarded";
    for (const Out& o : out) {
      SCOPED_TRACE(o.to_core ? "to the core" : "to the vendor");
      ASSERT_EQ(o.bytes.size(), 14 + ip_len + 20);
      EXPECT_TRUE(checksums_ok(o.bytes));
      const uint8_t* ip = o.bytes.data() + 14;
      const uint8_t* t = ip + ip_len;
      EXPECT_EQ(h.v6 ? ip[6] : ip[9], 6);
      EXPECT_NE(t[13] & kRst, 0) << "RST";
      const Addr& from = o.to_core ? h.vendor : h.other;
      EXPECT_EQ(std::memcmp(h.v6 ? ip + 8 : ip + 12, from.data(), h.v6 ? 16 : 4), 0);
      if (o.to_core) {  // on to the receiver: where the SYN would have started
        EXPECT_EQ(get16(t), 40000);
        EXPECT_EQ(get16(t + 2), 443);
        EXPECT_EQ(get32(t + 4), 1000u);
      } else {          // back to the opener: acknowledging its SYN
        EXPECT_EQ(get16(t), 443);
        EXPECT_EQ(get16(t + 2), 40000);
        EXPECT_EQ(get32(t + 8), 1001u);
        EXPECT_EQ(t[13], kRst | kAck);
      }
    }
    std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kReject, Direction::kToCore);
    expect_about(a[0], syn);
    EXPECT_EQ(worker_->counters().inspect.reject_sent.get(), 2u);
    // The flow stays denied: its retransmission is dropped without another reset or alert.
    EXPECT_EQ(sides(send(syn)), kNothing);
    EXPECT_TRUE(alerts().empty());

    // UDP: a port unreachable back to the opener.
    const Ip query = udp(h, true, h.vendor, 5353, h.other, 53);
    const std::vector<Out> u = send(query);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_FALSE(u[0].to_core);
    const uint8_t* ip = u[0].bytes.data() + 14;
    EXPECT_EQ(h.v6 ? ip[6] : ip[9], h.v6 ? 58 : 1);
    EXPECT_EQ(ip[ip_len], h.v6 ? 1 : 3);      // destination unreachable
    EXPECT_EQ(ip[ip_len + 1], h.v6 ? 4 : 3);  // port unreachable
    EXPECT_TRUE(checksums_ok(u[0].bytes));
    a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kReject, Direction::kToCore);
    expect_about(a[0], query);
    EXPECT_EQ(drops(DropReason::kPolicy), 3u);
    EXPECT_EQ(violations(), 2u);
  }
}

TEST_F(WorkerTest, PolicyDefaultAllowCountsViolationsWithoutAlerting) {
  const Hosts& h = hosts4();
  load_policy(policy_text("allow"));
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h, false, h.other, 443, h.vendor, 40000, kSynAck))), kToVendorOnly);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 5353, h.other, 53))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40001, h.server, 443, kSyn))), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(all_drops(), 0u);
  EXPECT_EQ(violations(), 2u);
  EXPECT_EQ(allowed(), 1u);
}

TEST_F(WorkerTest, PolicyFromCoreAllowsOnlyTheCoreSideOpening) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    // The core host opens SSH to the vendor box: allowed, and the reply too.
    EXPECT_EQ(sides(send(tcp(h, false, h.core, 50000, h.vendor, 22, kSyn))), kToVendorOnly);
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 22, h.core, 50000, kSynAck))), kToCoreOnly);
    EXPECT_EQ(sides(send(tcp(h, false, h.core, 50000, h.vendor, 22, kPshAck, "SSH-2.0-x\r\n"))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    EXPECT_EQ(allowed(), 1u);
    EXPECT_EQ(hits(), (std::vector<uint64_t>{0, 0, 1}));
    // The vendor box opening SSH to the core host: not allowed.
    const Ip out_ssh = tcp(h, true, h.vendor, 50001, h.core, 22, kSyn);
    EXPECT_EQ(sides(send(out_ssh)), kNothing);
    // The allowed opening's very addresses and ports, arriving on the vendor port.
    const Ip mirrored = tcp(h, true, h.core, 50002, h.vendor, 22, kSyn);
    EXPECT_EQ(sides(send(mirrored)), kNothing);
    const std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 2u);
    expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToCore);
    expect_about(a[0], out_ssh);
    expect_policy_alert(a[1], rules::Action::kDrop, Direction::kToCore);
    expect_about(a[1], mirrored);
    EXPECT_EQ(violations(), 2u);
    EXPECT_EQ(drops(DropReason::kPolicy), 2u);
  }
}

TEST_F(WorkerTest, PolicyMidStreamTcpAllowedEitherWayRound) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("alert"));
    // First seen from the server: the reverse orientation (vendor → server:443) is allowed.
    EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kPshAck, "data"))), kToVendorOnly);
    // First seen from the vendor box, the forward orientation allowed.
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40001, h.server, 443, kAck))), kToCoreOnly);
    // SSH the core opened, first seen from the vendor box.
    EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 22, h.core, 50000, kPshAck, "SSH-2.0-y\r\n"))), kToCoreOnly);
    // A SYN-ACK is no opening either.
    EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40002, kSynAck))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    EXPECT_EQ(allowed(), 4u);
    EXPECT_EQ(hits(), (std::vector<uint64_t>{3, 0, 1}));

    // Violations first seen mid-stream say so, whichever side they are seen from.
    const Ip v1 = tcp(h, true, h.vendor, 40003, h.other, 443, kPshAck, "data");
    EXPECT_EQ(sides(send(v1)), kToCoreOnly);
    const Ip v2 = tcp(h, false, h.other, 443, h.vendor, 40004, kAck);
    EXPECT_EQ(sides(send(v2)), kToVendorOnly);
    Ip more = tcp(h, true, h.vendor, 40003, h.other, 443, kPshAck, "more");
    more.seq += 4;  // after "data"
    EXPECT_EQ(sides(send(more)), kToCoreOnly);
    const std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 2u);
    expect_policy_alert(a[0], rules::Action::kAlert, Direction::kToCore, kAlertFlagMidStream);
    expect_about(a[0], v1);
    expect_policy_alert(a[1], rules::Action::kAlert, Direction::kToVendor, kAlertFlagMidStream);
    expect_about(a[1], v2);
    EXPECT_EQ(violations(), 2u);

    // Under default drop: the mid-stream violation is dropped, and its alert says mid-stream.
    load_policy(policy_text("drop"));
    EXPECT_EQ(sides(send(v1)), kNothing);
    EXPECT_EQ(sides(send(tcp(h, false, h.other, 443, h.vendor, 40003, kPshAck, "reply"))), kNothing);
    const std::vector<AlertRecord> d = alerts();
    ASSERT_EQ(d.size(), 1u);
    expect_policy_alert(d[0], rules::Action::kDrop, Direction::kToCore, kAlertFlagMidStream);
    EXPECT_EQ(drops(DropReason::kPolicy), 2u);
  }
}

TEST_F(WorkerTest, PolicyIcmpErrorsOfAnAllowedFlowFollowIt) {
  load_policy(policy_text("drop"));
  // IPv4: port unreachable from a router, quoting the allowed DNS query.
  const Hosts& h4 = hosts4();
  const Ip q4 = udp(h4, true, h4.vendor, 5353, h4.dns, 53);
  EXPECT_EQ(sides(send(q4)), kToCoreOnly);
  EXPECT_EQ(sides(send(icmp_error(h4, false, h4.router, h4.vendor, 3, 3, q4))), kToVendorOnly);
  // ... and fragmentation needed.
  EXPECT_EQ(sides(send(icmp_error(h4, false, h4.router, h4.vendor, 3, 4, q4, 1400))), kToVendorOnly);
  // IPv6: packet too big, quoting the allowed DNS query.
  const Hosts& h6 = hosts6();
  const Ip q6 = udp(h6, true, h6.vendor, 5353, h6.dns, 53);
  EXPECT_EQ(sides(send(q6)), kToCoreOnly);
  EXPECT_EQ(sides(send(icmp_error(h6, false, h6.router, h6.vendor, 2, 0, q6, 1280))), kToVendorOnly);
  // A port unreachable the vendor box sends about a flow the core opened to it.
  const Ip ssh = tcp(h4, false, h4.core, 50000, h4.vendor, 22, kSyn);
  EXPECT_EQ(sides(send(ssh)), kToVendorOnly);
  EXPECT_EQ(sides(send(icmp_error(h4, true, h4.vendor, h4.core, 3, 3, ssh))), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(all_drops(), 0u);
  EXPECT_EQ(violations(), 0u);
}

TEST_F(WorkerTest, PolicyIcmpErrorsOfADeniedFlowAreDropped) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    // Even with an allow for the ICMP error's own addresses: it follows the denied flow.
    load_policy(policy_text("drop", "[[allow]]\nname = \"unreachables\"\nfrom = \"core\"\nproto = \"icmp\"\n"));
    const Ip q = udp(h, true, h.vendor, 5353, h.other, 53);
    EXPECT_EQ(sides(send(q)), kNothing);
    ASSERT_EQ(alerts().size(), 1u);
    EXPECT_EQ(sides(send(icmp_error(h, false, h.other, h.vendor, h.v6 ? 1 : 3, h.v6 ? 4 : 3, q))), kNothing);
    EXPECT_EQ(sides(send(icmp_error(h, false, h.router, h.vendor, h.v6 ? 2 : 3, h.v6 ? 0 : 4, q, 1280))), kNothing);
    EXPECT_TRUE(alerts().empty()) << "the denied flow has alerted already";
    EXPECT_EQ(drops(DropReason::kPolicy), 3u);
    EXPECT_EQ(violations(), 1u);
  }
}

TEST_F(WorkerTest, PolicyIcmpErrorQuotingNoKnownFlowIsAFlowOfItsOwn) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const Ip allowed_query = udp(h, true, h.vendor, 5353, h.dns, 53);
    EXPECT_EQ(sides(send(allowed_query)), kToCoreOnly);
    const Ip unknown = udp(h, true, h.vendor, 7777, h.other, 9);  // never sent
    const uint8_t type = h.v6 ? 2 : 3;
    const uint8_t code = h.v6 ? 0 : 3;
    const Ip err = icmp_error(h, false, h.router, h.vendor, type, code, unknown, 1280);
    EXPECT_EQ(sides(send(err)), kNothing);
    const std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 1u);
    expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToVendor);
    expect_about(a[0], err);
    EXPECT_EQ(violations(), 1u);
    // The same router's error about the allowed flow still follows that flow.
    EXPECT_EQ(sides(send(icmp_error(h, false, h.router, h.vendor, type, code, allowed_query, 1280))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());

    // With an allow for ICMP errors from the core side, the unknown quote is allowed.
    load_policy(policy_text("drop", "[[allow]]\nname = \"errors\"\nfrom = \"core\"\nproto = \"icmp\"\nicmp_types = [2, 3]\n"));
    EXPECT_EQ(sides(send(err)), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    EXPECT_EQ(allowed(), 1u);
    EXPECT_EQ(hits(), (std::vector<uint64_t>{0, 0, 0, 1}));
  }
}

TEST_F(WorkerTest, PolicyIcmpEchoIsAFlowOfItsRequester) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop", "[[allow]]\nname = \"ping the server\"\nfrom = \"vendor\"\nproto = \"icmp\"\n"
                                    "dst_nets = [\"192.168.1.10/32\", \"2001:db8:2::10/128\"]\nicmp_types = [8, 128]\n"));
    const uint8_t request = h.v6 ? 128 : 8;
    const uint8_t reply = h.v6 ? 129 : 0;
    const Ip ping = icmp(h, true, h.vendor, h.server, request, 0, 0x00070001, bytes_of("ping"));
    EXPECT_EQ(sides(send(ping)), kToCoreOnly);
    EXPECT_EQ(sides(send(icmp(h, false, h.server, h.vendor, reply, 0, 0x00070001, bytes_of("ping")))), kToVendorOnly);
    // A router's error about the ping follows it.
    EXPECT_EQ(sides(send(icmp_error(h, false, h.router, h.vendor, h.v6 ? 3 : 11, 0, ping))), kToVendorOnly);
    EXPECT_TRUE(alerts().empty());
    EXPECT_EQ(allowed(), 1u);
    EXPECT_EQ(hits(), (std::vector<uint64_t>{0, 0, 0, 1}));
    // The server pinging the vendor box, even with the same identifier, is a flow of its own.
    const Ip back = icmp(h, false, h.server, h.vendor, request, 0, 0x00070002, bytes_of("ping"));
    EXPECT_EQ(sides(send(back)), kNothing);
    // So is a ping to another host.
    const Ip elsewhere = icmp(h, true, h.vendor, h.other, request, 0, 0x00070001, bytes_of("ping"));
    EXPECT_EQ(sides(send(elsewhere)), kNothing);
    const std::vector<AlertRecord> a = alerts();
    ASSERT_EQ(a.size(), 2u);
    expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToVendor);
    expect_about(a[0], back);
    expect_policy_alert(a[1], rules::Action::kDrop, Direction::kToCore);
    expect_about(a[1], elsewhere);
    EXPECT_EQ(violations(), 2u);
  }
}

TEST_F(WorkerTest, PolicyNeighbourDiscoveryBypassesTheAllows) {
  const Hosts& h = hosts6();
  const Addr vendor_ll = ip6("fe80::2");
  const Addr core_ll = ip6("fe80::1");
  const Addr solicited = ip6("ff02::1:ff00:1");
  load_policy(policy_text("drop"));  // allow_icmpv6_nd defaults to true
  EXPECT_EQ(sides(send(neighbour_solicitation(true, vendor_ll, solicited, core_ll))), kToCoreOnly);
  EXPECT_EQ(sides(send(icmp(h, false, core_ll, vendor_ll, 136, 0, 0x60000000,
                            std::vector<uint8_t>(core_ll.begin(), core_ll.end())))), kToVendorOnly);
  EXPECT_EQ(sides(send(icmp(h, true, vendor_ll, ip6("ff02::2"), 133))), kToCoreOnly);
  EXPECT_EQ(sides(send(icmp(h, false, core_ll, ip6("ff02::1"), 134, 0, 0x40000708))), kToVendorOnly);
  // Multicast listener discovery (an MLDv2 report), without which multicast ND breaks.
  EXPECT_EQ(sides(send(icmp(h, true, vendor_ll, ip6("ff02::16"), 143, 0, 1, std::vector<uint8_t>(20, 0)))), kToCoreOnly);
  // Unicast neighbour unreachability detection between global addresses.
  EXPECT_EQ(sides(send(neighbour_solicitation(true, h.vendor, h.server, h.server))), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(all_drops(), 0u);
  EXPECT_EQ(violations(), 0u);

  load_policy(policy_text("drop", "[policy.l2]\nallow_icmpv6_nd = false\n"));
  const Ip ns = neighbour_solicitation(true, vendor_ll, solicited, core_ll);
  EXPECT_EQ(sides(send(ns)), kNothing);
  EXPECT_EQ(sides(send(ns)), kNothing);
  const std::vector<AlertRecord> a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToCore);
  expect_about(a[0], ns);
  EXPECT_EQ(drops(DropReason::kPolicy), 2u);
  EXPECT_EQ(violations(), 1u);
}

// The ND exemption is for ND messages, not for every ICMPv6 message between the same two
// addresses afterwards.
TEST_F(WorkerTest, PolicyNeighbourDiscoveryExemptionCoversOnlyNdMessages) {
  const Hosts& h = hosts6();
  load_policy(policy_text("drop"));
  EXPECT_EQ(sides(send(neighbour_solicitation(true, h.vendor, h.server, h.server))), kToCoreOnly);
  const Ip node_info = icmp(h, true, h.vendor, h.server, 139, 0, 0, std::vector<uint8_t>(16, 0x41));
  EXPECT_EQ(sides(send(node_info)), kNothing) << "ICMPv6 node information query: no allow permits it";
  const Ip private_use = icmp(h, true, h.vendor, h.server, 200, 0, 0, bytes_of("exfiltrated"));
  EXPECT_EQ(sides(send(private_use)), kNothing) << "ICMPv6 type 200: no allow permits it";
  EXPECT_EQ(violations(), 1u);
  EXPECT_EQ(alerts().size(), 1u);
}

// ... and a denied ICMPv6 exchange between two addresses does not stop ND between them.
TEST_F(WorkerTest, PolicyNeighbourDiscoveryPassesBetweenHostsWhoseIcmpv6WasDenied) {
  const Hosts& h = hosts6();
  load_policy(policy_text("drop"));
  EXPECT_EQ(sides(send(icmp(h, true, h.vendor, h.server, 139, 0, 0, std::vector<uint8_t>(16, 0x41)))), kNothing);
  EXPECT_EQ(alerts().size(), 1u);
  EXPECT_EQ(sides(send(neighbour_solicitation(true, h.vendor, h.server, h.server))), kToCoreOnly);
  EXPECT_EQ(sides(send(icmp(h, false, h.server, h.vendor, 136, 0, 0x60000000,
                            std::vector<uint8_t>(h.server.begin(), h.server.end())))), kToVendorOnly);
  EXPECT_EQ(drops(DropReason::kPolicy), 1u);
}

TEST_F(WorkerTest, PolicyNonIpFramesAgainstTheL2Allowlist) {
  const Hosts& h = hosts4();
  const Mac mac_a = {2, 0, 0, 0, 0, 0xa};
  const Mac mac_b = {2, 0, 0, 0, 0, 0xb};
  const Mac mac_c = {2, 0, 0, 0, 0, 0xc};
  load_policy(policy_text("drop"));  // allow_ethertypes defaults to ["arp"]
  EXPECT_EQ(sides(send_frame(arp_request(kVendorMac, h.vendor, h.server), true)), kToCoreOnly);
  EXPECT_EQ(sides(send_frame(arp_request(kCoreMac, h.server, h.vendor), false)), kToVendorOnly);
  EXPECT_TRUE(alerts().empty());
  // LLDP is not listed: every frame dropped, one alert per (source MAC, ethertype).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kNothing);
  std::vector<AlertRecord> a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_l2_alert(a[0], rules::Action::kDrop, Direction::kToCore, 0x88cc, mac_a);
  EXPECT_EQ(sides(send_frame(lldp(mac_b), true)), kNothing);
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kNothing);
  EXPECT_EQ(sides(send_frame(lldp(mac_c), false)), kNothing);
  EXPECT_EQ(sides(send_frame(lldp(mac_c), false)), kNothing);
  a = alerts();
  ASSERT_EQ(a.size(), 2u);
  expect_l2_alert(a[0], rules::Action::kDrop, Direction::kToCore, 0x88cc, mac_b);
  expect_l2_alert(a[1], rules::Action::kDrop, Direction::kToVendor, 0x88cc, mac_c);
  EXPECT_EQ(drops(DropReason::kPolicy), 7u);
  EXPECT_EQ(violations(), 3u);
  EXPECT_EQ(allowed(), 0u);

  // Default alert: forwarded, alerted once.
  load_policy(policy_text("alert"));
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kToCoreOnly);
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kToCoreOnly);
  a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_l2_alert(a[0], rules::Action::kAlert, Direction::kToCore, 0x88cc, mac_a);
  EXPECT_EQ(all_drops(), 0u);

  // Default reject: nothing to answer a non-IP frame with; dropped.
  load_policy(policy_text("reject"));
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kNothing);
  ASSERT_EQ(alerts().size(), 1u);
  EXPECT_EQ(drops(DropReason::kPolicy), 1u);
  EXPECT_EQ(worker_->counters().inspect.reject_sent.get(), 0u);

  // Listed: forwarded without alert, by name or number.
  load_policy(policy_text("drop", "[policy.l2]\nallow_ethertypes = [\"lldp\", 0x9000]\n"));
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kToCoreOnly);
  EXPECT_EQ(sides(send_frame(l2_frame(mac_a, kBroadcast, 0x9000, {0, 0, 1, 0}), true)), kToCoreOnly);
  // ARP is not listed any more: dropped.
  EXPECT_EQ(sides(send_frame(arp_request(kVendorMac, h.vendor, h.server), true)), kNothing);
  a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_l2_alert(a[0], rules::Action::kDrop, Direction::kToCore, 0x0806, kVendorMac);

  // Default allow: nothing dropped or alerted.
  load_policy(policy_text("allow"));
  EXPECT_EQ(sides(send_frame(lldp(mac_a), true)), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
}

TEST_F(WorkerTest, PolicyNonIpAlertsAgainAfterTheFlowTimeout) {
  config::Config cfg;
  cfg.flows.timeout_embryonic = 1;
  load_policy(policy_text("drop"), cfg);
  const Mac mac = {2, 0, 0, 0, 0, 0xa};
  EXPECT_EQ(sides(send_frame(lldp(mac), true)), kNothing);
  EXPECT_EQ(sides(send_frame(lldp(mac), true)), kNothing);
  EXPECT_EQ(alerts().size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(sides(send_frame(lldp(mac), true)), kNothing);
  EXPECT_EQ(alerts().size(), 1u);
  EXPECT_EQ(violations(), 2u);
}

TEST_F(WorkerTest, PolicyAntiSpoofingOnTheVendorPort) {
  const Hosts& h4 = hosts4();
  const Hosts& h6 = hosts6();
  std::string why;
  config::Config cfg;
  cfg.network.vendor_nets = {*config::parse_cidr("10.0.0.0/24", why), *config::parse_cidr("2001:db8:1::/64", why)};
  // Without a policy: the check stands on its own.
  load("", cfg);
  EXPECT_EQ(sides(send(tcp(h4, true, ip4(10, 0, 1, 2), 40000, h4.server, 443, kSyn))), kNothing);
  EXPECT_EQ(sides(send(tcp(h4, true, h4.vendor, 40000, h4.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h6, true, ip6("2001:db8:9::2"), 40000, h6.server, 443, kSyn))), kNothing);
  EXPECT_EQ(sides(send(tcp(h6, true, h6.vendor, 40000, h6.server, 443, kSyn))), kToCoreOnly);
  // The unspecified and link-local sources of DHCP and neighbour discovery.
  EXPECT_EQ(sides(send(udp(h4, true, ip4(0, 0, 0, 0), 68, ip4(255, 255, 255, 255), 67, "discover"))), kToCoreOnly);
  EXPECT_EQ(sides(send(neighbour_solicitation(true, Addr{}, ip6("ff02::1:ff00:2"), h6.vendor))), kToCoreOnly);
  EXPECT_EQ(sides(send(neighbour_solicitation(true, ip6("fe80::2"), ip6("ff02::1:ff00:1"), ip6("fe80::1")))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h6, true, ip6("fe80::2"), 40000, ip6("fe80::1"), 22, kSyn))), kToCoreOnly);
  // ARP is not IP: not checked.
  EXPECT_EQ(sides(send_frame(arp_request(kVendorMac, ip4(10, 9, 9, 9), h4.server), true)), kToCoreOnly);
  // The core port is never checked.
  EXPECT_EQ(sides(send(tcp(h4, false, ip4(8, 8, 8, 8), 443, h4.vendor, 40000, kSynAck))), kToVendorOnly);
  EXPECT_EQ(sides(send(tcp(h6, false, ip6("2001:db8:9::2"), 443, h6.vendor, 40000, kSynAck))), kToVendorOnly);
  EXPECT_EQ(drops(DropReason::kSpoofedSource), 2u);
  EXPECT_EQ(all_drops(), 2u);
  EXPECT_EQ(passed(DropReason::kSpoofedSource), 0u);
  EXPECT_TRUE(alerts().empty());

  // [failure] spoofed_source = "pass": forwarded, counted as passed.
  config::Config pass_cfg = cfg;
  pass_cfg.failure.spoofed_source = config::FailAction::kPass;
  load("", pass_cfg);
  EXPECT_EQ(sides(send(tcp(h4, true, ip4(10, 0, 1, 2), 40000, h4.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h6, true, ip6("2001:db8:9::2"), 40000, h6.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(passed(DropReason::kSpoofedSource), 2u);
  EXPECT_EQ(all_drops(), 0u);

  // With a policy: a spoofed frame is dropped as spoofed before the policy sees it.
  load_policy(policy_text("drop"), cfg);
  EXPECT_EQ(sides(send(tcp(h4, true, ip4(10, 0, 1, 2), 40000, h4.server, 443, kSyn))), kNothing);
  EXPECT_EQ(sides(send(tcp(h4, true, ip4(10, 0, 1, 2), 40001, h4.other, 443, kSyn))), kNothing);
  EXPECT_EQ(drops(DropReason::kSpoofedSource), 2u);
  EXPECT_EQ(drops(DropReason::kPolicy), 0u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(allowed() + violations(), 0u);
  EXPECT_EQ(sides(send(tcp(h4, true, h4.vendor, 40000, h4.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(allowed(), 1u);

  // With a policy and spoofed_source = "pass": counted, then judged like any other flow.
  load_policy(policy_text("drop"), pass_cfg);
  EXPECT_EQ(sides(send(tcp(h4, true, ip4(10, 0, 1, 2), 40000, h4.server, 443, kSyn))), kToCoreOnly);
  const Ip spoofed = tcp(h4, true, ip4(10, 0, 1, 2), 40001, h4.other, 443, kSyn);
  EXPECT_EQ(sides(send(spoofed)), kNothing);
  EXPECT_EQ(passed(DropReason::kSpoofedSource), 2u);
  EXPECT_EQ(drops(DropReason::kPolicy), 1u);
  const std::vector<AlertRecord> a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToCore);
  expect_about(a[0], spoofed);
}

// A frame the parser finds malformed but a [failure] policy passes (malformed_core is
// "pass" by default) still carries its packet to the far side: it must not be a way
// around the policy.
TEST_F(WorkerTest, PolicyJudgesMalformedFramesPassedByTheFailurePolicy) {
  const Hosts& h = hosts4();
  load_policy(policy_text("drop"));  // the fixture passes malformed vendor frames too
  // A SYN whose option runs past the TCP header (tcp_bad_option).
  const auto bad_option_syn = [&](bool from_vendor, const Addr& src, uint16_t sport, const Addr& dst, uint16_t dport) {
    std::vector<uint8_t> f = ip_frame(tcp(h, from_vendor, src, sport, dst, dport, kSyn, std::string("\x02\x10\x05\xb4", 4)));
    f[14 + 20 + 12] = 6 << 4;  // the 4 payload bytes become an MSS option claiming 16 bytes
    return f;
  };
  EXPECT_EQ(sides(send_frame(bad_option_syn(false, h.other, 443, h.vendor, 40000), false)), kNothing)
      << "an unlisted core host reaching the vendor box";
  EXPECT_EQ(sides(send_frame(bad_option_syn(true, h.vendor, 40001, h.other, 443), true)), kNothing)
      << "the vendor box reaching an unlisted host";
  EXPECT_GE(worker_->counters().malformed_passed[static_cast<size_t>(DropReason::kTcpBadOption)].get() +
                worker_->counters().drops[static_cast<size_t>(DropReason::kTcpBadOption)].get(),
            2u)
      << "the frames are malformed";
}

TEST_F(WorkerTest, PolicyLearnModeRecordsFlowsAndEthertypes) {
  const Hosts& h4 = hosts4();
  const Hosts& h6 = hosts6();
  load_policy(policy_text("drop", "", "learn"));
  ASSERT_NE(worker_->learn_table(), nullptr);
  const std::vector<Ip> frames = {
      // Two HTTPS flows to a host no allow lists: one entry, two flows.
      tcp(h4, true, h4.vendor, 40000, h4.other, 443, kSyn),
      tcp(h4, false, h4.other, 443, h4.vendor, 40000, kSynAck),
      tcp(h4, true, h4.vendor, 40000, h4.other, 443, kPshAck, "GET / HTTP/1.0\r\n\r\n"),
      tcp(h4, true, h4.vendor, 40001, h4.other, 443, kSyn),
      // DNS over IPv6, query and answer.
      udp(h6, true, h6.vendor, 5353, h6.dns, 53),
      udp(h6, false, h6.dns, 53, h6.vendor, 5353, "answer"),
      // SSH the core opened.
      tcp(h4, false, h4.core, 50000, h4.vendor, 22, kSyn),
      // Mid-stream: the lower port is the server's, whichever end is seen first.
      tcp(h4, false, h4.server, 443, h4.vendor, 40002, kPshAck, "data"),   // vendor opened to :443
      tcp(h4, true, h4.vendor, 8443, h4.core, 50123, kPshAck, "data"),     // the core opened to :8443
      // A ping.
      icmp(h4, true, h4.vendor, h4.other, 8, 0, 0x00010001, bytes_of("ping")),
  };
  size_t total = 0;
  for (const Ip& k : frames) {
    const std::vector<Out> out = send(k);
    EXPECT_EQ(out.size(), 1u);
    total += out.size();
  }
  EXPECT_EQ(sides(send_frame(lldp(kVendorMac), true)), kToCoreOnly);
  EXPECT_EQ(sides(send_frame(arp_request(kCoreMac, h4.server, h4.vendor), false)), kToVendorOnly);
  EXPECT_EQ(total, frames.size());
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(all_drops(), 0u);
  EXPECT_EQ(violations(), 0u);

  std::vector<rules::LearnedFlow> flows;
  std::vector<uint16_t> ethertypes;
  worker_->learn_table()->snapshot(flows, ethertypes);
  std::vector<std::string> got;
  for (const rules::LearnedFlow& f : flows) got.push_back(describe(f));
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = {
      learned("vendor", "tcp", h4.vendor, h4.other, 443, false, 2,
              wire(frames[0]) + wire(frames[1]) + wire(frames[2]) + wire(frames[3])),
      learned("vendor", "udp", h6.vendor, h6.dns, 53, true, 1, wire(frames[4]) + wire(frames[5])),
      learned("core", "tcp", h4.core, h4.vendor, 22, false, 1, wire(frames[6])),
      learned("vendor", "tcp", h4.vendor, h4.server, 443, false, 1, wire(frames[7])),
      learned("core", "tcp", h4.core, h4.vendor, 8443, false, 1, wire(frames[8])),
      learned("vendor", "icmp", h4.vendor, h4.other, 8, false, 1, wire(frames[9])),
  };
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  std::sort(ethertypes.begin(), ethertypes.end());
  EXPECT_EQ(ethertypes, (std::vector<uint16_t>{0x0806, 0x88cc}));
  EXPECT_EQ(worker_->learn_table()->size(), want.size());
  EXPECT_EQ(worker_->counters().policy.learn_entries.get(), want.size());
  EXPECT_EQ(worker_->counters().policy.learn_table_full.get(), 0u);
}

class WorkerLearnTest : public WorkerTest {
 protected:
  // Learns from `frames`, then enforces what it learned on the same frames. Returns the
  // learned policy file.
  std::string learn_then_enforce(const std::vector<Sent>& frames) {
    load_policy(policy_text("drop", "", "learn"));
    for (const Sent& s : frames) EXPECT_FALSE(send_frame(s.bytes, s.on_vendor).empty());
    EXPECT_TRUE(alerts().empty());
    std::vector<rules::LearnedFlow> flows;
    std::vector<uint16_t> ethertypes;
    worker_->learn_table()->snapshot(flows, ethertypes);
    const std::string text = rules::write_learned_policy(flows, ethertypes, rules::LearnLimits{}, true, "unit test");
    load_policy(text);
    enforced_.clear();
    for (const Sent& s : frames) enforced_.push_back(send_frame(s.bytes, s.on_vendor));
    return text;
  }
  std::vector<std::vector<Out>> enforced_;
};

TEST_F(WorkerLearnTest, LearnedPolicyReplaysWithoutViolations) {
  const Hosts& h4 = hosts4();
  const Hosts& h6 = hosts6();
  const Ip q4 = udp(h4, true, h4.vendor, 5353, h4.dns, 53);
  const std::vector<Sent> frames = {
      sent(tcp(h4, true, h4.vendor, 40000, h4.other, 443, kSyn)),
      sent(tcp(h4, false, h4.other, 443, h4.vendor, 40000, kSynAck)),
      sent(tcp(h4, true, h4.vendor, 40000, h4.other, 443, kPshAck, "GET /")),
      sent(tcp(h6, true, h6.vendor, 40000, h6.server, 8080, kSyn)),
      sent(tcp(h4, false, h4.core, 50000, h4.vendor, 22, kSyn)),
      sent(tcp(h4, false, h4.server, 443, h4.vendor, 40002, kPshAck, "mid-stream")),
      sent(tcp(h4, true, h4.vendor, 8443, h4.core, 50123, kPshAck, "mid-stream")),
      sent(q4),
      sent(icmp_error(h4, false, h4.router, h4.vendor, 3, 3, q4)),
      sent(udp(h6, true, h6.vendor, 5353, h6.dns, 53)),
      sent(icmp(h4, true, h4.vendor, h4.other, 8, 0, 0x00010001, bytes_of("ping"))),
      sent(icmp(h4, false, h4.other, h4.vendor, 0, 0, 0x00010001, bytes_of("ping"))),
      {lldp(kVendorMac), true},
      {arp_request(kCoreMac, h4.server, h4.vendor), false},
  };
  const std::string text = learn_then_enforce(frames);
  SCOPED_TRACE(text);
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(enforced_[i].size(), 1u) << "frame " << i;
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(violations(), 0u);
  EXPECT_EQ(all_drops(), 0u);
  // Something new is a violation: a new destination, a new port on a learned host.
  EXPECT_EQ(sides(send(tcp(h4, true, h4.vendor, 40100, ip4(172, 16, 0, 1), 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h4, true, h4.vendor, 40101, h4.other, 444, kSyn))), kToCoreOnly);
  EXPECT_EQ(alerts().size(), 2u);
  EXPECT_EQ(violations(), 2u);
}

// An ICMP error quoting a flow the capture does not hold is a flow of its own in enforce
// mode (PolicyIcmpErrorQuotingNoKnownFlowIsAFlowOfItsOwn), so learn mode must record it.
TEST_F(WorkerLearnTest, LearnedPolicyCoversIcmpErrorsQuotingUnknownFlows) {
  const Hosts& h4 = hosts4();
  const Ip before_capture = udp(h4, true, h4.vendor, 7777, h4.other, 9);  // not in the capture
  const std::vector<Sent> frames = {
      sent(icmp_error(h4, false, h4.router, h4.vendor, 3, 3, before_capture)),
  };
  const std::string text = learn_then_enforce(frames);
  SCOPED_TRACE(text);
  EXPECT_EQ(enforced_[0].size(), 1u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(violations(), 0u);
}

// Spanning tree and other IEEE 802.3/LLC frames carry a length where the ethertype would
// be; learn mode sees them, and the learned policy must let them across again.
TEST_F(WorkerLearnTest, LearnedPolicyCovers8023Frames) {
  const std::vector<Sent> frames = {{stp_bpdu(kVendorMac), true}, {stp_bpdu(kCoreMac), false}};
  const std::string text = learn_then_enforce(frames);
  SCOPED_TRACE(text);
  EXPECT_EQ(enforced_[0].size(), 1u);
  EXPECT_EQ(enforced_[1].size(), 1u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(violations(), 0u);
}

// A fragmented datagram is judged whole, by its first fragment's ports: the fragments of an
// allowed flow's query cross together once the last one is in.
TEST_F(WorkerTest, PolicyFragmentsOfAnAllowedFlowCrossTogether) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const auto query = fragments(udp(h, true, h.vendor, 5354, h.dns, 53, "a query that needs two fragments"), 16, 0x4321);
    EXPECT_EQ(sides(send_frame(query[0], true)), kNothing) << "first fragment, held";
    EXPECT_EQ(sides(send_frame(query[1], true)), (std::vector<std::string>{"core", "core"})) << "both";
    EXPECT_EQ(all_drops(), 0u);
    EXPECT_EQ(violations(), 0u);
  }
}

// ... and those of a denied flow, or of no flow at all, do not get across: a lone later
// fragment still carries its bytes to an unlisted host.
TEST_F(WorkerTest, PolicyLaterFragmentsOfADeniedFlowAreDropped) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const auto denied = fragments(udp(h, true, h.vendor, 5353, h.other, 53, "a query that needs two fragments"), 16);
    EXPECT_EQ(sides(send_frame(denied[0], true)), kNothing) << "first fragment, held";
    EXPECT_EQ(worker_->counters().fragments.held.get(), 1);
    EXPECT_EQ(sides(send_frame(denied[1], true)), kNothing) << "later fragment: the datagram is denied";
    EXPECT_EQ(drops(DropReason::kPolicy), 2u) << "both fragments";
    const auto lone = fragments(udp(h, true, h.vendor, 5353, h.other, 4444, "no first fragment ever sent here"), 16, 0x777);
    EXPECT_EQ(sides(send_frame(lone[1], true)), kNothing) << "a later fragment alone is held, never judged alone";
    EXPECT_EQ(worker_->counters().fragments.held.get(), 1);
    EXPECT_EQ(all_drops(), 2u);
  }
}

// An ICMP error goes back to the sender of the packet it quotes. One the vendor box sends
// elsewhere, quoting one of its allowed flows, is no part of that flow: it would reach an
// unlisted host with whatever follows the quote.
TEST_F(WorkerTest, PolicyIcmpErrorToAnotherHostDoesNotFollowTheQuotedFlow) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const Ip query = udp(h, true, h.vendor, 5353, h.dns, 53);
    EXPECT_EQ(sides(send(query)), kToCoreOnly);
    const Ip ssh = tcp(h, false, h.core, 50000, h.vendor, 22, kSyn);
    EXPECT_EQ(sides(send(ssh)), kToVendorOnly);
    const uint8_t type = h.v6 ? 1 : 3;
    const uint8_t code = h.v6 ? 4 : 3;
    Ip e1 = icmp_error(h, true, h.vendor, h.other, type, code, query);
    e1.payload.resize(e1.payload.size() + 64, 'X');  // a payload beyond the quote
    EXPECT_EQ(sides(send(e1)), kNothing) << "quoting its own allowed query, sent to an unlisted host";
    EXPECT_EQ(sides(send(icmp_error(h, true, h.vendor, h.other, type, code, ssh))), kNothing)
        << "quoting the core host's allowed SSH opening, sent to an unlisted host";
    EXPECT_EQ(drops(DropReason::kPolicy), 2u);
    EXPECT_EQ(alerts().size(), 1u);
  }
}

// With the flow table full of established flows, a new flow cannot be tracked; the policy
// must still not let an unlisted flow across.
// Tests that first fill the flow table with established (answered) allowed DNS flows.
class FullTableTest : public WorkerTest {
 protected:
  void fill_flow_table(const Hosts& h, uint32_t capacity) {
    for (uint32_t base = 0; base < capacity; base += 32) {
      std::vector<std::vector<uint8_t>> queries;
      std::vector<std::vector<uint8_t>> answers;
      for (uint32_t i = base; i < base + 32 && i < capacity; ++i) {
        queries.push_back(ip_frame(udp(h, true, h.vendor, static_cast<uint16_t>(10000 + i), h.dns, 53)));
        answers.push_back(ip_frame(udp(h, false, h.dns, 53, h.vendor, static_cast<uint16_t>(10000 + i), "answer")));
      }
      EXPECT_EQ(send_burst(queries, true).size(), queries.size());
      EXPECT_EQ(send_burst(answers, false).size(), answers.size());
    }
  }
};

// [failure] flow_table_full = "pass" (default): a frame the full table refused is judged on
// its own — allowed passes, unlisted is dropped by the policy; never uninspected by it.
TEST_F(FullTableTest, PolicyHoldsWhenTheFlowTableIsFull) {
  const Hosts& h = hosts4();
  load_policy(policy_text("drop"));
  const uint32_t capacity = cfg_.flows.capacity;
  fill_flow_table(h, capacity);
  EXPECT_EQ(allowed(), capacity);
  EXPECT_EQ(worker_->counters().flows.table_full.get(), 0u);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kSyn))), kNothing);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 5353, h.other, 4444, "exfiltrated"))), kNothing);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 30000, h.dns, 53, "allowed"))), kToCoreOnly);
  EXPECT_EQ(worker_->counters().flows.table_full.get(), 3u) << "the table was full";
  EXPECT_EQ(drops(DropReason::kPolicy), 2u);
  EXPECT_EQ(drops(DropReason::kFlowTableFull), 0u);
  EXPECT_EQ(passed(DropReason::kFlowTableFull), 3u) << "each refused frame is counted as failed open";
}

// [failure] flow_table_full = "drop": every frame of a refused flow goes, allowed or not;
// frames of the flows in the table still pass.
TEST_F(FullTableTest, FlowTableFullDropFailsClosed) {
  const Hosts& h = hosts4();
  config::Config cfg;
  cfg.failure.flow_table_full = config::FailAction::kDrop;
  load_policy(policy_text("drop"), cfg);
  const uint32_t capacity = cfg_.flows.capacity;
  fill_flow_table(h, capacity);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 30000, h.dns, 53, "allowed"))), kNothing);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.other, 443, kSyn))), kNothing);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 10000, h.dns, 53, "tracked"))), kToCoreOnly);
  EXPECT_EQ(drops(DropReason::kFlowTableFull), 2u);
  EXPECT_EQ(drops(DropReason::kPolicy), 0u) << "the table-full drop comes first, no policy alert";
  EXPECT_EQ(passed(DropReason::kFlowTableFull), 0u);
  EXPECT_EQ(worker_->counters().flows.table_full.get(), 2u);
}

TEST_F(WorkerTest, PolicyLearnTableFullIsCounted) {
  const Hosts& h = hosts4();
  load_policy(policy_text("drop", "", "learn"));
  constexpr uint32_t kTable = config::kLearnTableSize;
  constexpr uint32_t kExtra = 5;
  for (uint32_t base = 0; base < kTable + kExtra; base += 32) {
    std::vector<std::vector<uint8_t>> burst;
    for (uint32_t i = base; i < base + 32 && i < kTable + kExtra; ++i) {
      // A distinct destination for each: 192.168.x.y port 53.
      burst.push_back(ip_frame(udp(h, true, h.vendor, 5353, ip4(192, 168, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), 53)));
      if (i >= 65536) burst.back()[14 + 16 + 1] = 169;  // 192.169.x.y beyond 16 bits
    }
    EXPECT_EQ(send_burst(burst, true).size(), burst.size());
  }
  EXPECT_EQ(worker_->learn_table()->size(), kTable);
  EXPECT_EQ(worker_->counters().policy.learn_entries.get(), kTable);
  EXPECT_EQ(worker_->counters().policy.learn_table_full.get(), kExtra);
  EXPECT_EQ(all_drops(), 0u);
  EXPECT_TRUE(alerts().empty());
  // A new flow of a recorded observation still counts.
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 6000, ip4(192, 168, 0, 7), 53))), kToCoreOnly);
  EXPECT_EQ(worker_->counters().policy.learn_table_full.get(), kExtra);
  std::vector<rules::LearnedFlow> flows;
  std::vector<uint16_t> ethertypes;
  worker_->learn_table()->snapshot(flows, ethertypes);
  EXPECT_EQ(flows.size(), kTable);
  const auto it = std::find_if(flows.begin(), flows.end(), [&](const rules::LearnedFlow& f) {
    return f.dst == ip4(192, 168, 0, 7);
  });
  ASSERT_NE(it, flows.end());
  EXPECT_EQ(it->flows, 2u);
}

TEST_F(WorkerTest, PolicyAllowHitsCountFlowsPerAllow) {
  const Hosts& h = hosts4();
  // Overlapping allows: the first listed that permits a flow takes it.
  load_policy(policy_text("alert",
                          "[[allow]]\nname = \"web to the core lan\"\nfrom = \"vendor\"\nproto = \"tcp\"\n"
                          "dst_nets = [\"192.168.1.0/24\", \"!192.168.1.99/32\"]\n"));
  EXPECT_EQ(hits(), (std::vector<uint64_t>{0, 0, 0, 0}));
  (void)send(tcp(h, true, h.vendor, 40000, h.server, 443, kSyn));
  (void)send(tcp(h, false, h.server, 443, h.vendor, 40000, kSynAck));  // the same flow
  (void)send(tcp(h, true, h.vendor, 40001, h.server, 443, kSyn));
  (void)send(tcp(h, true, h.vendor, 40002, h.server, 80, kSyn));
  (void)send(tcp(h, true, h.vendor, 40003, h.core, 443, kSyn));
  (void)send(udp(h, true, h.vendor, 5353, h.dns, 53));
  (void)send(tcp(h, true, h.vendor, 40004, h.other, 443, kSyn));  // excluded: a violation
  EXPECT_EQ(hits(), (std::vector<uint64_t>{2, 1, 0, 2}));
  EXPECT_EQ(allowed(), 5u);
  EXPECT_EQ(violations(), 1u);
  EXPECT_EQ(alerts().size(), 1u);
}

TEST_F(WorkerTest, PolicyClassifiesABurstOfNewFlowsTogether) {
  const Hosts& h = hosts4();
  load_policy(policy_text("alert"));
  // From the vendor port, one burst: allowed and violating openings, mid-stream both ways
  // round, and a second packet of a violating flow.
  const std::vector<Out> out = send_burst({
      ip_frame(tcp(h, true, h.vendor, 40000, h.server, 443, kAck)),                 // mid-stream, allowed
      ip_frame(tcp(h, true, h.vendor, 40001, h.other, 443, kSyn)),                  // violation
      ip_frame(tcp(h, true, h.vendor, 40002, h.server, 443, kSyn)),                 // allowed
      ip_frame(tcp(h, true, h.vendor, 40003, h.other, 443, kPshAck, "x")),          // mid-stream violation
      ip_frame(tcp(h, true, h.vendor, 22, h.core, 50000, kPshAck, "y")),            // mid-stream, allowed reversed
      ip_frame(udp(h, true, h.vendor, 5353, h.dns, 53)),                            // allowed
      ip_frame(tcp(h, true, h.vendor, 40001, h.other, 443, kSyn)),                  // the violation again
  }, true);
  EXPECT_EQ(out.size(), 7u);
  std::vector<AlertRecord> a = alerts();
  ASSERT_EQ(a.size(), 2u);
  expect_policy_alert(a[0], rules::Action::kAlert, Direction::kToCore);
  EXPECT_EQ(a[0].src_port, 40001);
  expect_policy_alert(a[1], rules::Action::kAlert, Direction::kToCore, kAlertFlagMidStream);
  EXPECT_EQ(a[1].src_port, 40003);
  EXPECT_EQ(allowed(), 4u);
  EXPECT_EQ(violations(), 2u);
  EXPECT_EQ(hits(), (std::vector<uint64_t>{2, 1, 1}));

  // Under default drop, from the core port.
  load_policy(policy_text("drop"));
  const std::vector<Out> back = send_burst({
      ip_frame(tcp(h, false, h.server, 443, h.vendor, 40010, kPshAck, "z")),  // mid-stream, allowed reversed
      ip_frame(tcp(h, false, h.other, 443, h.vendor, 40011, kAck)),           // mid-stream violation
      ip_frame(tcp(h, false, h.core, 50000, h.vendor, 22, kSyn)),             // allowed from the core
      ip_frame(tcp(h, false, h.other, 443, h.vendor, 40011, kAck)),           // the violation again
  }, false);
  EXPECT_EQ(sides(back), (std::vector<std::string>{"vendor", "vendor"}));
  a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToVendor, kAlertFlagMidStream);
  EXPECT_EQ(drops(DropReason::kPolicy), 2u);
  EXPECT_EQ(allowed(), 2u);
  EXPECT_EQ(violations(), 1u);
}

TEST_F(WorkerTest, PolicyAllowedFlowsAreStillScanned) {
  const Hosts& h = hosts4();
  load_policy(policy_text("alert"), {}, rule(1, "drop", "EVIL") + rule(2, "alert", "SHADY"));
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kPshAck, "EVIL"))), kNothing);
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
  std::vector<AlertRecord> a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].gid, 1u);
  EXPECT_EQ(a[0].sid, 1u);
  // A violating flow's first packet raises both the policy alert and the signature's.
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40001, h.other, 443, kPshAck, "SHADY"))), kToCoreOnly);
  a = alerts();
  ASSERT_EQ(a.size(), 2u);
  expect_policy_alert(a[0], rules::Action::kAlert, Direction::kToCore, kAlertFlagMidStream);
  EXPECT_EQ(a[1].gid, 1u);
  EXPECT_EQ(a[1].sid, 2u);
  EXPECT_EQ(a[0].flow_id, a[1].flow_id);
}

// --- [[filter]] stage ---

std::string filter(const char* name, const char* expr, const char* action, uint32_t sid, const char* extra = "") {
  return std::string("[[filter]]\nname = \"") + name + "\"\nexpr = \"" + expr + "\"\naction = \"" + action +
         "\"\nsid = " + std::to_string(sid) + "\nmsg = \"" + name + "\"\n" + extra;
}

uint64_t filter_matches(const Worker& w, size_t action) { return w.counters().filter.matches[action].get(); }

TEST_F(WorkerTest, FilterAlertForwardsAndLogsWithTheFlow) {
  load_filters(filter("web", "tcp dst port 80", "alert", 3000001));
  const auto out = send(to_vendor("GET /"));
  ASSERT_EQ(out.size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].gid, rules::kGidFilters);
  EXPECT_EQ(a[0].sid, 3000001u);
  EXPECT_EQ(a[0].action, rules::Action::kAlert);
  EXPECT_EQ(a[0].verdict, Verdict::kForwarded);
  EXPECT_NE(a[0].flow_id, 0u) << "a forwarded frame's filter alert names its flow";
  EXPECT_EQ(a[0].dst_port, 80u);
  EXPECT_EQ(filter_matches(*worker_, 0), 1u);
  // The reply (source port 80) does not match.
  EXPECT_EQ(send(to_core("200 OK")).size(), 1u);
  EXPECT_TRUE(alerts().empty());
  ASSERT_EQ(worker_->filter_hits().size(), 1u);
  EXPECT_EQ(worker_->filter_hits()[0].get(), 1u);
}

TEST_F(WorkerTest, FilterDropRemovesTheFrameBeforeItMakesAFlow) {
  load_filters(filter("no-web", "tcp dst port 80", "drop", 3000002));
  EXPECT_TRUE(send(to_vendor("GET /")).empty());
  EXPECT_EQ(drops(DropReason::kFilter), 1u);
  EXPECT_EQ(all_drops(), 1u);
  EXPECT_EQ(worker_->counters().flows.created.get(), 0u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 3000002u);
  EXPECT_EQ(a[0].action, rules::Action::kDrop);
  EXPECT_EQ(a[0].verdict, Verdict::kDropped);
  EXPECT_EQ(a[0].flow_id, 0u);
  EXPECT_EQ(filter_matches(*worker_, 1), 1u);
  // Other traffic crosses.
  EXPECT_EQ(send(to_core("x")).size(), 1u);
}

TEST_F(WorkerTest, FilterDirectionSelectsTheFramesItSees) {
  load_filters(filter("vendor-web", "tcp", "drop", 3000003, "direction = \"to_core\"\n"));
  EXPECT_EQ(send(to_vendor("GET /")).size(), 1u) << "to_vendor: the filter does not run";
  EXPECT_TRUE(send(to_core("200 OK")).empty());
  EXPECT_EQ(drops(DropReason::kFilter), 1u);
}

TEST_F(WorkerTest, FiltersRunInOrderAndTheFirstDropOrPassEndsThem) {
  // alert, then drop: both alerts, the alert one with the frame's verdict (dropped).
  load_filters(filter("a", "tcp", "alert", 10) + filter("d", "tcp", "drop", 11) + filter("late", "tcp", "alert", 12));
  EXPECT_TRUE(send(to_vendor("x")).empty());
  auto a = alerts();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].sid, 10u);
  EXPECT_EQ(a[0].verdict, Verdict::kDropped);
  EXPECT_EQ(a[1].sid, 11u);
  EXPECT_EQ(filter_matches(*worker_, 0), 1u) << "the filter after the drop never ran";
  EXPECT_EQ(filter_matches(*worker_, 1), 1u);
  // pass first: nothing after it runs, the frame crosses.
  load_filters(filter("p", "tcp", "pass", 20) + filter("d", "tcp", "drop", 21));
  EXPECT_EQ(send(to_vendor("x")).size(), 1u);
  EXPECT_TRUE(alerts().empty()) << "pass is silent";
  EXPECT_EQ(filter_matches(*worker_, 2), 1u);
  EXPECT_EQ(filter_matches(*worker_, 1), 0u);
}

TEST_F(WorkerTest, FilterPassSkipsSignaturesButTheStreamFollows) {
  // Frames whose payload starts with 'P' pass (TCP header of 20 bytes: payload at tcp[20]).
  load_filters(filter("trusted", "tcp[20] = 0x50", "pass", 30), {}, rule(1, "drop", "EVIL"));
  EXPECT_EQ(send(to_vendor("P EVIL", 1001)).size(), 1u) << "passed: not scanned";
  EXPECT_TRUE(alerts().empty());
  // The next segment follows in sequence: the stream took the passed one's bytes.
  EXPECT_TRUE(send(to_vendor("x EVIL", 1007)).empty());
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].gid, 1u);
}

TEST_F(WorkerTest, FilterPassSkipsThePolicy) {
  const Hosts& h = hosts4();
  const std::string policy = policy_text("drop");
  load_filters(filter("ntp", "udp dst port 123", "pass", 40), {}, "", &policy);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 40000, h.other, 123, "t"))), kToCoreOnly);
  EXPECT_EQ(sides(send(udp(h, true, h.vendor, 40000, h.other, 124, "t"))), kNothing);
  EXPECT_EQ(drops(DropReason::kPolicy), 1u);
}

TEST_F(WorkerTest, FiltersSeeFramesThatAreNotIp) {
  const Hosts& h = hosts4();
  load_filters(filter("arp", "arp", "alert", 50));
  EXPECT_EQ(sides(send_frame(arp_request(kVendorMac, h.vendor, h.server), true)), kToCoreOnly);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ip_version, 0u);
  EXPECT_EQ(a[0].ether_type, 0x0806u);
  EXPECT_EQ(a[0].src_mac, kVendorMac);
}

TEST_F(WorkerTest, FilterAlertsAreLimitedPerSecondAndReportWhatWasHeldBack) {
  config::Config cfg;
  cfg.rules.filter_alerts_per_second = 2;
  load_filters(filter("web", "tcp dst port 80", "alert", 60), cfg);
  std::vector<std::vector<uint8_t>> burst;
  for (uint32_t k = 0; k < 5; ++k) burst.push_back(frame(to_vendor("x", 1001 + k)));
  EXPECT_EQ(send_burst(burst, false).size(), 5u) << "the limit never touches forwarding";
  auto a = alerts();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].suppressed, 0u);
  EXPECT_EQ(worker_->counters().filter.alerts_suppressed.get(), 3u);
  EXPECT_EQ(filter_matches(*worker_, 0), 5u) << "every match is counted";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(send(to_vendor("x", 1006)).size(), 1u);
  a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].suppressed, 3u) << "the next alert says how many it stands for";
}

int main(int argc, char** argv) {
  return sentinel::test::run_tests_with_eal(argc, argv, "test-worker", "256", [] {
    install_stream_allocator();
    g_pool = rte_pktmbuf_pool_create("test_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    g_vendor = make_port("vendor");
    g_core = make_port("core");
  });
}

// ---------------------------------------------------------------------------------------
// Reload: a new generation published while flows are open.

TEST_F(WorkerTest, ReloadScansAnOpenFlowWithTheNewRulesFromItsNextPacket) {
  load(rule(1, "alert", "OLDPAT"));
  EXPECT_EQ(send(to_vendor("GET /OLDPAT", 1001)).size(), 1u);
  ASSERT_EQ(alerts().size(), 1u);
  const Generation& first = *gens_.front().gen;
  EXPECT_EQ(first.streams_open(), 1);
  reload(rule(2, "drop", "NEWPAT"));
  // The flow's next packet: forwarded (no match), then the new rule blocks it; the old
  // rule matches no more.
  EXPECT_EQ(send(to_vendor(" OLDPAT again", 1012)).size(), 1u);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(worker_->counters().reload.flows_migrated.get(), 1u);
  EXPECT_EQ(first.streams_open(), 0) << "the old database is free to go";
  EXPECT_EQ(gens_.back().gen->streams_open(), 1);
  EXPECT_TRUE(send(to_vendor("xNEWPATx", 1025)).empty());
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 2u);
  EXPECT_EQ(a[0].generation, 2u);
  EXPECT_EQ(drops(DropReason::kSignature), 1u);
  EXPECT_EQ(worker_->counters().reload.flows_migrated.get(), 1u) << "a flow migrates once per reload";
}

TEST_F(WorkerTest, ReloadKeepsRuleOffsetsCountedFromTheFlowStart) {
  const std::string depth10 =
      "[[rule]]\nsid = 10\nmsg = \"d10\"\nmatch = [{ content = \"ABC\", depth = 10 }]\n";
  const std::string depth40 =
      "[[rule]]\nsid = 40\nmsg = \"d40\"\nmatch = [{ content = \"XYZ\", depth = 40 }]\n";
  load(rule(1, "alert", "NEVERSEEN"));
  EXPECT_EQ(send(to_vendor(std::string(20, 'a'), 1001)).size(), 1u);  // flow bytes 0..19
  reload(depth10 + depth40);
  // Bytes 20..25 of the flow, the first of the reopened stream: ABC ends at 23 > 10, XYZ at 26 <= 40.
  EXPECT_EQ(send(to_vendor("ABCXYZ", 1021)).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 40u);
  // A flow that starts under the new rules: ABC within its first 10 bytes matches.
  Pkt fresh = to_vendor("ABC", 1001);
  fresh.core_port = 40001;
  EXPECT_EQ(send(fresh).size(), 1u);
  const auto b = alerts();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].sid, 10u);
}

TEST_F(WorkerTest, ReloadRejudgesPolicyDecisionsOnTheNextPacket) {
  const Hosts& h = hosts4();
  const std::string with_allow = policy_text("drop");
  const std::string without = "[policy]\nmode = \"enforce\"\ndefault = \"drop\"\ndefault_sid = " + std::to_string(kSid) + "\n";
  load_policy(with_allow);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kSyn))), kToCoreOnly);
  EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kSynAck))), kToVendorOnly);
  const Ip denied_syn = tcp(h, true, h.vendor, 40001, h.other, 443, kSyn);
  EXPECT_EQ(sides(send(denied_syn)), kNothing);
  ASSERT_EQ(alerts().size(), 1u);
  reload("", &without);
  // The allowed flow's next packet, a reply: its opener was the vendor box; no allow now.
  EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kPshAck, "data"))), kNothing);
  auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  expect_policy_alert(a[0], rules::Action::kDrop, Direction::kToVendor);
  EXPECT_EQ(a[0].src_port, 443) << "the alert describes the packet that met the new policy";
  // The denied flow stays denied, without a second alert.
  EXPECT_EQ(sides(send(denied_syn)), kNothing);
  EXPECT_TRUE(alerts().empty());
  // Back to the allow: the flow is permitted again from its next packet, either direction
  // (a reply judged as if it opened the flow would find no allow).
  reload("", &with_allow);
  EXPECT_EQ(sides(send(tcp(h, false, h.server, 443, h.vendor, 40000, kPshAck, "more"))), kToVendorOnly);
  EXPECT_EQ(sides(send(tcp(h, true, h.vendor, 40000, h.server, 443, kPshAck, "ack"))), kToCoreOnly);
  EXPECT_TRUE(alerts().empty());
  EXPECT_EQ(hits(), (std::vector<uint64_t>{1, 0, 0})) << "counted under the generation in force";
  // Counted when the outcome changed: allowed, then a violation, then allowed again; the
  // flow denied throughout counted once.
  EXPECT_EQ(allowed(), 2u);
  EXPECT_EQ(violations(), 2u);
  EXPECT_EQ(worker_->counters().reload.flows_migrated.get(), 3u) << "two flows, then the one that came back";
}

TEST_F(WorkerTest, ReloadSweepReleasesIdleFlowsStreams) {
  load(rule(1, "alert", "NEVERSEEN"));
  EXPECT_EQ(send(to_vendor("hello", 1001)).size(), 1u);
  Pkt other = to_vendor("world", 1001);
  other.core_port = 40001;
  EXPECT_EQ(send(other).size(), 1u);
  const Generation& first = *gens_.front().gen;
  EXPECT_EQ(first.streams_open(), 2);
  reload(rule(2, "alert", "STILLNOT"));
  // No packet of either flow: empty polls sweep kSweepBudget slots each.
  for (uint32_t i = 0; i < 1024 / kSweepBudget + 1; ++i) (void)worker_->poll_once();
  EXPECT_EQ(first.streams_open(), 0);
  EXPECT_EQ(worker_->counters().reload.flows_swept.get(), 2u);
  EXPECT_EQ(worker_->counters().reload.flows_migrated.get(), 0u);
  // The flow goes on under the new rules; its stream reopens on the new database.
  EXPECT_EQ(send(to_vendor(" STILLNOT", 1006)).size(), 1u);
  const auto a = alerts();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sid, 2u);
  EXPECT_EQ(gens_.back().gen->streams_open(), 1);
}

// IP reassembly (stage 2c): fragments are held until their datagram is complete, the
// datagram is inspected whole, and its fragments leave as they arrived — or not at all.
class FragmentTest : public WorkerTest {
 protected:
  // Every frame received is forwarded, dropped or still held.
  void expect_accounted() {
    const WorkerCounters& c = worker_->counters();
    uint64_t rx = 0;
    uint64_t out = 0;
    for (const DirectionCounters& d : c.dir) {
      rx += d.rx_packets.get();
      out += d.forwarded.get() + d.dropped.get();
    }
    EXPECT_EQ(rx, out + static_cast<uint64_t>(c.fragments.held.get())) << "rx = forwarded + dropped + held";
    uint64_t dropped = 0;
    for (const DirectionCounters& d : c.dir) dropped += d.dropped.get();
    EXPECT_EQ(all_drops(), dropped) << "every dropped frame has its reason";
  }
  std::vector<Out> send_all(const std::vector<std::vector<uint8_t>>& frames, bool on_vendor) {
    std::vector<Out> out;
    for (const std::vector<uint8_t>& f : frames) {
      for (Out& o : send_frame(f, on_vendor)) out.push_back(std::move(o));
    }
    return out;
  }
  static size_t ip_payload(const Ip& k) { return ip_frame(k).size() - 14 - (k.v6 ? 40 : 20); }
};

// The fragments that left, as a sorted list of frames: compared with what was sent.
std::vector<std::vector<uint8_t>> frames_of(const std::vector<Out>& out) {
  std::vector<std::vector<uint8_t>> v;
  for (const Out& o : out) v.push_back(o.bytes);
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(FragmentTest, SignatureAcrossFragmentsIsCaughtInAnyOrder) {
  for (const Hosts* hp : both_families()) {
    for (const bool reverse : {false, true}) {
      const Hosts& h = *hp;
      SCOPED_TRACE(std::string(h.name) + (reverse ? " last fragment first" : " in order"));
      load(rule(1, "alert", "SPLITSIGNATURE") + rule(2, "drop", "KILLSWITCH"));
      // The UDP header is 8 bytes: the patterns start at IP payload offset 12, across the
      // cut at 16, and the second fragment's end at 32.
      const Ip alerted = udp(h, true, h.vendor, 5353, h.other, 53, "....SPLITSIGNATURE......................end");
      auto f = split(alerted, {{0, 16}, {16, 16}, {32, ip_payload(alerted) - 32}}, 0x51);
      if (reverse) std::reverse(f.begin(), f.end());
      const auto sent_frames = f;
      EXPECT_EQ(sides(send_frame(f[0], true)), kNothing) << "held";
      EXPECT_EQ(sides(send_frame(f[1], true)), kNothing) << "held";
      const std::vector<Out> out = send_frame(f[2], true);
      EXPECT_EQ(sides(out), (std::vector<std::string>{"core", "core", "core"})) << "all three, together";
      auto expected = sent_frames;
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(frames_of(out), expected) << "forwarded byte for byte as they arrived";
      const auto a = alerts();
      ASSERT_EQ(a.size(), 1u);
      EXPECT_EQ(a[0].sid, 1u);

      const Ip dropped = udp(h, true, h.vendor, 5353, h.other, 53, "....KILLSWITCH..........................end");
      auto d = split(dropped, {{0, 16}, {16, 16}, {32, ip_payload(dropped) - 32}}, 0x52);
      if (reverse) std::reverse(d.begin(), d.end());
      EXPECT_EQ(sides(send_all(d, true)), kNothing);
      EXPECT_EQ(drops(DropReason::kSignature), 3u) << "every fragment of the datagram";
      EXPECT_EQ(worker_->counters().fragments.datagrams.get(), 2u);
      EXPECT_EQ(worker_->counters().fragments.fragments.get(), 6u);
      EXPECT_EQ(worker_->counters().fragments.held.get(), 0);
      expect_accounted();
    }
  }
}

// The policy judges the datagram by its first fragment's ports, whichever fragment comes first.
TEST_F(FragmentTest, PolicySeesTheFirstFragmentsPorts) {
  for (const Hosts* hp : both_families()) {
    const Hosts& h = *hp;
    SCOPED_TRACE(h.name);
    load_policy(policy_text("drop"));
    const Ip allowed = udp(h, true, h.vendor, 5353, h.dns, 53, std::string(100, 'q'));
    auto f = split(allowed, {{0, 48}, {48, ip_payload(allowed) - 48}}, 0x61);
    std::reverse(f.begin(), f.end());
    EXPECT_EQ(sides(send_all(f, true)), (std::vector<std::string>{"core", "core"}));
    const Ip denied = udp(h, true, h.vendor, 5353, h.other, 53, std::string(100, 'q'));
    EXPECT_EQ(sides(send_all(split(denied, {{0, 48}, {48, ip_payload(denied) - 48}}, 0x62), true)), kNothing);
    EXPECT_EQ(drops(DropReason::kPolicy), 2u);
    expect_accounted();
  }
}

TEST_F(FragmentTest, OverlapWithConflictingBytesIsDroppedOrPassed) {
  for (const Hosts* hp : both_families()) {
    for (const config::FailAction action : {config::FailAction::kDrop, config::FailAction::kPass}) {
      const Hosts& h = *hp;
      SCOPED_TRACE(std::string(h.name) + " " + config::to_string(action));
      config::Config cfg;
      cfg.failure.frag_overlap = action;
      load(rule(1, "drop", "ATTACK"), cfg);
      // The second fragment rewrites bytes 16..24 of the first: a receiver keeping the later
      // copy reads "ATTACK" where inspection of the first would read dots.
      const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, "........ATTACK................");
      std::vector<uint8_t> benign = ip_frame(k);
      benign.erase(benign.begin(), benign.begin() + 14 + (h.v6 ? 40 : 20));
      std::vector<uint8_t> evil = benign;
      std::fill(benign.begin() + 16, benign.begin() + 22, '.');
      const size_t total = benign.size();
      auto first = split(k, {{0, 24}}, 0x71, benign);
      auto second = split(k, {{16, total - 16}}, 0x71, evil);
      std::vector<Out> out = send_frame(first[0], true);
      for (Out& o : send_frame(second[0], true)) out.push_back(std::move(o));
      if (action == config::FailAction::kDrop) {
        EXPECT_EQ(sides(out), kNothing);
        EXPECT_EQ(drops(DropReason::kFragOverlap), 2u);
      } else {
        EXPECT_EQ(sides(out), (std::vector<std::string>{"core", "core"})) << "forwarded uninspected";
        EXPECT_EQ(passed(DropReason::kFragOverlap), 2u);
        EXPECT_EQ(all_drops(), 0u);
      }
      EXPECT_EQ(worker_->counters().fragments.datagrams.get(), 0u);
      expect_accounted();
    }
  }
}

TEST_F(FragmentTest, TooManyFragmentsAreDroppedOrPassed) {
  for (const Hosts* hp : both_families()) {
    for (const config::FailAction action : {config::FailAction::kDrop, config::FailAction::kPass}) {
      const Hosts& h = *hp;
      SCOPED_TRACE(std::string(h.name) + " " + config::to_string(action));
      config::Config cfg;
      cfg.failure.frag_too_many = action;
      load("", cfg);
      const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, std::string(120, 'x'));
      std::vector<std::pair<size_t, size_t>> pieces;
      for (size_t off = 0; off < 80; off += 8) pieces.emplace_back(off, 8);
      pieces.emplace_back(80, ip_payload(k) - 80);  // 11 fragments; rte_ip_frag holds 8
      const auto out = send_all(split(k, pieces, 0x81), true);
      if (action == config::FailAction::kDrop) {
        EXPECT_EQ(sides(out), kNothing);
        EXPECT_EQ(drops(DropReason::kFragTooMany), 8u) << "the datagram dies at its ninth fragment";
      } else {
        EXPECT_EQ(out.size(), 8u) << "forwarded uninspected";
        EXPECT_EQ(passed(DropReason::kFragTooMany), 8u);
      }
      EXPECT_EQ(worker_->counters().fragments.held.get(), 3) << "the last three start a new datagram";
      expect_accounted();
    }
  }
}

TEST_F(FragmentTest, OversizeDatagramIsDroppedOrPassed) {
  for (const config::FailAction action : {config::FailAction::kDrop, config::FailAction::kPass}) {
    SCOPED_TRACE(config::to_string(action));
    const Hosts& h = hosts4();
    config::Config cfg;
    cfg.fragments.max_datagram_size = 600;
    cfg.failure.frag_oversize = action;
    load("", cfg);
    const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, std::string(900, 'x'));
    const auto f = split(k, {{0, 504}, {504, ip_payload(k) - 504}}, 0x91);
    EXPECT_EQ(sides(send_frame(f[0], true)), kNothing) << "within the bound: held";
    const auto out = send_frame(f[1], true);
    if (action == config::FailAction::kDrop) {
      EXPECT_EQ(sides(out), kNothing);
      EXPECT_EQ(drops(DropReason::kFragOversize), 1u);
    } else {
      EXPECT_EQ(sides(out), kToCoreOnly);
      EXPECT_EQ(passed(DropReason::kFragOversize), 1u);
    }
    EXPECT_EQ(worker_->counters().fragments.held.get(), 1);
    expect_accounted();
  }
}

TEST_F(FragmentTest, IncompleteDatagramTimesOut) {
  for (const config::FailAction action : {config::FailAction::kDrop, config::FailAction::kPass}) {
    SCOPED_TRACE(config::to_string(action));
    const Hosts& h = hosts6();
    config::Config cfg;
    cfg.fragments.timeout = 1;
    cfg.failure.frag_timeout = action;
    load("", cfg);
    const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, std::string(100, 'x'));
    const auto f = split(k, {{0, 48}, {48, ip_payload(k) - 48}}, 0xa1);
    EXPECT_EQ(sides(send_frame(f[0], true)), kNothing);
    EXPECT_EQ(worker_->counters().fragments.held.get(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    // The next poll gives the datagram up; an unrelated frame carries it.
    const auto out = send(udp(h, true, h.vendor, 5353, h.other, 53, "unrelated"));
    if (action == config::FailAction::kDrop) {
      EXPECT_EQ(sides(out), kToCoreOnly);
      EXPECT_EQ(drops(DropReason::kFragTimeout), 1u);
    } else {
      EXPECT_EQ(sides(out), (std::vector<std::string>{"core", "core"}));
      EXPECT_EQ(passed(DropReason::kFragTimeout), 1u);
    }
    EXPECT_EQ(worker_->counters().fragments.held.get(), 0);
    expect_accounted();
  }
}

TEST_F(FragmentTest, TableFullRefusesNewDatagrams) {
  const Hosts& h = hosts4();
  for (const bool by_datagrams : {true, false}) {
    for (const config::FailAction action : {config::FailAction::kDrop, config::FailAction::kPass}) {
      SCOPED_TRACE(std::string(by_datagrams ? "max_datagrams " : "max_fragments ") + config::to_string(action));
      config::Config cfg;
      cfg.fragments.max_datagrams = by_datagrams ? 16 : 1024;
      cfg.fragments.max_fragments = 64;
      cfg.failure.frag_table_full = action;
      load("", cfg);
      const uint32_t bound = by_datagrams ? 16 : 64;
      const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, std::string(100, 'x'));
      for (uint32_t id = 0; id < bound; ++id) {
        EXPECT_EQ(sides(send_frame(split(k, {{0, 48}}, 0x1000 + id)[0], true)), kNothing);
      }
      const auto out = send_frame(split(k, {{0, 48}}, 0x1000 + bound)[0], true);
      if (action == config::FailAction::kDrop) {
        EXPECT_EQ(sides(out), kNothing);
        EXPECT_EQ(drops(DropReason::kFragTableFull), 1u);
      } else {
        EXPECT_EQ(sides(out), kToCoreOnly);
        EXPECT_EQ(passed(DropReason::kFragTableFull), 1u);
      }
      EXPECT_EQ(worker_->counters().fragments.held.get(), static_cast<int64_t>(bound));
      expect_accounted();
    }
  }
}

// Fragments that could never be reassembled are malformed, per side.
TEST_F(FragmentTest, EmptyOrMisalignedFragmentsAreMalformed) {
  const Hosts& h = hosts4();
  load("");  // the fixture passes malformed frames from the vendor side
  const Ip k = udp(h, true, h.vendor, 5353, h.other, 53, std::string(100, 'x'));
  EXPECT_EQ(sides(send_frame(split(k, {{0, 12}}, 0xb1)[0], true)), kToCoreOnly) << "12 bytes, more to come";
  EXPECT_EQ(passed(DropReason::kIpv4BadFragment), 1u);
  config::Config cfg;
  cfg.failure.malformed_core = config::FailAction::kDrop;
  load("", cfg);
  const Ip from_core = udp(h, false, h.other, 53, h.vendor, 5353, std::string(100, 'x'));
  EXPECT_EQ(sides(send_frame(split(from_core, {{0, 12}}, 0xb2)[0], false)), kNothing);
  EXPECT_EQ(drops(DropReason::kIpv4BadFragment), 1u);
  EXPECT_EQ(worker_->counters().fragments.held.get(), 0);
  expect_accounted();
}

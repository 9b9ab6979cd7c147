// FlowTable unit tests: canonical keys, flow ids, state timeouts, eviction under pressure,
// the bounded sweep and exact capacity. rte_hash allocates from DPDK memory, so this binary
// brings up its own EAL (--no-huge, unique file prefix) in main() and removes its runtime
// directory at the end.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/flow_table.hpp"
#include "dataplane/stream.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel::dataplane {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kAck = 0x10;
constexpr uint8_t kSyn = tcp_flag::kSyn;
constexpr uint8_t kFin = tcp_flag::kFin;
constexpr uint8_t kRst = tcp_flag::kRst;

constexpr uint64_t kEmb = 1000;
constexpr uint64_t kEst = 100000;
constexpr uint64_t kClosed = 100;

PacketInfo v4(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t proto = kUdp,
              uint8_t tcp_flags = 0) {
  PacketInfo p{};
  p.l3 = L3::kIpv4;
  p.ip_proto = proto;
  p.flags = kFlagHasL4;
  p.src_port = sport;
  p.dst_port = dport;
  p.tcp_flags = tcp_flags;
  for (int i = 0; i < 4; ++i) {
    p.src_ip[static_cast<size_t>(i)] = static_cast<uint8_t>(src >> (24 - 8 * i));
    p.dst_ip[static_cast<size_t>(i)] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  return p;
}

PacketInfo v6(uint8_t src_last, uint16_t sport, uint8_t dst_last, uint16_t dport, uint8_t proto = kTcp,
              uint8_t tcp_flags = 0) {
  PacketInfo p{};
  p.l3 = L3::kIpv6;
  p.ip_proto = proto;
  p.flags = kFlagHasL4;
  p.src_port = sport;
  p.dst_port = dport;
  p.tcp_flags = tcp_flags;
  p.src_ip = {0x20, 0x01, 0x0d, 0xb8};
  p.dst_ip = {0x20, 0x01, 0x0d, 0xb8};
  p.src_ip[15] = src_last;
  p.dst_ip[15] = dst_last;
  return p;
}

PacketInfo reversed(const PacketInfo& p, uint8_t tcp_flags = 0) {
  PacketInfo r = p;
  std::swap(r.src_ip, r.dst_ip);
  std::swap(r.src_port, r.dst_port);
  r.tcp_flags = tcp_flags;
  return r;
}

FlowTableConfig config(uint32_t capacity, uint32_t worker = 0) {
  FlowTableConfig c;
  c.capacity = capacity;
  c.worker_id = worker;
  c.timeout_embryonic = kEmb;
  c.timeout_established = kEst;
  c.timeout_closed = kClosed;
  return c;
}

constexpr Direction kC = Direction::kToCore;
constexpr Direction kV = Direction::kToVendor;

TEST(FlowTable, BothDirectionsMapToOneEntryV4) {
  FlowTable t(config(64));
  const PacketInfo a = v4(0x0a000001, 40000, 0x0a000002, 53);
  const FlowLookup r1 = t.lookup_or_create(a, kC, 100, 1);
  ASSERT_NE(r1.entry, nullptr);
  EXPECT_TRUE(r1.created);
  EXPECT_EQ(r1.entry->state, FlowState::kEmbryonic);
  EXPECT_EQ(r1.entry->opener, kC);
  const FlowLookup r2 = t.lookup_or_create(reversed(a), kV, 300, 2);
  EXPECT_EQ(r2.entry, r1.entry);
  EXPECT_FALSE(r2.created);
  EXPECT_EQ(r2.entry->opener, kC);
  EXPECT_EQ(r2.entry->state, FlowState::kEstablished);  // UDP: both directions seen
  EXPECT_EQ(r2.entry->packets[0], 1U);
  EXPECT_EQ(r2.entry->packets[1], 1U);
  EXPECT_EQ(r2.entry->bytes[0], 100U);
  EXPECT_EQ(r2.entry->bytes[1], 300U);
  EXPECT_EQ(r2.entry->first_seen, 1U);
  EXPECT_EQ(r2.entry->last_seen, 2U);
  EXPECT_EQ(t.size(), 1U);
  EXPECT_EQ(make_flow_key(a).key, make_flow_key(reversed(a)).key);
  EXPECT_NE(make_flow_key(a).from_lo, make_flow_key(reversed(a)).from_lo);
  const FlowKey* k = t.key_of(r1.entry);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(*k, make_flow_key(a).key);
}

TEST(FlowTable, TcpHandshakeV6AndOpenerFromCoreSide) {
  FlowTable t(config(64));
  const PacketInfo syn = v6(2, 443, 1, 51000, kTcp, kSyn);  // core opens towards the vendor
  const FlowLookup r = t.lookup_or_create(syn, kV, 74, 10);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_EQ(r.entry->opener, kV);
  EXPECT_EQ(t.lookup_or_create(reversed(syn, kSyn | kAck), kC, 74, 11).entry, r.entry);
  EXPECT_EQ(r.entry->state, FlowState::kEmbryonic);  // both seen, handshake not complete
  EXPECT_EQ(t.lookup_or_create(syn, kV, 66, 12).entry, r.entry);  // retransmitted SYN
  EXPECT_EQ(r.entry->state, FlowState::kEmbryonic);
  PacketInfo ack = syn;
  ack.tcp_flags = kAck;
  EXPECT_EQ(t.lookup_or_create(ack, kV, 66, 13).entry, r.entry);
  EXPECT_EQ(r.entry->state, FlowState::kEstablished);
  // FIN from one side: still established; from both: closed.
  ack.tcp_flags = kFin | kAck;
  (void)t.lookup_or_create(ack, kV, 66, 14);
  EXPECT_EQ(r.entry->state, FlowState::kEstablished);
  (void)t.lookup_or_create(reversed(syn, kFin | kAck), kC, 66, 15);
  EXPECT_EQ(r.entry->state, FlowState::kClosed);
  EXPECT_EQ(t.size(), 1U);
}

TEST(FlowTable, TcpRstClosesAndMidstreamPickupEstablishes) {
  FlowTable t(config(64));
  const PacketInfo syn = v4(0x0a000001, 1234, 0x0a000002, 80, kTcp, kSyn);
  FlowEntry* e = t.lookup_or_create(syn, kC, 60, 1).entry;
  ASSERT_NE(e, nullptr);
  (void)t.lookup_or_create(reversed(syn, kRst | kAck), kV, 60, 2);
  EXPECT_EQ(e->state, FlowState::kClosed);

  // A flow first seen mid-stream (no SYN) is established once both sides have spoken.
  const PacketInfo data = v4(0x0a000001, 1235, 0x0a000002, 80, kTcp, kAck);
  FlowEntry* m = t.lookup_or_create(data, kC, 60, 1).entry;
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->state, FlowState::kEmbryonic);
  (void)t.lookup_or_create(reversed(data, kAck), kV, 60, 2);
  EXPECT_EQ(m->state, FlowState::kEstablished);
}

TEST(FlowTable, DistinctTuplesAreDistinctFlows) {
  FlowTable t(config(64));
  const PacketInfo base = v4(0x0a000001, 1000, 0x0a000002, 2000);
  std::vector<PacketInfo> pkts = {base};
  PacketInfo p = base;
  p.src_port = 1001;
  pkts.push_back(p);
  p = base;
  p.dst_port = 2001;
  pkts.push_back(p);
  p = base;
  p.ip_proto = kTcp;
  pkts.push_back(p);
  p = base;
  p.dst_ip[3] = 3;
  pkts.push_back(p);
  p = base;
  p.l3 = L3::kIpv6;  // same leading bytes as the IPv4 flow, other family
  pkts.push_back(p);
  p = base;  // ports swapped between the same endpoints is another flow
  std::swap(p.src_port, p.dst_port);
  pkts.push_back(p);
  std::set<const FlowEntry*> entries;
  std::set<uint64_t> ids;
  for (const PacketInfo& q : pkts) {
    const FlowLookup r = t.lookup_or_create(q, kC, 1, 1);
    ASSERT_NE(r.entry, nullptr);
    EXPECT_TRUE(r.created);
    entries.insert(r.entry);
    ids.insert(r.entry->flow_id);
  }
  EXPECT_EQ(entries.size(), pkts.size());
  EXPECT_EQ(ids.size(), pkts.size());
  EXPECT_EQ(t.size(), pkts.size());
}

TEST(FlowTable, IcmpEchoKeysByIdentifierAndRequesterNonIpHasNoFlow) {
  FlowTable t(config(16));
  PacketInfo echo = v4(0x0a000002, 7, 0x0a000001, 7, kIcmp);  // the identifier in both port fields
  echo.icmp_type = 8;
  PacketInfo reply = reversed(echo);
  reply.icmp_type = 0;
  const FlowLookup r = t.lookup_or_create(echo, kC, 98, 1);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_TRUE(r.from_lo);  // the requester is lo, though its address sorts higher
  const FlowLookup rr = t.lookup_or_create(reply, kV, 98, 2);
  EXPECT_EQ(rr.entry, r.entry);
  EXPECT_FALSE(rr.from_lo);
  // The other end asking with the same identifier is a flow of its own, not a reply.
  PacketInfo other = reply;
  other.icmp_type = 8;
  EXPECT_NE(t.lookup_or_create(other, kV, 98, 3).entry, r.entry);
  PacketInfo next_id = echo;
  next_id.src_port = next_id.dst_port = 8;
  EXPECT_NE(t.lookup_or_create(next_id, kC, 98, 4).entry, r.entry);
  EXPECT_EQ(t.size(), 3U);

  // Other ICMP messages: the address pair, whatever the port fields hold.
  PacketInfo ts = v4(0x0a000001, 0, 0x0a000002, 0, kIcmp);
  ts.icmp_type = 13;
  PacketInfo ts_reply = reversed(ts);
  ts_reply.icmp_type = 14;
  ts_reply.src_port = 7;
  const FlowLookup q = t.lookup_or_create(ts, kC, 60, 5);
  EXPECT_EQ(t.lookup_or_create(ts_reply, kV, 60, 6).entry, q.entry);
  EXPECT_EQ(make_flow_key(ts_reply).key.lo_port, 0);

  PacketInfo arp{};
  arp.l3 = L3::kArp;
  EXPECT_EQ(t.lookup_or_create(arp, kC, 60, 7).entry, nullptr);
  EXPECT_EQ(t.size(), 4U);
  EXPECT_EQ(t.counters().table_full.get(), 0U);
}

TEST(FlowTable, FlowIdsUniqueAndBelow2Pow51) {
  constexpr uint32_t kWorker = (1U << FlowTable::kFlowIdWorkerBits) - 1;
  FlowTable t(config(256, kWorker));
  std::set<uint64_t> ids;
  for (uint32_t i = 0; i < 256; ++i) {
    const FlowLookup r = t.lookup_or_create(v4(0x0a000001, static_cast<uint16_t>(i), 0x0a000002, 9), kC, 1, 1);
    ASSERT_NE(r.entry, nullptr);
    EXPECT_LT(r.entry->flow_id, uint64_t{1} << 51);
    EXPECT_EQ(r.entry->flow_id >> FlowTable::kFlowIdCounterBits, kWorker);
    ids.insert(r.entry->flow_id);
  }
  // A flow recreated after removal gets a new id.
  FlowEntry* e = t.lookup_or_create(v4(0x0a000001, 0, 0x0a000002, 9), kC, 1, 2).entry;
  ASSERT_NE(e, nullptr);
  t.remove(e);
  EXPECT_EQ(t.size(), 255U);
  const FlowLookup again = t.lookup_or_create(v4(0x0a000001, 0, 0x0a000002, 9), kC, 1, 3);
  ASSERT_NE(again.entry, nullptr);
  EXPECT_TRUE(again.created);
  ids.insert(again.entry->flow_id);
  EXPECT_EQ(ids.size(), 257U);

  FlowTable other(config(8, 3));
  const FlowLookup o = other.lookup_or_create(v4(1, 1, 2, 2), kC, 1, 1);
  ASSERT_NE(o.entry, nullptr);
  EXPECT_EQ(o.entry->flow_id >> FlowTable::kFlowIdCounterBits, 3U);
}

TEST(FlowTable, TimeoutsPerState) {
  FlowTable t(config(64));
  const PacketInfo emb = v4(0x0a000001, 1, 0x0a000002, 2);  // one direction only
  const PacketInfo est = v4(0x0a000001, 3, 0x0a000002, 4);
  const PacketInfo clo = v4(0x0a000001, 5, 0x0a000002, 6, kTcp, kSyn);
  FlowEntry* e_emb = t.lookup_or_create(emb, kC, 1, 0).entry;
  FlowEntry* e_est = t.lookup_or_create(est, kC, 1, 0).entry;
  (void)t.lookup_or_create(reversed(est), kV, 1, 0);
  FlowEntry* e_clo = t.lookup_or_create(clo, kC, 1, 0).entry;
  (void)t.lookup_or_create(reversed(clo, kRst), kV, 1, 0);
  ASSERT_NE(e_emb, nullptr);
  ASSERT_NE(e_est, nullptr);
  ASSERT_NE(e_clo, nullptr);
  EXPECT_EQ(e_emb->state, FlowState::kEmbryonic);
  EXPECT_EQ(e_est->state, FlowState::kEstablished);
  EXPECT_EQ(e_clo->state, FlowState::kClosed);

  EXPECT_NE(t.find(clo, kClosed), nullptr);  // idle exactly the timeout: still alive
  EXPECT_EQ(t.find(clo, kClosed + 1), nullptr);
  EXPECT_NE(t.find(emb, kClosed + 1), nullptr);
  EXPECT_EQ(t.find(emb, kEmb + 1), nullptr);
  EXPECT_NE(t.find(est, kEmb + 1), nullptr);
  EXPECT_EQ(t.find(est, kEst + 1), nullptr);
  EXPECT_EQ(t.size(), 3U);  // find() removes nothing

  // The sweep removes the embryonic and closed flows, not the established one.
  EXPECT_EQ(t.expire(kEmb + 1, 64), 2U);
  EXPECT_EQ(t.size(), 1U);
  EXPECT_EQ(t.counters().expired.get(), 2U);
  EXPECT_NE(t.find(est, kEmb + 1), nullptr);

  // Lazily on lookup: a timed-out flow is replaced by a new one.
  const uint64_t old_id = e_est->flow_id;
  const FlowLookup r = t.lookup_or_create(est, kC, 1, kEst + 1);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_TRUE(r.created);
  EXPECT_NE(r.entry->flow_id, old_id);
  EXPECT_EQ(r.entry->state, FlowState::kEmbryonic);
  EXPECT_EQ(r.entry->first_seen, kEst + 1);
  EXPECT_EQ(t.counters().expired.get(), 3U);
  EXPECT_EQ(t.size(), 1U);

  // Activity refreshes last_seen.
  EXPECT_FALSE(t.lookup_or_create(est, kC, 1, kEst + 1 + kEmb).created);
  EXPECT_NE(t.find(est, kEst + 1 + 2 * kEmb), nullptr);
}

TEST(FlowTable, EvictionUnderPressure) {
  constexpr uint32_t kCap = 16;
  FlowTable t(config(kCap));
  // Half established (both directions), half embryonic, created in order at t = i.
  for (uint32_t i = 0; i < kCap; ++i) {
    const PacketInfo p = v4(0x0a000001, static_cast<uint16_t>(i), 0x0a000002, 7);
    ASSERT_NE(t.lookup_or_create(p, kC, 1, i).entry, nullptr);
    if (i % 2 == 0) (void)t.lookup_or_create(reversed(p), kV, 1, i);
  }
  ASSERT_EQ(t.size(), kCap);
  const uint64_t now = kCap;  // nothing has timed out

  // Newcomers evict the embryonic flows, oldest first (ports 1, 3, 5, ...).
  for (uint32_t n = 0; n < kCap / 2; ++n) {
    const PacketInfo newcomer = v4(0x0b000001, static_cast<uint16_t>(n), 0x0b000002, 7);
    const FlowLookup r = t.lookup_or_create(newcomer, kC, 1, now);
    ASSERT_NE(r.entry, nullptr);
    EXPECT_TRUE(r.created);
    EXPECT_EQ(t.find(v4(0x0a000001, static_cast<uint16_t>(2 * n + 1), 0x0a000002, 7), now), nullptr);
    if (2 * n + 3 < kCap) {
      EXPECT_NE(t.find(v4(0x0a000001, static_cast<uint16_t>(2 * n + 3), 0x0a000002, 7), now), nullptr);
    }
    // Make the newcomer established so that it is not the next victim.
    (void)t.lookup_or_create(reversed(newcomer), kV, 1, now);
  }
  EXPECT_EQ(t.counters().evicted_embryonic_pressure.get(), kCap / 2);
  EXPECT_EQ(t.size(), kCap);

  // Only established flows left, none timed out: an embryonic newcomer is refused.
  const PacketInfo late = v4(0x0c000001, 1, 0x0c000002, 2);
  EXPECT_EQ(t.lookup_or_create(late, kC, 1, now).entry, nullptr);
  EXPECT_EQ(t.lookup_or_create(late, kC, 1, now + kEmb + 1).entry, nullptr);  // past embryonic timeout only
  EXPECT_EQ(t.counters().table_full.get(), 2U);
  for (uint32_t i = 0; i < kCap; i += 2) {
    EXPECT_NE(t.find(v4(0x0a000001, static_cast<uint16_t>(i), 0x0a000002, 7), now + kEmb + 1), nullptr);
  }
  // Existing flows are still found and accounted while the table is full.
  EXPECT_FALSE(t.lookup_or_create(v4(0x0a000001, 0, 0x0a000002, 7), kC, 1, now).created);

  // Once the established flows time out, a newcomer takes an expired slot.
  const FlowLookup r = t.lookup_or_create(late, kC, 1, now + kEst + kCap);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_EQ(t.counters().evicted_timeout.get(), 1U);
  EXPECT_EQ(t.size(), kCap);
  EXPECT_EQ(t.counters().table_full.get(), 2U);
}

TEST(FlowTable, ExpiredEmbryonicPreferredOverLiveEmbryonic) {
  FlowTable t(config(8));
  for (uint32_t i = 0; i < 8; ++i) {
    ASSERT_NE(t.lookup_or_create(v4(1, static_cast<uint16_t>(i), 2, 9), kC, 1, i == 5 ? 0 : 2000).entry, nullptr);
  }
  // At t = 1500 only the flow of port 5 (seen at 0) has timed out; the oldest-created
  // embryonic flows (ports 0..4) are alive and must survive.
  ASSERT_NE(t.lookup_or_create(v4(3, 1, 4, 1), kC, 1, 2100).entry, nullptr);
  EXPECT_EQ(t.find(v4(1, 5, 2, 9), 2100), nullptr);
  for (uint16_t i = 0; i < 8; ++i) {
    if (i != 5) {
      EXPECT_NE(t.find(v4(1, i, 2, 9), 2100), nullptr) << i;
    }
  }
  EXPECT_EQ(t.counters().evicted_timeout.get(), 1U);
  EXPECT_EQ(t.counters().evicted_embryonic_pressure.get(), 0U);
}

TEST(FlowTable, ExpireIsBoundedByBudget) {
  constexpr uint32_t kCap = 64;
  FlowTable t(config(kCap));
  for (uint32_t i = 0; i < kCap; ++i) {
    ASSERT_NE(t.lookup_or_create(v4(1, static_cast<uint16_t>(i), 2, 9), kC, 1, 0).entry, nullptr);
  }
  const uint64_t later = kEmb + 1;
  EXPECT_EQ(t.expire(later, 10), 10U);
  EXPECT_EQ(t.size(), kCap - 10);
  EXPECT_EQ(t.expire(later, 0), 0U);
  EXPECT_EQ(t.expire(later, 1), 1U);
  EXPECT_EQ(t.size(), kCap - 11);
  // A budget larger than the table visits each slot once per call.
  EXPECT_EQ(t.expire(later, 1000), kCap - 11);
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.expire(later, 1000), 0U);
  EXPECT_EQ(t.counters().expired.get(), kCap);
  // Slots are reusable afterwards.
  for (uint32_t i = 0; i < kCap; ++i) {
    ASSERT_NE(t.lookup_or_create(v4(5, static_cast<uint16_t>(i), 6, 9), kC, 1, later).entry, nullptr);
  }
  EXPECT_EQ(t.size(), kCap);
}

TEST(FlowTable, CapacityExactlyReached) {
  for (const uint32_t cap : {8U, 1000U, 4096U}) {
    FlowTable t(config(cap));
    std::set<const FlowEntry*> entries;
    for (uint32_t i = 0; i < cap; ++i) {
      const PacketInfo p = v4(0x0a000000 + (i >> 8), static_cast<uint16_t>(i & 0xff), 0x0b000001, 443);
      const FlowLookup r = t.lookup_or_create(p, kC, 1, 1);
      ASSERT_NE(r.entry, nullptr) << "cap " << cap << " flow " << i;
      ASSERT_TRUE(r.created);
      (void)t.lookup_or_create(reversed(p), kV, 1, 1);  // established: not evictable
      entries.insert(r.entry);
    }
    EXPECT_EQ(entries.size(), cap);
    EXPECT_EQ(t.size(), cap);
    EXPECT_EQ(t.capacity(), cap);
    EXPECT_EQ(t.counters().table_full.get(), 0U);
    EXPECT_EQ(t.lookup_or_create(v4(0x0c000001, 1, 0x0c000002, 1), kC, 1, 2).entry, nullptr);
    EXPECT_EQ(t.counters().table_full.get(), 1U);
    for (uint32_t i = 0; i < cap; ++i) {
      const PacketInfo p = v4(0x0a000000 + (i >> 8), static_cast<uint16_t>(i & 0xff), 0x0b000001, 443);
      ASSERT_NE(t.find(p, 2), nullptr);
    }
  }
}

// Random bursts over `flows` UDP flows (both directions, some non-IP packets), with
// timeouts off so that the random hash seed (slot order) cannot change the outcome.
struct BurstGen {
  uint32_t rng = 12345;
  uint32_t next() {
    rng = rng * 1103515245U + 12345U;
    return rng >> 16;
  }
  std::vector<PacketInfo> burst(uint16_t flows, std::vector<uint32_t>& bytes) {
    const size_t len = 1 + next() % 100;  // sometimes more than one bulk lookup (64)
    std::vector<PacketInfo> pkts(len);
    bytes.resize(len);
    for (size_t i = 0; i < len; ++i) {
      pkts[i] = v4(0x0a000001, static_cast<uint16_t>(next() % flows), 0x0a000002, 80);
      if (next() % 2 == 0) pkts[i] = reversed(pkts[i]);
      if (next() % 50 == 0) pkts[i].l3 = L3::kArp;
      bytes[i] = next() % 1500;
    }
    return pkts;
  }
};

FlowTableConfig no_timeouts(uint32_t capacity) {
  FlowTableConfig c = config(capacity);
  c.timeout_embryonic = 0;
  c.timeout_established = 0;
  c.timeout_closed = 0;
  return c;
}

// Without pressure the burst path gives exactly the results of packet-by-packet lookups,
// new flows repeated within a burst and both directions in one burst included.
TEST(FlowTable, BurstMatchesScalar) {
  constexpr uint16_t kFlows = 48;
  FlowTable scalar(no_timeouts(64));
  FlowTable burst(no_timeouts(64));
  BurstGen gen;
  for (uint64_t now = 0; now < 200; ++now) {
    const Direction dir = now % 2 == 0 ? kC : kV;
    std::vector<uint32_t> bytes;
    const std::vector<PacketInfo> pkts = gen.burst(kFlows, bytes);
    std::vector<FlowLookup> out(pkts.size());
    burst.lookup_or_create_burst(pkts, dir, bytes, now, out);
    for (size_t i = 0; i < pkts.size(); ++i) {
      const FlowLookup s = scalar.lookup_or_create(pkts[i], dir, bytes[i], now);
      ASSERT_EQ(s.entry == nullptr, out[i].entry == nullptr) << now << " " << i;
      EXPECT_EQ(s.created, out[i].created) << now << " " << i;
      EXPECT_EQ(out[i].dir, dir);
      if (s.entry == nullptr) continue;
      EXPECT_EQ(s.entry->flow_id, out[i].entry->flow_id) << now << " " << i;
    }
    for (uint16_t a = 0; a < kFlows; ++a) {
      const PacketInfo p = v4(0x0a000001, a, 0x0a000002, 80);
      const FlowEntry* s = scalar.find(p, now);
      const FlowEntry* b = burst.find(p, now);
      ASSERT_EQ(s == nullptr, b == nullptr) << now << " " << a;
      if (s == nullptr) continue;
      EXPECT_EQ(s->flow_id, b->flow_id);
      EXPECT_EQ(s->state, b->state);
      EXPECT_EQ(s->opener, b->opener);
      EXPECT_EQ(s->packets, b->packets);
      EXPECT_EQ(s->bytes, b->bytes);
      EXPECT_EQ(*scalar.key_of(s), *burst.key_of(b));
    }
  }
  EXPECT_EQ(scalar.size(), burst.size());
  EXPECT_EQ(scalar.counters().created.get(), burst.counters().created.get());
}

// Under pressure a burst never evicts a flow it has already returned: after the call every
// out[i] is still the flow of pkts[i]; a packet that finds nothing evictable is refused.
TEST(FlowTable, BurstNeverEvictsItsOwnFlows) {
  constexpr uint16_t kFlows = 48;
  constexpr uint32_t kCap = 16;
  FlowTable t(no_timeouts(kCap));
  BurstGen gen;
  uint64_t refused = 0;
  for (uint64_t now = 0; now < 300; ++now) {
    std::vector<uint32_t> bytes;
    const std::vector<PacketInfo> pkts = gen.burst(kFlows, bytes);
    std::vector<FlowLookup> out(pkts.size());
    t.lookup_or_create_burst(pkts, now % 2 == 0 ? kC : kV, bytes, now, out);
    for (size_t i = 0; i < pkts.size(); ++i) {
      if (pkts[i].l3 == L3::kArp) {
        EXPECT_EQ(out[i].entry, nullptr);
        continue;
      }
      if (out[i].entry == nullptr) {
        ++refused;
        continue;
      }
      const FlowKey* k = t.key_of(out[i].entry);
      ASSERT_NE(k, nullptr) << now << " " << i;
      EXPECT_EQ(*k, make_flow_key(pkts[i]).key) << now << " " << i;
      EXPECT_EQ(t.find(pkts[i], now), out[i].entry);
    }
    EXPECT_LE(t.size(), kCap);
  }
  EXPECT_EQ(refused, t.counters().table_full.get());
  EXPECT_GT(t.counters().evicted_embryonic_pressure.get(), 0U);
}

TEST(FlowTable, BurstRefusesWhenOnlyItsOwnFlowsCouldGo) {
  FlowTable t(config(8));
  std::vector<PacketInfo> pkts;
  for (uint16_t i = 0; i < 10; ++i) pkts.push_back(v4(1, i, 2, 9));
  const std::vector<uint32_t> bytes(pkts.size(), 60);
  std::vector<FlowLookup> out(pkts.size());
  t.lookup_or_create_burst(pkts, kC, bytes, 1, out);
  for (size_t i = 0; i < 8; ++i) {
    ASSERT_NE(out[i].entry, nullptr);
    EXPECT_TRUE(out[i].created);
  }
  EXPECT_EQ(out[8].entry, nullptr);
  EXPECT_EQ(out[9].entry, nullptr);
  EXPECT_EQ(t.counters().table_full.get(), 2U);
  EXPECT_EQ(t.counters().evicted_embryonic_pressure.get(), 0U);
  // The next burst (or a scalar lookup) may evict them again, oldest first.
  const FlowLookup r = t.lookup_or_create(pkts[8], kC, 60, 2);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_EQ(t.find(pkts[0], 2), nullptr);
  EXPECT_EQ(t.counters().evicted_embryonic_pressure.get(), 1U);
}

TEST(FlowTable, BurstReplacesTimedOutFlows) {
  FlowTable t(config(16));
  const PacketInfo a = v4(1, 1, 2, 2);
  const uint64_t old_id = t.lookup_or_create(a, kC, 1, 0).entry->flow_id;
  std::vector<PacketInfo> pkts = {a, reversed(a), a};
  std::vector<uint32_t> bytes = {10, 20, 30};
  std::vector<FlowLookup> out(3);
  t.lookup_or_create_burst(pkts, kC, bytes, kEmb + 1, out);
  ASSERT_NE(out[0].entry, nullptr);
  EXPECT_TRUE(out[0].created);
  EXPECT_NE(out[0].entry->flow_id, old_id);
  EXPECT_EQ(out[1].entry, out[0].entry);
  EXPECT_EQ(out[2].entry, out[0].entry);
  EXPECT_FALSE(out[2].created);
  EXPECT_EQ(out[0].entry->packets[0], 3U);
  EXPECT_EQ(out[0].entry->bytes[0], 60U);
  EXPECT_EQ(t.counters().expired.get(), 1U);
  EXPECT_EQ(t.size(), 1U);
}

TEST(FlowTable, BadConfigThrows) {
  EXPECT_THROW(FlowTable(config(FlowTable::kMinCapacity - 1)), std::invalid_argument);
  EXPECT_THROW(FlowTable(config(64, 1U << FlowTable::kFlowIdWorkerBits)), std::invalid_argument);
}

}  // namespace
}  // namespace sentinel::dataplane

int main(int argc, char** argv) {
  return sentinel::test::run_tests_with_eal(argc, argv, "test-flow", "128");
}

// PolicyClassifier unit tests: fixture tables of {what, query, expected allow} for IPv4,
// IPv6, port range edges, negated nets, overlapping allows, vendor/core sides and
// protocols, each checked against both the classifier and a naive reference matcher; a
// differential test of random policies and mixed-family spans longer than kBatch; the
// rule expansion counts, the kMaxAclRules limit and context naming. rte_acl allocates from
// DPDK memory, so this binary brings up its own EAL (--no-huge, unique file prefix) in
// main() and removes its runtime directory at the end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_acl.h>
#include <rte_eal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/cidr.hpp"
#include "config/error.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel::rules {
namespace {

using config::Cidr;
using config::LoadError;

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kGre = 47;
constexpr uint32_t kNone = PolicyClassifier::kNoAllow;
constexpr bool kVendor = true;
constexpr bool kCore = false;

// rte_acl context names are process-wide: every classifier here gets its own.
std::string unique_name() {
  static int n = 0;
  return "pc" + std::to_string(n++);
}

Cidr cidr(std::string_view text) {
  std::string why;
  const std::optional<Cidr> c = config::parse_cidr(text, why);
  if (!c) throw std::invalid_argument(std::string(text) + ": " + why);
  return *c;
}

// "10.0.0.0/8 !10.1.0.0/16" → include 10/8, exclude 10.1/16; "" → any.
NetSet nets(std::string_view text) {
  NetSet set;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find(' ', pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    if (!item.empty()) {
      if (item[0] == '!') {
        set.exclude.push_back(cidr(item.substr(1)));
      } else {
        set.include.push_back(cidr(item));
      }
    }
    pos = end + 1;
  }
  return set;
}

// Fixture shorthand: allow("web", Proto::kTcp).src("192.0.2.0/24").dports({{443, 443}}).
class AllowBuilder {
 public:
  AllowBuilder(std::string name, Proto proto) {
    allow_.name = std::move(name);
    allow_.proto = proto;
  }
  AllowBuilder& src(std::string_view text) {
    allow_.src_nets = nets(text);
    return *this;
  }
  AllowBuilder& dst(std::string_view text) {
    allow_.dst_nets = nets(text);
    return *this;
  }
  AllowBuilder& sports(std::vector<PortRange> r) {
    allow_.src_ports = std::move(r);
    return *this;
  }
  AllowBuilder& dports(std::vector<PortRange> r) {
    allow_.dst_ports = std::move(r);
    return *this;
  }
  AllowBuilder& types(std::vector<uint8_t> t) {
    allow_.icmp_types = std::move(t);
    return *this;
  }
  AllowBuilder& core() {
    allow_.from_vendor = false;
    return *this;
  }
  operator Allow() const { return allow_; }  // implicit: a list of builders makes a Policy

 private:
  Allow allow_;
};

AllowBuilder allow(std::string name, Proto proto = Proto::kIp) { return {std::move(name), proto}; }

std::array<uint8_t, 16> address(std::string_view text, bool& v6) {
  std::array<uint8_t, 16> a{};
  const std::string s(text);
  v6 = s.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), a.data()) != 1) {
    throw std::invalid_argument("bad address " + s);
  }
  return a;
}

PolicyQuery query(std::string_view src, uint16_t src_port, std::string_view dst, uint16_t dst_port,
                  uint8_t proto = kTcp, bool from_vendor = kVendor) {
  PolicyQuery q;
  bool dst_v6 = false;
  q.src = address(src, q.v6);
  q.dst = address(dst, dst_v6);
  if (q.v6 != dst_v6) throw std::invalid_argument("mixed families in a query");
  q.src_port = src_port;
  q.dst_port = dst_port;
  q.ip_proto = proto;
  q.from_vendor = from_vendor;
  return q;
}

PolicyQuery icmp(std::string_view src, std::string_view dst, uint8_t type,
                 bool from_vendor = kVendor) {
  PolicyQuery q = query(src, 0, dst, type, kIcmp, from_vendor);
  if (q.v6) q.ip_proto = kIcmpv6;
  return q;
}

Policy policy_of(std::vector<Allow> allows) {
  Policy p;
  for (size_t i = 0; i < allows.size(); ++i) {
    allows[i].pos = config::SourcePos{"policy.toml", static_cast<uint32_t>(10 * (i + 1)), 1};
  }
  p.allows = std::move(allows);
  return p;
}

// ---- The reference: the semantics of policy.hpp, one allow at a time, in order. ----

bool in_nets(const NetSet& set, bool v6, const std::array<uint8_t, 16>& a) {
  auto has = [&](const Cidr& c) { return c.contains(v6, a.data()); };
  const bool included =
      set.include.empty() || std::any_of(set.include.begin(), set.include.end(), has);
  return included && std::none_of(set.exclude.begin(), set.exclude.end(), has);
}

bool in_ports(const std::vector<PortRange>& ranges, uint16_t port) {
  return ranges.empty() || std::any_of(ranges.begin(), ranges.end(), [port](const PortRange& r) {
           return r.lo <= port && port <= r.hi;
         });
}

uint32_t reference(const Policy& policy, const PolicyQuery& q) {
  for (size_t i = 0; i < policy.allows.size(); ++i) {
    const Allow& a = policy.allows[i];
    if (a.from_vendor != q.from_vendor) continue;
    switch (a.proto) {
      case Proto::kIp:
        break;
      case Proto::kTcp:
        if (q.ip_proto != kTcp) continue;
        break;
      case Proto::kUdp:
        if (q.ip_proto != kUdp) continue;
        break;
      case Proto::kIcmp:
        if (q.ip_proto != (q.v6 ? kIcmpv6 : kIcmp)) continue;
        break;
    }
    if (!in_nets(a.src_nets, q.v6, q.src) || !in_nets(a.dst_nets, q.v6, q.dst)) continue;
    if (!in_ports(a.src_ports, q.src_port) || !in_ports(a.dst_ports, q.dst_port)) continue;
    if (a.proto == Proto::kIcmp && !a.icmp_types.empty() &&
        std::find(a.icmp_types.begin(), a.icmp_types.end(), q.dst_port) == a.icmp_types.end()) {
      continue;
    }
    return static_cast<uint32_t>(i + 1);
  }
  return kNone;
}

// ---- Fixture tables. ----

struct Row {
  const char* what;
  PolicyQuery query;
  uint32_t expected;  // 1-based allow, or kNone
};

// Every row through the classifier (one span, then one query at a time) and the reference.
void expect_table(const Policy& policy, const std::vector<Row>& rows) {
  const PolicyClassifier cls(policy, unique_name());
  std::vector<PolicyQuery> queries;
  for (const Row& r : rows) queries.push_back(r.query);
  std::vector<uint32_t> out(rows.size(), 0xdeadbeef);
  cls.classify(queries, out);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(out[i], rows[i].expected) << rows[i].what;
    EXPECT_EQ(reference(policy, rows[i].query), rows[i].expected) << "reference: " << rows[i].what;
    uint32_t one = 0xdeadbeef;
    cls.classify({&queries[i], 1}, {&one, 1});
    EXPECT_EQ(one, rows[i].expected) << "alone: " << rows[i].what;
  }
}

TEST(PolicyClassifier, EmptyPolicyAllowsNothing) {
  const PolicyClassifier cls(Policy{}, unique_name());
  EXPECT_EQ(cls.acl_rules_v4(), 0u);
  EXPECT_EQ(cls.acl_rules_v6(), 0u);
  const std::vector<PolicyQuery> q = {query("192.0.2.1", 1, "192.0.2.2", 2),
                                      query("2001:db8::1", 1, "2001:db8::2", 2)};
  std::vector<uint32_t> out(q.size(), 0xdeadbeef);
  cls.classify(q, out);
  EXPECT_EQ(out, (std::vector<uint32_t>{kNone, kNone}));
  cls.classify({}, {});  // an empty span is fine
}

TEST(PolicyClassifier, Ipv4) {
  const Policy p = policy_of({
      allow("web", Proto::kTcp).src("192.0.2.0/24").dst("198.51.100.10").dports({{443, 443}}),
      allow("dns", Proto::kUdp).src("192.0.2.0/24").dst("198.51.100.53/32").dports({{53, 53}}),
      allow("mgmt").src("203.0.113.7"),
  });
  const std::vector<Row> rows = {
      {"web", query("192.0.2.5", 40000, "198.51.100.10", 443), 1},
      {"web, first source of the /24", query("192.0.2.0", 40000, "198.51.100.10", 443), 1},
      {"web, last source of the /24", query("192.0.2.255", 40000, "198.51.100.10", 443), 1},
      {"web, source outside", query("192.0.3.0", 40000, "198.51.100.10", 443), kNone},
      {"web, source just below", query("192.0.1.255", 40000, "198.51.100.10", 443), kNone},
      {"web, other destination", query("192.0.2.5", 40000, "198.51.100.11", 443), kNone},
      {"web, other port", query("192.0.2.5", 40000, "198.51.100.10", 80), kNone},
      {"web, as the responder would open it", query("198.51.100.10", 443, "192.0.2.5", 40000),
       kNone},
      {"web, over udp", query("192.0.2.5", 40000, "198.51.100.10", 443, kUdp), kNone},
      {"dns", query("192.0.2.9", 5353, "198.51.100.53", 53, kUdp), 2},
      {"dns over tcp", query("192.0.2.9", 5353, "198.51.100.53", 53, kTcp), kNone},
      {"mgmt, any protocol", query("203.0.113.7", 0, "8.8.8.8", 0, kGre), 3},
      {"mgmt, tcp anywhere", query("203.0.113.7", 1, "10.9.8.7", 22), 3},
      {"mgmt, neighbour host", query("203.0.113.8", 1, "10.9.8.7", 22), kNone},
  };
  expect_table(p, rows);
}

TEST(PolicyClassifier, Ipv6) {
  // Prefix lengths that end inside the second and the fourth 32-bit word of the address.
  const Policy p = policy_of({
      allow("ssh", Proto::kTcp)
          .src("2001:db8:abcd:1200::/56")
          .dst("2001:db8::a:b:c:0/116")
          .dports({{22, 22}}),
      allow("dns", Proto::kUdp).src("2001:db8:8000::/33").dports({{53, 53}}).core(),
      allow("ping", Proto::kIcmp).dst("2001:db8::1").types({128}),
  });
  const std::vector<Row> rows = {
      {"ssh", query("2001:db8:abcd:1234::1", 50000, "2001:db8::a:b:c:1", 22), 1},
      {"ssh, last source of the /56",
       query("2001:db8:abcd:12ff:ffff:ffff:ffff:ffff", 1, "2001:db8::a:b:c:1", 22), 1},
      {"ssh, first source past the /56", query("2001:db8:abcd:1300::", 1, "2001:db8::a:b:c:1", 22),
       kNone},
      {"ssh, last source before the /56",
       query("2001:db8:abcd:11ff:ffff:ffff:ffff:ffff", 1, "2001:db8::a:b:c:1", 22), kNone},
      {"ssh, last destination of the /116",
       query("2001:db8:abcd:1200::", 1, "2001:db8::a:b:c:fff", 22), 1},
      {"ssh, first destination past the /116",
       query("2001:db8:abcd:1200::", 1, "2001:db8::a:b:c:1000", 22), kNone},
      {"ssh, destination differing in word 3",
       query("2001:db8:abcd:1200::", 1, "2001:db8::a:b:d:1", 22), kNone},
      {"ssh, other port", query("2001:db8:abcd:1200::", 1, "2001:db8::a:b:c:1", 23), kNone},
      {"dns from core", query("2001:db8:ffff::9", 3000, "2001:4860::8888", 53, kUdp, kCore), 2},
      {"dns from core, source below the /33",
       query("2001:db8:7fff:ffff::", 3000, "2001:4860::8888", 53, kUdp, kCore), kNone},
      {"dns from vendor", query("2001:db8:ffff::9", 3000, "2001:4860::8888", 53, kUdp, kVendor),
       kNone},
      {"ping, ICMPv6 echo request", icmp("2001:db8:1::5", "2001:db8::1", 128), 3},
      {"ping, ICMPv6 echo reply", icmp("2001:db8:1::5", "2001:db8::1", 129), kNone},
      {"ping, protocol 1 inside IPv6", query("2001:db8:1::5", 0, "2001:db8::1", 128, kIcmp), kNone},
      {"an IPv4 query, no IPv4 rules", query("192.0.2.1", 1, "192.0.2.2", 22), kNone},
  };
  expect_table(p, rows);
  const PolicyClassifier cls(p, unique_name());
  EXPECT_EQ(cls.acl_rules_v4(), 0u);
  EXPECT_EQ(cls.acl_rules_v6(), 3u);
}

TEST(PolicyClassifier, PortRangeEdges) {
  const Policy p = policy_of({
      allow("range", Proto::kTcp).sports({{0, 1023}}).dports({{1000, 2000}}),
      allow("extremes", Proto::kUdp).dports({{0, 0}, {65535, 65535}}),
      allow("two", Proto::kUdp).sports({{7, 7}}).dports({{10, 20}, {30, 40}}),
  });
  const char* a = "192.0.2.1";
  const char* b = "2001:db8::2";
  const std::vector<Row> rows = {
      {"dst lo-1", query(a, 5, a, 999), kNone},
      {"dst lo", query(a, 5, a, 1000), 1},
      {"dst hi", query(a, 5, a, 2000), 1},
      {"dst hi+1", query(a, 5, a, 2001), kNone},
      {"src 0", query(a, 0, a, 1500), 1},
      {"src hi", query(a, 1023, a, 1500), 1},
      {"src hi+1", query(a, 1024, a, 1500), kNone},
      {"v6 dst lo", query(b, 5, b, 1000), 1},
      {"v6 dst hi+1", query(b, 5, b, 2001), kNone},
      {"port 0", query(a, 9, a, 0, kUdp), 2},
      {"port 1", query(a, 9, a, 1, kUdp), kNone},
      {"port 65534", query(a, 9, a, 65534, kUdp), kNone},
      {"port 65535", query(a, 9, a, 65535, kUdp), 2},
      {"v6 port 65535", query(b, 9, b, 65535, kUdp), 2},
      {"second list, 9", query(a, 7, a, 9, kUdp), kNone},
      {"second list, 10", query(a, 7, a, 10, kUdp), 3},
      {"second list, 20", query(a, 7, a, 20, kUdp), 3},
      {"second list, gap 25", query(a, 7, a, 25, kUdp), kNone},
      {"second list, 30", query(a, 7, a, 30, kUdp), 3},
      {"second list, 40", query(a, 7, a, 40, kUdp), 3},
      {"second list, 41", query(a, 7, a, 41, kUdp), kNone},
      {"second list, other source port", query(a, 8, a, 30, kUdp), kNone},
  };
  expect_table(p, rows);
}

TEST(PolicyClassifier, NegatedNets) {
  const Policy p = policy_of({
      allow("middle", Proto::kTcp).src("10.0.0.0/8 !10.64.0.0/16").dports({{80, 80}}),
      allow("equal", Proto::kTcp).src("172.16.0.0/12 !172.16.0.0/12"),
      allow("inside-bigger", Proto::kTcp).src("10.64.1.0/24 !10.64.0.0/16"),
      allow("any-but", Proto::kUdp).src("!192.168.0.0/16"),
      allow("dst-half", Proto::kTcp)
          .src("192.0.2.1")
          .dst("198.51.100.0/24 !198.51.100.128/25 !198.51.100.0/32"),
      allow("v6-hole", Proto::kTcp).src("2001:db8::/32 !2001:db8::5"),
  });
  const char* d = "203.0.113.1";
  const std::vector<Row> rows = {
      {"middle: first address", query("10.0.0.0", 1, d, 80), 1},
      {"middle: just below the hole", query("10.63.255.255", 1, d, 80), 1},
      {"middle: hole start", query("10.64.0.0", 1, d, 80), kNone},
      {"middle: hole end", query("10.64.255.255", 1, d, 80), kNone},
      {"middle: just above the hole", query("10.65.0.0", 1, d, 80), 1},
      {"middle: last address", query("10.255.255.255", 1, d, 80), 1},
      {"equal: nothing left", query("172.16.1.1", 1, d, 80), kNone},
      {"inside-bigger: nothing left", query("10.64.1.1", 1, d, 443), kNone},
      {"any-but: excluded", query("192.168.1.1", 1, d, 53, kUdp), kNone},
      {"any-but: elsewhere", query("192.169.0.1", 1, d, 53, kUdp), 4},
      {"any-but: IPv6 is not excluded", query("2001:db8::1", 1, "2001:db8::2", 53, kUdp), 4},
      {"dst-half: low half", query("192.0.2.1", 1, "198.51.100.127", 22), 5},
      {"dst-half: excluded first address", query("192.0.2.1", 1, "198.51.100.0", 22), kNone},
      {"dst-half: excluded high half", query("192.0.2.1", 1, "198.51.100.128", 22), kNone},
      {"v6-hole: before", query("2001:db8::4", 1, "2001:db8::9", 22), 6},
      {"v6-hole: the hole", query("2001:db8::5", 1, "2001:db8::9", 22), kNone},
      {"v6-hole: after", query("2001:db8::6", 1, "2001:db8::9", 22), 6},
  };
  expect_table(p, rows);
}

TEST(PolicyClassifier, OverlappingAllowsFirstWins) {
  const Policy p = policy_of({
      allow("broad", Proto::kTcp).src("10.0.0.0/8 !10.1.0.0/16").dports({{443, 443}}),
      allow("narrow", Proto::kTcp).src("10.1.2.0/24").dports({{400, 500}}),
      allow("catch-all"),
  });
  const char* d = "203.0.113.1";
  const std::vector<Row> rows = {
      {"broad and catch-all: broad", query("10.2.0.1", 1, d, 443), 1},
      {"excluded from broad: narrow", query("10.1.2.3", 1, d, 443), 2},
      {"excluded from broad, outside narrow", query("10.1.3.3", 1, d, 443), 3},
      {"narrow and catch-all: narrow", query("10.1.2.3", 1, d, 400), 2},
      {"only catch-all", query("10.2.0.1", 1, d, 444), 3},
      {"catch-all is vendor only", query("10.2.0.1", 1, d, 443, kTcp, kCore), kNone},
  };
  expect_table(p, rows);
  // The same allows with the catch-all first: it wins everything.
  Policy reversed = p;
  std::rotate(reversed.allows.begin(), reversed.allows.begin() + 2, reversed.allows.end());
  const std::vector<Row> reversed_rows = {
      {"catch-all first", query("10.2.0.1", 1, d, 443), 1},
      {"catch-all first, narrow", query("10.1.2.3", 1, d, 443), 1},
  };
  expect_table(reversed, reversed_rows);
}

TEST(PolicyClassifier, VendorVersusCore) {
  const Policy p = policy_of({
      allow("vendor-ssh", Proto::kTcp).dports({{22, 22}}),
      allow("core-ssh", Proto::kTcp).dports({{22, 22}}).core(),
      allow("core-web", Proto::kTcp).dports({{80, 80}}).core(),
  });
  const std::vector<Row> rows = {
      {"vendor opens ssh", query("192.0.2.1", 1, "192.0.2.2", 22, kTcp, kVendor), 1},
      {"core opens ssh", query("192.0.2.1", 1, "192.0.2.2", 22, kTcp, kCore), 2},
      {"core opens web", query("192.0.2.1", 1, "192.0.2.2", 80, kTcp, kCore), 3},
      {"vendor opens web", query("192.0.2.1", 1, "192.0.2.2", 80, kTcp, kVendor), kNone},
      {"v6 core opens ssh", query("2001:db8::1", 1, "2001:db8::2", 22, kTcp, kCore), 2},
      {"v6 vendor opens web", query("2001:db8::1", 1, "2001:db8::2", 80, kTcp, kVendor), kNone},
  };
  expect_table(p, rows);
}

TEST(PolicyClassifier, Protocols) {
  const Policy p = policy_of({
      allow("tcp80", Proto::kTcp).dports({{80, 80}}),
      allow("udp80", Proto::kUdp).dports({{80, 80}}),
      allow("echo", Proto::kIcmp).types({8, 128}),
      allow("core-icmp", Proto::kIcmp).core(),
      allow("core-ip").dst("198.51.100.1 2001:db8::1").core(),
  });
  const char* a = "192.0.2.1";
  const char* a6 = "2001:db8::9";
  const std::vector<Row> rows = {
      {"tcp 80", query(a, 1, a, 80, kTcp), 1},
      {"udp 80", query(a, 1, a, 80, kUdp), 2},
      {"sctp 80", query(a, 1, a, 80, 132), kNone},
      {"icmp echo request", icmp(a, a, 8), 3},
      {"icmp echo reply", icmp(a, a, 0), kNone},
      {"icmp type 128 in IPv4", icmp(a, a, 128), 3},
      {"protocol 58 in IPv4", query(a, 0, a, 8, kIcmpv6), kNone},
      {"icmpv6 echo request", icmp(a6, a6, 128), 3},
      {"icmpv6 type 8", icmp(a6, a6, 8), 3},
      {"icmpv6 type 129", icmp(a6, a6, 129), kNone},
      {"core icmp any type", icmp(a, a, 3, kCore), 4},
      {"core icmpv6 any type", icmp(a6, a6, 135, kCore), 4},
      {"core gre to the host", query(a, 0, "198.51.100.1", 0, kGre, kCore), 5},
      {"core tcp to the host", query(a, 1, "198.51.100.1", 80, kTcp, kCore), 5},
      {"core tcp elsewhere", query(a, 1, "198.51.100.2", 80, kTcp, kCore), kNone},
      {"core v6 udp to the host", query(a6, 1, "2001:db8::1", 80, kUdp, kCore), 5},
  };
  expect_table(p, rows);
}

TEST(PolicyClassifier, FamilyPlacementAndExpansionCounts) {
  struct Case {
    const char* what;
    Allow allow;
    size_t v4;
    size_t v6;
  };
  const std::vector<Case> cases = {
      {"no nets: both families", allow("a"), 1, 1},
      {"IPv4 sources only", allow("a").src("10.0.0.0/8"), 1, 0},
      {"IPv6 destinations only", allow("a").dst("2001:db8::/32"), 0, 1},
      {"mixed sources", allow("a").src("10.0.0.0/8 2001:db8::/32"), 1, 1},
      {"IPv4 sources, IPv6 destinations: never", allow("a").src("10.0.0.0/8").dst("2001:db8::/32"),
       0, 0},
      {"nested includes count once", allow("a").src("10.0.0.0/8 10.1.0.0/16 10.0.0.0/8"), 1, 0},
      {"a /16 hole in a /8: 8 prefixes", allow("a").src("10.0.0.0/8 !10.64.0.0/16"), 8, 0},
      {"IPv4 any minus a host: 32 prefixes", allow("a").src("!192.0.2.1"), 32, 1},
      {"IPv6 any minus a host: 128 prefixes", allow("a").dst("!2001:db8::1"), 1, 128},
      {"exclude equal to include", allow("a").src("10.0.0.0/8 !10.0.0.0/8"), 0, 0},
      {"cross product",
       allow("a", Proto::kTcp)
           .src("10.0.0.0/8 !10.64.0.0/16")
           .dst("192.0.2.0/24 198.51.100.0/24")
           .sports({{1, 2}, {5, 6}})
           .dports({{80, 80}, {443, 443}, {8000, 8080}}),
       8 * 2 * 2 * 3, 0},
      {"icmp types, duplicates once", allow("a", Proto::kIcmp).types({8, 0, 8}), 2, 2},
  };
  for (const Case& c : cases) {
    const PolicyClassifier cls(policy_of({c.allow}), unique_name());
    EXPECT_EQ(cls.acl_rules_v4(), c.v4) << c.what;
    EXPECT_EQ(cls.acl_rules_v6(), c.v6) << c.what;
  }
}

// ---- Differential: random policies and queries against the reference. ----

using Rng = std::mt19937;

int pick(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool chance(Rng& rng, double p) { return std::bernoulli_distribution(p)(rng); }

// Addresses come from a small universe (10.0.0.0/22, 2001:db8::/118) so that random
// prefixes and queries meet often; a few queries fall outside it.
std::array<uint8_t, 16> random_address(Rng& rng, bool v6, bool outside = false) {
  std::array<uint8_t, 16> a{};
  const auto low = static_cast<unsigned>(pick(rng, 0, 1023));
  if (v6) {
    a = {0x20, 0x01, 0x0d, 0xb8};
    if (outside) a[3] = 0xb9;
    a[14] = static_cast<uint8_t>(low >> 8);
    a[15] = static_cast<uint8_t>(low);
  } else {
    a[0] = outside ? 11 : 10;
    a[2] = static_cast<uint8_t>(low >> 8);
    a[3] = static_cast<uint8_t>(low);
  }
  return a;
}

Cidr random_prefix(Rng& rng, bool v6, int extra_len) {
  Cidr c;
  c.v6 = v6;
  c.addr = random_address(rng, v6);
  const int max_len = v6 ? 128 : 32;
  // Mostly inside the universe; now and then a short prefix that covers all of it.
  const int len = chance(rng, 0.1)
                      ? pick(rng, 0, max_len - 10)
                      : std::min(max_len, pick(rng, max_len - 10, max_len) + extra_len);
  c.prefix_len = static_cast<uint8_t>(len);
  for (int bit = len; bit < max_len; ++bit)
    c.addr[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  return c;
}

// family: 0 IPv4, 1 IPv6, 2 either.
NetSet random_nets(Rng& rng, int family) {
  auto fam = [&] { return family == 2 ? chance(rng, 0.5) : family == 1; };
  NetSet set;
  if (!chance(rng, 0.3)) {
    for (int i = pick(rng, 1, 3); i > 0; --i) set.include.push_back(random_prefix(rng, fam(), 0));
  }
  // Excludes from "any" are rarer: in IPv6 each splits into ~120 prefixes (see the counts test).
  if (!set.include.empty() || chance(rng, 0.1)) {
    for (int i = pick(rng, 0, 2); i > 0; --i) set.exclude.push_back(random_prefix(rng, fam(), 3));
  }
  return set;
}

std::vector<PortRange> random_ports(Rng& rng) {
  std::vector<PortRange> ranges;
  if (chance(rng, 0.4)) return ranges;
  for (int i = pick(rng, 1, 2); i > 0; --i) {
    const auto lo = static_cast<uint16_t>(pick(rng, 0, 63));
    ranges.push_back({lo, static_cast<uint16_t>(lo + pick(rng, 0, 20))});
  }
  if (chance(rng, 0.1)) ranges.push_back({65535, 65535});
  return ranges;
}

constexpr uint8_t kIcmpTypes[] = {0, 3, 8, 11, 128, 129, 133};

Policy random_policy(Rng& rng, int allows) {
  std::vector<Allow> list;
  for (int i = 0; i < allows; ++i) {
    Allow a;
    a.name = "r" + std::to_string(i);
    a.from_vendor = chance(rng, 0.5);
    a.proto = static_cast<Proto>(pick(rng, 0, 3));
    const int family = pick(rng, 0, 2);
    a.src_nets = random_nets(rng, family);
    a.dst_nets = random_nets(rng, family);
    if (a.proto == Proto::kTcp || a.proto == Proto::kUdp) {
      a.src_ports = chance(rng, 0.3) ? random_ports(rng) : std::vector<PortRange>{};
      a.dst_ports = random_ports(rng);
    } else if (a.proto == Proto::kIcmp && chance(rng, 0.6)) {
      for (int k = pick(rng, 1, 3); k > 0; --k) a.icmp_types.push_back(kIcmpTypes[pick(rng, 0, 6)]);
    }
    list.push_back(std::move(a));
  }
  return policy_of(std::move(list));
}

PolicyQuery random_query(Rng& rng) {
  PolicyQuery q;
  q.v6 = chance(rng, 0.5);
  q.src = random_address(rng, q.v6, chance(rng, 0.05));
  q.dst = random_address(rng, q.v6, chance(rng, 0.05));
  q.from_vendor = chance(rng, 0.5);
  constexpr uint8_t kProtos[] = {kTcp, kUdp, kIcmp, kIcmpv6, kGre};
  q.ip_proto = kProtos[pick(rng, 0, 4)];
  if (q.ip_proto == kTcp || q.ip_proto == kUdp) {
    q.src_port = static_cast<uint16_t>(chance(rng, 0.05) ? 65535 : pick(rng, 0, 70));
    q.dst_port = static_cast<uint16_t>(chance(rng, 0.05) ? 65535 : pick(rng, 0, 70));
  } else if (q.ip_proto == kIcmp || q.ip_proto == kIcmpv6) {
    q.dst_port =
        chance(rng, 0.7) ? kIcmpTypes[pick(rng, 0, 6)] : static_cast<uint16_t>(pick(rng, 0, 255));
  }
  return q;
}

TEST(PolicyClassifier, DifferentialAgainstReference) {
  Rng rng(20240611);
  for (int round = 0; round < 8; ++round) {
    const Policy p = random_policy(rng, 30);
    const PolicyClassifier cls(p, unique_name());
    std::vector<PolicyQuery> queries(4000);
    for (PolicyQuery& q : queries) q = random_query(rng);
    std::vector<uint32_t> want(queries.size());
    for (size_t i = 0; i < queries.size(); ++i) want[i] = reference(p, queries[i]);

    // Spans of random length, many longer than kBatch, both families mixed in each.
    std::vector<uint32_t> got(queries.size(), 0xdeadbeef);
    for (size_t at = 0; at < queries.size();) {
      const size_t n = std::min(queries.size() - at, static_cast<size_t>(pick(rng, 1, 300)));
      cls.classify(std::span(queries).subspan(at, n), std::span(got).subspan(at, n));
      at += n;
    }
    size_t hits = 0;
    std::vector<bool> winners(p.allows.size() + 1);
    for (size_t i = 0; i < queries.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "round " << round << ", query " << i;
      hits += want[i] != kNone;
      winners[want[i]] = true;
    }
    // The test means something only if queries hit, miss, and reach many allows.
    EXPECT_GT(hits, queries.size() / 10) << "round " << round;
    EXPECT_LT(hits, queries.size()) << "round " << round;
    EXPECT_GT(std::count(winners.begin(), winners.end(), true), 8) << "round " << round;

    // One span for everything gives the same answers.
    std::vector<uint32_t> whole(queries.size(), 0xdeadbeef);
    cls.classify(queries, whole);
    ASSERT_EQ(whole, want) << "round " << round;
  }
}

TEST(PolicyClassifier, MixedBatchWithOneFamilyWithoutContext) {
  Rng rng(7);
  Policy p = random_policy(rng, 20);
  // Keep the IPv4 part only: drop IPv6 includes, and give IPv4-less sources the universe.
  for (Allow& a : p.allows) {
    for (NetSet* set : {&a.src_nets, &a.dst_nets}) {
      std::erase_if(set->include, [](const Cidr& c) { return c.v6; });
    }
    if (a.src_nets.include.empty()) a.src_nets.include.push_back(cidr("10.0.0.0/22"));
  }
  const PolicyClassifier cls(p, unique_name());
  ASSERT_GT(cls.acl_rules_v4(), 0u);
  ASSERT_EQ(cls.acl_rules_v6(), 0u);
  std::vector<PolicyQuery> queries(200);
  for (PolicyQuery& q : queries) q = random_query(rng);
  std::vector<uint32_t> out(queries.size(), 0xdeadbeef);
  cls.classify(queries, out);
  size_t hits = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (queries[i].v6) {
      EXPECT_EQ(out[i], kNone) << i;
    } else {
      EXPECT_EQ(out[i], reference(p, queries[i])) << i;
      hits += out[i] != kNone;
    }
  }
  EXPECT_GT(hits, 0u);
}

// ---- Limits and names. ----

std::vector<PortRange> single_ports(uint16_t first, size_t count) {
  std::vector<PortRange> r;
  for (size_t i = 0; i < count; ++i)
    r.push_back({static_cast<uint16_t>(first + i), static_cast<uint16_t>(first + i)});
  return r;
}

TEST(PolicyClassifier, TooManyAclRulesThrowsAtTheAllow) {
  // 1024 x 1025 = 1,049,600 IPv4 rules: just past kMaxAclRules (1,048,576).
  const Policy one = policy_of({
      allow("fine", Proto::kTcp).src("10.0.0.0/8"),
      allow("huge", Proto::kTcp)
          .src("10.0.0.0/8")
          .sports(single_ports(1, 1024))
          .dports(single_ports(2000, 1025)),
  });
  const std::string name = unique_name();
  try {
    const PolicyClassifier cls(one, name);
    FAIL() << "no LoadError";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().file, "policy.toml");
    EXPECT_EQ(e.pos().line, 20u);
    EXPECT_NE(e.message().find("'huge'"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("1049600"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("1048576"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rte_acl_find_existing((name + "_v4").c_str()), nullptr);

  // The total counts: two allows of 600,000 rules each fail at the second.
  const Policy two = policy_of({
      allow("first", Proto::kUdp).sports(single_ports(1, 600)).dports(single_ports(1, 500)),
      allow("second", Proto::kTcp).sports(single_ports(1, 600)).dports(single_ports(1, 500)),
  });
  try {
    const PolicyClassifier cls(two, unique_name());
    FAIL() << "no LoadError";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.pos().line, 20u);
    EXPECT_NE(e.message().find("'second'"), std::string::npos) << e.what();
  }
}

TEST(PolicyClassifier, ContextNames) {
  const Policy both = policy_of({allow("any")});
  const Policy v6_only = policy_of({allow("v6").src("2001:db8::/32")});
  {
    const PolicyClassifier first(v6_only, "dup");
    EXPECT_NE(rte_acl_find_existing("dup_v6"), nullptr);
    // rte_acl_create would hand back the live context; the constructor refuses instead,
    // and frees the IPv4 context it had already built.
    EXPECT_THROW(PolicyClassifier(both, "dup"), std::runtime_error);
    EXPECT_EQ(rte_acl_find_existing("dup_v4"), nullptr);
  }
  // The destructor freed the contexts: the name is free again.
  EXPECT_EQ(rte_acl_find_existing("dup_v6"), nullptr);
  EXPECT_NO_THROW(PolicyClassifier(both, "dup"));
  // Names rte_acl would cut short are refused, not truncated into a collision.
  EXPECT_THROW(PolicyClassifier(both, std::string(29, 'n')), std::runtime_error);
  EXPECT_NO_THROW(PolicyClassifier(both, std::string(28, 'n')));
}

}  // namespace
}  // namespace sentinel::rules

int main(int argc, char** argv) {
  return sentinel::test::run_tests_with_eal(argc, argv, "test-policy-cls", "256");
}

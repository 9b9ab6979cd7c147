// Unit tests of learn mode's policy writer: one [[allow]] per (side, protocol, port or ICMP
// type, family); sources as host prefixes; destinations aggregated per block of the widest
// allowed prefix only from learn_min_hosts hosts, into their longest common prefix, never
// wider than the limits (checked against a reference on random inputs); output independent
// of input order with duplicates merged; and the text loads back through the policy loader
// into exactly the allows expected.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/cidr.hpp"
#include "rules/policy.hpp"
#include "rules/policy_learn.hpp"

namespace sentinel::rules {
namespace {

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kGre = 47;
constexpr uint8_t kEsp = 50;
constexpr uint8_t kIcmpv6 = 58;

std::array<uint8_t, 16> addr(std::string_view text, bool v6) {
  std::array<uint8_t, 16> out{};
  const std::string copy(text);
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, copy.c_str(), out.data()), 1) << text;
  return out;
}

// One observation; the family follows the source's spelling.
LearnedFlow flow(std::string_view src, std::string_view dst, uint8_t proto, uint16_t port,
                 uint64_t flows = 1, uint64_t bytes = 100, bool from_vendor = true) {
  LearnedFlow f;
  f.v6 = src.find(':') != std::string_view::npos;
  f.src = addr(src, f.v6);
  f.dst = addr(dst, f.v6);
  f.ip_proto = proto;
  f.dst_port = port;
  f.flows = flows;
  f.bytes = bytes;
  f.from_vendor = from_vendor;
  return f;
}

config::Cidr cidr(std::string_view text) {
  std::string why;
  const std::optional<config::Cidr> parsed = config::parse_cidr(text, why);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << why;
  return parsed.value_or(config::Cidr{});
}

std::string learn(const std::vector<LearnedFlow>& flows, const LearnLimits& limits = {},
                  const std::vector<uint16_t>& ethertypes = {}, bool nd = true) {
  return write_learned_policy(flows, ethertypes, limits, nd, "test.pcap");
}

// The text without its first line, which carries today's date.
std::string body(const std::string& text) { return text.substr(text.find('\n') + 1); }

// The [[allow]] table named `name`: from its header to the blank line that ends it.
std::string allow_block(const std::string& text, std::string_view name) {
  const size_t at = text.find("\nname = \"" + std::string(name) + "\"\n");
  if (at == std::string::npos) return {};
  const size_t begin = text.rfind("[[allow]]", at);
  const size_t end = text.find("\n\n", at);
  return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// The allow names in file order.
std::vector<std::string> allow_names(const std::string& text) {
  std::vector<std::string> names;
  static constexpr std::string_view kOpen = "\nname = \"";
  for (size_t at = text.find(kOpen); at != std::string::npos; at = text.find(kOpen, at + 1)) {
    const size_t begin = at + kOpen.size();
    const size_t end = text.find("\"\n", begin);
    if (end == std::string::npos) break;
    names.push_back(text.substr(begin, end - begin));
  }
  return names;
}

// The strings of the array `key = [...]` in `block`, comments dropped.
std::vector<std::string> strings_of(const std::string& block, std::string_view key) {
  std::vector<std::string> out;
  const size_t open = block.find("\n" + std::string(key) + " = [");
  if (open == std::string::npos) return out;
  const size_t close = block.find(']', open);
  std::string inner = block.substr(open, close - open);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t eol = inner.find('\n', pos);
    if (eol == std::string::npos) eol = inner.size();
    std::string line = inner.substr(pos, eol - pos);
    line = line.substr(0, line.find('#'));
    for (size_t q = line.find('"'); q != std::string::npos; q = line.find('"', q)) {
      const size_t q_end = line.find('"', q + 1);
      out.push_back(line.substr(q + 1, q_end - q - 1));
      q = q_end + 1;
    }
    pos = eol + 1;
  }
  return out;
}

std::vector<std::string> dst_nets(const std::string& text, std::string_view name) {
  return strings_of(allow_block(text, name), "dst_nets");
}

size_t count_of(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// --- Empty input, header and [policy] ---------------------------------------------------

TEST(PolicyLearn, EmptyInputGivesPolicyWithoutAllows) {
  const std::string text = learn({});
  EXPECT_NE(text.find("\n[policy]\nmode = \"enforce\"\ndefault = \"alert\"\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# 0 flows in 0 distinct (side, proto, source, destination, port) "
                      "observations, 0 allows.\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(count_of(text, "[[allow]]"), 1u) << "only the review line names [[allow]]: " << text;
  EXPECT_NE(text.find("\nallow_ethertypes = [\"arp\"]\n"), std::string::npos) << text;
}

TEST(PolicyLearn, HeaderNamesOriginDateAndCounts) {
  const std::vector<LearnedFlow> flows{flow("192.0.2.5", "10.0.0.1", kTcp, 443, 3, 300),
                                       flow("192.0.2.6", "10.0.0.1", kTcp, 443, 2, 200),
                                       flow("192.0.2.5", "10.0.0.1", kUdp, 53, 1, 80)};
  const std::string text = write_learned_policy(flows, {}, {}, true, "capture.pcap");
  const std::string first = text.substr(0, text.find('\n'));
  static constexpr std::string_view kHead = "# Sentinel communication policy learned from capture.pcap on ";
  ASSERT_EQ(first.size(), kHead.size() + 10) << first;  // + YYYY-MM-DD
  EXPECT_EQ(first.substr(0, kHead.size()), kHead);
  const std::string date = first.substr(kHead.size());
  for (size_t i = 0; i < date.size(); ++i) {
    EXPECT_TRUE(i == 4 || i == 7 ? date[i] == '-' : std::isdigit(static_cast<unsigned char>(date[i])) != 0) << first;
  }
  EXPECT_NE(text.find("\n# 6 flows in 3 distinct (side, proto, source, destination, port) "
                      "observations, 2 allows.\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n# Review before enforcing: every [[allow]] below was seen; nothing "
                      "else will be permitted.\n"),
            std::string::npos);
}

TEST(PolicyLearn, OriginCannotBreakOutOfTheComment) {
  const std::string text =
      write_learned_policy({}, {}, {}, true, "evil\n[[allow]]\nname = \"x\"\r");
  EXPECT_EQ(text.find("\n[[allow]]\nname"), std::string::npos) << text;
  EXPECT_TRUE(allow_names(text).empty()) << text;
}

TEST(PolicyLearn, PolicyTableCarriesLimitsAndSid) {
  const LearnLimits limits{.min_hosts = 7, .max_prefix_v4 = 20, .max_prefix_v6 = 56,
                           .default_sid = 4242};
  const std::string text = learn({}, limits, {}, false);
  EXPECT_NE(text.find("\ndefault_sid = 4242\nlearn_min_hosts = 7\nlearn_max_prefix_v4 = 20\n"
                      "learn_max_prefix_v6 = 56\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n[policy.l2]\n"), std::string::npos);
  EXPECT_NE(text.find("\nallow_icmpv6_nd = false\n"), std::string::npos);
  EXPECT_NE(learn({}, limits, {}, true).find("\nallow_icmpv6_nd = true\n"), std::string::npos);
}

// The whole text for a small input, so the format is pinned down in one place.
TEST(PolicyLearn, ExactText) {
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.0.0.9", kTcp, 443, 10, 30000),
      flow("192.0.2.7", "10.0.0.9", kTcp, 443, 2, 4567),
      flow("10.0.0.9", "192.0.2.5", kIcmp, 8, 1, 98, false),
  };
  EXPECT_EQ(body(learn(flows)),
            "# 13 flows in 3 distinct (side, proto, source, destination, port) observations, "
            "2 allows.\n"
            "# Review before enforcing: every [[allow]] below was seen; nothing else will be "
            "permitted.\n"
            "[policy]\n"
            "mode = \"enforce\"\n"
            "default = \"alert\"\n"
            "default_sid = 1000001\n"
            "learn_min_hosts = 4\n"
            "learn_max_prefix_v4 = 24\n"
            "learn_max_prefix_v6 = 64\n"
            "\n"
            "[policy.l2]\n"
            "allow_ethertypes = [\"arp\"]\n"
            "allow_icmpv6_nd = true\n"
            "\n"
            "# 12 flows, 34567 bytes\n"
            "[[allow]]\n"
            "name = \"vendor tcp/443 v4\"\n"
            "from = \"vendor\"\n"
            "proto = \"tcp\"\n"
            "src_nets = [\n"
            "  \"192.0.2.5/32\",  # 10 flows, 30000 bytes\n"
            "  \"192.0.2.7/32\",  # 2 flows, 4567 bytes\n"
            "]\n"
            "dst_nets = [\n"
            "  \"10.0.0.9/32\",  # 12 flows, 34567 bytes\n"
            "]\n"
            "dst_ports = [443]\n"
            "\n"
            "# 1 flows, 98 bytes\n"
            "[[allow]]\n"
            "name = \"core icmp type 8 v4\"\n"
            "from = \"core\"\n"
            "proto = \"icmp\"\n"
            "src_nets = [\n"
            "  \"10.0.0.9/32\",  # 1 flows, 98 bytes\n"
            "]\n"
            "dst_nets = [\n"
            "  \"192.0.2.5/32\",  # 1 flows, 98 bytes\n"
            "]\n"
            "icmp_types = [8]\n");
}

// --- Aggregation ------------------------------------------------------------------------

std::vector<LearnedFlow> to_hosts(const std::vector<std::string>& dsts, uint16_t port = 443) {
  std::vector<LearnedFlow> flows;
  for (const std::string& dst : dsts) flows.push_back(flow("192.0.2.5", dst, kTcp, port));
  return flows;
}

TEST(PolicyLearn, FewerThanMinHostsStayHosts) {
  const std::string text = learn(to_hosts({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"}));
  EXPECT_EQ(text.find("aggregated"), std::string::npos);
}

TEST(PolicyLearn, MinHostsAggregateIntoLongestCommonPrefix) {
  // .1 = 00000001, .4 = 00000100: they agree on the first 29 bits.
  const std::string text = learn(to_hosts({"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}));
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v4"), (std::vector<std::string>{"10.0.0.0/29"}));
  EXPECT_NE(text.find("\"10.0.0.0/29\",  # aggregated from 4 hosts; 4 flows, 400 bytes\n"),
            std::string::npos)
      << text;
}

TEST(PolicyLearn, MinHostsIsAParameter) {
  const std::vector<LearnedFlow> two = to_hosts({"10.0.0.8", "10.0.0.11"});
  EXPECT_EQ(dst_nets(learn(two, {.min_hosts = 3}), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.8/32", "10.0.0.11/32"}));
  EXPECT_EQ(dst_nets(learn(two, {.min_hosts = 2}), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.8/30"}));
}

TEST(PolicyLearn, LongestCommonPrefixIsExact) {
  const LearnLimits two{.min_hosts = 2};
  const auto nets = [&](const std::vector<std::string>& hosts) {
    return dst_nets(learn(to_hosts(hosts), two), "vendor tcp/443 v4");
  };
  EXPECT_EQ(nets({"10.0.0.6", "10.0.0.7"}), (std::vector<std::string>{"10.0.0.6/31"}));
  EXPECT_EQ(nets({"10.0.0.7", "10.0.0.8"}), (std::vector<std::string>{"10.0.0.0/28"}));
  EXPECT_EQ(nets({"10.0.0.0", "10.0.0.255"}), (std::vector<std::string>{"10.0.0.0/24"}));
  EXPECT_EQ(nets({"10.0.0.128", "10.0.0.200", "10.0.0.255"}),
            (std::vector<std::string>{"10.0.0.128/25"}));
  // .95 = 01011111 stays in the /27 of .64 = 01000000; .96 = 01100000 leaves it.
  EXPECT_EQ(nets({"10.0.0.64", "10.0.0.65", "10.0.0.95"}),
            (std::vector<std::string>{"10.0.0.64/27"}));
  EXPECT_EQ(nets({"10.0.0.64", "10.0.0.65", "10.0.0.96"}),
            (std::vector<std::string>{"10.0.0.64/26"}));
}

TEST(PolicyLearn, NeverWiderThanTheV4Limit) {
  // Two hosts each in 10.0.0.0/24 and 10.0.1.0/24: two aggregates, not one /23.
  const LearnLimits two{.min_hosts = 2};
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.3"}), two),
                     "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.0/30", "10.0.1.0/30"}));
  // One host per /24: each block is below the threshold, however many blocks there are.
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.3.1"})),
                     "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.1/32", "10.0.1.1/32", "10.0.2.1/32", "10.0.3.1/32"}));
}

TEST(PolicyLearn, SixteenBitLimit) {
  const LearnLimits limits{.min_hosts = 2, .max_prefix_v4 = 16};
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.1.0.1", "10.1.128.1", "10.2.0.1"}), limits),
                     "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.1.0.0/16", "10.2.0.1/32"}));
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.1.4.1", "10.1.7.1"}), limits), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.1.4.0/22"}));
  // 10.1.255.1 and 10.2.0.1 are numerically adjacent but in different /16 blocks.
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.1.255.1", "10.2.0.1"}), limits), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.1.255.1/32", "10.2.0.1/32"}));
}

TEST(PolicyLearn, ThirtyBitLimit) {
  const LearnLimits limits{.min_hosts = 2, .max_prefix_v4 = 30};
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.6"}),
                           limits),
                     "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.0/30", "10.0.0.4/30"}));
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.0.0.3", "10.0.0.4"}), limits), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.3/32", "10.0.0.4/32"}));
}

TEST(PolicyLearn, HostOnlyLimitNeverAggregates) {
  const LearnLimits limits{.min_hosts = 1, .max_prefix_v4 = 32, .max_prefix_v6 = 128};
  EXPECT_EQ(dst_nets(learn(to_hosts({"10.0.0.0", "10.0.0.1"}), limits), "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.0/32", "10.0.0.1/32"}));
  EXPECT_EQ(dst_nets(learn({flow("2001:db8::9", "2001:db8::1", kTcp, 22),
                            flow("2001:db8::9", "2001:db8::2", kTcp, 22)},
                           limits),
                     "vendor tcp/22 v6"),
            (std::vector<std::string>{"2001:db8::1/128", "2001:db8::2/128"}));
}

TEST(PolicyLearn, SourcesAreAlwaysHosts) {
  std::vector<LearnedFlow> flows;
  for (const char* src : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}) {
    flows.push_back(flow(src, "10.0.0.1", kTcp, 443));
  }
  const std::string text = learn(flows, {.min_hosts = 2});
  EXPECT_EQ(strings_of(allow_block(text, "vendor tcp/443 v4"), "src_nets"),
            (std::vector<std::string>{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32",
                                      "192.0.2.4/32", "192.0.2.5/32"}));
}

TEST(PolicyLearn, DestinationsAggregatePerService) {
  // Four hosts in one /24 but two ports: neither service saw four.
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.0.0.1", kTcp, 443), flow("192.0.2.5", "10.0.0.2", kTcp, 443),
      flow("192.0.2.5", "10.0.0.3", kTcp, 80), flow("192.0.2.5", "10.0.0.4", kTcp, 80)};
  const std::string text = learn(flows);
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v4"),
            (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/32"}));
  EXPECT_EQ(dst_nets(text, "vendor tcp/80 v4"),
            (std::vector<std::string>{"10.0.0.3/32", "10.0.0.4/32"}));
}

TEST(PolicyLearn, V6AggregationAndFormatting) {
  const std::vector<LearnedFlow> flows{
      flow("2001:db8:ffff::5", "2001:db8:0:1::1", kTcp, 443),
      flow("2001:db8:ffff::5", "2001:db8:0:1::2", kTcp, 443),
      flow("2001:db8:ffff::5", "2001:db8:0:1::3", kTcp, 443),
      flow("2001:db8:ffff::5", "2001:db8:0:1::4", kTcp, 443),
      flow("2001:db8:ffff::5", "2001:db8:0:2::1", kTcp, 443),
  };
  const std::string text = learn(flows);
  const std::string block = allow_block(text, "vendor tcp/443 v6");
  ASSERT_FALSE(block.empty()) << text;
  EXPECT_EQ(strings_of(block, "src_nets"), (std::vector<std::string>{"2001:db8:ffff::5/128"}));
  EXPECT_EQ(strings_of(block, "dst_nets"),
            (std::vector<std::string>{"2001:db8:0:1::/125", "2001:db8:0:2::1/128"}));
}

TEST(PolicyLearn, NeverWiderThanTheV6Limit) {
  // 2001:db8:0:1::1 and 2001:db8:0:2::1 share 62 bits: different /64s, one /48.
  const std::vector<LearnedFlow> flows{flow("2001:db8::5", "2001:db8:0:1::1", kUdp, 53),
                                       flow("2001:db8::5", "2001:db8:0:2::1", kUdp, 53)};
  EXPECT_EQ(dst_nets(learn(flows, {.min_hosts = 2}), "vendor udp/53 v6"),
            (std::vector<std::string>{"2001:db8:0:1::1/128", "2001:db8:0:2::1/128"}));
  EXPECT_EQ(dst_nets(learn(flows, {.min_hosts = 2, .max_prefix_v6 = 48}), "vendor udp/53 v6"),
            (std::vector<std::string>{"2001:db8::/62"}));
  EXPECT_EQ(dst_nets(learn(flows, {.min_hosts = 2, .max_prefix_v6 = 63}), "vendor udp/53 v6"),
            (std::vector<std::string>{"2001:db8:0:1::1/128", "2001:db8:0:2::1/128"}));
  EXPECT_EQ(dst_nets(learn(flows, {.min_hosts = 2, .max_prefix_v6 = 62}), "vendor udp/53 v6"),
            (std::vector<std::string>{"2001:db8::/62"}));
}

TEST(PolicyLearn, LimitsApplyPerFamily) {
  // A /16 for IPv4 says nothing about IPv6, and the other way round.
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.1.0.1", kTcp, 443), flow("192.0.2.5", "10.1.200.1", kTcp, 443),
      flow("2001:db8::5", "2001:db8:0:0:1::1", kTcp, 443),
      flow("2001:db8::5", "2001:db8:0:0:2::1", kTcp, 443)};
  const std::string text = learn(flows, {.min_hosts = 2, .max_prefix_v4 = 16, .max_prefix_v6 = 80});
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v4"), (std::vector<std::string>{"10.1.0.0/16"}));
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v6"),
            (std::vector<std::string>{"2001:db8::1:0:0:1/128", "2001:db8::2:0:0:1/128"}));
}

// Every destination list, for random inputs and limits, against the rules themselves:
// strict CIDRs (host bits zero), no entry wider than the limit, each destination covered
// exactly once, an aggregate only from a block with min_hosts destinations and as tight as
// they allow, a host entry only where its block has too few.
TEST(PolicyLearn, AggregationMatchesTheRulesOnRandomInput) {
  std::mt19937 rng(20240601);
  for (int round = 0; round < 300; ++round) {
    const bool v6 = round % 2 == 1;
    const unsigned bits = v6 ? 128 : 32;
    const std::array<uint8_t, 6> v4_limits{8, 16, 20, 24, 30, 32};
    const std::array<uint8_t, 6> v6_limits{32, 48, 64, 100, 120, 128};
    LearnLimits limits;
    limits.min_hosts = 1 + rng() % 5;
    limits.max_prefix_v4 = v4_limits[rng() % v4_limits.size()];
    limits.max_prefix_v6 = v6_limits[rng() % v6_limits.size()];
    const unsigned limit = v6 ? limits.max_prefix_v6 : limits.max_prefix_v4;

    // Destinations clustered so that some blocks reach the threshold: random low bits
    // under a few shared high parts.
    std::set<std::array<uint8_t, 16>> dsts;
    std::vector<LearnedFlow> flows;
    const int count = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < count; ++i) {
      LearnedFlow f = v6 ? flow("2001:db8::5", "2001:db8::", kTcp, 443)
                         : flow("192.0.2.5", "10.0.0.0", kTcp, 443);
      const unsigned cluster = rng() % 3;
      const unsigned last = bits / 8 - 1;
      f.dst[last] = static_cast<uint8_t>(rng() % 16);
      f.dst[last - 1] = static_cast<uint8_t>(cluster * 7 + rng() % 2);
      if (v6) f.dst[7] = static_cast<uint8_t>(cluster);
      dsts.insert(f.dst);
      flows.push_back(f);
    }
    const std::string name = v6 ? "vendor tcp/443 v6" : "vendor tcp/443 v4";
    const std::vector<std::string> entries = dst_nets(learn(flows, limits), name);
    ASSERT_FALSE(entries.empty());

    // Destinations per block of the limit.
    std::map<config::Cidr, unsigned, bool (*)(const config::Cidr&, const config::Cidr&)> per_block(
        [](const config::Cidr& a, const config::Cidr& b) { return a.addr < b.addr; });
    const auto block_of = [&](const std::array<uint8_t, 16>& a) {
      config::Cidr c{v6, a, static_cast<uint8_t>(bits)};
      for (unsigned bit = limit; bit < bits; ++bit) c.addr[bit / 8] &= ~(0x80u >> (bit % 8));
      c.prefix_len = static_cast<uint8_t>(limit);
      return c;
    };
    for (const auto& d : dsts) ++per_block[block_of(d)];

    std::map<std::array<uint8_t, 16>, int> covered;
    for (const std::string& text : entries) {
      std::string why;
      const std::optional<config::Cidr> net = config::parse_cidr(text, why);
      ASSERT_TRUE(net.has_value()) << text << ": " << why;
      ASSERT_EQ(net->v6, v6);
      EXPECT_GE(net->prefix_len, limit) << text;
      std::vector<std::array<uint8_t, 16>> inside;
      for (const auto& d : dsts) {
        if (net->contains(v6, d.data())) inside.push_back(d);
      }
      ASSERT_FALSE(inside.empty()) << text << " covers no destination";
      for (const auto& d : inside) ++covered[d];
      const unsigned in_block = per_block[block_of(inside.front())];
      if (net->prefix_len < bits) {
        EXPECT_GE(in_block, limits.min_hosts) << text;
        // Tight: the destinations inside straddle the next bit, so no longer prefix holds them.
        const unsigned bit = net->prefix_len;
        std::set<int> next_bits;
        for (const auto& d : inside) next_bits.insert((d[bit / 8] >> (7 - bit % 8)) & 1);
        EXPECT_EQ(next_bits.size(), 2u) << text;
      } else if (in_block > 1) {
        EXPECT_LT(in_block, limits.min_hosts) << text;
      }
    }
    for (const auto& d : dsts) EXPECT_EQ(covered[d], 1) << "round " << round;
  }
}

// --- Services: protocols, sides, families, order ----------------------------------------

TEST(PolicyLearn, IcmpUsesIcmpTypes) {
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.0.0.1", kIcmp, 8),
      flow("2001:db8::5", "2001:db8::1", kIcmpv6, 128),
  };
  const std::string text = learn(flows);
  const std::string v4 = allow_block(text, "vendor icmp type 8 v4");
  ASSERT_FALSE(v4.empty()) << text;
  EXPECT_NE(v4.find("\nproto = \"icmp\"\n"), std::string::npos);
  EXPECT_NE(v4.find("\nicmp_types = [8]"), std::string::npos);
  EXPECT_EQ(v4.find("ports"), std::string::npos);
  const std::string v6 = allow_block(text, "vendor icmp type 128 v6");
  ASSERT_FALSE(v6.empty()) << text;
  EXPECT_NE(v6.find("\nicmp_types = [128]"), std::string::npos);
}

TEST(PolicyLearn, IcmpTypesSplitServices) {
  const std::string text = learn({flow("192.0.2.5", "10.0.0.1", kIcmp, 8),
                                  flow("192.0.2.5", "10.0.0.1", kIcmp, 13)});
  EXPECT_EQ(allow_names(text),
            (std::vector<std::string>{"vendor icmp type 8 v4", "vendor icmp type 13 v4"}));
}

TEST(PolicyLearn, IcmpTypeAboveByteIsIgnored) {
  const std::string text = learn({flow("192.0.2.5", "10.0.0.1", kIcmp, 300),
                                  flow("192.0.2.5", "10.0.0.1", kIcmp, 0)});
  EXPECT_EQ(allow_names(text), (std::vector<std::string>{"vendor icmp type 0 v4"}));
  EXPECT_NE(text.find("# 1 ICMP observations with a type above 255 ignored.\n"),
            std::string::npos);
}

TEST(PolicyLearn, IcmpNumberOfTheOtherFamilyIsJustAProtocol) {
  const std::string text = learn({flow("192.0.2.5", "10.0.0.1", kIcmpv6, 0),
                                  flow("2001:db8::5", "2001:db8::1", kIcmp, 0)});
  EXPECT_EQ(allow_names(text), (std::vector<std::string>{"vendor ip/1 v6", "vendor ip/58 v4"}));
}

TEST(PolicyLearn, OtherProtocolsAreIpAllowsPerNumber) {
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.0.0.1", kEsp, 0), flow("192.0.2.5", "10.0.0.1", kGre, 0),
      flow("192.0.2.5", "10.0.0.2", kGre, 7)};  // a stray port must not split the service
  const std::string text = learn(flows);
  EXPECT_EQ(allow_names(text), (std::vector<std::string>{"vendor ip/47 v4", "vendor ip/50 v4"}));
  const std::string gre = allow_block(text, "vendor ip/47 v4");
  EXPECT_NE(gre.find("\nproto = \"ip\"\n"), std::string::npos);
  EXPECT_EQ(gre.find("ports"), std::string::npos);
  EXPECT_EQ(gre.find("icmp_types"), std::string::npos);
  EXPECT_EQ(strings_of(gre, "dst_nets"), (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/32"}));
  EXPECT_NE(text.find("# IP protocol 47: the policy language has no protocol numbers, so this "
                      "allow permits any\n# protocol between these hosts.\n[[allow]]\n"
                      "name = \"vendor ip/47 v4\""),
            std::string::npos)
      << text;
}

TEST(PolicyLearn, ServicesSortedBySideProtoPortFamily) {
  const std::vector<LearnedFlow> flows{
      flow("10.0.0.1", "192.0.2.5", kTcp, 22, 1, 1, false),
      flow("2001:db8::5", "2001:db8::1", kTcp, 443),
      flow("192.0.2.5", "10.0.0.1", kUdp, 53),
      flow("192.0.2.5", "10.0.0.1", kTcp, 443),
      flow("192.0.2.5", "10.0.0.1", kTcp, 80),
      flow("192.0.2.5", "10.0.0.1", kGre, 0),
      flow("192.0.2.5", "10.0.0.1", kIcmp, 8),
  };
  EXPECT_EQ(allow_names(learn(flows)),
            (std::vector<std::string>{"vendor icmp type 8 v4", "vendor tcp/80 v4",
                                      "vendor tcp/443 v4", "vendor tcp/443 v6", "vendor udp/53 v4",
                                      "vendor ip/47 v4", "core tcp/22 v4"}));
}

TEST(PolicyLearn, CoreSideSaysFromCore) {
  const std::string text = learn({flow("10.0.0.1", "192.0.2.5", kUdp, 514, 1, 1, false)});
  const std::string block = allow_block(text, "core udp/514 v4");
  ASSERT_FALSE(block.empty()) << text;
  EXPECT_NE(block.find("\nfrom = \"core\"\n"), std::string::npos);
  EXPECT_NE(block.find("\nproto = \"udp\"\n"), std::string::npos);
  EXPECT_NE(block.find("\ndst_ports = [514]"), std::string::npos);
}

TEST(PolicyLearn, AnyInputOrderGivesTheSameText) {
  std::vector<LearnedFlow> flows;
  for (int i = 0; i < 40; ++i) {
    const std::string host = std::to_string(i % 9);
    flows.push_back(flow("192.0.2." + std::to_string(i % 3), "10.0.0." + host,
                         i % 4 == 0 ? kUdp : kTcp, static_cast<uint16_t>(i % 2 ? 443 : 53), 1,
                         static_cast<uint64_t>(i)));
    flows.push_back(flow("2001:db8::" + std::to_string(i % 5), "2001:db8:1::" + host, kTcp, 443,
                         2, 10, i % 3 == 0));
  }
  flows.push_back(flow("192.0.2.1", "10.0.0.1", kGre, 0));
  const std::string reference = body(learn(flows));
  std::mt19937 rng(7);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(flows.begin(), flows.end(), rng);
    EXPECT_EQ(body(learn(flows)), reference);
  }
  std::reverse(flows.begin(), flows.end());
  EXPECT_EQ(body(learn(flows)), reference);
}

TEST(PolicyLearn, DuplicatesMerge) {
  const std::vector<LearnedFlow> once{flow("192.0.2.5", "10.0.0.1", kTcp, 443, 3, 300)};
  const std::vector<LearnedFlow> split{flow("192.0.2.5", "10.0.0.1", kTcp, 443, 1, 100),
                                       flow("192.0.2.5", "10.0.0.1", kTcp, 443, 2, 200)};
  const std::string text = learn(split);
  EXPECT_EQ(body(text), body(learn(once)));
  EXPECT_NE(text.find("# 3 flows in 1 distinct"), std::string::npos) << text;
  EXPECT_NE(text.find("\"192.0.2.5/32\",  # 3 flows, 300 bytes\n"), std::string::npos) << text;
}

TEST(PolicyLearn, V4IgnoresBytesPastTheAddress) {
  LearnedFlow noisy = flow("192.0.2.5", "10.0.0.1", kTcp, 443);
  noisy.src[9] = 0xaa;
  noisy.dst[15] = 0x55;
  const std::string text = learn({noisy, flow("192.0.2.5", "10.0.0.1", kTcp, 443)});
  EXPECT_NE(text.find("# 2 flows in 1 distinct"), std::string::npos) << text;
  EXPECT_EQ(dst_nets(text, "vendor tcp/443 v4"), (std::vector<std::string>{"10.0.0.1/32"}));
}

TEST(PolicyLearn, AllowTotalsAndPerHostTraffic) {
  const std::string text = learn({flow("192.0.2.5", "10.0.0.1", kTcp, 443, 4, 1000),
                                  flow("192.0.2.6", "10.0.0.1", kTcp, 443, 1, 50),
                                  flow("192.0.2.6", "10.0.0.2", kTcp, 443, 2, 70)});
  EXPECT_NE(text.find("\n# 7 flows, 1120 bytes\n[[allow]]\nname = \"vendor tcp/443 v4\""),
            std::string::npos)
      << text;
  const std::string block = allow_block(text, "vendor tcp/443 v4");
  EXPECT_NE(block.find("\"192.0.2.6/32\",  # 3 flows, 120 bytes\n"), std::string::npos) << block;
  EXPECT_NE(block.find("\"10.0.0.1/32\",  # 5 flows, 1050 bytes\n"), std::string::npos) << block;
}

// --- [policy.l2] ------------------------------------------------------------------------

TEST(PolicyLearn, EthertypesSortedNamedOrHexWithArpAndWithoutIp) {
  const std::vector<uint16_t> seen{0x88b5, 0x88cc, 0x88b5, 0x0800, 0x86dd};
  const std::string text = learn({}, {}, seen);
  const auto spelled = [](uint16_t e) {
    if (const char* name = ethertype_name(e)) return "\"" + std::string(name) + "\"";
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04x", e);
    return std::string(hex);
  };
  EXPECT_NE(text.find("\nallow_ethertypes = [\"arp\", " + spelled(0x88b5) + ", " +
                      spelled(0x88cc) + "]\n"),
            std::string::npos)
      << text;
}

// --- Round trip through the policy loader -----------------------------------------------

Policy load(const std::string& text) {
  const std::optional<Policy> policy = load_policy_texts({{"learned.toml", text}});
  EXPECT_TRUE(policy.has_value()) << text;
  return policy.value_or(Policy{});
}

struct Expected {
  std::string name;
  bool from_vendor;
  Proto proto;
  std::vector<std::string> src;
  std::vector<std::string> dst;
  std::vector<uint16_t> dst_ports;
  std::vector<uint8_t> icmp_types;
};

void expect_allows(const Policy& policy, const std::vector<Expected>& expected) {
  ASSERT_EQ(policy.allows.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const Allow& got = policy.allows[i];
    const Expected& want = expected[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.from_vendor, want.from_vendor);
    EXPECT_EQ(got.proto, want.proto);
    std::vector<config::Cidr> src, dst;
    for (const std::string& s : want.src) src.push_back(cidr(s));
    for (const std::string& d : want.dst) dst.push_back(cidr(d));
    EXPECT_EQ(got.src_nets.include, src);
    EXPECT_TRUE(got.src_nets.exclude.empty());
    EXPECT_EQ(got.dst_nets.include, dst);
    EXPECT_TRUE(got.dst_nets.exclude.empty());
    EXPECT_TRUE(got.src_ports.empty());
    ASSERT_EQ(got.dst_ports.size(), want.dst_ports.size());
    for (size_t p = 0; p < want.dst_ports.size(); ++p) {
      EXPECT_EQ(got.dst_ports[p].lo, want.dst_ports[p]);
      EXPECT_EQ(got.dst_ports[p].hi, want.dst_ports[p]);
    }
    EXPECT_EQ(got.icmp_types, want.icmp_types);
  }
}

TEST(PolicyLearnRoundTrip, EmptyInputLoads) {
  const LearnLimits limits{.min_hosts = 3, .max_prefix_v4 = 28, .max_prefix_v6 = 96,
                           .default_sid = 1000777};
  const Policy policy = load(learn({}, limits, {}, false));
  EXPECT_EQ(policy.mode, PolicyMode::kEnforce);
  EXPECT_EQ(policy.default_action, PolicyDefault::kAlert);
  EXPECT_EQ(policy.default_sid, 1000777u);
  EXPECT_EQ(policy.learn_min_hosts, 3u);
  EXPECT_EQ(policy.learn_max_prefix_v4, 28);
  EXPECT_EQ(policy.learn_max_prefix_v6, 96);
  EXPECT_EQ(policy.allow_ethertypes, std::vector<uint16_t>{kEthertypeArp});
  EXPECT_FALSE(policy.allow_icmpv6_nd);
  EXPECT_TRUE(policy.allows.empty());
}

TEST(PolicyLearnRoundTrip, AllowsLoadAsWritten) {
  const std::vector<LearnedFlow> flows{
      flow("192.0.2.5", "10.0.0.1", kTcp, 443, 10, 30000),
      flow("192.0.2.5", "10.0.0.2", kTcp, 443),
      flow("192.0.2.7", "10.0.0.3", kTcp, 443),
      flow("192.0.2.7", "10.0.0.4", kTcp, 443),
      flow("192.0.2.7", "10.0.9.9", kTcp, 443),
      flow("192.0.2.5", "10.0.0.53", kUdp, 53),
      flow("192.0.2.5", "10.0.0.1", kIcmp, 8),
      flow("192.0.2.5", "10.0.0.1", kGre, 0),
      flow("2001:db8::5", "2001:db8:1::1", kTcp, 22),
      flow("2001:db8::5", "2001:db8:1::1", kIcmpv6, 128),
      flow("10.0.0.1", "192.0.2.5", kUdp, 514, 1, 1, false),
  };
  const Policy policy = load(learn(flows, {}, {0x88cc}, true));
  EXPECT_TRUE(policy.allow_icmpv6_nd);
  std::vector<uint16_t> l2 = policy.allow_ethertypes;
  std::sort(l2.begin(), l2.end());
  EXPECT_EQ(l2, (std::vector<uint16_t>{kEthertypeArp, 0x88cc}));
  expect_allows(
      policy,
      {
          {"vendor icmp type 8 v4", true, Proto::kIcmp, {"192.0.2.5/32"}, {"10.0.0.1/32"}, {}, {8}},
          {"vendor tcp/22 v6", true, Proto::kTcp, {"2001:db8::5/128"}, {"2001:db8:1::1/128"},
           {22}, {}},
          {"vendor tcp/443 v4", true, Proto::kTcp, {"192.0.2.5/32", "192.0.2.7/32"},
           {"10.0.0.0/29", "10.0.9.9/32"}, {443}, {}},
          {"vendor udp/53 v4", true, Proto::kUdp, {"192.0.2.5/32"}, {"10.0.0.53/32"}, {53}, {}},
          {"vendor ip/47 v4", true, Proto::kIp, {"192.0.2.5/32"}, {"10.0.0.1/32"}, {}, {}},
          {"vendor icmp type 128 v6", true, Proto::kIcmp, {"2001:db8::5/128"},
           {"2001:db8:1::1/128"}, {}, {128}},
          {"core udp/514 v4", false, Proto::kUdp, {"10.0.0.1/32"}, {"192.0.2.5/32"}, {514}, {}},
      });
}

TEST(PolicyLearnRoundTrip, AggregatesLoadWithinLimits) {
  std::vector<LearnedFlow> flows;
  for (int i = 0; i < 6; ++i) {
    flows.push_back(flow("192.0.2.5", "10.1." + std::to_string(i * 40) + ".1", kTcp, 443));
    flows.push_back(flow("2001:db8::5", "2001:db8:0:" + std::to_string(i) + "::1", kTcp, 443));
  }
  const LearnLimits limits{.min_hosts = 6, .max_prefix_v4 = 16, .max_prefix_v6 = 48};
  expect_allows(load(learn(flows, limits)),
                {
                    {"vendor tcp/443 v4", true, Proto::kTcp, {"192.0.2.5/32"}, {"10.1.0.0/16"},
                     {443}, {}},
                    {"vendor tcp/443 v6", true, Proto::kTcp, {"2001:db8::5/128"},
                     {"2001:db8::/61"}, {443}, {}},
                });
}

// Inputs outside what the file may say are written as what was applied, so it still loads.
TEST(PolicyLearnRoundTrip, OutOfRangeInputsStillLoad) {
  const LearnLimits limits{.min_hosts = 0, .max_prefix_v4 = 40, .max_prefix_v6 = 200,
                           .default_sid = 0};
  const std::vector<uint16_t> seen{0x0100, 0x0800, 0x86dd};  // an 802.3 length (llc), IPv4, IPv6
  const Policy policy = load(learn(to_hosts({"10.0.0.1", "10.0.0.2"}), limits, seen));
  EXPECT_EQ(policy.learn_min_hosts, 1u);
  EXPECT_EQ(policy.learn_max_prefix_v4, 32);
  EXPECT_EQ(policy.learn_max_prefix_v6, 128);
  EXPECT_EQ(policy.default_sid, kDefaultPolicySid);
  EXPECT_EQ(policy.allow_ethertypes, (std::vector<uint16_t>{kEthertypeLlc, kEthertypeArp}));
  ASSERT_EQ(policy.allows.size(), 1u);
  EXPECT_EQ(policy.allows[0].dst_nets.include,
            (std::vector<config::Cidr>{cidr("10.0.0.1/32"), cidr("10.0.0.2/32")}));
}

TEST(PolicyLearnRoundTrip, HostileOriginStillLoads) {
  const Policy policy = load(write_learned_policy({}, {}, {}, true, "a\nb\"c\\d\r[[allow]]"));
  EXPECT_TRUE(policy.allows.empty());
}

}  // namespace
}  // namespace sentinel::rules

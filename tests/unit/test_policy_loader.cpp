// Unit tests of the policy loader: a policy with every key reads into the exact Policy and
// survives being written back through the loader's own spellings, absent keys take their
// documented defaults, no [policy] means no stage, tables from several files merge in load
// order, and every kind of bad input (including an allow no flow can match) is rejected with
// the exact message and file:line:col an operator would see.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "config/error.hpp"
#include "rules/policy.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {
namespace {

using config::LoadError;

std::optional<Policy> load(std::string_view text) {
  return load_policy_texts({{"p.toml", std::string(text)}});
}

// The Policy must be there; loads `text` and unwraps.
Policy load_some(std::string_view text) {
  std::optional<Policy> policy = load(text);
  if (!policy) throw std::runtime_error("no policy in: " + std::string(text));
  return std::move(*policy);
}

// The error a load must fail with.
LoadError load_error(const std::vector<std::pair<std::string, std::string>>& named_texts) {
  try {
    (void)load_policy_texts(named_texts);
  } catch (const LoadError& e) {
    return e;
  }
  throw std::runtime_error("accepted: " + named_texts.front().second);
}

std::string nets(const NetSet& set) {
  std::string text;
  for (const config::Cidr& cidr : set.include) text += (text.empty() ? "" : " ") + cidr.to_string();
  for (const config::Cidr& cidr : set.exclude) {
    text += (text.empty() ? "!" : " !") + cidr.to_string();
  }
  return text;
}

std::string ports(const std::vector<PortRange>& list) {
  std::string text;
  for (const PortRange& range : list) {
    text += (text.empty() ? "" : " ") + std::to_string(range.lo) + "-" + std::to_string(range.hi);
  }
  return text;
}

template <typename T>
std::string numbers(const std::vector<T>& list) {
  std::string text;
  for (const T value : list) text += (text.empty() ? "" : " ") + std::to_string(value);
  return text;
}

// Everything a Policy says except where it was written, one fact per line.
std::string describe(const Policy& policy) {
  std::string text =
      std::string("mode ") + to_string(policy.mode) + "\ndefault " +
      to_string(policy.default_action) + " sid " + std::to_string(policy.default_sid) + "\nlearn " +
      std::to_string(policy.learn_min_hosts) + " /" + std::to_string(policy.learn_max_prefix_v4) +
      " /" + std::to_string(policy.learn_max_prefix_v6) + "\nethertypes " +
      numbers(policy.allow_ethertypes) + "\nnd " + (policy.allow_icmpv6_nd ? "yes" : "no") + "\n";
  for (const Allow& allow : policy.allows) {
    text += "allow '" + allow.name + "' from " + (allow.from_vendor ? "vendor" : "core") +
            " proto " + std::to_string(static_cast<int>(allow.proto)) + " src " +
            nets(allow.src_nets) + " dst " + nets(allow.dst_nets) + " sports " +
            ports(allow.src_ports) + " dports " + ports(allow.dst_ports) + " types " +
            numbers(allow.icmp_types) + "\n";
  }
  return text;
}

// `policy` written back as a rule file, in the spellings the loader offers for output.
std::string write(const Policy& policy) {
  const auto list = [](const std::vector<std::string>& items) {
    std::string text = "[";
    for (const std::string& item : items) text += (text.size() > 1 ? ", " : "") + item;
    return text + "]";
  };
  const auto net_list = [&](const NetSet& set) {
    std::vector<std::string> items;
    for (const config::Cidr& cidr : set.include) items.push_back('"' + cidr.to_string() + '"');
    for (const config::Cidr& cidr : set.exclude) items.push_back("\"!" + cidr.to_string() + '"');
    return list(items);
  };
  const auto port_list = [&](const std::vector<PortRange>& ranges) {
    std::vector<std::string> items;
    for (const PortRange& r : ranges) {
      items.push_back('"' + std::to_string(r.lo) + "-" + std::to_string(r.hi) + '"');
    }
    return list(items);
  };
  std::vector<std::string> ethertypes;
  for (const uint16_t type : policy.allow_ethertypes) {
    const char* name = ethertype_name(type);
    ethertypes.push_back(name != nullptr ? '"' + std::string(name) + '"' : std::to_string(type));
  }
  std::string text = std::string("[policy]\nmode = \"") + to_string(policy.mode) +
                     "\"\ndefault = \"" + to_string(policy.default_action) +
                     "\"\ndefault_sid = " + std::to_string(policy.default_sid) +
                     "\nlearn_min_hosts = " + std::to_string(policy.learn_min_hosts) +
                     "\nlearn_max_prefix_v4 = " + std::to_string(policy.learn_max_prefix_v4) +
                     "\nlearn_max_prefix_v6 = " + std::to_string(policy.learn_max_prefix_v6) +
                     "\n[policy.l2]\nallow_ethertypes = " + list(ethertypes) +
                     "\nallow_icmpv6_nd = " + (policy.allow_icmpv6_nd ? "true" : "false") + "\n";
  static const char* const kProtos[] = {"ip", "tcp", "udp", "icmp"};
  for (const Allow& allow : policy.allows) {
    std::vector<std::string> types;
    for (const uint8_t type : allow.icmp_types) types.push_back(std::to_string(type));
    text += "[[allow]]\nname = \"" + allow.name + "\"\nfrom = \"" +
            (allow.from_vendor ? "vendor" : "core") + "\"\nproto = \"" +
            kProtos[static_cast<int>(allow.proto)] + "\"\nsrc_nets = " + net_list(allow.src_nets) +
            "\ndst_nets = " + net_list(allow.dst_nets) + "\n";
    if (!allow.src_ports.empty()) text += "src_ports = " + port_list(allow.src_ports) + "\n";
    if (!allow.dst_ports.empty()) text += "dst_ports = " + port_list(allow.dst_ports) + "\n";
    if (!types.empty()) text += "icmp_types = " + list(types) + "\n";
  }
  return text;
}

// A file of its own under gtest's temporary directory, removed at the end of the test.
class TempFile {
 public:
  TempFile(const std::string& name, std::string_view text)
      : path_(testing::TempDir() + "policy_loader_" + name) {
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr std::string_view kFullExample = R"toml(# every key of the policy language
[policy]
mode = "learn"
default = "drop"
default_sid = 4000000
learn_min_hosts = 2
learn_max_prefix_v4 = 28
learn_max_prefix_v6 = 56

[policy.l2]
allow_ethertypes = ["arp", "lldp", 0x88f7, 0x9000]
allow_icmpv6_nd = false

[[allow]]
name = "ntp to core time servers"
from = "vendor"
proto = "udp"
src_nets = ["192.0.2.0/28", "!192.0.2.15"]
dst_nets = ["10.0.0.10/32", "10.0.0.11/32"]
dst_ports = [123]

[[allow]]
name = "management from the core"
from = "core"
proto = "tcp"
src_nets = ["2001:db8:1::/48"]
dst_nets = ["2001:db8:2::5"]
src_ports = ["1024-65535"]
dst_ports = [22, 443, "8000-8080"]

[[allow]]
name = "ping the gateway"
from = "vendor"
proto = "icmp"
dst_nets = ["10.0.0.1", "2001:db8:2::1"]
icmp_types = [8, 128]

[[allow]]
name = "anything to the historian"
from = "vendor"
proto = "ip"
dst_nets = ["10.9.0.0/16", "!10.9.9.0/24"]

[[rule]]
sid = 1
msg = "left to the rule loader"
match = [{ content = "x" }]
)toml";

TEST(PolicyLoader, ReadsEveryKey) {
  const Policy policy = load_some(kFullExample);
  EXPECT_EQ(policy.mode, PolicyMode::kLearn);
  EXPECT_EQ(policy.default_action, PolicyDefault::kDrop);
  EXPECT_EQ(policy.default_sid, 4000000u);
  EXPECT_EQ(policy.learn_min_hosts, 2u);
  EXPECT_EQ(policy.learn_max_prefix_v4, 28);
  EXPECT_EQ(policy.learn_max_prefix_v6, 56);
  EXPECT_EQ(policy.allow_ethertypes, (std::vector<uint16_t>{0x0806, 0x88cc, 0x88f7, 0x9000}));
  EXPECT_FALSE(policy.allow_icmpv6_nd);
  EXPECT_EQ(policy.pos.file, "p.toml");
  EXPECT_EQ(policy.pos.line, 2u);
  EXPECT_EQ(policy.pos.column, 1u);

  ASSERT_EQ(policy.allows.size(), 4u);
  const Allow& ntp = policy.allows[0];
  EXPECT_EQ(ntp.name, "ntp to core time servers");
  EXPECT_TRUE(ntp.from_vendor);
  EXPECT_EQ(ntp.proto, Proto::kUdp);
  EXPECT_EQ(nets(ntp.src_nets), "192.0.2.0/28 !192.0.2.15/32");
  EXPECT_EQ(nets(ntp.dst_nets), "10.0.0.10/32 10.0.0.11/32");
  EXPECT_TRUE(ntp.src_ports.empty());
  EXPECT_EQ(ports(ntp.dst_ports), "123-123");
  EXPECT_TRUE(ntp.icmp_types.empty());
  EXPECT_EQ(ntp.pos.file, "p.toml");
  EXPECT_EQ(ntp.pos.line, 14u);
  EXPECT_EQ(ntp.pos.column, 1u);

  const Allow& management = policy.allows[1];
  EXPECT_EQ(management.name, "management from the core");
  EXPECT_FALSE(management.from_vendor);
  EXPECT_EQ(management.proto, Proto::kTcp);
  EXPECT_EQ(nets(management.src_nets), "2001:db8:1::/48");
  EXPECT_EQ(nets(management.dst_nets), "2001:db8:2::5/128");
  EXPECT_EQ(ports(management.src_ports), "1024-65535");
  EXPECT_EQ(ports(management.dst_ports), "22-22 443-443 8000-8080");
  EXPECT_EQ(management.pos.line, 22u);

  const Allow& ping = policy.allows[2];
  EXPECT_EQ(ping.proto, Proto::kIcmp);
  EXPECT_EQ(nets(ping.src_nets), "");  // any
  EXPECT_EQ(nets(ping.dst_nets), "10.0.0.1/32 2001:db8:2::1/128");
  EXPECT_EQ(ping.icmp_types, (std::vector<uint8_t>{8, 128}));
  EXPECT_TRUE(ping.dst_ports.empty());
  EXPECT_EQ(ping.pos.line, 31u);

  const Allow& historian = policy.allows[3];
  EXPECT_EQ(historian.proto, Proto::kIp);
  EXPECT_EQ(nets(historian.dst_nets), "10.9.0.0/16 !10.9.9.0/24");
  EXPECT_EQ(historian.pos.line, 38u);
}

TEST(PolicyLoader, FullExampleRoundTrips) {
  const Policy policy = load_some(kFullExample);
  const std::string text = write(policy);
  const Policy again = load_some(text);
  EXPECT_EQ(describe(again), describe(policy)) << text;
  // And a default policy, whose only ethertype is written by name.
  const Policy defaults = load_some("[policy]\n");
  EXPECT_EQ(describe(load_some(write(defaults))), describe(defaults));
}

TEST(PolicyLoader, Defaults) {
  const Policy policy = load_some("\n[policy]\n");
  EXPECT_EQ(policy.mode, PolicyMode::kEnforce);
  EXPECT_EQ(policy.default_action, PolicyDefault::kAlert);
  EXPECT_EQ(policy.default_sid, kDefaultPolicySid);
  EXPECT_EQ(policy.default_sid, 1000001u);
  EXPECT_EQ(policy.learn_min_hosts, 4u);
  EXPECT_EQ(policy.learn_max_prefix_v4, 24);
  EXPECT_EQ(policy.learn_max_prefix_v6, 64);
  EXPECT_EQ(policy.allow_ethertypes, std::vector<uint16_t>{kEthertypeArp});
  EXPECT_TRUE(policy.allow_icmpv6_nd);
  EXPECT_TRUE(policy.allows.empty());
  EXPECT_EQ(policy.pos.file, "p.toml");
  EXPECT_EQ(policy.pos.line, 2u);
  EXPECT_EQ(policy.pos.column, 1u);

  // An [[allow]] with only its required keys: any address, any port.
  const Policy minimal =
      load_some("[policy]\n[[allow]]\nname = \"x\"\nfrom = \"core\"\nproto = \"tcp\"\n");
  ASSERT_EQ(minimal.allows.size(), 1u);
  const Allow& allow = minimal.allows[0];
  EXPECT_FALSE(allow.from_vendor);
  EXPECT_EQ(allow.proto, Proto::kTcp);
  EXPECT_TRUE(allow.src_nets.include.empty() && allow.src_nets.exclude.empty());
  EXPECT_TRUE(allow.dst_nets.include.empty() && allow.dst_nets.exclude.empty());
  EXPECT_TRUE(allow.src_ports.empty());
  EXPECT_TRUE(allow.dst_ports.empty());
  EXPECT_TRUE(allow.icmp_types.empty());
  EXPECT_EQ(allow.pos.line, 2u);

  // [policy.l2] with neither key keeps both defaults.
  const Policy l2 = load_some("[policy]\n[policy.l2]\n");
  EXPECT_EQ(l2.allow_ethertypes, std::vector<uint16_t>{kEthertypeArp});
  EXPECT_TRUE(l2.allow_icmpv6_nd);
}

TEST(PolicyLoader, OtherTablesAndInlineSpellings) {
  // The same table as a dotted key, an inline table, or [policy.l2] alone: TOML makes each a
  // [policy] table.
  EXPECT_EQ(load_some("policy.mode = \"learn\"\n").mode, PolicyMode::kLearn);
  const Policy inline_table = load_some(
      "policy = { default = \"reject\", l2 = { allow_icmpv6_nd = false } }\n"
      "allow = [{ name = \"a\", from = \"vendor\", proto = \"udp\", dst_ports = [53] }]\n");
  EXPECT_EQ(inline_table.default_action, PolicyDefault::kReject);
  EXPECT_FALSE(inline_table.allow_icmpv6_nd);
  ASSERT_EQ(inline_table.allows.size(), 1u);
  EXPECT_EQ(ports(inline_table.allows[0].dst_ports), "53-53");
  const Policy l2_only = load_some("\n\n[policy.l2]\nallow_ethertypes = []\n");
  EXPECT_EQ(l2_only.mode, PolicyMode::kEnforce);
  EXPECT_TRUE(l2_only.allow_ethertypes.empty());
  EXPECT_EQ(l2_only.pos.line, 3u);
}

TEST(PolicyLoader, NoPolicyMeansNoStage) {
  EXPECT_FALSE(load("").has_value());
  EXPECT_FALSE(load("# nothing\n").has_value());
  EXPECT_FALSE(load("allow = []\n").has_value());  // no allow either
  EXPECT_FALSE(load("[[rule]]\nsid = 1\nmsg = 'm'\nmatch = [{ content = 'x' }]\n"
                    "[[filter]]\nname = 'f'\n[unrelated]\nx = 1\n")
                   .has_value());
  EXPECT_FALSE(load_policy_texts({}).has_value());
  EXPECT_FALSE(load_policy_texts({{"a.toml", ""}, {"b.toml", "[[rule]]\n"}}).has_value());
  EXPECT_FALSE(load_policy_files({}).has_value());
}

TEST(PolicyLoader, EnumSpellings) {
  const std::pair<const char*, PolicyMode> modes[] = {{"enforce", PolicyMode::kEnforce},
                                                      {"learn", PolicyMode::kLearn}};
  for (const auto& [name, mode] : modes) {
    EXPECT_EQ(load_some(std::string("[policy]\nmode = '") + name + "'\n").mode, mode) << name;
    EXPECT_STREQ(to_string(mode), name);
  }
  const std::pair<const char*, PolicyDefault> defaults[] = {{"allow", PolicyDefault::kAllow},
                                                            {"alert", PolicyDefault::kAlert},
                                                            {"drop", PolicyDefault::kDrop},
                                                            {"reject", PolicyDefault::kReject}};
  for (const auto& [name, action] : defaults) {
    EXPECT_EQ(load_some(std::string("[policy]\ndefault = '") + name + "'\n").default_action, action)
        << name;
    EXPECT_STREQ(to_string(action), name);
  }
  const std::pair<const char*, Proto> protos[] = {
      {"ip", Proto::kIp}, {"tcp", Proto::kTcp}, {"udp", Proto::kUdp}, {"icmp", Proto::kIcmp}};
  for (const auto& [name, proto] : protos) {
    const std::string text = std::string("[policy]\n[[allow]]\nname = 'a'\nfrom = 'vendor'\n") +
                             "proto = '" + name + "'\n";
    EXPECT_EQ(load_some(text).allows.at(0).proto, proto) << name;
  }
  const std::pair<const char*, bool> sides[] = {{"vendor", true}, {"core", false}};
  for (const auto& [name, from_vendor] : sides) {
    const std::string text =
        std::string("[policy]\n[[allow]]\nname = 'a'\nproto = 'ip'\nfrom = '") + name + "'\n";
    EXPECT_EQ(load_some(text).allows.at(0).from_vendor, from_vendor) << name;
  }
}

TEST(PolicyLoader, RangeLimitsAccepted) {
  const Policy low = load_some(
      "[policy]\ndefault_sid = 1\nlearn_min_hosts = 1\nlearn_max_prefix_v4 = 0\n"
      "learn_max_prefix_v6 = 0\n");
  EXPECT_EQ(low.default_sid, 1u);
  EXPECT_EQ(low.learn_min_hosts, 1u);
  EXPECT_EQ(low.learn_max_prefix_v4, 0);
  EXPECT_EQ(low.learn_max_prefix_v6, 0);
  const Policy high = load_some(
      "[policy]\ndefault_sid = 4294967295\nlearn_min_hosts = 4294967295\n"
      "learn_max_prefix_v4 = 32\nlearn_max_prefix_v6 = 128\n");
  EXPECT_EQ(high.default_sid, 4294967295u);
  EXPECT_EQ(high.learn_min_hosts, 4294967295u);
  EXPECT_EQ(high.learn_max_prefix_v4, 32);
  EXPECT_EQ(high.learn_max_prefix_v6, 128);
}

TEST(PolicyLoader, Ethertypes) {
  const Policy policy = load_some(
      "[policy.l2]\nallow_ethertypes = ['arp', 'rarp', 'lldp', 'lacp', 'eapol', 'ptp',\n"
      "  'pppoe-discovery', 'pppoe-session', 0x0600, 1536, 0x88cc, 0xffff, 'arp', 'llc']\n");
  // In the order written, duplicates kept (harmless); "llc" stands for every 802.3 frame.
  EXPECT_EQ(policy.allow_ethertypes,
            (std::vector<uint16_t>{0x0806, 0x8035, 0x88cc, 0x8809, 0x888e, 0x88f7, 0x8863, 0x8864,
                                   0x0600, 0x0600, 0x88cc, 0xffff, 0x0806, kEthertypeLlc}));
  EXPECT_STREQ(ethertype_name(kEthertypeLlc), "llc");
  EXPECT_TRUE(load_some("[policy.l2]\nallow_ethertypes = []\n").allow_ethertypes.empty());
}

TEST(PolicyLoader, EthertypeNames) {
  const std::pair<uint16_t, const char*> named[] = {{0x0806, "arp"},
                                                    {0x8035, "rarp"},
                                                    {0x88cc, "lldp"},
                                                    {0x8809, "lacp"},
                                                    {0x888e, "eapol"},
                                                    {0x88f7, "ptp"},
                                                    {0x8863, "pppoe-discovery"},
                                                    {0x8864, "pppoe-session"},
                                                    {kEthertypeLlc, "llc"}};
  for (const auto& [type, name] : named) {
    ASSERT_NE(ethertype_name(type), nullptr) << name;
    EXPECT_STREQ(ethertype_name(type), name);
    // The name reads back as the number.
    const Policy policy =
        load_some(std::string("[policy.l2]\nallow_ethertypes = ['") + name + "']\n");
    EXPECT_EQ(policy.allow_ethertypes, std::vector<uint16_t>{type}) << name;
  }
  for (const uint16_t type : {0x0800, 0x86dd, 0x8100, 0x0001, 0x9000, 0xffff}) {
    EXPECT_EQ(ethertype_name(type), nullptr) << type;
  }
}

TEST(PolicyLoader, PortsAndIcmpTypes) {
  const Policy policy = load_some(R"toml([policy]
[[allow]]
name = "web"
from = "vendor"
proto = "tcp"
src_ports = [0, "1024-65535"]
dst_ports = [80, 443, "8000-8080", 65535]
[[allow]]
name = "dns"
from = "vendor"
proto = "udp"
dst_ports = [53]
icmp_types = []
[[allow]]
name = "icmp"
from = "core"
proto = "icmp"
icmp_types = [0, 8, 8, 255]
dst_ports = []
[[allow]]
name = "ip"
from = "core"
proto = "ip"
src_ports = []
)toml");
  ASSERT_EQ(policy.allows.size(), 4u);
  EXPECT_EQ(ports(policy.allows[0].src_ports), "0-0 1024-65535");
  EXPECT_EQ(ports(policy.allows[0].dst_ports), "80-80 443-443 8000-8080 65535-65535");
  EXPECT_EQ(ports(policy.allows[1].dst_ports), "53-53");
  EXPECT_TRUE(policy.allows[1].icmp_types.empty());  // [] is any: harmless on udp
  EXPECT_EQ(policy.allows[2].icmp_types, (std::vector<uint8_t>{0, 8, 8, 255}));
  EXPECT_TRUE(policy.allows[2].dst_ports.empty());  // likewise on icmp
  EXPECT_TRUE(policy.allows[3].src_ports.empty());
}

// Nets that leave something to match, however the families and "!" entries combine.
TEST(PolicyLoader, NetsThatCanMatch) {
  const char* const cases[][2] = {
      {"['10.0.0.0/8', '2001:db8::/32']", "['2001:db8:1::/48']"},  // IPv6 on both sides
      {"[]", "['2001:db8::1']"},                                   // any source
      {"['!10.0.0.0/8']", "['10.1.0.0/16']"},                      // any IPv4 but 10/8
      {"['10.0.0.0/8', '!10.1.0.0/16', '!10.2.0.0/16']", "['0.0.0.0/0']"},
      {"['10.0.0.0/8', '!::/0']", "['192.0.2.0/24']"},        // exclude of another family
      {"['10.0.0.0/8', '!10.0.0.0/9']", "['192.0.2.0/24']"},  // half left
      {"['10.0.0.0/8', '!10.0.0.0/9', '!10.128.0.0/10']", "['::/0', '0.0.0.0/0']"},
      {"['10.0.0.0/8', '2001:db8::/32', '!10.0.0.0/8']", "['2001:db8::/32']"},
      {"['0.0.0.0/0', '!0.0.0.0/1', '!128.0.0.0/2']", "[]"},  // 192.0.0.0/2 left
  };
  for (const auto& [src, dst] : cases) {
    const std::string text = std::string("[policy]\n[[allow]]\nname = 'a'\nfrom = 'vendor'\n") +
                             "proto = 'ip'\nsrc_nets = " + src + "\ndst_nets = " + dst + "\n";
    EXPECT_NO_THROW((void)load(text)) << text;
  }
}

TEST(PolicyLoader, AllowsInFileOrderThenTableOrder) {
  const std::optional<Policy> policy = load_policy_texts({
      {"a.toml",
       "[[allow]]\nname = 'a1'\nfrom = 'vendor'\nproto = 'ip'\n"
       "[[allow]]\nname = 'a2'\nfrom = 'vendor'\nproto = 'ip'\n"},
      {"b.toml", "[[allow]]\nname = 'b1'\nfrom = 'core'\nproto = 'ip'\n[policy]\nmode = 'learn'\n"},
      {"c.toml", "[[allow]]\nname = 'c1'\nfrom = 'core'\nproto = 'ip'\n"},
  });
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(policy->mode, PolicyMode::kLearn);
  EXPECT_EQ(policy->pos.file, "b.toml");
  EXPECT_EQ(policy->pos.line, 5u);
  ASSERT_EQ(policy->allows.size(), 4u);
  const std::pair<const char*, uint32_t> expected[] = {
      {"a.toml", 1}, {"a.toml", 5}, {"b.toml", 1}, {"c.toml", 1}};
  const char* const names[] = {"a1", "a2", "b1", "c1"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(policy->allows[i].name, names[i]);
    EXPECT_EQ(policy->allows[i].pos.file, expected[i].first) << names[i];
    EXPECT_EQ(policy->allows[i].pos.line, expected[i].second) << names[i];
  }
}

TEST(PolicyLoader, SecondPolicyInAnotherFile) {
  EXPECT_STREQ(
      load_error({{"a.toml", "[policy]\n"}, {"b.toml", "\n\n[policy]\nmode = 'learn'\n"}}).what(),
      "b.toml:3:1: duplicate [policy] table, first defined at a.toml:1 (one per rules "
      "directory)");
  // [policy.l2] alone is the [policy] table too.
  EXPECT_STREQ(
      load_error({{"a.toml", "\n[policy]\n"}, {"b.toml", "[policy.l2]\nallow_icmpv6_nd = false\n"}})
          .what(),
      "b.toml:1:1: duplicate [policy] table, first defined at a.toml:2 (one per rules directory)");
  // Within one file TOML itself refuses it.
  EXPECT_STREQ(load_error({{"a.toml", "[policy]\n[policy]\n"}}).what(),
               "a.toml:2:1: Error while parsing table header: cannot redefine existing table "
               "'policy'");
}

TEST(PolicyLoader, AllowWithoutPolicy) {
  // Named at the first [[allow]] of all the files, once every file has been read.
  const LoadError e = load_error({
      {"a.toml", "[[rule]]\n"},
      {"b.toml", "\n[[allow]]\nname = 'x'\nfrom = 'vendor'\nproto = 'ip'\n"},
      {"c.toml", "[[allow]]\nname = 'y'\nfrom = 'vendor'\nproto = 'ip'\n"},
  });
  EXPECT_STREQ(e.what(), "b.toml:2:1: [[allow]] without a [policy] table");
  EXPECT_EQ(e.pos().file, "b.toml");
  EXPECT_EQ(e.pos().line, 2u);
  EXPECT_EQ(e.pos().column, 1u);
  EXPECT_EQ(e.message(), "[[allow]] without a [policy] table");
}

TEST(PolicyLoader, DuplicateNameAcrossFiles) {
  EXPECT_STREQ(load_error({{"a.toml",
                            "[policy]\n[[allow]]\nname = 'ntp'\nfrom = 'vendor'\n"
                            "proto = 'udp'\n"},
                           {"b.toml", "[[allow]]\nfrom = 'core'\nproto = 'udp'\nname = 'ntp'\n"}})
                   .what(),
               "b.toml:4:8: allow.name: duplicate name 'ntp', first defined at a.toml:3");
}

TEST(PolicyLoader, ReadsFiles) {
  const TempFile a("a.toml", "[[allow]]\nname = 'a'\nfrom = 'vendor'\nproto = 'ip'\n");
  const TempFile b("b.toml", "[policy]\ndefault = 'drop'\n");
  const std::optional<Policy> policy = load_policy_files({a.path(), b.path()});
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(policy->default_action, PolicyDefault::kDrop);
  EXPECT_EQ(policy->pos.file, b.path());
  ASSERT_EQ(policy->allows.size(), 1u);
  EXPECT_EQ(policy->allows[0].pos.file, a.path());

  try {
    (void)load_policy_files({a.path()});
    FAIL() << "accepted an [[allow]] without a [policy]";
  } catch (const LoadError& e) {
    EXPECT_EQ(std::string(e.what()), a.path() + ":1:1: [[allow]] without a [policy] table");
  }
  try {
    (void)load_policy_files({b.path(), "/nonexistent/policy.toml"});
    FAIL() << "accepted a missing file";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/policy.toml: cannot open: No such file or directory");
  }
}

struct BadInput {
  const char* what;
  std::string text;
  const char* error;  // the exact what()
};

void PrintTo(const BadInput& input, std::ostream* out) { *out << input.what; }

class PolicyBadInput : public testing::TestWithParam<BadInput> {};

TEST_P(PolicyBadInput, IsRejectedWithPosition) {
  try {
    (void)load_policy_texts({{"bad.toml", GetParam().text}});
    FAIL() << "accepted: " << GetParam().text;
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), GetParam().error) << GetParam().text;
    EXPECT_EQ(e.pos().file, "bad.toml");
  }
}

// Line 1 of a policy; a case adds line 2.
#define POLICY "[policy]\n"
// Line 1 of a policy and its [policy.l2]; a case adds line 3.
#define L2 "[policy]\n[policy.l2]\n"
// Lines 1-5: a policy and a good allow; a case adds line 6.
#define ALLOW(proto) "[policy]\n[[allow]]\nname = \"a\"\nfrom = \"vendor\"\nproto = \"" proto "\"\n"
// Lines 1-4: a policy and an allow with its name and from; a case adds proto and more.
#define ALLOW_NO_PROTO "[policy]\n[[allow]]\nname = \"a\"\nfrom = \"vendor\"\n"
// Lines 1-5 of a "proto ip" allow; a case gives its nets on lines 6 and 7.
#define NETS(src, dst) ALLOW("ip") "src_nets = " src "\ndst_nets = " dst "\n"

const BadInput kBadInputs[] = {
    // The tables themselves.
    {"toml_syntax", "[policy]\nmode = \n",
     "bad.toml:2:8: Error while parsing key-value pair: expected value, saw '\\n'"},
    {"policy_not_table", "policy = 1\n", "bad.toml:1:10: policy: expected a table, got integer"},
    {"policy_array_of_tables", "[[policy]]\nmode = 'learn'\n",
     "bad.toml:1:1: policy: expected a table, got array"},
    {"l2_not_table", POLICY "l2 = ['arp']\n",
     "bad.toml:2:6: policy.l2: expected a table, got array"},
    {"allow_is_table", POLICY "[allow]\nname = 'a'\n",
     "bad.toml:2:1: allow: expected an array of tables ([[allow]]), got table"},
    {"allow_element_not_table", "allow = [{ name = 'a', from = 'core', proto = 'ip' }, 1]\n" POLICY,
     "bad.toml:1:55: allow[1]: expected a table, got integer"},
    {"allow_without_policy", "\n\n[[allow]]\nname = 'a'\nfrom = 'vendor'\nproto = 'ip'\n",
     "bad.toml:3:1: [[allow]] without a [policy] table"},

    // Keys of [policy].
    {"policy_unknown_key", POLICY "default_action = 'drop'\n",
     "bad.toml:2:1: unknown key 'default_action' in [policy]"},
    {"policy_unknown_subtable", POLICY "[policy.l3]\nx = 1\n",
     "bad.toml:2:9: unknown key 'l3' in [policy]"},
    {"mode_unknown", POLICY "mode = 'monitor'\n",
     "bad.toml:2:8: policy.mode: 'monitor' is not one of enforce, learn"},
    {"mode_not_string", POLICY "mode = true\n",
     "bad.toml:2:8: policy.mode: expected a string, got boolean"},
    {"default_unknown", POLICY "default = 'pass'\n",
     "bad.toml:2:11: policy.default: 'pass' is not one of allow, alert, drop, reject"},
    {"default_sid_zero", POLICY "default_sid = 0\n",
     "bad.toml:2:15: policy.default_sid: 0 is out of range 1..4294967295"},
    {"default_sid_above_u32", POLICY "default_sid = 4294967296\n",
     "bad.toml:2:15: policy.default_sid: 4294967296 is out of range 1..4294967295"},
    {"default_sid_string", POLICY "default_sid = '1000001'\n",
     "bad.toml:2:15: policy.default_sid: expected an integer, got string"},
    {"learn_min_hosts_zero", POLICY "learn_min_hosts = 0\n",
     "bad.toml:2:19: policy.learn_min_hosts: 0 is out of range 1..4294967295"},
    {"learn_max_prefix_v4_above", POLICY "learn_max_prefix_v4 = 33\n",
     "bad.toml:2:23: policy.learn_max_prefix_v4: 33 is out of range 0..32"},
    {"learn_max_prefix_v4_negative", POLICY "learn_max_prefix_v4 = -1\n",
     "bad.toml:2:23: policy.learn_max_prefix_v4: -1 is out of range 0..32"},
    {"learn_max_prefix_v6_above", POLICY "learn_max_prefix_v6 = 129\n",
     "bad.toml:2:23: policy.learn_max_prefix_v6: 129 is out of range 0..128"},

    // Keys of [policy.l2].
    {"l2_unknown_key", L2 "allow_vlans = [1]\n",
     "bad.toml:3:1: unknown key 'allow_vlans' in [policy.l2]"},
    {"ethertypes_not_array", L2 "allow_ethertypes = 'arp'\n",
     "bad.toml:3:20: policy.l2.allow_ethertypes: expected an array, got string"},
    {"ethertype_unknown_name", L2 "allow_ethertypes = ['arp', 'stp']\n",
     "bad.toml:3:28: policy.l2.allow_ethertypes[1]: unknown ethertype 'stp' (names: llc, arp, "
     "rarp, lldp, lacp, eapol, ptp, pppoe-discovery, pppoe-session; or a number 0x0600..0xffff)"},
    {"ethertype_name_case", L2 "allow_ethertypes = ['ARP']\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: unknown ethertype 'ARP' (names: llc, arp, "
     "rarp, lldp, lacp, eapol, ptp, pppoe-discovery, pppoe-session; or a number 0x0600..0xffff)"},
    {"ethertype_ipv4_number", L2 "allow_ethertypes = [0x0800]\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: 0x0800 is IPv4, which [[allow]] tables "
     "govern, not [policy.l2]"},
    {"ethertype_ipv6_number", L2 "allow_ethertypes = ['arp', 34525]\n",
     "bad.toml:3:28: policy.l2.allow_ethertypes[1]: 0x86dd is IPv6, which [[allow]] tables "
     "govern, not [policy.l2]"},
    {"ethertype_ipv4_name", L2 "allow_ethertypes = ['ipv4']\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: unknown ethertype 'ipv4' (names: llc, arp, "
     "rarp, lldp, lacp, eapol, ptp, pppoe-discovery, pppoe-session; or a number 0x0600..0xffff)"},
    {"ethertype_below_range", L2 "allow_ethertypes = [0x05ff]\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: 0x05ff is out of range 0x0600..0xffff "
     "(smaller values are 802.3 lengths: name them all \"llc\")"},
    {"ethertype_above_range", L2 "allow_ethertypes = [0x10000]\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: 0x10000 is out of range 0x0600..0xffff "
     "(smaller values are 802.3 lengths: name them all \"llc\")"},
    {"ethertype_negative", L2 "allow_ethertypes = [-1]\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: -1 is out of range 0x0600..0xffff "
     "(smaller values are 802.3 lengths: name them all \"llc\")"},
    {"ethertype_float", L2 "allow_ethertypes = [2054.0]\n",
     "bad.toml:3:21: policy.l2.allow_ethertypes[0]: expected an ethertype name or number, got "
     "float"},
    {"icmpv6_nd_not_bool", L2 "allow_icmpv6_nd = 'yes'\n",
     "bad.toml:3:19: policy.l2.allow_icmpv6_nd: expected a boolean, got string"},

    // Keys of [[allow]].
    {"allow_unknown_key", ALLOW("ip") "action = 'drop'\n",
     "bad.toml:6:1: unknown key 'action' in [[allow]]"},
    {"allow_missing_name", "[policy]\n\n[[allow]]\nfrom = 'vendor'\nproto = 'ip'\n",
     "bad.toml:3:1: missing required key 'name' in [[allow]]"},
    {"allow_missing_from", "[policy]\n[[allow]]\nname = 'a'\nproto = 'ip'\n",
     "bad.toml:2:1: missing required key 'from' in [[allow]]"},
    {"allow_missing_proto", ALLOW_NO_PROTO,
     "bad.toml:2:1: missing required key 'proto' in [[allow]]"},
    {"allow_missing_in_second", ALLOW("ip") "[[allow]]\nname = 'b'\nproto = 'ip'\n",
     "bad.toml:6:1: missing required key 'from' in [[allow]]"},
    {"name_empty", "[policy]\n[[allow]]\nname = ''\nfrom = 'vendor'\nproto = 'ip'\n",
     "bad.toml:3:8: allow.name: must not be empty"},
    {"name_not_string", "[policy]\n[[allow]]\nname = 7\nfrom = 'vendor'\nproto = 'ip'\n",
     "bad.toml:3:8: allow.name: expected a string, got integer"},
    {"name_duplicate", ALLOW("ip") "\n[[allow]]\nproto = 'tcp'\nname = \"a\"\nfrom = 'core'\n",
     "bad.toml:9:8: allow.name: duplicate name 'a', first defined at bad.toml:3"},
    {"from_unknown", "[policy]\n[[allow]]\nname = 'a'\nfrom = 'both'\nproto = 'ip'\n",
     "bad.toml:4:8: allow.from: 'both' is not one of vendor, core"},
    {"from_direction_spelling", "[policy]\n[[allow]]\nname = 'a'\nfrom = 'to_core'\nproto = 'ip'\n",
     "bad.toml:4:8: allow.from: 'to_core' is not one of vendor, core"},
    {"proto_unknown", ALLOW_NO_PROTO "proto = 'sctp'\n",
     "bad.toml:5:9: allow.proto: 'sctp' is not one of ip, tcp, udp, icmp"},
    {"proto_icmpv6", ALLOW_NO_PROTO "proto = 'icmpv6'\n",
     "bad.toml:5:9: allow.proto: 'icmpv6' is not one of ip, tcp, udp, icmp"},

    // Nets: the [[rule]] syntax, read by the same reader.
    {"nets_not_array", ALLOW("ip") "src_nets = '10.0.0.0/8'\n",
     "bad.toml:6:12: allow.src_nets: expected an array, got string"},
    {"nets_element_not_string", ALLOW("ip") "dst_nets = ['10.0.0.0/8', 10]\n",
     "bad.toml:6:27: allow.dst_nets[1]: expected a string, got integer"},
    {"cidr_bad_address", ALLOW("ip") "src_nets = ['10.0.0.256/32']\n",
     "bad.toml:6:13: allow.src_nets[0]: invalid address '10.0.0.256'"},
    {"cidr_host_bits", ALLOW("ip") "dst_nets = ['!10.1.2.3/8']\n",
     "bad.toml:6:13: allow.dst_nets[0]: host bits set in 10.1.2.3/8 (did you mean 10.0.0.0/8?)"},

    // Ports: only tcp and udp have them, in the [[rule]] syntax.
    {"ports_on_icmp", ALLOW("icmp") "dst_ports = [7]\n",
     "bad.toml:6:13: allow.dst_ports: proto icmp has no ports (ports need tcp or udp)"},
    {"ports_on_ip", ALLOW("ip") "src_ports = ['1024-65535']\n",
     "bad.toml:6:13: allow.src_ports: proto ip has no ports (ports need tcp or udp)"},
    {"ports_not_array", ALLOW("tcp") "dst_ports = 80\n",
     "bad.toml:6:13: allow.dst_ports: expected an array, got integer"},
    {"port_above_range", ALLOW("udp") "dst_ports = [53, 65536]\n",
     "bad.toml:6:18: allow.dst_ports[1]: 65536 is out of range 0..65535"},
    {"port_range_reversed", ALLOW("tcp") "src_ports = ['9000-8000']\n",
     "bad.toml:6:14: allow.src_ports[0]: port range '9000-8000' has lo > hi"},
    {"port_range_malformed", ALLOW("tcp") "dst_ports = ['http']\n",
     "bad.toml:6:14: allow.dst_ports[0]: 'http' is not a port range \"lo-hi\""},

    // ICMP types: only icmp has them, 0..255.
    {"icmp_types_on_tcp", ALLOW("tcp") "icmp_types = [8]\n",
     "bad.toml:6:14: allow.icmp_types: proto tcp has no ICMP types (icmp_types need proto icmp)"},
    {"icmp_types_on_ip", ALLOW("ip") "icmp_types = [0, 8]\n",
     "bad.toml:6:14: allow.icmp_types: proto ip has no ICMP types (icmp_types need proto icmp)"},
    {"icmp_types_not_array", ALLOW("icmp") "icmp_types = 8\n",
     "bad.toml:6:14: allow.icmp_types: expected an array, got integer"},
    {"icmp_type_above", ALLOW("icmp") "icmp_types = [8, 256]\n",
     "bad.toml:6:18: allow.icmp_types[1]: 256 is out of range 0..255"},
    {"icmp_type_negative", ALLOW("icmp") "icmp_types = [-1]\n",
     "bad.toml:6:15: allow.icmp_types[0]: -1 is out of range 0..255"},
    {"icmp_type_name", ALLOW("icmp") "icmp_types = ['echo-request']\n",
     "bad.toml:6:15: allow.icmp_types[0]: expected an integer, got string"},

    // Allows that can never match: no address family common to both sides...
    {"never_v4_to_v6", NETS("['10.0.0.0/8', '192.0.2.1']", "['2001:db8::/32']"),
     "bad.toml:7:12: allow.dst_nets: only IPv6 addresses, and src_nets only IPv4 ones: this "
     "allow can never match"},
    {"never_v6_to_v4", NETS("['2001:db8::1']", "['0.0.0.0/0']"),
     "bad.toml:7:12: allow.dst_nets: only IPv4 addresses, and src_nets only IPv6 ones: this "
     "allow can never match"},
    {"never_reported_at_later_key",
     ALLOW("ip") "dst_nets = ['10.0.0.1']\nsrc_nets = ['2001:db8::1']\n",
     "bad.toml:7:12: allow.src_nets: only IPv6 addresses, and dst_nets only IPv4 ones: this "
     "allow can never match"},
    {"never_family_left_by_excludes",
     NETS("['10.0.0.0/8', '2001:db8::/32', '!10.0.0.0/8']", "['10.1.0.0/16']"),
     "bad.toml:7:12: allow.dst_nets: only IPv4 addresses, and src_nets only IPv6 ones: this "
     "allow can never match"},
    {"never_any_but_v4_to_v4", NETS("['!0.0.0.0/0']", "['192.0.2.0/24']"),
     "bad.toml:7:12: allow.dst_nets: only IPv4 addresses, and src_nets only IPv6 ones: this "
     "allow can never match"},
    // ... or a side whose "!" entries take everything it includes.
    {"never_exclude_equal", NETS("['10.0.0.0/8', '!10.0.0.0/8']", "[]"),
     "bad.toml:6:12: allow.src_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
    {"never_exclude_wider", NETS("[]", "['10.1.0.0/16', '10.2.0.0/16', '!10.0.0.0/8']"),
     "bad.toml:7:12: allow.dst_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
    {"never_exclude_halves",
     NETS("['10.0.0.0/8', '!10.128.0.0/9', '!10.0.0.0/10', '!10.64.0.0/10']", "[]"),
     "bad.toml:6:12: allow.src_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
    {"never_exclude_three_pieces",
     NETS("['0.0.0.0/0', '!0.0.0.0/1', '!128.0.0.0/2', '!192.0.0.0/2']", "[]"),
     "bad.toml:6:12: allow.src_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
    {"never_exclude_both_families", NETS("[]", "['!0.0.0.0/0', '!::/0']"),
     "bad.toml:7:12: allow.dst_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
    {"never_exclude_v6_host", NETS("['2001:db8::1', '!2001:db8::/64']", "[]"),
     "bad.toml:6:12: allow.src_nets: its \"!\" entries exclude every included address: this "
     "allow can never match"},
};

#undef POLICY
#undef L2
#undef ALLOW
#undef ALLOW_NO_PROTO
#undef NETS

INSTANTIATE_TEST_SUITE_P(Table, PolicyBadInput, testing::ValuesIn(kBadInputs),
                         [](const testing::TestParamInfo<BadInput>& info) {
                           return std::string(info.param.what);
                         });

}  // namespace
}  // namespace sentinel::rules

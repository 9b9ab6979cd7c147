// The policy loader. Like the rule loader (rules/loader.cpp), it reads each table key by key
// in a fixed order, so that the first fault found is always the same one, with messages that
// open with the value's path ("allow.dst_ports[0]") at the value's file:line:col. Beyond
// types and ranges it rejects what an operator cannot have meant: a second [policy], an
// [[allow]] with no policy to belong to, and an allow that no flow can ever match.
#include "rules/policy.hpp"

#include <toml++/toml.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/toml_read.hpp"
#include "rules/loader_detail.hpp"

namespace sentinel::rules {

namespace {

using config::detail::boolean;
using config::detail::expect_type;
using config::detail::fail;
using config::detail::integer_in;
using config::detail::nonempty_string;
using config::detail::one_of;
using config::detail::reject_unknown_keys;
using config::detail::type_name;
using detail::array_at;
using detail::element_path;
using detail::kProtoNames;
using detail::kU32Max;
using detail::position;
using detail::read_nets;
using detail::read_ports;
using detail::required;

// Spellings of the enums, indexed by their values (policy.hpp). String literals, so
// data() is NUL-terminated for to_string().
constexpr std::array<std::string_view, 2> kModeNames{"enforce", "learn"};
constexpr std::array<std::string_view, 4> kDefaultNames{"allow", "alert", "drop", "reject"};
constexpr std::array<std::string_view, 2> kSideNames{"vendor", "core"};  // index 0: from_vendor

struct NamedEthertype {
  uint16_t type;
  const char* name;
};
constexpr std::array<NamedEthertype, 9> kEthertypes{{
    {kEthertypeLlc, "llc"},
    {0x0806, "arp"},
    {0x8035, "rarp"},
    {0x88cc, "lldp"},
    {0x8809, "lacp"},
    {0x888e, "eapol"},
    {0x88f7, "ptp"},
    {0x8863, "pppoe-discovery"},
    {0x8864, "pppoe-session"},
}};
// Below 0x0600 the field is an 802.3 length, not an ethertype.
constexpr int64_t kEthertypeMin = 0x0600;
constexpr int64_t kEthertypeMax = 0xffff;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;

std::string hex(int64_t value) {
  if (value < 0) return std::to_string(value);
  std::array<char, 16> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value, 16);
  const std::string text(digits.begin(), end);
  return "0x" + std::string(text.size() < 4 ? 4 - text.size() : 0, '0') + text;
}

std::string where_defined(const config::SourcePos& at) {
  return at.file + ":" + std::to_string(at.line);
}

// A name from kEthertypes, or a number that is neither an 802.3 length nor IP.
uint16_t read_ethertype(const toml::node& node, const std::string& path) {
  if (node.is_string()) {
    const std::string& name = node.as_string()->get();
    std::string known;
    for (const NamedEthertype& entry : kEthertypes) {
      if (name == entry.name) return entry.type;
      known += (known.empty() ? "" : ", ") + std::string(entry.name);
    }
    fail(node.source(), path + ": unknown ethertype '" + name + "' (names: " + known +
                            "; or a number " + hex(kEthertypeMin) + ".." + hex(kEthertypeMax) +
                            ")");
  }
  if (!node.is_integer()) {
    fail(node.source(), path + ": expected an ethertype name or number, got " +
                            std::string(type_name(node.type())));
  }
  const int64_t value = node.as_integer()->get();
  if (value < kEthertypeMin || value > kEthertypeMax) {
    fail(node.source(), path + ": " + hex(value) + " is out of range " + hex(kEthertypeMin) + ".." +
                            hex(kEthertypeMax) + " (smaller values are 802.3 lengths: name them all \"llc\")");
  }
  if (value == kEthertypeIpv4 || value == kEthertypeIpv6) {
    fail(node.source(), path + ": " + hex(value) + " is " +
                            (value == kEthertypeIpv4 ? "IPv4" : "IPv6") +
                            ", which [[allow]] tables govern, not [policy.l2]");
  }
  return static_cast<uint16_t>(value);
}

// Whether the "!" entries together cover all of `net`: one of them contains it, or both of
// its halves are covered (so !10.0.0.0/9 with !10.128.0.0/9 covers 10.0.0.0/8).
bool covered(const config::Cidr& net, const std::vector<config::Cidr>& excludes) {
  // Prefixes nest or are disjoint, so only the excludes inside `net` can cover a half of it.
  std::vector<config::Cidr> inside;
  for (const config::Cidr& exclude : excludes) {
    if (exclude.prefix_len <= net.prefix_len) {
      if (exclude.contains(net.v6, net.addr.data())) return true;
    } else if (net.contains(exclude.v6, exclude.addr.data())) {
      inside.push_back(exclude);
    }
  }
  if (inside.empty()) return false;
  config::Cidr low = net;
  ++low.prefix_len;
  config::Cidr high = low;
  high.addr[net.prefix_len / 8] |= static_cast<uint8_t>(0x80 >> (net.prefix_len % 8));
  return covered(low, inside) && covered(high, inside);
}

struct Families {
  bool v4 = false;
  bool v6 = false;
};

// The address families a NetSet still admits once its "!" entries are subtracted.
Families live_families(const NetSet& nets) {
  Families live;
  const auto admit = [&](const config::Cidr& net) {
    if (!covered(net, nets.exclude)) (net.v6 ? live.v6 : live.v4) = true;
  };
  if (nets.include.empty()) {  // any address of either family
    admit(config::Cidr{.v6 = false});
    admit(config::Cidr{.v6 = true});
  }
  for (const config::Cidr& net : nets.include) admit(net);
  return live;
}

// An allow matches a flow only if both its source and destination sets admit the flow's
// address family. A set not written in the table is "any", so it always admits both.
void check_can_match(const toml::table& table, const Allow& allow) {
  struct Side {
    const char* key;
    Families live;
  };
  const Side src{"src_nets", live_families(allow.src_nets)};
  const Side dst{"dst_nets", live_families(allow.dst_nets)};
  for (const Side& side : {src, dst}) {
    if (!side.live.v4 && !side.live.v6) {
      fail(table.get(side.key)->source(),
           std::string("allow.") + side.key +
               ": its \"!\" entries exclude every included address: this allow can never match");
    }
  }
  if ((src.live.v4 && dst.live.v4) || (src.live.v6 && dst.live.v6)) return;
  // One side admits only IPv4, the other only IPv6 (so both are written): report at the later.
  const bool src_later = table.get(dst.key)->source().begin < table.get(src.key)->source().begin;
  const Side& later = src_later ? src : dst;
  const Side& earlier = src_later ? dst : src;
  const auto family = [](const Families& f) { return f.v4 ? "IPv4" : "IPv6"; };
  fail(table.get(later.key)->source(),
       std::string("allow.") + later.key + ": only " + family(later.live) + " addresses, and " +
           earlier.key + " only " + family(earlier.live) + " ones: this allow can never match");
}

// Reads files one after another: at most one [policy] among them, allow names unique across
// them. finish() decides what [[allow]] tables mean once every file is read, since the
// [policy] may come in a later file than its allows.
class PolicyReader {
 public:
  void read_text(std::string_view text, const std::string& name) {
    const toml::table root = config::detail::parse(text, name);
    if (const toml::node* policy = root.get("policy")) read_policy(*policy);
    const toml::node* allows = root.get("allow");
    if (allows == nullptr) return;
    if (!allows->is_array()) {
      fail(allows->source(), "allow: expected an array of tables ([[allow]]), got " +
                                 std::string(type_name(allows->type())));
    }
    const toml::array& array = *allows->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
      expect_type(array[i], toml::node_type::table, element_path("allow", i));
      allows_.push_back(read_allow(*array[i].as_table()));
    }
  }

  std::optional<Policy> finish() && {
    if (!policy_) {
      if (!allows_.empty()) {
        throw config::LoadError(allows_.front().pos, "[[allow]] without a [policy] table");
      }
      return std::nullopt;
    }
    policy_->allows = std::move(allows_);
    return std::move(policy_);
  }

 private:
  void read_policy(const toml::node& node) {
    expect_type(node, toml::node_type::table, "policy");
    const toml::table& table = *node.as_table();
    if (policy_) {
      fail(table.source(), "duplicate [policy] table, first defined at " +
                               where_defined(policy_->pos) + " (one per rules directory)");
    }
    reject_unknown_keys(table,
                        {"mode", "default", "default_sid", "learn_min_hosts", "learn_max_prefix_v4",
                         "learn_max_prefix_v6", "l2"},
                        "[policy]");
    Policy policy;
    policy.pos = position(table.source());
    if (const toml::node* mode = table.get("mode")) {
      policy.mode = static_cast<PolicyMode>(one_of(*mode, "policy.mode", kModeNames));
    }
    if (const toml::node* action = table.get("default")) {
      policy.default_action =
          static_cast<PolicyDefault>(one_of(*action, "policy.default", kDefaultNames));
    }
    if (const toml::node* sid = table.get("default_sid")) {
      policy.default_sid =
          static_cast<uint32_t>(integer_in(*sid, "policy.default_sid", 1, kU32Max));
    }
    if (const toml::node* hosts = table.get("learn_min_hosts")) {
      policy.learn_min_hosts =
          static_cast<uint32_t>(integer_in(*hosts, "policy.learn_min_hosts", 1, kU32Max));
    }
    if (const toml::node* prefix = table.get("learn_max_prefix_v4")) {
      policy.learn_max_prefix_v4 =
          static_cast<uint8_t>(integer_in(*prefix, "policy.learn_max_prefix_v4", 0, 32));
    }
    if (const toml::node* prefix = table.get("learn_max_prefix_v6")) {
      policy.learn_max_prefix_v6 =
          static_cast<uint8_t>(integer_in(*prefix, "policy.learn_max_prefix_v6", 0, 128));
    }
    if (const toml::node* l2 = table.get("l2")) read_l2(*l2, policy);
    policy_ = std::move(policy);
  }

  static void read_l2(const toml::node& node, Policy& policy) {
    expect_type(node, toml::node_type::table, "policy.l2");
    const toml::table& table = *node.as_table();
    reject_unknown_keys(table, {"allow_ethertypes", "allow_icmpv6_nd"}, "[policy.l2]");
    if (const toml::node* ethertypes = table.get("allow_ethertypes")) {
      static const std::string kPath = "policy.l2.allow_ethertypes";
      const toml::array& array = array_at(*ethertypes, kPath);
      policy.allow_ethertypes.clear();  // given replaces the default; [] lets none across
      for (size_t i = 0; i < array.size(); ++i) {
        policy.allow_ethertypes.push_back(read_ethertype(array[i], element_path(kPath, i)));
      }
    }
    if (const toml::node* nd = table.get("allow_icmpv6_nd")) {
      policy.allow_icmpv6_nd = boolean(*nd, "policy.l2.allow_icmpv6_nd");
    }
  }

  Allow read_allow(const toml::table& table) {
    static constexpr std::string_view kWhere = "[[allow]]";
    reject_unknown_keys(
        table,
        {"name", "from", "proto", "src_nets", "dst_nets", "src_ports", "dst_ports", "icmp_types"},
        kWhere);
    Allow allow;
    allow.pos = position(table.source());

    const toml::node& name = required(table, "name", kWhere);
    allow.name = nonempty_string(name, "allow.name");
    const auto [first, inserted] = names_.try_emplace(allow.name, position(name.source()));
    if (!inserted) {
      fail(name.source(), "allow.name: duplicate name '" + allow.name + "', first defined at " +
                              where_defined(first->second));
    }
    allow.from_vendor = one_of(required(table, "from", kWhere), "allow.from", kSideNames) == 0;
    allow.proto =
        static_cast<Proto>(one_of(required(table, "proto", kWhere), "allow.proto", kProtoNames));
    const std::string proto_name(kProtoNames[static_cast<size_t>(allow.proto)]);

    if (const toml::node* nets = table.get("src_nets")) {
      allow.src_nets = read_nets(*nets, "allow.src_nets");
    }
    if (const toml::node* nets = table.get("dst_nets")) {
      allow.dst_nets = read_nets(*nets, "allow.dst_nets");
    }
    // As in [[rule]], an empty list means any, so it is harmless on any protocol.
    const bool has_ports = allow.proto == Proto::kTcp || allow.proto == Proto::kUdp;
    for (const auto& [key, ports] :
         {std::pair{"src_ports", &allow.src_ports}, std::pair{"dst_ports", &allow.dst_ports}}) {
      const toml::node* node = table.get(key);
      if (node == nullptr) continue;
      const std::string path = std::string("allow.") + key;
      *ports = read_ports(*node, path);
      if (!has_ports && !ports->empty()) {
        fail(node->source(),
             path + ": proto " + proto_name + " has no ports (ports need tcp or udp)");
      }
    }
    if (const toml::node* types = table.get("icmp_types")) {
      const std::string path = "allow.icmp_types";
      const toml::array& array = array_at(*types, path);
      for (size_t i = 0; i < array.size(); ++i) {
        allow.icmp_types.push_back(
            static_cast<uint8_t>(integer_in(array[i], element_path(path, i), 0, 255)));
      }
      if (allow.proto != Proto::kIcmp && !allow.icmp_types.empty()) {
        fail(types->source(),
             path + ": proto " + proto_name + " has no ICMP types (icmp_types need proto icmp)");
      }
    }
    check_can_match(table, allow);
    return allow;
  }

  std::optional<Policy> policy_;
  std::vector<Allow> allows_;
  std::map<std::string, config::SourcePos> names_;  // allow name → its name value
};

}  // namespace

std::optional<Policy> load_policy_files(const std::vector<std::string>& files) {
  PolicyReader reader;
  for (const std::string& file : files) reader.read_text(config::detail::read_file(file), file);
  return std::move(reader).finish();
}

std::optional<Policy> load_policy_texts(
    const std::vector<std::pair<std::string, std::string>>& named_texts) {
  PolicyReader reader;
  for (const auto& [name, text] : named_texts) reader.read_text(text, name);
  return std::move(reader).finish();
}

const char* ethertype_name(uint16_t ethertype) noexcept {
  for (const NamedEthertype& entry : kEthertypes) {
    if (entry.type == ethertype) return entry.name;
  }
  return nullptr;
}

const char* to_string(PolicyDefault d) noexcept {
  const auto index = static_cast<size_t>(d);
  return index < kDefaultNames.size() ? kDefaultNames[index].data() : "unknown";
}

const char* to_string(PolicyMode m) noexcept {
  const auto index = static_cast<size_t>(m);
  return index < kModeNames.size() ? kModeNames[index].data() : "unknown";
}

}  // namespace sentinel::rules

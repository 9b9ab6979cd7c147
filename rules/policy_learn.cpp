// Learn mode's writer: observed flows → a policy file the loader reads back. Observations
// are merged into services (side, protocol, port or ICMP type, family), each service becomes
// one [[allow]]; everything goes through ordered maps so the text depends on the set of
// observations only, never on the order the workers reported them in.
#include "rules/policy_learn.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "config/cidr.hpp"

namespace sentinel::rules {

namespace {

using Addr = std::array<uint8_t, 16>;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint16_t kEthertypeMin = 0x0600;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;

struct Traffic {
  uint64_t flows = 0;
  uint64_t bytes = 0;
  void add(const Traffic& other) {
    flows += other.flows;
    bytes += other.bytes;
  }
};

// How the policy language can express a protocol.
enum class Kind : uint8_t { kPorts, kIcmp, kIp };

Kind kind_of(uint8_t ip_proto, bool v6) {
  if (ip_proto == kProtoTcp || ip_proto == kProtoUdp) return Kind::kPorts;
  // ICMP means ICMPv4 under IPv4 and ICMPv6 under IPv6; the other pairing is just a protocol.
  if (ip_proto == (v6 ? kProtoIcmpv6 : kProtoIcmp)) return Kind::kIcmp;
  return Kind::kIp;
}

// One [[allow]]. Field order is the output order: vendor before core, then protocol
// number, port (or ICMP type), IPv4 before IPv6.
struct ServiceKey {
  bool from_core = false;
  uint8_t ip_proto = 0;
  uint16_t port = 0;  // 0 for Kind::kIp: those allows cannot name a port
  bool v6 = false;
  friend auto operator<=>(const ServiceKey&, const ServiceKey&) = default;
};

struct Service {
  Traffic total;
  std::map<Addr, Traffic> srcs;  // Addr compares bytewise = numerically (network order)
  std::map<Addr, Traffic> dsts;
};

// A destination entry: a host prefix, or the aggregate of `hosts` destinations.
struct NetEntry {
  config::Cidr net;
  uint32_t hosts = 1;
  Traffic traffic;
};

constexpr unsigned addr_bits(bool v6) { return v6 ? 128 : 32; }

Addr masked(const Addr& addr, unsigned prefix_len) {
  Addr out{};
  for (unsigned i = 0; i < 16; ++i) {
    const int bits = static_cast<int>(prefix_len) - static_cast<int>(8 * i);
    if (bits >= 8) {
      out[i] = addr[i];
    } else if (bits > 0) {
      out[i] = static_cast<uint8_t>(addr[i] & (0xff << (8 - bits)));
    }
  }
  return out;
}

unsigned common_prefix_len(const Addr& a, const Addr& b, unsigned max_bits) {
  unsigned len = 0;
  while (len < max_bits) {
    const unsigned byte = len / 8;
    const unsigned bit = 7 - len % 8;
    if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1)) break;
    ++len;
  }
  return len;
}

config::Cidr cidr_of(const Addr& addr, bool v6, unsigned prefix_len) {
  config::Cidr cidr;
  cidr.v6 = v6;
  cidr.addr = masked(addr, prefix_len);  // the loader rejects host bits below the prefix
  cidr.prefix_len = static_cast<uint8_t>(prefix_len);
  return cidr;
}

// Destinations grouped by their block of `max_prefix`: a block with at least `min_hosts`
// becomes the longest common prefix of its addresses (at least `max_prefix` long, since
// they share the block), a smaller one stays as hosts. Sorted addresses keep each block
// contiguous, and the common prefix of a sorted run is that of its first and last.
std::vector<NetEntry> aggregate(const std::map<Addr, Traffic>& dsts, bool v6, unsigned max_prefix,
                                uint32_t min_hosts) {
  std::vector<NetEntry> entries;
  const unsigned bits = addr_bits(v6);
  auto it = dsts.begin();
  while (it != dsts.end()) {
    const Addr block = masked(it->first, max_prefix);
    auto end = it;
    uint32_t hosts = 0;
    Traffic traffic;
    auto last = it;
    for (; end != dsts.end() && masked(end->first, max_prefix) == block; ++end) {
      ++hosts;
      traffic.add(end->second);
      last = end;
    }
    if (hosts >= min_hosts) {
      const unsigned len = common_prefix_len(it->first, last->first, bits);
      entries.push_back({cidr_of(it->first, v6, len), hosts, traffic});
    } else {
      for (; it != end; ++it) entries.push_back({cidr_of(it->first, v6, bits), 1, it->second});
    }
    it = end;
  }
  return entries;
}

// A TOML basic string. Names hold only safe characters today; this keeps it so.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", byte);
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Free text inside a comment: a newline would end the comment and corrupt the file.
std::string comment_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = ' ';
  }
  return out;
}

std::string traffic_text(const Traffic& t) {
  return std::to_string(t.flows) + " flows, " + std::to_string(t.bytes) + " bytes";
}

std::string utc_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

// The allow's proto key: "tcp", "udp", "icmp", or "ip" for everything else.
const char* proto_keyword(const ServiceKey& key) {
  switch (kind_of(key.ip_proto, key.v6)) {
    case Kind::kPorts: return key.ip_proto == kProtoTcp ? "tcp" : "udp";
    case Kind::kIcmp: return "icmp";
    case Kind::kIp: break;
  }
  return "ip";
}

// Unique because it spells out every field of the key: "vendor tcp/443 v4",
// "vendor icmp type 8 v4", "core ip/47 v6".
std::string service_name(const ServiceKey& key) {
  std::ostringstream name;  // (string concatenation here trips GCC 12's -Wrestrict false positive)
  name << (key.from_core ? "core " : "vendor ") << proto_keyword(key);
  switch (kind_of(key.ip_proto, key.v6)) {
    case Kind::kPorts: name << '/' << key.port; break;
    case Kind::kIcmp: name << " type " << key.port; break;
    case Kind::kIp: name << '/' << unsigned{key.ip_proto}; break;
  }
  name << (key.v6 ? " v6" : " v4");
  return name.str();
}

std::string ethertype_text(uint16_t ethertype) {
  if (const char* name = ethertype_name(ethertype)) return quoted(name);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04x", ethertype);
  return hex;
}

void write_allow(std::ostringstream& out, const ServiceKey& key, const Service& service,
                 uint32_t min_hosts, unsigned max_v4, unsigned max_v6) {
  const Kind kind = kind_of(key.ip_proto, key.v6);
  out << "\n# " << traffic_text(service.total) << "\n";
  if (kind == Kind::kIp) {
    out << "# IP protocol " << unsigned{key.ip_proto}
        << ": the policy language has no protocol numbers, so this allow permits any\n"
           "# protocol between these hosts.\n";
  }
  out << "[[allow]]\n";
  out << "name = " << quoted(service_name(key)) << "\n";
  out << "from = " << (key.from_core ? "\"core\"" : "\"vendor\"") << "\n";
  out << "proto = " << quoted(proto_keyword(key)) << "\n";

  const unsigned bits = addr_bits(key.v6);
  out << "src_nets = [\n";
  for (const auto& [addr, traffic] : service.srcs) {
    out << "  " << quoted(cidr_of(addr, key.v6, bits).to_string()) << ",  # "
        << traffic_text(traffic) << "\n";
  }
  out << "]\n";

  out << "dst_nets = [\n";
  const unsigned max_prefix = key.v6 ? max_v6 : max_v4;
  for (const NetEntry& entry : aggregate(service.dsts, key.v6, max_prefix, min_hosts)) {
    out << "  " << quoted(entry.net.to_string()) << ",  # ";
    if (entry.hosts > 1) out << "aggregated from " << entry.hosts << " hosts; ";
    out << traffic_text(entry.traffic) << "\n";
  }
  out << "]\n";

  if (kind == Kind::kPorts) out << "dst_ports = [" << key.port << "]\n";
  if (kind == Kind::kIcmp) out << "icmp_types = [" << key.port << "]\n";
}

}  // namespace

std::string write_learned_policy(std::span<const LearnedFlow> flows,
                                 std::span<const uint16_t> ethertypes, const LearnLimits& limits,
                                 bool allow_icmpv6_nd, std::string_view origin) {
  // Write what is actually applied, in the ranges the loader accepts: limits past the
  // address width mean "hosts only", and min_hosts 0 behaves as 1 (a block has a host).
  const auto max_v4 = std::min<uint8_t>(limits.max_prefix_v4, 32);
  const auto max_v6 = std::min<uint8_t>(limits.max_prefix_v6, 128);
  const uint32_t min_hosts = std::max<uint32_t>(limits.min_hosts, 1);
  const uint32_t default_sid = limits.default_sid != 0 ? limits.default_sid : kDefaultPolicySid;

  // Merge duplicate observations first, so the header counts distinct ones.
  std::map<std::tuple<ServiceKey, Addr, Addr>, Traffic> observations;
  uint64_t total_flows = 0;
  uint64_t skipped = 0;
  for (const LearnedFlow& flow : flows) {
    const Kind kind = kind_of(flow.ip_proto, flow.v6);
    if (kind == Kind::kIcmp && flow.dst_port > 255) {
      ++skipped;  // no such ICMP type: icmp_types could not state it
      continue;
    }
    const ServiceKey key{!flow.from_vendor, flow.ip_proto,
                         kind == Kind::kIp ? uint16_t{0} : flow.dst_port, flow.v6};
    // IPv4 uses the first 4 bytes; whatever follows must not split an observation.
    const unsigned bits = addr_bits(flow.v6);
    observations[{key, masked(flow.src, bits), masked(flow.dst, bits)}].add(
        {flow.flows, flow.bytes});
    total_flows += flow.flows;
  }

  std::map<ServiceKey, Service> services;
  for (const auto& [obs, traffic] : observations) {
    const auto& [key, src, dst] = obs;
    Service& service = services[key];
    service.total.add(traffic);
    service.srcs[src].add(traffic);
    service.dsts[dst].add(traffic);
  }

  // ARP always: without it IPv4 stops working the moment the policy is enforced. IPv4 and
  // IPv6 never: the allows govern them, an l2 pass would bypass the whole policy. Values
  // below 0x0600 are 802.3 lengths, not ethertypes: they all stand for "llc".
  std::set<uint16_t> l2{kEthertypeArp};
  for (const uint16_t ethertype : ethertypes) {
    if (ethertype < kEthertypeMin) {
      l2.insert(kEthertypeLlc);
    } else if (ethertype != kEthertypeIpv4 && ethertype != kEthertypeIpv6) {
      l2.insert(ethertype);
    }
  }

  std::ostringstream out;
  out << "# Sentinel communication policy learned from " << comment_safe(origin) << " on "
      << utc_date() << "\n";
  out << "# " << total_flows << " flows in " << observations.size()
      << " distinct (side, proto, source, destination, port) observations, " << services.size()
      << " allows.\n";
  if (skipped > 0) out << "# " << skipped << " ICMP observations with a type above 255 ignored.\n";
  out << "# Review before enforcing: every [[allow]] below was seen; nothing else will be "
         "permitted.\n";
  out << "[policy]\n";
  out << "mode = \"enforce\"\n";
  out << "default = \"alert\"\n";
  out << "default_sid = " << default_sid << "\n";
  out << "learn_min_hosts = " << min_hosts << "\n";
  out << "learn_max_prefix_v4 = " << unsigned{max_v4} << "\n";
  out << "learn_max_prefix_v6 = " << unsigned{max_v6} << "\n";
  out << "\n[policy.l2]\n";
  out << "allow_ethertypes = [";
  bool first = true;
  for (const uint16_t ethertype : l2) {
    out << (first ? "" : ", ") << ethertype_text(ethertype);
    first = false;
  }
  out << "]\n";
  out << "allow_icmpv6_nd = " << (allow_icmpv6_nd ? "true" : "false") << "\n";

  for (const auto& [key, service] : services) {
    write_allow(out, key, service, min_hosts, max_v4, max_v6);
  }
  return out.str();
}

}  // namespace sentinel::rules

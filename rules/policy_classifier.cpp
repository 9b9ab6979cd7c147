// PolicyClassifier: Policy allows → rte_acl rules, and the batched lookup workers run.
//
// rte_acl facts this file relies on (DPDK 22.11, lib/acl):
//  - Rule values are host byte order; the input records classify() reads are network byte
//    order (the trie walks each field's most significant byte first).
//  - The first field is one byte; every later input_index group is exactly 4 consecutive
//    input bytes (classify fetches 4 bytes per group), so two 16-bit ports share a group
//    and an IPv6 address is four 32-bit MASK fields, one group each.
//  - The highest priority wins among matching rules of a category; priorities lie in
//    [RTE_ACL_MIN_PRIORITY, RTE_ACL_MAX_PRIORITY] = [1, 2^29 - 1]. Result 0 means no match,
//    hence userdata = allow index + 1.
//  - rte_acl_create() with the name of a live context silently returns that context, and
//    names are cut to RTE_ACL_NAMESIZE - 1 bytes: both are rejected here instead.
//  - rte_acl_build() fails on a context without rules: a family without rules has no context.
// The vendor/core side has no spare bits next to the protocol or the ports, so it takes a
// 4-byte group of its own (4 more trie levels per lookup).
#include "rules/policy_classifier.hpp"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/error.hpp"

namespace sentinel::rules {

namespace {

using config::Cidr;

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoIcmpv6 = 58;

// One category: each query wants only the first allow that permits it.
constexpr uint32_t kCategories = 1;
// Rules handed to rte_acl_add_rules() at once while expanding (bounds the staging buffer).
constexpr size_t kAddChunk = 4096;

// The record classify() builds per query; both families use it, with different field
// definitions (IPv4 reads the first 4 bytes of src and dst).
struct AclInput {
  uint8_t proto;    // the 1-byte first field
  uint8_t pad[3];   // keeps the 4-byte groups aligned; never matched
  uint8_t src[16];  // network byte order
  uint8_t dst[16];
  uint16_t src_port;  // big-endian
  uint16_t dst_port;  // big-endian; ICMP type
  uint32_t vendor;    // big-endian 1 (vendor opened) or 0 (core)
};
static_assert(sizeof(AclInput) == 44);

struct ContextFree {
  void operator()(rte_acl_ctx* ctx) const noexcept { rte_acl_free(ctx); }
};
using ContextPtr = std::unique_ptr<rte_acl_ctx, ContextFree>;

// The one way an rte_acl failure leaves this file: an error naming the call and the context.
[[noreturn]] void fail(const char* call, const std::string& ctx_name, const std::string& why) {
  throw std::runtime_error(std::string(call) + "(" + ctx_name + "): " + why);
}

// ---- Prefix arithmetic on config::Cidr (kept local: this library does not link config). ----

void flip_bit(std::array<uint8_t, 16>& addr, unsigned bit) noexcept {
  addr[bit / 8] ^= static_cast<uint8_t>(0x80 >> (bit % 8));
}

// Clears every bit from `len` on, giving the network address of a /len.
std::array<uint8_t, 16> truncate(std::array<uint8_t, 16> addr, unsigned len) noexcept {
  for (unsigned i = 0; i < 16; ++i) {
    const int keep = static_cast<int>(len) - static_cast<int>(8 * i);
    if (keep >= 8) continue;
    addr[i] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
  }
  return addr;
}

// True when every address of `inner` lies in `outer` (same family).
bool covers(const Cidr& outer, const Cidr& inner) noexcept {
  return outer.v6 == inner.v6 && outer.prefix_len <= inner.prefix_len &&
         truncate(inner.addr, outer.prefix_len) == outer.addr;
}

// p minus e as disjoint prefixes. When e lies inside p, the result is the sibling of each
// prefix on the path from p down to e: e.prefix_len - p.prefix_len prefixes.
void subtract(const Cidr& p, const Cidr& e, std::vector<Cidr>& out) {
  if (covers(e, p)) return;
  if (!covers(p, e)) {
    out.push_back(p);
    return;
  }
  for (unsigned len = p.prefix_len + 1u; len <= e.prefix_len; ++len) {
    Cidr sibling = e;
    sibling.prefix_len = static_cast<uint8_t>(len);
    sibling.addr = truncate(e.addr, len);
    flip_bit(sibling.addr, len - 1);
    out.push_back(sibling);
  }
}

// The addresses of `nets` in one family as disjoint prefixes: the includes of that family
// (or the whole family when include is empty), minus its excludes. Empty when the family
// has no address in the set.
std::vector<Cidr> family_prefixes(const NetSet& nets, bool v6) {
  std::vector<Cidr> prefixes;
  if (nets.include.empty()) {
    Cidr any;
    any.v6 = v6;
    prefixes.push_back(any);
  } else {
    for (const Cidr& c : nets.include) {
      if (c.v6 == v6) prefixes.push_back(c);
    }
    // Drop includes inside other includes so the result stays disjoint.
    std::stable_sort(prefixes.begin(), prefixes.end(),
                     [](const Cidr& a, const Cidr& b) { return a.prefix_len < b.prefix_len; });
    std::vector<Cidr> kept;
    for (const Cidr& c : prefixes) {
      if (std::none_of(kept.begin(), kept.end(), [&](const Cidr& k) { return covers(k, c); })) {
        kept.push_back(c);
      }
    }
    prefixes = std::move(kept);
  }
  for (const Cidr& e : nets.exclude) {
    if (e.v6 != v6) continue;
    std::vector<Cidr> next;
    for (const Cidr& p : prefixes) subtract(p, e, next);
    prefixes = std::move(next);
  }
  return prefixes;
}

// ---- Expansion plan: one allow's share of one family's context. ----

struct Part {
  uint32_t allow_index = 0;
  bool from_vendor = true;
  uint8_t proto = 0;  // with proto_mask 0: any protocol
  uint8_t proto_mask = 0;
  std::vector<Cidr> src;
  std::vector<Cidr> dst;
  std::vector<PortRange> src_ports;
  std::vector<PortRange> dst_ports;  // or ICMP types as [t, t]

  [[nodiscard]] uint64_t rule_count() const noexcept {
    // Saturating: a hostile policy must reach the limit check, not wrap around it.
    constexpr uint64_t kCap = uint64_t{1} << 62;
    uint64_t n = 1;
    for (const size_t f : {src.size(), dst.size(), src_ports.size(), dst_ports.size()}) {
      if (f == 0) return 0;
      n = n > kCap / f ? kCap : n * f;
    }
    return n;
  }
};

// Ranges a query's port must lie in; an empty list means any port.
std::vector<PortRange> port_ranges(const std::vector<PortRange>& ranges) {
  if (ranges.empty()) return {PortRange{0, 65535}};
  std::vector<PortRange> out;
  for (const PortRange& r : ranges) {
    if (r.lo <= r.hi) out.push_back(r);  // an inverted range matches nothing
  }
  return out;
}

// The destination dimension of an ICMP allow: each listed type that dst_ports also admits.
std::vector<PortRange> icmp_type_ranges(const Allow& allow) {
  if (allow.icmp_types.empty()) return port_ranges(allow.dst_ports);
  std::vector<uint8_t> types = allow.icmp_types;
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::vector<PortRange> out;
  for (const uint8_t t : types) {
    const bool admitted = allow.dst_ports.empty() ||
                          std::any_of(allow.dst_ports.begin(), allow.dst_ports.end(),
                                      [t](const PortRange& r) { return r.lo <= t && t <= r.hi; });
    if (admitted) out.push_back(PortRange{t, t});
  }
  return out;
}

// The share of `allow` in one family; its rule_count() is 0 when the allow has no address
// there (or its excludes remove them all).
Part plan_part(const Allow& allow, uint32_t index, bool v6) {
  Part part;
  part.allow_index = index;
  part.from_vendor = allow.from_vendor;
  part.src = family_prefixes(allow.src_nets, v6);
  part.dst = family_prefixes(allow.dst_nets, v6);
  part.src_ports = port_ranges(allow.src_ports);
  part.dst_ports =
      allow.proto == Proto::kIcmp ? icmp_type_ranges(allow) : port_ranges(allow.dst_ports);
  part.proto_mask = 0xff;
  switch (allow.proto) {
    case Proto::kIp:
      part.proto_mask = 0;
      break;
    case Proto::kTcp:
      part.proto = kIpProtoTcp;
      break;
    case Proto::kUdp:
      part.proto = kIpProtoUdp;
      break;
    case Proto::kIcmp:
      part.proto = v6 ? kIpProtoIcmpv6 : kIpProtoIcmp;
      break;
  }
  return part;
}

// ---- Field layout, per family. ----

// kWords: 32-bit words per address (1 for IPv4, 4 for IPv6). Fields in order: proto, the
// destination words, the source words, source port, destination port, vendor flag. The
// trie walks them in this order: destinations first, because allows name their
// destinations and mostly leave sources open, so the walk narrows early (the policy
// benchmark measured 1.3-1.6x faster permitted and 2-4x faster violating lookups at 10,000
// allows than with sources first).
template <unsigned kWords>
struct Layout {
  static constexpr unsigned kFields = 2 * kWords + 4;
  static constexpr unsigned kDst = 1;
  static constexpr unsigned kSrc = 1 + kWords;
  static constexpr unsigned kSrcPort = 1 + 2 * kWords;
  static constexpr unsigned kDstPort = 2 + 2 * kWords;
  static constexpr unsigned kVendor = 3 + 2 * kWords;

  RTE_ACL_RULE_DEF(Rule, kFields);
  static_assert(sizeof(Rule) == RTE_ACL_RULE_SZ(kFields));

  static rte_acl_config config() {
    rte_acl_config cfg{};
    cfg.num_categories = kCategories;
    cfg.num_fields = kFields;
    cfg.max_size = 0;  // no cap on the run-time structures
    auto def = [&](unsigned field, uint8_t type, uint8_t size, unsigned input, size_t offset) {
      cfg.defs[field] =
          rte_acl_field_def{type, size, static_cast<uint8_t>(field), static_cast<uint8_t>(input),
                            static_cast<uint32_t>(offset)};
    };
    def(0, RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, offsetof(AclInput, proto));
    for (unsigned w = 0; w < kWords; ++w) {
      def(kDst + w, RTE_ACL_FIELD_TYPE_MASK, 4, 1 + w, offsetof(AclInput, dst) + 4 * w);
      def(kSrc + w, RTE_ACL_FIELD_TYPE_MASK, 4, 1 + kWords + w, offsetof(AclInput, src) + 4 * w);
    }
    // Both ports in one 4-byte group.
    def(kSrcPort, RTE_ACL_FIELD_TYPE_RANGE, 2, 1 + 2 * kWords, offsetof(AclInput, src_port));
    def(kDstPort, RTE_ACL_FIELD_TYPE_RANGE, 2, 1 + 2 * kWords, offsetof(AclInput, dst_port));
    def(kVendor, RTE_ACL_FIELD_TYPE_BITMASK, 4, 2 + 2 * kWords, offsetof(AclInput, vendor));
    return cfg;
  }

  // Word w of a prefix as a host-order value and its own prefix length (0..32).
  static void set_words(Rule& rule, unsigned first, const Cidr& c) {
    for (unsigned w = 0; w < kWords; ++w) {
      const uint8_t* b = c.addr.data() + 4 * w;
      const int len = std::clamp(static_cast<int>(c.prefix_len) - static_cast<int>(32 * w), 0, 32);
      rule.field[first + w].value.u32 =
          uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
      rule.field[first + w].mask_range.u32 = static_cast<uint32_t>(len);
    }
  }
};

// Creates, fills and builds one family's context; nullptr when it gets no rule.
template <unsigned kWords>
ContextPtr build_context(const std::string& name, const std::vector<Part>& parts,
                         size_t rule_count) {
  using L = Layout<kWords>;
  if (rule_count == 0) return nullptr;
  if (name.size() >= RTE_ACL_NAMESIZE) {
    fail("rte_acl_create", name,
         "name longer than " + std::to_string(RTE_ACL_NAMESIZE - 1) + " bytes");
  }
  if (rte_acl_find_existing(name.c_str()) != nullptr) {
    fail("rte_acl_create", name, "a context with this name exists");
  }
  rte_acl_param param{};
  param.name = name.c_str();
  param.socket_id = SOCKET_ID_ANY;
  param.rule_size = RTE_ACL_RULE_SZ(L::kFields);
  param.max_rule_num = static_cast<uint32_t>(rule_count);
  ContextPtr ctx(rte_acl_create(&param));
  if (!ctx) fail("rte_acl_create", name, rte_strerror(rte_errno));

  std::vector<typename L::Rule> chunk;
  chunk.reserve(std::min(rule_count, kAddChunk));
  auto flush = [&] {
    if (chunk.empty()) return;
    const int rc = rte_acl_add_rules(ctx.get(), reinterpret_cast<const rte_acl_rule*>(chunk.data()),
                                     static_cast<uint32_t>(chunk.size()));
    if (rc != 0) fail("rte_acl_add_rules", name, rte_strerror(-rc));
    chunk.clear();
  };

  for (const Part& part : parts) {
    typename L::Rule rule{};
    rule.data.category_mask = 1;
    // First allow wins: priorities fall with the index (the caller checked the range).
    rule.data.priority = static_cast<int32_t>(RTE_ACL_MAX_PRIORITY - part.allow_index);
    rule.data.userdata = part.allow_index + 1;
    rule.field[0].value.u8 = part.proto;
    rule.field[0].mask_range.u8 = part.proto_mask;
    rule.field[L::kVendor].value.u32 = part.from_vendor ? 1 : 0;
    rule.field[L::kVendor].mask_range.u32 = UINT32_MAX;
    for (const Cidr& src : part.src) {
      L::set_words(rule, L::kSrc, src);
      for (const Cidr& dst : part.dst) {
        L::set_words(rule, L::kDst, dst);
        for (const PortRange& sp : part.src_ports) {
          rule.field[L::kSrcPort].value.u16 = sp.lo;
          rule.field[L::kSrcPort].mask_range.u16 = sp.hi;
          for (const PortRange& dp : part.dst_ports) {
            rule.field[L::kDstPort].value.u16 = dp.lo;
            rule.field[L::kDstPort].mask_range.u16 = dp.hi;
            chunk.push_back(rule);
            if (chunk.size() == kAddChunk) flush();
          }
        }
      }
    }
  }
  flush();

  const rte_acl_config cfg = L::config();
  const int rc = rte_acl_build(ctx.get(), &cfg);
  if (rc != 0) fail("rte_acl_build", name, rte_strerror(-rc));
  return ctx;
}

// A batch of one family's queries, built on the caller's stack.
struct Batch {
  AclInput input[PolicyClassifier::kBatch];
  const uint8_t* data[PolicyClassifier::kBatch];
  uint32_t index[PolicyClassifier::kBatch];  // position in the caller's span
  uint32_t result[PolicyClassifier::kBatch];
  uint32_t n = 0;

  void add(uint32_t i, const PolicyQuery& q) noexcept {
    AclInput& in = input[n];
    in.proto = q.ip_proto;
    std::memset(in.pad, 0, sizeof in.pad);
    std::memcpy(in.src, q.src.data(), sizeof in.src);
    std::memcpy(in.dst, q.dst.data(), sizeof in.dst);
    in.src_port = rte_cpu_to_be_16(q.src_port);
    in.dst_port = rte_cpu_to_be_16(q.dst_port);
    in.vendor = rte_cpu_to_be_32(q.from_vendor ? 1 : 0);
    data[n] = reinterpret_cast<const uint8_t*>(&in);
    index[n] = i;
    ++n;
  }

  void flush(const rte_acl_ctx* ctx, std::span<uint32_t> out) noexcept {
    if (n == 0) return;
    // Only a bad category count fails, which kCategories rules out; answer "no allow"
    // (the policy's default action) rather than trust an unwritten result array.
    const bool ok = rte_acl_classify(ctx, data, result, n, kCategories) == 0;
    for (uint32_t k = 0; k < n; ++k) out[index[k]] = ok ? result[k] : PolicyClassifier::kNoAllow;
    n = 0;
  }
};

}  // namespace

PolicyClassifier::PolicyClassifier(const Policy& policy, std::string_view name) {
  std::vector<Part> parts_v4;
  std::vector<Part> parts_v6;
  uint64_t total = 0;
  for (size_t i = 0; i < policy.allows.size(); ++i) {
    const Allow& allow = policy.allows[i];
    // Priority MAX - i must stay >= MIN. Unreachable with real policies; checked anyway.
    if (i > static_cast<size_t>(RTE_ACL_MAX_PRIORITY - RTE_ACL_MIN_PRIORITY)) {
      throw config::LoadError(allow.pos, "allow '" + allow.name + "': more than " +
                                             std::to_string(RTE_ACL_MAX_PRIORITY) +
                                             " allows, the rte_acl priority range");
    }
    const auto index = static_cast<uint32_t>(i);
    Part v4 = plan_part(allow, index, false);
    Part v6 = plan_part(allow, index, true);
    const uint64_t count = v4.rule_count() + v6.rule_count();
    total += count;
    if (total > kMaxAclRules) {
      throw config::LoadError(allow.pos,
                              "allow '" + allow.name + "' expands to " + std::to_string(count) +
                                  " ACL rules (prefixes x port ranges), taking the policy to " +
                                  std::to_string(total) + ", more than the limit of " +
                                  std::to_string(kMaxAclRules));
    }
    rules_v4_ += v4.rule_count();
    rules_v6_ += v6.rule_count();
    if (v4.rule_count() != 0) parts_v4.push_back(std::move(v4));
    if (v6.rule_count() != 0) parts_v6.push_back(std::move(v6));
  }

  const std::string base(name);
  ContextPtr v4 = build_context<1>(base + "_v4", parts_v4, rules_v4_);
  ContextPtr v6 = build_context<4>(base + "_v6", parts_v6, rules_v6_);
  v4_ = v4.release();
  v6_ = v6.release();
}

PolicyClassifier::~PolicyClassifier() {
  rte_acl_free(v4_);
  rte_acl_free(v6_);
}

void PolicyClassifier::classify(std::span<const PolicyQuery> queries,
                                std::span<uint32_t> out) const noexcept {
  Batch v4;
  Batch v6;
  for (size_t i = 0; i < queries.size(); ++i) {
    const PolicyQuery& q = queries[i];
    const rte_acl_ctx* ctx = q.v6 ? v6_ : v4_;
    if (ctx == nullptr) {
      out[i] = kNoAllow;
      continue;
    }
    Batch& batch = q.v6 ? v6 : v4;
    batch.add(static_cast<uint32_t>(i), q);
    if (batch.n == kBatch) batch.flush(ctx, out);
  }
  if (v4_ != nullptr) v4.flush(v4_, out);
  if (v6_ != nullptr) v6.flush(v6_, out);
}

}  // namespace sentinel::rules

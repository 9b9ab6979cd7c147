// PolicyClassifier: a Policy's allows compiled to two rte_acl contexts (IPv4, IPv6) on the
// control plane; immutable afterwards, so every worker classifies against it concurrently.
// An allow becomes one ACL rule per (source prefix, destination prefix, source port range,
// destination port range) after the "!" nets are subtracted from the included ones, so a
// negated net never hides another allow that overlaps it.
//
// A query is one orientation of a flow as its opener sent it: the side that opened it, the
// protocol, the opener's address and port, the responder's address and port (for ICMP the
// message type stands in the destination port). The result is the 1-based index of the
// first allow (in Policy::allows order) that permits it, or kNoAllow.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "rules/policy.hpp"

struct rte_acl_ctx;

namespace sentinel::rules {

struct PolicyQuery {
  std::array<uint8_t, 16> src;  // the opener's address, network byte order (IPv4: first 4 bytes)
  std::array<uint8_t, 16> dst;  // the responder's
  uint16_t src_port = 0;        // host byte order; 0 for protocols without ports
  uint16_t dst_port = 0;        // TCP/UDP port, or the ICMP/ICMPv6 type
  uint8_t ip_proto = 0;         // IANA number
  bool v6 = false;
  bool from_vendor = true;      // the vendor side opened the flow
};

class PolicyClassifier {
 public:
  static constexpr uint32_t kNoAllow = 0;
  // ACL rules one policy may expand to (the product of its prefixes and port ranges).
  static constexpr size_t kMaxAclRules = 1u << 20;
  // Queries classify() hands rte_acl at once; longer spans are cut into batches.
  static constexpr size_t kBatch = 64;

  // [control] Compiles. Throws config::LoadError at the allow that takes the expansion past
  // kMaxAclRules, std::runtime_error naming the rte_acl call that failed otherwise. Needs
  // the EAL (rte_acl allocates from its heap). `name` makes the contexts' names unique.
  PolicyClassifier(const Policy& policy, std::string_view name);
  ~PolicyClassifier();
  PolicyClassifier(const PolicyClassifier&) = delete;
  PolicyClassifier& operator=(const PolicyClassifier&) = delete;

  // [worker] out[i] = the first allow permitting queries[i] (1-based), or kNoAllow.
  // `out` has at least queries.size() elements. noexcept, no allocation, no lock.
  void classify(std::span<const PolicyQuery> queries, std::span<uint32_t> out) const noexcept;

  [[nodiscard]] size_t acl_rules_v4() const noexcept { return rules_v4_; }
  [[nodiscard]] size_t acl_rules_v6() const noexcept { return rules_v6_; }

 private:
  rte_acl_ctx* v4_ = nullptr;  // nullptr when the policy has no IPv4 rule
  rte_acl_ctx* v6_ = nullptr;
  size_t rules_v4_ = 0;
  size_t rules_v6_ = 0;
};

}  // namespace sentinel::rules

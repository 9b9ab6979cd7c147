// Alert rings, catalog and drain (see alert_ring.hpp, alerts.hpp).
#include "dataplane/alerts.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>

#include <array>
#include <new>

#include "config/limits.hpp"
#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {

AlertRing::AlertRing(const std::string& name, uint32_t size) {
  ring_ = check_ptr(rte_ring_create_elem(name.c_str(), sizeof(AlertRecord), size, SOCKET_ID_ANY,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ),
                    "rte_ring_create_elem(" + name + ")");
}

AlertRing::~AlertRing() { rte_ring_free(ring_); }

namespace {
uint64_t key_of(uint32_t gid, uint32_t sid) { return uint64_t{gid} << 32 | sid; }
constexpr std::string_view kPolicyClasstype = "policy-violation";
}  // namespace

AlertCatalog::AlertCatalog(const rules::RuleSet* set, const rules::ClassificationTable& classes,
                           const rules::Policy* policy, std::span<const rules::Filter> filters) {
  auto category = [&classes](const std::string& classtype) {
    const auto it = classes.find(classtype);
    return it == classes.end() ? std::string() : it->second.description;
  };
  if (set != nullptr) {
    for (const rules::CompiledRule& r : set->rules()) {
      by_key_[key_of(r.gid, r.sid)] = AlertMeta{r.msg, category(r.classtype), r.severity, r.metadata};
    }
  }
  for (const AnomalyInfo& a : kAnomalies) {
    by_key_[key_of(rules::kGidAnomalies, static_cast<uint32_t>(a.sid))] =
        AlertMeta{std::string(a.msg), category(std::string(a.classtype)), a.severity, {}};
  }
  if (policy != nullptr) {
    const auto it = classes.find(std::string(kPolicyClasstype));
    const int severity = it == classes.end() ? 2 : it->second.severity;
    by_key_[key_of(rules::kGidPolicy, policy->default_sid)] =
        AlertMeta{"policy: not allowed", category(std::string(kPolicyClasstype)), severity, {}};
  }
  for (const rules::Filter& f : filters) by_key_[key_of(rules::kGidFilters, f.sid)] = AlertMeta{f.msg, "", f.severity, {}};
  unknown_.signature = "unknown signature";
}

AlertMeta AlertCatalog::meta_of(const AlertRecord& rec) const {
  AlertMeta m = meta(rec.gid, rec.sid);
  if (rec.gid == rules::kGidPolicy) m.signature = policy_signature(rec);
  return m;
}

const AlertMeta& AlertCatalog::meta(uint32_t gid, uint32_t sid) const {
  const auto it = by_key_.find(key_of(gid, sid));
  return it == by_key_.end() ? unknown_ : it->second;
}

uint64_t AlertDrain::drain(std::span<AlertRing* const> rings) noexcept {
  std::array<AlertRecord, 256> batch;
  uint64_t n = 0;
  for (AlertRing* ring : rings) {
    // At most a ring's worth per call: during an alert storm the workers refill the ring
    // as fast as it drains, and the control loop must still come back to its signals.
    uint32_t got = 0;
    for (uint32_t taken = 0; taken < config::kAlertRingSize && (got = ring->pop(batch.data(), batch.size())) != 0;
         taken += got) {
      for (uint32_t i = 0; i < got; ++i) {
        const AlertCatalog& catalog = catalog_of_(batch[i].generation);
        const AlertMeta& fixed = catalog.meta(batch[i].gid, batch[i].sid);
        if (batch[i].gid != rules::kGidPolicy) {
          eve_.write(batch[i], fixed);
          continue;
        }
        try {
          eve_.write(batch[i], catalog.meta_of(batch[i]));
        } catch (const std::bad_alloc&) {  // out of memory: the line still goes out, less specific
          eve_.write(batch[i], fixed);
        }
      }
      n += got;
    }
  }
  written_ += n;
  return n;
}

}  // namespace sentinel::dataplane

// The control plane's side of alerts: AlertCatalog joins a worker's AlertRecord with what
// the rules say (message, category, severity, metadata), and AlertDrain moves records from
// every worker's AlertRing to eve.json. Control plane only: allocates, may throw where
// stated.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/alert_ring.hpp"
#include "dataplane/eve.hpp"
#include "rules/filter.hpp"
#include "rules/matcher.hpp"
#include "rules/policy.hpp"
#include "rules/rule.hpp"

namespace sentinel::dataplane {

// What EVE says about each (gid, sid) the dataplane can raise.
class AlertCatalog {
 public:
  // [control] The rules of `set` (may be null), the anomaly table, with a policy its
  // violation alerts (classtype policy-violation), and the filters (gid 3, no category);
  // categories from `classes`. Allocates.
  AlertCatalog(const rules::RuleSet* set, const rules::ClassificationTable& classes,
               const rules::Policy* policy = nullptr, std::span<const rules::Filter> filters = {});

  // [control] The meta of (gid, sid); an unknown pair gets a placeholder naming it.
  [[nodiscard]] const AlertMeta& meta(uint32_t gid, uint32_t sid) const;
  // [control] The meta of a record: a policy alert's signature names what was attempted.
  [[nodiscard]] AlertMeta meta_of(const AlertRecord& rec) const;

 private:
  std::unordered_map<uint64_t, AlertMeta> by_key_;
  AlertMeta unknown_;
};

// Drains worker rings into an EveWriter.
class AlertDrain {
 public:
  // The catalog of the generation that raised a record (AlertRecord::generation).
  using CatalogOf = std::function<const AlertCatalog&(uint32_t generation)>;

  AlertDrain(EveWriter& eve, CatalogOf catalog_of) : eve_(eve), catalog_of_(std::move(catalog_of)) {}

  // [control] Writes the records waiting in `rings`, at most a ring's capacity from each
  // (everything a ring held when the call began); returns how many.
  uint64_t drain(std::span<AlertRing* const> rings) noexcept;

  [[nodiscard]] uint64_t written() const noexcept { return written_; }

 private:
  EveWriter& eve_;
  CatalogOf catalog_of_;
  uint64_t written_ = 0;
};

}  // namespace sentinel::dataplane

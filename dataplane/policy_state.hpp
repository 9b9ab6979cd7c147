// What a worker keeps for the communication policy besides each flow's cached decision:
// learn mode's table of observations and the limiter of non-IP violation alerts. Both are
// bounded rte_hash tables built on the control plane; their [worker] members allocate
// nothing, take no lock and are called by the owning worker only.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/counters.hpp"
#include "rules/policy_learn.hpp"

struct rte_hash;

namespace sentinel::dataplane {

// One distinct (opening side, proto, source, destination, destination port) in learn mode.
struct LearnKey {
  std::array<uint8_t, 16> src;  // the opener
  std::array<uint8_t, 16> dst;
  uint16_t dst_port;            // TCP/UDP port or ICMP type; 0 otherwise
  uint8_t ip_proto;
  uint8_t v6;
  uint8_t from_vendor;
  std::array<uint8_t, 3> pad;   // zeroed: the hash reads every byte
};
static_assert(sizeof(LearnKey) == 40, "no implicit padding in the hashed key");

class LearnTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // [control] Throws SetupError. `name` must be unique in the process.
  LearnTable(uint32_t capacity, const std::string& name);
  ~LearnTable();
  LearnTable(const LearnTable&) = delete;
  LearnTable& operator=(const LearnTable&) = delete;

  // [worker] Counts one more flow for `key`, adding it if new. Returns its index, or kNone
  // when it is new and the table is full.
  uint32_t record(const LearnKey& key) noexcept;
  // [worker] Adds wire bytes to an index record() returned.
  void add_bytes(uint32_t index, uint64_t n) noexcept { entries_[index].bytes.add(n); }
  // [worker] Also lets non-IP `ethertype` across in the learned policy.
  void record_ethertype(uint16_t ethertype) noexcept;

  // [any] Appends the observations so far.
  void snapshot(std::vector<rules::LearnedFlow>& flows, std::vector<uint16_t>& ethertypes) const;
  [[nodiscard]] uint32_t size() const noexcept { return published_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    LearnKey key;
    Counter flows;
    Counter bytes;
  };
  rte_hash* hash_ = nullptr;
  std::unique_ptr<Entry[]> entries_;
  uint32_t capacity_ = 0;
  std::atomic<uint32_t> published_{0};
  std::array<std::atomic<uint64_t>, 65536 / 64> ethertypes_{};  // a bit per ethertype
};

// One alert per (source MAC, ethertype) per period, for non-IP frames that violate
// [policy.l2]. When every key is taken the table starts over (an extra alert, never a
// missed one).
class L2AlertLimiter {
 public:
  static constexpr uint32_t kKeys = 4096;

  // [control] Throws SetupError. `period` is in the worker's clock ticks.
  L2AlertLimiter(const std::string& name, uint64_t period);
  ~L2AlertLimiter();
  L2AlertLimiter(const L2AlertLimiter&) = delete;
  L2AlertLimiter& operator=(const L2AlertLimiter&) = delete;

  // [worker] True when this pair has not alerted within the period ending `now`.
  [[nodiscard]] bool should_alert(const uint8_t* src_mac, uint16_t ethertype, uint64_t now) noexcept;

 private:
  rte_hash* hash_ = nullptr;
  std::unique_ptr<uint64_t[]> last_;  // by key position: when it last alerted
  uint64_t period_ = 0;
};

}  // namespace sentinel::dataplane

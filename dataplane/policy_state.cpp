// Learn table and non-IP alert limiter (see policy_state.hpp).
#include "dataplane/policy_state.hpp"

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_random.h>

#include <cstring>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

uint32_t hash_crc(const void* key, uint32_t len, uint32_t init) { return rte_hash_crc(key, len, init); }

// One writer (the worker); extendable buckets so that exactly `entries` keys fit and key
// positions stay in [0, entries).
rte_hash* make_hash(const std::string& name, uint32_t entries, uint32_t key_len) {
  rte_hash_parameters params{};
  params.name = name.c_str();
  params.entries = entries;
  params.key_len = key_len;
  params.hash_func = hash_crc;
  params.hash_func_init_val = static_cast<uint32_t>(rte_rand());  // no aimed collisions
  params.socket_id = SOCKET_ID_ANY;
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  return check_ptr(rte_hash_create(&params), "rte_hash_create(" + name + ")");
}

}  // namespace

LearnTable::LearnTable(uint32_t capacity, const std::string& name)
    : hash_(make_hash(name, capacity, sizeof(LearnKey))), entries_(new Entry[capacity]), capacity_(capacity) {}

LearnTable::~LearnTable() { rte_hash_free(hash_); }

uint32_t LearnTable::record(const LearnKey& key) noexcept {
  const int32_t pos = rte_hash_lookup(hash_, &key);
  if (pos >= 0) {
    entries_[pos].flows.add(1);
    return static_cast<uint32_t>(pos);
  }
  const uint32_t n = published_.load(std::memory_order_relaxed);
  if (n == capacity_) return kNone;
  const int32_t added = rte_hash_add_key(hash_, &key);
  if (added < 0) return kNone;
  Entry& e = entries_[added];
  e.key = key;
  // A non-zero flow count publishes the key: snapshot() reads the count, then the key.
  std::atomic_thread_fence(std::memory_order_release);
  e.flows.add(1);
  published_.store(n + 1, std::memory_order_relaxed);
  return static_cast<uint32_t>(added);
}

void LearnTable::record_ethertype(uint16_t ethertype) noexcept {
  std::atomic<uint64_t>& word = ethertypes_[ethertype / 64];
  const uint64_t bit = uint64_t{1} << (ethertype % 64);
  if ((word.load(std::memory_order_relaxed) & bit) == 0) word.fetch_or(bit, std::memory_order_relaxed);
}

void LearnTable::snapshot(std::vector<rules::LearnedFlow>& flows, std::vector<uint16_t>& ethertypes) const {
  // Key positions are not dense: walk them all; a zero count is an unused position.
  for (uint32_t i = 0; i < capacity_; ++i) {
    const Entry& e = entries_[i];
    const uint64_t n = e.flows.get();
    if (n == 0) continue;
    std::atomic_thread_fence(std::memory_order_acquire);
    rules::LearnedFlow f;
    f.src = e.key.src;
    f.dst = e.key.dst;
    f.dst_port = e.key.dst_port;
    f.ip_proto = e.key.ip_proto;
    f.v6 = e.key.v6 != 0;
    f.from_vendor = e.key.from_vendor != 0;
    f.flows = n;
    f.bytes = e.bytes.get();
    flows.push_back(f);
  }
  for (size_t w = 0; w < ethertypes_.size(); ++w) {
    uint64_t bits = ethertypes_[w].load(std::memory_order_relaxed);
    while (bits != 0) {
      const int b = __builtin_ctzll(bits);
      ethertypes.push_back(static_cast<uint16_t>(w * 64 + static_cast<size_t>(b)));
      bits &= bits - 1;
    }
  }
}

L2AlertLimiter::L2AlertLimiter(const std::string& name, uint64_t period)
    : hash_(make_hash(name, kKeys, 8)), last_(new uint64_t[kKeys]()), period_(period) {}

L2AlertLimiter::~L2AlertLimiter() { rte_hash_free(hash_); }

bool L2AlertLimiter::should_alert(const uint8_t* src_mac, uint16_t ethertype, uint64_t now) noexcept {
  uint8_t key[8];
  std::memcpy(key, src_mac, 6);
  std::memcpy(key + 6, &ethertype, 2);
  int32_t pos = rte_hash_lookup(hash_, key);
  if (pos >= 0) {
    if (now - last_[pos] <= period_) return false;
    last_[pos] = now;
    return true;
  }
  pos = rte_hash_add_key(hash_, key);
  if (pos < 0) {  // every key taken: start over
    rte_hash_reset(hash_);
    pos = rte_hash_add_key(hash_, key);
  }
  if (pos >= 0) last_[pos] = now;
  return true;
}

}  // namespace sentinel::dataplane

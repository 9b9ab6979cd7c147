// Matcher: the non-template parts of the scan side — scratch allocation (control plane),
// opening a stream, and names for Hyperscan error codes and cache outcomes.
#include "rules/matcher.hpp"

#include <new>

namespace sentinel::rules {

const char* hs_error_name(hs_error_t code) noexcept {
  switch (code) {
    case HS_SUCCESS:
      return "HS_SUCCESS";
    case HS_INVALID:
      return "HS_INVALID";
    case HS_NOMEM:
      return "HS_NOMEM";
    case HS_SCAN_TERMINATED:
      return "HS_SCAN_TERMINATED";
    case HS_COMPILER_ERROR:
      return "HS_COMPILER_ERROR";
    case HS_DB_VERSION_ERROR:
      return "HS_DB_VERSION_ERROR";
    case HS_DB_PLATFORM_ERROR:
      return "HS_DB_PLATFORM_ERROR";
    case HS_DB_MODE_ERROR:
      return "HS_DB_MODE_ERROR";
    case HS_BAD_ALIGN:
      return "HS_BAD_ALIGN";
    case HS_BAD_ALLOC:
      return "HS_BAD_ALLOC";
    case HS_SCRATCH_IN_USE:
      return "HS_SCRATCH_IN_USE";
    case HS_ARCH_ERROR:
      return "HS_ARCH_ERROR";
    case HS_INSUFFICIENT_SPACE:
      return "HS_INSUFFICIENT_SPACE";
    case HS_UNKNOWN_ERROR:
      return "HS_UNKNOWN_ERROR";
    default:
      return "HS_?";
  }
}

const char* cache_outcome_name(CacheOutcome outcome) noexcept {
  switch (outcome) {
    case CacheOutcome::kNotUsed:
      return "not used";
    case CacheOutcome::kHit:
      return "hit";
    case CacheOutcome::kMiss:
      return "miss";
    case CacheOutcome::kRejected:
      return "rejected";
  }
  return "?";
}

HsStatus Scratch::allocate_for(const RuleSet& set) noexcept {
  for (const hs_database_t* db : {set.stream_db(), set.block_db()}) {
    if (db == nullptr) continue;
    // Hyperscan updates scratch_ in place: when it has to grow, it frees the old block
    // first, and on an allocation failure leaves nullptr (an empty Scratch) behind.
    const hs_error_t rc = hs_alloc_scratch(db, &scratch_);
    if (rc != HS_SUCCESS) return {rc, "hs_alloc_scratch"};
  }
  return {};
}

HsStatus Scratch::clone_into(Scratch& out) const noexcept {
  if (scratch_ == nullptr) {
    out = Scratch();
    return {};
  }
  hs_scratch_t* copy = nullptr;
  const hs_error_t rc = hs_clone_scratch(scratch_, &copy);
  if (rc != HS_SUCCESS) return {rc, "hs_clone_scratch"};
  out = Scratch();
  out.scratch_ = copy;
  return {};
}

size_t Scratch::size() const noexcept {
  if (scratch_ == nullptr) return 0;
  size_t bytes = 0;
  if (hs_scratch_size(scratch_, &bytes) != HS_SUCCESS) return 0;
  return bytes;
}

namespace detail {

HsStatus StreamAccess::open(const RuleSet& set, Stream& s, uint64_t* caller_items, uint32_t base) noexcept {
  s.discard();
  const hs_database_t* db = set.stream_db();
  if (db == nullptr) return {};
  const size_t words = set.stream_item_words();
  uint64_t* items = caller_items;
  bool owns = false;
  if (words > 0 && items == nullptr) {
    items = new (std::nothrow) uint64_t[words];
    if (items == nullptr) return {HS_NOMEM, "operator new (stream item bitmap)"};
    owns = true;
  }
  hs_stream_t* opened = nullptr;
  const hs_error_t rc = hs_open_stream(db, 0, &opened);
  if (rc != HS_SUCCESS) {
    if (owns) delete[] items;
    return {rc, "hs_open_stream"};
  }
  s.stream_ = opened;
  s.items_ = words > 0 ? items : nullptr;
  s.owns_items_ = owns;
  s.base_ = base;
  clear_items(set, s);
  return {};
}

}  // namespace detail

HsStatus open_stream(const RuleSet& set, Stream& stream) noexcept {
  return detail::StreamAccess::open(set, stream, nullptr, 0);
}

HsStatus open_stream(const RuleSet& set, Stream& stream, std::span<uint64_t> item_words, uint32_t base) noexcept {
  if (item_words.size() < set.stream_item_words()) return {HS_INVALID, "open_stream"};
  return detail::StreamAccess::open(set, stream, item_words.data(), base);
}

}  // namespace sentinel::rules

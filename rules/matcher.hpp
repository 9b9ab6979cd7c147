// Matcher: the scan side of the signature engine — what a worker links. A RuleSet is the
// immutable result of compiling rules (rules/compiler.hpp): up to two Hyperscan databases
// (STREAM for tcp/ip rules, BLOCK for udp/icmp/ip rules) and, indexed by the id Hyperscan
// reports, the constraints the match handler still has to check (proto, direction, nets,
// ports) and what an alert says. A Scratch is one worker's Hyperscan scratch for one
// RuleSet; a Stream is one flow direction's Hyperscan stream state (plus, for rules with
// several match items, which items have matched so far). The scan functions are
// noexcept, never allocate and never log; every hs_* failure comes back as an HsStatus
// naming the call. Nothing here includes toml++ or spdlog (CONVENTIONS #1): the compiler is
// a separate library that links this one, never the other way round.
#pragma once

#include <hs/hs.h>

#include <cassert>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/error.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {

// ---------------------------------------------------------------------------------------
// Errors

// The outcome of one hs_* call: HS_SUCCESS, or the code and the name of the call that
// returned it. HS_SCAN_TERMINATED means the match callback asked to stop (MatchControl::kStop).
struct HsStatus {
  hs_error_t code = HS_SUCCESS;
  const char* call = "";  // a string literal naming the hs_* function; "" on success

  [[nodiscard]] bool ok() const noexcept { return code == HS_SUCCESS; }
  [[nodiscard]] bool stopped() const noexcept { return code == HS_SCAN_TERMINATED; }
};

// [any] "HS_NOMEM", "HS_SCRATCH_IN_USE", …; a code this Hyperscan does not define: "HS_?".
[[nodiscard]] const char* hs_error_name(hs_error_t code) noexcept;

// ---------------------------------------------------------------------------------------
// RuleSet

// One rule as the match handler needs it: everything of the Rule except the match items,
// which live in the databases. [any] reads only; never changes after compile.
struct CompiledRule {
  uint32_t sid = 0;
  uint32_t gid = kGidSignatures;
  uint32_t rev = 1;
  Action action = Action::kAlert;
  Proto proto = Proto::kIp;
  Direction direction = Direction::kAny;
  uint8_t severity = 3;
  NetSet src_nets;
  NetSet dst_nets;
  std::vector<PortRange> src_ports;  // empty = any
  std::vector<PortRange> dst_ports;
  std::string msg;
  std::string classtype;
  std::map<std::string, std::vector<std::string>> metadata;
  config::SourcePos pos;  // the [[rule]] table, for reports
  uint32_t items = 0;     // number of match items; all must match
};

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const noexcept { (void)hs_free_database(db); }
};
using DatabasePtr = std::unique_ptr<hs_database_t, DatabaseDeleter>;

// How the compiled-database cache served one database.
enum class CacheOutcome : uint8_t {
  kNotUsed,   // no cache_dir, or no database of this mode
  kHit,       // loaded from the cache file, nothing compiled
  kMiss,      // no usable file: compiled (and stored, unless the write failed)
  kRejected,  // a file was there but failed its checks (checksum, size, key, hs version):
              // ignored, compiled, replaced
};
[[nodiscard]] const char* cache_outcome_name(CacheOutcome outcome) noexcept;

struct DatabaseReport {
  bool present = false;
  size_t expressions = 0;  // expressions handed to Hyperscan (items + combinations)
  size_t bytes = 0;        // hs_database_size
  double ms = 0;           // compile or cache load time
  CacheOutcome cache = CacheOutcome::kNotUsed;
};

struct CompileReport {
  DatabaseReport stream;
  DatabaseReport block;
  double total_ms = 0;
};

// A match item of a multi-item rule in the STREAM database: Hyperscan reports it on its
// own (id rule_count() + slot), and the matcher ANDs the items of a rule in the stream's
// item bitmap. Hyperscan's logical combinations would do that inside its stream state, but
// Hyperscan 5.4 evaluates them in stream mode only when a later match arrives or at
// hs_close_stream — too late to drop the packet that completed the rule. (BLOCK databases
// use combinations: hs_scan evaluates them before it returns.)
struct StreamItem {
  uint32_t rule;   // the rule's id
  uint32_t first;  // the rule's first slot; its items are slots [first, first + count)
  uint32_t count;
};

// The compiled, immutable rule set. Hyperscan reports ids in [0, rule_count()) for rules —
// the id is the index into the rules given to compile_rules — and, from the STREAM database
// only, rule_count() + slot for the items of multi-item rules (see StreamItem); sub-
// expressions of BLOCK combinations are quiet. Databases are freed with the RuleSet: the
// control plane keeps it alive (shared_ptr + RCU) while any worker scratch or stream still
// refers to it.
class RuleSet {
 public:
  // `stream_max_end`: by STREAM id, the end offset (depth) past which that expression may not
  // match, 0 = none; empty when no STREAM expression has a depth.
  RuleSet(std::vector<CompiledRule> rules, std::vector<StreamItem> stream_items,
          DatabasePtr stream_db, DatabasePtr block_db, size_t stream_state_size,
          CompileReport report, std::vector<uint64_t> stream_max_end = {})
      : rules_(std::move(rules)),
        stream_items_(std::move(stream_items)),
        stream_max_end_(std::move(stream_max_end)),
        stream_db_(std::move(stream_db)),
        block_db_(std::move(block_db)),
        stream_state_size_(stream_state_size),
        report_(report) {}

  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  // [any] Precondition: hs_id < rule_count() (the scan functions guarantee it).
  [[nodiscard]] const CompiledRule& rule(unsigned hs_id) const noexcept {
    assert(hs_id < rules_.size());
    return rules_[hs_id];
  }
  [[nodiscard]] size_t rule_count() const noexcept { return rules_.size(); }
  [[nodiscard]] const std::vector<CompiledRule>& rules() const noexcept { return rules_; }
  [[nodiscard]] const std::vector<StreamItem>& stream_items() const noexcept {
    return stream_items_;
  }
  // [any] The absolute stream end offset a STREAM match of `hs_id` may not pass (its depth
  // window); 0 = none. Hyperscan checks it against the stream's own start, which differs
  // from the flow's when a stream was reopened mid-flow (open_stream's `base`).
  [[nodiscard]] uint64_t stream_max_end(unsigned hs_id) const noexcept {
    return hs_id < stream_max_end_.size() ? stream_max_end_[hs_id] : 0;
  }

  // nullptr when no rule needs that mode.
  [[nodiscard]] const hs_database_t* stream_db() const noexcept { return stream_db_.get(); }
  [[nodiscard]] const hs_database_t* block_db() const noexcept { return block_db_.get(); }

  // Bytes of Hyperscan stream state per open stream (hs_stream_size); 0 without stream db.
  [[nodiscard]] size_t stream_state_size() const noexcept { return stream_state_size_; }
  // 64-bit words of item bitmap per open stream; 0 when no tcp/ip rule has several items.
  // Memory per flow direction = stream_state_size() + 8 * stream_item_words().
  [[nodiscard]] size_t stream_item_words() const noexcept {
    return (stream_items_.size() + 63) / 64;
  }
  // Expressions handed to Hyperscan, both databases together.
  [[nodiscard]] size_t expression_count() const noexcept {
    return report_.stream.expressions + report_.block.expressions;
  }
  [[nodiscard]] const CompileReport& report() const noexcept { return report_; }

 private:
  std::vector<CompiledRule> rules_;
  std::vector<StreamItem> stream_items_;
  std::vector<uint64_t> stream_max_end_;
  DatabasePtr stream_db_;
  DatabasePtr block_db_;
  size_t stream_state_size_ = 0;
  CompileReport report_;
};

// ---------------------------------------------------------------------------------------
// Scratch

// One worker's Hyperscan scratch for one RuleSet (both of its databases). Allocated by the
// control plane; used by exactly one thread at a time (a second concurrent user gets
// HS_SCRATCH_IN_USE back). Move-only; frees on destruction.
class Scratch {
 public:
  Scratch() noexcept = default;
  ~Scratch() { (void)hs_free_scratch(scratch_); }
  Scratch(Scratch&& other) noexcept : scratch_(std::exchange(other.scratch_, nullptr)) {}
  Scratch& operator=(Scratch&& other) noexcept {
    if (this != &other) {
      (void)hs_free_scratch(scratch_);
      scratch_ = std::exchange(other.scratch_, nullptr);
    }
    return *this;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // [control] Makes this scratch fit every database of `set` (grows an existing one, so it
  // stays valid for the databases it already fitted). Allocates; must not run while a
  // worker scans with this scratch.
  [[nodiscard]] HsStatus allocate_for(const RuleSet& set) noexcept;
  // [control] A second scratch fitting the same databases (one per extra worker). Allocates.
  [[nodiscard]] HsStatus clone_into(Scratch& out) const noexcept;
  // [any] Bytes held (hs_scratch_size); 0 when empty.
  [[nodiscard]] size_t size() const noexcept;

  [[nodiscard]] bool empty() const noexcept { return scratch_ == nullptr; }
  [[nodiscard]] hs_scratch_t* get() const noexcept { return scratch_; }

 private:
  hs_scratch_t* scratch_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// Stream

namespace detail {
struct StreamAccess;
}

// One flow direction's scan state: a Hyperscan stream, tied to the stream database of the
// RuleSet that opened it, and the item bitmap (RuleSet::stream_item_words()). Scan, reset
// and close it with that same RuleSet (a flow keeps its RuleSet until the stream closes;
// ARCHITECTURE.md, reload). Move-only, 24 bytes, so a flow entry can hold it. Destroying an
// open Stream closes it without reporting end-of-stream matches; call close_stream() to get
// them.
//
// Memory. The Hyperscan part comes from hs_open_stream, i.e. Hyperscan's stream allocator;
// the item bitmap from operator new, or from the caller (open_stream's `item_words`). For
// the hot path the flow table has two allocation-free routes, both fitting this API:
//  - a per-worker preallocated pool installed with hs_set_stream_allocator (process-wide:
//    route it to the calling worker's pool through a thread_local pointer; blocks of
//    stream_state_size() bytes for a given RuleSet), and item bitmaps from the flow entry;
//  - or Streams opened ahead at reload (control plane) and recycled with reset_stream()
//    when a flow ends, instead of close_stream().
class Stream {
 public:
  Stream() noexcept = default;
  ~Stream() { discard(); }
  Stream(Stream&& other) noexcept
      : stream_(std::exchange(other.stream_, nullptr)),
        items_(std::exchange(other.items_, nullptr)),
        owns_items_(std::exchange(other.owns_items_, false)),
        base_(std::exchange(other.base_, 0)) {}
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      discard();
      stream_ = std::exchange(other.stream_, nullptr);
      items_ = std::exchange(other.items_, nullptr);
      owns_items_ = std::exchange(other.owns_items_, false);
      base_ = std::exchange(other.base_, 0);
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  [[nodiscard]] bool is_open() const noexcept { return stream_ != nullptr; }
  [[nodiscard]] hs_stream_t* get() const noexcept { return stream_; }
  // Flow bytes before this stream's first byte: 0, or where it was reopened (a reload).
  [[nodiscard]] uint32_t base() const noexcept { return base_; }

 private:
  friend struct detail::StreamAccess;

  void discard() noexcept {
    (void)hs_close_stream(stream_, nullptr, nullptr, nullptr);
    stream_ = nullptr;
    if (owns_items_) delete[] items_;
    items_ = nullptr;
    owns_items_ = false;
    base_ = 0;
  }

  hs_stream_t* stream_ = nullptr;
  uint64_t* items_ = nullptr;  // which items of multi-item rules have matched
  bool owns_items_ = false;
  uint32_t base_ = 0;
};
static_assert(sizeof(Stream) <= 24, "a Stream lives in every flow entry, twice");

// ---------------------------------------------------------------------------------------
// Scanning

// What a match callback may return (returning void means kContinue). kStop ends the scan
// with HS_SCAN_TERMINATED; on a stream every later scan_stream also returns it at once, so
// stop only when the flow direction needs no more inspection (e.g. it is being dropped).
enum class MatchControl : uint8_t { kContinue, kStop };

// The callback's shape: on_match(const CompiledRule& rule, uint64_t end) noexcept, where
// `end` is the offset just past the last byte of the match, counted from the start of the
// block or of the stream. It runs inside Hyperscan on the scanning thread: it must not
// throw (it is noexcept, checked at compile time), allocate or block. Each rule is reported
// at most once per block or per stream (HS_FLAG_SINGLEMATCH).
template <class OnMatch>
concept MatchCallback = std::is_nothrow_invocable_v<OnMatch&, const CompiledRule&, uint64_t> &&
    (std::is_void_v<std::invoke_result_t<OnMatch&, const CompiledRule&, uint64_t>> ||
     std::is_same_v<std::invoke_result_t<OnMatch&, const CompiledRule&, uint64_t>, MatchControl>);

namespace detail {

template <class OnMatch>
struct MatchContext {
  const RuleSet* set;
  OnMatch* on_match;
  uint64_t* items;  // the stream's item bitmap; nullptr for block scans
  uint64_t base;    // a reopened stream's offset in its flow; 0 for block scans
};

// Sets `slot` and tells whether every item of its rule has now matched.
inline bool item_completes_rule(uint64_t* items, uint32_t slot, const StreamItem& item) noexcept {
  items[slot / 64] |= uint64_t{1} << (slot % 64);
  for (uint32_t i = item.first; i < item.first + item.count; ++i) {
    if (((items[i / 64] >> (i % 64)) & 1U) == 0) return false;
  }
  return true;
}

template <class OnMatch>
int on_hs_match(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                unsigned int /*flags*/, void* context) noexcept {
  auto* ctx = static_cast<MatchContext<OnMatch>*>(context);
  const RuleSet& set = *ctx->set;
  if (ctx->base != 0) {  // rule offsets count from the flow's start, not the stream's
    const uint64_t max_end = set.stream_max_end(id);
    if (max_end != 0 && ctx->base + to > max_end) return 0;
    to += ctx->base;
  }
  if (id >= set.rule_count()) {
    // An item of a multi-item rule (STREAM database; items are SINGLEMATCH, so each slot is
    // set once and the rule is reported once, by the item that completes it).
    const size_t slot = id - set.rule_count();
    if (ctx->items == nullptr || slot >= set.stream_items().size()) return 0;
    const StreamItem& item = set.stream_items()[slot];
    if (!item_completes_rule(ctx->items, static_cast<uint32_t>(slot), item)) return 0;
    id = item.rule;
  }
  const CompiledRule& rule = set.rule(id);
  if constexpr (std::is_void_v<std::invoke_result_t<OnMatch&, const CompiledRule&, uint64_t>>) {
    (*ctx->on_match)(rule, static_cast<uint64_t>(to));
    return 0;
  } else {
    return (*ctx->on_match)(rule, static_cast<uint64_t>(to)) == MatchControl::kStop ? 1 : 0;
  }
}

// The scan-side operations on a Stream's private parts.
struct StreamAccess {
  static uint64_t* items(Stream& s) noexcept { return s.items_; }
  // After hs_close_stream(s.get(), …) returned `rc`: Hyperscan freed the stream on
  // HS_SUCCESS and HS_UNKNOWN_ERROR, not when it refused the call (HS_INVALID,
  // HS_SCRATCH_IN_USE): then free it without reporting. Either way `s` ends closed.
  static void closed(Stream& s, hs_error_t rc) noexcept {
    if (rc == HS_SUCCESS || rc == HS_UNKNOWN_ERROR) s.stream_ = nullptr;
    s.discard();
  }
  static void clear_items(const RuleSet& set, Stream& s) noexcept {
    if (s.items_ != nullptr) {
      std::memset(s.items_, 0, set.stream_item_words() * sizeof(uint64_t));
    }
  }
  static HsStatus open(const RuleSet& set, Stream& s, uint64_t* caller_items, uint32_t base) noexcept;
};

}  // namespace detail

// [worker] Scans one packet payload against the BLOCK database. No database (no udp/icmp/ip
// rule) or an empty payload (`data` may then be nullptr) → HS_SUCCESS without scanning.
// Lengths above UINT_MAX → HS_INVALID.
template <class OnMatch>
requires MatchCallback<OnMatch>
[[nodiscard]] HsStatus scan_block(const RuleSet& set, Scratch& scratch, const uint8_t* data,
                                  size_t len, OnMatch&& on_match) noexcept {
  const hs_database_t* db = set.block_db();
  if (db == nullptr || len == 0) return {};  // no expression matches an empty payload
  if (len > UINT_MAX) return {HS_INVALID, "hs_scan"};
  using F = std::remove_reference_t<OnMatch>;
  detail::MatchContext<F> ctx{&set, &on_match, nullptr, 0};
  const hs_error_t rc =
      hs_scan(db, reinterpret_cast<const char*>(data), static_cast<unsigned int>(len), 0,
              scratch.get(), &detail::on_hs_match<F>, &ctx);
  if (rc == HS_SUCCESS) return {};
  return {rc, "hs_scan"};
}

// [any] Opens `stream` on the STREAM database of `set` (closing, silently, what it held):
// hs_open_stream (Hyperscan's stream allocator; see Stream) and an item bitmap from
// operator new (HS_NOMEM if that fails). No stream database (no tcp/ip rule) → HS_SUCCESS
// and `stream` stays closed; scanning a closed Stream is a no-op.
[[nodiscard]] HsStatus open_stream(const RuleSet& set, Stream& stream) noexcept;
// [any] The same with the item bitmap in caller memory: at least set.stream_item_words()
// words (else HS_INVALID), zeroed here, outliving the stream. `base`: the flow direction's
// bytes already seen before this stream starts (a stream reopened on a reloaded RuleSet),
// so that depth windows and reported offsets stay counted from the flow's start. Hyperscan
// itself still counts offset windows from the stream's start: a match that an `offset`
// would allow only within the first offset + length bytes after the reopen is missed.
[[nodiscard]] HsStatus open_stream(const RuleSet& set, Stream& stream,
                                   std::span<uint64_t> item_words, uint32_t base = 0) noexcept;

// [worker] Feeds the next in-order bytes of the flow direction. Matches are reported during
// the write that completes them, with `end` counted from the start of the stream.
template <class OnMatch>
requires MatchCallback<OnMatch>
[[nodiscard]] HsStatus scan_stream(const RuleSet& set, Stream& stream, Scratch& scratch,
                                   const uint8_t* data, size_t len, OnMatch&& on_match) noexcept {
  if (!stream.is_open() || len == 0) return {};
  if (len > UINT_MAX) return {HS_INVALID, "hs_scan_stream"};
  using F = std::remove_reference_t<OnMatch>;
  detail::MatchContext<F> ctx{&set, &on_match, detail::StreamAccess::items(stream), stream.base()};
  const hs_error_t rc = hs_scan_stream(stream.get(), reinterpret_cast<const char*>(data),
                                       static_cast<unsigned int>(len), 0, scratch.get(),
                                       &detail::on_hs_match<F>, &ctx);
  if (rc == HS_SUCCESS) return {};
  return {rc, "hs_scan_stream"};
}

// [worker] Ends the flow direction: reports end-of-stream matches (patterns anchored with
// `$` or ending in `\b`), then frees the state. `stream` is closed afterwards even on
// error. A MatchControl::kStop here only suppresses further end-of-stream reports
// (hs_close_stream still returns HS_SUCCESS).
template <class OnMatch>
requires MatchCallback<OnMatch>
[[nodiscard]] HsStatus close_stream(const RuleSet& set, Stream& stream, Scratch& scratch,
                                    OnMatch&& on_match) noexcept {
  if (!stream.is_open()) return {};
  using F = std::remove_reference_t<OnMatch>;
  detail::MatchContext<F> ctx{&set, &on_match, detail::StreamAccess::items(stream), stream.base()};
  const hs_error_t rc = hs_close_stream(stream.get(), scratch.get(), &detail::on_hs_match<F>, &ctx);
  detail::StreamAccess::closed(stream, rc);
  if (rc == HS_SUCCESS) return {};
  return {rc, "hs_close_stream"};
}

// [worker] Like close_stream, but keeps the memory: afterwards `stream` is a fresh stream
// on the same database, ready for the next flow (pool recycling; no allocation). On error
// the stream is left as it was.
template <class OnMatch>
requires MatchCallback<OnMatch>
[[nodiscard]] HsStatus reset_stream(const RuleSet& set, Stream& stream, Scratch& scratch,
                                    OnMatch&& on_match) noexcept {
  if (!stream.is_open()) return {};
  using F = std::remove_reference_t<OnMatch>;
  detail::MatchContext<F> ctx{&set, &on_match, detail::StreamAccess::items(stream), stream.base()};
  const hs_error_t rc =
      hs_reset_stream(stream.get(), 0, scratch.get(), &detail::on_hs_match<F>, &ctx);
  if (rc != HS_SUCCESS) return {rc, "hs_reset_stream"};
  detail::StreamAccess::clear_items(set, stream);
  return {};
}

}  // namespace sentinel::rules

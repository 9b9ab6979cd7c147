// Compiler: Rules → Hyperscan expressions → databases (or the on-disk cache) → RuleSet.
// See compiler.hpp for the mapping of match items to expressions and for the cache.
#include "rules/compiler.hpp"

#include <hs/hs.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "sentinel_build_config.h"

namespace sentinel::rules {
namespace {

namespace fs = std::filesystem;
using config::LoadError;
using Clock = std::chrono::steady_clock;

enum class Mode : uint8_t { kStream, kBlock };

const char* mode_name(Mode mode) { return mode == Mode::kStream ? "stream" : "block"; }

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------
// hs_* wrappers (CONVENTIONS #3): every call that can fail comes back as an HsStatus naming
// it; throw_if_failed turns one into the control plane's error.

[[nodiscard]] HsStatus hs_status(hs_error_t rc, const char* call) {
  if (rc == HS_SUCCESS) return {};
  return {rc, call};
}

void throw_if_failed(HsStatus status) {
  if (status.ok()) return;
  throw LoadError({}, std::string(status.call) + " failed: " + hs_error_name(status.code));
}

struct CompileErrorDeleter {
  void operator()(hs_compile_error_t* error) const { (void)hs_free_compile_error(error); }
};
using CompileErrorPtr = std::unique_ptr<hs_compile_error_t, CompileErrorDeleter>;

// Memory handed out by Hyperscan's misc allocator (malloc unless hs_set_misc_allocator).
struct MiscFree {
  void operator()(void* p) const { std::free(p); }
};

// The minimum width of a match of `expression`, or the compile error Hyperscan gives for it.
struct WidthOrError {
  unsigned min_width = 0;
  std::string error;  // empty on success
};

[[nodiscard]] WidthOrError expression_min_width(const std::string& expression, unsigned flags) {
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* raw_error = nullptr;
  const hs_error_t rc = hs_expression_info(expression.c_str(), flags, &info, &raw_error);
  std::unique_ptr<hs_expr_info_t, MiscFree> info_owner(info);
  CompileErrorPtr error(raw_error);
  if (rc == HS_SUCCESS && info != nullptr) return {info->min_width, {}};
  if (error && error->message != nullptr) return {0, error->message};
  return {0, std::string("hs_expression_info failed: ") + hs_error_name(rc)};
}

[[nodiscard]] std::optional<hs_platform_info_t> host_platform() {
  hs_platform_info_t platform{};
  if (!hs_status(hs_populate_platform(&platform), "hs_populate_platform").ok()) {
    return std::nullopt;
  }
  return platform;
}

// ---------------------------------------------------------------------------------------
// Rules → expressions

// One expression handed to Hyperscan, and where it came from (for error messages).
struct Expression {
  std::string text;
  unsigned flags = 0;
  unsigned id = 0;
  hs_expr_ext_t ext{};  // ext.flags == 0: no extended parameters
  size_t rule = 0;      // index into the rules
  int item = -1;        // index into the rule's match items; -1 = the combination
};

// A pattern as an operator would recognise it in a message: printable ASCII as is, other
// bytes as Snort's |HH HH|, cut at 80 characters.
std::string display_pattern(const MatchItem& item) {
  constexpr size_t kMax = 80;
  std::string out;
  if (item.kind == MatchItem::Kind::kPcre) {
    out = item.pattern.substr(0, kMax);
    if (item.pattern.size() > kMax) out += "...";
    return "pcre '" + out + "'";
  }
  bool in_hex = false;
  for (const char ch : item.pattern) {
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(ch);
    const bool printable = byte >= 0x20 && byte < 0x7f && byte != '|';
    if (printable == in_hex) {
      if (in_hex) out.pop_back();  // the space after the last hex byte
      out += '|';
      in_hex = !in_hex;
    }
    if (printable) {
      out += ch;
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%02X ", byte);
      out += hex;
    }
  }
  if (in_hex) {
    out.pop_back();
    out += '|';
  }
  return "content \"" + out + "\"";
}

// Literal bytes as a Hyperscan regex: [A-Za-z0-9] as themselves (so HS_FLAG_CASELESS reads
// naturally), everything else as \x{HH}, which no following character can extend.
std::string literal_regex(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size() * 3);
  for (const char ch : bytes) {
    const auto byte = static_cast<unsigned char>(ch);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9')) {
      out += ch;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x{%02x}", byte);
      out += hex;
    }
  }
  return out;
}

// The expression of one match item (without its id and reporting flags).
Expression item_expression(const Rule& rule, size_t rule_index, size_t item_index) {
  const MatchItem& item = rule.match[item_index];
  Expression expr;
  expr.rule = rule_index;
  expr.item = static_cast<int>(item_index);
  if (item.nocase) expr.flags |= HS_FLAG_CASELESS;

  const uint64_t offset = item.offset.value_or(0);
  if (item.depth && *item.depth == 0) {
    throw LoadError(item.pos,
                    "depth must be at least 1 (it is the length of the window "
                    "starting at offset that the match must lie in)");
  }

  if (item.kind == MatchItem::Kind::kContent) {
    if (item.pattern.empty()) throw LoadError(item.pos, "empty content");
    const uint64_t len = item.pattern.size();
    if (item.depth && *item.depth < len) {
      throw LoadError(item.pos, "depth " + std::to_string(*item.depth) +
                                    " is shorter than the content (" + std::to_string(len) +
                                    " bytes): it can never match");
    }
    expr.text = literal_regex(item.pattern);
    if (offset > 0) {
      expr.ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
      expr.ext.min_offset = offset + len;
    }
  } else {
    if (item.pattern.empty()) throw LoadError(item.pos, "empty pcre");
    if (item.pattern.find('\0') != std::string::npos) {
      throw LoadError(item.pos, "pcre contains a NUL byte; write it as \\x00");
    }
    expr.text = item.pattern;
    if (offset > 0) {
      const WidthOrError width = expression_min_width(expr.text, expr.flags);
      if (!width.error.empty()) {
        throw LoadError(item.pos, display_pattern(item) + " rejected by Hyperscan: " + width.error);
      }
      expr.ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
      expr.ext.min_offset = offset + width.min_width;
    }
  }
  if (item.depth) {
    expr.ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
    expr.ext.max_offset = offset + *item.depth;
  }
  return expr;
}

bool in_stream_db(Proto proto) { return proto == Proto::kTcp || proto == Proto::kIp; }
bool in_block_db(Proto proto) { return proto != Proto::kTcp; }

// Rules → the expressions of each database, and the item slots of the STREAM database.
struct Expressions {
  std::vector<Expression> stream;
  std::vector<Expression> block;
  std::vector<StreamItem> stream_items;
};

// A single-item rule: one expression reporting the rule (both databases). A multi-item rule:
// in STREAM, one SINGLEMATCH expression per item reporting rule_count + slot (the matcher
// ANDs them; see StreamItem for why not a combination); in BLOCK, HS_FLAG_QUIET sub-
// expressions and a HS_FLAG_COMBINATION "a & b & …" reporting the rule, SINGLEMATCH on the
// combination only (PLATFORM.md).
Expressions rule_expressions(const std::vector<Rule>& rules) {
  const uint64_t rule_count = rules.size();
  uint64_t stream_slots = 0;
  for (const Rule& rule : rules) {
    if (rule.match.size() > 1 && in_stream_db(rule.proto)) stream_slots += rule.match.size();
  }
  uint64_t next_block_sub = rule_count + stream_slots;  // after every stream item id
  Expressions out;
  out.stream_items.reserve(stream_slots);
  for (size_t r = 0; r < rules.size(); ++r) {
    const Rule& rule = rules[r];
    if (rule.match.empty()) {
      throw LoadError(rule.pos,
                      "rule " + std::to_string(rule.sid) + " has no match items (content or pcre)");
    }
    const auto rule_id = static_cast<unsigned>(r);
    if (rule.match.size() == 1) {
      Expression expr = item_expression(rule, r, 0);
      expr.id = rule_id;
      expr.flags |= HS_FLAG_SINGLEMATCH;
      if (in_stream_db(rule.proto)) out.stream.push_back(expr);
      if (in_block_db(rule.proto)) out.block.push_back(std::move(expr));
      continue;
    }
    const auto count = static_cast<uint32_t>(rule.match.size());
    const auto first = static_cast<uint32_t>(out.stream_items.size());
    Expression combination;
    combination.rule = r;
    combination.item = -1;
    combination.id = rule_id;
    combination.flags = HS_FLAG_COMBINATION | HS_FLAG_SINGLEMATCH;
    for (size_t i = 0; i < rule.match.size(); ++i) {
      const Expression item = item_expression(rule, r, i);
      if (in_stream_db(rule.proto)) {
        Expression expr = item;
        expr.id = static_cast<unsigned>(rule_count + out.stream_items.size());
        expr.flags |= HS_FLAG_SINGLEMATCH;
        out.stream.push_back(std::move(expr));
        out.stream_items.push_back({rule_id, first, count});
      }
      if (in_block_db(rule.proto)) {
        if (next_block_sub >= UINT_MAX) throw LoadError({}, "too many match items in total");
        Expression expr = item;
        expr.id = static_cast<unsigned>(next_block_sub++);
        expr.flags |= HS_FLAG_QUIET;
        if (!combination.text.empty()) combination.text += " & ";
        combination.text += std::to_string(expr.id);
        out.block.push_back(std::move(expr));
      }
    }
    if (in_block_db(rule.proto)) out.block.push_back(std::move(combination));
  }
  return out;
}

CompiledRule compiled_rule(const Rule& rule) {
  CompiledRule out;
  out.sid = rule.sid;
  out.gid = rule.gid;
  out.rev = rule.rev;
  out.action = rule.action;
  out.proto = rule.proto;
  out.direction = rule.direction;
  out.severity = rule.severity;
  out.src_nets = rule.src_nets;
  out.dst_nets = rule.dst_nets;
  out.src_ports = rule.src_ports;
  out.dst_ports = rule.dst_ports;
  out.msg = rule.msg;
  out.classtype = rule.classtype;
  out.metadata = rule.metadata;
  out.pos = rule.pos;
  out.items = static_cast<uint32_t>(rule.match.size());
  return out;
}

// ---------------------------------------------------------------------------------------
// Hyperscan compile

DatabasePtr compile_database(Mode mode, const std::vector<Expression>& exprs,
                             const std::vector<Rule>& rules) {
  std::vector<const char*> texts;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  std::vector<const hs_expr_ext_t*> exts;
  texts.reserve(exprs.size());
  flags.reserve(exprs.size());
  ids.reserve(exprs.size());
  exts.reserve(exprs.size());
  for (const Expression& e : exprs) {
    texts.push_back(e.text.c_str());
    flags.push_back(e.flags);
    ids.push_back(e.id);
    exts.push_back(e.ext.flags != 0 ? &e.ext : nullptr);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* raw_error = nullptr;
  const hs_error_t rc = hs_compile_ext_multi(
      texts.data(), flags.data(), ids.data(), exts.data(), static_cast<unsigned>(exprs.size()),
      mode == Mode::kStream ? HS_MODE_STREAM : HS_MODE_BLOCK, nullptr, &db, &raw_error);
  DatabasePtr owned(db);
  CompileErrorPtr error(raw_error);
  if (rc == HS_SUCCESS && owned) return owned;

  const std::string message =
      error && error->message != nullptr
          ? std::string(error->message)
          : std::string("hs_compile_ext_multi failed: ") + hs_error_name(rc);
  const int index = error ? error->expression : -1;
  if (index >= 0 && static_cast<size_t>(index) < exprs.size()) {
    const Expression& e = exprs[static_cast<size_t>(index)];
    const Rule& rule = rules[e.rule];
    if (e.item >= 0) {
      const MatchItem& item = rule.match[static_cast<size_t>(e.item)];
      throw LoadError(item.pos, display_pattern(item) + " rejected by Hyperscan: " + message);
    }
    throw LoadError(rule.pos, "the combination of the rule's " + std::to_string(rule.match.size()) +
                                  " match items rejected by Hyperscan: " + message);
  }
  // An error of the database as a whole (e.g. "Have unordered match in sub-expressions"
  // for a combination): find the first rule whose expressions fail on their own.
  for (size_t r = 0; r < rules.size(); ++r) {
    std::vector<Expression> own;
    for (const Expression& e : exprs) {
      if (e.rule == r) own.push_back(e);
    }
    if (own.empty() || own.size() == exprs.size()) continue;
    try {
      (void)compile_database(mode, own, rules);
    } catch (const LoadError& e) {
      if (e.pos().file.empty()) {
        throw LoadError(rules[r].pos, std::string("the rule's match items rejected by Hyperscan (") +
                                          mode_name(mode) + " database): " + e.message());
      }
      throw;
    }
  }
  throw LoadError({}, std::string("Hyperscan cannot build the ") + mode_name(mode) + " database (" +
                          std::to_string(exprs.size()) + " expressions): " + message);
}

// ---------------------------------------------------------------------------------------
// Cache

constexpr char kCacheMagic[8] = {'S', 'N', 'T', 'L', 'H', 'S', 'D', 'B'};
constexpr uint32_t kCacheFormat = 1;
constexpr size_t kCacheKeepPerMode = 4;         // newest files kept per mode
constexpr uint64_t kCacheMaxFile = 1ULL << 31;  // larger files are not ours

struct CacheHeader {
  char magic[8];
  uint32_t format;
  uint32_t reserved;
  uint64_t key_len;
  uint64_t db_len;
  uint64_t checksum;  // FNV-1a 64 over key then database bytes
};
static_assert(sizeof(CacheHeader) == 40);

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

uint64_t fnv1a(std::string_view bytes, uint64_t hash = kFnvBasis) {
  for (const char ch : bytes) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Everything a serialized database depends on, spelled out.
std::string cache_key(Mode mode, const std::vector<Expression>& exprs,
                      const hs_platform_info_t& platform) {
  std::string key;
  key += "sentinel-hs-cache " + std::to_string(kCacheFormat) + "\n";
  key += std::string("sentinel ") + SENTINEL_VERSION + "\n";
  key += std::string("hyperscan ") + hs_version() + "\n";
  key += "platform tune=" + std::to_string(platform.tune) +
         " cpu=" + std::to_string(platform.cpu_features) +
         " r1=" + std::to_string(platform.reserved1) + " r2=" + std::to_string(platform.reserved2) +
         "\n";
  key += std::string("mode ") + mode_name(mode) + "\n";
  key += "expressions " + std::to_string(exprs.size()) + "\n";
  for (const Expression& e : exprs) {
    key += std::to_string(e.id) + ' ' + std::to_string(e.flags) + ' ' +
           std::to_string(e.ext.flags) + ' ' + std::to_string(e.ext.min_offset) + ' ' +
           std::to_string(e.ext.max_offset) + ' ' + std::to_string(e.ext.min_length) + ' ' +
           std::to_string(e.ext.edit_distance) + ' ' + std::to_string(e.ext.hamming_distance) +
           ' ' + std::to_string(e.text.size()) + ':' + e.text + '\n';
  }
  return key;
}

std::string cache_file_name(Mode mode, const std::string& key) {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016" PRIx64, fnv1a(key));
  return std::string(mode_name(mode)) + "-" + hash + ".hsdb";
}

struct CacheLoad {
  DatabasePtr db;
  CacheOutcome outcome = CacheOutcome::kMiss;
};

CacheLoad cache_load(const fs::path& file, const std::string& key) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  auto reject = [&](const std::string& why) {
    spdlog::warn("rules: ignoring compiled-rules cache file {}: {}; recompiling", file.string(),
                 why);
    return CacheLoad{nullptr, CacheOutcome::kRejected};
  };
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) return reject("cannot stat: " + ec.message());
  if (size < sizeof(CacheHeader)) return reject("truncated (" + std::to_string(size) + " bytes)");
  if (size > kCacheMaxFile) return reject("too large");

  std::ifstream in(file, std::ios::binary);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) return reject("cannot read");

  CacheHeader header;
  std::memcpy(&header, bytes.data(), sizeof header);
  if (std::memcmp(header.magic, kCacheMagic, sizeof kCacheMagic) != 0) {
    return reject("not a cache file");
  }
  if (header.format != kCacheFormat) return reject("format " + std::to_string(header.format));
  const uint64_t body = size - sizeof(CacheHeader);
  if (header.key_len > body || header.db_len != body - header.key_len) {
    return reject("truncated or padded (lengths do not add up)");
  }
  const std::string_view key_bytes(bytes.data() + sizeof header, header.key_len);
  const std::string_view db_bytes(key_bytes.data() + key_bytes.size(), header.db_len);
  if (fnv1a(db_bytes, fnv1a(key_bytes)) != header.checksum) return reject("checksum mismatch");
  if (key_bytes != key) return reject("built for other rules or another Hyperscan/CPU");

  hs_database_t* db = nullptr;
  const HsStatus status = hs_status(hs_deserialize_database(db_bytes.data(), db_bytes.size(), &db),
                                    "hs_deserialize_database");
  DatabasePtr owned(db);
  if (!status.ok()) return reject(std::string(status.call) + ": " + hs_error_name(status.code));
  return {std::move(owned), CacheOutcome::kHit};
}

// Keeps `written` and the newest kCacheKeepPerMode - 1 other files of this mode; each rule
// update adds one. (File times can tie at the clock's granularity: `written` is never
// a candidate.)
void cache_prune(const fs::path& dir, const fs::path& written, Mode mode) {
  std::error_code ec;
  const std::string prefix = std::string(mode_name(mode)) + "-";
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(".hsdb") &&
        it->path().filename() != written.filename()) {
      std::error_code time_ec;
      const auto time = fs::last_write_time(it->path(), time_ec);
      if (!time_ec) files.emplace_back(time, it->path());
    }
  }
  if (files.size() < kCacheKeepPerMode) return;
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = kCacheKeepPerMode - 1; i < files.size(); ++i) fs::remove(files[i].second, ec);
}

void cache_store(const fs::path& dir, const fs::path& file, const std::string& key,
                 const hs_database_t* db, Mode mode) {
  char* raw = nullptr;
  size_t len = 0;
  const HsStatus status = hs_status(hs_serialize_database(db, &raw, &len), "hs_serialize_database");
  std::unique_ptr<char, MiscFree> bytes(raw);
  if (!status.ok()) {
    spdlog::warn("rules: not caching the {} database: {}: {}", mode_name(mode), status.call,
                 hs_error_name(status.code));
    return;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    spdlog::warn("rules: cannot create the compiled-rules cache directory {}: {}", dir.string(),
                 ec.message());
    return;
  }
  const std::string_view db_bytes(bytes.get(), len);
  CacheHeader header{};
  std::memcpy(header.magic, kCacheMagic, sizeof kCacheMagic);
  header.format = kCacheFormat;
  header.key_len = key.size();
  header.db_len = len;
  header.checksum = fnv1a(db_bytes, fnv1a(key));

  // Write aside and rename: readers (another sentinel, a crash mid-write) never see a torn
  // file under the final name.
  fs::path tmp = file;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&header), sizeof header);
    out.write(key.data(), static_cast<std::streamsize>(key.size()));
    out.write(db_bytes.data(), static_cast<std::streamsize>(db_bytes.size()));
    out.flush();
    if (!out) {
      spdlog::warn("rules: cannot write the compiled-rules cache file {}", tmp.string());
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    spdlog::warn("rules: cannot write the compiled-rules cache file {}: {}", file.string(),
                 ec.message());
    fs::remove(tmp, ec);
    return;
  }
  cache_prune(dir, file, mode);
}

// One database: from the cache when a valid file is there, else compiled (and cached).
DatabasePtr build_database(Mode mode, const std::vector<Expression>& exprs,
                           const std::vector<Rule>& rules, const CompileOptions& options,
                           DatabaseReport& report) {
  const Clock::time_point start = Clock::now();
  report.present = true;
  report.expressions = exprs.size();

  std::optional<hs_platform_info_t> platform;
  if (!options.cache_dir.empty()) {
    platform = host_platform();
    if (!platform) spdlog::warn("rules: hs_populate_platform failed; not using the cache");
  }
  const fs::path dir(options.cache_dir);
  std::string key;
  fs::path file;
  DatabasePtr db;
  if (platform) {
    key = cache_key(mode, exprs, *platform);
    file = dir / cache_file_name(mode, key);
    CacheLoad loaded = cache_load(file, key);
    report.cache = loaded.outcome;
    db = std::move(loaded.db);
  }
  if (!db) {
    spdlog::info("rules: compiling the {} database: {} expressions", mode_name(mode), exprs.size());
    db = compile_database(mode, exprs, rules);
    if (platform) cache_store(dir, file, key, db.get(), mode);
  }
  size_t bytes = 0;
  throw_if_failed(hs_status(hs_database_size(db.get(), &bytes), "hs_database_size"));
  report.bytes = bytes;
  report.ms = ms_since(start);
  return db;
}

}  // namespace

std::shared_ptr<const RuleSet> compile_rules(const std::vector<Rule>& rules,
                                             const CompileOptions& options) {
  const Clock::time_point start = Clock::now();
  if (rules.size() >= UINT_MAX) throw LoadError({}, "too many rules");

  if (rules.size() + uint64_t{2} * std::accumulate(rules.begin(), rules.end(), uint64_t{0},
                                                   [](uint64_t n, const Rule& r) {
                                                     return n + r.match.size();
                                                   }) >=
      UINT_MAX) {
    throw LoadError({}, "too many match items in total");
  }
  Expressions exprs = rule_expressions(rules);
  std::vector<CompiledRule> compiled;
  compiled.reserve(rules.size());
  for (const Rule& rule : rules) compiled.push_back(compiled_rule(rule));
  spdlog::info("rules: {} rules -> {} stream expressions, {} block expressions", rules.size(),
               exprs.stream.size(), exprs.block.size());

  CompileReport report;
  DatabasePtr stream_db;
  DatabasePtr block_db;
  size_t stream_state = 0;
  if (!exprs.stream.empty()) {
    stream_db = build_database(Mode::kStream, exprs.stream, rules, options, report.stream);
    throw_if_failed(hs_status(hs_stream_size(stream_db.get(), &stream_state), "hs_stream_size"));
  }
  if (!exprs.block.empty()) {
    block_db = build_database(Mode::kBlock, exprs.block, rules, options, report.block);
  }
  report.total_ms = ms_since(start);

  auto log_db = [](const char* name, const DatabaseReport& r) {
    if (!r.present) return std::string(name) + ": none";
    return fmt::format("{}: {} expressions, {} bytes, {:.1f} ms (cache {})", name, r.expressions,
                       r.bytes, r.ms, cache_outcome_name(r.cache));
  };
  const size_t item_bytes = (exprs.stream_items.size() + 63) / 64 * 8;
  spdlog::info("rules: {} rules ready in {:.1f} ms; {}; {}; per stream {} + {} bytes", rules.size(),
               report.total_ms, log_db("stream", report.stream), log_db("block", report.block),
               stream_state, item_bytes);

  std::vector<uint64_t> stream_max_end;
  for (const Expression& e : exprs.stream) {
    if ((e.ext.flags & HS_EXT_FLAG_MAX_OFFSET) == 0) continue;
    if (stream_max_end.size() <= e.id) stream_max_end.resize(size_t{e.id} + 1);
    stream_max_end[e.id] = e.ext.max_offset;
  }
  return std::make_shared<const RuleSet>(std::move(compiled), std::move(exprs.stream_items),
                                         std::move(stream_db), std::move(block_db), stream_state,
                                         report, std::move(stream_max_end));
}

}  // namespace sentinel::rules

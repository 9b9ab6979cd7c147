// Compiler: validated Rules → one immutable RuleSet (rules/matcher.hpp) with up to two
// Hyperscan databases — STREAM for rules whose proto is tcp or ip (TCP payload is matched
// across segments), BLOCK for udp, icmp or ip (per-packet payload); an ip rule is in both.
// Control plane only: allocates, may take a second on large rule sets, throws
// config::LoadError naming the rule's or match item's file:line:col.
//
// How rules become expressions (all through hs_compile_ext_multi, because logical
// combinations and extended parameters exist only there — hs_compile_lit_multi has neither):
//  - content: the bytes as a regex, letters and digits as themselves, every other byte as
//    \x{HH}; Hyperscan decomposes it back into a literal, so nothing is lost to the regex
//    route. nocase → HS_FLAG_CASELESS.
//  - pcre: the expression as given, with PCRE's defaults: no HS_FLAG_DOTALL ('.' does not
//    match '\n', as in Snort/Suricata without /s), no HS_FLAG_MULTILINE; write (?s) or
//    (?m) inline to change that. nocase → HS_FLAG_CASELESS.
//  - offset/depth (Snort): the match lies in [offset, offset+depth) of the payload (BLOCK)
//    or of the flow direction's bytes (STREAM). content: min_offset = offset + length,
//    max_offset = offset + depth. pcre: max_offset = offset + depth, min_offset = offset +
//    the expression's minimum width (hs_expression_info) — exact for fixed-width
//    expressions; a variable-width match may start up to (max - min width) bytes before
//    offset.
//  - one item: that expression reports the rule's id with HS_FLAG_SINGLEMATCH.
//  - several items, BLOCK: HS_FLAG_QUIET sub-expressions plus one HS_FLAG_COMBINATION
//    "a & b & …" reporting the rule, HS_FLAG_SINGLEMATCH on the combination only
//    (PLATFORM.md). hs_scan evaluates combinations before it returns.
//  - several items, STREAM: no combination. Hyperscan 5.4 evaluates a combination in
//    stream mode only when a later match arrives or at hs_close_stream (hs_scan_stream has
//    no end-of-write flush; seen in tests and in its runtime source), so a rule completed by
//    a flow's last request would be reported only when the flow closes. Instead each item is
//    its own HS_FLAG_SINGLEMATCH expression reporting an item slot, and the matcher ANDs the
//    slots of a rule in a per-stream bitmap (RuleSet::stream_item_words()): the rule is
//    reported once, during the write that completes its last item.
//
// Cache: with a cache_dir, each database is stored serialized in one file named by a hash of
// its key — Sentinel version, hs_version(), the host's hs_platform_info (CPU features,
// tuning) and the exact compile input (expressions, flags, ids, extended parameters). The
// file repeats the key (compared byte for byte, so a hash collision cannot load a wrong
// database) and carries a checksum over key and database, checked before
// hs_deserialize_database. A file that fails any check is ignored (spdlog::warn, reported as
// CacheOutcome::kRejected) and replaced by a fresh compile; a cache that cannot be written
// is a warning, never an error. Rule text that does not reach Hyperscan (msg, ports, nets,
// action …) is not in the key: editing it reuses the cached database.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rules/matcher.hpp"
#include "rules/rule.hpp"

namespace sentinel::rules {

struct CompileOptions {
  // Directory for the compiled-database cache (created if missing); empty = no cache.
  std::string cache_dir;
};

// [control] Compiles `rules` (ids = their indices) into a RuleSet. Throws config::LoadError:
// at a rule's position for a rule without match items; at a match item's position for an
// empty content, a depth of 0 or shorter than the content, or an expression Hyperscan
// rejects (Hyperscan's message quoted); without position for failures of Hyperscan itself
// (out of memory, a database too large). Logs progress with spdlog::info.
[[nodiscard]] std::shared_ptr<const RuleSet> compile_rules(const std::vector<Rule>& rules,
                                                           const CompileOptions& options);

}  // namespace sentinel::rules

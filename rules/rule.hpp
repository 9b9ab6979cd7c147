// Rule: one validated signature as the rule files state it ([[rule]] tables in the rules
// directory), before compilation. The loader (rules/loader.hpp) produces these; the
// compiler (rules/compiler.hpp) turns a set of them into an immutable RuleSet. Nothing here
// knows about ports, workers or packets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/cidr.hpp"
#include "config/error.hpp"

namespace sentinel::rules {

enum class Action : uint8_t { kAlert, kDrop, kReject, kPass };
enum class Proto : uint8_t { kIp, kTcp, kUdp, kIcmp };  // kIcmp: ICMPv4 and ICMPv6
enum class Direction : uint8_t { kAny, kToCore, kToVendor };

// Reserved gids: 2 policy, 3 filters, 4 stream and decoder anomalies. Rules use the others.
inline constexpr uint32_t kGidSignatures = 1;
inline constexpr uint32_t kGidPolicy = 2;
inline constexpr uint32_t kGidFilters = 3;
inline constexpr uint32_t kGidAnomalies = 4;

struct MatchItem {
  enum class Kind : uint8_t { kContent, kPcre };
  Kind kind = Kind::kContent;
  // kContent: the literal bytes, |hex| escapes already decoded. kPcre: the expression.
  std::string pattern;
  bool nocase = false;
  std::optional<uint32_t> offset;  // Snort semantics: the match lies in [offset, offset+depth)
  std::optional<uint32_t> depth;
  config::SourcePos pos;           // where the item was written
};

// An address constraint: empty `include` means any; `exclude` ("!" entries) is subtracted.
struct NetSet {
  std::vector<config::Cidr> include;
  std::vector<config::Cidr> exclude;
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
};

struct Rule {
  uint32_t sid = 0;
  uint32_t rev = 1;
  uint32_t gid = kGidSignatures;
  std::string msg;
  Action action = Action::kAlert;
  uint8_t severity = 3;       // 1 (high) .. 4; from the classtype when not given
  std::string classtype;      // empty, or a name in the classification table
  Proto proto = Proto::kIp;
  Direction direction = Direction::kAny;
  NetSet src_nets;
  NetSet dst_nets;
  std::vector<PortRange> src_ports;  // empty = any
  std::vector<PortRange> dst_ports;
  std::vector<MatchItem> match;      // at least one; all must match
  std::map<std::string, std::vector<std::string>> metadata;
  config::SourcePos pos;             // the [[rule]] table
};

// config/classification.toml: classtype name → description (EVE alert.category) and
// default severity.
struct Classification {
  std::string description;
  uint8_t severity = 3;
};
using ClassificationTable = std::map<std::string, Classification>;

}  // namespace sentinel::rules

// Fuzz target: EVE JSON alert lines (dataplane/eve.hpp): eve_alert_json, policy_signature
// and the EveWriter that appends the lines to eve.json.
//
// Input: u8 mode (bit 0: also through an EveWriter; bit 1: the signature is the record's
// policy_signature; bits 2-3 side and direction; bit 4 verdict; bits 5-6 rule action),
// u8 record flags, u64 ts_ns, u64 flow_id (kept below kFlowIdLimit), u64 pcap_cnt, u32 gid,
// sid, rev, suppressed, u8 severity, then u16-length-prefixed strings: signature, category,
// and u8 n (< 8) metadata keys, each with u8 m (< 4) values; the rest is a frame, parsed by
// the dataplane parser into the record's addresses, ports, protocol (or, for a non-IP
// frame, its ethertype and source MAC), as a worker fills it.
//
// Invariants (abort when broken): every line is one line (no CR/LF) of valid JSON that
// nlohmann::json parses; the message, category and metadata strings read back exactly
// (input that is not UTF-8: exactly as U+FFFD replaces each maximal invalid subpart);
// every record field reads back (timestamp against an independent calendar computation,
// addresses through inet_pton); what EveWriter puts in eve.json is exactly those lines, one
// per write, with no error counted (one writer for the run; each input waits for its
// lines to reach the file).
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/eve.hpp"
#include "dataplane/parser.hpp"
#include "rules/policy.hpp"  // kEthertypeLlc
#include "tests/fuzz/fuzz_util.hpp"

namespace {

namespace dp = sentinel::dataplane;
namespace fs = std::filesystem;
using nlohmann::json;

fs::path g_dir;                         // the writer's log directory
std::unique_ptr<dp::EveWriter> g_writer;  // one for the whole run: opening one costs milliseconds

void close_and_remove_dir() {
  g_writer.reset();
  std::error_code ec;
  fs::remove_all(g_dir, ec);
}

// What nlohmann's error_handler_t::replace makes of `s`: each maximal subpart of an
// ill-formed sequence (Unicode 3.9, "U+FFFD substitution of maximal subparts") becomes
// U+FFFD. Valid UTF-8 comes back unchanged.
std::string utf8_replaced(const std::string& s) {
  static const std::string kFffd = "\xEF\xBF\xBD";
  std::string out;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out += s[i++];
      continue;
    }
    int need = 0;
    uint8_t lo = 0x80;
    uint8_t hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    } else {
      out += kFffd;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < n) {
      const auto c = static_cast<uint8_t>(s[j]);
      if (c < lo || c > hi) break;
      lo = 0x80;
      hi = 0xbf;
      ++j;
      ++got;
    }
    if (got == need) {
      out.append(s, i, j - i);
    } else {
      out += kFffd;  // the byte that broke the sequence (if any) starts the next one
    }
    i = j;
  }
  return out;
}

// "YYYY-MM-DDTHH:MM:SS.uuuuuu+0000" by the civil-from-days algorithm (H. Hinnant), not gmtime.
std::string expected_timestamp(uint64_t ts_ns) {
  const uint64_t secs = ts_ns / 1'000'000'000u;
  const auto usecs = static_cast<unsigned>(ts_ns % 1'000'000'000u / 1'000u);
  const int64_t days = static_cast<int64_t>(secs / 86400);
  const auto sod = static_cast<unsigned>(secs % 86400);
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%06u+0000", static_cast<long long>(y), m, d, sod / 3600,
                sod / 60 % 60, sod % 60, usecs);
  return buf;
}

std::string proto_text(uint8_t p) {
  switch (p) {
    case 6: return "TCP";
    case 17: return "UDP";
    case 1: return "ICMP";
    case 58: return "IPv6-ICMP";
    default: return std::to_string(p);
  }
}

void check_address(const json& v, const dp::AlertRecord& rec, const std::array<uint8_t, 16>& addr, const char* key) {
  FUZZ_CHECK(v.is_string(), "%s is not a string", key);
  std::array<uint8_t, 16> back{};
  const int af = rec.ip_version == 6 ? AF_INET6 : AF_INET;
  FUZZ_CHECK(inet_pton(af, v.get<std::string>().c_str(), back.data()) == 1, "%s '%s' does not parse", key,
             v.get<std::string>().c_str());
  FUZZ_CHECK(std::memcmp(back.data(), addr.data(), rec.ip_version == 6 ? 16 : 4) == 0, "%s '%s' is another address",
             key, v.get<std::string>().c_str());
}

void check_line(const std::string& line, const dp::AlertRecord& rec, const dp::AlertMeta& meta) {
  FUZZ_CHECK(line.find_first_of("\r\n") == std::string::npos, "the EVE line spans lines: %s", line.c_str());
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    FUZZ_CHECK(false, "EVE line is not JSON (%s): %s", e.what(), line.c_str());
  }
  FUZZ_CHECK(j.is_object() && j.value("event_type", "") == "alert", "not an alert object: %s", line.c_str());
  FUZZ_CHECK(j["timestamp"] == expected_timestamp(rec.ts_ns), "timestamp %s for %llu ns, want %s",
             j["timestamp"].dump().c_str(), static_cast<unsigned long long>(rec.ts_ns),
             expected_timestamp(rec.ts_ns).c_str());
  FUZZ_CHECK(j["flow_id"] == rec.flow_id, "flow_id %s", j["flow_id"].dump().c_str());
  FUZZ_CHECK(rec.pcap_cnt == 0 ? !j.contains("pcap_cnt") : j["pcap_cnt"] == rec.pcap_cnt, "pcap_cnt");
  FUZZ_CHECK(j["in_iface"] == (rec.in_iface == dp::Side::kCore ? "core" : "vendor"), "in_iface");
  const bool ports = rec.ip_proto == 6 || rec.ip_proto == 17 || rec.ip_proto == 132;
  const bool icmp = rec.ip_proto == 1 || rec.ip_proto == 58;
  if (rec.ip_version == 0) {
    char mac[18];
    std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", rec.src_mac[0], rec.src_mac[1], rec.src_mac[2],
                  rec.src_mac[3], rec.src_mac[4], rec.src_mac[5]);
    char et[8];
    std::snprintf(et, sizeof et, "0x%04x", rec.ether_type);
    FUZZ_CHECK(j["proto"] == "ETHERNET" && j["ether"]["src_mac"] == mac && j["ether"]["ether_type"] == et,
               "ether object: %s", line.c_str());
    FUZZ_CHECK(!j.contains("src_ip") && !j.contains("dest_ip"), "addresses on a non-IP alert");
  } else {
    check_address(j["src_ip"], rec, rec.src_addr, "src_ip");
    check_address(j["dest_ip"], rec, rec.dst_addr, "dest_ip");
    FUZZ_CHECK(j["proto"] == proto_text(rec.ip_proto), "proto %s for %u", j["proto"].dump().c_str(), rec.ip_proto);
    FUZZ_CHECK(ports ? j["src_port"] == rec.src_port && j["dest_port"] == rec.dst_port
                     : !j.contains("src_port") && !j.contains("dest_port"),
               "ports: %s", line.c_str());
  }
  FUZZ_CHECK(icmp ? j["icmp_type"] == rec.icmp_type && j["icmp_code"] == rec.icmp_code : !j.contains("icmp_type"),
             "icmp fields: %s", line.c_str());

  const json& a = j["alert"];
  const bool blocked = rec.action == sentinel::rules::Action::kDrop || rec.action == sentinel::rules::Action::kReject;
  FUZZ_CHECK(a["action"] == (blocked ? "blocked" : "allowed"), "alert.action");
  FUZZ_CHECK(a["gid"] == rec.gid && a["signature_id"] == rec.sid && a["rev"] == rec.rev, "gid/sid/rev");
  FUZZ_CHECK(a["signature"] == utf8_replaced(meta.signature), "alert.signature %s does not read back",
             a["signature"].dump().c_str());
  FUZZ_CHECK(a["category"] == utf8_replaced(meta.category), "alert.category %s does not read back",
             a["category"].dump().c_str());
  FUZZ_CHECK(a["severity"] == meta.severity, "alert.severity");
  if (meta.metadata.empty()) {
    FUZZ_CHECK(!a.contains("metadata"), "empty metadata written");
  } else {
    // Keys that are not UTF-8 (no rule file can hold one) may become equal once replaced;
    // the values of such keys are not compared.
    std::map<std::string, int> replaced;
    for (const auto& [key, values] : meta.metadata) ++replaced[utf8_replaced(key)];
    FUZZ_CHECK(a["metadata"].is_object() && a["metadata"].size() == replaced.size(), "alert.metadata: %s",
               a["metadata"].dump().c_str());
    for (const auto& [key, values] : meta.metadata) {
      const std::string k = utf8_replaced(key);
      FUZZ_CHECK(a["metadata"].contains(k), "metadata key %s missing", json(k).dump().c_str());
      if (replaced[k] > 1) continue;
      std::vector<std::string> want;
      for (const std::string& v : values) want.push_back(utf8_replaced(v));
      FUZZ_CHECK(a["metadata"][k] == want, "metadata %s: %s", json(k).dump().c_str(), a["metadata"][k].dump().c_str());
    }
  }
  const json& s = j["sentinel"];
  FUZZ_CHECK(s["direction"] == (rec.direction == dp::Direction::kToVendor ? "to_vendor" : "to_core") &&
                 s["verdict"] == (rec.verdict == dp::Verdict::kDropped ? "dropped" : "forwarded"),
             "sentinel object: %s", s.dump().c_str());
  FUZZ_CHECK(rec.suppressed == 0 ? !s.contains("suppressed") : s["suppressed"] == rec.suppressed, "suppressed");
}

// The record a worker would make of `frame`.
void fill_from_frame(const uint8_t* frame, uint32_t len, dp::AlertRecord& rec) {
  dp::PacketInfo p;
  const dp::DropReason r = dp::parser_detail::parse_frame_full(frame, len, len, p);
  if (p.l3 == dp::L3::kIpv4 || p.l3 == dp::L3::kIpv6) {
    rec.ip_version = p.l3 == dp::L3::kIpv4 ? 4 : 6;
    rec.src_addr = p.src_ip;
    rec.dst_addr = p.dst_ip;
    rec.ip_proto = p.ip_proto;
    if (p.flags & dp::kFlagHasL4) {
      rec.src_port = p.src_port;
      rec.dst_port = p.dst_port;
      rec.icmp_type = p.icmp_type;
      rec.icmp_code = p.icmp_code;
    }
  } else {
    rec.ip_version = 0;
    rec.ip_proto = 0;
    rec.ether_type = p.ethertype < 0x0600 ? sentinel::rules::kEthertypeLlc : p.ethertype;
    if (len >= 12) std::memcpy(rec.src_mac.data(), frame + 6, 6);
    if (r != dp::DropReason::kNone) rec.flags |= dp::kAlertFlagMalformed;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/fuzz_eve.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dir = templ;
  std::atexit(close_and_remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sentinel::fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  dp::AlertRecord rec;
  rec.in_iface = (mode & 0x04) ? dp::Side::kCore : dp::Side::kVendor;
  rec.direction = (mode & 0x08) ? dp::Direction::kToVendor : dp::Direction::kToCore;
  rec.verdict = (mode & 0x10) ? dp::Verdict::kDropped : dp::Verdict::kForwarded;
  rec.action = static_cast<sentinel::rules::Action>((mode >> 5) & 3);
  rec.flags = in.u8() & (dp::kAlertFlagMidStream | dp::kAlertFlagMalformed);
  rec.ts_ns = in.u64();
  rec.flow_id = in.u64() % dp::kFlowIdLimit;
  rec.pcap_cnt = in.u64();
  rec.gid = in.u32();
  rec.sid = in.u32();
  rec.rev = in.u32();
  rec.suppressed = in.u32();
  dp::AlertMeta meta;
  meta.severity = in.u8();
  meta.signature = in.str();
  meta.category = in.str();
  for (int n = in.u8() % 8; n > 0; --n) {
    std::string key = in.str();
    std::vector<std::string> values;
    for (int m = in.u8() % 4; m > 0; --m) values.push_back(in.str());
    meta.metadata[std::move(key)] = std::move(values);
  }
  const std::string_view frame = in.bytes(65535);
  const std::vector<uint8_t> frame_copy(frame.begin(), frame.end());  // exact size for ASan
  fill_from_frame(frame_copy.data(), static_cast<uint32_t>(frame_copy.size()), rec);

  if (mode & 0x02) {
    meta.signature = dp::policy_signature(rec);
    FUZZ_CHECK(meta.signature.rfind("policy: ", 0) == 0 && utf8_replaced(meta.signature) == meta.signature,
               "policy_signature '%s'", meta.signature.c_str());
  }
  const std::string line = dp::eve_alert_json(rec, meta);
  check_line(line, rec, meta);
  if (!(mode & 0x01)) return 0;

  // Through the writer: two records; what they add to eve.json must be exactly their lines.
  dp::AlertRecord rec2 = rec;
  rec2.flow_id = (rec.flow_id + 1) % dp::kFlowIdLimit;
  const std::string want = line + "\n" + dp::eve_alert_json(rec2, meta) + "\n";
  const fs::path file = g_dir / "eve.json";
  std::error_code ec;
  if (!g_writer || fs::file_size(file, ec) > (8u << 20)) {  // start (again) with an empty file
    g_writer.reset();
    fs::remove(file, ec);
    g_writer = std::make_unique<dp::EveWriter>(g_dir.string());
  }
  const uint64_t queued = g_writer->lines_queued();
  const uint64_t before = fs::file_size(file, ec);
  FUZZ_CHECK(!ec, "eve.json: %s", ec.message().c_str());
  g_writer->write(rec, meta);
  g_writer->write(rec2, meta);
  g_writer->flush();  // asynchronous: wait until the file has grown by the two lines
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (fs::file_size(file, ec) < before + want.size()) {
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline, "eve.json did not grow by the two lines within 20 s");
    std::this_thread::yield();
  }
  FUZZ_CHECK(g_writer->write_errors() == 0 && g_writer->lines_queued() == queued + 2,
             "EveWriter: %llu errors, %llu lines queued", static_cast<unsigned long long>(g_writer->write_errors()),
             static_cast<unsigned long long>(g_writer->lines_queued() - queued));
  std::ifstream f(file, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(before));
  std::stringstream ss;
  ss << f.rdbuf();
  FUZZ_CHECK(ss.str() == want, "eve.json grew by %zu bytes, not by the two lines written (%zu bytes)", ss.str().size(),
             want.size());
  return 0;
}

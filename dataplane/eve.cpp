// EVE JSON alert lines and the writer that appends them to eve.json (see eve.hpp).
#include "dataplane/eve.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <exception>
#include <nlohmann/json.hpp>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <string_view>

#include "dataplane/packet.hpp"  // ip_proto
#include "rules/policy.hpp"      // ethertype_name

namespace sentinel::dataplane {
namespace {


// Suricata's spelling of the protocols it names; others are the number as a string.
std::string proto_name(uint8_t proto) {
  switch (proto) {
    case ip_proto::kTcp: return "TCP";
    case ip_proto::kUdp: return "UDP";
    case ip_proto::kIcmp: return "ICMP";
    case ip_proto::kIcmpv6: return "IPv6-ICMP";
    default: return std::to_string(proto);
  }
}

std::string address_text(uint8_t ip_version, const std::array<uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = ip_version == 6 ? AF_INET6 : AF_INET;
  // Cannot fail: the buffer fits either family and the family is supported.
  if (inet_ntop(af, addr.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

std::string_view side_name(Side s) { return s == Side::kCore ? "core" : "vendor"; }
std::string_view direction_name(Direction d) { return d == Direction::kToVendor ? "to_vendor" : "to_core"; }
std::string_view verdict_name(Verdict v) { return v == Verdict::kDropped ? "dropped" : "forwarded"; }

bool blocks(rules::Action a) { return a == rules::Action::kDrop || a == rules::Action::kReject; }

std::string mac_text(const std::array<uint8_t, 6>& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

}  // namespace

std::string policy_signature(const AlertRecord& rec) {
  std::string text = "policy: ";
  text += side_name(rec.in_iface);
  text += " \u2192 ";
  if (rec.ip_version == 0 && rec.ether_type == rules::kEthertypeLlc) return text + "802.3 frame (llc) not allowed";
  if (rec.ip_version == 0) {
    char et[8];
    std::snprintf(et, sizeof et, "0x%04x", rec.ether_type);
    text += (rec.flags & kAlertFlagMalformed) != 0 ? "malformed frame, ethertype " : "ethertype ";
    text += et;
    if (const char* name = rules::ethertype_name(rec.ether_type)) text += std::string(" (") + name + ")";
    return text + " not allowed";
  }
  const std::string addr = address_text(rec.ip_version, rec.dst_addr);
  std::string proto = proto_name(rec.ip_proto);
  for (char& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (rec.ip_proto == ip_proto::kTcp || rec.ip_proto == ip_proto::kUdp) {
    text += rec.ip_version == 6 ? "[" + addr + "]" : addr;
    text += ":" + std::to_string(rec.dst_port) + "/" + proto;
  } else if (rec.ip_proto == ip_proto::kIcmp || rec.ip_proto == ip_proto::kIcmpv6) {
    text += addr + "/" + proto + " type " + std::to_string(rec.icmp_type);
  } else {
    text += addr + "/" + proto;
  }
  text += " not allowed";
  if ((rec.flags & kAlertFlagMidStream) != 0) text += " (mid-stream)";
  return text;
}

std::string eve_timestamp(uint64_t ts_ns) {
  const auto secs = static_cast<std::time_t>(ts_ns / 1'000'000'000u);
  const auto usecs = static_cast<unsigned>((ts_ns % 1'000'000'000u) / 1'000u);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32];
  const size_t n = std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%06u+0000", static_cast<int>(n), date, usecs);
  return out;
}

std::string eve_alert_json(const AlertRecord& rec, const AlertMeta& meta) {
  // ordered_json keeps Suricata's key order, which people reading eve.json expect.
  nlohmann::ordered_json j;
  j["timestamp"] = eve_timestamp(rec.ts_ns);
  j["flow_id"] = rec.flow_id;
  if (rec.pcap_cnt != 0) j["pcap_cnt"] = rec.pcap_cnt;
  j["in_iface"] = side_name(rec.in_iface);
  j["event_type"] = "alert";
  if (rec.ip_version == 0) {  // a non-IP frame (policy.l2): Suricata's ether object instead of addresses
    char et[8];
    std::snprintf(et, sizeof et, "0x%04x", rec.ether_type);
    j["proto"] = "ETHERNET";
    j["ether"] = {{"src_mac", mac_text(rec.src_mac)}, {"ether_type", et}};
  }
  if (rec.ip_version != 0) j["src_ip"] = address_text(rec.ip_version, rec.src_addr);
  const bool ports = rec.ip_proto == ip_proto::kTcp || rec.ip_proto == ip_proto::kUdp || rec.ip_proto == ip_proto::kSctp;
  const bool icmp = rec.ip_proto == ip_proto::kIcmp || rec.ip_proto == ip_proto::kIcmpv6;
  if (ports) j["src_port"] = rec.src_port;
  if (rec.ip_version != 0) {
    j["dest_ip"] = address_text(rec.ip_version, rec.dst_addr);
    if (ports) j["dest_port"] = rec.dst_port;
    j["proto"] = proto_name(rec.ip_proto);
  }
  if (icmp) {
    j["icmp_type"] = rec.icmp_type;
    j["icmp_code"] = rec.icmp_code;
  }
  nlohmann::ordered_json alert;
  alert["action"] = blocks(rec.action) ? "blocked" : "allowed";
  alert["gid"] = rec.gid;
  alert["signature_id"] = rec.sid;
  alert["rev"] = rec.rev;
  alert["signature"] = meta.signature;
  alert["category"] = meta.category;
  alert["severity"] = meta.severity;
  if (!meta.metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [key, values] : meta.metadata) md[key] = values;
    alert["metadata"] = std::move(md);
  }
  j["alert"] = std::move(alert);
  j["sentinel"] = {{"direction", direction_name(rec.direction)}, {"verdict", verdict_name(rec.verdict)}};
  // Filters: alerts of this filter held back by [rules] filter_alerts_per_second since its last one.
  if (rec.suppressed != 0) j["sentinel"]["suppressed"] = rec.suppressed;
  // replace: invalid UTF-8 from a rule file becomes U+FFFD instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

EveWriter::EveWriter(const std::string& logdir)
    : path_(logdir + "/eve.json"), errors_(std::make_shared<std::atomic<uint64_t>>(0)) {
  open();
}

EveWriter::~EveWriter() { close(); }

void EveWriter::open() {
  try {
    // What spdlog::async_factory builds (an async_logger over a thread pool, blocking when
    // the queue is full), but with a pool of our own: close() can then wait until every
    // queued line is on disk, and other async loggers never share this queue.
    auto pool = std::make_shared<spdlog::details::thread_pool>(kQueueLines, 1);
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path_, false);
    auto logger = std::make_shared<spdlog::async_logger>("eve", std::move(sink), pool,
                                                         spdlog::async_overflow_policy::block);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::off);
    std::shared_ptr<std::atomic<uint64_t>> errors = errors_;
    logger->set_error_handler(
        [errors](const std::string&) { errors->fetch_add(1, std::memory_order_relaxed); });
    pool_ = std::move(pool);
    logger_ = std::move(logger);
  } catch (const std::exception& e) {
    throw EveError("eve: cannot open " + path_ + ": " + e.what());
  }
}

void EveWriter::write(const AlertRecord& rec, const AlertMeta& meta) noexcept {
  if (!logger_) {
    errors_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  try {
    const std::string line = eve_alert_json(rec, meta);
    // spdlog catches its own errors and hands them to the error handler (which counts).
    logger_->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
    ++queued_;
  } catch (...) {
    errors_->fetch_add(1, std::memory_order_relaxed);
  }
}

void EveWriter::flush() noexcept {
  if (!logger_) return;
  try {
    logger_->flush();  // queued behind the pending lines; the pool's thread writes them out
  } catch (...) {
    errors_->fetch_add(1, std::memory_order_relaxed);
  }
}

void EveWriter::reopen() {
  close();
  open();
}

void EveWriter::close() noexcept {
  if (!logger_) return;
  logger_->flush();  // queued behind every pending line; runs on the pool's thread
  logger_.reset();   // pending messages keep the logger (and its file) alive
  pool_.reset();     // ~thread_pool drains the queue, then joins its thread
}

}  // namespace sentinel::dataplane

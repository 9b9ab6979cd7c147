// EVE JSON alerts: the control plane turns an AlertRecord from a worker, joined with what it
// knows about the rule (AlertMeta), into one line of Suricata's EVE alert schema, so that
// SIEM pipelines built for Suricata ingest Sentinel's alerts unchanged. Sentinel-only facts
// (direction, verdict) go in a top-level "sentinel" object that such pipelines ignore.
// EveWriter appends those lines to <logdir>/eve.json through an spdlog async logger, so a
// slow disk never stalls the loop that drains the workers' alert rings. Nothing here
// touches DPDK; all of it is control-plane code (allocates, may throw where stated).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/alert.hpp"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace sentinel::dataplane {

// What the control plane knows about the rule that raised an alert.
struct AlertMeta {
  std::string signature;  // the rule's msg
  std::string category;   // from the classification table; "" when unclassified
  int severity = 3;       // 1 (high) .. 4; from the classification table
  std::map<std::string, std::vector<std::string>> metadata;  // omitted from EVE when empty
};

// [control] One EVE JSON line (no trailing newline) for an alert. Strings are escaped by
// nlohmann::json; bytes that are not valid UTF-8 in `meta` become U+FFFD, so the line is
// always valid JSON. Keys come in Suricata's order. alert.action is "blocked" when the
// rule's action is drop or reject, else "allowed" (the frame's own fate is
// sentinel.verdict). Allocates; throws std::bad_alloc only.
[[nodiscard]] std::string eve_alert_json(const AlertRecord& rec, const AlertMeta& meta);

// [control] The signature text of a policy alert (gid 2), made from the record: "policy:
// vendor → 10.9.9.9:443/tcp not allowed", "... (mid-stream)" for a TCP flow first seen
// without its SYN, "policy: vendor → ethertype 0x88cc (lldp) not allowed" for non-IP.
[[nodiscard]] std::string policy_signature(const AlertRecord& rec);

// [control] "YYYY-MM-DDTHH:MM:SS.uuuuuu+0000" (UTC, microseconds truncated) for ns since the
// epoch. Allocates.
[[nodiscard]] std::string eve_timestamp(uint64_t ts_ns);

// Opening the EVE file failed; the message names the path and the reason.
class EveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends EVE lines to <logdir>/eve.json (created if missing, never truncated). Lines are
// formatted on the caller's thread and written by the writer's own background thread;
// a full queue makes write() wait (the caller is the control plane, never a worker).
// Not thread-safe: one control-plane thread calls write(), reopen() and close().
class EveWriter {
 public:
  static constexpr size_t kQueueLines = 8192;

  // [control] Opens the file. Throws EveError when it cannot be opened.
  explicit EveWriter(const std::string& logdir);
  ~EveWriter();  // close()
  EveWriter(const EveWriter&) = delete;
  EveWriter& operator=(const EveWriter&) = delete;

  // [control] Queues one line. A line that cannot be formatted or written (now or later, on
  // the background thread) is counted in write_errors(); it never throws.
  void write(const AlertRecord& rec, const AlertMeta& meta) noexcept;

  // [control] Asks the background thread to write out every line queued so far (without
  // waiting for it), so that readers following the file see alerts within moments.
  void flush() noexcept;

  // [control] For SIGUSR1 after log rotation: every line queued so far goes to the file
  // that was open (wherever it was renamed to), later lines to a new <logdir>/eve.json.
  // Throws EveError when the new file cannot be opened (the writer is then closed, and
  // later writes are counted as errors until a reopen() succeeds).
  void reopen();

  // [control] Writes out every queued line, flushes and closes the file; blocks until done.
  // write() after close() counts an error. Idempotent.
  void close() noexcept;

  // [any] Lines that could not be formatted or written: formatting failures, writes after
  // close(), and every failure the file sink reports (a failed write or flush, each once).
  [[nodiscard]] uint64_t write_errors() const noexcept { return errors_->load(std::memory_order_relaxed); }
  // [control] Lines handed to the logger.
  [[nodiscard]] uint64_t lines_queued() const noexcept { return queued_; }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  void open();

  std::string path_;
  // Shared with the logger's error handler, which runs on the background thread.
  std::shared_ptr<std::atomic<uint64_t>> errors_;
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
  uint64_t queued_ = 0;
};

}  // namespace sentinel::dataplane

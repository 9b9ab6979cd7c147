// The end-of-run report: a human summary on stdout and a machine-readable EVE `stats`
// event appended to <log dir>/eve.json. Both come from the same RunStats.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "dataplane/counters.hpp"

namespace sentinel::dataplane {

struct RunStats {
  std::string mode;           // "replay" or "live"
  Totals totals;              // summed worker counters
  uint64_t frames_read = 0;   // frames handed to the dataplane (replay: read from the file)
  uint64_t rx_nombuf = 0;     // frames that could not get an mbuf (counted, not forwarded)
  uint64_t alerts_written = 0;      // EVE alert lines handed to the writer
  uint64_t alert_write_errors = 0;  // ... of which the writer could not write
  double elapsed_seconds = 0;
};

// [control] The summary operators read at the end of a run.
void print_summary(std::FILE* out, const RunStats& stats);
// [control] Appends one `"event_type": "stats"` line to <log_dir>/eve.json (created if
// missing). Throws std::runtime_error when the file cannot be written.
void write_eve_stats(const std::string& log_dir, const RunStats& stats);

}  // namespace sentinel::dataplane

// Summary and EVE stats (see report.hpp).
#include "dataplane/report.hpp"

#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "dataplane/eve.hpp"

namespace sentinel::dataplane {

void print_summary(std::FILE* out, const RunStats& s) {
  const Totals& t = s.totals;
  std::fprintf(out, "sentinel %s summary\n", s.mode.c_str());
  std::fprintf(out, "  %-28s %12llu\n", "frames read", static_cast<unsigned long long>(s.frames_read));
  for (size_t d = 0; d < kDirectionCount; ++d) {
    std::fprintf(out, "  %-28s %12llu received, %llu forwarded, %llu dropped\n", kDirectionNames[d],
                 static_cast<unsigned long long>(t.rx_packets[d]),
                 static_cast<unsigned long long>(t.forwarded[d]),
                 static_cast<unsigned long long>(t.dropped[d]));
  }
  std::fprintf(out, "  %-28s %12llu\n", "forwarded", static_cast<unsigned long long>(t.forwarded_total()));
  std::fprintf(out, "  %-28s %12llu\n", "dropped", static_cast<unsigned long long>(t.dropped_total()));
  for (size_t r = 1; r < kDropReasonCount; ++r) {
    if (t.drops[r] != 0) {
      std::fprintf(out, "    %-26s %12llu\n", kDropReasonNames[r].data(),
                   static_cast<unsigned long long>(t.drops[r]));
    }
  }
  uint64_t passed = 0;
  for (uint64_t v : t.malformed_passed) passed += v;
  if (passed != 0) {
    std::fprintf(out, "  %-28s %12llu\n", "malformed, passed (fail open)",
                 static_cast<unsigned long long>(passed));
    for (size_t r = 1; r < kDropReasonCount; ++r) {
      if (t.malformed_passed[r] != 0) {
        std::fprintf(out, "    %-26s %12llu\n", kDropReasonNames[r].data(),
                     static_cast<unsigned long long>(t.malformed_passed[r]));
      }
    }
  }
  if (t.fragments.datagrams != 0 || t.fragments.held != 0) {
    std::fprintf(out, "  %-28s %12llu (from %llu fragments)\n", "datagrams reassembled",
                 static_cast<unsigned long long>(t.fragments.datagrams),
                 static_cast<unsigned long long>(t.fragments.fragments));
    std::fprintf(out, "  %-28s %12lld\n", "fragments held", static_cast<long long>(t.fragments.held));
  }
  if (s.rx_nombuf != 0) {
    std::fprintf(out, "  %-28s %12llu\n", "rx_nombuf (not processed)",
                 static_cast<unsigned long long>(s.rx_nombuf));
  }
  std::fprintf(out, "  %-28s %12.3f s\n", "elapsed", s.elapsed_seconds);
  std::fflush(out);
}

void write_eve_stats(const std::string& log_dir, const RunStats& s) {
  const Totals& t = s.totals;
  nlohmann::ordered_json drops = nlohmann::ordered_json::object();
  nlohmann::ordered_json passed = nlohmann::ordered_json::object();
  for (size_t r = 1; r < kDropReasonCount; ++r) {
    drops[std::string(kDropReasonNames[r])] = t.drops[r];
    if (can_fail_open(static_cast<DropReason>(r))) {
      passed[std::string(kDropReasonNames[r])] = t.malformed_passed[r];
    }
  }
  nlohmann::ordered_json stats = {
      {"mode", s.mode},
      {"frames_read", s.frames_read},
      {"forwarded", t.forwarded_total()},
      {"dropped", t.dropped_total()},
      {"rx_nombuf", s.rx_nombuf},
      {"elapsed_seconds", s.elapsed_seconds},
  };
  for (size_t d = 0; d < kDirectionCount; ++d) {
    stats[kDirectionNames[d]] = {{"received", t.rx_packets[d]},
                                 {"forwarded", t.forwarded[d]},
                                 {"dropped", t.dropped[d]}};
  }
  stats["fragments"] = {{"datagrams", t.fragments.datagrams},
                        {"fragments", t.fragments.fragments},
                        {"held", t.fragments.held}};
  stats["drops"] = std::move(drops);
  stats["malformed_passed"] = std::move(passed);
  const nlohmann::ordered_json event = {
      {"timestamp", eve_timestamp(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count()))}, {"event_type", "stats"}, {"stats", std::move(stats)}};

  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  const std::string path = log_dir + "/eve.json";
  std::ofstream eve(path, std::ios::app);
  eve << event.dump() << '\n';
  eve.flush();
  if (!eve) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
}

}  // namespace sentinel::dataplane

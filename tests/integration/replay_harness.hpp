// Test harness for the sentinel binary: runs it as a user would (a child process with
// arguments), captures stdout, stderr and the exit status, and reads what it wrote
// (eve.json stats, -w pcaps) back through libpcap and nlohmann::json.
#pragma once

#include <pcap/pcap.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sentinel::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sentinel-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs `binary` with `args`. A replay or -T run that names no rule file gets `-S` with an
// empty one: the default rules directory (/etc/sentinel/rules.d) is not installed on test
// machines, and these runs are about forwarding, not signatures.
inline RunResult run_sentinel(const std::string& binary, const std::vector<std::string>& args,
                              const TempDir& scratch) {
  std::string cmd = shell_quote(binary);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  const auto has = [&args](const char* flag) { return std::find(args.begin(), args.end(), flag) != args.end(); };
  if ((has("-r") || has("-T")) && !has("-S") && !has("-s")) {
    const std::string empty = scratch / "no-rules.toml";
    std::ofstream{empty};
    cmd += " -S " + shell_quote(empty);
  }
  const std::string out = scratch / "stdout.txt";
  const std::string err = scratch / "stderr.txt";
  cmd += " </dev/null >" + shell_quote(out) + " 2>" + shell_quote(err);
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// The last `stats` event of <dir>/eve.json.
inline nlohmann::json last_eve_stats(const std::string& log_dir) {
  std::ifstream in(log_dir + "/eve.json");
  std::string line;
  nlohmann::json last;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("event_type", "") == "stats") last = j["stats"];
  }
  if (last.is_null()) throw std::runtime_error("no stats event in " + log_dir + "/eve.json");
  return last;
}

struct Frame {
  uint64_t ts_ns = 0;
  uint32_t wire_len = 0;
  std::vector<uint8_t> data;
};

struct Capture {
  int link_type = -1;
  std::vector<Frame> frames;
  std::string error;  // libpcap's read error, if the file ends badly
};

inline Capture read_capture(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) throw std::runtime_error(path + ": " + errbuf);
  Capture c;
  c.link_type = pcap_datalink(p);
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
    c.frames.push_back({static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ULL +
                            static_cast<uint64_t>(h->ts.tv_usec),
                        h->len, std::vector<uint8_t>(d, d + h->caplen)});
  }
  if (rc == PCAP_ERROR) c.error = pcap_geterr(p);
  pcap_close(p);
  return c;
}

// Bytes of link-layer header replay replaces with its synthetic Ethernet header.
inline size_t link_header_len(int link_type) {
  switch (link_type) {
    case DLT_EN10MB: return 14;  // kept as is
    case DLT_LINUX_SLL: return 16;
    case DLT_NULL:
    case DLT_LOOP: return 4;
    default: return 0;  // raw IP
  }
}

}  // namespace sentinel::testing

// Reload-under-load benchmark (prints JSON; asserts nothing about speed; exits 1 only when a
// reload fails or does not publish, or a frame is lost, dropped or alerted on).
//
// One worker (its own thread, pinned to CPU 1) forwards a fixed set of frames that the
// generator thread recycles through ring-backed ports without end: TCP segments of 2,048
// flows in both directions (sequence numbers moved on each cycle so the streams continue
// and are scanned) and 512 UDP flows. The generator, the control thread and therefore the
// reload's build thread (std::async from it) share CPU 0, as the EAL pins the main lcore's
// threads in live mode. Every frame in flight fits the tx rings, so the rings never drop: a
// frame the worker receives is either forwarded or counted dropped, and no rule matches
// the traffic (every literal and regex starts with an upper-case letter the payloads never
// contain), so nothing may be dropped at all. Config: the defaults (65,536 flows per
// worker, 16,383 mbufs) except inspect_depth = 0 (every cycle scanned), verify_checksums =
// false (sequence numbers are rewritten).
//
// The control thread runs the real Reloader (tick every ~1 ms; the control loop ticks every
// 10 ms) and samples, every tick, the worker's rx counter, its thread's CPU clock and the
// process's resident memory. Each reload is timed from request() (the trigger) to published
// (the Reloader's own figure, ReloadStatus::last_ms) and on to the old generation's
// retirement; the worker's throughput over that window is compared with an equal window of
// quiet right after, in frames per wall second and per second of CPU the worker thread got
// (on a shared machine the first depends on what else runs on CPU 1). Two controls without
// any reload keep CPU 0 as busy as a build does (a spinning thread; a thread that allocates,
// touches and frees 32 MB in a loop) to tell the reload's own cost from the machine's.
// Reloads, all with traffic flowing:
//   rules_10k.one_rule_changed  one tcp rule's content changed: the STREAM database misses
//                               the cache and is compiled, the BLOCK one is a hit. The
//                               memory target: peak (VmHWM, reset before the trigger, read
//                               after retirement) <= 1.3 x steady VmRSS. Five in a row:
//                               RSS after each shows growth across reloads.
//   *.warm                      only msgs changed: both databases from the cache
//   *.cold                      a new, empty cache_dir: both databases compiled
// The process starts with the 10,000-rule set from a cache that a child process compiled
// (so the steady state is not flattered by a compile's leftovers in the heap); that child
// also measures parsing and compiling alone. A second child sets up the same sentinel with
// no traffic at all and makes the same one-rule reload: the ratio for a box with no flows.
// The EAL runs --no-huge: DPDK's memory (mbuf pool, flow table, rings) is ordinary shared
// anonymous memory counted in VmRSS; no hugepage memory is in use.
#include <malloc.h>
#include <pthread.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sched.h>
#include <time.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/reload.hpp"
#include "dataplane/ruleset.hpp"
#include "dataplane/signatures.hpp"
#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "config/builtin.hpp"
#include "rules/compiler.hpp"
#include "rules/loader.hpp"
#include "rules/matcher.hpp"
#include "tests/bench/bench_common.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;
using Json = nlohmann::ordered_json;
using bench::put16;
using bench::put32;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kTcpFlows = 2048;
constexpr uint32_t kSegmentsPerFlow = 3;  // per direction, per cycle
constexpr uint32_t kUdpFlows = 512;       // one datagram each way per cycle
constexpr uint32_t kHeadersTcp = 14 + 20 + 20;
constexpr uint32_t kHeadersUdp = 14 + 20 + 8;
constexpr int kOneRuleReloads = 5;
constexpr int kWarmReloads = 3;
constexpr int kCold10kReloads = 2;
constexpr int kCold1kReloads = 3;
constexpr double kMinOutsideSeconds = 0.5;
constexpr double kReloadTimeoutSeconds = 180;

// ---------------------------------------------------------------------------------------
// Rules

struct RuleSpec {
  uint32_t sid;
  bool udp;
  bool pcre;
  std::string text;  // the content literal or the pcre
};

// Literals start with an upper-case letter: the payloads have none, so nothing matches.
std::string make_literal(std::mt19937& rng) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./";
  const size_t len = 8 + rng() % 9;  // 8..16 bytes
  std::string s = "Z";
  while (s.size() < len) s += kChars[rng() % (sizeof kChars - 1)];
  return s;
}

std::string make_pcre(std::mt19937& rng) {
  std::string p = "Q";
  for (int i = 0; i < 5; ++i) p += static_cast<char>('a' + rng() % 26);
  return p + "[=:][a-z0-9]{4,16}&(pass|pwd)=\\S{6,}";
}

std::vector<RuleSpec> make_rules(size_t n, uint32_t first_sid, std::mt19937& rng) {
  std::vector<RuleSpec> rules;
  for (size_t i = 0; i < n; ++i) {
    const bool pcre = i % 20 == 7;  // 5%
    rules.push_back({first_sid + static_cast<uint32_t>(i), i % 3 == 0, pcre, pcre ? make_pcre(rng) : make_literal(rng)});
  }
  return rules;
}

std::string rules_toml(const std::vector<RuleSpec>& rules, const std::string& tag) {
  std::string out;
  out.reserve(rules.size() * 120);
  for (const RuleSpec& r : rules) {
    out += "[[rule]]\nsid = " + std::to_string(r.sid) + "\nmsg = \"bench rule " + std::to_string(r.sid) + " " + tag +
           "\"\nproto = \"" + (r.udp ? "udp" : "tcp") + "\"\n";
    out += r.pcre ? "match = [{ pcre = '" + r.text + "' }]\n" : "match = [{ content = \"" + r.text + "\" }]\n";
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path);
}

// ---------------------------------------------------------------------------------------
// Memory

struct ProcStatus {
  double rss_mb = 0, hwm_mb = 0, anon_mb = 0, file_mb = 0, shmem_mb = 0;
};

ProcStatus read_status() {
  ProcStatus s;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    auto field = [&](const char* name, double& out) {
      if (line.rfind(name, 0) == 0) out = std::strtod(line.c_str() + std::strlen(name), nullptr) / 1024.0;
    };
    field("VmRSS:", s.rss_mb);
    field("VmHWM:", s.hwm_mb);
    field("RssAnon:", s.anon_mb);
    field("RssFile:", s.file_mb);
    field("RssShmem:", s.shmem_mb);
  }
  return s;
}

// Resident MB from /proc/self/statm (cheaper than status; sampled every tick).
double statm_rss_mb() {
  static const long page = sysconf(_SC_PAGESIZE);
  char buf[128];
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  unsigned long size = 0, resident = 0;
  if (std::sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(page) / (1024.0 * 1024.0);
}

// Writing 5 to clear_refs resets VmHWM to the current VmRSS.
bool reset_hwm() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

double hugepages_in_use_mb() {  // system-wide, from /proc/meminfo
  std::ifstream in("/proc/meminfo");
  std::string line;
  double total = 0, free = 0, size_kb = 0;
  while (std::getline(in, line)) {
    if (line.rfind("HugePages_Total:", 0) == 0) total = std::strtod(line.c_str() + 16, nullptr);
    if (line.rfind("HugePages_Free:", 0) == 0) free = std::strtod(line.c_str() + 15, nullptr);
    if (line.rfind("Hugepagesize:", 0) == 0) size_kb = std::strtod(line.c_str() + 13, nullptr);
  }
  return (total - free) * size_kb / 1024.0;
}

Json heap_json() {
  const struct mallinfo2 mi = mallinfo2();
  rte_malloc_socket_stats st{};
  (void)rte_malloc_get_socket_stats(0, &st);
  return {{"glibc_arena_mb", static_cast<double>(mi.arena) / 1048576.0},
          {"glibc_mmapped_mb", static_cast<double>(mi.hblkhd) / 1048576.0},
          {"glibc_in_use_mb", static_cast<double>(mi.uordblks + mi.hblkhd) / 1048576.0},
          {"glibc_free_in_arena_mb", static_cast<double>(mi.fordblks) / 1048576.0},
          {"rte_malloc_in_use_mb", static_cast<double>(st.heap_allocsz_bytes) / 1048576.0}};
}

// Resident memory by kind of mapping, from /proc/self/smaps: the main heap, anonymous
// mappings (glibc's mmapped chunks and thread arenas, the worker's arrays, the stream-state
// pool), DPDK's memory (memfd / shared in --no-huge), files (libraries), stacks.
Json smaps_summary() {
  std::ifstream in("/proc/self/smaps");
  std::string line, key;
  double size_mb = 0;
  std::map<std::string, double> by_kind;
  std::vector<std::pair<double, std::string>> anon;  // rss, description
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    const bool header = colon == std::string::npos || colon > line.find(' ');
    if (header) {
      std::istringstream h(line);
      std::string range, perms, off, dev, inode, path;
      h >> range >> perms >> off >> dev >> inode;
      std::getline(h, path);
      path.erase(0, path.find_first_not_of(' '));
      const size_t dash = range.find('-');
      const unsigned long lo = std::stoul(range.substr(0, dash), nullptr, 16);
      const unsigned long hi = std::stoul(range.substr(dash + 1), nullptr, 16);
      size_mb = static_cast<double>(hi - lo) / 1048576.0;
      if (path.empty()) {
        key = "anon";
      } else if (path == "[heap]") {
        key = "heap (main arena, brk)";
      } else if (path.rfind("[stack", 0) == 0) {
        key = "stacks";
      } else if (path.find("memfd:") != std::string::npos || path.find("rte") != std::string::npos ||
                 path.find("/dev/zero") != std::string::npos || path.find("map_") != std::string::npos ||
                 path.find("hugepage") != std::string::npos) {
        key = "dpdk (" + path.substr(0, path.find(' ')) + ")";
      } else if (path[0] == '[') {
        key = path;
      } else {
        key = "files";
      }
      if (key.rfind("dpdk", 0) == 0) key = "dpdk memory";
      continue;
    }
    if (line.rfind("Rss:", 0) == 0) {
      const double mb = std::strtod(line.c_str() + 4, nullptr) / 1024.0;
      by_kind[key] += mb;
      if (key == "anon" && mb >= 1.0) {
        char d[64];
        std::snprintf(d, sizeof d, "mapping of %.1f MB", size_mb);
        anon.emplace_back(mb, d);
      }
    }
  }
  std::sort(anon.rbegin(), anon.rend());
  Json kinds = Json::object();
  for (const auto& [k, v] : by_kind) kinds[k] = std::round(v * 10.0) / 10.0;
  Json big = Json::array();
  for (size_t i = 0; i < anon.size() && i < 8; ++i) {
    big.push_back({{"rss_mb", std::round(anon[i].first * 10.0) / 10.0}, {"vma", anon[i].second}});
  }
  return {{"by_kind_mb", kinds}, {"largest_anonymous_mb", big}};
}

// Every thread of the process: its name and the CPUs it may run on.
Json threads_json() {
  Json out = Json::array();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(e.path() / "status");
    std::string line, name, cpus;
    while (std::getline(in, line)) {
      if (line.rfind("Name:", 0) == 0) name = line.substr(line.find_first_not_of(" \t", 5));
      if (line.rfind("Cpus_allowed_list:", 0) == 0) cpus = line.substr(line.find_first_not_of(" \t", 18));
    }
    out.push_back({{"tid", e.path().filename().string()}, {"name", name}, {"cpus", cpus}});
  }
  return out;
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
double round1(double v) { return std::round(v * 10.0) / 10.0; }

Json stats_json(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  Json runs = Json::array();
  for (double x : v) runs.push_back(round1(x));
  return {{"median", round1(s[s.size() / 2])}, {"min", round1(s.front())}, {"max", round1(s.back())}, {"runs", runs}};
}

void pin_to_cpu(pthread_t t, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(t, sizeof set, &set);
}

// ---------------------------------------------------------------------------------------
// Frames

std::string random_text(std::mt19937& rng, size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789 /=&?.:-_\r\n";  // no upper case
  std::string s(n, ' ');
  for (char& c : s) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

const uint8_t kCoreIp[4] = {192, 168, 1, 1};

// dir 0: to_core (vendor → core), 1: to_vendor. TCP flow f: vendor 10.0.f>>8.f:40000+f <-> core :80.
void write_tcp(uint8_t* f, uint32_t flow, int dir, uint32_t seq, const std::string& payload) {
  std::memset(f, 0, kHeadersTcp);
  put16(f + 12, 0x0800);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(40 + payload.size()));
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t vendor[4] = {10, 0, static_cast<uint8_t>(flow >> 8), static_cast<uint8_t>(flow)};
  std::memcpy(ip + 12, dir == 0 ? vendor : kCoreIp, 4);
  std::memcpy(ip + 16, dir == 0 ? kCoreIp : vendor, 4);
  uint8_t* t = ip + 20;
  put16(t, static_cast<uint16_t>(dir == 0 ? 40000 + flow : 80));
  put16(t + 2, static_cast<uint16_t>(dir == 0 ? 80 : 40000 + flow));
  put32(t + 4, seq);
  put32(t + 8, 1);
  t[12] = 5 << 4;
  t[13] = 0x18;  // PSH ACK
  put16(t + 14, 65535);
  std::memcpy(t + 20, payload.data(), payload.size());
}

// UDP flow u: vendor 10.1.u>>8.u:50000+u <-> core :53.
void write_udp(uint8_t* f, uint32_t flow, int dir, const std::string& payload) {
  std::memset(f, 0, kHeadersUdp);
  put16(f + 12, 0x0800);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(28 + payload.size()));
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t vendor[4] = {10, 1, static_cast<uint8_t>(flow >> 8), static_cast<uint8_t>(flow)};
  std::memcpy(ip + 12, dir == 0 ? vendor : kCoreIp, 4);
  std::memcpy(ip + 16, dir == 0 ? kCoreIp : vendor, 4);
  uint8_t* u = ip + 20;
  put16(u, static_cast<uint16_t>(dir == 0 ? 50000 + flow : 53));
  put16(u + 2, static_cast<uint16_t>(dir == 0 ? 53 : 50000 + flow));
  put16(u + 4, static_cast<uint16_t>(8 + payload.size()));
  std::memcpy(u + 8, payload.data(), payload.size());
}

// ---------------------------------------------------------------------------------------

struct Sample {
  double t;       // seconds since the start
  uint64_t rx;    // frames received by the worker, both directions
  uint64_t busy;  // worker TSC cycles of polls that found frames
  uint64_t idle;
  double rss_mb;
  double worker_cpu;  // seconds the worker thread has run (its CPU clock)
  bool starved;       // the rx rings held under 64 frames: the generator lagged
};

struct Window {
  double seconds = 0;
  double frames = 0;
  double mpps = 0;             // frames / wall seconds
  double worker_cpu_s = 0;     // CPU seconds the worker thread got in the window
  double mpps_per_cpu = 0;     // frames / worker CPU seconds: what it forwards while it runs
  double idle_fraction = 0;    // the worker's empty polls (TSC; a descheduled poll counts busy)
  double starved_fraction = 0; // samples with the rx rings (nearly) empty
  double min_10ms_mpps = 0;    // the slowest 10 ms slice (wall)
  int64_t preemptions = -1;    // the worker thread's involuntary context switches
};

struct ReloadResult {
  std::string kind;
  double trigger_to_published_ms = 0;  // ReloadStatus::last_ms
  double build_ms = 0;                 // Ruleset::built_seconds: read → ready, in the build thread
  double trigger_to_retired_ms = 0;
  std::string stream_cache, block_cache;
  double rss_before_mb = 0, rss_after_mb = 0, hwm_mb = 0;
  double sampled_max_before_publish_mb = 0, sampled_max_after_publish_mb = 0;
  Window during, outside;
  uint64_t migrated = 0, swept = 0;
};

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  // Child mode (no EAL): compiles the 10k set into the cache for the main process and, on
  // the way, measures what reading and compiling cost in memory in a process of its own:
  // parse, cold compile of both databases, then the set with one tcp rule changed (STREAM
  // database compiled, BLOCK from the cache). Prints JSON on stdout.
  // Child mode: a sentinel set up as the main process is (EAL, mbuf pool, ports, the 10k set
  // from the cache, one worker) but with no traffic at all: steady VmRSS, then the same
  // one-rule-changed reload (the rule directory switched to a copy with one tcp rule's
  // content changed). The worker never runs, so retirement is immediate. Prints JSON.
  if (argc == 5 && std::strcmp(argv[1], "--idle-probe") == 0) {
    spdlog::set_default_logger(spdlog::stderr_logger_mt("idle-probe"));
    spdlog::set_level(spdlog::level::warn);
    if (!bench::start_eal("reload_bench", "bench-reload-idle", 512)) return 1;
    install_stream_allocator();
    Json out;
    try {
      config::Config c;
      c.rules.dir = argv[2];
      c.rules.cache_dir = argv[3];
      c.rules.watch = false;
      rte_mempool* pool = rte_pktmbuf_pool_create("idle_pool", c.dataplane.mbufs, c.dataplane.mbuf_cache, 0,
                                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
      if (pool == nullptr) throw std::runtime_error("mbuf pool");
      const bench::RingPort v = bench::make_ring_port("vendor", pool);
      const bench::RingPort k = bench::make_ring_port("core", pool);
      auto pub = std::make_unique<RulesetPublisher>(build_ruleset(c, RuleSources{}, 1, 1, false), 1);
      WorkerSetup setup = worker_setup(c, v.id, k.id, 0, pub->current().generation->inspection());
      setup.published = &pub->slot();
      setup.qsbr = pub->qsbr();
      auto worker = std::make_unique<Worker>(setup, 0);
      auto rel = std::make_unique<Reloader>(c, RuleSources{}, *pub, 1, false);
      const auto drain = [&] { bench::drain_alerts(*worker); };
      const ProcStatus steady = read_status();
      c.rules.dir = argv[4];
      (void)reset_hwm();
      rel->request("idle probe");
      const auto t0 = Clock::now();
      while ((pub->current().generation->number() == 1 || pub->pending() != 0) &&
             Clock::now() - t0 < std::chrono::seconds(60)) {
        rel->tick(drain);
        if (rel->status().failures != 0) throw std::runtime_error("reload failed: " + rel->status().last_error);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      const ProcStatus after = read_status();
      const rules::RuleSet* rs = pub->current().generation->inspection().rules;
      out = {{"steady_mb", round1(steady.rss_mb)},
             {"peak_one_rule_changed_mb", round1(after.hwm_mb)},
             {"ratio", round3(after.hwm_mb / steady.rss_mb)},
             {"rss_after_mb", round1(after.rss_mb)},
             {"published", pub->current().generation->number() == 2},
             {"trigger_to_published_ms", round1(rel->status().last_ms)},
             {"cache", {{"stream", rules::cache_outcome_name(rs->report().stream.cache)},
                        {"block", rules::cache_outcome_name(rs->report().block.cache)}}}};
      rel.reset();
      worker.reset();
      pub.reset();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "idle probe: %s\n", e.what());
      bench::stop_eal();
      return 1;
    }
    bench::stop_eal();
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  if (argc == 5 && std::strcmp(argv[1], "--probe") == 0) {
    spdlog::set_default_logger(spdlog::stderr_logger_mt("probe"));
    spdlog::set_level(spdlog::level::warn);
    try {
      const rules::ClassificationTable classes =
          rules::load_classifications_text(config::kBuiltinClassification, config::kBuiltinClassificationName);
      auto phase = [](const ProcStatus& before, const ProcStatus& after) {
        return Json{{"rss_before_mb", round1(before.rss_mb)},
                    {"peak_mb", round1(after.hwm_mb)},
                    {"transient_mb", round1(after.hwm_mb - before.rss_mb)},
                    {"retained_mb", round1(after.rss_mb - before.rss_mb)}};
      };
      (void)malloc_trim(0);
      const ProcStatus s0 = read_status();
      (void)reset_hwm();
      std::vector<rules::Rule> parsed = rules::load_rule_files(rules::rule_files_in(argv[2]), classes);
      const ProcStatus s1 = read_status();
      (void)malloc_trim(0);
      const ProcStatus s1t = read_status();
      (void)reset_hwm();
      std::shared_ptr<const rules::RuleSet> set = rules::compile_rules(parsed, {argv[3]});
      const ProcStatus s2 = read_status();
      parsed.clear();
      parsed.shrink_to_fit();
      (void)malloc_trim(0);
      const ProcStatus s3 = read_status();
      // One rule changed, the first set still held (as in a reload): parse + compile.
      (void)reset_hwm();
      std::shared_ptr<const rules::RuleSet> set2 =
          rules::compile_rules(rules::load_rule_files(rules::rule_files_in(argv[4]), classes), {argv[3]});
      const ProcStatus s4 = read_status();
      const Json out = {{"parse_10k_rules", phase(s0, s1)},
                        {"parse_retained_after_trim_mb", round1(s1t.rss_mb - s0.rss_mb)},
                        {"cold_compile_both_databases", phase(s1t, s2)},
                        {"ruleset_alone_after_trim_mb", round1(s3.rss_mb - s0.rss_mb)},
                        {"one_rule_changed_parse_and_compile", phase(s3, s4)},
                        {"one_rule_changed_cache", {{"stream", rules::cache_outcome_name(set2->report().stream.cache)},
                                                    {"block", rules::cache_outcome_name(set2->report().block.cache)}}},
                        {"cold_compile_ms", {{"stream", round1(set->report().stream.ms)},
                                             {"block", round1(set->report().block.ms)}}}};
      std::printf("%s\n", out.dump().c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "probe: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  spdlog::set_default_logger(spdlog::stderr_logger_mt("bench"));
  spdlog::set_level(spdlog::level::warn);
  const auto t_start = Clock::now();
  auto secs = [&t_start] { return std::chrono::duration<double>(Clock::now() - t_start).count(); };

  // Rule sets and directories.
  const fs::path base = fs::temp_directory_path() / ("reload-bench-" + std::to_string(getpid()));
  fs::remove_all(base);
  const fs::path dir10k = base / "r10k", dir1k = base / "r1k";
  fs::create_directories(dir10k);
  fs::create_directories(dir1k);
  std::mt19937 rng(20240601);
  std::vector<RuleSpec> rules10k = make_rules(10000, 1000000, rng);
  std::vector<RuleSpec> rules1k = make_rules(1000, 2000000, rng);
  int version = 0;
  auto write_rules = [&](const fs::path& dir, const std::vector<RuleSpec>& r) {
    std::string tag = std::to_string(version++);
    tag.insert(tag.begin(), 'v');
    write_file(dir / "r.toml", rules_toml(r, tag));
  };
  write_rules(dir10k, rules10k);
  write_rules(dir1k, rules1k);
  int cache_no = 0;
  auto new_cache_dir = [&] { return (base / ("cache" + std::to_string(cache_no++))).string(); };
  const std::string cache10k = new_cache_dir();

  // The 10k set compiled into the cache by a child process (before the EAL: fork is safe),
  // which also measures the memory of parsing and compiling on its own.
  double prime_ms = 0;
  Json probe, idle_probe;
  {
    const fs::path dir_changed = base / "r10k-one-changed";
    fs::create_directories(dir_changed);
    std::vector<RuleSpec> changed = rules10k;
    for (RuleSpec& r : changed) {
      if (!r.udp && !r.pcre) {
        r.text = make_literal(rng);
        break;
      }
    }
    write_file(dir_changed / "r.toml", rules_toml(changed, "v0"));
    const fs::path dir_changed2 = base / "r10k-one-changed-2";
    fs::create_directories(dir_changed2);
    changed = rules10k;
    for (size_t i = changed.size() / 2; i < changed.size(); ++i) {
      if (!changed[i].udp && !changed[i].pcre) {
        changed[i].text = make_literal(rng);
        break;
      }
    }
    write_file(dir_changed2 / "r.toml", rules_toml(changed, "v0"));
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    auto run_child = [&](const std::string& mode, const fs::path& changed_dir, Json& result) {
      const std::string cmd = "'" + self + "' " + mode + " '" + dir10k.string() + "' '" + cache10k + "' '" +
                              changed_dir.string() + "'";
      FILE* child = popen(cmd.c_str(), "r");
      std::string text;
      char buf[4096];
      for (size_t n; child != nullptr && (n = std::fread(buf, 1, sizeof buf, child)) != 0;) text.append(buf, n);
      const int st = child != nullptr ? pclose(child) : -1;
      result = Json::parse(text, nullptr, false);
      return st == 0 && !result.is_discarded();
    };
    const auto t0 = Clock::now();
    if (!run_child("--probe", dir_changed, probe)) {
      std::fprintf(stderr, "the probe child (priming the 10k cache) failed\n");
      return 1;
    }
    prime_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!run_child("--idle-probe", dir_changed2, idle_probe)) {
      std::fprintf(stderr, "the idle probe child failed\n");
      return 1;
    }
  }

  const double rss_before_eal = read_status().rss_mb;
  if (!bench::start_eal("reload_bench", "bench-reload", 512)) return 1;
  install_stream_allocator();
  const double rss_after_eal = read_status().rss_mb;

  config::Config cfg;  // defaults: flows.capacity 65536, mbufs 16383, burst 32
  cfg.rules.dir = dir10k.string();
  cfg.rules.cache_dir = cache10k;
  cfg.rules.watch = false;
  cfg.flows.verify_checksums = false;  // sequence numbers are rewritten every cycle
  cfg.flows.inspect_depth = 0;         // every cycle is scanned, however long the run

  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", cfg.dataplane.mbufs, cfg.dataplane.mbuf_cache, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (pool == nullptr) {
    std::fprintf(stderr, "mbuf pool\n");
    return 1;
  }
  const bench::RingPort vendor = bench::make_ring_port("vendor", pool);
  const bench::RingPort core = bench::make_ring_port("core", pool);
  rte_ring* rx_ring[2] = {vendor.rx, core.rx};  // to_core enters at the vendor port
  rte_ring* tx_ring[2] = {core.tx, vendor.tx};

  // Frames, per direction, in cycle order.
  std::vector<rte_mbuf*> frames[2];
  std::vector<uint32_t> stream_len(kTcpFlows * 2, 0);
  uint64_t payload_bytes = 0;
  const uint32_t imix[] = {10, 10, 10, 10, 10, 10, 10, 540, 540, 540, 540, 1460};
  for (uint32_t k = 0; k < kSegmentsPerFlow; ++k) {
    for (uint32_t f = 0; f < kTcpFlows; ++f) {
      for (int d = 0; d < 2; ++d) {
        const std::string payload = random_text(rng, imix[rng() % std::size(imix)]);
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) return 1;
        auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(kHeadersTcp + payload.size())));
        uint32_t& at = stream_len[f * 2 + d];
        write_tcp(p, f, d, 1 + at, payload);
        at += static_cast<uint32_t>(payload.size());
        payload_bytes += payload.size();
        frames[d].push_back(m);
      }
    }
    if (k == 0) {
      for (uint32_t u = 0; u < kUdpFlows; ++u) {
        for (int d = 0; d < 2; ++d) {
          const std::string payload = random_text(rng, 40 + rng() % 400);
          rte_mbuf* m = rte_pktmbuf_alloc(pool);
          if (m == nullptr) return 1;
          auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(kHeadersUdp + payload.size())));
          write_udp(p, u, d, payload);
          payload_bytes += payload.size();
          frames[d].push_back(m);
        }
      }
    }
  }
  const size_t frames_total = frames[0].size() + frames[1].size();
  if (frames[0].size() >= bench::kRingSize || frames[1].size() >= bench::kRingSize) return 1;

  const double rss_after_frames = read_status().rss_mb;
  // Generation 1: the 10k set, from the cache the child wrote.
  std::unique_ptr<Ruleset> first;
  try {
    first = build_ruleset(cfg, RuleSources{}, 1, 1, false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "initial build: %s\n", e.what());
    return 1;
  }
  const double initial_build_ms = first->built_seconds * 1e3;
  const double rss_after_gen1 = read_status().rss_mb;
  auto publisher_owner = std::make_unique<RulesetPublisher>(std::move(first), 1);
  RulesetPublisher& publisher = *publisher_owner;
  WorkerSetup ws = worker_setup(cfg, vendor.id, core.id, 0, publisher.current().generation->inspection());
  ws.published = &publisher.slot();
  ws.qsbr = publisher.qsbr();
  auto worker = std::make_unique<Worker>(ws, 0);
  const double rss_after_worker = read_status().rss_mb;
  Worker& w = *worker;
  auto reloader_owner = std::make_unique<Reloader>(cfg, RuleSources{}, publisher, 1, false);
  Reloader& reloader = *reloader_owner;
  const double rss_after_setup = read_status().rss_mb;

  uint64_t alerts_drained = 0;
  const auto drain = [&] {
    AlertRecord sink[256];
    for (size_t n; (n = w.alerts().pop(sink, 256)) != 0;) alerts_drained += n;
  };

  // Threads: the worker on CPU 1, the generator on CPU 0 (beside the control thread).
  const bool two_cpus = std::thread::hardware_concurrency() >= 2;
  std::atomic<bool> stop_worker{false}, stop_gen{false};
  std::atomic<uint64_t> gen_enqueued{0}, gen_enqueue_short{0};
  std::atomic<pid_t> worker_tid{0};
  std::thread worker_thread([&] {
    worker_tid.store(static_cast<pid_t>(gettid()));
    w.run(stop_worker);
  });
  if (two_cpus) pin_to_cpu(worker_thread.native_handle(), 1);
  std::thread gen_thread([&] {
    for (int d = 0; d < 2; ++d) {
      const unsigned n = rte_ring_enqueue_bulk(rx_ring[d], reinterpret_cast<void**>(frames[d].data()),
                                               static_cast<unsigned>(frames[d].size()), nullptr);
      gen_enqueued.fetch_add(n, std::memory_order_relaxed);
    }
    rte_mbuf* buf[512];
    while (!stop_gen.load(std::memory_order_relaxed)) {
      unsigned moved = 0;
      for (int d = 0; d < 2; ++d) {
        const unsigned n = rte_ring_dequeue_burst(tx_ring[d], reinterpret_cast<void**>(buf), 512, nullptr);
        for (unsigned i = 0; i < n; ++i) {
          uint8_t* p = rte_pktmbuf_mtod(buf[i], uint8_t*);
          if (p[14 + 9] != 6) continue;
          const uint8_t* vend = p + 14 + (d == 0 ? 12 : 16);
          const uint32_t flow = uint32_t{vend[2]} << 8 | vend[3];
          uint8_t* s = p + 14 + 20 + 4;
          const uint32_t seq = uint32_t{s[0]} << 24 | uint32_t{s[1]} << 16 | uint32_t{s[2]} << 8 | s[3];
          put32(s, seq + stream_len[flow * 2 + static_cast<uint32_t>(d)]);
        }
        const unsigned q = rte_ring_enqueue_burst(rx_ring[d], reinterpret_cast<void**>(buf), n, nullptr);
        if (q != n) gen_enqueue_short.fetch_add(n - q, std::memory_order_relaxed);  // cannot happen: N < ring size
        gen_enqueued.fetch_add(q, std::memory_order_relaxed);
        moved += n;
      }
      if (moved < 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  if (two_cpus) pin_to_cpu(gen_thread.native_handle(), 0);

  // Sampling, every control tick.
  std::vector<Sample> samples;
  samples.reserve(400000);
  const WorkerCounters& wc = w.counters();
  auto rx_now = [&] { return wc.dir[0].rx_packets.get() + wc.dir[1].rx_packets.get(); };
  clockid_t worker_clock{};
  const bool have_worker_clock = pthread_getcpuclockid(worker_thread.native_handle(), &worker_clock) == 0;
  auto worker_cpu = [&] {
    timespec ts{};
    if (!have_worker_clock || clock_gettime(worker_clock, &ts) != 0) return 0.0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  auto take_sample = [&] {
    const bool starved = rte_ring_count(rx_ring[0]) + rte_ring_count(rx_ring[1]) < 64;
    samples.push_back({secs(), rx_now(), wc.busy_cycles.get(), wc.idle_cycles.get(), statm_rss_mb(), worker_cpu(),
                       starved});
  };
  auto worker_preemptions = [&]() -> int64_t {
    std::ifstream in("/proc/self/task/" + std::to_string(worker_tid.load()) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) return std::strtoll(line.c_str() + 27, nullptr, 10);
    }
    return 0;
  };
  auto tick = [&] {
    reloader.tick(drain);
    take_sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  auto run_for = [&](double seconds) {
    const double end = secs() + seconds;
    while (secs() < end) tick();
  };
  // Throughput over [t0, t1] from the samples.
  auto window = [&](double t0, double t1) {
    Window out;
    auto first = std::lower_bound(samples.begin(), samples.end(), t0, [](const Sample& s, double t) { return s.t < t; });
    auto last = std::upper_bound(samples.begin(), samples.end(), t1, [](double t, const Sample& s) { return t < s.t; });
    if (first == samples.end() || last == samples.begin()) return out;
    --last;
    if (last <= first) return out;
    const double dt = last->t - first->t;
    out.seconds = dt;
    out.frames = static_cast<double>(last->rx - first->rx);
    out.mpps = out.frames / dt / 1e6;
    out.worker_cpu_s = last->worker_cpu - first->worker_cpu;
    out.mpps_per_cpu = out.worker_cpu_s > 0 ? out.frames / out.worker_cpu_s / 1e6 : 0;
    size_t starved = 0;
    for (auto it = first; it <= last; ++it) starved += it->starved;
    out.starved_fraction = static_cast<double>(starved) / static_cast<double>(last - first + 1);
    const double busy = static_cast<double>(last->busy - first->busy), idle = static_cast<double>(last->idle - first->idle);
    out.idle_fraction = busy + idle > 0 ? idle / (busy + idle) : 0;
    double min_rate = 1e18;
    for (auto a = first; a < last;) {
      auto b = a;
      while (b < last && b->t - a->t < 0.010) ++b;
      if (b->t - a->t >= 0.009) min_rate = std::min(min_rate, static_cast<double>(b->rx - a->rx) / (b->t - a->t) / 1e6);
      a = b;
    }
    out.min_10ms_mpps = min_rate == 1e18 ? out.mpps : min_rate;
    return out;
  };
  auto window_json = [](const Window& x) {
    return Json{{"seconds", round3(x.seconds)},
                {"mpps", round3(x.mpps)},
                {"mpps_per_worker_cpu_second", round3(x.mpps_per_cpu)},
                {"worker_cpu_share", round3(x.seconds > 0 ? x.worker_cpu_s / x.seconds : 0)},
                {"min_10ms_mpps", round3(x.min_10ms_mpps)},
                {"worker_idle_fraction", round3(x.idle_fraction)},
                {"rx_rings_starved_fraction", round3(x.starved_fraction)},
                {"worker_preemptions", x.preemptions}};
  };

  bool failed = false;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& why) {
    failed = true;
    failures.push_back(why);
    std::fprintf(stderr, "reload_bench: %s\n", why.c_str());
  };

  // One reload, files and cache_dir prepared by the caller; then an equal window of quiet.
  std::vector<ReloadResult> results;
  Json threads_seen;  // during the first build: which CPUs the build thread may use
  auto reload = [&](const std::string& kind) -> const ReloadResult* {
    ReloadResult r;
    r.kind = kind;
    const uint64_t gen_before = publisher.current().generation->number();
    const ReloadStatus st0 = reloader.status();
    const uint64_t migrated0 = wc.reload.flows_migrated.get(), swept0 = wc.reload.flows_swept.get();
    r.rss_before_mb = read_status().rss_mb;
    if (!reset_hwm()) fail("cannot reset VmHWM (/proc/self/clear_refs)");
    const double t0 = secs();
    const int64_t pre0 = worker_preemptions();
    reloader.request("bench: " + kind);
    double t_pub = -1, t_ret = -1;
    r.sampled_max_before_publish_mb = r.rss_before_mb;
    while (secs() - t0 < kReloadTimeoutSeconds) {
      tick();
      const Sample& s = samples.back();
      const ReloadStatus st = reloader.status();
      if (t_pub < 0) {
        if (st.failures != st0.failures) {
          fail(kind + ": reload failed: " + st.last_error);
          return nullptr;
        }
        if (publisher.current().generation->number() != gen_before) {
          t_pub = s.t;
        } else if (st.successes != st0.successes) {
          fail(kind + ": the files hashed as before; nothing was published");
          return nullptr;
        } else {
          r.sampled_max_before_publish_mb = std::max(r.sampled_max_before_publish_mb, s.rss_mb);
          if (threads_seen.is_null() && s.t - t0 > 0.1) threads_seen = threads_json();
          continue;
        }
      }
      r.sampled_max_after_publish_mb = std::max(r.sampled_max_after_publish_mb, s.rss_mb);
      if (publisher.pending() == 0) {
        r.during.preemptions = worker_preemptions() - pre0;
        t_ret = s.t;
        break;
      }
    }
    if (t_ret < 0) {
      fail(kind + ": not published and retired within " + std::to_string(kReloadTimeoutSeconds) + " s (pending " +
           std::to_string(publisher.pending()) + ")");
      return nullptr;
    }
    const ProcStatus after = read_status();
    r.hwm_mb = after.hwm_mb;
    r.rss_after_mb = after.rss_mb;
    const ReloadStatus st = reloader.status();
    r.trigger_to_published_ms = st.last_ms;
    r.trigger_to_retired_ms = (t_ret - t0) * 1e3;
    const Ruleset& cur = publisher.current();
    r.build_ms = cur.built_seconds * 1e3;
    if (const rules::RuleSet* rs = cur.generation->inspection().rules) {
      r.stream_cache = rules::cache_outcome_name(rs->report().stream.cache);
      r.block_cache = rules::cache_outcome_name(rs->report().block.cache);
    }
    const int64_t pre_during = r.during.preemptions;
    r.during = window(t0, t_ret);
    r.during.preemptions = pre_during;
    const double quiet = std::max(kMinOutsideSeconds, t_ret - t0);
    run_for(0.05);
    const double o0 = secs();
    const int64_t pre1 = worker_preemptions();
    run_for(quiet);
    r.outside = window(o0, secs());
    r.outside.preemptions = worker_preemptions() - pre1;
    r.migrated = wc.reload.flows_migrated.get() - migrated0;
    r.swept = wc.reload.flows_swept.get() - swept0;
    results.push_back(r);
    return &results.back();
  };

  // --- Warm-up: flows created, buffers and stream state touched; then the steady state.
  run_for(3.0);
  const ProcStatus steady_3s = read_status();
  const int64_t baseline_pre = worker_preemptions();
  run_for(3.0);
  Window baseline = window(secs() - 3.0, secs());
  baseline.preemptions = worker_preemptions() - baseline_pre;

  // --- The memory target: steady state with the 10k set, then one rule changed (a miss).
  const ProcStatus steady = read_status();
  const Json steady_smaps = smaps_summary();
  const Json steady_heap = heap_json();
  const rules::RuleSet* rs10k = publisher.current().generation->inspection().rules;
  Json databases = {{"stream_db_mb", round3(static_cast<double>(rs10k->report().stream.bytes) / 1048576.0)},
                    {"block_db_mb", round3(static_cast<double>(rs10k->report().block.bytes) / 1048576.0)},
                    {"scratch_mb", round3(static_cast<double>(publisher.current().generation->worker(0).scratch.size()) / 1048576.0)},
                    {"stream_state_bytes_per_direction", rs10k->stream_state_size()}};
  std::vector<double> one_rule_ms, one_rule_build_ms, one_rule_peak, rss_after_each;
  Json one_rule_detail = Json::array();
  Json peak_heap, after_first_smaps;
  ProcStatus after_first_settled;
  for (int i = 0; i < kOneRuleReloads && !failed; ++i) {
    // A tcp literal rule (in the STREAM database) gets new content.
    size_t j = (1 + static_cast<size_t>(i) * 1999) % rules10k.size();
    while (rules10k[j].udp || rules10k[j].pcre) ++j;
    rules10k[j].text = make_literal(rng);
    write_rules(dir10k, rules10k);
    const ReloadResult* r = reload("10k_one_rule_changed");
    if (r == nullptr) break;
    if (i == 0) {
      peak_heap = heap_json();
      run_for(1.0);
      after_first_smaps = smaps_summary();
      after_first_settled = read_status();
    }
    one_rule_ms.push_back(r->trigger_to_published_ms);
    one_rule_build_ms.push_back(r->build_ms);
    one_rule_peak.push_back(r->hwm_mb);
    rss_after_each.push_back(round1(read_status().rss_mb));
    one_rule_detail.push_back({{"rss_before_mb", round1(r->rss_before_mb)},
                               {"peak_vmhwm_mb", round1(r->hwm_mb)},
                               {"sampled_max_before_publish_mb", round1(r->sampled_max_before_publish_mb)},
                               {"sampled_max_after_publish_mb", round1(r->sampled_max_after_publish_mb)},
                               {"rss_after_retire_mb", round1(r->rss_after_mb)},
                               {"stream_cache", r->stream_cache},
                               {"block_cache", r->block_cache}});
  }
  run_for(1.0);
  const ProcStatus after_one_rule = read_status();

  // --- 10k warm (msgs only), then 10k cold (empty cache).
  std::vector<double> warm10k, warm10k_build, cold10k, cold10k_build;
  for (int i = 0; i < kWarmReloads && !failed; ++i) {
    write_rules(dir10k, rules10k);
    if (const ReloadResult* r = reload("10k_warm")) {
      warm10k.push_back(r->trigger_to_published_ms);
      warm10k_build.push_back(r->build_ms);
    }
  }
  for (int i = 0; i < kCold10kReloads && !failed; ++i) {
    write_rules(dir10k, rules10k);
    cfg.rules.cache_dir = new_cache_dir();
    if (const ReloadResult* r = reload("10k_cold")) {
      cold10k.push_back(r->trigger_to_published_ms);
      cold10k_build.push_back(r->build_ms);
    }
  }
  // --- 1k cold, then 1k warm.
  std::vector<double> cold1k, cold1k_build, warm1k, warm1k_build;
  cfg.rules.dir = dir1k.string();
  for (int i = 0; i < kCold1kReloads && !failed; ++i) {
    write_rules(dir1k, rules1k);
    cfg.rules.cache_dir = new_cache_dir();
    if (const ReloadResult* r = reload("1k_cold")) {
      cold1k.push_back(r->trigger_to_published_ms);
      cold1k_build.push_back(r->build_ms);
    }
  }
  for (int i = 0; i < kWarmReloads && !failed; ++i) {
    write_rules(dir1k, rules1k);
    if (const ReloadResult* r = reload("1k_warm")) {
      warm1k.push_back(r->trigger_to_published_ms);
      warm1k_build.push_back(r->build_ms);
    }
  }

  // --- Controls, no reload: CPU 0 kept busy (as the build keeps it) for as long as a
  // one-rule reload took, by a spinning thread, then by one that allocates, touches and
  // frees 32 MB over and over with malloc_trim (page faults and unmaps, as a compile does);
  // each against an equal window after it. What the worker loses here is not the reload's.
  Json controls = Json::array();
  {
    double control_s = 0;
    size_t n = 0;
    for (const ReloadResult& r : results) {
      if (r.kind == "10k_one_rule_changed") {
        control_s += r.trigger_to_retired_ms / 1e3;
        ++n;
      }
    }
    control_s = n != 0 ? control_s / static_cast<double>(n) : 1.3;
    auto control = [&](const char* kind, const std::function<void(const std::atomic<bool>&)>& body) {
      std::atomic<bool> stop{false};
      const int64_t p0 = worker_preemptions();
      const double t0 = secs();
      std::thread t([&] { body(stop); });
      if (two_cpus) pin_to_cpu(t.native_handle(), 0);
      run_for(control_s);
      stop.store(true);
      t.join();
      Window d = window(t0, secs());
      d.preemptions = worker_preemptions() - p0;
      run_for(0.05);
      const double o0 = secs();
      const int64_t p1 = worker_preemptions();
      run_for(control_s);
      Window o = window(o0, secs());
      o.preemptions = worker_preemptions() - p1;
      controls.push_back({{"kind", kind},
                          {"during", window_json(d)},
                          {"outside", window_json(o)},
                          {"mpps_ratio", o.mpps > 0 ? Json(round3(d.mpps / o.mpps)) : Json(nullptr)},
                          {"per_worker_cpu_second_ratio",
                           o.mpps_per_cpu > 0 ? Json(round3(d.mpps_per_cpu / o.mpps_per_cpu)) : Json(nullptr)}});
    };
    control("cpu0_spinning_thread", [](const std::atomic<bool>& stop) {
      volatile uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
    control("cpu0_allocate_touch_free_32mb", [](const std::atomic<bool>& stop) {
      constexpr size_t kBytes = size_t{32} << 20;
      while (!stop.load(std::memory_order_relaxed)) {
        auto* p = static_cast<char*>(std::malloc(kBytes));
        if (p == nullptr) break;
        std::memset(p, 1, kBytes);
        std::free(p);
        (void)malloc_trim(0);
      }
    });
  }

  // --- Stop: the generator first, then the worker once the rx rings are empty.
  stop_gen.store(true);
  gen_thread.join();
  const double drain_deadline = secs() + 5;
  while ((rte_ring_count(rx_ring[0]) != 0 || rte_ring_count(rx_ring[1]) != 0) && secs() < drain_deadline) tick();
  run_for(0.05);
  stop_worker.store(true);
  worker_thread.join();
  reloader.wait();
  reloader.tick(drain);
  drain();

  // --- Frame accounting.
  const WorkerCounters* wcs[] = {&wc};
  const Totals tot = sum_counters(wcs);
  uint64_t recovered = 0;
  {
    rte_mbuf* buf[512];
    for (rte_ring* r : {rx_ring[0], rx_ring[1], tx_ring[0], tx_ring[1]}) {
      for (unsigned n; (n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(buf), 512, nullptr)) != 0;) {
        recovered += n;
        for (unsigned i = 0; i < n; ++i) rte_pktmbuf_free(buf[i]);
      }
    }
  }
  const uint64_t rx = tot.rx_total(), fwd = tot.forwarded_total(), dropped = tot.dropped_total();
  const uint64_t lost = rx - fwd - dropped;
  Json drops_nonzero = Json::object();
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    if (tot.drops[i] != 0) drops_nonzero[std::to_string(i)] = tot.drops[i];
  }
  const uint64_t enqueued = gen_enqueued.load();
  if (lost != 0) fail("packets lost: rx - forwarded - dropped = " + std::to_string(lost));
  if (dropped != 0) fail("frames dropped: " + std::to_string(dropped));
  if (enqueued != rx) fail("frames enqueued " + std::to_string(enqueued) + " != received " + std::to_string(rx));
  if (recovered != frames_total) fail("frames recovered " + std::to_string(recovered) + " of " + std::to_string(frames_total));
  if (gen_enqueue_short.load() != 0) fail("generator enqueue refused");
  if (alerts_drained != 0 || bench::alerts_generated(wc) != 0) fail("alerts raised: the traffic matched a rule");

  // --- Throughput, during reload windows vs the equal windows after them.
  auto aggregate = [&](const std::function<bool(const ReloadResult&)>& pick) {
    Window d, o;
    double d_min = 1e18, o_min = 1e18, d_idle = 0, o_idle = 0, d_starved = 0, o_starved = 0;
    size_t n = 0;
    for (const ReloadResult& r : results) {
      if (!pick(r)) continue;
      d.seconds += r.during.seconds;
      d.frames += r.during.frames;
      d.worker_cpu_s += r.during.worker_cpu_s;
      o.seconds += r.outside.seconds;
      o.frames += r.outside.frames;
      o.worker_cpu_s += r.outside.worker_cpu_s;
      d_min = std::min(d_min, r.during.min_10ms_mpps);
      o_min = std::min(o_min, r.outside.min_10ms_mpps);
      d_idle += r.during.idle_fraction * r.during.seconds;
      o_idle += r.outside.idle_fraction * r.outside.seconds;
      d_starved += r.during.starved_fraction * r.during.seconds;
      o_starved += r.outside.starved_fraction * r.outside.seconds;
      ++n;
    }
    if (n == 0 || d.seconds <= 0 || o.seconds <= 0) return Json(nullptr);
    const double dm = d.frames / d.seconds / 1e6, om = o.frames / o.seconds / 1e6;
    const double dc = d.worker_cpu_s > 0 ? d.frames / d.worker_cpu_s / 1e6 : 0;
    const double oc = o.worker_cpu_s > 0 ? o.frames / o.worker_cpu_s / 1e6 : 0;
    return Json{{"reloads", n},
                {"seconds_during", round3(d.seconds)},
                {"seconds_outside", round3(o.seconds)},
                {"outside", round3(om)},
                {"during_reload", round3(dm)},
                {"ratio", om > 0 ? Json(round3(dm / om)) : Json(nullptr)},
                {"per_worker_cpu_second", {{"outside", round3(oc)}, {"during_reload", round3(dc)},
                                           {"ratio", oc > 0 ? Json(round3(dc / oc)) : Json(nullptr)}}},
                {"worker_cpu_share", {{"outside", round3(o.worker_cpu_s / o.seconds)},
                                      {"during_reload", round3(d.worker_cpu_s / d.seconds)}}},
                {"min_10ms_mpps", {{"outside", round3(o_min)}, {"during_reload", round3(d_min)}}},
                {"worker_idle_fraction", {{"outside", round3(o_idle / o.seconds)}, {"during_reload", round3(d_idle / d.seconds)}}},
                {"rx_rings_starved_fraction", {{"outside", round3(o_starved / o.seconds)},
                                               {"during_reload", round3(d_starved / d.seconds)}}}};
  };
  auto kind_is = [](std::string k) { return [k](const ReloadResult& r) { return r.kind == k; }; };

  Json out;
  out["benchmark"] = "reload";
  out["setup"] = {{"workers", 1},
                  {"flow_capacity_per_worker", cfg.flows.capacity},
                  {"tcp_flows", kTcpFlows},
                  {"udp_flows", kUdpFlows},
                  {"frames_in_flight", frames_total},
                  {"payload_bytes_per_cycle", payload_bytes},
                  {"mbufs", cfg.dataplane.mbufs},
                  {"inspect_depth", "0 (all)"},
                  {"verify_checksums", false},
                  {"stream_state_max", cfg.flows.stream_state_max},
                  {"cpus", two_cpus ? "worker on CPU 1; generator, control and reload build threads on CPU 0"
                                    : "one CPU: all threads share it"},
                  {"control_tick_ms", 1},
                  {"rules", "content 8-16 B literals (95%) and pcre (5%); every third rule udp, the rest tcp"}};
  auto timing = [&](const std::vector<double>& v, const std::vector<double>& b) {
    return Json{{"trigger_to_published_ms", stats_json(v)}, {"build_ms", stats_json(b)}};
  };
  out["rules_1k"] = {{"cold", timing(cold1k, cold1k_build)}, {"warm", timing(warm1k, warm1k_build)},
                     {"cold_ms", cold1k.empty() ? Json(nullptr) : stats_json(cold1k)["median"]},
                     {"warm_ms", warm1k.empty() ? Json(nullptr) : stats_json(warm1k)["median"]}};
  out["rules_10k"] = {{"cold", timing(cold10k, cold10k_build)},
                      {"warm", timing(warm10k, warm10k_build)},
                      {"one_rule_changed", timing(one_rule_ms, one_rule_build_ms)},
                      {"cold_ms", cold10k.empty() ? Json(nullptr) : stats_json(cold10k)["median"]},
                      {"warm_ms", warm10k.empty() ? Json(nullptr) : stats_json(warm10k)["median"]},
                      {"one_rule_changed_ms", one_rule_ms.empty() ? Json(nullptr) : stats_json(one_rule_ms)["median"]},
                      {"initial_build_from_cache_ms", round1(initial_build_ms)},
                      {"child_probe_process_ms", round1(prime_ms)},
                      {"databases", databases}};
  Json reloads = Json::array();
  for (const ReloadResult& r : results) {
    reloads.push_back({{"kind", r.kind},
                       {"trigger_to_published_ms", round1(r.trigger_to_published_ms)},
                       {"build_ms", round1(r.build_ms)},
                       {"trigger_to_retired_ms", round1(r.trigger_to_retired_ms)},
                       {"cache", {{"stream", r.stream_cache}, {"block", r.block_cache}}},
                       {"during", window_json(r.during)},
                       {"outside", window_json(r.outside)},
                       {"peak_vmhwm_mb", round1(r.hwm_mb)},
                       {"rss_before_mb", round1(r.rss_before_mb)},
                       {"rss_after_mb", round1(r.rss_after_mb)},
                       {"flows_migrated", r.migrated},
                       {"flows_swept", r.swept}});
  }
  out["packets_lost"] = lost;
  out["packets"] = {{"received", rx},
                    {"forwarded", fwd},
                    {"dropped", dropped},
                    {"drops_by_reason_nonzero", drops_nonzero},
                    {"generator_enqueued", enqueued},
                    {"frames_recovered_at_end", recovered},
                    {"frames_in_flight", frames_total},
                    {"alerts", alerts_drained},
                    {"stream_bytes_scanned", tot.inspect.stream_bytes},
                    {"flows_created", tot.flows.created},
                    {"flows_active_at_end", tot.flows.active()},
                    {"flows_migrated", tot.reload.flows_migrated},
                    {"flows_swept", tot.reload.flows_swept}};
  Json tp = aggregate([](const ReloadResult&) { return true; });
  tp["baseline_before_any_reload"] = window_json(baseline);
  tp["by_kind"] = {{"10k_one_rule_changed", aggregate(kind_is("10k_one_rule_changed"))},
                   {"10k_warm", aggregate(kind_is("10k_warm"))},
                   {"10k_cold", aggregate(kind_is("10k_cold"))},
                   {"1k_cold", aggregate(kind_is("1k_cold"))},
                   {"1k_warm", aggregate(kind_is("1k_warm"))}};
  out["throughput_mpps"] = tp;
  out["throughput_controls_without_reload"] = controls;
  const double peak = one_rule_peak.empty() ? 0 : one_rule_peak.front();
  const double peak_max = one_rule_peak.empty() ? 0 : *std::max_element(one_rule_peak.begin(), one_rule_peak.end());
  out["memory_mb"] = {
      {"steady", round1(steady.rss_mb)},
      {"peak_one_rule_changed", round1(peak)},
      {"ratio", round3(peak / steady.rss_mb)},
      {"target_ratio", 1.3},
      {"peak_one_rule_changed_max_of_5", round1(peak_max)},
      {"ratio_max_of_5", round3(peak_max / steady.rss_mb)},
      {"after_5_reloads", rss_after_each.empty() ? Json(nullptr) : Json(rss_after_each.back())},
      {"after_each_one_rule_reload", rss_after_each},
      {"after_5_reloads_settled_1s", round1(after_one_rule.rss_mb)},
      {"at_end", round1(read_status().rss_mb)},
      {"hugepage_mb", 0},
      {"hugepages_in_use_system_mb", round1(hugepages_in_use_mb())},
      {"note", "EAL --no-huge: the mbuf pool, flow table and rings are ordinary anonymous memory, counted in "
               "VmRSS; peak = VmHWM after resetting it (clear_refs 5) just before the trigger, read once the old "
               "generation is retired; steady = VmRSS after 6 s of traffic with the 10k set (2,560 flows)"}};
  out["memory_mb_no_traffic"] = idle_probe;
  out["memory_detail"] = {{"rss_before_eal_mb", round1(rss_before_eal)},
                          {"rss_after_eal_mb", round1(rss_after_eal)},
                          {"rss_after_pool_and_frames_mb", round1(rss_after_frames)},
                          {"rss_after_first_generation_mb", round1(rss_after_gen1)},
                          {"rss_after_worker_mb", round1(rss_after_worker)},
                          {"rss_after_setup_mb", round1(rss_after_setup)},
                          {"steady_breakdown_mb", {{"anon", round1(steady.anon_mb)}, {"file", round1(steady.file_mb)},
                                                   {"shmem", round1(steady.shmem_mb)}}},
                          {"steady_after_3s_mb", round1(steady_3s.rss_mb)},
                          {"steady_heap", steady_heap},
                          {"steady_smaps", steady_smaps},
                          {"after_first_one_rule_reload_settled_mb", {{"rss", round1(after_first_settled.rss_mb)},
                                                                      {"anon", round1(after_first_settled.anon_mb)},
                                                                      {"file", round1(after_first_settled.file_mb)},
                                                                      {"shmem", round1(after_first_settled.shmem_mb)}}},
                          {"after_first_one_rule_reload_smaps", after_first_smaps},
                          {"end_smaps", smaps_summary()},
                          {"heap_after_first_one_rule_reload", peak_heap},
                          {"one_rule_reloads", one_rule_detail},
                          {"threads_during_first_one_rule_build", threads_seen},
                          {"separate_process_probe", probe}};
  out["reloads"] = reloads;
  out["failures"] = failures;
  out["runtime_s"] = round1(secs());
  std::printf("%s\n", out.dump(2).c_str());

  worker.reset();
  reloader_owner.reset();
  publisher_owner.reset();
  bench::stop_eal();
  std::error_code ec;
  fs::remove_all(base, ec);
  return failed ? 1 : 0;
}

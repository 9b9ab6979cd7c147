// Filter stage benchmark (prints JSON on stdout and a short table on stderr; asserts
// nothing about speed).
//
// What is timed is the worker's filter stage for one filter: for each frame of a batch,
// set the helpers' frame (bpf::CurrentFrame over dataplane::frame_view) and run the
// program (bpf::Program::run). The batch: 1024 realistic frames built here from a fixed
// seed, parsed once beforehand (dataplane/parser.hpp) and held in mbufs — IPv4 and IPv6
// TCP (SYNs with options, ACKs, full-size data, both directions, common service ports),
// DNS queries over IPv4 and IPv6, NTP/TFTP/SNMP/syslog/QUIC, ICMP and ICMPv6 pings,
// 802.1Q-tagged TCP, ARP and later IPv4 fragments, shuffled.
//
// Filters, each with the JIT and with the interpreter (Program::disable_jit()), in one run:
//   c_five_tuple        tests/bench/five_tuple.bpf.c "filter": TCP, src 10.0.0.0/8, dst
//                       port 443, written with the sentinel_filter.h helpers — the figure
//                       the target (<= 10 ns with the JIT) is about
//   expr_one_clause     "tcp dst port 443"
//   expr_five_clause    "tcp dst port 23 or tcp dst port 2323 or udp dst port 69 or
//                       tcp dst port 7547 or icmp"
//   expr_five_tuple     the C filter's test as an expression
//   shipped_<name>      each shipped filter (bpf/filters/<name>.bpf.o, its declared
//                       defaults as arguments) whose object has been built; else "missing"
//   and, to explain the figures: c_five_tuple_ld_abs / c_five_tuple_direct (the same test
//   reading the frame through the mbuf context: cBPF-style loads / plain loads from
//   buf_addr, no helper calls), c_noop (a program that returns 0) and expr_accept_all
//   (the empty expression): the cost of calling a program at all; and current_frame_only,
//   the loop with CurrentFrame set and no program.
// Each configuration is measured kRepeats times, the configurations alternating within
// each repetition (rotating the order) so a load change falls on all of them; ns/frame is
// reported from the fastest repetition ("best", the least disturbed) and the median, and
// the ratios (expression / C 5-tuple, interpreter / JIT) from the best. Each measurement
// runs enough passes over the batch to last ~kTargetSeconds. One pass before the timing
// compares every frame's JIT and interpreter verdicts (reported, not asserted).
//
// EAL: --no-huge, one lcore (the main thread pinned to CPU 0). This benchmark needs no
// ports or worker, so it starts the EAL itself rather than through bench_common.hpp (which
// pulls in the whole dataplane).
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <pcap/dlt.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bpf/filter_program.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/parser.hpp"

using namespace sentinel;
using Json = nlohmann::ordered_json;

// five_tuple.bpf.c's "direct" section reads these mbuf fields at fixed offsets.
static_assert(offsetof(rte_mbuf, buf_addr) == 0 && offsetof(rte_mbuf, data_off) == 16 &&
                  offsetof(rte_mbuf, data_len) == 40 && RTE_MBUF_DEFAULT_BUF_SIZE == 2176,
              "tests/bench/five_tuple.bpf.c's MBUF_* constants must match struct rte_mbuf");

namespace {

constexpr size_t kBatch = 1024;
constexpr int kRepeats = 15;
constexpr double kTargetSeconds = 0.004;  // per measurement
constexpr double kTargetCFiveTupleNs = 10.0;
constexpr double kTargetExpressionFactor = 2.0;
constexpr unsigned kEalMemoryMb = 256;

const std::string kFiveTupleObject = SENTINEL_FIVE_TUPLE_OBJECT;
const std::string kShippedDir = SENTINEL_FILTERS_BUILD_DIR;
const std::vector<std::string> kShipped = {"dns_tunnel", "icmp_tunnel", "cwmp_acs"};

// ---- EAL ----

std::filesystem::path g_runtime_dir;

bool start_eal(const char* program) {
  const std::string prefix = "bench-filter-" + std::to_string(getpid());
  std::vector<std::string> args = {program, "--no-huge", "-m", std::to_string(kEalMemoryMb), "--no-pci",
                                   "--no-shconf", "--no-telemetry", "--file-prefix", prefix, "--lcores", "0",
                                   "--log-level", "lib.eal:error", "--log-level", "pmd.*:error"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "filter_bench: rte_eal_init failed\n");
    return false;
  }
  g_runtime_dir = rte_eal_get_runtime_dir();
  return true;
}

void stop_eal() {
  (void)rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(g_runtime_dir, ec);
}

// ---- Frames ----

struct FrameWriter {
  std::vector<uint8_t> f;
  void u8(uint32_t v) { f.push_back(static_cast<uint8_t>(v)); }
  void u16(uint32_t v) {
    u8(v >> 8);
    u8(v);
  }
  void u32(uint32_t v) {
    u16(v >> 16);
    u16(v);
  }
  void bytes(const std::vector<uint8_t>& b) { f.insert(f.end(), b.begin(), b.end()); }
  void fill(size_t n, uint8_t v) { f.insert(f.end(), n, v); }
};

void ethernet(FrameWriter& w, uint16_t ethertype, uint16_t vlan) {
  w.bytes({0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x20, 0x00, 0x02});
  if (vlan != 0) {
    w.u16(0x8100);
    w.u16(vlan);
  }
  w.u16(ethertype);
}

void ipv4(FrameWriter& w, uint8_t proto, uint32_t src, uint32_t dst, uint32_t l4_len, uint16_t frag = 0x4000) {
  const size_t at = w.f.size();
  w.u8(0x45);
  w.u8(0);
  w.u16(20 + l4_len);
  w.u16(0x1234);
  w.u16(frag);
  w.u8(64);
  w.u8(proto);
  w.u16(0);
  w.u32(src);
  w.u32(dst);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(w.f[at + i] << 8 | w.f[at + i + 1]);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  w.f[at + 10] = static_cast<uint8_t>(~sum >> 8);
  w.f[at + 11] = static_cast<uint8_t>(~sum);
}

void ipv6(FrameWriter& w, uint8_t next, uint16_t src_host, uint16_t dst_host, uint32_t l4_len) {
  w.u32(0x60000000);
  w.u16(l4_len);
  w.u8(next);
  w.u8(64);
  for (const uint16_t host : {src_host, dst_host}) {
    w.bytes({0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0, 0, 0});
    w.u16(host);
  }
}

enum class TcpKind { kSyn, kAck, kData };

// TCP header (with Linux-like options) and payload: returns the L4 length first.
uint32_t tcp_len(TcpKind k, uint32_t payload) { return (k == TcpKind::kSyn ? 40 : 32) + payload; }
void tcp(FrameWriter& w, TcpKind k, uint16_t sport, uint16_t dport, uint32_t payload) {
  w.u16(sport);
  w.u16(dport);
  w.u32(0x10000000);
  w.u32(k == TcpKind::kSyn ? 0 : 0x20000000);
  w.u8((k == TcpKind::kSyn ? 40 : 32) / 4 << 4);
  w.u8(k == TcpKind::kSyn ? 0x02 : k == TcpKind::kData ? 0x18 : 0x10);
  w.u16(64240);
  w.u16(0);
  w.u16(0);
  if (k == TcpKind::kSyn) {
    w.bytes({0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07});
  } else {
    w.bytes({0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 2, 0, 0, 0, 1});
  }
  w.fill(payload, 0x61);
}

void udp(FrameWriter& w, uint16_t sport, uint16_t dport, const std::vector<uint8_t>& payload) {
  w.u16(sport);
  w.u16(dport);
  w.u16(8 + payload.size());
  w.u16(0);
  w.bytes(payload);
}

std::vector<uint8_t> dns_query(std::mt19937& rng, bool aaaa) {
  static const char* const kNames[] = {"www.example.com", "api.vendor-cloud.net", "time.nist.gov",
                                       "update.firmware.example.org", "mqtt.broker.local", "_ldap._tcp.corp.lan",
                                       "cdn-07.assets.example.net", "ocsp.pki.example"};
  FrameWriter w;
  w.u16(rng() & 0xffff);
  w.u16(0x0100);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  const std::string name = kNames[rng() % std::size(kNames)];
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    w.u8(static_cast<uint32_t>(dot - start));
    for (size_t i = start; i < dot; ++i) w.u8(static_cast<uint8_t>(name[i]));
    start = dot + 1;
  }
  w.u8(0);
  w.u16(aaaa ? 28 : 1);
  w.u16(1);
  return w.f;
}

std::vector<uint8_t> echo(bool v6, bool request, uint16_t id, uint16_t seq) {
  FrameWriter w;
  w.u8(v6 ? (request ? 128 : 129) : (request ? 8 : 0));
  w.u8(0);
  w.u16(0);
  w.u16(id);
  w.u16(seq);
  w.fill(56, 0x37);
  return w.f;
}

struct Mix {
  uint32_t tcp4 = 0, tcp6 = 0, dns4 = 0, dns6 = 0, udp4_other = 0, icmp4 = 0, icmp6 = 0, vlan_tcp4 = 0, arp = 0,
           fragments = 0;
};

// The batch: frame bytes, shuffled, from a fixed seed.
std::vector<std::vector<uint8_t>> make_frames(Mix& mix) {
  std::mt19937 rng(20240607);
  std::uniform_real_distribution<double> uni(0, 1);
  struct Service {
    uint16_t port;
    double weight;
  };
  static constexpr Service kServices[] = {{443, 0.35}, {80, 0.20}, {22, 0.08}, {8080, 0.08}, {502, 0.07},
                                          {7547, 0.05}, {8883, 0.07}, {23, 0.05}, {2323, 0.05}};
  auto service = [&] {
    double r = uni(rng);
    for (const Service& s : kServices) {
      if ((r -= s.weight) < 0) return s.port;
    }
    return kServices[0].port;
  };
  auto client4 = [&] {
    const double r = uni(rng);
    const uint32_t host = rng() & 0xffff;
    return r < 0.6 ? 0x0a000000u | (rng() & 0xffffff) : r < 0.85 ? 0xc0a80000u | host : 0x64400000u | host;
  };
  auto server4 = [&] { return uni(rng) < 0.5 ? 0x5db80000u | (rng() & 0xffff) : 0xac100000u | (rng() & 0xffff); };
  auto ephemeral = [&] { return static_cast<uint16_t>(32768 + rng() % 28000); };
  auto tcp_kind = [&] {
    const double r = uni(rng);
    return r < 0.15 ? TcpKind::kSyn : r < 0.6 ? TcpKind::kAck : TcpKind::kData;
  };

  std::vector<std::vector<uint8_t>> frames;
  for (size_t i = 0; i < kBatch; ++i) {
    FrameWriter w;
    const double r = uni(rng);
    if (r < 0.48 || (r >= 0.91 && r < 0.96)) {  // IPv4 TCP, 802.1Q-tagged for a share
      const bool vlan = r >= 0.91;
      (vlan ? mix.vlan_tcp4 : mix.tcp4)++;
      const TcpKind k = tcp_kind();
      const uint32_t payload = k == TcpKind::kData ? (uni(rng) < 0.7 ? 1448 : 200 + rng() % 800) : 0;
      const uint16_t svc = service();
      const uint16_t eph = ephemeral();
      const bool to_server = k == TcpKind::kSyn || uni(rng) < 0.5;
      const uint32_t client = client4(), server = server4();
      ethernet(w, 0x0800, vlan ? 100 : 0);
      ipv4(w, 6, to_server ? client : server, to_server ? server : client, tcp_len(k, payload));
      tcp(w, k, to_server ? eph : svc, to_server ? svc : eph, payload);
    } else if (r < 0.60) {  // IPv6 TCP
      ++mix.tcp6;
      const TcpKind k = tcp_kind();
      const uint32_t payload = k == TcpKind::kData ? (uni(rng) < 0.7 ? 1428 : 100 + rng() % 900) : 0;
      const uint16_t svc = service(), eph = ephemeral();
      const bool to_server = k == TcpKind::kSyn || uni(rng) < 0.5;
      ethernet(w, 0x86dd, 0);
      ipv6(w, 6, static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()), tcp_len(k, payload));
      tcp(w, k, to_server ? eph : svc, to_server ? svc : eph, payload);
    } else if (r < 0.72) {  // DNS query over IPv4
      ++mix.dns4;
      const std::vector<uint8_t> q = dns_query(rng, uni(rng) < 0.3);
      ethernet(w, 0x0800, 0);
      ipv4(w, 17, client4(), 0x0a000035, 8 + static_cast<uint32_t>(q.size()), 0);
      udp(w, ephemeral(), 53, q);
    } else if (r < 0.76) {  // DNS query over IPv6
      ++mix.dns6;
      const std::vector<uint8_t> q = dns_query(rng, uni(rng) < 0.5);
      ethernet(w, 0x86dd, 0);
      ipv6(w, 17, static_cast<uint16_t>(rng()), 0x0053, 8 + static_cast<uint32_t>(q.size()));
      udp(w, ephemeral(), 53, q);
    } else if (r < 0.82) {  // other IPv4 UDP
      ++mix.udp4_other;
      static constexpr uint16_t kPorts[] = {123, 69, 161, 514, 443};
      const uint16_t port = kPorts[rng() % std::size(kPorts)];
      const size_t len = port == 123 ? 48 : port == 69 ? 20 : port == 161 ? 40 : port == 514 ? 90 : 1200;
      const std::vector<uint8_t> payload(len, 0x42);
      ethernet(w, 0x0800, 0);
      ipv4(w, 17, client4(), server4(), 8 + static_cast<uint32_t>(len), 0);
      udp(w, ephemeral(), port, payload);
    } else if (r < 0.88) {  // ping
      ++mix.icmp4;
      const bool request = uni(rng) < 0.5;
      const std::vector<uint8_t> e = echo(false, request, static_cast<uint16_t>(rng()), static_cast<uint16_t>(i));
      ethernet(w, 0x0800, 0);
      ipv4(w, 1, request ? client4() : server4(), request ? server4() : client4(), static_cast<uint32_t>(e.size()));
      w.bytes(e);
    } else if (r < 0.91) {  // ping6
      ++mix.icmp6;
      const std::vector<uint8_t> e = echo(true, uni(rng) < 0.5, static_cast<uint16_t>(rng()), static_cast<uint16_t>(i));
      ethernet(w, 0x86dd, 0);
      ipv6(w, 58, static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()), static_cast<uint32_t>(e.size()));
      w.bytes(e);
    } else if (r < 0.98) {  // ARP request
      ++mix.arp;
      ethernet(w, 0x0806, 0);
      w.bytes({0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x20, 0x00, 0x02});
      w.u32(client4());
      w.fill(6, 0);
      w.u32(client4());
      w.fill(18, 0);
    } else {  // a later fragment of a UDP datagram
      ++mix.fragments;
      ethernet(w, 0x0800, 0);
      ipv4(w, 17, server4(), client4(), 600, static_cast<uint16_t>(185));
      w.fill(600, 0x5a);
    }
    frames.push_back(std::move(w.f));
  }
  return frames;
}

// ---- Measurement ----

struct Batch {
  std::vector<rte_mbuf*> mbufs;
  std::vector<bpf::FrameView> views;
};

// The filter stage over the batch, `passes` times: matches counted.
[[gnu::noinline]] uint64_t run_stage(const bpf::Program& p, const Batch& b, int passes) {
  uint64_t matches = 0;
  for (int k = 0; k < passes; ++k) {
    for (size_t i = 0; i < kBatch; ++i) {
      const bpf::CurrentFrame frame(b.views[i]);
      matches += p.run(b.mbufs[i]) != 0;
    }
  }
  return matches;
}

// The same loop without a program: CurrentFrame alone.
[[gnu::noinline]] uint64_t run_current_frame_only(const bpf::Program*, const Batch& b, int passes) {
  uint64_t n = 0;
  for (int k = 0; k < passes; ++k) {
    for (size_t i = 0; i < kBatch; ++i) {
      const bpf::CurrentFrame frame(b.views[i]);
      asm volatile("" : : "r"(&frame) : "memory");
      ++n;
    }
  }
  return n;
}

struct Config {
  std::string name;
  std::string source;
  std::string mode;  // "jit" or "interpreter"
  const bpf::Program* program = nullptr;  // nullptr: CurrentFrame only
  const Batch* batch = nullptr;
  int passes = 1;
  std::vector<double> ns_per_frame;  // one per repetition
  uint64_t matches_per_batch = 0;
};

double seconds_of(const Config& c, uint64_t* matches) {
  const Batch& b = *c.batch;
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t m = c.program != nullptr ? run_stage(*c.program, b, c.passes) : run_current_frame_only(nullptr, b, c.passes);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (matches != nullptr) *matches = m;
  return s;
}

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

double best(const Config& c) { return *std::min_element(c.ns_per_frame.begin(), c.ns_per_frame.end()); }
double median(const Config& c) {
  std::vector<double> v = c.ns_per_frame;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double loadavg() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return v;
}

// A filter under test: its JIT and interpreter programs, or why it is not there.
struct Filter {
  std::string name;
  std::string source;
  std::string kind;  // "c", "expression", "shipped", "reference"
  std::unique_ptr<bpf::Program> jit, interp;
  std::string error;  // not loaded: why
  uint64_t verdict_mismatches = 0;
};

Filter expression_filter(const std::string& name, const std::string& expr, const std::string& kind) {
  Filter f;
  f.name = name;
  f.source = "expression: " + (expr.empty() ? std::string("(empty: accept all)") : expr);
  f.kind = kind;
  try {
    f.jit = bpf::Program::from_expression(expr, DLT_EN10MB);
    f.interp = bpf::Program::from_expression(expr, DLT_EN10MB);
  } catch (const bpf::CompileError& e) {
    f.error = e.what();
  }
  return f;
}

Filter object_filter(const std::string& name, const std::string& path, const std::string& section,
                     const std::string& kind) {
  Filter f;
  f.name = name;
  f.source = std::filesystem::path(path).filename().string() + ":" + section;
  f.kind = kind;
  if (!std::filesystem::exists(path)) {
    f.error = "missing: " + path + " (not built)";
    return f;
  }
  try {
    bpf::ArgSlots slots{};
    for (const bpf::ArgSpec& a : bpf::object_args(path)) {
      for (uint32_t k = 0; k < a.count; ++k) slots[a.slot + k] = a.default_value;
    }
    f.jit = bpf::Program::from_object(path, section, slots);
    f.interp = bpf::Program::from_object(path, section, slots);
  } catch (const bpf::CompileError& e) {
    f.error = e.what();
  }
  return f;
}

int run() {
  Json out;
  out["machine"] = Json{{"cpus", std::thread::hardware_concurrency()},
                        {"loadavg_1m_start", loadavg()},
                        {"eal", "--no-huge -m " + std::to_string(kEalMemoryMb) + ", one lcore (main thread on CPU 0)"},
                        {"jit_available", bpf::jit_available()}};

  // ---- The batch ----
  Mix mix;
  const std::vector<std::vector<uint8_t>> frames = make_frames(mix);
  rte_mempool* pool = rte_pktmbuf_pool_create("filter_bench", 2 * kBatch - 1, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    std::fprintf(stderr, "filter_bench: rte_pktmbuf_pool_create failed\n");
    return 1;
  }
  Batch batch;
  std::vector<dataplane::PacketInfo> infos(kBatch);
  uint64_t bytes = 0, malformed = 0;
  for (size_t i = 0; i < kBatch; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const auto len = static_cast<uint16_t>(frames[i].size());
    char* d = m == nullptr ? nullptr : rte_pktmbuf_append(m, len);
    if (d == nullptr) {
      std::fprintf(stderr, "filter_bench: cannot hold frame %zu (%u bytes) in an mbuf\n", i, len);
      return 1;
    }
    std::memcpy(d, frames[i].data(), len);
    bytes += len;
    if (dataplane::parse_frame(frames[i].data(), len, len, infos[i]) != dataplane::DropReason::kNone) ++malformed;
    batch.mbufs.push_back(m);
    batch.views.push_back(dataplane::frame_view(infos[i], m));
  }
  out["batch"] = Json{{"frames", kBatch},
                      {"mean_frame_bytes", round_to(static_cast<double>(bytes) / kBatch, 1)},
                      {"malformed_by_the_parser", malformed},
                      {"mix",
                       {{"ipv4_tcp", mix.tcp4},
                        {"ipv4_tcp_vlan", mix.vlan_tcp4},
                        {"ipv6_tcp", mix.tcp6},
                        {"ipv4_dns_query", mix.dns4},
                        {"ipv6_dns_query", mix.dns6},
                        {"ipv4_udp_other", mix.udp4_other},
                        {"icmp_echo", mix.icmp4},
                        {"icmpv6_echo", mix.icmp6},
                        {"arp", mix.arp},
                        {"ipv4_later_fragment", mix.fragments}}},
                      {"repeats", kRepeats},
                      {"seconds_per_measurement", kTargetSeconds}};

  // ---- The filters ----
  std::vector<Filter> filters;
  filters.push_back(object_filter("c_five_tuple", kFiveTupleObject, "filter", "c"));
  filters.push_back(expression_filter("expr_one_clause", "tcp dst port 443", "expression"));
  filters.push_back(expression_filter(
      "expr_five_clause", "tcp dst port 23 or tcp dst port 2323 or udp dst port 69 or tcp dst port 7547 or icmp",
      "expression"));
  filters.push_back(expression_filter("expr_five_tuple", "tcp dst port 443 and src net 10.0.0.0/8", "expression"));
  for (const std::string& s : kShipped) {
    filters.push_back(object_filter("shipped_" + s, kShippedDir + "/" + s + ".bpf.o", "filter", "shipped"));
  }
  filters.push_back(object_filter("c_five_tuple_ld_abs", kFiveTupleObject, "ld_abs", "reference"));
  filters.push_back(object_filter("c_five_tuple_direct", kFiveTupleObject, "direct", "reference"));
  filters.push_back(object_filter("c_noop", kFiveTupleObject, "noop", "reference"));
  filters.push_back(expression_filter("expr_accept_all", "", "reference"));

  // JIT and interpreter verdicts, frame by frame, once.
  for (Filter& f : filters) {
    if (!f.jit) continue;
    f.interp->disable_jit();
    for (size_t i = 0; i < kBatch; ++i) {
      const bpf::CurrentFrame frame(batch.views[i]);
      if ((f.jit->run(batch.mbufs[i]) != 0) != (f.interp->run(batch.mbufs[i]) != 0)) ++f.verdict_mismatches;
    }
  }

  std::vector<Config> configs;
  auto add_config = [&](const std::string& name, const std::string& source, const std::string& mode,
                        const bpf::Program* program, const Batch* b) {
    Config c;
    c.name = name;
    c.source = source;
    c.mode = mode;
    c.program = program;
    c.batch = b;
    configs.push_back(std::move(c));
  };
  add_config("current_frame_only", "CurrentFrame set, no program", "-", nullptr, &batch);
  for (const Filter& f : filters) {
    if (!f.jit) continue;
    add_config(f.name, f.source, "jit", f.jit.get(), &batch);
    add_config(f.name, f.source, "interpreter", f.interp.get(), &batch);
  }
  // The worst case of the 5-tuple filters: a batch of only the frames they all match
  // (untagged IPv4 TCP from 10/8 to port 443, so every test runs), repeated to kBatch.
  Batch matching;
  for (const Filter& f : filters) {
    if (f.name != "c_five_tuple_ld_abs" || !f.interp) continue;
    std::vector<size_t> hits;
    for (size_t i = 0; i < kBatch; ++i) {
      const bpf::CurrentFrame frame(batch.views[i]);
      if (f.interp->run(batch.mbufs[i]) != 0) hits.push_back(i);
    }
    for (size_t i = 0; !hits.empty() && i < kBatch; ++i) {
      matching.mbufs.push_back(batch.mbufs[hits[i % hits.size()]]);
      matching.views.push_back(batch.views[hits[i % hits.size()]]);
    }
    out["batch"]["all_match_distinct_frames"] = hits.size();
  }
  if (matching.mbufs.size() == kBatch) {
    for (const Filter& f : filters) {
      if (!f.jit || (f.name.rfind("c_", 0) != 0 && f.name != "expr_five_tuple")) continue;
      add_config(f.name + "@all_match", f.source, "jit", f.jit.get(), &matching);
    }
  }
  // Passes per measurement: after a warm-up pass, doubled until a run lasts 0.5 ms, then
  // scaled to kTargetSeconds.
  for (Config& c : configs) {
    c.passes = 1;
    (void)seconds_of(c, &c.matches_per_batch);
    double s = seconds_of(c, nullptr);
    while (s < 0.0005) {
      c.passes *= 2;
      s = seconds_of(c, nullptr);
    }
    c.passes = std::max(1, static_cast<int>(c.passes * kTargetSeconds / s));
  }
  for (int rep = 0; rep < kRepeats; ++rep) {
    for (size_t k = 0; k < configs.size(); ++k) {
      Config& c = configs[(k + static_cast<size_t>(rep)) % configs.size()];
      const double s = seconds_of(c, nullptr);
      c.ns_per_frame.push_back(s / (static_cast<double>(c.passes) * kBatch) * 1e9);
    }
  }

  // ---- Report ----
  auto find = [&](const std::string& name, const std::string& mode) -> const Config* {
    for (const Config& c : configs) {
      if (c.name == name && c.mode == mode) return &c;
    }
    return nullptr;
  };
  Json jf = Json::object();
  for (const Filter& f : filters) {
    Json j{{"kind", f.kind}, {"source", f.source}};
    if (!f.jit) {
      j["status"] = f.error.rfind("missing", 0) == 0 ? "missing" : "load failed";
      j["error"] = f.error;
      jf[f.name] = j;
      continue;
    }
    j["jitted"] = f.jit->jitted();
    j["jit_code_bytes"] = f.jit->jit_size();
    for (const std::string mode : {"jit", "interpreter"}) {
      const Config* c = find(f.name, mode);
      j[mode] = Json{{"ns_per_frame_best", round_to(best(*c), 2)},
                     {"ns_per_frame_median", round_to(median(*c), 2)},
                     {"passes_per_measurement", c->passes},
                     {"matches_per_batch", c->matches_per_batch}};
    }
    j["interpreter_vs_jit"] = round_to(best(*find(f.name, "interpreter")) / best(*find(f.name, "jit")), 2);
    j["jit_vs_interpreter_verdict_mismatches"] = f.verdict_mismatches;
    jf[f.name] = j;
  }
  out["filters"] = jf;
  Json all_match = Json::object();
  for (const Config& c : configs) {
    const size_t at = c.name.find("@all_match");
    if (at == std::string::npos) continue;
    all_match[c.name.substr(0, at)] = Json{{"jit_ns_per_frame_best", round_to(best(c), 2)},
                                           {"jit_ns_per_frame_median", round_to(median(c), 2)},
                                           {"matches_per_batch", c.matches_per_batch}};
  }
  out["all_match_batch"] = all_match;
  const Config* cfo = find("current_frame_only", "-");
  out["current_frame_only"] = Json{{"ns_per_frame_best", round_to(best(*cfo), 2)},
                                   {"ns_per_frame_median", round_to(median(*cfo), 2)}};

  const Config* five = find("c_five_tuple", "jit");
  Json ratios = Json::object();
  Json targets = Json::object();
  if (five != nullptr) {
    bool within = true;
    for (const std::string name : {"expr_one_clause", "expr_five_clause", "expr_five_tuple"}) {
      const Config* e = find(name, "jit");
      if (e == nullptr) continue;
      const double r = best(*e) / best(*five);
      ratios[name + "_vs_c_five_tuple"] = round_to(r, 2);
      if (name != "expr_five_tuple") within = within && r <= kTargetExpressionFactor;
    }
    for (const std::string name : {"c_five_tuple_ld_abs", "c_five_tuple_direct", "c_noop"}) {
      if (const Config* e = find(name, "jit")) ratios[name + "_vs_c_five_tuple"] = round_to(best(*e) / best(*five), 2);
    }
    targets = Json{{"c_five_tuple_jit_ns_max", kTargetCFiveTupleNs},
                   {"c_five_tuple_jit_ns_best", round_to(best(*five), 2)},
                   {"c_five_tuple_met", best(*five) <= kTargetCFiveTupleNs},
                   {"expressions_max_factor_of_c_five_tuple", kTargetExpressionFactor},
                   {"expressions_met", within}};
  }
  out["ratios_best"] = ratios;
  out["targets"] = targets;
  out["machine"]["loadavg_1m_end"] = loadavg();
  std::printf("%s\n", out.dump(2).c_str());
  std::fflush(stdout);

  std::fprintf(stderr, "\n%-30s %-11s %10s %10s %9s  %s\n", "filter", "mode", "ns best", "ns median", "matches",
               "source");
  for (const Config& c : configs) {
    std::fprintf(stderr, "%-30s %-11s %10.2f %10.2f %9llu  %s\n", c.name.c_str(), c.mode.c_str(), best(c), median(c),
                 static_cast<unsigned long long>(c.matches_per_batch), c.source.c_str());
  }
  for (const Filter& f : filters) {
    if (!f.jit) std::fprintf(stderr, "%-30s %s\n", f.name.c_str(), f.error.c_str());
  }
  if (five != nullptr) {
    std::fprintf(stderr, "target: C 5-tuple with the JIT <= %.0f ns: %.2f ns (%s); expressions within %.0fx: %s\n",
                 kTargetCFiveTupleNs, best(*five), best(*five) <= kTargetCFiveTupleNs ? "met" : "NOT met",
                 kTargetExpressionFactor, targets["expressions_met"].get<bool>() ? "met" : "NOT met");
  }

  filters.clear();
  for (rte_mbuf* m : batch.mbufs) rte_pktmbuf_free(m);
  rte_mempool_free(pool);
  return 0;
}

}  // namespace

int main(int, char** argv) {
  if (!start_eal(argv[0])) return 1;
  const int rc = run();
  stop_eal();
  return rc;
}

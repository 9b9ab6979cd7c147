// Fuzz target: pcap-filter expressions as [[filter]] expr compiles them
// (bpf/filter_program.hpp: pcap_compile -> rte_bpf_convert -> rte_bpf_load, JIT), against
// libpcap itself, as tests/integration/filters/test_expression_differential.cpp does on the
// corpus.
//
// Input: the expression text, then optionally a NUL and the bytes of one more Ethernet
// frame to run it on (besides the fixed frames below).
//
// Invariants (abort when broken): Program::from_expression compiles exactly the
// expressions libpcap compiles for Ethernet (except those reading Linux socket data, which
// it may refuse), failing otherwise with CompileError (never another exception, never a
// crash); a compiled program, by JIT and by the interpreter, on
// one segment and on a 2-segment mbuf chain, matches exactly the frames libpcap's
// pcap_offline_filter matches (frame length = bytes held, as net_pcap replays them).
//
// Name lookups: an expression may name hosts ("host foo"); libpcap would resolve them with
// DNS on every input. This binary answers every non-numeric lookup "no such name" itself
// (below), for the reference and the subject alike: no network, no delay, same answers.
#include <dlfcn.h>
#include <netdb.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "bpf/filter_program.hpp"
#include "tests/fuzz/fuzz_util.hpp"

// ---- No DNS: the executable's definitions come before libc's for libpcap's calls. ----
extern "C" {
int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const auto real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node != nullptr && (hints == nullptr || (hints->ai_flags & AI_NUMERICHOST) == 0)) return EAI_NONAME;
  return real != nullptr ? real(node, service, hints, res) : EAI_FAIL;
}
struct hostent* gethostbyname(const char*) {
  h_errno = HOST_NOT_FOUND;
  return nullptr;
}
struct hostent* gethostbyname2(const char*, int) {
  h_errno = HOST_NOT_FOUND;
  return nullptr;
}
int gethostbyname_r(const char*, struct hostent*, char*, size_t, struct hostent** result, int* err) {
  *result = nullptr;
  *err = HOST_NOT_FOUND;
  return 0;
}
int gethostbyname2_r(const char*, int, struct hostent*, char*, size_t, struct hostent** result, int* err) {
  *result = nullptr;
  *err = HOST_NOT_FOUND;
  return 0;
}
}

namespace {

using sentinel::bpf::CompileError;
using sentinel::bpf::Program;

constexpr uint16_t kDataRoom = 4096 + RTE_PKTMBUF_HEADROOM;
constexpr uint32_t kSegment = kDataRoom - RTE_PKTMBUF_HEADROOM;
constexpr size_t kMaxExtraFrame = 2 * kSegment;  // input frames longer than two segments are cut

// libFuzzer's coverage cannot see inside libpcap or rte_bpf (uninstrumented system
// libraries), so this target reports what it observed as extra counters (the section
// libFuzzer reads beside its own): the opcodes and operands of the program libpcap made,
// its length, which frames matched, and the kind of compile error. New programs and new
// verdicts then count as progress and stay in the corpus.
[[gnu::section("__libfuzzer_extra_counters"), gnu::used]] uint8_t g_features[512];

void feature(size_t i) {
  uint8_t& c = g_features[i % sizeof g_features];
  if (c != 255) ++c;
}
uint32_t hash(std::string_view s, uint32_t h = 2166136261u) {
  for (const char c : s) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}
void program_features(const bpf_program& p) {
  feature(384 + std::min<size_t>(std::bit_width(p.bf_len), 15));
  for (u_int i = 0; i < p.bf_len; ++i) {
    const bpf_insn& in = p.bf_insns[i];
    feature(in.code & 0xff);
    feature(256 + (in.code * 31u + in.k) % 128);
  }
}
void error_features(const std::string& why) {
  std::string shape;  // without the numbers and quoted names that vary
  for (const char c : why) shape += std::isdigit(static_cast<unsigned char>(c)) ? '0' : c;
  feature(432 + hash(shape.substr(0, shape.find('\''))) % 64);
}

// Linux socket data (SKF_AD_*: packet type for inbound/outbound, ifindex, ...): libpcap
// compiles such loads, rte_bpf_convert cannot, and a dataplane frame has no socket anyway.
// Refusing them is right; crashing or accepting them is not.
bool reads_socket_data(const bpf_program& p) {
  constexpr uint32_t kSkfAdOff = 0xfffff000u;  // SKF_AD_OFF (-0x1000), linux/filter.h
  for (u_int i = 0; i < p.bf_len; ++i) {
    const bpf_insn& in = p.bf_insns[i];
    if (BPF_CLASS(in.code) == BPF_LD && BPF_MODE(in.code) == BPF_ABS && in.k >= kSkfAdOff) return true;
  }
  return false;
}

rte_mempool* g_pool = nullptr;
pcap_t* g_dead = nullptr;  // the reference compiles on this handle
std::vector<std::vector<uint8_t>> g_frames;

// ---- The fixed frames: one of each kind of header the expressions test. ----
void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
void put(std::vector<uint8_t>& f, std::initializer_list<uint8_t> b) { f.insert(f.end(), b); }

std::vector<uint8_t> ether(std::initializer_list<uint8_t> dst, std::vector<std::pair<uint16_t, uint16_t>> tags,
                           uint16_t type) {
  std::vector<uint8_t> f(dst);
  put(f, {0x02, 0, 0, 0, 0, 0x02});
  for (const auto& [tpid, tci] : tags) {
    put16(f, tpid);
    put16(f, tci);
  }
  put16(f, type);
  return f;
}
const std::initializer_list<uint8_t> kUnicast = {0x02, 0, 0, 0, 0, 0x01};

// IPv4 header (IHL 5 plus `opt` option bytes), then `l4` as its payload.
void ipv4(std::vector<uint8_t>& f, uint8_t proto, std::initializer_list<uint8_t> src, std::initializer_list<uint8_t> dst,
          const std::vector<uint8_t>& l4, uint16_t frag = 0x4000, uint8_t ttl = 64, uint8_t opt = 0) {
  const auto total = static_cast<uint16_t>(20 + opt + l4.size());
  put(f, {static_cast<uint8_t>(0x45 + opt / 4), 0});
  put16(f, total);
  put(f, {0x12, 0x34});
  put16(f, frag);
  put(f, {ttl, proto, 0, 0});
  put(f, src);
  put(f, dst);
  for (uint8_t i = 0; i < opt; ++i) f.push_back(1);  // NOPs
  f.insert(f.end(), l4.begin(), l4.end());
}
void ipv6(std::vector<uint8_t>& f, uint8_t next, uint8_t last_src, const std::vector<uint8_t>& dst,
          const std::vector<uint8_t>& l4) {
  put(f, {0x60, 0, 0, 0});
  put16(f, static_cast<uint16_t>(l4.size()));
  put(f, {next, 64});
  put(f, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last_src});
  f.insert(f.end(), dst.begin(), dst.end());
  f.insert(f.end(), l4.begin(), l4.end());
}
std::vector<uint8_t> tcp(uint16_t sport, uint16_t dport, uint8_t flags, const std::string& payload) {
  std::vector<uint8_t> t;
  put16(t, sport);
  put16(t, dport);
  put(t, {0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0});
  t.insert(t.end(), payload.begin(), payload.end());
  return t;
}
std::vector<uint8_t> udp(uint16_t sport, uint16_t dport, size_t payload) {
  std::vector<uint8_t> u;
  put16(u, sport);
  put16(u, dport);
  put16(u, static_cast<uint16_t>(8 + payload));
  put16(u, 0);
  u.insert(u.end(), payload, 0xab);
  return u;
}

std::vector<std::vector<uint8_t>> fixed_frames() {
  std::vector<std::vector<uint8_t>> v;
  const std::vector<uint8_t> v6dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const std::vector<uint8_t> v6mcast = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb};
  auto f = ether(kUnicast, {}, 0x0800);  // TCP SYN to port 80 with a GET
  ipv4(f, 6, {10, 1, 1, 1}, {192, 168, 1, 1}, tcp(40000, 80, 0x02, "GET / HTTP/1.1\r\n"));
  v.push_back(f);
  f = ether({0x01, 0x00, 0x5e, 0, 0, 0xfb}, {}, 0x0800);  // UDP 53 to a multicast group
  ipv4(f, 17, {172, 16, 5, 5}, {224, 0, 0, 251}, udp(5353, 53, 12), 0, 1);
  v.push_back(f);
  f = ether(kUnicast, {{0x8100, 100}}, 0x0800);  // VLAN 100, TCP ACK|FIN to 443
  ipv4(f, 6, {10, 0, 0, 2}, {10, 9, 9, 9}, tcp(1234, 443, 0x11, ""));
  v.push_back(f);
  f = ether(kUnicast, {{0x88a8, 100}, {0x8100, 7}}, 0x0800);  // QinQ, UDP 123
  ipv4(f, 17, {10, 0, 0, 3}, {8, 8, 8, 8}, udp(123, 123, 48));
  v.push_back(f);
  f = ether(kUnicast, {}, 0x86dd);  // IPv6 TCP RST to 22
  ipv6(f, 6, 1, v6dst, tcp(50000, 22, 0x04, "SSH-2.0"));
  v.push_back(f);
  f = ether({0x33, 0x33, 0, 0, 0, 0xfb}, {}, 0x86dd);  // IPv6 UDP 5353 to ff02::fb
  ipv6(f, 17, 3, v6mcast, udp(5353, 5353, 20));
  v.push_back(f);
  f = ether(kUnicast, {}, 0x0800);  // ICMP echo request
  ipv4(f, 1, {10, 1, 1, 1}, {10, 1, 1, 2}, {8, 0, 0xf7, 0xff, 0, 1, 0, 1, 'p', 'i', 'n', 'g'});
  v.push_back(f);
  f = ether({0x33, 0x33, 0xff, 0, 0, 2}, {}, 0x86dd);  // ICMPv6 neighbour solicitation
  ipv6(f, 58, 1, v6mcast, {135, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  v.push_back(f);
  f = ether({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {}, 0x0806);  // ARP who-has
  put(f, {0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x02, 10, 1, 1, 1, 0, 0, 0, 0, 0, 0, 10, 1, 1, 2});
  v.push_back(f);
  f = ether(kUnicast, {}, 0x0800);  // a later IPv4 fragment of a UDP datagram
  ipv4(f, 17, {10, 5, 5, 5}, {10, 6, 6, 6}, std::vector<uint8_t>(40, 0xcd), 0x00b9, 30);
  v.push_back(f);
  f = ether(kUnicast, {}, 0x0800);  // IPv4 options, TCP PSH|ACK to 8080
  ipv4(f, 6, {192, 168, 0, 10}, {192, 168, 0, 20}, tcp(8080, 8080, 0x18, "data"), 0x4000, 128, 8);
  v.push_back(f);
  f = ether(kUnicast, {}, 0x0800);  // GRE
  ipv4(f, 47, {10, 7, 7, 7}, {10, 8, 8, 8}, {0, 0, 0x08, 0x00, 0x45, 0, 0, 20});
  v.push_back(f);
  v.push_back(std::vector<uint8_t>(v[0].begin(), v[0].begin() + 20));  // cut inside the IPv4 header
  v.push_back(ether({0x01, 0x80, 0xc2, 0, 0, 0x0e}, {}, 0x88cc));     // LLDP, header only
  v.push_back({0x42});                                                // one byte
  return v;
}

struct MbufFree {
  void operator()(rte_mbuf* m) const noexcept { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufFree>;

// The frame in mbufs whose segments end at `cut` (if 0 < cut < size) and every kSegment bytes.
MbufPtr make_chain(const std::vector<uint8_t>& bytes, uint32_t cut) {
  MbufPtr head;
  uint32_t from = 0;
  const auto size = static_cast<uint32_t>(bytes.size());
  do {
    uint32_t to = std::min(size, from + kSegment);
    if (cut > from && cut < to) to = cut;
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    FUZZ_CHECK(seg != nullptr, "mbuf pool exhausted");
    char* dst = rte_pktmbuf_append(seg, static_cast<uint16_t>(to - from));
    FUZZ_CHECK(dst != nullptr || to == from, "rte_pktmbuf_append failed");
    if (to > from) std::memcpy(dst, bytes.data() + from, to - from);
    if (!head) {
      head.reset(seg);
    } else {
      FUZZ_CHECK(rte_pktmbuf_chain(head.get(), seg) == 0, "rte_pktmbuf_chain failed");
    }
    from = to;
  } while (from < size);
  return head;
}

void remove_runtime_dir() {
  std::error_code ec;
  std::filesystem::remove_all(rte_eal_get_runtime_dir(), ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  // A private EAL: no hugepages, no PCI, a file prefix of its own (runs may be side by side).
  const std::string prefix = "fuzz_filter_expr-" + std::to_string(getpid());
  std::vector<std::string> args = {(*argv)[0], "--no-huge", "-m", "128", "--no-pci", "--no-shconf", "--no-telemetry",
                                   "--file-prefix", prefix, "--lcores", "0@(0-1)", "--log-level", "lib.eal:error",
                                   "--log-level", "pmd.*:error"};
  std::vector<char*> eal_argv;
  for (std::string& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    std::abort();
  }
  // With --no-shconf the EAL keeps nothing in its runtime directory: remove it now, not at
  // exit, which a crashing input never reaches.
  remove_runtime_dir();
  g_pool = rte_pktmbuf_pool_create("fuzz_pool", 255, 0, 0, kDataRoom, static_cast<int>(rte_socket_id()));
  g_dead = pcap_open_dead(DLT_EN10MB, 262144);
  if (g_pool == nullptr || g_dead == nullptr) {
    std::fprintf(stderr, "mbuf pool or pcap_open_dead failed\n");
    std::abort();
  }
  g_frames = fixed_frames();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t expr_len = std::min(input.find('\0'), size);
  if (expr_len > 4096) return -1;
  const std::string expr(input.substr(0, expr_len));

  bpf_program ref{};
  const bool ref_ok = pcap_compile(g_dead, &ref, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
  const std::string ref_error = ref_ok ? "" : pcap_geterr(g_dead);
  std::unique_ptr<Program> jit;
  std::unique_ptr<Program> interp;
  try {
    jit = Program::from_expression(expr, DLT_EN10MB);
    interp = Program::from_expression(expr, DLT_EN10MB);
    interp->disable_jit();
  } catch (const CompileError& e) {
    error_features(e.what());
    const bool ancillary = ref_ok && reads_socket_data(ref);
    if (ref_ok) pcap_freecode(&ref);
    FUZZ_CHECK(!ref_ok || ancillary, "'%s': libpcap compiles it, from_expression failed: %s", expr.c_str(), e.what());
    FUZZ_CHECK(e.what()[0] != '\0', "'%s': CompileError without a message", expr.c_str());
    return 0;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "'%s': from_expression threw %s, not CompileError: %s", expr.c_str(), typeid(e).name(), e.what());
  }
  FUZZ_CHECK(ref_ok, "'%s': from_expression compiled what libpcap rejects (%s)", expr.c_str(), ref_error.c_str());
  program_features(ref);
  FUZZ_CHECK(!sentinel::bpf::jit_available() || jit->jitted(), "'%s': not JIT-compiled", expr.c_str());

  std::vector<std::vector<uint8_t>> frames = g_frames;
  if (expr_len < size) {
    const size_t n = std::min(size - expr_len - 1, kMaxExtraFrame);
    frames.emplace_back(data + expr_len + 1, data + expr_len + 1 + n);
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    const std::vector<uint8_t>& f = frames[i];
    if (f.empty()) continue;  // an mbuf always holds something
    pcap_pkthdr hdr{};
    hdr.caplen = hdr.len = static_cast<bpf_u_int32>(f.size());
    const bool expected = pcap_offline_filter(&ref, &hdr, f.data()) != 0;
    if (expected) feature(400 + std::min<size_t>(i, 31));
    // A split point that varies with frame and expression, mostly inside the headers.
    const auto cut = static_cast<uint32_t>(1 + (i * 31 + expr_len * 7) % std::min<size_t>(f.size(), 64));
    const MbufPtr one = make_chain(f, 0);
    const MbufPtr two = make_chain(f, cut);
    const struct {
      const Program* prog;
      rte_mbuf* m;
      const char* way;
    } runs[] = {{jit.get(), one.get(), "jit/1seg"},
                {interp.get(), one.get(), "interp/1seg"},
                {jit.get(), two.get(), "jit/2seg"},
                {interp.get(), two.get(), "interp/2seg"}};
    for (const auto& r : runs) {
      const bool got = r.prog->run(r.m) != 0;
      if (got != expected) pcap_freecode(&ref);
      FUZZ_CHECK(got == expected, "'%s' on frame %zu (%zu bytes%s, cut at %u) %s: libpcap %s, rte_bpf %s", expr.c_str(),
                 i, f.size(), i >= g_frames.size() ? ", from the input" : "", cut, r.way,
                 expected ? "matches" : "does not match", got ? "matches" : "does not match");
    }
  }
  pcap_freecode(&ref);
  return 0;
}

// Unit tests of bpf/filter_program.hpp and of the shipped C filters (bpf/filters/):
//   - every shipped object passes rte_bpf's validator and is JIT-compiled, and the
//     arguments object_args() reads are the ones its SENTINEL_ARGS declares (parsed here
//     from the source) at the slots its ARG_* macros use;
//   - fixture tables run each shipped filter on frames built here (Ethernet, 802.1Q,
//     IPv4/IPv6, UDP/TCP/ICMP/ICMPv6), parsed by the dataplane parser and seen through
//     dataplane::frame_view() as the worker does: hits, near misses one step under a
//     threshold, arguments that change the outcome. Every case runs with the JIT and the
//     interpreter, in one segment and split over two and three chained segments (same
//     verdict), and cut at every length, as a replayed capture cut by its snaplen and as a
//     short frame: no crash, no match;
//   - loading errors carry the reason an operator needs: libpcap's ("syntax error"), a
//     missing file, a non-ELF or non-BPF file, a missing section (with the code sections
//     listed), a loop ("loops detected"), malformed .sentinel.args declarations;
//   - a few pcap-filter expressions checked by hand, one segment and chained.
// rte_bpf_convert allocates with rte_malloc and frames need a pktmbuf pool: main() brings
// up a private EAL (tests/unit/eal_main.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/filter_program.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/parser.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel::bpf {
namespace {

using Bytes = std::vector<uint8_t>;

rte_mempool* g_pool = nullptr;

const std::vector<std::string> kShipped = {"dns_tunnel", "icmp_tunnel", "cwmp_acs"};

std::string object_path(const std::string& name) {
  return std::string(SENTINEL_FILTERS_BUILD_DIR) + "/" + name + ".bpf.o";
}
std::string source_path(const std::string& name) {
  return std::string(SENTINEL_BPF_SOURCE_DIR) + "/filters/" + name + ".bpf.c";
}
std::string test_object(const std::string& name) { return std::string(SENTINEL_TEST_BPF_DIR) + "/" + name + ".bpf.o"; }

// --- frames ---------------------------------------------------------------------------

void put16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
void append(Bytes& b, const Bytes& tail) { b.insert(b.end(), tail.begin(), tail.end()); }
void append(Bytes& b, const std::string& tail) { b.insert(b.end(), tail.begin(), tail.end()); }
Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

uint32_t ip4(const char* text) {
  in_addr a{};
  if (inet_pton(AF_INET, text, &a) != 1) throw std::invalid_argument(text);
  return ntohl(a.s_addr);
}

constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmpv6 = 58;
constexpr uint16_t kIpv4Type = 0x0800, kIpv6Type = 0x86dd;
const uint32_t kCpe = ip4("10.0.0.2");
const uint32_t kServer = ip4("192.0.2.10");

Bytes ether(uint16_t ethertype, const Bytes& l3, const std::vector<uint16_t>& vlans = {}) {
  Bytes b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  for (size_t k = 0; k < vlans.size(); ++k) {
    put16(b, k + 1 < vlans.size() ? 0x88a8 : 0x8100);
    put16(b, vlans[k]);
  }
  put16(b, ethertype);
  append(b, l3);
  return b;
}

Bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, const Bytes& l4) {
  Bytes b = {0x45, 0};
  put16(b, static_cast<uint32_t>(20 + l4.size()));
  put16(b, 0x1c46);
  put16(b, 0x4000);  // DF
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);  // checksum: the parser does not check it
  put32(b, src);
  put32(b, dst);
  append(b, l4);
  return b;
}

Bytes ipv6(uint8_t next, const Bytes& l4, uint8_t src_last = 0x02, uint8_t dst_last = 0x10) {
  Bytes b = {0x60, 0, 0, 0};
  put16(b, static_cast<uint32_t>(l4.size()));
  b.push_back(next);
  b.push_back(64);
  for (const uint8_t last : {src_last, dst_last}) {
    const Bytes addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
    append(b, addr);
  }
  append(b, l4);
  return b;
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint32_t>(8 + payload.size()));
  put16(b, 0);
  append(b, payload);
  return b;
}

Bytes tcp(uint16_t sport, uint16_t dport, const Bytes& payload, uint8_t flags = 0x18) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 0x01020304);
  put32(b, 0x05060708);
  b.push_back(5 << 4);
  b.push_back(flags);
  put16(b, 64240);
  put16(b, 0);
  put16(b, 0);
  append(b, payload);
  return b;
}

Bytes icmp(uint8_t type, const Bytes& data, uint16_t id = 0x3d08, uint16_t seq = 1) {
  Bytes b = {type, 0};
  put16(b, 0);
  put16(b, id);
  put16(b, seq);
  append(b, data);
  return b;
}

// --- DNS ---

struct Query {
  std::string name;         // labels separated by '.', any other byte allowed
  uint16_t qtype = 1;       // A
  uint16_t flags = 0x0100;  // standard query, RD
  uint16_t qdcount = 1;
};

Bytes dns_name(const std::string& name) {
  Bytes b;
  std::string label;
  std::istringstream in(name);
  while (std::getline(in, label, '.')) {
    b.push_back(static_cast<uint8_t>(label.size()));
    append(b, label);
  }
  b.push_back(0);
  return b;
}

Bytes dns_message(const Query& q) {
  Bytes b;
  put16(b, 0x4a2f);
  put16(b, q.flags);
  put16(b, q.qdcount);
  put16(b, 0);
  put16(b, 0);
  put16(b, 0);
  append(b, dns_name(q.name));
  put16(b, q.qtype);
  put16(b, 1);
  return b;
}

Bytes dns_udp4(const Query& q, uint16_t dport = 53, const std::vector<uint16_t>& vlans = {}) {
  return ether(kIpv4Type, ipv4(kCpe, kServer, kUdp, udp(40001, dport, dns_message(q))), vlans);
}
Bytes dns_udp6(const Query& q) { return ether(kIpv6Type, ipv6(kUdp, udp(40001, 53, dns_message(q)))); }
// DNS over TCP: each message after its 2-byte length (`length_delta` misstates it).
Bytes dns_tcp4(const std::vector<Query>& messages, int length_delta = 0) {
  Bytes payload;
  for (const Query& q : messages) {
    const Bytes msg = dns_message(q);
    put16(payload, static_cast<uint32_t>(static_cast<int>(msg.size()) + length_delta));
    append(payload, msg);
  }
  return ether(kIpv4Type, ipv4(kCpe, kServer, kTcp, tcp(40002, 53, payload)));
}
Bytes dns_tcp4(const Query& q, int length_delta = 0) { return dns_tcp4(std::vector<Query>{q}, length_delta); }
// A DNS message whose question bytes are given raw (compression, bad lengths).
Bytes dns_raw4(const Bytes& question) {
  Bytes msg = {0x4a, 0x2f, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  append(msg, question);
  return ether(kIpv4Type, ipv4(kCpe, kServer, kUdp, udp(40001, 53, msg)));
}

std::string rep(const std::string& unit, size_t n) {
  std::string s;
  while (s.size() < n) s += unit;
  return s.substr(0, n);
}

// --- pings ---

// iputils: a 16-byte send time, then byte i = i.
Bytes linux_ping(size_t n) {
  Bytes d = {0xe2, 0x5d, 0x66, 0x62, 0, 0, 0, 0, 0xdb, 0x0d, 0x0f, 0, 0, 0, 0, 0};
  d.resize(std::min<size_t>(n, 16));
  for (size_t i = d.size(); i < n; ++i) d.push_back(static_cast<uint8_t>(i));
  return d;
}
// BSD/macOS: an 8-byte send time, then byte i = i.
Bytes bsd_ping(size_t n) {
  Bytes d = {0x62, 0x66, 0x5d, 0xe2, 0x00, 0x0d, 0xbb, 0x1f};
  d.resize(std::min<size_t>(n, 8));
  for (size_t i = d.size(); i < n; ++i) d.push_back(static_cast<uint8_t>(i));
  return d;
}
// Windows: "abcdefghijklmnopqrstuvw" over and over.
Bytes windows_ping(size_t n) {
  Bytes d;
  for (size_t i = 0; i < n; ++i) d.push_back(static_cast<uint8_t>('a' + i % 23));
  return d;
}
// A send time then a repeated pattern (ping -p, zero fills).
Bytes pattern_ping(size_t n, const Bytes& pattern) {
  Bytes d = linux_ping(std::min<size_t>(n, 16));
  for (size_t i = d.size(); i < n; ++i) d.push_back(pattern[(i - 16) % pattern.size()]);
  return d;
}
// Byte i = i + shift (mod 256) after the send time.
Bytes shifted_ping(size_t n, uint8_t shift) {
  Bytes d = linux_ping(n);
  for (size_t i = 16; i < n; ++i) d[i] = static_cast<uint8_t>(d[i] + shift);
  return d;
}
// What icmptunnel puts in an echo: a whole IPv4 packet (here an inner 84-byte ping).
Bytes tunnelled_ip() {
  const Bytes inner = ipv4(ip4("10.95.1.1"), ip4("10.95.1.2"), kIcmp, icmp(8, linux_ping(56), 0x1234, 7));
  return inner;
}
Bytes with_byte(Bytes d, size_t at, uint8_t v) {
  d.at(at) = v;
  return d;
}
Bytes echo4(uint8_t type, const Bytes& data) { return ether(kIpv4Type, ipv4(kCpe, kServer, kIcmp, icmp(type, data))); }
Bytes echo6(uint8_t type, const Bytes& data) { return ether(kIpv6Type, ipv6(kIcmpv6, icmp(type, data))); }

// --- CWMP ---

const std::string kInform =
    "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
    "<soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">1889361990</cwmp:ID></soap-env:Header>"
    "<soap-env:Body><cwmp:Inform><DeviceId><Manufacturer>Example</Manufacturer><OUI>48BF74</OUI>"
    "</DeviceId></cwmp:Inform></soap-env:Body></soap-env:Envelope>";
const std::string kInformResponse =
    "<soap11env:Envelope xmlns:soap11env=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap11env:Body><cwmp:InformResponse>"
    "<MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap11env:Body></soap11env:Envelope>";

std::string http_post(const std::string& extra_headers, const std::string& body) {
  return "POST /acs HTTP/1.1\r\nHost: 192.0.2.10:7547\r\n" + extra_headers +
         "Content-Type: text/xml; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
std::string http_ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}
// CPE -> ACS and ACS -> CPE.
Bytes to_acs(const std::string& payload, uint32_t acs = kServer) {
  return ether(kIpv4Type, ipv4(kCpe, acs, kTcp, tcp(50312, 7547, bytes(payload))));
}
Bytes from_acs(const std::string& payload, uint32_t acs = kServer) {
  return ether(kIpv4Type, ipv4(acs, kCpe, kTcp, tcp(7547, 50312, bytes(payload))));
}

// --- running ----------------------------------------------------------------------------

// Frees an mbuf chain.
struct MbufDeleter {
  void operator()(rte_mbuf* m) const noexcept { rte_pktmbuf_free(m); }
};
using Mbuf = std::unique_ptr<rte_mbuf, MbufDeleter>;

// `data` in a chain of mbufs, a new segment starting at each offset of `splits` (and
// wherever a segment is full).
Mbuf make_mbuf(const uint8_t* data, size_t size, std::vector<size_t> splits = {}) {
  splits.push_back(size);
  std::sort(splits.begin(), splits.end());
  rte_mbuf* head = nullptr;
  size_t at = 0;
  for (const size_t split : splits) {
    while (at < split || (head == nullptr && at == split)) {
      rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
      if (seg == nullptr) throw std::runtime_error("mbuf pool exhausted");
      const size_t n = std::min<size_t>(split - at, rte_pktmbuf_tailroom(seg));
      if (n != 0) std::memcpy(rte_pktmbuf_append(seg, static_cast<uint16_t>(n)), data + at, n);
      at += n;
      if (head == nullptr) {
        head = seg;
      } else if (rte_pktmbuf_chain(head, seg) != 0) {
        rte_pktmbuf_free(seg);
        rte_pktmbuf_free(head);
        throw std::runtime_error("mbuf chain too long");
      }
    }
  }
  return Mbuf(head);
}

// What the worker does with a frame: parse it (a malformed frame is no IP to the later
// stages), then run the program with the helpers reading this frame.
uint64_t run_frame(const Program& p, const uint8_t* data, size_t captured, size_t wire_len,
                   const std::vector<size_t>& splits = {}) {
  Mbuf m = make_mbuf(data, captured, splits);
  dataplane::PacketInfo info;
  const dataplane::DropReason why =
      dataplane::parse_frame(data, static_cast<uint32_t>(captured), static_cast<uint32_t>(wire_len), info);
  if (why != dataplane::DropReason::kNone) {
    info.l3 = dataplane::L3::kOther;
    info.flags |= dataplane::kFlagMalformed;
  }
  const FrameView view = dataplane::frame_view(info, m.get());
  const CurrentFrame current(view);
  return p.run(m.get());
}
uint64_t run_frame(const Program& p, const Bytes& f, const std::vector<size_t>& splits = {}) {
  return run_frame(p, f.data(), f.size(), f.size(), splits);
}

using Args = std::map<std::string, std::vector<uint64_t>>;

// The object's defaults, overwritten by `args` (as dataplane/filters.cpp fills them).
ArgSlots slots_for(const std::string& path, const Args& args) {
  ArgSlots slots{};
  const std::vector<ArgSpec> specs = object_args(path);
  for (const ArgSpec& s : specs) {
    for (uint32_t k = 0; k < s.count; ++k) slots[s.slot + k] = s.default_value;
  }
  for (const auto& [name, values] : args) {
    const auto spec = std::find_if(specs.begin(), specs.end(), [&](const ArgSpec& s) { return s.name == name; });
    if (spec == specs.end()) throw std::invalid_argument(path + " has no argument " + name);
    if (values.size() > spec->count) throw std::invalid_argument("too many values for " + name);
    for (size_t k = 0; k < values.size(); ++k) slots[spec->slot + k] = values[k];
  }
  return slots;
}

// A shipped filter with the JIT and the same filter interpreted.
struct Loaded {
  std::unique_ptr<Program> jit;
  std::unique_ptr<Program> interpreted;
};
Loaded load(const std::string& name, const Args& args = {}) {
  const std::string path = object_path(name);
  Loaded l{Program::from_object(path, "filter", slots_for(path, args)),
           Program::from_object(path, "filter", slots_for(path, args))};
  l.interpreted->disable_jit();
  return l;
}

struct Case {
  Case(std::string w, Bytes f, bool m, Args a = {})
      : what(std::move(w)), frame(std::move(f)), match(m), args(std::move(a)) {}
  std::string what;
  Bytes frame;
  bool match;
  Args args;
};

std::string describe(const Case& c) {
  std::string s = c.what;
  for (const auto& [name, values] : c.args) {
    s += " [" + name + "=";
    for (size_t k = 0; k < values.size(); ++k) s += (k == 0 ? "" : ",") + std::to_string(values[k]);
    s += "]";
  }
  return s;
}

// Split points: inside the Ethernet header, at the L3 and L4 headers, inside the payload.
std::vector<size_t> split_points(const Bytes& f) {
  std::set<size_t> at = {1, 7, 13, 14, 18, 27, 34, 38, 42, 47, 54, 55, 61, 62, 70, 75, 90, 100, 129,
                         f.size() / 3, f.size() / 2, f.size() - 5, f.size() - 1};
  std::vector<size_t> out;
  for (const size_t s : at) {
    if (s > 0 && s < f.size()) out.push_back(s);
  }
  return out;
}

// Runs a fixture table against one shipped filter: the verdict with the JIT and the
// interpreter, contiguous and chained; then the frame cut at every length never matches.
void run_cases(const std::string& filter, const std::vector<Case>& cases) {
  std::map<Args, Loaded> programs;
  for (const Case& c : cases) {
    SCOPED_TRACE(filter + ": " + describe(c));
    auto it = programs.find(c.args);
    if (it == programs.end()) it = programs.emplace(c.args, load(filter, c.args)).first;
    const Loaded& p = it->second;
    const uint64_t want = c.match ? 1 : 0;
    EXPECT_EQ(run_frame(*p.jit, c.frame) != 0, c.match);
    EXPECT_EQ(run_frame(*p.interpreted, c.frame) != 0, c.match) << "interpreter";
    const std::vector<size_t> splits = split_points(c.frame);
    for (size_t k = 0; k < splits.size(); ++k) {
      EXPECT_EQ(run_frame(*p.jit, c.frame, {splits[k]}) != 0 ? 1U : 0U, want) << "split at " << splits[k];
      if (k + 1 < splits.size()) {
        EXPECT_EQ(run_frame(*p.jit, c.frame, {splits[k], splits[k + 1]}) != 0 ? 1U : 0U, want)
            << "split at " << splits[k] << " and " << splits[k + 1];
      }
    }
    EXPECT_EQ(run_frame(*p.interpreted, c.frame, {c.frame.size() / 2}) != 0 ? 1U : 0U, want)
        << "interpreter, split at " << c.frame.size() / 2;
    // Cut frames: replayed from a capture cut by its snaplen (wire length intact), and
    // frames that are themselves short (malformed to the parser).
    size_t cut_matches = 0;
    for (size_t cut = 0; cut < c.frame.size(); ++cut) {
      cut_matches += run_frame(*p.jit, c.frame.data(), cut, c.frame.size()) != 0;
      cut_matches += run_frame(*p.jit, c.frame.data(), cut, cut) != 0;
      if (cut > 20) cut_matches += run_frame(*p.jit, c.frame.data(), cut, c.frame.size(), {cut / 2}) != 0;
    }
    EXPECT_EQ(cut_matches, 0U) << "a cut frame matched";
  }
}

std::string compile_error(const std::function<void()>& load_it) {
  try {
    load_it();
  } catch (const CompileError& e) {
    return e.what();
  }
  return "(loaded)";
}

// --- shipped objects: validator, JIT, arguments --------------------------------------------

// The argument declaration of a filter's source: the string literals of SENTINEL_ARGS(...).
std::string declared_spec(const std::string& source) {
  std::ifstream in(source);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const size_t at = text.find("\nSENTINEL_ARGS(");
  if (at == std::string::npos) return {};
  const size_t close = text.find(");", at);
  std::string spec;
  bool in_string = false;
  for (size_t i = at + 15; i < close; ++i) {
    if (text[i] == '"') {
      in_string = !in_string;
    } else if (in_string) {
      spec += text[i];
    }
  }
  return spec;
}

// The `#define ARG_NAME sentinel_args[N]` macros of a filter's source: name -> slot.
std::map<std::string, uint32_t> slot_macros(const std::string& source) {
  std::ifstream in(source);
  std::map<std::string, uint32_t> out;
  static constexpr std::string_view kDefine = "#define ARG_", kArgs = " sentinel_args[";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kDefine, 0) != 0) continue;
    const size_t name_end = line.find(kArgs);
    if (name_end == std::string::npos) continue;  // e.g. ARG_ACS(i)
    std::string name = line.substr(kDefine.size(), name_end - kDefine.size());
    const size_t digits = name_end + kArgs.size();
    const size_t close = line.find(']', digits);
    if (close == std::string::npos || close == digits ||
        line.find_first_not_of("0123456789", digits) != close) {
      continue;
    }
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    out[name] = static_cast<uint32_t>(std::stoul(line.substr(digits, close - digits)));
  }
  return out;
}

TEST(ShippedFilters, LoadThroughTheValidatorAndTheJit) {
  ASSERT_TRUE(jit_available()) << "rte_bpf has no JIT on this machine";
  for (const std::string& name : kShipped) {
    SCOPED_TRACE(name);
    const std::string path = object_path(name);
    std::unique_ptr<Program> p;
    ASSERT_NO_THROW(p = Program::from_object(path, "filter", slots_for(path, {})));
    EXPECT_TRUE(p->jitted());
    EXPECT_GT(p->jit_size(), 0U);
    std::printf("%-12s JIT %zu bytes\n", name.c_str(), p->jit_size());
  }
}

TEST(ShippedFilters, ArgumentsAreTheDeclaredOnes) {
  for (const std::string& name : kShipped) {
    SCOPED_TRACE(name);
    const std::string spec = declared_spec(source_path(name));
    ASSERT_FALSE(spec.empty()) << "no SENTINEL_ARGS in " << source_path(name);
    // Parsed independently of object_args(): name[count]=default, in slot order.
    std::vector<ArgSpec> want;
    uint32_t slot = 0;
    std::istringstream in(spec);
    std::string entry;
    while (std::getline(in, entry, ',')) {
      const size_t eq = entry.find('=');
      ASSERT_NE(eq, std::string::npos) << entry;
      ArgSpec a;
      a.name = entry.substr(0, eq);
      a.default_value = std::stoull(entry.substr(eq + 1));
      if (const size_t br = a.name.find('['); br != std::string::npos) {
        a.count = static_cast<uint32_t>(std::stoul(a.name.substr(br + 1)));
        a.name.resize(br);
      }
      a.slot = slot;
      slot += a.count;
      want.push_back(a);
    }
    const std::vector<ArgSpec> got = object_args(object_path(name));
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(got[k].name, want[k].name);
      EXPECT_EQ(got[k].slot, want[k].slot) << want[k].name;
      EXPECT_EQ(got[k].count, want[k].count) << want[k].name;
      EXPECT_EQ(got[k].default_value, want[k].default_value) << want[k].name;
    }
    // The ARG_* macros read the declared slots.
    const std::map<std::string, uint32_t> macros = slot_macros(source_path(name));
    EXPECT_FALSE(macros.empty());
    for (const auto& [macro, macro_slot] : macros) {
      const auto a = std::find_if(want.begin(), want.end(), [&](const ArgSpec& s) { return s.name == macro; });
      ASSERT_NE(a, want.end()) << "ARG_" << macro << " names no declared argument";
      EXPECT_EQ(a->slot, macro_slot) << "ARG_" << macro;
    }
  }
  // The documented defaults (the files' opening comments say the same).
  EXPECT_EQ(declared_spec(source_path("dns_tunnel")),
            "port=53,tcp=1,max_label=40,max_name=100,hex_run=16,non_ldh=1,null_qtype=1,data_qtypes=1,"
            "num_label=6,mixed_upper=4,score=2");
  EXPECT_EQ(declared_spec(source_path("icmp_tunnel")), "max_payload=1472,skip=16,incrementing=1,windows=1,repeating=1");
  EXPECT_EQ(declared_spec(source_path("cwmp_acs")), "acs[8]=0,scan=2048");
}

// --- dns_tunnel ---------------------------------------------------------------------------

TEST(DnsTunnel, Fixtures) {
  const std::string l39 = rep("tunnel", 39), l40 = rep("tunnel", 40);
  const std::string x30 = rep("x", 30);
  std::string many_labels;  // 127 one-byte labels: a 255-byte name
  for (int k = 0; k < 127; ++k) many_labels += (k == 0 ? "" : ".") + std::string("a");
  const Query txt{.name = "1069-23464.id-1605.up.example.com", .qtype = 16};
  run_cases("dns_tunnel", {
      {"ordinary A query", dns_udp4({.name = "www.example.com"}), false},
      {"TXT of _dmarc", dns_udp4({.name = "_dmarc.example.com", .qtype = 16}), false},
      {"AAAA", dns_udp4({.name = "www.example.com", .qtype = 28}), false},
      {"MX of a domain", dns_udp4({.name = "example.com", .qtype = 15}), false},
      {"reverse lookup", dns_udp4({.name = "104.9.192.66.in-addr.arpa", .qtype = 12}), false},
      {"Team Cymru TXT (5-digit AS)", dns_udp4({.name = "AS30873.asn.cymru.com", .qtype = 16}), false},
      {"DNSBL A lookup", dns_udp4({.name = "247.217.90.189.zen.spamhaus.org"}), false},
      // strong: label length
      {"40-byte label", dns_udp4({.name = l40 + ".t.example.com"}), true},
      {"39-byte label", dns_udp4({.name = l39 + ".t.example.com"}), false},
      {"63-byte label", dns_udp4({.name = rep("tunnel", 63) + ".example.com"}), true},
      {"40-byte label, max_label=41", dns_udp4({.name = l40 + ".t.example.com"}), false, {{"max_label", {41}}}},
      {"39-byte label, max_label=39", dns_udp4({.name = l39 + ".t.example.com"}), true, {{"max_label", {39}}}},
      {"40-byte label, max_label=0 (off)", dns_udp4({.name = l40 + ".t.example.com"}), false, {{"max_label", {0}}}},
      // strong: name length (on the wire, the final 0 included)
      {"100-byte name", dns_udp4({.name = x30 + "." + x30 + "." + x30 + ".abcde"}), true},
      {"99-byte name", dns_udp4({.name = x30 + "." + x30 + "." + x30 + ".abcd"}), false},
      {"99-byte name, max_name=99", dns_udp4({.name = x30 + "." + x30 + "." + x30 + ".abcd"}), true,
       {{"max_name", {99}}}},
      {"255-byte name of 127 labels", dns_udp4({.name = many_labels}), true},
      // strong: hex run
      {"16 hex digits", dns_udp4({.name = "deadbeefcafebabe.example.com"}), true},
      {"15 hex digits", dns_udp4({.name = "deadbeefcafebab.example.com"}), false},
      {"15 hex digits then a letter", dns_udp4({.name = "deadbeefcafebabz.example.com"}), false},
      {"dnscat2-style hex label",
       dns_udp4({.name = "147901b8d3df9cc46c59d600078b3316ce.example.com", .qtype = 5}), true},
      {"16 hex digits, hex_run=17", dns_udp4({.name = "deadbeefcafebabe.example.com"}), false, {{"hex_run", {17}}}},
      // strong: bytes outside letters, digits, '-', '_'
      {"base64 '+'", dns_udp4({.name = "abc+def.example.com"}), true},
      {"base64 '='", dns_udp4({.name = "AAAAAH7wQA.=auth.example.com"}), true},
      {"8-bit byte", dns_udp4({.name = "caf\xc3\xa9.example.com"}), true},
      {"hyphen and underscore", dns_udp4({.name = "a-b_c.example.com"}), false},
      {"'+', non_ldh=0", dns_udp4({.name = "abc+def.example.com"}), false, {{"non_ldh", {0}}}},
      // strong: NULL
      {"NULL query", dns_udp4({.name = "yrb0pe.t1.example.com", .qtype = 10}), true},
      {"NULL query, null_qtype=0", dns_udp4({.name = "yrb0pe.t1.example.com", .qtype = 10}), false,
       {{"null_qtype", {0}}}},
      // weak: two are needed
      {"TXT + 9-digit label", dns_udp4(txt), true},
      {"A + 9-digit label", dns_udp4({.name = txt.name}), false},
      {"TXT + 5-digit label", dns_udp4({.name = "10692-ab.id-1605.example.com", .qtype = 16}), false},
      {"CNAME + 6-digit label", dns_udp4({.name = "0-60451.id-1605.down.example.com", .qtype = 5}), true},
      {"MX + mixed case", dns_udp4({.name = "oncAAAABBA.example.com", .qtype = 15}), true},
      {"TXT + mixed case", dns_udp4({.name = "oncAAAABBA.example.com", .qtype = 16}), true},
      {"A + mixed case", dns_udp4({.name = "oncAAAABBA.example.com"}), false},
      {"TXT + 3 upper-case", dns_udp4({.name = "oncAAAbba.example.com", .qtype = 16}), false},
      {"TXT + upper-case only", dns_udp4({.name = "ONCAAAABBA.example.com", .qtype = 16}), false},
      {"A + mixed case + 6 digits", dns_udp4({.name = "MacBookPRO-123456.example.com"}), true},
      {"TXT + 9 digits, data_qtypes=0", dns_udp4(txt), false, {{"data_qtypes", {0}}}},
      {"TXT + 9 digits, num_label=10", dns_udp4(txt), false, {{"num_label", {10}}}},
      {"TXT alone, score=1", dns_udp4({.name = "example.com", .qtype = 16}), true, {{"score", {1}}}},
      {"40-byte label, score=3", dns_udp4({.name = l40 + ".t.example.com"}), false, {{"score", {3}}}},
      {"40-byte label, score=0 (off)", dns_udp4({.name = l40 + ".t.example.com"}), false, {{"score", {0}}}},
      // what is judged
      {"response", dns_udp4({.name = l40 + ".t.example.com", .flags = 0x8180}), false},
      {"UPDATE (opcode 5)", dns_udp4({.name = l40 + ".t.example.com", .flags = 0x2800}), false},
      {"no question", dns_udp4({.name = l40 + ".t.example.com", .qdcount = 0}), false},
      {"from port 53", ether(kIpv4Type, ipv4(kServer, kCpe, kUdp, udp(53, 40001, dns_message({.name = l40 + ".t"})))),
       false},
      {"TCP query", dns_tcp4({.name = l40 + ".t.example.com"}), true},
      {"TCP query, tcp=0", dns_tcp4({.name = l40 + ".t.example.com"}), false, {{"tcp", {0}}}},
      {"TCP ordinary query", dns_tcp4({.name = "www.example.com"}), false},
      {"TCP, two messages, the first a tunnel query",
       dns_tcp4(std::vector<Query>{{.name = l40 + ".t.example.com"}, {.name = "www.example.com"}}), true},
      {"TCP, two messages, the second a tunnel query",
       dns_tcp4(std::vector<Query>{{.name = "www.example.com"}, {.name = l40 + ".t.example.com"}}), false},
      {"TCP, message longer than the segment", dns_tcp4({.name = l40 + ".t.example.com"}, 1), false},
      {"TCP, length ending inside the name", dns_tcp4({.name = l40 + ".t.example.com"}, -20), false},
      {"TCP, segment inside a message", ether(kIpv4Type, ipv4(kCpe, kServer, kTcp, tcp(40002, 53, bytes(l40)))), false},
      {"mDNS port", dns_udp4({.name = l40 + ".local"}, 5353), false},
      {"mDNS port, port=5353", dns_udp4({.name = l40 + ".local"}, 5353), true, {{"port", {5353}}}},
      {"IPv6", dns_udp6({.name = l40 + ".t.example.com"}), true},
      {"IPv6 ordinary", dns_udp6({.name = "www.example.com", .qtype = 28}), false},
      {"802.1Q", dns_udp4({.name = l40 + ".t.example.com"}, 53, {100}), true},
      {"QinQ", dns_udp4({.name = l40 + ".t.example.com"}, 53, {100, 200}), true},
      {"compression pointer", dns_raw4({0xc0, 0x0c, 0, 16, 0, 1}), false},
      {"label running past the payload", dns_raw4({50, 'a', 'b', 'c', 0, 0, 16, 0, 1}), false},
      {"reserved label type", dns_raw4({0x41, 'a', 0, 0, 16, 0, 1}), false},
      {"no QTYPE/QCLASS", dns_raw4(dns_name(l40 + ".t")), false},
      {"128 labels: longer than any legal name", dns_udp4({.name = many_labels + ".b"}), false},
      // documented blind spot: character classes past the name's first 64 bytes
      {"'+' at name byte 64", dns_udp4({.name = x30 + "." + x30 + ".c+d.example"}), false},
      {"'+' at name byte 63", dns_udp4({.name = x30 + "." + x30 + ".+cd.example"}), true},
  });
}

// --- icmp_tunnel -----------------------------------------------------------------------------

TEST(IcmpTunnel, Fixtures) {
  const Bytes random20 = {0x8e, 0x11, 0x42, 0x07, 0x9a, 0x3c, 0x51, 0xf0, 0x22, 0x6b,
                          0x0e, 0xc9, 0x73, 0x18, 0xaa, 0x5d, 0x34, 0x99, 0x02, 0xe7};
  Bytes random21 = random20;
  random21.push_back(0x61);
  Bytes random16 = random20;
  random16.resize(16);
  run_cases("icmp_tunnel", {
      {"Linux ping", echo4(8, linux_ping(56)), false},
      {"Linux ping reply", echo4(0, linux_ping(56)), false},
      {"Linux ping -s 8 (time only)", echo4(8, linux_ping(8)), false},
      {"Linux ping -s 1472", echo4(8, linux_ping(1472)), false},
      {"Linux ping -s 1473", echo4(8, linux_ping(1473)), true},
      {"Linux ping -s 1473, max_payload=0 (no limit)", echo4(8, linux_ping(1473)), false, {{"max_payload", {0}}}},
      {"Linux ping, max_payload=55", echo4(8, linux_ping(56)), true, {{"max_payload", {55}}}},
      {"Linux ping6", echo6(128, linux_ping(56)), false},
      {"Linux ping6 reply", echo6(129, linux_ping(56)), false},
      {"BSD ping", echo4(8, bsd_ping(56)), false},
      {"Windows ping", echo4(8, windows_ping(32)), false},
      {"Windows ping -l 1000", echo4(8, windows_ping(1000)), false},
      {"Windows ping6", echo6(128, windows_ping(32)), false},
      {"zero fill", echo4(8, pattern_ping(56, {0})), false},
      {"ping -p ab", echo4(8, pattern_ping(56, {0xab})), false},
      {"ping -p abcd", echo4(8, pattern_ping(100, {0xab, 0xcd})), false},
      {"ping -p 01020304", echo4(8, pattern_ping(64, {1, 2, 3, 4})), false},
      {"incrementing from another start", echo4(8, shifted_ping(56, 5)), false},
      {"incrementing, wrapping past 0xff", echo4(8, shifted_ping(300, 0x77)), false},
      {"empty echo", echo4(8, {}), false},
      // near misses of the fills
      {"Linux ping, byte 20 changed", echo4(8, with_byte(linux_ping(56), 20, 0x99)), true},
      {"Linux ping, last byte changed", echo4(8, with_byte(linux_ping(56), 55, 0x99)), true},
      {"Linux ping -s 200, last byte changed", echo4(8, with_byte(linux_ping(200), 199, 0x99)), true},
      {"Linux ping -s 200, byte 188 changed", echo4(8, with_byte(linux_ping(200), 188, 0x99)), true},
      {"Windows ping, byte 31 changed", echo4(8, with_byte(windows_ping(32), 31, 'z')), true},
      {"ping -p 01020304, a 5-byte period", echo4(8, pattern_ping(64, {1, 2, 3, 4, 5})), true},
      // documented blind spots
      {"Linux ping -s 200, byte 100 changed (unchecked middle)", echo4(8, with_byte(linux_ping(200), 100, 0x99)),
       false},
      {"16 random bytes (timestamp area)", echo4(8, random16), false},
      {"20 random bytes (skip + 4)", echo4(8, random20), false},
      {"21 random bytes", echo4(8, random21), true},
      // tunnels
      {"IPv4 packet in an echo request", echo4(8, tunnelled_ip()), true},
      {"IPv4 packet in an echo reply", echo4(0, tunnelled_ip()), true},
      {"IPv4 packet in an ICMPv6 echo", echo6(128, tunnelled_ip()), true},
      {"ptunnel-style header", echo4(8, bytes(std::string("\xd5\x20\x08\x80") + rep("payload-", 60))), true},
      {"shell output", echo4(0, bytes("uid=0(root) gid=0(root) groups=0(root)\n")), true},
      // not echoes
      {"destination unreachable", ether(kIpv4Type, ipv4(kServer, kCpe, kIcmp, icmp(3, tunnelled_ip()))), false},
      {"timestamp request", echo4(13, random21), false},
      {"ICMPv6 echo type on ICMPv4 (128)", echo4(128, random21), false},
      {"ICMPv4 echo type on ICMPv6 (8)", echo6(8, random21), false},
      {"neighbor solicitation", echo6(135, random21), false},
      {"UDP", ether(kIpv4Type, ipv4(kCpe, kServer, kUdp, udp(1, 2, tunnelled_ip()))), false},
      // arguments switching fills off, and the timestamp area
      {"Linux ping, incrementing=0", echo4(8, linux_ping(56)), true, {{"incrementing", {0}}}},
      {"Windows ping, windows=0", echo4(8, windows_ping(32)), true, {{"windows", {0}}}},
      {"zero fill, repeating=0", echo4(8, pattern_ping(56, {0})), true, {{"repeating", {0}}}},
      {"Linux ping, skip=8", echo4(8, linux_ping(56)), true, {{"skip", {8}}}},
      {"BSD ping, skip=8", echo4(8, bsd_ping(56)), false, {{"skip", {8}}}},
      {"16 random bytes, skip=0", echo4(8, random16), true, {{"skip", {0}}}},
      {"21 random bytes, skip=21", echo4(8, random21), false, {{"skip", {21}}}},
  });
}

// --- cwmp_acs -----------------------------------------------------------------------------

TEST(CwmpAcs, Fixtures) {
  const uint64_t acs = kServer;
  const uint64_t other = ip4("198.51.100.7");
  const std::string far_body = std::string(2100, ' ') + kInform;  // namespace past 2048 bytes
  const std::string soap_action = http_post("SOAPAction: \"cwmp:Inform\"\r\n", "<cwmp:Inform/>");
  run_cases("cwmp_acs", {
      {"Inform, no ACS listed", to_acs(http_post("", kInform)), true},
      {"InformResponse, no ACS listed", from_acs(http_ok(kInformResponse)), true},
      {"Inform to the listed ACS", to_acs(http_post("", kInform)), false, {{"acs", {acs}}}},
      {"InformResponse from the listed ACS", from_acs(http_ok(kInformResponse)), false, {{"acs", {acs}}}},
      {"Inform to the ACS in the last slot", to_acs(http_post("", kInform)), false,
       {{"acs", {other, other + 1, other + 2, other + 3, other + 4, other + 5, other + 6, acs}}}},
      {"Inform to an unlisted ACS", to_acs(http_post("", kInform)), true, {{"acs", {other}}}},
      {"Inform to an ACS one address off", to_acs(http_post("", kInform)), true, {{"acs", {acs + 1}}}},
      {"InformResponse from an unlisted ACS", from_acs(http_ok(kInformResponse)), true, {{"acs", {other}}}},
      {"Inform, the CPE listed (either end)", to_acs(http_post("", kInform)), false, {{"acs", {kCpe}}}},
      {"Inform, only zero slots", to_acs(http_post("", kInform)), true, {{"acs", {0, 0, 0}}}},
      {"envelope continuing in a later segment", to_acs("Date: x\r\n\r\n" + kInform), true, {{"acs", {other}}}},
      {"SOAPAction naming cwmp", to_acs(soap_action), true},
      {"SOAPAction naming cwmp, listed ACS", to_acs(soap_action), false, {{"acs", {acs}}}},
      {"SOAPACTION, CWMP in capitals",
       to_acs(http_post("SOAPACTION: \"urn:example:CWMP-1-0#Inform\"\r\n", "<x/>")), true},
      {"UPnP SOAPAction",
       to_acs(http_post("SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress\"\r\n",
                        "<s:Envelope/>")),
       false},
      {"cwmp in the header after SOAPAction",
       to_acs(http_post("SOAPAction: \"\"\r\nUser-Agent: cwmp-agent\r\n", "<x/>")), false},
      {"SOAPAction with cwmp, a GET", to_acs("GET / HTTP/1.1\r\nSOAPAction: cwmp:Inform\r\n\r\n"), false},
      {"another dslforum namespace", to_acs(http_post("", "<x xmlns:dm=\"urn:dslforum-org:tr-181-2-0\"/>")), false},
      {"namespace cut short", to_acs(http_post("", "<x xmlns:c=\"urn:dslforum-org:cwm\"/>")), false},
      {"plain HTTP", to_acs("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"), false},
      {"namespace past 2048 bytes", to_acs(http_post("", far_body)), false},
      {"namespace past 2048 bytes, scan=0", to_acs(http_post("", far_body)), true, {{"scan", {0}}}},
      {"namespace past 2048 bytes, scan=4096", to_acs(http_post("", far_body)), true, {{"scan", {4096}}}},
      {"IPv6 Inform, ACS listed (IPv4 only)",
       ether(kIpv6Type, ipv6(kTcp, tcp(50312, 7547, bytes(http_post("", kInform))))), true, {{"acs", {acs}}}},
      {"namespace over UDP", ether(kIpv4Type, ipv4(kCpe, kServer, kUdp, udp(5000, 7547, bytes(kInform)))), false},
      {"802.1Q Inform",
       ether(kIpv4Type, ipv4(kCpe, kServer, kTcp, tcp(50312, 7547, bytes(http_post("", kInform)))), {7}), true,
       {{"acs", {other}}}},
  });
}

// --- loading errors -------------------------------------------------------------------------

TEST(LoadErrors, ExpressionSyntaxErrorIsLibpcaps) {
  const std::string why = compile_error([] { (void)Program::from_expression("udp dst port", DLT_EN10MB); });
  EXPECT_NE(why.find("syntax error"), std::string::npos) << why;
  const std::string unknown = compile_error([] { (void)Program::from_expression("udp and frobnicate", DLT_EN10MB); });
  EXPECT_NE(unknown, "(loaded)");
}

TEST(LoadErrors, BadObjects) {
  const std::string missing = compile_error([] { (void)Program::from_object("/nonexistent/x.bpf.o", "filter", {}); });
  EXPECT_NE(missing.find("cannot open"), std::string::npos) << missing;
  EXPECT_NE(missing.find("No such file"), std::string::npos) << missing;
  EXPECT_NE(compile_error([] { (void)object_args("/nonexistent/x.bpf.o"); }).find("cannot open"), std::string::npos);

  const std::string text = source_path("dns_tunnel");  // C source, not ELF
  const std::string not_elf = compile_error([&] { (void)Program::from_object(text, "filter", {}); });
  EXPECT_NE(not_elf.find("not an ELF object"), std::string::npos) << not_elf;
  EXPECT_NE(compile_error([&] { (void)object_args(text); }).find("not an ELF object"), std::string::npos);

  const std::string host_elf = compile_error([] { (void)Program::from_object("/proc/self/exe", "filter", {}); });
  EXPECT_NE(host_elf.find("not an eBPF object"), std::string::npos) << host_elf;

  const std::string no_section =
      compile_error([] { (void)Program::from_object(object_path("dns_tunnel"), "classify", {}); });
  EXPECT_NE(no_section.find("no section 'classify'"), std::string::npos) << no_section;
  // The list names every executable section (clang's empty .text too).
  const size_t listed = no_section.find("code sections: ");
  ASSERT_NE(listed, std::string::npos) << no_section;
  EXPECT_NE(no_section.find("filter", listed), std::string::npos) << no_section;
}

TEST(LoadErrors, LoopIsRefusedByTheValidator) {
  const std::string why = compile_error([] { (void)Program::from_object(test_object("loop"), "filter", {}); });
  EXPECT_NE(why.find("loops detected"), std::string::npos) << why;
  EXPECT_NE(why.find("rejected"), std::string::npos) << why;
}

TEST(LoadErrors, MalformedArgumentDeclarations) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"bad_args_no_default", "expected name=default"},
      {"bad_args_too_many", "more than 32 slots"},
      {"bad_args_negative", "not an unsigned integer"},
      {"bad_args_twice", "declared twice"},
  };
  for (const auto& [object, reason] : bad) {
    const std::string why = compile_error([&] { (void)object_args(test_object(object)); });
    EXPECT_NE(why.find(reason), std::string::npos) << object << ": " << why;
    EXPECT_NE(why.find(".sentinel.args"), std::string::npos) << object << ": " << why;
  }
}

// --- expressions ----------------------------------------------------------------------------

TEST(Expressions, HandChecked) {
  const Bytes query = dns_udp4({.name = "www.example.com"});
  const Bytes response = ether(kIpv4Type, ipv4(kServer, kCpe, kUdp, udp(53, 40001, dns_message({.name = "a"}))));
  const Bytes tagged = dns_udp4({.name = "www.example.com"}, 53, {100});
  const Bytes query6 = dns_udp6({.name = "www.example.com"});
  const Bytes ping = echo4(8, linux_ping(56));
  const Bytes pong = echo4(0, linux_ping(56));
  const Bytes big_ping = echo4(8, linux_ping(1400));
  const Bytes syn = ether(kIpv4Type, ipv4(kCpe, kServer, kTcp, tcp(50312, 7547, {}, 0x02)));
  const Bytes ack = ether(kIpv4Type, ipv4(kCpe, kServer, kTcp, tcp(50312, 7547, {}, 0x10)));
  const Bytes inform = to_acs(http_post("", kInform));
  struct Expr {
    std::string expr;
    const Bytes* frame;
    bool match;
  };
  const std::vector<Expr> table = {
      {"udp dst port 53", &query, true},
      {"udp dst port 53", &response, false},
      {"udp src port 53", &response, true},
      {"udp dst port 53", &tagged, false},
      {"vlan and udp dst port 53", &tagged, true},
      {"vlan 100 and udp dst port 53", &tagged, true},
      {"vlan 101", &tagged, false},
      {"vlan", &query, false},
      {"ip6 and udp dst port 53", &query6, true},
      {"ip6", &query, false},
      {"icmp[icmptype] == icmp-echo", &ping, true},
      {"icmp[icmptype] == icmp-echo", &pong, false},
      {"icmp and len > 1000", &big_ping, true},
      {"icmp and len > 1000", &ping, false},
      {"tcp[tcpflags] & tcp-syn != 0", &syn, true},
      {"tcp[tcpflags] & tcp-syn != 0", &ack, false},
      {"host 192.0.2.10 and tcp port 7547", &inform, true},
      {"src host 192.0.2.10", &inform, false},
      {"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x504f5354", &inform, true},  // "POST"
      {"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x504f5354", &syn, false},
  };
  for (const Expr& e : table) {
    SCOPED_TRACE(e.expr);
    std::unique_ptr<Program> p;
    ASSERT_NO_THROW(p = Program::from_expression(e.expr, DLT_EN10MB));
    EXPECT_EQ(p->run(make_mbuf(e.frame->data(), e.frame->size()).get()) != 0, e.match);
    for (const size_t split : split_points(*e.frame)) {
      EXPECT_EQ(p->run(make_mbuf(e.frame->data(), e.frame->size(), {split}).get()) != 0, e.match)
          << "split at " << split;
    }
    p->disable_jit();
    EXPECT_EQ(p->run(make_mbuf(e.frame->data(), e.frame->size()).get()) != 0, e.match) << "interpreter";
  }
}

// The helpers the C filters call, through a filter returning what each returns, against
// a reference on random frames in one to four segments: sentinel_find (in place within the
// first segment, candidate by candidate across segments), its case-insensitive form, and
// the bounded reads.
TEST(Helpers, AgreeWithAReference) {
  std::mt19937_64 rng(20240611);
  const auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  const std::string alphabet("aAbBcC:\r\n\0\xff", 11);
  const auto fold = [](uint8_t c) { return static_cast<uint8_t>(c >= 'A' && c <= 'Z' ? c + 32 : c); };
  const std::string path = test_object("helpers");
  const auto run_mode = [&](uint64_t mode, std::vector<uint64_t> a, const Bytes& f, const std::vector<size_t>& splits) {
    a.insert(a.begin(), mode);
    ArgSlots slots{};
    std::copy(a.begin(), a.end(), slots.begin());
    const std::unique_ptr<Program> p = Program::from_object(path, "filter", slots);
    Mbuf m = make_mbuf(f.data(), f.size(), splits);
    FrameView view;
    view.mbuf = m.get();
    const CurrentFrame current(view);
    return p->run(m.get());
  };
  for (int trial = 0; trial < 300; ++trial) {
    const size_t size = trial < 10 ? trial : uniform(1, trial % 3 == 0 ? 5000 : 200);
    Bytes f(size);
    for (uint8_t& b : f) b = static_cast<uint8_t>(alphabet[uniform(0, alphabet.size() - 1)]);
    std::vector<size_t> splits;
    for (uint64_t k = uniform(0, 3); k > 0 && size > 1; --k) splits.push_back(uniform(1, size - 1));
    std::sort(splits.begin(), splits.end());
    splits.erase(std::unique(splits.begin(), splits.end()), splits.end());
    SCOPED_TRACE("trial " + std::to_string(trial) + ", " + std::to_string(size) + " bytes, " +
                 std::to_string(splits.size()) + " splits");
    // find / find_nocase: a needle from the frame (often), or random.
    for (const bool nocase : {false, true}) {
      const uint64_t len = uniform(0, 17);
      Bytes needle(std::min<uint64_t>(len, 16));
      const uint64_t taken = size > needle.size() ? uniform(0, size - needle.size()) : 0;
      for (size_t k = 0; k < needle.size(); ++k) {
        const bool from_frame = uniform(0, 3) != 0 && taken + k < size;
        needle[k] = from_frame ? f[taken + k] : static_cast<uint8_t>(alphabet[uniform(0, alphabet.size() - 1)]);
        if (nocase && uniform(0, 1) == 1) needle[k] = static_cast<uint8_t>(std::toupper(needle[k]));
      }
      uint64_t lo = 0, hi = 0;
      for (size_t k = 0; k < needle.size(); ++k) (k < 8 ? lo : hi) |= uint64_t{needle[k]} << (8 * (k % 8));
      const uint64_t from = uniform(0, 2) == 0 ? uniform(0, size + 10) : uniform(0, taken);
      const uint64_t to = uniform(0, 3) == 0 ? uniform(0, size + 10) : size;
      uint64_t want = kNone;
      const uint64_t end = std::min<uint64_t>(to, size);
      if (len >= 1 && len <= 16 && from < end && end - from >= len) {
        for (uint64_t at = from; at + len <= end && want == kNone; ++at) {
          uint64_t k = 0;
          while (k < len && (nocase ? fold(f[at + k]) == fold(needle[k]) : f[at + k] == needle[k])) ++k;
          if (k == len) want = at;
        }
      }
      EXPECT_EQ(run_mode(nocase ? 1 : 0, {lo, hi, len, from, to}, f, splits), want)
          << (nocase ? "find_nocase" : "find") << " len " << len << " [" << from << ", " << to << ")";
    }
    // byte, be16, be32 around the segment boundaries and the end.
    std::vector<uint64_t> offsets = {0, size - 1, size, size + 1, ~uint64_t{0}};
    for (const size_t s : splits) offsets.insert(offsets.end(), {s - 1, s, s - 2, s - 3});
    for (const uint64_t off : offsets) {
      const auto at = [&](uint64_t k) { return uint64_t{f[off + k]}; };
      EXPECT_EQ(run_mode(2, {off}, f, splits), off < size ? at(0) : kNoByte) << "byte " << off;
      EXPECT_EQ(run_mode(3, {off}, f, splits), off < size && size - off >= 2 ? at(0) << 8 | at(1) : kNone)
          << "be16 " << off;
      EXPECT_EQ(run_mode(4, {off}, f, splits),
                off < size && size - off >= 4 ? at(0) << 24 | at(1) << 16 | at(2) << 8 | at(3) : kNone)
          << "be32 " << off;
    }
    EXPECT_EQ(run_mode(5, {}, f, splits), size);
  }
}

// C filters read nothing when no frame is set, or from a view without an mbuf.
TEST(Helpers, NoFrameReadsNothing) {
  const Loaded dns = load("dns_tunnel", {{"score", {1}}});
  const Bytes f = dns_udp4({.name = "example.com", .qtype = 16});
  Mbuf m = make_mbuf(f.data(), f.size());
  EXPECT_EQ(dns.jit->run(m.get()), 0U);  // no CurrentFrame
  const FrameView empty;
  const CurrentFrame current(empty);
  EXPECT_EQ(dns.jit->run(m.get()), 0U);
  EXPECT_EQ(run_frame(*dns.jit, f), 1U);  // and with one, it matches
  // A parsed view whose mbuf is missing: the helpers read no byte (and do not crash).
  dataplane::PacketInfo info;
  ASSERT_EQ(dataplane::parse_frame(f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), info),
            dataplane::DropReason::kNone);
  FrameView no_mbuf = dataplane::frame_view(info, m.get());
  no_mbuf.mbuf = nullptr;
  const CurrentFrame without(no_mbuf);
  EXPECT_EQ(dns.jit->run(m.get()), 0U);
  EXPECT_EQ(dns.interpreted->run(m.get()), 0U);
}

}  // namespace
}  // namespace sentinel::bpf

int main(int argc, char** argv) {
  return sentinel::test::run_tests_with_eal(argc, argv, "test_filter_program", "256", [] {
    sentinel::bpf::g_pool =
        rte_pktmbuf_pool_create("filter_program", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (sentinel::bpf::g_pool == nullptr) {
      std::fprintf(stderr, "rte_pktmbuf_pool_create: %s\n", rte_strerror(rte_errno));
      std::exit(1);
    }
  });
}

// Expression filters against libpcap itself. Every capture of the corpus's benign/ and
// malformed/ (pcap and pcapng, whatever their link type) is read with libpcap; each
// expression below is compiled for the capture's own link type twice: by libpcap on the
// capture's handle (the reference, run with pcap_offline_filter) and by
// sentinel::bpf::Program::from_expression (pcap_compile → rte_bpf_convert → rte_bpf_load).
// Every frame goes into an mbuf from a pktmbuf pool and is run four ways — JIT and
// interpreter (disable_jit()), each on one segment and on a 2-segment chain split at a
// point that varies with the frame and the expression — and each answer must equal the
// reference's. A few synthetic frames (VLAN 100, which no capture carries) are run the same
// way.
//
// The mbuf holds the captured bytes only (pkt_len = caplen, as net_pcap replays them), so
// the reference is given caplen as the frame's length too; frames a capture cut short, on
// which `len`/`greater`/`less` would answer differently with the wire length, are counted
// and printed, not failed. Expressions libpcap cannot compile for a link type are skipped
// for that capture (counted); libpcap compiling one and rte_bpf rejecting it is a failure.
// Figures and every disagreement (capture, frame number, expression, way) go to stdout.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/filter_program.hpp"
#include "tests/unit/eal_main.hpp"

namespace fs = std::filesystem;
using sentinel::bpf::CompileError;
using sentinel::bpf::Program;

namespace {

const fs::path kCorpus = SENTINEL_CORPUS_DIR;

// Ports, hosts, nets, protocols, VLAN, byte offsets (constant and computed, i.e.
// BPF_LD|BPF_IND), lengths, IPv6, ICMP, GRE, port ranges, broadcast/multicast, arithmetic
// (a division by a value that may be 0), negations, compound and/or.
const std::vector<std::string> kExpressions = {
    "tcp port 80",
    "udp port 53",
    "tcp dst port 443",
    "port 22 or port 23",
    "portrange 5000-6000",
    "tcp dst portrange 1024-49151",
    "host 192.168.1.1",
    "src host 10.0.0.2",
    "src net 10.0.0.0/8",
    "dst net 192.168.0.0/16",
    "net 172.16.0.0/12 and not net 172.16.238.0/24",
    "ip src net 128.0.0.0/1",
    "ip6",
    "ip6 and tcp",
    "ip6 and udp port 53",
    "ip6 multicast",
    "ip6 dst net ff02::/16",
    "icmp",
    "icmp6",
    "icmp[icmptype] = icmp-echo",
    "ip proto 47",
    "arp",
    "vlan",
    "vlan 100 and tcp",
    "vlan 50 and tcp",
    "vlan and vlan and tcp",
    "vlan 30 and vlan 20 and vlan 10 and tcp",
    "vlan and ip",
    "vlan and mpls",
    "pppoes and udp",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
    "tcp and (tcp[13] & 0x11 = 0x11 or tcp[13] & 4 != 0)",
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
    "ip[6:2] & 0x1fff != 0",
    "ip[8] < 64",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 500",
    "ip and len % (ip[8] & 1) = 0",
    "ether[12:2] = 0x86dd",
    "len > 1000",
    "greater 500",
    "less 64",
    "ether broadcast",
    "ether multicast",
    "ip multicast",
    "not ip and not ip6",
    "not tcp",
    "(tcp port 80 or tcp port 443) and not src net 10.0.0.0/8",
    "udp and (port 53 or port 123 or port 161) and not ip6",
};

constexpr uint32_t kSnaplen = 262144;
constexpr uint16_t kDataRoom = UINT16_MAX;  // the largest an mbuf can have
constexpr uint32_t kSegmentCapacity = kDataRoom - RTE_PKTMBUF_HEADROOM;
constexpr uint64_t kMinCorpusFrames = 9000;  // the two folders hold ~9,400 frames

rte_mempool* g_pool = nullptr;

// A program that crashes (a fault inside JIT code) is a disagreement too, not the end of
// the test: the signal handler names the run on stderr and jumps back to guarded_run(),
// which reports it; that expression's JIT is then not run again on the capture. (Code that
// faults has run astray, so what follows is best effort; the test fails either way.)
struct CurrentRun {
  const char* capture = "";
  uint64_t frame_no = 0;
  const char* expr = "";
  const char* way = "";
  const char* split = "";
};
CurrentRun g_current;
sigjmp_buf g_recover;
volatile sig_atomic_t g_armed = 0;

void write_str(const char* s) noexcept {
  const ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

extern "C" void on_crash(int sig) {
  char num[24];
  char* p = num + sizeof num;
  *--p = '\0';
  uint64_t n = g_current.frame_no;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  write_str("\nCRASH (");
  write_str(strsignal(sig));
  write_str(") while running: ");
  write_str(g_current.capture);
  write_str(" frame ");
  write_str(p);
  write_str(" '");
  write_str(g_current.expr);
  write_str("' ");
  write_str(g_current.way);
  write_str(g_current.split);
  write_str("\n");
  if (g_armed != 0) {
    g_armed = 0;
    siglongjmp(g_recover, sig);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// prog.run(m); `signal` is set (and 0 returned) when it crashed.
[[gnu::noinline]] uint64_t guarded_run(const Program& prog, rte_mbuf* m, int& signal) {
  const int sig = sigsetjmp(g_recover, 1);
  if (sig != 0) {
    signal = sig;
    return 0;
  }
  g_armed = 1;
  const uint64_t got = prog.run(m);
  g_armed = 0;
  return got;
}

struct Frame {
  std::vector<uint8_t> bytes;
  uint32_t wire_len = 0;
};

struct PcapCloser {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

struct Capture {
  std::string name;        // "benign/x.pcap", or "synthetic"
  PcapHandle handle;       // what the reference is compiled on
  int linktype = 0;
  std::vector<Frame> frames;
  std::string read_error;  // libpcap stopped before the end (frames holds what it read)
};

struct CompiledReference {
  bpf_program code{};
  bool ok = false;
  ~CompiledReference() {
    if (ok) pcap_freecode(&code);
  }
};

Capture read_capture(const fs::path& path, const std::string& name) {
  Capture c;
  c.name = name;
  char err[PCAP_ERRBUF_SIZE] = {};
  c.handle.reset(pcap_open_offline(path.c_str(), err));
  if (!c.handle) {
    c.read_error = std::string("cannot open: ") + err;
    return c;
  }
  c.linktype = pcap_datalink(c.handle.get());
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  for (;;) {
    const int rc = pcap_next_ex(c.handle.get(), &h, &data);
    if (rc == PCAP_ERROR_BREAK) break;
    if (rc != 1) {
      c.read_error = pcap_geterr(c.handle.get());
      break;
    }
    c.frames.push_back({std::vector<uint8_t>(data, data + h->caplen), h->len});
  }
  return c;
}

// ---- Synthetic frames: VLAN 100 (no capture has it), QinQ, and an untagged control. ----

void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}

// Ethernet with the given 802.1Q/802.1ad tags ({tpid, vid}), then IPv4 TCP SYN or UDP.
Frame synthetic(const std::vector<std::pair<uint16_t, uint16_t>>& tags, uint8_t proto, uint16_t dport) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  for (const auto& [tpid, vid] : tags) {
    put16(f, tpid);
    put16(f, vid);
  }
  put16(f, 0x0800);
  const uint16_t l4_len = proto == 6 ? 20 : 8 + 12;
  const uint8_t ip[] = {0x45, 0, static_cast<uint8_t>((20 + l4_len) >> 8), static_cast<uint8_t>(20 + l4_len),
                        0, 1, 0x40, 0, 64, proto, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2};
  f.insert(f.end(), ip, ip + sizeof ip);
  put16(f, 40000);
  put16(f, dport);
  if (proto == 6) {
    const uint8_t tcp[] = {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
    f.insert(f.end(), tcp, tcp + sizeof tcp);
  } else {
    put16(f, l4_len);
    put16(f, 0);
    f.insert(f.end(), 12, 0xab);
  }
  const uint32_t n = static_cast<uint32_t>(f.size());
  return {std::move(f), n};
}

Capture synthetic_capture() {
  Capture c;
  c.name = "synthetic";
  c.linktype = DLT_EN10MB;
  c.handle.reset(pcap_open_dead(DLT_EN10MB, kSnaplen));
  c.frames = {
      synthetic({{0x8100, 100}}, 6, 80),
      synthetic({{0x8100, 100}}, 17, 53),
      synthetic({{0x8100, 200}}, 6, 80),
      synthetic({{0x88a8, 100}, {0x8100, 7}}, 6, 443),
      synthetic({{0x8100, 0x2064}}, 6, 22),  // priority 1, VID 100
      synthetic({}, 6, 80),
  };
  return c;
}

// ---- mbufs ----

struct MbufFree {
  void operator()(rte_mbuf* m) const noexcept { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufFree>;

// The frame in a chain of mbufs whose segments end at `cuts` (ascending, < len) and at len.
MbufPtr make_chain(const std::vector<uint8_t>& bytes, const std::vector<uint32_t>& cuts) {
  MbufPtr head;
  uint32_t from = 0;
  std::vector<uint32_t> ends = cuts;
  ends.push_back(static_cast<uint32_t>(bytes.size()));
  for (const uint32_t to : ends) {
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    if (seg == nullptr) throw std::runtime_error("mbuf pool exhausted");
    char* dst = rte_pktmbuf_append(seg, static_cast<uint16_t>(to - from));
    if (dst == nullptr) {
      rte_pktmbuf_free(seg);
      throw std::runtime_error("segment larger than the data room");
    }
    if (to > from) std::memcpy(dst, bytes.data() + from, to - from);
    if (!head) {
      head.reset(seg);
    } else if (rte_pktmbuf_chain(head.get(), seg) != 0) {
      rte_pktmbuf_free(seg);
      throw std::runtime_error("rte_pktmbuf_chain failed");
    }
    from = to;
  }
  return head;
}

// As few segments as the data room allows: one for every frame up to 65,407 bytes.
std::vector<uint32_t> minimal_cuts(uint32_t len) {
  std::vector<uint32_t> cuts;
  for (uint32_t at = kSegmentCapacity; at < len; at += kSegmentCapacity) cuts.push_back(at);
  return cuts;
}

// A split point for the 2-segment chain, varying with frame and expression: half of the
// time within the first 64 bytes (where the headers the expressions read are), else
// anywhere; both segments non-empty (the second is empty only for frames under 2 bytes).
// Frames too large for two segments get the minimal chain plus one more cut.
std::vector<uint32_t> split_cuts(uint32_t len, uint64_t frame_no, size_t expr) {
  uint64_t h = frame_no * 0x9e3779b97f4a7c15ULL + expr * 0xc2b2ae3d27d4eb4fULL + 0x165667b19e3779f9ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  if (len < 2) return {len};
  if (len > 2 * kSegmentCapacity) {
    std::vector<uint32_t> cuts = minimal_cuts(len);
    cuts.insert(cuts.begin(), 1 + static_cast<uint32_t>(h % (kSegmentCapacity - 1)));
    return cuts;
  }
  const uint32_t lo = len > kSegmentCapacity ? len - kSegmentCapacity : 1;
  uint32_t hi = std::min(len - 1, kSegmentCapacity);
  if ((h & 1) != 0 && lo <= 64) hi = std::min(hi, 64u);
  return {lo + static_cast<uint32_t>((h >> 1) % (hi - lo + 1))};
}

// ---- The comparison ----

struct ExprTotals {
  uint64_t captures = 0, skipped = 0, frames = 0, matches = 0, synthetic_matches = 0;
  uint64_t mismatches = 0, crashes = 0;
};

struct Disagreement {
  std::string capture, expr, way;
  uint64_t frame_no = 0;
  uint32_t caplen = 0;
  bool expected = false;
  uint64_t got = 0;
  int crashed = 0;  // the signal, when the program crashed
};

struct WireLenNote {
  std::string capture, expr;
  uint64_t frame_no = 0;
  uint32_t caplen = 0, wire_len = 0;
};

struct Totals {
  std::vector<ExprTotals> exprs = std::vector<ExprTotals>(kExpressions.size());
  std::vector<Disagreement> disagreements;  // the first kMaxListedPerExpr of each expression
  uint64_t disagreement_count = 0;
  std::vector<std::string> load_failures;   // libpcap compiled it, rte_bpf did not load it
  uint64_t not_jitted = 0;
  uint64_t corpus_frames = 0, corpus_captures = 0, runs = 0, chained_runs = 0, multi_segment_single = 0;
  uint64_t runs_skipped_after_crash = 0;
  uint64_t truncated_frames = 0, wire_len_dependent = 0;
  std::vector<WireLenNote> wire_len_notes;
  std::map<int, uint64_t> captures_by_linktype;
  std::vector<std::string> read_errors;
};

constexpr uint64_t kMaxListedPerExpr = 4;  // disagreements printed per expression
constexpr size_t kMaxWireLenListed = 6;

void compare_capture(const Capture& c, Totals& t) {
  const bool synthetic = c.name == "synthetic";
  const size_t n = kExpressions.size();
  std::vector<CompiledReference> refs(n);
  std::vector<std::unique_ptr<Program>> jit(n), interp(n);
  std::vector<bool> jit_crashed(n, false);
  for (size_t e = 0; e < n; ++e) {
    CompiledReference& r = refs[e];
    if (pcap_compile(c.handle.get(), &r.code, kExpressions[e].c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      ++t.exprs[e].skipped;
      continue;
    }
    r.ok = true;
    try {
      jit[e] = Program::from_expression(kExpressions[e], c.linktype);
      interp[e] = Program::from_expression(kExpressions[e], c.linktype);
      interp[e]->disable_jit();
    } catch (const CompileError& err) {
      t.load_failures.push_back(c.name + " (linktype " + std::to_string(c.linktype) + "): '" + kExpressions[e] +
                                "': " + err.what());
      jit[e].reset();
      interp[e].reset();
      continue;
    }
    if (sentinel::bpf::jit_available() && !jit[e]->jitted()) ++t.not_jitted;
    ++t.exprs[e].captures;
  }

  for (size_t i = 0; i < c.frames.size(); ++i) {
    const Frame& f = c.frames[i];
    const uint64_t frame_no = i + 1;
    const auto caplen = static_cast<uint32_t>(f.bytes.size());
    const bool truncated = caplen < f.wire_len;
    if (!synthetic) t.truncated_frames += truncated;
    const std::vector<uint32_t> single_cuts = minimal_cuts(caplen);
    if (!single_cuts.empty()) ++t.multi_segment_single;
    const MbufPtr single = make_chain(f.bytes, single_cuts);
    pcap_pkthdr as_held{};
    as_held.caplen = caplen;
    as_held.len = caplen;  // what the mbuf holds (pkt_len)
    pcap_pkthdr as_captured = as_held;
    as_captured.len = f.wire_len;
    for (size_t e = 0; e < n; ++e) {
      if (!jit[e]) continue;
      const bool expected = pcap_offline_filter(&refs[e].code, &as_held, f.bytes.data()) != 0;
      ExprTotals& et = t.exprs[e];
      ++et.frames;
      if (expected) (synthetic ? et.synthetic_matches : et.matches)++;
      if (truncated && !synthetic &&
          (pcap_offline_filter(&refs[e].code, &as_captured, f.bytes.data()) != 0) != expected) {
        ++t.wire_len_dependent;
        if (t.wire_len_notes.size() < kMaxWireLenListed) {
          t.wire_len_notes.push_back({c.name, kExpressions[e], frame_no, caplen, f.wire_len});
        }
      }
      const std::vector<uint32_t> cuts = split_cuts(caplen, frame_no, e);
      const MbufPtr chained = make_chain(f.bytes, cuts);
      std::string split;
      for (const uint32_t cut : cuts) split += (split.empty() ? "@" : ",") + std::to_string(cut);
      const struct {
        const Program* prog;
        rte_mbuf* m;
        const char* way;
      } runs[] = {{jit[e].get(), single.get(), "jit/1seg"},
                  {interp[e].get(), single.get(), "interp/1seg"},
                  {jit[e].get(), chained.get(), "jit/2seg"},
                  {interp[e].get(), chained.get(), "interp/2seg"}};
      for (const auto& r : runs) {
        if (r.prog == jit[e].get() && jit_crashed[e]) {
          ++t.runs_skipped_after_crash;
          continue;
        }
        g_current = {c.name.c_str(), frame_no, kExpressions[e].c_str(), r.way,
                     r.m == chained.get() ? split.c_str() : ""};
        int crashed = 0;
        const uint64_t got = guarded_run(*r.prog, r.m, crashed);
        ++t.runs;
        if (r.m == chained.get()) ++t.chained_runs;
        if (crashed == 0 && (got != 0) == expected) continue;
        ++et.mismatches;
        ++t.disagreement_count;
        if (crashed != 0) {
          ++et.crashes;
          if (r.prog == jit[e].get()) jit_crashed[e] = true;
        }
        if (et.mismatches <= kMaxListedPerExpr) {
          std::string way = r.way;
          if (r.m == chained.get()) way += split;
          if (r.m->nb_segs > 1 && r.m == single.get()) way += "(" + std::to_string(r.m->nb_segs) + " segs)";
          t.disagreements.push_back({c.name, kExpressions[e], way, frame_no, caplen, expected, got, crashed});
        }
      }
    }
  }
}

std::vector<fs::path> corpus_files(const std::string& kind) {
  const fs::path dir = kCorpus / "pcaps" / kind;
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const char* linktype_name(int dlt) {
  const char* n = pcap_datalink_val_to_name(dlt);
  return n != nullptr ? n : "?";
}

TEST(ExpressionDifferential, AgreesWithPcapOfflineFilterOnTheCorpus) {
  ASSERT_NE(g_pool, nullptr);
  Totals t;
  std::vector<std::string> folders = {"benign", "malformed"};
  for (const std::string& kind : folders) {
    const std::vector<fs::path> files = corpus_files(kind);
    ASSERT_FALSE(files.empty()) << "no captures in " << (kCorpus / "pcaps" / kind);
    for (const fs::path& file : files) {
      const std::string name = kind + "/" + file.filename().string();
      SCOPED_TRACE(name);
      const Capture c = read_capture(file, name);
      EXPECT_TRUE(c.handle) << name << ": " << c.read_error;
      if (!c.handle) continue;
      if (!c.read_error.empty()) {
        t.read_errors.push_back(name + ": after " + std::to_string(c.frames.size()) + " frames: " + c.read_error);
      }
      ++t.corpus_captures;
      ++t.captures_by_linktype[c.linktype];
      t.corpus_frames += c.frames.size();
      compare_capture(c, t);
    }
  }
  const Capture synthetic = synthetic_capture();
  compare_capture(synthetic, t);

  // ---- Figures ----
  std::printf("\nexpression differential: %llu captures, %llu frames (+ %zu synthetic), %llu program runs "
              "(%llu on 2-segment chains), JIT %s\n",
              static_cast<unsigned long long>(t.corpus_captures), static_cast<unsigned long long>(t.corpus_frames),
              synthetic.frames.size(), static_cast<unsigned long long>(t.runs),
              static_cast<unsigned long long>(t.chained_runs),
              sentinel::bpf::jit_available() ? "available" : "NOT available");
  std::printf("link types:");
  for (const auto& [dlt, count] : t.captures_by_linktype) {
    std::printf(" %s(%d)=%llu", linktype_name(dlt), dlt, static_cast<unsigned long long>(count));
  }
  std::printf("\nframes over one segment (%u bytes), run as their minimal chain in the 1seg ways: %llu\n",
              kSegmentCapacity, static_cast<unsigned long long>(t.multi_segment_single));
  std::printf("\n%-58s %5s %5s %7s %7s %5s %5s %5s\n", "expression", "caps", "skip", "frames", "matches", "synth",
              "DIFF", "CRASH");
  uint64_t skipped = 0;
  for (size_t e = 0; e < kExpressions.size(); ++e) {
    const ExprTotals& et = t.exprs[e];
    skipped += et.skipped;
    std::printf("%-58s %5llu %5llu %7llu %7llu %5llu %5llu %5llu\n", kExpressions[e].c_str(),
                static_cast<unsigned long long>(et.captures), static_cast<unsigned long long>(et.skipped),
                static_cast<unsigned long long>(et.frames), static_cast<unsigned long long>(et.matches),
                static_cast<unsigned long long>(et.synthetic_matches),
                static_cast<unsigned long long>(et.mismatches), static_cast<unsigned long long>(et.crashes));
  }
  std::printf("(caps: captures the expression ran on; skip: captures whose link type libpcap cannot compile "
              "it for; synth: matches among the synthetic frames; DIFF: runs that disagreed, CRASH among them)\n");
  std::printf("skipped (expression, capture) pairs: %llu\n", static_cast<unsigned long long>(skipped));
  std::printf("frames cut by the capture (caplen < wire length): %llu; (frame, expression) answers that "
              "would change with the wire length as `len`: %llu\n",
              static_cast<unsigned long long>(t.truncated_frames),
              static_cast<unsigned long long>(t.wire_len_dependent));
  for (const WireLenNote& w : t.wire_len_notes) {
    std::printf("  e.g. %s frame %llu (caplen %u, wire %u): '%s'\n", w.capture.c_str(),
                static_cast<unsigned long long>(w.frame_no), w.caplen, w.wire_len, w.expr.c_str());
  }
  for (const std::string& e : t.read_errors) std::printf("libpcap read error (frames before it tested): %s\n", e.c_str());
  std::printf("disagreements: %llu (JIT runs not made after a crash: %llu)\n",
              static_cast<unsigned long long>(t.disagreement_count),
              static_cast<unsigned long long>(t.runs_skipped_after_crash));
  for (const Disagreement& d : t.disagreements) {
    const std::string got = d.crashed != 0 ? std::string("CRASHED (") + strsignal(d.crashed) + ")"
                                           : "returned " + std::to_string(d.got);
    std::printf("  DIFF %s frame %llu (caplen %u) '%s' %s: libpcap %s, rte_bpf %s\n", d.capture.c_str(),
                static_cast<unsigned long long>(d.frame_no), d.caplen, d.expr.c_str(), d.way.c_str(),
                d.expected ? "matches" : "does not match", got.c_str());
  }
  for (const std::string& f : t.load_failures) std::printf("  LOAD FAILURE %s\n", f.c_str());
  std::fflush(stdout);

  // ---- Verdicts ----
  EXPECT_EQ(t.disagreement_count, 0u) << "see the DIFF lines above";
  EXPECT_TRUE(t.load_failures.empty()) << t.load_failures.size() << " expressions libpcap compiled were not loaded";
  EXPECT_EQ(t.not_jitted, 0u) << "programs the JIT did not compile (their 'jit' runs interpreted)";
  EXPECT_GE(t.corpus_frames, kMinCorpusFrames);
  for (size_t e = 0; e < kExpressions.size(); ++e) {
    EXPECT_GE(t.exprs[e].matches + t.exprs[e].synthetic_matches, 1u)
        << "'" << kExpressions[e] << "' matched no frame: the comparison says nothing about it";
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (const int sig : {SIGSEGV, SIGILL, SIGBUS, SIGFPE}) {
    struct sigaction sa {};
    sa.sa_handler = on_crash;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
  return sentinel::test::run_tests_with_eal(argc, argv, "filter_expr_diff", "256", [] {
    // Few mbufs, each as large as an mbuf can be (the corpus has frames of 63 and 65 KB).
    g_pool = rte_pktmbuf_pool_create("diff_pool", 63, 0, 0, kDataRoom, static_cast<int>(rte_socket_id()));
    if (g_pool == nullptr) std::fprintf(stderr, "rte_pktmbuf_pool_create failed\n");
  });
}

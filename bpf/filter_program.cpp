// Loading filters into rte_bpf, and the helpers C filters call (sentinel_filter.h).
#include "bpf/filter_program.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace sentinel::bpf {
namespace {

thread_local const FrameView* tls_frame = nullptr;

// --- helpers (sentinel_filter.h); rte_bpf calls them with five uint64_t arguments ---
// rte_bpf's x86-64 JIT (DPDK 22.11) calls them with the stack 8 bytes off the 16-byte
// alignment the ABI promises; an optimised helper that keeps SSE data on its stack
// (movaps) then faults. Each realigns its stack on entry.
#define SENTINEL_HELPER [[gnu::force_align_arg_pointer]]

uint64_t opt16(uint16_t v) noexcept { return v == 0xffff ? kNone : v; }

SENTINEL_HELPER uint64_t h_l3_offset(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr ? kNone : opt16(tls_frame->l3_offset);
}
SENTINEL_HELPER uint64_t h_ip_version(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->ip_version == 0 ? kNone : tls_frame->ip_version;
}
SENTINEL_HELPER uint64_t h_l4_proto(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->ip_version == 0 ? kNone : tls_frame->l4_proto;
}
SENTINEL_HELPER uint64_t h_l4_offset(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr ? kNone : opt16(tls_frame->l4_offset);
}
SENTINEL_HELPER uint64_t h_src_port(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->l4_offset == 0xffff ? kNone : tls_frame->src_port;
}
SENTINEL_HELPER uint64_t h_dst_port(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->l4_offset == 0xffff ? kNone : tls_frame->dst_port;
}
SENTINEL_HELPER uint64_t h_payload_offset(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr ? kNone : opt16(tls_frame->payload_offset);
}
SENTINEL_HELPER uint64_t h_payload_len(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->payload_offset == 0xffff ? 0 : tls_frame->payload_len;
}
SENTINEL_HELPER uint64_t h_frame_len(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  return tls_frame == nullptr || tls_frame->mbuf == nullptr ? 0 : tls_frame->mbuf->pkt_len;
}

// `n` bytes at `off` of the current frame: a pointer into the mbuf, or into `buf` when
// they straddle segments; nullptr past the frame.
const uint8_t* frame_bytes(uint64_t off, uint32_t n, uint8_t* buf) noexcept {
  if (tls_frame == nullptr || tls_frame->mbuf == nullptr) return nullptr;
  const rte_mbuf* m = tls_frame->mbuf;
  if (off > m->pkt_len || n > m->pkt_len - off) return nullptr;
  if (off + n <= m->data_len) return rte_pktmbuf_mtod_offset(m, const uint8_t*, off);
  return static_cast<const uint8_t*>(rte_pktmbuf_read(m, static_cast<uint32_t>(off), n, buf));
}

SENTINEL_HELPER uint64_t h_byte(uint64_t off, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  uint8_t buf[1];
  const uint8_t* p = frame_bytes(off, 1, buf);
  return p == nullptr ? kNoByte : p[0];
}
SENTINEL_HELPER uint64_t h_be16(uint64_t off, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  uint8_t buf[2];
  const uint8_t* p = frame_bytes(off, 2, buf);
  return p == nullptr ? kNone : uint64_t{p[0]} << 8 | p[1];
}
SENTINEL_HELPER uint64_t h_be32(uint64_t off, uint64_t, uint64_t, uint64_t, uint64_t) noexcept {
  uint8_t buf[4];
  const uint8_t* p = frame_bytes(off, 4, buf);
  return p == nullptr ? kNone : uint64_t{p[0]} << 24 | uint64_t{p[1]} << 16 | uint64_t{p[2]} << 8 | p[3];
}

// ASCII case folding (the locale's tolower() is slower and may fold other bytes).
inline uint8_t fold_ascii(uint8_t c) noexcept { return static_cast<uint8_t>(static_cast<unsigned>(c - 'A') < 26U ? c | 0x20 : c); }

template <bool kNocase>
uint64_t find(uint64_t lo, uint64_t hi, uint64_t len, uint64_t from, uint64_t to) noexcept {
  if (tls_frame == nullptr || tls_frame->mbuf == nullptr || len == 0 || len > kMaxNeedle) return kNone;
  uint8_t needle[kMaxNeedle];
  for (uint32_t k = 0; k < 8; ++k) {
    needle[k] = static_cast<uint8_t>(lo >> (8 * k));
    needle[8 + k] = static_cast<uint8_t>(hi >> (8 * k));
  }
  const auto fold = [](uint8_t c) noexcept { return kNocase ? fold_ascii(c) : c; };
  for (uint32_t k = 0; k < len; ++k) needle[k] = fold(needle[k]);
  const rte_mbuf* m = tls_frame->mbuf;
  if (to > m->pkt_len) to = m->pkt_len;
  if (from >= to || to - from < len) return kNone;
  const auto matches = [&](const uint8_t* p) noexcept {
    if (fold(p[0]) != needle[0]) return false;
    uint32_t k = 1;
    while (k < len && fold(p[k]) == needle[k]) ++k;
    return k == len;
  };
  uint64_t at = from;
  // Candidates lying wholly in the first segment are searched in place.
  const uint64_t first_end = to < m->data_len ? to : m->data_len;
  if (first_end >= at + len) {
    const uint8_t* base = rte_pktmbuf_mtod(m, const uint8_t*);
    if constexpr (!kNocase) {
      const void* hit = memmem(base + at, first_end - at, needle, len);
      if (hit != nullptr) return static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - base);
    } else {
      for (; at + len <= first_end; ++at) {
        if (matches(base + at)) return at;
      }
    }
    at = first_end - len + 1;
  }
  // The rest (straddling segments, or beyond the first): each candidate is read.
  for (; at + len <= to; ++at) {
    uint8_t buf[kMaxNeedle];
    const uint8_t* p = frame_bytes(at, static_cast<uint32_t>(len), buf);
    if (p == nullptr) return kNone;
    if (matches(p)) return at;
  }
  return kNone;
}
SENTINEL_HELPER uint64_t h_find(uint64_t lo, uint64_t hi, uint64_t len, uint64_t from, uint64_t to) noexcept {
  return find<false>(lo, hi, len, from, to);
}
SENTINEL_HELPER uint64_t h_find_nocase(uint64_t lo, uint64_t hi, uint64_t len, uint64_t from, uint64_t to) noexcept {
  return find<true>(lo, hi, len, from, to);
}

constexpr rte_bpf_arg kRaw{RTE_BPF_ARG_RAW, sizeof(uint64_t), 0};

rte_bpf_xsym helper(const char* name, uint64_t (*fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t),
                    uint32_t nb_args) {
  rte_bpf_xsym x{};
  x.name = name;
  x.type = RTE_BPF_XTYPE_FUNC;
  x.func.val = fn;
  x.func.nb_args = nb_args;
  for (uint32_t k = 0; k < nb_args; ++k) x.func.args[k] = kRaw;
  x.func.ret = kRaw;
  return x;
}

// rte_bpf_convert (DPDK 22.11, still so upstream) copies cBPF's indirect loads (ld/ldb
// [x + k]) with the index register taken from the opcode's BPF_X bit, which only the
// halfword form happens to carry: `ldb [x + k]` and `ld [x + k]` come out indexed by A
// (r0) instead of X (r7), so `tcp[13] & 2 != 0` reads the wrong byte. Every indirect load
// it emits comes from a cBPF one, whose index is always X.
constexpr uint8_t kConvertedX = EBPF_REG_7;
void fix_indirect_loads(rte_bpf_prm& prm) noexcept {
  auto* ins = const_cast<ebpf_insn*>(prm.ins);  // the converter's own copy, right after prm
  for (uint32_t k = 0; k < prm.nb_ins; ++k) {
    if (BPF_CLASS(ins[k].code) == BPF_LD && BPF_MODE(ins[k].code) == BPF_IND) ins[k].src_reg = kConvertedX;
  }
}

// rte_bpf's x86-64 JIT (DPDK 22.11, still so upstream: emit_tst_imm) encodes `jset dst,
// #imm` as TEST r/m64, imm32 but writes a single immediate byte when imm fits in 8 bits:
// the CPU takes the next 3 bytes of code as the rest of the immediate and runs on
// misaligned — wrong verdicts (`ether multicast`) or a crash (`tcp[13] & 2 != 0`). libpcap
// emits such a jump for every small bit test; the interpreter is right.
constexpr uint8_t kJsetImm = BPF_JMP | BPF_JSET | BPF_K;
bool jit_mis_encodes(const ebpf_insn& i) noexcept { return i.code == kJsetImm && i.imm >= -128 && i.imm <= 127; }

// Rewrites each such jump of a converted program as `mov r8, imm; jset dst, r8` (r8 is the
// converter's scratch register, dead between cBPF instructions) and re-targets every jump.
std::vector<ebpf_insn> widen_small_jsets(const ebpf_insn* in, uint32_t n) {
  constexpr uint8_t kScratch = EBPF_REG_8;
  std::vector<uint32_t> at(n + 1);  // old index -> new index
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    at[i] = k;
    k += jit_mis_encodes(in[i]) ? 2 : 1;
  }
  at[n] = k;
  std::vector<ebpf_insn> out;
  out.reserve(k);
  for (uint32_t i = 0; i < n; ++i) {
    ebpf_insn x = in[i];
    const bool jump = BPF_CLASS(x.code) == BPF_JMP && BPF_OP(x.code) != EBPF_CALL && BPF_OP(x.code) != EBPF_EXIT;
    if (jit_mis_encodes(x)) {
      // 64-bit mov: the immediate sign-extends exactly as jset's own would.
      out.push_back({.code = EBPF_ALU64 | EBPF_MOV | BPF_K, .dst_reg = kScratch, .src_reg = 0, .off = 0, .imm = x.imm});
      x.code = BPF_JMP | BPF_JSET | BPF_X;
      x.src_reg = kScratch;
      x.imm = 0;
    }
    if (jump) {
      const int64_t target = int64_t{i} + 1 + x.off;
      if (target < 0 || target > int64_t{n}) throw CompileError("rte_bpf_convert: a jump out of the program");
      x.off = static_cast<int16_t>(int64_t{at[static_cast<size_t>(target)]} - static_cast<int64_t>(out.size()) - 1);
    }
    out.push_back(x);
  }
  return out;
}

// The frame as the program's argument: the mbuf (expressions converted from cBPF read
// packet bytes through it with BPF_LD_ABS/IND).
constexpr rte_bpf_arg kMbufArg{RTE_BPF_ARG_PTR_MBUF, sizeof(rte_mbuf), RTE_MBUF_DEFAULT_BUF_SIZE};

// Captures what DPDK logs while a program loads: the validator states its reason there.
class LogCapture {
 public:
  LogCapture() : previous_(rte_log_get_stream()), stream_(open_memstream(&text_, &size_)) {
    if (stream_ != nullptr) rte_openlog_stream(stream_);
  }
  ~LogCapture() {
    if (stream_ != nullptr) {
      rte_openlog_stream(previous_);
      std::fclose(stream_);
    }
    std::free(text_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // The captured lines, trimmed and joined with "; ".
  std::string text() {
    if (stream_ == nullptr) return {};
    std::fflush(stream_);
    std::string out;
    std::string_view all(text_ == nullptr ? "" : text_, size_);
    while (!all.empty()) {
      const size_t nl = all.find('\n');
      std::string_view line = all.substr(0, nl);
      all = nl == std::string_view::npos ? std::string_view{} : all.substr(nl + 1);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
      // rte_bpf logs each helper call it links; only the rest explains a failure.
      if (line.empty() || line.find("to external function") != std::string_view::npos) continue;
      while (!line.empty() && line.back() == ';') line.remove_suffix(1);
      if (!out.empty()) out += "; ";
      out += line;
    }
    return out;
  }

 private:
  FILE* previous_;
  char* text_ = nullptr;
  size_t size_ = 0;
  FILE* stream_;
};

std::string load_failure(const std::string& what, LogCapture& log) {
  std::string why = log.text();
  const int err = rte_errno;
  return what + ": " + (why.empty() ? std::string(rte_strerror(err)) : why);
}

// An open ELF file, read with libelf.
class ElfFile {
 public:
  explicit ElfFile(const std::string& path) : path_(path) {
    if (elf_version(EV_CURRENT) == EV_NONE) throw CompileError("libelf: " + std::string(elf_errmsg(-1)));
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw CompileError(path + ": cannot open: " + std::strerror(errno));
    elf_ = elf_begin(fd_, ELF_C_READ, nullptr);
    GElf_Ehdr eh;
    const char* why = nullptr;
    if (elf_ == nullptr || elf_kind(elf_) != ELF_K_ELF || gelf_getehdr(elf_, &eh) == nullptr) {
      why = "not an ELF object";
    } else if (eh.e_machine != EM_BPF) {
      why = "not an eBPF object (built without -target bpf?)";
    } else if (elf_getshdrstrndx(elf_, &strndx_) != 0) {
      why = elf_errmsg(-1);
    }
    if (why != nullptr) {
      const std::string message = path + ": " + why;
      release();  // the destructor does not run for a constructor that throws
      throw CompileError(message);
    }
  }
  ~ElfFile() { release(); }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  void release() noexcept {
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
    elf_ = nullptr;
    fd_ = -1;
  }

  // The bytes of section `name`, or nullopt; `names` collects every section name.
  std::optional<std::string> section(std::string_view name, std::vector<std::string>* names = nullptr) {
    for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr) continue;
      const char* n = elf_strptr(elf_, strndx_, sh.sh_name);
      if (n == nullptr) continue;
      if (names != nullptr && *n != '\0' && sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR) != 0 &&
          sh.sh_size != 0) {
        names->emplace_back(n);
      }
      if (name != n) continue;
      Elf_Data* d = elf_getdata(scn, nullptr);
      if (d == nullptr || d->d_buf == nullptr) return std::string{};
      return std::string(static_cast<const char*>(d->d_buf), d->d_size);
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  size_t strndx_ = 0;
};

bool valid_arg_name(std::string_view n) noexcept {
  if (n.empty() || !(std::islower(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
  for (char c : n) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

std::vector<ArgSpec> parse_arg_spec(std::string_view spec, const std::string& path) {
  std::vector<ArgSpec> out;
  uint32_t slot = 0;
  while (!spec.empty() && spec.back() == '\0') spec.remove_suffix(1);
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    std::string_view entry = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    const auto bad = [&](const std::string& why) {
      return CompileError(path + ": .sentinel.args entry '" + std::string(entry) + "': " + why);
    };
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) throw bad("expected name=default");
    std::string_view name = entry.substr(0, eq);
    const std::string_view value = entry.substr(eq + 1);
    ArgSpec a;
    if (const size_t br = name.find('['); br != std::string_view::npos) {
      if (name.back() != ']') throw bad("expected name[count]=default");
      const std::string_view count = name.substr(br + 1, name.size() - br - 2);
      const auto r = std::from_chars(count.data(), count.data() + count.size(), a.count);
      if (r.ec != std::errc{} || r.ptr != count.data() + count.size() || a.count == 0) throw bad("bad array count");
      name = name.substr(0, br);
    }
    if (!valid_arg_name(name)) throw bad("names are lower case letters, digits and '_'");
    const auto r = std::from_chars(value.data(), value.data() + value.size(), a.default_value);
    if (r.ec != std::errc{} || r.ptr != value.data() + value.size()) throw bad("the default is not an unsigned integer");
    for (const ArgSpec& o : out) {
      if (o.name == name) throw bad("declared twice");
    }
    a.name = std::string(name);
    a.slot = slot;
    if (a.count > kMaxArgs - slot) throw bad("more than " + std::to_string(kMaxArgs) + " slots in all");
    slot += a.count;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

CurrentFrame::CurrentFrame(const FrameView& view) noexcept : previous_(tls_frame) { tls_frame = &view; }
CurrentFrame::~CurrentFrame() { tls_frame = previous_; }

std::vector<ArgSpec> object_args(const std::string& path) {
  ElfFile elf(path);
  const std::optional<std::string> spec = elf.section(".sentinel.args");
  if (!spec) return {};
  return parse_arg_spec(*spec, path);
}

uint64_t Program::run(rte_mbuf* m) const noexcept { return jit_ != nullptr ? jit_(m) : rte_bpf_exec(bpf_, m); }

Program::~Program() {
  if (bpf_ != nullptr) rte_bpf_destroy(bpf_);
}

void Program::finish_load(rte_bpf* bpf) {
  bpf_ = bpf;
  rte_bpf_jit jit{};
  if (rte_bpf_get_jit(bpf_, &jit) == 0 && jit.func != nullptr) {
    jit_ = jit.func;
    jit_size_ = jit.sz;
  }
}

std::unique_ptr<Program> Program::from_expression(const std::string& expr, int linktype) {
  pcap_t* p = pcap_open_dead(linktype, 262144);
  if (p == nullptr) throw CompileError("pcap_open_dead failed");
  bpf_program code{};
  if (pcap_compile(p, &code, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    std::string why = pcap_geterr(p);
    pcap_close(p);
    throw CompileError(why);
  }
  pcap_close(p);
  LogCapture log;
  rte_bpf_prm* prm = rte_bpf_convert(&code);
  pcap_freecode(&code);
  if (prm == nullptr) throw CompileError(load_failure("rte_bpf_convert", log));
  fix_indirect_loads(*prm);
  std::vector<ebpf_insn> code_widened;
  try {
    code_widened = widen_small_jsets(prm->ins, prm->nb_ins);
  } catch (...) {
    rte_free(prm);
    throw;
  }
  prm->ins = code_widened.data();  // rte_bpf_load copies the instructions
  prm->nb_ins = static_cast<uint32_t>(code_widened.size());
  prm->prog_arg = kMbufArg;
  rte_bpf* bpf = rte_bpf_load(prm);
  rte_free(prm);
  if (bpf == nullptr) throw CompileError(load_failure("rte_bpf_load", log));
  std::unique_ptr<Program> prog(new Program);
  prog->finish_load(bpf);
  return prog;
}

std::unique_ptr<Program> Program::from_object(const std::string& path, const std::string& section,
                                              const ArgSlots& args) {
  {
    ElfFile elf(path);
    std::vector<std::string> sections;
    const std::optional<std::string> code = elf.section(section, &sections);
    if (!code) {
      std::string listed;
      for (const std::string& s : sections) listed += (listed.empty() ? "" : ", ") + s;
      throw CompileError(path + ": no section '" + section + "' (code sections: " +
                         (listed.empty() ? "none" : listed) + ")");
    }
    // Compiled code cannot be rewritten here (its relocations would move): refuse what the
    // JIT would run wrong.
    for (size_t off = 0; off + sizeof(ebpf_insn) <= code->size(); off += sizeof(ebpf_insn)) {
      ebpf_insn i;
      std::memcpy(&i, code->data() + off, sizeof i);
      if (jit_mis_encodes(i)) {
        throw CompileError(path + ": section '" + section + "' instruction " + std::to_string(off / sizeof i) +
                           ": `if (x & " + std::to_string(i.imm) +
                           ")` compiled to a jset with an 8-bit immediate, which rte_bpf's x86 JIT encodes wrongly; "
                           "write the bit test as a shift and compare, e.g. `((x >> n) & 1) != 0`");
      }
    }
  }
  std::unique_ptr<Program> prog(new Program);
  prog->args_ = args;
  rte_bpf_xsym xsym[] = {
      helper("sentinel_l3_offset", h_l3_offset, 0),
      helper("sentinel_ip_version", h_ip_version, 0),
      helper("sentinel_l4_proto", h_l4_proto, 0),
      helper("sentinel_l4_offset", h_l4_offset, 0),
      helper("sentinel_src_port", h_src_port, 0),
      helper("sentinel_dst_port", h_dst_port, 0),
      helper("sentinel_payload_offset", h_payload_offset, 0),
      helper("sentinel_payload_len", h_payload_len, 0),
      helper("sentinel_frame_len", h_frame_len, 0),
      helper("sentinel_byte", h_byte, 1),
      helper("sentinel_be16", h_be16, 1),
      helper("sentinel_be32", h_be32, 1),
      helper("sentinel_find", h_find, 5),
      helper("sentinel_find_nocase", h_find_nocase, 5),
      rte_bpf_xsym{},
  };
  rte_bpf_xsym& var = xsym[std::size(xsym) - 1];
  var.name = "sentinel_args";
  var.type = RTE_BPF_XTYPE_VAR;
  var.var.val = prog->args_.data();
  var.var.desc = {RTE_BPF_ARG_PTR, sizeof(ArgSlots), 0};
  rte_bpf_prm prm{};
  prm.xsym = xsym;
  prm.nb_xsym = static_cast<uint32_t>(std::size(xsym));
  prm.prog_arg = kMbufArg;
  LogCapture log;
  rte_bpf* bpf = rte_bpf_elf_load(&prm, path.c_str(), section.c_str());
  if (bpf == nullptr) throw CompileError(load_failure(path + ": section '" + section + "' rejected", log));
  prog->finish_load(bpf);
  return prog;
}

bool jit_available() {
  static const bool available = [] {
    // r0 = 1; exit
    const ebpf_insn code[] = {
        {.code = EBPF_ALU64 | EBPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 1},
        {.code = BPF_JMP | EBPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    rte_bpf_prm prm{};
    prm.ins = code;
    prm.nb_ins = 2;
    prm.prog_arg = {RTE_BPF_ARG_RAW, sizeof(uint64_t), 0};
    rte_bpf* bpf = rte_bpf_load(&prm);
    if (bpf == nullptr) return false;
    rte_bpf_jit jit{};
    const bool ok = rte_bpf_get_jit(bpf, &jit) == 0 && jit.func != nullptr;
    rte_bpf_destroy(bpf);
    return ok;
  }();
  return available;
}

}  // namespace sentinel::bpf

// eBPF filter programs for the dataplane (rte_bpf): a pcap-filter expression compiled by
// libpcap and converted to eBPF, or a C filter's ELF object (ABI: bpf/include/sentinel_filter.h),
// validated by rte_bpf and JIT-compiled. Loading is control-plane work (allocates, throws
// CompileError with libpcap's or the validator's own words); run() is the worker's: no
// allocation, no lock, no syscall.
//
// The helpers a C filter calls read the frame being filtered through a thread-local
// FrameView that the caller sets with CurrentFrame before running filters on a frame —
// each worker thread filters one frame at a time.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/include/sentinel_filter.h"

struct rte_bpf;

namespace sentinel::bpf {

inline constexpr uint32_t kMaxArgs = SENTINEL_MAX_ARGS;
inline constexpr uint64_t kNone = SENTINEL_NONE;
inline constexpr uint64_t kNoByte = SENTINEL_NO_BYTE;
inline constexpr uint32_t kMaxNeedle = SENTINEL_MAX_NEEDLE;
static_assert(kMaxArgs == 32 && kNone == ~uint64_t{0} && kNoByte == 0x100 && kMaxNeedle == 16,
              "bpf/include/sentinel_filter.h and the helpers below must agree");
static_assert(sizeof(sentinel_u64) == 8 && sizeof(sentinel_u8) == 1);

class CompileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the helpers see of the frame being filtered. Offsets from the Ethernet header;
// kNone (as uint16_t 0xffff / uint32_t) where the frame has no such part.
struct FrameView {
  const rte_mbuf* mbuf = nullptr;
  uint16_t l3_offset = 0xffff;
  uint16_t l4_offset = 0xffff;
  uint16_t payload_offset = 0xffff;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t ip_version = 0;  // 4, 6, or 0 (not IP)
  uint8_t l4_proto = 0;
  uint32_t payload_len = 0;  // payload bytes present in the frame
};

// Sets the frame the helpers read for the lifetime of the scope (one thread's frame).
class CurrentFrame {
 public:
  explicit CurrentFrame(const FrameView& view) noexcept;
  ~CurrentFrame();
  CurrentFrame(const CurrentFrame&) = delete;
  CurrentFrame& operator=(const CurrentFrame&) = delete;

 private:
  const FrameView* previous_;
};

// One argument a C filter declares (SENTINEL_ARGS): slots [slot, slot + count).
struct ArgSpec {
  std::string name;
  uint32_t slot = 0;
  uint32_t count = 1;  // > 1: an array, written name[count]
  uint64_t default_value = 0;
};

// The argument declarations of an ELF object's ".sentinel.args" section (empty when it has
// none). Throws CompileError when the file is not a readable ELF object or the
// declaration is malformed.
[[nodiscard]] std::vector<ArgSpec> object_args(const std::string& path);

using ArgSlots = std::array<uint64_t, kMaxArgs>;

class Program {
 public:
  // A pcap-filter expression for frames of `linktype` (DLT_*; the dataplane's frames are
  // Ethernet). Throws CompileError with libpcap's message. Needs the EAL (rte_bpf_convert
  // allocates with rte_malloc).
  [[nodiscard]] static std::unique_ptr<Program> from_expression(const std::string& expr, int linktype);
  // Section `section` of the ELF object at `path`, its sentinel_args filled from `args`.
  // Throws CompileError with the loader's or validator's reason.
  [[nodiscard]] static std::unique_ptr<Program> from_object(const std::string& path, const std::string& section,
                                                            const ArgSlots& args);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // [worker] Runs the program on `m` (the helpers' frame set by CurrentFrame for C
  // filters). Non-zero: the frame matches.
  uint64_t run(rte_mbuf* m) const noexcept;
  // False when the JIT did not compile it: run() interprets.
  [[nodiscard]] bool jitted() const noexcept { return jit_ != nullptr; }
  [[nodiscard]] size_t jit_size() const noexcept { return jit_size_; }

  // Forces the interpreter (benchmarks compare it with the JIT).
  void disable_jit() noexcept { jit_ = nullptr; }

 private:
  Program() = default;
  void finish_load(rte_bpf* bpf);

  rte_bpf* bpf_ = nullptr;
  uint64_t (*jit_)(void*) = nullptr;
  size_t jit_size_ = 0;
  ArgSlots args_{};  // sentinel_args: its address is in the loaded code
};

// Whether rte_bpf has a JIT for this machine (probed once with a trivial program).
[[nodiscard]] bool jit_available();

}  // namespace sentinel::bpf

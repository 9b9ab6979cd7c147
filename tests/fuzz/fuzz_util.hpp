// What every fuzz target shares: FUZZ_CHECK, which aborts with the broken invariant (a
// finding libFuzzer saves, and an abort the standalone driver's unit test fails on, also
// under NDEBUG), and Input, which takes fields off the front of the fuzzer's bytes and
// reads zeros once they run out, so every byte string is a valid input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "\n%s:%d: invariant broken: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                               \
      std::fprintf(stderr, "\n");                                                      \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

// On a harness's own model code (reference implementations, per-byte bookkeeping): no
// coverage feedback (it would only steer libFuzzer towards the model's states and slow
// every run), and never inlined, so the attribute cannot spread to the code under test.
#if defined(__clang__)
#define FUZZ_MODEL [[gnu::noinline]] __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_MODEL [[gnu::noinline]]
#endif

namespace sentinel::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) noexcept : p_(data), left_(size) {}

  [[nodiscard]] size_t left() const noexcept { return left_; }
  [[nodiscard]] const uint8_t* rest() const noexcept { return p_; }

  uint8_t u8() noexcept {
    if (left_ == 0) return 0;
    --left_;
    return *p_++;
  }
  uint16_t u16() noexcept { return static_cast<uint16_t>(u8() | u8() << 8); }  // little-endian
  uint32_t u32() noexcept { return u16() | static_cast<uint32_t>(u16()) << 16; }
  uint64_t u64() noexcept { return u32() | static_cast<uint64_t>(u32()) << 32; }

  // Up to n bytes (fewer when the input ends).
  std::string_view bytes(size_t n) noexcept {
    n = n < left_ ? n : left_;
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    left_ -= n;
    return s;
  }
  // A string of at most 65535 bytes: a u16 length, then the bytes.
  std::string str() { return std::string(bytes(u16())); }

 private:
  const uint8_t* p_;
  size_t left_;
};

}  // namespace sentinel::fuzz

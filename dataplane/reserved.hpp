// Reserved<T>: an array reserved with mmap(MAP_NORESERVE) whose pages become resident only
// when first touched. Per-flow areas are sized for the whole flow table; a box with a few
// thousand active flows uses a few thousand flows' worth of memory, whatever the capacity
// (new[] would give the same on glibc, until MALLOC_PERTURB_ or a malloc tunable writes
// every page of it).
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {

template <typename T>
class Reserved {
 public:
  Reserved() = default;
  // [control] Zero-filled room for `count` elements. Throws SetupError; `what` names it.
  Reserved(size_t count, const char* what) : bytes_(count * sizeof(T)) {
    if (bytes_ == 0) return;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      throw SetupError("mmap(" + std::to_string(bytes_) + " bytes of " + what + "): " + std::strerror(errno));
    }
    data_ = static_cast<T*>(p);
  }
  ~Reserved() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
  }
  Reserved(Reserved&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  Reserved& operator=(Reserved&& o) noexcept {
    if (this != &o) {
      this->~Reserved();
      data_ = o.data_;
      bytes_ = o.bytes_;
      o.data_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  Reserved(const Reserved&) = delete;
  Reserved& operator=(const Reserved&) = delete;

  [[nodiscard]] T* get() const noexcept { return data_; }
  [[nodiscard]] size_t bytes() const noexcept { return bytes_; }

 private:
  T* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace sentinel::dataplane

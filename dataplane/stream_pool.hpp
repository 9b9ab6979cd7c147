// StreamStatePool: one worker's preallocated memory for Hyperscan stream state. Hyperscan
// allocates a stream's state in hs_open_stream through a process-wide allocator
// (hs_set_stream_allocator); install_stream_allocator() routes it to the pool bound to the
// calling thread, so a worker opening a stream for a new flow takes a fixed-size slot from
// its own free list: no heap, no lock, no syscall. Threads with no pool bound (the control
// plane, unit tests) fall through to malloc.
//
// The slots are reserved up front with mmap (MAP_NORESERVE) and become resident only when
// first used; the free list is LIFO, so a box that never has more than a few thousand
// flows with payload touches only that many slots, whatever the configured capacity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "dataplane/reserved.hpp"

namespace sentinel::dataplane {

class StreamStatePool {
 public:
  // [control] Reserves `slots` slots of `slot_bytes` each. Throws SetupError.
  StreamStatePool(uint32_t slots, uint32_t slot_bytes);
  StreamStatePool(const StreamStatePool&) = delete;
  StreamStatePool& operator=(const StreamStatePool&) = delete;

  // [owner] A free slot, or nullptr when `bytes` exceeds the slot size or none is free.
  [[nodiscard]] void* take(size_t bytes) noexcept;
  // [owner] Returns a slot taken from this pool.
  void give_back(void* p) noexcept;
  [[nodiscard]] bool owns(const void* p) const noexcept {
    return p >= base_ && p < base_ + size_t{slots_} * slot_bytes_;
  }

  [[nodiscard]] uint32_t slot_bytes() const noexcept { return slot_bytes_; }
  [[nodiscard]] uint32_t in_use() const noexcept { return slots_ - free_count_; }
  // [any] Requests take() refused (pool empty or state too large).
  [[nodiscard]] uint64_t refused() const noexcept { return refused_; }

  // [owner thread] Routes this thread's Hyperscan stream allocations to `pool` (nullptr:
  // back to malloc). Worker threads bind their pool before they first scan.
  static void bind_to_this_thread(StreamStatePool* pool) noexcept;

 private:
  Reserved<uint8_t> region_;
  uint8_t* base_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t slot_bytes_ = 0;
  std::unique_ptr<uint32_t[]> free_;  // stack of free slot indices
  uint32_t free_count_ = 0;
  uint64_t refused_ = 0;
};

// [control] Installs the routing allocator with hs_set_stream_allocator. Once per process,
// before any stream is opened; idempotent. Throws SetupError if Hyperscan refuses.
void install_stream_allocator();

}  // namespace sentinel::dataplane

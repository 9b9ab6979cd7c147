// StreamStatePool (see stream_pool.hpp).
#include "dataplane/stream_pool.hpp"

#include <hs/hs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

thread_local StreamStatePool* t_pool = nullptr;

void* route_alloc(size_t bytes) {
  if (t_pool != nullptr) return t_pool->take(bytes);
  return std::malloc(bytes);
}

void route_free(void* p) {
  if (p == nullptr) return;
  if (t_pool != nullptr && t_pool->owns(p)) {
    t_pool->give_back(p);
    return;
  }
  std::free(p);
}

}  // namespace

StreamStatePool::StreamStatePool(uint32_t slots, uint32_t slot_bytes)
    : slots_(slots), slot_bytes_((slot_bytes + 63u) & ~63u), free_(new uint32_t[slots]) {
  region_ = Reserved<uint8_t>(size_t{slots_} * slot_bytes_, "Hyperscan stream state");
  base_ = region_.get();
  // Lowest slots on top: the first flows use the start of the region.
  for (uint32_t i = 0; i < slots_; ++i) free_[i] = slots_ - 1 - i;
  free_count_ = slots_;
}

void* StreamStatePool::take(size_t bytes) noexcept {
  if (bytes > slot_bytes_ || free_count_ == 0) {
    ++refused_;
    return nullptr;
  }
  return base_ + size_t{free_[--free_count_]} * slot_bytes_;
}

void StreamStatePool::give_back(void* p) noexcept {
  const auto slot = static_cast<uint32_t>((static_cast<uint8_t*>(p) - base_) / slot_bytes_);
  free_[free_count_++] = slot;
}

void StreamStatePool::bind_to_this_thread(StreamStatePool* pool) noexcept { t_pool = pool; }

void install_stream_allocator() {
  const hs_error_t rc = hs_set_stream_allocator(route_alloc, route_free);
  if (rc != HS_SUCCESS) throw SetupError("hs_set_stream_allocator: error " + std::to_string(rc));
}

}  // namespace sentinel::dataplane

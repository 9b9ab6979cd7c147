// Compile-time capacities, in one place: the config loader checks values against them
// and the dataplane sizes its per-worker arrays by them.
#pragma once

#include <cstdint>

namespace sentinel::config {

inline constexpr uint32_t kMaxWorkers = 64;  // worker lcores
inline constexpr uint32_t kMaxBurst = 256;   // frames per rx/tx burst

}  // namespace sentinel::config

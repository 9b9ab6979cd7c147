// Compile-time capacities, in one place: the config loader checks values against them
// and the dataplane sizes its per-worker arrays by them.
#pragma once

#include <cstdint>

namespace sentinel::config {

inline constexpr uint32_t kMaxWorkers = 64;  // worker lcores
inline constexpr uint32_t kMaxBurst = 256;   // frames per rx/tx burst
inline constexpr uint32_t kMinFlows = 1024;          // flow-table entries per worker
inline constexpr uint32_t kMaxFlows = 1u << 24;
inline constexpr uint32_t kMaxReassemblyBuffer = 1u << 20;  // out-of-order bytes per direction
inline constexpr uint32_t kMaxStreamState = 1u << 16;       // Hyperscan stream state per direction
inline constexpr uint32_t kMaxAlertsPerPacket = 8;   // more in one packet: counted as dropped
inline constexpr uint32_t kAlertRingSize = 16384;    // alert records per worker ring (2^n)
inline constexpr uint32_t kLearnTableSize = 65536;   // learn mode: observations per worker
inline constexpr uint32_t kMinFragDatagrams = 16;      // [fragments] max_datagrams per worker and direction
inline constexpr uint32_t kMaxFragDatagrams = 1u << 16;
inline constexpr uint32_t kMinFragments = 64;          // [fragments] max_fragments held per worker
inline constexpr uint32_t kMaxFragments = 1u << 18;
inline constexpr uint32_t kMaxFilters = 1024;        // [[filter]] tables: each runs on every frame of its direction

}  // namespace sentinel::config

// AlertRing: one worker's single-producer, single-consumer ring of AlertRecords (an
// rte_ring of fixed-size elements), from the worker that raises alerts to the control
// plane that writes them. A full ring refuses the record at once; the worker counts it as
// a dropped alert and never waits.
//
// Also here: the anomaly alerts (gid 4) the packet path raises itself, numbered once.
#pragma once

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/alert.hpp"

namespace sentinel::dataplane {

// gid 4 signature ids. Never renumber: SIEM rules key on them.
enum class Anomaly : uint32_t {
  kOverlapConflict = 1,     // a retransmission carried bytes different from those first seen
  kReassemblyOverflow = 2,  // a flow direction's out-of-order bytes outgrew its buffer (the
                            // flow is no longer inspected, or dropped, per [failure])
  kDepthReached = 3,        // a flow direction reached [flows] inspect_depth under
                            // [failure] depth_reached = "drop" (the flow is dropped)
};

struct AnomalyInfo {
  Anomaly sid;
  std::string_view msg;
  std::string_view classtype;
  uint8_t severity;
};

inline constexpr std::array<AnomalyInfo, 3> kAnomalies = {{
    {Anomaly::kOverlapConflict, "SENTINEL STREAM retransmission with data different from the bytes first seen",
     "protocol-command-decode", 2},
    {Anomaly::kReassemblyOverflow,
     "SENTINEL STREAM reassembly buffer overflow, flow no longer inspected",
     "protocol-command-decode", 3},
    {Anomaly::kDepthReached, "SENTINEL STREAM inspection depth reached, flow dropped", "protocol-command-decode", 3},
}};

class AlertRing {
 public:
  // [control] Creates the ring (`size` a power of two; it holds size - 1 records). Throws
  // SetupError.
  AlertRing(const std::string& name, uint32_t size);
  ~AlertRing();
  AlertRing(const AlertRing&) = delete;
  AlertRing& operator=(const AlertRing&) = delete;

  // [worker] False when the ring is full (nothing was written).
  [[nodiscard]] bool push(const AlertRecord& rec) noexcept {
    // rte_ring takes a non-const pointer but only reads the element.
    return rte_ring_sp_enqueue_elem(ring_, const_cast<AlertRecord*>(&rec), sizeof(AlertRecord)) == 0;
  }
  // [control] Takes up to `max` records; returns how many.
  [[nodiscard]] uint32_t pop(AlertRecord* out, uint32_t max) noexcept {
    return rte_ring_sc_dequeue_burst_elem(ring_, out, sizeof(AlertRecord), max, nullptr);
  }
  [[nodiscard]] uint32_t count() const noexcept { return rte_ring_count(ring_); }

 private:
  rte_ring* ring_ = nullptr;
};

static_assert(sizeof(AlertRecord) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

}  // namespace sentinel::dataplane

// Port set-up: the vendor and core ethdevs, one rx and one tx queue per worker, symmetric
// RSS where the driver has it (both directions of a flow on one worker), promiscuous,
// started. Used identically for real NICs, af_packet/af_xdp vdevs and replay's ring ports.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

namespace sentinel::dataplane {

struct PortSettings {
  uint16_t queues = 1;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
};

// [control] Looks up the ethdev of a configured port ("0000:03:00.0" or a vdev string).
// Throws SetupError naming `side` when it does not exist.
[[nodiscard]] uint16_t find_port(const std::string& side, const std::string& configured);

// [control] Configures and starts `port`. Returns a line for the log saying what was set up
// (driver, queues, RSS). Throws SetupError naming the failed call.
std::string start_port(const std::string& side, uint16_t port, const PortSettings& settings,
                       rte_mempool* pool);

// [control] The bridge forwards frames unchanged, so both ports must carry the same MTU.
void check_same_mtu(uint16_t vendor_port, uint16_t core_port);

// [control] "up 10 Gbps full-duplex" / "down".
[[nodiscard]] std::string link_text(uint16_t port);

// [control] Stops and closes the port; errors are ignored (called on the way out).
void stop_port(uint16_t port) noexcept;

}  // namespace sentinel::dataplane

// Reject: the frames that end a flow a `reject` verdict stopped. For TCP, an RST to each end
// (RFC 793 §3.4: each in the window its receiver expects); for UDP, an ICMP / ICMPv6
// port-unreachable to the sender quoting the dropped datagram, as the destination host
// itself would have answered. Frames keep the trigger's L2 header (VLAN tags included);
// the one sent back to the sender has its MAC addresses swapped.
//
// [worker] noexcept, no heap: mbufs come from the trigger's own mempool; when it is empty
// fewer frames are built (the caller counts what it could not send).
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/packet.hpp"

namespace sentinel::dataplane {

struct RejectFrames {
  rte_mbuf* to_sender = nullptr;    // out of the port the trigger came in on
  rte_mbuf* to_receiver = nullptr;  // out of the port the trigger was headed for
};

// `headers` holds the trigger's frame contiguously through its L4 header (for UDP, through
// the bytes to quote: at most kRejectQuote after the IP header; fewer are quoted when fewer
// are there). `pkt` is the trigger's parse.
inline constexpr uint32_t kRejectQuote = 512;
[[nodiscard]] RejectFrames build_reject(const rte_mbuf* trigger, const uint8_t* headers,
                                        uint32_t headers_len, const PacketInfo& pkt) noexcept;

}  // namespace sentinel::dataplane

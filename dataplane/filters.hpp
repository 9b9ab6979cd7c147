// The [[filter]] stage on the control plane and its view of a frame: the loaded filters
// compiled into rte_bpf programs (bpf/filter_program.hpp), indexed by direction for the
// worker, and what the C filters' helpers read of a parsed frame.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpf/filter_program.hpp"
#include "config/config.hpp"
#include "dataplane/packet.hpp"
#include "rules/filter.hpp"

namespace sentinel::dataplane {

struct ActiveFilter {
  rules::Filter spec;
  std::unique_ptr<bpf::Program> program;
  std::string source;  // what -T and the logs show: the expression, or "object:section"
};

struct FilterSet {
  std::vector<ActiveFilter> filters;           // in load order
  std::vector<uint16_t> to_core, to_vendor;    // indexes of the filters each direction runs, in order
  size_t interpreted = 0;                      // filters the JIT did not compile
};

// [control] Compiles `filters` (object names without '/' are looked up in `filters_dir`).
// nullptr when there are none. Throws config::LoadError at the filter's file:line:col
// with libpcap's or the validator's message. Expressions need the EAL.
[[nodiscard]] std::unique_ptr<FilterSet> compile_filters(const std::vector<rules::Filter>& filters,
                                                         const std::string& filters_dir);

// [control] Where bare object names are found: [rules] filters_dir, or when that is "" the
// directory the shipped filters are installed in.
[[nodiscard]] std::string filters_dir(const config::Config& config);

// [worker] What the helpers see of a parsed frame.
[[nodiscard]] inline bpf::FrameView frame_view(const PacketInfo& pkt, const rte_mbuf* m) noexcept {
  bpf::FrameView v;
  v.mbuf = m;
  if (pkt.l3 != L3::kIpv4 && pkt.l3 != L3::kIpv6) return v;
  v.ip_version = pkt.l3 == L3::kIpv4 ? 4 : 6;
  v.l3_offset = pkt.l3_offset;
  v.l4_proto = pkt.ip_proto;
  if ((pkt.flags & kFlagHasL4) == 0 || (pkt.flags & kFlagLaterFragment) != 0) return v;
  v.l4_offset = pkt.l4_offset;
  v.src_port = pkt.src_port;
  v.dst_port = pkt.dst_port;
  v.payload_offset = pkt.payload_offset;
  const uint32_t present = m->pkt_len > pkt.payload_offset ? m->pkt_len - pkt.payload_offset : 0;
  v.payload_len = pkt.payload_len < present ? pkt.payload_len : present;
  return v;
}

}  // namespace sentinel::dataplane

// IP reassembly for inspection: DPDK's rte_ip_frag, fed copies of the fragments.
//
// Why copies: rte_ip_frag rewrites and chains the mbufs it is given, but a bump in the wire
// must forward the fragments exactly as they arrived — or drop them all — once the whole
// datagram is inspected. Each copy comes from the reassembler's own pool, whose private
// area names its original, so a reassembled datagram (a chain of copies) and a fragment on
// rte_ip_frag's death row both lead back to the frames that arrived.
//
// One table per direction, so fragments from one port never complete a datagram of the
// other. Why a fragment died is not reported by rte_ip_frag; it is read from the death
// row: the fragment just added alone means no room, with others of its datagram an
// overlap (or too many fragments, when none overlap), and any other datagram's fragments a
// timeout.
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <array>
#include <cstdint>

#include "config/config.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/packet.hpp"

namespace sentinel::dataplane {

struct DeadFragment {
  rte_mbuf* original;
  DropReason why;  // a fragment cause (is_fragment_cause)
};

class Reassembler {
 public:
  // Fragments that may die in one add(): a timed-out datagram whose slot is reused, the
  // new fragment's own datagram, and the new fragment.
  static constexpr uint32_t kMaxDeadPerAdd = 2 * RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1;
  // Fragments expire() may report in one call.
  static constexpr uint32_t kMaxDeadPerExpire = RTE_IP_FRAG_DEATH_ROW_MBUF_LEN;
  // Fragments one datagram may have (DPDK's build-time limit).
  static constexpr uint32_t kMaxFragmentsPerDatagram = RTE_LIBRTE_IP_FRAG_MAX_FRAG;

  // [control] `ticks_per_second`: units of the clock add() and expire() are given. Throws
  // SetupError when DPDK cannot create the tables or the pool.
  Reassembler(const config::FragmentsConfig& config, uint64_t ticks_per_second, int socket);
  ~Reassembler();  // frees every held fragment, originals included
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // [worker] Takes fragment `m` (parsed into `pkt`, kFlagFragment set; the caller no longer
  // owns it). Returns the whole datagram when `m` completes it — a chain of copies, headers
  // of an unfragmented packet — else nullptr. Fragments that died during the call (any
  // datagram of this direction) are appended to dead[n_dead..], kMaxDeadPerAdd at most.
  rte_mbuf* add(Direction dir, rte_mbuf* m, const PacketInfo& pkt, uint32_t wire_len, uint64_t now,
                DeadFragment* dead, uint32_t& n_dead) noexcept;

  // [worker] Datagrams of `dir` incomplete `timeout` after their first fragment: their
  // fragments, appended to dead[n_dead..], kMaxDeadPerExpire at most per call.
  void expire(Direction dir, uint64_t now, DeadFragment* dead, uint32_t& n_dead) noexcept;

  // [worker] The originals of a datagram add() returned, in offset order, into out
  // (room for kMaxFragmentsPerDatagram); frees the copies. Returns how many.
  uint32_t release(rte_mbuf* datagram, rte_mbuf** out) noexcept;

  // The originals' bytes on the wire, and their number, of a datagram add() returned.
  [[nodiscard]] static uint32_t wire_bytes(const rte_mbuf* datagram) noexcept;
  [[nodiscard]] static uint32_t count(const rte_mbuf* datagram) noexcept;

  // EAL memory one Reassembler takes (its fragment pool and two tables), in bytes.
  [[nodiscard]] static uint64_t memory_bytes(const config::FragmentsConfig& config) noexcept;

  // [any] Fragments held now.
  [[nodiscard]] uint32_t held() const noexcept { return held_; }

 private:
  struct Copy {              // the private area of every copy
    rte_mbuf* original;      // nullptr in the second and later segments of one copy
    uint32_t wire_len;       // the original's length on the wire
    uint16_t offset;         // fragment offset in bytes
    uint16_t length;         // fragment payload bytes
  };
  static Copy& meta(rte_mbuf* m) noexcept { return *static_cast<Copy*>(rte_mbuf_to_priv(m)); }
  static const Copy& meta(const rte_mbuf* m) noexcept {
    return *static_cast<const Copy*>(rte_mbuf_to_priv(const_cast<rte_mbuf*>(m)));
  }

  rte_mbuf* copy_of(const rte_mbuf* m, uint32_t cut_at, uint32_t cut_len) noexcept;
  void bury(const rte_mbuf* added, DeadFragment* dead, uint32_t& n_dead) noexcept;

  std::array<rte_ip_frag_tbl*, kDirectionCount> tables_{};
  rte_ip_frag_death_row death_row_{};
  rte_mempool* pool_ = nullptr;
  uint32_t max_fragments_;
  uint32_t max_datagram_size_;
  uint32_t held_ = 0;
};

}  // namespace sentinel::dataplane

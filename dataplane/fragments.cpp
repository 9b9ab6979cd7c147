#include "dataplane/fragments.hpp"

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <atomic>
#include <cstring>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

uint16_t read16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// rte_ip_frag hashes into two buckets of this many entries each; the table holds
// 2 x buckets x kBucketEntries, so one bucket per kBucketEntries datagrams gives every
// datagram twice the room it needs (16 candidate slots per key).
constexpr uint32_t kBucketEntries = 8;
constexpr uint64_t kTableEntryBytes = 256;  // sizeof(struct ip_frag_pkt), cache-line aligned

uint32_t buckets_for(uint32_t max_datagrams) noexcept {
  const uint32_t b = max_datagrams / kBucketEntries;
  return b != 0 ? b : 1;
}

}  // namespace

Reassembler::Reassembler(const config::FragmentsConfig& config, uint64_t ticks_per_second, int socket)
    : max_fragments_(config.max_fragments), max_datagram_size_(config.max_datagram_size) {
  static std::atomic<uint32_t> instances{0};
  const std::string name = "frag_" + std::to_string(instances.fetch_add(1));
  const uint32_t buckets = buckets_for(config.max_datagrams);
  for (size_t d = 0; d < kDirectionCount; ++d) {
    tables_[d] = check_ptr(rte_ip_frag_table_create(buckets, kBucketEntries, config.max_datagrams,
                                                    ticks_per_second * config.timeout, socket),
                           "rte_ip_frag_table_create(" + std::to_string(config.max_datagrams) + " datagrams)");
  }
  // One buffer per held fragment (a fragment longer than a buffer takes more), no cache:
  // the worker is the only user, and an exact free count is what the held bound reads.
  pool_ = rte_pktmbuf_pool_create(name.c_str(), config.max_fragments, 0,
                                  RTE_ALIGN(sizeof(Copy), RTE_MBUF_PRIV_ALIGN), RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool_ == nullptr) {
    const int err = rte_errno;
    for (rte_ip_frag_tbl* t : tables_) rte_ip_frag_table_destroy(t);
    throw SetupError("rte_pktmbuf_pool_create(" + name + ", " + std::to_string(config.max_fragments) +
                     " fragment copies): " + rte_strerror(err));
  }
}

uint64_t Reassembler::memory_bytes(const config::FragmentsConfig& config) noexcept {
  const uint64_t per_copy = RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + RTE_ALIGN(sizeof(Copy), RTE_MBUF_PRIV_ALIGN) + 64;
  const uint64_t table = uint64_t{rte_align32pow2(buckets_for(config.max_datagrams))} * kBucketEntries * 2 * kTableEntryBytes;
  return uint64_t{config.max_fragments} * per_copy + kDirectionCount * table;
}

Reassembler::~Reassembler() {
  DeadFragment dead[kMaxDeadPerExpire];
  for (size_t d = 0; d < kDirectionCount; ++d) {
    for (;;) {
      uint32_t n = 0;
      expire(static_cast<Direction>(d), UINT64_MAX / 2, dead, n);
      for (uint32_t k = 0; k < n; ++k) rte_pktmbuf_free(dead[k].original);
      if (n == 0) break;
    }
    rte_ip_frag_table_destroy(tables_[d]);
  }
  rte_mempool_free(pool_);
}

// A contiguous-headers copy of `m` without bytes [cut_at, cut_at + cut_len), from the pool.
rte_mbuf* Reassembler::copy_of(const rte_mbuf* m, uint32_t cut_at, uint32_t cut_len) noexcept {
  rte_mbuf* head = rte_pktmbuf_alloc(pool_);
  if (head == nullptr) return nullptr;
  meta(head) = {};
  rte_mbuf* seg = head;
  const uint32_t total = m->pkt_len - cut_len;
  for (uint32_t done = 0; done < total;) {
    uint32_t room = rte_pktmbuf_tailroom(seg);
    if (room == 0) {
      rte_mbuf* next = rte_pktmbuf_alloc(pool_);
      if (next == nullptr || rte_pktmbuf_chain(head, next) != 0) {
        rte_pktmbuf_free(next);
        rte_pktmbuf_free(head);
        return nullptr;
      }
      meta(next) = {};
      seg = next;
      room = rte_pktmbuf_tailroom(seg);
    }
    // Bytes before the cut come from the same offset, bytes after it from cut_len further.
    const uint32_t from = done < cut_at ? done : done + cut_len;
    uint32_t len = total - done < room ? total - done : room;
    if (done < cut_at && cut_at - done < len) len = cut_at - done;
    uint8_t* dst = rte_pktmbuf_mtod_offset(seg, uint8_t*, seg->data_len);
    const void* src = rte_pktmbuf_read(m, from, len, dst);
    if (src != dst) std::memcpy(dst, src, len);
    seg->data_len = static_cast<uint16_t>(seg->data_len + len);
    head->pkt_len += len;
    done += len;
  }
  head->port = m->port;
  rte_mbuf_dynfield_copy(head, m);
  return head;
}

rte_mbuf* Reassembler::add(Direction dir, rte_mbuf* m, const PacketInfo& pkt, uint32_t wire_len, uint64_t now,
                           DeadFragment* dead, uint32_t& n_dead) noexcept {
  // Offsets from the parser, which has checked every header read below.
  uint8_t scratch[40];
  const uint32_t l3 = pkt.l3_offset;
  const bool v4 = pkt.l3 == L3::kIpv4;
  uint32_t cut_at = 0;
  uint32_t cut_len = 0;
  uint32_t l3_len = 0;
  uint32_t offset = 0;
  uint32_t length = 0;  // the fragment's bytes of the datagram (a first fragment's L4 header included)
  if (v4) {
    const uint8_t* ip = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l3, 20, scratch));
    l3_len = static_cast<uint32_t>(ip[0] & 0x0f) * 4;
    length = read16(ip + 2) - l3_len;
    const uint16_t frag = read16(ip + 6);
    offset = static_cast<uint32_t>(frag & 0x1fff) * 8;
  } else {
    // rte_ip_frag expects the fragment header right after the fixed header: the copy leaves
    // out the extension headers before it (hop-by-hop, routing, destination options), which
    // only the receiver's path needs.
    uint32_t off = l3 + 40;
    const uint8_t* ip6 = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l3, 40, scratch));
    const uint32_t end_of_payload = l3 + 40 + read16(ip6 + 4);
    uint8_t next = ip6[6];
    while (next != 44) {
      const uint8_t* h = static_cast<const uint8_t*>(rte_pktmbuf_read(m, off, 2, scratch));
      off += next == 51 ? (static_cast<uint32_t>(h[1]) + 2) * 4 : (static_cast<uint32_t>(h[1]) + 1) * 8;
      next = h[0];
    }
    cut_at = l3 + 40;
    cut_len = off - cut_at;
    const uint8_t* fh = static_cast<const uint8_t*>(rte_pktmbuf_read(m, off, 8, scratch));
    const uint16_t fo = read16(fh + 2);
    offset = fo & 0xfff8u;
    length = end_of_payload - (off + 8);
    l3_len = 48;
  }
  const uint32_t end = offset + length;
  if (end > max_datagram_size_ || (v4 && end + l3_len > 65535)) {
    dead[n_dead++] = {m, DropReason::kFragOversize};
    return nullptr;
  }
  rte_mbuf* copy = held_ < max_fragments_ ? copy_of(m, cut_at, cut_len) : nullptr;
  if (copy == nullptr) {
    dead[n_dead++] = {m, DropReason::kFragTableFull};
    return nullptr;
  }
  meta(copy) = {m, wire_len, static_cast<uint16_t>(offset), static_cast<uint16_t>(length)};
  copy->l2_len = l3;
  copy->l3_len = l3_len;
  uint8_t* ip = rte_pktmbuf_mtod_offset(copy, uint8_t*, l3);
  rte_mbuf* whole = nullptr;
  ++held_;
  if (v4) {
    whole = rte_ipv4_frag_reassemble_packet(tables_[static_cast<size_t>(dir)], &death_row_, copy, now,
                                            reinterpret_cast<rte_ipv4_hdr*>(ip));
  } else {
    if (cut_len != 0) {
      ip[6] = 44;
      const uint16_t plen = static_cast<uint16_t>(read16(ip + 4) - cut_len);
      ip[4] = static_cast<uint8_t>(plen >> 8);
      ip[5] = static_cast<uint8_t>(plen);
    }
    whole = rte_ipv6_frag_reassemble_packet(tables_[static_cast<size_t>(dir)], &death_row_, copy, now,
                                            reinterpret_cast<rte_ipv6_hdr*>(ip),
                                            reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 40));
  }
  if (death_row_.cnt != 0) bury(copy, dead, n_dead);
  if (whole != nullptr && v4) {
    rte_ipv4_hdr* h = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);  // rte_ip_frag leaves it 0
  }
  return whole;
}

// Empties the death row into `dead`, each fragment with its cause (see the file comment).
void Reassembler::bury(const rte_mbuf* added, DeadFragment* dead, uint32_t& n_dead) noexcept {
  bool added_died = false;
  const uint32_t first = n_dead;
  for (uint32_t e = 0; e < death_row_.cnt; ++e) {
    for (rte_mbuf* seg = death_row_.row[e]; seg != nullptr; seg = seg->next) {
      const Copy& c = meta(seg);
      if (c.original == nullptr) continue;  // a later segment of one copy
      added_died |= seg == added;
      dead[n_dead++] = {c.original, DropReason::kFragTimeout};
      --held_;
    }
  }
  if (added_died) {
    // Everything dead here is the added fragment's datagram: rte_ip_frag frees another
    // datagram only to reuse its slot, and then the added fragment lives.
    const uint32_t count = n_dead - first;
    DropReason why = DropReason::kFragTableFull;  // alone: no slot for a new datagram
    if (count > 1) {
      why = DropReason::kFragOverlap;
      // Without an overlap, the only other way for rte_ip_frag to give up is a datagram of
      // more fragments than it holds.
      bool overlap = false;
      uint32_t in_middle = 0;
      for (uint32_t e = 0; e < death_row_.cnt && !overlap; ++e) {
        for (const rte_mbuf* a = death_row_.row[e]; a != nullptr && !overlap; a = a->next) {
          const Copy& ca = meta(a);
          if (ca.original == nullptr) continue;
          in_middle += ca.offset != 0;
          for (uint32_t f = 0; f < death_row_.cnt && !overlap; ++f) {
            for (const rte_mbuf* b = death_row_.row[f]; b != nullptr; b = b->next) {
              const Copy& cb = meta(b);
              if (cb.original == nullptr || b == a) continue;
              overlap = ca.offset < cb.offset + cb.length && cb.offset < ca.offset + ca.length;
              if (overlap) break;
            }
          }
        }
      }
      if (!overlap && in_middle >= kMaxFragmentsPerDatagram - 1) why = DropReason::kFragTooMany;
    }
    for (uint32_t k = first; k < n_dead; ++k) dead[k].why = why;
  }
  rte_ip_frag_free_death_row(&death_row_, 0);
}

void Reassembler::expire(Direction dir, uint64_t now, DeadFragment* dead, uint32_t& n_dead) noexcept {
  rte_ip_frag_table_del_expired_entries(tables_[static_cast<size_t>(dir)], &death_row_, now);
  if (death_row_.cnt != 0) bury(nullptr, dead, n_dead);
}

uint32_t Reassembler::release(rte_mbuf* datagram, rte_mbuf** out) noexcept {
  uint32_t n = 0;
  for (rte_mbuf* seg = datagram; seg != nullptr; seg = seg->next) {
    if (meta(seg).original != nullptr && n < kMaxFragmentsPerDatagram) out[n++] = meta(seg).original;
  }
  held_ -= n;
  rte_pktmbuf_free(datagram);
  return n;
}

uint32_t Reassembler::wire_bytes(const rte_mbuf* datagram) noexcept {
  uint32_t bytes = 0;
  for (const rte_mbuf* seg = datagram; seg != nullptr; seg = seg->next) bytes += meta(seg).wire_len;
  return bytes;
}

uint32_t Reassembler::count(const rte_mbuf* datagram) noexcept {
  uint32_t n = 0;
  for (const rte_mbuf* seg = datagram; seg != nullptr; seg = seg->next) n += meta(seg).original != nullptr;
  return n;
}

}  // namespace sentinel::dataplane

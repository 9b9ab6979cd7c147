/* five_tuple.bpf.c — the filter benchmark's C filters (tests/bench/filter_bench.cpp).
 *
 * Section "filter" is the one measured against the target: a 5-tuple filter written as
 * filters are meant to be written, with the helpers of sentinel_filter.h — IPv4 TCP from
 * 10.0.0.0/8 to port 443 (the frames' parse also finds TCP behind VLAN tags and IPv6
 * extension headers; the address test keeps it to IPv4).
 *
 * The other sections exist only to explain that figure; they are not examples to follow:
 *   "ld_abs"  the same test reading the frame itself through the mbuf context with cBPF-style
 *             absolute/indirect loads (what converted pcap expressions do): untagged IPv4
 *             only, no helper calls.
 *   "direct"  the same again with plain loads from mbuf->buf_addr + data_off (first segment
 *             only): the floor of what reading the packet can cost. The mbuf offsets below
 *             are DPDK 22.11's; filter_bench.cpp static_asserts them.
 *   "noop"    returns 0: the cost of calling a program at all.
 */
#include "sentinel_filter.h"

typedef unsigned short sentinel_u16;

#define FIVE_TUPLE_PROTO 6            /* TCP */
#define FIVE_TUPLE_NET 0x0a000000ULL  /* 10.0.0.0/8 */
#define FIVE_TUPLE_MASK 0xff000000ULL
#define FIVE_TUPLE_DPORT 443

__attribute__((section("filter"), used)) sentinel_u64 five_tuple(void *mbuf) {
  (void)mbuf;
  if (sentinel_l4_proto() != FIVE_TUPLE_PROTO) return 0;
  if (sentinel_dst_port() != FIVE_TUPLE_DPORT) return 0;
  if (sentinel_ip_version() != 4) return 0;
  const sentinel_u64 src = sentinel_be32(sentinel_l3_offset() + 12);
  return (src & FIVE_TUPLE_MASK) == FIVE_TUPLE_NET;
}

/* BPF_LD_ABS / BPF_LD_IND through the context (R6): bytes past the frame end the program
 * with 0, as in cBPF. */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

__attribute__((section("ld_abs"), used)) sentinel_u64 five_tuple_ld_abs(void *mbuf) {
  if (load_half(mbuf, 12) != 0x0800) return 0;
  if (load_byte(mbuf, 23) != FIVE_TUPLE_PROTO) return 0;
  if (load_half(mbuf, 20) & 0x1fff) return 0; /* a later fragment has no ports */
  if ((load_word(mbuf, 26) & FIVE_TUPLE_MASK) != FIVE_TUPLE_NET) return 0;
  const sentinel_u64 ihl = (load_byte(mbuf, 14) & 0xf) << 2;
  return load_half(mbuf, 14 + ihl + 2) == FIVE_TUPLE_DPORT;
}

/* struct rte_mbuf (DPDK 22.11, x86-64) as far as "direct" reads it. */
#define MBUF_BUF_ADDR 0
#define MBUF_DATA_OFF 16
#define MBUF_DATA_LEN 40
/* The data buffer size the program is loaded with (RTE_MBUF_DEFAULT_BUF_SIZE): the
 * validator checks every packet read against it. */
#define MBUF_BUF_SIZE 2176
#define DIRECT_READ_MAX 80 /* Ethernet + the longest IPv4 header + TCP ports */

__attribute__((section("direct"), used)) sentinel_u64 five_tuple_direct(void *mbuf) {
  const sentinel_u8 *buf = *(const sentinel_u8 *const *)((const sentinel_u8 *)mbuf + MBUF_BUF_ADDR);
  const sentinel_u64 data_off = *(const sentinel_u16 *)((const sentinel_u8 *)mbuf + MBUF_DATA_OFF);
  const sentinel_u64 data_len = *(const sentinel_u16 *)((const sentinel_u8 *)mbuf + MBUF_DATA_LEN);
  if (data_off > MBUF_BUF_SIZE - DIRECT_READ_MAX || data_len < 34) return 0;
  const sentinel_u8 *p = buf + data_off;
  if (p[12] != 0x08 || p[13] != 0x00 || p[23] != FIVE_TUPLE_PROTO) return 0;
  if (((p[20] & 0x1f) | p[21]) != 0) return 0;
  if (p[26] != (FIVE_TUPLE_NET >> 24)) return 0;
  const sentinel_u64 l4 = 14 + ((p[14] & 0xf) << 2);
  if (data_len < l4 + 4) return 0;
  /* pointer += offset, in that order: the validator loses track of a pointer added to a
   * scalar register (clang's choice for p[l4 + 2]). */
  const sentinel_u8 *tcp = p;
  asm volatile("%0 += %1" : "+r"(tcp) : "r"(l4));
  return ((sentinel_u64)tcp[2] << 8 | tcp[3]) == FIVE_TUPLE_DPORT;
}

__attribute__((section("noop"), used)) sentinel_u64 five_tuple_noop(void *mbuf) {
  (void)mbuf;
  return 0;
}

/* sentinel_filter.h — the ABI between Sentinel and a filter written in C.
 *
 * A filter is one function in an ELF section (default "filter"), built with
 *   clang -O2 -target bpf -mcpu=v2 -I bpf/include -c my_filter.bpf.c -o my_filter.bpf.o
 * and referenced from a rules file:
 *   [[filter]]  name = "…"  object = "my_filter.bpf.o"  args = { … }  action = "alert"  sid = …
 * It is called once per frame with the frame's rte_mbuf as its only argument and returns
 * non-zero when the frame matches. It runs inside the worker through DPDK's rte_bpf (JIT):
 * no maps, no kernel helpers, no global data, no calls between functions, no loops (the
 * validator rejects any back edge — unroll bounded walks with `#pragma unroll`).
 *
 * What a filter may use besides its argument:
 *   - the helpers below, which read the frame Sentinel has already parsed. Every read is
 *     bounds-checked: past the captured frame a byte read returns SENTINEL_NO_BYTE and a
 *     wider read SENTINEL_NONE, so a filter never faults on a short or hostile frame;
 *   - `sentinel_args`, the values the rules file's `args` table gave, at the slots the
 *     filter declares with SENTINEL_ARGS (below).
 * Offsets are from the first byte of the Ethernet header. The frame's direction is not
 * visible: the rules file's `direction` key selects the frames a filter sees.
 *
 * The C++ side (bpf/filter_program.hpp) static_asserts the constants of this header.
 */
#ifndef SENTINEL_FILTER_H
#define SENTINEL_FILTER_H

typedef unsigned char sentinel_u8;
typedef unsigned long long sentinel_u64;

/* Returned by sentinel_byte() past the end of the captured frame. */
#define SENTINEL_NO_BYTE 0x100ULL
/* "None": no such header, a read past the frame, a needle not found. */
#define SENTINEL_NONE 0xffffffffffffffffULL
/* Argument slots a filter can declare (arrays count one slot per element). */
#define SENTINEL_MAX_ARGS 32
/* Longest needle sentinel_find() takes. */
#define SENTINEL_MAX_NEEDLE 16

/* Arguments. A filter declares its arguments once, as one string of comma-separated
 * `name=default` entries in slot order; `name[N]=default` declares an array of N slots.
 * Sentinel reads the string from the object's ".sentinel.args" section (it is never loaded
 * into the program), checks the rules file's `args` against it (unknown names, too many
 * array elements and negative values are load errors at the key's file:line:col) and
 * fills the slots: the given values, else the defaults. A value is a non-negative integer,
 * a boolean (1/0) or an IPv4 address string ("192.0.2.1" → 0xc0000201). Unused array
 * slots hold the default.
 *
 *   SENTINEL_ARGS("max_label=52,max_name=180");
 *   #define MAX_LABEL sentinel_args[0]
 */
#define SENTINEL_ARGS(spec) \
  static const char sentinel_arg_spec[] __attribute__((section(".sentinel.args"), used)) = spec

#ifdef __bpf__
extern const sentinel_u64 sentinel_args[SENTINEL_MAX_ARGS];

/* The frame's parse. Each returns SENTINEL_NONE when the frame has no such part. */
extern sentinel_u64 sentinel_l3_offset(void);      /* the IPv4/IPv6 header (after VLAN tags) */
extern sentinel_u64 sentinel_ip_version(void);     /* 4 or 6; SENTINEL_NONE for non-IP */
extern sentinel_u64 sentinel_l4_proto(void);       /* IANA number after IPv6 extension headers */
extern sentinel_u64 sentinel_l4_offset(void);      /* TCP/UDP/ICMP header; NONE on later fragments */
extern sentinel_u64 sentinel_src_port(void);       /* TCP/UDP; ICMP echo: the identifier */
extern sentinel_u64 sentinel_dst_port(void);
extern sentinel_u64 sentinel_payload_offset(void); /* first L4 payload byte: after the TCP header
                                                      with options, the 8-byte UDP and ICMP
                                                      headers, the 4-byte ICMPv6 header */
extern sentinel_u64 sentinel_payload_len(void);    /* L4 payload bytes present in this frame */
extern sentinel_u64 sentinel_frame_len(void);      /* captured bytes of the frame */

/* Bounded reads at a frame offset (big-endian for the wider ones). */
extern sentinel_u64 sentinel_byte(sentinel_u64 off);  /* 0..255, or SENTINEL_NO_BYTE */
extern sentinel_u64 sentinel_be16(sentinel_u64 off);  /* or SENTINEL_NONE */
extern sentinel_u64 sentinel_be32(sentinel_u64 off);  /* or SENTINEL_NONE */

/* The first offset in [from, to) where `len` (1..16) needle bytes start, or SENTINEL_NONE.
 * The needle is packed little-endian: byte 0 is the low byte of `lo`, byte 8 the low byte
 * of `hi`; SENTINEL_FIND below packs a string literal at compile time. `to` is
 * clipped to the frame. */
extern sentinel_u64 sentinel_find(sentinel_u64 lo, sentinel_u64 hi, sentinel_u64 len,
                                  sentinel_u64 from, sentinel_u64 to);
/* Same, ignoring ASCII case. */
extern sentinel_u64 sentinel_find_nocase(sentinel_u64 lo, sentinel_u64 hi, sentinel_u64 len,
                                         sentinel_u64 from, sentinel_u64 to);

/* Byte i of a string literal (0 past its end), and 8 of its bytes from `at`, packed. */
#define SENTINEL_LIT_BYTE(s, i) ((sentinel_u64)(sentinel_u8)((i) + 1 < sizeof(s) ? (s)[(i) + 1 < sizeof(s) ? (i) : 0] : 0))
#define SENTINEL_PACK8(s, at)                                                              \
  (SENTINEL_LIT_BYTE(s, (at) + 0) | SENTINEL_LIT_BYTE(s, (at) + 1) << 8 |                  \
   SENTINEL_LIT_BYTE(s, (at) + 2) << 16 | SENTINEL_LIT_BYTE(s, (at) + 3) << 24 |           \
   SENTINEL_LIT_BYTE(s, (at) + 4) << 32 | SENTINEL_LIT_BYTE(s, (at) + 5) << 40 |           \
   SENTINEL_LIT_BYTE(s, (at) + 6) << 48 | SENTINEL_LIT_BYTE(s, (at) + 7) << 56)
/* sentinel_find on a string literal of 1 to 16 characters (folded to constants by -O2). */
#define SENTINEL_FIND(s, from, to) \
  sentinel_find(SENTINEL_PACK8(s, 0), SENTINEL_PACK8(s, 8), sizeof(s) - 1, (from), (to))
#define SENTINEL_FIND_NOCASE(s, from, to) \
  sentinel_find_nocase(SENTINEL_PACK8(s, 0), SENTINEL_PACK8(s, 8), sizeof(s) - 1, (from), (to))

/* Writing unrolled walks. rte_bpf's validator follows every path through the program: a
 * branch whose two sides join again doubles the paths of everything after it, so an
 * unrolled body with an if/else per byte does not load in reasonable time. Keep unrolled
 * bodies branch-free apart from their exits: compute with the 0/1 arithmetic below, and
 * hide values behind SENTINEL_OPAQUE so that clang cannot turn the arithmetic back into
 * branches (the BPF target has no conditional move) nor refuse `#pragma unroll` over an
 * exit that depends only on the loop counter. */
#define SENTINEL_INLINE static inline __attribute__((always_inline))
#define SENTINEL_OPAQUE(x) asm volatile("" : "+r"(x))
SENTINEL_INLINE sentinel_u64 sentinel_neg(sentinel_u64 x) { SENTINEL_OPAQUE(x); return x >> 63; } /* x < 0 as signed */
SENTINEL_INLINE sentinel_u64 sentinel_eqz(sentinel_u64 x) { return sentinel_neg(x - 1); }  /* x == 0, x < 2^63 */
SENTINEL_INLINE sentinel_u64 sentinel_nz(sentinel_u64 x) { return sentinel_neg(x | (0 - x)); } /* x != 0 */
SENTINEL_INLINE sentinel_u64 sentinel_ge(sentinel_u64 a, sentinel_u64 b) {                  /* a, b < 2^62 */
  return sentinel_neg(a - b) ^ 1;
}
SENTINEL_INLINE sentinel_u64 sentinel_mask(sentinel_u64 bit) { /* 0/1 -> 0/~0 */
  sentinel_u64 m = 0 - bit;
  SENTINEL_OPAQUE(m);
  return m;
}

/* 1 when the frame holds the whole IP datagram its header declares (a capture's snap
 * length can cut it); 0 for a cut frame or one that is not IP. */
SENTINEL_INLINE sentinel_u64 sentinel_ip_complete(void) {
  sentinel_u64 l3 = sentinel_l3_offset();
  sentinel_u64 v6 = sentinel_eqz(sentinel_ip_version() ^ 6);
  sentinel_u64 len = sentinel_be16(l3 + 2 + 2 * v6); /* IPv4 total length, IPv6 payload length */
  if (len == SENTINEL_NONE) return 0;
  return sentinel_ge(sentinel_frame_len(), l3 + len + 40 * v6);
}
#endif /* __bpf__ */

#endif /* SENTINEL_FILTER_H */

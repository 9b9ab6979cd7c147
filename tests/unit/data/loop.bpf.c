/* A filter whose loop survives compilation (#pragma nounroll): rte_bpf's validator must
 * refuse it with "loops detected" (tests/unit/test_filter_program.cpp). */
#include "sentinel_filter.h"

__attribute__((section("filter"), used)) sentinel_u64 loop_filter(void *mbuf) {
  (void)mbuf;
  const sentinel_u64 po = sentinel_payload_offset();
  const sentinel_u64 n = sentinel_payload_len();
  sentinel_u64 sum = 0;
#pragma nounroll
  for (sentinel_u64 i = 0; i < n && i < 64; ++i) sum += sentinel_byte(po + i);
  return sum > 1000;
}

/* Returns what one helper of sentinel_filter.h returns for the arguments given, so that a
 * test can compare the helpers with a reference (tests/unit/test_filter_program.cpp):
 * mode 0 sentinel_find(a, b, c, d, e), 1 sentinel_find_nocase(a, b, c, d, e),
 * 2 sentinel_byte(a), 3 sentinel_be16(a), 4 sentinel_be32(a), 5 sentinel_frame_len(). */
#include "sentinel_filter.h"

SENTINEL_ARGS("mode=0,a=0,b=0,c=0,d=0,e=0");
#define A sentinel_args[1]
#define B sentinel_args[2]
#define C sentinel_args[3]
#define D sentinel_args[4]
#define E sentinel_args[5]

__attribute__((section("filter"), used)) sentinel_u64 helpers(void *mbuf) {
  (void)mbuf;
  const sentinel_u64 mode = sentinel_args[0];
  if (mode == 0) return sentinel_find(A, B, C, D, E);
  if (mode == 1) return sentinel_find_nocase(A, B, C, D, E);
  if (mode == 2) return sentinel_byte(A);
  if (mode == 3) return sentinel_be16(A);
  if (mode == 4) return sentinel_be32(A);
  if (mode == 5) return sentinel_frame_len();
  return 0;
}

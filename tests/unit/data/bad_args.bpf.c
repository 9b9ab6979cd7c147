/* Filters with a malformed SENTINEL_ARGS declaration, one per BAD_ARGS_* define: reading
 * their arguments must fail (tests/unit/test_filter_program.cpp). */
#include "sentinel_filter.h"

#if defined(BAD_ARGS_NO_DEFAULT)
SENTINEL_ARGS("port=53,max_label");
#elif defined(BAD_ARGS_TOO_MANY)
SENTINEL_ARGS("port=53,acs[40]=0");
#elif defined(BAD_ARGS_NEGATIVE)
SENTINEL_ARGS("max_label=-1");
#elif defined(BAD_ARGS_TWICE)
SENTINEL_ARGS("port=53,port=54");
#else
#error "define one of BAD_ARGS_*"
#endif

__attribute__((section("filter"), used)) sentinel_u64 bad_args_filter(void *mbuf) {
  (void)mbuf;
  return sentinel_dst_port() == 53;
}

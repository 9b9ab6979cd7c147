// SetupError: a failed C call of DPDK or libpcap while the control plane sets things up.
// Every such call goes through check_rte()/check_ptr(), so the message always names the
// call and the reason; main() prints it and exits 1.
#pragma once

#include <rte_errno.h>

#include <stdexcept>
#include <string>

namespace sentinel::dataplane {

class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// DPDK returns a negative errno (or -1 with rte_errno set). Returns `rc` when it is >= 0.
[[nodiscard]] inline int check_rte(int rc, const std::string& call) {
  if (rc >= 0) return rc;
  const int err = rc == -1 && rte_errno != 0 ? rte_errno : -rc;
  throw SetupError(call + ": " + rte_strerror(err));
}

// For calls that return NULL and set rte_errno.
template <typename T>
[[nodiscard]] T* check_ptr(T* p, const std::string& call) {
  if (p != nullptr) return p;
  throw SetupError(call + ": " + rte_strerror(rte_errno));
}

}  // namespace sentinel::dataplane

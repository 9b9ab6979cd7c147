// Synchronous signal handling (see signals.hpp).
#include "dataplane/signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <initializer_list>

namespace sentinel::dataplane {
namespace {

sigset_t control_signals() noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  return set;
}

}  // namespace

void block_control_signals() noexcept {
  const sigset_t set = control_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_control_signal(int timeout_ms) noexcept {
  const sigset_t set = control_signals();
  timespec ts{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  for (;;) {
    const int s = sigtimedwait(&set, nullptr, &ts);
    if (s > 0) return s;
    if (errno != EINTR) return 0;
  }
}

}  // namespace sentinel::dataplane

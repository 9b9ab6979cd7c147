// Signals are blocked in every thread (before the EAL starts its own) and taken
// synchronously by the control plane with sigtimedwait: no async handlers, no races.
// SIGINT/SIGTERM stop; SIGHUP reloads the rules, SIGUSR1 reopens logs and
// SIGUSR2 writes the learned policy.
#pragma once

namespace sentinel::dataplane {

// [control] Blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 for this thread and every
// thread it starts afterwards. Call first thing in main().
void block_control_signals() noexcept;

// [control] Waits up to `timeout_ms` (0: just looks) for one of those signals. Returns the
// signal number, or 0 when none came.
int wait_control_signal(int timeout_ms) noexcept;

}  // namespace sentinel::dataplane

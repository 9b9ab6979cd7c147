// Live mode (-c without -r): the inline bridge on the configured ports until SIGINT/SIGTERM.
#pragma once

#include "config/config.hpp"
#include "dataplane/signatures.hpp"
#include "dataplane/report.hpp"

namespace sentinel::dataplane {

// [control] Sets up the pool and ports, runs one Worker per worker lcore, serves signals,
// reloads (SIGHUP, changes to the rule files read from `sources`) and periodic stats on the
// main lcore, and on SIGINT/SIGTERM stops the workers (they finish their burst), stops the
// ports and returns the run's figures. `signatures`: the rule files as read at start. The
// EAL must be initialised (RunMode::kLive). Throws SetupError when the ports cannot be started.
[[nodiscard]] RunStats run_live(const config::Config& config, const LoadedSignatures& signatures,
                                const RuleSources& sources);

}  // namespace sentinel::dataplane

// Generations (see generation.hpp).
#include "dataplane/generation.hpp"

#include <string>
#include <utility>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {

Generation::Generation(uint64_t number, std::string hash, GenerationParts parts, size_t workers)
    : number_(number), hash_(std::move(hash)), parts_(std::move(parts)) {
  inspection_.rules = parts_.rules.get();
  if (parts_.policy) {
    inspection_.policy = &parts_.policy->policy;
    inspection_.classifier = parts_.policy->classifier.get();
    inspection_.learn = parts_.policy->learn();
  }
  inspection_.filters = parts_.filters.get();
  prepare(workers);
}

Generation::Generation(uint64_t number, std::string hash, const Inspection& inspection, size_t workers)
    : number_(number), hash_(std::move(hash)), inspection_(inspection) {
  prepare(workers);
}

void Generation::prepare(size_t workers) {
  n_workers_ = workers;
  if (const rules::Policy* policy = inspection_.policy) {
    for (const uint16_t et : policy->allow_ethertypes) l2_allowed_[et / 64] |= uint64_t{1} << (et % 64);
    n_allows_ = policy->allows.size();
  }
  if (inspection_.filters != nullptr) n_filters_ = inspection_.filters->filters.size();
  workers_.reset(new GenerationWorker[workers]);
  for (size_t w = 0; w < workers; ++w) {
    GenerationWorker& gw = workers_[w];
    gw.allow_hits.reset(new Counter[n_allows_ + 1]);
    gw.filter_hits.reset(new Counter[n_filters_ + 1]);
    gw.filter_windows.reset(new FilterAlertWindow[n_filters_ + 1]);
    if (inspection_.rules == nullptr) continue;
    const rules::HsStatus st = w == 0 ? gw.scratch.allocate_for(*inspection_.rules)
                                      : workers_[0].scratch.clone_into(gw.scratch);
    if (!st.ok()) throw SetupError(std::string(st.call) + ": " + rules::hs_error_name(st.code));
  }
}

int64_t Generation::streams_open() const noexcept {
  int64_t n = 0;
  for (size_t w = 0; w < n_workers_; ++w) n += workers_[w].streams.get();
  return n;
}

}  // namespace sentinel::dataplane

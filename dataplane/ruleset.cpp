// Building and publishing rule sets (see ruleset.hpp).
#include "dataplane/ruleset.hpp"

#include <openssl/evp.h>
#include <rte_malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

struct DigestDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("SHA-256 unavailable (EVP_DigestInit_ex)");
    }
  }
  void add(std::string_view bytes) {
    const uint64_t n = bytes.size();  // length first: ("ab","c") and ("a","bc") differ
    (void)EVP_DigestUpdate(ctx_.get(), &n, sizeof n);
    (void)EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  void add_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    add(path);
    add(in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string("\0unreadable", 11));
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    (void)EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> ctx_;
};

}  // namespace

std::string ruleset_hash(const LoadedSignatures& loaded, const FilterSet* filters) {
  Sha256 h;
  if (loaded.classification_source.find('/') != std::string::npos) {
    h.add_file(loaded.classification_source);
  } else {
    h.add(loaded.classification_source);  // the built-in table, named
  }
  for (const std::string& f : loaded.files) h.add_file(f);
  if (filters != nullptr) {
    for (const ActiveFilter& f : filters->filters) {
      h.add(f.source);
      if (!f.spec.object.empty()) h.add_file(f.source.substr(0, f.source.rfind(':')));
    }
  }
  return h.hex();
}

std::unique_ptr<Ruleset> build_ruleset(const config::Config& config, const LoadedSignatures& loaded, uint64_t number,
                                       size_t workers, bool learn) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool new_learn = loaded.policy && loaded.policy->mode == rules::PolicyMode::kLearn;
  if (new_learn != learn) {
    const config::SourcePos at = loaded.policy ? loaded.policy->pos : config::SourcePos{};
    throw config::LoadError(at, std::string("[policy] mode: sentinel runs ") + (learn ? "in learn mode" : "without learn mode") +
                                    "; a reload cannot switch learn mode " + (learn ? "off" : "on") +
                                    " (restart sentinel to do that)");
  }
  GenerationParts parts;
  parts.rules = loaded.set;
  parts.policy = activate_policy(loaded.policy, false, "policy_g" + std::to_string(number));
  parts.filters = compile_filters(loaded.filters, filters_dir(config));
  auto rs = std::make_unique<Ruleset>();
  rs->catalog = std::make_unique<AlertCatalog>(loaded.set.get(), loaded.classes,
                                               parts.policy ? &parts.policy->policy : nullptr, loaded.filters);
  rs->files = loaded.files;
  rs->signatures = loaded.set ? loaded.set->rule_count() : 0;
  rs->allows = parts.policy ? parts.policy->policy.allows.size() : 0;
  rs->filters = loaded.filters.size();
  std::string hash = ruleset_hash(loaded, parts.filters.get());
  rs->generation = std::make_unique<Generation>(number, std::move(hash), std::move(parts), workers);
  rs->built_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rs;
}

std::unique_ptr<Ruleset> build_ruleset(const config::Config& config, const RuleSources& sources, uint64_t number,
                                       size_t workers, bool learn) {
  const auto t0 = std::chrono::steady_clock::now();
  const LoadedSignatures loaded = load_signatures(config, sources);
  std::unique_ptr<Ruleset> rs = build_ruleset(config, loaded, number, workers, learn);
  rs->built_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rs;
}

RulesetPublisher::RulesetPublisher(std::unique_ptr<Ruleset> first, unsigned workers) {
  const size_t bytes = rte_rcu_qsbr_get_memsize(workers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sentinel_qsbr", bytes, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr) throw SetupError("rte_zmalloc(QSBR variable, " + std::to_string(bytes) + " bytes) failed");
  if (rte_rcu_qsbr_init(qsbr_, workers) != 0) {
    rte_free(qsbr_);
    throw SetupError("rte_rcu_qsbr_init(" + std::to_string(workers) + " threads) failed");
  }
  for (unsigned w = 0; w < workers; ++w) (void)rte_rcu_qsbr_thread_register(qsbr_, w);
  slot_.store(first->generation.get(), std::memory_order_release);
  current_ = std::move(first);
}

RulesetPublisher::~RulesetPublisher() { rte_free(qsbr_); }

void RulesetPublisher::publish(std::unique_ptr<Ruleset> next) {
  std::shared_ptr<const Ruleset> fresh = std::move(next);
  slot_.store(fresh->generation.get(), std::memory_order_release);
  // The token after the store: a worker quiescent past it has read the new pointer.
  retiring_.push_back({current_, rte_rcu_qsbr_start(qsbr_), false});
  pending_.store(retiring_.size(), std::memory_order_relaxed);
  const std::lock_guard lock(mu_);
  current_ = std::move(fresh);
}

size_t RulesetPublisher::retire(const std::function<void()>& drain) {
  bool grace_ended = false;
  for (Retiring& r : retiring_) {
    if (!r.grace_over && rte_rcu_qsbr_check(qsbr_, r.token, false) == 1) {
      r.grace_over = true;
      grace_ended = true;
    }
  }
  if (grace_ended) drain();  // records of a generation past its grace period are all in the rings by now
  size_t freed = 0;
  std::erase_if(retiring_, [&](const Retiring& r) {
    if (!r.grace_over || r.ruleset->generation->streams_open() != 0) return false;
    ++freed;
    return true;
  });
  pending_.store(retiring_.size(), std::memory_order_relaxed);
  return freed;
}

std::shared_ptr<const Ruleset> RulesetPublisher::current_shared() const {
  const std::lock_guard lock(mu_);
  return current_;
}

const AlertCatalog& RulesetPublisher::catalog(uint32_t generation) const noexcept {
  for (const Retiring& r : retiring_) {
    if (static_cast<uint32_t>(r.ruleset->generation->number()) == generation) return *r.ruleset->catalog;
  }
  return *current_->catalog;
}

}  // namespace sentinel::dataplane

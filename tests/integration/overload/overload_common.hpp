// What the overload and exhaustion scenarios share. Each scenario is its own gtest
// executable with its own EAL (--no-huge, a file prefix of its own, so meson runs them side
// by side) that drives a real Worker over ring-backed ports (net_ring: pointer handoff, so
// rates are of the packet path plus the test's own frame building, never a NIC figure).
// Every scenario checks the worker's frame accounting — each frame received is either
// forwarded or dropped with a counted reason, every reason checked — and prints its figures
// as one JSON object on stdout. Nothing is asserted against time.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "config/builtin.hpp"
#include "config/config.hpp"
#include "dataplane/checksum.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/drop_reason.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/ports.hpp"
#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "rules/compiler.hpp"
#include "rules/filter.hpp"
#include "rules/loader.hpp"
#include "rules/policy.hpp"
#include "rules/policy_classifier.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel::overload {

using Json = nlohmann::ordered_json;
using dataplane::DropReason;

// Built with AddressSanitizer (GCC defines this under -fsanitize=address).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

// ---------------------------------------------------------------------------------------
// EAL

// main() of a scenario: the unit tests' (a private EAL, `extra` arguments such as --vdev),
// with the stream allocator installed before `setup`.
inline int run_with_eal(int argc, char** argv, const std::string& name, unsigned memory_mb,
                        const std::vector<std::string>& extra = {}, const std::function<void()>& setup = {}) {
  const std::string memory = std::to_string(memory_mb);
  return test::run_tests_with_eal(
      argc, argv, name, memory.c_str(),
      [&] {
        dataplane::install_stream_allocator();
        if (setup) setup();
      },
      extra);
}

// ---------------------------------------------------------------------------------------
// Memory

struct Memory {
  double rss_mib = 0;  // VmRSS
  double hwm_mib = 0;  // VmHWM (peak resident)
};

inline Memory read_memory() {
  Memory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_mib = std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_mib = std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return m;
}

inline double round2(double v) { return static_cast<double>(static_cast<int64_t>(v * 100.0 + (v < 0 ? -0.5 : 0.5))) / 100.0; }

// Allocates every free mbuf of `pool`, writes its whole buffer and frees it again, so that
// the pool is resident before a memory baseline is taken (the default mempool hands mbufs
// out in FIFO order: a long run would otherwise touch the last of them only later).
inline void touch_pool(rte_mempool* pool) {
  std::vector<rte_mbuf*> all;
  for (rte_mbuf* m; (m = rte_pktmbuf_alloc(pool)) != nullptr;) {
    std::memset(m->buf_addr, 0, m->buf_len);
    all.push_back(m);
  }
  for (rte_mbuf* m : all) rte_pktmbuf_free(m);
}

// ---------------------------------------------------------------------------------------
// Frames

inline constexpr uint8_t kVendorMac[6] = {2, 0, 0, 0, 0, 2};
inline constexpr uint8_t kCoreMac[6] = {2, 0, 0, 0, 0, 1};

inline constexpr uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

inline void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }

namespace tcp {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kPshAck = 0x18;
inline constexpr uint8_t kSynAck = 0x12;
}  // namespace tcp

// An IPv4 TCP or UDP packet (addresses and ports in host byte order).
struct Packet {
  bool from_vendor = true;  // arrives on the vendor port (direction to_core), else the core port
  uint32_t src = 0;
  uint32_t dst = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 6;
  uint8_t flags = tcp::kPshAck;  // TCP only
  uint32_t seq = 0;              // TCP only
  uint32_t ack = 0;              // TCP only
};

inline constexpr uint32_t kHeadersTcp = 14 + 20 + 20;
inline constexpr uint32_t kHeadersUdp = 14 + 20 + 8;

// Writes the frame of `k` carrying `payload` at `out` (room for headers + payload) with
// correct checksums; returns its length.
inline uint32_t write_frame(uint8_t* out, const Packet& k, std::string_view payload) {
  const uint32_t l4_len = (k.proto == 6 ? 20u : 8u) + static_cast<uint32_t>(payload.size());
  const uint32_t total = 14 + 20 + l4_len;
  std::memset(out, 0, total - payload.size());
  std::memcpy(out, k.from_vendor ? kCoreMac : kVendorMac, 6);
  std::memcpy(out + 6, k.from_vendor ? kVendorMac : kCoreMac, 6);
  put16(out + 12, 0x0800);
  uint8_t* ip = out + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + l4_len));
  ip[8] = 64;
  ip[9] = k.proto;
  put32(ip + 12, k.src);
  put32(ip + 16, k.dst);
  const uint16_t ipc = dataplane::internet_checksum(ip, 20);
  std::memcpy(ip + 10, &ipc, 2);
  uint8_t* t = ip + 20;
  put16(t, k.sport);
  put16(t + 2, k.dport);
  size_t ck_at = 6;
  if (k.proto == 6) {
    put32(t + 4, k.seq);
    put32(t + 8, k.ack);
    t[12] = 5 << 4;
    t[13] = k.flags;
    put16(t + 14, 65535);
    ck_at = 16;
  } else {
    put16(t + 4, static_cast<uint16_t>(l4_len));
  }
  if (!payload.empty()) std::memcpy(t + (k.proto == 6 ? 20 : 8), payload.data(), payload.size());
  const uint16_t c = dataplane::l4_checksum(ip + 12, ip + 16, false, k.proto, t, l4_len);
  std::memcpy(t + ck_at, &c, 2);
  return total;
}

// The frame in an mbuf of `pool`; nullptr when the pool is empty.
inline rte_mbuf* make_frame(rte_mempool* pool, const Packet& k, std::string_view payload = {}) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  const uint32_t len = (k.proto == 6 ? kHeadersTcp : kHeadersUdp) + static_cast<uint32_t>(payload.size());
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    throw std::length_error("frame larger than an mbuf");
  }
  (void)write_frame(p, k, payload);
  return m;
}

// ---------------------------------------------------------------------------------------
// Ports

// A port backed by two rings: the test enqueues frames on `rx` for the worker and dequeues
// what the worker sent from `tx`. A ring of size n holds n - 1 frames.
struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t id = 0;
};

inline RingPort make_ring_port(const std::string& name, rte_mempool* pool, unsigned rx_size, unsigned tx_size) {
  RingPort p;
  p.rx = rte_ring_create((name + "_rx").c_str(), rx_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "_tx").c_str(), tx_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (p.rx == nullptr || p.tx == nullptr) throw std::runtime_error("rte_ring_create(" + name + ")");
  const int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
  if (id < 0) throw std::runtime_error("rte_eth_from_rings(" + name + ")");
  p.id = static_cast<uint16_t>(id);
  (void)dataplane::start_port(name, p.id, {1, 1024, 1024}, pool);
  return p;
}

// Dequeues and frees every mbuf waiting in `r`; returns how many.
inline uint64_t free_all(rte_ring* r) {
  uint64_t n = 0;
  void* objs[256];
  for (unsigned got; (got = rte_ring_dequeue_burst(r, objs, 256, nullptr)) != 0;) {
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objs), got);
    n += got;
  }
  return n;
}

// Enqueues `m` on `r`; throws when the ring is full (the scenarios size their rings).
inline void enqueue(rte_ring* r, rte_mbuf* m) {
  if (m == nullptr) throw std::runtime_error("no mbuf to enqueue");
  if (rte_ring_enqueue(r, m) != 0) throw std::runtime_error("rx ring full");
}

// ---------------------------------------------------------------------------------------
// The sentinel under test

// The configuration, signatures, policy, filters and the worker built from them (the
// worker last: it is destroyed before what its setup points to).
struct Sentinel {
  config::Config cfg;
  std::shared_ptr<const rules::RuleSet> rules;
  std::unique_ptr<rules::Policy> policy;
  std::unique_ptr<rules::PolicyClassifier> classifier;
  std::unique_ptr<dataplane::FilterSet> filters;
  std::unique_ptr<dataplane::Worker> worker;

  [[nodiscard]] const dataplane::WorkerCounters& counters() const { return worker->counters(); }
};

inline const rules::ClassificationTable& classifications() {
  static const rules::ClassificationTable table =
      rules::load_classifications_text(config::kBuiltinClassification, config::kBuiltinClassificationName);
  return table;
}

// Builds a worker between `vendor` and `core` from sentinel.toml text `config_toml` (the
// built-in defaults where it says nothing), signatures `rules_toml`, a policy and
// [[filter]] tables (each off when empty). `id` must be unique in the process.
inline std::unique_ptr<Sentinel> make_sentinel(const std::string& config_toml, const std::string& rules_toml,
                                               const std::string& policy_toml, const std::string& filters_toml,
                                               uint16_t vendor, uint16_t core, uint32_t id) {
  auto s = std::make_unique<Sentinel>();
  s->cfg = config::load_config_text(config_toml, "overload.toml");
  if (!rules_toml.empty()) {
    s->rules = rules::compile_rules(rules::load_rules_text(rules_toml, "rules.toml", classifications()), {});
  }
  if (!policy_toml.empty()) {
    std::optional<rules::Policy> p = rules::load_policy_texts({{"policy.toml", policy_toml}});
    if (!p) throw std::runtime_error("no [policy] table");
    s->policy = std::make_unique<rules::Policy>(std::move(*p));
    s->classifier = std::make_unique<rules::PolicyClassifier>(*s->policy, "ovl" + std::to_string(id));
  }
  if (!filters_toml.empty()) {
    s->filters = dataplane::compile_filters(rules::load_filter_texts({{"filters.toml", filters_toml}}), "/nonexistent");
  }
  const dataplane::Inspection inspection{s->rules.get(), s->policy.get(), s->classifier.get(), false,
                                         s->filters.get()};
  const dataplane::WorkerSetup setup = dataplane::worker_setup(s->cfg, vendor, core, 0, inspection);
  s->worker = std::make_unique<dataplane::Worker>(setup, id);
  return s;
}

// Polls until both rx rings are empty (every frame taken by the worker). Returns the polls.
inline uint64_t poll_until_empty(dataplane::Worker& w, const RingPort& vendor, const RingPort& core,
                                 const std::function<void()>& after_poll = {}) {
  uint64_t polls = 0;
  while (rte_ring_count(vendor.rx) + rte_ring_count(core.rx) != 0) {
    const uint32_t n = w.poll_once();
    ++polls;
    if (after_poll) after_poll();
    if (n == 0) throw std::runtime_error("frames waiting but the worker received none");
  }
  return polls;
}

// ---------------------------------------------------------------------------------------
// Accounting

struct Accounting {
  uint64_t rx = 0;         // frames received, both directions
  uint64_t forwarded = 0;  // frames sent on, both directions
  uint64_t dropped = 0;    // the directions' dropped counters
  uint64_t drops = 0;      // Σ drops by reason
  std::array<uint64_t, dataplane::kDropReasonCount> by_reason{};
};

inline Accounting accounting(const dataplane::WorkerCounters& c) {
  Accounting a;
  for (const dataplane::DirectionCounters& d : c.dir) {
    a.rx += d.rx_packets.get();
    a.forwarded += d.forwarded.get();
    a.dropped += d.dropped.get();
  }
  for (size_t r = 0; r < dataplane::kDropReasonCount; ++r) {
    a.by_reason[r] = c.drops[r].get();
    a.drops += a.by_reason[r];
  }
  return a;
}

// frames in = forwarded + Σ drops by reason, with `frames_in` what the test fed the worker
// (nullopt: what it received, when a PMD generates the frames), and every reason's count
// exactly as `expected` says (reasons not listed: 0).
inline void expect_accounting(const dataplane::WorkerCounters& c, std::optional<uint64_t> frames_in,
                              std::initializer_list<std::pair<DropReason, uint64_t>> expected) {
  const Accounting a = accounting(c);
  if (frames_in) {
    EXPECT_EQ(a.rx, *frames_in) << "frames received = frames sent";
  }
  EXPECT_EQ(a.rx, a.forwarded + a.drops) << "frames in = forwarded + drops by reason";
  EXPECT_EQ(a.dropped, a.drops) << "the directions' dropped counters = drops by reason";
  std::array<uint64_t, dataplane::kDropReasonCount> want{};
  for (const auto& [reason, n] : expected) want[static_cast<size_t>(reason)] = n;
  for (size_t r = 0; r < dataplane::kDropReasonCount; ++r) {
    EXPECT_EQ(a.by_reason[r], want[r]) << "drops with reason " << dataplane::kDropReasonNames[r];
  }
}

inline uint64_t drops(const dataplane::WorkerCounters& c, DropReason r) { return c.drops[static_cast<size_t>(r)].get(); }
inline uint64_t passed(const dataplane::WorkerCounters& c, DropReason r) {
  return c.malformed_passed[static_cast<size_t>(r)].get();
}

inline uint64_t alerts_generated(const dataplane::WorkerCounters& c) {
  uint64_t n = 0;
  for (const auto& by_action : c.inspect.alerts) {
    for (const dataplane::Counter& x : by_action) n += x.get();
  }
  return n;
}

inline uint64_t alerts_of(const dataplane::WorkerCounters& c, dataplane::AlertSource s, rules::Action a) {
  return c.inspect.alerts[static_cast<size_t>(s)][static_cast<size_t>(a)].get();
}

// The counters as JSON: frames, drops by reason and fail-open passes (non-zero ones), flow
// table events, alerts.
inline Json counters_json(const dataplane::WorkerCounters& c) {
  const Accounting a = accounting(c);
  Json drops_by = Json::object();
  Json passed_by = Json::object();
  for (size_t r = 0; r < dataplane::kDropReasonCount; ++r) {
    if (a.by_reason[r] != 0) drops_by[std::string(dataplane::kDropReasonNames[r])] = a.by_reason[r];
    if (c.malformed_passed[r].get() != 0) passed_by[std::string(dataplane::kDropReasonNames[r])] = c.malformed_passed[r].get();
  }
  const dataplane::FlowTableCounters& f = c.flows;
  return {{"frames_in", a.rx},
          {"forwarded", a.forwarded},
          {"dropped", a.drops},
          {"drops", drops_by},
          {"passed_fail_open", passed_by},
          {"flows", {{"created", f.created.get()},
                     {"expired", f.expired.get()},
                     {"evicted_timeout", f.evicted_timeout.get()},
                     {"evicted_embryonic_pressure", f.evicted_embryonic_pressure.get()},
                     {"table_full", f.table_full.get()},
                     {"removed", f.removed.get()}}},
          {"alerts_generated", alerts_generated(c)},
          {"alerts_dropped", c.inspect.alerts_dropped.get()}};
}

// The flow table's occupancy from its event counters (FlowTotals::active()); exact when read
// on the thread that polls the worker, between polls.
inline uint64_t table_size(const dataplane::WorkerCounters& c) {
  const dataplane::FlowTableCounters& f = c.flows;
  return f.created.get() - f.expired.get() - f.evicted_timeout.get() - f.evicted_embryonic_pressure.get() -
         f.removed.get();
}

// Prints the scenario's figures as one JSON object on a line of its own.
inline void print_figures(const std::string& scenario, Json figures) {
  Json out = {{"scenario", scenario}, {"build", kAsan ? "asan" : "plain"}};
  for (auto it = figures.begin(); it != figures.end(); ++it) out[it.key()] = it.value();
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
}

}  // namespace sentinel::overload

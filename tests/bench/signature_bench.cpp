// Signature pipeline benchmark (prints JSON; asserts nothing about speed).
//
// Traffic: TCP flows carrying printable text in IMIX-sized segments (7:4:1 of 10, 540 and
// 1460 payload bytes), both directions, replayed through the real Worker on ring-backed
// ports (pointer handoff: no I/O cost). Rules: 1,000 literal contents and 100 regexes, a
// few of which occur in the traffic. Four measurements over the same frames, in one run:
//   io_only      rx_burst → tx_burst, nothing else (the ring ports' own cost)
//   forwarding   the Worker with an empty rule set: parse, flows, reassembly, verdict, tx
//   pipeline     the Worker with the rules: everything, Hyperscan included
//   raw_scan     hs_scan_stream over the same payloads (in the same mbufs), same database,
//                scratch and a callback that looks at the rule: the scanning limit
// Target: pipeline time <= (raw_scan + forwarding) / 0.9. A first, untimed pass warms up
// (flows created, stream state and buffers touched). Each figure is the median of
// several repetitions, with min and max. Checksums are not verified here (the frames'
// sequence numbers are rewritten between passes so streams continue; see below).
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dataplane/stream_pool.hpp"
#include "dataplane/worker.hpp"
#include "rules/compiler.hpp"
#include "rules/loader.hpp"
#include "tests/bench/bench_common.hpp"

using namespace sentinel;
using namespace sentinel::dataplane;
using bench::Figures;
using bench::put16;
using bench::put32;

namespace {

constexpr uint32_t kFlows = 128;
constexpr uint32_t kSegmentsPerFlow = 48;  // per direction; frames fit the mbuf pool
constexpr int kPasses = 10;                // passes over the frames per repetition
constexpr int kRepeats = 5;

struct Segment {
  uint32_t flow;
  bool to_vendor;
  uint32_t offset;  // in the direction's stream
  std::string payload;
};

std::string random_text(std::mt19937& rng, size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /=&?.:-_\r\n";
  std::uniform_int_distribution<size_t> pick(0, sizeof kAlphabet - 2);
  std::string s(n, ' ');
  for (char& c : s) c = kAlphabet[pick(rng)];
  return s;
}

constexpr uint32_t kHeaders = 14 + 20 + 20;

void write_frame(uint8_t* f, const Segment& s, uint32_t seq) {
  std::memset(f, 0, kHeaders);
  put16(f + 12, 0x0800);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(40 + s.payload.size()));
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t vendor[4] = {10, 0, static_cast<uint8_t>(s.flow >> 8), static_cast<uint8_t>(s.flow)};
  const uint8_t core[4] = {192, 168, 1, 1};
  std::memcpy(ip + 12, s.to_vendor ? core : vendor, 4);
  std::memcpy(ip + 16, s.to_vendor ? vendor : core, 4);
  uint8_t* t = ip + 20;
  put16(t, static_cast<uint16_t>(s.to_vendor ? 40000 + s.flow : 80));
  put16(t + 2, static_cast<uint16_t>(s.to_vendor ? 80 : 40000 + s.flow));
  put32(t + 4, seq);
  put32(t + 8, 1);
  t[12] = 5 << 4;
  t[13] = 0x18;
  put16(t + 14, 65535);
  std::memcpy(t + 20, s.payload.data(), s.payload.size());
}

}  // namespace

int main() {
  if (!bench::start_eal("signature_bench", "bench-sig", 1024)) return 1;
  install_stream_allocator();

  // Traffic, then rules: literals that mostly do not occur, a few taken from the traffic.
  std::mt19937 rng(12345);
  std::vector<Segment> segments;
  std::vector<uint32_t> stream_len(kFlows * 2, 0);
  const uint32_t imix[] = {10, 10, 10, 10, 10, 10, 10, 540, 540, 540, 540, 1460};
  for (uint32_t k = 0; k < kSegmentsPerFlow; ++k) {
    for (uint32_t f = 0; f < kFlows; ++f) {
      for (bool to_vendor : {true, false}) {
        const uint32_t len = imix[rng() % std::size(imix)];
        uint32_t& at = stream_len[f * 2 + (to_vendor ? 0 : 1)];
        segments.push_back({f, to_vendor, at, random_text(rng, len)});
        at += len;
      }
    }
  }
  std::string rules_toml;
  for (int i = 0; i < 1000; ++i) {
    std::string lit = i % 100 == 0 ? segments[static_cast<size_t>(i) * 7].payload.substr(0, 8)
                                   : "lit" + std::to_string(i) + "-" + random_text(rng, 6);
    std::string escaped;
    for (char c : lit) {
      if (c == '"' || c == '\\' || c == '|' || c == '\r' || c == '\n') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "|%02x|", static_cast<unsigned char>(c));
        escaped += hex;
      } else {
        escaped += c;
      }
    }
    rules_toml += "[[rule]]\nsid = " + std::to_string(100000 + i) + "\nmsg = \"literal " + std::to_string(i) +
                  "\"\nproto = \"tcp\"\nmatch = [{ content = \"" + escaped + "\" }]\n";
  }
  for (int i = 0; i < 100; ++i) {
    rules_toml += "[[rule]]\nsid = " + std::to_string(200000 + i) + "\nmsg = \"regex " + std::to_string(i) +
                  "\"\nproto = \"tcp\"\nmatch = [{ pcre = '(?i)user" + std::to_string(i) +
                  "[=:][a-z0-9]{4,16}&(pass|pwd)=\\S{6,}' }]\n";
  }
  const rules::ClassificationTable classes = rules::load_classifications(SENTINEL_SOURCE_DIR "/config/classification.toml");
  const auto set = rules::compile_rules(rules::load_rules_text(rules_toml, "bench.toml", classes), {});
  const auto empty = rules::compile_rules({}, {});

  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  const bench::RingPort vendor = bench::make_ring_port("vendor", pool);
  const bench::RingPort core = bench::make_ring_port("core", pool);
  const size_t n_frames = segments.size();
  std::vector<rte_mbuf*> mbufs(n_frames);
  uint64_t payload_bytes = 0;
  for (size_t i = 0; i < n_frames; ++i) {
    mbufs[i] = rte_pktmbuf_alloc(pool);
    auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(mbufs[i], static_cast<uint16_t>(kHeaders + segments[i].payload.size())));
    write_frame(f, segments[i], 1 + segments[i].offset);
    payload_bytes += segments[i].payload.size();
  }

  config::Config cfg;
  cfg.flows.capacity = 4096;
  cfg.flows.verify_checksums = false;  // sequence numbers are rewritten between passes
  cfg.flows.inspect_depth = 0;         // every pass is scanned
  cfg.dataplane.burst_size = 32;

  // One pass: every frame once, in order, through rx → worker → tx; returns seconds.
  // Sequence numbers move on by each stream's length per pass so the streams continue.
  auto run_pass = [&](auto&& poll, int pass) {
    for (size_t i = 0; i < n_frames; ++i) {
      const Segment& s = segments[i];
      const uint32_t len = stream_len[s.flow * 2 + (s.to_vendor ? 0 : 1)];
      put32(rte_pktmbuf_mtod(mbufs[i], uint8_t*) + 14 + 20 + 4, 1 + s.offset + static_cast<uint32_t>(pass) * len);
    }
    const auto t0 = std::chrono::steady_clock::now();
    size_t i = 0;
    while (i < n_frames) {
      // Runs of one direction, at most a ring's worth, as replay feeds them.
      size_t j = i;
      while (j < n_frames && j - i < 4096 && segments[j].to_vendor == segments[i].to_vendor) ++j;
      rte_ring* rx = segments[i].to_vendor ? core.rx : vendor.rx;
      rte_ring* tx = segments[i].to_vendor ? vendor.tx : core.tx;
      (void)rte_ring_enqueue_bulk(rx, reinterpret_cast<void**>(&mbufs[i]), static_cast<unsigned>(j - i), nullptr);
      while (rte_ring_count(rx) != 0) poll();
      (void)rte_ring_dequeue_bulk(tx, reinterpret_cast<void**>(&mbufs[i]), static_cast<unsigned>(j - i), nullptr);
      i = j;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  auto measure_worker = [&](const rules::RuleSet* rs, uint64_t* alerts) {
    Figures fig;
    for (int r = 0; r < kRepeats; ++r) {
      Worker w(worker_setup(cfg, vendor.id, core.id, 0, {rs}), static_cast<uint32_t>(r));
      double secs = 0;
      for (int p = 0; p <= kPasses; ++p) {  // pass 0 warms up: flows created, pages touched
        const double t = run_pass([&w] { (void)w.poll_once(); }, p);
        if (p > 0) secs += t;
        bench::drain_alerts(w);
      }
      if (alerts != nullptr) *alerts = bench::alerts_generated(w.counters());
      fig.seconds.push_back(secs);
    }
    return fig;
  };

  // io_only: the ring ports' own cost.
  Figures io;
  for (int r = 0; r < kRepeats; ++r) {
    double secs = 0;
    rte_mbuf* burst[32];
    for (int p = 1; p <= kPasses; ++p) {
      secs += run_pass([&] {
        for (auto [from, to] : {std::pair{core.id, vendor.id}, std::pair{vendor.id, core.id}}) {
          const uint16_t n = rte_eth_rx_burst(from, 0, burst, 32);
          if (n != 0) (void)rte_eth_tx_burst(to, 0, burst, n);
        }
      }, p);
    }
    io.seconds.push_back(secs);
  }
  const Figures forwarding = measure_worker(empty.get(), nullptr);
  uint64_t pipeline_alerts = 0;
  const Figures pipeline = measure_worker(set.get(), &pipeline_alerts);

  // raw_scan: the same payloads through hs_scan_stream, a stream per flow direction.
  Figures raw;
  uint64_t raw_matches = 0;
  rules::Scratch scratch;
  (void)scratch.allocate_for(*set);
  for (int r = 0; r < kRepeats; ++r) {
    std::vector<rules::Stream> streams(kFlows * 2);
    for (rules::Stream& s : streams) (void)rules::open_stream(*set, s);
    uint64_t matches = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int p = 0; p <= kPasses; ++p) {
      if (p == 1) {  // pass 0 warms up, as for the worker
        matches = 0;
        t0 = std::chrono::steady_clock::now();
      }
      for (size_t i = 0; i < n_frames; ++i) {
        const Segment& s = segments[i];
        // The payload where the pipeline reads it: in the frame's mbuf.
        (void)rules::scan_stream(*set, streams[s.flow * 2 + (s.to_vendor ? 0 : 1)], scratch,
                                 rte_pktmbuf_mtod_offset(mbufs[i], const uint8_t*, kHeaders), s.payload.size(),
                                 [&](const rules::CompiledRule& rule, uint64_t) noexcept {
                                   matches += rule.src_nets.include.empty() && rule.dst_ports.empty();
                                 });
      }
    }
    raw.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    raw_matches = matches;
  }

  const double frames = static_cast<double>(n_frames) * kPasses;
  const double bytes = static_cast<double>(payload_bytes) * kPasses;
  auto block = [&](const char* name, const Figures& f, bool last) {
    const double med = f.median();
    std::printf("  \"%s\": {\"seconds_median\": %.6f, \"seconds_min\": %.6f, \"seconds_max\": %.6f, "
                "\"mpps\": %.3f, \"payload_gbps\": %.3f, \"ns_per_frame\": %.1f}%s\n",
                name, med, f.min(), f.max(), frames / med / 1e6, bytes * 8 / med / 1e9, med / frames * 1e9,
                last ? "" : ",");
  };
  std::printf("{\n  \"flows\": %u, \"frames_per_pass\": %zu, \"passes\": %d, \"repeats\": %d,\n", kFlows * 2,
              n_frames, kPasses, kRepeats);
  std::printf("  \"payload_bytes_per_pass\": %llu, \"rules\": {\"literal\": 1000, \"regex\": 100},\n",
              static_cast<unsigned long long>(payload_bytes));
  std::printf("  \"stream_state_bytes\": %zu, \"pipeline_alerts\": %llu, \"raw_scan_matches\": %llu,\n",
              set->stream_state_size(), static_cast<unsigned long long>(pipeline_alerts),
              static_cast<unsigned long long>(raw_matches));
  block("io_only", io, false);
  block("forwarding", forwarding, false);
  block("raw_scan", raw, false);
  block("pipeline", pipeline, false);
  const double combined = raw.median() + forwarding.median();
  std::printf("  \"pipeline_vs_scan_plus_forwarding\": %.3f,\n", combined / pipeline.median());
  std::printf("  \"target\": 0.9\n}\n");

  bench::stop_eal();
  return 0;
}

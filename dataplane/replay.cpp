// Offline replay (see replay.hpp).
#include "dataplane/replay.hpp"

#include <pcap/pcap.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>

#include "dataplane/alerts.hpp"
#include "dataplane/eve.hpp"
#include "dataplane/filters.hpp"
#include "dataplane/metrics.hpp"
#include "dataplane/policy.hpp"
#include "dataplane/parser.hpp"
#include "dataplane/ports.hpp"
#include "dataplane/ruleset.hpp"
#include "dataplane/setup_error.hpp"
#include "dataplane/worker.hpp"

namespace sentinel::dataplane {
namespace {

constexpr unsigned kPoolMbufs = 8191;  // matches the EAL memory planned for replay
constexpr unsigned kRingSize = 4096;
constexpr unsigned kChunk = 1024;      // frames fed before the worker drains them
constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kSllHeader = 16;
constexpr uint32_t kNullHeader = 4;
constexpr uint32_t kSnapLen = 262144;
constexpr std::array<uint8_t, 6> kSyntheticDst = {0x02, 0, 0, 0, 0, 0x02};
constexpr std::array<uint8_t, 6> kSyntheticSrc = {0x02, 0, 0, 0, 0, 0x01};

uint16_t ethertype_of_ip(const uint8_t* ip, uint32_t len) {
  return len > 0 && (ip[0] >> 4) == 6 ? 0x86dd : 0x0800;
}

// BSD loopback: the address family in the capturing host's byte order.
uint16_t ethertype_of_af(const uint8_t* h, const uint8_t* ip, uint32_t ip_len) {
  uint32_t le = 0;
  std::memcpy(&le, h, 4);
  const uint32_t be = __builtin_bswap32(le);
  for (uint32_t af : {le, be}) {
    if (af == 2) return 0x0800;
    if (af == 10 || af == 24 || af == 28 || af == 30) return 0x86dd;
  }
  return ethertype_of_ip(ip, ip_len);
}

// Converts one captured frame of `link_type` to Ethernet in `out`. Returns the frame's
// length on the wire after conversion. A frame shorter than its own link header becomes
// an empty frame, which the parser reports as eth_truncated.
uint32_t to_ethernet(int link_type, const pcap_pkthdr& h, const uint8_t* data,
                     std::vector<uint8_t>& out) {
  out.clear();
  if (link_type == DLT_EN10MB) {
    out.assign(data, data + h.caplen);
    return h.len;
  }
  uint32_t strip = 0;
  uint16_t type = 0;
  std::array<uint8_t, 6> src = kSyntheticSrc;
  switch (link_type) {
    case DLT_LINUX_SLL:
      strip = kSllHeader;
      if (h.caplen >= kSllHeader) {
        type = static_cast<uint16_t>(data[14] << 8 | data[15]);
        if ((data[4] << 8 | data[5]) == 6) std::memcpy(src.data(), data + 6, 6);
      }
      break;
    case DLT_NULL:
    case DLT_LOOP:
      strip = kNullHeader;
      if (h.caplen >= kNullHeader) {
        type = ethertype_of_af(data, data + kNullHeader, h.caplen - kNullHeader);
      }
      break;
    case DLT_IPV4:
      type = 0x0800;
      break;
    case DLT_IPV6:
      type = 0x86dd;
      break;
    default:  // DLT_RAW
      type = ethertype_of_ip(data, h.caplen);
      break;
  }
  if (h.caplen < strip) return 0;
  out.insert(out.end(), kSyntheticDst.begin(), kSyntheticDst.end());
  out.insert(out.end(), src.begin(), src.end());
  out.push_back(static_cast<uint8_t>(type >> 8));
  out.push_back(static_cast<uint8_t>(type));
  out.insert(out.end(), data + strip, data + h.caplen);
  return h.len - strip + kEthHeader;
}

// Copies `frame` into a chain of mbufs from `pool`. Returns nullptr when the pool is dry.
rte_mbuf* build_mbuf(rte_mempool* pool, const std::vector<uint8_t>& frame) {
  rte_mbuf* head = nullptr;
  rte_mbuf* tail = nullptr;
  size_t done = 0;
  do {
    rte_mbuf* seg = rte_pktmbuf_alloc(pool);
    if (seg == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const auto n = static_cast<uint16_t>(std::min<size_t>(frame.size() - done, rte_pktmbuf_tailroom(seg)));
    std::memcpy(rte_pktmbuf_mtod(seg, uint8_t*), frame.data() + done, n);
    seg->data_len = n;
    seg->pkt_len = n;
    if (head == nullptr) {
      head = seg;
    } else {
      tail->next = seg;
      ++head->nb_segs;
      head->pkt_len += n;
    }
    tail = seg;
    done += n;
  } while (done < frame.size());
  return head;
}

const char* link_type_name(int link_type) {
  const char* name = pcap_datalink_val_to_name(link_type);
  return name != nullptr ? name : "unknown";
}

// The two replay ports: ring-backed ethdevs whose rx rings replay fills and whose tx rings
// it drains.
struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t port = 0;
};

RingPort make_ring_port(const std::string& side) {
  RingPort p;
  const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
  p.rx = check_ptr(rte_ring_create(("rp_" + side + "_rx").c_str(), kRingSize, SOCKET_ID_ANY, flags),
                   "rte_ring_create(replay " + side + " rx)");
  p.tx = check_ptr(rte_ring_create(("rp_" + side + "_tx").c_str(), kRingSize, SOCKET_ID_ANY, flags),
                   "rte_ring_create(replay " + side + " tx)");
  p.port = static_cast<uint16_t>(check_rte(
      rte_eth_from_rings(("replay_" + side).c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY),
      "rte_eth_from_rings(replay " + side + ")"));
  return p;
}

// Writes forwarded frames with their capture timestamps (nanosecond pcap, Ethernet).
class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path) {
    if (path.empty()) return;
    dead_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLen, PCAP_TSTAMP_PRECISION_NANO);
    if (dead_ == nullptr) throw SetupError("pcap_open_dead: out of memory");
    dumper_ = pcap_dump_open(dead_, path.c_str());
    if (dumper_ == nullptr) {
      const std::string why = pcap_geterr(dead_);
      pcap_close(dead_);
      throw SetupError("-w " + path + ": " + why);
    }
  }
  ~PcapWriter() {
    if (dumper_ != nullptr) pcap_dump_close(dumper_);
    if (dead_ != nullptr) pcap_close(dead_);
  }
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(const rte_mbuf* m, uint64_t ts_ns, uint32_t wire_len) {
    if (dumper_ == nullptr) return;
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(ts_ns / 1000000000ULL);
    h.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1000000000ULL);  // nanoseconds here
    h.caplen = m->pkt_len;
    h.len = wire_len;
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    if (m->nb_segs > 1) {
      linear_.resize(m->pkt_len);
      data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, m->pkt_len, linear_.data()));
    }
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, data);
  }
  void finish() {
    if (dumper_ != nullptr && pcap_dump_flush(dumper_) != 0) {
      throw SetupError("-w: cannot write the output file (disk full?)");
    }
  }

 private:
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  std::vector<uint8_t> linear_;
};

}  // namespace

void PcapSource::Closer::operator()(pcap* p) const noexcept { pcap_close(p); }

PcapSource::PcapSource(const std::string& path) : path_(path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_.reset(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err));
  if (!pcap_) throw SetupError("-r " + path + ": " + err);
  link_type_ = pcap_datalink(pcap_.get());
  switch (link_type_) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
      return;
    default:
      throw SetupError("-r " + path + ": unsupported link type " + link_type_name(link_type_) + " (" +
                       std::to_string(link_type_) +
                       "); replay reads EN10MB, LINUX_SLL, RAW, IPV4, IPV6, NULL and LOOP");
  }
}

std::string libpcap_version() { return pcap_lib_version(); }

bool from_vendor_side(const uint8_t* frame, uint32_t captured,
                      const std::vector<config::Cidr>& vendor_nets) noexcept {
  if (vendor_nets.empty()) return false;
  PacketInfo info;
  (void)parse_frame(frame, captured, captured, info);
  // The source is read where the header keeps it, even when the header is malformed: the
  // sender wrote it, and a malformed frame must be judged by its side's failure policy.
  uint32_t at = 0;
  bool v6 = false;
  switch (info.l3) {
    case L3::kIpv4: at = info.l3_offset + 12u; break;
    case L3::kIpv6: at = info.l3_offset + 8u; v6 = true; break;
    case L3::kArp: at = info.l3_offset + 14u; break;
    case L3::kOther: return false;
  }
  if (at + (v6 ? 16u : 4u) > captured) return false;
  for (const config::Cidr& net : vendor_nets) {
    if (net.contains(v6, frame + at)) return true;
  }
  return false;
}

ReplayResult run_replay(PcapSource& source, const config::Config& config, const ReplayOptions& options,
                        const LoadedSignatures& signatures, const std::function<bool()>& should_stop) {
  rte_mempool* pool = check_ptr(
      rte_pktmbuf_pool_create("replay_pool", kPoolMbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                              static_cast<int>(rte_socket_id())),
      "rte_pktmbuf_pool_create(replay)");
  int ts_field = -1;
  uint64_t ts_flag = 0;
  (void)check_rte(rte_mbuf_dyn_rx_timestamp_register(&ts_field, &ts_flag),
                  "rte_mbuf_dyn_rx_timestamp_register");
  static const rte_mbuf_dynfield kWireLen = {"sentinel_wire_len", sizeof(uint32_t),
                                             alignof(uint32_t), 0};
  const int wire_field = check_rte(rte_mbuf_dynfield_register(&kWireLen),
                                   "rte_mbuf_dynfield_register(sentinel_wire_len)");
  static const rte_mbuf_dynfield kFrameNumber = {"sentinel_frame_number", sizeof(uint64_t),
                                                 alignof(uint64_t), 0};
  const int number_field = check_rte(rte_mbuf_dynfield_register(&kFrameNumber),
                                     "rte_mbuf_dynfield_register(sentinel_frame_number)");

  RingPort vendor = make_ring_port("vendor");
  RingPort core = make_ring_port("core");
  const PortSettings settings{1, 1024, 1024};
  spdlog::debug("{}", start_port("vendor", vendor.port, settings, pool));
  spdlog::debug("{}", start_port("core", core.port, settings, pool));

  const std::unique_ptr<ActivePolicy> policy = activate_policy(signatures.policy, !options.learn_policy.empty());
  const rules::Policy* rules_policy = policy ? &policy->policy : nullptr;
  const std::unique_ptr<FilterSet> filters = compile_filters(signatures.filters, filters_dir(config));
  WorkerSetup setup = worker_setup(config, vendor.port, core.port, 0,
                                   {signatures.set.get(), rules_policy, policy ? policy->classifier.get() : nullptr,
                                    policy && policy->learn(), filters.get()});
  setup.wire_len_field = wire_field;
  setup.timestamp_field = ts_field;
  setup.frame_number_field = number_field;
  auto worker = std::make_unique<Worker>(setup, 0);
  EveWriter eve(config.log.dir);
  const AlertCatalog catalog(signatures.set.get(), signatures.classes, rules_policy, signatures.filters);
  AlertDrain alerts(eve, [&catalog](uint32_t) -> const AlertCatalog& { return catalog; });
  AlertRing* rings[] = {&worker->alerts()};
  PcapWriter writer(options.out_pcap);
  std::optional<MetricsServer> metrics;
  if (!options.metrics_listen.empty()) {
    MetricsSnapshot facts = build_facts();
    facts.signatures_loaded = signatures.set->rule_count();
    facts.allows_loaded = rules_policy != nullptr ? rules_policy->allows.size() : 0;
    facts.filters_loaded = signatures.filters.size();
    facts.ruleset.hash = ruleset_hash(signatures, filters.get());
    const Generation* generation = &worker->generation();  // a replay runs one, for good
    metrics.emplace(
        options.metrics_listen,
        [facts, &worker, &vendor, &core, &eve] {
          const WorkerCounters* counters[] = {&worker->counters()};
          MetricsSnapshot snap = take_snapshot(facts, vendor.port, core.port, counters);
          snap.alert_write_errors = eve.write_errors();
          return snap;
        },
        options.rule_metrics ? rule_counts_source([generation] {
          return std::shared_ptr<const Generation>(std::shared_ptr<const Generation>{}, generation);
        })
                             : std::function<RuleCountsSnapshot()>{});
    spdlog::info("metrics: http://{}/metrics", options.metrics_listen);
  }

  ReplayResult result;
  RunStats& stats = result.stats;
  stats.mode = "replay";

  // Processes everything fed so far, writes what was forwarded in capture order (frames
  // leave through two tx rings; a reject frame carries its trigger's number), and writes
  // the alerts raised.
  std::vector<rte_mbuf*> sent;
  auto frame_number = [number_field](const rte_mbuf* m) {
    return *RTE_MBUF_DYNFIELD(m, number_field, const uint64_t*);
  };
  auto drain = [&] {
    while (rte_ring_count(vendor.rx) + rte_ring_count(core.rx) != 0) {
      (void)worker->poll_once();
      (void)alerts.drain(rings);
    }
    std::array<void*, 64> out{};
    sent.clear();
    for (rte_ring* tx : {vendor.tx, core.tx}) {
      unsigned n = 0;
      while ((n = rte_ring_dequeue_burst(tx, out.data(), out.size(), nullptr)) != 0) {
        for (unsigned i = 0; i < n; ++i) sent.push_back(static_cast<rte_mbuf*>(out[i]));
      }
    }
    std::stable_sort(sent.begin(), sent.end(),
                     [&](const rte_mbuf* a, const rte_mbuf* b) { return frame_number(a) < frame_number(b); });
    for (rte_mbuf* m : sent) {
      writer.write(m, *RTE_MBUF_DYNFIELD(m, ts_field, rte_mbuf_timestamp_t*),
                   *RTE_MBUF_DYNFIELD(m, wire_field, uint32_t*));
      rte_pktmbuf_free(m);
    }
  };

  struct stat st{};
  const double file_size = ::stat(source.path().c_str(), &st) == 0 ? static_cast<double>(st.st_size) : 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  std::vector<uint8_t> frame;
  RingPort* chunk_port = nullptr;
  unsigned chunk = 0;
  for (;;) {
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(source.handle(), &h, &data);
    if (rc == PCAP_ERROR_BREAK) break;
    if (rc != 1) {
      result.read_error = pcap_geterr(source.handle());
      break;
    }
    ++stats.frames_read;
    const uint32_t wire_len = to_ethernet(source.link_type(), *h, data, frame);
    RingPort* port = from_vendor_side(frame.data(), static_cast<uint32_t>(frame.size()),
                                      options.vendor_nets)
                         ? &vendor
                         : &core;
    if (chunk == kChunk || (chunk != 0 && port != chunk_port)) {
      drain();
      chunk = 0;
    }
    rte_mbuf* m = build_mbuf(pool, frame);
    if (m == nullptr) {  // every fed frame is still in flight: drain, then try once more
      drain();
      chunk = 0;
      m = build_mbuf(pool, frame);
    }
    if (m == nullptr) {
      ++stats.rx_nombuf;
      continue;
    }
    *RTE_MBUF_DYNFIELD(m, ts_field, rte_mbuf_timestamp_t*) =
        static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(h->ts.tv_usec);
    m->ol_flags |= ts_flag;
    *RTE_MBUF_DYNFIELD(m, wire_field, uint32_t*) = wire_len;
    *RTE_MBUF_DYNFIELD(m, number_field, uint64_t*) = stats.frames_read;
    (void)rte_ring_enqueue(port->rx, m);  // cannot fail: a chunk is smaller than the ring
    chunk_port = port;
    ++chunk;
    if (stats.frames_read % 512 == 0) {
      if (should_stop()) {
        spdlog::warn("replay interrupted after {} frames", stats.frames_read);
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::seconds(5)) {
        last_progress = now;
        const long pos = std::ftell(pcap_file(source.handle()));
        spdlog::info("replay: {} frames read ({:.0f}%)", stats.frames_read,
                     file_size > 0 && pos >= 0 ? 100.0 * static_cast<double>(pos) / file_size : 0.0);
      }
    }
  }
  drain();
  worker->give_up_fragments();
  drain();
  writer.finish();
  eve.close();
  stats.alerts_written = alerts.written();
  stats.alert_write_errors = eve.write_errors();
  stats.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const WorkerCounters* counters[] = {&worker->counters()};
  stats.totals = sum_counters(counters);
  if (policy && policy->learn()) {
    const std::string out = options.learn_policy.empty() ? config.log.dir + "/learned-policy.toml" : options.learn_policy;
    const LearnTable* tables[] = {worker->learn_table()};
    const LearnedSummary learned = write_learned_policy_file(tables, policy->policy, out, "capture " + source.path());
    spdlog::info("policy: learned {} observation(s) of {} flow(s), written to {}", learned.observations,
                 learned.flows, out);
  }
  stop_port(vendor.port);
  stop_port(core.port);
  return result;
}

}  // namespace sentinel::dataplane

// [failure] flow_table_full, both ways, with and without the communication policy. The
// table ([flows] capacity 1,024) is filled with established UDP flows (query and answer);
// one more flow left embryonic shows that a full table evicts an embryonic flow before it
// refuses anything. Then every slot holds an established flow that has not timed out, and
// each new flow is refused (flows.table_full counts it):
//   "pass": the refused frame is judged on its own, without a flow — filters and the
//           policy still run, signatures cannot (no stream, no scan): an [[allow]]ed
//           5-tuple (either orientation: a reply too) is forwarded, one no allow permits is
//           dropped with reason policy under default = "drop" and alerted (gid 2), one a
//           drop filter matches is dropped with reason filter; without a policy every
//           refused frame is forwarded. Each refused frame forwarded or judged is counted in
//           malformed_passed[flow_table_full] (the fail-open count).
//   "drop": every refused frame is dropped with reason flow_table_full, allowed or not,
//           without a policy alert; the drop filter still comes first (reason filter: such
//           a frame never reaches the table).
// In every case the established flows keep flowing both ways, and frames in = forwarded +
// drops by reason, every reason checked. Prints the figures of each case.
#include "tests/integration/overload/overload_common.hpp"

namespace {

using namespace sentinel;
using namespace sentinel::overload;
using dataplane::AlertRecord;
using dataplane::Worker;

constexpr uint32_t kCapacity = 1024;
constexpr uint32_t kPolicySid = 1000042;

rte_mempool* g_pool = nullptr;
RingPort g_vendor, g_core;
uint32_t g_next_id = 0;

constexpr uint32_t kVendorBox = ip4(10, 0, 0, 2);
constexpr uint32_t kDns = ip4(192, 168, 1, 53);    // allowed: UDP 53 from the vendor
constexpr uint32_t kOther = ip4(192, 168, 1, 99);  // listed nowhere

std::string config_text(const char* action) {
  return std::string("[flows]\ncapacity = 1024\ntimeout_embryonic = 3600\ntimeout_established = 3600\n\n") +
         "[failure]\nflow_table_full = \"" + action + "\"\n";
}

const char* const kPolicy = R"([policy]
mode = "enforce"
default = "drop"
default_sid = 1000042

[[allow]]
name = "dns"
from = "vendor"
proto = "udp"
dst_nets = ["192.168.1.53/32"]
dst_ports = [53]
)";

// A per-packet signature: a refused datagram is still scanned, packet by packet.
const char* const kRules = R"([[rule]]
sid = 1
msg = "secret"
action = "drop"
proto = "udp"
match = [{ content = "SECRET" }]
)";

const char* const kFilters = R"([[filter]]
name = "port 7777"
expr = "udp dst port 7777"
action = "drop"
sid = 3000001
msg = "udp to port 7777"
)";

Packet udp(bool from_vendor, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  Packet k;
  k.from_vendor = from_vendor;
  k.proto = 17;
  k.src = src;
  k.sport = sport;
  k.dst = dst;
  k.dport = dport;
  return k;
}

struct Harness {
  std::unique_ptr<Sentinel> s;
  uint64_t frames_in = 0;
  uint64_t out_core = 0;
  uint64_t out_vendor = 0;

  // Sends `frames` (each with its payload) in one burst on one port; returns how many left
  // the other port.
  uint64_t send(const std::vector<std::pair<Packet, std::string>>& frames) {
    for (const auto& [k, payload] : frames) enqueue(k.from_vendor ? g_vendor.rx : g_core.rx, make_frame(g_pool, k, payload));
    frames_in += frames.size();
    (void)poll_until_empty(*s->worker, g_vendor, g_core);
    const uint64_t c = free_all(g_core.tx);
    const uint64_t v = free_all(g_vendor.tx);
    out_core += c;
    out_vendor += v;
    return c + v;
  }
  uint64_t send_one(const Packet& k, const std::string& payload = "query") { return send({{k, payload}}); }

  std::vector<AlertRecord> alerts() {
    std::vector<AlertRecord> v(64);
    v.resize(s->worker->alerts().pop(v.data(), 64));
    return v;
  }
};

void run_case(const char* action, bool with_policy) {
  const bool drop = std::string(action) == "drop";
  const unsigned pool_start = rte_mempool_avail_count(g_pool);
  Harness h;
  h.s = make_sentinel(config_text(action), kRules, with_policy ? kPolicy : "", kFilters, g_vendor.id, g_core.id,
                      g_next_id++);
  const dataplane::WorkerCounters& c = h.s->counters();
  ASSERT_EQ(c.flow_capacity.get(), kCapacity);

  // capacity - 1 established flows: a query from the vendor box to the DNS server, its answer.
  for (uint32_t base = 0; base < kCapacity - 1; base += 32) {
    std::vector<std::pair<Packet, std::string>> queries;
    std::vector<std::pair<Packet, std::string>> answers;
    for (uint32_t i = base; i < base + 32 && i < kCapacity - 1; ++i) {
      const auto port = static_cast<uint16_t>(10000 + i);
      queries.emplace_back(udp(true, kVendorBox, port, kDns, 53), "query");
      answers.emplace_back(udp(false, kDns, 53, kVendorBox, port), "answer");
    }
    ASSERT_EQ(h.send(queries), queries.size());
    ASSERT_EQ(h.send(answers), answers.size());
  }
  // The last slot: an embryonic flow (a query never answered).
  const Packet embryonic = udp(true, kVendorBox, 20000, kDns, 53);
  ASSERT_EQ(h.send_one(embryonic), 1u);
  ASSERT_EQ(table_size(c), kCapacity);
  // A new flow with the table full: the embryonic flow makes room, nothing is refused.
  const Packet newcomer = udp(true, kVendorBox, 20001, kDns, 53);
  EXPECT_EQ(h.send_one(newcomer), 1u);
  EXPECT_EQ(c.flows.evicted_embryonic_pressure.get(), 1u);
  EXPECT_EQ(c.flows.table_full.get(), 0u);
  EXPECT_EQ(h.send_one(udp(false, kDns, 53, kVendorBox, 20001), "answer"), 1u);
  ASSERT_EQ(table_size(c), kCapacity) << "now every slot holds an established flow";
  EXPECT_TRUE(h.alerts().empty());

  // New flows now: each is refused.
  struct Refused {
    const char* what;
    Packet k;
    std::string payload;
    bool forwarded_if_pass;  // with "pass" (judged statelessly)
    DropReason reason_if_pass;
  };
  const std::vector<Refused> cases = {
      {"allowed 5-tuple", udp(true, kVendorBox, 30000, kDns, 53), "query", true, DropReason::kNone},
      {"reply orientation of an allowed 5-tuple", udp(false, kDns, 53, kVendorBox, 30004), "answer", true,
       DropReason::kNone},
      {"no allow", udp(true, kVendorBox, 30001, kOther, 4444), "exfiltrated", !with_policy,
       with_policy ? DropReason::kPolicy : DropReason::kNone},
      {"allowed, carrying a drop signature (scanned per packet without a flow)",
       udp(true, kVendorBox, 30002, kDns, 53), "SECRET", false, DropReason::kSignature},
      {"the evicted embryonic flow again", embryonic, "query", true, DropReason::kNone},
  };
  uint64_t expect_policy_drops = 0;
  uint64_t expect_signature_drops = 0;
  uint64_t expect_refused = 0;
  Json outcomes = Json::array();
  for (const Refused& r : cases) {
    const uint64_t full_before = c.flows.table_full.get();
    const uint64_t out = h.send_one(r.k, r.payload);
    const bool forwarded = out == 1;
    EXPECT_EQ(c.flows.table_full.get(), full_before + 1) << r.what << ": refused by the full table";
    ++expect_refused;
    const bool want_forwarded = !drop && r.forwarded_if_pass;
    EXPECT_EQ(forwarded, want_forwarded) << r.what;
    const std::vector<AlertRecord> a = h.alerts();
    if (!drop && r.reason_if_pass == DropReason::kPolicy) {
      ++expect_policy_drops;
      ASSERT_EQ(a.size(), 1u) << r.what << ": the policy's alert";
      EXPECT_EQ(a[0].gid, rules::kGidPolicy);
      EXPECT_EQ(a[0].sid, kPolicySid);
      EXPECT_EQ(a[0].action, rules::Action::kDrop);
      EXPECT_EQ(a[0].verdict, dataplane::Verdict::kDropped);
      EXPECT_EQ(a[0].flow_id, 0u) << "no flow";
    } else if (!drop && r.reason_if_pass == DropReason::kSignature) {
      ++expect_signature_drops;
      ASSERT_EQ(a.size(), 1u) << r.what << ": the signature's alert";
      EXPECT_EQ(a[0].gid, 1u);
      EXPECT_EQ(a[0].sid, 1u);
      EXPECT_EQ(a[0].verdict, dataplane::Verdict::kDropped);
      EXPECT_EQ(a[0].flow_id, 0u) << "no flow";
    } else {
      EXPECT_TRUE(a.empty()) << r.what;
    }
    outcomes.push_back({{"frame", r.what}, {"forwarded", forwarded}});
  }
  // A frame a drop filter matches never reaches the table, whatever the setting.
  {
    const uint64_t full_before = c.flows.table_full.get();
    EXPECT_EQ(h.send_one(udp(true, kVendorBox, 30003, kOther, 7777), "x"), 0u);
    EXPECT_EQ(c.flows.table_full.get(), full_before) << "filtered before the flow lookup";
    (void)h.alerts();  // the filter's own alert
    outcomes.push_back({{"frame", "drop filter match"}, {"forwarded", false}});
  }

  // The established flows keep flowing, both ways.
  const uint64_t full_before = c.flows.table_full.get();
  for (uint32_t i = 0; i < kCapacity - 1; i += 97) {
    const auto port = static_cast<uint16_t>(10000 + i);
    EXPECT_EQ(h.send_one(udp(true, kVendorBox, port, kDns, 53), "again"), 1u);
    EXPECT_EQ(h.send_one(udp(false, kDns, 53, kVendorBox, port), "answer again"), 1u);
  }
  EXPECT_EQ(c.flows.table_full.get(), full_before) << "established flows are found, never refused";
  EXPECT_EQ(table_size(c), kCapacity);
  EXPECT_EQ(c.flows.table_full.get(), expect_refused);

  // Accounting: every reason.
  const uint64_t refused = expect_refused;
  if (drop) {
    expect_accounting(c, h.frames_in, {{DropReason::kFlowTableFull, refused}, {DropReason::kFilter, 1}});
    EXPECT_EQ(passed(c, DropReason::kFlowTableFull), 0u);
  } else {
    expect_accounting(c, h.frames_in,
                      {{DropReason::kPolicy, expect_policy_drops}, {DropReason::kSignature, expect_signature_drops},
                       {DropReason::kFilter, 1}});
    EXPECT_EQ(passed(c, DropReason::kFlowTableFull), refused) << "each refused frame judged statelessly is counted";
  }
  EXPECT_EQ(accounting(c).forwarded, h.out_core + h.out_vendor);
  EXPECT_EQ(c.inspect.alerts_dropped.get(), 0u);
  const unsigned pool_end = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(pool_end, pool_start);

  print_figures(std::string("flow_table_full_") + action + (with_policy ? "_policy" : "_no_policy"),
                {{"setting", action},
                 {"policy", with_policy ? "default drop, one [[allow]]" : "off"},
                 {"table_capacity", kCapacity},
                 {"table_size", table_size(c)},
                 {"refused", c.flows.table_full.get()},
                 {"passed_fail_open", passed(c, DropReason::kFlowTableFull)},
                 {"outcomes", outcomes},
                 {"mbufs", {{"start", pool_start}, {"end", pool_end}}},
                 {"counters", counters_json(c)}});
}

}  // namespace

TEST(FlowTableFull, PassWithPolicy) { run_case("pass", true); }
TEST(FlowTableFull, DropWithPolicy) { run_case("drop", true); }
TEST(FlowTableFull, PassWithoutPolicy) { run_case("pass", false); }
TEST(FlowTableFull, DropWithoutPolicy) { run_case("drop", false); }

int main(int argc, char** argv) {
  return run_with_eal(argc, argv, "ovl-tablefull", 256, {}, [] {
    g_pool = rte_pktmbuf_pool_create("tablefull_pool", 4095, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_pool == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create");
    g_vendor = make_ring_port("vendor", g_pool, 1024, 1024);
    g_core = make_ring_port("core", g_pool, 1024, 1024);
  });
}

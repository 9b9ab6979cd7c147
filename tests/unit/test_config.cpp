// Unit tests of the configuration loader: the shipped sentinel.toml equals the built-in
// defaults, dump_config round-trips, every kind of bad input is rejected with the exact
// message and position an operator would see, and CIDRs parse, print and match strictly.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>

#include "config/cidr.hpp"
#include "config/config.hpp"

namespace sentinel::config {
namespace {

TEST(Config, ShippedFileEqualsDefaults) {
  const std::string path = SENTINEL_SOURCE_DIR "/config/sentinel.toml";
  const Config config = load_config_file(path);
  EXPECT_EQ(config, Config{});
  EXPECT_EQ(config.source, path);
}

TEST(Config, EmptyTextIsDefaults) {
  const Config config = load_config_text("", "empty.toml");
  EXPECT_EQ(config, Config{});
  EXPECT_EQ(config.source, "empty.toml");
}

TEST(Config, ReadsEveryKey) {
  const Config config = load_config_text(R"(
[ports]
vendor = "net_af_packet0,iface=veth-v,framecnt=4096"
core = "net_af_packet1,iface=veth-c"
[dataplane]
workers = 64
burst_size = 256
rx_descriptors = 64
tx_descriptors = 16384
mbufs = 1024
mbuf_cache = 0
hugepages = "off"
[log]
dir = "/tmp/s"
level = "critical"
[network]
vendor_nets = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]
[failure]
malformed_vendor = "pass"
malformed_core = "drop"
bad_checksum = "drop"
reassembly_overflow = "drop"
flow_table_full = "drop"
depth_reached = "drop"
frag_overlap = "pass"
frag_timeout = "pass"
[fragments]
timeout = 5
max_datagrams = 64
max_fragments = 128
max_datagram_size = 9000
[rules]
dir = "/srv/rules.d"
cache_dir = ""
classification = "/srv/classification.toml"
[flows]
capacity = 1024
inspect_depth = 0
reassembly_buffer = 0
stream_state_max = 65536
timeout_embryonic = 1
timeout_established = 604800
timeout_closed = 86400
verify_checksums = false
)",
                                         "t.toml");
  EXPECT_EQ(config.ports.vendor, "net_af_packet0,iface=veth-v,framecnt=4096");
  EXPECT_EQ(config.ports.core, "net_af_packet1,iface=veth-c");
  EXPECT_EQ(config.dataplane.workers, 64u);
  EXPECT_EQ(config.dataplane.burst_size, 256u);
  EXPECT_EQ(config.dataplane.rx_descriptors, 64u);
  EXPECT_EQ(config.dataplane.tx_descriptors, 16384u);
  EXPECT_EQ(config.dataplane.mbufs, 1024u);
  EXPECT_EQ(config.dataplane.mbuf_cache, 0u);
  EXPECT_EQ(config.dataplane.hugepages, Hugepages::kOff);
  EXPECT_EQ(config.log.dir, "/tmp/s");
  EXPECT_EQ(config.log.level, "critical");
  ASSERT_EQ(config.network.vendor_nets.size(), 3u);
  EXPECT_EQ(config.network.vendor_nets[0].to_string(), "192.0.2.0/24");
  EXPECT_EQ(config.network.vendor_nets[1].to_string(), "2001:db8::/32");
  EXPECT_EQ(config.network.vendor_nets[2].to_string(), "198.51.100.7/32");
  EXPECT_EQ(config.failure.malformed_vendor, FailAction::kPass);
  EXPECT_EQ(config.failure.malformed_core, FailAction::kDrop);
  EXPECT_EQ(config.failure.bad_checksum, FailAction::kDrop);
  EXPECT_EQ(config.failure.reassembly_overflow, FailAction::kDrop);
  EXPECT_EQ(config.failure.flow_table_full, FailAction::kDrop);
  EXPECT_EQ(config.failure.depth_reached, FailAction::kDrop);
  EXPECT_EQ(config.failure.frag_overlap, FailAction::kPass);
  EXPECT_EQ(config.failure.frag_too_many, FailAction::kDrop);
  EXPECT_EQ(config.failure.frag_timeout, FailAction::kPass);
  EXPECT_EQ(config.fragments, (FragmentsConfig{5, 64, 128, 9000}));
  EXPECT_EQ(config.rules.dir, "/srv/rules.d");
  EXPECT_EQ(config.rules.cache_dir, "");
  EXPECT_EQ(config.rules.classification, "/srv/classification.toml");
  EXPECT_EQ(config.flows.capacity, 1024u);
  EXPECT_EQ(config.flows.inspect_depth, 0u);
  EXPECT_EQ(config.flows.reassembly_buffer, 0u);
  EXPECT_EQ(config.flows.stream_state_max, 65536u);
  EXPECT_EQ(config.flows.timeout_embryonic, 1u);
  EXPECT_EQ(config.flows.timeout_established, 604800u);
  EXPECT_EQ(config.flows.timeout_closed, 86400u);
  EXPECT_FALSE(config.flows.verify_checksums);
}

TEST(Config, DumpRoundTripsNonDefault) {
  Config config;
  config.ports.vendor = "net_pcap0,rx_pcap=it's \"in\".pcap";
  config.ports.core = "0000:81:00.1";
  config.dataplane = {8, 64, 2048, 512, 65535, 0, Hugepages::kOn};
  config.log = {"/srv/log\twith tab/é", "debug"};
  std::string why;
  for (const char* text : {"10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0", "::1"}) {
    config.network.vendor_nets.push_back(parse_cidr(text, why).value());
  }
  config.failure = {FailAction::kPass, FailAction::kDrop, FailAction::kDrop, FailAction::kDrop, FailAction::kPass,
                    FailAction::kDrop, FailAction::kDrop, FailAction::kPass, FailAction::kPass, FailAction::kDrop, FailAction::kPass,
                    FailAction::kPass};
  config.fragments = {120, 16, 64, 1500};
  config.rules = {"/srv/r", "", "/srv/c.toml", "/srv/filters", 7};
  config.flows = {2048, 0, 8192, 4096, 5, 50, 7, false};
  ASSERT_NE(config, Config{});

  const std::string dumped = dump_config(config);
  EXPECT_EQ(load_config_text(dumped, "dump.toml"), config) << dumped;
  // Tables come in the schema's order.
  const size_t ports = dumped.find("[ports]"), dataplane = dumped.find("[dataplane]"),
               log = dumped.find("[log]"), network = dumped.find("[network]"),
               failure = dumped.find("[failure]");
  EXPECT_EQ(ports, 0u) << dumped;
  EXPECT_LT(ports, dataplane);
  EXPECT_LT(dataplane, log);
  EXPECT_LT(log, network);
  EXPECT_LT(network, failure);
  EXPECT_NE(failure, std::string::npos);
}

TEST(Config, DumpOfDefaultsListsEveryKey) {
  const std::string dumped = dump_config(Config{});
  for (const char* line :
       {"vendor = '0000:03:00.0'", "core = '0000:04:00.0'", "workers = 1", "burst_size = 32",
        "rx_descriptors = 1024", "tx_descriptors = 1024", "mbufs = 16383", "mbuf_cache = 256",
        "hugepages = 'auto'", "dir = '/var/log/sentinel'", "level = 'info'", "vendor_nets = []",
        "malformed_vendor = 'drop'", "malformed_core = 'pass'", "bad_checksum = 'pass'",
        "reassembly_overflow = 'pass'", "dir = '/etc/sentinel/rules.d'",
        "cache_dir = '/var/cache/sentinel'", "classification = ''", "capacity = 65536",
        "inspect_depth = 1048576", "reassembly_buffer = 4096", "stream_state_max = 4096",
        "timeout_embryonic = 30", "timeout_established = 600", "timeout_closed = 10",
        "verify_checksums = true", "flow_table_full = 'pass'", "depth_reached = 'pass'", "frag_overlap = 'drop'", "frag_too_many = 'drop'",
        "frag_oversize = 'drop'", "frag_timeout = 'drop'", "frag_table_full = 'drop'", "timeout = 30",
        "max_datagrams = 1024", "max_fragments = 2048", "max_datagram_size = 65535"}) {
    EXPECT_NE(dumped.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n"
                                                                               << dumped;
  }
  EXPECT_EQ(load_config_text(dumped, "dump.toml"), Config{});
}

struct BadInput {
  const char* what;
  const char* text;
  const char* error;  // the exact what()
};

void PrintTo(const BadInput& input, std::ostream* out) { *out << input.what; }

class ConfigBadInput : public testing::TestWithParam<BadInput> {};

TEST_P(ConfigBadInput, IsRejectedWithPosition) {
  try {
    (void)load_config_text(GetParam().text, "bad.toml");
    FAIL() << "accepted: " << GetParam().text;
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), GetParam().error);
    EXPECT_EQ(e.pos().file, "bad.toml");
  }
}

const BadInput kBadInputs[] = {
    {"unknown_key", "[dataplane]\nworkers = 2\n  foo = 1\n",
     "bad.toml:3:3: unknown key 'foo' in [dataplane]"},
    {"unknown_key_first_in_file", "[log]\nzz = 1\naa = 2\n",
     "bad.toml:2:1: unknown key 'zz' in [log]"},
    {"unknown_subtable", "[dataplane.extra]\nx = 1\n",
     "bad.toml:1:12: unknown key 'extra' in [dataplane]"},
    {"unknown_table", "[ports]\n[dataplan]\nworkers = 2\n",
     "bad.toml:2:2: unknown table [dataplan]"},
    {"unknown_top_level_key", "workers = 2\n", "bad.toml:1:1: unknown key 'workers' at top level"},
    {"table_not_a_table", "dataplane = 4\n",
     "bad.toml:1:13: dataplane: expected a table, got integer"},
    {"wrong_type_string", "[dataplane]\nworkers = \"4\"\n",
     "bad.toml:2:11: dataplane.workers: expected an integer, got string"},
    {"wrong_type_float", "[dataplane]\nmbufs = 2048.0\n",
     "bad.toml:2:9: dataplane.mbufs: expected an integer, got float"},
    {"wrong_type_integer", "[log]\ndir = 5\n",
     "bad.toml:2:7: log.dir: expected a string, got integer"},
    {"wrong_type_array", "[network]\nvendor_nets = \"10.0.0.0/8\"\n",
     "bad.toml:2:15: network.vendor_nets: expected an array, got string"},
    {"wrong_type_element", "[network]\nvendor_nets = [\"10.0.0.0/8\", 7]\n",
     "bad.toml:2:30: network.vendor_nets[1]: expected a string, got integer"},
    {"out_of_range_low", "[dataplane]\nworkers = 0\n",
     "bad.toml:2:11: dataplane.workers: 0 is out of range 1..64"},
    {"out_of_range_high", "[dataplane]\nburst_size = 257\n",
     "bad.toml:2:14: dataplane.burst_size: 257 is out of range 1..256"},
    {"out_of_range_negative", "[dataplane]\nmbuf_cache = -1\n",
     "bad.toml:2:14: dataplane.mbuf_cache: -1 is out of range 0..512"},
    {"out_of_range_huge", "[dataplane]\nmbufs = 9223372036854775807\n",
     "bad.toml:2:9: dataplane.mbufs: 9223372036854775807 is out of range 1024..4194304"},
    {"not_power_of_two", "[dataplane]\nrx_descriptors = 1000\n",
     "bad.toml:2:18: dataplane.rx_descriptors: 1000 is not a power of two"},
    {"bad_enum_hugepages", "[dataplane]\nhugepages = \"yes\"\n",
     "bad.toml:2:13: dataplane.hugepages: 'yes' is not one of auto, on, off"},
    {"bad_enum_level", "[log]\nlevel = \"warn\"\n",
     "bad.toml:2:9: log.level: 'warn' is not one of trace, debug, info, warning, error, critical, "
     "off"},
    {"bad_enum_failure", "[failure]\nmalformed_core = \"Drop\"\n",
     "bad.toml:2:18: failure.malformed_core: 'Drop' is not one of pass, drop"},
    {"bad_enum_frag", "[failure]\nfrag_overlap = \"ignore\"\n",
     "bad.toml:2:16: failure.frag_overlap: 'ignore' is not one of pass, drop"},
    {"fragments_timeout_zero", "[fragments]\ntimeout = 0\n", "bad.toml:2:11: fragments.timeout: 0 is out of range 1..600"},
    {"fragments_unknown_key", "[fragments]\nmax_frags = 9\n", "bad.toml:2:1: unknown key 'max_frags' in [fragments]"},
    {"empty_string", "[ports]\nvendor = \"\"\n", "bad.toml:2:10: ports.vendor: must not be empty"},
    {"empty_rules_dir", "[rules]\ndir = \"\"\n", "bad.toml:2:7: rules.dir: must not be empty"},
    {"flows_capacity_low", "[flows]\ncapacity = 10\n",
     "bad.toml:2:12: flows.capacity: 10 is out of range 1024..16777216"},
    {"flows_bool", "[flows]\nverify_checksums = \"no\"\n",
     "bad.toml:2:20: flows.verify_checksums: expected a boolean, got string"},
    {"unknown_flows_key", "[flows]\ntimeout = 5\n", "bad.toml:2:1: unknown key 'timeout' in [flows]"},
    {"cidr_host_bits", "[network]\nvendor_nets = [\"192.0.2.0/24\", \"::/0\", \"10.1.2.3/8\"]\n",
     "bad.toml:2:40: network.vendor_nets[2]: host bits set in 10.1.2.3/8 (did you mean "
     "10.0.0.0/8?)"},
    {"cidr_host_bits_v6", "[network]\nvendor_nets = [\"2001:db8::1/32\"]\n",
     "bad.toml:2:16: network.vendor_nets[0]: host bits set in 2001:db8::1/32 (did you mean "
     "2001:db8::/32?)"},
    {"cidr_bad_address", "[network]\nvendor_nets = [\"10.0.0.256/32\"]\n",
     "bad.toml:2:16: network.vendor_nets[0]: invalid address '10.0.0.256'"},
    {"cidr_bad_length", "[network]\nvendor_nets = [\"10.0.0.0/33\"]\n",
     "bad.toml:2:16: network.vendor_nets[0]: invalid prefix length '33' (IPv4 allows 0..32)"},
    {"vendor_equals_core", "[ports]\nvendor = \"x\"\ncore = \"x\"\n",
     "bad.toml:3:8: ports.core: must differ from ports.vendor (both are 'x')"},
    {"vendor_equals_default_core", "[ports]\nvendor = \"0000:04:00.0\"\n",
     "bad.toml:2:10: ports.vendor: must differ from ports.core (both are '0000:04:00.0')"},
    {"toml_syntax", "[dataplane]\nworkers = \n",
     "bad.toml:2:11: Error while parsing key-value pair: expected value, saw '\\n'"},
    {"toml_duplicate_key", "[log]\nlevel = \"info\"\nlevel = \"debug\"\n",
     "bad.toml:3:9: Error while parsing key-value pair: cannot redefine existing string 'level'"},
};

INSTANTIATE_TEST_SUITE_P(Table, ConfigBadInput, testing::ValuesIn(kBadInputs),
                         [](const testing::TestParamInfo<BadInput>& info) {
                           return std::string(info.param.what);
                         });

TEST(Config, MissingFile) {
  try {
    (void)load_config_file("/nonexistent/sentinel.toml");
    FAIL() << "accepted a missing file";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/sentinel.toml: cannot open: No such file or directory");
    EXPECT_EQ(e.pos().line, 0u);
  }
}

TEST(Config, DirectoryIsNotAFile) {
  EXPECT_THROW((void)load_config_file(SENTINEL_SOURCE_DIR "/config"), LoadError);
}

TEST(Config, EnumNames) {
  EXPECT_STREQ(to_string(Hugepages::kAuto), "auto");
  EXPECT_STREQ(to_string(Hugepages::kOn), "on");
  EXPECT_STREQ(to_string(Hugepages::kOff), "off");
  EXPECT_STREQ(to_string(FailAction::kPass), "pass");
  EXPECT_STREQ(to_string(FailAction::kDrop), "drop");
}

// Parses `text`, failing the test on a parse error.
Cidr cidr(const char* text) {
  std::string why;
  const std::optional<Cidr> parsed = parse_cidr(text, why);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << why;
  return parsed.value_or(Cidr{});
}

std::string cidr_error(const char* text) {
  std::string why;
  EXPECT_FALSE(parse_cidr(text, why).has_value()) << text;
  return why;
}

std::array<uint8_t, 4> v4(const char* text) {
  std::array<uint8_t, 4> bytes{};
  EXPECT_EQ(inet_pton(AF_INET, text, bytes.data()), 1) << text;
  return bytes;
}

std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> bytes{};
  EXPECT_EQ(inet_pton(AF_INET6, text, bytes.data()), 1) << text;
  return bytes;
}

TEST(Cidr, ParsesAndPrintsCanonically) {
  EXPECT_EQ(cidr("192.0.2.0/24").to_string(), "192.0.2.0/24");
  EXPECT_EQ(cidr("192.0.2.1").to_string(), "192.0.2.1/32");
  EXPECT_EQ(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
  EXPECT_EQ(cidr("2001:0DB8:0000::/32").to_string(), "2001:db8::/32");
  EXPECT_EQ(cidr("::/0").to_string(), "::/0");
  EXPECT_EQ(cidr("fe80::1").to_string(), "fe80::1/128");
  EXPECT_EQ(cidr("::ffff:192.0.2.0/120").to_string(), "::ffff:192.0.2.0/120");

  const Cidr net = cidr("10.20.0.0/14");
  EXPECT_FALSE(net.v6);
  EXPECT_EQ(net.prefix_len, 14);
  EXPECT_EQ(net.addr[0], 10);
  EXPECT_EQ(net.addr[1], 20);
  EXPECT_TRUE(cidr("::1").v6);
  EXPECT_EQ(cidr("::1").prefix_len, 128);
}

TEST(Cidr, RejectsStrictly) {
  EXPECT_EQ(cidr_error("10.1.2.3/8"), "host bits set in 10.1.2.3/8 (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(cidr_error("10.0.0.1/31"), "host bits set in 10.0.0.1/31 (did you mean 10.0.0.0/31?)");
  EXPECT_EQ(cidr_error("1.0.0.0/0"), "host bits set in 1.0.0.0/0 (did you mean 0.0.0.0/0?)");
  EXPECT_EQ(cidr_error("2001:db8::1/127"),
            "host bits set in 2001:db8::1/127 (did you mean 2001:db8::/127?)");
  EXPECT_EQ(cidr_error(""), "invalid address ''");
  EXPECT_EQ(cidr_error("10.0.0/8"), "invalid address '10.0.0'");
  EXPECT_EQ(cidr_error("example.com"), "invalid address 'example.com'");
  EXPECT_EQ(cidr_error(" 10.0.0.0/8"), "invalid address ' 10.0.0.0'");
  EXPECT_EQ(cidr_error("2001:db8::g/32"), "invalid address '2001:db8::g'");
  EXPECT_EQ(cidr_error("10.0.0.0/"), "invalid prefix length '' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("10.0.0.0/-1"), "invalid prefix length '-1' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("10.0.0.0/+8"), "invalid prefix length '+8' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("10.0.0.0/8 "), "invalid prefix length '8 ' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("10.0.0.0/8/8"), "invalid prefix length '8/8' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("10.0.0.0/99999999999"),
            "invalid prefix length '99999999999' (IPv4 allows 0..32)");
  EXPECT_EQ(cidr_error("::/129"), "invalid prefix length '129' (IPv6 allows 0..128)");
}

TEST(Cidr, ContainsV4) {
  const Cidr net = cidr("192.0.2.0/24");
  EXPECT_TRUE(net.contains(false, v4("192.0.2.0").data()));
  EXPECT_TRUE(net.contains(false, v4("192.0.2.255").data()));
  EXPECT_FALSE(net.contains(false, v4("192.0.3.0").data()));
  EXPECT_FALSE(net.contains(false, v4("192.0.1.255").data()));

  const Cidr odd = cidr("10.0.0.0/9");  // a prefix that ends inside a byte
  EXPECT_TRUE(odd.contains(false, v4("10.127.255.255").data()));
  EXPECT_FALSE(odd.contains(false, v4("10.128.0.0").data()));

  const Cidr host = cidr("198.51.100.7/32");
  EXPECT_TRUE(host.contains(false, v4("198.51.100.7").data()));
  EXPECT_FALSE(host.contains(false, v4("198.51.100.6").data()));

  const Cidr all = cidr("0.0.0.0/0");
  EXPECT_TRUE(all.contains(false, v4("0.0.0.0").data()));
  EXPECT_TRUE(all.contains(false, v4("255.255.255.255").data()));
  EXPECT_FALSE(all.contains(true, v6("::").data()));  // families never mix
}

TEST(Cidr, ContainsV6) {
  const Cidr net = cidr("2001:db8::/32");
  EXPECT_TRUE(net.contains(true, v6("2001:db8::").data()));
  EXPECT_TRUE(net.contains(true, v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff").data()));
  EXPECT_FALSE(net.contains(true, v6("2001:db9::").data()));
  EXPECT_FALSE(net.contains(false, v4("32.1.13.184").data()));  // same first bytes, IPv4

  const Cidr odd = cidr("2001:db8:8000::/33");
  EXPECT_TRUE(odd.contains(true, v6("2001:db8:ffff::1").data()));
  EXPECT_FALSE(odd.contains(true, v6("2001:db8:7fff::1").data()));

  const Cidr host = cidr("2001:db8::1/128");
  EXPECT_TRUE(host.contains(true, v6("2001:db8::1").data()));
  EXPECT_FALSE(host.contains(true, v6("2001:db8::2").data()));

  const Cidr all = cidr("::/0");
  EXPECT_TRUE(all.contains(true, v6("ffff::").data()));
  EXPECT_TRUE(all.contains(true, v6("::").data()));
  EXPECT_FALSE(all.contains(false, v4("0.0.0.0").data()));
}

}  // namespace
}  // namespace sentinel::config

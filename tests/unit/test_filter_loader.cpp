// Unit tests of the [[filter]] loader and of compiling filters for the dataplane: a filter
// with every key reads into the exact Filter, absent keys take their documented defaults,
// filters from several files keep load order and the direction index, and every kind of
// bad input — in the TOML (loader) or only visible to libpcap, the ELF reader or the
// validator (compile_filters) — is rejected with the message and file:line:col an
// operator would see. Brings up its own EAL (rte_bpf_convert allocates with rte_malloc).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/error.hpp"
#include "dataplane/filters.hpp"
#include "rules/filter.hpp"
#include "tests/unit/eal_main.hpp"

namespace sentinel {
namespace {

using config::LoadError;

std::vector<rules::Filter> load(const std::string& text) { return rules::load_filter_texts({{"f.toml", text}}); }

std::string load_error(const std::vector<std::pair<std::string, std::string>>& named_texts) {
  try {
    (void)rules::load_filter_texts(named_texts);
  } catch (const LoadError& e) {
    return e.what();
  }
  throw std::runtime_error("accepted: " + named_texts.front().second);
}

std::string compile_error(const std::string& text, const std::string& filters_dir = SENTINEL_FILTERS_BUILD_DIR) {
  const std::vector<rules::Filter> filters = load(text);
  try {
    (void)dataplane::compile_filters(filters, filters_dir);
  } catch (const LoadError& e) {
    return e.what();
  }
  throw std::runtime_error("compiled: " + text);
}

TEST(FilterLoader, EveryKeyReads) {
  const auto f = load(R"(
[[filter]]
name = "no-legacy-mgmt"
expr = "tcp dst port 23 or udp dst port 69"
action = "drop"
direction = "to_vendor"
sid = 3000001
rev = 4
msg = "legacy management protocol to vendor box"
severity = 1

[[filter]]
name = "dns-tunnel"
object = "dns_tunnel.bpf.o"
section = "classify"
args = { max_label = 52, acs = ["192.0.2.1", "10.0.0.1"], strict = true }
sid = 3000002
msg = "DNS query shaped like a tunnel"
)");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "no-legacy-mgmt");
  EXPECT_EQ(f[0].expr, "tcp dst port 23 or udp dst port 69");
  EXPECT_TRUE(f[0].object.empty());
  EXPECT_EQ(f[0].action, rules::Action::kDrop);
  EXPECT_EQ(f[0].direction, rules::Direction::kToVendor);
  EXPECT_EQ(f[0].sid, 3000001u);
  EXPECT_EQ(f[0].rev, 4u);
  EXPECT_EQ(f[0].msg, "legacy management protocol to vendor box");
  EXPECT_EQ(f[0].severity, 1);
  EXPECT_EQ(f[0].pos.line, 2u);
  EXPECT_EQ(f[0].source_pos.line, 4u);
  // Defaults: action alert, direction any, section "filter", rev 1, severity 2.
  EXPECT_EQ(f[1].object, "dns_tunnel.bpf.o");
  EXPECT_EQ(f[1].section, "classify");
  EXPECT_EQ(f[1].action, rules::Action::kAlert);
  EXPECT_EQ(f[1].direction, rules::Direction::kAny);
  EXPECT_EQ(f[1].rev, 1u);
  EXPECT_EQ(f[1].severity, 2);
  ASSERT_EQ(f[1].args.size(), 3u);
  const auto arg = [&](const char* name) -> const rules::FilterArg& {
    for (const rules::FilterArg& a : f[1].args) {
      if (a.name == name) return a;
    }
    throw std::runtime_error(std::string("no argument ") + name);
  };
  EXPECT_EQ(arg("max_label").values, std::vector<uint64_t>{52});
  EXPECT_EQ(arg("acs").values, (std::vector<uint64_t>{0xc0000201, 0x0a000001})) << "IPv4 addresses, host order";
  EXPECT_EQ(arg("strict").values, std::vector<uint64_t>{1});
  EXPECT_EQ(arg("acs").pos.line, 16u);
  EXPECT_EQ(arg("acs").pos.column, 26u);
}

TEST(FilterLoader, FilesKeepLoadOrderAndNamesAndSidsAreUniqueAcrossThem) {
  const auto f = rules::load_filter_texts({{"a.toml", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\n"},
                                           {"b.toml", "[[filter]]\nname='b'\nexpr='udp'\nsid=2\nmsg='b'\n"}});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "a");
  EXPECT_EQ(f[1].pos.file, "b.toml");
  EXPECT_EQ(load_error({{"a.toml", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\n"},
                        {"b.toml", "[[filter]]\nname='a'\nexpr='udp'\nsid=2\nmsg='b'\n"}}),
            "b.toml:2:6: filter.name: 'a' is already the name of the filter at a.toml:1");
  EXPECT_EQ(load_error({{"a.toml", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\n"},
                        {"b.toml", "[[filter]]\nname='b'\nexpr='udp'\nsid=1\nmsg='b'\n"}}),
            "b.toml:4:5: filter.sid: 1 is already the sid of filter 'a' (filters share gid 3)");
  EXPECT_TRUE(load("[[rule]]\nsid = 1\n").empty()) << "other tables are other loaders' business";
}

struct BadCase {
  const char* name;
  const char* toml;
  const char* error;
};

class FilterLoaderRejects : public testing::TestWithParam<BadCase> {};

TEST_P(FilterLoaderRejects, WithPosition) {
  EXPECT_EQ(load_error({{"f.toml", GetParam().toml}}), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FilterLoaderRejects,
    testing::Values(
        BadCase{"not_array", "filter = 1\n", "f.toml:1:10: filter: expected an array of tables ([[filter]]), got integer"},
        BadCase{"unknown_key", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\nproto='tcp'\n",
                "f.toml:6:1: unknown key 'proto' in filter"},
        BadCase{"no_name", "[[filter]]\nexpr='tcp'\nsid=1\nmsg='a'\n", "f.toml:1:1: missing required key 'name' in [[filter]]"},
        BadCase{"neither", "[[filter]]\nname='a'\nsid=1\nmsg='a'\n",
                "f.toml:1:1: filter 'a': one of 'expr' (pcap-filter syntax) or 'object' (an eBPF ELF file) is required"},
        BadCase{"both", "[[filter]]\nname='a'\nexpr='tcp'\nobject='x.o'\nsid=1\nmsg='a'\n",
                "f.toml:4:8: filter: both 'expr' and 'object': a filter is an expression or a C program, not both"},
        BadCase{"empty_expr", "[[filter]]\nname='a'\nexpr=''\nsid=1\nmsg='a'\n", "f.toml:3:6: filter.expr: must not be empty"},
        BadCase{"args_on_expr", "[[filter]]\nname='a'\nexpr='tcp'\nargs={x=1}\nsid=1\nmsg='a'\n",
                "f.toml:4:6: filter.args: only for 'object' filters (an expression takes none)"},
        BadCase{"reject", "[[filter]]\nname='a'\nexpr='tcp'\naction='reject'\nsid=1\nmsg='a'\n",
                "f.toml:4:8: filter.action: 'reject' is not one of alert, drop, pass"},
        BadCase{"direction", "[[filter]]\nname='a'\nexpr='tcp'\ndirection='in'\nsid=1\nmsg='a'\n",
                "f.toml:4:11: filter.direction: 'in' is not one of any, to_core, to_vendor"},
        BadCase{"no_sid", "[[filter]]\nname='a'\nexpr='tcp'\nmsg='a'\n", "f.toml:1:1: missing required key 'sid' in [[filter]] 'a'"},
        BadCase{"sid_zero", "[[filter]]\nname='a'\nexpr='tcp'\nsid=0\nmsg='a'\n",
                "f.toml:4:5: filter.sid: 0 is out of range 1..4294967295"},
        BadCase{"no_msg", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\n", "f.toml:1:1: missing required key 'msg' in [[filter]] 'a'"},
        BadCase{"severity", "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\nseverity=5\n",
                "f.toml:6:10: filter.severity: 5 is out of range 1..4"},
        BadCase{"negative_arg", "[[filter]]\nname='a'\nobject='x.o'\nargs={n=-1}\nsid=1\nmsg='a'\n",
                "f.toml:4:9: filter.args.n: -1 is negative (arguments are unsigned)"},
        BadCase{"address_arg", "[[filter]]\nname='a'\nobject='x.o'\nargs={acs=['10.0.0.0/8']}\nsid=1\nmsg='a'\n",
                "f.toml:4:12: filter.args.acs[0]: '10.0.0.0/8' is not an IPv4 address (argument strings are IPv4 addresses)"},
        BadCase{"float_arg", "[[filter]]\nname='a'\nobject='x.o'\nargs={n=1.5}\nsid=1\nmsg='a'\n",
                "f.toml:4:9: filter.args.n: expected an integer, a boolean or an IPv4 address string, got float"},
        BadCase{"empty_array_arg", "[[filter]]\nname='a'\nobject='x.o'\nargs={n=[]}\nsid=1\nmsg='a'\n",
                "f.toml:4:9: filter.args.n: an empty array (leave the argument out for its default)"}),
    [](const testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(FilterCompile, DirectionIndexesKeepLoadOrder) {
  const auto filters = load(
      "[[filter]]\nname='a'\nexpr='tcp'\nsid=1\nmsg='a'\n"
      "[[filter]]\nname='b'\nexpr='udp'\ndirection='to_core'\nsid=2\nmsg='b'\n"
      "[[filter]]\nname='c'\nexpr='icmp'\ndirection='to_vendor'\nsid=3\nmsg='c'\n"
      "[[filter]]\nname='d'\nexpr='arp'\nsid=4\nmsg='d'\n");
  const auto set = dataplane::compile_filters(filters, SENTINEL_FILTERS_BUILD_DIR);
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->to_core, (std::vector<uint16_t>{0, 1, 3}));
  EXPECT_EQ(set->to_vendor, (std::vector<uint16_t>{0, 2, 3}));
  EXPECT_EQ(set->interpreted, 0u) << "x86-64 has rte_bpf's JIT";
  for (const dataplane::ActiveFilter& f : set->filters) EXPECT_TRUE(f.program->jitted()) << f.spec.name;
  EXPECT_EQ(dataplane::compile_filters({}, SENTINEL_FILTERS_BUILD_DIR), nullptr);
}

TEST(FilterCompile, ErrorsNameTheKeyAndTheReason) {
  // libpcap's own words, at the expr key.
  EXPECT_EQ(compile_error("[[filter]]\nname='bad'\nexpr='tcp dst port'\nsid=1\nmsg='a'\n"),
            "f.toml:3:6: filter 'bad': can't parse filter expression: syntax error");
  EXPECT_EQ(compile_error("[[filter]]\nname='bad'\nexpr='tcp port 99999'\nsid=1\nmsg='a'\n"),
            "f.toml:3:6: filter 'bad': illegal port number 99999 > 65535");
  // Objects: missing, not ELF, missing section, unknown argument, too many values.
  const std::string missing = compile_error("[[filter]]\nname='o'\nobject='nope.bpf.o'\nsid=1\nmsg='a'\n", "/nonexistent");
  EXPECT_EQ(missing, "f.toml:3:8: filter 'o': /nonexistent/nope.bpf.o: cannot open: No such file or directory");
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("filter-loader-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "text.bpf.o") << "not an ELF file\n";
  EXPECT_EQ(compile_error("[[filter]]\nname='o'\nobject='text.bpf.o'\nsid=1\nmsg='a'\n", dir.string()),
            "f.toml:3:8: filter 'o': " + (dir / "text.bpf.o").string() + ": not an ELF object");
  std::filesystem::remove_all(dir);
  const std::string section =
      compile_error("[[filter]]\nname='o'\nobject='icmp_tunnel.bpf.o'\nsection='nope'\nsid=1\nmsg='a'\n");
  EXPECT_NE(section.find("f.toml:3:8: filter 'o': "), std::string::npos) << section;
  EXPECT_NE(section.find("no section 'nope' (code sections: "), std::string::npos) << section;
  const std::string arg =
      compile_error("[[filter]]\nname='o'\nobject='icmp_tunnel.bpf.o'\nargs={bogus=1}\nsid=1\nmsg='a'\n");
  EXPECT_EQ(arg.rfind("f.toml:4:7: filter.args.bogus: icmp_tunnel.bpf.o has no argument 'bogus' (it takes: ", 0), 0u)
      << arg;
  // A relative path is read from the rules file's directory.
  const std::string rel = compile_error("[[filter]]\nname='o'\nobject='sub/x.bpf.o'\nsid=1\nmsg='a'\n");
  EXPECT_NE(rel.find(": sub/x.bpf.o: cannot open"), std::string::npos) << rel;
}

}  // namespace
}  // namespace sentinel

int main(int argc, char** argv) { return sentinel::test::run_tests_with_eal(argc, argv, "test-filter-loader", "128"); }

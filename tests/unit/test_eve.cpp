// EVE alert lines: every line eve_alert_json() or EveWriter produces is parsed back with
// nlohmann::json and validated against the shared corpus's alert schema (Suricata's EVE
// schema, alert subset) by python3-jsonschema, the only JSON-schema validator Debian 12
// packages; a deliberately broken line shows that validation can fail.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/alert.hpp"
#include "dataplane/eve.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using sentinel::dataplane::AlertMeta;
using sentinel::dataplane::AlertRecord;
using sentinel::dataplane::Direction;
using sentinel::dataplane::EveWriter;
using sentinel::dataplane::Side;
using sentinel::dataplane::Verdict;
using sentinel::rules::Action;

namespace {

const std::string kSchema = SENTINEL_CORPUS_DIR "/eve/alert-schema.json";

// A fresh directory under the temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "test_eve.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << p;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Exit status of python3-jsonschema validating each line of `lines_file` against the
// schema: 0 all valid, 1 some line invalid (printed), 2 setup problem (e.g. no schema).
int validate_file(const fs::path& lines_file) {
  TempDir dir;
  const fs::path script = dir.path() / "validate.py";
  write_file(script, R"(import json, sys
import jsonschema
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
except Exception as e:
    print("schema:", e, file=sys.stderr)
    sys.exit(2)
bad = 0
with open(sys.argv[2], encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        try:
            validator.validate(json.loads(line))
        except Exception as e:
            print("line %d: %s" % (n, e), file=sys.stderr)
            bad += 1
sys.exit(1 if bad else 0)
)");
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + kSchema + "' '" +
                          lines_file.string() + "'";
  const int status = std::system(cmd.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

int validate_lines(const std::vector<std::string>& lines) {
  TempDir dir;
  const fs::path file = dir.path() / "lines.json";
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  write_file(file, text);
  return validate_file(file);
}

std::array<uint8_t, 16> v4(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
  return a;
}

std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

// 2026-11-29T17:42:37.123456789Z
constexpr uint64_t kTs = 1'795'974'157'123'456'789ull;

AlertRecord tcp4() {
  AlertRecord r;
  r.ts_ns = kTs;
  r.flow_id = (uint64_t{1} << 51) - 1;
  r.pcap_cnt = 0;
  r.gid = 1;
  r.sid = 2017172150;
  r.rev = 3;
  r.ip_version = 4;
  r.ip_proto = 6;
  r.src_addr = v4("192.0.2.10");
  r.dst_addr = v4("198.51.100.7");
  r.src_port = 49152;
  r.dst_port = 37215;
  r.in_iface = Side::kCore;
  r.direction = Direction::kToVendor;
  r.verdict = Verdict::kDropped;
  r.action = Action::kDrop;
  return r;
}

AlertMeta meta_basic() {
  AlertMeta m;
  m.signature = "Huawei HG532 UPnP command injection (CVE-2017-17215)";
  m.category = "Attempted Administrator Privilege Gain";
  m.severity = 1;
  m.metadata = {{"cve", {"CVE-2017-17215"}}, {"tag", {"backdoor", "iot"}}};
  return m;
}

json parse(const std::string& line) {
  EXPECT_EQ(line.find('\n'), std::string::npos);
  return json::parse(line);  // throws (failing the test) when not valid JSON
}

TEST(EveTimestamp, UtcMicrosecondsPlus0000) {
  EXPECT_EQ(sentinel::dataplane::eve_timestamp(kTs), "2026-11-29T17:42:37.123456+0000");
  EXPECT_EQ(sentinel::dataplane::eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
  EXPECT_EQ(sentinel::dataplane::eve_timestamp(999), "1970-01-01T00:00:00.000000+0000");
}

TEST(EveAlert, Ipv4TcpBlocked) {
  const std::string line = eve_alert_json(tcp4(), meta_basic());
  const json j = parse(line);
  EXPECT_EQ(j["timestamp"], "2026-11-29T17:42:37.123456+0000");
  EXPECT_EQ(j["flow_id"], (uint64_t{1} << 51) - 1);
  EXPECT_EQ(j["in_iface"], "core");
  EXPECT_EQ(j["event_type"], "alert");
  EXPECT_EQ(j["src_ip"], "192.0.2.10");
  EXPECT_EQ(j["src_port"], 49152);
  EXPECT_EQ(j["dest_ip"], "198.51.100.7");
  EXPECT_EQ(j["dest_port"], 37215);
  EXPECT_EQ(j["proto"], "TCP");
  EXPECT_FALSE(j.contains("pcap_cnt"));
  EXPECT_FALSE(j.contains("icmp_type"));
  EXPECT_EQ(j["alert"]["action"], "blocked");
  EXPECT_EQ(j["alert"]["gid"], 1);
  EXPECT_EQ(j["alert"]["signature_id"], 2017172150);
  EXPECT_EQ(j["alert"]["rev"], 3);
  EXPECT_EQ(j["alert"]["signature"], "Huawei HG532 UPnP command injection (CVE-2017-17215)");
  EXPECT_EQ(j["alert"]["category"], "Attempted Administrator Privilege Gain");
  EXPECT_EQ(j["alert"]["severity"], 1);
  EXPECT_EQ(j["alert"]["metadata"]["tag"], json::array({"backdoor", "iot"}));
  EXPECT_EQ(j["sentinel"]["direction"], "to_vendor");
  EXPECT_EQ(j["sentinel"]["verdict"], "dropped");
  // Suricata's key order.
  EXPECT_EQ(line.rfind(R"({"timestamp":"2026-11-29T17:42:37.123456+0000","flow_id":)", 0), 0u) << line;
  EXPECT_EQ(validate_lines({line}), 0) << line;
}

TEST(EveAlert, ActionFollowsRuleAction) {
  AlertRecord r = tcp4();
  const std::pair<Action, const char*> cases[] = {
      {Action::kAlert, "allowed"}, {Action::kPass, "allowed"}, {Action::kDrop, "blocked"}, {Action::kReject, "blocked"}};
  std::vector<std::string> lines;
  for (const auto& [action, want] : cases) {
    r.action = action;
    lines.push_back(eve_alert_json(r, meta_basic()));
    EXPECT_EQ(parse(lines.back())["alert"]["action"], want);
  }
  EXPECT_EQ(validate_lines(lines), 0);
}

TEST(EveAlert, Ipv6UdpWithPcapCnt) {
  AlertRecord r = tcp4();
  r.ip_version = 6;
  r.ip_proto = 17;
  r.src_addr = v6("2001:db8:0:0:0:0:0:1");
  r.dst_addr = v6("fe80::0:aa:bb:cc");
  r.src_port = 53;
  r.dst_port = 0;
  r.pcap_cnt = 42;
  r.in_iface = Side::kVendor;
  r.direction = Direction::kToCore;
  r.verdict = Verdict::kForwarded;
  r.action = Action::kAlert;
  AlertMeta m = meta_basic();
  m.metadata.clear();
  const std::string line = eve_alert_json(r, m);
  const json j = parse(line);
  EXPECT_EQ(j["src_ip"], "2001:db8::1");
  EXPECT_EQ(j["dest_ip"], "fe80::aa:bb:cc");
  EXPECT_EQ(j["proto"], "UDP");
  EXPECT_EQ(j["src_port"], 53);
  EXPECT_EQ(j["dest_port"], 0);
  EXPECT_EQ(j["pcap_cnt"], 42);
  EXPECT_EQ(j["in_iface"], "vendor");
  EXPECT_EQ(j["alert"]["action"], "allowed");
  EXPECT_FALSE(j["alert"].contains("metadata"));
  EXPECT_EQ(j["sentinel"]["direction"], "to_core");
  EXPECT_EQ(j["sentinel"]["verdict"], "forwarded");
  EXPECT_EQ(validate_lines({line}), 0) << line;
}

TEST(EveAlert, IcmpAndIcmpv6CarryTypeAndCode) {
  AlertRecord r = tcp4();
  r.ip_proto = 1;
  r.icmp_type = 8;
  r.icmp_code = 0;
  r.src_port = 1234;  // ignored for ICMP
  const std::string l4 = eve_alert_json(r, meta_basic());
  const json j4 = parse(l4);
  EXPECT_EQ(j4["proto"], "ICMP");
  EXPECT_EQ(j4["icmp_type"], 8);
  EXPECT_EQ(j4["icmp_code"], 0);
  EXPECT_FALSE(j4.contains("src_port"));
  EXPECT_FALSE(j4.contains("dest_port"));

  r.ip_version = 6;
  r.ip_proto = 58;
  r.src_addr = v6("::ffff:192.0.2.1");
  r.dst_addr = v6("2001:db8::2");
  r.icmp_type = 135;
  r.icmp_code = 0;
  const std::string l6 = eve_alert_json(r, meta_basic());
  const json j6 = parse(l6);
  EXPECT_EQ(j6["proto"], "IPv6-ICMP");
  EXPECT_EQ(j6["icmp_type"], 135);
  EXPECT_EQ(j6["src_ip"], "::ffff:192.0.2.1");
  EXPECT_FALSE(j6.contains("src_port"));
  EXPECT_EQ(validate_lines({l4, l6}), 0);
}

TEST(EveAlert, OtherProtocolIsANumberWithoutPorts) {
  AlertRecord r = tcp4();
  r.ip_proto = 47;  // GRE
  const json j = parse(eve_alert_json(r, meta_basic()));
  EXPECT_EQ(j["proto"], "47");
  EXPECT_FALSE(j.contains("src_port"));
  EXPECT_FALSE(j.contains("icmp_type"));
  EXPECT_EQ(validate_lines({j.dump()}), 0);
}

TEST(EveAlert, HostileStringsStayValidJson) {
  AlertMeta m = meta_basic();
  const std::string msg = std::string("say \"hi\" \\ back\\slash \x01\x02\x1f\t\r\n end ") +
                          "caf\xc3\xa9 \xe2\x98\x83 " + std::string(1, '\0') + "nul";
  m.signature = msg;
  m.category = "bad \xff\xfe utf8";  // not UTF-8: replaced, never thrown
  m.metadata = {{"k\"ey\n", {"v\\al", "\x7f"}}};
  const std::string line = eve_alert_json(tcp4(), m);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (const char c : line) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << line;
  const json j = parse(line);
  EXPECT_EQ(j["alert"]["signature"], msg);  // exact round trip of valid UTF-8
  EXPECT_EQ(j["alert"]["category"], "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
  EXPECT_EQ(j["alert"]["metadata"]["k\"ey\n"], json::array({"v\\al", "\x7f"}));
  EXPECT_EQ(validate_lines({line}), 0) << line;
}

TEST(EveSchema, BrokenLinesAreRejected) {
  const std::string good = eve_alert_json(tcp4(), meta_basic());
  ASSERT_EQ(validate_lines({good}), 0);
  json no_sid = json::parse(good);
  no_sid["alert"].erase("signature_id");
  json bad_action = json::parse(good);
  bad_action["alert"]["action"] = "dropped";
  json bad_ts = json::parse(good);
  bad_ts["timestamp"] = "2026-11-29 17:42:37";
  json port_string = json::parse(good);
  port_string["src_port"] = "49152";
  for (const json& bad : {no_sid, bad_action, bad_ts, port_string}) {
    EXPECT_EQ(validate_lines({good, bad.dump()}), 1) << bad.dump();
  }
  EXPECT_EQ(validate_lines({"{not json"}), 1);
}

TEST(EveSchema, SchemaFileIsPresent) {
  // A missing schema must fail loudly, not validate nothing.
  ASSERT_TRUE(fs::exists(kSchema)) << kSchema;
}

TEST(EveWriter, WritesValidLines) {
  TempDir dir;
  constexpr int kLines = 500;
  EveWriter w(dir.path().string());
  AlertRecord r = tcp4();
  for (int i = 0; i < kLines; ++i) {
    r.flow_id = static_cast<uint64_t>(i);
    r.pcap_cnt = static_cast<uint64_t>(i);
    w.write(r, meta_basic());
  }
  w.close();
  EXPECT_EQ(w.lines_queued(), static_cast<uint64_t>(kLines));
  EXPECT_EQ(w.write_errors(), 0u);
  const auto lines = read_lines(dir.path() / "eve.json");
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) EXPECT_EQ(parse(lines[static_cast<size_t>(i)])["flow_id"], i);
  EXPECT_EQ(validate_file(dir.path() / "eve.json"), 0);

  w.write(r, meta_basic());  // after close(): counted, not written
  EXPECT_EQ(w.write_errors(), 1u);
  EXPECT_EQ(read_lines(dir.path() / "eve.json").size(), static_cast<size_t>(kLines));
}

TEST(EveWriter, AppendsToAnExistingFile) {
  TempDir dir;
  write_file(dir.path() / "eve.json", eve_alert_json(tcp4(), meta_basic()) + "\n");
  {
    EveWriter w(dir.path().string());
    w.write(tcp4(), meta_basic());
  }  // destructor closes
  EXPECT_EQ(read_lines(dir.path() / "eve.json").size(), 2u);
}

TEST(EveWriter, ReopenAfterRenameStartsANewFile) {
  TempDir dir;
  EveWriter w(dir.path().string());
  AlertRecord r = tcp4();
  for (int i = 0; i < 10; ++i) {
    r.flow_id = static_cast<uint64_t>(i);
    w.write(r, meta_basic());
  }
  // logrotate: rename first, then SIGUSR1. Lines queued before reopen() go to the old file.
  fs::rename(dir.path() / "eve.json", dir.path() / "eve.json.1");
  w.reopen();
  for (int i = 10; i < 13; ++i) {
    r.flow_id = static_cast<uint64_t>(i);
    w.write(r, meta_basic());
  }
  w.close();
  EXPECT_EQ(w.write_errors(), 0u);
  const auto old_lines = read_lines(dir.path() / "eve.json.1");
  const auto new_lines = read_lines(dir.path() / "eve.json");
  ASSERT_EQ(old_lines.size(), 10u);
  ASSERT_EQ(new_lines.size(), 3u);
  EXPECT_EQ(parse(old_lines.back())["flow_id"], 9);
  EXPECT_EQ(parse(new_lines.front())["flow_id"], 10);
  EXPECT_EQ(validate_file(dir.path() / "eve.json.1"), 0);
  EXPECT_EQ(validate_file(dir.path() / "eve.json"), 0);
}

TEST(EveWriter, UnopenableFileThrows) {
  TempDir dir;
  // spdlog creates missing directories, but not below a regular file.
  write_file(dir.path() / "plain", "x");
  EXPECT_THROW(EveWriter((dir.path() / "plain").string()), sentinel::dataplane::EveError);
}

TEST(EveWriter, FailedWritesAreCounted) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  TempDir dir;
  fs::create_symlink("/dev/full", dir.path() / "eve.json");
  AlertMeta m = meta_basic();
  m.signature = std::string(16384, 'x');  // larger than stdio's buffer: each write fails
  EveWriter w(dir.path().string());
  for (int i = 0; i < 3; ++i) w.write(tcp4(), m);
  w.close();
  EXPECT_GE(w.write_errors(), 3u);
}

}  // namespace

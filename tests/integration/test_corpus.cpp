// Replays the shared corpus through the sentinel binary. Benign captures must cross
// untouched (0 drops; -w equals the input frame for frame); malformed captures must never
// crash or hang, must account for every frame (read = forwarded + Σ drops by reason) and
// must produce exactly the drop reasons committed in corpus_expected.toml.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <toml++/toml.h>

#include "tests/integration/replay_harness.hpp"

namespace fs = std::filesystem;
using namespace sentinel::testing;

namespace {

const std::string kSentinel = SENTINEL_BINARY;
const fs::path kCorpus = SENTINEL_CORPUS_DIR;
const std::string kExpected = SENTINEL_SOURCE_DIR "/tests/integration/corpus_expected.toml";

std::vector<fs::path> corpus_files(const std::string& kind) {
  const fs::path dir = kCorpus / "pcaps" / kind;
  if (!fs::is_directory(dir)) throw std::runtime_error("corpus missing: " + dir.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::map<std::string, uint64_t> drops_of(const nlohmann::json& stats) {
  std::map<std::string, uint64_t> m;
  for (const auto& [reason, count] : stats["drops"].items()) {
    if (count.get<uint64_t>() != 0) m[reason] = count.get<uint64_t>();
  }
  return m;
}

uint64_t sum(const std::map<std::string, uint64_t>& m) {
  uint64_t s = 0;
  for (const auto& [k, v] : m) s += v;
  return s;
}

struct Expected {
  int exit_code = 0;
  uint64_t read = 0;
  std::map<std::string, uint64_t> drops;
};

std::map<std::string, Expected> expected_table(const std::string& table) {
  const toml::table root = toml::parse_file(kExpected);
  std::map<std::string, Expected> rows;
  const toml::table* t = root[table].as_table();
  if (t == nullptr) throw std::runtime_error(kExpected + ": no [" + table + "]");
  for (const auto& [file, node] : *t) {
    const toml::table& row = *node.as_table();
    Expected e;
    e.exit_code = static_cast<int>(row["exit"].value_or(int64_t{0}));
    e.read = static_cast<uint64_t>(row["read"].value_or(int64_t{0}));
    if (const toml::table* d = row["drops"].as_table()) {
      for (const auto& [reason, count] : *d) {
        e.drops[std::string(reason.str())] = static_cast<uint64_t>(count.value_or(int64_t{0}));
      }
    }
    rows[std::string(file.str())] = e;
  }
  return rows;
}

const std::vector<std::string> kAllVendor = {"--vendor-net", "0.0.0.0/0", "--vendor-net", "::/0"};

}  // namespace

// Every frame crosses unchanged, in order, except the fragments of datagrams that cannot be
// reassembled ([benign_core]: cut off by the capture, or overlapping test datagrams). Those
// are the only frames missing from the output.
TEST(BenignCorpus, EveryFrameCrossesUnchanged) {
  const auto expected = expected_table("benign_core");
  const auto files = corpus_files("benign");
  ASSERT_GE(files.size(), 90u);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    TempDir tmp;
    const Capture in = read_capture(file.string());
    ASSERT_TRUE(in.error.empty()) << in.error;
    const RunResult r = run_sentinel(kSentinel, {"-r", file.string(), "-w", tmp / "out.pcap", "-l", tmp / "log"}, tmp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json stats = last_eve_stats(tmp / "log");
    const auto row = expected.find(file.filename().string());
    const std::map<std::string, uint64_t> want = row == expected.end() ? std::map<std::string, uint64_t>{} : row->second.drops;
    const uint64_t n_dropped = sum(want);
    EXPECT_EQ(stats["frames_read"], in.frames.size());
    EXPECT_EQ(drops_of(stats), want);
    EXPECT_EQ(stats["forwarded"], in.frames.size() - n_dropped);
    EXPECT_EQ(stats["fragments"]["held"], 0) << "the end of the capture gives every datagram up";
    EXPECT_EQ(stats["to_vendor"]["received"], in.frames.size()) << "no vendor net: all core-side";

    const Capture out = read_capture(tmp / "out.pcap");
    ASSERT_EQ(out.link_type, DLT_EN10MB);
    ASSERT_EQ(out.frames.size(), in.frames.size() - n_dropped);
    const size_t strip = link_header_len(in.link_type);
    // The output is the input minus the dropped frames: each output frame is the next input
    // frame that equals it.
    const auto same = [&](const Frame& a, const Frame& b) {
      if (b.ts_ns != a.ts_ns) return false;
      if (in.link_type == DLT_EN10MB) return b.data == a.data && b.wire_len == a.wire_len;
      return b.data.size() == a.data.size() - strip + 14 &&
             std::equal(a.data.begin() + static_cast<long>(strip), a.data.end(), b.data.begin() + 14) &&
             b.wire_len == a.wire_len - strip + 14;
    };
    size_t i = 0;
    uint64_t skipped = 0;
    for (size_t o = 0; o < out.frames.size(); ++o, ++i) {
      while (i < in.frames.size() && !same(in.frames[i], out.frames[o])) {
        ++i;
        ++skipped;
      }
      ASSERT_LT(i, in.frames.size()) << "output frame " << o << " is no input frame (in order)";
    }
    EXPECT_EQ(skipped + (in.frames.size() - i), n_dropped);
  }
}

// With every address on the vendor side malformed frames are dropped (fail closed); the
// benign corpus then drops nothing except the defects listed (frames whose IPv4 total
// length exceeds what the capture holds on the wire).
TEST(BenignCorpus, VendorSideDropsOnlyKnownDefects) {
  const auto expected = expected_table("benign_all_vendor");
  for (const fs::path& file : corpus_files("benign")) {
    SCOPED_TRACE(file.filename().string());
    TempDir tmp;
    std::vector<std::string> args = {"-r", file.string(), "-l", tmp / "log"};
    args.insert(args.end(), kAllVendor.begin(), kAllVendor.end());
    const RunResult r = run_sentinel(kSentinel, args, tmp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto it = expected.find(file.filename().string());
    const std::map<std::string, uint64_t> want = it == expected.end() ? std::map<std::string, uint64_t>{} : it->second.drops;
    EXPECT_EQ(drops_of(last_eve_stats(tmp / "log")), want);
  }
}

TEST(MalformedCorpus, EveryFrameAccountedWithExpectedReasons) {
  const auto expected = expected_table("malformed");
  const auto files = corpus_files("malformed");
  std::set<std::string> seen;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    SCOPED_TRACE(name);
    seen.insert(name);
    const auto row = expected.find(name);
    ASSERT_NE(row, expected.end()) << "no row in corpus_expected.toml: add one";
    TempDir tmp;
    std::vector<std::string> args = {"-r", file.string(), "-l", tmp / "log"};
    args.insert(args.end(), kAllVendor.begin(), kAllVendor.end());
    const RunResult r = run_sentinel(kSentinel, args, tmp);
    ASSERT_EQ(r.exit_code, row->second.exit_code) << r.err;
    const nlohmann::json stats = last_eve_stats(tmp / "log");
    const auto drops = drops_of(stats);
    const uint64_t read = stats["frames_read"];
    EXPECT_EQ(read, row->second.read);
    EXPECT_EQ(read, stats["forwarded"].get<uint64_t>() + sum(drops) + stats["rx_nombuf"].get<uint64_t>());
    EXPECT_EQ(stats["dropped"].get<uint64_t>(), sum(drops));
    EXPECT_EQ(drops, row->second.drops);
  }
  for (const auto& [name, row] : expected) {
    EXPECT_TRUE(seen.count(name)) << "corpus file missing: " << name;
  }
  // A parser that calls everything one kind of malformed cannot pass the table.
  std::set<std::string> reasons;
  for (const auto& [name, row] : expected) {
    for (const auto& [reason, n] : row.drops) reasons.insert(reason);
  }
  EXPECT_GE(reasons.size(), 12u);
}

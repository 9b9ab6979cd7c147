// Unit tests of TCP stream reassembly (StreamDirection): in-order and out-of-order delivery,
// holes, duplicates, overlap conflicts (first-seen bytes win), 2^32 wraparound, TCP Fast
// Open, FIN/RST windows, the depth limit, buffer and range-table overflow, mid-stream
// pickup, and a seeded differential test (random segmentation, reordering, duplication)
// that must always rebuild exactly the original bytes. Run under ASan: the out-of-order
// buffer is a heap vector exactly as long as the capacity under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/stream.hpp"

namespace sentinel::dataplane {
namespace {

using tcp_flag::kFin;
using tcp_flag::kRst;
using tcp_flag::kSyn;

struct Collect {
  std::string out;
  uint32_t calls = 0;
  void deliver(const uint8_t* p, uint32_t n) noexcept {
    out.append(reinterpret_cast<const char*>(p), n);
    ++calls;
  }
};
static_assert(StreamSink<Collect>);

std::string events(StreamEvent e) {
  static constexpr std::pair<StreamEvent, const char*> kNames[] = {
      {kStreamDelivered, "delivered"}, {kStreamBuffered, "buffered"}, {kStreamGapFilled, "gap_filled"},
      {kStreamOverflow, "overflow"},   {kStreamOverlapConflict, "overlap_conflict"},
      {kStreamDepthReached, "depth_reached"}, {kStreamFin, "fin"}, {kStreamRst, "rst"},
      {kStreamOutOfWindow, "out_of_window"}};
  std::string s;
  for (const auto& [bit, name] : kNames)
    if (e & bit) s += (s.empty() ? "" : "|") + std::string(name);
  return s.empty() ? "none" : s;
}

// One direction with its buffer and sink; offsets are relative to the first data byte.
struct Harness {
  std::vector<uint8_t> mem;
  StreamDirection dir;
  Collect sink;
  uint32_t base = 0;  // sequence number of the first data byte

  Harness(uint32_t cap, uint32_t depth = 0) : mem(cap) { dir.init(mem, depth); }

  StreamEvent syn(uint32_t isn, std::string_view payload = {}) {
    base = isn + 1;
    return raw(isn, kSyn, payload);
  }
  StreamEvent raw(uint32_t seq, uint8_t flags, std::string_view payload) {
    return dir.on_segment(seq, flags, reinterpret_cast<const uint8_t*>(payload.data()),
                          static_cast<uint32_t>(payload.size()), sink);
  }
  StreamEvent seg(uint32_t off, std::string_view payload, uint8_t flags = 0) {
    return raw(base + off, flags, payload);
  }
};

void expect_events(StreamEvent got, StreamEvent want, const std::string& what) {
  EXPECT_EQ(events(got), events(want)) << what;
}

TEST(Stream, InOrder) {
  Harness h(64);
  expect_events(h.syn(1000), kStreamNone, "syn");
  expect_events(h.seg(0, "GET "), kStreamDelivered, "1");
  expect_events(h.seg(4, "/index"), kStreamDelivered, "2");
  expect_events(h.seg(10, ""), kStreamNone, "pure ack");
  EXPECT_EQ(h.sink.out, "GET /index");
  EXPECT_EQ(h.dir.delivered(), 10u);
  EXPECT_EQ(h.dir.next_seq(), 1011u);
  // Bigger than the ring: delivered straight from the segment.
  const std::string big(200, 'x');
  expect_events(h.seg(10, big), kStreamDelivered, "big");
  EXPECT_EQ(h.sink.out, "GET /index" + big);
}

TEST(Stream, OutOfOrderThenGapFill) {
  Harness h(64);
  h.syn(7);
  expect_events(h.seg(5, "world"), kStreamBuffered, "ahead");
  EXPECT_EQ(h.sink.out, "");
  EXPECT_EQ(h.dir.buffered_ranges(), 1u);
  expect_events(h.seg(0, "hello"), kStreamDelivered | kStreamGapFilled, "fill");
  EXPECT_EQ(h.sink.out, "helloworld");
  EXPECT_EQ(h.dir.buffered_ranges(), 0u);
  expect_events(h.seg(10, "!"), kStreamDelivered, "next");
  EXPECT_EQ(h.sink.out, "helloworld!");
  EXPECT_EQ(h.dir.delivered(), 11u);
}

// Every order of five segments with holes between them: always delivered once, in order.
TEST(Stream, MultipleHolesEveryOrder) {
  const std::string data = "aaaBBBBccDDDDDe";
  const std::vector<std::pair<uint32_t, uint32_t>> segs = {{0, 3}, {3, 4}, {7, 2}, {9, 5}, {14, 1}};
  std::vector<size_t> order(segs.size());
  std::iota(order.begin(), order.end(), 0);
  int perms = 0;
  do {
    Harness h(32);
    h.syn(0xfffffff8u);  // data crosses 2^32 as well
    StreamEvent all = 0;
    for (size_t k : order) all |= h.seg(segs[k].first, std::string_view(data).substr(segs[k].first, segs[k].second));
    EXPECT_EQ(h.sink.out, data) << "perm " << perms;
    EXPECT_EQ(h.dir.delivered(), data.size());
    EXPECT_EQ(h.dir.buffered_ranges(), 0u);
    EXPECT_EQ(all & (kStreamOverflow | kStreamOverlapConflict), 0) << events(all);
    ++perms;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(perms, 120);
}

TEST(Stream, HolesMergeAndFillOneByOne) {
  Harness h(64);
  h.syn(0);
  h.seg(10, "KK");
  h.seg(20, "UU");
  h.seg(30, "ZZ");
  EXPECT_EQ(h.dir.buffered_ranges(), 3u);
  // [12,21): adjacent to [10,12), overlapping [20,22) with the same byte.
  expect_events(h.seg(12, "LMNOPQRSU"), kStreamBuffered, "joins 10 and 20");
  EXPECT_EQ(h.dir.buffered_ranges(), 2u);
  expect_events(h.seg(0, "0123456789"), kStreamDelivered | kStreamGapFilled, "fills the first hole");
  EXPECT_EQ(h.sink.out, "0123456789KKLMNOPQRSUU");
  EXPECT_EQ(h.dir.buffered_ranges(), 1u);
  expect_events(h.seg(22, "vwxyzABC"), kStreamDelivered | kStreamGapFilled, "fills the second hole");
  EXPECT_EQ(h.sink.out, "0123456789KKLMNOPQRSUUvwxyzABCZZ");
  EXPECT_EQ(h.dir.buffered_ranges(), 0u);
}

TEST(Stream, ExactDuplicatesNoConflict) {
  Harness h(64);
  h.syn(100);
  h.seg(0, "abcdef");
  expect_events(h.seg(0, "abcdef"), kStreamNone, "delivered dup");
  expect_events(h.seg(2, "cd"), kStreamNone, "delivered partial dup");
  expect_events(h.seg(10, "klm"), kStreamBuffered, "ooo");
  expect_events(h.seg(10, "klm"), kStreamNone, "buffered dup");
  expect_events(h.seg(11, "l"), kStreamNone, "buffered partial dup");
  expect_events(h.seg(4, "efghijklmn"), kStreamDelivered | kStreamGapFilled, "old+new+buffered+new");
  EXPECT_EQ(h.sink.out, "abcdefghijklmn");
}

TEST(Stream, ConflictWithDeliveredBytes) {
  Harness h(64);
  h.syn(100);
  h.seg(0, "USER alice\r\n");
  expect_events(h.seg(5, "malloryXY"), kStreamOverlapConflict | kStreamDelivered, "differs from delivered");
  EXPECT_EQ(h.sink.out, "USER alice\r\nXY");  // only the 2 new bytes past the old ones
  expect_events(h.seg(0, "XXXX"), kStreamNone, "reported once per direction");
}

TEST(Stream, ConflictWithBufferedBytesFirstSeenWins) {
  Harness h(64);
  h.syn(100);
  h.seg(0, "ab");
  expect_events(h.seg(4, "EVIL"), kStreamBuffered, "first seen");
  expect_events(h.seg(4, "GOOD"), kStreamOverlapConflict, "second differs");
  expect_events(h.seg(2, "cdGOODx"), kStreamDelivered | kStreamGapFilled, "no second report");
  EXPECT_EQ(h.sink.out, "abcdEVILx");
}

// A new segment overlapping a buffered one on both sides, with equal and with different bytes.
TEST(Stream, PartialOverlapsBothSides) {
  struct Case {
    const char* what;
    const char* second;  // placed at offset 5, covers [5, 20); the buffered one is [8, 14)
    const char* delivered;
    StreamEvent second_ev;
  };
  const Case cases[] = {
      {"same bytes", "56789abcdefghij", "0123456789abcdefghij", kStreamBuffered},
      {"left differs", "5XX89abcdefghij", "0123456789abcdefghij", kStreamBuffered},  // XX is new data
      {"middle differs", "567XXXXXXefghij", "0123456789abcdefghij",
       kStreamBuffered | kStreamOverlapConflict},
      {"left edge differs", "567X9abcdefghij", "0123456789abcdefghij",
       kStreamBuffered | kStreamOverlapConflict},
      {"right edge differs", "56789abcXefghij", "0123456789abcdefghij",
       kStreamBuffered | kStreamOverlapConflict},
      {"just past the right edge", "56789abcdXfghij", "0123456789abcdefghij", kStreamBuffered},
  };
  for (const Case& c : cases) {
    Harness h(64);
    h.syn(5000);
    h.seg(8, "89abcd");
    expect_events(h.seg(5, c.second), c.second_ev, c.what);
    EXPECT_EQ(h.dir.buffered_ranges(), 1u) << c.what;
    h.seg(0, "01234");
    std::string want = c.delivered;
    // Bytes outside the first buffered range come from the second segment.
    for (size_t k = 5; k < 20; ++k)
      if (k < 8 || k >= 14) want[k] = c.second[k - 5];
    EXPECT_EQ(h.sink.out, want) << c.what;
  }
}

TEST(Stream, WraparoundInOrderAndOutOfOrder) {
  for (uint32_t isn : {0xfffffff0u, 0xfffffffeu, 0xffffffffu, 0x7ffffff8u}) {
    Harness h(16);
    h.syn(isn);
    h.seg(0, "0123456789");
    h.seg(16, "ghij");  // buffered across the wrap for some ISNs
    h.seg(10, "abcdef");
    h.seg(20, "klmnop");
    EXPECT_EQ(h.sink.out, "0123456789abcdefghijklmnop") << isn;
    EXPECT_EQ(h.dir.next_seq(), isn + 1 + 26) << isn;
    // A retransmission from before the wrap is old data, not data 4 GiB ahead.
    expect_events(h.seg(12, "cdef"), kStreamNone, "old");
    expect_events(h.seg(12, "cXef"), kStreamOverlapConflict, "old differs");
  }
}

TEST(Stream, TcpFastOpenSynPayload) {
  Harness h(64);
  expect_events(h.syn(0xffffffffu, "GET / HTTP/1.1\r\n"), kStreamDelivered, "syn payload");
  EXPECT_EQ(h.dir.next_seq(), 16u);  // ISN + 1 + 16, wrapped
  expect_events(h.syn(0xffffffffu, "GET / HTTP/1.1\r\n"), kStreamNone, "syn retransmit");
  expect_events(h.seg(16, "Host: x\r\n"), kStreamDelivered, "after syn");
  EXPECT_EQ(h.sink.out, "GET / HTTP/1.1\r\nHost: x\r\n");
  expect_events(h.raw(12345, kSyn, "evil"), kStreamOutOfWindow, "another syn");
  EXPECT_EQ(h.sink.out, "GET / HTTP/1.1\r\nHost: x\r\n");
}

TEST(Stream, FinAndRstWindows) {
  struct Case {
    const char* what;
    uint32_t off;  // relative to the first data byte; 6 bytes were delivered
    uint8_t flags;
    const char* payload;
    StreamEvent want;
    bool closed;
  };
  const Case cases[] = {
      {"rst exact", 6, kRst, "", kStreamRst, true},
      {"rst ahead", 7, kRst, "", kStreamOutOfWindow, false},
      {"rst far ahead", 6 + 1000, kRst, "", kStreamOutOfWindow, false},
      {"rst behind", 5, kRst, "", kStreamOutOfWindow, false},
      {"rst with payload exact", 6, kRst, "junk", kStreamRst, true},
      {"fin exact", 6, kFin, "", kStreamFin, false},
      {"fin with data", 6, kFin, "gh", kStreamFin | kStreamDelivered, false},
      {"fin ahead in buffer window", 20, kFin, "", kStreamFin, false},
      {"fin at window edge", 6 + 64, kFin, "", kStreamFin, false},
      {"fin past window", 6 + 65, kFin, "", kStreamOutOfWindow, false},
      {"fin behind", 3, kFin, "", kStreamOutOfWindow, false},
      {"fin far away", 0x80000000u, kFin, "", kStreamOutOfWindow, false},
  };
  for (const Case& c : cases) {
    Harness h(64);
    h.syn(0xfffffffcu);
    h.seg(0, "abcdef");
    expect_events(h.seg(c.off, c.payload, c.flags), c.want, c.what);
    EXPECT_EQ(h.dir.closed(), c.closed) << c.what;
    if (c.closed) {
      expect_events(h.seg(6, "late"), kStreamNone, c.what);
      EXPECT_EQ(h.sink.out, "abcdef") << c.what;
    }
  }
}

TEST(Stream, FinEndsTheStream) {
  Harness h(64);
  h.syn(10);
  h.seg(0, "abc");
  expect_events(h.seg(8, "", kFin), kStreamFin, "fin after a gap");
  expect_events(h.seg(6, "ghIJK"), kStreamBuffered | kStreamOutOfWindow, "data past the fin is cut");
  expect_events(h.seg(3, "def"), kStreamDelivered | kStreamGapFilled, "fill");
  EXPECT_EQ(h.sink.out, "abcdefgh");
  EXPECT_TRUE(h.dir.fin_reached());
  expect_events(h.seg(8, "", kFin), kStreamNone, "fin retransmit");
  expect_events(h.seg(8, "more"), kStreamOutOfWindow, "data after fin");
  expect_events(h.seg(9, "", kRst), kStreamRst, "rst after fin consumes its sequence number");
  EXPECT_EQ(h.sink.out, "abcdefgh");
}

TEST(Stream, FinBeforeBufferedDataIgnored) {
  Harness h(64);
  h.syn(10);
  h.seg(5, "xyz");
  expect_events(h.seg(4, "", kFin), kStreamOutOfWindow, "buffered bytes lie past it");
  expect_events(h.seg(0, "abcde", kFin), kStreamDelivered | kStreamGapFilled | kStreamOutOfWindow, "still ignored");
  expect_events(h.seg(8, "", kFin), kStreamFin, "after the last byte");
  EXPECT_EQ(h.sink.out, "abcdexyz");
}

TEST(Stream, DepthLimitAtBoundary) {
  {
    Harness h(64, 10);
    h.syn(0);
    expect_events(h.seg(0, "0123"), kStreamDelivered, "4");
    expect_events(h.seg(4, "456789"), kStreamDelivered, "exactly 10");
    EXPECT_TRUE(h.dir.inspecting());
    expect_events(h.seg(10, "a"), kStreamDepthReached, "one past");
    expect_events(h.seg(11, "b"), kStreamNone, "reported once");
    EXPECT_EQ(h.sink.out, "0123456789");
    EXPECT_FALSE(h.dir.inspecting());
    expect_events(h.seg(12, "", kRst), kStreamRst, "sequence still followed for rst");
  }
  {
    Harness h(64, 10);
    h.syn(0);
    expect_events(h.seg(0, "0123456789abc"), kStreamDelivered | kStreamDepthReached, "crosses");
    EXPECT_EQ(h.sink.out, "0123456789");
    EXPECT_EQ(h.dir.delivered(), 10u);
    EXPECT_EQ(h.dir.next_seq(), 14u);
  }
  {  // reached while delivering buffered data
    Harness h(64, 10);
    h.syn(0);
    h.seg(4, "456789abcd");
    expect_events(h.seg(0, "0123"), kStreamDelivered | kStreamGapFilled | kStreamDepthReached, "gap fill");
    EXPECT_EQ(h.sink.out, "0123456789");
    EXPECT_EQ(h.dir.buffered_ranges(), 0u);
    expect_events(h.seg(14, "", kRst), kStreamRst, "next_seq past the buffered data");
  }
  {  // 0: unlimited
    Harness h(8, 0);
    h.syn(0);
    const std::string big(100000, 'q');
    h.seg(0, big);
    EXPECT_EQ(h.dir.delivered(), big.size());
  }
}

TEST(Stream, BufferOverflow) {
  Harness h(16);
  h.syn(0);
  h.seg(0, "ab");
  expect_events(h.seg(3, "0123456789abcde"), kStreamBuffered, "ends exactly at capacity (offset 18 = 2+16)");
  expect_events(h.seg(18, "X"), kStreamOverflow, "one byte past the window");
  EXPECT_FALSE(h.dir.inspecting());
  EXPECT_EQ(h.dir.buffered_ranges(), 0u);
  expect_events(h.seg(2, "c"), kStreamNone, "nothing delivered after overflow");
  expect_events(h.seg(30, "Y"), kStreamNone, "overflow reported once");
  EXPECT_EQ(h.sink.out, "ab");
}

TEST(Stream, RangeTableOverflow) {
  Harness h(256);
  h.syn(0);
  for (uint32_t k = 0; k < StreamDirection::kMaxRanges; ++k)
    expect_events(h.seg(10 + 10 * k, "x"), kStreamBuffered, "range " + std::to_string(k));
  EXPECT_EQ(h.dir.buffered_ranges(), StreamDirection::kMaxRanges);
  expect_events(h.seg(15, "y"), kStreamOverflow, "a ninth separate range");
  EXPECT_FALSE(h.dir.inspecting());
}

TEST(Stream, RangeTableFullButMergingFits) {
  Harness h(256);
  h.syn(0);
  for (uint32_t k = 0; k < StreamDirection::kMaxRanges; ++k) h.seg(10 + 10 * k, "x");
  expect_events(h.seg(11, "123456789"), kStreamBuffered, "joins two ranges");
  expect_events(h.seg(95, "z"), kStreamBuffered, "room again");
  expect_events(h.seg(80, "xy"), kStreamBuffered, "extends the last-but-one range");
  EXPECT_EQ(h.dir.buffered_ranges(), StreamDirection::kMaxRanges);
}

TEST(Stream, NoBuffer) {
  Harness h(0);
  h.syn(0);
  expect_events(h.seg(0, "ab"), kStreamDelivered, "in order");
  expect_events(h.seg(0, "XY"), kStreamNone, "no history to compare with");
  expect_events(h.seg(3, "d"), kStreamOverflow, "any gap overflows");
}

TEST(Stream, MidStreamPickup) {
  Harness h(64);
  h.base = 0x12345678;
  expect_events(h.seg(0, "ssh-"), kStreamDelivered, "first segment seen");
  expect_events(h.seg(8, "-2.0"), kStreamBuffered, "ooo");
  expect_events(h.seg(4, "1.99"), kStreamDelivered | kStreamGapFilled, "fill");
  EXPECT_EQ(h.sink.out, "ssh-1.99-2.0");
  expect_events(h.seg(uint32_t(-2), "zz"), kStreamNone, "earlier than the pickup: old");
  expect_events(h.raw(0x12345678 - 1, kSyn, ""), kStreamOutOfWindow, "a SYN after pickup");
  Harness r(64);
  expect_events(r.raw(555, kRst, ""), kStreamRst, "an RST as the first segment");
}

TEST(Stream, OutOfWindowData) {
  Harness h(64);
  h.syn(0);
  h.seg(0, "abc");
  expect_events(h.seg(3 + StreamDirection::kMaxWindow, "far"), kStreamOutOfWindow, "far ahead");
  expect_events(h.seg(0x80000000u, "half"), kStreamOutOfWindow, "half the space away");
  EXPECT_TRUE(h.dir.inspecting());
  Harness w(64);
  w.dir.init(w.mem, 0, 1000);
  w.syn(0);
  expect_events(w.seg(1000, "x"), kStreamOutOfWindow, "tight window");
  expect_events(w.seg(999, "x"), kStreamOverflow, "inside the window, past the buffer");
}

// History kept in the ring is overwritten by buffered data: the ring never serves stale bytes.
TEST(Stream, HistoryAndBufferShareTheRing) {
  Harness h(8);
  h.syn(0);
  h.seg(0, "abcdefgh");  // history fills the ring
  expect_events(h.seg(0, "abcdefgh"), kStreamNone, "whole history matches");
  expect_events(h.seg(12, "MNOP"), kStreamBuffered, "takes the slots of the oldest history");
  expect_events(h.seg(0, "ABCD"), kStreamNone, "bytes no longer held: not compared");
  expect_events(h.seg(8, "ijkl"), kStreamDelivered | kStreamGapFilled, "fill");
  EXPECT_EQ(h.sink.out, "abcdefghijklMNOP");
  expect_events(h.seg(8, "ijklMNOP"), kStreamNone, "history after a gap fill");
  expect_events(h.seg(12, "MNOq"), kStreamOverlapConflict, "differs");
}

// Random segmentation, reordering within bounded groups (at most kMaxRanges segments ahead
// of a hole) and duplication of a random byte string: exactly the original, in order.
TEST(Stream, RandomizedDifferential) {
  uint32_t reordered = 0;  // seeds that really went through the buffer
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    auto uni = [&](uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng); };
    std::string data(uni(1, 20000), '\0');
    for (char& c : data) c = static_cast<char>(uni(0, 3));  // few symbols: overlaps compare for real
    const uint32_t max_seg = uni(1, 400);
    std::vector<std::pair<uint32_t, uint32_t>> segs;
    for (uint32_t at = 0; at < data.size();) {
      const uint32_t n = std::min<uint32_t>(uni(1, max_seg), static_cast<uint32_t>(data.size()) - at);
      segs.emplace_back(at, n);
      at += n;
    }
    const uint32_t group = uni(1, StreamDirection::kMaxRanges);
    const uint32_t cap = group * max_seg + uni(0, 100);  // a group always fits
    const bool use_syn = uni(0, 1) == 1;
    const uint32_t isn = uni(0, 3) == 0 ? 0xffffffffu - uni(0, 30000) : static_cast<uint32_t>(rng());
    Harness h(cap);
    StreamEvent all = 0;
    if (use_syn) {
      h.syn(isn);
    } else {
      h.base = isn;  // mid-stream pickup: the first segment sent must be the first bytes
      all |= h.seg(segs[0].first, std::string_view(data).substr(segs[0].first, segs[0].second));
    }
    std::vector<std::pair<uint32_t, uint32_t>> sent;
    auto send = [&](std::pair<uint32_t, uint32_t> s) {
      all |= h.seg(s.first, std::string_view(data).substr(s.first, s.second));
      sent.push_back(s);
    };
    for (size_t g = use_syn ? 0 : 1; g < segs.size(); g += group) {
      std::vector<std::pair<uint32_t, uint32_t>> batch(segs.begin() + static_cast<ptrdiff_t>(g),
                                                       segs.begin() + static_cast<ptrdiff_t>(std::min(segs.size(), g + group)));
      std::shuffle(batch.begin(), batch.end(), rng);
      for (const auto& s : batch) {
        send(s);
        if (uni(0, 3) == 0) send(sent[uni(0, static_cast<uint32_t>(sent.size() - 1))]);  // duplicate
        if (uni(0, 7) == 0 && g > 0) {  // re-segmented retransmission of delivered bytes
          const uint32_t a = uni(0, segs[g].first - 1);
          send({a, uni(1, segs[g].first - a)});
        }
      }
    }
    ASSERT_EQ(h.sink.out.size(), data.size()) << "seed " << seed;
    EXPECT_TRUE(h.sink.out == data) << "seed " << seed;
    EXPECT_EQ(h.dir.delivered(), data.size()) << "seed " << seed;
    EXPECT_EQ(h.dir.buffered_ranges(), 0u) << "seed " << seed;
    EXPECT_EQ(all & (kStreamOverflow | kStreamOverlapConflict | kStreamOutOfWindow), 0)
        << "seed " << seed << ": " << events(all);
    if ((all & (kStreamBuffered | kStreamGapFilled)) == (kStreamBuffered | kStreamGapFilled)) ++reordered;
    // A corrupted retransmission of the newest delivered byte is caught (if the ring holds it).
    std::string last(1, static_cast<char>(data.back() + 1));
    expect_events(h.seg(static_cast<uint32_t>(data.size() - 1), last), kStreamOverlapConflict,
                  "seed " + std::to_string(seed));
  }
  EXPECT_GT(reordered, 200u);
}

}  // namespace
}  // namespace sentinel::dataplane

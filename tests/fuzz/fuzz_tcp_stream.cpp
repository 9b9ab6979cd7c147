// Fuzz target: TCP stream reassembly of one flow, both directions (dataplane/stream.hpp),
// against a model of what the senders offered.
//
// Input: a header, then segment records until the input ends.
//   header   u8 ring size choice, u8 depth limit (x 32 bytes, 0 = none), u8 window (x 256
//            bytes, 0 = the largest), u32 ISN of direction 0, u32 ISN of direction 1
//   segment  u8 control: bit 0 direction; bits 1-2 kind; bit 3 SYN, 4 FIN, 5 RST, 6 ACK;
//            bit 7 a u16 length instead of a u8 one
//            kind 0, 1: u16 offset r, the sender's own bytes at seq = ISN + 1 + r (a SYN at
//                       ISN + r); kind 2: the same place, payload bytes from the input;
//            kind 3: u32 absolute seq, the sender's own bytes
//            then the length (u8, or u16 up to 8192), then for kind 2 the payload bytes
// "The sender's own bytes" are a fixed function of (direction, seq): every such segment
// agrees with every other on every byte, whatever its place, so only kind 2 can conflict.
//
// Invariants (abort when broken), per direction:
// - every delivered byte is, at its sequence number (stream start + bytes delivered before
//   it), a byte some non-RST segment carried there; so delivery is in order, once, and never
//   more than was sent; delivered() counts exactly what the sink received;
// - the sink only reads the current segment's payload or the caller's ring, within bounds;
// - kStreamDelivered is reported exactly when the sink received bytes; overflow, depth
//   reached, FIN, RST and overlap conflict are reported at most once; nothing is delivered
//   after overflow, depth reached or RST; the depth limit is respected; at most kMaxRanges
//   ranges are buffered;
// - while nothing was refused (overflow, out-of-window, depth, RST), each delivered byte is
//   the first one offered at its sequence number (first seen wins); nothing is delivered
//   past an honoured FIN; next_seq() is the stream start plus the bytes delivered (until
//   delivery stops); an RST is honoured only at the next expected seq (or just after a
//   reached FIN), a FIN only within the ring's size of it;
// - no overlap conflict is reported unless two different bytes were offered for one
//   sequence number;
// - when nothing was refused (no overflow, out-of-window, depth or RST event), every byte
//   of the contiguous stream the segments covered from its start was delivered.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dataplane/stream.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

namespace dp = sentinel::dataplane;
using dp::StreamDirection;
using dp::StreamEvent;

// The sender's own byte at `seq` of direction `d`: few symbols, so retransmissions and
// overlaps are compared for real.
inline uint8_t own_byte(int d, uint32_t seq) {
  uint32_t h = seq * 0x9e3779b1u ^ static_cast<uint32_t>(d) * 0x85ebca6bu;
  h ^= h >> 15;
  return static_cast<uint8_t>('a' + (h & 3));
}

FUZZ_MODEL void own_payload(int d, uint32_t seq, uint32_t len, std::vector<uint8_t>& out) {
  out.resize(len);
  for (uint32_t i = 0; i < len; ++i) out[i] = own_byte(d, seq + i);
}

// Disjoint, merged ranges [a, b) of stream offsets (seq - base, modulo 2^32).
class Ranges {
 public:
  void add(uint32_t off, uint32_t len) {
    const uint64_t end = uint64_t{off} + len;
    if (end > (uint64_t{1} << 32)) {  // wraps: two pieces
      add64(off, uint64_t{1} << 32);
      add64(0, end - (uint64_t{1} << 32));
    } else {
      add64(off, end);
    }
  }
  // Whether `off` is covered, and where that stops being so: the end of its range, or the
  // start of the next range (2^32 when none follows).
  [[nodiscard]] std::pair<bool, uint64_t> run(uint32_t off) const {
    auto it = r_.upper_bound(off);
    const uint64_t next = it == r_.end() ? uint64_t{1} << 32 : it->first;
    if (it == r_.begin()) return {false, next};
    --it;
    return off < it->second ? std::pair{true, it->second} : std::pair{false, next};
  }
  // Length of the run starting at offset 0 (below 2^31: offsets past that are "before" the stream).
  [[nodiscard]] uint64_t from_zero() const {
    const auto it = r_.find(0);
    return it == r_.end() ? 0 : std::min<uint64_t>(it->second, uint64_t{1} << 31);
  }

 private:
  void add64(uint64_t a, uint64_t b) {
    if (a >= b) return;
    auto it = r_.upper_bound(a);
    if (it != r_.begin() && std::prev(it)->second >= a) --it;
    while (it != r_.end() && it->first <= b) {
      a = std::min(a, it->first);
      b = std::max(b, it->second);
      it = r_.erase(it);
    }
    r_.emplace(a, b);
  }
  std::map<uint64_t, uint64_t> r_;
};

// The distinct input-payload bytes offered at each stream offset, in 4 KiB pages (a map
// node per byte would make the model slower than the engine by far).
class InputBytes {
 public:
  // Records v at off (`own_before`: the sender's own byte was offered there already); true
  // when off already had another input value.
  FUZZ_MODEL bool add(uint32_t off, uint8_t v, bool own_before) {
    Page& pg = page(off);
    const uint32_t i = off & (kPage - 1);
    if (pg.state[i] == 0) {
      pg.state[i] = 1;
      pg.value[i] = v;
      pg.own_first[i] = own_before;
      return false;
    }
    if (pg.state[i] == 1 && pg.value[i] == v) return false;
    std::vector<uint8_t>& vals = several_[off];
    if (pg.state[i] == 1) vals.push_back(pg.value[i]);
    pg.state[i] = 2;
    if (std::find(vals.begin(), vals.end(), v) == vals.end()) vals.push_back(v);
    return true;
  }
  FUZZ_MODEL bool has(uint32_t off, uint8_t v) {
    const Page* pg = find(off);
    if (pg == nullptr) return false;
    const uint32_t i = off & (kPage - 1);
    if (pg->state[i] == 1) return pg->value[i] == v;
    if (pg->state[i] == 0) return false;
    const std::vector<uint8_t>& vals = several_.at(off);
    return std::find(vals.begin(), vals.end(), v) != vals.end();
  }
  // The first byte offered at off: the first input value, or the own byte (nullopt: none
  // offered, as far as input values go; `own` says whether own bytes cover off).
  FUZZ_MODEL std::optional<uint8_t> first(uint32_t off, bool own, uint8_t own_value) {
    const Page* pg = find(off);
    const uint32_t i = off & (kPage - 1);
    if (pg == nullptr || pg->state[i] == 0) return own ? std::optional<uint8_t>(own_value) : std::nullopt;
    return pg->own_first[i] ? own_value : pg->value[i];
  }
  // Calls f(off, value) for every value recorded in [a, b).
  template <class F>
  FUZZ_MODEL void each(uint64_t a, uint64_t b, F&& f) const {
    for (uint64_t o = a; o < b;) {
      const auto it = pages_.find(static_cast<uint32_t>(o / kPage));
      const uint64_t page_end = (o / kPage + 1) * kPage;
      if (it == pages_.end()) {
        o = page_end;
        continue;
      }
      for (; o < std::min(b, page_end); ++o) {
        const uint32_t i = o & (kPage - 1);
        if (it->second->state[i] == 1) f(static_cast<uint32_t>(o), it->second->value[i]);
        if (it->second->state[i] == 2)
          for (uint8_t v : several_.at(static_cast<uint32_t>(o))) f(static_cast<uint32_t>(o), v);
      }
    }
  }

 private:
  static constexpr uint32_t kPage = 4096;
  struct Page {
    std::array<uint8_t, kPage> value{};
    std::array<uint8_t, kPage> state{};  // 0 nothing, 1 one value, 2 several (in several_)
    std::array<bool, kPage> own_first{};  // the own byte came before any input value
  };
  Page& page(uint32_t off) {
    if (Page* pg = find(off)) return *pg;
    auto& p = pages_[off / kPage];
    p = std::make_unique<Page>();
    last_ = off / kPage;
    last_page_ = p.get();
    return *p;
  }
  Page* find(uint32_t off) {  // the page of `off`, or nullptr; runs of offsets hit the cache
    if (last_page_ != nullptr && off / kPage == last_) return last_page_;
    const auto it = pages_.find(off / kPage);
    if (it == pages_.end()) return nullptr;
    last_ = off / kPage;
    last_page_ = it->second.get();
    return last_page_;
  }
  std::unordered_map<uint32_t, std::unique_ptr<Page>> pages_;
  uint32_t last_ = 0;
  Page* last_page_ = nullptr;
  std::map<uint32_t, std::vector<uint8_t>> several_;
};

struct Model;

struct Sink {
  Model* m = nullptr;
  const uint8_t* seg = nullptr;  // the current segment's payload
  uint32_t seg_len = 0;
  uint64_t got = 0;              // bytes received during the current on_segment
  FUZZ_MODEL void deliver(const uint8_t* p, uint32_t n) noexcept;
};

struct Model {
  int d = 0;
  std::vector<uint8_t> ring;        // exactly the ring's size: ASan checks its bounds
  StreamDirection dir;
  uint32_t isn = 0;
  bool started = false;
  uint32_t base = 0;                // seq of the first stream byte; offsets below are seq - base
  uint64_t delivered = 0;           // bytes the sink received
  uint32_t depth = 0;
  Ranges own;                       // offsets offered with the sender's own bytes
  Ranges any;                       // offsets offered at all
  InputBytes input_bytes;           // bytes offered by segments with input payloads
  bool conflict_possible = false;
  StreamEvent seen = 0;             // union of the events reported so far
  bool strict = false;              // nothing refused yet: every byte offered was taken, the first one wins
  uint64_t fin_off = UINT64_MAX;    // the honoured FIN's offset: nothing is delivered past it

  uint8_t own_at(uint32_t off) const { return own_byte(d, base + off); }

  // Records a non-RST segment's payload at `seq` before the engine sees it.
  FUZZ_MODEL void offer(uint32_t seq, const uint8_t* p, uint32_t len, bool is_own) {
    if (len == 0) return;
    const uint32_t off = seq - base;
    any.add(off, len);
    if (is_own) {
      own.add(off, len);
      if (conflict_possible) return;
      auto check = [&](uint32_t o, uint8_t v) { conflict_possible |= v != own_at(o); };
      const uint64_t end = uint64_t{off} + len;
      input_bytes.each(off, std::min<uint64_t>(end, uint64_t{1} << 32), check);
      if (end > (uint64_t{1} << 32)) input_bytes.each(0, end - (uint64_t{1} << 32), check);
      return;
    }
    uint64_t run_end = 0;  // bytes [i, run_end) of the payload are all in, or all out of, own ranges
    bool in_own = false;
    for (uint32_t i = 0; i < len; ++i) {
      const uint32_t o = off + i;
      if (i >= run_end) {
        const auto [covered, end] = own.run(o);
        in_own = covered;
        run_end = i + (end - o);
      }
      conflict_possible |= input_bytes.add(o, p[i], in_own);
      if (in_own && p[i] != own_at(o)) conflict_possible = true;
    }
  }
};

FUZZ_MODEL void Sink::deliver(const uint8_t* p, uint32_t n) noexcept {
  FUZZ_CHECK(n > 0, "deliver() of 0 bytes");
  const bool in_seg = seg != nullptr && p >= seg && p + n <= seg + seg_len;
  const bool in_ring = !m->ring.empty() && p >= m->ring.data() && p + n <= m->ring.data() + m->ring.size();
  FUZZ_CHECK(in_seg || in_ring, "dir %d: sink given %u bytes outside the segment and the ring", m->d, n);
  FUZZ_CHECK(m->dir.delivered() == m->delivered, "dir %d: delivered() %llu during deliver, sink has %llu", m->d,
             static_cast<unsigned long long>(m->dir.delivered()), static_cast<unsigned long long>(m->delivered));
  uint64_t run_end = 0;  // bytes [i, run_end) are all in, or all out of, own ranges
  bool in_own = false;
  for (uint32_t i = 0; i < n; ++i) {
    const auto off = static_cast<uint32_t>(m->delivered + i);
    if (i >= run_end) {
      const auto [covered, end] = m->own.run(off);
      in_own = covered;
      run_end = i + (end - off);
    }
    const bool ok = (in_own && p[i] == m->own_at(off)) || m->input_bytes.has(off, p[i]);
    FUZZ_CHECK(ok, "dir %d: stream byte %u (seq %u) = 0x%02x was never sent there", m->d, off, m->base + off, p[i]);
    if (m->strict) {
      const std::optional<uint8_t> first = m->input_bytes.first(off, in_own, m->own_at(off));
      FUZZ_CHECK(first && *first == p[i], "dir %d: stream byte %u (seq %u) = 0x%02x, first sent there: 0x%02x", m->d, off,
                 m->base + off, p[i], first ? *first : 0);
    }
  }
  m->delivered += n;
  got += n;
}

constexpr uint32_t kRingSizes[8] = {0, 1, 7, 64, 256, 1500, 4096, 65536};
constexpr uint32_t kMaxLen = 8192;
constexpr uint64_t kMaxPayloadBytes = 1 << 16;  // per input: keeps every input fast

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sentinel::fuzz::Input in(data, size);
  const uint32_t ring = kRingSizes[in.u8() & 7];
  const uint32_t depth = in.u8() * 32u;
  const uint8_t w = in.u8();
  const uint32_t window = w == 0 ? StreamDirection::kMaxWindow : w * 256u;
  Model m[2];
  for (int d = 0; d < 2; ++d) {
    m[d].d = d;
    m[d].isn = in.u32();
    m[d].ring.resize(ring);
    m[d].depth = depth;
    m[d].dir.init(m[d].ring, depth, window);
  }

  constexpr StreamEvent kOnce = dp::kStreamOverflow | dp::kStreamDepthReached | dp::kStreamFin | dp::kStreamRst |
                                dp::kStreamOverlapConflict;
  constexpr StreamEvent kStops = dp::kStreamOverflow | dp::kStreamDepthReached | dp::kStreamRst;
  constexpr StreamEvent kRefused = kStops | dp::kStreamOutOfWindow;
  std::vector<uint8_t> payload;
  uint64_t payload_bytes = 0;
  for (int segments = 0; in.left() > 0 && segments < 2048 && payload_bytes < kMaxPayloadBytes; ++segments) {
    const uint8_t ctl = in.u8();
    Model& md = m[ctl & 1];
    const int kind = (ctl >> 1) & 3;
    uint8_t flags = 0;
    if (ctl & 0x08) flags |= dp::tcp_flag::kSyn;
    if (ctl & 0x10) flags |= dp::tcp_flag::kFin;
    if (ctl & 0x20) flags |= dp::tcp_flag::kRst;
    if (ctl & 0x40) flags |= dp::tcp_flag::kAck;
    const bool syn = (flags & dp::tcp_flag::kSyn) != 0;
    const bool rst = (flags & dp::tcp_flag::kRst) != 0;
    const uint32_t seq = kind == 3 ? in.u32() : md.isn + in.u16() + (syn ? 0 : 1);
    const uint32_t len = std::min<uint32_t>(ctl & 0x80 ? in.u16() : in.u8(), kMaxLen);
    const uint32_t data_seq = seq + (syn ? 1 : 0);
    const bool own = kind != 2;
    if (own) {
      own_payload(md.d, data_seq, len, payload);
    } else {
      const std::string_view b = in.bytes(len);
      payload.assign(b.begin(), b.end());
    }
    const uint32_t n = static_cast<uint32_t>(payload.size());
    payload_bytes += n;
    // An exact heap copy: ASan sees any read past the payload.
    std::vector<uint8_t> seg_copy(payload);
    // The next expected seq before this segment (the first segment sets it: SYN, after it).
    const uint32_t next_before = md.started ? md.dir.next_seq() : data_seq;
    const bool fin_reached_before = md.dir.fin_reached();
    if (!md.started) {
      md.started = true;
      md.base = data_seq;
    }
    if (!rst) md.offer(data_seq, seg_copy.data(), n, own);

    md.strict = (md.seen & kRefused) == 0;
    Sink sink{&md, seg_copy.data(), n, 0};
    const bool closed_before = md.dir.closed();
    const StreamEvent ev = md.dir.on_segment(seq, flags, seg_copy.empty() ? nullptr : seg_copy.data(), n, sink);

    FUZZ_CHECK(!closed_before || (ev == dp::kStreamNone && sink.got == 0), "dir %d: closed, yet events 0x%x", md.d, ev);
    FUZZ_CHECK(((ev & dp::kStreamDelivered) != 0) == (sink.got > 0), "dir %d: kStreamDelivered %d, sink got %llu",
               md.d, (ev & dp::kStreamDelivered) != 0, static_cast<unsigned long long>(sink.got));
    FUZZ_CHECK(sink.got == 0 || (md.seen & kStops) == 0, "dir %d: delivered after events 0x%x", md.d, md.seen);
    FUZZ_CHECK(md.dir.delivered() == md.delivered, "dir %d: delivered() %llu, sink received %llu", md.d,
               static_cast<unsigned long long>(md.dir.delivered()), static_cast<unsigned long long>(md.delivered));
    FUZZ_CHECK(md.depth == 0 || md.delivered <= md.depth, "dir %d: %llu bytes delivered, depth limit %u", md.d,
               static_cast<unsigned long long>(md.delivered), md.depth);
    FUZZ_CHECK(md.dir.buffered_ranges() <= StreamDirection::kMaxRanges, "dir %d: %u ranges", md.d,
               md.dir.buffered_ranges());
    FUZZ_CHECK((ev & md.seen & kOnce) == 0, "dir %d: events 0x%x reported again (seen 0x%x)", md.d, ev, md.seen);
    FUZZ_CHECK(!(ev & dp::kStreamOverlapConflict) || md.conflict_possible,
               "dir %d: overlap conflict reported, but no sequence number was offered two different bytes", md.d);
    FUZZ_CHECK(!(ev & dp::kStreamRst) || md.dir.closed(), "dir %d: RST honoured, direction not closed", md.d);
    FUZZ_CHECK(!(ev & dp::kStreamRst) || data_seq == next_before || (data_seq == next_before + 1 && fin_reached_before),
               "dir %d: RST at seq %u honoured, next expected %u", md.d, data_seq, next_before);
    FUZZ_CHECK(!(ev & dp::kStreamFin) || data_seq + n - md.dir.next_seq() <= ring,
               "dir %d: FIN at seq %u honoured, next expected %u, ring %u", md.d, data_seq + n, md.dir.next_seq(), ring);
    FUZZ_CHECK(((md.seen | ev) & (dp::kStreamOverflow | dp::kStreamDepthReached)) != 0 ||
                   md.dir.next_seq() == md.base + static_cast<uint32_t>(md.delivered),
               "dir %d: next_seq %u, but %llu bytes delivered from %u", md.d, md.dir.next_seq(),
               static_cast<unsigned long long>(md.delivered), md.base);
    md.seen |= ev;
    if (ev & dp::kStreamFin) md.fin_off = static_cast<uint32_t>(data_seq + n - md.base);
    FUZZ_CHECK(md.delivered <= md.fin_off, "dir %d: %llu bytes delivered, FIN honoured at %llu", md.d,
               static_cast<unsigned long long>(md.delivered), static_cast<unsigned long long>(md.fin_off));

    if ((md.seen & kRefused) == 0) {
      const uint64_t want = md.any.from_zero();
      FUZZ_CHECK(md.delivered == want, "dir %d: nothing refused, %llu contiguous bytes sent, %llu delivered", md.d,
                 static_cast<unsigned long long>(want), static_cast<unsigned long long>(md.delivered));
    }
  }
  return 0;
}

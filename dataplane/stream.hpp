// TCP stream reassembly for one direction of one flow (StreamDirection): turns the segments
// a sender emits — in any order, duplicated, overlapping, wrapping around 2^32 — into its
// byte stream, handed to a sink (later: a Hyperscan stream) exactly once and in order.
//
// Segments are never delayed: the caller forwards every segment at once. A segment that
// starts past a gap is copied into a small caller-provided ring (the out-of-order buffer)
// and delivered when the gap fills. The ring is a window of `capacity` bytes after the
// first missing byte; data beyond it, or more than kMaxRanges separate buffered ranges, is
// an overflow: reported once, after which nothing more is delivered (the caller stops
// inspecting the flow and applies its [failure] policy). The ring also keeps the most
// recently delivered bytes (as much as the buffered data leaves room for), so that a
// retransmission can be compared with what was already seen.
//
// Overlaps: the first bytes seen for a sequence number are the ones delivered. A
// retransmission that differs from bytes still held (delivered or buffered) is an overlap
// conflict, reported once per direction (a classic IDS evasion).
//
// Sequence space: a SYN sets the initial sequence number (ISN); its payload (TCP Fast Open)
// is stream data starting at ISN+1. Without a SYN (mid-stream pickup, e.g. after a
// restart), the stream starts at the first segment's sequence number. Offsets are taken
// modulo 2^32. A FIN is honoured when its sequence number lies in [next, next+capacity]
// and after every buffered byte; data past it is dropped. An RST is honoured only at
// exactly the next expected sequence number (RFC 5961 §3.2; also right after a reached
// FIN): a forged in-window RST that a modern receiver answers with a challenge ACK must
// not end inspection. After an RST the direction ignores everything.
//
// [worker] noexcept, no allocation, no locks; one StreamDirection is used by one thread.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace sentinel::dataplane {

// TCP header flag bits (byte 13 of the TCP header, as in PacketInfo::tcp_flags).
namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flag

// What one call of StreamDirection::on_segment did: a bitmask of the kStream* values.
using StreamEvent = uint16_t;
inline constexpr StreamEvent kStreamNone = 0;
inline constexpr StreamEvent kStreamDelivered = 1u << 0;        // bytes were handed to the sink
inline constexpr StreamEvent kStreamBuffered = 1u << 1;         // new out-of-order bytes were copied
inline constexpr StreamEvent kStreamGapFilled = 1u << 2;        // buffered bytes became in order
inline constexpr StreamEvent kStreamOverflow = 1u << 3;         // once; delivery stopped for good
inline constexpr StreamEvent kStreamOverlapConflict = 1u << 4;  // once per direction
inline constexpr StreamEvent kStreamDepthReached = 1u << 5;     // once; delivery stopped for good
inline constexpr StreamEvent kStreamFin = 1u << 6;              // a FIN was honoured (once)
inline constexpr StreamEvent kStreamRst = 1u << 7;              // an RST was honoured; direction closed
inline constexpr StreamEvent kStreamOutOfWindow = 1u << 8;      // segment, or its SYN/FIN/RST, ignored

// The consumer of in-order bytes. deliver() may be called several times per segment (a
// segment followed by buffered data, or buffered data wrapping around the ring). During a
// call, the direction's delivered() counts the bytes before `p`.
template <class S>
concept StreamSink = requires(S& s, const uint8_t* p, uint32_t n) {
  { s.deliver(p, n) } noexcept;
};

class StreamDirection {
 public:
  // At most this many separate out-of-order ranges are held; one more is an overflow.
  static constexpr uint32_t kMaxRanges = 8;
  // Largest TCP receive window (65535 << 14): a segment starting further ahead, or ending
  // further behind, than the window is ignored (kStreamOutOfWindow), not an overflow.
  static constexpr uint32_t kMaxWindow = 1u << 30;

  // [worker] Resets the direction. `ooo_buffer` (may be empty: no buffering, no overlap
  // checks against delivered bytes) must outlive the direction's use; `depth_limit` is the
  // number of bytes delivered after which delivery stops (0: no limit); `window` (clamped
  // to kMaxWindow) may be tightened by the caller, e.g. from the peer's advertised window.
  void init(std::span<uint8_t> ooo_buffer, uint32_t depth_limit, uint32_t window = kMaxWindow) noexcept {
    *this = StreamDirection{};
    buf_ = ooo_buffer.data();
    cap_ = static_cast<uint32_t>(std::min<size_t>(ooo_buffer.size(), kMaxWindow));
    depth_limit_ = depth_limit;
    window_ = std::clamp<uint32_t>(window, 1, kMaxWindow);
  }

  // [worker] One TCP segment of this direction: its sequence number, flags and payload.
  // In-order bytes (the SYN's included) go to `sink` before this returns.
  template <StreamSink Sink>
  StreamEvent on_segment(uint32_t seq, uint8_t tcp_flags, const uint8_t* payload, uint32_t len,
                         Sink& sink) noexcept {
    if (state_ == State::kClosed) return kStreamNone;
    if (tcp_flags & tcp_flag::kSyn) {
      if (state_ == State::kIdle) {
        state_ = State::kOpen;
        syn_seen_ = true;
        isn_ = seq;
        next_seq_ = seq + 1;
      } else if (!syn_seen_ || seq != isn_) {
        return kStreamOutOfWindow;  // a new SYN on an established direction: not ours to follow
      }
      seq += 1;  // the SYN occupies one sequence number; its payload follows
    } else if (state_ == State::kIdle) {
      state_ = State::kOpen;  // mid-stream pickup
      next_seq_ = seq;
    }
    if (tcp_flags & tcp_flag::kRst) {
      const uint32_t off = seq - next_seq_;
      if (off == 0 || (off == 1 && fin_reached())) {
        state_ = State::kClosed;
        nr_ = 0;
        return kStreamRst;
      }
      return kStreamOutOfWindow;  // an RST's payload is never stream data
    }
    StreamEvent ev = kStreamNone;
    if (len > 0) ev |= on_data(seq, payload, len, sink);
    if (tcp_flags & tcp_flag::kFin) ev |= on_fin(seq + len);
    return ev;
  }

  // [worker] Accessors.
  [[nodiscard]] bool inspecting() const noexcept { return state_ == State::kIdle || state_ == State::kOpen; }
  [[nodiscard]] bool closed() const noexcept { return state_ == State::kClosed; }
  [[nodiscard]] bool fin_reached() const noexcept { return fin_ && next_seq_ == fin_seq_; }
  [[nodiscard]] uint32_t next_seq() const noexcept { return next_seq_; }
  [[nodiscard]] uint64_t delivered() const noexcept { return delivered_; }
  [[nodiscard]] uint32_t buffered_ranges() const noexcept { return nr_; }

 private:
  enum class State : uint8_t {
    kIdle,     // no segment seen yet
    kOpen,     // delivering
    kStopped,  // overflow or depth reached: only next_seq_ is followed (for FIN/RST)
    kClosed,   // RST honoured
  };
  struct Range {  // buffered bytes [start, end), absolute sequence numbers
    uint32_t start;
    uint32_t end;
  };

  // Offset of `s` from the next expected byte.
  [[nodiscard]] int64_t rel(uint32_t s) const noexcept { return static_cast<int32_t>(s - next_seq_); }
  [[nodiscard]] uint32_t last_end() const noexcept { return nr_ ? ranges_[nr_ - 1].end - next_seq_ : 0; }

  template <class Sink>
  StreamEvent on_data(uint32_t seq, const uint8_t* p, uint32_t len, Sink& sink) noexcept {
    int64_t off = rel(seq);
    int64_t end = off + len;
    StreamEvent ev = kStreamNone;
    if (fin_) {  // nothing follows a FIN; next_seq_ never passes fin_seq_
      const int64_t fin_off = fin_seq_ - next_seq_;
      if (end > fin_off) {
        end = fin_off;
        ev |= kStreamOutOfWindow;
        if (end <= off) return ev;
      }
    }
    if (off >= window_ || end <= -static_cast<int64_t>(window_)) return kStreamOutOfWindow;
    if (state_ != State::kOpen) {  // stopped: follow the sequence only
      if (off <= 0 && end > 0) advance(static_cast<uint32_t>(end));
      return ev;
    }
    if (off < 0) {  // a retransmission of delivered bytes, at least in part
      const int64_t old_end = std::min<int64_t>(end, 0);
      const int64_t from = std::max<int64_t>(off, -static_cast<int64_t>(hist_len_));
      if (from < old_end) ev |= compare(from, p + (from - off), static_cast<uint32_t>(old_end - from));
      if (end <= 0) return ev;
      p += -off;
      off = 0;
    }
    const uint32_t n = static_cast<uint32_t>(end - off);
    return ev | (off == 0 ? in_order(p, n, sink) : buffer(static_cast<uint32_t>(off), p, n));
  }

  StreamEvent on_fin(uint32_t fin_seq) noexcept {
    if (fin_) return fin_seq == fin_seq_ ? kStreamNone : kStreamOutOfWindow;
    const uint32_t off = fin_seq - next_seq_;  // "negative" offsets wrap to huge values
    if (off > cap_ || off < last_end()) return kStreamOutOfWindow;
    fin_ = true;
    fin_seq_ = fin_seq;
    return kStreamFin;
  }

  // Bytes [0, n) of `p` start at next_seq_; buffered ranges they reach are delivered too.
  template <class Sink>
  StreamEvent in_order(const uint8_t* p, uint32_t n, Sink& sink) noexcept {
    StreamEvent ev = kStreamNone;
    for (;;) {
      if (nr_ > 0 && ranges_[0].start == next_seq_) {
        const uint32_t rlen = ranges_[0].end - ranges_[0].start;
        const uint32_t both = std::min(n, rlen);
        if (both > 0) ev |= compare(0, p, both);  // first seen (the buffered bytes) wins
        p += both;
        n -= both;
        std::memmove(ranges_, ranges_ + 1, (nr_ - 1) * sizeof(Range));
        --nr_;
        ev |= kStreamGapFilled;
        ev |= emit_ring(rlen, sink);
        continue;
      }
      if (n == 0) break;
      const uint32_t k = nr_ > 0 ? std::min(n, ranges_[0].start - next_seq_) : n;
      ev |= emit_direct(p, k, sink);
      p += k;
      n -= k;
    }
    if (state_ != State::kOpen) nr_ = 0;
    return ev;
  }

  // Bytes [off, off+n) with off > 0: kept in the ring until the gap before them fills.
  StreamEvent buffer(uint32_t off, const uint8_t* p, uint32_t n) noexcept {
    const uint64_t end = uint64_t{off} + n;
    if (end > cap_) return overflow();
    // Ranges [i, j) touch [off, end) (overlap or adjacency) and merge with it.
    uint32_t i = 0;
    while (i < nr_ && ranges_[i].end - next_seq_ < off) ++i;
    uint32_t j = i;
    while (j < nr_ && ranges_[j].start - next_seq_ <= end) ++j;
    if (nr_ - (j - i) + 1 > kMaxRanges) return overflow();
    StreamEvent ev = kStreamNone;
    uint64_t cur = off;
    for (uint32_t k = i; k < j; ++k) {
      const uint64_t rs = ranges_[k].start - next_seq_;
      const uint64_t re = ranges_[k].end - next_seq_;
      if (rs > cur) {
        ring_write(static_cast<int64_t>(cur), p + (cur - off), static_cast<uint32_t>(rs - cur));
        ev |= kStreamBuffered;
      }
      const uint64_t ov_from = std::max(cur, rs);
      const uint64_t ov_to = std::min(end, re);
      if (ov_from < ov_to)
        ev |= compare(static_cast<int64_t>(ov_from), p + (ov_from - off), static_cast<uint32_t>(ov_to - ov_from));
      cur = std::max(cur, re);
    }
    if (cur < end) {
      ring_write(static_cast<int64_t>(cur), p + (cur - off), static_cast<uint32_t>(end - cur));
      ev |= kStreamBuffered;
    }
    Range merged{next_seq_ + off, static_cast<uint32_t>(next_seq_ + end)};
    if (j > i) {
      if (ranges_[i].start - next_seq_ < off) merged.start = ranges_[i].start;
      if (ranges_[j - 1].end - next_seq_ > end) merged.end = ranges_[j - 1].end;
      std::memmove(ranges_ + i + 1, ranges_ + j, (nr_ - j) * sizeof(Range));
      nr_ = static_cast<uint8_t>(nr_ - (j - i - 1));
    } else {
      std::memmove(ranges_ + i + 1, ranges_ + i, (nr_ - i) * sizeof(Range));
      ++nr_;
    }
    ranges_[i] = merged;
    clamp_history();
    return ev;
  }

  StreamEvent overflow() noexcept {
    state_ = State::kStopped;
    nr_ = 0;
    return kStreamOverflow;
  }

  // Hands up to n bytes to the sink within the depth limit; returns how many.
  StreamEvent allow(uint32_t n, uint32_t& give) noexcept {
    give = n;
    if (state_ != State::kOpen) {
      give = 0;
      return kStreamNone;
    }
    if (depth_limit_ != 0 && delivered_ + n > depth_limit_) {
      give = static_cast<uint32_t>(depth_limit_ - delivered_);
      state_ = State::kStopped;
      return kStreamDepthReached | (give ? kStreamDelivered : kStreamNone);
    }
    return give ? kStreamDelivered : kStreamNone;
  }

  template <class Sink>
  StreamEvent emit_direct(const uint8_t* p, uint32_t n, Sink& sink) noexcept {
    uint32_t give = 0;
    const bool open = state_ == State::kOpen;
    const StreamEvent ev = allow(n, give);
    if (give > 0) sink.deliver(p, give);
    delivered_ += give;
    if (open && cap_ > 0) {  // keep the newest bytes as history for overlap checks
      const uint32_t keep = std::min(n, cap_);
      ring_write(int64_t{n} - keep, p + (n - keep), keep);
    }
    advance(n);
    return ev;
  }

  template <class Sink>
  StreamEvent emit_ring(uint32_t n, Sink& sink) noexcept {  // n <= cap_, at offset 0
    uint32_t give = 0;
    const StreamEvent ev = allow(n, give);
    if (give > 0) {
      const uint32_t at = pos(0);
      const uint32_t first = std::min(give, cap_ - at);
      sink.deliver(buf_ + at, first);
      delivered_ += first;
      if (give > first) sink.deliver(buf_, give - first);
      delivered_ += give - first;
    }
    advance(n);
    return ev;
  }

  void advance(uint32_t n) noexcept {
    next_seq_ += n;
    if (cap_ > 0) {  // no division in the common case: a segment shorter than the ring
      const uint64_t h = uint64_t{head_} + n;
      head_ = static_cast<uint32_t>(n < cap_ ? (h >= cap_ ? h - cap_ : h) : h % cap_);
    }
    hist_len_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{hist_len_} + n, cap_));
    clamp_history();
  }

  // Delivered bytes kept in the ring must not share a slot with buffered ones.
  void clamp_history() noexcept { hist_len_ = std::min(hist_len_, cap_ - last_end()); }

  StreamEvent compare(int64_t off, const uint8_t* p, uint32_t n) noexcept {
    if (conflict_reported_ || n == 0) return kStreamNone;
    const uint32_t at = pos(off);
    const uint32_t first = std::min(n, cap_ - at);
    if (std::memcmp(buf_ + at, p, first) == 0 && std::memcmp(buf_, p + first, n - first) == 0)
      return kStreamNone;
    conflict_reported_ = true;
    return kStreamOverlapConflict;
  }

  void ring_write(int64_t off, const uint8_t* p, uint32_t n) noexcept {  // n <= cap_
    if (n == 0) return;
    const uint32_t at = pos(off);
    const uint32_t first = std::min(n, cap_ - at);
    std::memcpy(buf_ + at, p, first);
    if (n > first) std::memcpy(buf_, p + first, n - first);
  }

  // Ring slot of the byte at offset `off` (cap_ > 0).
  [[nodiscard]] uint32_t pos(int64_t off) const noexcept {
    int64_t x = int64_t{head_} + off;
    if (x >= cap_ || x < -int64_t{cap_}) x %= cap_;  // rare: |off| is at most the ring's size
    if (x >= cap_) x -= cap_;
    if (x < 0) x += cap_;
    return static_cast<uint32_t>(x);
  }

  uint8_t* buf_ = nullptr;
  uint32_t cap_ = 0;
  uint32_t head_ = 0;      // ring slot of next_seq_
  uint32_t hist_len_ = 0;  // delivered bytes [next_seq_ - hist_len_, next_seq_) still in the ring
  uint32_t next_seq_ = 0;  // first byte not yet delivered
  uint32_t isn_ = 0;
  uint32_t fin_seq_ = 0;   // sequence number of the FIN (one past the last data byte)
  uint32_t depth_limit_ = 0;
  uint32_t window_ = kMaxWindow;
  uint64_t delivered_ = 0;
  Range ranges_[kMaxRanges] = {};  // sorted by offset, disjoint, not adjacent, all after a gap
  uint8_t nr_ = 0;
  State state_ = State::kIdle;
  bool syn_seen_ = false;
  bool fin_ = false;
  bool conflict_reported_ = false;
};

}  // namespace sentinel::dataplane

#include "hybi00_frame.h"

#include <event2/buffer.h>

#include <algorithm>
#include <cstring>

#include "buffer.h"

namespace {

// The bytes at the front of the input that decode has read but not yet drained: type bytes,
// lengths, end markers and discarded frames. They go in one drain, just before the next text
// payload is handed on or when decode returns, so a frame boundary costs one drain at most.
class Consumed {
 public:
  explicit Consumed(evbuffer* in) : in_(in) { rewind(); }
  // Bytes after the consumed ones.
  size_t left() const { return evbuffer_get_length(in_) - static_cast<size_t>(at_.pos); }
  // Where the unread bytes start; valid until the buffer changes.
  const evbuffer_ptr& at() const { return at_; }
  // The first unread byte, read in place; needs left() > 0.
  uint8_t peek() {
    evbuffer_iovec v;
    evbuffer_peek(in_, 1, &at_, &v, 1);
    return *static_cast<const uint8_t*>(v.iov_base);
  }
  // Marks n more bytes as read; needs n <= left().
  void take(size_t n) {
    if (n) evbuffer_ptr_set(in_, &at_, n, EVBUFFER_PTR_ADD);
  }
  // Drains what was read.
  void drain() {
    if (at_.pos > 0) evbuffer_drain(in_, static_cast<size_t>(at_.pos));
    rewind();
  }
  // Nothing read: after a drain, by us or by the sink.
  void rewind() { evbuffer_ptr_set(in_, &at_, 0, EVBUFFER_PTR_SET); }

 private:
  evbuffer* in_;
  evbuffer_ptr at_;
};

// Where a 0xFF-terminated frame's bytes end, as far as scan_frame could see.
struct Span {
  size_t n = 0;      // bytes before the 0xFF, or all that were looked at
  bool fin = false;  // the 0xFF was found
  bool bad = false;  // `utf8` refused a byte; n is not meaningful then
};

// Looks for the 0xFF that ends a frame among the `limit` bytes from `at` (there must be that
// many), in place, piece by piece. Bytes before it go to `utf8` when given, which stops the scan
// at the first invalid one.
Span scan_frame(evbuffer* in, evbuffer_ptr at, size_t limit, Utf8Validator* utf8) {
  constexpr int kVecs = 16;
  evbuffer_iovec v[kVecs];
  Span s;
  while (s.n < limit) {
    int nv = evbuffer_peek(in, static_cast<ev_ssize_t>(limit - s.n), &at, v, kVecs);
    if (nv <= 0) break;
    size_t seen = 0;
    for (int i = 0; i < nv && i < kVecs && s.n < limit; i++) {
      const uint8_t* p = static_cast<const uint8_t*>(v[i].iov_base);
      size_t k = std::min(v[i].iov_len, limit - s.n);
      const void* ff = memchr(p, 0xFF, k);
      if (ff) k = static_cast<size_t>(static_cast<const uint8_t*>(ff) - p);
      if (utf8 && !utf8->feed(p, k)) {
        s.bad = true;
        return s;
      }
      s.n += k;
      seen += k;
      if (ff) {
        s.fin = true;
        return s;
      }
    }
    if (nv <= kVecs) break;  // every piece up to the limit was seen
    evbuffer_ptr_set(in, &at, seen, EVBUFFER_PTR_ADD);
  }
  return s;
}

constexpr DecodeError kTooBig = {close_code::kTooBig, "hybi-00 frame exceeds max_message_size"};

}  // namespace

// Scans in place: markers and lengths are read where they lie and drained together with the
// boundary they belong to; text payload goes to the sink straight from the front of `in`.
DecodeError Hybi00Codec::decode(evbuffer* in, MessageSink& sink) {
  Consumed c(in);
  for (;;) {
    switch (state_) {
      case State::kClosed:
        evbuffer_drain(in, evbuffer_get_length(in));
        return {};
      case State::kType: {
        if (c.left() == 0) break;
        uint8_t type = c.peek();
        c.take(1);
        len_ = 0;
        utf8_.reset();
        // The draft's two frame kinds: high bit set means a length follows, else 0xFF ends it.
        state_ = type == 0xFF   ? State::kCloseLength
                 : type & 0x80  ? State::kLength
                 : type == 0x00 ? State::kText
                                : State::kSkipText;
        continue;
      }
      case State::kLength:
      case State::kCloseLength: {
        if (c.left() == 0) break;
        uint8_t b = c.peek();
        c.take(1);
        // len_ * 128 + digit > max, without overflowing.
        if (len_ > (max_message_ >> 7) || len_ * 128 + (b & 0x7F) > max_message_) return kTooBig;
        len_ = len_ * 128 + (b & 0x7F);
        if (b & 0x80) continue;
        if (state_ == State::kCloseLength && len_ == 0) {
          state_ = State::kClosed;
          sink.on_close(close_code::kNoStatus, {});
          continue;
        }
        state_ = State::kSkipLength;
        continue;
      }
      case State::kSkipLength: {
        // Length-prefixed frames carry no data this draft defines: read and thrown away.
        size_t n = static_cast<size_t>(std::min<uint64_t>(len_, c.left()));
        c.take(n);
        len_ -= n;
        if (len_ > 0) break;
        state_ = State::kType;
        frame_ended_ = true;
        continue;
      }
      case State::kText:
      case State::kSkipText: {
        bool text = state_ == State::kText;
        // An empty, unfinished piece carries nothing worth reporting.
        if (c.left() == 0 || (text && sink.blocked())) break;
        // One byte past the room left tells a frame that is too big.
        uint64_t room = max_message_ - len_;
        size_t limit = room < c.left() ? static_cast<size_t>(room) + 1 : c.left();
        Span s = scan_frame(in, c.at(), limit, text ? &utf8_ : nullptr);
        if (s.bad) return {close_code::kInvalidPayload, "invalid UTF-8 in a hybi-00 text frame"};
        if (!s.fin && s.n > room) return kTooBig;
        if (text && s.fin && !utf8_.complete())
          return {close_code::kInvalidPayload, "hybi-00 text frame ends inside a UTF-8 sequence"};
        bool first = len_ == 0;  // nothing of this frame went out yet
        len_ += s.n;
        if (text) {
          c.drain();  // the sink takes the payload from the front
          sink.on_data(in, s.n, kOpText, first, s.fin);
          c.rewind();
        } else {
          c.take(s.n);
        }
        if (!s.fin) break;
        c.take(1);
        state_ = State::kType;
        frame_ended_ = true;
        continue;
      }
    }
    // Out of input, or the sink is full: drain what was read and wait for the next call.
    c.drain();
    return {};
  }
}

void Hybi00Codec::encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t /*opcode*/,
                              bool first, bool fin) {
  if (out_closed_) {
    evbuffer_drain(payload, n);
    return;
  }
  if (first) evbuffer_add(out, "\x00", 1);
  if (n) move_bytes(payload, out, n);
  if (fin) evbuffer_add(out, "\xff", 1);
  out_in_frame_ = !fin;
}

void Hybi00Codec::encode_close(evbuffer* out, uint16_t /*code*/, std::string_view /*reason*/) {
  if (out_closed_ || out_in_frame_) return;
  out_closed_ = true;
  evbuffer_add(out, "\xff\x00", 2);
}

#include "frame.h"

#include <openssl/rand.h>
#include <string.h>

#include <algorithm>

#include "buffer.h"

namespace {

uint64_t load_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

// XORs p with the 4-byte mask starting at mask offset pos: 16 bytes at a time (a vector type,
// one SSE2 register on baseline x86-64), then 8, then single bytes.
void xor_mask(uint8_t* p, size_t n, const uint8_t mask[4], unsigned pos) {
  typedef uint8_t v16 __attribute__((vector_size(16)));
  uint8_t rot[16];
  for (int i = 0; i < 16; i++) rot[i] = mask[(pos + i) & 3];
  v16 m;
  memcpy(&m, rot, sizeof m);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 w;
    memcpy(&w, p + i, sizeof w);
    w ^= m;
    memcpy(p + i, &w, sizeof w);
  }
  uint64_t m8;
  memcpy(&m8, rot, 8);  // i is a multiple of 16, so the phase is unchanged
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    w ^= m8;
    memcpy(p + i, &w, 8);
  }
  for (; i < n; i++) p[i] ^= rot[i & 7];
}

// XORs the first n bytes of `b` in place, starting at mask offset pos; returns the next offset.
unsigned mask_evbuffer(evbuffer* b, size_t n, const uint8_t mask[4], unsigned pos) {
  for_each_piece(b, n, [&](uint8_t* p, size_t len) {
    xor_mask(p, len, mask, pos);
    pos = (pos + len) & 3;
    return true;
  });
  return pos;
}

}  // namespace

// A ping or pong: payloads are capped at 125 bytes by the RFC.
void encode_server_control(evbuffer* out, uint8_t op, const void* p, size_t n) {
  uint8_t h[kMaxFrameHeader];
  n = std::min(n, kMaxControlPayload);
  evbuffer_add(out, h, encode_frame_header(h, op, true, n));
  evbuffer_add(out, p, n);
}

size_t encode_frame_header(uint8_t* out, uint8_t opcode, bool fin, uint64_t len,
                           const uint8_t* mask) {
  size_t n = 0;
  out[n++] = static_cast<uint8_t>((fin ? 0x80 : 0) | (opcode & 0x0F));
  uint8_t m = mask ? 0x80 : 0;
  if (len < 126) {
    out[n++] = static_cast<uint8_t>(m | len);
  } else if (len <= 0xFFFF) {
    out[n++] = m | 126;
    out[n++] = static_cast<uint8_t>(len >> 8);
    out[n++] = static_cast<uint8_t>(len);
  } else {
    out[n++] = m | 127;
    for (int i = 7; i >= 0; i--) out[n++] = static_cast<uint8_t>(len >> (8 * i));
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

bool close_code_valid(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

DecodeError FrameDecoder::decode(evbuffer* in, MessageSink& sink) {
  for (;;) {
    DecodeError err;
    State before = state_;
    size_t len_before = evbuffer_get_length(in);
    switch (state_) {
      case State::kClosed:
        evbuffer_drain(in, evbuffer_get_length(in));
        return err;
      case State::kHeader: {
        bool need_more = false;
        err = parse_header(in, need_more);
        if (err.code || need_more) return err;
        break;
      }
      case State::kPayload:
        if (sink.blocked()) return err;
        err = payload(in, sink);
        break;
      case State::kControl:
        err = control(in, sink);
        break;
    }
    if (err.code) return err;
    // No progress means the rest of the frame has not arrived yet.
    if (state_ == before && evbuffer_get_length(in) == len_before) return err;
  }
}

DecodeError read_frame_header(evbuffer* in, const FrameRules& rules, bool in_message,
                              uint64_t msg_len, FrameHeader& f, bool& need_more) {
  uint8_t h[kMaxFrameHeader];
  size_t got = evbuffer_copyout(in, h, sizeof h);
  need_more = got < 2;
  if (need_more) return {};
  f.fin = h[0] & 0x80;
  f.rsv = (h[0] >> 4) & 7;
  f.opcode = h[0] & 0x0F;
  f.masked = h[1] & 0x80;
  uint8_t len7 = h[1] & 0x7F;
  uint8_t op = f.opcode;
  bool control = op & 0x08;
  // RSV1 marks a compressed message: only on its first frame, and only if deflate was agreed.
  bool rsv1_ok = rules.compressed && !control && op != kOpCont;
  if (f.rsv & ~(rsv1_ok ? 4 : 0))
    return {close_code::kProtocolError, "reserved bits set with no extension"};
  if (op != kOpCont && op != kOpText && op != kOpBinary && op != kOpClose && op != kOpPing &&
      op != kOpPong)
    return {close_code::kProtocolError, "unknown opcode"};
  if (f.masked != rules.masked)
    return {close_code::kProtocolError,
            rules.masked ? "client frame is not masked" : "server frame is masked"};
  if (control && !f.fin) return {close_code::kProtocolError, "fragmented control frame"};
  if (control && len7 > kMaxControlPayload)
    return {close_code::kProtocolError, "control frame payload over 125 bytes"};
  if (op == kOpCont && !in_message)
    return {close_code::kProtocolError, "continuation frame with no message to continue"};
  if ((op == kOpText || op == kOpBinary) && in_message)
    return {close_code::kProtocolError, "new data frame inside a fragmented message"};
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  f.size = 2 + ext + (f.masked ? 4 : 0);
  need_more = got < f.size;
  if (need_more) return {};
  f.len = ext ? load_be(h + 2, static_cast<int>(ext)) : len7;
  if (len7 == 127 && (f.len >> 63))
    return {close_code::kProtocolError, "64-bit length with MSB set"};
  if ((len7 == 126 && f.len < 126) || (len7 == 127 && f.len <= 0xFFFF))
    return {close_code::kProtocolError, "payload length not minimally encoded"};
  uint64_t so_far = op == kOpCont ? msg_len : 0;
  if (!control && (f.len > rules.max_message || so_far > rules.max_message - f.len))
    return {close_code::kTooBig, "message exceeds max_message_size"};
  if (f.masked) memcpy(f.mask, h + 2 + ext, 4);
  return {};
}

DecodeError FrameDecoder::parse_header(evbuffer* in, bool& need_more) {
  FrameHeader f;
  DecodeError err = read_frame_header(in, FrameRules{masked_, false, max_message_}, in_message_,
                                      msg_len_, f, need_more);
  if (err.code || need_more) return err;
  memcpy(mask_, f.mask, 4);
  mask_pos_ = 0;
  evbuffer_drain(in, f.size);
  opcode_ = f.opcode;
  fin_ = f.fin;
  remaining_ = f.len;
  if (f.opcode & 0x08) {
    ctrl_len_ = 0;
    state_ = State::kControl;
    return {};
  }
  if (f.opcode != kOpCont) {
    in_message_ = true;
    message_started_ = false;
    msg_opcode_ = f.opcode;
    msg_len_ = 0;
    utf8_.reset();
  }
  msg_len_ += f.len;
  state_ = State::kPayload;
  return {};
}

// Unmasks the n leading bytes in place; a server's frames have no mask.
void FrameDecoder::unmask(evbuffer* in, size_t n) {
  if (masked_) mask_pos_ = static_cast<uint8_t>(mask_evbuffer(in, n, mask_, mask_pos_));
}

DecodeError FrameDecoder::payload(evbuffer* in, MessageSink& sink) {
  size_t avail = static_cast<size_t>(std::min<uint64_t>(remaining_, evbuffer_get_length(in)));
  if (avail == 0 && remaining_ > 0) return {};
  size_t n = avail;
  unmask(in, n);
  bool last = fin_ && n == remaining_;
  if (msg_opcode_ == kOpText) {
    if (!for_each_piece(in, n, [&](const uint8_t* p, size_t len) { return utf8_.feed(p, len); }))
      return {close_code::kInvalidPayload, "invalid UTF-8 in a text message"};
    if (last && !utf8_.complete())
      return {close_code::kInvalidPayload, "text message ends inside a UTF-8 sequence"};
  }
  remaining_ -= n;
  if (remaining_ == 0) {
    state_ = State::kHeader;
    frame_ended_ = true;
  }
  if (last) in_message_ = false;
  // An empty, unfinished piece carries nothing worth reporting.
  if (n > 0 || last) {
    bool first = !message_started_;
    message_started_ = true;
    sink.on_data(in, n, msg_opcode_, first, last);
  }
  return {};
}

DecodeError FrameDecoder::control(evbuffer* in, MessageSink& sink) {
  size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, evbuffer_get_length(in)));
  if (take) {
    evbuffer_remove(in, ctrl_ + ctrl_len_, take);
    if (masked_) xor_mask(ctrl_ + ctrl_len_, take, mask_, mask_pos_);
    mask_pos_ = static_cast<uint8_t>((mask_pos_ + take) & 3);
    ctrl_len_ += take;
    remaining_ -= take;
  }
  if (remaining_ > 0) return {};
  state_ = State::kHeader;
  frame_ended_ = true;
  if (opcode_ == kOpPing) {
    sink.on_ping(ctrl_, ctrl_len_);
  } else if (opcode_ == kOpPong) {
    sink.on_pong(ctrl_, ctrl_len_);
  } else {
    uint16_t code;
    std::string_view reason;
    DecodeError err = check_close_payload(ctrl_, ctrl_len_, code, reason);
    if (err.code) return err;
    state_ = State::kClosed;
    sink.on_close(code, reason);
  }
  return {};
}

DecodeError check_close_payload(const uint8_t* p, size_t n, uint16_t& code,
                                std::string_view& reason) {
  code = close_code::kNoStatus;
  reason = {};
  if (n == 0) return {};
  if (n == 1) return {close_code::kProtocolError, "close frame with a 1-byte payload"};
  code = static_cast<uint16_t>(load_be(p, 2));
  if (!close_code_valid(code)) return {close_code::kProtocolError, "invalid close code"};
  if (!utf8_valid(p + 2, n - 2)) return {close_code::kInvalidPayload, "close reason is not UTF-8"};
  reason = std::string_view(reinterpret_cast<const char*>(p) + 2, n - 2);
  return {};
}

void Rfc6455Codec::encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t opcode,
                               bool first, bool fin) {
  uint8_t h[kMaxFrameHeader];
  uint8_t mask[4];
  if (client_) RAND_bytes(mask, sizeof mask);  // RFC 6455 section 5.3: fresh for each frame
  size_t hl =
      encode_frame_header(h, first ? opcode : uint8_t{kOpCont}, fin, n, client_ ? mask : nullptr);
  evbuffer_add(out, h, hl);
  if (n == 0) return;
  // The payload is ours to change: it is masked where it lies, then moved.
  if (client_) mask_evbuffer(payload, n, mask, 0);
  move_bytes(payload, out, n);
}

void Rfc6455Codec::encode_close(evbuffer* out, uint16_t code, std::string_view reason) {
  uint8_t p[kMaxControlPayload];
  size_t n;
  close_payload(code, reason, p, n);
  encode_control(out, kOpClose, p, n);
}

// Control frames as this side sends them: masked from a client.
void Rfc6455Codec::encode_control(evbuffer* out, uint8_t op, const void* p, size_t n) {
  if (client_)
    encode_masked_control(out, op, p, n);
  else
    encode_server_control(out, op, p, n);
}

void encode_masked_control(evbuffer* out, uint8_t op, const void* p, size_t n) {
  uint8_t mask[4];
  RAND_bytes(mask, sizeof mask);  // RFC 6455 section 5.3: unpredictable per frame
  uint8_t frame[kMaxFrameHeader + kMaxControlPayload];
  n = std::min(n, kMaxControlPayload);
  size_t hl = encode_frame_header(frame, op, true, n, mask);
  memcpy(frame + hl, p, n);
  xor_mask(frame + hl, n, mask, 0);
  evbuffer_add(out, frame, hl + n);
}

void close_payload(uint16_t code, std::string_view reason, uint8_t* p, size_t& n) {
  n = 0;
  if (code == close_code::kNoStatus) return;
  p[n++] = static_cast<uint8_t>(code >> 8);
  p[n++] = static_cast<uint8_t>(code);
  size_t r = std::min(reason.size(), kMaxControlPayload - 2);
  // Cut a long reason on a character boundary so it stays valid UTF-8.
  while (r > 0 && r < reason.size() && (static_cast<uint8_t>(reason[r]) & 0xC0) == 0x80) r--;
  memcpy(p + n, reason.data(), r);
  n += r;
}

void Rfc6455Codec::encode_ping(evbuffer* out, const void* p, size_t n) {
  encode_control(out, kOpPing, p, n);
}

void Rfc6455Codec::encode_pong(evbuffer* out, const void* p, size_t n) {
  encode_control(out, kOpPong, p, n);
}

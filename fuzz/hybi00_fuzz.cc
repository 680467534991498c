// Fuzzes the hybi-00 frame decoder fed in chunk sizes chosen by the input itself (copied into
// one chain or linked as chains of their own), with a sink that blocks on an input-chosen
// schedule. Every text message it delivers is then encoded again and decoded by a fresh codec,
// which must give the same messages back.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "hybi00_frame.h"

namespace {

// Drains what it is given and checks the decoder's promises about it.
class CheckingSink : public MessageSink {
 public:
  void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) override {
    if (evbuffer_get_length(src) < n) abort();
    if (opcode != kOpText) abort();
    if (closed_) abort();
    if (blocked()) abort();  // the decoder must not push into a full sink
    if (!first && !in_message_) abort();
    if (first && in_message_) abort();
    if (first) messages_.emplace_back();
    in_message_ = !fin;
    std::string piece(n, '\0');
    if (n) evbuffer_remove(src, &piece[0], n);
    if (piece.find('\xFF') != std::string::npos) abort();
    if (!text_.feed(reinterpret_cast<const uint8_t*>(piece.data()), n)) abort();
    if (fin && !text_.complete()) abort();
    if (fin) text_.reset();
    messages_.back() += piece;
    if (messages_.back().size() > max_) abort();
    total_ += n;
  }
  void on_ping(const uint8_t*, size_t) override { abort(); }
  void on_pong(const uint8_t*, size_t) override { abort(); }
  void on_close(uint16_t code, std::string_view reason) override {
    if (code != close_code::kNoStatus || !reason.empty() || closed_) abort();
    closed_ = true;
  }
  bool blocked() const override { return block_; }

  bool block_ = false;
  bool closed_ = false;
  bool in_message_ = false;
  uint64_t max_ = 0;
  size_t total_ = 0;
  std::vector<std::string> messages_;

 private:
  Utf8Validator text_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  size_t chunk = data[0] % 32 + 1;
  bool chains = data[0] & 0x20;  // each piece a chain of its own, or copied into the last one
  uint64_t max_message = (data[1] % 8 + 1) * 64;
  uint8_t block_schedule = data[2];
  data += 3;
  size -= 3;
  Hybi00Codec codec(max_message);
  CheckingSink sink;
  sink.max_ = max_message;
  evbuffer* in = evbuffer_new();
  evbuffer* piece = evbuffer_new();
  size_t fed = 0;
  bool failed = false;
  for (unsigned call = 0; fed < size; call++) {
    size_t n = std::min(chunk, size - fed);
    evbuffer_add(chains ? piece : in, data + fed, n);
    if (chains) evbuffer_add_buffer(in, piece);
    fed += n;
    sink.block_ = (block_schedule >> (call % 8)) & 1;
    DecodeError err = codec.decode(in, sink);
    if (err.code) {
      if (err.code != close_code::kInvalidPayload && err.code != close_code::kTooBig) abort();
      if (err.why == nullptr || *err.why == '\0') abort();
      failed = true;
      break;
    }
  }
  if (!failed) {
    // Unblocked, whatever was held back goes through; a text frame may be left unfinished.
    sink.block_ = false;
    DecodeError err = codec.decode(in, sink);
    if (err.code && err.code != close_code::kInvalidPayload && err.code != close_code::kTooBig)
      abort();
    failed = err.code != 0;
    // Only an unfinished frame may be left: nothing held back from an unblocked sink. A text
    // frame's bytes are passed on as they come, so at most an unread type or length remains.
    if (!failed && evbuffer_get_length(in) != 0) abort();
  }
  if (sink.closed_ && evbuffer_get_length(in) != 0) abort();
  if (sink.total_ > size) abort();

  // Round trip: the finished messages, encoded and decoded again, in pieces of `chunk`.
  size_t finished = sink.messages_.size() - (sink.in_message_ ? 1 : 0);
  Hybi00Codec enc(max_message), dec(max_message);
  evbuffer* wire = evbuffer_new();
  evbuffer* payload = evbuffer_new();
  for (size_t i = 0; i < finished; i++) {
    const std::string& m = sink.messages_[i];
    evbuffer_add(payload, m.data(), m.size());
    size_t at = 0;
    do {
      size_t k = std::min(chunk, m.size() - at);
      enc.encode_data(wire, payload, k, kOpText, at == 0, at + k == m.size());
      at += k;
    } while (at < m.size());
    if (evbuffer_get_length(payload) != 0) abort();
  }
  enc.encode_close(wire, close_code::kNormal, "");
  CheckingSink again;
  again.max_ = max_message;
  if (dec.decode(wire, again).code) abort();
  if (!again.closed_ || again.in_message_ || evbuffer_get_length(wire) != 0) abort();
  if (again.messages_.size() != finished) abort();
  for (size_t i = 0; i < finished; i++)
    if (again.messages_[i] != sink.messages_[i]) abort();

  evbuffer_free(payload);
  evbuffer_free(wire);
  evbuffer_free(piece);
  evbuffer_free(in);
  return 0;
}

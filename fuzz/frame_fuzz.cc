// Fuzzes the RFC 6455 frame decoder fed in chunk sizes chosen by the input itself.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "frame.h"

namespace {

// Drains what it is given and checks the decoder's promises about it.
class CheckingSink : public MessageSink {
 public:
  void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) override {
    if (evbuffer_get_length(src) < n) abort();
    if (opcode != kOpText && opcode != kOpBinary) abort();
    if (!first && !in_message_) abort();
    if (first && in_message_) abort();
    in_message_ = !fin;
    if (opcode == kOpText) {
      std::vector<uint8_t> buf(n);
      evbuffer_remove(src, buf.data(), n);
      if (!text_.feed(buf.data(), n)) abort();
      if (fin && !text_.complete()) abort();
      if (fin) text_.reset();
    } else {
      evbuffer_drain(src, n);
    }
    total_ += n;
  }
  void on_ping(const uint8_t*, size_t n) override {
    if (n > kMaxControlPayload) abort();
  }
  void on_pong(const uint8_t*, size_t n) override {
    if (n > kMaxControlPayload) abort();
  }
  void on_close(uint16_t code, std::string_view reason) override {
    if (code != close_code::kNoStatus && !close_code_valid(code)) abort();
    if (!utf8_valid(reason.data(), reason.size())) abort();
  }
  size_t total_ = 0;

 private:
  bool in_message_ = false;
  Utf8Validator text_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t chunk = data[0] % 32 + 1;
  uint64_t max_message = (data[1] % 8 + 1) * 512;
  data += 2;
  size -= 2;
  FrameDecoder decoder(max_message);
  CheckingSink sink;
  evbuffer* in = evbuffer_new();
  size_t fed = 0;
  while (fed < size) {
    size_t n = std::min(chunk, size - fed);
    evbuffer_add(in, data + fed, n);
    fed += n;
    DecodeError err = decoder.decode(in, sink);
    if (err.code) {
      if (err.code != close_code::kProtocolError && err.code != close_code::kInvalidPayload &&
          err.code != close_code::kTooBig)
        abort();
      break;
    }
  }
  if (sink.total_ > size) abort();
  evbuffer_free(in);
  return 0;
}

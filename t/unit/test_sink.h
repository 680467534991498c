// Test helper: a MessageSink that records what a decoder reports, shared by the codec tests.
#pragma once

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "codec.h"

struct Event {
  enum Kind { kData, kPing, kPong, kClose } kind;
  uint8_t opcode = 0;
  bool first = false;
  bool fin = false;
  std::string data;
  uint16_t code = 0;
};

// Records what the decoder reports. Can block once it has taken `block_after` payload bytes.
class RecordingSink : public MessageSink {
 public:
  void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) override {
    EXPECT_LE(n, evbuffer_get_length(src));
    std::string piece(n, '\0');
    if (n) {
      ASSERT_EQ(evbuffer_remove(src, &piece[0], n), static_cast<int>(n));
    }
    data_bytes += n;
    events.push_back({Event::kData, opcode, first, fin, piece, 0});
  }
  void on_ping(const uint8_t* p, size_t n) override {
    events.push_back(
        {Event::kPing, 0, false, false, std::string(reinterpret_cast<const char*>(p), n), 0});
  }
  void on_pong(const uint8_t* p, size_t n) override {
    events.push_back(
        {Event::kPong, 0, false, false, std::string(reinterpret_cast<const char*>(p), n), 0});
  }
  void on_close(uint16_t code, std::string_view reason) override {
    events.push_back({Event::kClose, 0, false, false, std::string(reason), code});
  }
  bool blocked() const override { return block || data_bytes >= block_after; }

  // Whole messages with their opcodes: data pieces joined from `first` to `fin`, checking the
  // flags as we go. An unfinished last message is returned as it is when `allow_open`.
  std::vector<std::pair<uint8_t, std::string>> typed_messages(bool allow_open = false) const {
    std::vector<std::pair<uint8_t, std::string>> out;
    bool open = false;
    for (const Event& e : events) {
      if (e.kind != Event::kData) continue;
      EXPECT_EQ(e.first, !open) << "first flag out of place";
      if (e.first) out.push_back({e.opcode, ""});
      EXPECT_FALSE(out.empty());
      if (out.empty()) break;
      EXPECT_EQ(e.opcode, out.back().first) << "opcode changed inside a message";
      out.back().second += e.data;
      open = !e.fin;
    }
    if (!allow_open) {
      EXPECT_FALSE(open) << "last message not finished";
    }
    return out;
  }
  // The same for a text-only protocol: every message must be text.
  std::vector<std::string> texts(bool allow_open = false) const {
    std::vector<std::string> out;
    for (auto& [opcode, data] : typed_messages(allow_open)) {
      EXPECT_EQ(opcode, kOpText) << "a text-only protocol delivered another opcode";
      out.push_back(data);
    }
    return out;
  }
  std::vector<Event> controls() const {
    std::vector<Event> out;
    for (const Event& e : events)
      if (e.kind != Event::kData) out.push_back(e);
    return out;
  }

  std::vector<Event> events;
  size_t data_bytes = 0;
  size_t block_after = SIZE_MAX;
  bool block = false;
};

// Feeds `wire` to decoder `d` (anything with decode(evbuffer*, MessageSink&)) in chunks of
// `chunk` bytes (0 = all at once), decoding after each. Returns the first error; stops there.
template <typename Decoder>
DecodeError feed(Decoder& d, RecordingSink& sink, evbuffer* in, const std::string& wire,
                 size_t chunk = 0) {
  if (chunk == 0) chunk = wire.size() ? wire.size() : 1;
  DecodeError err;
  for (size_t i = 0; i < wire.size(); i += chunk) {
    evbuffer_add(in, wire.data() + i, std::min(chunk, wire.size() - i));
    err = d.decode(in, sink);
    if (err.code) return err;
  }
  if (wire.empty()) err = d.decode(in, sink);
  return err;
}

// The chunk sizes every decode test is run with: whole, byte by byte, and odd splits.
constexpr size_t kChunks[] = {0, 1, 2, 3, 7, 13, 128};

// Decodes `wire` with a fresh Decoder(max) for each chunking; expects the error `code`
// (0 = none), and no close reported before it.
template <typename Decoder>
void expect_decode_error(const std::string& wire, uint16_t code, uint64_t max = 1 << 20) {
  for (size_t chunk : kChunks) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    Decoder d(max);
    RecordingSink sink;
    evbuffer* in = evbuffer_new();
    DecodeError err = feed(d, sink, in, wire, chunk);
    evbuffer_free(in);
    EXPECT_EQ(err.code, code) << err.why;
    if (code) {
      EXPECT_STRNE(err.why, "");
      for (const Event& e : sink.events) EXPECT_NE(e.kind, Event::kClose);
    }
  }
}

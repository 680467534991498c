// Test helper: hybi-00 wire bytes, and a stream with every kind of frame, shared by the hybi-00
// codec tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "hybi00_frame.h"
#include "test_buffer.h"
#include "test_sink.h"

// The given byte values as a string.
inline std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// A text frame: 0x00 <payload> 0xFF.
inline std::string text_frame(const std::string& payload) {
  return std::string(1, '\0') + payload + "\xFF";
}

// A frame of `type` (high bit set) with a base-128 length and `payload`.
inline std::string length_frame(uint8_t type, const std::string& payload) {
  std::string len;
  uint64_t n = payload.size();
  len.insert(len.begin(), static_cast<char>(n & 0x7F));
  for (n >>= 7; n > 0; n >>= 7) len.insert(len.begin(), static_cast<char>(0x80 | (n & 0x7F)));
  return std::string(1, static_cast<char>(type)) + len + payload;
}

// The closing frame.
inline const std::string kClose = bytes({0xFF, 0x00});

// Feeds `wire` cut at the given offsets (ascending), decoding after each piece.
inline DecodeError feed_cuts(Hybi00Codec& c, RecordingSink& sink, Buf& in, const std::string& wire,
                             const std::vector<size_t>& cuts) {
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t end : ends) {
    in.add(wire.substr(at, end - at));
    at = end;
    DecodeError err = c.decode(in, sink);
    if (err.code) return err;
  }
  return {};
}

// A stream with every kind of frame, then the closing frame and bytes that must be ignored.
inline std::string mixed_stream() {
  return text_frame("hi") + text_frame("") + bytes({0x01}) + std::string("skip\0me", 7) + "\xFF" +
         length_frame(0x80, "len") + length_frame(0x81, std::string(130, 'L')) +
         text_frame("\xE2\x82\xAC\xF0\x9F\x98\x80") + length_frame(0xFF, "ff") +
         bytes({0x7F, 0xFF}) + text_frame("end") + kClose + text_frame("late") + "\xC0garbage";
}

// The text messages in mixed_stream().
inline const std::vector<std::string> kMixedMessages = {"hi", "", "\xE2\x82\xAC\xF0\x9F\x98\x80",
                                                        "end"};

// Checks that `sink` got mixed_stream()'s messages and its close, and nothing after it.
inline void expect_mixed(const RecordingSink& sink) {
  EXPECT_EQ(sink.texts(), kMixedMessages);
  auto ctl = sink.controls();
  ASSERT_EQ(ctl.size(), 1u);
  EXPECT_EQ(ctl[0].kind, Event::kClose);
  EXPECT_EQ(ctl[0].code, close_code::kNoStatus);
  EXPECT_EQ(ctl[0].data, "");
  EXPECT_EQ(sink.events.back().kind, Event::kClose) << "nothing after the close";
}

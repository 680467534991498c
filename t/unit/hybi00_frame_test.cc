// hybi-00 framing: the streaming Hybi00Codec decoder (text frames, discarded frames, the closing
// frame, limits, backpressure) and its encoder.
#include "hybi00_frame.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hybi00_wire.h"
#include "test_buffer.h"
#include "test_sink.h"

namespace {

// ---- Text frames ----

TEST(Hybi00Decode, TextFrame) {
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(c, sink, in, text_frame("Hello \xE2\x82\xAC")).code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].kind, Event::kData);
  EXPECT_EQ(sink.events[0].opcode, kOpText);
  EXPECT_TRUE(sink.events[0].first);
  EXPECT_TRUE(sink.events[0].fin);
  EXPECT_EQ(sink.events[0].data, "Hello \xE2\x82\xAC");
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, EmptyFrame) {
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, bytes({0x00, 0xFF}), chunk).code, 0);
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_TRUE(sink.events[0].first);
    EXPECT_TRUE(sink.events[0].fin);
    EXPECT_EQ(sink.events[0].data, "");
    EXPECT_EQ(in.size(), 0u);
  }
}

TEST(Hybi00Decode, SeveralFramesInOneBuffer) {
  std::string wire = text_frame("one") + text_frame("") + text_frame("two") +
                     text_frame("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5");
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, wire, chunk).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{
                                "one", "", "two", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"}));
    EXPECT_TRUE(sink.controls().empty());
    EXPECT_EQ(in.size(), 0u);
  }
}

TEST(Hybi00Decode, PiecesReportFirstAndFin) {
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add(std::string(1, '\0'));
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_TRUE(sink.events.empty()) << "a frame with nothing in it yet reports nothing";
  in.add("ab");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  in.add("cd");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  in.add("\xFF");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  in.add(text_frame("whole") + std::string(1, '\0') + "x");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  ASSERT_EQ(sink.events.size(), 5u);
  struct Want {
    std::string data;
    bool first, fin;
  } want[] = {{"ab", true, false},
              {"cd", false, false},
              {"", false, true},
              {"whole", true, true},
              {"x", true, false}};
  for (size_t i = 0; i < 5; i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sink.events[i].data, want[i].data);
    EXPECT_EQ(sink.events[i].first, want[i].first);
    EXPECT_EQ(sink.events[i].fin, want[i].fin);
    EXPECT_EQ(sink.events[i].opcode, kOpText);
  }
  EXPECT_EQ(in.size(), 0u);
}

// ---- UTF-8 ----

TEST(Hybi00Decode, InvalidUtf8Is1007) {
  for (const std::string& bad :
       {std::string("\xC0\xAF"), std::string("ok \xC3\x28"), std::string("\xED\xA0\x80"),
        std::string("\xF4\x90\x80\x80"), std::string("\x80"), std::string("\xFE")}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    expect_decode_error<Hybi00Codec>(text_frame(bad), close_code::kInvalidPayload);
  }
  // A valid frame before it is still delivered.
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  EXPECT_EQ(feed(c, sink, in, text_frame("fine") + text_frame("\xC3\x28")).code,
            close_code::kInvalidPayload);
  EXPECT_EQ(sink.texts(true).at(0), "fine");
}

TEST(Hybi00Decode, InvalidUtf8FailsFastBeforeTheFrameEnds) {
  // The frame never ends; the bad sequence is enough.
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{3}}) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    EXPECT_EQ(feed(c, sink, in, std::string(1, '\0') + "abc\xED\xA0\x80" + "def", chunk).code,
              close_code::kInvalidPayload);
  }
}

TEST(Hybi00Decode, Utf8SplitAcrossPiecesIsFine) {
  std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF0\x9F\x98\x80";
  std::string wire = text_frame(text);
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, wire, chunk).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{text}));
  }
}

TEST(Hybi00Decode, TextEndingInsideAUtf8SequenceIs1007) {
  expect_decode_error<Hybi00Codec>(text_frame("ab\xCE"), close_code::kInvalidPayload);
  expect_decode_error<Hybi00Codec>(text_frame("\xF0\x9F\x98"), close_code::kInvalidPayload);
  expect_decode_error<Hybi00Codec>(text_frame("\xE2\x82"), close_code::kInvalidPayload);
  // The lead byte in one piece, the end of the frame in the next.
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add(std::string(1, '\0') + "x\xE2\x82");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  in.add("\xFF");
  EXPECT_EQ(c.decode(in, sink).code, close_code::kInvalidPayload);
}

TEST(Hybi00Decode, EachFrameStartsWithFreshUtf8State) {
  // A skipped frame holding a lead byte must not leak into the next text frame.
  expect_decode_error<Hybi00Codec>(bytes({0x01, 0xE2, 0xFF}) + text_frame("\x82\xAC"),
                                   close_code::kInvalidPayload);
  expect_decode_error<Hybi00Codec>(bytes({0x01, 0xE2, 0xFF}) + text_frame("ok"), 0);
}

// ---- 1009 too big ----

TEST(Hybi00Decode, TextFrameOverMaxIs1009) {
  expect_decode_error<Hybi00Codec>(text_frame(std::string(10, 'x')), 0, 10);
  expect_decode_error<Hybi00Codec>(text_frame(std::string(11, 'x')), close_code::kTooBig, 10);
  // Each frame counts from zero.
  expect_decode_error<Hybi00Codec>(
      text_frame(std::string(10, 'x')) + text_frame(std::string(10, 'y')), 0, 10);
  // Detected before the frame's end arrives.
  Hybi00Codec c(10);
  RecordingSink sink;
  Buf in;
  in.add(std::string(1, '\0') + std::string(6, 'a'));
  ASSERT_EQ(c.decode(in, sink).code, 0);
  in.add(std::string(5, 'b'));
  DecodeError err = c.decode(in, sink);
  EXPECT_EQ(err.code, close_code::kTooBig);
  EXPECT_STRNE(err.why, "");
}

TEST(Hybi00Decode, LengthPrefixedFrameOverMaxIs1009) {
  expect_decode_error<Hybi00Codec>(length_frame(0x80, std::string(10, 'x')), 0, 10);
  expect_decode_error<Hybi00Codec>(length_frame(0x80, std::string(11, 'x')), close_code::kTooBig,
                                   10);
  expect_decode_error<Hybi00Codec>(length_frame(0x81, std::string(200, 'x')), close_code::kTooBig,
                                   100);
  // From the length alone, none of the data present: 0x82 0x80 0x80 0x00 is 2^15.
  Hybi00Codec c(1000);
  RecordingSink sink;
  Buf in;
  in.add(bytes({0x82, 0x82, 0x80, 0x00}));
  EXPECT_EQ(c.decode(in, sink).code, close_code::kTooBig);
  // A length with very many continuation bytes ends in 1009, not an overflow back under max.
  Hybi00Codec c2(1 << 20);
  Buf in2;
  std::string huge(1, '\x80');
  huge += std::string(40, '\xFF');
  huge.push_back('\x7F');
  in2.add(huge);
  EXPECT_EQ(c2.decode(in2, sink).code, close_code::kTooBig);
  EXPECT_TRUE(sink.events.empty());
}

// ---- Discarded frames ----

TEST(Hybi00Decode, LengthPrefixedFramesAreDiscarded) {
  std::string wire =
      length_frame(0x80, "") + text_frame("a") + length_frame(0x80, "hello") +
      length_frame(0x81, std::string(127, 'x')) + length_frame(0x81, std::string(128, 'y')) +
      length_frame(0xC0, std::string(300, '\xFF')) + length_frame(0xFE, bytes({0x00, 0xFF, 0x00})) +
      length_frame(0x80, std::string(20000, '\x00')) + text_frame("b");
  // A length written with a redundant leading zero group: 0x80 0x80 0x03 is 3.
  wire += bytes({0x90, 0x80, 0x03, 'a', 'b', 'c'}) + text_frame("c");
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, wire, chunk).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(sink.controls().empty());
    EXPECT_EQ(in.size(), 0u);
  }
}

TEST(Hybi00Decode, MultiByteLengthsAreBase128BigEndian) {
  // 0x81 0x00 is 128: exactly 128 bytes are skipped, and the 129th starts the next frame.
  std::string wire = bytes({0x80, 0x81, 0x00}) + std::string(128, 'z') + text_frame("next");
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(c, sink, in, wire).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"next"}));
  // 0x83 0x7F 0x02 is 3*128*128 + 127*128 + 2 = 65410.
  std::string wire2 = bytes({0x80, 0x83, 0xFF, 0x02}) + std::string(65410, 'q') + text_frame("z");
  Hybi00Codec c2(1 << 20);
  RecordingSink sink2;
  Buf in2;
  ASSERT_EQ(feed(c2, sink2, in2, wire2, 4093).code, 0);
  EXPECT_EQ(sink2.texts(), (std::vector<std::string>{"z"}));
}

TEST(Hybi00Decode, LowTypeFramesAreDiscarded) {
  for (int type = 0x01; type <= 0x7F; type++) {
    SCOPED_TRACE(type);
    // Not UTF-8 checked, may hold 0x00, and end at the first 0xFF.
    std::string wire = std::string(1, static_cast<char>(type)) +
                       std::string("junk\0\xC0\x80\0", 8) + "\xFF" + text_frame("after");
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, wire, type % 5).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{"after"}));
    EXPECT_TRUE(sink.controls().empty());
    EXPECT_EQ(in.size(), 0u);
  }
}

// ---- The closing frame ----

TEST(Hybi00Decode, CloseFrameReports1005AndIgnoresTheRest) {
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(10);
    RecordingSink sink;
    Buf in;
    // After the close: a text frame, invalid UTF-8 and an oversized frame, all ignored.
    std::string wire = text_frame("bye") + kClose + text_frame("late") + text_frame("\xC0") +
                       text_frame(std::string(50, 'x')) + length_frame(0x81, std::string(300, 'y'));
    ASSERT_EQ(feed(c, sink, in, wire, chunk).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{"bye"}));
    auto ctl = sink.controls();
    ASSERT_EQ(ctl.size(), 1u);
    EXPECT_EQ(ctl[0].kind, Event::kClose);
    EXPECT_EQ(ctl[0].code, close_code::kNoStatus);
    EXPECT_EQ(ctl[0].data, "");
    EXPECT_EQ(in.size(), 0u);
    // And later reads too.
    in.add(text_frame("later") + kClose);
    EXPECT_EQ(c.decode(in, sink).code, 0);
    EXPECT_EQ(sink.controls().size(), 1u);
    EXPECT_EQ(sink.texts().size(), 1u);
    EXPECT_EQ(in.size(), 0u);
  }
}

TEST(Hybi00Decode, CloseNotReportedUntilItsLengthArrives) {
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add("\xFF");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_TRUE(sink.events.empty());
  in.add(std::string(1, '\0'));
  ASSERT_EQ(c.decode(in, sink).code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].kind, Event::kClose);
}

TEST(Hybi00Decode, FfWithNonzeroLengthIsDiscardedNotAClose) {
  std::string wire = length_frame(0xFF, "x") + length_frame(0xFF, std::string(200, '\0')) +
                     text_frame("still open");
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(c, sink, in, wire, chunk).code, 0);
    EXPECT_EQ(sink.texts(), (std::vector<std::string>{"still open"}));
    EXPECT_TRUE(sink.controls().empty());
  }
}

TEST(Hybi00Decode, FfWithLengthZeroInTwoBytesIsAClose) {
  // The draft closes on type 0xFF with length 0, however the 0 is written.
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(c, sink, in, bytes({0xFF, 0x80, 0x00}) + text_frame("late")).code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].kind, Event::kClose);
}

// ---- Backpressure ----

TEST(Hybi00Decode, BlockedSinkHoldsTheNextFrame) {
  std::string wire = text_frame("first") + text_frame("second") + text_frame("third");
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  sink.block_after = 5;
  Buf in;
  in.add(wire);
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"first"}));
  EXPECT_GT(in.size(), 0u);
  ASSERT_EQ(c.decode(in, sink).code, 0);  // still blocked
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"first"}));
  sink.block_after = SIZE_MAX;
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, BlockedSinkStopsMidFrameAndResumes) {
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add(std::string(1, '\0') + "abc");
  ASSERT_EQ(c.decode(in, sink).code, 0);
  ASSERT_EQ(sink.data_bytes, 3u);
  sink.block = true;
  in.add("d\xC3");
  in.add(std::string("\xA9\xFF") + text_frame("g") + kClose);
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.data_bytes, 3u) << "nothing while blocked";
  EXPECT_TRUE(sink.controls().empty()) << "not even a close behind blocked data";
  sink.block = false;
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"abcd\xC3\xA9", "g"}));
  ASSERT_EQ(sink.controls().size(), 1u);
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, BlockedFromTheStart) {
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  sink.block = true;
  Buf in;
  in.add(text_frame("x"));
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_TRUE(sink.events.empty());
  EXPECT_GT(in.size(), 0u);
  sink.block = false;
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"x"}));
}

// ---- Encoder ----

TEST(Hybi00Encode, WholeFrame) {
  Hybi00Codec c(1 << 20);
  Buf payload, out;
  payload.add("hello world");
  c.encode_data(out, payload, 5, kOpText, true, true);
  EXPECT_EQ(out.str(), text_frame("hello"));
  EXPECT_EQ(payload.str(), " world") << "only n bytes are taken";
  Buf empty, out2;
  c.encode_data(out2, empty, 0, kOpText, true, true);
  EXPECT_EQ(out2.str(), bytes({0x00, 0xFF}));
}

TEST(Hybi00Encode, PiecesMakeOneFrame) {
  Hybi00Codec c(1 << 20);
  Buf payload, out;
  payload.add("abcdef");
  c.encode_data(out, payload, 2, kOpText, true, false);
  EXPECT_EQ(out.str(), std::string(1, '\0') + "ab");
  c.encode_data(out, payload, 2, kOpText, false, false);
  c.encode_data(out, payload, 0, kOpText, false, false);
  EXPECT_EQ(out.str(), std::string(1, '\0') + "abcd");
  c.encode_data(out, payload, 2, kOpText, false, true);
  EXPECT_EQ(out.str(), text_frame("abcdef"));
  // The opcode does not matter: hybi-00 has text frames only.
  Buf p2, out2;
  p2.add("QQ==");
  c.encode_data(out2, p2, 4, kOpBinary, true, true);
  EXPECT_EQ(out2.str(), text_frame("QQ=="));
}

TEST(Hybi00Encode, LargeFrame) {
  Hybi00Codec c(1 << 20);
  std::string big(100000, 'b');
  Buf payload, out;
  payload.add(big);
  c.encode_data(out, payload, big.size(), kOpText, true, true);
  EXPECT_EQ(out.str(), text_frame(big));
  EXPECT_EQ(payload.size(), 0u);
}

TEST(Hybi00Encode, CloseOnce) {
  Hybi00Codec c(1 << 20);
  Buf out;
  c.encode_close(out, close_code::kNormal, "bye");
  EXPECT_EQ(out.str(), kClose);
  c.encode_close(out, close_code::kInvalidPayload, "again");
  EXPECT_EQ(out.str(), kClose) << "written once";
  // Data after the close is dropped, and taken from the payload.
  Buf payload;
  payload.add("late");
  c.encode_data(out, payload, 4, kOpText, true, true);
  EXPECT_EQ(out.str(), kClose);
  EXPECT_EQ(payload.size(), 0u);
}

TEST(Hybi00Encode, CloseCodeDoesNotMatter) {
  for (uint16_t code : {close_code::kNormal, close_code::kGoingAway, close_code::kNoStatus,
                        close_code::kTooBig, uint16_t{4000}}) {
    Hybi00Codec c(1 << 20);
    Buf out;
    c.encode_close(out, code, "reason that is not sent");
    EXPECT_EQ(out.str(), kClose) << code;
  }
}

TEST(Hybi00Encode, CloseInsideAnUnfinishedFrameWritesNothing) {
  Hybi00Codec c(1 << 20);
  Buf payload, out;
  payload.add("abcd");
  c.encode_data(out, payload, 2, kOpText, true, false);
  c.encode_close(out, close_code::kGoingAway, "");
  EXPECT_EQ(out.str(), std::string(1, '\0') + "ab") << "0xFF 0x00 would cut the frame";
  c.encode_data(out, payload, 2, kOpText, false, true);
  EXPECT_EQ(out.str(), text_frame("abcd"));
  c.encode_close(out, close_code::kGoingAway, "");
  EXPECT_EQ(out.str(), text_frame("abcd") + kClose) << "once the frame is done, it may close";
}

TEST(Hybi00Encode, NoPings) {
  Hybi00Codec c(1 << 20);
  EXPECT_FALSE(c.has_pings());
  const Codec& base = c;
  EXPECT_FALSE(base.has_pings());
  Buf out;
  c.encode_ping(out, "ping", 4);
  c.encode_pong(out, "pong", 4);
  EXPECT_EQ(out.size(), 0u);
}

TEST(Hybi00Encode, EncodedFramesDecodeBack) {
  Hybi00Codec enc(1 << 20);
  Buf payload, wire;
  std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
  payload.add(text + "second");
  enc.encode_data(wire, payload, 3, kOpText, true, false);
  enc.encode_data(wire, payload, text.size() - 3, kOpText, false, true);
  enc.encode_data(wire, payload, 6, kOpText, true, true);
  enc.encode_close(wire, close_code::kNormal, "");
  Hybi00Codec dec(1 << 20);
  RecordingSink sink;
  ASSERT_EQ(dec.decode(wire, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{text, "second"}));
  ASSERT_EQ(sink.controls().size(), 1u);
  EXPECT_EQ(sink.controls()[0].code, close_code::kNoStatus);
}

}  // namespace

// RFC 6455 framing: what the FrameDecoder refuses, with the close code it answers (1002, 1007,
// 1009), and the close frames it reports.
#include "frame.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_buffer.h"
#include "test_frames.h"
#include "test_sink.h"

namespace {

using test_frames::bytes;
using test_frames::client_frame;
using test_frames::close_body;
using test_frames::kMask;
using test_frames::raw_frame;

// ---- 1002 protocol errors ----

TEST(FrameDecode, UnmaskedClientFrame) {
  expect_decode_error<FrameDecoder>(raw_frame(0x81, 5, "", "hello", false),
                                    close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(raw_frame(0x89, 0, "", "", false), close_code::kProtocolError);
  // A correctly encoded server frame is unmasked, so the client decoder refuses it.
  Rfc6455Codec codec(1 << 20);
  Buf out;
  codec.encode_ping(out, "x", 1);
  expect_decode_error<FrameDecoder>(out.str(), close_code::kProtocolError);
}

TEST(FrameDecode, ReservedBits) {
  for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    SCOPED_TRACE(rsv);
    expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "hi", kMask, rsv),
                                      close_code::kProtocolError);
    expect_decode_error<FrameDecoder>(client_frame(kOpPing, true, "", kMask, rsv),
                                      close_code::kProtocolError);
  }
}

TEST(FrameDecode, UnknownOpcodes) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    SCOPED_TRACE(op);
    expect_decode_error<FrameDecoder>(client_frame(op, true, "x"), close_code::kProtocolError);
    expect_decode_error<FrameDecoder>(client_frame(op, true, ""), close_code::kProtocolError);
  }
  // Also inside a fragmented message.
  expect_decode_error<FrameDecoder>(
      client_frame(kOpText, false, "a") + client_frame(0x3, true, "b"), close_code::kProtocolError);
}

TEST(FrameDecode, FragmentedControlFrame) {
  for (uint8_t op : {kOpPing, kOpPong, kOpClose}) {
    SCOPED_TRACE(op);
    expect_decode_error<FrameDecoder>(client_frame(op, false, ""), close_code::kProtocolError);
    expect_decode_error<FrameDecoder>(client_frame(op, false, "ab"), close_code::kProtocolError);
  }
}

TEST(FrameDecode, ControlFrameOver125Bytes) {
  for (uint8_t op : {kOpPing, kOpPong, kOpClose}) {
    SCOPED_TRACE(op);
    std::string p(126, 'x');
    if (op == kOpClose) p = close_body(1000, std::string(124, 'x'));
    expect_decode_error<FrameDecoder>(client_frame(op, true, p), close_code::kProtocolError);
    // The extended length says 125, which is a non-minimal encoding of a legal length:
    // any 126/127 length marker on a control frame is an error.
    expect_decode_error<FrameDecoder>(
        raw_frame(0x80 | op, 126, bytes({0x00, 0x7D}), std::string(125, 'y')),
        close_code::kProtocolError);
  }
  // Exactly 125 is fine.
  expect_decode_error<FrameDecoder>(client_frame(kOpPing, true, std::string(125, 'x')), 0);
  expect_decode_error<FrameDecoder>(
      client_frame(kOpClose, true, close_body(1000, std::string(123, 'r'))), 0);
}

TEST(FrameDecode, ContinuationWithoutStart) {
  expect_decode_error<FrameDecoder>(client_frame(kOpCont, true, "x"), close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(client_frame(kOpCont, false, ""), close_code::kProtocolError);
  // A finished message does not leave room for a continuation either.
  expect_decode_error<FrameDecoder>(
      client_frame(kOpText, true, "a") + client_frame(kOpCont, true, "b"),
      close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, false, "a") +
                                        client_frame(kOpCont, true, "b") +
                                        client_frame(kOpCont, true, "c"),
                                    close_code::kProtocolError);
}

TEST(FrameDecode, NewDataFrameInsideFragmentedMessage) {
  expect_decode_error<FrameDecoder>(
      client_frame(kOpText, false, "a") + client_frame(kOpText, true, "b"),
      close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(
      client_frame(kOpBinary, false, "a") + client_frame(kOpText, true, "b"),
      close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, false, "a") +
                                        client_frame(kOpPing, true, "") +
                                        client_frame(kOpBinary, false, "b"),
                                    close_code::kProtocolError);
}

TEST(FrameDecode, NonMinimalLengths) {
  // 126 marker with a 16-bit length under 126.
  expect_decode_error<FrameDecoder>(raw_frame(0x82, 126, bytes({0x00, 0x00}), ""),
                                    close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(
      raw_frame(0x82, 126, bytes({0x00, 0x7D}), std::string(125, 'x')), close_code::kProtocolError);
  // 127 marker with a 64-bit length that fits 16 bits.
  expect_decode_error<FrameDecoder>(raw_frame(0x82, 127, bytes({0, 0, 0, 0, 0, 0, 0, 5}), "hello"),
                                    close_code::kProtocolError);
  expect_decode_error<FrameDecoder>(raw_frame(0x82, 127, bytes({0, 0, 0, 0, 0, 0, 0xFF, 0xFF}), ""),
                                    close_code::kProtocolError);
  // The smallest legal lengths for each marker are accepted.
  expect_decode_error<FrameDecoder>(
      raw_frame(0x82, 126, bytes({0x00, 0x7E}), std::string(126, 'x')), 0);
  expect_decode_error<FrameDecoder>(
      raw_frame(0x82, 127, bytes({0, 0, 0, 0, 0, 1, 0, 0}), std::string(65536, 'x')), 0);
}

TEST(FrameDecode, SixtyFourBitLengthWithMsbSet) {
  expect_decode_error<FrameDecoder>(raw_frame(0x82, 127, bytes({0x80, 0, 0, 0, 0, 0, 0, 0}), ""),
                                    close_code::kProtocolError, UINT64_MAX);
  expect_decode_error<FrameDecoder>(
      raw_frame(0x82, 127, bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}), ""),
      close_code::kProtocolError, UINT64_MAX);
}

TEST(FrameDecode, CloseWithOneBytePayload) {
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, "\x03"),
                                    close_code::kProtocolError);
}

TEST(FrameDecode, InvalidCloseCodes) {
  for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    expect_decode_error<FrameDecoder>(
        client_frame(kOpClose, true, close_body(static_cast<uint16_t>(code))),
        close_code::kProtocolError);
    expect_decode_error<FrameDecoder>(
        client_frame(kOpClose, true, close_body(static_cast<uint16_t>(code), "bye")),
        close_code::kProtocolError);
  }
}

TEST(FrameDecode, CloseCodeValidTable) {
  for (int code = 0; code <= 65535; code++) {
    bool expect = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                  (code >= 3000 && code <= 4999);
    EXPECT_EQ(close_code_valid(static_cast<uint16_t>(code)), expect) << code;
  }
}

// ---- Close frames ----

TEST(FrameDecode, ValidCloseCodesAreReported) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    for (size_t chunk : kChunks) {
      SCOPED_TRACE(std::to_string(code) + " chunk " + std::to_string(chunk));
      FrameDecoder d(1 << 20);
      RecordingSink sink;
      Buf in;
      std::string reason = "done \xE2\x9C\x93";
      ASSERT_EQ(
          feed(d, sink, in,
               client_frame(kOpClose, true, close_body(static_cast<uint16_t>(code), reason)), chunk)
              .code,
          0);
      ASSERT_EQ(sink.events.size(), 1u);
      EXPECT_EQ(sink.events[0].kind, Event::kClose);
      EXPECT_EQ(sink.events[0].code, code);
      EXPECT_EQ(sink.events[0].data, reason);
      EXPECT_TRUE(d.closed());
    }
  }
}

TEST(FrameDecode, EmptyCloseReportsNoStatus) {
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(d, sink, in, client_frame(kOpClose, true, "")).code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].kind, Event::kClose);
  EXPECT_EQ(sink.events[0].code, close_code::kNoStatus);
  EXPECT_EQ(sink.events[0].data, "");
  EXPECT_TRUE(d.closed());
}

TEST(FrameDecode, CloseInsideFragmentedMessageIsAccepted) {
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  std::string wire =
      client_frame(kOpText, false, "par") + client_frame(kOpClose, true, close_body(1000));
  ASSERT_EQ(feed(d, sink, in, wire).code, 0);
  EXPECT_TRUE(d.closed());
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1].kind, Event::kClose);
  EXPECT_EQ(sink.events[1].code, 1000);
}

TEST(FrameDecode, InputAfterCloseIsIgnored) {
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    // Trailing bytes in the same buffer: a valid frame, then garbage that would be a 1002.
    std::string wire = client_frame(kOpClose, true, close_body(1001, "away")) +
                       client_frame(kOpText, true, "late") + raw_frame(0xF3, 5, "", "xxxxx", false);
    ASSERT_EQ(feed(d, sink, in, wire, chunk).code, 0);
    EXPECT_TRUE(d.closed());
    EXPECT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(in.size(), 0u);
    in.add(client_frame(kOpPing, true, "later still"));
    EXPECT_EQ(d.decode(in, sink).code, 0);
    EXPECT_EQ(sink.events.size(), 1u);
    EXPECT_TRUE(d.closed());
  }
}

TEST(FrameDecode, NotClosedBeforeCloseFrameCompletes) {
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  std::string wire = client_frame(kOpClose, true, close_body(1000, "bye"));
  in.add(wire.substr(0, wire.size() - 1));
  ASSERT_EQ(d.decode(in, sink).code, 0);
  EXPECT_FALSE(d.closed());
  EXPECT_TRUE(sink.events.empty());
  in.add(wire.substr(wire.size() - 1));
  ASSERT_EQ(d.decode(in, sink).code, 0);
  EXPECT_TRUE(d.closed());
}

// ---- 1007 invalid payload ----

TEST(FrameDecode, InvalidUtf8InText) {
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "\xFF"),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "ok \xC0\xAF"),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "\xED\xA0\x80"),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "\xF4\x90\x80\x80"),
                                    close_code::kInvalidPayload);
  // Invalid across fragments.
  expect_decode_error<FrameDecoder>(
      client_frame(kOpText, false, "a\xE2\x82") + client_frame(kOpCont, true, "A"),
      close_code::kInvalidPayload);
  // Binary messages are not checked.
  expect_decode_error<FrameDecoder>(client_frame(kOpBinary, true, "\xFF\xED\xA0\x80\xC0"), 0);
}

TEST(FrameDecode, InvalidUtf8FailsFastMidFrame) {
  // The frame announces 100 bytes; the bad sequence is in the first 11 and the rest never comes.
  std::string bad = "\xCE\xBA\xE1\xBD\xB9\xCE\xBC\xCE\xB5\xED\xA0\x80";
  std::string payload = bad + std::string(100 - bad.size(), 'x');
  std::string wire = client_frame(kOpText, true, payload);
  size_t header = 2 + 2 + 4;
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{5}}) {
    SCOPED_TRACE(chunk);
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    DecodeError err = feed(d, sink, in, wire.substr(0, header + 11), chunk);
    EXPECT_EQ(err.code, close_code::kInvalidPayload);
  }
  // And in a continuation frame that is far from complete.
  std::string frag = client_frame(kOpText, false, "abc") +
                     client_frame(kOpCont, true, "xyz\xC3\x28" + std::string(500, 'q'));
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  size_t second_header = client_frame(kOpText, false, "abc").size() + 4 + 4;
  EXPECT_EQ(feed(d, sink, in, frag.substr(0, second_header + 5)).code, close_code::kInvalidPayload);
}

TEST(FrameDecode, TextMessageEndingMidCharacter) {
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "ab\xCE"),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, "\xF0\x9F\x98"),
                                    close_code::kInvalidPayload);
  // The split character never completes: the final fragment is empty.
  expect_decode_error<FrameDecoder>(
      client_frame(kOpText, false, "a\xCE") + client_frame(kOpCont, true, ""),
      close_code::kInvalidPayload);
  // A control frame in between changes nothing.
  expect_decode_error<FrameDecoder>(client_frame(kOpText, false, "a\xE2\x82") +
                                        client_frame(kOpPing, true, "") +
                                        client_frame(kOpCont, true, ""),
                                    close_code::kInvalidPayload);
}

TEST(FrameDecode, NextTextMessageStartsWithFreshUtf8State) {
  // A binary message ending in a lead byte must not leak into the next text message.
  std::string wire = client_frame(kOpBinary, true, "\xE2") + client_frame(kOpText, true, "\x82");
  expect_decode_error<FrameDecoder>(wire, close_code::kInvalidPayload);
  std::string ok = client_frame(kOpText, true, "\xC3\xA9") + client_frame(kOpText, true, "ok");
  expect_decode_error<FrameDecoder>(ok, 0);
}

TEST(FrameDecode, CloseReasonInvalidUtf8) {
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, close_body(1000, "\xFF")),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, close_body(1000, "ab\xCE")),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, close_body(1000, "\xED\xA0\x80")),
                                    close_code::kInvalidPayload);
}

// ---- 1009 too big ----

TEST(FrameDecode, SingleFrameOverMaxMessageSize) {
  expect_decode_error<FrameDecoder>(client_frame(kOpBinary, true, std::string(101, 'x')),
                                    close_code::kTooBig, 100);
  expect_decode_error<FrameDecoder>(client_frame(kOpText, true, std::string(100, 'x')), 0, 100);
  // Detected from the header alone, before any payload arrives.
  std::string wire = client_frame(kOpBinary, true, std::string(70000, 'x'));
  FrameDecoder d(65536);
  RecordingSink sink;
  Buf in;
  in.add(wire.substr(0, 14));
  EXPECT_EQ(d.decode(in, sink).code, close_code::kTooBig);
  EXPECT_TRUE(sink.events.empty());
  // A huge 64-bit length (MSB clear) is a 1009, not a crash or a wait.
  expect_decode_error<FrameDecoder>(
      raw_frame(0x82, 127, bytes({0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}), ""),
      close_code::kTooBig, 1 << 20);
}

TEST(FrameDecode, FragmentsSummingOverMaxMessageSize) {
  std::string first = client_frame(kOpText, false, std::string(60, 'a'));
  std::string over = client_frame(kOpCont, true, std::string(41, 'b'));
  std::string exact = client_frame(kOpCont, true, std::string(40, 'b'));
  expect_decode_error<FrameDecoder>(first + over, close_code::kTooBig, 100);
  expect_decode_error<FrameDecoder>(first + exact, 0, 100);
  expect_decode_error<FrameDecoder>(
      first + client_frame(kOpCont, false, std::string(40, 'b')) + client_frame(kOpCont, true, "c"),
      close_code::kTooBig, 100);
  // Detected at the second frame's header, with none of its payload present.
  FrameDecoder d(100);
  RecordingSink sink;
  Buf in;
  in.add(first + over.substr(0, 6));
  EXPECT_EQ(d.decode(in, sink).code, close_code::kTooBig);
  // Control frames in between do not count toward the message size.
  expect_decode_error<FrameDecoder>(
      first + client_frame(kOpPing, true, std::string(100, 'p')) + exact, 0, 100);
  // Each message starts counting from zero.
  expect_decode_error<FrameDecoder>(client_frame(kOpBinary, true, std::string(100, 'a')) +
                                        client_frame(kOpBinary, true, std::string(100, 'b')),
                                    0, 100);
}

}  // namespace

// RFC 6455 framing: header encoding, and the streaming FrameDecoder on good input: lengths,
// masks, buffer chains, fragmentation, backpressure.
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
using test_frames::kMask;
using test_frames::parse_server_frame;
using test_frames::pattern;
using test_frames::ServerFrame;

// ---- encode_frame_header ----

TEST(FrameHeader, LengthEncodingsUnmasked) {
  struct Case {
    uint64_t len;
    std::string expect;
  } cases[] = {
      {0, bytes({0x82, 0x00})},
      {125, bytes({0x82, 0x7D})},
      {126, bytes({0x82, 0x7E, 0x00, 0x7E})},
      {127, bytes({0x82, 0x7E, 0x00, 0x7F})},
      {65535, bytes({0x82, 0x7E, 0xFF, 0xFF})},
      {65536, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})},
      {uint64_t{1} << 20, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00})},
      {uint64_t{1} << 40, bytes({0x82, 0x7F, 0, 0, 0x01, 0, 0, 0, 0, 0})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.len);
    uint8_t h[kMaxFrameHeader];
    size_t n = encode_frame_header(h, kOpBinary, true, c.len);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(h), n), c.expect);
  }
}

TEST(FrameHeader, MaskedAddsMaskBitAndKey) {
  for (uint64_t len : {uint64_t{0}, uint64_t{125}, uint64_t{126}, uint64_t{127}, uint64_t{65535},
                       uint64_t{65536}, uint64_t{1} << 20}) {
    SCOPED_TRACE(len);
    uint8_t plain[kMaxFrameHeader], masked[kMaxFrameHeader];
    size_t pn = encode_frame_header(plain, kOpText, false, len);
    size_t mn = encode_frame_header(masked, kOpText, false, len, kMask);
    ASSERT_EQ(mn, pn + 4);
    EXPECT_EQ(masked[0], 0x01);  // text, FIN clear
    EXPECT_EQ(masked[1], plain[1] | 0x80);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(masked) + 2, pn - 2),
              std::string(reinterpret_cast<char*>(plain) + 2, pn - 2));
    EXPECT_EQ(std::string(reinterpret_cast<char*>(masked) + pn, 4),
              std::string(reinterpret_cast<const char*>(kMask), 4));
    size_t expect_len = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    EXPECT_EQ(pn, expect_len);
  }
}

TEST(FrameHeader, OpcodeAndFinBits) {
  uint8_t h[kMaxFrameHeader];
  encode_frame_header(h, kOpPing, true, 0);
  EXPECT_EQ(h[0], 0x89);
  encode_frame_header(h, kOpCont, false, 3);
  EXPECT_EQ(h[0], 0x00);
  EXPECT_EQ(h[1], 0x03);
  encode_frame_header(h, kOpClose, true, 2);
  EXPECT_EQ(h[0], 0x88);
}

// ---- Decoding: lengths round trip ----

TEST(FrameDecode, LengthsRoundTripMasked) {
  for (size_t len : {size_t{0}, size_t{125}, size_t{126}, size_t{127}, size_t{65535}, size_t{65536},
                     size_t{1} << 20}) {
    std::string payload = pattern(len);
    for (uint8_t op : {uint8_t{kOpText}, uint8_t{kOpBinary}}) {
      std::string wire = client_frame(op, true, payload);
      std::vector<size_t> chunks = {0, 4093};
      if (len <= 65536) chunks.push_back(1);
      for (size_t chunk : chunks) {
        SCOPED_TRACE("len " + std::to_string(len) + " op " + std::to_string(op) + " chunk " +
                     std::to_string(chunk));
        FrameDecoder d(size_t{1} << 20);
        RecordingSink sink;
        Buf in;
        DecodeError err = feed(d, sink, in, wire, chunk);
        ASSERT_EQ(err.code, 0) << err.why;
        auto msgs = sink.typed_messages();
        ASSERT_EQ(msgs.size(), 1u);
        EXPECT_EQ(msgs[0].first, op);
        EXPECT_TRUE(msgs[0].second == payload);
        EXPECT_EQ(in.size(), 0u);
        EXPECT_FALSE(d.closed());
      }
    }
  }
}

TEST(FrameDecode, ServerEncodedFramesParseBack) {
  for (size_t len : {size_t{0}, size_t{125}, size_t{126}, size_t{127}, size_t{65535}, size_t{65536},
                     size_t{1} << 20}) {
    SCOPED_TRACE(len);
    Rfc6455Codec codec(1 << 20);
    Buf payload, out;
    std::string p = pattern(len);
    payload.add(p);
    codec.encode_data(out, payload, len, kOpBinary, true, true);
    EXPECT_EQ(payload.size(), 0u);
    std::string wire = out.str();
    ServerFrame f = parse_server_frame(wire);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.rsv, 0);
    EXPECT_FALSE(f.masked);
    EXPECT_EQ(f.opcode, kOpBinary);
    EXPECT_EQ(f.len, len);
    EXPECT_EQ(wire.size(), f.header + len);
    EXPECT_TRUE(f.payload == p);
  }
}

TEST(FrameDecode, MaskKeysOfAllKinds) {
  const uint8_t zero[4] = {0, 0, 0, 0};
  const uint8_t ff[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  const uint8_t odd[4] = {0x01, 0x80, 0x7F, 0xFE};
  for (const uint8_t* m : {zero, ff, odd}) {
    std::string payload = pattern(1000);
    for (size_t chunk : kChunks) {
      FrameDecoder d(1 << 20);
      RecordingSink sink;
      Buf in;
      ASSERT_EQ(feed(d, sink, in, client_frame(kOpBinary, true, payload, m), chunk).code, 0);
      auto msgs = sink.typed_messages();
      ASSERT_EQ(msgs.size(), 1u);
      EXPECT_TRUE(msgs[0].second == payload);
    }
  }
}

TEST(FrameDecode, PayloadSpreadOverManyBufferChains) {
  // More evbuffer chains than the decoder peeks at once; text with multibyte characters.
  std::string payload;
  for (int i = 0; i < 40; i++) payload += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  std::string wire = client_frame(kOpText, true, payload);
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add_chain_per_byte(wire);
  ASSERT_EQ(d.decode(in, sink).code, 0);
  auto msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].first, kOpText);
  EXPECT_EQ(msgs[0].second, payload);
  EXPECT_EQ(in.size(), 0u);
}

TEST(FrameDecode, SeveralFramesInOneBuffer) {
  std::string wire = client_frame(kOpText, true, "one") + client_frame(kOpBinary, true, "two") +
                     client_frame(kOpText, true, "") + client_frame(kOpPing, true, "p");
  for (size_t chunk : kChunks) {
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, wire, chunk).code, 0);
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, std::string("one")));
    EXPECT_EQ(msgs[1], std::make_pair(uint8_t{kOpBinary}, std::string("two")));
    EXPECT_EQ(msgs[2], std::make_pair(uint8_t{kOpText}, std::string("")));
    auto ctl = sink.controls();
    ASSERT_EQ(ctl.size(), 1u);
    EXPECT_EQ(ctl[0].kind, Event::kPing);
    EXPECT_EQ(ctl[0].data, "p");
  }
}

TEST(FrameDecode, PiecesAreStreamedBeforeTheFrameEnds) {
  std::string payload = pattern(1000);
  std::string wire = client_frame(kOpBinary, true, payload);
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add(wire.substr(0, 4 + 4 + 300));  // 16-bit length header, mask, 300 payload bytes
  ASSERT_EQ(d.decode(in, sink).code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].data, payload.substr(0, 300));
  EXPECT_TRUE(sink.events[0].first);
  EXPECT_FALSE(sink.events[0].fin);
  in.add(wire.substr(308));
  ASSERT_EQ(d.decode(in, sink).code, 0);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1].data, payload.substr(300));
  EXPECT_FALSE(sink.events[1].first);
  EXPECT_TRUE(sink.events[1].fin);
}

// ---- Fragmentation ----

TEST(FrameDecode, FragmentedTextWithCharacterSplitAcrossFragments) {
  // "κόσμε" with "ό" (E1 BD B9) split 1+2 and "σ" (CF 83) split 1+1 across frames.
  std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
  std::string wire = client_frame(kOpText, false, text.substr(0, 3)) +
                     client_frame(kOpCont, false, text.substr(3, 3)) +
                     client_frame(kOpCont, false, "") + client_frame(kOpCont, true, text.substr(6));
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, wire, chunk).code, 0);
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].first, kOpText);
    EXPECT_EQ(msgs[0].second, text);
    // Every piece carries the message's opcode, never kOpCont.
    for (const Event& e : sink.events) EXPECT_EQ(e.opcode, kOpText);
  }
}

TEST(FrameDecode, FragmentedBinaryFlags) {
  std::string wire = client_frame(kOpBinary, false, "ab") + client_frame(kOpCont, false, "cd") +
                     client_frame(kOpCont, true, "ef");
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(d, sink, in, wire).code, 0);
  ASSERT_EQ(sink.events.size(), 3u);
  EXPECT_TRUE(sink.events[0].first);
  EXPECT_FALSE(sink.events[0].fin);
  EXPECT_FALSE(sink.events[1].first);
  EXPECT_FALSE(sink.events[1].fin);
  EXPECT_FALSE(sink.events[2].first);
  EXPECT_TRUE(sink.events[2].fin);
  EXPECT_EQ(sink.typed_messages()[0].second, "abcdef");
}

TEST(FrameDecode, EmptyFirstFragmentDoesNotLoseTheFirstFlag) {
  std::string wire = client_frame(kOpText, false, "") + client_frame(kOpCont, true, "xy");
  for (size_t chunk : kChunks) {
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, wire, chunk).code, 0);
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, std::string("xy")));
  }
}

TEST(FrameDecode, ControlFramesInterleavedInFragmentedMessage) {
  std::string wire = client_frame(kOpText, false, "Hel") + client_frame(kOpPing, true, "ping!") +
                     client_frame(kOpCont, false, "lo, ") + client_frame(kOpPong, true, "") +
                     client_frame(kOpPing, true, std::string(125, 'z')) +
                     client_frame(kOpCont, true, "world") + client_frame(kOpBinary, true, "next");
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, wire, chunk).code, 0);
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, std::string("Hello, world")));
    EXPECT_EQ(msgs[1], std::make_pair(uint8_t{kOpBinary}, std::string("next")));
    auto ctl = sink.controls();
    ASSERT_EQ(ctl.size(), 3u);
    EXPECT_EQ(ctl[0].kind, Event::kPing);
    EXPECT_EQ(ctl[0].data, "ping!");
    EXPECT_EQ(ctl[1].kind, Event::kPong);
    EXPECT_EQ(ctl[1].data, "");
    EXPECT_EQ(ctl[2].kind, Event::kPing);
    EXPECT_EQ(ctl[2].data, std::string(125, 'z'));
    // Order: the ping comes after "Hel" and before "lo, ".
    ASSERT_GE(sink.events.size(), 3u);
    EXPECT_EQ(sink.events[0].kind, Event::kData);
    size_t ping_at = 0;
    while (sink.events[ping_at].kind != Event::kPing) ping_at++;
    std::string before;
    for (size_t i = 0; i < ping_at; i++) before += sink.events[i].data;
    EXPECT_EQ(before, "Hel");
  }
}

TEST(FrameDecode, Utf8StateSurvivesInterleavedControlFrame) {
  // "é" split around a ping: still valid. Then "\xED" + ping + "\xA0\x80" is a surrogate.
  std::string ok = client_frame(kOpText, false, "\xC3") + client_frame(kOpPing, true, "") +
                   client_frame(kOpCont, true, "\xA9");
  expect_decode_error<FrameDecoder>(ok, 0);
  std::string bad = client_frame(kOpText, false, "\xED") + client_frame(kOpPing, true, "") +
                    client_frame(kOpCont, true, "\xA0\x80");
  expect_decode_error<FrameDecoder>(bad, close_code::kInvalidPayload);
}

// ---- Backpressure ----

TEST(FrameDecode, BlockedSinkStopsMidPayloadAndResumes) {
  std::string payload = pattern(1001);
  std::string wire = client_frame(kOpText, true, payload) + client_frame(kOpBinary, true, "tail");
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  size_t header = 8;
  in.add(wire.substr(0, header + 401));
  ASSERT_EQ(d.decode(in, sink).code, 0);
  ASSERT_EQ(sink.data_bytes, 401u);
  sink.block = true;
  in.add(wire.substr(header + 401));
  ASSERT_EQ(d.decode(in, sink).code, 0);
  EXPECT_EQ(sink.data_bytes, 401u);  // nothing more while blocked
  EXPECT_EQ(in.size(), wire.size() - header - 401);
  ASSERT_EQ(d.decode(in, sink).code, 0);  // still blocked
  EXPECT_EQ(sink.data_bytes, 401u);
  sink.block = false;
  ASSERT_EQ(d.decode(in, sink).code, 0);
  auto msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].second, payload);  // unmasking resumed at the right key offset
  EXPECT_EQ(msgs[1].second, "tail");
  EXPECT_EQ(in.size(), 0u);
}

TEST(FrameDecode, SinkBlockingAfterAFrameHoldsTheNextOne) {
  std::string wire =
      client_frame(kOpBinary, true, "first") + client_frame(kOpBinary, true, "second");
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  sink.block_after = 5;
  Buf in;
  in.add(wire);
  ASSERT_EQ(d.decode(in, sink).code, 0);
  auto msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].second, "first");
  EXPECT_GT(in.size(), 0u);
  sink.block_after = SIZE_MAX;
  ASSERT_EQ(d.decode(in, sink).code, 0);
  msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1].second, "second");
  EXPECT_EQ(in.size(), 0u);
}

}  // namespace

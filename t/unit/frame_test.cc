// RFC 6455 framing: header encoding, the streaming FrameDecoder and the Rfc6455Codec encoder.
#include "frame.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_buffer.h"
#include "test_sink.h"

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

const uint8_t kMask[4] = {0x37, 0xFA, 0x21, 0x3D};

// A masked client frame. `first_byte_extra` ORs bits (RSV) into the first byte.
std::string client_frame(uint8_t opcode, bool fin, const std::string& payload,
                         const uint8_t mask[4] = kMask, uint8_t first_byte_extra = 0) {
  uint8_t h[kMaxFrameHeader];
  size_t hl = encode_frame_header(h, opcode, fin, payload.size(), mask);
  h[0] |= first_byte_extra;
  std::string f(reinterpret_cast<char*>(h), hl);
  for (size_t i = 0; i < payload.size(); i++)
    f.push_back(static_cast<char>(payload[i] ^ static_cast<char>(mask[i % 4])));
  return f;
}

// A frame with a hand-written length field; `len_bytes` follows the 7-bit length.
std::string raw_frame(uint8_t b0, uint8_t len7, const std::string& len_bytes,
                      const std::string& payload, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  f.push_back(static_cast<char>((masked ? 0x80 : 0) | len7));
  f += len_bytes;
  if (masked) f.append(reinterpret_cast<const char*>(kMask), 4);
  for (size_t i = 0; i < payload.size(); i++)
    f.push_back(masked ? static_cast<char>(payload[i] ^ static_cast<char>(kMask[i % 4]))
                       : payload[i]);
  return f;
}

std::string close_payload(uint16_t code, const std::string& reason = "") {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  return p + reason;
}

// Parses one unmasked server frame at the start of `s`.
struct ServerFrame {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t len = 0;
  size_t header = 0;
  std::string payload;
};

ServerFrame parse_server_frame(const std::string& s) {
  ServerFrame f;
  auto at = [&](size_t i) { return static_cast<uint8_t>(s.at(i)); };
  f.fin = at(0) & 0x80;
  f.rsv = at(0) & 0x70;
  f.opcode = at(0) & 0x0F;
  f.masked = at(1) & 0x80;
  uint8_t len7 = at(1) & 0x7F;
  size_t pos = 2;
  if (len7 == 126) {
    f.len = (uint64_t{at(2)} << 8) | at(3);
    pos = 4;
  } else if (len7 == 127) {
    for (int i = 0; i < 8; i++) f.len = (f.len << 8) | at(2 + i);
    pos = 10;
  } else {
    f.len = len7;
  }
  if (f.masked) pos += 4;
  f.header = pos;
  f.payload = s.substr(pos, f.len);
  return f;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

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
    if (op == kOpClose) p = close_payload(1000, std::string(124, 'x'));
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
      client_frame(kOpClose, true, close_payload(1000, std::string(123, 'r'))), 0);
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
        client_frame(kOpClose, true, close_payload(static_cast<uint16_t>(code))),
        close_code::kProtocolError);
    expect_decode_error<FrameDecoder>(
        client_frame(kOpClose, true, close_payload(static_cast<uint16_t>(code), "bye")),
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
               client_frame(kOpClose, true, close_payload(static_cast<uint16_t>(code), reason)),
               chunk)
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
      client_frame(kOpText, false, "par") + client_frame(kOpClose, true, close_payload(1000));
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
    std::string wire = client_frame(kOpClose, true, close_payload(1001, "away")) +
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
  std::string wire = client_frame(kOpClose, true, close_payload(1000, "bye"));
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
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, close_payload(1000, "\xFF")),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(client_frame(kOpClose, true, close_payload(1000, "ab\xCE")),
                                    close_code::kInvalidPayload);
  expect_decode_error<FrameDecoder>(
      client_frame(kOpClose, true, close_payload(1000, "\xED\xA0\x80")),
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

// ---- Rfc6455Codec encoder ----

TEST(Codec, EncodeDataOpcodeAndContinuation) {
  struct Case {
    bool first, fin;
    uint8_t b0;
  } cases[] = {{true, true, 0x81}, {true, false, 0x01}, {false, false, 0x00}, {false, true, 0x80}};
  for (const Case& c : cases) {
    Rfc6455Codec codec(1 << 20);
    Buf payload, out;
    payload.add("hello world");
    codec.encode_data(out, payload, 5, kOpText, c.first, c.fin);
    EXPECT_EQ(out.str(), std::string(1, static_cast<char>(c.b0)) + "\x05hello");
    EXPECT_EQ(payload.str(), " world");  // only n bytes are taken
  }
  Rfc6455Codec codec(1 << 20);
  Buf payload, out;
  payload.add("abc");
  codec.encode_data(out, payload, 0, kOpBinary, true, true);
  EXPECT_EQ(out.str(), bytes({0x82, 0x00}));
  EXPECT_EQ(payload.str(), "abc");
}

TEST(Codec, EncodedFragmentsDecodeBackAsOneMessage) {
  Rfc6455Codec codec(1 << 20);
  Buf payload, out;
  std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
  payload.add(text);
  codec.encode_data(out, payload, 4, kOpText, true, false);
  codec.encode_data(out, payload, 4, kOpText, false, false);
  codec.encode_data(out, payload, 3, kOpText, false, true);
  // Re-mask each server frame into a client frame and decode.
  std::string wire = out.str(), client;
  size_t pos = 0;
  while (pos < wire.size()) {
    ServerFrame f = parse_server_frame(wire.substr(pos));
    client += client_frame(f.opcode, f.fin, f.payload);
    pos += f.header + f.len;
  }
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(d, sink, in, client).code, 0);
  auto msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, text));
}

TEST(Codec, EncodeCloseWithCodeAndReason) {
  Rfc6455Codec codec(1 << 20);
  Buf out;
  codec.encode_close(out, 1000, "bye");
  EXPECT_EQ(out.str(), bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
  Buf out2;
  codec.encode_close(out2, 4000, "");
  EXPECT_EQ(out2.str(), bytes({0x88, 0x02, 0x0F, 0xA0}));
}

TEST(Codec, EncodeCloseNoStatusHasEmptyPayload) {
  Rfc6455Codec codec(1 << 20);
  Buf out;
  codec.encode_close(out, close_code::kNoStatus, "ignored");
  EXPECT_EQ(out.str(), bytes({0x88, 0x00}));
}

TEST(Codec, EncodeCloseTruncatesLongReasonOnCharacterBoundary) {
  struct Case {
    std::string reason;
    size_t expect_len;
  } cases[] = {
      {std::string(200, 'r'), 123},
      {std::string(123, 'r'), 123},
      {std::string(122, 'r'), 122},
      {std::string(122, 'r') + "\xC3\xA9", 122},            // é would straddle byte 123
      {std::string(121, 'r') + "\xC3\xA9", 123},            // é ends exactly at 123
      {std::string(121, 'r') + "\xE2\x82\xAC", 121},        // € straddles
      {std::string(120, 'r') + "\xE2\x82\xAC" + "x", 123},  // € fits
      {std::string(120, 'r') + "\xF0\x9F\x98\x80", 120},    // emoji straddles
      {std::string(119, 'r') + "\xF0\x9F\x98\x80" + "tail", 123},
      {[] {
         std::string s;
         for (int i = 0; i < 60; i++) s += "\xE2\x82\xAC";
         return s;
       }(),
       123},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason.size());
    Rfc6455Codec codec(1 << 20);
    Buf out;
    codec.encode_close(out, 1011, c.reason);
    ServerFrame f = parse_server_frame(out.str());
    EXPECT_EQ(f.opcode, kOpClose);
    EXPECT_TRUE(f.fin);
    EXPECT_FALSE(f.masked);
    EXPECT_LE(f.len, kMaxControlPayload);
    ASSERT_EQ(f.payload.size(), 2 + c.expect_len);
    EXPECT_EQ(f.payload.substr(0, 2), bytes({0x03, 0xF3}));
    EXPECT_EQ(f.payload.substr(2), c.reason.substr(0, c.expect_len));
    EXPECT_TRUE(utf8_valid(f.payload.data() + 2, f.payload.size() - 2));
    // A client decoding our close (re-masked) accepts it.
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, client_frame(kOpClose, true, f.payload)).code, 0);
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(sink.events[0].code, 1011);
    EXPECT_EQ(sink.events[0].data, c.reason.substr(0, c.expect_len));
  }
}

TEST(Codec, EncodePingAndPong) {
  Rfc6455Codec codec(1 << 20);
  Buf out;
  codec.encode_ping(out, "abc", 3);
  EXPECT_EQ(out.str(), bytes({0x89, 0x03, 'a', 'b', 'c'}));
  Buf out2;
  codec.encode_pong(out2, "abc", 3);
  EXPECT_EQ(out2.str(), bytes({0x8A, 0x03, 'a', 'b', 'c'}));
  Buf out3;
  codec.encode_pong(out3, nullptr, 0);
  EXPECT_EQ(out3.str(), bytes({0x8A, 0x00}));
  // Never more than 125 bytes of control payload.
  std::string big(300, 'p');
  Buf out4;
  codec.encode_ping(out4, big.data(), big.size());
  ServerFrame f = parse_server_frame(out4.str());
  EXPECT_EQ(f.opcode, kOpPing);
  EXPECT_EQ(f.len, 125u);
  EXPECT_EQ(out4.size(), 127u);
}

TEST(Codec, DecodeDelegatesToFrameDecoder) {
  Rfc6455Codec codec(10);
  RecordingSink sink;
  Buf in;
  in.add(client_frame(kOpBinary, true, "0123456789") + client_frame(kOpPing, true, "hi"));
  ASSERT_EQ(codec.decode(in, sink).code, 0);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].data, "0123456789");
  EXPECT_EQ(sink.events[1].kind, Event::kPing);
  in.add(client_frame(kOpBinary, true, "01234567890"));
  EXPECT_EQ(codec.decode(in, sink).code, close_code::kTooBig);
}

// ---- Rfc6455Codec, client role (wsgate toward a ws:// backend) ----

// Parses one masked frame at the start of `s` and unmasks its payload.
ServerFrame parse_masked_frame(const std::string& s, std::string* key = nullptr) {
  ServerFrame f = parse_server_frame(s);
  EXPECT_TRUE(f.masked);
  std::string k = s.substr(f.header - 4, 4);
  if (key) *key = k;
  for (size_t i = 0; i < f.payload.size(); i++) f.payload[i] ^= k[i % 4];
  return f;
}

TEST(ClientCodec, EncodeDataIsMaskedAndUnmasksToThePayload) {
  for (size_t len : {size_t{0}, size_t{1}, size_t{5}, size_t{125}, size_t{126}, size_t{65535},
                     size_t{65536}, size_t{200000}}) {
    SCOPED_TRACE(len);
    Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
    Buf payload, out;
    std::string p = pattern(len);
    payload.add(p + "rest");
    codec.encode_data(out, payload, len, kOpBinary, true, true);
    EXPECT_EQ(payload.str(), "rest") << "only n bytes taken, the rest not masked";
    std::string wire = out.str();
    EXPECT_EQ(static_cast<uint8_t>(wire[1]) & 0x80, 0x80) << "MASK bit";
    ServerFrame f = parse_masked_frame(wire);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.rsv, 0);
    EXPECT_EQ(f.opcode, kOpBinary);
    EXPECT_EQ(f.len, len);
    EXPECT_EQ(wire.size(), f.header + len);
    EXPECT_TRUE(f.payload == p);
    // A server's decoder reads it back.
    FrameDecoder d(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed(d, sink, in, wire).code, 0);
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_TRUE(msgs[0].second == p);
  }
}

TEST(ClientCodec, MaskingSpansBufferChains) {
  // The payload lies in many small chains: the key must continue at the right offset.
  std::string p = pattern(1001);
  Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
  Buf payload, out;
  for (size_t i = 0; i < p.size(); i += 3) {
    Buf piece;
    piece.add(p.substr(i, 3));
    evbuffer_add_buffer(payload, piece);
  }
  codec.encode_data(out, payload, p.size(), kOpText, true, true);
  ServerFrame f = parse_masked_frame(out.str());
  EXPECT_EQ(f.opcode, kOpText);
  EXPECT_TRUE(f.payload == p);
}

TEST(ClientCodec, FragmentsAndFreshKeys) {
  Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
  Buf payload, out;
  std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
  payload.add(text);
  codec.encode_data(out, payload, 4, kOpText, true, false);
  codec.encode_data(out, payload, 0, kOpText, false, false);
  codec.encode_data(out, payload, 4, kOpText, false, false);
  codec.encode_data(out, payload, 3, kOpText, false, true);
  std::string wire = out.str();
  std::vector<std::string> keys;
  std::vector<uint8_t> b0;
  for (size_t pos = 0; pos < wire.size();) {
    std::string key;
    ServerFrame f = parse_masked_frame(wire.substr(pos), &key);
    keys.push_back(key);
    b0.push_back(static_cast<uint8_t>(wire[pos]));
    pos += f.header + f.len;
  }
  EXPECT_EQ(b0, (std::vector<uint8_t>{0x01, 0x00, 0x00, 0x80}));
  // Keys are random per frame; four equal ones would mean a fixed key.
  EXPECT_FALSE(keys[0] == keys[1] && keys[1] == keys[2] && keys[2] == keys[3]);
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(d, sink, in, wire, 1).code, 0);
  auto msgs = sink.typed_messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, text));
}

TEST(ClientCodec, ControlFramesAreMasked) {
  Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
  Buf close, ping, pong, nostatus;
  codec.encode_close(close, 1000, "bye");
  codec.encode_ping(ping, "abc", 3);
  codec.encode_pong(pong, "xyz", 3);
  codec.encode_close(nostatus, close_code::kNoStatus, "ignored");
  ServerFrame fc = parse_masked_frame(close.str());
  EXPECT_EQ(fc.opcode, kOpClose);
  EXPECT_TRUE(fc.fin);
  EXPECT_EQ(fc.payload, bytes({0x03, 0xE8, 'b', 'y', 'e'}));
  ServerFrame fp = parse_masked_frame(ping.str());
  EXPECT_EQ(fp.opcode, kOpPing);
  EXPECT_EQ(fp.payload, "abc");
  ServerFrame fo = parse_masked_frame(pong.str());
  EXPECT_EQ(fo.opcode, kOpPong);
  EXPECT_EQ(fo.payload, "xyz");
  ServerFrame fn = parse_masked_frame(nostatus.str());
  EXPECT_EQ(fn.opcode, kOpClose);
  EXPECT_EQ(fn.len, 0u);
  // A server decodes them all.
  FrameDecoder d(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(d, sink, in, ping.str() + pong.str() + close.str()).code, 0);
  auto ctl = sink.controls();
  ASSERT_EQ(ctl.size(), 3u);
  EXPECT_EQ(ctl[0].kind, Event::kPing);
  EXPECT_EQ(ctl[0].data, "abc");
  EXPECT_EQ(ctl[1].kind, Event::kPong);
  EXPECT_EQ(ctl[1].data, "xyz");
  EXPECT_EQ(ctl[2].kind, Event::kClose);
  EXPECT_EQ(ctl[2].code, 1000);
  EXPECT_EQ(ctl[2].data, "bye");
  // Control payloads stay capped at 125 bytes.
  std::string big(300, 'p');
  Buf out;
  codec.encode_ping(out, big.data(), big.size());
  ServerFrame fb = parse_masked_frame(out.str());
  EXPECT_EQ(fb.len, 125u);
  EXPECT_EQ(out.size(), 2u + 4u + 125u);
}

TEST(ClientCodec, DecodesUnmaskedServerFrames) {
  std::string wire = raw_frame(0x81, 5, "", "hello", false) + raw_frame(0x02, 2, "", "ab", false) +
                     raw_frame(0x89, 1, "", "p", false) + raw_frame(0x80, 2, "", "cd", false) +
                     raw_frame(0x82, 126, bytes({0x01, 0x00}), pattern(256), false) +
                     raw_frame(0x88, 4, "", close_payload(1001, "go"), false);
  for (size_t chunk : kChunks) {
    SCOPED_TRACE(chunk);
    Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
    RecordingSink sink;
    Buf in;
    DecodeError err;
    for (size_t i = 0; i < wire.size() && !err.code; i += chunk ? chunk : wire.size()) {
      in.add(wire.substr(i, chunk ? chunk : wire.size()));
      err = codec.decode(in, sink);
    }
    ASSERT_EQ(err.code, 0) << err.why;
    auto msgs = sink.typed_messages();
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0], std::make_pair(uint8_t{kOpText}, std::string("hello")));
    EXPECT_EQ(msgs[1], std::make_pair(uint8_t{kOpBinary}, std::string("abcd")));
    EXPECT_EQ(msgs[2], std::make_pair(uint8_t{kOpBinary}, pattern(256)));
    auto ctl = sink.controls();
    ASSERT_EQ(ctl.size(), 2u);
    EXPECT_EQ(ctl[0].kind, Event::kPing);
    EXPECT_EQ(ctl[0].data, "p");
    EXPECT_EQ(ctl[1].kind, Event::kClose);
    EXPECT_EQ(ctl[1].code, 1001);
    EXPECT_EQ(ctl[1].data, "go");
  }
}

TEST(ClientCodec, RejectsMaskedServerFrames) {
  for (std::string wire :
       {client_frame(kOpText, true, "hi"), client_frame(kOpBinary, true, ""),
        client_frame(kOpPing, true, "p"), client_frame(kOpClose, true, close_payload(1000))}) {
    Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
    RecordingSink sink;
    Buf in;
    in.add(wire);
    DecodeError err = codec.decode(in, sink);
    EXPECT_EQ(err.code, close_code::kProtocolError);
    EXPECT_STRNE(err.why, "");
    EXPECT_TRUE(sink.events.empty());
  }
  // The unmasking FrameDecoder for the client side, directly.
  FrameDecoder d(1 << 20, false);
  RecordingSink sink;
  Buf in;
  EXPECT_EQ(feed(d, sink, in, client_frame(kOpText, true, "x")).code, close_code::kProtocolError);
}

TEST(ClientCodec, ClientDecoderKeepsTheOtherRules) {
  // Text is UTF-8 checked and the size limit applies, as on the server side.
  {
    Rfc6455Codec codec(1 << 20, Rfc6455Codec::Role::kClient);
    RecordingSink sink;
    Buf in;
    in.add(raw_frame(0x81, 2, "", "\xC3\x28", false));
    EXPECT_EQ(codec.decode(in, sink).code, close_code::kInvalidPayload);
  }
  {
    Rfc6455Codec codec(4, Rfc6455Codec::Role::kClient);
    RecordingSink sink;
    Buf in;
    in.add(raw_frame(0x82, 5, "", "hello", false));
    EXPECT_EQ(codec.decode(in, sink).code, close_code::kTooBig);
  }
}

TEST(ServerCodec, RoleUnchanged) {
  Rfc6455Codec codec(1 << 20);  // kServer by default
  Rfc6455Codec explicit_server(1 << 20, Rfc6455Codec::Role::kServer);
  for (Rfc6455Codec* c : {&codec, &explicit_server}) {
    Buf payload, out;
    payload.add("hello");
    c->encode_data(out, payload, 5, kOpText, true, true);
    EXPECT_EQ(out.str(), std::string("\x81\x05hello"));
    Buf ctl;
    c->encode_close(ctl, 1000, "");
    c->encode_ping(ctl, "a", 1);
    EXPECT_EQ(ctl.str(), bytes({0x88, 0x02, 0x03, 0xE8, 0x89, 0x01, 'a'}));
    EXPECT_TRUE(c->has_pings());
    // It reads masked frames and rejects unmasked ones.
    RecordingSink sink;
    Buf in;
    in.add(client_frame(kOpText, true, "ok"));
    ASSERT_EQ(c->decode(in, sink).code, 0);
    EXPECT_EQ(sink.typed_messages().at(0).second, "ok");
    in.add(raw_frame(0x81, 2, "", "no", false));
    EXPECT_EQ(c->decode(in, sink).code, close_code::kProtocolError);
  }
}

}  // namespace

// Rfc6455Codec: the encoder, in the server role and in the client role (wsgate toward a ws://
// backend, masking), and its decoder rules.
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
using test_frames::parse_server_frame;
using test_frames::pattern;
using test_frames::raw_frame;
using test_frames::ServerFrame;

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
                     raw_frame(0x88, 4, "", close_body(1001, "go"), false);
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
        client_frame(kOpPing, true, "p"), client_frame(kOpClose, true, close_body(1000))}) {
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

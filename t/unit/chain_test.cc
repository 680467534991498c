// The per-route filter chain: UTF-8 hold-back for text routes, pass-through for binary ones.
#include "chain.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "route.h"
#include "test_buffer.h"

namespace {

// Takes everything out of `b`.
std::string drain(evbuffer* b) {
  std::string s = Buf::contents(b);
  evbuffer_drain(b, s.size());
  return s;
}

RouteConfig route_config(const std::string& type, const std::string& backend) {
  Config c;
  std::vector<std::string> errors;
  std::string text = "[route r]\npath = /r\nbackend = " + backend + "\ntype = " + type + "\n";
  EXPECT_TRUE(config_parse(text, "chain.ini", c, errors));
  for (const std::string& e : errors) ADD_FAILURE() << e;
  return c.routes.at(0);
}

std::unique_ptr<Chain> text_chain() {
  ChainFactory f(route_config("text", "tcp://127.0.0.1:7000"));
  return f.make_chain(f.framing(false, ""));
}

TEST(Chain, TextRoutePassesCompleteText) {
  auto chain = text_chain();
  Buf in;
  in.add("hello \xE2\x82\xAC world");
  const char* why = "";
  evbuffer* out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "hello \xE2\x82\xAC world");
  EXPECT_EQ(in.size(), 0u);
}

TEST(Chain, TextRouteHoldsBackSplitCharacter) {
  auto chain = text_chain();
  Buf in;
  const char* why = "";
  // "é" (C3 A9) split across two reads.
  in.add("caf\xC3");
  evbuffer* out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "caf");
  EXPECT_EQ(in.str(), "\xC3");  // held back, not lost
  in.add("\xA9!");
  out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "\xC3\xA9!");
  EXPECT_EQ(in.size(), 0u);
}

TEST(Chain, TextRouteHoldsBackFourByteCharacterOneByteAtATime) {
  auto chain = text_chain();
  Buf in;
  const char* why = "";
  std::string emoji = "\xF0\x9F\x98\x80";
  std::string got;
  for (size_t i = 0; i < emoji.size(); i++) {
    in.add(emoji.substr(i, 1));
    evbuffer* out = chain->downstream(in, false, &why);
    ASSERT_NE(out, nullptr) << why;
    got += drain(out);
    if (i + 1 < emoji.size()) {
      EXPECT_EQ(got, "") << "released part of a character at " << i;
    }
  }
  EXPECT_EQ(got, emoji);
  // Nothing is pending now, so eof is fine.
  EXPECT_NE(chain->downstream(in, true, &why), nullptr) << why;
}

TEST(Chain, TextRouteByteByByteReproducesInput) {
  auto chain = text_chain();
  std::string text;
  for (int i = 0; i < 30; i++) text += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 ";
  Buf in;
  const char* why = "";
  std::string got;
  for (char c : text) {
    evbuffer_add(in, &c, 1);
    evbuffer* out = chain->downstream(in, false, &why);
    ASSERT_NE(out, nullptr) << why;
    got += drain(out);
    // Whatever was released so far is itself valid, complete UTF-8.
    ASSERT_TRUE(utf8_valid(got.data(), got.size()));
  }
  evbuffer* out = chain->downstream(in, true, &why);
  ASSERT_NE(out, nullptr) << why;
  got += drain(out);
  EXPECT_EQ(got, text);
}

TEST(Chain, TextRouteInputSpreadOverManyBufferChains) {
  // More chains than the filter peeks at once, with characters straddling chain boundaries.
  auto chain = text_chain();
  std::string text;
  for (int i = 0; i < 20; i++) text += "\xE2\x82\xAC\xF0\x9F\x98\x80x";
  Buf in;
  for (char c : text) {
    Buf one;
    evbuffer_add(one, &c, 1);
    evbuffer_add_buffer(in, one);
  }
  const char* why = "";
  evbuffer* out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), text);
  // The same with a trailing partial character.
  for (char c : std::string("ab\xE2\x82")) {
    Buf one;
    evbuffer_add(one, &c, 1);
    evbuffer_add_buffer(in, one);
  }
  out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "ab");
  EXPECT_EQ(in.str(), "\xE2\x82");
}

TEST(Chain, TextRouteRejectsInvalidUtf8) {
  for (std::string bad : {std::string("ok\xFF"), std::string("\xC0\x80"),
                          std::string("\xED\xA0\x80"), std::string("x\x80")}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    auto chain = text_chain();
    Buf in;
    in.add(bad);
    const char* why = "";
    EXPECT_EQ(chain->downstream(in, false, &why), nullptr);
    EXPECT_STRNE(why, "");
  }
}

TEST(Chain, TextRouteRejectsInvalidContinuationOfHeldBackCharacter) {
  auto chain = text_chain();
  Buf in;
  const char* why = "";
  in.add("abc\xED");
  evbuffer* out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "abc");
  in.add("\xA0\x80");  // a surrogate, invalid only once this arrives
  EXPECT_EQ(chain->downstream(in, false, &why), nullptr);
  EXPECT_STRNE(why, "");
}

TEST(Chain, TextRouteEofInsideCharacterIsAnError) {
  auto chain = text_chain();
  Buf in;
  const char* why = "";
  in.add("end\xE2\x82");
  evbuffer* out = chain->downstream(in, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "end");
  why = "";
  EXPECT_EQ(chain->downstream(in, true, &why), nullptr);
  EXPECT_STRNE(why, "");
  // Also when the partial character arrives together with eof.
  auto chain2 = text_chain();
  Buf in2;
  in2.add("x\xC3");
  why = "";
  EXPECT_EQ(chain2->downstream(in2, true, &why), nullptr);
  EXPECT_STRNE(why, "");
}

TEST(Chain, TextRouteEofWithCompleteTextFlushesEverything) {
  auto chain = text_chain();
  Buf in;
  in.add("bye \xC3\xA9");
  const char* why = "";
  evbuffer* out = chain->downstream(in, true, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "bye \xC3\xA9");
  EXPECT_EQ(in.size(), 0u);
}

TEST(Chain, BinaryRoutePassesBytesThroughUnchanged) {
  ChainFactory f(route_config("binary", "tcp://127.0.0.1:7000"));
  auto chain = f.make_chain(f.framing(false, ""));
  Buf in;
  std::string bytes = std::string("\xFF\x00\xC3\xED\xA0\x80", 6) + "\xE2";
  in.add(bytes);
  const char* why = "";
  evbuffer* out = chain->downstream(in, false, &why);
  EXPECT_EQ(out, static_cast<evbuffer*>(in));  // the same buffer, nothing copied or held
  EXPECT_EQ(in.str(), bytes);
  EXPECT_EQ(chain->downstream(in, true, &why), static_cast<evbuffer*>(in));
  EXPECT_EQ(in.str(), bytes);
}

TEST(Chain, EchoRouteHasNoTextFilter) {
  // The built-in echo target sends frames itself, so even a text route needs no filter.
  ChainFactory f(route_config("text", "echo"));
  auto chain = f.make_chain(f.framing(false, ""));
  Buf in;
  in.add("\xFF");
  const char* why = "";
  EXPECT_EQ(chain->downstream(in, false, &why), static_cast<evbuffer*>(in));
}

TEST(Chain, UpstreamMovesExactlyNBytes) {
  for (const char* type : {"binary", "text"}) {
    SCOPED_TRACE(type);
    ChainFactory f(route_config(type, "tcp://127.0.0.1:7000"));
    auto chain = f.make_chain(f.framing(false, ""));
    Buf in, out;
    in.add("0123456789");
    const char* why = "";
    ASSERT_TRUE(chain->upstream(in, 4, out, &why)) << why;
    EXPECT_EQ(out.str(), "0123");
    EXPECT_EQ(in.str(), "456789");
    ASSERT_TRUE(chain->upstream(in, 0, out, &why)) << why;
    EXPECT_EQ(out.str(), "0123");
    ASSERT_TRUE(chain->upstream(in, 6, out, &why)) << why;
    EXPECT_EQ(out.str(), "0123456789");
    EXPECT_EQ(in.size(), 0u);
    // Client payload bytes are not UTF-8 checked on the way up (the codec does that).
    in.add("\xFF\xFE");
    ASSERT_TRUE(chain->upstream(in, 2, out, &why)) << why;
    EXPECT_EQ(out.str(), "0123456789\xFF\xFE");
  }
}

TEST(Chain, TextRouteUpstreamMovesLargePayloadsWithoutCopying) {
  // Client payloads on the hot path reach the backend's buffer as the same chains.
  auto chain = text_chain();
  Buf in, out;
  std::string big(64 * 1024, 'x');
  in.add(big);
  evbuffer_iovec before;
  ASSERT_EQ(evbuffer_peek(in, -1, nullptr, &before, 1), 1);
  const char* why = "";
  ASSERT_TRUE(chain->upstream(in, big.size(), out, &why)) << why;
  evbuffer_iovec after;
  ASSERT_GE(evbuffer_peek(out, -1, nullptr, &after, 1), 1);
  EXPECT_EQ(after.iov_base, before.iov_base);
  EXPECT_EQ(out.size(), big.size());
}

TEST(Chain, FactoryMakesIndependentChains) {
  ChainFactory f(route_config("text", "tcp://127.0.0.1:7000"));
  auto a = f.make_chain(f.framing(false, ""));
  auto b = f.make_chain(f.framing(false, ""));
  Buf ina, inb;
  const char* why = "";
  ina.add("\xE2\x82");
  ASSERT_NE(a->downstream(ina, false, &why), nullptr);
  inb.add("ok");
  evbuffer* out = b->downstream(inb, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ(drain(out), "ok");
  EXPECT_NE(b->downstream(inb, true, &why), nullptr) << "state leaked between chains";
}

TEST(Chain, FactoryCodecUsesRouteMaxMessageSize) {
  RouteConfig rc = route_config("binary", "echo");
  rc.limits.max_message_size = 4;
  ChainFactory f(rc);
  auto codec = f.make_codec(false);
  ASSERT_NE(codec, nullptr);
  // A masked 5-byte binary frame is over the limit.
  const std::string frame = std::string("\x82\x85\x00\x00\x00\x00", 6) + "hello";
  Buf in;
  in.add(frame);
  struct NullSink : MessageSink {
    void on_data(evbuffer* src, size_t n, uint8_t, bool, bool) override { evbuffer_drain(src, n); }
    void on_ping(const uint8_t*, size_t) override {}
    void on_pong(const uint8_t*, size_t) override {}
    void on_close(uint16_t, std::string_view) override {}
  } sink;
  EXPECT_EQ(codec->decode(in, sink).code, close_code::kTooBig);
}

TEST(Filter, BaseFilterPassesBothWays) {
  Filter f;
  Buf in, out;
  in.add("abc");
  EXPECT_TRUE(f.upstream(in, out));
  EXPECT_EQ(out.str(), "abc");
  EXPECT_EQ(in.size(), 0u);
  Buf in2, out2;
  in2.add("\xFF");
  EXPECT_TRUE(f.downstream(in2, out2, true));
  EXPECT_EQ(out2.str(), "\xFF");
}

TEST(Filter, Utf8TextFilterDirectly) {
  Utf8TextFilter f;
  Buf in, out;
  in.add("\xCE\xBA\xE1\xBD");
  EXPECT_TRUE(f.downstream(in, out, false));
  EXPECT_EQ(out.str(), "\xCE\xBA");
  EXPECT_EQ(in.str(), "\xE1\xBD");
  in.add("\xB9\xCF\x83");
  EXPECT_TRUE(f.downstream(in, out, false));
  EXPECT_EQ(out.str(), "\xCE\xBA\xE1\xBD\xB9\xCF\x83");
  EXPECT_EQ(in.size(), 0u);
  in.add("\xF5");
  EXPECT_FALSE(f.downstream(in, out, false));
  EXPECT_STRNE(f.why(), "");
}

// ---- base64 ----

TEST(Base64Filter, UpstreamDecodesAcrossCallsWithGroupsSplit) {
  Base64Filter f;
  Buf in, out;
  struct Step {
    const char* text;
    const char* decoded_so_far;
  } steps[] = {
      {"Zm9", ""},       {"vYm", "foo"},    {"Fy", "foobar"},     {"", "foobar"},
      {"Q", "foobar"},   {"Q=", "foobar"},  {"=", "foobarA"},     {"Qg==Q", "foobarAB"},
      {"0", "foobarAB"}, {"N", "foobarAB"}, {"E", "foobarABCCD"},
  };
  for (const Step& st : steps) {
    SCOPED_TRACE(st.text);
    in.add(st.text);
    ASSERT_TRUE(f.upstream(in, out)) << f.why();
    EXPECT_EQ(0u, in.size()) << "everything taken, partial groups kept inside";
    EXPECT_EQ(st.decoded_so_far, out.str());
  }
}

TEST(Base64Filter, UpstreamRejectsInvalid) {
  for (std::string bad :
       {std::string("Zm9v!"), std::string("Zm 9v"), std::string("Zm9v\r\n"), std::string("=AAA"),
        std::string("Zh=="), std::string("QQ==="), std::string("\xC3\xA9"), std::string("Zg=a")}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    Base64Filter f;
    Buf in, out;
    in.add(bad);
    EXPECT_FALSE(f.upstream(in, out));
    EXPECT_NE(std::string(f.why()).find("base64"), std::string::npos) << f.why();
  }
  // Invalid only in the light of an earlier call: "Zg" then "=A".
  Base64Filter f;
  Buf in, out;
  in.add("Zg");
  ASSERT_TRUE(f.upstream(in, out));
  in.add("=A");
  EXPECT_FALSE(f.upstream(in, out));
  EXPECT_NE(std::string(f.why()).find("base64"), std::string::npos) << f.why();
}

TEST(Base64Filter, DownstreamGivesOnePaddedStringPerCall) {
  Base64Filter f;
  struct Case {
    std::string raw, text;
  } cases[] = {{"f", "Zg=="}, {"fo", "Zm8="},       {"foo", "Zm9v"},
               {"", ""},      {"foob", "Zm9vYg=="}, {std::string("\x00\xFF", 2), "AP8="}};
  for (const Case& c : cases) {
    for (bool eof : {false, true}) {
      Buf in, out;
      in.add(c.raw);
      ASSERT_TRUE(f.downstream(in, out, eof));
      EXPECT_EQ(c.text, out.str()) << "nothing held back between reads";
      EXPECT_EQ(0u, in.size());
    }
  }
}

TEST(Base64Filter, ChainOnABinaryRouteForAHybi00Client) {
  ChainFactory f(route_config("binary", "tcp://127.0.0.1:7000"));
  ASSERT_EQ(Framing::kBase64, f.framing(true, ""));
  auto chain = f.make_chain(Framing::kBase64);
  const char* why = "";
  // Client text frames arrive as pieces; the chain decodes them as one stream.
  Buf in, up;
  in.add("Zm9vY");
  ASSERT_TRUE(chain->upstream(in, 5, up, &why)) << why;
  EXPECT_EQ("foo", up.str());
  in.add("mFy");
  ASSERT_TRUE(chain->upstream(in, 3, up, &why)) << why;
  EXPECT_EQ("foobar", up.str());
  in.add("Zm9v*");
  EXPECT_FALSE(chain->upstream(in, 5, up, &why));
  EXPECT_NE(std::string(why).find("base64"), std::string::npos) << why;
  // Backend reads come back as whole base64 strings.
  Buf back;
  back.add(std::string("\x01\x02\x03\x04", 4));
  evbuffer* out = chain->downstream(back, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ("AQIDBA==", drain(out));
  back.add("xyz");
  out = chain->downstream(back, false, &why);
  ASSERT_NE(out, nullptr) << why;
  EXPECT_EQ("eHl6", drain(out));
}

TEST(Base64Filter, EchoRouteGetsNoFilterWhateverTheFraming) {
  ChainFactory f(route_config("binary", "echo"));
  for (Framing fr : {Framing::kText, Framing::kBinary, Framing::kBase64}) {
    auto chain = f.make_chain(fr);
    Buf in;
    in.add("\xFF!");
    const char* why = "";
    EXPECT_EQ(chain->downstream(in, false, &why), static_cast<evbuffer*>(in));
    EXPECT_EQ("\xFF!", in.str());
  }
}

// ---- ChainFactory::framing ----

TEST(ChainFactory, FramingTable) {
  struct Case {
    const char* type;
    const char* backend;
    bool hybi00;
    const char* protocol;
    Framing want;
  } cases[] = {
      // Echo keeps each message's own type, whatever was asked.
      {"binary", "echo", false, "", Framing::kBinary},
      {"text", "echo", false, "", Framing::kBinary},
      {"text", "echo", true, "", Framing::kBinary},
      {"binary", "echo", true, "base64", Framing::kBinary},
      {"text", "echo", false, "base64", Framing::kBinary},
      // The base64 subprotocol, for either kind of client and route type.
      {"binary", "tcp://127.0.0.1:7000", false, "base64", Framing::kBase64},
      {"text", "tcp://127.0.0.1:7000", false, "base64", Framing::kBase64},
      {"binary", "unix:/tmp/wsgate.sock", false, "base64", Framing::kBase64},
      {"text", "tcp://127.0.0.1:7000", true, "base64", Framing::kBase64},
      // hybi-00: binary routes carry base64, text routes text.
      {"binary", "tcp://127.0.0.1:7000", true, "", Framing::kBase64},
      {"binary", "unix:/tmp/wsgate.sock", true, "chat", Framing::kBase64},
      {"text", "tcp://127.0.0.1:7000", true, "", Framing::kText},
      {"text", "unix:/tmp/wsgate.sock", true, "chat", Framing::kText},
      // The binary subprotocol, RFC 6455 only.
      {"binary", "tcp://127.0.0.1:7000", false, "binary", Framing::kBinary},
      {"text", "tcp://127.0.0.1:7000", false, "binary", Framing::kBinary},
      {"text", "unix:/tmp/wsgate.sock", false, "binary", Framing::kBinary},
      // Otherwise the route's type.
      {"binary", "tcp://127.0.0.1:7000", false, "", Framing::kBinary},
      {"text", "tcp://127.0.0.1:7000", false, "", Framing::kText},
      {"binary", "unix:/tmp/wsgate.sock", false, "chat", Framing::kBinary},
      {"text", "unix:/tmp/wsgate.sock", false, "chat", Framing::kText},
      {"text", "tcp://127.0.0.1:7000", false, "BASE64", Framing::kText},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.type) + " " + c.backend + (c.hybi00 ? " hybi00 " : " rfc6455 ") +
                 "'" + c.protocol + "'");
    ChainFactory f(route_config(c.type, c.backend));
    EXPECT_EQ(static_cast<int>(c.want), static_cast<int>(f.framing(c.hybi00, c.protocol)));
  }
}

TEST(ChainFactory, MakeCodecForHybi00HasNoPings) {
  RouteConfig rc = route_config("binary", "tcp://127.0.0.1:7000");
  rc.limits.max_message_size = 4;
  ChainFactory f(rc);
  auto hybi = f.make_codec(true);
  ASSERT_NE(hybi, nullptr);
  EXPECT_FALSE(hybi->has_pings());
  auto rfc = f.make_codec(false);
  ASSERT_NE(rfc, nullptr);
  EXPECT_TRUE(rfc->has_pings());
  // It reads hybi-00 frames, within the route's max_message_size.
  struct Sink : MessageSink {
    std::string got;
    void on_data(evbuffer* src, size_t n, uint8_t, bool, bool) override {
      std::string p(n, '\0');
      evbuffer_remove(src, &p[0], n);
      got += p;
    }
    void on_ping(const uint8_t*, size_t) override {}
    void on_pong(const uint8_t*, size_t) override {}
    void on_close(uint16_t, std::string_view) override {}
  } sink;
  Buf in;
  in.add(
      std::string("\x00"
                  "abcd\xFF",
                  6));
  ASSERT_EQ(hybi->decode(in, sink).code, 0);
  EXPECT_EQ("abcd", sink.got);
  in.add(
      std::string("\x00"
                  "abcde\xFF",
                  7));
  EXPECT_EQ(hybi->decode(in, sink).code, close_code::kTooBig);
  // And writes them.
  Buf payload, out;
  payload.add("hi");
  hybi->encode_data(out, payload, 2, kOpText, true, true);
  EXPECT_EQ(std::string("\x00hi\xFF", 4), out.str());
}

}  // namespace

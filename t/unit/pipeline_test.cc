// Pipelines as a route's factory makes them, one per mode, fed bytes as a session feeds them:
// what reaches each side, what is reported, and whose fault a failure is.
#include "pipeline.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "test_buffer.h"
#include "test_frames.h"

namespace {

using test_frames::close_body;
using test_frames::frame;

RouteConfig route_config(const std::string& type, const std::string& backend,
                         uint64_t max_message = 0) {
  Config c;
  std::vector<std::string> errors;
  std::string text = "[route r]\npath = /r\nbackend = " + backend + "\ntype = " + type + "\n";
  EXPECT_TRUE(config_parse(text, "pipeline.ini", c, errors));
  for (const std::string& e : errors) ADD_FAILURE() << e;
  RouteConfig rc = c.routes.at(0);
  if (max_message) rc.limits.max_message_size = max_message;
  return rc;
}

// The session's side, recorded.
struct Events final : PipelineEvents {
  void on_peer_close(Side from, uint16_t code, std::string_view reason, bool answered) override {
    closes.emplace_back(from, code, std::string(reason), answered);
  }
  void on_keepalive_pong() override { pongs++; }
  bool full(Side to) const override { return to == Side::kClient ? client_full : backend_full; }

  std::vector<std::tuple<Side, uint16_t, std::string, bool>> closes;
  int pongs = 0;
  bool client_full = false;
  bool backend_full = false;
};

// A pipeline with its two outputs.
struct Rig {
  Rig(const RouteConfig& rc, PipelineSpec spec) : factory(rc), p(factory.make(spec, events)) {}
  Failure client(const std::string& bytes) {
    in_client.add(bytes);
    return p->from_client(in_client, Pipeline::Io{to_client, to_backend});
  }
  Failure backend(const std::string& bytes, bool eof = false) {
    in_backend.add(bytes);
    return p->from_backend(in_backend, eof, Pipeline::Io{to_client, to_backend});
  }
  static std::string take(Buf& b) {
    std::string s = b.str();
    evbuffer_drain(b, s.size());
    return s;
  }
  PipelineFactory factory;
  Events events;
  std::unique_ptr<Pipeline> p;
  Buf in_client, in_backend, to_client, to_backend;
};

std::string hybi00_frame(const std::string& text) {
  return std::string(1, '\0') + text + "\xFF";
}

TEST(Pipeline, EchoSendsEachMessageBackWithItsTypeAndAnswersPingsAndCloses) {
  Rig r(route_config("text", "echo"), PipelineSpec{});
  EXPECT_EQ(r.client(frame(kOpBinary, "\xFF\x00", true)).code, 0);
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpBinary, "\xFF\x00", false));
  r.client(frame(kOpText, "he", true, false) + frame(kOpCont, "llo", true));
  EXPECT_EQ(Rig::take(r.to_client),
            frame(kOpText, "he", false, false) + frame(kOpCont, "llo", false));
  r.client(frame(kOpPing, "p", true));
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpPong, "p", false));
  r.client(frame(kOpPong, Pipeline::kKeepalive, true));
  EXPECT_EQ(r.events.pongs, 1);
  r.client(frame(kOpClose, close_body(4000, "bye"), true));
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpClose, close_body(4000), false)) << "code echoed";
  ASSERT_EQ(r.events.closes.size(), 1u);
  EXPECT_EQ(r.events.closes[0],
            std::make_tuple(Side::kClient, uint16_t{4000}, std::string("bye"), true));
  EXPECT_EQ(r.p->messages_in(), 2u);
  EXPECT_EQ(r.p->messages_out(), 2u);
  EXPECT_EQ(r.to_backend.size(), 0u);
}

TEST(Pipeline, TextBridgeHoldsBackSplitCharactersAndBlamesTheBackendForBadUtf8) {
  RouteConfig rc = route_config("text", "tcp://127.0.0.1:7000");
  Rig r(rc, PipelineSpec{false, PipelineFactory(rc).framing(false, ""), false});
  r.client(frame(kOpText, "hi \xC3\xA9", true));
  EXPECT_EQ(Rig::take(r.to_backend), "hi \xC3\xA9") << "payload bytes, no frame";
  r.backend("caf\xC3");
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpText, "caf", false));
  r.backend("\xA9");
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpText, "\xC3\xA9", false));
  Failure f = r.backend("\xFF");
  EXPECT_EQ(f.code, close_code::kInternalError);
  EXPECT_EQ(f.by, Side::kBackend);
}

TEST(Pipeline, TextBridgeBackendEndingInsideACharacterFails) {
  RouteConfig rc = route_config("text", "tcp://127.0.0.1:7000");
  Rig r(rc, PipelineSpec{false, Framing::kText, false});
  Failure f = r.backend("x\xE2\x82", true);
  EXPECT_EQ(f.code, close_code::kInternalError);
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpText, "x", false)) << "what was whole went out first";
}

TEST(Pipeline, BinaryBridgeMovesBytesBothWays) {
  Rig r(route_config("binary", "unix:/tmp/x.sock"), PipelineSpec{false, Framing::kBinary, false});
  r.client(frame(kOpBinary, std::string("\x00\x01", 2), true));
  EXPECT_EQ(Rig::take(r.to_backend), std::string("\x00\x01", 2));
  r.backend("\xFF\xFE");
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpBinary, "\xFF\xFE", false));
  EXPECT_EQ(r.in_backend.size(), 0u);
}

TEST(Pipeline, Base64BridgeDecodesClientTextAndEncodesEachBackendRead) {
  Rig r(route_config("binary", "tcp://127.0.0.1:7000"),
        PipelineSpec{false, Framing::kBase64, false});
  r.client(frame(kOpText, "Zm9v", true, false) + frame(kOpCont, "YmFy", true));
  EXPECT_EQ(Rig::take(r.to_backend), "foobar");
  r.backend(std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(Rig::take(r.to_client), frame(kOpText, "AQIDBA==", false));
  Failure f = r.client(frame(kOpBinary, "raw", true));
  EXPECT_EQ(f.code, close_code::kUnsupportedData);
  EXPECT_EQ(f.by, Side::kClient);
}

TEST(Pipeline, Hybi00ClientOnABinaryBridgeGetsBase64) {
  RouteConfig rc = route_config("binary", "tcp://127.0.0.1:7000");
  PipelineFactory f(rc);
  Rig r(rc, PipelineSpec{true, f.framing(true, ""), false});
  EXPECT_FALSE(r.p->has_pings());
  r.client(hybi00_frame("Zm9v"));
  EXPECT_EQ(Rig::take(r.to_backend), "foo");
  r.backend("bar");
  EXPECT_EQ(Rig::take(r.to_client), hybi00_frame("YmFy"));
  Failure bad = r.client(hybi00_frame("Zm9v!"));
  EXPECT_EQ(bad.code, close_code::kInvalidPayload);
}

TEST(Pipeline, Hybi00ClientOfAWebSocketBackendIsTranscoded) {
  Rig r(route_config("binary", "ws://127.0.0.1:7000/"),
        PipelineSpec{true, Framing::kBase64, false});
  EXPECT_FALSE(r.p->relays_closes());
  r.client(hybi00_frame("hello"));
  // wsgate is the backend's client: one masked text frame.
  std::string up = Rig::take(r.to_backend);
  ASSERT_GE(up.size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(up[0]), 0x81);
  EXPECT_EQ(static_cast<uint8_t>(up[1]), 0x80 | 5);
  r.backend(frame(kOpText, "hi", false));
  EXPECT_EQ(Rig::take(r.to_client), hybi00_frame("hi"));
  r.backend(frame(kOpBinary, "abc", false, false) + frame(kOpCont, "d", false));
  EXPECT_EQ(Rig::take(r.to_client), hybi00_frame("YWJjZA=="));
  r.backend(frame(kOpPing, "x", false));
  std::string pong = Rig::take(r.to_backend);
  ASSERT_GE(pong.size(), 1u);
  EXPECT_EQ(static_cast<uint8_t>(pong[0]), 0x8A) << "the backend's ping is answered";
  r.backend(frame(kOpClose, close_body(1001, "going"), false));
  ASSERT_EQ(r.events.closes.size(), 1u);
  EXPECT_EQ(r.events.closes[0],
            std::make_tuple(Side::kBackend, uint16_t{1001}, std::string("going"), true));
  EXPECT_EQ(Rig::take(r.to_client), std::string("\xFF\x00", 2));
}

TEST(Pipeline, Hybi00ClientOnATextRouteCannotTakeBinary) {
  Rig r(route_config("text", "ws://127.0.0.1:7000/"), PipelineSpec{true, Framing::kText, false});
  Failure f = r.backend(frame(kOpBinary, "abc", false));
  EXPECT_EQ(f.code, close_code::kUnsupportedData);
  EXPECT_EQ(f.by, Side::kBackend);
}

TEST(Pipeline, ProxyRelaysFramesUntouchedAndClosesEndToEnd) {
  Rig r(route_config("binary", "ws://127.0.0.1:7000/"), PipelineSpec{});
  EXPECT_TRUE(r.p->relays_closes());
  std::string masked = frame(kOpText, "still masked", true);
  r.client(masked);
  EXPECT_EQ(Rig::take(r.to_backend), masked);
  r.client(frame(kOpPong, Pipeline::kKeepalive, true));
  EXPECT_EQ(r.to_backend.size(), 0u) << "pongs to wsgate's pings end here";
  EXPECT_EQ(r.events.pongs, 1);
  r.backend(frame(kOpBinary, "abcdef", false).substr(0, 5));
  EXPECT_FALSE(r.p->client_at_boundary());
  EXPECT_FALSE(r.p->close_client(r.to_client, 1001, "x")) << "no frame inside a relayed one";
  r.backend(frame(kOpBinary, "abcdef", false).substr(5));
  EXPECT_TRUE(r.p->client_at_boundary());
  Rig::take(r.to_client);
  r.client(frame(kOpClose, close_body(1000), true));
  ASSERT_EQ(r.events.closes.size(), 1u);
  EXPECT_FALSE(std::get<3>(r.events.closes[0])) << "relayed: the backend answers";
  Failure f = r.backend(frame(kOpText, "masked!", true));
  EXPECT_EQ(f.code, close_code::kProtocolError);
  EXPECT_EQ(f.by, Side::kBackend);
}

TEST(Pipeline, MaxMessageSizeIsTheRoutes) {
  Rig r(route_config("binary", "echo", 4), PipelineSpec{});
  EXPECT_EQ(r.client(frame(kOpBinary, "abcd", true)).code, 0);
  Failure f = r.client(frame(kOpBinary, "abcde", true));
  EXPECT_EQ(f.code, close_code::kTooBig);
  EXPECT_EQ(f.by, Side::kClient);
}

TEST(Pipeline, AFullClientStopsTheDecoderUntilItDrains) {
  Rig r(route_config("binary", "echo"), PipelineSpec{});
  r.events.client_full = true;
  r.client(frame(kOpBinary, "one", true) + frame(kOpBinary, "two", true));
  EXPECT_EQ(r.to_client.size(), 0u);
  EXPECT_GT(r.in_client.size(), 0u) << "the frames wait in the input";
  r.events.client_full = false;
  r.client("");
  EXPECT_EQ(Rig::take(r.to_client),
            frame(kOpBinary, "one", false) + frame(kOpBinary, "two", false));
}

TEST(PipelineFactory, FramingTable) {
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
    PipelineFactory f(route_config(c.type, c.backend));
    EXPECT_EQ(static_cast<int>(c.want), static_cast<int>(f.framing(c.hybi00, c.protocol)));
  }
}

}  // namespace

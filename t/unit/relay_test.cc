// FrameRelay: frames pass untouched (client frames still masked), the rules are checked on
// the headers, and control frames are shown to the observer.
#include "relay.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "codec.h"
#include "frame.h"
#include "test_buffer.h"
#include "test_frames.h"

namespace {

using test_frames::close_body;
using test_frames::frame;
using test_frames::kMask;

class Observer : public RelayObserver {
 public:
  bool on_relay_control(uint8_t opcode, const uint8_t* p, size_t n) override {
    controls.emplace_back(opcode, std::string(reinterpret_cast<const char*>(p), n));
    return !(swallow_pongs && opcode == kOpPong);
  }
  void on_relay_close(uint16_t code, std::string_view reason) override {
    closes.emplace_back(code, std::string(reason));
  }
  bool relay_blocked() const override { return blocked; }

  std::vector<std::pair<uint8_t, std::string>> controls;
  std::vector<std::pair<uint16_t, std::string>> closes;
  bool swallow_pongs = false;
  bool blocked = false;
};

std::string client(uint8_t op, const std::string& p, bool fin = true, uint8_t rsv = 0) {
  return frame(op, p, true, fin, rsv);
}

std::string server(uint8_t op, const std::string& p, bool fin = true, uint8_t rsv = 0) {
  return frame(op, p, false, fin, rsv);
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 31 + 7) & 0xff);
  return s;
}

constexpr uint64_t kBig = 1 << 24;
const FrameRules kClientRules{true, false, kBig};
const FrameRules kServerRules{false, false, kBig};

// A mix of frames: a text message, a fragmented binary message with a ping inside, an empty
// message, and payloads in every length form.
std::string traffic(bool masked) {
  return frame(kOpText, "hello", masked) + frame(kOpBinary, pattern(200), masked, false) +
         frame(kOpPing, "are you there", masked) + frame(kOpCont, "", masked, false) +
         frame(kOpCont, pattern(70000), masked, true) + frame(kOpText, "", masked) +
         frame(kOpPong, "", masked) + frame(kOpBinary, pattern(125), masked) +
         frame(kOpBinary, pattern(126), masked) + frame(kOpBinary, pattern(65535), masked) +
         frame(kOpBinary, pattern(65536), masked);
}

constexpr uint64_t kTrafficMessages = 7;

DecodeError relay_all(FrameRelay& r, Buf& in, Buf& out, Observer& obs) {
  return r.relay(in, out, obs);
}

// ---- forwarding ----

TEST(FrameRelay, MaskedClientFramesForwardedByteIdentical) {
  std::string t = traffic(true);
  Buf in, out;
  Observer obs;
  FrameRelay r(kClientRules);
  in.add(t);
  DecodeError err = relay_all(r, in, out, obs);
  EXPECT_EQ(0, err.code) << err.why;
  EXPECT_EQ(0u, in.size());
  EXPECT_TRUE(out.str() == t) << "output differs from input";
  EXPECT_EQ(kTrafficMessages, r.messages());
  EXPECT_TRUE(r.at_boundary());
  ASSERT_EQ(2u, obs.controls.size());
  EXPECT_EQ(kOpPing, obs.controls[0].first);
  EXPECT_EQ("are you there", obs.controls[0].second);  // the observer sees it unmasked
  EXPECT_EQ(kOpPong, obs.controls[1].first);
  EXPECT_EQ("", obs.controls[1].second);
}

TEST(FrameRelay, UnmaskedServerFramesForwardedByteIdentical) {
  std::string t = traffic(false);
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  in.add(t);
  DecodeError err = relay_all(r, in, out, obs);
  EXPECT_EQ(0, err.code) << err.why;
  EXPECT_EQ(0u, in.size());
  EXPECT_TRUE(out.str() == t) << "output differs from input";
  EXPECT_EQ(kTrafficMessages, r.messages());
  ASSERT_EQ(2u, obs.controls.size());
  EXPECT_EQ("are you there", obs.controls[0].second);
}

void byte_by_byte(bool masked) {
  std::string t = traffic(masked);
  Buf in, out;
  Observer obs;
  FrameRelay r(masked ? kClientRules : kServerRules);
  for (char c : t) {
    evbuffer_add(in, &c, 1);
    DecodeError err = r.relay(in, out, obs);
    ASSERT_EQ(0, err.code) << err.why;
  }
  EXPECT_EQ(0u, in.size());
  EXPECT_TRUE(out.str() == t) << "output differs from input";
  EXPECT_EQ(kTrafficMessages, r.messages());
  EXPECT_EQ(2u, obs.controls.size());
}

TEST(FrameRelay, MaskedClientFramesByteByByte) {
  byte_by_byte(true);
}
TEST(FrameRelay, UnmaskedServerFramesByteByByte) {
  byte_by_byte(false);
}

TEST(FrameRelay, SmallFrameThatIsAllTheInputMovesItsChain) {
  std::string f = client(kOpBinary, pattern(64));
  Buf in, out;
  Observer obs;
  FrameRelay r(kClientRules);
  in.add(f);
  const void* chain = first_byte(in);
  ASSERT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == f);
  EXPECT_EQ(chain, first_byte(out)) << "a 64 B frame into an empty output is relinked, not copied";
  // Behind bytes already waiting, a small frame is copied into their chain, so that a backlog of
  // small frames is not a backlog of mostly empty chains.
  Buf in2;
  in2.add(f);
  const void* chain2 = first_byte(in2);
  ASSERT_EQ(0, r.relay(in2, out, obs).code);
  EXPECT_EQ(2 * f.size(), out.size());
  evbuffer_iovec v[2];
  EXPECT_EQ(1, evbuffer_peek(out, -1, nullptr, v, 2)) << "copied into the first frame's chain";
  EXPECT_NE(chain2, v[0].iov_base);
  EXPECT_EQ(2u, r.messages());
}

TEST(FrameRelay, PingForwardedWithItsMaskedBytes) {
  std::string f = client(kOpPing, "xyz");
  Buf in, out;
  Observer obs;
  FrameRelay r(kClientRules);
  in.add(f);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == f);
  ASSERT_EQ(1u, obs.controls.size());
  EXPECT_EQ("xyz", obs.controls[0].second);
}

// ---- rules ----

uint16_t relay_code(const FrameRules& rules, const std::string& bytes, Buf* out = nullptr) {
  Buf in, o;
  Observer obs;
  FrameRelay r(rules);
  in.add(bytes);
  DecodeError err = r.relay(in, out ? *out : o, obs);
  return err.code;
}

TEST(FrameRelayRules, UnmaskedClientFrame) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, server(kOpText, "hi")));
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, server(kOpPing, "")));
}

TEST(FrameRelayRules, MaskedServerFrame) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, client(kOpText, "hi")));
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, client(kOpClose, "")));
}

TEST(FrameRelayRules, ErrorAfterGoodFramesKeepsGoodOnes) {
  Buf out;
  std::string good = client(kOpText, "ok");
  EXPECT_EQ(close_code::kProtocolError,
            relay_code(kClientRules, good + server(kOpText, "bad"), &out));
  EXPECT_TRUE(out.str() == good);
}

TEST(FrameRelayRules, Rsv1WithoutCompression) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, client(kOpText, "x", true, 4)));
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, server(kOpText, "x", true, 4)));
}

TEST(FrameRelayRules, Rsv2Rsv3Always) {
  const FrameRules compressed{true, true, kBig};
  EXPECT_EQ(close_code::kProtocolError, relay_code(compressed, client(kOpText, "x", true, 2)));
  EXPECT_EQ(close_code::kProtocolError, relay_code(compressed, client(kOpText, "x", true, 1)));
}

TEST(FrameRelayRules, Rsv1OnFirstFrameWhenCompressed) {
  const FrameRules up{true, true, kBig};
  const FrameRules down{false, true, kBig};
  std::string c = client(kOpText, "abc", false, 4) + client(kOpCont, "def", true);
  Buf out;
  EXPECT_EQ(0, relay_code(up, c, &out));
  EXPECT_TRUE(out.str() == c);
  EXPECT_EQ(0, relay_code(down, server(kOpBinary, "abc", true, 4)));
}

TEST(FrameRelayRules, Rsv1NotOnContinuation) {
  const FrameRules up{true, true, kBig};
  EXPECT_EQ(close_code::kProtocolError,
            relay_code(up, client(kOpText, "abc", false, 4) + client(kOpCont, "def", true, 4)));
}

TEST(FrameRelayRules, Rsv1NotOnControl) {
  const FrameRules up{true, true, kBig};
  const FrameRules down{false, true, kBig};
  EXPECT_EQ(close_code::kProtocolError, relay_code(up, client(kOpPing, "p", true, 4)));
  EXPECT_EQ(close_code::kProtocolError, relay_code(down, server(kOpPong, "p", true, 4)));
  EXPECT_EQ(close_code::kProtocolError,
            relay_code(down, server(kOpClose, close_body(1000, ""), true, 4)));
}

TEST(FrameRelayRules, MaxMessageSize) {
  const FrameRules up{true, false, 100};
  const FrameRules down{false, false, 100};
  EXPECT_EQ(0, relay_code(up, client(kOpBinary, pattern(100))));
  EXPECT_EQ(close_code::kTooBig, relay_code(up, client(kOpBinary, pattern(101))));
  EXPECT_EQ(close_code::kTooBig, relay_code(down, server(kOpText, pattern(101))));
  // Across fragments.
  EXPECT_EQ(0, relay_code(
                   up, client(kOpBinary, pattern(50), false) + client(kOpCont, pattern(50), true)));
  EXPECT_EQ(close_code::kTooBig, relay_code(down, server(kOpBinary, pattern(60), false) +
                                                      server(kOpCont, pattern(41), true)));
  // Each message starts again from zero.
  EXPECT_EQ(0, relay_code(down, server(kOpBinary, pattern(90)) + server(kOpBinary, pattern(90))));
}

TEST(FrameRelayRules, TooBigDetectedFromHeaderAlone) {
  Buf in, out;
  Observer obs;
  FrameRelay r(FrameRules{false, false, 1000});
  uint8_t h[kMaxFrameHeader];
  size_t n = encode_frame_header(h, kOpBinary, true, 1 << 20);
  evbuffer_add(in, h, n);
  EXPECT_EQ(close_code::kTooBig, r.relay(in, out, obs).code);
  EXPECT_EQ(0u, out.size());
}

TEST(FrameRelayRules, ControlFrameOver125) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, client(kOpPing, pattern(126))));
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, server(kOpPong, pattern(126))));
  EXPECT_EQ(0, relay_code(kServerRules, server(kOpPing, pattern(125))));
}

TEST(FrameRelayRules, FragmentedControlFrame) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, server(kOpPing, "x", false)));
}

TEST(FrameRelayRules, UnknownOpcode) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, server(0x3, "x")));
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, client(0xB, "x")));
}

TEST(FrameRelayRules, ContinuationWithoutMessage) {
  EXPECT_EQ(close_code::kProtocolError, relay_code(kServerRules, server(kOpCont, "x")));
}

TEST(FrameRelayRules, NewMessageInsideFragmented) {
  EXPECT_EQ(close_code::kProtocolError,
            relay_code(kServerRules, server(kOpText, "a", false) + server(kOpText, "b")));
}

// ---- close frames ----

TEST(FrameRelayClose, ObserverSeesCodeAndReasonUnmasked) {
  std::string c = client(kOpClose, close_body(4001, "bye"));
  Buf in, out;
  Observer obs;
  FrameRelay r(kClientRules);
  in.add(c);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  ASSERT_EQ(1u, obs.closes.size());
  EXPECT_EQ(4001, obs.closes[0].first);
  EXPECT_EQ("bye", obs.closes[0].second);
  EXPECT_TRUE(out.str() == c) << "the close goes on still masked";
  EXPECT_TRUE(obs.controls.empty());
  EXPECT_TRUE(r.closed());
  EXPECT_FALSE(r.at_boundary());
}

TEST(FrameRelayClose, EmptyCloseIsNoStatus) {
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  in.add(server(kOpClose, ""));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  ASSERT_EQ(1u, obs.closes.size());
  EXPECT_EQ(close_code::kNoStatus, obs.closes[0].first);
  EXPECT_TRUE(r.closed());
}

TEST(FrameRelayClose, FurtherInputDrained) {
  std::string c = server(kOpClose, close_body(1000, "done"));
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  in.add(c + server(kOpText, "after"));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == c);
  EXPECT_EQ(0u, in.size());
  // Even garbage after the close is dropped without complaint.
  in.add(client(kOpText, "masked, against the rules"));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(0u, in.size());
  EXPECT_TRUE(out.str() == c);
  EXPECT_EQ(1u, obs.closes.size());
}

TEST(FrameRelayClose, InvalidCode) {
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    Buf out;
    EXPECT_EQ(close_code::kProtocolError,
              relay_code(kServerRules, server(kOpClose, close_body(code, "")), &out))
        << code;
    EXPECT_EQ(0u, out.size()) << code;
  }
  EXPECT_EQ(close_code::kProtocolError, relay_code(kClientRules, client(kOpClose, "x")));
}

TEST(FrameRelayClose, ReasonNotUtf8) {
  EXPECT_EQ(close_code::kInvalidPayload,
            relay_code(kClientRules, client(kOpClose, close_body(1000, "\xff\xfe"))));
}

TEST(FrameRelayClose, CloseInsideFragmentedMessage) {
  std::string bytes = server(kOpText, "part", false) + server(kOpClose, close_body(1001, ""));
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  in.add(bytes);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == bytes);
  EXPECT_TRUE(r.closed());
  EXPECT_EQ(1001, obs.closes.at(0).first);
}

// ---- the observer's say ----

TEST(FrameRelayObserver, SwallowedPong) {
  Buf in, out;
  Observer obs;
  obs.swallow_pongs = true;
  FrameRelay r(kClientRules);
  std::string a = client(kOpText, "a"), b = client(kOpBinary, "b"), ping = client(kOpPing, "p");
  in.add(a + client(kOpPong, "wsgate-keepalive") + ping + b);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == a + ping + b);
  EXPECT_EQ(0u, in.size());
  ASSERT_EQ(2u, obs.controls.size());
  EXPECT_EQ(kOpPong, obs.controls[0].first);
  EXPECT_EQ("wsgate-keepalive", obs.controls[0].second);
  EXPECT_EQ(2u, r.messages());
}

TEST(FrameRelayObserver, SwallowedPongInsideFragmentedMessage) {
  Buf in, out;
  Observer obs;
  obs.swallow_pongs = true;
  FrameRelay r(kServerRules);
  std::string a = server(kOpText, "ab", false), b = server(kOpCont, "cd", true);
  in.add(a + server(kOpPong, "x") + b);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == a + b);
  EXPECT_EQ(1u, r.messages());
}

TEST(FrameRelayObserver, BlockedPausesMidPayload) {
  std::string payload = pattern(1000);
  std::string f = server(kOpBinary, payload);
  size_t header = f.size() - payload.size();
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  in.add(f.substr(0, header + 400));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(header + 400, out.size());
  EXPECT_FALSE(r.at_boundary());
  obs.blocked = true;
  in.add(f.substr(header + 400));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(header + 400, out.size()) << "moved payload while blocked";
  EXPECT_EQ(600u, in.size());
  EXPECT_EQ(0u, r.messages());
  obs.blocked = false;
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == f);
  EXPECT_EQ(1u, r.messages());
  EXPECT_TRUE(r.at_boundary());
}

TEST(FrameRelayObserver, BlockedHoldsPayloadOfNewFrame) {
  std::string payload = pattern(300);
  std::string f = client(kOpText, payload);
  Buf in, out;
  Observer obs;
  obs.blocked = true;
  FrameRelay r(kClientRules);
  in.add(f);
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_GE(in.size(), payload.size()) << "payload moved while blocked";
  obs.blocked = false;
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(out.str() == f);
}

// ---- boundaries and counts ----

TEST(FrameRelayState, AtBoundary) {
  std::string f = server(kOpBinary, pattern(100));
  Buf in, out;
  Observer obs;
  FrameRelay r(kServerRules);
  EXPECT_TRUE(r.at_boundary());
  in.add(f.substr(0, 1));  // half a header stays in `in`: nothing of the frame went out
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(0u, out.size());
  EXPECT_TRUE(r.at_boundary());
  in.add(f.substr(1, 50));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_FALSE(r.at_boundary());
  in.add(f.substr(51));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(r.at_boundary());
  // Between the fragments of a message is a frame boundary too.
  in.add(server(kOpText, "a", false));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_TRUE(r.at_boundary());
  // A partial control frame is held back whole.
  std::string ping = server(kOpPing, "ping!");
  in.add(ping.substr(0, 4));
  size_t before = out.size();
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(before, out.size());
  EXPECT_TRUE(r.at_boundary());
  in.add(ping.substr(4));
  EXPECT_EQ(0, r.relay(in, out, obs).code);
  EXPECT_EQ(before + ping.size(), out.size());
}

TEST(FrameRelayState, MessagesCount) {
  Buf in, out;
  Observer obs;
  FrameRelay r(kClientRules);
  EXPECT_EQ(0u, r.messages());
  in.add(client(kOpText, "one"));
  r.relay(in, out, obs);
  EXPECT_EQ(1u, r.messages());
  in.add(client(kOpBinary, "", false) + client(kOpPing, "") + client(kOpCont, "x", false));
  r.relay(in, out, obs);
  EXPECT_EQ(1u, r.messages());
  in.add(client(kOpCont, "", true));
  r.relay(in, out, obs);
  EXPECT_EQ(2u, r.messages());
  in.add(client(kOpText, ""));
  r.relay(in, out, obs);
  EXPECT_EQ(3u, r.messages());
  in.add(client(kOpClose, close_body(1000, "")));
  r.relay(in, out, obs);
  EXPECT_EQ(3u, r.messages());
}

}  // namespace

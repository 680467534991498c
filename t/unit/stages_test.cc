// The stages between codecs: UTF-8 hold-back for text bridges, base64 for text-only clients,
// and the text-only check, each driven as a pipeline drives it.
#include "stages.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test_buffer.h"
#include "utf8.h"

namespace {

// The end of a pipeline: collects what the stage hands on, with the last piece's metadata.
struct Collect final : StageOut {
  Flow push(evbuffer* data, size_t n, const MessageMeta& m) override {
    evbuffer_remove_buffer(data, out, n);
    last = m;
    pushes++;
    return Flow::kContinue;
  }
  // Takes everything collected so far.
  std::string take() {
    std::string s = out.str();
    evbuffer_drain(out, s.size());
    return s;
  }
  Buf out;
  MessageMeta last;
  int pushes = 0;
};

// Runs one stage as a bridge's pipeline does.
struct Runner {
  explicit Runner(std::unique_ptr<Stage> st) : s(std::move(st)) {}
  // Backend bytes: each read is one message. False on failure.
  bool down(Buf& in, bool eof, uint8_t opcode = kOpText) {
    size_t n = in.size();
    if (n && s->down(in, n, MessageMeta{opcode, true, true, false}, out) == Flow::kFail)
      return false;
    return !eof || s->down_end(out) != Flow::kFail;
  }
  // A piece of a client message.
  bool up(Buf& in, size_t n, uint8_t opcode = kOpText, bool first = true, bool fin = true) {
    return s->up(in, n, MessageMeta{opcode, first, fin, false}, out) != Flow::kFail;
  }
  std::unique_ptr<Stage> s;
  Collect out;
};

Runner text() {
  return Runner(std::make_unique<Utf8HoldBack>());
}

// ---- UTF-8 hold-back ----

TEST(Utf8HoldBack, PassesCompleteText) {
  Runner r = text();
  Buf in;
  in.add("hello \xE2\x82\xAC world");
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), "hello \xE2\x82\xAC world");
  EXPECT_EQ(in.size(), 0u);
  EXPECT_EQ(r.out.last.opcode, kOpText);
  EXPECT_TRUE(r.out.last.first && r.out.last.fin) << "each read is one whole message";
}

TEST(Utf8HoldBack, HoldsBackASplitCharacter) {
  Runner r = text();
  Buf in;
  in.add("caf\xC3");  // "é" (C3 A9) split across two reads
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), "caf");
  EXPECT_EQ(in.size(), 0u) << "taken: held inside the stage, not lost";
  in.add("\xA9!");
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), "\xC3\xA9!");
}

TEST(Utf8HoldBack, FourByteCharacterOneByteAtATime) {
  Runner r = text();
  Buf in;
  std::string emoji = "\xF0\x9F\x98\x80", got;
  for (size_t i = 0; i < emoji.size(); i++) {
    in.add(emoji.substr(i, 1));
    ASSERT_TRUE(r.down(in, false));
    got += r.out.take();
    if (i + 1 < emoji.size()) {
      EXPECT_EQ(got, "") << "released part of a character at " << i;
    }
  }
  EXPECT_EQ(got, emoji);
  EXPECT_EQ(r.out.pushes, 1) << "no empty messages for reads that completed nothing";
  ASSERT_TRUE(r.down(in, true)) << "nothing pending, so the end is fine";
}

TEST(Utf8HoldBack, ByteByByteReproducesTheInput) {
  Runner r = text();
  std::string input, got;
  for (int i = 0; i < 30; i++) input += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 ";
  Buf in;
  for (char c : input) {
    evbuffer_add(in, &c, 1);
    ASSERT_TRUE(r.down(in, false));
    got += r.out.take();
    ASSERT_TRUE(utf8_valid(got.data(), got.size())) << "only whole characters are released";
  }
  ASSERT_TRUE(r.down(in, true));
  EXPECT_EQ(got, input);
}

TEST(Utf8HoldBack, InputSpreadOverManyBufferChains) {
  // More chains than are peeked at once, with characters straddling chain boundaries.
  Runner r = text();
  std::string input;
  for (int i = 0; i < 20; i++) input += "\xE2\x82\xAC\xF0\x9F\x98\x80x";
  Buf in;
  in.add_chain_per_byte(input + "ab\xE2\x82");
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), input + "ab");
  in.add("\xAC");
  ASSERT_TRUE(r.down(in, true));
  EXPECT_EQ(r.out.take(), "\xE2\x82\xAC");
}

TEST(Utf8HoldBack, InvalidUtf8Fails1011) {
  for (std::string bad : {std::string("ok\xFF"), std::string("\xC0\x80"),
                          std::string("\xED\xA0\x80"), std::string("x\x80")}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    Runner r = text();
    Buf in;
    in.add(bad);
    EXPECT_FALSE(r.down(in, false));
    EXPECT_EQ(r.s->error().code, close_code::kInternalError) << "the backend's fault";
    EXPECT_NE(std::string(r.s->error().why).find("UTF-8"), std::string::npos);
  }
}

TEST(Utf8HoldBack, InvalidContinuationOfAHeldCharacter) {
  Runner r = text();
  Buf in;
  in.add("abc\xED");
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), "abc");
  in.add("\xA0\x80");  // a surrogate, invalid only once this arrives
  EXPECT_FALSE(r.down(in, false));
}

TEST(Utf8HoldBack, EndInsideACharacterFails) {
  Runner r = text();
  Buf in;
  in.add("end\xE2\x82");
  ASSERT_TRUE(r.down(in, false));
  EXPECT_EQ(r.out.take(), "end");
  EXPECT_FALSE(r.down(in, true));
  EXPECT_EQ(r.s->error().code, close_code::kInternalError);
  // Also when the partial character comes with the end.
  Runner r2 = text();
  Buf in2;
  in2.add("x\xC3");
  EXPECT_FALSE(r2.down(in2, true));
}

TEST(Utf8HoldBack, EndWithCompleteTextFlushesEverything) {
  Runner r = text();
  Buf in;
  in.add("bye \xC3\xA9");
  ASSERT_TRUE(r.down(in, true));
  EXPECT_EQ(r.out.take(), "bye \xC3\xA9");
}

TEST(Utf8HoldBack, ClientBytesPassUntouched) {
  // Client text is validated by its codec; the stage only works on backend bytes.
  Runner r = text();
  Buf in;
  in.add(
      "\xFF\xFE"
      "rest");
  ASSERT_TRUE(r.up(in, 2, kOpBinary));
  EXPECT_EQ(r.out.take(), "\xFF\xFE");
  EXPECT_EQ(in.str(), "rest");
}

// ---- base64 ----

TEST(Base64Stage, ClientTextDecodesAsOneStreamAcrossPieces) {
  Runner r(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
  Buf in;
  struct Step {
    const char* text;
    const char* decoded_so_far;
  } steps[] = {
      {"Zm9", ""},       {"vYm", "foo"},    {"Fy", "foobar"},     {"", "foobar"},
      {"Q", "foobar"},   {"Q=", "foobar"},  {"=", "foobarA"},     {"Qg==Q", "foobarAB"},
      {"0", "foobarAB"}, {"N", "foobarAB"}, {"E", "foobarABCCD"},
  };
  std::string got;
  for (const Step& st : steps) {
    SCOPED_TRACE(st.text);
    in.add(st.text);
    ASSERT_TRUE(r.up(in, in.size(), kOpText, false, false)) << r.s->error().why;
    EXPECT_EQ(in.size(), 0u) << "everything taken, partial groups kept inside";
    got += r.out.take();
    EXPECT_EQ(got, st.decoded_so_far);
  }
}

TEST(Base64Stage, InvalidClientBase64Fails1007) {
  for (std::string bad :
       {std::string("Zm9v!"), std::string("Zm 9v"), std::string("Zm9v\r\n"), std::string("=AAA"),
        std::string("Zh=="), std::string("QQ==="), std::string("\xC3\xA9"), std::string("Zg=a")}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    Runner r(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
    Buf in;
    in.add(bad);
    EXPECT_FALSE(r.up(in, in.size()));
    EXPECT_EQ(r.s->error().code, close_code::kInvalidPayload);
  }
  // Invalid only in the light of an earlier piece: "Zg" then "=A".
  Runner r(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
  Buf in;
  in.add("Zg");
  ASSERT_TRUE(r.up(in, 2, kOpText, true, false));
  in.add("=A");
  EXPECT_FALSE(r.up(in, 2, kOpText, false, true));
}

TEST(Base64Stage, ABinaryClientFrameFails1003) {
  Runner r(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
  Buf in;
  in.add("Zm9v");
  EXPECT_FALSE(r.up(in, 4, kOpBinary));
  EXPECT_EQ(r.s->error().code, close_code::kUnsupportedData);
  EXPECT_EQ(in.size(), 0u);
}

TEST(Base64Stage, EachBackendReadIsOneWholeString) {
  Runner r(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
  struct Case {
    std::string raw, text;
  } cases[] = {{"f", "Zg=="},
               {"fo", "Zm8="},
               {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="},
               {std::string("\x00\xFF", 2), "AP8="}};
  for (const Case& c : cases) {
    Buf in;
    in.add(c.raw);
    ASSERT_TRUE(r.down(in, false, kOpBinary));
    EXPECT_EQ(r.out.take(), c.text) << "nothing held back between reads";
    EXPECT_EQ(r.out.last.opcode, kOpText);
  }
}

TEST(Base64Stage, BinaryOnlyEncodesBinaryMessagesAcrossPiecesAndPassesText) {
  Base64Stage s(Base64Stage::Mode::kBinaryOnly);
  Collect out;
  Buf in;
  in.add("abc");
  // A binary message in two pieces: one base64 string, ended by the last piece.
  ASSERT_EQ(s.down(in, 2, MessageMeta{kOpBinary, true, false, false}, out), Flow::kContinue);
  ASSERT_EQ(s.down(in, 1, MessageMeta{kOpBinary, false, true, false}, out), Flow::kContinue);
  EXPECT_EQ(out.take(), "YWJj");
  EXPECT_EQ(out.last.opcode, kOpText);
  EXPECT_TRUE(out.last.fin);
  in.add("plain");
  ASSERT_EQ(s.down(in, 5, MessageMeta{kOpText, true, true, false}, out), Flow::kContinue);
  EXPECT_EQ(out.take(), "plain");
  // Client text goes to a WebSocket backend as it is.
  in.add("up");
  ASSERT_EQ(s.up(in, 2, MessageMeta{kOpText, true, true, false}, out), Flow::kContinue);
  EXPECT_EQ(out.take(), "up");
}

TEST(TextOnly, ABinaryBackendMessageFails1003AndTextPasses) {
  Runner r(std::make_unique<TextOnly>());
  Buf in;
  in.add("ok");
  ASSERT_TRUE(r.down(in, false, kOpText));
  EXPECT_EQ(r.out.take(), "ok");
  in.add("\x01\x02");
  EXPECT_FALSE(r.down(in, false, kOpBinary));
  EXPECT_EQ(r.s->error().code, close_code::kUnsupportedData);
}

}  // namespace

// Streaming base64: every length, every chunking, and the decoder's rejects.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "base64.h"
#include "test_buffer.h"

namespace {

std::string encode(const std::string& raw) {
  Buf in, out;
  in.add(raw);
  base64_encode(in, raw.size(), out);
  EXPECT_EQ(0u, in.size());
  return out.str();
}

// Decodes `text` fed in pieces of the given sizes (cycled); returns false on a reject.
bool decode(const std::string& text, const std::vector<size_t>& pieces, std::string& raw) {
  Base64Decoder d;
  Buf out;
  size_t at = 0, k = 0;
  while (at < text.size()) {
    size_t n = std::min(pieces[k++ % pieces.size()], text.size() - at);
    if (!d.feed(reinterpret_cast<const uint8_t*>(text.data() + at), n, out)) return false;
    at += n;
  }
  raw = out.str();
  return d.complete();
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// OpenSSL's one-shot padded encoding, as the reference.
std::string reference(const std::string& raw) {
  std::string text(raw.size() / 3 * 4 + 8, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&text[0]),
                            reinterpret_cast<const unsigned char*>(raw.data()),
                            static_cast<int>(raw.size()));
  text.resize(static_cast<size_t>(len));
  return text;
}

// Encodes `raw` with one Base64Encoder in pieces ending at `cuts` (ascending), the last with
// fin. Checks after each piece that its bytes were taken and that everything that can be
// written has been: a whole group never waits.
std::string encode_pieces(const std::string& raw, const std::vector<size_t>& cuts) {
  Base64Encoder e;
  Buf in, out;
  in.add(raw);
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(raw.size());
  for (size_t i = 0; i < ends.size(); i++) {
    bool fin = i + 1 == ends.size();
    e.encode(in, ends[i] - at, out, fin);
    at = ends[i];
    EXPECT_EQ(raw.size() - at, in.size()) << "piece " << i << " not taken exactly";
    size_t expect = fin ? (at + 2) / 3 * 4 : at / 3 * 4;
    EXPECT_EQ(expect, out.size()) << "after piece " << i << " ending at " << at;
  }
  return out.str();
}

}  // namespace

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ("", encode(""));
  EXPECT_EQ("Zg==", encode("f"));
  EXPECT_EQ("Zm8=", encode("fo"));
  EXPECT_EQ("Zm9v", encode("foo"));
  EXPECT_EQ("Zm9vYg==", encode("foob"));
  EXPECT_EQ("Zm9vYmE=", encode("fooba"));
  EXPECT_EQ("Zm9vYmFy", encode("foobar"));
}

TEST(Base64, RoundTripEveryLengthTo1024) {
  for (size_t n = 0; n <= 1024; n++) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n));
    std::string text = encode(raw);
    ASSERT_EQ((n + 2) / 3 * 4, text.size()) << n;
    std::string back;
    ASSERT_TRUE(decode(text, {text.size() + 1}, back)) << n;
    ASSERT_EQ(raw, back) << n;
    ASSERT_TRUE(decode(text, {1}, back)) << n;
    ASSERT_EQ(raw, back) << n;
    ASSERT_TRUE(decode(text, {3, 5, 7}, back)) << n;
    ASSERT_EQ(raw, back) << n;
  }
}

TEST(Base64, LargeInputEncodesInBlocks) {
  std::string raw = random_bytes(100000, 7);
  std::string text = encode(raw);
  unsigned char ref[140000];
  int len = EVP_EncodeBlock(ref, reinterpret_cast<const unsigned char*>(raw.data()),
                            static_cast<int>(raw.size()));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ref), len), text);
  std::string back;
  ASSERT_TRUE(decode(text, {4093}, back));
  EXPECT_EQ(raw, back);
}

TEST(Base64, EveryTwoWaySplitOfThreeFourAndFiveGroups) {
  for (size_t groups : {3u, 4u, 5u}) {
    for (size_t tail : {0u, 1u, 2u}) {
      std::string raw = random_bytes(groups * 3 - tail, static_cast<unsigned>(groups + tail));
      std::string text = encode(raw);
      for (size_t cut = 0; cut <= text.size(); cut++) {
        Base64Decoder d;
        Buf out;
        ASSERT_TRUE(d.feed(reinterpret_cast<const uint8_t*>(text.data()), cut, out));
        ASSERT_TRUE(
            d.feed(reinterpret_cast<const uint8_t*>(text.data() + cut), text.size() - cut, out));
        ASSERT_TRUE(d.complete());
        ASSERT_EQ(raw, out.str()) << groups << " groups, cut at " << cut;
      }
    }
  }
}

TEST(Base64, ConcatenatedPaddedStringsDecode) {
  std::string back;
  ASSERT_TRUE(decode("Zg==Zm8=Zm9v", {1}, back));
  EXPECT_EQ("ffofoo", back);
}

TEST(Base64, DecoderRejects) {
  std::string back;
  for (const char* bad :
       {"Zm9v!", "Zm 9v", "Zm9v\n", "=Zm9", "Z===", "Zg=a", "Zh==", "Zm9=", "Zm8==", "\xC3\xA9"}) {
    EXPECT_FALSE(decode(bad, {1}, back)) << "accepted: " << bad;
  }
  EXPECT_FALSE(decode("Zm9", {1}, back)) << "an incomplete group is not complete()";
}

// ---- Streaming encoder ----

TEST(Base64Encoder, EveryTwoWaySplitOfLengthsTo64) {
  for (size_t n = 0; n <= 64; n++) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n + 1000));
    std::string want = reference(raw);
    ASSERT_EQ(want, encode(raw)) << n;
    for (size_t cut = 0; cut <= n; cut++) {
      ASSERT_EQ(want, encode_pieces(raw, {cut})) << n << " cut at " << cut;
    }
  }
}

TEST(Base64Encoder, EveryThreeWaySplitOfShortInputs) {
  for (size_t n = 0; n <= 20; n++) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n + 2000));
    std::string want = reference(raw);
    for (size_t i = 0; i <= n; i++)
      for (size_t j = i; j <= n; j++) {
        ASSERT_EQ(want, encode_pieces(raw, {i, j})) << n << " cut at " << i << "," << j;
      }
  }
}

TEST(Base64Encoder, SelectedThreeWaySplitsOfLengthsTo64) {
  for (size_t n = 21; n <= 64; n++) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n + 3000));
    std::string want = reference(raw);
    // Cuts at every residue mod 3 near both ends and in the middle.
    std::vector<size_t> points = {0,         1,     2,     3,     4,     5,     n / 2 - 1, n / 2,
                                  n / 2 + 1, n - 5, n - 4, n - 3, n - 2, n - 1, n};
    for (size_t i : points)
      for (size_t j : points) {
        if (j < i) continue;
        ASSERT_EQ(want, encode_pieces(raw, {i, j})) << n << " cut at " << i << "," << j;
      }
  }
}

TEST(Base64Encoder, LargeInputsInPieces) {
  // Around the encoder's 3 KiB block and far beyond it.
  for (size_t n : {size_t{3071}, size_t{3072}, size_t{3073}, size_t{6145}, size_t{100001}}) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n));
    std::string want = reference(raw);
    ASSERT_EQ(want, encode(raw)) << n;
    std::vector<std::vector<size_t>> splits = {
        {1}, {2}, {n / 2}, {n - 1}, {3070, 3071}, {3073, 3074}, {1, n - 1}, {n / 3, 2 * n / 3 + 1}};
    for (const auto& cuts : splits) {
      std::vector<size_t> ok;
      for (size_t c : cuts) ok.push_back(std::min(c, n));
      ASSERT_EQ(want, encode_pieces(raw, ok)) << n << " cut at " << ok.front();
    }
    // Many small pieces of irregular sizes.
    std::vector<size_t> cuts;
    for (size_t at = 0, k = 0; (at += 1 + k % 7) < n; k++) cuts.push_back(at);
    if (n <= 6145) {
      ASSERT_EQ(want, encode_pieces(raw, cuts)) << n << " in small pieces";
    }
  }
}

TEST(Base64Encoder, CarryAcrossPieces) {
  Base64Encoder e;
  Buf in, out;
  in.add("foobar!");
  e.encode(in, 1, out, false);  // "f": waits
  EXPECT_EQ("", out.str());
  EXPECT_EQ("oobar!", in.str());
  e.encode(in, 1, out, false);  // "fo": waits
  EXPECT_EQ("", out.str());
  e.encode(in, 2, out, false);  // "foob": one group out, "b" waits
  EXPECT_EQ("Zm9v", out.str());
  e.encode(in, 0, out, false);  // nothing new: nothing happens
  EXPECT_EQ("Zm9v", out.str());
  e.encode(in, 2, out, false);  // "bar"
  EXPECT_EQ("Zm9vYmFy", out.str());
  e.encode(in, 1, out, true);  // "!" with padding
  EXPECT_EQ("Zm9vYmFyIQ==", out.str());
  EXPECT_EQ(0u, in.size());
}

TEST(Base64Encoder, NothingWaitsAfterFin) {
  // fin with no bytes flushes what the earlier pieces left.
  for (size_t k : {1u, 2u}) {
    Base64Encoder e;
    Buf in, out;
    in.add(std::string(k, 'A'));
    e.encode(in, k, out, false);
    EXPECT_EQ("", out.str());
    e.encode(in, 0, out, true);
    EXPECT_EQ(reference(std::string(k, 'A')), out.str());
  }
  // After fin the encoder starts a new string from nothing: no stale carry.
  Base64Encoder e;
  Buf in, out;
  in.add("abcd");
  e.encode(in, 4, out, true);
  EXPECT_EQ("YWJjZA==", out.str());
  in.add("xy");
  e.encode(in, 2, out, true);
  EXPECT_EQ("YWJjZA==eHk=", out.str());
  // An empty message is an empty string, and leaves nothing behind either.
  e.encode(in, 0, out, true);
  EXPECT_EQ("YWJjZA==eHk=", out.str());
  in.add("z");
  e.encode(in, 1, out, true);
  EXPECT_EQ("YWJjZA==eHk=eg==", out.str());
}

TEST(Base64Encoder, TakesOnlyNBytes) {
  Base64Encoder e;
  Buf in, out;
  in.add("0123456789");
  e.encode(in, 4, out, false);
  EXPECT_EQ("456789", in.str());
  e.encode(in, 0, out, true);
  EXPECT_EQ("456789", in.str());
  EXPECT_EQ(reference("0123"), out.str());
}

TEST(Base64Encoder, EncodedPiecesDecodeAsOneStream) {
  // Strings from successive messages concatenate into a stream the decoder accepts.
  std::string all, text;
  Base64Encoder e;
  for (size_t n = 0; n < 20; n++) {
    std::string raw = random_bytes(n, static_cast<unsigned>(n + 4000));
    all += raw;
    Buf in, out;
    in.add(raw);
    e.encode(in, n / 2, out, false);
    e.encode(in, n - n / 2, out, true);
    text += out.str();
  }
  std::string back;
  ASSERT_TRUE(decode(text, {5}, back));
  EXPECT_EQ(all, back);
}

// ---- Decoder on evbuffers ----

TEST(Base64Decoder, FeedFromEvbufferDrainsExactlyN) {
  Base64Decoder d;
  Buf in, out;
  in.add("Zm9vYmFyTAIL");
  ASSERT_TRUE(d.feed(in, 8, out));
  EXPECT_EQ("foobar", out.str());
  EXPECT_EQ("TAIL", in.str());
  ASSERT_TRUE(d.feed(in, 0, out));
  EXPECT_EQ("TAIL", in.str());
  // Half a group: drained, and the decoder waits for the rest.
  ASSERT_TRUE(d.feed(in, 2, out));
  EXPECT_EQ("IL", in.str());
  EXPECT_FALSE(d.complete());
  EXPECT_EQ("foobar", out.str());
  in.add("Zg==");
  ASSERT_TRUE(d.feed(in, 2, out));
  EXPECT_EQ("Zg==", in.str());
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(std::string("foobarL\x02\x0B"), out.str());
}

TEST(Base64Decoder, FeedFromEvbufferOverManyChains) {
  std::string raw = random_bytes(3000, 99);
  std::string text = encode(raw);
  Base64Decoder d;
  Buf in, out;
  for (size_t i = 0; i < text.size(); i += 7) {
    Buf piece;
    piece.add(text.substr(i, 7));
    evbuffer_add_buffer(in, piece);
  }
  in.add("extra");
  ASSERT_TRUE(d.feed(in, text.size(), out));
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(raw, out.str());
  EXPECT_EQ("extra", in.str());
}

TEST(Base64Decoder, FeedFromEvbufferRejects) {
  Base64Decoder d;
  Buf in, out;
  in.add("Zm9v!AAAnext");
  EXPECT_FALSE(d.feed(in, 8, out));
  EXPECT_EQ("next", in.str()) << "n bytes are drained even on a reject";
}

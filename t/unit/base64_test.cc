// Streaming base64: every length, every chunking, and the decoder's rejects.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string>

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

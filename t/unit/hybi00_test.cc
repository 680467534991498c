// The hybi-00 handshake arithmetic, on the draft's vectors and the edge cases of key parsing.
#include <gtest/gtest.h>

#include <string>

#include "hybi00.h"

namespace {

std::string challenge(const char* k1, const char* k2, const char* key3) {
  uint32_t n1 = 0, n2 = 0;
  EXPECT_TRUE(hybi00_key_number(k1, n1)) << k1;
  EXPECT_TRUE(hybi00_key_number(k2, n2)) << k2;
  uint8_t out[16];
  hybi00_challenge(n1, n2, reinterpret_cast<const uint8_t*>(key3), out);
  return std::string(reinterpret_cast<char*>(out), 16);
}

}  // namespace

TEST(Hybi00, DraftVector) {
  uint32_t n = 0;
  ASSERT_TRUE(hybi00_key_number("4 @1  46546xW%0l 1 5", n));
  EXPECT_EQ(829309203u, n);  // 4146546015 / 5 spaces
  ASSERT_TRUE(hybi00_key_number("12998 5 Y3 1  .P00", n));
  EXPECT_EQ(259970620u, n);  // 1299853100 / 5 spaces
  EXPECT_EQ("8jKS'y:G*Co,Wxa-",
            challenge("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", "^n:ds[4U"));
}

TEST(Hybi00, SecondVector) {
  EXPECT_EQ("fQJ,fN/4F4!~K~MH", challenge("18x 6]8vM;54 *(5:  {   U1]8  z [  8",
                                          "1_ tx7X d  <  nw  334J702) 7]o}` 0", "Tm[K T2u"));
}

TEST(Hybi00, BigEndianNotLittleEndian) {
  // lighttpd's mod_wstunnel feeds MD5 little-endian numbers; the draft's answer differs.
  uint8_t key3[8] = {'^', 'n', ':', 'd', 's', '[', '4', 'U'};
  uint8_t be[16], le[16];
  hybi00_challenge(829309203u, 259970620u, key3, be);
  hybi00_challenge(__builtin_bswap32(829309203u), __builtin_bswap32(259970620u), key3, le);
  EXPECT_EQ("8jKS'y:G*Co,Wxa-", std::string(reinterpret_cast<char*>(be), 16));
  EXPECT_NE(std::string(reinterpret_cast<char*>(be), 16),
            std::string(reinterpret_cast<char*>(le), 16));
}

TEST(Hybi00, KeyRejects) {
  uint32_t n = 0;
  EXPECT_FALSE(hybi00_key_number("12345", n)) << "no spaces";
  EXPECT_FALSE(hybi00_key_number("", n)) << "empty";
  EXPECT_FALSE(hybi00_key_number("1 0 1", n)) << "101 / 2 spaces is not exact";
  EXPECT_FALSE(hybi00_key_number("8589934592 ", n)) << "2^33 / 1 overflows 32 bits";
  EXPECT_FALSE(hybi00_key_number("99999999999999999999999999 ", n)) << "digits overflow";
  EXPECT_TRUE(hybi00_key_number("4294967295 ", n));
  EXPECT_EQ(4294967295u, n);
  EXPECT_FALSE(hybi00_key_number("4294967296 ", n)) << "2^32 / 1";
  EXPECT_TRUE(hybi00_key_number("8589934590  ", n)) << "2^33-2 / 2 fits";
  EXPECT_EQ(4294967295u, n);
  EXPECT_TRUE(hybi00_key_number(" 0 ", n));
  EXPECT_EQ(0u, n);
}

#include "clawgate/core/crypto.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace clawgate::core {
namespace {

TEST(Crypto, Sha256KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// to_hex goes 16 bytes at a time, then byte by byte: every byte value, at every length around
// the 16-byte steps, against the plain definition.
TEST(Crypto, ToHexMatchesTheByteByByteForm) {
  std::vector<std::uint8_t> bytes(256);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const auto reference = [](const std::uint8_t* p, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s += "0123456789abcdef"[p[i] >> 4];
      s += "0123456789abcdef"[p[i] & 15];
    }
    return s;
  };
  for (const std::size_t n : {0UL, 1UL, 15UL, 16UL, 17UL, 31UL, 32UL, 33UL, 256UL}) {
    EXPECT_EQ(to_hex(bytes.data(), n), reference(bytes.data(), n)) << n;
  }
  for (std::size_t offset = 0; offset < 256; offset += 16) {
    EXPECT_EQ(to_hex(bytes.data() + offset, 16), reference(bytes.data() + offset, 16));
  }
}

TEST(Crypto, StreamingMatchesOneShot) {
  Sha256Stream s;
  s.update("a");
  s.update("bc");
  EXPECT_EQ(s.hex(), sha256_hex("abc"));
}

TEST(Crypto, HmacRfc4231Case2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, KeyedHmacMatchesOneShotAcrossMessages) {
  HmacSha256 mac("Jefe");
  // RFC 4231 case 2, fed in pieces, twice: the second message starts from the key, not from
  // the state the first one left.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(mac.hex({"what do ya ", "want for nothing?"}),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
  EXPECT_EQ(mac.hex({"other"}), hmac_sha256_hex("Jefe", "other"));
  EXPECT_EQ(mac.hex({}), hmac_sha256_hex("Jefe", ""));
  // A key longer than the block size is hashed first (RFC 4231 case 6).
  HmacSha256 long_key(std::string(131, '\xaa'));
  EXPECT_EQ(long_key.hex({"Test Using Larger Than Block-Size Key - Hash Key First"}),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(Crypto, RandomHexIsFreshAndSized) {
  const auto a = random_hex(16);
  const auto b = random_hex(16);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(is_lower_hex(*a, 32));
  EXPECT_NE(*a, *b);
}

TEST(Crypto, RandomHexNeverRepeatsAcrossPoolRefills) {
  // Ids come from a per-thread pool of CSPRNG bytes: across several refills (and a size that
  // does not divide the pool) no id, and no 16-byte window of the stream, repeats.
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto id = random_hex(i % 3 == 0 ? 24 : 16);
    ASSERT_TRUE(id.has_value());
    EXPECT_TRUE(is_lower_hex(*id, i % 3 == 0 ? 48 : 32));
    EXPECT_TRUE(seen.insert(id->substr(0, 32)).second) << "repeated at " << i;
  }
  const auto big = random_hex(200);  // larger than a pool share: drawn directly
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(is_lower_hex(*big, 400));
}

}  // namespace
}  // namespace clawgate::core

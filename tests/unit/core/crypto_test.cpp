#include "clawgate/core/crypto.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
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

// SHA-256 is computed with OpenSSL's SHA256_* functions, HMAC on top of them with precomputed
// pads: both are checked against the EVP routes and against published vectors.
std::string evp_sha256_hex(std::string_view data) {
  std::array<unsigned char, 32> d{};
  unsigned len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr), 1);
  return to_hex(d.data(), len);
}

std::string evp_hmac_hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> d{};
  unsigned len = 0;
  EXPECT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(), &len),
            nullptr);
  return to_hex(d.data(), len);
}

std::string bytes_from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(Crypto, Sha256NistVectors) {
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length across several blocks (the padding's boundaries at 55, 56 and 64 bytes
// included), one-shot and streamed in uneven pieces.
TEST(Crypto, Sha256MatchesEvpAtEveryLength) {
  std::string data;
  for (std::size_t n = 0; n <= 300; ++n) {
    EXPECT_EQ(sha256_hex(data), evp_sha256_hex(data)) << n;
    Sha256Stream s;
    for (std::size_t at = 0; at < n; at += 1 + at % 7)
      s.update(std::string_view(data).substr(at, 1 + at % 7));
    EXPECT_EQ(s.hex(), evp_sha256_hex(data)) << n;
    data.push_back(static_cast<char>(n * 31 + 7));
  }
}

TEST(Crypto, HmacRfc4231AllSha256Cases) {
  struct Case {
    std::string key, data, mac;
  };
  const std::string aa131(131, '\xaa');
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {bytes_from_hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
       std::string(50, '\xcd'), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {aa131, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {aa131,
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(hmac_sha256_hex(c.key, c.data), c.mac);
    EXPECT_EQ(HmacSha256(c.key).hex({c.data}), c.mac);
  }
  // Case 5 is truncated to 128 bits.
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0c'), "Test With Truncation").substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
}

// Keys of every length from empty to beyond two blocks (the 64-byte block and the switch to
// hashing the key), messages split into pieces at random points, against OpenSSL's HMAC().
TEST(Crypto, HmacMatchesOpensslForEveryKeyLength) {
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t k = 0; k <= 140; ++k) {
    std::string key;
    for (std::size_t i = 0; i < k; ++i) key.push_back(static_cast<char>(byte(rng)));
    const HmacSha256 mac(key);
    for (const std::size_t n : {0UL, 1UL, 55UL, 64UL, 119UL, 1000UL}) {
      std::string msg;
      for (std::size_t i = 0; i < n; ++i) msg.push_back(static_cast<char>(byte(rng)));
      const std::size_t a = n == 0 ? 0 : static_cast<std::size_t>(byte(rng)) % n;
      const std::size_t b = a + (n == a ? 0 : static_cast<std::size_t>(byte(rng)) % (n - a));
      const std::string_view m(msg);
      EXPECT_EQ(mac.hex({m.substr(0, a), m.substr(a, b - a), m.substr(b)}), evp_hmac_hex(key, msg))
          << "key " << k << " message " << n;
      EXPECT_EQ(hmac_sha256_hex(key, msg), evp_hmac_hex(key, msg)) << k << " " << n;
    }
  }
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

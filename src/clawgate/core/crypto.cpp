#include "clawgate/core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include <array>
#include <stdexcept>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace clawgate::core {

namespace {

// Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up again on every use.
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

}  // namespace

Sha256Digest sha256(std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-256 on valid pointers short of memory exhaustion.
  EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_md(), nullptr);
  return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return to_hex(out);
}

HmacSha256::HmacSha256(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);  // the context keeps its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
  if (ctx == nullptr ||
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    throw std::runtime_error("OpenSSL: cannot set up HMAC-SHA256");
  }
  ctx_ = ctx;
}

HmacSha256::~HmacSha256() { EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_)); }

std::string HmacSha256::hex(std::initializer_list<std::string_view> pieces) {
  auto* ctx = static_cast<EVP_MAC_CTX*>(ctx_);
  // A null key restarts the MAC with the key given at construction (its pads are kept).
  bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1;
  for (const auto piece : pieces) {
    ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(piece.data()),
                              piece.size()) == 1;
  }
  Sha256Digest out{};
  std::size_t len = 0;
  ok = ok && EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  if (!ok) throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  return to_hex(out);
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), sha256_md(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256Stream::hex() {
  Sha256Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  return to_hex(out);
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  char* o = out.data();
  std::size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes at a time (every digest and chain hash, about ten per request): split into high and
  // low nibbles, interleave them, and map 0-9 to '0'-'9' and 10-15 to 'a'-'f'.
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  const __m128i nine = _mm_set1_epi8(9);
  const __m128i zero_char = _mm_set1_epi8('0');
  const __m128i letter_gap = _mm_set1_epi8('a' - '0' - 10);
  const auto digits = [&](__m128i nibbles) {
    const __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(nibbles, nine), letter_gap);
    return _mm_add_epi8(_mm_add_epi8(nibbles, zero_char), letters);
  };
  for (; i + 16 <= size; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i high = _mm_and_si128(_mm_srli_epi16(v, 4), low_mask);
    const __m128i low = _mm_and_si128(v, low_mask);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * i), digits(_mm_unpacklo_epi8(high, low)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * i + 16),
                     digits(_mm_unpackhi_epi8(high, low)));
  }
#endif
  for (; i < size; ++i) {
    o[2 * i] = kDigits[data[i] >> 4U];
    o[2 * i + 1] = kDigits[data[i] & 0x0FU];
  }
  return out;
}

bool is_lower_hex(std::string_view s, std::size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> random_hex(std::size_t bytes) {
  // Every request takes a trace id: one RAND_bytes call (a DRBG lock and a getpid) per 512
  // bytes instead of per id. The bytes come from the same CSPRNG; each is handed out once.
  constexpr std::size_t kPool = 512;
  thread_local std::array<unsigned char, kPool> pool{};
  thread_local std::size_t left = 0;
  if (bytes > kPool / 4) {
    std::vector<unsigned char> buf(bytes);
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) return std::nullopt;
    return to_hex(buf.data(), buf.size());
  }
  if (left < bytes) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) return std::nullopt;
    left = pool.size();
  }
  unsigned char* const take = pool.data() + pool.size() - left;
  std::string out = to_hex(take, bytes);
  OPENSSL_cleanse(take, bytes);
  left -= bytes;
  return out;
}

}  // namespace clawgate::core

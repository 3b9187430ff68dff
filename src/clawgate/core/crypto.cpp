#include "clawgate/core/crypto.hpp"

// SHA-256 and HMAC-SHA256 use OpenSSL's SHA256_Init/Update/Final, which OpenSSL 3 marks
// deprecated in favour of EVP. They run the same block function (SHA-NI where the CPU has it),
// without EVP's provider dispatch, context allocation and cleansing: measured with
// bench/micro.sh's BM_Hmac* and BM_Sha256*, the EVP routes cost about a third more per audit
// record, and every request hashes its body, its answer and five or six records. The price: a
// FIPS provider configured in openssl.cnf does not govern these digests (clawgate makes no FIPS
// claim; docs/architecture.md says so).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace clawgate::core {

namespace {

static_assert(sizeof(SHA256_CTX) <= sizeof(Sha256State) &&
                  alignof(SHA256_CTX) <= alignof(Sha256State),
              "Sha256State must hold a SHA256_CTX");

SHA256_CTX* as_ctx(Sha256State& state) { return reinterpret_cast<SHA256_CTX*>(state.bytes); }
const SHA256_CTX* as_ctx(const Sha256State& state) {
  return reinterpret_cast<const SHA256_CTX*>(state.bytes);
}

// SHA256_Init/Update/Final cannot fail on valid pointers; their results are not checked.
void update(SHA256_CTX* ctx, std::string_view data) {
  SHA256_Update(ctx, data.data(), data.size());
}

}  // namespace

Sha256Digest sha256(std::string_view data) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  update(&ctx, data);
  Sha256Digest out{};
  SHA256_Final(out.data(), &ctx);
  return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return HmacSha256(key).hex({data});
}

// RFC 2104: H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key padded to the 64-byte block (or
// its digest, for a longer key). The two states after the padded key are kept, so a message
// costs its own blocks and two finalisations, not the key's two blocks again.
HmacSha256::HmacSha256(std::string_view key) {
  constexpr std::size_t kBlock = 64;
  std::array<unsigned char, kBlock> block{};
  if (key.size() > kBlock) {
    const Sha256Digest d = sha256(key);
    std::memcpy(block.data(), d.data(), d.size());
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  const auto keyed = [&](Sha256State& state, unsigned char pad) {
    std::array<unsigned char, kBlock> padded{};
    for (std::size_t i = 0; i < kBlock; ++i) padded[i] = static_cast<unsigned char>(block[i] ^ pad);
    SHA256_Init(as_ctx(state));
    SHA256_Update(as_ctx(state), padded.data(), padded.size());
    OPENSSL_cleanse(padded.data(), padded.size());
  };
  keyed(inner_, 0x36);
  keyed(outer_, 0x5c);
  OPENSSL_cleanse(block.data(), block.size());
}

HmacSha256::~HmacSha256() {
  OPENSSL_cleanse(&inner_, sizeof inner_);
  OPENSSL_cleanse(&outer_, sizeof outer_);
}

std::string HmacSha256::hex(std::initializer_list<std::string_view> pieces) const {
  SHA256_CTX ctx;
  std::memcpy(&ctx, as_ctx(inner_), sizeof ctx);
  for (const auto piece : pieces) update(&ctx, piece);
  Sha256Digest digest{};
  SHA256_Final(digest.data(), &ctx);
  std::memcpy(&ctx, as_ctx(outer_), sizeof ctx);
  SHA256_Update(&ctx, digest.data(), digest.size());
  SHA256_Final(digest.data(), &ctx);
  // The working state derives from the key: gone before it leaves the stack.
  OPENSSL_cleanse(&ctx, sizeof ctx);
  return to_hex(digest);
}

Sha256Stream::Sha256Stream() { SHA256_Init(as_ctx(state_)); }

void Sha256Stream::update(std::string_view data) { core::update(as_ctx(state_), data); }

std::string Sha256Stream::hex() {
  Sha256Digest out{};
  SHA256_Final(out.data(), as_ctx(state_));
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
  // By pointer, not by 2 * i: with a digest's size inlined, g++ 12's profile-guided build
  // otherwise warns of an overflow of 2 * i in this loop, which runs no step then.
  o += 2 * i;
  for (const std::uint8_t* p = data + i; p != data + size; ++p) {
    *o++ = kDigits[*p >> 4U];
    *o++ = kDigits[*p & 0x0FU];
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

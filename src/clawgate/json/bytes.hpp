#pragma once
// Byte-level helpers shared by the JSON reader (strict.cpp) and writer (canonical.cpp). Private
// to the json module.

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace clawgate::json::bytes {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

inline std::uint64_t load8(const void* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Non-zero when one of the eight bytes in `w` ends a plain run inside a JSON string: a control
// character (< 0x20), a quote or a backslash. Bytes >= 0x80 do not.
inline std::uint64_t string_specials(std::uint64_t w) {
  const std::uint64_t control = (w - kOnes * 0x20) & ~w & kHigh;
  const std::uint64_t q = w ^ (kOnes * '"');
  const std::uint64_t quote = (q - kOnes) & ~q & kHigh;
  const std::uint64_t b = w ^ (kOnes * '\\');
  const std::uint64_t backslash = (b - kOnes) & ~b & kHigh;
  return control | quote | backslash;
}

// How many bytes from p on (at most n) are plain inside a JSON string: no control character,
// quote or backslash, and with `high_ends` no byte >= 0x80 either. 16 bytes at a time with
// SSE2, then 8, then one by one: most strings are long runs of plain ASCII.
inline std::size_t plain_run(const unsigned char* p, std::size_t n, bool high_ends) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i max_control = _mm_set1_epi8(0x1F);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v);  // v <= 0x1F
    const __m128i special =
        _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (high_ends) mask |= static_cast<unsigned>(_mm_movemask_epi8(v));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = load8(p + i);
    // The lowest flagged byte is always a real one (borrows only flag bytes above it).
    const std::uint64_t flagged = string_specials(w) | (high_ends ? w & kHigh : 0);
    if (flagged != 0) return i + static_cast<std::size_t>(__builtin_ctzll(flagged)) / 8;
  }
  for (; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x20 || c == '"' || c == '\\' || (high_ends && c >= 0x80)) return i;
  }
  return n;
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF), or 0 when it is not valid. s[i] >= 0x80.
inline std::size_t utf8_sequence(const unsigned char* s, std::size_t i, std::size_t n) {
  const unsigned char c = s[i];
  const auto cont = [&](std::size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && s[i + 1] < 0xA0) return 0;  // overlong
    if (c == 0xED && s[i + 1] > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && s[i + 1] < 0x90) return 0;  // overlong
    if (c == 0xF4 && s[i + 1] > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace clawgate::json::bytes

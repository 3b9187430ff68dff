#include "clawgate/policy/literal_set.hpp"

#include <algorithm>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CLAWGATE_LITERALS_AVX2 1
#else
#define CLAWGATE_LITERALS_AVX2 0
#endif

namespace clawgate::policy {

namespace {

constexpr std::uint8_t kStarts = 1;
constexpr std::uint8_t kFoldsToAscii = 2;
// Beyond this many distinct first-two-byte pairs the 16-byte search costs more than the byte
// loop it replaces.
constexpr std::size_t kMaxVectorPairs = 12;

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20U) : c;
}

}  // namespace

std::shared_ptr<const LiteralSet> LiteralSet::create(const std::vector<std::string>& literals) {
  auto set = std::make_shared<LiteralSet>();
  bool short_literal = false;
  for (const auto& lit : literals) {
    if (lit.empty()) return nullptr;
    Literal l;
    for (const char ch : lit) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80) return nullptr;
      l.lower.push_back(static_cast<char>(lower(c)));
      l.fold.push_back(is_letter(c) ? '\x20' : '\0');
    }
    const auto first = static_cast<unsigned char>(l.lower[0]);
    if (l.lower.size() < 2) {
      short_literal = true;
    } else {
      // The 16-byte search compares bytes with 0x20 set on both sides: a superset of folding.
      // Literals that share their first two bytes (xoxa-, xoxb-, ...) share one comparison.
      Pair pair;
      pair.first.fill(static_cast<std::uint8_t>(first | 0x20U));
      pair.second.fill(static_cast<std::uint8_t>(static_cast<unsigned char>(l.lower[1]) | 0x20U));
      const auto same = [&pair](const Pair& p) {
        return p.first == pair.first && p.second == pair.second;
      };
      if (std::none_of(set->pairs_.begin(), set->pairs_.end(), same)) set->pairs_.push_back(pair);
    }
    set->first_[first] = kStarts;
    if (is_letter(first)) {
      const auto upper = static_cast<unsigned char>(first & ~0x20U);
      set->first_[upper] = kStarts;
      set->by_first_[upper].push_back(l);
    }
    set->by_first_[first].push_back(std::move(l));
  }
  if (short_literal) set->pairs_.clear();
  // UTF-8 ſ is C5 BF and the Kelvin sign E2 84 AA.
  set->first_[0xC5] |= kFoldsToAscii;
  set->first_[0xE2] |= kFoldsToAscii;
  return set;
}

// Whether a literal (or ſ / the Kelvin sign) starts at p[i].
bool LiteralSet::starts_at(const unsigned char* p, std::size_t i, std::size_t n) const {
  const std::uint8_t kind = first_[p[i]];
  if (kind & kFoldsToAscii) {
    if (p[i] == 0xC5) return i + 1 < n && p[i + 1] == 0xBF;
    return i + 2 < n && p[i + 1] == 0x84 && p[i + 2] == 0xAA;
  }
  for (const Literal& lit : by_first_[p[i]]) {
    const std::size_t len = lit.lower.size();
    if (n - i < len) continue;
    std::size_t k = 1;
    while (k < len &&
           static_cast<char>(p[i + k] | static_cast<unsigned char>(lit.fold[k])) == lit.lower[k]) {
      ++k;
    }
    if (k == len) return true;
  }
  return false;
}

// Whether a literal starts at p[i + k] for a bit k set in `candidates` (a vector search's hits).
bool LiteralSet::any_starts_at(const unsigned char* p, std::size_t i, std::size_t n,
                               unsigned candidates) const {
  for (; candidates != 0; candidates &= candidates - 1) {
    const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(candidates));
    if (first_[p[at]] != 0 && starts_at(p, at, n)) return true;
  }
  return false;
}

#if defined(__SSE2__)
// Sixteen positions at a time: where the first two bytes of some literal (or the lead byte of
// ſ or the Kelvin sign) are, the exact check runs. Most text has few such places.
bool LiteralSet::search_sse2(const unsigned char* p, std::size_t n, std::size_t& i) const {
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i lead_s = _mm_set1_epi8(static_cast<char>(0xC5));
  const __m128i lead_k = _mm_set1_epi8(static_cast<char>(0xE2));
  for (; i + 17 <= n; i += 16) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i a = _mm_or_si128(raw, case_bit);
    const __m128i b =
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1)), case_bit);
    __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(raw, lead_s), _mm_cmpeq_epi8(raw, lead_k));
    for (const Pair& pr : pairs_) {
      const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pr.first.data()));
      const __m128i second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pr.second.data()));
      hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, second)));
    }
    if (any_starts_at(p, i, n, static_cast<unsigned>(_mm_movemask_epi8(hit)))) return true;
  }
  return false;
}
#endif

#if CLAWGATE_LITERALS_AVX2
// The same, 32 positions at a time (half the instructions per byte).
[[gnu::target("avx2")]] bool LiteralSet::search_avx2(const unsigned char* p, std::size_t n,
                                                     std::size_t& i) const {
  const __m256i case_bit = _mm256_set1_epi8(0x20);
  const __m256i lead_s = _mm256_set1_epi8(static_cast<char>(0xC5));
  const __m256i lead_k = _mm256_set1_epi8(static_cast<char>(0xE2));
  for (; i + 33 <= n; i += 32) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i a = _mm256_or_si256(raw, case_bit);
    const __m256i b =
        _mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 1)), case_bit);
    __m256i hit = _mm256_or_si256(_mm256_cmpeq_epi8(raw, lead_s), _mm256_cmpeq_epi8(raw, lead_k));
    for (const Pair& pr : pairs_) {
      const __m256i first = _mm256_set1_epi8(static_cast<char>(pr.first[0]));
      const __m256i second = _mm256_set1_epi8(static_cast<char>(pr.second[0]));
      hit = _mm256_or_si256(
          hit, _mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, second)));
    }
    if (any_starts_at(p, i, n, static_cast<unsigned>(_mm256_movemask_epi8(hit)))) return true;
  }
  return false;
}
#endif

bool LiteralSet::may_occur_in(std::string_view text, [[maybe_unused]] bool wide) const {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  if (!pairs_.empty() && pairs_.size() <= kMaxVectorPairs) {
#if CLAWGATE_LITERALS_AVX2
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (wide && avx2 && search_avx2(p, n, i)) return true;
#endif
#if defined(__SSE2__)
    if (search_sse2(p, n, i)) return true;
#endif
  }
  for (; i < n; ++i) {
    if (first_[p[i]] != 0 && starts_at(p, i, n)) return true;
  }
  return false;
}

}  // namespace clawgate::policy

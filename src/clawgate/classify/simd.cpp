// The classifier's byte searches: SSE2 (every x86-64 has it) or plain C++, and AVX2 where
// the CPU has it. Both run over every byte of every text, so width pays.
#include "clawgate/classify/simd.hpp"

#include <cstddef>
#include <cstring>
#include <initializer_list>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CLAWGATE_CLASSIFY_AVX2 1
#else
#define CLAWGATE_CLASSIFY_AVX2 0
#endif

// The eight-piece walk in assembly (see simd.hpp): not where the 14 registers it needs are
// short (no optimisation: operands in memory; AddressSanitizer: a register for its stack).
#if defined(__x86_64__) && defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
#define CLAWGATE_WALK_X86_64 1
#else
#define CLAWGATE_WALK_X86_64 0
#endif

namespace clawgate::classify::simd {
namespace {

#if defined(__SSE2__)
// 0xFF per byte of v in [lo, lo + count): one signed compare after adding 0x80 - lo, which moves
// the range to the bottom of the signed bytes.
__m128i in_range(__m128i v, char lo, char count) {
  return _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo))),
                        _mm_set1_epi8(static_cast<char>(-128 + count)));
}
#endif

// The alphabet bits of p[0, 64).
std::uint64_t alphabet64(const unsigned char* p) {
#if defined(__SSE2__)
  std::uint64_t mask = 0;
  for (int part = 0; part < 4; ++part) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * part));
    const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 26);
    const __m128i digit = in_range(v, '0', 10);
    // '+' and '/' are the two bytes that OR 0x04 makes '/'.
    const __m128i plus_slash =
        _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x04)), _mm_set1_epi8('/'));
    const __m128i dash_underscore =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')), _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    const __m128i in =
        _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(plus_slash, dash_underscore));
    mask |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(in))) << (16 * part);
  }
  return mask;
#else
  std::uint64_t mask = 0;
  for (int k = 0; k < 64; ++k) {
    const unsigned char c = p[k];
    const bool in = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '-' || c == '_';
    mask |= std::uint64_t{in} << k;
  }
  return mask;
#endif
}

// alphabet_masks() for p[0, 64).
void alphabet_masks64(const unsigned char* p, std::uint64_t& standard, std::uint64_t& url_safe,
                      std::uint64_t& hex) {
  standard = url_safe = hex = 0;
#if defined(__SSE2__)
  auto bits = [](__m128i m, int part) {
    return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(m))) << (16 * part);
  };
  for (int part = 0; part < 4; ++part) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * part));
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i digit = in_range(v, '0', 10);
    const __m128i alnum = _mm_or_si128(in_range(lower, 'a', 26), digit);
    const __m128i plus_slash =
        _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x04)), _mm_set1_epi8('/'));
    const __m128i dash_underscore =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')), _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    standard |= bits(_mm_or_si128(alnum, plus_slash), part);
    url_safe |= bits(_mm_or_si128(alnum, dash_underscore), part);
    hex |= bits(_mm_or_si128(in_range(lower, 'a', 6), digit), part);
  }
#else
  for (int k = 0; k < 64; ++k) {
    const unsigned char c = p[k];
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool hex_letter = (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    standard |= std::uint64_t{alnum || c == '+' || c == '/'} << k;
    url_safe |= std::uint64_t{alnum || c == '-' || c == '_'} << k;
    hex |= std::uint64_t{(c >= '0' && c <= '9') || hex_letter} << k;
  }
#endif
}

// A run of 16 set bits from bit k: AND the 128-bit (word:next) with itself shifted right by 1,
// 2, 4 and 8 (after which bit k stands for bits k .. k+15).
void run16_starts_portable(const std::uint64_t* masks, std::size_t w, std::size_t words,
                           std::uint64_t* starts) {
  for (; w < words; ++w) {
    std::uint64_t lo = masks[w];
    std::uint64_t hi = masks[w + 1];
    for (const unsigned shift : {1u, 2u, 4u, 8u}) {
      lo &= (lo >> shift) | (hi << (64 - shift));
      hi &= hi >> shift;
    }
    starts[w] = lo;
  }
}

std::size_t find_not_plain_portable(const unsigned char* p, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const auto bits = static_cast<unsigned>(_mm_movemask_epi8(not_plain(v)));
    if (bits != 0) return i + static_cast<std::size_t>(__builtin_ctz(bits));
  }
#endif
  while (i < n && is_plain(p[i])) ++i;
  return i;
}

#if CLAWGATE_CLASSIFY_AVX2
// Two nibble tables: a byte is in the alphabet when the bits its low and high nibbles pick
// share one. Bit 0: 0x2B 0x2D 0x2F; 1: 0x30-0x39; 2: 0x41-0x4F, 0x61-0x6F; 3: 0x50-0x5A,
// 0x70-0x7A; 4: 0x5F. High nibbles 8-F pick nothing.
[[gnu::target("avx2")]] std::uint32_t alphabet32_avx2(const unsigned char* p) {
  const __m256i lo_table =
      _mm256_setr_epi8(0x0A, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0C, 0x05, 0x04,
                       0x05, 0x04, 0x15, 0x0A, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E, 0x0E,
                       0x0C, 0x05, 0x04, 0x05, 0x04, 0x15);
  const __m256i hi_table =
      _mm256_setr_epi8(0, 0, 0x01, 0x02, 0x04, 0x18, 0x04, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
                       0x02, 0x04, 0x18, 0x04, 0x08, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_shuffle_epi8(lo_table, _mm256_and_si256(v, nibble));
  const __m256i hi =
      _mm256_shuffle_epi8(hi_table, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
  const __m256i none = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
  return ~static_cast<std::uint32_t>(_mm256_movemask_epi8(none));
}

[[gnu::target("avx2")]] void alphabet_bits_avx2(const unsigned char* p, std::size_t n,
                                                std::uint64_t* out) {
  for (std::size_t at = 0; at + 64 <= n; at += 64) {
    *out++ = alphabet32_avx2(p + at) | std::uint64_t{alphabet32_avx2(p + at + 32)} << 32;
  }
}

[[gnu::target("avx2")]] std::size_t find_not_plain_avx2(const unsigned char* p, std::size_t i,
                                                        std::size_t n) {
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    // \t..\r by the signed-range trick; bytes >= 0x80 are negative, so "< 0x20" catches them.
    const __m256i ws = _mm256_cmpgt_epi8(_mm256_set1_epi8(-128 + 5),
                                         _mm256_add_epi8(v, _mm256_set1_epi8(0x80 - 0x09)));
    const __m256i low = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v);
    const __m256i other =
        _mm256_or_si256(_mm256_andnot_si256(ws, low), _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F)));
    const auto bits = static_cast<unsigned>(_mm256_movemask_epi8(other));
    if (bits != 0) return i + static_cast<std::size_t>(__builtin_ctz(bits));
  }
  return find_not_plain_portable(p, i, n);
}

// One round of run16_starts_portable() on four words (shift counts must be immediates).
template <int S>
[[gnu::target("avx2")]] void run16_round(__m256i& lo, __m256i& hi) {
  lo = _mm256_and_si256(lo,
                        _mm256_or_si256(_mm256_srli_epi64(lo, S), _mm256_slli_epi64(hi, 64 - S)));
  hi = _mm256_and_si256(hi, _mm256_srli_epi64(hi, S));
}

[[gnu::target("avx2")]] std::size_t run16_starts_avx2(const std::uint64_t* masks, std::size_t words,
                                                      std::uint64_t* starts) {
  std::size_t w = 0;
  for (; w + 4 <= words; w += 4) {
    __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(masks + w));
    __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(masks + w + 1));
    // As run16_starts_portable(), four words at once.
    run16_round<1>(lo, hi);
    run16_round<2>(lo, hi);
    run16_round<4>(lo, hi);
    run16_round<8>(lo, hi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(starts + w), lo);
  }
  return w;
}
#endif

Walked walk_portable(Columns column, const unsigned char* q, std::size_t count, std::size_t len,
                     std::size_t* rows, LoudStep* loud, std::size_t capacity) {
  Walked done{0, 0};
  while (done.steps < count) {
    std::size_t any = 0;
    for (std::size_t k = 0; k < kWalkStreams; ++k) {
      rows[k] = column[q[k * len + done.steps]][rows[k]];
      any |= rows[k];
    }
    ++done.steps;
    if (any >= kLoudRow) {  // rows are below 2^32: the OR is loud when some row is
      loud[done.loud].steps = done.steps;
      std::memcpy(loud[done.loud].rows, rows, sizeof loud[done.loud].rows);
      if (++done.loud == capacity) break;
    }
  }
  return done;
}

#if CLAWGATE_WALK_X86_64
Walked walk_x86_64(Columns column, const unsigned char* q, std::size_t count, std::size_t len,
                   std::size_t* rows, LoudStep* loud, std::size_t capacity) {
  static_assert(kWalkStreams == 8 && kLoudRow == 0x80000000u);
  // A loud step is written as `a` and the eight rows (the asm's offsets), out of the loop.
  static_assert(sizeof(LoudStep) == 72 && offsetof(LoudStep, rows) == 8);
  // Piece k at q + k * len, by two pointers and two lengths: 0, 1, 2, 4 off `a`, 3, 5, 7 off
  // `b` (= a + 3 * len), 6 off `a` with 3 * len scaled by 2.
  const unsigned char* a = q;
  const unsigned char* b = q + 3 * len;
  const unsigned char* const end = q + count;
  const std::size_t len3 = 3 * len;
  std::size_t r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3];
  std::size_t r4 = rows[4], r5 = rows[5], r6 = rows[6], r7 = rows[7];
  std::size_t t = 0;
  LoudStep* next = loud;
  LoudStep* const last = loud + capacity;
  // One step of one piece: the byte, its column (both off the row's chain), the row. 14
  // registers: the build with frame pointers has no more.
  // clang-format off
#define CLAWGATE_WALK_STEP(src, r)       \
  "movzbl " src ", %k[t]\n\t"            \
  "movq (%[column],%[t],8), %[t]\n\t"    \
  "movl (%[t],%[" r "],4), %k[" r "]\n\t"
  asm("1:\n\t"
      CLAWGATE_WALK_STEP("(%[a])", "r0")
      CLAWGATE_WALK_STEP("(%[a],%[len])", "r1")
      CLAWGATE_WALK_STEP("(%[a],%[len],2)", "r2")
      CLAWGATE_WALK_STEP("(%[b])", "r3")
      CLAWGATE_WALK_STEP("(%[a],%[len],4)", "r4")
      CLAWGATE_WALK_STEP("(%[b],%[len],2)", "r5")
      CLAWGATE_WALK_STEP("(%[a],%[len3],2)", "r6")
      CLAWGATE_WALK_STEP("(%[b],%[len],4)", "r7")
      "add $1, %[a]\n\t"
      "add $1, %[b]\n\t"
      "mov %[r0], %[t]\n\t"
      "or %[r1], %[t]\n\t"
      "or %[r2], %[t]\n\t"
      "or %[r3], %[t]\n\t"
      "or %[r4], %[t]\n\t"
      "or %[r5], %[t]\n\t"
      "or %[r6], %[t]\n\t"
      "or %[r7], %[t]\n\t"
      "test $0x80000000, %k[t]\n\t"  // rows are below 2^32: bit 31 is the test
      "jnz 3f\n"
      "4:\n\t"
      "cmp %[end], %[a]\n\t"
      "jne 1b\n\t"
      "jmp 2f\n"
      "3:\n\t"
      "mov %[next], %[t]\n\t"
      "mov %[a], (%[t])\n\t"
      "mov %[r0], 8(%[t])\n\t"
      "mov %[r1], 16(%[t])\n\t"
      "mov %[r2], 24(%[t])\n\t"
      "mov %[r3], 32(%[t])\n\t"
      "mov %[r4], 40(%[t])\n\t"
      "mov %[r5], 48(%[t])\n\t"
      "mov %[r6], 56(%[t])\n\t"
      "mov %[r7], 64(%[t])\n\t"
      "add $72, %[t]\n\t"
      "mov %[t], %[next]\n\t"
      "cmp %[last], %[t]\n\t"
      "jne 4b\n"
      "2:"
      : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3), [r4] "+r"(r4),
        [r5] "+r"(r5), [r6] "+r"(r6), [r7] "+r"(r7), [a] "+r"(a), [b] "+r"(b), [t] "+r"(t),
        [next] "+m"(next)
      : [len] "r"(len), [len3] "r"(len3), [column] "r"(column), [end] "m"(end), [last] "m"(last)
      : "cc", "memory");
#undef CLAWGATE_WALK_STEP
  // clang-format on
  rows[0] = r0, rows[1] = r1, rows[2] = r2, rows[3] = r3;
  rows[4] = r4, rows[5] = r5, rows[6] = r6, rows[7] = r7;
  const auto written = static_cast<std::size_t>(next - loud);
  for (std::size_t i = 0; i < written; ++i) {
    loud[i].steps -= reinterpret_cast<std::uintptr_t>(q);  // the asm wrote `a`, a pointer
  }
  return {static_cast<std::size_t>(a - q), written};
}
#endif

}  // namespace

Isa best() {
#if CLAWGATE_CLASSIFY_AVX2
  static const Isa isa = __builtin_cpu_supports("avx2") ? Isa::avx2 : Isa::portable;
  return isa;
#else
  return Isa::portable;
#endif
}

void alphabet_bits([[maybe_unused]] Isa isa, const unsigned char* p, std::size_t n,
                   std::uint64_t* out) {
  std::size_t at = 0;
#if CLAWGATE_CLASSIFY_AVX2
  if (isa == Isa::avx2) {
    at = n / 64 * 64;
    alphabet_bits_avx2(p, at, out);
  }
#endif
  for (; at + 64 <= n; at += 64) out[at / 64] = alphabet64(p + at);
  if (at < n) {
    unsigned char tail[64] = {};  // zero is in no alphabet
    std::memcpy(tail, p + at, n - at);
    out[at / 64] = alphabet64(tail);
  }
}

void alphabet_masks(const unsigned char* p, std::size_t n, std::uint64_t* standard,
                    std::uint64_t* url_safe, std::uint64_t* hex) {
  std::size_t at = 0;
  for (; at + 64 <= n; at += 64) {
    alphabet_masks64(p + at, standard[at / 64], url_safe[at / 64], hex[at / 64]);
  }
  if (at < n) {
    unsigned char tail[64] = {};  // zero is in no alphabet
    std::memcpy(tail, p + at, n - at);
    alphabet_masks64(tail, standard[at / 64], url_safe[at / 64], hex[at / 64]);
  }
}

void run16_starts([[maybe_unused]] Isa isa, const std::uint64_t* masks, std::size_t words,
                  std::uint64_t* starts) {
  std::size_t w = 0;
#if CLAWGATE_CLASSIFY_AVX2
  if (isa == Isa::avx2) w = run16_starts_avx2(masks, words, starts);
#endif
  run16_starts_portable(masks, w, words, starts);
}

std::size_t find_not_plain([[maybe_unused]] Isa isa, const unsigned char* p, std::size_t i,
                           std::size_t n) {
#if CLAWGATE_CLASSIFY_AVX2
  if (isa == Isa::avx2) return find_not_plain_avx2(p, i, n);
#endif
  return find_not_plain_portable(p, i, n);
}

Walked walk([[maybe_unused]] Isa isa, Columns column, const unsigned char* q, std::size_t count,
            std::size_t len, std::size_t* rows, LoudStep* loud, std::size_t capacity) {
#if CLAWGATE_WALK_X86_64
  if (isa == Isa::avx2) return walk_x86_64(column, q, count, len, rows, loud, capacity);
#endif
  return walk_portable(column, q, count, len, rows, loud, capacity);
}

}  // namespace clawgate::classify::simd

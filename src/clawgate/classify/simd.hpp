#pragma once
// The classifier's byte searches, with an AVX2 version chosen at run time (the binary runs on
// any x86-64; elsewhere the portable version is plain C++), and the term automaton's walk.

#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace clawgate::classify::simd {

// The bytes normalize() takes as plain ASCII: below 0x80 and not a dropped control (the controls
// other than \t..\r, and DEL). normalize.cpp checks this against its own byte classes.
constexpr bool is_plain(unsigned char c) {
  return c < 0x80 && c != 0x7F && (c >= 0x20 || (c >= 0x09 && c <= 0x0D));
}

#if defined(__SSE2__)
// Per byte: 0xFF where it is not plain.
inline __m128i not_plain(__m128i v) {
  // Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them with the controls.
  const __m128i ws =
      _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x08)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x0E)));
  return _mm_or_si128(_mm_andnot_si128(ws, _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))),
                      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
}
#endif

enum class Isa { portable, avx2 };

// avx2 when the CPU has it, else portable.
Isa best();

// Bit k % 64 of out[k / 64] set when p[k] is a base64 or hex character ([A-Za-z0-9+/_-]), for
// p[0, n); `out` has room for (n + 63) / 64 words.
void alphabet_bits(Isa isa, const unsigned char* p, std::size_t n, std::uint64_t* out);

// The same bits for each decoding alphabet apart: standard base64 ([A-Za-z0-9+/]), URL-safe
// base64 ([A-Za-z0-9_-]) and hex ([0-9A-Fa-f]); each array has room for (n + 63) / 64 words.
void alphabet_masks(const unsigned char* p, std::size_t n, std::uint64_t* standard,
                    std::uint64_t* url_safe, std::uint64_t* hex);

// Bit k of starts[w] set when bits 64w + k .. 64w + k + 15 of the bit array `masks` are all
// set (`masks` has words + 1 words; a run may go on into the last one).
void run16_starts(Isa isa, const std::uint64_t* masks, std::size_t words, std::uint64_t* starts);

// The first byte of p[i, n) that normalize() does not take as plain ASCII (a byte >= 0x80 or a
// control other than \t..\r), or n.
std::size_t find_not_plain(Isa isa, const unsigned char* p, std::size_t i, std::size_t n);

// The term automaton's walk (classifier.cpp) over kWalkStreams pieces of a text at once, piece k
// at q + k * len: each step takes one byte c of every piece and moves its row to
// column[c][row]. Steps `count` (> 0) times; each step that leaves some row at kLoudRow or above
// (a state that reports) is written to `loud`, and the walk stops after the `capacity`-th (> 0)
// such step. Returns the steps taken and the loud steps written. Writing them, not returning at
// each, keeps the walk's registers: a return to report cost about 110 cycles. The walk is bound
// by its loads (the byte, its column, the transition): the x86-64 version (taken with
// Isa::avx2, though it needs only base x86-64) keeps all eight rows and both piece pointers in
// registers, which g++ does not (it spills rows, and a spilled row puts a store and a load on
// its chain). It needs 14 registers, which builds without optimisation or with
// AddressSanitizer do not leave it: they take the portable loop.
inline constexpr std::size_t kWalkStreams = 8;
inline constexpr std::size_t kLoudRow = std::size_t{1} << 31;
using Columns = const std::uint32_t* const*;  // 256 of them, one per byte
struct LoudStep {
  std::size_t steps;               // steps taken, this one included
  std::size_t rows[kWalkStreams];  // every piece's row after it
};
struct Walked {
  std::size_t steps;
  std::size_t loud;  // LoudSteps written
};
Walked walk(Isa isa, Columns column, const unsigned char* q, std::size_t count, std::size_t len,
            std::size_t* rows, LoudStep* loud, std::size_t capacity);

}  // namespace clawgate::classify::simd

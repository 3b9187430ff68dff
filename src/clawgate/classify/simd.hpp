#pragma once
// The classifier's byte searches, with an AVX2 version chosen at run time (the binary runs on
// any x86-64; elsewhere the portable version is plain C++).

#include <cstddef>
#include <cstdint>

namespace clawgate::classify::simd {

enum class Isa { portable, avx2 };

// avx2 when the CPU has it, else portable.
Isa best();

// Bit k % 64 of out[k / 64] set when p[k] is a base64 or hex character ([A-Za-z0-9+/_-]), for
// p[0, n); `out` has room for (n + 63) / 64 words.
void alphabet_bits(Isa isa, const unsigned char* p, std::size_t n, std::uint64_t* out);

// The first byte of p[i, n) that normalize() does not take as plain ASCII (a byte >= 0x80 or a
// control other than \t..\r), or n.
std::size_t find_not_plain(Isa isa, const unsigned char* p, std::size_t i, std::size_t n);

}  // namespace clawgate::classify::simd

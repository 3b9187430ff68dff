// The classifier's byte searches and its automaton walk, every instruction set this CPU has,
// against one byte at a time.
// The header is private to src/; the classifier tests cover only the set the CPU picks.
#include "../../../src/clawgate/classify/simd.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace clawgate::classify::simd {
namespace {

bool alphabet(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '-' || c == '_';
}

bool plain(unsigned char c) { return (c >= 0x20 && c < 0x7F) || (c >= 0x09 && c <= 0x0D); }

std::vector<Isa> isas() {
  std::vector<Isa> out{Isa::portable};
  if (best() == Isa::avx2) out.push_back(Isa::avx2);
  return out;
}

TEST(Simd, AlphabetBitsOfEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const auto* p = reinterpret_cast<const unsigned char*>(all.data());
  for (const Isa isa : isas()) {
    std::vector<std::uint64_t> bits(4);
    alphabet_bits(isa, p, all.size(), bits.data());
    for (int c = 0; c < 256; ++c) {
      EXPECT_EQ((bits[c / 64] >> (c % 64)) & 1, alphabet(static_cast<unsigned char>(c)) ? 1u : 0u)
          << "byte " << c << ", isa " << static_cast<int>(isa);
    }
  }
}

TEST(Simd, RandomBuffers) {
  std::mt19937 rng(7);
  // Mostly bytes near the edges of the ranges, at every length and offset around the widths.
  const std::string edges =
      std::string("\x08\x09\x0D\x0E\x1F\x20\x7E\x7F\x80\xFF") + "@AZ[`az{/09:+-_.,";
  for (int round = 0; round < 3000; ++round) {
    const std::size_t n = rng() % 200;
    std::string s(n, 'a');
    for (char& c : s) {
      c = rng() % 3 == 0 ? static_cast<char>(rng()) : edges[rng() % edges.size()];
    }
    if (rng() % 2 == 0) {
      for (char& c : s) c = plain(static_cast<unsigned char>(c)) ? c : 'x';
      if (n > 0) s[rng() % n] = static_cast<char>(0x80 | rng());
    }
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (const Isa isa : isas()) {
      std::vector<std::uint64_t> bits((n + 63) / 64);
      alphabet_bits(isa, p, n, bits.data());
      for (std::size_t k = 0; k < n; ++k) {
        ASSERT_EQ((bits[k / 64] >> (k % 64)) & 1, alphabet(p[k]) ? 1u : 0u) << k;
      }
      for (std::size_t k = n; k < bits.size() * 64; ++k)
        ASSERT_EQ((bits[k / 64] >> (k % 64)) & 1, 0u);
      const std::size_t from = n == 0 ? 0 : rng() % (n + 1);
      std::size_t want = from;
      while (want < n && plain(p[want])) ++want;
      ASSERT_EQ(find_not_plain(isa, p, from, n), want) << "isa " << static_cast<int>(isa);
    }
  }
}

// The decoder's three alphabets apart, for every byte and at lengths around the 64-byte block.
TEST(Simd, AlphabetMasksOfEveryByte) {
  auto hex = [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  auto alnum = [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::string s;
    if (round == 0) {
      for (int c = 0; c < 256; ++c) s += static_cast<char>(c);
    } else {
      s.resize(rng() % 300);
      for (char& c : s) c = static_cast<char>(rng());
    }
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t words = (s.size() + 63) / 64;
    std::vector<std::uint64_t> standard(words), url_safe(words), hexes(words);
    alphabet_masks(p, s.size(), standard.data(), url_safe.data(), hexes.data());
    for (std::size_t k = 0; k < words * 64; ++k) {
      auto bit = [&](const std::vector<std::uint64_t>& m) { return (m[k / 64] >> (k % 64)) & 1; };
      const unsigned char c = k < s.size() ? p[k] : 0;  // past the end: no alphabet
      ASSERT_EQ(bit(standard), alnum(c) || c == '+' || c == '/' ? 1u : 0u) << k;
      ASSERT_EQ(bit(url_safe), alnum(c) || c == '-' || c == '_' ? 1u : 0u) << k;
      ASSERT_EQ(bit(hexes), hex(c) ? 1u : 0u) << k;
    }
  }
}

// Bit k of the result: bits k .. k+15 all set, across words; for runs of every length near 16.
TEST(Simd, Run16StartsMatchBitByBit) {
  std::mt19937_64 rng(9);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t words = 1 + rng() % 9;
    std::vector<std::uint64_t> masks(words + 1, 0);
    // Runs of random length at random places (so that long runs are common).
    for (std::size_t bit = rng() % 40; bit < words * 64 + 64;) {
      const std::size_t len = rng() % 34;
      for (std::size_t k = bit; k < bit + len && k < (words + 1) * 64; ++k) {
        masks[k / 64] |= std::uint64_t{1} << (k % 64);
      }
      bit += len + 1 + rng() % 20;
    }
    auto set = [&](std::size_t k) {
      return k < (words + 1) * 64 && ((masks[k / 64] >> (k % 64)) & 1);
    };
    for (const Isa isa : isas()) {
      std::vector<std::uint64_t> starts(words, ~std::uint64_t{0});
      run16_starts(isa, masks.data(), words, starts.data());
      for (std::size_t k = 0; k < words * 64; ++k) {
        bool want = true;
        for (std::size_t j = k; j < k + 16; ++j) want = want && set(j);
        ASSERT_EQ((starts[k / 64] >> (k % 64)) & 1, want ? 1u : 0u)
            << "bit " << k << ", isa " << static_cast<int>(isa);
      }
    }
  }
}

// A random automaton (rows of `nc` columns, counted from bias: rows of states that report from
// kLoudRow on), walked over eight pieces of a random text: rows, steps and the steps written as
// loud must be those of one piece and one byte at a time, including where the walk stops because
// `capacity` loud steps were written.
TEST(Simd, WalkMatchesOneByteAtATime) {
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t nc = 1 + rng() % 40;
    const std::size_t states = 1 + rng() % 300;
    const std::size_t quiet = 1 + rng() % states;
    const std::size_t bias = kLoudRow - quiet * nc;
    std::vector<std::uint32_t> table(states * nc);
    // Mostly quiet targets, so that walks run on for a while.
    auto target = [&] {
      const std::size_t s = rng() % 8 == 0 ? rng() % states : rng() % quiet;
      return bias + s * nc;
    };
    for (auto& t : table) t = static_cast<std::uint32_t>(target());
    std::array<std::uint8_t, 256> cls{};
    for (auto& c : cls) c = static_cast<std::uint8_t>(rng() % nc);
    const std::size_t len = 1 + rng() % 100;
    std::vector<unsigned char> text(kWalkStreams * len + rng() % 8);
    for (auto& c : text) c = static_cast<unsigned char>(rng());
    std::array<std::size_t, kWalkStreams> start{};
    for (auto& r : start) r = bias + rng() % quiet * nc;
    const std::size_t from = rng() % len;
    const std::size_t count = len - from;
    // Each byte's column as the walk indexes it: by row, from bias on (an integer: the pointer
    // lies outside the table).
    std::array<const std::uint32_t*, 256> column{};
    for (std::size_t b = 0; b < 256; ++b) {
      column[b] = reinterpret_cast<const std::uint32_t*>(
          reinterpret_cast<std::uintptr_t>(table.data()) +
          (cls[b] - std::uintptr_t{bias}) * sizeof(std::uint32_t));
    }

    const std::size_t capacity = 1 + rng() % 4;
    std::array<std::size_t, kWalkStreams> want = start;
    std::vector<std::pair<std::size_t, std::array<std::size_t, kWalkStreams>>> want_loud;
    std::size_t want_steps = 0;
    while (want_steps < count && want_loud.size() < capacity) {
      bool loud = false;
      for (std::size_t k = 0; k < kWalkStreams; ++k) {
        want[k] = table[cls[text[k * len + from + want_steps]] + want[k] - bias];
        loud = loud || want[k] >= kLoudRow;
      }
      ++want_steps;
      if (loud) want_loud.emplace_back(want_steps, want);
    }
    for (const Isa isa : isas()) {
      const std::string where =
          "round " + std::to_string(round) + ", isa " + std::to_string(static_cast<int>(isa));
      std::array<std::size_t, kWalkStreams> rows = start;
      std::vector<LoudStep> loud(capacity);
      const Walked walked = walk(isa, column.data(), text.data() + from, count, len, rows.data(),
                                 loud.data(), capacity);
      ASSERT_EQ(walked.steps, want_steps) << where;
      ASSERT_EQ(rows, want) << where;
      ASSERT_EQ(walked.loud, want_loud.size()) << where;
      for (std::size_t i = 0; i < walked.loud; ++i) {
        ASSERT_EQ(loud[i].steps, want_loud[i].first) << where << ", loud step " << i;
        for (std::size_t k = 0; k < kWalkStreams; ++k) {
          ASSERT_EQ(loud[i].rows[k], want_loud[i].second[k]) << where << ", loud step " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace clawgate::classify::simd

#pragma once
// A set of short ASCII literals looked for case-insensitively in one pass over a text: the
// redaction prefilter's question "could any secret pattern match here?".

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clawgate::policy {

class LiteralSet {
 public:
  // Null when a literal is empty or not ASCII (the caller then cannot skip anything).
  static std::shared_ptr<const LiteralSet> create(const std::vector<std::string>& literals);

  // Whether `text` may hold one of the literals, compared as RE2's (?i) compares ASCII: letters
  // in either case. (?i) also equates U+017F (ſ) with s and U+212A (Kelvin sign) with k; a text
  // holding either is answered true without looking further, which only costs a scan.
  bool may_occur_in(std::string_view text) const { return may_occur_in(text, true); }
  // The same, with `wide` false never taking AVX2 (for tests: both paths on one machine).
  bool may_occur_in(std::string_view text, bool wide) const;

 private:
  struct Literal {
    std::string lower;  // the literal, lower case
    std::string fold;   // per byte: 0x20 where the byte is a letter (OR-ing it folds case)
  };
  // A literal's first two bytes with 0x20 set, each repeated 16 times: the 16-byte search's
  // comparands.
  struct Pair {
    std::array<std::uint8_t, 16> first;
    std::array<std::uint8_t, 16> second;
  };
  bool starts_at(const unsigned char* p, std::size_t i, std::size_t n) const;
  bool any_starts_at(const unsigned char* p, std::size_t i, std::size_t n,
                     unsigned candidates) const;
  // The vector searches over p[i, n) in blocks, each leaving `i` at the first byte it did not
  // look at: true when a literal starts in what it looked at.
  bool search_sse2(const unsigned char* p, std::size_t n, std::size_t& i) const;
  bool search_avx2(const unsigned char* p, std::size_t n, std::size_t& i) const;

  std::vector<Pair> pairs_;             // empty when a literal is shorter than two bytes
  std::vector<Literal> by_first_[256];  // literals by their first byte, in both cases
  // 1: some literal starts with this byte; 2: the first byte of ſ or the Kelvin sign.
  std::array<std::uint8_t, 256> first_{};
};

}  // namespace clawgate::policy

// decoded_layers(): text hidden behind %XX, base64 (standard or URL-safe) or hex (SPEC §4).
//
// One decoding step on a text T:
//   1. %XX sequences are decoded in place, giving one layer P (if T has any);
//   2. every run of >= 16 base64 characters, and every run of >= 16 hex digits (even count), of
//      P (or T) is decoded; a result that is UTF-8 text (no NUL, no control other than \t\r\n)
//      becomes a layer, and the next step runs on it while the depth allows.
// Depth counts nested base64/hex decodings: base64(base64(x)) is found at depth 2; %XX costs no
// depth since it is undone in place. Budget: the bytes produced by decoding (one per %XX, all of
// a base64/hex result) never exceed raw.size(), so the work stays linear in the input; a result
// that does not fit in what is left is skipped.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clawgate/classify/classifier.hpp"
#include "clawgate/classify/simd.hpp"

namespace clawgate::classify {
namespace {

constexpr std::size_t kMinRun = 16;

constexpr std::array<std::int8_t, 256> make_hex_values() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<std::int8_t>(c);
  for (int c = 0; c < 6; ++c) {
    t['a' + c] = static_cast<std::int8_t>(10 + c);
    t['A' + c] = static_cast<std::int8_t>(10 + c);
  }
  return t;
}
constexpr std::array<std::int8_t, 256> kHex = make_hex_values();

// Both alphabets in one table: '+' and '-' are 62, '/' and '_' are 63. Runs are scanned per
// alphabet, so a run never mixes them.
constexpr std::array<std::int8_t, 256> make_b64_values() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = 0; c < 26; ++c) {
    t['A' + c] = static_cast<std::int8_t>(c);
    t['a' + c] = static_cast<std::int8_t>(26 + c);
  }
  for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<std::int8_t>(52 + c);
  t['+'] = 62;
  t['-'] = 62;
  t['/'] = 63;
  t['_'] = 63;
  return t;
}
constexpr std::array<std::int8_t, 256> kB64 = make_b64_values();

enum class Alphabet : std::uint8_t { standard = 1, url_safe = 2, hex = 4 };

// Per byte: the alphabets it belongs to (bit set of Alphabet values).
constexpr std::array<std::uint8_t, 256> make_alphabets() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (kB64[c] < 0) continue;
    if (c != '-' && c != '_') t[c] |= static_cast<std::uint8_t>(Alphabet::standard);
    if (c != '+' && c != '/') t[c] |= static_cast<std::uint8_t>(Alphabet::url_safe);
    if (kHex[c] >= 0) t[c] |= static_cast<std::uint8_t>(Alphabet::hex);
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kAlphabets = make_alphabets();

// Whether some byte of `m` is 0xFF.
bool has_full_byte(std::uint64_t m) {
  const std::uint64_t x = ~m;
  return ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) != 0;
}

// Calls f(begin, end) for every maximal run of >= kMinRun bytes that are in some alphabet, in
// order. 64 bytes at a time: bit k of `starts` is set when bytes k .. k+15 are all in one (the
// run of 16 ones is found by shifting and AND-ing the two blocks' masks).
template <typename F>
void for_each_long_run(std::string_view text, F&& f) {
  static_assert(kMinRun == 16);
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::vector<std::uint64_t> masks((n + 63) / 64 + 1, 0);  // one more: the last block's next
  simd::alphabet_bits(simd::best(), p, n, masks.data());
  std::size_t done = 0;  // runs before this offset are handled
  for (std::size_t at = 0; at < n; at += 64) {
    const std::uint64_t cur = masks[at / 64];
    const std::uint64_t next = masks[at / 64 + 1];
    // A run of 16 holds eight bytes from a multiple of 8 on: one byte of the masks all ones,
    // which is rare in prose and cheaper to look for than the runs.
    if ((has_full_byte(cur) || (next & 0xFF) == 0xFF) && at + 64 > done) {
      // (hi:lo) is the 128-bit mask of this block and the next; AND it with itself shifted
      // right by 1, 2, 4 and 8 bits.
      std::uint64_t lo = cur;
      std::uint64_t hi = next;
      for (const unsigned shift : {1u, 2u, 4u, 8u}) {
        lo &= (lo >> shift) | (hi << (64 - shift));
        hi &= hi >> shift;
      }
      for (std::uint64_t starts = lo; starts != 0; starts &= starts - 1) {
        const std::size_t begin = at + static_cast<std::size_t>(__builtin_ctzll(starts));
        if (begin < done) continue;
        std::size_t end = begin + kMinRun;
        while (end < n && kAlphabets[p[end]] != 0) ++end;
        f(begin, end);
        done = end;
      }
    }
  }
}

// The bit of kAlphabets that stands for `a`.
std::size_t bit_of(Alphabet a) {
  return static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(a)));
}

bool in_alphabet(Alphabet a, char c) {
  return (kAlphabets[static_cast<unsigned char>(c)] & static_cast<std::uint8_t>(a)) != 0;
}

// UTF-8 (RFC 3629) whose only controls are \t, \r and \n.
bool is_text(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && p[k] >= lo && p[k] <= hi;
  };
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F) return false;
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(i + 1)) return false;
      i += 2;
    } else if (c == 0xE0 || (c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF || c == 0xED) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) return false;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

bool decode_base64(std::string_view run, std::string& out) {
  if (run.size() % 4 == 1) return false;  // no whole byte in the last group
  out.clear();
  out.reserve(run.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : run) {
    acc = (acc << 6) | static_cast<std::uint32_t>(kB64[static_cast<unsigned char>(ch)]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return true;
}

void decode_hex(std::string_view run, std::string& out) {
  out.clear();
  out.reserve(run.size() / 2);
  for (std::size_t i = 0; i + 1 < run.size(); i += 2) {
    out += static_cast<char>((kHex[static_cast<unsigned char>(run[i])] << 4) |
                             kHex[static_cast<unsigned char>(run[i + 1])]);
  }
}

// Bytes a base64/hex run of `len` characters decodes to, to check the budget before decoding.
std::size_t decoded_size(Alphabet a, std::size_t len) {
  return a == Alphabet::hex ? len / 2 : len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

struct Span {
  std::size_t begin, end;
};

// Whether the sorted `spans` hold `s`; `idx` advances monotonically over one scan.
bool contains(const std::vector<Span>& spans, std::size_t& idx, Span s) {
  while (idx < spans.size() && spans[idx].begin < s.begin) ++idx;
  return idx < spans.size() && spans[idx].begin == s.begin && spans[idx].end == s.end;
}

class Decoder {
 public:
  // The budget is the size of the raw input.
  Decoder(std::string_view raw, int max_depth, std::vector<std::string>& out)
      : budget_(raw.size()), max_depth_(max_depth), out_(out) {}

  void step(std::string_view text, int depth) {
    std::string percent;
    if (percent_decode(text, percent)) text = percent;
    // Candidate runs lie inside stretches of >= 16 characters of any alphabet; in prose those
    // are rare, so finding them is the whole cost.
    for_each_long_run(text, [&](std::size_t begin, std::size_t end) {
      decode_stretch(text.substr(begin, end - begin), depth);
    });
    if (!percent.empty()) out_.push_back(std::move(percent));
  }

 private:
  // Hex first: hex digits are base64 characters too, and a run that is hex text is not tried
  // again as base64. A URL-safe run equal to a standard one was already tried.
  void decode_stretch(std::string_view text, int depth) {
    // The longest run of each alphabet (bit k of kAlphabets), so that an alphabet with none of
    // kMinRun costs no pass of its own: prose's stretches are mostly words joined by '/' or '-'.
    std::array<std::size_t, 3> current{};
    std::array<std::size_t, 3> longest{};
    for (const char c : text) {
      const std::uint8_t in = kAlphabets[static_cast<unsigned char>(c)];
      for (std::size_t k = 0; k < current.size(); ++k) {
        current[k] = ((in >> k) & 1) != 0 ? current[k] + 1 : 0;
        longest[k] = std::max(longest[k], current[k]);
      }
    }
    std::vector<Span> hex_text_runs;
    for (const Alphabet a : {Alphabet::hex, Alphabet::standard, Alphabet::url_safe}) {
      if (longest[bit_of(a)] < kMinRun) continue;
      std::size_t hex_idx = 0;
      for (std::size_t i = 0; i < text.size();) {
        if (!in_alphabet(a, text[i])) {
          ++i;
          continue;
        }
        std::size_t j = i + 1;
        while (j < text.size() && in_alphabet(a, text[j])) ++j;
        const Span run{i, j};
        i = j;
        if (run.end - run.begin < kMinRun) continue;
        const std::string_view chars = text.substr(run.begin, run.end - run.begin);
        if (a == Alphabet::hex) {
          if (chars.size() % 2 == 0 && try_run(a, chars, depth)) hex_text_runs.push_back(run);
          continue;
        }
        if (a == Alphabet::url_safe && is_standard_run(text, run)) continue;
        if (contains(hex_text_runs, hex_idx, run)) continue;
        try_run(a, chars, depth);
      }
    }
  }

  // Whether the URL-safe run `r` is also a run of the standard alphabet: it has no '-' or '_',
  // and no '+' or '/' extends it.
  static bool is_standard_run(std::string_view text, Span r) {
    auto plus_slash = [&](std::size_t i) { return text[i] == '+' || text[i] == '/'; };
    for (std::size_t i = r.begin; i < r.end; ++i) {
      if (text[i] == '-' || text[i] == '_') return false;
    }
    return !(r.begin > 0 && plus_slash(r.begin - 1)) && !(r.end < text.size() && plus_slash(r.end));
  }

  // %XX decoded in place; false when there is none (or the budget cannot pay for them).
  bool percent_decode(std::string_view text, std::string& out) {
    if (text.find('%') == std::string_view::npos) return false;
    std::size_t count = 0;
    for (std::size_t i = 0; i + 2 < text.size(); ++i) {
      if (text[i] == '%' && kHex[static_cast<unsigned char>(text[i + 1])] >= 0 &&
          kHex[static_cast<unsigned char>(text[i + 2])] >= 0) {
        ++count;
        i += 2;
      }
    }
    if (count == 0 || count > budget_) return false;
    budget_ -= count;
    out.reserve(text.size() - 2 * count);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size() &&
          kHex[static_cast<unsigned char>(text[i + 1])] >= 0 &&
          kHex[static_cast<unsigned char>(text[i + 2])] >= 0) {
        out += static_cast<char>((kHex[static_cast<unsigned char>(text[i + 1])] << 4) |
                                 kHex[static_cast<unsigned char>(text[i + 2])]);
        i += 2;
      } else {
        out += text[i];
      }
    }
    return true;
  }

  // Decodes one run; true when it was text (and became a layer).
  bool try_run(Alphabet a, std::string_view run, int depth) {
    if (decoded_size(a, run.size()) > budget_) return false;
    std::string decoded;
    if (a == Alphabet::hex) {
      decode_hex(run, decoded);
    } else if (!decode_base64(run, decoded)) {
      return false;
    }
    if (decoded.empty() || decoded.size() > budget_ || !is_text(decoded)) return false;
    budget_ -= decoded.size();
    if (depth + 1 < max_depth_) step(decoded, depth + 1);
    out_.push_back(std::move(decoded));
    return true;
  }

  std::size_t budget_;
  int max_depth_;
  std::vector<std::string>& out_;
};

}  // namespace

std::vector<std::string> decoded_layers(std::string_view raw, int max_depth) {
  std::vector<std::string> out;
  if (max_depth <= 0 || raw.empty()) return out;
  Decoder(raw, max_depth, out).step(raw, 0);
  return out;
}

}  // namespace clawgate::classify

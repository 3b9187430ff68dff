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
//
// Cost: the runs are found in bit masks of the text (any alphabet; inside each stretch of >= 16
// such bytes, each alphabet apart), 64 bits at a time, so prose costs a few operations per
// 64 bytes. A run is decoded into one reused buffer, and a long one its first 64 characters
// first: binary data (keys, images) is dropped there without being decoded whole.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
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

enum class Alphabet : std::uint8_t { standard, url_safe, hex };

// The first bit at or after `i` that is not set in the bit array `masks` (which has a clear
// bit after `i`).
std::size_t first_clear(const std::uint64_t* masks, std::size_t i) {
  std::uint64_t word = ~masks[i / 64] >> (i % 64);
  while (word == 0) {
    i = (i / 64 + 1) * 64;
    word = ~masks[i / 64];
  }
  return i + static_cast<std::size_t>(__builtin_ctzll(word));
}

// Bit arrays over a text of n bytes: each of (n + 63) / 64 words and one more, clear (the last
// block's next); and, per array, one of as many words for its run16_starts().
class Masks {
 public:
  Masks(std::size_t n, std::size_t arrays) : words_((n + 63) / 64 + 1), arrays_(arrays) {
    // Not zeroed: the text may be megabytes, and the SIMD passes write every word but the last.
    if (words_ * 2 * arrays > small_.size()) {
      large_.reset(new std::uint64_t[words_ * 2 * arrays]);  // NOLINT: no zero-fill
    }
    for (std::size_t k = 0; k < arrays; ++k) bits(k)[words_ - 1] = 0;
  }

  std::uint64_t* bits(std::size_t k) { return base() + k * words_; }

  // Calls f(begin, end) for every maximal run of >= kMinRun set bits of bits(k), in order.
  template <typename F>
  void for_each_run(std::size_t k, F&& f) {
    static_assert(kMinRun == 16);
    const std::uint64_t* masks = bits(k);
    std::uint64_t* starts = base() + (arrays_ + k) * words_;
    simd::run16_starts(simd::best(), masks, words_ - 1, starts);
    // Bits of starts[w] from bit `from` on (none when from >= 64).
    auto from = [](std::uint64_t word, std::size_t bit) {
      return bit >= 64 ? 0 : word & (~std::uint64_t{0} << bit);
    };
    std::size_t done = 0;  // runs before this offset are handled
    for (std::size_t w = 0; w + 1 < words_; ++w) {
      std::uint64_t s = starts[w];
      if (s == 0) continue;
      if (done > w * 64) s = from(s, done - w * 64);
      while (s != 0) {
        const std::size_t begin = w * 64 + static_cast<std::size_t>(__builtin_ctzll(s));
        const std::size_t end = first_clear(masks, begin + kMinRun);
        f(begin, end);
        done = end;
        s = from(s, done - w * 64);
      }
    }
  }

 private:
  std::uint64_t* base() { return large_ ? large_.get() : small_.data(); }

  std::size_t words_;
  std::size_t arrays_;
  std::array<std::uint64_t, 48> small_;  // three alphabets over a stretch of up to 448 bytes
  std::unique_ptr<std::uint64_t[]> large_;
};

// The longest prefix of `s` made of whole characters of text: UTF-8 (RFC 3629) whose only
// controls are \t, \r and \n.
std::size_t text_length(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && p[k] >= lo && p[k] <= hi;
  };
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F) break;
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(i + 1)) break;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) break;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) break;
      i += 4;
    } else {
      break;
    }
  }
  return i;
}

bool is_text(std::string_view s) { return text_length(s) == s.size(); }

// Whether `s`, the first bytes of a decoding, may start text: what stops text_length() short of
// its last four bytes (the longest character) is not a character cut off by the end.
bool may_start_text(std::string_view s) { return text_length(s) + 4 > s.size(); }

// Decodes base64 characters (either alphabet) to `out`, which has room for
// decoded_size(run.size()); returns the bytes written.
std::size_t decode_base64(std::string_view run, char* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(run.data());
  const std::size_t n = run.size();
  auto v = [&](std::size_t k) { return static_cast<std::uint32_t>(kB64[p[k]]); };
  std::size_t o = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t group = v(i) << 18 | v(i + 1) << 12 | v(i + 2) << 6 | v(i + 3);
    out[o++] = static_cast<char>(group >> 16);
    out[o++] = static_cast<char>(group >> 8 & 0xFF);
    out[o++] = static_cast<char>(group & 0xFF);
  }
  // A last group of 2 or 3 characters (padding is optional) holds 1 or 2 bytes; of 1, none.
  if (n - i >= 2) {
    std::uint32_t group = v(i) << 18 | v(i + 1) << 12;
    if (n - i == 3) group |= v(i + 2) << 6;
    out[o++] = static_cast<char>(group >> 16);
    if (n - i == 3) out[o++] = static_cast<char>(group >> 8 & 0xFF);
  }
  return o;
}

// Decodes an even number of hex digits to `out` (room for half as many bytes).
std::size_t decode_hex(std::string_view run, char* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(run.data());
  for (std::size_t i = 0; i + 1 < run.size(); i += 2) {
    out[i / 2] = static_cast<char>(kHex[p[i]] << 4 | kHex[p[i + 1]]);
  }
  return run.size() / 2;
}

// Bytes a base64/hex run of `len` characters decodes to, to check the budget before decoding.
std::size_t decoded_size(Alphabet a, std::size_t len) {
  return a == Alphabet::hex ? len / 2 : len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

// A run of >= kMinRun characters of one alphabet, in a stretch.
struct Run {
  std::size_t begin, end;
  Alphabet alphabet;
  bool hex_text;  // a hex run that decoded to text
};

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
    Masks any(text.size(), 1);
    simd::alphabet_bits(simd::best(), reinterpret_cast<const unsigned char*>(text.data()),
                        text.size(), any.bits(0));
    any.for_each_run(0, [&](std::size_t begin, std::size_t end) {
      decode_stretch(text.substr(begin, end - begin), depth);
    });
    if (!percent.empty()) out_.push_back(std::move(percent));
  }

 private:
  // Hex first: hex digits are base64 characters too, and a run that is hex text is not tried
  // again as base64. A URL-safe run equal to a standard one was already tried.
  void decode_stretch(std::string_view text, int depth) {
    // runs_ is a stack: the steps nested in try_run() push theirs above these and pop them.
    // Indexes, not references: pushing may move the elements.
    const std::size_t base = runs_.size();
    push_runs(text);
    const std::size_t top = runs_.size();
    auto chars = [&](std::size_t k) {
      return text.substr(runs_[k].begin, runs_[k].end - runs_[k].begin);
    };
    for (std::size_t k = base; k < top; ++k) {
      if (runs_[k].alphabet != Alphabet::hex || chars(k).size() % 2 != 0) continue;
      if (try_run(Alphabet::hex, chars(k), depth)) runs_[k].hex_text = true;
    }
    std::size_t standard_at = base;
    for (const Alphabet a : {Alphabet::standard, Alphabet::url_safe}) {
      std::size_t hex_at = base;
      for (std::size_t k = base; k < top; ++k) {
        if (runs_[k].alphabet != a) continue;
        if (a == Alphabet::url_safe && find(standard_at, top, Alphabet::standard, k)) continue;
        if (find(hex_at, top, Alphabet::hex, k) && runs_[hex_at].hex_text) continue;
        try_run(a, chars(k), depth);
      }
    }
    runs_.resize(base);
  }

  // Pushes the runs of >= kMinRun characters of each alphabet in `text` onto runs_: all hex
  // runs, then standard, then URL-safe, each in order.
  void push_runs(std::string_view text) {
    const std::size_t n = text.size();
    Masks masks(n, 3);
    simd::alphabet_masks(reinterpret_cast<const unsigned char*>(text.data()), n, masks.bits(1),
                         masks.bits(2), masks.bits(0));
    const Alphabet order[] = {Alphabet::hex, Alphabet::standard, Alphabet::url_safe};
    for (std::size_t k = 0; k < 3; ++k) {
      masks.for_each_run(k, [&](std::size_t begin, std::size_t end) {
        runs_.push_back({begin, end, order[k], false});
      });
    }
  }

  // Whether runs_[.., top) holds a run of alphabet `a` with the span of runs_[k]; `at` starts
  // at the stretch's first run and only moves on, over runs_[k] of increasing begin.
  bool find(std::size_t& at, std::size_t top, Alphabet a, std::size_t k) const {
    while (at < top && (runs_[at].alphabet != a || runs_[at].begin < runs_[k].begin)) ++at;
    return at < top && runs_[at].begin == runs_[k].begin && runs_[at].end == runs_[k].end;
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
    if (a != Alphabet::hex && run.size() % 4 == 1) return false;  // no whole byte at the end
    const std::size_t size = decoded_size(a, run.size());
    if (size == 0 || size > budget_) return false;
    // Most runs are not text (keys, hashes, images): decode into scratch_, the first
    // kProbeChars characters first, and give up at the first byte that cannot be text.
    if (scratch_.size() < size) scratch_.resize(size);
    char* out = scratch_.data();
    auto decode = [&](std::string_view chars, char* to) {
      return a == Alphabet::hex ? decode_hex(chars, to) : decode_base64(chars, to);
    };
    std::size_t probed = 0;  // characters decoded so far
    std::size_t written = 0;
    if (run.size() > kProbeChars) {
      probed = kProbeChars;
      written = decode(run.substr(0, probed), out);
      if (!may_start_text({out, written})) return false;
    }
    written += decode(run.substr(probed), out + written);
    const std::string_view decoded(out, written);
    if (!is_text(decoded)) return false;
    budget_ -= written;
    // Out of scratch_ before the next step, which decodes into it.
    std::string layer(decoded);
    if (depth + 1 < max_depth_) step(layer, depth + 1);
    out_.push_back(std::move(layer));
    return true;
  }

  // Characters decoded before the rest of a run: a multiple of 4 (base64) and of 2 (hex).
  static constexpr std::size_t kProbeChars = 64;

  std::size_t budget_;
  int max_depth_;
  std::vector<std::string>& out_;
  std::vector<Run> runs_;  // decode_stretch()'s runs; nested steps push theirs above
  std::string scratch_;    // try_run()'s decoding, before it is known to be text
};

}  // namespace

std::vector<std::string> decoded_layers(std::string_view raw, int max_depth) {
  std::vector<std::string> out;
  if (max_depth <= 0 || raw.empty()) return out;
  Decoder(raw, max_depth, out).step(raw, 0);
  return out;
}

}  // namespace clawgate::classify

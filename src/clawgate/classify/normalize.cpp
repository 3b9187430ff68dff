// normalize(): the text the term matcher sees (SPEC §4 "Normalise before matching").
//
// Steps, in one left-to-right pass:
//   invalid UTF-8 byte      -> a space (classification never fails on bad input)
//   Cf / default-ignorable  -> dropped (ZWJ, ZWNJ, ZWSP, soft hyphen, BOM, bidi controls, VS)
//   other controls (Cc)     -> dropped, except white space
//   Cyrillic/Greek look-alikes -> Latin, before case folding (capital Ν→n, small ν→v)
//   NFKC + case fold        -> utf8proc (ﬁ→fi, ｗ→w, ẞ→ss)
//   look-alikes produced by NFKC (math Greek…) -> Latin
//   runs of white space, '_', '-', '.', '/', dashes -> one ' '; leading/trailing ones trimmed
//
// ASCII is handled 16 bytes at a time (SSE2, with a scalar fallback); only the stretches around
// non-ASCII code points go through utf8proc. fold() gives the classifier the same text without
// a normalised copy of the ASCII: it normalises only those stretches.
#include <utf8proc.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define CLAWGATE_CLASSIFY_SSE2 1
#else
#define CLAWGATE_CLASSIFY_SSE2 0
#endif

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clawgate/classify/classifier.hpp"
#include "clawgate/classify/fold.hpp"
#include "clawgate/classify/simd.hpp"

namespace clawgate::classify {
namespace {

// Look-alikes of Latin letters (a subset of Unicode confusables.txt, letters only). Applied to
// the raw code point (so capital forms fold by their capital look) and again after NFKC + case
// fold (for look-alikes that only appear there, e.g. mathematical Greek). Sorted by code point.
// clang-format off
constexpr std::pair<char32_t, char> kLookAlikes[] = {
    {0x0130, 'i'}, {0x0131, 'i'}, {0x0237, 'j'}, {0x0251, 'a'}, {0x0261, 'g'},
    // Greek capitals and small letters
    {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'},
    {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'}, {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'},
    {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'}, {0x03B2, 'b'}, {0x03B3, 'y'}, {0x03B5, 'e'},
    {0x03B7, 'n'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BC, 'u'}, {0x03BD, 'v'}, {0x03BF, 'o'},
    {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'}, {0x03C9, 'w'}, {0x03F2, 'c'},
    {0x03F3, 'j'}, {0x03F9, 'c'},
    // Cyrillic capitals
    {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'},
    {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
    {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'},
    // Cyrillic small letters
    {0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x043A, 'k'}, {0x043C, 'm'}, {0x043D, 'h'},
    {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'}, {0x0445, 'x'},
    {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'}, {0x04AE, 'y'}, {0x04AF, 'y'}, {0x04BA, 'h'},
    {0x04BB, 'h'}, {0x04C0, 'l'}, {0x04CF, 'l'}, {0x0500, 'd'}, {0x0501, 'd'}, {0x051A, 'q'},
    {0x051B, 'q'}, {0x051C, 'w'}, {0x051D, 'w'},
    // Armenian
    {0x0570, 'h'}, {0x0578, 'n'}, {0x057D, 'u'}, {0x0585, 'o'},
};
// clang-format on

constexpr bool sorted_table() {
  for (std::size_t i = 1; i < std::size(kLookAlikes); ++i) {
    if (kLookAlikes[i - 1].first >= kLookAlikes[i].first) return false;
  }
  return true;
}
static_assert(sorted_table(), "kLookAlikes must be sorted for the binary search");

char look_alike(char32_t cp) {
  if (cp < 0x0130 || cp > 0x0585) return 0;
  const auto* end = std::end(kLookAlikes);
  const auto* it = std::lower_bound(std::begin(kLookAlikes), end, cp,
                                    [](const auto& e, char32_t c) { return e.first < c; });
  return (it != end && it->first == cp) ? it->second : '\0';
}

// ASCII byte classes for the fast path.
enum : std::uint8_t { kKeep = 0, kSep = 1, kDrop = 2 };

constexpr std::array<std::uint8_t, 128> make_ascii_class() {
  std::array<std::uint8_t, 128> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = kDrop;
  t[0x7F] = kDrop;
  for (char c : {' ', '\t', '\n', '\v', '\f', '\r', '_', '-', '.', '/'}) {
    t[static_cast<unsigned char>(c)] = kSep;
  }
  return t;
}
constexpr std::array<std::uint8_t, 128> kAsciiClass = make_ascii_class();

#if CLAWGATE_CLASSIFY_SSE2
// Per byte of ASCII input: 0xFF where kAsciiClass says kSep (white space \t..\r and ' ', '_', '-',
// '.', '/'), else 0.
__m128i ascii_separators(__m128i v) {
  const __m128i ws = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x08)),
                                   _mm_cmplt_epi8(v, _mm_set1_epi8(0x0E)));
  __m128i sep = _mm_or_si128(ws, _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
  sep = _mm_or_si128(sep, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
  sep = _mm_or_si128(sep, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
  sep = _mm_or_si128(sep, _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
  return _mm_or_si128(sep, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
}
#endif

// Plain bytes (simd::is_plain) are ASCII that is not dropped: two in a row are a point no
// composition crosses. The byte searches must agree with the classes above.
using simd::is_plain;
#if CLAWGATE_CLASSIFY_SSE2
using simd::not_plain;
#endif
constexpr bool plain_agrees_with_classes() {
  for (unsigned c = 0; c < 256; ++c) {
    if (is_plain(static_cast<unsigned char>(c)) != (c < 0x80 && kAsciiClass[c] != kDrop)) {
      return false;
    }
  }
  return true;
}
static_assert(plain_agrees_with_classes());

// Unicode White_Space above ASCII, plus dashes (Pd) and slash look-alikes: all separate words.
bool is_separator(char32_t cp) {
  switch (cp) {
    case 0x0085:
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0x2044:
    case 0x2215:
    case 0x2024:
    case 0x3002:
    case 0xFF61:
      return true;
    default:
      break;
  }
  if (cp >= 0x2000 && cp <= 0x200A) return true;
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_PD;
}

bool is_dropped(char32_t cp) {
  const auto* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  if (prop->category == UTF8PROC_CATEGORY_CF || prop->ignorable) return true;
  return prop->category == UTF8PROC_CATEGORY_CC && cp != 0x85 && !(cp >= 0x09 && cp <= 0x0D);
}

// Appends normalised output. A separator is written at once unless the output is empty or already
// ends with one (spaces in the output only ever come from separators); normalize() trims a
// trailing one at the end. Writing eagerly keeps the ASCII loop free of a "pending" branch.
class Emitter {
 public:
  // Writes into `buf` from its start; finish() cuts it to what was written. Not std::string
  // appends: growing a string zero-fills, and the hot loop would pay that for every run.
  explicit Emitter(std::string& buf) : buf_(buf) {}

  std::string& finish() {
    if (len_ > 0 && buf_[len_ - 1] == ' ') --len_;  // a trailing separator
    buf_.resize(len_);
    return buf_;
  }

  // What was written, with `buf` left as large as it grew (no zero-fill when it is reused);
  // not trimmed: fold()'s text goes on past it.
  std::string_view written() const { return {buf_.data(), len_}; }

  // Plain ASCII as it is, for fold(). A separator() after it may add a ' ' to a run of them.
  void copy(const char* p, std::size_t n) {
    reserve(n);
    std::memcpy(buf_.data() + len_, p, n);
    len_ += n;
  }

  void separator() {
    if (record_ != nullptr) record_->push_back(' ');
    if (len_ > 0 && buf_[len_ - 1] != ' ') put(' ');
  }

  void ascii(char c) {
    if (record_ != nullptr) record_->push_back(c);
    put(c);
  }

  // While set, every call is also written to `record` (' ' for separator(), else the bytes
  // appended; output bytes are never ' '), so that replay() can repeat them.
  void set_record(std::string* record) { record_ = record; }

  void replay(std::string_view record) {
    for (const char c : record) {
      if (c == ' ') {
        separator();
      } else {
        put(c);
      }
    }
  }

  // Emits the plain ASCII bytes (no byte >= 0x80, no dropped control) at the start of p[0, n)
  // and returns how many it took: the hot loop. It stops before the last plain byte in front
  // of anything else, which may compose with a mark after it and goes to the slow path. Each
  // byte gives at most one output byte, so the output is written in place.
  std::size_t ascii_prefix(const unsigned char* p, std::size_t n) {
    const std::size_t old = len_;
    bool prev_sep = old == 0 || buf_[old - 1] == ' ';
    reserve(n + 16);  // slack: a block store may reach 15 bytes past what it keeps
    char* const begin = buf_.data();
    char* w = begin + old;
    std::size_t k = 0;
    bool stopped = false;
#if CLAWGATE_CLASSIFY_SSE2
    // 16 bytes at a time: lower-case, separators to ' ', stored whole; `take` bytes of it are
    // kept. Where a separator follows a separator (or the block starts after one), only the
    // bytes before it are kept and the next block starts after that run of repeats.
    while (k + 16 <= n) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k));
      unsigned other = static_cast<unsigned>(_mm_movemask_epi8(not_plain(v)));
      if (k + 16 < n && !is_plain(p[k + 16])) other |= 1u << 16;
      unsigned take = 16;
      if (other != 0) {
        take = static_cast<unsigned>(__builtin_ctz(other));
        if (take <= 1) {
          stopped = true;
          break;
        }
        --take;
      }
      const __m128i sep = ascii_separators(v);
      const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                                          _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
      const __m128i lowered = _mm_add_epi8(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
      const __m128i outv = _mm_or_si128(_mm_and_si128(sep, _mm_set1_epi8(' ')),
                                        _mm_andnot_si128(sep, lowered));
      const auto bits = static_cast<unsigned>(_mm_movemask_epi8(sep)) & ((1u << take) - 1);
      const unsigned repeated = bits & ((bits << 1) | (prev_sep ? 1u : 0u));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(w), outv);
      // A branch, not branch-free arithmetic: speculating past it overlaps the blocks.
      if (repeated == 0) {
        w += take;
        k += take;
        prev_sep = ((bits >> (take - 1)) & 1u) != 0;
        if (take < 16) {
          stopped = true;
          break;
        }
      } else {
        const auto at = static_cast<unsigned>(__builtin_ctz(repeated));
        const auto run = static_cast<unsigned>(__builtin_ctz(~(repeated >> at)));
        w += at;
        k += at + run;
        prev_sep = true;
      }
    }
#endif
    if (!stopped) {
      std::size_t end = k;
      while (end < n && is_plain(p[end])) ++end;
      if (end < n && end > k) --end;
      for (; k < end; ++k) {
        const unsigned char c = p[k];
        const bool s = kAsciiClass[c] == kSep;
        *w = s ? ' ' : static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        w += (s && prev_sep) ? 0 : 1;
        prev_sep = s;
      }
    }
    len_ = static_cast<std::size_t>(w - begin);
    return k;
  }

  // A code point after NFKC + case fold.
  void code_point(char32_t cp) {
    if (cp < 0x80) {
      const auto c = static_cast<unsigned char>(cp);
      if (kAsciiClass[c] == kSep) {
        separator();
      } else if (kAsciiClass[c] == kKeep) {
        ascii(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
      }
      return;
    }
    if (is_separator(cp)) {
      separator();
      return;
    }
    if (const char l = look_alike(cp)) {
      ascii(l);
      return;
    }
    if (is_dropped(cp)) return;
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
    if (record_ != nullptr) {
      record_->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    }
    reserve(static_cast<std::size_t>(n));
    std::memcpy(buf_.data() + len_, buf, static_cast<std::size_t>(n));
    len_ += static_cast<std::size_t>(n);
  }

 private:
  // Room for `n` more bytes (normalising may lengthen text: NFKC expands some characters).
  void reserve(std::size_t n) {
    if (buf_.size() - len_ < n) buf_.resize(std::max(2 * buf_.size(), len_ + n));
  }

  void put(char c) {
    reserve(1);
    buf_[len_++] = c;
  }

  std::string& buf_;
  std::size_t len_ = 0;
  std::string* record_ = nullptr;
};

constexpr auto kDecomposeOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);
constexpr auto kComposeOptions = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);

// Unicode's stream-safe limit: longer runs of combining marks are cut, which keeps the
// canonical reordering below linear.
constexpr std::size_t kMaxNonStarters = 30;

// Canonical ordering of each run of non-starters (a stable insertion sort on short runs),
// dropping marks beyond kMaxNonStarters in one run.
void reorder_marks(std::vector<utf8proc_int32_t>& cps) {
  std::size_t w = 0;
  std::size_t run_start = 0;
  for (std::size_t r = 0; r < cps.size(); ++r) {
    const utf8proc_int32_t cp = cps[r];  // read first: w may equal r
    const auto ccc = utf8proc_get_property(cp)->combining_class;
    if (ccc == 0) {
      cps[w++] = cp;
      run_start = w;
      continue;
    }
    if (w - run_start >= kMaxNonStarters) continue;
    std::size_t k = w++;
    while (k > run_start && utf8proc_get_property(cps[k - 1])->combining_class > ccc) {
      cps[k] = cps[k - 1];
      --k;
    }
    cps[k] = cp;
  }
  cps.resize(w);
}

// The slow path: one stretch of text containing non-ASCII bytes (plus the ASCII character just
// before it, which may combine with a following mark).
// `ascii_kept` becomes false when an ASCII character of the input composes with a mark after it
// (e + U+0301 -> é): the only way normalisation loses an ASCII character.
void normalize_stretch(std::string_view s, Emitter& emit, std::vector<utf8proc_int32_t>& cps,
                       bool& ascii_kept) {
  cps.clear();
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  const auto n = static_cast<utf8proc_ssize_t>(s.size());
  utf8proc_int32_t tmp[32];
  bool after_ascii = false;  // the last code point kept was an ASCII character of the input
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(p + i, n - i, &cp);
    if (len <= 0) {
      cp = ' ';  // an invalid byte separates words, it never aborts classification
      i += 1;
    } else {
      i += len;
    }
    if (is_dropped(static_cast<char32_t>(cp))) continue;
    const bool ascii = cp < 0x80;
    if (const char l = look_alike(static_cast<char32_t>(cp))) cp = static_cast<unsigned char>(l);
    const auto m = utf8proc_decompose_char(cp, tmp, 32, kDecomposeOptions, nullptr);
    if (m < 0 || m > 32) {
      cps.push_back(' ');
      after_ascii = false;
      continue;
    }
    if (after_ascii && m > 0 && utf8proc_get_property(tmp[0])->combining_class != 0) {
      ascii_kept = false;
    }
    after_ascii = ascii;
    cps.insert(cps.end(), tmp, tmp + m);
  }
  reorder_marks(cps);
  const auto composed = utf8proc_normalize_utf32(
      cps.data(), static_cast<utf8proc_ssize_t>(cps.size()), kComposeOptions);
  const std::size_t count = composed < 0 ? 0 : static_cast<std::size_t>(composed);
  for (std::size_t k = 0; k < count; ++k) emit.code_point(static_cast<char32_t>(cps[k]));
}

// Prose has the same few short slow stretches over and over (an ASCII letter and one dash,
// quote or accented letter). A small per-thread memo of stretches up to 8 bytes keeps what
// normalize_stretch() emitted for them; normalisation is a pure function, so a hit replays it.
// A stretch is looked up as one 64-bit word (its bytes, zero-padded) and its length: no string
// compare and no hash loop per byte.
class StretchMemo {
 public:
  static constexpr std::size_t kMaxKey = 8;

  // What `stretch` emits, or nullptr when it is not known.
  const std::string* find(std::string_view stretch, bool& kept) const {
    const std::uint64_t key = pack(stretch);
    const std::size_t b = bucket(key, stretch.size());
    for (std::size_t way = 0; way < kWays; ++way) {
      const Slot& slot = slots_[b + way];
      if (slot.key == key && slot.length == stretch.size()) {
        kept = slot.kept;
        return &slot.emitted;
      }
    }
    return nullptr;
  }

  void keep(std::string_view stretch, std::string emitted, bool kept) {
    const std::uint64_t key = pack(stretch);
    const std::size_t b = bucket(key, stretch.size());
    Slot& slot = slots_[b + victim_[b / kWays]];
    victim_[b / kWays] ^= 1;
    slot.key = key;
    slot.length = static_cast<std::uint8_t>(stretch.size());
    slot.emitted = std::move(emitted);
    slot.kept = kept;
  }

 private:
  // Two ways per bucket: prose has a few stretches that all recur (" —", " “" in one sentence),
  // and two of them in one slot would push each other out on every use.
  static constexpr std::size_t kWays = 2;
  static constexpr std::size_t kSlots = 256;

  struct Slot {
    std::uint64_t key = 0;
    std::uint8_t length = kMaxKey + 1;  // no stretch: an empty slot matches nothing
    bool kept = true;
    std::string emitted;
  };

  // The stretch's bytes (at most 8), little-endian; the length tells "a\0" from "a".
  static std::uint64_t pack(std::string_view s) {
    std::uint64_t key = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      key |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
    }
    return key;
  }

  // The first slot of the stretch's bucket (multiplicative hashing: the top bits mix all 64).
  static std::size_t bucket(std::uint64_t key, std::size_t length) {
    const std::uint64_t h = (key ^ length) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h >> 57) * kWays;
  }

  std::array<Slot, kSlots> slots_;
  std::array<std::uint8_t, kSlots / kWays> victim_{};  // per bucket: the way keep() fills next
};

void normalize_stretch_memo(std::string_view s, Emitter& emit, std::vector<utf8proc_int32_t>& cps,
                            bool& ascii_kept) {
  if (s.size() > StretchMemo::kMaxKey) {
    normalize_stretch(s, emit, cps, ascii_kept);
    return;
  }
  thread_local StretchMemo memo;
  bool kept = true;
  if (const std::string* emitted = memo.find(s, kept)) {
    emit.replay(*emitted);
    ascii_kept = ascii_kept && kept;
    return;
  }
  std::string record;
  emit.set_record(&record);
  normalize_stretch(s, emit, cps, kept);
  emit.set_record(nullptr);
  ascii_kept = ascii_kept && kept;
  memo.keep(s, std::move(record), kept);
}

// The end of the slow stretch that starts at `i`: the next two plain bytes in a row (or the
// end). Dropped controls go this way too, so that a mark after them still composes with the
// letter before them.
std::size_t stretch_end(const unsigned char* b, std::size_t i, std::size_t n) {
  std::size_t j = i + 1;
  while (j < n && !(is_plain(b[j]) && (j + 1 >= n || is_plain(b[j + 1])))) ++j;
  return j;
}

}  // namespace

std::string normalize(std::string_view raw, bool* ascii_kept) {
  bool kept = true;
  std::string out(raw.size() + 16, '\0');
  Emitter emit(out);
  std::vector<utf8proc_int32_t> cps;
  const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
  const std::size_t n = raw.size();
  std::size_t i = 0;
  while (i < n) {
    i += emit.ascii_prefix(b + i, n - i);
    if (i >= n) break;
    const std::size_t j = stretch_end(b, i, n);
    normalize_stretch_memo(raw.substr(i, j - i), emit, cps, kept);
    i = j;
  }
  emit.finish();
  if (ascii_kept != nullptr) *ascii_kept = kept;
  return out;
}

// The stretches are the ones normalize() takes through its slow path: ascii_prefix() stops
// before the last plain byte in front of one that is not plain.
std::string_view fold(std::string_view raw, std::string& buf, bool& ascii_kept) {
  const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
  const std::size_t n = raw.size();
  const simd::Isa isa = simd::best();
  std::size_t f = simd::find_not_plain(isa, b, 0, n);
  if (f == n) return raw;
  if (buf.size() < n + 16) buf.resize(n + 16);
  Emitter emit(buf);
  std::vector<utf8proc_int32_t> cps;
  std::size_t i = 0;
  while (f < n) {
    const std::size_t s = f > i ? f - 1 : f;
    emit.copy(raw.data() + i, s - i);
    i = stretch_end(b, s, n);
    normalize_stretch_memo(raw.substr(s, i - s), emit, cps, ascii_kept);
    f = simd::find_not_plain(isa, b, i, n);
  }
  emit.copy(raw.data() + i, n - i);
  return emit.written();
}

}  // namespace clawgate::classify

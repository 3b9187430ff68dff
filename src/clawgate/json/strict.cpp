#include "clawgate/json/strict.hpp"

#include <locale.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "clawgate/json/bytes.hpp"

namespace clawgate::json {
namespace {

using nlohmann::json;

// Error strings go to clients and the audit log: never copy much of the input into them.
constexpr std::size_t kMaxKeyInError = 64;
constexpr std::size_t kMaxPointerInError = 160;
// parse_lenient's nesting bound: the parser recurses once per level.
constexpr std::size_t kLenientMaxDepth = 512;

// JSON's four white-space bytes (RFC 8259).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Most request text is ASCII: eight bytes at a time while no byte has its high bit set.
    while (i + 8 <= n && (bytes::load8(p + i) & bytes::kHigh) == 0) i += 8;
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = bytes::utf8_sequence(p, i, n);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

// RFC 6901 escaping; control bytes become '?' so the message stays one printable line.
void append_pointer_token(std::string& out, std::string_view token) {
  out += '/';
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else if (u < 0x20 || u == 0x7F) {
      out += '?';
    } else {
      out += c;
    }
  }
}

// Cuts at a code point boundary: error strings end up in JSON that must stay valid UTF-8.
void truncate_utf8(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  s.resize(n);
  s += "...";
}

std::string quote_key(std::string_view key) {
  std::string k(key.substr(0, kMaxKeyInError + 4));
  truncate_utf8(k, kMaxKeyInError);
  return json(k).dump(-1, ' ', false, json::error_handler_t::replace);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// strtod in the "C" locale whatever the process locale: the same doubles nlohmann's own
// parser produces (it reads numbers with strtod too).
double parse_double(const char* first, const char* last) {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  char small[64];
  std::string big;
  const std::size_t n = static_cast<std::size_t>(last - first);
  const char* z = nullptr;
  if (n < sizeof small) {
    std::memcpy(small, first, n);
    small[n] = '\0';
    z = small;
  } else {
    big.assign(first, n);
    z = big.c_str();
  }
  return strtod_l(z, nullptr, c_locale);
}

// A recursive-descent parser straight into nlohmann::json values: the same values (types
// included) as nlohmann::json::parse, without its per-character lexer. Recursion depth is
// bounded by max_depth.
class Parser {
 public:
  enum class Duplicates { refuse, last_wins };

  // `members`, when not empty, names the top-level members to build; the others are validated
  // and skipped (lenient reading only: a skipped value has no frame key for error pointers).
  Parser(std::string_view text, std::size_t max_depth, Duplicates dup,
         std::span<const std::string_view> members = {})
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(max_depth),
        dup_(dup),
        members_(members) {}

  bool document(json& out) {
    skip_ws();
    if (!value(out)) return false;
    skip_ws();
    if (p_ != end_) return syntax();
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool object = false;
    const std::string* key = nullptr;  // object: the member being parsed
    std::size_t index = 0;             // array: index of the element being parsed
  };

  bool syntax() {
    error_ = "invalid JSON at byte " + std::to_string(p_ - begin_);
    return false;
  }

  void skip_ws() {
    while (p_ != end_ && is_space(*p_)) ++p_;
  }

  // Pointer of the value the open frames lead to. "/" stands for the root, as users read it.
  std::string pointer(std::size_t frames) const {
    std::string out;
    for (std::size_t i = 0; i < frames; ++i) {
      const Frame& f = frames_[i];
      append_pointer_token(out, f.object ? std::string_view(*f.key) : std::to_string(f.index));
      if (out.size() > kMaxPointerInError) break;
    }
    truncate_utf8(out, kMaxPointerInError);
    return out.empty() ? "/" : out;
  }

  bool value(json& out) {
    if (p_ == end_) return syntax();
    switch (*p_) {
      case '{':
        return object(out);
      case '[':
        return array(out);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't':
        return literal("true", 4, out, json(true));
      case 'f':
        return literal("false", 5, out, json(false));
      case 'n':
        return literal("null", 4, out, json(nullptr));
      default:
        return number(out);
    }
  }

  bool literal(const char* word, std::size_t n, json& out, json v) {
    for (std::size_t i = 0; i < n; ++i, ++p_) {
      if (p_ == end_ || *p_ != word[i]) return syntax();
    }
    out = std::move(v);
    return true;
  }

  bool open(bool object) {
    if (frames_.size() >= max_depth_) {
      if (dup_ == Duplicates::last_wins) {
        error_ = "nesting too deep";
      } else {
        error_ =
            "nesting deeper than " + std::to_string(max_depth_) + " at " + pointer(frames_.size());
      }
      return false;
    }
    frames_.push_back(Frame{object, nullptr, 0});
    ++p_;
    skip_ws();
    return true;
  }

  // At the first byte inside a container: true, with the container closed, when it is `close`.
  bool closes(char close) {
    if (p_ == end_ || *p_ != close) return false;
    ++p_;
    frames_.pop_back();
    return true;
  }

  // After a container's element: a comma (more to come), its closing byte (closed), or else an
  // error (recorded).
  enum class Next { more, closed, error };
  Next after_element(char close) {
    skip_ws();
    if (p_ != end_ && *p_ == ',') {
      ++p_;
      skip_ws();
      return Next::more;
    }
    if (closes(close)) return Next::closed;
    syntax();
    return Next::error;
  }

  bool object(json& out) {
    if (!open(true)) return false;
    out = json::value_t::object;  // not json::object(): that goes through an initializer list
    auto& members = out.get_ref<json::object_t&>();
    if (closes('}')) return true;
    std::string key;
    for (;;) {
      if (p_ == end_ || *p_ != '"') return syntax();
      key.clear();
      if (!string(key)) return false;
      if (!wanted(key)) {
        if (!colon() || !skip_value()) return false;
        const Next next = after_element('}');
        if (next != Next::more) return next == Next::closed;
        continue;
      }
      auto [it, inserted] = members.try_emplace(std::move(key));
      if (!inserted) {
        if (dup_ == Duplicates::refuse) {
          error_ = "duplicate key " + quote_key(it->first) + " at " + pointer(frames_.size() - 1);
          return false;
        }
        it->second = nullptr;
      }
      frames_.back().key = &it->first;
      if (!colon() || !value(it->second)) return false;
      const Next next = after_element('}');
      if (next != Next::more) return next == Next::closed;
    }
  }

  // After a key: the colon and the white space around it.
  bool colon() {
    skip_ws();
    if (p_ == end_ || *p_ != ':') return syntax();
    ++p_;
    skip_ws();
    return true;
  }

  // Whether a member of the container being parsed is built: always, unless it is a top-level
  // member `members_` does not name.
  bool wanted(const std::string& key) const {
    if (members_.empty() || frames_.size() != 1) return true;
    return std::find(members_.begin(), members_.end(), key) != members_.end();
  }

  // Validates the value at p_ as value() does, and builds nothing of it.
  bool skip_value() {
    if (p_ == end_) return syntax();
    if (*p_ == '"') {
      scratch_.clear();
      return string(scratch_);
    }
    if (*p_ != '{' && *p_ != '[') {
      json scalar;  // a number or a literal: no allocation
      return value(scalar);
    }
    const bool object = *p_ == '{';
    const char close = object ? '}' : ']';
    if (!open(object)) return false;
    if (closes(close)) return true;
    for (;;) {
      if (object) {
        if (p_ == end_ || *p_ != '"') return syntax();
        scratch_.clear();
        if (!string(scratch_) || !colon()) return false;
      }
      if (!skip_value()) return false;
      const Next next = after_element(close);
      if (next != Next::more) return next == Next::closed;
    }
  }

  bool array(json& out) {
    if (!open(false)) return false;
    out = json::value_t::array;
    auto& elements = out.get_ref<json::array_t&>();
    if (closes(']')) return true;
    for (;;) {
      frames_.back().index = elements.size();
      if (!value(elements.emplace_back())) return false;
      const Next next = after_element(']');
      if (next != Next::more) return next == Next::closed;
    }
  }

  // At an opening quote; appends the decoded string to `out`. The text is valid UTF-8 already.
  bool string(std::string& out) {
    ++p_;
    for (;;) {
      const char* run = p_;
      p_ += bytes::plain_run(reinterpret_cast<const unsigned char*>(p_),
                             static_cast<std::size_t>(end_ - p_), false);
      out.append(run, p_);
      if (p_ == end_) return syntax();
      if (*p_ == '"') {
        ++p_;
        return true;
      }
      if (*p_ != '\\') return syntax();  // a control character must be escaped
      if (!escape(out)) return false;
    }
  }

  // At a backslash.
  bool escape(std::string& out) {
    ++p_;
    if (p_ == end_) return syntax();
    // The one-letter escapes and the bytes they stand for.
    static constexpr std::string_view kLetters = "\"\\/bfnrt";
    static constexpr std::string_view kBytes = "\"\\/\b\f\n\r\t";
    if (const auto k = kLetters.find(*p_); k != std::string_view::npos) {
      out.push_back(kBytes[k]);
      ++p_;
      return true;
    }
    if (*p_ != 'u') return syntax();
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return syntax();  // a low surrogate alone
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A high surrogate must be followed by an escaped low one.
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return syntax();
      ++p_;
      std::uint32_t low = 0;
      if (!hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return syntax();
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
    return true;
  }

  // At the 'u' of \uXXXX; leaves p_ after the four digits.
  bool hex4(std::uint32_t& cp) {
    ++p_;
    for (int i = 0; i < 4; ++i, ++p_) {
      const int d = p_ == end_ ? -1 : hex_digit(*p_);
      if (d < 0) return syntax();
      cp = (cp << 4) | static_cast<std::uint32_t>(d);
    }
    return true;
  }

  bool digits() {
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return syntax();
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return true;
  }

  // JSON's number grammar; integers become number_integer (negative) or number_unsigned, as
  // with nlohmann, unless they overflow 64 bits, then they are doubles like the rest.
  bool number(json& out) {
    const char* first = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_) return syntax();
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return syntax();
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (!digits()) return false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
    }
    if (integer) {
      // Accumulate with overflow checks; on overflow fall through to a double.
      std::uint64_t u = 0;
      bool overflow = false;
      for (const char* d = negative ? first + 1 : first; d != p_; ++d) {
        const auto digit = static_cast<std::uint64_t>(*d - '0');
        if (u > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
          overflow = true;
          break;
        }
        u = u * 10 + digit;
      }
      if (!overflow && !negative) {
        out = u;
        return true;
      }
      constexpr auto kMinMagnitude =
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
      if (!overflow && u <= kMinMagnitude) {
        out = u == kMinMagnitude ? std::numeric_limits<std::int64_t>::min()
                                 : -static_cast<std::int64_t>(u);
        return true;
      }
    }
    const double d = parse_double(first, p_);
    if (!std::isfinite(d)) {
      error_ = "number out of range";
      return false;
    }
    out = d;
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  Duplicates dup_;
  std::span<const std::string_view> members_;
  std::string scratch_;  // the text of a skipped string or key
  std::vector<Frame> frames_;
  std::string error_;
};

}  // namespace

StrictParse parse_strict(std::string_view text, std::size_t max_depth) {
  StrictParse out;
  if (text.empty()) {
    out.error = "empty JSON text";
    return out;
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    // nlohmann skips a BOM, JSON.parse refuses it: refuse too.
    out.error = "byte order mark before JSON text";
    return out;
  }
  if (const std::size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    out.error = "invalid UTF-8 at byte " + std::to_string(bad);
    return out;
  }
  Parser parser(text, max_depth, Parser::Duplicates::refuse);
  json value;
  if (parser.document(value)) {
    out.value = std::move(value);
  } else {
    out.error = parser.error();
  }
  return out;
}

std::optional<nlohmann::json> parse_lenient(std::string_view text) {
  return parse_lenient(text, {});
}

std::optional<nlohmann::json> parse_lenient(std::string_view text,
                                            std::span<const std::string_view> members) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (text.empty() || invalid_utf8_at(text) != std::string_view::npos) return std::nullopt;
  Parser parser(text, kLenientMaxDepth, Parser::Duplicates::last_wins, members);
  json value;
  if (!parser.document(value)) return std::nullopt;
  return value;
}

namespace {

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// s[i] is the opening quote; returns the offset after the closing one.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// The offset after the value starting at s[i], in valid JSON.
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
    return i;
  }
  std::size_t depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = skip_string(s, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::size_t> top_level_member(std::string_view object_text, std::string_view key) {
  const std::string_view s = object_text;
  std::size_t i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  for (i = skip_space(s, i + 1); i < s.size() && s[i] == '"'; i = skip_space(s, i + 1)) {
    const std::size_t key_end = skip_string(s, i);
    if (key_end == std::string_view::npos) return std::nullopt;
    const std::string_view raw = s.substr(i + 1, key_end - i - 2);
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    i = skip_space(s, i + 1);
    if (i >= s.size()) return std::nullopt;
    if (raw == key) return i;
    i = skip_value(s, i);
    if (i == std::string_view::npos) return std::nullopt;
    i = skip_space(s, i);
    if (i >= s.size() || s[i] != ',') return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace clawgate::json

#include "clawgate/json/strict.hpp"

#include <cstddef>
#include <exception>
#include <unordered_set>
#include <utility>
#include <vector>

namespace clawgate::json {
namespace {

using nlohmann::json;

// Error strings go to clients and the audit log: never copy much of the input into them.
constexpr std::size_t kMaxKeyInError = 64;
constexpr std::size_t kMaxPointerInError = 160;

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && p[k] >= lo && p[k] <= hi;
  };
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(i + 1)) return i;
      i += 2;
    } else if (c == 0xE0) {
      if (!cont(i + 1, 0xA0) || !cont(i + 2)) return i;
      i += 3;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      if (!cont(i + 1) || !cont(i + 2)) return i;
      i += 3;
    } else if (c == 0xED) {
      if (!cont(i + 1, 0x80, 0x9F) || !cont(i + 2)) return i;
      i += 3;
    } else if (c == 0xF0) {
      if (!cont(i + 1, 0x90) || !cont(i + 2) || !cont(i + 3)) return i;
      i += 4;
    } else if (c >= 0xF1 && c <= 0xF3) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return i;
      i += 4;
    } else if (c == 0xF4) {
      if (!cont(i + 1, 0x80, 0x8F) || !cont(i + 2) || !cont(i + 3)) return i;
      i += 4;
    } else {
      return i;
    }
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

// Follows the parser's events to know where it is (a JSON Pointer) and which keys each open
// object has already seen.
class Checker {
 public:
  explicit Checker(std::size_t max_depth) : max_depth_(max_depth) {}

  bool on_event(json::parse_event_t event, const json& parsed) {
    // After the first error the parser keeps going to the end; discard everything and stop
    // bookkeeping (nlohmann skips end events of discarded containers).
    if (!error_.empty()) return false;
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (frames_.size() >= max_depth_) {
          error_ = "nesting deeper than " + std::to_string(max_depth_) + " at " + pointer();
          return false;
        }
        frames_.push_back(Frame{event == json::parse_event_t::object_start, {}, {}, 0});
        return true;
      case json::parse_event_t::key: {
        Frame& top = frames_.back();
        const auto& key = parsed.get_ref<const std::string&>();
        if (!top.keys.insert(key).second) {
          frames_.pop_back();  // the object's own pointer excludes its current key
          error_ = "duplicate key " + quote_key(key) + " at " + pointer();
          return false;
        }
        top.key = key;
        return true;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        element_done();
        return true;
      case json::parse_event_t::value:
        element_done();
        return true;
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool object = false;
    std::unordered_set<std::string> keys;
    std::string key;        // object: the member being parsed
    std::size_t index = 0;  // array: elements completed so far = index of the current one
  };

  void element_done() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
  }

  // Pointer of the value the open frames lead to: each frame contributes the step to its current
  // child. "/" stands for the root, as users read it.
  std::string pointer() const {
    std::string out;
    for (const Frame& f : frames_) {
      append_pointer_token(out, f.object ? f.key : std::to_string(f.index));
      if (out.size() > kMaxPointerInError) break;
    }
    truncate_utf8(out, kMaxPointerInError);
    return out.empty() ? "/" : out;
  }

  std::size_t max_depth_;
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
  Checker checker(max_depth);
  try {
    json::parser_callback_t cb = [&checker](int /*depth*/, json::parse_event_t event,
                                            json& parsed) {
      return checker.on_event(event, parsed);
    };
    json value = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                             /*ignore_comments=*/false);
    if (!checker.error().empty()) {
      out.error = checker.error();
    } else if (value.is_discarded()) {
      out.error = "invalid JSON";
    } else {
      out.value = std::move(value);
    }
  } catch (const json::parse_error& e) {
    // The first problem in document order wins; nlohmann's own text quotes input, so it is
    // replaced by the byte offset.
    // e.byte counts bytes read (1-based); report the 0-based offset like the UTF-8 check.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    out.error =
        !checker.error().empty() ? checker.error() : "invalid JSON at byte " + std::to_string(at);
  } catch (const json::out_of_range&) {
    out.error = !checker.error().empty() ? checker.error() : "number out of range";
  } catch (const std::exception&) {
    out.error = !checker.error().empty() ? checker.error() : "cannot parse JSON";
  }
  return out;
}

}  // namespace clawgate::json

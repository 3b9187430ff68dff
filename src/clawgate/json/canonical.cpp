#include "clawgate/json/canonical.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

#include "clawgate/json/bytes.hpp"
#include "clawgate/json/walk.hpp"

namespace clawgate::json {

// Writes `s` as a JSON string the way nlohmann's dump(ensure_ascii = false) does; false on
// invalid UTF-8.
bool write_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = bytes::plain_run(p, n, true);
  if (i == n) {  // most strings: plain ASCII, copied whole
    out.reserve(out.size() + n + 2);
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return true;
  }
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (bool scanned = true; i < n; scanned = false) {
    if (!scanned) i += bytes::plain_run(p + i, n - i, true);
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const std::size_t len = bytes::utf8_sequence(p, i, n);
      if (len == 0) return false;
      i += len;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4U], kHex[c & 0x0FU]};
        out.append(esc, sizeof esc);
      }
    }
    run = ++i;
  }
  out.append(s.data() + run, n - run);
  out.push_back('"');
  return true;
}

void write_canonical_or_replace(const nlohmann::json& value, std::string& out,
                                const StringRewrite* rewrite) {
  const std::size_t mark = out.size();
  if (write_canonical(value, out, rewrite)) return;
  out.resize(mark);
  if (rewrite == nullptr) {
    out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  nlohmann::json copy = value;
  rewrite_strings(copy, *rewrite);
  write_canonical_or_replace(copy, out);
}

void write_string_or_replace(std::string_view s, std::string& out) {
  const std::size_t mark = out.size();
  if (write_string(s, out)) return;
  out.resize(mark);
  out +=
      nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

class Writer {
 public:
  Writer(std::string& out, const StringRewrite* rewrite) : out_(out), rewrite_(rewrite) {}

  bool value(const nlohmann::json& v) {
    switch (v.type()) {
      case nlohmann::json::value_t::object: {
        out_.push_back('{');
        bool first = true;
        for (const auto& [k, member] : v.get_ref<const nlohmann::json::object_t&>()) {
          if (!first) out_.push_back(',');
          first = false;
          if (rewrite_ != nullptr) {
            scratch_.assign(k);
            (*rewrite_)(scratch_);
            if (scratch_ != k) return false;
          }
          if (!write_string(k, out_)) return false;
          out_.push_back(':');
          if (!value(member)) return false;
        }
        out_.push_back('}');
        return true;
      }
      case nlohmann::json::value_t::array: {
        out_.push_back('[');
        bool first = true;
        for (const auto& e : v.get_ref<const nlohmann::json::array_t&>()) {
          if (!first) out_.push_back(',');
          first = false;
          if (!value(e)) return false;
        }
        out_.push_back(']');
        return true;
      }
      case nlohmann::json::value_t::string: {
        const auto& s = v.get_ref<const std::string&>();
        if (rewrite_ == nullptr) return write_string(s, out_);
        scratch_.assign(s);
        (*rewrite_)(scratch_);
        return write_string(scratch_, out_);
      }
      case nlohmann::json::value_t::number_integer:
        integer(v.get<std::int64_t>());
        return true;
      case nlohmann::json::value_t::number_unsigned:
        integer(v.get<std::uint64_t>());
        return true;
      case nlohmann::json::value_t::boolean:
        out_.append(v.get<bool>() ? "true" : "false");
        return true;
      case nlohmann::json::value_t::null:
        out_.append("null");
        return true;
      default:  // floats (nlohmann's shortest round-trip form), binary, discarded
        out_.append(v.dump());
        return true;
    }
  }

 private:
  template <class Int>
  void integer(Int i) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, i);
    out_.append(buf, r.ptr);
  }

  std::string& out_;
  const StringRewrite* rewrite_;
  std::string scratch_;
};

}  // namespace

bool write_canonical(const nlohmann::json& value, std::string& out, const StringRewrite* rewrite) {
  return Writer(out, rewrite).value(value);
}

std::string dump(const nlohmann::json& value) {
  std::string out;
  if (write_canonical(value, out)) return out;
  return value.dump();
}

}  // namespace clawgate::json

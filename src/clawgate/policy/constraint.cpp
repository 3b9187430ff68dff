// Match primitives of the policy language (SPEC §5): `*` globs, JSON Pointers, typed constraints
// and their URL and path operators. Everything here is pure and never throws on input values.

#include <idn2.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <utility>
#include <variant>

#include "clawgate/core/ascii.hpp"
#include "clawgate/policy/policy.hpp"

// The functions outside the anonymous namespaces are shared with policy.cpp, which declares
// them (the tree keeps no private headers).
namespace clawgate::policy::detail {

using nlohmann::json;

namespace {

// ---- small helpers ---------------------------------------------------------------------------

using core::ascii_lower;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return ascii_lower(c) - 'a' + 10;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

// JSON-escaped, so odd bytes in a value cannot forge or garble a message.
std::string quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// A short rendering of a request value for `explain` (values can be megabytes).
std::string describe(const json& v) {
  constexpr std::size_t kMax = 80;
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMax) {
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole chars
    s.resize(cut);
    s += "…";
  }
  return s;
}

std::string list_json(const std::vector<std::string>& items) {
  return json(items).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// ---- globs -----------------------------------------------------------------------------------

// Leftmost occurrence of `needle` in `hay` (KMP: linear, whatever the input).
std::size_t find_linear(std::string_view hay, std::string_view needle, bool ci) {
  const auto eq = [ci](char a, char b) { return ci ? ascii_lower(a) == ascii_lower(b) : a == b; };
  if (needle.empty()) return 0;
  std::vector<std::size_t> fail(needle.size(), 0);
  for (std::size_t i = 1, k = 0; i < needle.size(); ++i) {
    while (k > 0 && !eq(needle[i], needle[k])) k = fail[k - 1];
    if (eq(needle[i], needle[k])) ++k;
    fail[i] = k;
  }
  for (std::size_t i = 0, k = 0; i < hay.size(); ++i) {
    while (k > 0 && !eq(hay[i], needle[k])) k = fail[k - 1];
    if (eq(hay[i], needle[k])) ++k;
    if (k == needle.size()) return i + 1 - k;
  }
  return std::string_view::npos;
}

}  // namespace

// `*` matches any run of characters (including none); everything else is literal. The literal
// head and tail are anchored, the pieces between stars are found leftmost in order (greedy is
// exact for `*`-only globs), each with KMP: O(len(pattern) + len(value)), never backtracking.
bool glob_match(std::string_view pat, std::string_view s, bool ci) {
  const auto same = [ci](std::string_view a, std::string_view b) {
    return ci ? core::ascii_iequals(a, b) : a == b;
  };
  const std::size_t first = pat.find('*');
  if (first == std::string_view::npos) return same(pat, s);
  const std::size_t last = pat.rfind('*');
  const std::string_view head = pat.substr(0, first);
  const std::string_view tail = pat.substr(last + 1);
  if (head.size() + tail.size() > s.size()) return false;
  if (!same(head, s.substr(0, head.size())) || !same(tail, s.substr(s.size() - tail.size()))) {
    return false;
  }
  std::string_view window = s.substr(head.size(), s.size() - head.size() - tail.size());
  std::size_t p = first + 1;
  while (p < last) {
    const std::size_t q = pat.find('*', p);
    const std::string_view piece = pat.substr(p, q - p);
    p = q + 1;
    if (piece.empty()) continue;
    const std::size_t at = find_linear(window, piece, ci);
    if (at == std::string_view::npos) return false;
    window.remove_prefix(at + piece.size());
  }
  return true;
}

// ---- JSON Pointers (RFC 6901) -----------------------------------------------------------------

// "" when `p` is a usable pointer into a body: non-empty, starting with "/", escapes ~0 and ~1.
std::string pointer_error(std::string_view p) {
  if (p.empty() || p[0] != '/') return "must be a JSON Pointer starting with \"/\" (RFC 6901)";
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) {
      return "invalid JSON Pointer: \"~\" must be followed by 0 or 1 (RFC 6901)";
    }
  }
  if (has_control(p)) return "invalid JSON Pointer: must not contain control characters";
  if (!valid_utf8(p)) return "invalid JSON Pointer: not valid UTF-8";
  return "";
}

// nullptr when the pointer does not resolve (or is not a valid pointer).
const json* resolve_pointer(const json& doc, std::string_view p) {
  if (!pointer_error(p).empty()) return nullptr;
  const json* cur = &doc;
  std::size_t pos = 1;
  for (;;) {
    const std::size_t end = std::min(p.find('/', pos), p.size());
    std::string token;
    for (std::size_t i = pos; i < end; ++i) {
      if (p[i] == '~') {
        token += p[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        token += p[i];
      }
    }
    if (cur->is_object()) {
      const auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      // "0" or a number without leading zeros; "-" (past the end) never resolves.
      if (token.empty() || token.size() > 18 || (token.size() > 1 && token[0] == '0') ||
          !std::all_of(token.begin(), token.end(), is_digit)) {
        return nullptr;
      }
      const auto index = static_cast<std::size_t>(std::strtoull(token.c_str(), nullptr, 10));
      if (index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
    if (end == p.size()) return cur;
    pos = end + 1;
  }
}

namespace {

// ---- hosts -----------------------------------------------------------------------------------

// WHATWG's "ends in a number": such a host is parsed as IPv4 by browsers, Node and inet_aton
// ("2130706433", "0x7f.1", "127.1"), so it is an IP literal in disguise.
bool numeric_looking(std::string_view host) {
  const std::size_t dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(), is_digit)) return true;
  return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
         std::all_of(last.begin() + 2, last.end(), is_hex);
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A registered name, lower-cased, IDNA-normalised (UTS #46 non-transitional, NFC) to its ASCII
// form, one trailing dot dropped; nullopt when it is not a valid DNS name.
std::optional<std::string> normalize_name(std::string_view in) {
  if (!in.empty() && in.back() == '.') in.remove_suffix(1);
  if (in.empty() || !valid_utf8(in)) return std::nullopt;
  std::string out = ascii_lower(in);
  bool ace = false;
  for (std::size_t i = 0; i + 4 <= out.size(); ++i) {
    if ((i == 0 || out[i - 1] == '.') && out.compare(i, 4, "xn--") == 0) ace = true;
  }
  // Plain ASCII names are their own IDNA form; Unicode and A-labels go through libidn2, which
  // also rejects invalid punycode.
  if (!is_ascii(out) || ace) {
    char* ascii = nullptr;
    const int rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(out.c_str()),
                                  reinterpret_cast<std::uint8_t**>(&ascii),
                                  IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK || ascii == nullptr) {
      if (ascii != nullptr) idn2_free(ascii);
      return std::nullopt;
    }
    out = ascii_lower(ascii);
    idn2_free(ascii);
    if (!out.empty() && out.back() == '.') out.pop_back();  // a mapped ideographic full stop
  }
  if (out.empty() || out.size() > 253) return std::nullopt;
  std::size_t label = 0;
  for (const char c : out) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
    if (!ok || ++label > 63) return std::nullopt;
  }
  if (label == 0) return std::nullopt;
  return out;
}

std::optional<std::uint32_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  const auto n = static_cast<std::uint32_t>(std::strtoul(std::string(s).c_str(), nullptr, 10));
  if (n == 0 || n > 65535) return std::nullopt;
  return n;
}

// One url_host_in entry. `host` is the normalised literal ("a.example", "127.0.0.1", "[::1]") or,
// for a wildcard, the suffix after "*.". Port 0 = any.
struct HostPattern {
  bool wildcard = false;
  std::string host;
  std::uint32_t port = 0;
  std::string text() const {
    std::string s = wildcard ? "*." + host : host;
    if (port != 0) s += ":" + std::to_string(port);
    return s;
  }
};

std::variant<HostPattern, std::string> parse_host_pattern(std::string_view pat) {
  HostPattern hp;
  if (pat.empty()) return std::string("must not be empty");
  if (has_control(pat)) return std::string("must not contain control characters");
  if (pat.find_first_of("/@?#\\") != std::string_view::npos) {
    return std::string("must be a host name (no scheme, path or userinfo)");
  }
  std::string_view host = pat;
  std::string_view port;
  bool has_port = false;
  if (pat.front() == '[') {
    const std::size_t close = pat.find(']');
    if (close == std::string_view::npos) return std::string("unterminated IP literal");
    host = pat.substr(0, close + 1);
    const std::string_view rest = pat.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::string("junk after the IP literal");
      port = rest.substr(1);
      has_port = true;
    }
  } else if (const std::size_t colon = pat.rfind(':'); colon != std::string_view::npos) {
    if (pat.find(':') != colon) return std::string("IPv6 literals must be written in brackets");
    host = pat.substr(0, colon);
    port = pat.substr(colon + 1);
    has_port = true;
  }
  if (has_port) {
    const auto n = parse_port(port);
    if (!n) return std::string("the port must be a number from 1 to 65535");
    hp.port = *n;
  }
  if (host.empty()) return std::string("has no host");

  if (host.front() == '[') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (!inner.empty() && (inner.front() == 'v' || inner.front() == 'V')) {
      // IPvFuture: compared literally, case-insensitively.
      if (inner.find('.') == std::string_view::npos || inner.size() < 4) {
        return std::string("invalid IPvFuture literal");
      }
      hp.host = "[" + ascii_lower(inner) + "]";
      return hp;
    }
    auto v6 = boost::urls::parse_ipv6_address(inner);
    if (!v6) return std::string("invalid IPv6 literal");
    hp.host = "[" + v6->to_string() + "]";
    return hp;
  }
  if (host.size() >= 2 && host.substr(0, 2) == "*.") {
    host.remove_prefix(2);
    hp.wildcard = true;
  }
  if (host.find('*') != std::string_view::npos) {
    return std::string("'*' is only allowed as a whole first label (\"*.example.com\")");
  }
  if (auto v4 = boost::urls::parse_ipv4_address(host)) {
    if (hp.wildcard) return std::string("a wildcard cannot precede an IP address");
    hp.host = v4->to_string();
    return hp;
  }
  auto name = normalize_name(host);
  if (!name) return std::string("not a valid host name (IDNA)");
  if (hp.wildcard && numeric_looking(*name)) {
    return std::string("a wildcard cannot precede a numeric host");
  }
  hp.host = std::move(*name);
  return hp;
}

// The URL string, with raw non-ASCII (an IRI, as clients send Unicode hosts) percent-encoded so
// that it can be parsed per RFC 3986. nullopt for invalid UTF-8.
std::optional<std::string> iri_to_uri(std::string_view s) {
  if (is_ascii(s)) return std::string(s);
  if (!valid_utf8(s)) return std::nullopt;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

// Parses an absolute URI; refuses what Boost.URL 1.81 lets through but RFC 3986 does not: after
// an authority the path must be empty or start with "/" (Boost reads "http://1.2.3.4.evil/" as
// host 1.2.3.4 with path ".evil/").
std::optional<boost::urls::url_view> parse_url(const std::string& buffer) {
  auto r = boost::urls::parse_uri(buffer);
  if (!r) return std::nullopt;
  const boost::urls::url_view u = *r;
  if (u.has_authority()) {
    const auto path = u.encoded_path();
    if (!path.empty() && path.front() != '/') return std::nullopt;
  }
  return u;
}

struct UrlHost {
  std::string host;           // normalised, as a HostPattern literal would be
  bool literal_only = false;  // IP literals and numeric-looking names: only exact entries match
  std::uint32_t port = 0;
};

std::variant<UrlHost, std::string> url_host(std::string_view value) {
  const auto buffer = iri_to_uri(value);
  if (!buffer) return std::string("not a URL (invalid UTF-8)");
  const auto parsed = parse_url(*buffer);
  if (!parsed) return std::string("not a URL (RFC 3986)");
  const boost::urls::url_view& u = *parsed;
  const std::string scheme = ascii_lower(std::string_view(u.scheme()));
  if (scheme != "http" && scheme != "https") {
    return "scheme " + quote(scheme) + " is not http or https";
  }
  if (!u.has_authority()) return std::string("the URL has no host");
  // "user@host" is the classic confusion of which part is the host; never allowed, even "@".
  if (u.has_userinfo()) return std::string("the URL has userinfo (\"…@\")");
  UrlHost out;
  out.port = scheme == "https" ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {
    const auto n = parse_port(std::string_view(u.port()));
    if (!n) return "port " + quote(std::string_view(u.port())) + " is out of range";
    out.port = *n;
  }
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      out.host = u.host_ipv4_address().to_string();
      out.literal_only = true;
      return out;
    case boost::urls::host_type::ipv6:
      out.host = "[" + u.host_ipv6_address().to_string() + "]";
      out.literal_only = true;
      return out;
    case boost::urls::host_type::ipvfuture:
      out.host = ascii_lower(std::string_view(u.encoded_host()));
      out.literal_only = true;
      return out;
    case boost::urls::host_type::name:
      break;
    default:
      return std::string("the URL has no host");
  }
  const std::string_view encoded = u.encoded_host();
  if (encoded.empty()) return std::string("the URL has no host");
  // Percent-escapes in a host are only legitimate for non-ASCII bytes (an encoded IRI); an
  // escaped ASCII byte ("%2e", "%00") is how parsers are made to disagree, so it never matches.
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      decoded += encoded[i];
      continue;
    }
    if (i + 2 >= encoded.size() || !is_hex(encoded[i + 1]) || !is_hex(encoded[i + 2])) {
      return std::string("the host has a bad percent-escape");
    }
    const int b = hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]);
    if (b < 0x80) return "the host has a percent-escaped ASCII character";
    decoded += static_cast<char>(b);
    i += 2;
  }
  auto name = normalize_name(decoded);
  if (!name) return "host " + quote(decoded) + " is not a valid host name (IDNA)";
  out.host = std::move(*name);
  out.literal_only = numeric_looking(out.host);
  return out;
}

// "" when the URL's host is listed; otherwise why not.
std::string check_url_host(std::string_view value, const std::vector<std::string>& patterns) {
  auto parsed = url_host(value);
  if (auto* why = std::get_if<std::string>(&parsed)) return *why;
  const UrlHost& h = std::get<UrlHost>(parsed);
  bool host_listed = false;
  for (const auto& text : patterns) {
    // Patterns are normalised at load; doing it again keeps hand-built constraints honest.
    auto pp = parse_host_pattern(text);
    const auto* p = std::get_if<HostPattern>(&pp);
    if (p == nullptr) continue;
    bool host_ok = false;
    if (p->wildcard) {
      host_ok = !h.literal_only && h.host.size() > p->host.size() + 1 &&
                h.host.compare(h.host.size() - p->host.size(), p->host.size(), p->host) == 0 &&
                h.host[h.host.size() - p->host.size() - 1] == '.';
    } else {
      host_ok = h.host == p->host;
    }
    if (!host_ok) continue;
    host_listed = true;
    if (p->port == 0 || p->port == h.port) return "";
  }
  if (host_listed) {
    return "host " + quote(h.host) + " is listed, but not with port " + std::to_string(h.port);
  }
  if (h.literal_only) return "host " + quote(h.host) + " is an IP address that is not listed";
  return "host " + quote(h.host) + " is not listed";
}

bool valid_scheme(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' ||
           c == '-' || c == '.';
  });
}

std::string check_url_scheme(std::string_view value, const std::vector<std::string>& schemes) {
  const auto buffer = iri_to_uri(value);
  if (!buffer) return "not a URL (invalid UTF-8)";
  const auto parsed = parse_url(*buffer);
  if (!parsed) return "not a URL (RFC 3986)";
  const std::string scheme = ascii_lower(std::string_view(parsed->scheme()));
  for (const auto& s : schemes) {
    if (ascii_lower(s) == scheme) return "";
  }
  return "scheme " + quote(scheme) + " is not listed";
}

// ---- paths -----------------------------------------------------------------------------------

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= p.size()) {
    const std::size_t end = std::min(p.find('/', pos), p.size());
    out.push_back(p.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// A path_under folder: absolute, no "..", normalised ("//" and "." collapsed, no trailing "/").
std::variant<std::string, std::string> normalize_folder(std::string_view f) {
  using R = std::variant<std::string, std::string>;
  if (f.empty() || f.front() != '/') return R(std::in_place_index<1>, "must be an absolute path");
  if (f.find('\0') != std::string_view::npos || has_control(f)) {
    return R(std::in_place_index<1>, "must not contain control characters");
  }
  std::string out;
  for (const auto seg : split_path(f)) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") return R(std::in_place_index<1>, "must not contain \"..\"");
    out += '/';
    out += seg;
  }
  if (out.empty()) out = "/";
  return R(std::in_place_index<0>, out);
}

// "" when `path` lies in `folder` (or is it), resolving "." and "//" lexically. A ".." is
// honoured only while the walk is strictly below the folder, so no ".." ever leaves it, even one
// that comes back ("/srv/data/../data/x") or one before the walk has entered it.
bool under_folder(std::string_view path, std::string_view folder_text) {
  const auto nf = normalize_folder(folder_text);
  if (nf.index() != 0) return false;
  std::vector<std::string_view> folder;
  const std::string& f = std::get<0>(nf);
  for (const auto seg : split_path(f)) {
    if (!seg.empty()) folder.push_back(seg);
  }
  std::vector<std::string_view> stack;
  // inside = stack starts with `folder` (the walk is at or below the folder).
  const auto inside = [&]() {
    return stack.size() >= folder.size() && std::equal(folder.begin(), folder.end(), stack.begin());
  };
  for (const auto seg : split_path(path)) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!(inside() && stack.size() > folder.size())) return false;
      stack.pop_back();
      continue;
    }
    stack.push_back(seg);
  }
  return inside();
}

std::string check_path_under(std::string_view path, const std::vector<std::string>& folders) {
  if (path.find('\0') != std::string_view::npos) return "the path contains NUL";
  if (path.empty() || path.front() != '/') return "path " + quote(path) + " is not absolute";
  for (const auto& f : folders) {
    if (under_folder(path, f)) return "";
  }
  return "path " + quote(path) + " is not under " + list_json(folders);
}

// ---- constraints -----------------------------------------------------------------------------

constexpr std::array<std::string_view, 7> kTypes = {"string", "number", "integer", "boolean",
                                                    "object", "array",  "null"};

bool type_is(const json& v, std::string_view t) {
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer();  // a JSON integer: 1, not 1.0
  if (t == "boolean") return v.is_boolean();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "null") return v.is_null();
  return false;
}

std::string type_of(const json& v) {
  if (v.is_number_integer()) return "integer";
  return v.type_name();
}

std::string not_a(std::string_view op, std::string_view wanted, const json& v) {
  return std::string(op) + ": not " + std::string(wanted) + " (" + type_of(v) + ")";
}

// "" when `c` holds for `v`; otherwise the first failing operator and why. `explain` wants the
// words, evaluation only the emptiness; both share this one definition so they cannot drift.
std::string check(const Constraint& c, const json* v) {
  if (v == nullptr) {
    if (c.exists == false) return "";
    return "no value at this pointer";
  }
  if (c.exists == false) return "exists: false, but the value is present";
  if (c.type && !type_is(*v, *c.type)) {
    return "type: " + type_of(*v) + " is not " + *c.type;
  }
  if (c.equals && *v != *c.equals) {
    return "equals: " + describe(*v) + " is not " + describe(*c.equals);
  }
  if (c.in && std::none_of(c.in->begin(), c.in->end(), [v](const json& e) { return e == *v; })) {
    return "in: " + describe(*v) + " is not listed";
  }
  if (c.not_in) {
    if (std::any_of(c.not_in->begin(), c.not_in->end(), [v](const json& e) { return e == *v; })) {
      return "not_in: " + describe(*v) + " is listed";
    }
  }
  if (c.glob) {
    if (!v->is_string()) return not_a("glob", "a string", *v);
    if (!c.glob->matches(v->get_ref<const std::string&>())) {
      return "glob: " + describe(*v) + " does not match " + list_json(c.glob->alternatives);
    }
  }
  if (c.regex) {
    if (!v->is_string()) return not_a("regex", "a string", *v);
    if (!c.regex->ok() || !re2::RE2::PartialMatch(v->get_ref<const std::string&>(), *c.regex)) {
      return "regex: " + describe(*v) + " does not match " + quote(c.regex->pattern());
    }
  }
  if (c.prefix) {
    if (!v->is_string()) return not_a("prefix", "a string", *v);
    if (!v->get_ref<const std::string&>().starts_with(*c.prefix)) {
      return "prefix: " + describe(*v) + " does not start with " + quote(*c.prefix);
    }
  }
  if (c.min || c.max) {
    if (!v->is_number()) return not_a(c.min ? "min" : "max", "a number", *v);
    const double d = v->get<double>();
    if (c.min && !(d >= *c.min))
      return "min: " + describe(*v) + " is less than " + describe(*c.min);
    if (c.max && !(d <= *c.max)) {
      return "max: " + describe(*v) + " is greater than " + describe(*c.max);
    }
  }
  if (c.max_length) {
    std::size_t n = 0;
    if (v->is_string()) {
      n = code_points(v->get_ref<const std::string&>());
    } else if (v->is_array()) {
      n = v->size();
    } else {
      return not_a("max_length", "a string or an array", *v);
    }
    if (n > *c.max_length) {
      return "max_length: length " + std::to_string(n) + " is greater than " +
             std::to_string(*c.max_length);
    }
  }
  if (c.url_scheme_in) {
    if (!v->is_string()) return not_a("url_scheme_in", "a string", *v);
    const std::string why = check_url_scheme(v->get_ref<const std::string&>(), *c.url_scheme_in);
    if (!why.empty()) return "url_scheme_in: " + why;
  }
  if (c.url_host_in) {
    if (!v->is_string()) return not_a("url_host_in", "a string", *v);
    const std::string why = check_url_host(v->get_ref<const std::string&>(), *c.url_host_in);
    if (!why.empty()) return "url_host_in: " + why;
  }
  if (c.path_under) {
    if (!v->is_string()) return not_a("path_under", "a string", *v);
    const std::string why = check_path_under(v->get_ref<const std::string&>(), *c.path_under);
    if (!why.empty()) return "path_under: " + why;
  }
  if (c.each) {
    if (!v->is_array()) return not_a("each", "an array", *v);
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string why = check(*c.each, &(*v)[i]);
      if (!why.empty()) return "each[" + std::to_string(i) + "]: " + why;
    }
  }
  return "";
}

// ---- loading constraints ---------------------------------------------------------------------

// Throws nothing: returns the constraint or an error "<operator path>: <what>".
class ConstraintReader {
 public:
  std::variant<Constraint, std::string> read(const json& v, const std::string& path) {
    if (!v.is_object()) {
      return err(path, "must be an object of operators (e.g. {\"equals\": …})");
    }
    if (v.empty()) return err(path, "must not be empty (give at least one operator)");
    Constraint c;
    for (const auto& item : v.items()) {
      const std::string& op = item.key();
      const json& x = item.value();
      const std::string w = path.empty() ? op : path + "." + op;
      std::string e;
      if (op == "equals") {
        c.equals = x;
      } else if (op == "in" || op == "not_in") {
        if (!x.is_array() || x.empty()) {
          e = "must be a non-empty array of JSON values";
        } else {
          (op == "in" ? c.in : c.not_in) = std::vector<json>(x.begin(), x.end());
        }
      } else if (op == "glob") {
        e = read_glob(x, c);
      } else if (op == "regex") {
        e = read_regex(x, c);
      } else if (op == "prefix") {
        if (!x.is_string() || x.get_ref<const std::string&>().empty()) {
          e = "must be a non-empty string";
        } else {
          c.prefix = x.get<std::string>();
        }
      } else if (op == "min" || op == "max") {
        if (!x.is_number()) {
          e = "must be a number";
        } else {
          (op == "min" ? c.min : c.max) = x.get<double>();
        }
      } else if (op == "max_length") {
        if (!x.is_number_unsigned()) {
          e = "must be a non-negative integer";
        } else {
          c.max_length = static_cast<std::size_t>(x.get<std::uint64_t>());
        }
      } else if (op == "exists") {
        if (!x.is_boolean()) {
          e = "must be true or false";
        } else {
          c.exists = x.get<bool>();
        }
      } else if (op == "type") {
        if (!x.is_string() || std::find(kTypes.begin(), kTypes.end(),
                                        x.get_ref<const std::string&>()) == kTypes.end()) {
          e = "must be one of string, number, integer, boolean, object, array, null";
        } else {
          c.type = x.get<std::string>();
        }
      } else if (op == "url_host_in") {
        e = read_hosts(x, c, w);
        if (!e.empty()) return e;
      } else if (op == "url_scheme_in") {
        e = read_schemes(x, c);
      } else if (op == "path_under") {
        e = read_folders(x, c, w);
        if (!e.empty()) return e;
      } else if (op == "each") {
        auto inner = read(x, w);
        if (auto* ie = std::get_if<std::string>(&inner)) return *ie;
        c.each = std::make_shared<const Constraint>(std::get<Constraint>(std::move(inner)));
      } else {
        return err(path, "unknown operator " + quote(op));
      }
      if (!e.empty()) return err(w, e);
    }
    if (c.exists == false && v.size() > 1) {
      return err(path,
                 "\"exists\": false cannot be combined with other operators (they all need "
                 "a value)");
    }
    if (c.min && c.max && *c.min > *c.max) return err(path, "min is greater than max");
    return c;
  }

 private:
  static std::string err(const std::string& path, const std::string& what) {
    return path.empty() ? what : path + ": " + what;
  }

  static std::string read_glob(const json& x, Constraint& c) {
    Pattern p;
    if (x.is_string()) {
      p.alternatives.push_back(x.get<std::string>());
    } else if (x.is_array() && !x.empty() &&
               std::all_of(x.begin(), x.end(), [](const json& e) { return e.is_string(); })) {
      for (const auto& e : x) p.alternatives.push_back(e.get<std::string>());
    } else {
      return "must be a string or a non-empty array of strings";
    }
    for (const auto& a : p.alternatives) {
      if (a.empty()) return "must not contain an empty string";
    }
    c.glob = std::move(p);
    return "";
  }

  static std::string read_regex(const json& x, Constraint& c) {
    if (!x.is_string() || x.get_ref<const std::string&>().empty()) {
      return "must be a non-empty string (RE2 syntax)";
    }
    RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_shared<const re2::RE2>(x.get<std::string>(), opts);
    if (!re->ok()) return "invalid RE2 regex: " + re->error();
    c.regex = std::move(re);
    return "";
  }

  static std::string read_hosts(const json& x, Constraint& c, const std::string& w) {
    if (!x.is_array() || x.empty()) return w + ": must be a non-empty array of host names";
    std::vector<std::string> out;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::string wi = w + "[" + std::to_string(i) + "]";
      if (!x[i].is_string()) return wi + ": must be a string";
      auto pp = parse_host_pattern(x[i].get_ref<const std::string&>());
      if (auto* e = std::get_if<std::string>(&pp)) {
        return wi + ": " + quote(x[i].get_ref<const std::string&>()) + ": " + *e;
      }
      std::string text = std::get<HostPattern>(pp).text();
      if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
    }
    c.url_host_in = std::move(out);
    return "";
  }

  static std::string read_schemes(const json& x, Constraint& c) {
    static const std::string kWhat = "must be a non-empty array of URL schemes (\"https\")";
    if (!x.is_array() || x.empty()) return kWhat;
    std::vector<std::string> out;
    for (const auto& e : x) {
      if (!e.is_string() || !valid_scheme(e.get_ref<const std::string&>())) return kWhat;
      std::string s = ascii_lower(e.get_ref<const std::string&>());
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    }
    c.url_scheme_in = std::move(out);
    return "";
  }

  static std::string read_folders(const json& x, Constraint& c, const std::string& w) {
    if (!x.is_array() || x.empty()) return w + ": must be a non-empty array of absolute folders";
    std::vector<std::string> out;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::string wi = w + "[" + std::to_string(i) + "]";
      if (!x[i].is_string()) return wi + ": must be a string";
      auto nf = normalize_folder(x[i].get_ref<const std::string&>());
      if (nf.index() == 1) {
        return wi + ": " + quote(x[i].get_ref<const std::string&>()) + ": " + std::get<1>(nf);
      }
      std::string f = std::get<0>(std::move(nf));
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(std::move(f));
    }
    c.path_under = std::move(out);
    return "";
  }
};

}  // namespace

std::variant<Constraint, std::string> parse_constraint(const json& v) {
  return ConstraintReader().read(v, "");
}

}  // namespace clawgate::policy::detail

namespace clawgate::policy {

bool Pattern::matches(std::string_view value) const {
  return std::any_of(alternatives.begin(), alternatives.end(), [&](const std::string& a) {
    return detail::glob_match(a, value, case_insensitive);
  });
}

bool Constraint::holds(const nlohmann::json* value) const {
  return detail::check(*this, value).empty();
}

std::string Constraint::why_not(const nlohmann::json* value) const {
  return detail::check(*this, value);
}

}  // namespace clawgate::policy

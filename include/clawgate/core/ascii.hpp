#pragma once
// ASCII case for protocol tokens (header field names, URL schemes and hosts, ids, the Bearer
// scheme, policy names): no locale and no library call per byte. Only A-Z change; every other
// byte, non-ASCII included, stays as it is.

#include <cstddef>
#include <string>
#include <string_view>

namespace clawgate::core {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Equal but for ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// `s` starts with `prefix` but for ASCII case (a shorter `s` fails the size check of
// ascii_iequals).
constexpr bool ascii_istarts_with(std::string_view s, std::string_view prefix) {
  return ascii_iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace clawgate::core

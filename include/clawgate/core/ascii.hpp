#pragma once
// ASCII case for protocol tokens (header field names, URL schemes and hosts, ids, the Bearer
// scheme): no locale and no library call per byte. Only A-Z change; every other byte, non-ASCII
// included, stays as it is.

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

}  // namespace clawgate::core

#pragma once
// The approval webhook's URL (SPEC §3 `approvals.webhook_url`, §6): http://host[:port][/path].
// Header-only and free of I/O on purpose: config validation (clawgate_logic) and the sender
// (clawgate_net, proxy/webhook.hpp) must agree on what is usable, and the logic library cannot
// link against the net library.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "clawgate/core/ascii.hpp"

namespace clawgate::proxy {

// Where the events go, split for the resolver, the request line and the Host header.
struct WebhookUrl {
  std::string host;         // as written; IPv6 without the brackets
  std::uint16_t port = 80;  // 80 when the URL names none
  std::string target;       // path and query, "/" when empty
  std::string host_header;  // host[:port] ([v6]:port for IPv6); the port only when it is not 80
};

// A usable URL, or a message naming what is wrong. Messages never repeat the URL, which could
// carry credentials the operator did not mean to log.
inline std::variant<WebhookUrl, std::string> parse_webhook_url(std::string_view url) {
  if (url.empty()) return std::string("must be a non-empty http:// URL");
  for (const char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return std::string("must not contain spaces, control or non-ASCII characters");
    }
  }
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    return std::string("must be an http:// URL (http://host[:port][/path])");
  }
  const std::string scheme = core::ascii_lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    // Echo the scheme only when it looks like one (no ':' or '@' that could belong to a secret).
    const bool echo =
        !scheme.empty() && scheme.size() <= 16 &&
        scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") == std::string::npos;
    if (!echo) return std::string("must start with http://");
    return "must start with http:// (got scheme \"" + scheme + "\")";
  }

  const std::string_view rest = url.substr(sep + 3);
  const std::size_t auth_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, auth_end);
  const std::string_view tail = rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) {
    return std::string("must not contain userinfo (user:password@)");
  }
  if (tail.find('#') != std::string_view::npos) return std::string("must not have a fragment");
  if (scheme == "https") {
    return std::string(
        "https:// is not supported in this build; use an http:// endpoint on a trusted network "
        "or a local relay");
  }

  WebhookUrl out;
  std::string_view port_text;
  bool has_port = false;
  bool ipv6 = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("has an unterminated IPv6 bracket");
    out.host = std::string(authority.substr(1, close - 1));
    if (out.host.empty() ||
        out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return std::string("host must be a valid IPv6 literal inside brackets");
    }
    ipv6 = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("has unexpected text after the IPv6 host");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) return std::string("must name a host (http://host[:port][/path])");
    const bool plain = out.host.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
                       std::string::npos;
    if (!plain) return std::string("host must be a DNS name or an IP literal");
  }
  if (has_port) {
    unsigned value = 0;
    const char* first = port_text.data();
    const char* last = port_text.data() + port_text.size();
    const auto [end, ec] = std::from_chars(first, last, value);
    if (port_text.empty() || ec != std::errc() || end != last || value == 0 || value > 65535) {
      return std::string("port must be an integer from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  out.target = std::string(tail);
  if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
  out.host_header = ipv6 ? "[" + out.host + "]" : out.host;
  if (out.port != 80) out.host_header += ":" + std::to_string(out.port);
  return out;
}

// nullopt when `url` is usable, else a message naming what is wrong (for config validation).
inline std::optional<std::string> check_webhook_url(std::string_view url) {
  auto parsed = parse_webhook_url(url);
  if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
  return std::nullopt;
}

}  // namespace clawgate::proxy

#include "clawgate/upstream/headers.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <set>

#include "clawgate/core/ascii.hpp"

namespace clawgate::upstream {
namespace {

// RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still see.
bool is_hop_by_hop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "te" || n == "trailer" ||
         n == "transfer-encoding" || n == "upgrade" || n == "proxy-connection";
}

std::set<std::string> connection_listed(const http::fields& in) {
  std::set<std::string> out;
  for (auto it = in.find(http::field::connection); it != in.end() && it->name() == http::field::connection;
       ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      const auto comma = v.find(',');
      std::string_view tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (!tok.empty()) out.insert(core::ascii_lower(tok));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

}  // namespace

bool forwards_header(std::string_view n, const std::vector<std::string>& allowed_openclaw) {
  if (n == "authorization" || n == "cookie" || n == "host" || n == "content-length" ||
      n == "expect" || n == "accept-encoding" || n == "forwarded" || n == "x-real-ip") {
    return false;
  }
  if (is_hop_by_hop(n) || n.starts_with("proxy-") || n.starts_with("x-forwarded-") ||
      n.starts_with("x-clawgate-")) {
    return false;
  }
  if (n.starts_with("x-openclaw-")) {
    return std::find(allowed_openclaw.begin(), allowed_openclaw.end(), n) != allowed_openclaw.end();
  }
  return true;
}

void rebuild_request_fields(const http::fields& in,
                            const std::vector<std::string>& allowed_openclaw,
                            std::string_view gateway_token, std::string_view host,
                            http::fields& out) {
  const auto listed = connection_listed(in);
  for (const auto& f : in) {
    const std::string n = core::ascii_lower(f.name_string());
    if (!forwards_header(n, allowed_openclaw) || listed.count(n) != 0) continue;
    out.insert(f.name_string(), f.value());
  }
  out.set(http::field::host, host);
  std::string auth = "Bearer ";
  auth.append(gateway_token);
  out.set(http::field::authorization, auth);
}

void filter_response_fields(const http::fields& in, http::fields& out) {
  const auto listed = connection_listed(in);
  for (const auto& f : in) {
    const std::string n = core::ascii_lower(f.name_string());
    if (is_hop_by_hop(n) || n == "content-length" || n.starts_with("proxy-") ||
        listed.count(n) != 0) {
      continue;
    }
    out.insert(f.name_string(), f.value());
  }
}

}  // namespace clawgate::upstream

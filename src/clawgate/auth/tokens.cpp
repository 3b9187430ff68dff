#include "clawgate/auth/tokens.hpp"

#include <cstddef>
#include <utility>

#include "clawgate/core/ascii.hpp"
#include "clawgate/core/crypto.hpp"

namespace clawgate::auth {
namespace {

using core::ascii_lower;

constexpr std::string_view kScheme = "bearer";

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (ascii_lower(authorization[i]) != kScheme[i]) return std::nullopt;
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (rest.front() != ' ') return std::nullopt;  // "Bearerx" is another scheme
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return std::nullopt;
  // Visible ASCII only: no inner or trailing white space, no controls, no raw 8-bit bytes.
  for (char c : rest) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return std::nullopt;
  }
  return rest;
}

Authenticator::Authenticator(std::vector<Principal> principals)
    : principals_(std::move(principals)) {
  // Digests are compared as lower-case hex; accept upper-case configuration as well.
  for (Principal& p : principals_) {
    for (char& c : p.token_sha256) c = ascii_lower(c);
  }
}

std::optional<Identity> Authenticator::authenticate(std::string_view authorization) const {
  const std::optional<std::string_view> token = bearer_token(authorization);
  if (!token) return std::nullopt;
  const std::string digest = core::sha256_hex(*token);
  // Compare with every digest, without early exit, so timing does not reveal which (or whether
  // an early) principal matched.
  const Principal* match = nullptr;
  for (const Principal& p : principals_) {
    const bool equal = core::constant_time_equal(digest, p.token_sha256);
    if (equal && match == nullptr) match = &p;
  }
  if (match == nullptr) return std::nullopt;
  return Identity{match->id, match->roles};
}

std::optional<std::string> new_token() {
  std::optional<std::string> hex = core::random_hex(32);
  if (!hex) return std::nullopt;
  return "cgt_" + *hex;
}

std::string hash_token(std::string_view token) { return core::sha256_hex(token); }

}  // namespace clawgate::auth

#pragma once
// Bearer-token authentication (SPEC §2 step 2): tokens are configured as SHA-256 hex digests and
// compared in constant time; the presented token is never stored or logged.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clawgate::auth {

struct Identity {
  std::string id;
  std::vector<std::string> roles;
};

struct Principal {
  std::string id;
  std::string token_sha256;  // lower-case hex
  std::vector<std::string> roles;
};

// Extracts the token from an Authorization value: scheme "Bearer" (case-insensitive), one or more
// spaces, a non-empty token without whitespace. nullopt for anything else.
std::optional<std::string_view> bearer_token(std::string_view authorization);

class Authenticator {
 public:
  explicit Authenticator(std::vector<Principal> principals);
  // Hashes the presented token and compares it with every configured digest (no early exit).
  std::optional<Identity> authenticate(std::string_view authorization) const;

 private:
  std::vector<Principal> principals_;
};

// `token new`: 256 random bits, "cgt_" + 64 hex digits. nullopt when the CSPRNG fails.
std::optional<std::string> new_token();
// `token hash`: SHA-256 hex of the token bytes.
std::string hash_token(std::string_view token);

}  // namespace clawgate::auth

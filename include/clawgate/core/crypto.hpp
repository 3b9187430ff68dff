#pragma once
// Small wrappers over OpenSSL 3: digests, HMAC, randomness and constant-time comparison.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace clawgate::core {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // 64 lower-case hex digits
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

std::string to_hex(const std::uint8_t* data, std::size_t size);
inline std::string to_hex(const Sha256Digest& d) { return to_hex(d.data(), d.size()); }
bool is_lower_hex(std::string_view s, std::size_t length);

// Room for one OpenSSL SHA256_CTX, held in place (no allocation); crypto.cpp checks the size.
struct Sha256State {
  alignas(8) unsigned char bytes[112];
};

// Incremental SHA-256 for bodies relayed piece by piece (streams).
class Sha256Stream {
 public:
  Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(std::string_view data);
  std::string hex();  // finalises; call once

 private:
  Sha256State state_;
};

// HMAC-SHA256 under one fixed key, for many messages: the padded key's two blocks are hashed once,
// not per message (the audit writer hashes every record with the same key). hex() does not
// change the object, so concurrent calls are safe.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  // Same result as hmac_sha256_hex(key, data); feeds the pieces in order without joining them.
  std::string hex(std::initializer_list<std::string_view> pieces) const;

 private:
  // SHA-256 states after the key XOR ipad and the key XOR opad blocks; cleansed on destruction.
  Sha256State inner_;
  Sha256State outer_;
};

// Compares in time that depends only on the lengths, never on where the bytes differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` cryptographically random bytes as lower-case hex; nullopt if the CSPRNG failed.
std::optional<std::string> random_hex(std::size_t bytes);

}  // namespace clawgate::core

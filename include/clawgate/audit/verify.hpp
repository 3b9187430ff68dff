#pragma once
// `clawgate audit verify` (SPEC §8): recomputes the hash chain of one or more audit files, in
// order (FILE, then rotated FILE.000001, ... as the operator lists them), and reports the first
// bad record with its file, 1-based line and seq.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clawgate::audit {

struct VerifyResult {
  bool ok = false;
  std::uint64_t records = 0;
  std::uint64_t last_seq = 0;
  std::string last_hash;
  // On failure: where and what.
  std::string file;
  std::uint64_t line = 0;
  std::optional<std::uint64_t> seq;
  std::string problem;  // "bad hash", "broken prev link", "seq gap: expected 7, found 9", ...
};

// `key`: the HMAC key's raw bytes; nullopt verifies plain SHA-256 chains.
VerifyResult verify_files(const std::vector<std::string>& files, const std::optional<std::string>& key);

}  // namespace clawgate::audit

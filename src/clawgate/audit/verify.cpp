#include "clawgate/audit/verify.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/core/crypto.hpp"
#include "clawgate/json/strict.hpp"

namespace clawgate::audit {
namespace {

VerifyResult fail(VerifyResult r, const std::string& file, std::uint64_t line,
                  std::optional<std::uint64_t> seq, std::string problem) {
  r.ok = false;
  r.file = file;
  r.line = line;
  r.seq = seq;
  r.problem = std::move(problem);
  return r;
}

}  // namespace

VerifyResult verify_files(const std::vector<std::string>& files,
                          const std::optional<std::string>& key) {
  VerifyResult r;
  std::string prev(64, '0');
  std::uint64_t expected_seq = 1;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(r, file, 0, std::nullopt, "cannot read the file");
    std::string line;
    std::uint64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (in.eof()) {
        // The last line has no newline: a write that never finished (or a cut file).
        return fail(r, file, n, std::nullopt, "truncated record (no terminating newline)");
      }
      auto parsed = json::parse_strict(line);
      if (!parsed.value || !parsed.value->is_object()) {
        return fail(r, file, n, std::nullopt, "not a JSON object: " + parsed.error);
      }
      nlohmann::json rec = std::move(*parsed.value);
      std::optional<std::uint64_t> seq;
      if (rec.contains("seq") && rec["seq"].is_number_unsigned()) seq = rec["seq"].get<std::uint64_t>();
      for (const char* field : {"seq", "ts", "trace_id", "stage", "identity", "route", "data", "prev", "hash"}) {
        if (!rec.contains(field)) return fail(r, file, n, seq, std::string("missing field ") + field);
      }
      if (!seq) return fail(r, file, n, std::nullopt, "seq is not a positive integer");
      if (*seq != expected_seq) {
        return fail(r, file, n, seq,
                    (*seq < expected_seq ? "seq out of order or duplicated: expected "
                                         : "seq gap: expected ") +
                        std::to_string(expected_seq) + ", found " + std::to_string(*seq));
      }
      if (!rec["prev"].is_string() || rec["prev"].get<std::string>() != prev) {
        return fail(r, file, n, seq, "broken prev link: prev does not equal the previous record's hash");
      }
      if (!rec["hash"].is_string()) return fail(r, file, n, seq, "hash is not a string");
      const std::string hash = rec["hash"].get<std::string>();
      rec.erase("hash");
      if (!core::constant_time_equal(chain_hash(prev, rec, key), hash)) {
        return fail(r, file, n, seq,
                    std::string("bad hash: the record was altered") +
                        (key ? " (or the HMAC key is wrong)" : " (or it was written with an HMAC key: pass --key-env)"));
      }
      prev = hash;
      ++expected_seq;
      ++r.records;
      r.last_seq = *seq;
      r.last_hash = hash;
    }
  }
  r.ok = true;
  return r;
}

}  // namespace clawgate::audit

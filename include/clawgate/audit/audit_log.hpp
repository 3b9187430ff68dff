#pragma once
// The audit seam (SPEC §7): one JSON record per stage per request, hash-chained, appended to a
// JSON Lines file. This core version writes synchronously under a mutex and fdatasyncs durable
// records before returning; group commit, rotation, torn-tail recovery and `audit verify` arrive
// with the audit issue behind this same interface.

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "clawgate/config/config.hpp"

namespace clawgate::audit {

struct Record {
  std::string trace_id;               // "" for service records
  std::string stage;                  // received, decided, forwarded, completed, rejected, ...
  std::optional<std::string> identity;  // null before authentication
  std::string route;                  // chat, responses, tools, models, admin, or "" (unknown)
  nlohmann::json data = nlohmann::json::object();
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Appends one record. With durable = true (and fsync "always") it returns only once the
  // record is on disk. false = the record could not be written (the caller fails closed).
  virtual bool append(Record record, bool durable) = 0;
  virtual bool healthy() const = 0;
};
using AuditLogPtr = std::shared_ptr<AuditLog>;

// Canonical JSON (SPEC §7): sorted keys, no insignificant white space, UTF-8 unescaped.
std::string canonical(const nlohmann::json& value);

// The chain hash of a record (SPEC §7): HMAC-SHA256(key, prev || "\n" || canonical(record)),
// plain SHA-256 without a key. `record` is the record without its "hash" field.
std::string chain_hash(const std::string& prev, const nlohmann::json& record,
                       const std::optional<std::string>& key);

// Replaces every occurrence of each secret in every string of `value` with "[REDACTED]".
void redact_secrets(nlohmann::json& value, const std::vector<std::string>& secrets);

struct OpenError {
  std::string message;
};

// Opens (creating folders with mode 0700) and resumes the chain from the file's last record.
std::variant<AuditLogPtr, OpenError> open_jsonl_log(const config::Audit& cfg,
                                                    std::vector<std::string> secrets);

}  // namespace clawgate::audit

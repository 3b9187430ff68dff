#pragma once
// A record's `data` written straight into canonical JSON (SPEC §7) on the request path. Building
// a JSON value member by member and then walking it to write it cost about a tenth of an allowed
// request's instructions over its five records (map nodes, strings, the walk, the teardown).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clawgate::audit {

class AuditLog;

class DataWriter {
 public:
  // String values pass through `log`'s redaction of its secrets (tokens), as every string of a
  // Record's `data` does, so the result goes into a Record as it is.
  explicit DataWriter(const AuditLog& log);

  // Keys are plain ASCII names spelled out in the code (written as they are, and kept by view
  // until the next member). Members come in canonical order: each key sorts after the one
  // before, else these throw std::logic_error (the record would fail verification).
  DataWriter& string(std::string_view key, std::string_view value);
  DataWriter& string_or_null(std::string_view key, const std::optional<std::string>& value);
  DataWriter& integer(std::string_view key, std::int64_t value);
  DataWriter& boolean(std::string_view key, bool value);
  DataWriter& strings(std::string_view key, const std::vector<std::string>& values);
  DataWriter& value(std::string_view key, const nlohmann::json& v);  // any JSON
  // `canonical_json` is canonical JSON whose strings are redacted already (redacted_canonical).
  DataWriter& canonical(std::string_view key, std::string_view canonical_json);

  // The canonical JSON of the object, for Record::data_canonical; last: the writer is empty after.
  std::string finish();

 private:
  void key(std::string_view k);
  void append_redacted(std::string_view s);  // a string value, after the log's redaction

  const AuditLog& log_;
  std::string out_ = "{";
  std::string_view last_key_;
};

}  // namespace clawgate::audit

#include "clawgate/audit/data_writer.hpp"

#include <charconv>
#include <stdexcept>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/json/canonical.hpp"

namespace clawgate::audit {

DataWriter::DataWriter(const AuditLog& log) : log_(log) { out_.reserve(256); }

void DataWriter::key(std::string_view k) {
  const bool first = out_.size() == 1;
  if (!first && k <= last_key_) {
    throw std::logic_error("audit data member \"" + std::string(k) + "\" after \"" +
                           std::string(last_key_) + "\": members must come in canonical key order");
  }
  last_key_ = k;
  // Keys are member names the code spells out: nothing in them to escape.
  out_.append(first ? "\"" : ",\"").append(k).append("\":");
}

// Text that is not UTF-8 (a header value, say) is written as for `Record::data`: invalid bytes
// as U+FFFD.
void DataWriter::append_redacted(std::string_view s) {
  if (!log_.holds_secret(s)) {
    json::write_string_or_replace(s, out_);
    return;
  }
  std::string copy(s);
  log_.redact(copy);
  json::write_string_or_replace(copy, out_);
}

DataWriter& DataWriter::string(std::string_view k, std::string_view value) {
  key(k);
  append_redacted(value);
  return *this;
}

DataWriter& DataWriter::string_or_null(std::string_view k,
                                       const std::optional<std::string>& value) {
  if (value) return string(k, *value);
  key(k);
  out_ += "null";
  return *this;
}

DataWriter& DataWriter::integer(std::string_view k, std::int64_t value) {
  key(k);
  char text[24];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  out_.append(text, end);
  return *this;
}

DataWriter& DataWriter::boolean(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  return *this;
}

DataWriter& DataWriter::strings(std::string_view k, const std::vector<std::string>& values) {
  key(k);
  out_.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out_.push_back(',');
    append_redacted(values[i]);
  }
  out_.push_back(']');
  return *this;
}

DataWriter& DataWriter::value(std::string_view k, const nlohmann::json& v) {
  key(k);
  const json::StringRewrite rewrite = [this](std::string& s) { log_.redact(s); };
  json::write_canonical_or_replace(v, out_, &rewrite);
  return *this;
}

DataWriter& DataWriter::canonical(std::string_view k, std::string_view canonical_json) {
  key(k);
  out_.append(canonical_json);
  return *this;
}

std::string DataWriter::finish() {
  out_.push_back('}');
  return std::move(out_);
}

}  // namespace clawgate::audit

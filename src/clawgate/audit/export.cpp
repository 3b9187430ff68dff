#include "clawgate/audit/export.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "clawgate/audit/audit_log.hpp"

namespace clawgate::audit {
namespace {

// RFC 4180: quote every field that holds a comma, quote, CR or LF; double inner quotes.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string text_of(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return canonical(v);
}

std::string data_field(const nlohmann::json& rec, const char* key) {
  if (!rec.contains("data") || !rec["data"].is_object()) return "";
  const auto& d = rec["data"];
  return d.contains(key) ? text_of(d[key]) : "";
}

}  // namespace

std::string export_records(const std::vector<std::string>& files, const ExportOptions& opt,
                           std::ostream& out) {
  if (opt.format == ExportOptions::Format::csv) out << kCsvHeader << "\n";
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "cannot read " + file;
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      const auto rec = nlohmann::json::parse(line, nullptr, false);
      if (rec.is_discarded() || !rec.is_object()) {
        return file + ":" + std::to_string(n) + ": not an audit record (run `clawgate audit verify`)";
      }
      if (opt.trace_id && rec.value("trace_id", "") != *opt.trace_id) continue;
      if (opt.stage && rec.value("stage", "") != *opt.stage) continue;
      if (opt.since && rec.value("ts", "") < *opt.since) continue;
      if (opt.format == ExportOptions::Format::jsonl) {
        out << line << "\n";
        continue;
      }
      const std::string fields[] = {
          rec.contains("seq") ? text_of(rec["seq"]) : "",
          rec.value("ts", ""),
          rec.value("trace_id", ""),
          rec.value("stage", ""),
          rec.contains("identity") ? text_of(rec["identity"]) : "",
          rec.value("route", ""),
          data_field(rec, "decision"),
          data_field(rec, "risk"),
          data_field(rec, "status"),
          data_field(rec, "code"),
          data_field(rec, "rules"),
          data_field(rec, "reason"),
          rec.contains("data") ? text_of(rec["data"]) : ""};
      bool first = true;
      for (const auto& f : fields) {
        if (!first) out << ',';
        out << csv_field(f);
        first = false;
      }
      out << "\n";
    }
  }
  return "";
}

}  // namespace clawgate::audit

#pragma once
// `clawgate audit export` (SPEC §8): records of one or more audit files, filtered, as CSV (one
// row per record) or as the original JSON lines. Export does not verify; run `audit verify`.

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace clawgate::audit {

struct ExportOptions {
  enum class Format { csv, jsonl } format = Format::csv;
  std::optional<std::string> trace_id;
  std::optional<std::string> stage;
  // Records with ts >= since. Timestamps are fixed-width UTC ("2026-11-21T19:48:00.123456Z"), so
  // a prefix such as "2026-11-21" or "2026-11-21T19:48" compares correctly as text.
  std::optional<std::string> since;
};

// The CSV columns, in order.
inline constexpr const char* kCsvHeader =
    "seq,ts,trace_id,stage,identity,route,decision,risk,status,code,rules,reason,data";

// Writes the matching records; returns an error message ("" on success).
std::string export_records(const std::vector<std::string>& files, const ExportOptions& opt,
                           std::ostream& out);

}  // namespace clawgate::audit

#pragma once
// Canonical JSON (SPEC §7) written directly: keys sorted by code point, no insignificant white
// space, UTF-8 unescaped, escapes only for `"`, `\` and control characters. The same bytes as
// nlohmann's dump(), without its per-byte UTF-8 state machine and, with a rewrite, without first
// copying the document to redact it.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace clawgate::json {

// Called on a copy of every string (object keys included) before it is written; redaction.
using StringRewrite = std::function<void(std::string&)>;

// Appends the canonical form of `value` to `out`, each string passed through `rewrite` when one
// is given. Returns false, with `out` partly written, when the fast path cannot be exact: a
// string (after the rewrite) that is not valid UTF-8, or a rewrite that changed an object key
// (the key order would change). Callers then fall back to nlohmann (see audit::canonical).
bool write_canonical(const nlohmann::json& value, std::string& out,
                     const StringRewrite* rewrite = nullptr);

// Appends `s` as a canonical JSON string; false, with `out` partly written, when `s` is not
// valid UTF-8.
bool write_string(std::string_view s, std::string& out);

// The same, never failing: text that is not UTF-8 (client bytes in an audit record) is written
// as nlohmann's dump() writes it with invalid bytes replaced, each by U+FFFD.
void write_string_or_replace(std::string_view s, std::string& out);

// write_canonical, never failing: when the fast path cannot be exact, the strings of a copy are
// rewritten and nlohmann writes it, with each byte that is not UTF-8 replaced by U+FFFD (client
// bytes in an audit record). nlohmann's objects are std::map, keys sorted by byte (= code point
// order), so its dump() without indent and with ensure_ascii=false is the same canonical form.
void write_canonical_or_replace(const nlohmann::json& value, std::string& out,
                                const StringRewrite* rewrite = nullptr);

// nlohmann's dump() (no indent, UTF-8 unescaped) by the fast writer: the same bytes, a fraction
// of the time. Throws like dump() on invalid UTF-8 (which a strictly parsed document never has).
std::string dump(const nlohmann::json& value);

}  // namespace clawgate::json

#pragma once
// Strict JSON parsing for request bodies and files: refuses duplicate keys at any depth (the
// gateway's JSON.parse keeps the last value, a parser differential), invalid UTF-8, nesting
// deeper than max_depth and trailing bytes. Never throws.

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace clawgate::json {

struct StrictParse {
  std::optional<nlohmann::json> value;  // set on success
  std::string error;                    // e.g. "duplicate key \"tool\" at /", "invalid UTF-8"
};

StrictParse parse_strict(std::string_view text, std::size_t max_depth = 64);

// For reading what the upstream answered, where nothing is refused but the answer is only
// looked at: like nlohmann::json::parse (a later duplicate key wins, a BOM is skipped), and
// nothing on invalid JSON or UTF-8 or nesting deeper than 512. Never throws.
std::optional<nlohmann::json> parse_lenient(std::string_view text);
// The same, building only the top-level members named in `members` when the document is an
// object: the others are validated (so the outcome is the same) but not built. Any other
// document is returned whole. Empty `members` builds everything.
std::optional<nlohmann::json> parse_lenient(std::string_view text,
                                            std::span<const std::string_view> members);

// Offset in `object_text` of the value of its top-level member `key`, for text that
// parse_strict accepted as an object (so the member is unique). A member whose key is written
// with an escape is not recognised: nullopt, as for a missing one.
std::optional<std::size_t> top_level_member(std::string_view object_text, std::string_view key);

}  // namespace clawgate::json

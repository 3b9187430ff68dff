#pragma once
// The risk classifier (SPEC §4): green < amber < red. Terms and patterns per tier come from the
// policy's `classifier` section. Pure and thread-safe after build(); no I/O.
//
// Pipeline per text segment:
//   1. decode on the RAW text: %XX in place; runs of >= 16 base64 chars (standard or URL-safe,
//      padding optional) and of >= 16 hex digits (even count) that decode to valid UTF-8; the
//      decoded text is scanned too, recursively to depth 2; decoded bytes in total never exceed
//      the input's size. Matches in decoded text get "+decoded" appended to `where`.
//   2. normalise (terms only): Unicode NFKC + case fold (utf8proc), drop format characters
//      (category Cf, zero-width), fold common Cyrillic/Greek confusables to Latin, and treat runs
//      of white space, '_', '-', '.', '/' as one space.
//   3. terms match the normalised text on word boundaries (a word character is a Unicode letter
//      or digit); a trailing '*' allows a suffix ("credential*"); a multi-word term also matches
//      with its words joined ("wire money" matches "wiremoney"). One pass over the text for all
//      terms; the cost must not grow with the number of terms.
//   4. patterns (RE2, linear time) match the raw text and the decoded texts.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace clawgate::classify {

enum class Tier { green = 0, amber = 1, red = 2 };
std::string_view to_string(Tier t);
std::optional<Tier> tier_from_string(std::string_view s);

struct TierSpec {
  std::vector<std::string> terms;
  std::vector<std::string> patterns;  // RE2 syntax
};

struct Spec {
  std::vector<std::string> scope{"user"};  // chat message roles that are classified
  TierSpec red;
  TierSpec amber;
};

struct Match {
  Tier tier = Tier::green;
  std::string term;   // the term or pattern as configured
  std::string where;  // messages[i], input, input[i], instructions, tool, action, /args/x (+decoded)
  bool operator==(const Match&) const = default;
};

struct Result {
  Tier risk = Tier::green;
  std::vector<Match> matches;  // de-duplicated, in a deterministic order
  // {"risk":"red","matches":[{"tier":"red","term":"wire money","where":"messages[0]"}]}
  nlohmann::json to_json() const;
  nlohmann::json matches_json() const;  // to_json()["matches"]
};

struct Segment {
  std::string where;
  std::string text;  // raw, as received
};

class Classifier;
using ClassifierPtr = std::shared_ptr<const Classifier>;

class Classifier {
 public:
  // Validates (empty terms, bad regexes → error naming tier and index) and compiles.
  static std::variant<ClassifierPtr, std::string> build(const Spec& spec);
  virtual ~Classifier() = default;

  virtual Result classify(const std::vector<Segment>& segments) const = 0;
  // One segment, where "input" (`clawgate classify`, benchmarks); the same result as classify()
  // of that segment, without copying the text.
  virtual Result classify_text(std::string_view text) const = 0;
  virtual const Spec& spec() const = 0;
};

// The segments of a request body per SPEC §4 "Input": chat — string content and `text` parts of
// messages whose role is in `scope` (where "messages[i]"); responses — `input` (a string counts
// as a user message, where "input"; items by their role, where "input[i]", `input_text` parts and
// string content) and `instructions` (counts as a `system` message, where "instructions");
// tools — the tool name ("tool"), the action ("action"), and every key and string value in
// `args`, recursively (where = the JSON Pointer of the value, e.g. "/args/url"; a key is reported
// at its own pointer). `route` is chat | responses | tools | models (models: none).
std::vector<Segment> segments_for(std::string_view route, const nlohmann::json& body,
                                  const std::vector<std::string>& scope);

// Exposed for tests and `clawgate classify`. `ascii_kept`, when given, is set to whether every
// ASCII character of `raw` is still in the result, up to case, dropped controls and separators
// collapsed to one space: false only when one composed with a combining mark after it.
std::string normalize(std::string_view raw, bool* ascii_kept = nullptr);

// The decoded layers of `raw` (not including raw itself), at most `max_depth` deep, with the
// total decoded size bounded by raw.size().
// Depth counts nested base64/hex decodings; %XX is undone in place at every level (one layer,
// no depth) and costs one byte of the budget per sequence, not the bytes it copies unchanged.
std::vector<std::string> decoded_layers(std::string_view raw, int max_depth = 2);

}  // namespace clawgate::classify

#pragma once
// The JSON policy (SPEC §5). Rules match on route, identity, roles, agent, session, tool, action
// (strings or lists, `*` globs, tool names case-insensitive), risk (tier or list), args (JSON
// Pointer → constraint) and text (constraint on the classified text). Decisions combine
// deny-overrides, then approve, then allow, else default_decision; rule order never matters.
// `mode: "monitor"` (policy or rule) records what would have happened without enforcing it.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "clawgate/classify/classifier.hpp"
#include "clawgate/policy/literal_set.hpp"

namespace re2 {
class RE2;
}

namespace clawgate::policy {

enum class Decision { allow, deny, approve };
std::string_view to_string(Decision d);

enum class Mode { enforce, monitor };

// One match value: a list of alternatives, each a literal or a `*` glob.
struct Pattern {
  std::vector<std::string> alternatives;
  bool case_insensitive = false;
  bool matches(std::string_view value) const;
};

// A typed constraint on one JSON value (SPEC §5 "Constraints"). All given operators must hold;
// a missing or wrongly typed value makes the constraint false (except `exists: false`).
struct Constraint {
  std::optional<nlohmann::json> equals;
  std::optional<std::vector<nlohmann::json>> in;
  std::optional<std::vector<nlohmann::json>> not_in;
  std::optional<Pattern> glob;
  std::shared_ptr<const re2::RE2> regex;  // RE2, partial match (use ^…$ to anchor)
  std::optional<std::string> prefix;
  std::optional<double> min;
  std::optional<double> max;
  std::optional<std::size_t> max_length;  // strings: code points; arrays: elements
  std::optional<bool> exists;
  std::optional<std::string> type;  // string number integer boolean object array null
  std::optional<std::vector<std::string>> url_host_in;    // see SPEC: RFC 3986, IDNA, ports
  std::optional<std::vector<std::string>> url_scheme_in;  // lower-case schemes
  std::optional<std::vector<std::string>> path_under;     // absolute folders, lexical
  std::shared_ptr<const Constraint> each;                 // every array element (true if empty)

  // `value` is nullptr when the pointer does not resolve.
  bool holds(const nlohmann::json* value) const;
  // Why it does not hold, for `explain` ("url_host_in: host evil.com not listed"); "" if it holds.
  std::string why_not(const nlohmann::json* value) const;
};

struct RateLimit {
  std::uint32_t max = 0;   // tokens in the bucket (burst)
  std::uint32_t per_s = 0; // the bucket refills `max` tokens every `per_s` seconds
  std::vector<std::string> key;  // of identity, role, tool, agent, risk
};

struct Match {
  std::optional<Pattern> route, identity, roles, agent, session, tool, action;
  std::optional<std::vector<classify::Tier>> risk;
  // JSON Pointer → constraint, resolved against Input.body: the tool call's `args` object as
  // decision::decide passes it, so "/url" is args.url (SPEC §5's example).
  std::vector<std::pair<std::string, Constraint>> args;
  std::optional<Constraint> text;
};

struct Rule {
  std::string id;
  Match match;
  Decision decision = Decision::deny;
  std::string reason;
  Mode mode = Mode::enforce;
  std::optional<RateLimit> rate_limit;
};

struct Redact {
  std::vector<std::string> arg_paths;  // JSON Pointers into the request body
  std::vector<nlohmann::json::json_pointer> arg_pointers;  // the same, parsed once at load
  std::vector<std::shared_ptr<const re2::RE2>> patterns;
  std::vector<std::string> pattern_sources;
  // Matches wherever a built-in secret shape or one of `patterns` does: one scan tells that a
  // string needs no redaction. Null only when the union does not fit RE2's memory budget.
  std::shared_ptr<const re2::RE2> any;
  // The literals (RE2's FilteredRE2 atoms, ASCII) of which every match of every built-in or
  // policy pattern holds one, case-insensitively. Null when some pattern has no such literal:
  // then cannot_match() never says so.
  std::shared_ptr<const LiteralSet> literals;

  // True only when no built-in or policy pattern can match anywhere in `text`: none of the
  // literals occurs in it, compared case-insensitively (a text with U+017F ſ or U+212A Kelvin
  // sign, which (?i) equates with s and k, always counts as a possible match). One pass; false
  // means "run the patterns".
  bool cannot_match(std::string_view text) const;
};

struct Policy {
  int version = 1;
  std::string name;
  Mode mode = Mode::enforce;
  Decision default_decision = Decision::deny;
  classify::ClassifierPtr classifier;  // always set (an empty spec classifies everything green)
  std::vector<std::string> forward_headers_allow;  // lower-case header names (x-openclaw-*)
  std::optional<std::string> system_prompt;        // chat.system_prompt
  Redact redact;
  std::vector<Rule> rules;
  std::string sha256;  // of the file's bytes
  std::string source;  // path, for messages
};
using PolicyPtr = std::shared_ptr<const Policy>;

struct LoadError {
  std::string message;  // "policies/x.json: rules[2] (id \"a\"): match.args./url: unknown operator \"hots\""
};

std::variant<PolicyPtr, LoadError> parse_policy(std::string_view text, const std::string& source);
// The secret shapes redacted whatever the policy says (RE2): bearer tokens, sk-… keys, AWS access
// key ids, PEM private keys.
const std::vector<std::string>& builtin_redact_patterns();
// One RE2 matching where any built-in or any of `policy_patterns` matches (Redact::any).
std::shared_ptr<const re2::RE2> redact_union(const std::vector<std::string>& policy_patterns);
// Redact::literals for the built-in patterns and `policy_patterns`.
std::shared_ptr<const LiteralSet> redact_literals(const std::vector<std::string>& policy_patterns);
std::variant<PolicyPtr, LoadError> load_policy_file(const std::string& path);

// What the policy sees of one request.
struct Input {
  std::string route;  // chat | responses | tools | models
  std::string identity;
  std::vector<std::string> roles;
  std::string agent;
  std::optional<std::string> session;
  std::optional<std::string> tool;
  std::optional<std::string> action;
  classify::Tier risk = classify::Tier::green;
  const nlohmann::json* body = nullptr;  // match.args pointers resolve against it (tools: `args`)
  std::string text;  // the classified text: segments joined with "\n" (for match.text)
};

struct RuleTrace {
  std::string id;
  bool matched = false;
  std::string failed;  // the first failing condition when not matched, e.g. "tool: exec not in [web_fetch]"
};

struct Verdict {
  Decision decision = Decision::deny;  // the enforced decision
  bool enforced = true;                // false when a monitor-mode rule or policy changed it
  std::optional<Decision> would;       // monitor mode: the decision that would have been enforced
  std::vector<std::string> rules;      // ids of every matching rule (enforce and monitor), sorted
  std::string reason;                  // of the deciding rule; "no rule matched; …" for the default
  std::string deciding_rule;           // smallest id among matching rules with the final decision
  std::vector<const Rule*> rate_limited_rules;  // matching enforce-mode rules that carry rate_limit
  std::vector<RuleTrace> trace;        // every rule, in file order (evaluate with explain)
};

// Deterministic: rule order never changes the result (trace follows file order). `explain`
// fills Verdict::trace, each unmatched rule with the condition it failed (policy test|explain);
// without it the trace stays empty and no message is built for the rules that do not match,
// which is most of them on every request.
Verdict evaluate(const Policy& policy, const Input& input, bool explain = true);

// Token buckets for rules' rate_limit, keyed by rule id and the rule's key fields. Thread-safe.
// Buckets survive a policy reload when the rule id and its limits stay the same.
class RateLimiter {
 public:
  struct Outcome {
    bool allowed = true;
    std::string rule;            // the rule that refused
    std::int64_t retry_after_s = 0;  // >= 1 when refused
  };
  using Clock = std::chrono::steady_clock;
  // Takes one token from the bucket of every rule in verdict.rate_limited_rules; refuses (and
  // takes none) when any is empty.
  Outcome take(const Verdict& verdict, const Input& input, Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
    std::uint32_t max = 0;
    std::uint32_t per_s = 0;
  };
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace clawgate::policy

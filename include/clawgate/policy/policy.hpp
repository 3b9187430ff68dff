#pragma once
// The JSON policy (SPEC §5). This is the decision seam of the core: rules match on route,
// identity, roles, agent, session, tool and action (strings or lists, `*` globs, tool names
// case-insensitive); decisions allow / deny / approve combine deny-overrides, then approve, then
// allow, else default_decision. The classifier, argument constraints, monitor mode, rate limits,
// redaction and the chat system prompt arrive with the policy-language issue; until then a policy
// file that uses them is refused at load time ("not supported yet"), never silently ignored.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace clawgate::policy {

enum class Decision { allow, deny, approve };
std::string_view to_string(Decision d);

// One match value: a list of alternatives, each a literal or a `*` glob.
struct Pattern {
  std::vector<std::string> alternatives;
  bool case_insensitive = false;
  bool matches(std::string_view value) const;
};

struct Match {
  std::optional<Pattern> route, identity, roles, agent, session, tool, action;
};

struct Rule {
  std::string id;
  Match match;
  Decision decision = Decision::deny;
  std::string reason;
};

struct Policy {
  int version = 1;
  std::string name;
  Decision default_decision = Decision::deny;
  std::vector<std::string> forward_headers_allow;  // lower-case header names (x-openclaw-*)
  std::vector<Rule> rules;
  std::string sha256;  // of the file's bytes
  std::string source;  // path, for messages
};
using PolicyPtr = std::shared_ptr<const Policy>;

struct LoadError {
  std::string message;  // "policies/x.json: rules[2] (id \"a\"): match.tool: must be ..."
};

std::variant<PolicyPtr, LoadError> parse_policy(std::string_view text, const std::string& source);
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
};

struct Verdict {
  Decision decision = Decision::deny;
  std::vector<std::string> rules;  // ids of every matching rule, sorted
  std::string reason;              // of the deciding rule(s); "no rule matched" for the default
  std::string deciding_rule;       // first (sorted) rule id with the final decision; "" = default
};

// Deterministic: rule order never changes the result.
Verdict evaluate(const Policy& policy, const Input& input);

}  // namespace clawgate::policy

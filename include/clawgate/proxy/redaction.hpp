#pragma once
// What of a request reaches the audit file, and what the forwarded chat sees of the decision.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "clawgate/decision/decide.hpp"
#include "clawgate/http/routes.hpp"
#include "clawgate/policy/policy.hpp"

namespace clawgate::proxy {

// Built-in secret shapes (bearer tokens, sk-… keys, AWS access keys, PEM private keys) and the
// policy's redact.patterns, replaced by "[REDACTED]".
std::string redact_text(std::string_view text, const policy::Policy& pol);
// The same for every string (values and keys) of a JSON document, after the policy's
// redact.arg_paths have had their values replaced by "[REDACTED]".
nlohmann::json redact_json(const nlohmann::json& doc, const policy::Policy& pol);
// Canonical JSON (SPEC §7) of redact_json(doc, pol) with `also` applied to every string after
// the policy's redaction (the audit log's secrets), written in one pass over `doc` when the
// policy has no arg_paths and no key changes; the same bytes either way.
// `source`, when given, is the text `doc` was parsed from: when it has no escape and no pattern
// can match anywhere in it (Redact::cannot_match), no string of `doc` is matched one by one;
// nor is `also` run on each when `also_matches_source` is false (`also` changes no piece of
// `source`: for the audit log's secrets, AuditLog::holds_secret(source) is false).
std::string redacted_canonical(const nlohmann::json& doc, const policy::Policy& pol,
                               const std::function<void(std::string&)>& also,
                               std::string_view source = {}, bool also_matches_source = true);

// chat.system_prompt (SPEC §5): chat gets a leading system message, responses gets the text
// prepended to `instructions`; both end with "Governance classification: " + canonical JSON of
// {"decision","risk","rules"}. Returns false (doc untouched) for other routes.
bool inject_system_prompt(nlohmann::json& doc, http::RouteId route, const std::string& prompt,
                          const decision::Outcome& outcome);

// The body to forward with chat.system_prompt applied: `body` is the request's text and `doc`
// its strict parse. A chat whose top-level "messages" is an array gets the system message
// written into `body` in front of the first message, the rest of the bytes as the client sent
// them (as without a prompt); anything else goes through inject_system_prompt and is written
// anew. Returns `body` unchanged for routes without a prompt.
std::string with_system_prompt(std::string body, nlohmann::json& doc, http::RouteId route,
                               const std::string& prompt, const decision::Outcome& outcome);

}  // namespace clawgate::proxy

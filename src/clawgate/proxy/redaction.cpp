#include "clawgate/proxy/redaction.hpp"

#include <re2/re2.h>

#include <algorithm>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/json/canonical.hpp"
#include "clawgate/json/strict.hpp"
#include "clawgate/json/walk.hpp"

namespace clawgate::proxy {
namespace {

constexpr std::string_view kRedacted = "[REDACTED]";

// Secret shapes that are never worth keeping in an audit file, whatever the policy says
// (policy::builtin_redact_patterns), compiled once.
const std::vector<std::unique_ptr<re2::RE2>>& builtin_patterns() {
  static const auto* patterns = [] {
    auto* v = new std::vector<std::unique_ptr<re2::RE2>>();
    for (const auto& p : policy::builtin_redact_patterns()) v->push_back(std::make_unique<re2::RE2>(p));
    return v;
  }();
  return *patterns;
}

void redact_in_place(std::string& s, const policy::Policy& pol) {
  // Most strings hold no secret: one scan with the union says so (Redact::any).
  if (pol.redact.any && !re2::RE2::PartialMatch(s, *pol.redact.any)) return;
  for (const auto& re : builtin_patterns()) re2::RE2::GlobalReplace(&s, *re, kRedacted);
  for (const auto& re : pol.redact.patterns) {
    if (re) re2::RE2::GlobalReplace(&s, *re, kRedacted);
  }
}

}  // namespace

std::string redact_text(std::string_view text, const policy::Policy& pol) {
  std::string s(text);
  if (!pol.redact.cannot_match(text)) redact_in_place(s, pol);
  return s;
}

nlohmann::json redact_json(const nlohmann::json& doc, const policy::Policy& pol) {
  nlohmann::json out = doc;
  for (const auto& ptr : pol.redact.arg_pointers) {
    if (out.contains(ptr)) out[ptr] = kRedacted;
  }
  json::rewrite_strings(out, [&pol](std::string& s) { redact_in_place(s, pol); });
  return out;
}

std::string redacted_canonical(const nlohmann::json& doc, const policy::Policy& pol,
                               const std::function<void(std::string&)>& also,
                               std::string_view source, bool also_matches_source) {
  // Without a backslash in the source every string of `doc` (keys included) is a piece of it,
  // so a source no pattern can match means no string can be matched either; and then, with
  // every string unchanged, neither can `also` change one when it changes no piece of the source.
  const bool skip_patterns = !source.empty() && source.find('\\') == std::string_view::npos &&
                             pol.redact.cannot_match(source);
  const bool skip_all = skip_patterns && !also_matches_source;
  const json::StringRewrite rewrite = [&pol, &also, skip_patterns](std::string& s) {
    if (!skip_patterns) redact_in_place(s, pol);
    also(s);
  };
  // An arg path present in the document means a copy with that value replaced; absent paths
  // (the usual case: a chat has no /args/token) change nothing.
  const auto& ptrs = pol.redact.arg_pointers;
  const bool path_present =
      std::any_of(ptrs.begin(), ptrs.end(), [&doc](const auto& ptr) { return doc.contains(ptr); });
  std::string out;
  out.reserve(source.size() + 64);  // about the source's size: no growing copies
  if (!path_present && json::write_canonical(doc, out, skip_all ? nullptr : &rewrite)) return out;
  nlohmann::json copy = redact_json(doc, pol);
  json::rewrite_strings(copy, also);
  return audit::canonical(copy);
}

namespace {

std::string system_prompt_text(const std::string& prompt, const decision::Outcome& outcome) {
  return prompt + "\n\nGovernance classification: " + decision::governance_summary(outcome);
}

}  // namespace

bool inject_system_prompt(nlohmann::json& doc, http::RouteId route, const std::string& prompt,
                          const decision::Outcome& outcome) {
  if (route != http::RouteId::chat && route != http::RouteId::responses) return false;
  const std::string text = system_prompt_text(prompt, outcome);
  if (route == http::RouteId::chat) {
    nlohmann::json messages = nlohmann::json::array();
    messages.push_back({{"role", "system"}, {"content", text}});
    if (doc.contains("messages") && doc["messages"].is_array()) {
      for (auto& m : doc["messages"]) messages.push_back(std::move(m));
    }
    doc["messages"] = std::move(messages);
  } else {
    std::string instructions = text;
    if (doc.contains("instructions") && doc["instructions"].is_string()) {
      instructions += "\n\n" + doc["instructions"].get<std::string>();
    }
    doc["instructions"] = std::move(instructions);
  }
  return true;
}

std::string with_system_prompt(std::string body, nlohmann::json& doc, http::RouteId route,
                               const std::string& prompt, const decision::Outcome& outcome) {
  if (route == http::RouteId::chat) {
    const auto messages = doc.find("messages");
    if (messages != doc.end() && messages->is_array()) {
      const auto at = json::top_level_member(body, "messages");
      std::string message = "{\"content\":";
      if (at && body[*at] == '[' &&
          json::write_string(system_prompt_text(prompt, outcome), message)) {
        message += ",\"role\":\"system\"}";
        if (!messages->empty()) message += ',';
        body.insert(*at + 1, message);
        return body;
      }
    }
  }
  if (!inject_system_prompt(doc, route, prompt, outcome)) return body;
  return json::dump(doc);
}

}  // namespace clawgate::proxy

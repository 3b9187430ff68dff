#include "clawgate/decision/decide.hpp"

#include "clawgate/json/canonical.hpp"

namespace clawgate::decision {

Outcome decide(const policy::Policy& pol, const Request& req) {
  Outcome out;
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& body = req.body != nullptr ? *req.body : kEmpty;
  auto resolved = request::resolve_target(req.route, body, req.header);
  if (auto* err = std::get_if<request::TargetError>(&resolved)) {
    out.invalid = err->message;
    return out;
  }
  out.target = std::get<request::Target>(std::move(resolved));

  const std::string route(http::route_word(req.route));
  const auto segments = classify::segments_for(route, body, pol.classifier->spec().scope);
  out.classification = pol.classifier->classify(segments);

  policy::Input& in = out.input;
  in.route = route;
  in.identity = req.identity;
  in.roles = req.roles;
  in.agent = out.target.agent;
  in.session = out.target.session;
  in.tool = out.target.tool;
  in.action = out.target.action;
  in.risk = out.classification.risk;
  // match.args pointers are relative to the tool call's `args` (SPEC §5: "/url"); other routes
  // have no arguments, so args constraints see nothing there.
  static const nlohmann::json kNoArgs;  // null: no pointer resolves
  const auto args = body.find("args");
  in.body = args != body.end() && args->is_object() ? &*args : &kNoArgs;
  for (const auto& s : segments) {
    if (!in.text.empty()) in.text.push_back('\n');
    in.text += s.text;
  }
  out.verdict = policy::evaluate(pol, in, req.explain);
  return out;
}

std::optional<http::RouteId> route_from_word(std::string_view word) {
  if (word == "chat") return http::RouteId::chat;
  if (word == "responses") return http::RouteId::responses;
  if (word == "tools") return http::RouteId::tools;
  if (word == "models") return http::RouteId::models;
  return std::nullopt;
}

std::string governance_summary(const Outcome& o) {
  // Written directly (keys in order): building a tree and then writing it cost about 3,700
  // instructions more on every allowed chat with a system prompt.
  std::string out = "{\"decision\":";
  json::write_string_or_replace(policy::to_string(o.verdict.decision), out);
  out += ",\"risk\":";
  json::write_string_or_replace(classify::to_string(o.classification.risk), out);
  out += ",\"rules\":[";
  for (std::size_t i = 0; i < o.verdict.rules.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::write_string_or_replace(o.verdict.rules[i], out);
  }
  out += "]}";
  return out;
}

}  // namespace clawgate::decision

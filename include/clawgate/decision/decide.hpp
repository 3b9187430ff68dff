#pragma once
// One request's decision, shared by the proxy pipeline and the `policy test|explain` tools so
// that both can never disagree: resolve the target, classify, evaluate the policy.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"
#include "clawgate/http/routes.hpp"
#include "clawgate/policy/policy.hpp"
#include "clawgate/request/target.hpp"

namespace clawgate::decision {

struct Request {
  http::RouteId route = http::RouteId::chat;
  std::string identity;
  std::vector<std::string> roles;
  const nlohmann::json* body = nullptr;  // a JSON object (models: an empty object)
  request::ForwardedHeader header;       // only headers that will be forwarded
  bool explain = false;                  // fill verdict.trace (see policy::evaluate)
};

struct Outcome {
  std::optional<std::string> invalid;  // a request error (400): type or target problems
  request::Target target;
  classify::Result classification;
  policy::Input input;
  policy::Verdict verdict;
};

Outcome decide(const policy::Policy& policy, const Request& req);

// The route word → RouteId for the proxied routes ("chat", "responses", "tools", "models").
std::optional<http::RouteId> route_from_word(std::string_view word);

// {"decision":…,"risk":…,"rules":[…]} as canonical JSON text, as the system prompt carries it.
std::string governance_summary(const Outcome& o);

}  // namespace clawgate::decision

#pragma once
// SPEC §2 steps 3-4: type-check the fields clawgate reads, then resolve the target (agent,
// session, tool, action) exactly as the gateway will, so the policy decides on the true target.

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "clawgate/http/routes.hpp"

namespace clawgate::request {

struct Target {
  std::string agent = "main";          // lower-case agent id
  std::optional<std::string> session;  // raw session value as match.session sees it
  std::optional<std::string> tool;     // lower-cased, aliases folded (bash→exec, cron→automations)
  std::optional<std::string> action;
  bool stream = false;                 // body "stream": true
};

struct TargetError {
  std::string message;  // for a 400 invalid_request, names the field
};

// Returns the value of a request header *that will be forwarded* (lower-case name), or nullopt.
// Headers clawgate drops must not influence the decision: the gateway never sees them.
using ForwardedHeader = std::function<std::optional<std::string>(std::string_view name)>;

// `body` must already be a JSON object (the caller refuses anything else). For RouteId::models
// (a GET without body) pass an empty object.
std::variant<Target, TargetError> resolve_target(http::RouteId route, const nlohmann::json& body,
                                                 const ForwardedHeader& header);

// The key for upstream.serialize_sessions: "agent\nsession" when a session is set, else nullopt.
std::optional<std::string> session_lock_key(const Target& target);

}  // namespace clawgate::request

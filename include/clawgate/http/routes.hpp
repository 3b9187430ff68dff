#pragma once
// The proxy listener's route table (SPEC §2) and the admin listener's. Paths match exactly and
// case-sensitively; anything else is 404, a known path with the wrong method is 405 + Allow.

#include <string>
#include <string_view>

namespace clawgate::http {

enum class RouteId {
  // proxy listener
  chat,       // POST /v1/chat/completions
  responses,  // POST /v1/responses
  tools,      // POST /tools/invoke
  models,     // GET  /v1/models
  healthz,    // GET  /healthz
  readyz,     // GET  /readyz
  // admin listener
  admin_healthz,        // GET  /healthz
  admin_policy_reload,  // POST /v1/policy/reload
  admin_approvals,      // GET  /v1/approvals
  admin_approval,       // GET  /v1/approvals/{id}
  admin_approve,        // POST /v1/approvals/{id}/approve
  admin_deny,           // POST /v1/approvals/{id}/deny
  admin_metrics,        // GET  /metrics
};

struct RouteMatch {
  enum class Kind { found, not_found, method_not_allowed } kind = Kind::not_found;
  RouteId id = RouteId::healthz;
  std::string allow;      // for method_not_allowed: the Allow header value, e.g. "POST"
  std::string path_param; // admin approval id for /v1/approvals/{id}...
};

// `target` is the request-target as received (may carry a query string; the query is ignored
// for matching, the caller refuses it separately). `method` is the request method token.
RouteMatch match_proxy_route(std::string_view method, std::string_view target);
RouteMatch match_admin_route(std::string_view method, std::string_view target);

// Split of the request-target at the first '?'.
std::string_view target_path(std::string_view target);
bool target_has_query(std::string_view target);

// The policy's route word for a proxied route: "chat", "responses", "tools", "models"; "" else.
std::string_view route_word(RouteId id);

}  // namespace clawgate::http

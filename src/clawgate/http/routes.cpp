#include "clawgate/http/routes.hpp"

#include <array>
#include <cstddef>
#include <optional>

namespace clawgate::http {
namespace {

struct RouteEntry {
  std::string_view method;
  std::string_view path;
  RouteId id;
};

constexpr std::array kProxyRoutes{
    RouteEntry{"POST", "/v1/chat/completions", RouteId::chat},
    RouteEntry{"POST", "/v1/responses", RouteId::responses},
    RouteEntry{"POST", "/tools/invoke", RouteId::tools},
    RouteEntry{"GET", "/v1/models", RouteId::models},
    RouteEntry{"GET", "/healthz", RouteId::healthz},
    RouteEntry{"GET", "/readyz", RouteId::readyz},
};

constexpr std::array kAdminRoutes{
    RouteEntry{"GET", "/healthz", RouteId::admin_healthz},
    RouteEntry{"POST", "/v1/policy/reload", RouteId::admin_policy_reload},
    RouteEntry{"GET", "/v1/approvals", RouteId::admin_approvals},
    RouteEntry{"GET", "/metrics", RouteId::admin_metrics},
};

constexpr std::string_view kApprovalsPrefix = "/v1/approvals/";
// Approval ids are "apr_" + 32 hex digits; the cap only bounds what we copy.
constexpr std::size_t kMaxApprovalId = 128;

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_approval_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxApprovalId) return false;
  for (char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

RouteMatch resolve(std::string_view method, std::string_view want_method, RouteId id,
                   std::string param = {}) {
  RouteMatch m;
  m.id = id;
  if (method == want_method) {
    m.kind = RouteMatch::Kind::found;
    m.path_param = std::move(param);
  } else {
    // HEAD on a GET route is refused too: one method per path keeps the table simple.
    m.kind = RouteMatch::Kind::method_not_allowed;
    m.allow = std::string(want_method);
  }
  return m;
}

template <std::size_t N>
std::optional<RouteMatch> match_table(const std::array<RouteEntry, N>& table,
                                      std::string_view method, std::string_view path) {
  for (const auto& e : table) {
    if (e.path == path) return resolve(method, e.method, e.id);
  }
  return std::nullopt;
}

}  // namespace

std::string_view target_path(std::string_view target) {
  const std::size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

bool target_has_query(std::string_view target) {
  return target.find('?') != std::string_view::npos;
}

RouteMatch match_proxy_route(std::string_view method, std::string_view target) {
  if (auto m = match_table(kProxyRoutes, method, target_path(target))) return *m;
  return {};
}

RouteMatch match_admin_route(std::string_view method, std::string_view target) {
  const std::string_view path = target_path(target);
  if (auto m = match_table(kAdminRoutes, method, path)) return *m;
  if (path.substr(0, kApprovalsPrefix.size()) != kApprovalsPrefix) return {};
  std::string_view rest = path.substr(kApprovalsPrefix.size());
  const std::size_t slash = rest.find('/');
  const std::string_view id = rest.substr(0, slash);
  if (!is_approval_id(id)) return {};
  if (slash == std::string_view::npos) {
    return resolve(method, "GET", RouteId::admin_approval, std::string(id));
  }
  const std::string_view verb = rest.substr(slash + 1);
  if (verb == "approve") return resolve(method, "POST", RouteId::admin_approve, std::string(id));
  if (verb == "deny") return resolve(method, "POST", RouteId::admin_deny, std::string(id));
  return {};
}

std::string_view route_word(RouteId id) {
  switch (id) {
    case RouteId::chat:
      return "chat";
    case RouteId::responses:
      return "responses";
    case RouteId::tools:
      return "tools";
    case RouteId::models:
      return "models";
    default:
      return "";
  }
}

}  // namespace clawgate::http

#include "clawgate/http/routes.hpp"

#include <gtest/gtest.h>

namespace clawgate::http {
namespace {

using Kind = RouteMatch::Kind;

void expect_found(const RouteMatch& m, RouteId id) {
  EXPECT_EQ(m.kind, Kind::found);
  EXPECT_EQ(m.id, id);
  EXPECT_TRUE(m.allow.empty());
}

void expect_405(const RouteMatch& m, RouteId id, const std::string& allow) {
  EXPECT_EQ(m.kind, Kind::method_not_allowed);
  EXPECT_EQ(m.id, id);
  EXPECT_EQ(m.allow, allow);
}

TEST(RoutesProxy, KnownRoutes) {
  expect_found(match_proxy_route("POST", "/v1/chat/completions"), RouteId::chat);
  expect_found(match_proxy_route("POST", "/v1/responses"), RouteId::responses);
  expect_found(match_proxy_route("POST", "/tools/invoke"), RouteId::tools);
  expect_found(match_proxy_route("GET", "/v1/models"), RouteId::models);
  expect_found(match_proxy_route("GET", "/healthz"), RouteId::healthz);
  expect_found(match_proxy_route("GET", "/readyz"), RouteId::readyz);
}

TEST(RoutesProxy, WrongMethodIs405WithAllow) {
  expect_405(match_proxy_route("GET", "/v1/chat/completions"), RouteId::chat, "POST");
  expect_405(match_proxy_route("PUT", "/v1/responses"), RouteId::responses, "POST");
  expect_405(match_proxy_route("GET", "/tools/invoke"), RouteId::tools, "POST");
  expect_405(match_proxy_route("POST", "/v1/models"), RouteId::models, "GET");
  expect_405(match_proxy_route("DELETE", "/healthz"), RouteId::healthz, "GET");
  expect_405(match_proxy_route("POST", "/readyz"), RouteId::readyz, "GET");
}

TEST(RoutesProxy, HeadOnGetRouteIs405) {
  expect_405(match_proxy_route("HEAD", "/v1/models"), RouteId::models, "GET");
  expect_405(match_proxy_route("HEAD", "/healthz"), RouteId::healthz, "GET");
}

TEST(RoutesProxy, MethodsAreCaseSensitive) {
  expect_405(match_proxy_route("post", "/tools/invoke"), RouteId::tools, "POST");
  expect_405(match_proxy_route("get", "/v1/models"), RouteId::models, "GET");
}

TEST(RoutesProxy, PathsMatchExactly) {
  for (const char* path : {"/tools/invoke/",
                           "/Tools/invoke",
                           "/TOOLS/INVOKE",
                           "/v1/models/x",
                           "/v1/models/",
                           "/v1//models",
                           "//v1/models",
                           "/v1/chat/completions/",
                           "/v1/chat",
                           "/v1",
                           "/",
                           "/tools/invoke%2F",
                           "/hooks/wake",
                           "/healthz/",
                           "/metrics",
                           "/v1/policy/reload",
                           "/v1/approvals",
                           "",
                           "tools/invoke",
                           "/tools/./invoke",
                           "/v1/Models"}) {
    const RouteMatch m = match_proxy_route("POST", path);
    EXPECT_EQ(m.kind, Kind::not_found) << path;
    EXPECT_TRUE(m.allow.empty()) << path;
    EXPECT_EQ(match_proxy_route("GET", path).kind, Kind::not_found) << path;
  }
}

TEST(RoutesProxy, QueryIsIgnoredForMatching) {
  expect_found(match_proxy_route("GET", "/v1/models?x=1"), RouteId::models);
  expect_found(match_proxy_route("POST", "/tools/invoke?"), RouteId::tools);
  expect_405(match_proxy_route("GET", "/tools/invoke?a=b"), RouteId::tools, "POST");
  EXPECT_EQ(match_proxy_route("POST", "/tools/invoke/?a").kind, Kind::not_found);
}

TEST(RoutesTarget, PathAndQuery) {
  EXPECT_EQ(target_path("/v1/models"), "/v1/models");
  EXPECT_EQ(target_path("/v1/models?x=1?y"), "/v1/models");
  EXPECT_EQ(target_path("/v1/models?"), "/v1/models");
  EXPECT_EQ(target_path("?"), "");
  EXPECT_FALSE(target_has_query("/v1/models"));
  EXPECT_TRUE(target_has_query("/v1/models?"));
  EXPECT_TRUE(target_has_query("/v1/models?x=1"));
}

TEST(RoutesAdmin, KnownRoutes) {
  expect_found(match_admin_route("GET", "/healthz"), RouteId::admin_healthz);
  expect_found(match_admin_route("POST", "/v1/policy/reload"), RouteId::admin_policy_reload);
  expect_found(match_admin_route("GET", "/v1/approvals"), RouteId::admin_approvals);
  expect_found(match_admin_route("GET", "/v1/approvals?state=pending"), RouteId::admin_approvals);
  expect_found(match_admin_route("GET", "/metrics"), RouteId::admin_metrics);
}

TEST(RoutesAdmin, ApprovalIdRoutes) {
  RouteMatch m = match_admin_route("GET", "/v1/approvals/apr_0123abcdef");
  expect_found(m, RouteId::admin_approval);
  EXPECT_EQ(m.path_param, "apr_0123abcdef");

  m = match_admin_route("POST", "/v1/approvals/apr_X-y_9/approve");
  expect_found(m, RouteId::admin_approve);
  EXPECT_EQ(m.path_param, "apr_X-y_9");

  m = match_admin_route("POST", "/v1/approvals/a/deny?note=x");
  expect_found(m, RouteId::admin_deny);
  EXPECT_EQ(m.path_param, "a");
}

TEST(RoutesAdmin, WrongMethodIs405) {
  expect_405(match_admin_route("POST", "/healthz"), RouteId::admin_healthz, "GET");
  expect_405(match_admin_route("GET", "/v1/policy/reload"), RouteId::admin_policy_reload, "POST");
  expect_405(match_admin_route("POST", "/v1/approvals"), RouteId::admin_approvals, "GET");
  expect_405(match_admin_route("DELETE", "/v1/approvals/apr_1"), RouteId::admin_approval, "GET");
  expect_405(match_admin_route("GET", "/v1/approvals/apr_1/approve"), RouteId::admin_approve,
             "POST");
  expect_405(match_admin_route("GET", "/v1/approvals/apr_1/deny"), RouteId::admin_deny, "POST");
  expect_405(match_admin_route("HEAD", "/metrics"), RouteId::admin_metrics, "GET");
}

TEST(RoutesAdmin, BadIdsAndVariantsAre404) {
  for (const char* path :
       {"/v1/approvals/", "/v1/approvals//approve", "/v1/approvals/a.b", "/v1/approvals/a%2Fb",
        "/v1/approvals/apr_1/", "/v1/approvals/apr_1/approve/", "/v1/approvals/apr_1/Approve",
        "/v1/approvals/apr_1/reject", "/v1/approvals/apr_1/approve/x", "/v1/approvals/a:b",
        "/v1/Approvals/apr_1", "/V1/approvals", "/v1/approvals/", "/healthz/", "/readyz",
        "/v1/models", "/tools/invoke", "/metrics/"}) {
    EXPECT_EQ(match_admin_route("GET", path).kind, Kind::not_found) << path;
    EXPECT_EQ(match_admin_route("POST", path).kind, Kind::not_found) << path;
  }
  const std::string long_id = "/v1/approvals/" + std::string(129, 'a');
  EXPECT_EQ(match_admin_route("GET", long_id).kind, Kind::not_found);
  const std::string max_id = "/v1/approvals/" + std::string(128, 'a');
  EXPECT_EQ(match_admin_route("GET", max_id).kind, Kind::found);
}

TEST(RoutesAdmin, ProxyRoutesAreNotAdminRoutes) {
  EXPECT_EQ(match_admin_route("POST", "/v1/chat/completions").kind, Kind::not_found);
  EXPECT_EQ(match_proxy_route("GET", "/v1/approvals/apr_1").kind, Kind::not_found);
}

TEST(RoutesWord, PolicyRouteWords) {
  EXPECT_EQ(route_word(RouteId::chat), "chat");
  EXPECT_EQ(route_word(RouteId::responses), "responses");
  EXPECT_EQ(route_word(RouteId::tools), "tools");
  EXPECT_EQ(route_word(RouteId::models), "models");
  for (RouteId id :
       {RouteId::healthz, RouteId::readyz, RouteId::admin_healthz, RouteId::admin_policy_reload,
        RouteId::admin_approvals, RouteId::admin_approval, RouteId::admin_approve,
        RouteId::admin_deny, RouteId::admin_metrics}) {
    EXPECT_EQ(route_word(id), "");
  }
}

}  // namespace
}  // namespace clawgate::http

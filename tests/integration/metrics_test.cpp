// GET /metrics on the admin listener (issue #7): Prometheus text, admin tokens only, and counters
// that move as requests pass.

#include <regex>
#include <sstream>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

class Metrics : public ProxyTest {
 protected:
  std::string scrape() {
    const auto r = http_request(admin_port(), "GET", "/metrics", bearer(kAdminToken));
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("Content-Type").value_or("").rfind("text/plain; version=0.0.4", 0), 0u);
    return r.body;
  }

  // The value of the sample `name{labels}` (exact label text), or -1 when absent.
  static double value(const std::string& text, const std::string& sample) {
    const auto at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  }
};

TEST_F(Metrics, CountersMoveAsRequestsPass) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string before = scrape();
  const std::string allowed = R"(clawgate_requests_total{route="tools",decision="allow",status="200"})";
  const std::string denied = R"(clawgate_requests_total{route="tools",decision="deny",status="403"})";
  const std::string unauth = R"(clawgate_requests_total{route="tools",decision="none",status="401"})";
  EXPECT_EQ(value(before, allowed), -1);

  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", employee()).status, 200);
  }
  ASSERT_EQ(post(kToolsPath, R"({"tool":"exec","args":{"command":"id"}})", employee()).status, 403);
  ASSERT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", bearer("nope")).status, 401);

  const std::string after = scrape();
  EXPECT_EQ(value(after, allowed), 3) << after;
  EXPECT_EQ(value(after, denied), 1) << after;
  EXPECT_EQ(value(after, unauth), 1) << after;
  EXPECT_EQ(value(after, R"(clawgate_request_duration_seconds_count{part="upstream"})"), 3) << after;
  EXPECT_GE(value(after, R"(clawgate_request_duration_seconds_count{part="clawgate"})"), 5) << after;
  EXPECT_GT(value(after, "clawgate_audit_records_total"),
            value(before, "clawgate_audit_records_total"));
  EXPECT_GE(value(after, "clawgate_audit_fsync_duration_seconds_count"), 4) << after;
  EXPECT_EQ(value(after, "clawgate_audit_healthy"), 1);
  EXPECT_EQ(value(after, "clawgate_upstream_ready"), 1);
  EXPECT_EQ(value(after, R"(clawgate_open_connections{listener="admin"})"), 1) << after;
  EXPECT_EQ(value(after, "clawgate_approvals_pending"), 0);
  // Every sample line is `name{labels} number` or `name number`.
  const std::regex sample(R"(^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$)");
  std::istringstream in(after);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST_F(Metrics, UpstreamErrorsReloadsAndApprovalsAreCounted) {
  policy_["rules"].push_back({{"id", "fetch-needs-approval"},
                              {"match", {{"route", "tools"}, {"tool", "web_fetch"}}},
                              {"decision", "approve"}});
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  ASSERT_EQ(post(kToolsPath, R"({"tool":"web_fetch","args":{"url":"https://a.example/"}})",
                 employee()).status, 403);
  ASSERT_EQ(http_request(admin_port(), "POST", "/v1/policy/reload", bearer(kAdminToken)).status, 200);
  upstream_->stop();
  const auto r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  EXPECT_EQ(r.status, 502) << r.describe();
  const std::string text = scrape();
  EXPECT_EQ(value(text, R"(clawgate_upstream_errors_total{kind="upstream_error"})"), 1) << text;
  EXPECT_EQ(value(text, R"(clawgate_policy_reloads_total{result="ok"})"), 1) << text;
  EXPECT_EQ(value(text, "clawgate_approvals_pending"), 1) << text;
}

TEST_F(Metrics, ClientTokensGet401) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = http_request(admin_port(), "GET", "/metrics", employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 401, "unauthorized", Shape::openai));
}

}  // namespace
}  // namespace clawgate::itest

#include "clawgate/metrics/metrics.hpp"

#include <gtest/gtest.h>

namespace clawgate::metrics {
namespace {

TEST(MetricsHistogram, BucketsAreCumulativeWithSumAndCount) {
  Histogram h;
  h.observe_us(50);       // ≤ 0.0001 s
  h.observe_us(700);      // ≤ 0.001 s
  h.observe_us(700);
  h.observe_us(90000000);  // 90 s: only +Inf
  std::string out;
  h.render(out, "x_seconds", "part=\"a\"");
  EXPECT_NE(out.find("x_seconds_bucket{part=\"a\",le=\"0.0001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{part=\"a\",le=\"0.0005\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{part=\"a\",le=\"0.001\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{part=\"a\",le=\"60\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{part=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum{part=\"a\"} 90.001450\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{part=\"a\"} 4\n"), std::string::npos) << out;
}

TEST(MetricsRender, RequestsByRouteDecisionAndStatus) {
  Metrics m;
  m.response("chat", "allow", 200);
  m.response("chat", "allow", 200);
  m.response("tools", "none", 401);
  m.policy_reload(false);
  const std::string out = m.render({});
  EXPECT_NE(out.find("clawgate_requests_total{route=\"chat\",decision=\"allow\",status=\"200\"} 2\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("clawgate_requests_total{route=\"tools\",decision=\"none\",status=\"401\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("clawgate_policy_reloads_total{result=\"error\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("# TYPE clawgate_requests_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace clawgate::metrics

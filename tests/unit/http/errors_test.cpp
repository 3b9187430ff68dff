#include "clawgate/http/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace clawgate::http {
namespace {

using nlohmann::json;

TEST(ErrorsFamily, MapsStatusesToOpenAiFamilies) {
  for (int s : {400, 404, 405, 413, 431, 501}) EXPECT_EQ(error_family(s), "invalid_request_error");
  EXPECT_EQ(error_family(401), "authentication_error");
  EXPECT_EQ(error_family(403), "permission_error");
  EXPECT_EQ(error_family(429), "rate_limit_error");
  for (int s : {408, 409, 500, 502, 503, 504, 418}) EXPECT_EQ(error_family(s), "api_error");
}

TEST(ErrorsBody, OpenAiShape) {
  const std::string body =
      error_body(ErrorShape::openai, 404, "not_found", "No such route.", "trace-1");
  const json j = json::parse(body);
  const json expected = {{"error",
                          {{"message", "No such route."},
                           {"type", "invalid_request_error"},
                           {"code", "not_found"},
                           {"trace_id", "trace-1"}}}};
  EXPECT_EQ(j, expected);
  EXPECT_FALSE(j.contains("ok"));
  // Compact serialisation, as dump() writes it.
  EXPECT_EQ(body.find('\n'), std::string::npos);
  EXPECT_EQ(body.find(": "), std::string::npos);
}

TEST(ErrorsBody, OpenAiShapeWithExtraFields) {
  const json extra = {{"rule", "deny-red"}, {"reason", "High-impact action"}};
  const json j = json::parse(
      error_body(ErrorShape::openai, 403, "policy_denied", "Denied by policy.", "t2", extra));
  EXPECT_EQ(j.size(), 1u);
  const json& e = j.at("error");
  EXPECT_EQ(e.at("type"), "permission_error");
  EXPECT_EQ(e.at("code"), "policy_denied");
  EXPECT_EQ(e.at("message"), "Denied by policy.");
  EXPECT_EQ(e.at("trace_id"), "t2");
  EXPECT_EQ(e.at("rule"), "deny-red");
  EXPECT_EQ(e.at("reason"), "High-impact action");
  EXPECT_EQ(e.size(), 6u);
}

TEST(ErrorsBody, ToolsShapeWithExtraFields) {
  const json extra = {{"approval_id", "apr_0123"}, {"retry_after_s", 30}};
  const json j = json::parse(
      error_body(ErrorShape::tools, 403, "approval_required", "Ask an approver.", "t3", extra));
  const json expected = {{"ok", false},
                         {"error",
                          {{"type", "approval_required"},
                           {"message", "Ask an approver."},
                           {"trace_id", "t3"},
                           {"approval_id", "apr_0123"},
                           {"retry_after_s", 30}}}};
  EXPECT_EQ(j, expected);
}

TEST(ErrorsBody, ToolsShapeHasNoFamilyOrCode) {
  const json j = json::parse(error_body(ErrorShape::tools, 401, "unauthorized", "m", "t"));
  EXPECT_EQ(j.at("ok"), false);
  EXPECT_EQ(j.at("error").at("type"), "unauthorized");
  EXPECT_FALSE(j.at("error").contains("code"));
}

TEST(ErrorsBody, ExtraCannotOverrideCoreFields) {
  const json extra = {{"type", "x"}, {"code", "y"}, {"message", "z"}, {"trace_id", "w"}};
  const json j =
      json::parse(error_body(ErrorShape::openai, 429, "rate_limited", "Slow down.", "t4", extra));
  EXPECT_EQ(j.at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(j.at("error").at("code"), "rate_limited");
  EXPECT_EQ(j.at("error").at("message"), "Slow down.");
  EXPECT_EQ(j.at("error").at("trace_id"), "t4");
}

TEST(ErrorsBody, NonObjectExtraIsIgnored) {
  const json j = json::parse(
      error_body(ErrorShape::openai, 500, "upstream_error", "m", "t", json::array({1, 2})));
  EXPECT_EQ(j.at("error").size(), 4u);
  EXPECT_EQ(j.at("error").at("type"), "api_error");
}

TEST(ErrorsBody, InvalidUtf8InMessageDoesNotThrow) {
  std::string body;
  EXPECT_NO_THROW(body =
                      error_body(ErrorShape::openai, 400, "invalid_request", "bad \xFF byte", "t"));
  EXPECT_TRUE(json::accept(body));
}

TEST(ErrorsBody, EscapesQuotesInMessage) {
  const json j =
      json::parse(error_body(ErrorShape::openai, 400, "invalid_request", "a \"quoted\" key", "t"));
  EXPECT_EQ(j.at("error").at("message"), "a \"quoted\" key");
}

}  // namespace
}  // namespace clawgate::http

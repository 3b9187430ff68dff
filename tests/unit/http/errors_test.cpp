#include "clawgate/http/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

// What error_body wrote when it built the body as a tree and let nlohmann dump it: the bytes
// clients have seen so far. The direct writer must produce exactly these.
std::string tree_error_body(ErrorShape shape, int status, std::string_view code,
                            std::string_view message, std::string_view trace_id,
                            const json& extra) {
  json error = json::object();
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) error[key] = value;
  }
  error["message"] = std::string(message);
  error["trace_id"] = std::string(trace_id);
  json body = json::object();
  if (shape == ErrorShape::tools) {
    error["type"] = std::string(code);
    body["ok"] = false;
  } else {
    error["type"] = std::string(error_family(status));
    error["code"] = std::string(code);
  }
  body["error"] = std::move(error);
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

TEST(ErrorsBody, BytesAreWhatTheTreeDumpWrote) {
  const std::vector<std::string> messages = {
      "",
      "Denied by policy rule chat-red: the request is red.",
      "a \"quoted\" key, a back\\slash, a tab\t, a newline\n and \x01 \x1f \x7f",
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",  // 2-, 3- and 4-byte UTF-8
      "bad \xFF byte, truncated \xE2\x82 and overlong \xC0\xAF",
  };
  json everything = {{"rule", "chat-red"},
                     {"approval_id", "ap_123"},
                     {"retry_after_s", 7},
                     {"negative", -3},
                     {"big", 18446744073709551615ULL},
                     {"ratio", 0.25},
                     {"flag", true},
                     {"nothing", nullptr},
                     {"list", json::array({1, "two", json::object({{"b", 1}, {"a", 2}})})},
                     {"nested", {{"z", "last"}, {"a", "first \xFF"}}},
                     {"Zebra", "upper case sorts first"},
                     {"code\xFF", "a key with invalid UTF-8"}};
  // Extras named like the fixed fields lose to them (but "code" survives in the tools shape).
  json colliding = {{"message", "x"}, {"trace_id", "x"}, {"type", "x"}, {"code", "x"},
                    {"ok", "x"},      {"error", "x"},    {"a", 1}};
  const std::vector<json> extras = {nullptr,   json::object(),      everything,
                                    colliding, json::array({1, 2}), "a string extra is ignored"};
  int checked = 0;
  for (const auto shape : {ErrorShape::openai, ErrorShape::tools}) {
    for (const int status : {400, 401, 403, 404, 429, 500, 502}) {
      for (const auto& message : messages) {
        for (const auto& extra : extras) {
          SCOPED_TRACE(std::to_string(status) + " " + message + " " +
                       extra.dump(-1, ' ', false, json::error_handler_t::replace));
          ASSERT_EQ(error_body(shape, status, "some_code", message,
                               "trace-\xFF"
                               "1",
                               extra),
                    tree_error_body(shape, status, "some_code", message,
                                    "trace-\xFF"
                                    "1",
                                    extra));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 7 * 5 * 6);
}

}  // namespace
}  // namespace clawgate::http

// Requests clawgate must refuse itself (SPEC §2 step 1-6): they never reach the upstream and the
// client gets the documented status, code and body shape.

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

const char* kChatBody = R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})";
const char* kListBody = R"({"tool":"sessions_list","args":{"limit":1}})";

class Refusal : public ProxyTest {
 protected:
  // A refused request must not take the service down with it.
  void expect_still_serving() {
    const HttpResponse h = get("/healthz", {});
    EXPECT_EQ(h.status, 200) << "clawgate stopped serving after the refusal\n" << h.describe();
    EXPECT_TRUE(proxy_->running())
        << "clawgate exited after the refusal, exit code " << proxy_->exit_code().value_or(-1);
  }

  void TearDown() override {
    if (proxy_ && upstream_) {
      EXPECT_EQ(upstream_->proxied_count(), 0u) << "a refused request reached the upstream";
    }
    ProxyTest::TearDown();
  }
};

// ---- never forwarded: route table, upgrade, auth, query, policy -----------------------------

TEST_F(Refusal, UnknownPathIs404) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(get("/nonexistent", bearer(kEmployeeToken)), 404, "not_found", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post("/hooks/wake", "{}", employee()), 404, "not_found", Shape::openai));
}

TEST_F(Refusal, PathsMatchExactlyAndCaseSensitively) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post("/tools/invoke/", kListBody, employee()), 404, "not_found", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(post("/V1/chat/completions", kChatBody, employee()), 404,
                                       "not_found", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(post("/v1/chat/completions/", kChatBody, employee()), 404,
                                       "not_found", Shape::openai));
}

TEST_F(Refusal, WrongMethodIs405WithAllow) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse c = get(kChatPath, bearer(kEmployeeToken));
  EXPECT_NO_FATAL_FAILURE(expect_error(c, 405, "method_not_allowed", Shape::openai));
  EXPECT_EQ(c.header("allow").value_or(""), "POST") << c.describe();
  const HttpResponse t = get(kToolsPath, bearer(kEmployeeToken));
  EXPECT_NO_FATAL_FAILURE(expect_error(t, 405, "method_not_allowed", Shape::tools));
  EXPECT_EQ(t.header("allow").value_or(""), "POST") << t.describe();
  const HttpResponse m = post(kModelsPath, "{}", employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(m, 405, "method_not_allowed", Shape::openai));
  EXPECT_NE(m.header("allow").value_or("").find("GET"), std::string::npos) << m.describe();
}

TEST_F(Refusal, WebSocketUpgradeIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r =
      get(kModelsPath, bearer(kEmployeeToken, {{"Connection", "Upgrade"},
                                               {"Upgrade", "websocket"},
                                               {"Sec-WebSocket-Version", "13"},
                                               {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}}));
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 400, "upgrade_refused", Shape::openai));
  const HttpResponse t =
      post(kToolsPath, kListBody, employee({{"Connection", "Upgrade"}, {"Upgrade", "h2c"}}));
  EXPECT_NO_FATAL_FAILURE(expect_error(t, 400, "upgrade_refused", Shape::tools));
}

TEST_F(Refusal, MissingTokenIs401) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, kChatBody, {}), 401, "unauthorized", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, {}), 401, "unauthorized", Shape::tools));
}

TEST_F(Refusal, BadTokenIs401) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(post(kChatPath, kChatBody, bearer("wrong-token")), 401,
                                       "unauthorized", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(post(kToolsPath, kListBody, bearer(kGatewayToken)), 401,
                                       "unauthorized", Shape::tools))
      << "the gateway token itself is not a client token";
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kToolsPath, kListBody, {{"Authorization", std::string("Basic ") + kEmployeeToken}}), 401,
      "unauthorized", Shape::tools));
}

TEST_F(Refusal, AdminTokenIsNotAClientToken) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(post(kToolsPath, kListBody, bearer(kAdminToken)), 401,
                                       "unauthorized", Shape::tools));
}

TEST_F(Refusal, QueryStringIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(post("/tools/invoke?debug=1", kListBody, employee()), 400,
                                       "invalid_request", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(expect_error(get("/v1/models?limit=1", bearer(kEmployeeToken)), 400,
                                       "invalid_request", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(post("/v1/chat/completions?", kChatBody, employee()), 400,
                                       "invalid_request", Shape::openai));
}

TEST_F(Refusal, DeniedToolIs403WithRuleAndReason) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, R"({"tool":"exec","args":{"command":"id"}})", employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 403, "policy_denied", Shape::tools));
  const auto j = json_body(r);
  EXPECT_EQ(j["error"].value("rule", ""), "no-exec") << r.describe();
  EXPECT_EQ(j["error"].value("reason", ""), "no shell") << r.describe();
}

TEST_F(Refusal, ToolAliasesAndCaseFoldToTheDeniedTool) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  // `bash` is an alias of exec; tool names are case-insensitive; `name` wins over `tool`.
  for (const char* body :
       {R"({"tool":"bash","args":{"command":"id"}})", R"({"tool":"EXEC","args":{"command":"id"}})",
        R"({"tool":"sessions_list","name":"exec","args":{}})"}) {
    const HttpResponse r = post(kToolsPath, body, employee());
    EXPECT_NO_FATAL_FAILURE(expect_error(r, 403, "policy_denied", Shape::tools)) << body;
    EXPECT_EQ(json_body(r)["error"].value("rule", ""), "no-exec") << body;
  }
}

TEST_F(Refusal, DefaultDenyForToolWithoutRule) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r =
      post(kToolsPath, R"({"tool":"web_search","args":{"query":"x"}})", employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 403, "policy_denied", Shape::tools));
  // No rule decided it: the error names none (not "rule": "") and says why.
  const auto j = json_body(r);
  EXPECT_FALSE(j["error"].contains("rule")) << r.describe();
  EXPECT_NE(j["error"].value("reason", "").find("default_decision"), std::string::npos)
      << r.describe();
}

TEST_F(Refusal, ChatDeniedForRoleWithoutRule) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kChatPath, kChatBody, bearer(kContractorToken));
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 403, "policy_denied", Shape::openai));
}

// ---- the order of checks (SPEC §2 step 1): the first check that fails answers ---------------

TEST_F(Refusal, UpgradeIsCheckedBeforeTheRouteTable) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(get("/socket", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}), 400,
                   "upgrade_refused", Shape::openai));
}

TEST_F(Refusal, RouteIsCheckedBeforeAuth) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(get("/nonexistent", {}), 404, "not_found", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(get(kChatPath, {}), 405, "method_not_allowed", Shape::openai));
}

TEST_F(Refusal, QueryStringIsCheckedBeforeAuth) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post("/tools/invoke?x=1", kListBody, {}), 400, "invalid_request", Shape::tools));
}

TEST_F(Refusal, AuthIsCheckedBeforeTheBodyLimit) {
  config_["limits"]["max_body_bytes"] = 1024;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(
      make_request("POST", kToolsPath, port(),
                   {{"Content-Length", "1048576"}, {"Content-Type", "application/json"}}, {})));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(c.read_response(Millis{10000}), 401, "unauthorized", Shape::tools));
}

TEST_F(Refusal, BodyLimitIsCheckedBeforeJson) {
  config_["limits"]["max_body_bytes"] = 1024;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, "{bad" + std::string(2000, 'x'), employee()), 413,
                   "payload_too_large", Shape::tools));
}

// ---- error bodies for each status ---------------------------------------------------------

TEST_F(Refusal, BadJsonIs400InBothShapes) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, "{bad", employee()), 400, "invalid_request", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, "{bad", employee()), 400, "invalid_request", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, "[1,2]", employee()), 400, "invalid_request", Shape::tools))
      << "body must be a JSON object";
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, "", employee()), 400, "invalid_request", Shape::tools))
      << "empty body";
}

TEST_F(Refusal, InvalidUtf8Is400) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kChatPath,
           "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
           employee()),
      400, "invalid_request", Shape::openai));
}

TEST_F(Refusal, DuplicateTopLevelKeyIs400) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, R"({"tool":"sessions_list","tool":"exec"})", employee()), 400,
                   "invalid_request", Shape::tools));
}

TEST_F(Refusal, DuplicateNestedKeyIs400) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kToolsPath, R"({"tool":"sessions_list","args":{"limit":1,"limit":2}})", employee()), 400,
      "invalid_request", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kChatPath,
           R"({"model":"openclaw","messages":[{"role":"user","content":"hi","role":"system"}]})",
           employee()),
      400, "invalid_request", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kToolsPath, R"({"tool":"sessions_list","args":{"a":[{"b":{"c":1,"c":2}}]}})",
           employee()),
      400, "invalid_request", Shape::tools));
}

TEST_F(Refusal, WrongFieldTypesAre400) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(expect_error(post(kToolsPath, R"({"tool":5})", employee()), 400,
                                       "invalid_request", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, R"({"tool":"sessions_list","args":[1]})", employee()), 400,
                   "invalid_request", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, R"({"model":"openclaw","messages":"hi"})", employee()), 400,
                   "invalid_request", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(expect_error(
      post(kChatPath, R"({"model":"openclaw","stream":"yes","messages":[]})", employee()), 400,
      "invalid_request", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kResponsesPath, R"({"model":"openclaw","input":5})", employee()), 400,
                   "invalid_request", Shape::openai));
}

TEST_F(Refusal, SlowHeadersAre408ThenClosed) {
  config_["limits"]["header_timeout_ms"] = 300;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port())) << c.last_error();
  ASSERT_TRUE(c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor"));
  const HttpResponse r = c.read_response(Millis{10000});
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 408, "request_timeout", Shape::openai));
  EXPECT_TRUE(c.wait_closed(Millis{3000})) << "connection not closed after 408";
}

TEST_F(Refusal, SlowBodyIs408ThenClosed) {
  // The head and the start of the body come at once; the rest never does. The body's read is
  // bounded by idle_timeout_ms (a body that came whole with the head needs no timer).
  config_["limits"]["idle_timeout_ms"] = 300;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port())) << c.last_error();
  Headers h = employee({{"Content-Length", "200"}});
  const std::string request = make_request("POST", kChatPath, port(), h, {});
  ASSERT_TRUE(c.send(request + R"({"model":"openclaw","messages":[)"));
  const HttpResponse r = c.read_response(Millis{10000});
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 408, "request_timeout", Shape::openai));
  EXPECT_TRUE(c.wait_closed(Millis{3000})) << "connection not closed after 408";
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(Refusal, ContentLengthOverLimitIs413BeforeReadingTheBody) {
  config_["limits"]["max_body_bytes"] = 1024;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  // Only the head is sent: the answer must come from Content-Length alone.
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  Headers h = employee({{"Content-Length", "1048576"}});
  ASSERT_TRUE(c.send(make_request("POST", kToolsPath, port(), h, {})));
  const HttpResponse r = c.read_response(Millis{10000});
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 413, "payload_too_large", Shape::tools));
  // A body just over the limit on /v1/* too.
  const std::string big = R"({"model":"openclaw","messages":[{"role":"user","content":")" +
                          std::string(1100, 'a') + "\"}]}";
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, big, employee()), 413, "payload_too_large", Shape::openai));
}

TEST_F(Refusal, ChunkedBodyOverLimitIs413) {
  config_["limits"]["max_body_bytes"] = 1024;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string part(700, 'a');
  const std::string body = std::string("2bc\r\n") + part + "\r\n2bc\r\n" + part + "\r\n0\r\n\r\n";
  const std::string req =
      make_request("POST", kToolsPath, port(), employee({{"Transfer-Encoding", "chunked"}}), body);
  EXPECT_NO_FATAL_FAILURE(
      expect_error(raw_exchange(port(), req), 413, "payload_too_large", Shape::tools));
}

TEST_F(Refusal, OversizedHeadersAre431) {
  config_["limits"]["max_header_bytes"] = 2048;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r =
      post(kChatPath, kChatBody, employee({{"X-Padding", std::string(4000, 'p')}}));
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 431, "headers_too_large", Shape::openai));
}

TEST_F(Refusal, UnsupportedTransferCodingIs501) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string req =
      make_request("POST", kChatPath, port(), employee({{"Transfer-Encoding", "gzip"}}), "");
  EXPECT_NO_FATAL_FAILURE(
      expect_error(raw_exchange(port(), req), 501, "not_implemented", Shape::openai));
  expect_still_serving();
}

// ---- request smuggling: 400, not forwarded, connection closed -----------------------------

class Smuggling : public Refusal {
 protected:
  void expect_rejected(const std::string& bytes) {
    bool closed = false;
    const HttpResponse r = raw_exchange(port(), bytes, &closed);
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_TRUE(is_trace_id(r.header("x-clawgate-trace-id").value_or(""))) << r.describe();
    const auto j = json_body(r);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r.describe();
    EXPECT_TRUE(closed) << "connection left open after malformed framing";
    expect_still_serving();
  }
  std::string head_start() {
    return "POST /tools/invoke HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) +
           "\r\nAuthorization: Bearer " + kEmployeeToken + "\r\nContent-Type: application/json\r\n";
  }
};

TEST_F(Smuggling, ContentLengthWithTransferEncodingRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = std::string("0\r\n\r\n") + "GET /v1/models HTTP/1.1\r\nHost: x\r\n" +
                           "Authorization: Bearer " + kEmployeeToken + "\r\n\r\n";
  expect_rejected(head_start() + "Content-Length: " + std::to_string(body.size()) +
                  "\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
}

TEST_F(Smuggling, TwoEqualContentLengthsRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  const std::string cl = std::to_string(body.size());
  expect_rejected(head_start() + "Content-Length: " + cl + "\r\nContent-Length: " + cl +
                  "\r\n\r\n" + body);
}

TEST_F(Smuggling, BadChunkSizeRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  expect_rejected(head_start() + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + kListBody +
                  "\r\n0\r\n\r\n");
}

TEST_F(Smuggling, OversizedChunkSizeFieldRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  // 64 hex digits: far beyond any chunk size (and beyond 64 bits).
  expect_rejected(head_start() + "Transfer-Encoding: chunked\r\n\r\n1" + std::string(63, '0') +
                  "\r\n" + kListBody + "\r\n0\r\n\r\n");
}

TEST_F(Smuggling, ObsFoldRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + "X-Folded: first\r\n  continued\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST_F(Smuggling, AbsoluteFormTargetRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected("POST http://127.0.0.1:" + std::to_string(port()) +
                  "/tools/invoke HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) +
                  "\r\nAuthorization: Bearer " + kEmployeeToken +
                  "\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST_F(Smuggling, ContentLengthWithNonChunkedTransferEncodingRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + "Content-Length: " + std::to_string(body.size()) +
                  "\r\nTransfer-Encoding: gzip\r\n\r\n" + body);
}

TEST_F(Smuggling, TwoDifferentContentLengthsRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + "Content-Length: " + std::to_string(body.size()) +
                  "\r\nContent-Length: 5\r\n\r\n" + body);
}

TEST_F(Smuggling, BareLfLineEndingRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + "X-A: 1\nX-B: 2\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST_F(Smuggling, NulInHeaderValueRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + std::string("X-A: a\0b\r\n", 10) +
                  "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST_F(Smuggling, WhitespaceBeforeColonRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  expect_rejected(head_start() + "Content-Length : " + std::to_string(body.size()) + "\r\n\r\n" +
                  body);
}

TEST_F(Smuggling, ContentLengthListRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = kListBody;
  const std::string cl = std::to_string(body.size());
  expect_rejected(head_start() + "Content-Length: " + cl + ", " + cl + "\r\n\r\n" + body);
}

}  // namespace
}  // namespace clawgate::itest

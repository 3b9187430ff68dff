// Fail closed on upstream trouble (SPEC §2 "Error bodies", §9): refused, timed out, reset, cut
// and oversized upstream answers become 502/504 errors; a truncated body is never a success.

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

const char* kChatBody = R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})";
const char* kListBody = R"({"tool":"sessions_list","args":{"limit":1}})";

class UpstreamFailure : public ProxyTest {};

TEST_F(UpstreamFailure, RefusedIs502) {
  config_["upstream"]["url"] = "http://127.0.0.1:" + std::to_string(closed_port());
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, kChatBody, employee()), 502, "upstream_error", Shape::openai));
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, employee()), 502, "upstream_error", Shape::tools));
  // An unreachable upstream does not turn other checks off.
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, bearer("nope")), 401, "unauthorized", Shape::tools));
  EXPECT_NO_FATAL_FAILURE(expect_error(post(kToolsPath, R"({"tool":"exec"})", employee()), 403,
                                       "policy_denied", Shape::tools));
}

TEST_F(UpstreamFailure, NoResponseHeadWithinTimeoutIs504) {
  config_["upstream"]["timeout_ms"] = 500;
  upstream_->on(kChatPath, [](const UpstreamRequest&, UpstreamConn& c) {
    if (c.sleep_for(Millis{6000})) {
      c.respond(200, R"({"late":true})");
    }
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, kChatBody, employee()), 504, "upstream_timeout", Shape::openai));
  EXPECT_EQ(upstream_->proxied_count(), 1u);
}

TEST_F(UpstreamFailure, ResetIs502) {
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) { c.reset(); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, employee()), 502, "upstream_error", Shape::tools));
}

TEST_F(UpstreamFailure, ResetAfterPartialHeadIs502) {
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.send("HTTP/1.1 200 OK\r\nContent-Type: appl");
    c.sleep_for(Millis{50});
    c.reset();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, employee()), 502, "upstream_error", Shape::tools));
}

TEST_F(UpstreamFailure, CloseWithoutResponseIs502) {
  upstream_->on(kChatPath, [](const UpstreamRequest&, UpstreamConn& c) { c.close(); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, kChatBody, employee()), 502, "upstream_error", Shape::openai));
}

TEST_F(UpstreamFailure, HalfContentLengthBodyThenCloseIs502) {
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" +
           std::string(R"({"ok":true,"result":{"text":")") + std::string(20, 'x'));
    c.sleep_for(Millis{50});
    c.close();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, kListBody, employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 502, "upstream_error", Shape::tools));
}

TEST_F(UpstreamFailure, ChunkedJsonBodyCutIs502) {
  upstream_->on(kChatPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.send(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "10\r\n{\"id\":\"chatcmpl\r\n");
    c.sleep_for(Millis{50});
    c.close();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kChatPath, kChatBody, employee()), 502, "upstream_error", Shape::openai));
}

TEST_F(UpstreamFailure, ResponseOverMaxResponseBytesIs502) {
  config_["limits"]["max_response_bytes"] = 1024;
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ok":true,"result":")" + std::string(4096, 'r') + "\"}");
  });
  upstream_->on(kChatPath,
                [](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, R"({"ok":true})"); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, employee()), 502, "upstream_error", Shape::tools));
  // A small answer still passes: the limit, not the route, made the 502.
  const HttpResponse ok = post(kChatPath, kChatBody, employee());
  EXPECT_EQ(ok.status, 200) << ok.describe();
}

TEST_F(UpstreamFailure, NonStreamBodySlowerThanTimeoutIs504) {
  // SPEC §3: timeout_ms bounds a whole non-stream response, not just its head.
  config_["upstream"]["timeout_ms"] = 500;
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.send(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":");
    if (c.sleep_for(Millis{3000})) {
      c.send("true}");
    }
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_NO_FATAL_FAILURE(
      expect_error(post(kToolsPath, kListBody, employee()), 504, "upstream_timeout", Shape::tools));
}

}  // namespace
}  // namespace clawgate::itest

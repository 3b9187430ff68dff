#include "clawgate/upstream/headers.hpp"

#include <gtest/gtest.h>

namespace clawgate::upstream {
namespace {

const std::vector<std::string> kAllowed{"x-openclaw-agent-id", "x-openclaw-session-key"};

http::fields client_fields() {
  http::fields f;
  f.insert("Host", "clawgate.local:18790");
  f.insert("Authorization", "Bearer client-secret");
  f.insert("Cookie", "session=abc");
  f.insert("Proxy-Authorization", "Basic xyz");
  f.insert("Proxy-Connection", "keep-alive");
  f.insert("Connection", "keep-alive, X-Custom-Hop");
  f.insert("X-Custom-Hop", "drop me");
  f.insert("Keep-Alive", "timeout=5");
  f.insert("TE", "trailers");
  f.insert("Trailer", "Expires");
  f.insert("Upgrade", "websocket");
  f.insert("X-Forwarded-For", "10.1.2.3");
  f.insert("X-Forwarded-Proto", "https");
  f.insert("Forwarded", "for=10.1.2.3");
  f.insert("X-Real-IP", "10.1.2.3");
  f.insert("Content-Length", "12");
  f.insert("Expect", "100-continue");
  f.insert("Accept-Encoding", "gzip");
  f.insert("X-Clawgate-Approval", "apr_x");
  f.insert("x-openclaw-agent-id", "ops");
  f.insert("X-OpenClaw-Session-Key", "s1");
  f.insert("x-openclaw-model", "openai/gpt-5");
  f.insert("x-openclaw-scopes", "operator.admin");
  f.insert("x-openclaw-message-channel", "slack");
  f.insert("Content-Type", "application/json");
  f.insert("User-Agent", "agent/1.0");
  f.insert("traceparent", "00-abc-def-01");
  return f;
}

TEST(UpstreamHeaders, RebuildKeepsOnlySafeHeadersAndInjectsTheGatewayToken) {
  http::fields out;
  rebuild_request_fields(client_fields(), kAllowed, "gw-token", "127.0.0.1:18789", out);
  std::vector<std::string> names;
  for (const auto& f : out) names.emplace_back(f.name_string());
  const std::vector<std::string> expected{"x-openclaw-agent-id", "X-OpenClaw-Session-Key",
                                          "Content-Type",        "User-Agent",
                                          "traceparent",         "Host",
                                          "Authorization"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(out[http::field::authorization], "Bearer gw-token");
  EXPECT_EQ(out[http::field::host], "127.0.0.1:18789");
  EXPECT_EQ(out["x-openclaw-agent-id"], "ops");
}

TEST(UpstreamHeaders, OpenClawHeadersNeedExplicitAllowance) {
  EXPECT_FALSE(forwards_header("x-openclaw-model", kAllowed));
  EXPECT_FALSE(forwards_header("x-openclaw-scopes", kAllowed));
  EXPECT_TRUE(forwards_header("x-openclaw-agent-id", kAllowed));
  EXPECT_FALSE(forwards_header("x-openclaw-agent-id", {}));
  EXPECT_TRUE(forwards_header("x-openclaw-model", {"x-openclaw-model"}));
}

TEST(UpstreamHeaders, DroppedHeaderFamilies) {
  for (const char* n : {"authorization", "cookie", "proxy-authorization", "proxy-anything",
                        "x-forwarded-for", "x-forwarded-host", "forwarded", "x-real-ip",
                        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
                        "upgrade", "host", "content-length", "x-clawgate-approval"}) {
    EXPECT_FALSE(forwards_header(n, kAllowed)) << n;
  }
  EXPECT_TRUE(forwards_header("content-type", kAllowed));
  EXPECT_TRUE(forwards_header("accept", kAllowed));
}

TEST(UpstreamHeaders, ResponseFilterDropsFramingAndHopByHop) {
  http::fields in;
  in.insert("Content-Type", "text/event-stream");
  in.insert("Content-Length", "10");
  in.insert("Transfer-Encoding", "chunked");
  in.insert("Connection", "keep-alive, X-Hop");
  in.insert("X-Hop", "1");
  in.insert("Keep-Alive", "timeout=5");
  in.insert("Cache-Control", "no-cache");
  http::fields out;
  filter_response_fields(in, out);
  std::vector<std::string> names;
  for (const auto& f : out) names.emplace_back(f.name_string());
  EXPECT_EQ(names, (std::vector<std::string>{"Content-Type", "Cache-Control"}));
}

}  // namespace
}  // namespace clawgate::upstream

// Allowed requests reach the upstream rebuilt per SPEC §2 step 9 (gateway token, header hygiene,
// byte-identical body) and the upstream's answer comes back unchanged.

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

// Headers a client sends that must never reach the gateway, plus ones that must.
Headers hostile_headers() {
  return {
      {"Cookie", "session=abc123"},
      {"Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"},
      {"X-Forwarded-For", "10.1.2.3"},
      {"X-Forwarded-Host", "evil.example"},
      {"X-Forwarded-Proto", "https"},
      {"Forwarded", "for=10.1.2.3;proto=https"},
      {"X-Real-IP", "10.1.2.3"},
      {"Connection", "keep-alive, X-Hop-Test"},
      {"X-Hop-Test", "connection-listed"},
      {"Keep-Alive", "timeout=5"},
      {"TE", "trailers"},
      {"x-openclaw-model", "openai/gpt-5"},
      {"x-openclaw-scopes", "operator.admin"},
      {"x-openclaw-message-channel", "slack"},
      {"x-openclaw-agent-id", "main"},
  };
}

// Asserts everything SPEC §2 step 9 says about a forwarded request's head.
void expect_clean_upstream_head(const UpstreamRequest& u) {
  ASSERT_EQ(u.header_count("authorization"), 1u);
  EXPECT_EQ(*u.header("authorization"), std::string("Bearer ") + kGatewayToken);
  EXPECT_EQ(u.header_count("host"), 1u);
  const std::set<std::string> forbidden{"cookie",
                                        "proxy-authorization",
                                        "x-forwarded-for",
                                        "x-forwarded-host",
                                        "x-forwarded-proto",
                                        "forwarded",
                                        "x-real-ip",
                                        "x-hop-test",
                                        "keep-alive",
                                        "te",
                                        "upgrade",
                                        "proxy-connection"};
  for (const auto& [name, value] : u.headers) {
    const std::string n = to_lower(name);
    EXPECT_EQ(forbidden.count(n), 0u)
        << "forwarded a header it must drop: " << name << ": " << value;
    EXPECT_NE(n.rfind("x-forwarded-", 0), 0u) << name;
    if (n.rfind("x-openclaw-", 0) == 0) {
      EXPECT_TRUE(n == "x-openclaw-agent-id" || n == "x-openclaw-session-key")
          << "x-openclaw-* header not in forward_headers.allow reached the upstream: " << name;
    }
    if (n == "connection") {
      EXPECT_EQ(to_lower(value).find("x-hop-test"), std::string::npos) << value;
    }
  }
  ASSERT_EQ(u.header_count("x-openclaw-agent-id"), 1u) << "allowed header was dropped";
  EXPECT_EQ(*u.header("x-openclaw-agent-id"), "main");
  // Nothing of the client's credentials anywhere in the forwarded head.
  for (const auto& [name, value] : u.headers) {
    EXPECT_EQ(value.find(kEmployeeToken), std::string::npos) << name;
  }
}

void expect_relayed(const HttpResponse& r, const std::string& body, const std::string& ctype) {
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.complete) << r.describe();
  EXPECT_EQ(r.body, body);
  ASSERT_TRUE(r.header("content-type").has_value()) << r.describe();
  EXPECT_EQ(*r.header("content-type"), ctype);
  const auto trace = r.header("x-clawgate-trace-id");
  ASSERT_TRUE(trace.has_value()) << r.describe();
  EXPECT_TRUE(is_trace_id(*trace)) << *trace;
}

class Forwarding : public ProxyTest {
 protected:
  // POSTs a chat of about `bytes` and checks the upstream received it byte for byte.
  void check_large_chat(std::size_t bytes) {
    ASSERT_NO_FATAL_FAILURE(start_proxy());
    std::string text;
    for (int i = 0; text.size() < bytes; ++i) {
      text += "line " + std::to_string(i) + " of a long paste; ";
    }
    const std::string body =
        json{{"model", "openclaw"},
             {"messages", json::array({{{"role", "user"}, {"content", text}}})}}
            .dump();
    const HttpResponse r = post(kChatPath, body, employee());
    ASSERT_EQ(r.status, 200) << r.describe();
    const auto seen = upstream_->proxied_requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].body.size(), body.size());
    EXPECT_TRUE(seen[0].body == body) << body.size() << "-byte body not byte-identical";
  }

  // POSTs `body` to `path` with every hostile header and checks both ends.
  void check_post(const std::string& path, const std::string& body) {
    const std::string up_body = R"({"id":"x-1","object":"thing","note":"from the fake"})";
    upstream_->on(path, [up_body](const UpstreamRequest&, UpstreamConn& c) {
      c.respond(200, up_body, "application/json; charset=utf-8");
    });
    ASSERT_NO_FATAL_FAILURE(start_proxy());
    const HttpResponse r = post(path, body, employee(hostile_headers()));
    ASSERT_NO_FATAL_FAILURE(expect_relayed(r, up_body, "application/json; charset=utf-8"));
    const auto seen = upstream_->proxied_requests();
    ASSERT_EQ(seen.size(), 1u);
    const UpstreamRequest& u = seen[0];
    EXPECT_EQ(u.method, "POST");
    EXPECT_EQ(u.target, path);
    EXPECT_EQ(u.body, body) << "body not byte-identical";
    EXPECT_FALSE(u.chunked);
    ASSERT_TRUE(u.header("content-length").has_value());
    EXPECT_EQ(*u.header("content-length"), std::to_string(body.size()));
    expect_clean_upstream_head(u);
  }

  void run_five_hundred_parallel(unsigned io_threads);
};

TEST_F(Forwarding, ChatCompletionsForwardedWithGatewayTokenAndCleanHeaders) {
  // Odd spacing and key order: the upstream must receive these exact bytes.
  check_post(kChatPath,
             "{\"model\" : \"openclaw\",\n  \"messages\":[{\"role\":\"user\",\"content\":\"hi "
             "there \\u00e9\"}],\"temperature\":0.5}");
}

TEST_F(Forwarding, ResponsesForwardedWithGatewayTokenAndCleanHeaders) {
  check_post(kResponsesPath, R"({"model":"openclaw","input":"hello",  "instructions":"be brief"})");
}

TEST_F(Forwarding, ToolsInvokeSessionsListForwardedWithGatewayTokenAndCleanHeaders) {
  check_post(kToolsPath, R"({"tool":"sessions_list","action":"json","args":{"limit":2}})");
}

TEST_F(Forwarding, ModelsForwardedWithGatewayTokenAndCleanHeaders) {
  const std::string up_body = R"({"object":"list","data":[{"id":"openclaw","object":"model"}]})";
  upstream_->on(kModelsPath, [up_body](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, up_body, "application/json");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  Headers h = bearer(kEmployeeToken, hostile_headers());
  const HttpResponse r = get(kModelsPath, h);
  ASSERT_NO_FATAL_FAILURE(expect_relayed(r, up_body, "application/json"));
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, kModelsPath);
  EXPECT_TRUE(seen[0].body.empty());
  expect_clean_upstream_head(seen[0]);
}

TEST_F(Forwarding, AllowedSessionKeyHeaderIsForwarded) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r =
      post(kChatPath, R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})",
           employee({{"x-openclaw-session-key", "team-a"}}));
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].header_count("x-openclaw-session-key"), 1u);
  EXPECT_EQ(*seen[0].header("x-openclaw-session-key"), "team-a");
}

TEST_F(Forwarding, UpstreamErrorResponsesRelayedUnchanged) {
  const std::string tool_body =
      R"({"ok":false,"error":{"type":"not_found","message":"Tool not available: sessions_list"}})";
  const std::string chat_body = R"({"error":{"message":"internal error","type":"api_error"}})";
  upstream_->on(kToolsPath, [tool_body](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(404, tool_body, "application/json; charset=utf-8");
  });
  upstream_->on(kChatPath, [chat_body](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(500, chat_body, "application/json; charset=utf-8");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse t = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  EXPECT_EQ(t.status, 404) << t.describe();
  EXPECT_EQ(t.body, tool_body);
  EXPECT_EQ(t.header("content-type").value_or(""), "application/json; charset=utf-8");
  EXPECT_TRUE(is_trace_id(t.header("x-clawgate-trace-id").value_or("")));
  const HttpResponse c = post(
      kChatPath, R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})", employee());
  EXPECT_EQ(c.status, 500) << c.describe();
  EXPECT_EQ(c.body, chat_body);
  EXPECT_EQ(c.header("content-type").value_or(""), "application/json; charset=utf-8");
  EXPECT_EQ(upstream_->proxied_count(), 2u);
}

TEST_F(Forwarding, TraceIdsDifferPerRequestAndAppearInAudit) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"tool":"sessions_list"})";
  const HttpResponse a = post(kToolsPath, body, employee());
  const HttpResponse b = post(kToolsPath, body, employee());
  ASSERT_EQ(a.status, 200) << a.describe();
  ASSERT_EQ(b.status, 200) << b.describe();
  const std::string ta = a.header("x-clawgate-trace-id").value_or("");
  const std::string tb = b.header("x-clawgate-trace-id").value_or("");
  EXPECT_TRUE(is_trace_id(ta));
  EXPECT_TRUE(is_trace_id(tb));
  EXPECT_NE(ta, tb);
  // SPEC §2: the same id is in every audit record of that request.
  const std::string audit = read_file(dir_.file("audit/clawgate.jsonl"));
  EXPECT_NE(audit.find(ta), std::string::npos) << "trace id not in the audit log";
  EXPECT_NE(audit.find(tb), std::string::npos) << "trace id not in the audit log";
  EXPECT_EQ(audit.find(kGatewayToken), std::string::npos) << "gateway token in the audit log";
  EXPECT_EQ(audit.find(kEmployeeToken), std::string::npos) << "client token in the audit log";
}

TEST_F(Forwarding, ChunkedRequestBodyForwardedWithContentLength) {
  // The control for Refusal.ChunkedBodyOverLimitIs413: de-chunked, byte-identical, with a length.
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string a = R"({"tool":"sessions_list",)";
  const std::string b = R"("args":{"limit":3}})";
  std::ostringstream body;
  body << std::hex << a.size() << "\r\n"
       << a << "\r\n"
       << b.size() << "\r\n"
       << b << "\r\n0\r\n\r\n";
  const std::string req = make_request("POST", kToolsPath, port(),
                                       employee({{"Transfer-Encoding", "chunked"}}), body.str());
  const HttpResponse r = raw_exchange(port(), req);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, a + b);
  EXPECT_EQ(seen[0].header("content-length").value_or(""), std::to_string((a + b).size()));
}

TEST_F(Forwarding, LargeRequestBodyForwardedIntact) {
  // ~1.5 MB, under the 2 MiB default: arrives in many segments on both sides.
  ASSERT_NO_FATAL_FAILURE(check_large_chat(1500000));
}

TEST_F(Forwarding, RequestLargerThanTheSocketTakesAtOnceIsForwardedIntact) {
  // clawgate writes what the upstream socket takes at once, then the rest asynchronously: a
  // 12 MB body (over loopback's largest send buffer) needs both parts.
  config_["limits"]["max_body_bytes"] = 16 * 1024 * 1024;
  ASSERT_NO_FATAL_FAILURE(check_large_chat(12 * 1024 * 1024));
}

TEST_F(Forwarding, LargeResponseRelayedIntact) {
  std::string big = R"({"ok":true,"result":")";
  for (int i = 0; big.size() < 9 * 1024 * 1024; ++i) {
    big += "chunk-" + std::to_string(i) + "-";
  }
  big += "\"}";
  upstream_->on(kToolsPath,
                [big](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, big); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  ASSERT_EQ(r.status, 200) << r.status << " " << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big) << "9 MB response not byte-identical";
}

TEST_F(Forwarding, PipelinedRequestsAnsweredInOrder) {
  upstream_->on(kToolsPath, [](const UpstreamRequest& req, UpstreamConn& c) {
    const json in = json::parse(req.body, nullptr, false);
    c.respond(200, json{{"ok", true}, {"result", {{"n", in["args"].value("n", -1)}}}}.dump());
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  std::string both;
  for (int n = 1; n <= 2; ++n) {
    both += make_request("POST", kToolsPath, port(), employee(),
                         json{{"tool", "sessions_list"}, {"args", {{"n", n}}}}.dump());
  }
  ASSERT_TRUE(c.send(both));  // one write: the second request sits behind the first
  for (int n = 1; n <= 2; ++n) {
    const HttpResponse r = c.read_response(Millis{10000});
    ASSERT_EQ(r.status, 200) << "response " << n << ": " << r.describe();
    EXPECT_EQ(json_body(r)["result"].value("n", 0), n) << r.describe();
  }
  EXPECT_EQ(upstream_->proxied_count(), 2u);
}

// While a request is upstream, the proxy keeps what the client pipelines, up to 64 KiB, and
// then stops reading; the answer must still go out, and the pipelined request be served.
TEST_F(Forwarding, PipelinedBytesBeyondTheWatchLimitAreServedInOrder) {
  upstream_->on(kToolsPath, [](const UpstreamRequest& req, UpstreamConn& c) {
    const json in = json::parse(req.body, nullptr, false);
    const int n = in["args"].value("n", -1);
    if (n == 1 && !c.sleep_for(Millis{300})) return;  // time to read the pipelined bytes
    c.respond(200, json{{"ok", true}, {"result", {{"n", n}}}}.dump());
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  std::string both = make_request("POST", kToolsPath, port(), employee(),
                                  json{{"tool", "sessions_list"}, {"args", {{"n", 1}}}}.dump());
  both += make_request(
      "POST", kToolsPath, port(), employee(),
      json{{"tool", "sessions_list"}, {"args", {{"n", 2}, {"pad", std::string(80000, 'x')}}}}
          .dump());
  ASSERT_TRUE(c.send(both));
  for (int n = 1; n <= 2; ++n) {
    const HttpResponse r = c.read_response(Millis{10000});
    ASSERT_EQ(r.status, 200) << "response " << n << ": " << r.describe();
    EXPECT_EQ(json_body(r)["result"].value("n", 0), n) << r.describe();
  }
}

TEST_F(Forwarding, StaleIdleUpstreamConnectionIsNotUsed) {
  // The gateway (Node) closes idle keep-alive connections after a few seconds; a request that
  // follows must not fail because the pooled connection died meanwhile.
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ok":true})");
    c.sleep_for(Millis{100});
    c.close();  // idle close after the answer, like a server-side keep-alive timeout
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.describe();
    std::this_thread::sleep_for(Millis{400});
  }
}

TEST_F(Forwarding, UpstreamConnectionCloseIsHonoured) {
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.set_keep_alive(false);  // "Connection: close", then the fake closes
    c.respond(200, R"({"ok":true})");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.describe();
  }
  EXPECT_EQ(upstream_->proxied_connections(), 3u);
}

TEST_F(Forwarding, HeaderHygieneIsCaseInsensitive) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})",
                              employee({{"COOKIE", "a=b"},
                                        {"X-FORWARDED-FOR", "10.0.0.1"},
                                        {"x-Real-Ip", "10.0.0.1"},
                                        {"PROXY-AUTHORIZATION", "Basic eDp5"},
                                        {"X-OpenClaw-Scopes", "operator.admin"},
                                        {"X-OPENCLAW-MODEL", "openai/gpt-5"},
                                        {"X-OpenClaw-Agent-Id", "main"}}));
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  expect_clean_upstream_head(seen[0]);
}

TEST_F(Forwarding, DroppedHeaderDoesNotInfluenceTheDecision) {
  // SPEC §2 step 4: only headers that will be forwarded take part in target resolution.
  policy_["rules"].push_back(json::parse(
      R"({"id":"no-secret-agent","match":{"route":"chat","agent":"secret"},"decision":"deny","reason":"secret agent"})"));
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})";
  // Forwarded header names the agent: denied.
  const HttpResponse a = post(kChatPath, body, employee({{"x-openclaw-agent-id", "secret"}}));
  EXPECT_NO_FATAL_FAILURE(expect_error(a, 403, "policy_denied", Shape::openai));
  EXPECT_EQ(json_body(a)["error"].value("rule", ""), "no-secret-agent") << a.describe();
  // Agent from the model: denied.
  const HttpResponse b =
      post(kChatPath, R"({"model":"openclaw/secret","messages":[{"role":"user","content":"hi"}]})",
           employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(b, 403, "policy_denied", Shape::openai));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  // The alias header is not in forward_headers.allow: dropped, so it cannot select the agent.
  const HttpResponse c = post(kChatPath, body, employee({{"x-openclaw-agent", "secret"}}));
  EXPECT_EQ(c.status, 200) << c.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header_count("x-openclaw-agent"), 0u);
}

TEST_F(Forwarding, ExpectContinueRequestIsForwarded) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"tool":"sessions_list","args":{"limit":5}})";
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  const std::string req =
      make_request("POST", kToolsPath, port(), employee({{"Expect", "100-continue"}}), body);
  const std::size_t head_end = req.find("\r\n\r\n") + 4;
  ASSERT_TRUE(c.send(req.substr(0, head_end)));
  // The client holds its body back until clawgate has passed the checks before the body.
  HttpResponse r = c.read_head(Millis{5000});
  ASSERT_EQ(r.status, 100) << r.describe();
  ASSERT_TRUE(c.send(body));
  r = c.read_response(Millis{10000});
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, body);
}

TEST_F(Forwarding, ExpectContinueIsNotGrantedToAnUnauthenticatedClient) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  const std::string req = make_request("POST", kToolsPath, port(),
                                       bearer("not-a-token", {{"Expect", "100-continue"},
                                                              {"Content-Type", "application/json"}}),
                                       R"({"tool":"sessions_list"})");
  ASSERT_TRUE(c.send(req.substr(0, req.find("\r\n\r\n") + 4)));
  const HttpResponse r = c.read_response(Millis{5000});
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 401, "unauthorized", Shape::tools));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(Forwarding, UpstreamKeepAliveConnectionIsReused) {
  config_["upstream"]["probe_interval_ms"] = 60000;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (int i = 0; i < 5; ++i) {
    // Each on a new client connection: reuse must be on the upstream side.
    const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  ASSERT_EQ(upstream_->proxied_count(), 5u);
  EXPECT_EQ(upstream_->proxied_connections(), 1u)
      << "5 sequential requests used " << upstream_->proxied_connections()
      << " upstream connections (accepted in total: " << upstream_->accepted_connections() << ")";
}

// 50 clients × 10 requests on keep-alive connections, each answer checked against its request.
void Forwarding::run_five_hundred_parallel(unsigned io_threads) {
  config_["threads"] = io_threads;
  upstream_->on(kToolsPath, [](const UpstreamRequest& req, UpstreamConn& c) {
    const json in = json::parse(req.body, nullptr, false);
    const int n = in.is_object() ? in["args"].value("n", -1) : -2;
    c.respond(200, json{{"ok", true}, {"result", {{"n", n}}}}.dump());
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  constexpr int kThreads = 50;
  constexpr int kPerThread = 10;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  const std::uint16_t p = port();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RawClient c;
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        if (!c.connected() && !c.connect(p)) {
          failures[t] = "connect: " + c.last_error();
          return;
        }
        const std::string body = json{{"tool", "sessions_list"}, {"args", {{"n", n}}}}.dump();
        c.send(make_request("POST", kToolsPath, p, employee(), body));
        const HttpResponse r = c.read_response(Millis{30000});
        const json j = json_body(r);
        if (r.status != 200 || !j.is_object() || j["result"].value("n", -3) != n) {
          failures[t] = "request " + std::to_string(n) + ": " + r.describe();
          return;
        }
        ok.fetch_add(1);
        if (auto conn = r.header("connection"); conn && to_lower(*conn) == "close") {
          c.close();
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (const auto& f : failures) {
    EXPECT_TRUE(f.empty()) << f;
  }
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(upstream_->proxied_count(), static_cast<std::size_t>(kThreads * kPerThread));
}

// More than one I/O thread: each connection runs on a strand of its own.
TEST_F(Forwarding, FiveHundredParallelRequestsAllSucceed) { run_five_hundred_parallel(2); }

// One I/O thread: connections share the io_context's executor, without strands.
TEST_F(Forwarding, FiveHundredParallelRequestsAllSucceedOnOneIoThread) {
  run_five_hundred_parallel(1);
}

}  // namespace
}  // namespace clawgate::itest

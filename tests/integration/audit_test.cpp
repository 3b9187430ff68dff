// The audit log as the running binary writes it (SPEC §7, §9 "the audit log records it, and the
// chain still verifies"): one record per stage, the request's trace id in each, and a hash chain
// recomputed here independently of clawgate's own verifier.

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "clawgate/core/crypto.hpp"
#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

class Audit : public ProxyTest {
 protected:
  // Stops clawgate (so every record is on disk) and returns the parsed records.
  std::vector<json> stop_and_read() {
    const auto code = proxy_->stop(Millis{8000});
    EXPECT_EQ(code.value_or(-1), 0);
    std::vector<json> out;
    std::istringstream in(read_file(dir_.file("audit/clawgate.jsonl")));
    std::string line;
    while (std::getline(in, line)) {
      out.push_back(json::parse(line, nullptr, false));
      EXPECT_FALSE(out.back().is_discarded()) << "audit line is not JSON: " << line;
    }
    return out;
  }

  static std::vector<json> of_trace(const std::vector<json>& recs, const std::string& trace) {
    std::vector<json> out;
    for (const auto& r : recs) {
      if (r.is_object() && r.value("trace_id", "") == trace) {
        out.push_back(r);
      }
    }
    return out;
  }

  static const json* stage(const std::vector<json>& recs, const std::string& name) {
    for (const auto& r : recs) {
      if (r.value("stage", "") == name) {
        return &r;
      }
    }
    return nullptr;
  }
};

TEST_F(Audit, ChainVerifiesAfterMixedTraffic) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", employee()).status, 200);
  EXPECT_EQ(post(kToolsPath, R"({"tool":"exec","args":{"command":"id"}})", employee()).status, 403);
  EXPECT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", bearer("wrong-token")).status, 401);
  EXPECT_EQ(get("/nope", {}).status, 404);
  EXPECT_EQ(post(kChatPath, "{bad", employee()).status, 400);
  EXPECT_EQ(post(kChatPath, R"({"model":"openclaw","messages":[{"role":"user","content":"é ✓"}]})",
                 employee())
                .status,
            200);
  const auto recs = stop_and_read();
  ASSERT_GE(recs.size(), 6u);
  std::string prev(64, '0');
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const json& r = recs[i];
    ASSERT_TRUE(r.is_object());
    EXPECT_EQ(r.value("seq", 0), static_cast<int>(i + 1)) << r.dump();
    ASSERT_TRUE(r.contains("prev") && r.contains("hash")) << r.dump();
    EXPECT_EQ(r["prev"].get<std::string>(), prev) << "chain broken at seq " << i + 1;
    json without = r;
    without.erase("hash");
    const std::string expect = core::sha256_hex(prev + "\n" + without.dump());
    EXPECT_EQ(r["hash"].get<std::string>(), expect) << "hash mismatch at seq " << i + 1;
    prev = r["hash"].get<std::string>();
  }
}

TEST_F(Audit, DeniedRequestIsRecordedAndNeverForwarded) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, R"({"tool":"exec","args":{"command":"id"}})", employee());
  ASSERT_EQ(r.status, 403) << r.describe();
  const std::string trace = r.header("x-clawgate-trace-id").value_or("");
  const auto recs = of_trace(stop_and_read(), trace);
  ASSERT_FALSE(recs.empty()) << "no audit record carries the trace id " << trace;
  const json* decided = stage(recs, "decided");
  ASSERT_NE(decided, nullptr) << json(recs).dump();
  EXPECT_EQ((*decided)["data"].value("decision", ""), "deny") << decided->dump();
  const json rules = (*decided)["data"].value("rules", json::array());
  EXPECT_NE(std::find(rules.begin(), rules.end(), json("no-exec")), rules.end()) << decided->dump();
  EXPECT_EQ((*decided).value("identity", json()), json("employee-001")) << decided->dump();
  EXPECT_EQ(stage(recs, "forwarded"), nullptr) << "a denied request has a forwarded record";
}

TEST_F(Audit, ForwardedRequestIsRecordedThroughCompletion) {
  const std::string up_body = R"({"ok":true,"result":{"count":0}})";
  upstream_->on(kToolsPath,
                [up_body](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, up_body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"tool":"sessions_list","args":{"limit":1}})";
  const HttpResponse r = post(kToolsPath, body, employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::string trace = r.header("x-clawgate-trace-id").value_or("");
  const auto recs = of_trace(stop_and_read(), trace);
  for (const char* s : {"received", "decided", "forwarded", "completed"}) {
    EXPECT_NE(stage(recs, s), nullptr) << "missing stage " << s << " in " << json(recs).dump();
  }
  if (const json* rec = stage(recs, "received")) {
    EXPECT_EQ(rec->at("data").value("body_sha256", ""), core::sha256_hex(body)) << rec->dump();
  }
  if (const json* rec = stage(recs, "completed")) {
    EXPECT_EQ(rec->at("data").value("status", 0), 200) << rec->dump();
    EXPECT_EQ(rec->at("data").value("response_sha256", ""), core::sha256_hex(up_body))
        << rec->dump();
  }
}

// The received record holds the body; a secret in it (the gateway's token) is redacted there,
// also when no string of the body needs any other redaction (the writer's shortcut for clean
// bodies must not skip it).
TEST_F(Audit, GatewayTokenInARequestBodyIsRedactedInTheReceivedRecord) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body =
      R"({"model":"openclaw","messages":[{"role":"user","content":"remember )" +
      std::string(kGatewayToken) + R"( for later"}]})";
  const HttpResponse r = post(kChatPath, body, employee());
  const std::string trace = r.header("x-clawgate-trace-id").value_or("");
  const auto all = stop_and_read();
  const auto recs = of_trace(all, trace);
  const json* received = stage(recs, "received");
  ASSERT_NE(received, nullptr) << r.describe();
  EXPECT_EQ(
      received->at("data").at("body").dump(),
      json::parse(R"({"messages":[{"content":"remember [REDACTED] for later","role":"user"}],)"
                  R"("model":"openclaw"})")
          .dump());
  for (const auto& rec : all) {
    EXPECT_EQ(rec.dump().find(kGatewayToken), std::string::npos)
        << "the gateway token reached the audit log: " << rec.dump();
  }
}

TEST_F(Audit, UnauthenticatedRequestIsRecordedAsRejected) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = post(kToolsPath, R"({"tool":"sessions_list"})", bearer("wrong-token"));
  ASSERT_EQ(r.status, 401) << r.describe();
  const std::string trace = r.header("x-clawgate-trace-id").value_or("");
  const auto all = stop_and_read();
  const auto recs = of_trace(all, trace);
  const json* rejected = stage(recs, "rejected");
  ASSERT_NE(rejected, nullptr) << json(recs).dump();
  EXPECT_EQ(rejected->at("data").value("status", 0), 401) << rejected->dump();
  EXPECT_EQ(rejected->at("data").value("code", ""), "unauthorized") << rejected->dump();
  EXPECT_TRUE(rejected->at("identity").is_null()) << rejected->dump();
  for (const auto& rec : all) {
    EXPECT_EQ(rec.dump().find("wrong-token"), std::string::npos)
        << "a presented token reached the audit log: " << rec.dump();
  }
}

// A client that hangs up while its request waits on the gateway is the client's doing: the
// audit says client_gone, with no upstream `error` record and no upstream error counted. Both
// waits: for the gateway's response head, and for the rest of its body.
class ClientLeaves : public Audit, public ::testing::WithParamInterface<bool> {};

TEST_P(ClientLeaves, WhileTheGatewayWorksIsNotAnUpstreamError) {
  const bool after_head = GetParam();
  auto head_sent = std::make_shared<std::atomic<bool>>(false);
  upstream_->on(kToolsPath, [after_head, head_sent](const UpstreamRequest&, UpstreamConn& c) {
    const std::string body = R"({"ok":true,"result":{"count":0}})";
    if (after_head) {
      c.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 6));
      head_sent->store(true);
      if (c.sleep_for(Millis{1500})) c.send(body.substr(6));
    } else if (c.sleep_for(Millis{1500})) {
      c.respond(200, body);
    }
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  {
    RawClient client;
    ASSERT_TRUE(client.connect(port())) << client.last_error();
    ASSERT_TRUE(client.send(make_request("POST", kToolsPath, port(), employee(),
                                         R"({"tool":"sessions_list","args":{"limit":1}})")));
    // Leave once the gateway has the request (or has sent its head); bounded waits.
    for (int i = 0; i < 100 && upstream_->proxied_count() == 0; ++i) {
      std::this_thread::sleep_for(Millis{20});
    }
    ASSERT_EQ(upstream_->proxied_count(), 1u);
    if (after_head) {
      for (int i = 0; i < 100 && !head_sent->load(); ++i) std::this_thread::sleep_for(Millis{20});
      ASSERT_TRUE(head_sent->load());
      std::this_thread::sleep_for(Millis{100});  // the proxy has read the head meanwhile
    }
    client.close();
  }
  // The proxy notices at once (well before the gateway's answer ends); give it a moment.
  std::this_thread::sleep_for(Millis{300});
  const auto metrics = http_request(admin_port(), "GET", "/metrics", bearer(kAdminToken));
  ASSERT_EQ(metrics.status, 200) << metrics.describe();
  EXPECT_EQ(metrics.body.find("clawgate_upstream_errors_total{"), std::string::npos)
      << metrics.body;
  const auto all = stop_and_read();
  const json* completed = stage(all, "completed");
  ASSERT_NE(completed, nullptr) << json(all).dump();
  const auto recs = of_trace(all, completed->value("trace_id", ""));
  EXPECT_EQ(stage(recs, "error"), nullptr) << json(recs).dump();
  EXPECT_NE(stage(recs, "forwarded"), nullptr) << json(recs).dump();
  EXPECT_EQ(completed->at("data").value("client_gone", false), true) << completed->dump();
  // Nothing was answered: status 0 (a 502 would claim the gateway failed).
  EXPECT_EQ(completed->at("data").value("status", -1), 0) << completed->dump();
}

INSTANTIATE_TEST_SUITE_P(Audit, ClientLeaves, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "DuringTheBody" : "BeforeTheHead";
                         });

// A client that hangs up in the middle of a stream: the upstream connection is dropped, and
// `completed` says client_gone, with the status the client did receive and no upstream error.
TEST_F(Audit, ClientLeavingAStreamIsClientGone) {
  auto upstream_closed = std::make_shared<std::atomic<bool>>(false);
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [upstream_closed](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    for (int i = 0; i < 100; ++i) {  // 10 s of events unless the proxy hangs up
      if (!c.sse_event("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n") ||
          c.peer_closed()) {
        upstream_closed->store(true);
        return;
      }
      if (!c.sleep_for(Millis{100})) return;
    }
    c.sse_end();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  {
    RawClient client;
    ASSERT_TRUE(client.connect(port())) << client.last_error();
    ASSERT_TRUE(client.send(make_request(
        "POST", kChatPath, port(), employee(),
        R"({"model":"openclaw","stream":true,"messages":[{"role":"user","content":"hi"}]})")));
    const HttpResponse head = client.read_head(Millis{10000});
    ASSERT_EQ(head.status, 200) << head.describe();
    ASSERT_TRUE(client.read_sse_event(Millis{10000}).has_value()) << client.last_error();
    client.close();
  }
  for (int i = 0; i < 250 && !upstream_closed->load(); ++i) std::this_thread::sleep_for(Millis{20});
  ASSERT_TRUE(upstream_closed->load()) << "the proxy kept the upstream stream open";
  const auto all = stop_and_read();
  const json* completed = stage(all, "completed");
  ASSERT_NE(completed, nullptr) << json(all).dump();
  const auto recs = of_trace(all, completed->value("trace_id", ""));
  EXPECT_EQ(stage(recs, "error"), nullptr) << json(recs).dump();
  const json& data = completed->at("data");
  EXPECT_EQ(data.value("client_gone", false), true) << completed->dump();
  EXPECT_EQ(data.value("stream", false), true) << completed->dump();
  EXPECT_EQ(data.value("stream_complete", true), false) << completed->dump();
  EXPECT_EQ(data.value("status", -1), 200) << completed->dump();
}

}  // namespace
}  // namespace clawgate::itest

namespace clawgate::itest {
namespace {

TEST_F(ProxyTest, AuditVerifyAcceptsTheLiveLogAfterMixedTraffic) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", employee()).status, 200);
  EXPECT_EQ(post(kToolsPath, R"({"tool":"exec"})", employee()).status, 403);
  EXPECT_EQ(post(kChatPath, "{bad", employee()).status, 400);
  EXPECT_EQ(get("/nope", {}).status, 404);
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  const std::string out = dir_.file("verify.out");
  const std::string cmd = "'" + clawgate_binary() + "' audit verify '" +
                          dir_.file("audit/clawgate.jsonl") + "' > '" + out + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(out);
  EXPECT_EQ(read_file(out).rfind("ok: ", 0), 0U) << read_file(out);
}

}  // namespace
}  // namespace clawgate::itest

// Process-level behaviour: health and readiness, the admin listener, connection limits, graceful
// drain on SIGTERM, and refusing to start on a bad configuration (SPEC §2, §3, §6).

#include <signal.h>

#include <atomic>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

const char* kChatBody = R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})";

class Lifecycle : public ProxyTest {
 protected:
  // Polls GET /readyz until `want` (bounded); returns the last response.
  HttpResponse wait_readyz(int want, Millis timeout = Millis{8000}) {
    const auto deadline = Clock::now() + timeout;
    HttpResponse r;
    do {
      r = get("/readyz", {});
      if (r.status == want) {
        return r;
      }
      std::this_thread::sleep_for(Millis{50});
    } while (Clock::now() < deadline);
    return r;
  }
};

// ---- health and readiness ----------------------------------------------------------------

TEST_F(Lifecycle, HealthzIs200WithoutAuth) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = get("/healthz", {});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(is_trace_id(r.header("x-clawgate-trace-id").value_or(""))) << r.describe();
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(Lifecycle, ReadyzIs200WithHealthyUpstream) {
  config_["upstream"]["probe_interval_ms"] = 100;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = wait_readyz(200);
  ASSERT_EQ(r.status, 200) << r.describe();
  const json j = json_body(r);
  EXPECT_EQ(j.value("ready", false), true) << r.describe();
  EXPECT_TRUE(is_trace_id(r.header("x-clawgate-trace-id").value_or(""))) << r.describe();
  // The probe went to GET /readyz on the upstream, with the gateway token if any auth at all.
  bool probed = false;
  for (const auto& q : upstream_->requests()) {
    if (q.target == "/readyz") {
      probed = true;
      EXPECT_EQ(q.method, "GET");
    }
  }
  EXPECT_TRUE(probed);
}

TEST_F(Lifecycle, ReadyzIs503NamingUpstreamWhenProbeFailsAndRecovers) {
  config_["upstream"]["probe_interval_ms"] = 100;
  std::atomic<bool> healthy{false};
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on("/readyz", [&](const UpstreamRequest&, UpstreamConn& c) {
    if (healthy.load()) {
      c.respond(200, R"({"ready":true})");
    } else {
      c.respond(500, R"({"ready":false})");
    }
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse bad = wait_readyz(503);
  ASSERT_EQ(bad.status, 503) << bad.describe();
  const json j = json_body(bad);
  ASSERT_TRUE(j.is_object() && j.contains("failing") && j["failing"].is_array()) << bad.describe();
  EXPECT_NE(std::find(j["failing"].begin(), j["failing"].end(), json("upstream")),
            j["failing"].end())
      << bad.describe();
  healthy = true;
  const HttpResponse good = wait_readyz(200);
  EXPECT_EQ(good.status, 200) << "readyz did not follow the last probe\n" << good.describe();
}

TEST_F(Lifecycle, ReadyzIs503WhenUpstreamUnreachable) {
  config_["upstream"]["url"] = "http://127.0.0.1:" + std::to_string(closed_port());
  config_["upstream"]["probe_interval_ms"] = 100;
  config_["upstream"]["connect_timeout_ms"] = 500;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = wait_readyz(503);
  ASSERT_EQ(r.status, 503) << r.describe();
  const json j = json_body(r);
  ASSERT_TRUE(j.is_object() && j["failing"].is_array()) << r.describe();
  EXPECT_NE(std::find(j["failing"].begin(), j["failing"].end(), json("upstream")),
            j["failing"].end())
      << r.describe();
}

// ---- admin listener ----------------------------------------------------------------------

TEST_F(Lifecycle, AdminListenerRefusesClientTokens) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r =
      http_request(admin_port(), "GET", "/v1/approvals", bearer(kEmployeeToken), {});
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 401, "unauthorized", Shape::openai));
  const HttpResponse none = http_request(admin_port(), "GET", "/v1/approvals", {}, {});
  EXPECT_NO_FATAL_FAILURE(expect_error(none, 401, "unauthorized", Shape::openai));
}

TEST_F(Lifecycle, AdminListenerHealthzWithAdminToken) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse r = http_request(admin_port(), "GET", "/healthz", bearer(kAdminToken), {});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(is_trace_id(r.header("x-clawgate-trace-id").value_or(""))) << r.describe();
}

TEST_F(Lifecycle, AdminListenerDoesNotServeProxyRoutes) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const HttpResponse chat =
      http_request(admin_port(), "POST", kChatPath,
                   bearer(kAdminToken, {{"Content-Type", "application/json"}}), kChatBody);
  EXPECT_NO_FATAL_FAILURE(expect_error(chat, 404, "not_found", Shape::openai));
  const HttpResponse tools = http_request(admin_port(), "POST", kToolsPath, bearer(kAdminToken),
                                          R"({"tool":"sessions_list"})");
  EXPECT_EQ(tools.status, 404) << tools.describe();
  const HttpResponse models = http_request(admin_port(), "GET", kModelsPath, bearer(kAdminToken));
  EXPECT_EQ(models.status, 404) << models.describe();
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

// ---- connection limits and drain ---------------------------------------------------------

TEST_F(Lifecycle, ConnectionsOverMaxConnectionsAreRefused) {
  config_["limits"]["max_connections"] = 2;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string healthz = make_request("GET", "/healthz", port());
  RawClient a;
  RawClient b;
  ASSERT_TRUE(a.connect(port()));
  ASSERT_TRUE(a.send(healthz));
  ASSERT_EQ(a.read_response(Millis{5000}).status, 200);
  ASSERT_TRUE(b.connect(port()));
  ASSERT_TRUE(b.send(healthz));
  ASSERT_EQ(b.read_response(Millis{5000}).status, 200);
  // Both stay open and idle. A third one must be turned away, not served and not left hanging.
  {
    RawClient c;
    if (c.connect(port())) {
      c.send(healthz);
      const HttpResponse r = c.read_response(Millis{5000});
      if (r.status >= 0) {
        EXPECT_NO_FATAL_FAILURE(expect_error(r, 503, "overloaded", Shape::openai));
      } else {
        EXPECT_TRUE(c.wait_closed(Millis{100}))
            << "third connection neither refused nor closed: " << r.error;
      }
    }
  }
  // Freeing a slot lets a new connection in again.
  a.close();
  const auto deadline = Clock::now() + Millis{5000};
  int status = -1;
  while (status != 200 && Clock::now() < deadline) {
    status = http_request(port(), "GET", "/healthz", {}, {}, Millis{1000}).status;
    if (status != 200) {
      std::this_thread::sleep_for(Millis{50});
    }
  }
  EXPECT_EQ(status, 200) << "no connection accepted after one closed";
}

TEST_F(Lifecycle, SigtermDrainsInFlightRequestThenExitsZero) {
  config_["limits"]["drain_timeout_ms"] = 10000;
  std::atomic<bool> answered{false};
  const std::string body = R"({"object":"chat.completion","drained":true})";
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    if (c.sleep_for(Millis{2000})) {
      answered = true;
      c.respond(200, body);
    }
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::uint16_t p = port();
  RawClient inflight;
  ASSERT_TRUE(inflight.connect(p));
  ASSERT_TRUE(inflight.send(make_request("POST", kChatPath, p, employee(), kChatBody)));
  ASSERT_TRUE(upstream_->wait_proxied(1, Millis{5000})) << "request never reached the upstream";
  std::this_thread::sleep_for(Millis{200});
  proxy_->signal(SIGTERM);

  // While the request is still in flight, new connections are refused.
  bool refused = false;
  bool refused_while_draining = false;
  const auto deadline = Clock::now() + Millis{1500};
  while (!refused && Clock::now() < deadline) {
    RawClient n;
    if (!n.connect(p, Millis{300})) {
      refused = true;
    } else {
      n.send(make_request("GET", "/healthz", p));
      const HttpResponse r = n.read_response(Millis{300});
      refused = r.status < 0;
    }
    refused_while_draining = refused && !answered.load();
    if (!refused) {
      std::this_thread::sleep_for(Millis{50});
    }
  }
  EXPECT_TRUE(refused) << "new connections still served after SIGTERM";
  EXPECT_TRUE(refused_while_draining) << "listener closed only after the in-flight request ended";

  const HttpResponse r = inflight.read_response(Millis{10000});
  EXPECT_EQ(r.status, 200) << "in-flight request cut by the drain\n" << r.describe();
  EXPECT_EQ(r.body, body);
  EXPECT_TRUE(inflight.wait_closed(Millis{5000})) << "connection kept open after the drain";
  inflight.close();
  const auto code = proxy_->wait_exit(Millis{10000});
  ASSERT_TRUE(code.has_value()) << "clawgate did not exit after draining";
  EXPECT_EQ(*code, 0) << proxy_->stderr_text();
}

TEST_F(Lifecycle, SigtermWithNothingInFlightExitsZeroPromptly) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  ASSERT_EQ(get("/healthz", {}).status, 200);
  proxy_->signal(SIGTERM);
  const auto code = proxy_->wait_exit(Millis{5000});
  ASSERT_TRUE(code.has_value()) << "did not exit within 5 s of SIGTERM while idle";
  EXPECT_EQ(*code, 0);
}

TEST_F(Lifecycle, SigtermClosesAnIdleKeepAliveConnectionAtOnce) {
  // An idle connection waits for its next request without a read pending; the drain must
  // still end that wait, not sit out drain_timeout_ms.
  config_["limits"]["drain_timeout_ms"] = 20000;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(make_request("GET", "/healthz", port())));
  ASSERT_EQ(c.read_response(Millis{5000}).status, 200);
  std::this_thread::sleep_for(Millis{200});  // now waiting for a next request
  const auto sent = Clock::now();
  proxy_->signal(SIGTERM);
  EXPECT_TRUE(c.wait_closed(Millis{5000})) << "idle keep-alive connection kept open on SIGTERM";
  const auto code = proxy_->wait_exit(Millis{5000});
  ASSERT_TRUE(code.has_value()) << "did not exit within 5 s of SIGTERM with an idle connection";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(Clock::now() - sent, Millis{5000});
}

TEST_F(Lifecycle, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  config_["limits"]["idle_timeout_ms"] = 300;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(make_request("GET", "/healthz", port())));
  ASSERT_EQ(c.read_response(Millis{5000}).status, 200);
  EXPECT_TRUE(c.wait_closed(Millis{5000})) << "idle connection kept open past idle_timeout_ms";
}

// ---- bad configurations ------------------------------------------------------------------

class BadConfig : public ProxyTest {
 protected:
  void expect_refused(const std::string& config_text, const std::vector<std::string>& any_of,
                      std::vector<std::string> env = default_env()) {
    const auto res = start_raw(config_text, std::move(env));
    EXPECT_FALSE(res.listening) << "clawgate started on a bad config";
    ASSERT_TRUE(res.exit_code.has_value()) << "clawgate did not exit: " << res.why;
    EXPECT_EQ(*res.exit_code, 1);
    const std::string err = proxy_->stderr_text();
    bool named = false;
    for (const auto& needle : any_of) {
      named = named || err.find(needle) != std::string::npos;
    }
    EXPECT_TRUE(named) << "stderr does not name any of the expected words; stderr:\n" << err;
  }
};

TEST_F(BadConfig, UnknownTopLevelKey) {
  config_["bogus_key"] = 1;
  expect_refused(config_.dump(), {"bogus_key"});
}

TEST_F(BadConfig, UnknownNestedKey) {
  config_["upstream"]["timeout"] = 5000;
  expect_refused(config_.dump(), {"upstream.timeout"});
}

TEST_F(BadConfig, BadListenAddress) {
  config_["listen"] = "localhost-without-port";
  expect_refused(config_.dump(), {"listen"});
}

TEST_F(BadConfig, ZeroTimeout) {
  config_["upstream"]["timeout_ms"] = 0;
  expect_refused(config_.dump(), {"upstream.timeout_ms"});
}

TEST_F(BadConfig, WrongType) {
  config_["limits"]["max_body_bytes"] = "big";
  expect_refused(config_.dump(), {"limits.max_body_bytes"});
}

TEST_F(BadConfig, MissingGatewayTokenVariable) {
  expect_refused(config_.dump(), {"OPENCLAW_GATEWAY_TOKEN"}, {"PATH=/usr/local/bin:/usr/bin:/bin"});
}

TEST_F(BadConfig, MissingPolicyFile) {
  config_["policy_file"] = "no-such-policy.json";
  expect_refused(config_.dump(), {"policy_file", "no-such-policy.json"});
}

TEST_F(BadConfig, InvalidPolicyFile) {
  policy_["rules"][0]["decision"] = "maybe";
  expect_refused(config_.dump(), {"policy", "decision"});
}

TEST_F(BadConfig, ConfigNotJson) {
  expect_refused("{\"listen\": \"127.0.0.1:0\",", {"config", "JSON", "json", "parse"});
}

}  // namespace
}  // namespace clawgate::itest

namespace clawgate::itest {
namespace {

// SPEC §9 "audit file unwritable, disk full": the process stays up but is not ready, refuses
// with 503 audit_unavailable, and nothing reaches the upstream.
TEST_F(ProxyTest, AuditWriteErrorsRefuseRequestsAndForwardNothing) {
  config_["audit"]["file"] = "/dev/full";
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto ready = get("/readyz", {});
  EXPECT_EQ(ready.status, 503) << ready.describe();
  EXPECT_NE(json_body(ready)["failing"].dump().find("audit"), std::string::npos) << ready.body;
  const auto r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 503, "audit_unavailable", Shape::tools));
  const auto chat = post(kChatPath, R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})",
                         employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(chat, 503, "audit_unavailable", Shape::openai));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(BadConfig, UnopenableAuditFileStopsTheStart) {
  config_["audit"]["file"] = "/proc/clawgate-no-such-dir/audit.jsonl";
  expect_refused(config_.dump(), {"audit.file"});
}

}  // namespace
}  // namespace clawgate::itest

#include "integration/fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>

#include "clawgate/core/crypto.hpp"

namespace clawgate::itest {

using nlohmann::json;

std::string clawgate_binary() {
  // CLAWGATE_ITEST_BINARY runs the suite against another build (e.g. a sanitizer build).
  if (const char* other = std::getenv("CLAWGATE_ITEST_BINARY"); other != nullptr && *other != 0) {
    return other;
  }
  return CLAWGATE_BINARY;
}

json default_config(std::uint16_t upstream_port) {
  using clawgate::core::sha256_hex;
  return json{
      {"listen", "127.0.0.1:0"},
      {"admin_listen", "127.0.0.1:0"},
      {"upstream",
       {{"url", "http://127.0.0.1:" + std::to_string(upstream_port)},
        {"connect_timeout_ms", 2000},
        {"timeout_ms", 10000},
        {"probe_interval_ms", 60000}}},
      {"clients", json::array({{{"id", "employee-001"},
                                {"token_sha256", sha256_hex(kEmployeeToken)},
                                {"roles", json::array({"employee"})}},
                               {{"id", "contractor-007"},
                                {"token_sha256", sha256_hex(kContractorToken)},
                                {"roles", json::array({"contractor"})}}})},
      {"admins", json::array({{{"id", "manager-1"}, {"token_sha256", sha256_hex(kAdminToken)}}})},
      {"policy_file", "policy.json"},
      {"audit", {{"file", "audit/clawgate.jsonl"}, {"hmac_key_env", nullptr}}},
      {"approvals", {{"state_file", "approvals.jsonl"}}},
      {"limits", {{"drain_timeout_ms", 3000}}},
  };
}

json default_policy() {
  return json::parse(R"({
    "version": 1, "name": "test", "default_decision": "deny",
    "forward_headers": {"allow": ["x-openclaw-agent-id", "x-openclaw-session-key"]},
    "rules": [
      {"id": "chat", "match": {"route": ["chat", "responses"], "roles": "employee"}, "decision": "allow"},
      {"id": "models", "match": {"route": "models"}, "decision": "allow"},
      {"id": "tools-list", "match": {"route": "tools", "tool": "sessions_list"}, "decision": "allow"},
      {"id": "no-exec", "match": {"route": "tools", "tool": "exec"}, "decision": "deny", "reason": "no shell"}
    ]
  })");
}

std::vector<std::string> default_env() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin",
          std::string("OPENCLAW_GATEWAY_TOKEN=") + kGatewayToken};
}

Headers bearer(const std::string& token, Headers more) {
  Headers h{{"Authorization", "Bearer " + token}};
  h.insert(h.end(), more.begin(), more.end());
  return h;
}

Headers employee(Headers more) {
  Headers h{{"Authorization", std::string("Bearer ") + kEmployeeToken},
            {"Content-Type", "application/json"}};
  h.insert(h.end(), more.begin(), more.end());
  return h;
}

bool is_trace_id(const std::string& s) {
  static const std::regex re("^[0-9a-f]{32}$");
  return std::regex_match(s, re);
}

std::string family_for(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 431:
    case 501:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return "api_error";
  }
}

json json_body(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

void expect_error(const HttpResponse& r, int status, const std::string& code, Shape shape) {
  ASSERT_EQ(r.status, status) << r.describe();
  const auto trace = r.header("x-clawgate-trace-id");
  ASSERT_TRUE(trace.has_value()) << "no X-Clawgate-Trace-Id\n" << r.describe();
  EXPECT_TRUE(is_trace_id(*trace)) << *trace;
  const json j = json_body(r);
  ASSERT_TRUE(j.is_object()) << "error body is not a JSON object\n" << r.describe();
  ASSERT_TRUE(j.contains("error") && j["error"].is_object()) << r.describe();
  const json& e = j["error"];
  ASSERT_TRUE(e.contains("message") && e["message"].is_string()) << r.describe();
  EXPECT_FALSE(e["message"].get<std::string>().empty());
  ASSERT_TRUE(e.contains("trace_id") && e["trace_id"].is_string()) << r.describe();
  EXPECT_EQ(e["trace_id"].get<std::string>(), *trace);
  if (shape == Shape::openai) {
    EXPECT_FALSE(j.contains("ok")) << r.describe();
    EXPECT_EQ(e.value("type", ""), family_for(status)) << r.describe();
    EXPECT_EQ(e.value("code", ""), code) << r.describe();
  } else {
    ASSERT_TRUE(j.contains("ok")) << r.describe();
    EXPECT_EQ(j["ok"], false) << r.describe();
    EXPECT_EQ(e.value("type", ""), code) << r.describe();
  }
  const auto ct = r.header("content-type");
  ASSERT_TRUE(ct.has_value()) << r.describe();
  EXPECT_NE(ct->find("application/json"), std::string::npos) << *ct;
}

void ProxyTest::SetUp() {
  upstream_ = std::make_unique<FakeUpstream>();
  config_ = default_config(upstream_->port());
  policy_ = default_policy();
}

void ProxyTest::TearDown() {
  // The fake first: it wakes handlers that sleep, so in-flight requests end and drain is quick.
  if (upstream_) {
    upstream_->stop();
  }
  if (!proxy_) {
    return;
  }
  // SIGTERM must end the process with 0 (SPEC/contract), whatever the test did before; a crash
  // at any point of the test shows up here as a signal exit code.
  const auto code = proxy_->stop(Millis{8000});
  if (expect_clean_exit_) {
    EXPECT_EQ(code.value_or(-1), 0) << "clawgate did not exit 0 on SIGTERM (128+N = signal N)";
  }
  const std::string err = proxy_->stderr_text();
  std::size_t report = std::string::npos;
  for (const char* needle : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"}) {
    const std::size_t at = err.find(needle);
    EXPECT_EQ(at, std::string::npos) << "sanitizer report in clawgate's stderr";
    report = std::min(report, at);
  }
  if (report != std::string::npos) {
    std::cerr << "---- sanitizer report (start) ----\n"
              << err.substr(err.rfind('\n', report) + 1, 8000) << "\n--------\n";
  }
  if (HasFailure() || std::getenv("CLAWGATE_ITEST_VERBOSE") != nullptr) {
    std::string tail = err;
    if (tail.size() > 6000) {
      tail = "...\n" + tail.substr(tail.size() - 6000);
    }
    std::cerr << "---- clawgate stderr (tail) ----\n" << tail << "\n--------\n";
  }
}

void ProxyTest::start_proxy() {
  ASSERT_TRUE(std::filesystem::exists(clawgate_binary()))
      << "clawgate binary not built: " << clawgate_binary();
  write_file(dir_.file("policy.json"), policy_.dump(2));
  write_file(dir_.file("config.json"), config_.dump(2));
  proxy_ = std::make_unique<ClawgateProcess>(
      clawgate_binary(), std::vector<std::string>{"serve", "--config", dir_.file("config.json")},
      default_env(), dir_.path());
  const auto res = proxy_->start(Millis{15000});
  ASSERT_TRUE(res.listening) << "clawgate did not start: " << res.why << " exit="
                             << (res.exit_code ? std::to_string(*res.exit_code) : "none")
                             << "\nstderr:\n"
                             << proxy_->stderr_text();
  ASSERT_NE(proxy_->proxy_port(), 0);
  ASSERT_NE(proxy_->admin_port(), 0);
}

ClawgateProcess::StartResult ProxyTest::start_raw(const std::string& config_text,
                                                  std::vector<std::string> env) {
  expect_clean_exit_ = false;  // bad-config tests expect exit code 1
  write_file(dir_.file("policy.json"), policy_.dump(2));
  write_file(dir_.file("config.json"), config_text);
  proxy_ = std::make_unique<ClawgateProcess>(
      clawgate_binary(), std::vector<std::string>{"serve", "--config", dir_.file("config.json")},
      std::move(env), dir_.path());
  return proxy_->start(Millis{15000});
}

HttpResponse ProxyTest::post(const std::string& path, const std::string& body, Headers headers) {
  return http_request(port(), "POST", path, headers, body);
}

HttpResponse ProxyTest::get(const std::string& path, Headers headers) {
  return http_request(port(), "GET", path, headers, {});
}

}  // namespace clawgate::itest

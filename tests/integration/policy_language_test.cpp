// The classifier and the full policy language through the running proxy (issue: risk classifier
// and policy language): red never reaches the gateway, amber is held for approval, green is
// forwarded with the governance system prompt, monitor mode forwards and records, rate limits
// answer 429, a broken reload keeps the old policy, argument constraints and redaction apply.

#include <signal.h>

#include <sstream>
#include <thread>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

constexpr const char* kPrompt = "You are an enterprise OpenClaw assistant under governance.";

json governed_policy() {
  return {
      {"version", 1},
      {"name", "governed"},
      {"default_decision", "deny"},
      {"classifier",
       {{"scope", {"user"}},
        {"tiers",
         {{"red",
           {{"terms", {"wire money", "transfer funds", "payroll", "run shell", "credential*"}},
            {"patterns", {"AKIA[0-9A-Z]{16}"}}}},
          {"amber", {{"terms", {"email*", "customer*", "send"}}}}}}}},
      {"forward_headers", {{"allow", {"x-openclaw-agent-id", "x-openclaw-session-key"}}}},
      {"chat", {{"system_prompt", kPrompt}}},
      {"redact", {{"arg_paths", {"/args/token"}}, {"patterns", {"ticket-[0-9]{6}"}}}},
      {"rules",
       {{{"id", "deny-red"}, {"match", {{"risk", "red"}}}, {"decision", "deny"},
         {"reason", "High-impact or sensitive action detected"}},
        {{"id", "approve-amber"}, {"match", {{"risk", "amber"}}}, {"decision", "approve"},
         {"reason", "Moderate-risk action requires human approval"}},
        {{"id", "chat-green"},
         {"match", {{"route", {"chat", "responses"}}, {"risk", "green"}}},
         {"decision", "allow"}},
        {{"id", "tools-list"}, {"match", {{"route", "tools"}, {"tool", "sessions_list"}}},
         {"decision", "allow"}},
        {{"id", "fetch-allowlist"},
         {"match",
          {{"route", "tools"},
           {"tool", "web_fetch"},
           {"args", {{"/url", {{"url_host_in", {"docs.openclaw.ai", "*.example.com"}}}}}}}},
         {"decision", "allow"}}}}};
}

std::string chat(const std::string& text) {
  return json{{"model", "openclaw"}, {"messages", {{{"role", "user"}, {"content", text}}}}}.dump();
}

class PolicyLanguage : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    policy_ = governed_policy();
  }
  std::vector<json> audit_records() {
    std::vector<json> out;
    std::istringstream in(read_file(dir_.file("audit/clawgate.jsonl")));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
    return out;
  }
  const json* find(const std::vector<json>& recs, const std::string& trace,
                   const std::string& stage) {
    for (const auto& r : recs) {
      if (r.value("trace_id", "") == trace && r.value("stage", "") == stage) return &r;
    }
    return nullptr;
  }
};

TEST_F(PolicyLanguage, RedIsDeniedAndNeverForwarded) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kChatPath, chat("Please wire money to the new supplier today"), employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 403, "policy_denied", Shape::openai));
  EXPECT_EQ(json_body(r)["error"]["rule"], "deny-red");
  EXPECT_EQ(r.header("X-Clawgate-Risk").value_or(""), "red");
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  const auto recs = audit_records();
  const json* cls = find(recs, *r.header("X-Clawgate-Trace-Id"), "classified");
  ASSERT_NE(cls, nullptr);
  EXPECT_EQ((*cls)["data"]["risk"], "red");
  EXPECT_EQ((*cls)["data"]["matches"][0]["term"], "wire money");
  EXPECT_EQ((*cls)["data"]["matches"][0]["where"], "messages[0]");
}

TEST_F(PolicyLanguage, ObfuscatedRedIsDenied) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (const std::string text :
       {std::string("wire\u200dmoney now"), std::string("ＷＩＲＥ ＭＯＮＥＹ"),
        std::string("please wire_money"), std::string("d2lyZSBtb25leSB0byBhY2NvdW50IDQ0"),
        std::string("wire%20money"), std::string("my key is AKIAABCDEFGHIJKLMNOP")}) {
    const auto r = post(kChatPath, chat(text), employee());
    EXPECT_EQ(r.status, 403) << text << "\n" << r.describe();
  }
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(PolicyLanguage, AmberIsHeldForApprovalAndNotForwarded) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kChatPath, chat("Draft an email to the customer about the delay"), employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 403, "approval_required", Shape::openai));
  EXPECT_EQ(json_body(r)["error"]["rule"], "approve-amber");
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(PolicyLanguage, GreenChatIsForwardedWithTheGovernanceSystemPrompt) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kChatPath, chat("Summarize our travel guidelines"), employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("X-Clawgate-Risk").value_or(""), "green");
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  const json body = json::parse(seen[0].body);
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][0]["content"],
            std::string(kPrompt) + "\n\nGovernance classification: " +
                R"({"decision":"allow","risk":"green","rules":["chat-green"]})");
  EXPECT_EQ(body["messages"][1]["content"], "Summarize our travel guidelines");
  EXPECT_EQ(seen[0].header("Content-Length").value_or(""), std::to_string(seen[0].body.size()));
}

TEST_F(PolicyLanguage, ResponsesInstructionsArePrefixed) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kResponsesPath,
                      R"({"model":"openclaw","input":"hello","instructions":"Be brief."})",
                      employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto seen = upstream_->proxied_requests();
  ASSERT_EQ(seen.size(), 1u);
  const json body = json::parse(seen[0].body);
  EXPECT_EQ(body["instructions"],
            std::string(kPrompt) + "\n\nGovernance classification: " +
                R"({"decision":"allow","risk":"green","rules":["chat-green"]})" + "\n\nBe brief.");
}

TEST_F(PolicyLanguage, MonitorModeForwardsAndRecordsWhatWouldHaveHappened) {
  policy_["mode"] = "monitor";
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kChatPath, chat("transfer funds to the vendor"), employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(upstream_->proxied_count(), 1u);
  const auto recs = audit_records();
  const json* decided = find(recs, *r.header("X-Clawgate-Trace-Id"), "decided");
  ASSERT_NE(decided, nullptr);
  EXPECT_EQ((*decided)["data"]["decision"], "allow");
  EXPECT_EQ((*decided)["data"]["enforced"], false);
  EXPECT_EQ((*decided)["data"]["would"], "deny");
}

TEST_F(PolicyLanguage, MonitorRuleDoesNotEnforce) {
  policy_["rules"][0]["mode"] = "monitor";  // deny-red only observed
  policy_["rules"].push_back({{"id", "chat-all"}, {"match", {{"route", "chat"}}}, {"decision", "allow"}});
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kChatPath, chat("run shell scripts on the build host"), employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto recs = audit_records();
  const json* decided = find(recs, *r.header("X-Clawgate-Trace-Id"), "decided");
  ASSERT_NE(decided, nullptr);
  EXPECT_EQ((*decided)["data"]["would"], "deny");
  EXPECT_EQ((*decided)["data"]["enforced"], false);
}

TEST_F(PolicyLanguage, RateLimitAnswers429WithRetryAfter) {
  policy_["rules"][3]["rate_limit"] = {{"max", 2}, {"per_s", 60}, {"key", {"identity", "tool"}}};
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"tool":"sessions_list","args":{}})";
  EXPECT_EQ(post(kToolsPath, body, employee()).status, 200);
  EXPECT_EQ(post(kToolsPath, body, employee()).status, 200);
  const auto r = post(kToolsPath, body, employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 429, "rate_limited", Shape::tools));
  const int retry = std::stoi(r.header("Retry-After").value_or("0"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_EQ(json_body(r)["error"]["retry_after_s"], retry);
  EXPECT_EQ(upstream_->proxied_count(), 2u);
}

TEST_F(PolicyLanguage, ToolArgumentConstraintsDecide) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_EQ(post(kToolsPath, R"({"tool":"web_fetch","args":{"url":"https://docs.openclaw.ai/x"}})",
                 employee()).status, 200);
  for (const char* url : {"https://evil.com/", "https://docs.openclaw.ai@evil.com/",
                          "https://evil.com/#docs.openclaw.ai", "https://docs.openclaw.ai.evil.com/",
                          "http://127.0.0.1/", "file:///etc/passwd", "https://example.com/"}) {
    const auto r = post(kToolsPath, json{{"tool", "web_fetch"}, {"args", {{"url", url}}}}.dump(),
                        employee());
    EXPECT_EQ(r.status, 403) << url;
  }
  EXPECT_EQ(upstream_->proxied_count(), 1u);
}

TEST_F(PolicyLanguage, BrokenReloadKeepsTheOldPolicyAndStaysReady) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string green = chat("Summarize the onboarding checklist");
  ASSERT_EQ(post(kChatPath, green, employee()).status, 200);
  write_file(dir_.file("policy.json"), R"({"version":1,"name":"broken","rules":[{"id":"x",)");
  const auto reload = http_request(admin_port(), "POST", "/v1/policy/reload", bearer(kAdminToken));
  ASSERT_NO_FATAL_FAILURE(expect_error(reload, 400, "policy_invalid", Shape::openai));
  proxy_->signal(SIGHUP);
  std::this_thread::sleep_for(Millis{300});
  EXPECT_EQ(post(kChatPath, green, employee()).status, 200) << "the old policy must stay in force";
  EXPECT_EQ(get("/readyz", {}).status, 200);

  // A valid new policy takes effect on SIGHUP.
  json deny_all = governed_policy();
  deny_all["name"] = "deny-all";
  deny_all["rules"] = json::array({{{"id", "nothing"}, {"match", {{"route", "models"}}}, {"decision", "allow"}}});
  write_file(dir_.file("policy.json"), deny_all.dump());
  proxy_->signal(SIGHUP);
  bool denied = false;
  for (int i = 0; i < 50 && !denied; ++i) {
    std::this_thread::sleep_for(Millis{50});
    denied = post(kChatPath, green, employee()).status == 403;
  }
  EXPECT_TRUE(denied) << "SIGHUP did not load the new policy";
  bool failed_record = false;
  for (const auto& rec : audit_records()) failed_record |= rec.value("stage", "") == "policy_reload_failed";
  EXPECT_TRUE(failed_record);
}

TEST_F(PolicyLanguage, AuditBodiesAreRedacted) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kToolsPath,
                      R"({"tool":"sessions_list","args":{"token":"plain-arg-secret-91","note":"ticket-123456 sk-abcdefghijklmnopqrstuvwx"}})",
                      employee());
  ASSERT_EQ(r.status, 200) << r.describe();  // green: none of these is a classifier term here
  const std::string audit = read_file(dir_.file("audit/clawgate.jsonl"));
  EXPECT_EQ(audit.find("plain-arg-secret-91"), std::string::npos);
  EXPECT_EQ(audit.find("ticket-123456"), std::string::npos);
  EXPECT_EQ(audit.find("sk-abcdefghijklmnopqrstuvwx"), std::string::npos);
  EXPECT_NE(audit.find("[REDACTED]"), std::string::npos);
}

}  // namespace
}  // namespace clawgate::itest

// Human approval through the running binary (SPEC §6, issue #5): an `approve` decision answers
// 403 with an approval id and forwards nothing; an admin decides on the admin listener; the
// re-sent request with X-Clawgate-Approval is forwarded once, only when everything still matches.

#include <regex>
#include <sstream>
#include <thread>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

constexpr const char* kFetch = R"({"tool":"web_fetch","args":{"url":"https://example.com/a"}})";

class Approval : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    policy_["rules"].push_back({{"id", "fetch-needs-approval"},
                                {"match", {{"route", "tools"}, {"tool", "web_fetch"}}},
                                {"decision", "approve"},
                                {"reason", "web access needs a human"}});
    upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
      c.respond(200, R"({"ok":true,"result":"fetched"})");
    });
  }

  // Sends the amber request and returns the approval id from the 403 (fails the test if none).
  std::string ask(const std::string& body = kFetch, const char* token = kEmployeeToken) {
    const auto r = post(kToolsPath, body, bearer(token, {{"Content-Type", "application/json"}}));
    EXPECT_NO_FATAL_FAILURE(expect_error(r, 403, "approval_required", Shape::tools));
    const json err = json_body(r)["error"];
    const std::string id = err.value("approval_id", "");
    EXPECT_TRUE(std::regex_match(id, std::regex("apr_[0-9a-f]{32}"))) << r.body;
    EXPECT_NE(err.value("message", "").find("clawgate approvals approve " + id), std::string::npos)
        << r.body;
    return id;
  }

  HttpResponse admin(const std::string& method, const std::string& path,
                     const std::string& body = "", const char* token = kAdminToken) {
    return http_request(admin_port(), method, path,
                        bearer(token, {{"Content-Type", "application/json"}}), body);
  }

  HttpResponse decide(const std::string& id, const std::string& verb,
                      const std::string& note = "looks fine") {
    return admin("POST", "/v1/approvals/" + id + "/" + verb, json{{"note", note}}.dump());
  }

  HttpResponse resend(const std::string& id, const std::string& body = kFetch,
                      const char* token = kEmployeeToken) {
    return post(kToolsPath, body,
                bearer(token, {{"Content-Type", "application/json"}, {"X-Clawgate-Approval", id}}));
  }

  static std::string reason(const HttpResponse& r) {
    return json_body(r)["error"].value("reason", "");
  }

  std::vector<json> audit_records() {
    std::vector<json> out;
    std::istringstream in(read_file(dir_.file("audit/clawgate.jsonl")));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
    return out;
  }
};

TEST_F(Approval, AmberAnswers403WithAnIdAndForwardsNothing) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  const auto shown = admin("GET", "/v1/approvals/" + id);
  ASSERT_EQ(shown.status, 200) << shown.describe();
  const json a = json_body(shown);
  EXPECT_EQ(a["state"], "pending");
  EXPECT_EQ(a["identity"], "employee-001");
  EXPECT_EQ(a["route"], "tools");
  EXPECT_EQ(a["tool"], "web_fetch");
  EXPECT_EQ(a["agent"], "main");
  EXPECT_TRUE(a["reviewer"].is_null());
  for (const char* key : {"id", "state", "trace_id", "identity", "route", "agent", "session", "tool",
                          "action", "summary", "request_sha256", "policy_sha256", "created_at",
                          "expires_at", "decided_at", "reviewer", "note", "used_at"}) {
    EXPECT_TRUE(a.contains(key)) << "approval lacks " << key << ": " << a.dump();
  }
}

TEST_F(Approval, ApprovedResendIsForwardedExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  const auto approved = decide(id, "approve", "ok for the report");
  ASSERT_EQ(approved.status, 200) << approved.describe();
  EXPECT_EQ(json_body(approved)["state"], "approved");
  EXPECT_EQ(json_body(approved)["reviewer"], "manager-1");
  EXPECT_EQ(json_body(approved)["note"], "ok for the report");

  const auto first = resend(id);
  ASSERT_EQ(first.status, 200) << first.describe();
  ASSERT_EQ(upstream_->proxied_count(), 1u);
  const auto got = upstream_->proxied_requests().front();
  EXPECT_EQ(got.body, kFetch);
  EXPECT_FALSE(got.header("X-Clawgate-Approval").has_value()) << "the approval header leaked";

  const auto second = resend(id);
  ASSERT_NO_FATAL_FAILURE(expect_error(second, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(second), "used");
  EXPECT_EQ(upstream_->proxied_count(), 1u);
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals/" + id))["state"], "used");
}

TEST_F(Approval, MismatchesAreRefusedWithoutUsingTheApproval) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  ASSERT_EQ(decide(id, "approve").status, 200);
  const auto changed = resend(id, R"({"tool":"web_fetch","args":{"url":"https://evil.example/"}})");
  ASSERT_NO_FATAL_FAILURE(expect_error(changed, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(changed), "request_mismatch");
  const auto other = resend(id, kFetch, kContractorToken);
  ASSERT_NO_FATAL_FAILURE(expect_error(other, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(other), "identity_mismatch");
  const auto unknown = resend("apr_00000000000000000000000000000000");
  ASSERT_NO_FATAL_FAILURE(expect_error(unknown, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(unknown), "unknown");
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  // None of those used it up.
  EXPECT_EQ(resend(id).status, 200);
  EXPECT_EQ(upstream_->proxied_count(), 1u);
}

TEST_F(Approval, PendingAndDeniedAreRefused) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  const auto early = resend(id);
  ASSERT_NO_FATAL_FAILURE(expect_error(early, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(early), "not_approved");
  const auto denied = decide(id, "deny", "not this week");
  ASSERT_EQ(denied.status, 200) << denied.describe();
  EXPECT_EQ(json_body(denied)["state"], "denied");
  const auto after = resend(id);
  ASSERT_NO_FATAL_FAILURE(expect_error(after, 403, "approval_denied", Shape::tools));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  // Deciding again is a conflict; an unknown id is 404.
  const auto twice = decide(id, "approve");
  ASSERT_NO_FATAL_FAILURE(expect_error(twice, 409, "approval_conflict", Shape::openai));
  const auto missing = decide("apr_ffffffffffffffffffffffffffffffff", "approve");
  ASSERT_NO_FATAL_FAILURE(expect_error(missing, 404, "not_found", Shape::openai));
}

TEST_F(Approval, ExpiredIsRefusedAndCannotBeDecided) {
  config_["approvals"]["ttl_s"] = 1;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string approved = ask();
  ASSERT_EQ(decide(approved, "approve").status, 200);
  const std::string pending = ask();
  std::this_thread::sleep_for(Millis{1300});
  const auto late = resend(approved);
  ASSERT_NO_FATAL_FAILURE(expect_error(late, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(late), "expired");
  const auto too_late = decide(pending, "approve");
  ASSERT_NO_FATAL_FAILURE(expect_error(too_late, 409, "approval_conflict", Shape::openai));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  const auto listed = admin("GET", "/v1/approvals?state=expired");
  ASSERT_EQ(listed.status, 200) << listed.describe();
  EXPECT_EQ(json_body(listed)["approvals"].size(), 2u) << listed.body;
}

TEST_F(Approval, PolicyThatNowDeniesWins) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  ASSERT_EQ(decide(id, "approve").status, 200);
  policy_["rules"].back()["decision"] = "deny";
  write_file(dir_.file("policy.json"), policy_.dump(2));
  ASSERT_EQ(admin("POST", "/v1/policy/reload").status, 200);
  const auto r = resend(id);
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 403, "approval_invalid", Shape::tools));
  EXPECT_EQ(reason(r), "policy_changed");
  EXPECT_EQ(upstream_->proxied_count(), 0u);
}

TEST_F(Approval, AdminApiAcceptsAdminTokensOnly) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  const auto list = admin("GET", "/v1/approvals", "", kEmployeeToken);
  ASSERT_NO_FATAL_FAILURE(expect_error(list, 401, "unauthorized", Shape::openai));
  const auto approve = admin("POST", "/v1/approvals/" + id + "/approve", "{}", kEmployeeToken);
  ASSERT_NO_FATAL_FAILURE(expect_error(approve, 401, "unauthorized", Shape::openai));
  const auto pending = admin("GET", "/v1/approvals?state=pending");
  ASSERT_EQ(pending.status, 200) << pending.describe();
  ASSERT_EQ(json_body(pending)["approvals"].size(), 1u);
  EXPECT_EQ(json_body(pending)["approvals"][0]["id"], id);
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals?state=approved"))["approvals"].size(), 0u);
  const auto bad = admin("GET", "/v1/approvals?state=maybe");
  ASSERT_NO_FATAL_FAILURE(expect_error(bad, 400, "invalid_request", Shape::openai));
  const auto bad_note = admin("POST", "/v1/approvals/" + id + "/approve", R"({"note":5})");
  ASSERT_NO_FATAL_FAILURE(expect_error(bad_note, 400, "invalid_request", Shape::openai));
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals/" + id))["state"], "pending");
}

TEST_F(Approval, HoldModeCompletesTheOriginalRequestOnceApproved) {
  config_["approvals"]["hold_s"] = 20;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HttpResponse held;
  std::thread client([&] {
    held = post(kToolsPath, kFetch, employee());
  });
  std::string id;
  for (int i = 0; i < 100 && id.empty(); ++i) {  // bounded: 10 s
    const json list = json_body(admin("GET", "/v1/approvals?state=pending"));
    if (list.is_object() && !list["approvals"].empty()) id = list["approvals"][0].value("id", "");
    if (id.empty()) std::this_thread::sleep_for(Millis{100});
  }
  ASSERT_FALSE(id.empty()) << "the held request created no approval";
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  ASSERT_EQ(decide(id, "approve").status, 200);
  client.join();
  EXPECT_EQ(held.status, 200) << held.describe();
  EXPECT_EQ(upstream_->proxied_count(), 1u);
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals/" + id))["state"], "used");
}

TEST_F(Approval, HoldModeAnswersAsDeferWhenTheHoldEnds) {
  config_["approvals"]["hold_s"] = 2;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();  // 403 approval_required after the hold
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals/" + id))["state"], "pending");
  // A client that leaves while held: the approval stays pending, nothing is forwarded.
  {
    RawClient c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(make_request("POST", kToolsPath, port(), employee(),
                                    R"({"tool":"web_fetch","args":{"url":"https://example.com/b"}})")));
    // Leave only once the request is held (its approval exists); bounded: 5 s.
    std::size_t pending = 0;
    for (int i = 0; i < 100 && pending < 2; ++i) {
      pending = json_body(admin("GET", "/v1/approvals?state=pending"))["approvals"].size();
      if (pending < 2) std::this_thread::sleep_for(Millis{50});
    }
    ASSERT_EQ(pending, 2u) << "the second request was never held";
  }
  // Longer than the hold: had the hang-up not ended it, it would answer approval_required.
  std::this_thread::sleep_for(Millis{2500});
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals?state=pending"))["approvals"].size(), 2u);
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  int answered = 0;
  for (const auto& rec : audit_records()) {
    answered += rec.value("stage", "") == "rejected" &&
                rec["data"].value("code", "") == "approval_required";
  }
  EXPECT_EQ(answered, 1) << "the hold of the request whose client left was not ended";
}

TEST_F(Approval, ApprovalsSurviveARestart) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string approved = ask();
  ASSERT_EQ(decide(approved, "approve").status, 200);
  const std::string pending = ask();
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_EQ(json_body(admin("GET", "/v1/approvals/" + pending))["state"], "pending");
  EXPECT_EQ(resend(approved).status, 200);
  EXPECT_EQ(upstream_->proxied_count(), 1u);
}

TEST_F(Approval, CorruptJournalRefusesTheStart) {
  write_file(dir_.file("approvals.jsonl"), "{\"op\":\"approve\",\"id\":\"apr_x\"}\n");
  const auto res = start_raw(config_.dump(), default_env());
  EXPECT_FALSE(res.listening);
  EXPECT_EQ(res.exit_code.value_or(-1), 1);
  EXPECT_NE(proxy_->stderr_text().find("approvals.jsonl line 1"), std::string::npos)
      << proxy_->stderr_text();
}

// SPEC §9 "approval store unwritable": 503, nothing forwarded, audited.
TEST_F(Approval, UnwritableStoreRefusesAndForwardsNothing) {
  config_["approvals"]["state_file"] = "/dev/full";
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kToolsPath, kFetch, employee());
  ASSERT_NO_FATAL_FAILURE(expect_error(r, 503, "approval_unavailable", Shape::tools));
  EXPECT_EQ(upstream_->proxied_count(), 0u);
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  bool rejected = false;
  for (const auto& rec : audit_records()) {
    rejected |= rec.value("stage", "") == "rejected" &&
                rec["data"].value("code", "") == "approval_unavailable";
  }
  EXPECT_TRUE(rejected);
}

TEST_F(Approval, EveryTransitionIsInTheAuditChain) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  ASSERT_EQ(decide(id, "approve", "fine by me").status, 200);
  const auto used = resend(id);
  ASSERT_EQ(used.status, 200);
  const std::string denied_id = ask();
  ASSERT_EQ(decide(denied_id, "deny", "no").status, 200);
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  const auto recs = audit_records();
  auto find = [&](const std::string& stage, const std::string& approval) -> const json* {
    for (const auto& r : recs) {
      if (r.value("stage", "") == stage && r["data"].value("approval_id", "") == approval) return &r;
    }
    return nullptr;
  };
  ASSERT_NE(find("approval_requested", id), nullptr);
  const json* granted = find("approval_granted", id);
  ASSERT_NE(granted, nullptr);
  EXPECT_EQ((*granted)["identity"], "manager-1");
  EXPECT_EQ((*granted)["data"]["reviewer"], "manager-1");
  EXPECT_EQ((*granted)["data"]["note"], "fine by me");
  const json* use = find("approval_used", id);
  ASSERT_NE(use, nullptr);
  EXPECT_EQ((*use)["trace_id"], used.header("X-Clawgate-Trace-Id").value_or(""));
  EXPECT_EQ((*use)["data"]["approval_trace_id"], (*find("approval_requested", id))["trace_id"]);
  ASSERT_NE(find("approval_denied", denied_id), nullptr);
  // The used approval was durable before the forward: its record precedes `forwarded`.
  std::size_t used_at = 0, forwarded_at = 0;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (&recs[i] == use) used_at = i;
    if (recs[i].value("stage", "") == "forwarded" &&
        recs[i].value("trace_id", "") == (*use)["trace_id"]) {
      forwarded_at = i;
    }
  }
  EXPECT_LT(used_at, forwarded_at);
  const std::string out = dir_.file("verify.out");
  const std::string cmd = "'" + clawgate_binary() + "' audit verify '" +
                          dir_.file("audit/clawgate.jsonl") + "' > '" + out + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(out);
}

TEST_F(Approval, WebhookReceivesCreationAndDecisionEvents) {
  FakeUpstream receiver;
  receiver.set_probe_path("/never-probed");
  receiver.set_default([](const UpstreamRequest&, UpstreamConn& c) { c.respond(204, ""); });
  config_["approvals"]["webhook_url"] = receiver.url() + "/hooks/clawgate";
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  ASSERT_TRUE(receiver.wait_proxied(1, Millis{5000})) << "no webhook POST for the creation";
  ASSERT_EQ(decide(id, "approve", "ok").status, 200);
  ASSERT_TRUE(receiver.wait_proxied(2, Millis{5000})) << "no webhook POST for the decision";
  const auto got = receiver.proxied_requests();
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/hooks/clawgate");
  const json created = json::parse(got[0].body, nullptr, false);
  EXPECT_EQ(created.value("event", ""), "approval_requested") << got[0].body;
  EXPECT_EQ(created["approval"].value("id", ""), id) << got[0].body;
  const json granted = json::parse(got[1].body, nullptr, false);
  EXPECT_EQ(granted.value("event", ""), "approval_granted") << got[1].body;
  EXPECT_EQ(granted["approval"].value("reviewer", ""), "manager-1") << got[1].body;
  receiver.stop();
}

TEST_F(Approval, WebhookFailureIsAuditedAndNotFatal) {
  config_["approvals"]["webhook_url"] = "http://127.0.0.1:" + std::to_string(closed_port()) + "/x";
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  ASSERT_EQ(decide(id, "approve").status, 200);
  EXPECT_EQ(resend(id).status, 200) << "a dead webhook must not block approvals";
  bool audited = false;
  for (int i = 0; i < 100 && !audited; ++i) {  // bounded: 3 tries with backoff take ~1.5 s
    for (const auto& rec : audit_records()) {
      audited |= rec.value("stage", "") == "error" &&
                 rec["data"].value("code", "") == "webhook_failed" &&
                 rec["data"].value("approval_id", "") == id;
    }
    if (!audited) std::this_thread::sleep_for(Millis{100});
  }
  EXPECT_TRUE(audited) << "the failed webhook delivery was not audited";
}

// `clawgate approvals` against the live admin API: the approver's whole path.
TEST_F(Approval, CliListsAndApprovesAgainstTheLiveAdminApi) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = ask();
  const std::string out = dir_.file("cli.out");
  const std::string base = "CLAWGATE_TEST_ADMIN=" + std::string(kAdminToken) + " '" +
                           clawgate_binary() + "' approvals ";
  const std::string opts = " --admin-url http://127.0.0.1:" + std::to_string(admin_port()) +
                           " --token-env CLAWGATE_TEST_ADMIN > '" + out + "' 2>&1";
  ASSERT_EQ(std::system((base + "list --state pending" + opts).c_str()), 0) << read_file(out);
  EXPECT_NE(read_file(out).find(id), std::string::npos) << read_file(out);
  EXPECT_NE(read_file(out).find("pending"), std::string::npos) << read_file(out);
  ASSERT_EQ(std::system((base + "approve " + id + " --note 'via the CLI'" + opts).c_str()), 0)
      << read_file(out);
  EXPECT_NE(read_file(out).find("approved"), std::string::npos) << read_file(out);
  ASSERT_EQ(std::system((base + "show " + id + " --json" + opts).c_str()), 0) << read_file(out);
  const json shown = json::parse(read_file(out), nullptr, false);
  EXPECT_EQ(shown["note"], "via the CLI");
  EXPECT_EQ(shown["reviewer"], "manager-1");
  // Deciding again: the server's 409 becomes exit 1 naming the code.
  EXPECT_NE(std::system((base + "deny " + id + opts).c_str()), 0);
  EXPECT_NE(read_file(out).find("approval_conflict"), std::string::npos) << read_file(out);
  EXPECT_EQ(resend(id).status, 200);
  EXPECT_EQ(upstream_->proxied_count(), 1u);
}

}  // namespace
}  // namespace clawgate::itest

// `clawgate approvals list|show|approve|deny` (SPEC §6, §8), run as a real process against a
// FakeUpstream standing in for the admin API: what the fake received (method, target, bearer
// token, JSON body) and what the command printed, with its exit code.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

constexpr const char* kTokenVar = "CLAWGATE_TEST_ADMIN_TOKEN";
constexpr const char* kId1 = "apr_0123456789abcdef0123456789abcdef";
constexpr const char* kId2 = "apr_fedcba9876543210fedcba9876543210";

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

// Runs `clawgate approvals ARGS...` through /bin/sh, after the shell assignments in `env`.
CliResult run_approvals(const std::vector<std::string>& args,
                        const std::string& env = std::string(kTokenVar) + "=" + kAdminToken) {
  TempDir dir;
  std::string cmd = env + " " + quote(clawgate_binary()) + " approvals";
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " < /dev/null > " + quote(dir.file("out")) + " 2> " + quote(dir.file("err"));
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir.file("out"));
  r.err = read_file(dir.file("err"));
  return r;
}

std::string describe(const CliResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The value printed after "key:" in a show/approve/deny block; "<missing>" if no such line.
std::string block_value(const std::string& text, const std::string& key) {
  for (const auto& l : lines_of(text)) {
    if (l.rfind(key + ":", 0) == 0) {
      const auto v = l.find_first_not_of(' ', key.size() + 1);
      return v == std::string::npos ? "" : l.substr(v);
    }
  }
  return "<missing>";
}

json approval(const std::string& id, const std::string& state) {
  return {{"id", id},
          {"state", state},
          {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
          {"identity", "employee-001"},
          {"route", "tools"},
          {"agent", "main"},
          {"session", nullptr},
          {"tool", "exec"},
          {"action", nullptr},
          {"summary", "exec: ls -la /srv/reports"},
          {"request_sha256", std::string(64, 'a')},
          {"policy_sha256", std::string(64, 'b')},
          {"created_at", "2026-11-21T19:48:00.123456Z"},
          {"expires_at", "2026-11-21T20:03:00.123456Z"},
          {"decided_at", nullptr},
          {"reviewer", nullptr},
          {"note", nullptr},
          {"used_at", nullptr}};
}

json error_doc(const std::string& type, const std::string& code, const std::string& message) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"code", code},
            {"trace_id", "0af7651916cd43dd8448eb211c80319c"}}}};
}

class ApprovalsCli : public ::testing::Test {
 protected:
  std::vector<std::string> with_admin(std::vector<std::string> args) const {
    args.insert(args.end(), {"--admin-url", admin_.url(), "--token-env", kTokenVar});
    return args;
  }
  // The one request the fake admin API received.
  UpstreamRequest only_request() const {
    const auto seen = admin_.proxied_requests();
    EXPECT_EQ(seen.size(), 1U);
    return seen.empty() ? UpstreamRequest{} : seen.front();
  }
  void expect_authorized(const UpstreamRequest& r) const {
    EXPECT_EQ(r.header("authorization").value_or("<none>"), std::string("Bearer ") + kAdminToken);
  }

  FakeUpstream admin_;
};

TEST_F(ApprovalsCli, ListPrintsATable) {
  json chat = approval(kId2, "approved");
  chat["route"] = "chat";
  chat["tool"] = nullptr;
  chat["agent"] = "research";
  // An agent chose this text: escape sequences and bidi overrides must not reach the terminal.
  chat["summary"] =
      "chat: \x1b[2Jplease summarise \xE2\x80\xAEthe quarterly numbers and wire the "
      "totals to the finance team before Friday";
  const json doc = {{"approvals", {approval(kId1, "pending"), chat}}};
  admin_.on("/v1/approvals",
            [doc](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, doc.dump()); });

  const CliResult r = run_approvals(with_admin({"list"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const UpstreamRequest req = only_request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/v1/approvals");
  expect_authorized(req);
  EXPECT_EQ(r.err, "");

  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3U) << r.out;
  const std::vector<std::string> columns = {"ID",         "STATE",   "IDENTITY", "ROUTE",
                                            "TOOL/AGENT", "CREATED", "EXPIRES",  "SUMMARY"};
  std::size_t at = 0;
  for (const auto& c : columns) {
    const auto found = lines[0].find(c, at);
    ASSERT_NE(found, std::string::npos) << "column " << c << " in order: " << lines[0];
    at = found + c.size();
  }
  EXPECT_EQ(lines[1].rfind(kId1, 0), 0U) << lines[1];  // newest first, as the server sent them
  for (const char* want : {"pending", "employee-001", "tools", "exec/main", "2026-11-21 19:48:00Z",
                           "2026-11-21 20:03:00Z", "exec: ls -la /srv/reports"}) {
    EXPECT_NE(lines[1].find(want), std::string::npos) << want << " in " << lines[1];
  }
  EXPECT_EQ(lines[2].rfind(kId2, 0), 0U) << lines[2];
  EXPECT_NE(lines[2].find("-/research"), std::string::npos) << lines[2];
  // Columns line up: every row's STATE starts where the header's does.
  EXPECT_EQ(lines[1].find("pending"), lines[0].find("STATE"));
  EXPECT_EQ(lines[2].find("approved"), lines[0].find("STATE"));

  const std::string summary = lines[2].substr(lines[0].find("SUMMARY"));
  EXPECT_EQ(summary, "chat: ?[2Jplease summarise ?the quarterly numbe...") << summary;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.out.find("\xE2\x80\xAE"), std::string::npos);
}

TEST_F(ApprovalsCli, ListWithStateAndJsonPrintsTheServersDocumentAsIs) {
  // Deliberately not nlohmann's formatting: --json must pass the bytes through.
  const std::string body =
      std::string(R"({ "approvals" : [ )") + approval(kId1, "pending").dump() + " ] }";
  admin_.on("/v1/approvals",
            [body](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, body); });

  // Options in any order, before and after each other.
  const CliResult r = run_approvals({"list", "--json", "--token-env", kTokenVar, "--state",
                                     "pending", "--admin-url", admin_.url()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, body + "\n");
  const UpstreamRequest req = only_request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/v1/approvals?state=pending");
  expect_authorized(req);
}

TEST_F(ApprovalsCli, ListSaysSoWhenThereAreNone) {
  admin_.on("/v1/approvals",
            [](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, R"({"approvals":[]})"); });
  const CliResult r = run_approvals(with_admin({"list", "--state", "expired"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "no expired approvals\n");
}

TEST_F(ApprovalsCli, ShowPrintsEveryField) {
  const json a = approval(kId1, "pending");
  admin_.on(std::string("/v1/approvals/") + kId1,
            [a](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, a.dump()); });
  const CliResult r = run_approvals(with_admin({"show", kId1}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const UpstreamRequest req = only_request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, std::string("/v1/approvals/") + kId1);
  expect_authorized(req);

  EXPECT_EQ(lines_of(r.out).size(), a.size()) << r.out;
  EXPECT_EQ(r.out.rfind(std::string("id:"), 0), 0U) << r.out;
  EXPECT_EQ(block_value(r.out, "id"), kId1);
  EXPECT_EQ(block_value(r.out, "state"), "pending");
  EXPECT_EQ(block_value(r.out, "summary"), "exec: ls -la /srv/reports");
  EXPECT_EQ(block_value(r.out, "created_at"), "2026-11-21T19:48:00.123456Z");
  EXPECT_EQ(block_value(r.out, "session"), "-");
  EXPECT_EQ(block_value(r.out, "request_sha256"), std::string(64, 'a'));

  const CliResult j = run_approvals(with_admin({"--json", "show", kId1}));
  EXPECT_EQ(j.exit_code, 2) << "the subcommand comes first: " << describe(j);
  const CliResult j2 = run_approvals(with_admin({"show", kId1, "--json"}));
  ASSERT_EQ(j2.exit_code, 0) << describe(j2);
  EXPECT_EQ(json::parse(j2.out), a);
}

TEST_F(ApprovalsCli, ApproveSendsTheNote) {
  json updated = approval(kId1, "approved");
  updated["decided_at"] = "2026-11-21T19:50:12.000001Z";
  updated["reviewer"] = "manager-1";
  updated["note"] = "ok for the Q3 report";
  admin_.on(std::string("/v1/approvals/") + kId1 + "/approve",
            [updated](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, updated.dump()); });

  const CliResult r =
      run_approvals(with_admin({"approve", "--note", "ok for the Q3 report", kId1}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const UpstreamRequest req = only_request();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, std::string("/v1/approvals/") + kId1 + "/approve");
  expect_authorized(req);
  EXPECT_EQ(req.header("content-type").value_or(""), "application/json");
  EXPECT_EQ(json::parse(req.body, nullptr, false), (json{{"note", "ok for the Q3 report"}}));

  EXPECT_EQ(block_value(r.out, "state"), "approved");
  EXPECT_EQ(block_value(r.out, "reviewer"), "manager-1");
  EXPECT_EQ(block_value(r.out, "note"), "ok for the Q3 report");
}

TEST_F(ApprovalsCli, DenyWithoutANoteSendsAnEmptyObject) {
  json updated = approval(kId1, "denied");
  updated["reviewer"] = "manager-1";
  admin_.on(std::string("/v1/approvals/") + kId1 + "/deny",
            [updated](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, updated.dump()); });

  const CliResult r = run_approvals(with_admin({"deny", kId1}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const UpstreamRequest req = only_request();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, std::string("/v1/approvals/") + kId1 + "/deny");
  EXPECT_EQ(req.header("content-type").value_or(""), "application/json");
  EXPECT_EQ(json::parse(req.body, nullptr, false), json::object());
  EXPECT_EQ(block_value(r.out, "state"), "denied");
}

TEST_F(ApprovalsCli, AdminUrlPathPrefixIsKept) {
  const json a = approval(kId1, "pending");
  admin_.set_default([a](const UpstreamRequest&, UpstreamConn& c) { c.respond(200, a.dump()); });
  const CliResult r = run_approvals(
      {"show", kId1, "--admin-url", admin_.url() + "/admin/", "--token-env", kTokenVar});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(only_request().target, std::string("/admin/v1/approvals/") + kId1);
}

TEST_F(ApprovalsCli, UnknownIdIsExit1WithTheServersMessage) {
  admin_.set_default([](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(404, error_doc("not_found_error", "approval_not_found", "no such approval").dump());
  });
  const CliResult r = run_approvals(with_admin({"show", kId2}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: 404 approval_not_found: no such approval"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("0af7651916cd43dd8448eb211c80319c"), std::string::npos) << r.err;
}

TEST_F(ApprovalsCli, DecidingTwiceIsExit1NamingTheConflict) {
  admin_.set_default([](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(
        409,
        error_doc("conflict_error", "approval_conflict", "approval is already approved").dump());
  });
  for (const char* verb : {"approve", "deny"}) {
    const CliResult r = run_approvals(with_admin({verb, kId1, "--json"}));
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("error: 409 approval_conflict: approval is already approved"),
              std::string::npos)
        << r.err;
  }
}

TEST_F(ApprovalsCli, WrongTokenIsExit1WithAHint) {
  admin_.set_default([](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(401, error_doc("authentication_error", "unauthorized", "invalid token").dump());
  });
  const CliResult r = run_approvals(with_admin({"list"}),
                                    std::string(kTokenVar) + "=client-token-employee-001-8f3a91c2");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(only_request().header("authorization").value_or(""),
            "Bearer client-token-employee-001-8f3a91c2");
  EXPECT_NE(r.err.find("error: 401 unauthorized: invalid token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::string("--token-env ") + kTokenVar), std::string::npos) << r.err;
}

TEST_F(ApprovalsCli, ErrorWithoutAJsonBodyIsExit1) {
  admin_.set_default([](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(502, "upstream exploded", "text/plain");
  });
  const CliResult r = run_approvals(with_admin({"list"}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("error: 502 -: upstream exploded"), std::string::npos) << r.err;
}

TEST_F(ApprovalsCli, SuccessWithoutJsonIsExit1) {
  admin_.set_default([](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, "<html>hi</html>", "text/html");
  });
  const CliResult r = run_approvals(with_admin({"list", "--json"}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.err;
}

TEST_F(ApprovalsCli, UnreachableAdminApiIsExit1NamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
  const CliResult r = run_approvals({"list", "--admin-url", url, "--token-env", kTokenVar});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("cannot reach the admin API at " + url), std::string::npos) << r.err;
}

TEST_F(ApprovalsCli, UsageErrorsAreExit2AndSendNothing) {
  const std::string token_env = std::string(kTokenVar) + "=" + kAdminToken;
  struct Case {
    std::vector<std::string> args;
    std::string env;
    std::string says;
  };
  const std::string url = admin_.url();
  const std::vector<Case> cases = {
      {{"list", "--admin-url", url, "--token-env", "CLAWGATE_TEST_UNSET_VARIABLE"},
       token_env,
       "CLAWGATE_TEST_UNSET_VARIABLE (--token-env) is not set"},
      {with_admin({"list"}), std::string(kTokenVar) + "=",
       std::string(kTokenVar) + " (--token-env) is empty"},
      {with_admin({"list"}), std::string(kTokenVar) + "='two words'", "white space"},
      {with_admin({"show", "apr_0123456789ABCDEF0123456789ABCDEF"}), token_env,
       "not an approval ID"},
      {with_admin({"show", "apr_0123"}), token_env, "not an approval ID"},
      {with_admin({"approve", "0123456789abcdef0123456789abcdef"}), token_env,
       "not an approval ID"},
      {with_admin({"deny", "apr_0123456789abcdef0123456789abcdef/../x"}), token_env,
       "not an approval ID"},
      {with_admin({"show"}), token_env, "name the approval ID"},
      {with_admin({"show", kId1, kId2}), token_env, "one approval ID only"},
      {{"list", "--admin-url", "https://127.0.0.1:18791", "--token-env", kTokenVar},
       token_env,
       "https is not supported"},
      {{"list", "--admin-url", "ftp://127.0.0.1:18791", "--token-env", kTokenVar},
       token_env,
       "must be an http:// URL"},
      {{"list", "--admin-url", "127.0.0.1:18791", "--token-env", kTokenVar},
       token_env,
       "--admin-url"},
      {{"list", "--admin-url", "http://127.0.0.1:99999", "--token-env", kTokenVar},
       token_env,
       "bad port"},
      {{"list", "--token-env", kTokenVar}, token_env, "--admin-url is required"},
      {{"list", "--admin-url", url}, token_env, "--token-env is required"},
      {{"list", "--admin-url"}, token_env, "--admin-url needs a value"},
      {with_admin({"list", "--state", "maybe"}), token_env, "--state is one of"},
      {with_admin({"list", "--note", "x"}), token_env, "--note is only for"},
      {with_admin({"show", kId1, "--state", "pending"}), token_env, "--state is only for"},
      {with_admin({"list", "--verbose"}), token_env, "unknown option --verbose"},
      {with_admin({"list", "extra"}), token_env, "unexpected argument"},
      {with_admin({"list", "--admin-url", url}), token_env, "given twice"},
      {with_admin({"revoke", kId1}), token_env, "unknown subcommand `revoke`"},
      {{}, token_env, "expected `list`"},
  };
  for (const auto& c : cases) {
    const CliResult r = run_approvals(c.args, c.env);
    std::string shown;
    for (const auto& a : c.args) shown += " " + a;
    EXPECT_EQ(r.exit_code, 2) << "approvals" << shown << "\n" << describe(r);
    EXPECT_NE(r.err.find(c.says), std::string::npos)
        << "approvals" << shown << ": expected \"" << c.says << "\" in\n"
        << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(admin_.proxied_count(), 0U) << "a usage error must not reach the admin API";

  const CliResult help = run_approvals({"--help"});
  EXPECT_EQ(help.exit_code, 0) << describe(help);
  EXPECT_NE(help.out.find("--token-env VAR"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace clawgate::itest

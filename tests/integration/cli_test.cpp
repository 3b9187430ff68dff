// The command line outside `serve`: token new/hash, policy check, --version, usage errors
// (exit 2), each run as a real process.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>
#include <nlohmann/json.hpp>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/audit/export.hpp"
#include "clawgate/core/crypto.hpp"
#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout, then stderr
};

// Runs the binary through /bin/sh with `args` (already shell-quoted by the caller), after the
// shell environment assignments in `env` ("NAME=value "), feeding `stdin_text`.
CliRun run_with_env(const std::string& env, const std::string& args,
                    const std::string& stdin_text = "") {
  TempDir dir;
  write_file(dir.file("in"), stdin_text);
  const std::string cmd = env + "'" + clawgate_binary() + "' " + args + " < '" + dir.file("in") +
                          "' > '" + dir.file("out") + "' 2> '" + dir.file("err") + "'";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir.file("out")) + read_file(dir.file("err"));
  return r;
}

CliRun run(const std::string& args, const std::string& stdin_text = "") {
  return run_with_env("", args, stdin_text);
}

TEST(Cli, TokenNewPrintsATokenAndItsDigest) {
  const CliRun r = run("token new");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const std::string token = j.at("token");
  EXPECT_EQ(token.rfind("cgt_", 0), 0U);
  EXPECT_EQ(token.size(), 4U + 64U);
  EXPECT_EQ(j.at("token_sha256"), core::sha256_hex(token));
  EXPECT_NE(run("token new").out, r.out) << "two tokens must differ";
}

TEST(Cli, TokenHashStripsOneTrailingNewline) {
  const CliRun r = run("token hash", "my-token\n");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, core::sha256_hex("my-token") + "\n");
  EXPECT_EQ(run("token hash", "my-token").out, core::sha256_hex("my-token") + "\n");
  EXPECT_EQ(run("token hash", "").exit_code, 1);
}

TEST(Cli, PolicyCheckAcceptsValidAndRejectsInvalid) {
  TempDir dir;
  write_file(dir.file("good.json"), default_policy().dump());
  const CliRun good = run("policy check '" + dir.file("good.json") + "'");
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NE(good.out.find(core::sha256_hex(default_policy().dump())), std::string::npos) << good.out;

  write_file(dir.file("bad.json"),
             R"({"version":1,"name":"x","rules":[{"id":"a","match":{"tol":"x"},"decision":"allow"}]})");
  const CliRun bad = run("policy check '" + dir.file("bad.json") + "'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("tol"), std::string::npos) << "the message must name the bad key: " << bad.out;

  EXPECT_EQ(run("policy check '" + dir.file("missing.json") + "'").exit_code, 1);
}

TEST(Cli, VersionHelpAndUsageErrors) {
  EXPECT_EQ(run("--version").exit_code, 0);
  EXPECT_EQ(run("--help").exit_code, 0);
  EXPECT_EQ(run("").exit_code, 2);
  EXPECT_EQ(run("frobnicate").exit_code, 2);
  EXPECT_EQ(run("serve").exit_code, 2);
  EXPECT_EQ(run("token").exit_code, 2);
  const CliRun missing = run("approvals list");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.out.find("--admin-url is required"), std::string::npos) << missing.out;
}

TEST(Cli, ClassifyUsesTheBuiltInDefaultPolicy) {
  const CliRun red = run("classify 'please wire money today'");
  ASSERT_EQ(red.exit_code, 0) << red.out;
  const auto j = nlohmann::json::parse(red.out);
  EXPECT_EQ(j["risk"], "red");
  EXPECT_EQ(j["matches"][0]["term"], "wire money");
  EXPECT_EQ(j["matches"][0]["where"], "input");
  const CliRun lines = run("classify -", "hello there\nsend the invoice\nrm -rf /\n");
  ASSERT_EQ(lines.exit_code, 0) << lines.out;
  std::istringstream in(lines.out);
  std::vector<std::string> risks;
  for (std::string l; std::getline(in, l);) risks.push_back(nlohmann::json::parse(l)["risk"]);
  EXPECT_EQ(risks, (std::vector<std::string>{"green", "amber", "red"}));
}

TEST(Cli, PolicyTestReportsPassesAndFailures) {
  TempDir dir;
  write_file(dir.file("p.json"), default_policy().dump());
  const nlohmann::json cases = {
      {"policy", "p.json"},
      {"cases",
       {{{"name", "ok"}, {"route", "tools"}, {"roles", {"employee"}},
         {"request", {{"tool", "sessions_list"}}}, {"expect", {{"decision", "allow"}}}},
        {{"name", "wrong"}, {"route", "tools"}, {"roles", {"employee"}},
         {"request", {{"tool", "exec"}}}, {"expect", {{"decision", "allow"}}}}}}};
  write_file(dir.file("t.json"), cases.dump());
  const CliRun r = run("policy test '" + dir.file("t.json") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("FAIL t.json: wrong: decision: expected \"allow\", got \"deny\""),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 passed, 1 failed"), std::string::npos) << r.out;
}

TEST(Cli, PolicyExplainShowsEveryRule) {
  TempDir dir;
  write_file(dir.file("p.json"), default_policy().dump());
  write_file(dir.file("req.json"), R"({"tool":"exec","args":{"command":"id"}})");
  const CliRun r = run("policy explain --policy '" + dir.file("p.json") + "' --route tools --request '" +
                       dir.file("req.json") + "' --roles employee --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["decision"], "deny");
  EXPECT_EQ(j["deciding_rule"], "no-exec");
  EXPECT_EQ(j["rules"].size(), default_policy()["rules"].size());
  bool explained_miss = false;
  for (const auto& rule : j["rules"]) {
    if (!rule["matched"].get<bool>()) explained_miss |= !rule["failed"].get<std::string>().empty();
  }
  EXPECT_TRUE(explained_miss) << "unmatched rules must say which condition failed";
}

}  // namespace
}  // namespace clawgate::itest

namespace clawgate::itest {
namespace {

TEST(Cli, AuditVerifyPrintsTheAnchorAndNamesTheFirstBadRecord) {
  TempDir dir;
  config::Audit cfg;
  cfg.file = dir.file("a.jsonl");
  cfg.hmac_key = "audit-key-for-cli-test";
  {
    auto log = std::get<audit::AuditLogPtr>(audit::open_jsonl_log(cfg, {}));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->append({"t", "received", std::nullopt, "chat", {{"i", i}}}, true));
  }
  const std::string env = "CLAWGATE_TEST_AUDIT_KEY=audit-key-for-cli-test ";
  const CliRun ok = run_with_env(env, "audit verify '" + cfg.file + "' --key-env CLAWGATE_TEST_AUDIT_KEY");
  ASSERT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("ok: 3 records, last seq 3, last hash "), std::string::npos) << ok.out;

  std::string text = read_file(cfg.file);
  text.replace(text.find("\"i\":1"), 5, "\"i\":7");
  write_file(cfg.file, text);
  const CliRun bad = run_with_env(env, "audit verify '" + cfg.file + "' --key-env CLAWGATE_TEST_AUDIT_KEY");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find(cfg.file + ":2 (seq 2): bad hash"), std::string::npos) << bad.out;
  EXPECT_EQ(run("audit verify '" + cfg.file + "' --key-env CLAWGATE_TEST_UNSET_VARIABLE").exit_code, 1);
  EXPECT_EQ(run("audit verify").exit_code, 2);

  const CliRun csv = run("audit export --format csv --stage received '" + cfg.file + "'");
  ASSERT_EQ(csv.exit_code, 0) << csv.out;
  EXPECT_EQ(csv.out.rfind(std::string(audit::kCsvHeader) + "\n", 0), 0U) << csv.out;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 4) << csv.out;  // header + 3
  EXPECT_EQ(run("audit export '" + cfg.file + "'").exit_code, 2);  // --format is required
}

}  // namespace
}  // namespace clawgate::itest

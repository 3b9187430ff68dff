// Unit tests for the minimal policy engine (SPEC §5 subset): loading, refusals of what this build
// does not support, matching, and the deny > approve > allow > default combination.

#include "clawgate/policy/policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "clawgate/core/crypto.hpp"

namespace clawgate::policy {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSrc = "policies/test.json";

PolicyPtr must_parse_text(const std::string& text) {
  auto r = parse_policy(text, kSrc);
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return std::make_shared<Policy>();
  }
  return std::get<PolicyPtr>(r);
}

PolicyPtr must_parse(const json& doc) { return must_parse_text(doc.dump()); }

std::string error_of_text(const std::string& text) {
  auto r = parse_policy(text, kSrc);
  if (std::holds_alternative<PolicyPtr>(r)) {
    ADD_FAILURE() << "expected an error for: " << text;
    return "";
  }
  return std::get<LoadError>(r).message;
}

std::string error_of(const json& doc) { return error_of_text(doc.dump()); }

json doc_with_rules(const json& rules) {
  return json{{"version", 1}, {"name", "t"}, {"rules", rules}};
}

json one_rule(const json& match, const std::string& decision = "allow") {
  return doc_with_rules(json::array({{{"id", "r"}, {"match", match}, {"decision", decision}}}));
}

Input chat(std::vector<std::string> roles = {"employee"}) {
  Input in;
  in.route = "chat";
  in.identity = "employee-001";
  in.roles = std::move(roles);
  in.agent = "main";
  return in;
}

Input tools(const std::string& tool, std::optional<std::string> action = std::nullopt) {
  Input in;
  in.route = "tools";
  in.identity = "employee-001";
  in.roles = {"employee"};
  in.agent = "main";
  in.tool = tool;
  in.action = std::move(action);
  return in;
}

// ---- the sample file
// -----------------------------------------------------------------------------

TEST(PolicySample, MinimalJsonLoadsAndDecides) {
  const std::string path = std::string(CLAWGATE_TEST_DATA_DIR) + "/policies/minimal.json";
  auto r = load_policy_file(path);
  ASSERT_TRUE(std::holds_alternative<PolicyPtr>(r)) << std::get<LoadError>(r).message;
  const Policy& p = *std::get<PolicyPtr>(r);
  EXPECT_EQ(p.version, 1);
  EXPECT_EQ(p.name, "minimal-core");
  EXPECT_EQ(p.default_decision, Decision::deny);
  EXPECT_EQ(p.source, path);
  EXPECT_THAT(p.forward_headers_allow,
              ElementsAre("x-openclaw-agent-id", "x-openclaw-session-key"));
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(p.sha256, core::sha256_hex(bytes));

  Verdict v = evaluate(p, chat());
  EXPECT_EQ(v.decision, Decision::allow);
  EXPECT_EQ(v.deciding_rule, "chat-employee");
  EXPECT_EQ(v.reason, "Employees may chat with their agents");

  v = evaluate(p, chat({"contractor"}));
  EXPECT_EQ(v.decision, Decision::deny);
  EXPECT_EQ(v.deciding_rule, "");
  EXPECT_TRUE(v.rules.empty());
  EXPECT_EQ(v.reason, "no rule matched; default_decision is deny");

  Input resp = chat();
  resp.route = "responses";
  EXPECT_EQ(evaluate(p, resp).decision, Decision::allow);

  v = evaluate(p, tools("sessions_list"));
  EXPECT_EQ(v.decision, Decision::allow);
  EXPECT_THAT(v.rules, ElementsAre("tools-sessions-list"));

  v = evaluate(p, tools("exec"));
  EXPECT_EQ(v.decision, Decision::deny);
  EXPECT_EQ(v.deciding_rule, "tools-deny-exec");
  EXPECT_EQ(v.reason, "Shell execution is not allowed through the gateway");

  EXPECT_EQ(evaluate(p, tools("web_fetch")).decision, Decision::deny);  // default

  Input models;
  models.route = "models";
  models.identity = "bot";
  models.agent = "main";
  EXPECT_EQ(evaluate(p, models).decision, Decision::allow);
}

// ---- loading: accepted forms
// ---------------------------------------------------------------------

TEST(PolicyLoad, DefaultsAndSha) {
  const std::string text = R"({"version": 1, "rules": []})";
  PolicyPtr p = must_parse_text(text);
  EXPECT_EQ(p->default_decision, Decision::deny);
  EXPECT_EQ(p->name, "");
  EXPECT_TRUE(p->forward_headers_allow.empty());
  EXPECT_TRUE(p->rules.empty());
  EXPECT_EQ(p->sha256, core::sha256_hex(text));
  EXPECT_EQ(p->source, kSrc);
}

TEST(PolicyLoad, DefaultDecisionValues) {
  for (const auto& [word, d] : std::vector<std::pair<std::string, Decision>>{
           {"allow", Decision::allow}, {"deny", Decision::deny}, {"approve", Decision::approve}}) {
    json doc = doc_with_rules(json::array());
    doc["default_decision"] = word;
    EXPECT_EQ(must_parse(doc)->default_decision, d);
    EXPECT_EQ(to_string(d), word);
  }
}

TEST(PolicyLoad, ForwardHeadersAreLowerCasedAndDeduplicated) {
  json doc = doc_with_rules(json::array());
  doc["forward_headers"] = {
      {"allow", {"X-OpenClaw-Agent-Id", "x-openclaw-agent-id", "x-openclaw-session-key"}}};
  EXPECT_THAT(must_parse(doc)->forward_headers_allow,
              ElementsAre("x-openclaw-agent-id", "x-openclaw-session-key"));
  doc["forward_headers"] = json::object();
  EXPECT_TRUE(must_parse(doc)->forward_headers_allow.empty());
}

TEST(PolicyLoad, ModeEnforceIsAccepted) {
  json doc = doc_with_rules(json::array(
      {{{"id", "a"}, {"match", json::object()}, {"decision", "allow"}, {"mode", "enforce"}}}));
  doc["mode"] = "enforce";
  EXPECT_EQ(must_parse(doc)->rules.size(), 1U);
}

// ---- loading: errors
// -----------------------------------------------------------------------------

TEST(PolicyLoad, DocumentErrors) {
  EXPECT_THAT(error_of_text("{"), StartsWith(kSrc + ": invalid JSON"));
  EXPECT_THAT(error_of_text("[]"), StartsWith(kSrc + ": the top level must be a JSON object"));
  EXPECT_THAT(error_of_text(R"({"version":1,"rules":[],"rules":[]})"),
              StartsWith(kSrc + ": invalid JSON"));
  EXPECT_THAT(error_of_text(R"({"version":1,"rules":[],"rules":[]})"), HasSubstr("duplicate"));
  EXPECT_EQ(error_of_text(R"({"rules":[]})"), kSrc + ": version: required (must be 1)");
  EXPECT_EQ(error_of_text(R"({"version":2,"rules":[]})"), kSrc + ": version: must be 1");
  EXPECT_EQ(error_of_text(R"({"version":"1","rules":[]})"), kSrc + ": version: must be 1");
  EXPECT_EQ(error_of_text(R"({"version":1.0,"rules":[]})"), kSrc + ": version: must be 1");
  EXPECT_EQ(error_of_text(R"({"version":18446744073709551615,"rules":[]})"),
            kSrc + ": version: must be 1");
  EXPECT_EQ(error_of_text(R"({"version":1})"), kSrc + ": rules: required (an array of rules)");
  EXPECT_EQ(error_of_text(R"({"version":1,"rules":{}})"), kSrc + ": rules: must be an array");
  EXPECT_EQ(error_of_text(R"({"version":1,"rules":[],"name":5})"),
            kSrc + ": name: must be a string");
  EXPECT_EQ(error_of_text(R"({"version":1,"rules":[],"colour":5})"),
            kSrc + ": colour: unknown key");
  EXPECT_EQ(error_of_text(R"({"version":1,"rules":[],"default_decision":"maybe"})"),
            kSrc + ": default_decision: must be \"allow\", \"deny\" or \"approve\"");
  EXPECT_EQ(error_of_text(R"({"version":1,"rules":[],"default_decision":"Allow"})"),
            kSrc + ": default_decision: must be \"allow\", \"deny\" or \"approve\"");
}

TEST(PolicyLoad, LaterFeaturesAreRefusedNotIgnored) {
  for (const char* key : {"classifier", "chat", "redact"}) {
    json doc = doc_with_rules(json::array());
    doc[key] = json::object();
    EXPECT_EQ(error_of(doc), kSrc + ": " + key + ": not supported yet by this build");
  }
  json doc = doc_with_rules(json::array());
  doc["mode"] = "monitor";
  EXPECT_EQ(error_of(doc), kSrc + ": mode: \"monitor\" is not supported yet by this build");
  doc["mode"] = "audit";
  EXPECT_THAT(error_of(doc), StartsWith(kSrc + ": mode: must be \"enforce\""));
  doc["mode"] = 1;
  EXPECT_THAT(error_of(doc), StartsWith(kSrc + ": mode: must be a string"));
}

TEST(PolicyLoad, ForwardHeaderErrors) {
  json doc = doc_with_rules(json::array());
  for (const char* bad : {"authorization", "x-openclaw-", "x-openclaw-*", "x-openclaw-a b",
                          "x-forwarded-for", "x-openclaw-\r\nx", ""}) {
    doc["forward_headers"] = {{"allow", {"x-openclaw-agent-id", bad}}};
    EXPECT_THAT(error_of(doc),
                StartsWith(kSrc + ": forward_headers.allow[1]: must be a header name starting with "
                                  "\"x-openclaw-\""))
        << bad;
  }
  doc["forward_headers"] = {{"allow", {5}}};
  EXPECT_EQ(error_of(doc), kSrc + ": forward_headers.allow[0]: must be a string");
  doc["forward_headers"] = {{"allow", "x-openclaw-agent-id"}};
  EXPECT_EQ(error_of(doc), kSrc + ": forward_headers.allow: must be an array of header names");
  doc["forward_headers"] = {{"deny", json::array()}};
  EXPECT_EQ(error_of(doc), kSrc + ": forward_headers.deny: unknown key");
  doc["forward_headers"] = json::array();
  EXPECT_THAT(error_of(doc), StartsWith(kSrc + ": forward_headers: must be an object"));
}

TEST(PolicyLoad, RuleErrorsNameFileAndRule) {
  const json ok_rule = {{"id", "a"}, {"match", json::object()}, {"decision", "allow"}};
  auto rules_with = [&](const json& bad) {
    return doc_with_rules(json::array(
        {ok_rule, {{"id", "b"}, {"match", json::object()}, {"decision", "deny"}}, bad}));
  };
  const std::string r2 = kSrc + ": rules[2]";
  const std::string x = kSrc + ": rules[2] (id \"x\")";

  EXPECT_EQ(error_of(rules_with("rule")), r2 + ": must be an object");
  EXPECT_EQ(error_of(rules_with({{"match", json::object()}, {"decision", "allow"}})),
            r2 + ": id: required");
  EXPECT_EQ(error_of(rules_with({{"id", ""}, {"match", json::object()}, {"decision", "allow"}})),
            r2 + ": id: must be a non-empty string");
  EXPECT_EQ(error_of(rules_with({{"id", 7}, {"match", json::object()}, {"decision", "allow"}})),
            r2 + ": id: must be a non-empty string");
  EXPECT_EQ(error_of(rules_with({{"id", "a"}, {"match", json::object()}, {"decision", "deny"}})),
            kSrc + ": rules[2] (id \"a\"): id: duplicate id (also rules[0])");
  EXPECT_EQ(error_of(rules_with({{"id", "x"}, {"decision", "allow"}})),
            x + ": match: required (use {} to match every request)");
  EXPECT_EQ(error_of(rules_with({{"id", "x"}, {"match", "all"}, {"decision", "allow"}})),
            x + ": match: must be an object");
  EXPECT_EQ(error_of(rules_with({{"id", "x"}, {"match", json::object()}})),
            x + ": decision: required");
  EXPECT_EQ(error_of(rules_with({{"id", "x"}, {"match", json::object()}, {"decision", "block"}})),
            x + ": decision: must be \"allow\", \"deny\" or \"approve\"");
  EXPECT_EQ(error_of(rules_with(
                {{"id", "x"}, {"match", json::object()}, {"decision", "allow"}, {"reason", 5}})),
            x + ": reason: must be a string");
  EXPECT_EQ(error_of(rules_with(
                {{"id", "x"}, {"match", json::object()}, {"decision", "allow"}, {"priority", 5}})),
            x + ": priority: unknown key");
  EXPECT_EQ(
      error_of(rules_with(
          {{"id", "x"}, {"match", json::object()}, {"decision", "allow"}, {"mode", "monitor"}})),
      x + ": mode: \"monitor\" is not supported yet by this build");
  EXPECT_EQ(error_of(rules_with({{"id", "x"},
                                 {"match", json::object()},
                                 {"decision", "allow"},
                                 {"rate_limit", {{"max", 5}, {"per_s", 60}}}})),
            x + ": rate_limit: not supported yet by this build");
}

TEST(PolicyLoad, MatchErrors) {
  const auto rule = [](const json& match) {
    return doc_with_rules(json::array({{{"id", "x"}, {"match", match}, {"decision", "allow"}}}));
  };
  const std::string x = kSrc + ": rules[0] (id \"x\")";
  EXPECT_EQ(error_of(rule({{"tool", 5}})),
            x + ": match.tool: must be a string or an array of strings");
  EXPECT_EQ(error_of(rule({{"tool", {"exec", 5}}})),
            x + ": match.tool: must be a string or an array of strings");
  EXPECT_EQ(error_of(rule({{"tool", json::object()}})),
            x + ": match.tool: must be a string or an array of strings");
  EXPECT_EQ(error_of(rule({{"agent", json::array()}})),
            x + ": match.agent: must not be an empty array (it could never match)");
  EXPECT_EQ(error_of(rule({{"identity", ""}})),
            x + ": match.identity: must not contain an empty string");
  EXPECT_EQ(error_of(rule({{"route", "tool"}})),
            x + ": match.route: \"tool\" matches no route (chat, responses, tools, models)");
  EXPECT_EQ(error_of(rule({{"route", {"chat", "x*"}}})),
            x + ": match.route: \"x*\" matches no route (chat, responses, tools, models)");
  EXPECT_EQ(error_of(rule({{"route", "Chat"}})),
            x + ": match.route: \"Chat\" matches no route (chat, responses, tools, models)");
  for (const char* later : {"risk", "args", "text"}) {
    EXPECT_EQ(error_of(rule({{later, "red"}})),
              x + ": match." + later + ": not supported yet by this build");
  }
  EXPECT_EQ(error_of(rule({{"user", "x"}})), x + ": match.user: unknown key");
  EXPECT_EQ(error_of(rule({{"roles", nullptr}})),
            x + ": match.roles: must be a string or an array of strings");
}

TEST(PolicyLoad, RouteGlobsAreAccepted) {
  EXPECT_EQ(must_parse(one_rule({{"route", {"*", "re*"}}}))->rules.size(), 1U);
  // '?' is literal, so "tool?" matches no route and is refused.
  EXPECT_THAT(error_of(one_rule({{"route", "tool?"}})), HasSubstr("matches no route"));
  EXPECT_EQ(must_parse(one_rule({{"route", "*s"}}))->rules.size(), 1U);
}

TEST(PolicyLoad, LoadPolicyFileErrorsNameThePath) {
  const std::string path = "/nonexistent/clawgate/policy.json";
  auto r = load_policy_file(path);
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_EQ(std::get<LoadError>(r).message,
            path + ": cannot read policy file: No such file or directory");
  r = load_policy_file("/");
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_THAT(std::get<LoadError>(r).message, StartsWith("/: cannot read policy file: "));
}

TEST(PolicyLoad, LoadPolicyFileUsesThePathAsSource) {
  char tmpl[] = "/tmp/clawgate-policy-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/p.json";
  std::ofstream(path) << R"({"version": 1, "rules": [{"id": "a", "match": {"tool": 1},
                             "decision": "allow"}]})";
  auto r = load_policy_file(path);
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_EQ(std::get<LoadError>(r).message,
            path + ": rules[0] (id \"a\"): match.tool: must be a string or an array of strings");
  std::filesystem::remove_all(tmpl);
}

TEST(PolicyLoad, GarbageNeverThrows) {
  std::mt19937 rng(99);  // fixed seed: reproducible
  const std::string alphabet = "{}[]\":,01.-e truefalsnul\\\xff\x01 idmatchrules";
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    const auto len = rng() % 64;
    for (std::size_t j = 0; j < len; ++j) text += alphabet[rng() % alphabet.size()];
    EXPECT_NO_THROW((void)parse_policy(text, kSrc));
  }
}

// ---- patterns
// ------------------------------------------------------------------------------------

TEST(PolicyPattern, Globs) {
  const auto m = [](std::string pat, std::string_view v, bool ci = false) {
    Pattern p;
    p.alternatives = {std::move(pat)};
    p.case_insensitive = ci;
    return p.matches(v);
  };
  EXPECT_TRUE(m("*", ""));
  EXPECT_TRUE(m("*", "anything"));
  EXPECT_TRUE(m("exec", "exec"));
  EXPECT_FALSE(m("exec", "exec2"));
  EXPECT_FALSE(m("exec", "exe"));
  EXPECT_TRUE(m("sessions_*", "sessions_"));  // star matches the empty run
  EXPECT_TRUE(m("sessions_*", "sessions_list"));
  EXPECT_FALSE(m("sessions_*", "session_list"));
  EXPECT_TRUE(m("*_list", "sessions_list"));
  EXPECT_TRUE(m("a*b*c", "abc"));
  EXPECT_TRUE(m("a*b*c", "axxbyyc"));
  EXPECT_FALSE(m("a*b*c", "axxbyy"));
  EXPECT_TRUE(m("a**c", "ac"));
  EXPECT_TRUE(m("*ab", "aab"));
  EXPECT_FALSE(m("Main", "main"));
  EXPECT_TRUE(m("Main", "main", true));
  EXPECT_TRUE(m("WEB_*", "web_fetch", true));
  EXPECT_FALSE(m("?", "a"));  // only '*' is special

  Pattern alts;
  alts.alternatives = {"a", "b*"};
  EXPECT_TRUE(alts.matches("a"));
  EXPECT_TRUE(alts.matches("bee"));
  EXPECT_FALSE(alts.matches("c"));
  EXPECT_FALSE(Pattern{}.matches("x"));  // no alternatives: nothing
}

TEST(PolicyPattern, PathologicalGlobIsFast) {
  Pattern p;
  p.alternatives = {std::string(50, 'a') + "*" + std::string(50, 'a') + "*" + "b"};
  for (int i = 0; i < 20; ++i) p.alternatives[0] = "*a" + p.alternatives[0];
  const std::string value(20000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.matches(value));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// ---- matching
// ------------------------------------------------------------------------------------

TEST(PolicyMatch, EmptyMatchMatchesEverything) {
  PolicyPtr p = must_parse(one_rule(json::object(), "approve"));
  EXPECT_EQ(evaluate(*p, chat()).decision, Decision::approve);
  EXPECT_EQ(evaluate(*p, tools("exec")).decision, Decision::approve);
  EXPECT_THAT(evaluate(*p, chat({})).rules, ElementsAre("r"));
}

TEST(PolicyMatch, AbsentRequestValueMeansNoMatch) {
  PolicyPtr p = must_parse(one_rule({{"tool", "*"}}));
  EXPECT_EQ(evaluate(*p, chat()).decision, Decision::deny);  // chat has no tool
  EXPECT_EQ(evaluate(*p, tools("x")).decision, Decision::allow);

  p = must_parse(one_rule({{"action", "*"}}));
  EXPECT_EQ(evaluate(*p, tools("x")).decision, Decision::deny);
  EXPECT_EQ(evaluate(*p, tools("x", "list")).decision, Decision::allow);

  p = must_parse(one_rule({{"session", "*"}}));
  Input in = chat();
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
  in.session = "s1";
  EXPECT_EQ(evaluate(*p, in).decision, Decision::allow);

  p = must_parse(one_rule({{"roles", "*"}}));
  EXPECT_EQ(evaluate(*p, chat({})).decision, Decision::deny);  // no roles at all
  EXPECT_EQ(evaluate(*p, chat({"x"})).decision, Decision::allow);

  p = must_parse(one_rule({{"identity", "*"}}));
  in = chat();
  in.identity.clear();
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
}

TEST(PolicyMatch, RolesMatchAnyOfAny) {
  PolicyPtr p = must_parse(one_rule({{"roles", {"finance", "hr-*"}}}));
  EXPECT_EQ(evaluate(*p, chat({"employee", "finance"})).decision, Decision::allow);
  EXPECT_EQ(evaluate(*p, chat({"hr-lead"})).decision, Decision::allow);
  EXPECT_EQ(evaluate(*p, chat({"employee", "Finance"})).decision,
            Decision::deny);  // case-sensitive
}

TEST(PolicyMatch, ToolIsCaseInsensitiveOthersAreNot) {
  PolicyPtr p = must_parse(one_rule({{"tool", "Sessions_*"}}));
  EXPECT_EQ(evaluate(*p, tools("sessions_list")).decision, Decision::allow);
  EXPECT_EQ(evaluate(*p, tools("SESSIONS_LIST")).decision, Decision::allow);

  p = must_parse(one_rule({{"agent", "Main"}}));
  EXPECT_EQ(evaluate(*p, chat()).decision, Decision::deny);
  p = must_parse(one_rule({{"identity", "Employee-001"}}));
  EXPECT_EQ(evaluate(*p, chat()).decision, Decision::deny);
  p = must_parse(one_rule({{"action", "List"}}));
  EXPECT_EQ(evaluate(*p, tools("t", "list")).decision, Decision::deny);
  p = must_parse(one_rule({{"session", "S1"}}));
  Input in = chat();
  in.session = "s1";
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
}

TEST(PolicyMatch, ToolAliasesInThePolicyFollowTheGateway) {
  // The request side folds bash→exec and cron→automations; "bash" in a policy must still bite.
  PolicyPtr p = must_parse(doc_with_rules(json::array(
      {{{"id", "deny-shell"}, {"match", {{"tool", {"Bash", "cron"}}}}, {"decision", "deny"}},
       {{"id", "all"}, {"match", json::object()}, {"decision", "allow"}}})));
  EXPECT_EQ(evaluate(*p, tools("exec")).decision, Decision::deny);
  EXPECT_EQ(evaluate(*p, tools("automations")).decision, Decision::deny);
  EXPECT_EQ(evaluate(*p, tools("sessions_list")).decision, Decision::allow);
}

TEST(PolicyMatch, AllGivenKeysMustHold) {
  PolicyPtr p = must_parse(one_rule({{"route", "tools"},
                                     {"tool", "web_fetch"},
                                     {"roles", "employee"},
                                     {"agent", "main"},
                                     {"identity", "employee-*"},
                                     {"action", "get"}}));
  EXPECT_EQ(evaluate(*p, tools("web_fetch", "get")).decision, Decision::allow);
  EXPECT_EQ(evaluate(*p, tools("web_fetch", "post")).decision, Decision::deny);
  Input in = tools("web_fetch", "get");
  in.agent = "ops";
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
  in = tools("web_fetch", "get");
  in.roles = {"guest"};
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
  in = tools("web_fetch", "get");
  in.identity = "bot-1";
  EXPECT_EQ(evaluate(*p, in).decision, Decision::deny);
}

// ---- combination
// ---------------------------------------------------------------------------------

json mixed_rules() {
  return doc_with_rules(json::array({
      {{"id", "z-allow"}, {"match", json::object()}, {"decision", "allow"}, {"reason", "z"}},
      {{"id", "b-allow"}, {"match", {{"route", "chat"}}}, {"decision", "allow"}, {"reason", "b"}},
      {{"id", "m-approve"},
       {"match", {{"route", "tools"}}},
       {"decision", "approve"},
       {"reason", "needs a human"}},
      {{"id", "k-approve"},
       {"match", {{"tool", "web_*"}}},
       {"decision", "approve"},
       {"reason", "web access"}},
      {{"id", "y-deny"},
       {"match", {{"tool", "exec"}}},
       {"decision", "deny"},
       {"reason", "no shell"}},
      {{"id", "c-deny"},
       {"match", {{"tool", "exec"}, {"action", "run"}}},
       {"decision", "deny"},
       {"reason", "really no shell"}},
      {{"id", "q-other"}, {"match", {{"agent", "ops"}}}, {"decision", "deny"}},
  }));
}

TEST(PolicyCombine, DenyOverridesApproveOverridesAllow) {
  PolicyPtr p = must_parse(mixed_rules());

  Verdict v = evaluate(*p, chat());
  EXPECT_EQ(v.decision, Decision::allow);
  EXPECT_THAT(v.rules, ElementsAre("b-allow", "z-allow"));
  EXPECT_EQ(v.deciding_rule, "b-allow");
  EXPECT_EQ(v.reason, "b");

  v = evaluate(*p, tools("web_fetch"));
  EXPECT_EQ(v.decision, Decision::approve);
  EXPECT_THAT(v.rules, ElementsAre("k-approve", "m-approve", "z-allow"));
  EXPECT_EQ(v.deciding_rule, "k-approve");
  EXPECT_EQ(v.reason, "web access");

  v = evaluate(*p, tools("exec"));
  EXPECT_EQ(v.decision, Decision::deny);
  EXPECT_THAT(v.rules, ElementsAre("m-approve", "y-deny", "z-allow"));
  EXPECT_EQ(v.deciding_rule, "y-deny");
  EXPECT_EQ(v.reason, "no shell");

  v = evaluate(*p, tools("exec", "run"));
  EXPECT_EQ(v.decision, Decision::deny);
  EXPECT_THAT(v.rules, ElementsAre("c-deny", "m-approve", "y-deny", "z-allow"));
  EXPECT_EQ(v.deciding_rule, "c-deny");  // smallest id among the denies

  Input ops = chat();
  ops.agent = "ops";
  v = evaluate(*p, ops);
  EXPECT_EQ(v.decision, Decision::deny);
  EXPECT_EQ(v.deciding_rule, "q-other");
  EXPECT_EQ(v.reason, "");  // the rule gave none
}

TEST(PolicyCombine, DefaultDecisionWhenNothingMatches) {
  json doc = one_rule({{"route", "models"}});
  for (const auto& [word, d] : std::vector<std::pair<std::string, Decision>>{
           {"allow", Decision::allow}, {"deny", Decision::deny}, {"approve", Decision::approve}}) {
    doc["default_decision"] = word;
    const Verdict v = evaluate(*must_parse(doc), chat());
    EXPECT_EQ(v.decision, d);
    EXPECT_TRUE(v.rules.empty());
    EXPECT_EQ(v.deciding_rule, "");
    EXPECT_EQ(v.reason, "no rule matched; default_decision is " + word);
  }
}

TEST(PolicyCombine, RuleOrderNeverChangesTheVerdict) {
  const json doc = mixed_rules();
  const PolicyPtr reference = must_parse(doc);
  std::vector<Input> inputs = {chat(),
                               chat({}),
                               tools("web_fetch"),
                               tools("exec"),
                               tools("exec", "run"),
                               tools("sessions_list", "x")};
  Input ops = tools("web_search");
  ops.agent = "ops";
  inputs.push_back(ops);
  Input models;
  models.route = "models";
  models.identity = "i";
  models.agent = "main";
  inputs.push_back(models);

  std::vector<Verdict> expected;
  for (const auto& in : inputs) expected.push_back(evaluate(*reference, in));

  std::mt19937 rng(20261121);  // fixed seed: reproducible
  json shuffled = doc;
  for (int round = 0; round < 200; ++round) {
    std::vector<json> rules(doc["rules"].begin(), doc["rules"].end());
    std::shuffle(rules.begin(), rules.end(), rng);
    shuffled["rules"] = rules;
    const PolicyPtr p = must_parse(shuffled);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Verdict v = evaluate(*p, inputs[i]);
      EXPECT_EQ(v.decision, expected[i].decision) << "round " << round << " input " << i;
      EXPECT_EQ(v.rules, expected[i].rules) << "round " << round << " input " << i;
      EXPECT_EQ(v.deciding_rule, expected[i].deciding_rule) << "round " << round;
      EXPECT_EQ(v.reason, expected[i].reason) << "round " << round;
    }
  }
}

TEST(PolicyCombine, EvaluateWorksOnAHandBuiltPolicy) {
  Policy p;
  p.default_decision = Decision::allow;
  Rule r;
  r.id = "deny-exec";
  r.decision = Decision::deny;
  r.match.tool = Pattern{{"exec"}, true};
  p.rules.push_back(r);
  EXPECT_EQ(evaluate(p, tools("EXEC")).decision, Decision::deny);
  EXPECT_EQ(evaluate(p, tools("ls")).decision, Decision::allow);
}

}  // namespace
}  // namespace clawgate::policy

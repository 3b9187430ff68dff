// The audit redaction shortcut: a text (or a request body's source) in which no redaction pattern
// can match skips the per-string RE2 scans. It must never skip a string that has a secret.
#include "clawgate/proxy/redaction.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "clawgate/audit/audit_log.hpp"

namespace clawgate::proxy {
namespace {

using nlohmann::json;

policy::PolicyPtr make_policy(const json& redact) {
  json doc = {
      {"version", 1},
      {"rules", json::array({{{"id", "all"}, {"match", json::object()}, {"decision", "allow"}}})}};
  if (!redact.is_null()) doc["redact"] = redact;
  auto r = policy::parse_policy(doc.dump(), "policies/test.json");
  if (auto* e = std::get_if<policy::LoadError>(&r)) {
    ADD_FAILURE() << e->message;
    return std::make_shared<policy::Policy>();
  }
  return std::get<policy::PolicyPtr>(r);
}

const std::function<void(std::string&)> kNothing = [](std::string&) {};

TEST(Redaction, BuiltInPatternsHaveLiteralsSoCleanTextSkipsTheScan) {
  const auto pol = make_policy(nullptr);
  EXPECT_NE(pol->redact.literals, nullptr);
  EXPECT_TRUE(pol->redact.cannot_match("plain words, numbers 1234 and a-b-c"));
  for (const char* text : {"Authorization: BEARER abcdefgh1234", "key sk-abc", "AKIA0000",
                           "-----BEGIN RSA PRIVATE KEY-----",
                           "\xC5\xBFk-abcdefghijklmnopqrstuvwxyz",  // ſ: (?i) equates it with s
                           "A\xE2\x84\xAAIA"}) {                    // Kelvin sign for k
    EXPECT_FALSE(pol->redact.cannot_match(text)) << text;
  }
}

TEST(Redaction, APatternWithoutLiteralsTurnsTheShortcutOff) {
  const auto pol = make_policy({{"patterns", {"[0-9]{16}"}}});
  EXPECT_EQ(pol->redact.literals, nullptr);
  EXPECT_FALSE(pol->redact.cannot_match("plain words"));
  EXPECT_EQ(redact_text("card 4111111111111111", *pol), "card [REDACTED]");
}

TEST(Redaction, PolicyPatternLiteralsAreLookedFor) {
  const auto pol = make_policy({{"patterns", {"(?i)internal-[a-z]+"}}});
  EXPECT_NE(pol->redact.literals, nullptr);
  EXPECT_TRUE(pol->redact.cannot_match("nothing here"));
  EXPECT_FALSE(pol->redact.cannot_match("see INTERNAL-wiki"));
  EXPECT_EQ(redact_text("see INTERNAL-wiki", *pol), "see [REDACTED]");

  // (?i) equates U+017F with s and U+212A with k: "ma\u017F\u212A-12" matches (?i)mask-[0-9]+
  // although the lower-cased text does not hold the literal "mask-".
  const auto folded = make_policy({{"patterns", {"(?i)mask-[0-9]+"}}});
  const std::string text = "id ma\xC5\xBF\xE2\x84\xAA-12";
  EXPECT_FALSE(folded->redact.cannot_match(text));
  EXPECT_EQ(redact_text(text, *folded), "id [REDACTED]");
}

TEST(Redaction, AnEscapedSecretInTheSourceIsStillRedacted) {
  const auto pol = make_policy(nullptr);
  // The source spells "sk-" as "\u0073k-": no literal in the raw bytes, a secret once parsed.
  const std::string source = R"({"a":"\u0073k-abcdefghijklmnopqrstuvwxyz","b":"fine"})";
  const json doc = json::parse(source);
  const std::string out = redacted_canonical(doc, *pol, kNothing, source);
  EXPECT_EQ(out, R"({"a":"[REDACTED]","b":"fine"})");

  const std::string plain = R"({"k":"sk-abcdefghijklmnopqrstuvwxyz","n":"none"})";
  EXPECT_EQ(redacted_canonical(json::parse(plain), *pol, kNothing, plain),
            R"({"k":"[REDACTED]","n":"none"})");
  const std::string clean = R"({"k":"nothing secret","n":["a","b"]})";
  EXPECT_EQ(redacted_canonical(json::parse(clean), *pol, kNothing, clean),
            json::parse(clean).dump());
}

// `also` (the audit log's secrets) is skipped only when neither it nor a pattern can change a
// piece of the source; otherwise it sees every string.
TEST(Redaction, AlsoRunsUnlessTheSourceIsCleanForItAndThePatterns) {
  const auto pol = make_policy(nullptr);
  int calls = 0;
  const std::function<void(std::string&)> secret = [&calls](std::string& s) {
    ++calls;
    if (const auto at = s.find("tok123"); at != std::string::npos) s.replace(at, 6, "[REDACTED]");
  };
  const std::string with_secret = R"({"a":"use tok123","b":["x"]})";
  EXPECT_EQ(redacted_canonical(json::parse(with_secret), *pol, secret, with_secret, true),
            R"({"a":"use [REDACTED]","b":["x"]})");
  EXPECT_EQ(calls, 4);  // keys and values

  calls = 0;
  const std::string clean = R"({"a":"nothing","b":["x"]})";
  EXPECT_EQ(redacted_canonical(json::parse(clean), *pol, secret, clean, false),
            json::parse(clean).dump());
  EXPECT_EQ(calls, 0);
  // Without the source, or with an escape in it, each string is looked at.
  EXPECT_EQ(redacted_canonical(json::parse(clean), *pol, secret, {}, false),
            json::parse(clean).dump());
  EXPECT_EQ(calls, 4);
  calls = 0;
  const std::string escaped = R"({"a":"\u0074ok123","b":["x"]})";
  EXPECT_EQ(redacted_canonical(json::parse(escaped), *pol, secret, escaped, false),
            R"({"a":"[REDACTED]","b":["x"]})");
  EXPECT_EQ(calls, 4);
  // A source a pattern may match: the patterns run on each string, and `also` after them.
  calls = 0;
  const std::string keyed = R"({"a":"sk-abcdefghijklmnopqrstuvwxyz","b":["x"]})";
  EXPECT_EQ(redacted_canonical(json::parse(keyed), *pol, secret, keyed, false),
            R"({"a":"[REDACTED]","b":["x"]})");
  EXPECT_EQ(calls, 4);
}

TEST(Redaction, ShortcutAgreesWithTheFullScanOnRandomText) {
  // Texts built from fragments of secret shapes: whenever the shortcut says "no match", the
  // full per-pattern scan (redact_json always runs it) changes nothing.
  const auto pol = make_policy({{"patterns", {"(?i)internal-[a-z]+", "corp_[0-9]{4}"}}});
  static constexpr const char* kPieces[] = {
      "sk-",       "SK-",      "s",     "k-",   "abcdefghij",  "KLMNOPQRST", "0123456789",
      "bearer ",   "Bearer\t", "AKIA",  "akia", "-----BEGIN ", "RSA ",       "PRIVATE KEY-----",
      "internal-", "Internal", "corp_", " ",    "\n",          "\xC5\xBF",   "\xE2\x84\xAA",
      "\xC3\xA9",  "_",        "-"};
  std::mt19937 rng(7);
  int skipped = 0;
  int scanned = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) text += kPieces[rng() % std::size(kPieces)];
    const bool skip = pol->redact.cannot_match(text);
    const std::string full = redact_json(json(text), *pol).get<std::string>();
    if (skip) {
      ++skipped;
      EXPECT_EQ(full, text) << "the shortcut skipped a secret in: " << text;
    } else {
      ++scanned;
    }
    EXPECT_EQ(redact_text(text, *pol), full) << text;
  }
  EXPECT_GT(skipped, 200);
  EXPECT_GT(scanned, 500);
}

// The system prompt written into the client's bytes must forward the same document as
// injecting it into the parsed request and writing that out.
TEST(SystemPrompt, SplicedBodyEqualsTheInjectedDocument) {
  decision::Outcome outcome;
  outcome.verdict.decision = policy::Decision::allow;
  outcome.verdict.rules = {"chat-green"};
  const std::string prompt = "Be careful with \"quotes\", \\ and\nnew lines; caf\xC3\xA9.";
  const std::vector<std::string> bodies = {
      R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
      R"({"messages":[]})",
      "{ \"messages\" :\n [ {\"role\":\"user\",\"content\":\"a]b\"} ] ,\"model\":\"m\"}",
      R"({"a":{"messages":"nested"},"messages":[1,2]})",
      R"({"m\u0065ssages":[{"role":"user","content":"escaped key"}]})",  // falls back
      R"({"messages":"not an array"})",                                  // falls back
      R"({"model":"m"})",                                                // falls back
  };
  for (const auto& body : bodies) {
    auto parsed = json::parse(body);
    json injected = parsed;
    ASSERT_TRUE(inject_system_prompt(injected, http::RouteId::chat, prompt, outcome));
    const std::string out = with_system_prompt(body, parsed, http::RouteId::chat, prompt, outcome);
    EXPECT_EQ(json::parse(out), injected) << body << "\n" << out;
  }
  // Spliced: the client's own bytes around the new message are kept.
  const std::string spaced = R"({ "model" : "m", "messages" : [ {"role":"user","content":"x"} ] })";
  json doc = json::parse(spaced);
  const std::string out = with_system_prompt(spaced, doc, http::RouteId::chat, prompt, outcome);
  EXPECT_EQ(out.substr(0, 42), R"({ "model" : "m", "messages" : [{"content":)");
  EXPECT_NE(out.find(R"(,"role":"system"}, {"role":"user","content":"x"} ] })"), std::string::npos)
      << out;
}

// The classification line of the system prompt: canonical JSON, as writing the object
// {"decision","risk","rules"} with nlohmann and audit::canonical gives it.
TEST(SystemPrompt, GovernanceSummaryIsTheCanonicalObject) {
  const std::vector<std::vector<std::string>> rule_lists = {
      {},
      {"chat-green"},
      {"a", "rule \"quoted\" \\ with\ttab", "caf\xC3\xA9", "bad \xFF byte"},
  };
  int checked = 0;
  for (const auto d :
       {policy::Decision::allow, policy::Decision::deny, policy::Decision::approve}) {
    for (const auto risk : {classify::Tier::green, classify::Tier::amber, classify::Tier::red}) {
      for (const auto& rules : rule_lists) {
        decision::Outcome o;
        o.verdict.decision = d;
        o.classification.risk = risk;
        o.verdict.rules = rules;
        json expected = json::object();
        expected["decision"] = std::string(policy::to_string(d));
        expected["risk"] = std::string(classify::to_string(risk));
        expected["rules"] = rules;
        EXPECT_EQ(decision::governance_summary(o), audit::canonical(expected));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 27);
}

TEST(SystemPrompt, OtherRoutesAreLeftAlone) {
  decision::Outcome outcome;
  const std::string body = R"({"tool":"x"})";
  json doc = json::parse(body);
  EXPECT_EQ(with_system_prompt(body, doc, http::RouteId::tools, "p", outcome), body);
  const std::string responses = R"({"input":"hi","instructions":"Be brief."})";
  json rdoc = json::parse(responses);
  const json out =
      json::parse(with_system_prompt(responses, rdoc, http::RouteId::responses, "p", outcome));
  EXPECT_EQ(out["instructions"].get<std::string>().substr(0, 3), "p\n\n");
}

}  // namespace
}  // namespace clawgate::proxy

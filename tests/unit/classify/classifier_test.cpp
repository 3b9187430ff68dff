#include "clawgate/classify/classifier.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace clawgate::classify {
namespace {

ClassifierPtr build_ok(const Spec& spec) {
  auto built = Classifier::build(spec);
  if (const auto* err = std::get_if<std::string>(&built)) {
    ADD_FAILURE() << *err;
    return nullptr;
  }
  return std::get<ClassifierPtr>(built);
}

std::string build_error(const Spec& spec) {
  auto built = Classifier::build(spec);
  const auto* err = std::get_if<std::string>(&built);
  return err != nullptr ? *err : "<built>";
}

Spec red_terms(std::vector<std::string> terms) {
  Spec s;
  s.red.terms = std::move(terms);
  return s;
}

Spec red_patterns(std::vector<std::string> patterns) {
  Spec s;
  s.red.patterns = std::move(patterns);
  return s;
}

// The matched terms of one text, as configured.
std::vector<std::string> terms_of(const Classifier& c, std::string_view text) {
  std::vector<std::string> out;
  for (const auto& m : c.classify_text(text).matches) out.push_back(m.term + "@" + m.where);
  return out;
}

bool red(const Classifier& c, std::string_view text) {
  return c.classify_text(text).risk == Tier::red;
}

TEST(Classifier, TierNames) {
  EXPECT_EQ(to_string(Tier::green), "green");
  EXPECT_EQ(to_string(Tier::amber), "amber");
  EXPECT_EQ(to_string(Tier::red), "red");
  EXPECT_EQ(tier_from_string("amber"), Tier::amber);
  EXPECT_EQ(tier_from_string("Red"), std::nullopt);
  EXPECT_EQ(Spec{}.scope, std::vector<std::string>{"user"});
}

TEST(Classifier, EmptySpecIsGreen) {
  const auto c = build_ok(Spec{});
  ASSERT_TRUE(c);
  const Result r = c->classify_text("wire money, rm -rf /, AKIAABCDEFGHIJKLMNOP");
  EXPECT_EQ(r.risk, Tier::green);
  EXPECT_TRUE(r.matches.empty());
}

TEST(Classifier, WordBoundaries) {
  const auto c = build_ok(red_terms({"kill", "token", "bank"}));
  ASSERT_TRUE(c);
  EXPECT_FALSE(red(*c, "list my skills"));
  EXPECT_FALSE(red(*c, "killing time"));
  EXPECT_TRUE(red(*c, "kill the process"));
  EXPECT_TRUE(red(*c, "please KILL it."));
  EXPECT_TRUE(red(*c, "(kill)"));
  EXPECT_TRUE(red(*c, "kill"));
  EXPECT_FALSE(red(*c, "tokenize this sentence"));
  EXPECT_FALSE(red(*c, "the tokenizer"));
  EXPECT_FALSE(red(*c, "detokenize"));
  EXPECT_TRUE(red(*c, "my token: abc"));
  EXPECT_TRUE(red(*c, "Bank."));
  EXPECT_TRUE(red(*c, "the bank"));
  EXPECT_FALSE(red(*c, "online banking"));
  EXPECT_FALSE(red(*c, "sandbank"));
  EXPECT_FALSE(red(*c, "bank2"));                // digits are word characters
  EXPECT_FALSE(red(*c, "bank\xC3\xA9"));         // so are non-ASCII letters
  EXPECT_TRUE(red(*c, "bank\xF0\x9F\x98\x80"));  // an emoji is not
}

TEST(Classifier, TrailingStarAllowsASuffix) {
  const auto c = build_ok(red_terms({"token*", "credential*", "bank*"}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(red(*c, "tokenize this sentence"));
  EXPECT_TRUE(red(*c, "token"));
  EXPECT_TRUE(red(*c, "the credentials"));
  EXPECT_TRUE(red(*c, "credentialing"));
  EXPECT_TRUE(red(*c, "online banking"));
  EXPECT_FALSE(red(*c, "detokenize"));  // still a boundary before
  EXPECT_FALSE(red(*c, "sandbank"));
  EXPECT_EQ(terms_of(*c, "credentials"), std::vector<std::string>{"credential*@input"});
}

TEST(Classifier, MultiWordTermsAlsoMatchJoined) {
  const auto c = build_ok(red_terms({"wire money", "hr record*"}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(red(*c, "please wire money"));
  EXPECT_TRUE(red(*c, "please wiremoney"));
  EXPECT_TRUE(red(*c, "WireMoney"));
  EXPECT_TRUE(red(*c, "wire   money"));
  EXPECT_TRUE(red(*c, "HR-records"));
  EXPECT_TRUE(red(*c, "hrrecords"));
  EXPECT_FALSE(red(*c, "wire, money"));  // punctuation other than _-./ separates words
  EXPECT_FALSE(red(*c, "rewire money"));
  EXPECT_FALSE(red(*c, "wiremoneys"));
}

TEST(Classifier, ObfuscatedTermsMatchAfterNormalisation) {
  const auto c = build_ok(red_terms({"wire money", "password*"}));
  ASSERT_TRUE(c);
  for (const char* s :
       {"\xEF\xBD\x97\xEF\xBD\x89\xEF\xBD\x92\xEF\xBD\x85 \xEF\xBD\x8D\xEF\xBD\x8F\xEF\xBD\x8E"
        "\xEF\xBD\x85\xEF\xBD\x99",    // fullwidth
        "w\xD1\x96re m\xD0\xBEney",    // Cyrillic і and о
        "wire m\xCE\xBFney",           // Greek omicron
        "wire\xE2\x80\x8Dmoney",       // ZWJ → "wiremoney"
        "wi\xC2\xADre mo\xC2\xADney",  // soft hyphens
        "wire_money", "wire-money", "wire.money", "wire/money", "wire\t\nmoney", "WIRE MONEY",
        "pass\xE2\x80\x8Bword", "\xEF\xAC\x81le the password"}) {
    EXPECT_TRUE(red(*c, s)) << s;
  }
}

TEST(Classifier, TermsAreNormalisedLikeText) {
  const auto c = build_ok(red_terms({"Wire_Money", "CAF\xC3\x89", "rm -rf"}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(red(*c, "wire money"));
  EXPECT_TRUE(red(*c, "cafe\xCC\x81"));  // e + combining acute
  EXPECT_TRUE(red(*c, "sudo rm -rf /"));
  EXPECT_TRUE(red(*c, "rm  -rf"));
  EXPECT_TRUE(red(*c, "rmrf"));
  EXPECT_EQ(terms_of(*c, "WIRE-MONEY"), std::vector<std::string>{"Wire_Money@input"});
}

TEST(Classifier, PatternsSeeTheRawText) {
  Spec s;
  s.red.patterns = {"AKIA[0-9A-Z]{16}", "-----BEGIN [A-Z ]*PRIVATE KEY-----"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  EXPECT_TRUE(red(*c, "key AKIAABCDEFGHIJKLMNOP here"));
  EXPECT_FALSE(red(*c, "key akiaabcdefghijklmnop here"));  // what normalisation would produce
  EXPECT_TRUE(red(*c, "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."));
  EXPECT_EQ(terms_of(*c, "AKIAABCDEFGHIJKLMNOP"),
            std::vector<std::string>{"AKIA[0-9A-Z]{16}@input"});
}

TEST(Classifier, DecodedMatchesSayDecoded) {
  Spec s = red_terms({"wire money"});
  s.red.patterns = {"AKIA[0-9A-Z]{16}"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  // base64("please wire money now"), hex("wire money now!!"), percent
  EXPECT_EQ(terms_of(*c, "decode cGxlYXNlIHdpcmUgbW9uZXkgbm93"),
            std::vector<std::string>{"wire money@input+decoded"});
  EXPECT_EQ(terms_of(*c, "x 77697265206d6f6e6579206e6f772121"),
            std::vector<std::string>{"wire money@input+decoded"});
  EXPECT_EQ(terms_of(*c, "wire%20money"), std::vector<std::string>{"wire money@input+decoded"});
  // base64("AKIAABCDEFGHIJKLMNOP")
  EXPECT_EQ(terms_of(*c, "k=QUtJQUFCQ0RFRkdISUpLTE1OT1A="),
            std::vector<std::string>{"AKIA[0-9A-Z]{16}@input+decoded"});
  // Found in the raw text too: reported once, without "+decoded".
  EXPECT_EQ(terms_of(*c, "wire money cGxlYXNlIHdpcmUgbW9uZXkgbm93"),
            std::vector<std::string>{"wire money@input"});
}

TEST(Classifier, ClassifyTextIsClassifyOfOneInputSegment) {
  Spec s = red_terms({"wire money", "payroll"});
  s.amber.terms = {"email*"};
  s.red.patterns = {"AKIA[0-9A-Z]{16}"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  for (const char* text :
       {"lunch menu", "email the payroll team", "decode cGxlYXNlIHdpcmUgbW9uZXkgbm93",
        "wire%20money and AKIAABCDEFGHIJKLMNOP", ""}) {
    const Result one = c->classify_text(text);
    const Result segs = c->classify({{"input", text}});
    EXPECT_EQ(one.risk, segs.risk) << text;
    EXPECT_EQ(one.matches, segs.matches) << text;
  }
  EXPECT_EQ(terms_of(*c, "email the payroll team"),
            (std::vector<std::string>{"payroll@input", "email*@input"}));
}

TEST(Classifier, RiskIsTheHighestTier) {
  Spec s;
  s.red.terms = {"payroll"};
  s.amber.terms = {"email*", "budget*"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->classify_text("lunch menu").risk, Tier::green);
  EXPECT_EQ(c->classify_text("Draft an email about the Q3 budget").risk, Tier::amber);
  EXPECT_EQ(c->classify_text("Send a payroll delay email").risk, Tier::red);
}

TEST(Classifier, MatchesAreDeduplicatedAndSorted) {
  Spec s;
  s.red.terms = {"wire money", "token", "secret*"};
  s.amber.terms = {"email*", "secret*"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  const std::vector<Segment> segs = {
      {"messages[2]", "email the secret token, token, token"},
      {"messages[0]", "wiremoney and wire money; emails"},
      {"/args/x", "secrets"},
  };
  const Result r = c->classify(segs);
  const std::vector<Match> want = {
      {Tier::red, "secret*", "/args/x"},      {Tier::red, "wire money", "messages[0]"},
      {Tier::red, "secret*", "messages[2]"},  {Tier::red, "token", "messages[2]"},
      {Tier::amber, "secret*", "/args/x"},    {Tier::amber, "email*", "messages[0]"},
      {Tier::amber, "email*", "messages[2]"}, {Tier::amber, "secret*", "messages[2]"},
  };
  EXPECT_EQ(r.risk, Tier::red);
  EXPECT_EQ(r.matches, want);
  // Segment order does not change the result.
  const Result again = c->classify({segs[2], segs[0], segs[1]});
  EXPECT_EQ(again.matches, want);
}

TEST(Classifier, ToJsonShape) {
  const auto c = build_ok(red_terms({"wire money"}));
  ASSERT_TRUE(c);
  const Result r = c->classify({{"messages[0]", "Please wire money"}});
  EXPECT_EQ(r.to_json(),
            nlohmann::json::parse(R"({"risk":"red","matches":[{"tier":"red","term":"wire money",)"
                                  R"("where":"messages[0]"}]})"));
  EXPECT_EQ(r.to_json().dump(),
            R"({"matches":[{"term":"wire money","tier":"red","where":"messages[0]"}],)"
            R"("risk":"red"})");
  EXPECT_EQ(Result{}.to_json().dump(), R"({"matches":[],"risk":"green"})");
}

TEST(Classifier, InvalidRegexNamesTierAndIndex) {
  Spec s;
  s.red.patterns = {"ok", "fine[0-9]", "broken("};
  const std::string err = build_error(s);
  EXPECT_EQ(err.rfind("classifier.tiers.red.patterns[2]: ", 0), 0u) << err;
  EXPECT_GT(err.size(), std::string("classifier.tiers.red.patterns[2]: ").size());

  Spec a;
  a.amber.patterns = {"[z-a]"};
  EXPECT_EQ(build_error(a).rfind("classifier.tiers.amber.patterns[0]: ", 0), 0u);
}

TEST(Classifier, EmptyTermsAreBuildErrors) {
  Spec s;
  s.amber.terms = {"ok", ""};
  EXPECT_EQ(build_error(s), "classifier.tiers.amber.terms[1]: empty term");
  EXPECT_EQ(build_error(red_terms({"*"})), "classifier.tiers.red.terms[0]: empty term");
  EXPECT_EQ(build_error(red_terms({"a", "b", " _-. "})),
            "classifier.tiers.red.terms[2]: empty term");
  Spec p;
  p.red.patterns = {""};
  EXPECT_EQ(build_error(p), "classifier.tiers.red.patterns[0]: empty pattern");
}

TEST(Classifier, InvalidUtf8InputStillClassifies) {
  Spec s = red_terms({"wire money"});
  s.red.patterns = {"AKIA[0-9A-Z]{16}"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  EXPECT_TRUE(red(*c, "\xFF\xFE wire money \xC3"));
  EXPECT_TRUE(red(*c, "wire\xFFmoney"));  // the bad byte separates words
  EXPECT_TRUE(red(*c, "\xC0 AKIAABCDEFGHIJKLMNOP \xED\xA0\x80"));
  EXPECT_FALSE(red(*c, std::string("\x00\xFF\xC3\x28\xE2\x82", 6)));
}

TEST(Classifier, OverlappingAndSharedTerms) {
  Spec s;
  s.red.terms = {"secret", "secret key*", "key"};
  s.amber.terms = {"secret"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(terms_of(*c, "the secret keys"),
            (std::vector<std::string>{"secret@input", "secret key*@input", "secret@input"}));
  EXPECT_EQ(c->classify_text("the secret keys").matches.back().tier, Tier::amber);
}

TEST(Classifier, ManyTermsBuildAndMatch) {
  std::vector<std::string> terms;
  for (int i = 0; i < 10000; ++i) terms.push_back("term" + std::to_string(i) + " x");
  const auto c = build_ok(red_terms(terms));
  ASSERT_TRUE(c);
  EXPECT_EQ(terms_of(*c, "a term9999 x b"), std::vector<std::string>{"term9999 x@input"});
  EXPECT_EQ(terms_of(*c, "a TERM42X b"), std::vector<std::string>{"term42 x@input"});
  EXPECT_TRUE(terms_of(*c, "a term10000 x b").empty());
}

TEST(Classifier, ConcurrentClassifyIsConsistent) {
  Spec s = red_terms({"wire money", "token"});
  s.amber.terms = {"email*"};
  s.red.patterns = {"AKIA[0-9A-Z]{16}"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  const std::string text = "email: wire money cGxlYXNlIHdpcmUgbW9uZXkgbm93 AKIAABCDEFGHIJKLMNOP";
  const Result want = c->classify_text(text);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) same[t] += c->classify_text(text).matches == want.matches;
    });
  }
  for (auto& th : threads) th.join();
  for (const int n : same) EXPECT_EQ(n, 200);
}

// Patterns run only when RE2's prefilter literals ("atoms") are found in the normalised text.
// Each case here is one way a literal could hide from that search; a match must still be found.
TEST(Classifier, PatternPrefilterKeepsEveryMatch) {
  const auto c = build_ok(red_patterns(
      {"-----BEGIN [A-Z ]*PRIVATE KEY-----", "(?i)sk-[a-z]{3}", "(?i)wire", "AKIA[0-9A-Z]{16}"}));
  ASSERT_TRUE(c);
  // Atoms that begin or end with separators, at the very start and end of the text.
  EXPECT_TRUE(red(*c, "-----BEGIN RSA PRIVATE KEY-----"));
  EXPECT_TRUE(red(*c, "x\n-----BEGIN PRIVATE KEY-----\n"));
  // Case-insensitive patterns meet the non-ASCII case partners of s and k.
  EXPECT_TRUE(red(*c, "\xC5\xBFk-abc"));      // ſk-abc
  EXPECT_TRUE(red(*c, "s\xE2\x84\xAA-abc"));  // sK-abc with the Kelvin sign
  EXPECT_TRUE(red(*c, "SK-ABC"));
  // The last letter of an atom composes with a mark after it (e + U+0301).
  EXPECT_TRUE(red(*c, "wire\xCC\x81"));
  // Separators, controls and case inside the text around an atom.
  EXPECT_TRUE(red(*c, "key=AKIAABCDEFGHIJKLMNOP;"));
  EXPECT_FALSE(red(*c, "key=AKIA-ABCDEFGHIJKLMNOP;"));
  EXPECT_FALSE(red(*c, "the sky is blue"));
  // A non-ASCII atom counts as always found.
  const auto a = build_ok(red_patterns({"caf\xC3\xA9", "AKIA[0-9A-Z]{16}"}));
  ASSERT_TRUE(a);
  EXPECT_TRUE(red(*a, "un caf\xC3\xA9"));
  EXPECT_FALSE(red(*a, "un cafe"));
  // A pattern with no atom at all still runs.
  const auto d = build_ok(red_patterns({"[0-9]{12}", "AKIA[0-9A-Z]{16}"}));
  ASSERT_TRUE(d);
  EXPECT_TRUE(red(*d, "card 123456789012"));
}

// Texts of 256 bytes and more are walked in four pieces at once; a term across a cut, or in
// the last bytes, must still be found, once.
TEST(Classifier, LongTextsFindTermsAcrossThePieces) {
  const auto c = build_ok(red_terms({"wire money", "credential*", "x"}));
  ASSERT_TRUE(c);
  for (const std::size_t size : {256u, 257u, 1000u, 4099u}) {
    for (std::size_t at = 0; at + 10 <= size; at += (at % 64 < 12 || at % 64 > 52) ? 1 : 7) {
      std::string text(size, 'a');
      text.replace(at, 10, "wire money");
      if (at > 0) text[at - 1] = ' ';
      if (at + 10 < size) text[at + 10] = ' ';
      const auto m = terms_of(*c, text);
      ASSERT_EQ(m, std::vector<std::string>{"wire money@input"}) << size << " " << at;
    }
  }
  // A key longer than a piece: it began in the first piece and ends in the third.
  std::string text(400, 'b');
  text[99] = ' ';
  text.replace(100, 11, "credentials");
  text.replace(111, 200, std::string(200, 'z'));
  EXPECT_EQ(terms_of(*c, text), std::vector<std::string>{"credential*@input"});
  text[99] = 'b';  // no boundary before it any more
  EXPECT_TRUE(terms_of(*c, text).empty());
}

TEST(Classifier, SpecIsKept) {
  Spec s = red_terms({"wire money"});
  s.scope = {"user", "system"};
  const auto c = build_ok(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec().scope, s.scope);
  EXPECT_EQ(c->spec().red.terms, s.red.terms);
}

}  // namespace
}  // namespace clawgate::classify

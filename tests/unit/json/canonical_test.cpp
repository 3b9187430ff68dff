#include "clawgate/json/canonical.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/json/walk.hpp"
#include "clawgate/proxy/redaction.hpp"

namespace {

using nlohmann::json;
using clawgate::json::write_canonical;

std::string nlohmann_canonical(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Strings mixing plain ASCII, every control character, quotes, backslashes, DEL, and 2-, 3- and
// 4-byte UTF-8 (valid only: the parser would refuse anything else).
std::string random_string(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "a", "Z", " ", "\"", "\\", "/", "\x7f", "é", "✓", "😀", "\xe2\x80\xa8", "\xef\xbf\xbf",
      "\xf4\x8f\xbf\xbf", "\xc2\x80", "ünïcödé", "tab\there", "{\"k\":1}",
      // Long plain runs, so that the eight-bytes-at-a-time path meets every other piece at
      // every offset.
      "the quick brown fox jumps over the lazy dog", "0123456789abcdef~}|{"};
  std::string s;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    if (rng() % 4 == 0) {
      s.push_back(static_cast<char>(rng() % 0x20));  // a control character
    } else {
      s += pieces[rng() % pieces.size()];
    }
  }
  return s;
}

json random_value(std::mt19937& rng, int depth) {
  switch (depth > 3 ? rng() % 6 : rng() % 8) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<std::int64_t>(rng()) - (1LL << 31);
    case 3: return static_cast<std::uint64_t>(rng()) << 32U;
    case 4: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    case 5: return random_string(rng);
    case 6: {
      json a = json::array();
      for (unsigned i = rng() % 4; i > 0; --i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (unsigned i = rng() % 5; i > 0; --i) o[random_string(rng)] = random_value(rng, depth + 1);
      return o;
    }
  }
}

TEST(Canonical, SameBytesAsNlohmannDumpOnGeneratedDocuments) {
  std::mt19937 rng(20261122);
  for (int i = 0; i < 20000; ++i) {
    const json doc = random_value(rng, 0);
    std::string out;
    ASSERT_TRUE(write_canonical(doc, out)) << nlohmann_canonical(doc);
    ASSERT_EQ(out, nlohmann_canonical(doc)) << "document " << i;
  }
}

TEST(Canonical, EscapesOnlyWhatSpecSays) {
  std::string out;
  ASSERT_TRUE(write_canonical(json{{"b", "\x01\b\f\n\r\t\"\\/\x7f é"}, {"a", 1.5}}, out));
  EXPECT_EQ(out, R"({"a":1.5,"b":"\u0001\b\f\n\r\t\"\\/)" "\x7f" R"( é"})");
}

TEST(Canonical, InvalidUtf8IsLeftToTheFallback) {
  // Overlong, surrogate, above U+10FFFF, a lone continuation byte, a cut sequence.
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x9c"}) {
    std::string out;
    EXPECT_FALSE(write_canonical(json(std::string("x") + bad), out)) << bad;
    // audit::canonical still gives nlohmann's replacement form.
    EXPECT_EQ(clawgate::audit::canonical(json(std::string("x") + bad)),
              nlohmann_canonical(json(std::string("x") + bad)));
  }
}

TEST(Canonical, RewriteAppliesToValuesAndRefusesChangedKeys) {
  const clawgate::json::StringRewrite upper = [](std::string& s) {
    for (auto& c : s) c = c == 's' ? 'S' : c;
  };
  std::string out;
  ASSERT_TRUE(write_canonical(json{{"k", {"s", {{"n", "ss"}}}}}, out, &upper));
  EXPECT_EQ(out, R"({"k":["S",{"n":"SS"}]})");
  out.clear();
  EXPECT_FALSE(write_canonical(json{{"ks", 1}}, out, &upper));
}

// The one-pass received-body rendering gives the same bytes as copy, redact, dump.
TEST(Canonical, RedactedCanonicalMatchesTheCopyingPath) {
  auto loaded = clawgate::policy::parse_policy(R"({"version":1,"name":"t","rules":[],
      "redact":{"patterns":["acct-[0-9]{4}"],"arg_paths":["/args/token"]}})", "test");
  ASSERT_TRUE(std::holds_alternative<clawgate::policy::PolicyPtr>(loaded));
  const auto pol = std::get<clawgate::policy::PolicyPtr>(loaded);
  const auto secret = [](std::string& s) {
    for (auto p = s.find("tok123"); p != std::string::npos; p = s.find("tok123", p)) {
      s.replace(p, 6, "[REDACTED]");
    }
  };
  const json doc = {{"messages", {{{"role", "user"},
                                   {"content", "pay acct-1234 with Bearer abcdefghijk and tok123"}}}},
                    {"n", 3}, {"f", 0.25}};
  json copy = clawgate::proxy::redact_json(doc, *pol);
  clawgate::json::rewrite_strings(copy, secret);
  const std::string fast = clawgate::proxy::redacted_canonical(doc, *pol, secret);
  EXPECT_EQ(fast, nlohmann_canonical(copy));
  EXPECT_EQ(fast.find("acct-1234"), std::string::npos);
  EXPECT_EQ(fast.find("tok123"), std::string::npos);
  EXPECT_EQ(fast.find("abcdefghijk"), std::string::npos);
  // An arg path that is present is replaced (the copying path), with the same result.
  const json tool = {{"tool", "x"}, {"args", {{"token", "plain"}, {"n", "acct-0000"}}}};
  json tool_copy = clawgate::proxy::redact_json(tool, *pol);
  clawgate::json::rewrite_strings(tool_copy, secret);
  const std::string tool_fast = clawgate::proxy::redacted_canonical(tool, *pol, secret);
  EXPECT_EQ(tool_fast, nlohmann_canonical(tool_copy));
  EXPECT_EQ(tool_fast.find("plain"), std::string::npos) << tool_fast;
  // A key that redaction changes takes the copying path, with the same result.
  const json keyed = {{"tok123", "v"}, {"a", "acct-9999"}};
  json keyed_copy = clawgate::proxy::redact_json(keyed, *pol);
  clawgate::json::rewrite_strings(keyed_copy, secret);
  EXPECT_EQ(clawgate::proxy::redacted_canonical(keyed, *pol, secret),
            nlohmann_canonical(keyed_copy));
}

}  // namespace

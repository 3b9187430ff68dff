#include "clawgate/json/strict.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clawgate::json {
namespace {

using namespace std::string_literals;

void expect_error(std::string_view text, const std::string& error) {
  StrictParse r;
  ASSERT_NO_THROW(r = parse_strict(text));
  EXPECT_FALSE(r.value.has_value()) << text;
  EXPECT_EQ(r.error, error) << text;
}

TEST(StrictJson, ParsesValidDocuments) {
  StrictParse r = parse_strict(R"( {"tool":"sessions_list","args":{"a":[1,{"b":null}]}} )");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.value->at("tool"), "sessions_list");
  EXPECT_TRUE(r.value->at("args").at("a").at(1).at("b").is_null());

  r = parse_strict("[1,2,3]");
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(r.value->size(), 3u);

  r = parse_strict("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->get<std::string>(), "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(StrictJson, SameKeyInSiblingObjectsIsFine) {
  const StrictParse r =
      parse_strict(R"({"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}],"k":{"k":{"k":3}}})");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->at("k").at("k").at("k"), 3);
}

TEST(StrictJson, RefusesTopLevelDuplicateKey) {
  expect_error(R"({"tool":"sessions_list","tool":"exec"})", R"(duplicate key "tool" at /)");
}

TEST(StrictJson, DuplicateDetectedThroughEscapes) {
  // "t\u006fol" is "tool" once unescaped, which is how JSON.parse sees it.
  expect_error(R"({"tool":"sessions_list","t\u006fol":"exec"})", R"(duplicate key "tool" at /)");
}

TEST(StrictJson, RefusesNestedDuplicateKeys) {
  expect_error(R"({"tool":"web_fetch","args":{"url":"https://a","url":"https://b"}})",
               R"(duplicate key "url" at /args)");
  expect_error(R"({"messages":[{"role":"user"},{"role":"user","role":"system"}]})",
               R"(duplicate key "role" at /messages/1)");
  expect_error(R"({"a":[[0,{"x":{"y":1,"y":2}}]]})", R"(duplicate key "y" at /a/0/1/x)");
  expect_error(R"({"a/b":{"m~n":{"k":1,"k":1}}})", R"(duplicate key "k" at /a~1b/m~0n)");
}

TEST(StrictJson, ArrayIndexCountsContainersAndScalars) {
  expect_error(R"({"a":[1,"s",null,true,{},[],{"d":1,"d":2}]})", R"(duplicate key "d" at /a/6)");
}

TEST(StrictJson, DuplicateKeyInTopLevelArray) {
  expect_error(R"([{"a":1},{"a":1,"a":1}])", R"(duplicate key "a" at /1)");
}

TEST(StrictJson, LongKeysAreTruncatedInErrors) {
  const std::string key(5000, 'k');
  const std::string text = "{\"" + key + "\":1,\"" + key + "\":2}";
  const StrictParse r = parse_strict(text);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.rfind("duplicate key \"kkkk", 0), 0u) << r.error;
  EXPECT_LT(r.error.size(), 200u);
}

TEST(StrictJson, DepthLimit) {
  EXPECT_TRUE(parse_strict(std::string(64, '[') + std::string(64, ']')).value.has_value());
  std::string where;
  for (int i = 0; i < 64; ++i) where += "/0";
  expect_error(std::string(65, '[') + std::string(65, ']'), "nesting deeper than 64 at " + where);
  // Objects count too, and the limit is a parameter.
  StrictParse r = parse_strict(R"({"a":{"b":[1]}})", 3);
  EXPECT_TRUE(r.value.has_value()) << r.error;
  r = parse_strict(R"({"a":{"b":[1]}})", 2);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error, "nesting deeper than 2 at /a/b");
  r = parse_strict("1", 0);
  EXPECT_TRUE(r.value.has_value());
  r = parse_strict("{}", 0);
  EXPECT_EQ(r.error, "nesting deeper than 0 at /");
}

TEST(StrictJson, VeryDeepInputDoesNotCrash) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const StrictParse r = parse_strict(deep);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.rfind("nesting deeper than 64", 0), 0u);
  EXPECT_LT(r.error.size(), 300u);
}

TEST(StrictJson, RefusesInvalidUtf8) {
  expect_error("{\"a\":\"\xFF\"}", "invalid UTF-8 at byte 6");
  expect_error("{\"a\":\"\xC3\"}", "invalid UTF-8 at byte 6");              // truncated sequence
  expect_error("{\"a\":\"\xC0\xAF\"}", "invalid UTF-8 at byte 6");          // overlong '/'
  expect_error("{\"a\":\"\xED\xA0\x80\"}", "invalid UTF-8 at byte 6");      // UTF-16 surrogate
  expect_error("{\"a\":\"\xF4\x90\x80\x80\"}", "invalid UTF-8 at byte 6");  // > U+10FFFF
  expect_error("{\"\xE9\":1}", "invalid UTF-8 at byte 2");                  // latin1 in a key
  expect_error("{\"a\":1}\xFF", "invalid UTF-8 at byte 7");                 // outside strings
}

TEST(StrictJson, RefusesLoneSurrogateEscape) {
  const StrictParse r = parse_strict(R"({"a":"\ud800"})");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.rfind("invalid JSON at byte", 0), 0u) << r.error;
}

TEST(StrictJson, RefusesTrailingGarbage) {
  expect_error(R"({"a":1} x)", "invalid JSON at byte 8");
  expect_error(R"({"a":1}{"a":2})", "invalid JSON at byte 7");
  EXPECT_TRUE(parse_strict("{\"a\":1} \r\n\t").value.has_value());
}

TEST(StrictJson, RefusesEmptyAndBlankInput) {
  expect_error("", "empty JSON text");
  const StrictParse r = parse_strict("   ");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.rfind("invalid JSON at byte", 0), 0u) << r.error;
}

TEST(StrictJson, RefusesSyntaxErrorsWithoutEchoingInput) {
  for (std::string_view text :
       {"{bad", "{\"a\":1,}", "[1,]", "{'a':1}", "{\"a\":NaN}", "{\"a\":01}", "/*c*/{}",
        "{\"a\":1 // c\n}", "{\"a\":\"\t\"}", "{\"a\" 1}", "nul"}) {
    const StrictParse r = parse_strict(text);
    EXPECT_FALSE(r.value.has_value()) << text;
    EXPECT_EQ(r.error.rfind("invalid JSON at byte", 0), 0u) << text << " -> " << r.error;
  }
  const std::string secret = "{\"token\":\"sk-" + std::string(500, 'z') + "\x01\"}";
  const StrictParse r = parse_strict(secret);
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.find("zzz"), std::string::npos) << r.error;
}

TEST(StrictJson, RefusesByteOrderMark) {
  expect_error("\xEF\xBB\xBF{}", "byte order mark before JSON text");
}

TEST(StrictJson, RefusesNumberOverflow) { expect_error(R"({"a":1e400})", "number out of range"); }

TEST(StrictJson, FirstErrorWins) {
  // The duplicate comes before the syntax error.
  expect_error(R"({"a":1,"a":2,)", R"(duplicate key "a" at /)");
}

TEST(StrictJson, NulEscapeInKeyIsQuotedSafely) {
  expect_error("{\"\\u0000\":1,\"\\u0000\":2}", R"(duplicate key "\u0000" at /)");
}

TEST(StrictJson, ErrorsStayShortAndValidUtf8) {
  std::string key;
  for (int i = 0; i < 100; ++i) key += "\xC3\xA9";  // 200 bytes of two-byte code points
  StrictParse r = parse_strict("{\"" + key + "\":{\"a\":1,\"a\":2}}");
  EXPECT_EQ(r.error.rfind("duplicate key \"a\" at /\xC3\xA9", 0), 0u) << r.error;
  EXPECT_LT(r.error.size(), 200u);
  EXPECT_NO_THROW((void)nlohmann::json(r.error).dump());

  r = parse_strict("{\"" + key + "\":1,\"" + key + "\":2}");
  EXPECT_EQ(r.error.rfind("duplicate key \"\xC3\xA9", 0), 0u) << r.error;
  EXPECT_LT(r.error.size(), 120u);
  EXPECT_NO_THROW((void)nlohmann::json(r.error).dump());
}

TEST(StrictJson, ControlCharactersInPointerAreMasked) {
  expect_error(R"({"a\nb":{"k":1,"k":2}})", R"(duplicate key "k" at /a?b)");
}

// top_level_member finds a member's value in the text without parsing it again.
TEST(TopLevelMember, FindsTheValueOfATopLevelKeyOnly) {
  const std::string text =
      " { \"a\" : {\"messages\":1, \"s\":\"}\\\"messages\\\"\"} ,\"b\":[1,{\"x\":\"]\"}],"
      "\"n\":-1.5e3,\"t\":true,\"messages\" :\t[ ] } ";
  ASSERT_TRUE(parse_strict(text).value.has_value()) << parse_strict(text).error;
  const auto at = top_level_member(text, "messages");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(text.substr(*at, 3), "[ ]");
  EXPECT_EQ(text.substr(*top_level_member(text, "n"), 6), "-1.5e3");
  EXPECT_EQ(text.substr(*top_level_member(text, "a"), 1), "{");
  EXPECT_FALSE(top_level_member(text, "x").has_value());  // nested only
  EXPECT_FALSE(top_level_member(text, "s").has_value());
  EXPECT_FALSE(top_level_member("{}", "messages").has_value());
  EXPECT_FALSE(top_level_member("[1]", "messages").has_value());
}

TEST(TopLevelMember, AKeyWrittenWithAnEscapeIsNotRecognised) {
  const std::string text = R"({"m\u0065ssages":[1],"other":2})";
  ASSERT_TRUE(parse_strict(text).value.has_value());
  EXPECT_FALSE(top_level_member(text, "messages").has_value());
  EXPECT_EQ(text.substr(*top_level_member(text, "other"), 1), "2");
}

}  // namespace
}  // namespace clawgate::json

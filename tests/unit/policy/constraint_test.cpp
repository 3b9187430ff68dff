// Unit tests for the typed constraints of the policy language (SPEC §5 "Constraints"): every
// operator true, false and on the wrong type; `each`; `exists`; load-time validation.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <chrono>
#include <map>
#include <string>

#include "clawgate/policy/policy.hpp"

namespace clawgate::policy {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSrc = "policies/c.json";

json doc_for(const json& constraint) {
  return json{
      {"version", 1},
      {"rules",
       json::array(
           {{{"id", "c"}, {"match", {{"args", {{"/v", constraint}}}}}, {"decision", "allow"}}})}};
}

// Loads the constraint through the policy loader, as production does.
Constraint load(const json& constraint) {
  auto r = parse_policy(doc_for(constraint).dump(), kSrc);
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return Constraint{};
  }
  const auto& p = std::get<PolicyPtr>(r);
  return p->rules.at(0).match.args.at(0).second;
}

std::string load_error(const json& constraint) {
  auto r = parse_policy(doc_for(constraint).dump(), kSrc);
  if (std::holds_alternative<PolicyPtr>(r)) {
    ADD_FAILURE() << "expected an error for " << constraint.dump();
    return "";
  }
  return std::get<LoadError>(r).message;
}

bool holds(const json& constraint, const json& value) {
  const Constraint c = load(constraint);
  const bool h = c.holds(&value);
  EXPECT_EQ(h, c.why_not(&value).empty()) << constraint.dump() << " on " << value.dump();
  return h;
}

bool holds_missing(const json& constraint) {
  const Constraint c = load(constraint);
  const bool h = c.holds(nullptr);
  EXPECT_EQ(h, c.why_not(nullptr).empty());
  return h;
}

std::string why(const json& constraint, const json& value) {
  return load(constraint).why_not(&value);
}

const std::string kWhere = kSrc + ": rules[0] (id \"c\"): match.args./v: ";

TEST(ConstraintOps, Equals) {
  EXPECT_TRUE(holds({{"equals", "x"}}, "x"));
  EXPECT_FALSE(holds({{"equals", "x"}}, "y"));
  EXPECT_FALSE(holds({{"equals", "1"}}, 1));                           // no type coercion
  EXPECT_TRUE(holds({{"equals", 1}}, 1.0));                            // numbers compare by value
  EXPECT_TRUE(holds({{"equals", {{"a", {1, 2}}}}}, {{"a", {1, 2}}}));  // deep
  EXPECT_FALSE(holds({{"equals", {{"a", {1, 2}}}}}, {{"a", {2, 1}}}));
  EXPECT_TRUE(holds({{"equals", nullptr}}, nullptr));
  EXPECT_FALSE(holds({{"equals", nullptr}}, false));
  EXPECT_FALSE(holds_missing({{"equals", nullptr}}));  // missing is not null
}

TEST(ConstraintOps, InAndNotIn) {
  EXPECT_TRUE(holds({{"in", {"a", 2, nullptr}}}, 2));
  EXPECT_TRUE(holds({{"in", {"a", 2, nullptr}}}, nullptr));
  EXPECT_FALSE(holds({{"in", {"a", 2}}}, "b"));
  EXPECT_FALSE(holds({{"in", {"a", 2}}}, "A"));
  EXPECT_TRUE(holds({{"not_in", {"rm", "dd"}}}, "ls"));
  EXPECT_FALSE(holds({{"not_in", {"rm", "dd"}}}, "rm"));
  EXPECT_FALSE(holds_missing({{"not_in", {"rm"}}}));  // a missing value never passes
  EXPECT_FALSE(holds_missing({{"in", {"rm"}}}));
}

TEST(ConstraintOps, Glob) {
  EXPECT_TRUE(holds({{"glob", "*.md"}}, "notes.md"));
  EXPECT_FALSE(holds({{"glob", "*.md"}}, "notes.MD"));  // case-sensitive
  EXPECT_TRUE(holds({{"glob", {"a*", "*z"}}}, "xyz"));
  EXPECT_FALSE(holds({{"glob", {"a*", "*z"}}}, "xyy"));
  EXPECT_FALSE(holds({{"glob", "*"}}, 5));  // wrong type
  EXPECT_FALSE(holds_missing({{"glob", "*"}}));
}

TEST(ConstraintOps, RegexIsPartialRe2) {
  EXPECT_TRUE(holds({{"regex", "b+"}}, "abbbc"));
  EXPECT_FALSE(holds({{"regex", "^b+$"}}, "abbbc"));
  EXPECT_TRUE(holds({{"regex", "^b+$"}}, "bbb"));
  EXPECT_FALSE(holds({{"regex", "b"}}, json::array({"b"})));
  EXPECT_FALSE(holds({{"regex", "1"}}, 1));
}

TEST(ConstraintOps, Prefix) {
  EXPECT_TRUE(holds({{"prefix", "/tmp/"}}, "/tmp/x"));
  EXPECT_FALSE(holds({{"prefix", "/tmp/"}}, "/tmpx"));
  EXPECT_FALSE(holds({{"prefix", "1"}}, 12));
}

TEST(ConstraintOps, MinMax) {
  EXPECT_TRUE(holds({{"min", 1}, {"max", 10}}, 1));
  EXPECT_TRUE(holds({{"min", 1}, {"max", 10}}, 10));
  EXPECT_TRUE(holds({{"min", 1}, {"max", 10}}, 5.5));
  EXPECT_FALSE(holds({{"min", 1}, {"max", 10}}, 0.999));
  EXPECT_FALSE(holds({{"min", 1}, {"max", 10}}, 11));
  EXPECT_TRUE(holds({{"max", 10}}, -1e308));
  EXPECT_FALSE(holds({{"max", 10}}, 18446744073709551615ULL));
  EXPECT_TRUE(holds({{"min", -5}}, -5));
  EXPECT_FALSE(holds({{"min", 1}}, "5"));  // a numeric string is not a number
  EXPECT_FALSE(holds({{"max", 10}}, true));
  EXPECT_FALSE(holds_missing({{"max", 10}}));
}

TEST(ConstraintOps, MaxLengthCountsCodePointsAndElements) {
  EXPECT_TRUE(holds({{"max_length", 3}}, "abc"));
  EXPECT_FALSE(holds({{"max_length", 3}}, "abcd"));
  EXPECT_TRUE(holds({{"max_length", 3}}, "äöü"));  // 6 bytes, 3 code points
  EXPECT_FALSE(holds({{"max_length", 3}}, "äöüß"));
  EXPECT_TRUE(holds({{"max_length", 2}}, {1, 2}));
  EXPECT_FALSE(holds({{"max_length", 2}}, {1, 2, 3}));
  EXPECT_TRUE(holds({{"max_length", 0}}, ""));
  EXPECT_FALSE(holds({{"max_length", 10}}, 5));
  EXPECT_FALSE(holds({{"max_length", 10}}, json::object()));
}

TEST(ConstraintOps, Exists) {
  EXPECT_TRUE(holds({{"exists", true}}, "x"));
  EXPECT_TRUE(holds({{"exists", true}}, nullptr));  // a JSON null is a value
  EXPECT_FALSE(holds_missing({{"exists", true}}));
  EXPECT_TRUE(holds_missing({{"exists", false}}));
  EXPECT_FALSE(holds({{"exists", false}}, nullptr));
  EXPECT_FALSE(holds({{"exists", false}}, "x"));
}

TEST(ConstraintOps, MissingValueFailsEveryOperatorButExistsFalse) {
  for (const json& c : {json{{"type", "null"}}, json{{"prefix", "a"}}, json{{"regex", "a"}},
                        json{{"max_length", 5}}, json{{"url_host_in", {"a.example"}}},
                        json{{"url_scheme_in", {"https"}}}, json{{"path_under", {"/"}}},
                        json{{"each", {{"exists", true}}}}, json{{"min", 0}}}) {
    EXPECT_FALSE(holds_missing(c)) << c.dump();
    EXPECT_EQ(load(c).why_not(nullptr), "no value at this pointer");
  }
}

TEST(ConstraintOps, Type) {
  const json values = {"s", 1, -1, 1.5, 1.0, true, json::object(), json::array(), nullptr};
  const std::map<std::string, std::vector<bool>> expect = {
      {"string", {1, 0, 0, 0, 0, 0, 0, 0, 0}},  {"number", {0, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"integer", {0, 1, 1, 0, 0, 0, 0, 0, 0}}, {"boolean", {0, 0, 0, 0, 0, 1, 0, 0, 0}},
      {"object", {0, 0, 0, 0, 0, 0, 1, 0, 0}},  {"array", {0, 0, 0, 0, 0, 0, 0, 1, 0}},
      {"null", {0, 0, 0, 0, 0, 0, 0, 0, 1}}};
  for (const auto& [type, row] : expect) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(holds({{"type", type}}, values[i]), row[i]) << type << " " << values[i].dump();
    }
  }
  // 1.0 is a float in JSON terms: "integer" means a JSON integer literal.
  EXPECT_FALSE(holds({{"type", "integer"}}, json::parse("1.0")));
  EXPECT_TRUE(holds({{"type", "integer"}}, json::parse("-7")));
}

TEST(ConstraintOps, EachHoldsForEveryElementAndTheEmptyArray) {
  const json c = {{"each", {{"type", "string"}, {"prefix", "/srv/"}}}};
  EXPECT_TRUE(holds(c, {"/srv/a", "/srv/b"}));
  EXPECT_FALSE(holds(c, {"/srv/a", "/etc/b"}));
  EXPECT_FALSE(holds(c, {"/srv/a", 5}));
  EXPECT_TRUE(holds(c, json::array()));  // vacuously
  EXPECT_FALSE(holds(c, "/srv/a"));      // not an array
  EXPECT_FALSE(holds(c, json::object()));
  EXPECT_FALSE(holds_missing(c));
  EXPECT_EQ(why(c, json{"/srv/a", "/etc/b"}),
            "each[1]: prefix: \"/etc/b\" does not start with \"/srv/\"");
  // Nested each.
  const json nested = {{"each", {{"each", {{"type", "integer"}}}}}};
  EXPECT_TRUE(holds(nested, json::parse("[[1,2],[],[3]]")));
  EXPECT_FALSE(holds(nested, json::parse("[[1,2],[3.5]]")));
  EXPECT_FALSE(holds(nested, json::parse("[[1,2],3]")));
}

TEST(ConstraintOps, AllOperatorsMustHold) {
  const json c = {{"type", "string"}, {"prefix", "ab"}, {"max_length", 4}, {"not_in", {"abc"}}};
  EXPECT_TRUE(holds(c, "abd"));
  EXPECT_FALSE(holds(c, "abc"));
  EXPECT_FALSE(holds(c, "abcde"));
  EXPECT_FALSE(holds(c, "xbc"));
}

TEST(ConstraintOps, WhyNotNamesTheOperator) {
  EXPECT_EQ(why({{"type", "string"}}, json(5)), "type: integer is not string");
  EXPECT_EQ(why({{"glob", "a*"}}, json(5)), "glob: not a string (integer)");
  EXPECT_EQ(why({{"in", {"a"}}}, json("b")), "in: \"b\" is not listed");
  EXPECT_EQ(why({{"max", 3}}, json(4)), "max: 4 is greater than 3.0");
  EXPECT_EQ(why({{"exists", false}}, json(4)), "exists: false, but the value is present");
  const json big(std::string(1000, 'x'));
  EXPECT_LT(load({{"equals", "y"}}).why_not(&big).size(), 200U);  // values are shortened
  EXPECT_EQ(why({{"equals", 1}}, json(1)), "");
}

TEST(ConstraintOps, HandBuiltConstraint) {
  Constraint c;
  c.glob = Pattern{{"web_*"}, false};
  const json yes = "web_fetch";
  const json no = "exec";
  EXPECT_TRUE(c.holds(&yes));
  EXPECT_FALSE(c.holds(&no));
  Constraint empty;  // no operators: only presence
  EXPECT_TRUE(empty.holds(&no));
  EXPECT_FALSE(empty.holds(nullptr));
  Constraint hosts;  // patterns not normalised by a loader still compare normalised
  hosts.url_host_in = std::vector<std::string>{"ALLOWED.Example."};
  const json url = "https://allowed.example/x";
  EXPECT_TRUE(hosts.holds(&url));
}

// ---- load errors
// --------------------------------------------------------------------------------

TEST(ConstraintLoad, Errors) {
  EXPECT_EQ(load_error({{"hots", {"a"}}}), kWhere + "unknown operator \"hots\"");
  EXPECT_EQ(load_error(json::object()), kWhere + "must not be empty (give at least one operator)");
  EXPECT_THAT(load_error("a"), StartsWith(kWhere + "must be an object of operators"));
  EXPECT_EQ(load_error({{"in", "a"}}), kWhere + "in: must be a non-empty array of JSON values");
  EXPECT_EQ(load_error({{"in", json::array()}}),
            kWhere + "in: must be a non-empty array of JSON values");
  EXPECT_EQ(load_error({{"not_in", 5}}),
            kWhere + "not_in: must be a non-empty array of JSON values");
  EXPECT_EQ(load_error({{"glob", 5}}),
            kWhere + "glob: must be a string or a non-empty array of strings");
  EXPECT_EQ(load_error({{"glob", {"a", 5}}}),
            kWhere + "glob: must be a string or a non-empty array of strings");
  EXPECT_EQ(load_error({{"glob", ""}}), kWhere + "glob: must not contain an empty string");
  EXPECT_THAT(load_error({{"regex", "a("}}), StartsWith(kWhere + "regex: invalid RE2 regex: "));
  EXPECT_THAT(load_error({{"regex", "(a)\\1"}}), StartsWith(kWhere + "regex: invalid RE2"));
  EXPECT_EQ(load_error({{"regex", 5}}), kWhere + "regex: must be a non-empty string (RE2 syntax)");
  EXPECT_EQ(load_error({{"prefix", ""}}), kWhere + "prefix: must be a non-empty string");
  EXPECT_EQ(load_error({{"min", "1"}}), kWhere + "min: must be a number");
  EXPECT_EQ(load_error({{"max", nullptr}}), kWhere + "max: must be a number");
  EXPECT_EQ(load_error({{"min", 5}, {"max", 1}}), kWhere + "min is greater than max");
  EXPECT_EQ(load_error({{"max_length", -1}}),
            kWhere + "max_length: must be a non-negative integer");
  EXPECT_EQ(load_error({{"max_length", 1.5}}),
            kWhere + "max_length: must be a non-negative integer");
  EXPECT_EQ(load_error({{"exists", "yes"}}), kWhere + "exists: must be true or false");
  EXPECT_THAT(load_error({{"exists", false}, {"type", "string"}}),
              StartsWith(kWhere + "\"exists\": false cannot be combined"));
  EXPECT_EQ(load_error({{"type", "float"}}),
            kWhere + "type: must be one of string, number, integer, boolean, object, array, null");
  EXPECT_EQ(load_error({{"url_host_in", json::array()}}),
            kWhere + "url_host_in: must be a non-empty array of host names");
  EXPECT_EQ(load_error({{"url_host_in", {"a.example", 5}}}),
            kWhere + "url_host_in[1]: must be a string");
  EXPECT_EQ(load_error({{"url_scheme_in", {"ht tp"}}}),
            kWhere + "url_scheme_in: must be a non-empty array of URL schemes (\"https\")");
  EXPECT_EQ(load_error({{"path_under", {"srv"}}}),
            kWhere + "path_under[0]: \"srv\": must be an absolute path");
  EXPECT_EQ(load_error({{"each", {{"regex", "("}}}}).substr(0, kWhere.size() + 17),
            kWhere + "each.regex: inval");
  EXPECT_EQ(load_error({{"each", {{"hots", 1}}}}), kWhere + "each: unknown operator \"hots\"");
  EXPECT_THAT(load_error({{"each", 5}}), StartsWith(kWhere + "each: must be an object"));
  EXPECT_EQ(load_error({{"each", json::object()}}),
            kWhere + "each: must not be empty (give at least one operator)");
}

TEST(ConstraintLoad, RegexIsCompiledOnceAtLoad) {
  const Constraint c = load({{"regex", "^[a-z]+$"}});
  ASSERT_NE(c.regex, nullptr);
  EXPECT_TRUE(c.regex->ok());
}

TEST(ConstraintLoad, RegexIsLinearTime) {
  // A backtracking engine takes ages on this; RE2 does not.
  const Constraint c = load({{"regex", "^(a+)+$"}});
  const json v = std::string(50000, 'a') + "!";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.holds(&v));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace clawgate::policy

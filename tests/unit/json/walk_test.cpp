#include "clawgate/json/walk.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using nlohmann::json;
using clawgate::json::rewrite_strings;

// Upper-cases "secret" wherever it appears; counts calls so double rewrites show.
struct Upper {
  int calls = 0;
  void operator()(std::string& s) {
    ++calls;
    for (auto pos = s.find("secret"); pos != std::string::npos; pos = s.find("secret", pos)) {
      s.replace(pos, 6, "SECRET");
    }
  }
};

TEST(RewriteStrings, RewritesValuesInArraysAndObjectsInPlace) {
  json doc = {{"a", "a secret"}, {"b", {1, "secret two", true, nullptr}}, {"c", {{"d", "x"}}}};
  Upper up;
  rewrite_strings(doc, [&up](std::string& s) { up(s); });
  EXPECT_EQ(doc, json({{"a", "a SECRET"},
                       {"b", {1, "SECRET two", true, nullptr}},
                       {"c", {{"d", "x"}}}}));
  // 4 keys (a, b, c, d) and 3 strings, each exactly once.
  EXPECT_EQ(up.calls, 7);
}

TEST(RewriteStrings, ChangedKeysAreRewrittenOnceAndKeepTheirValues) {
  json doc = {{"a", 1}, {"my secret", "the secret"}, {"z", {{"secret", 2}}}};
  Upper up;
  rewrite_strings(doc, [&up](std::string& s) { up(s); });
  EXPECT_EQ(doc, json({{"a", 1}, {"my SECRET", "the SECRET"}, {"z", {{"SECRET", 2}}}}));
  // Keys a, "my secret", z, "secret" and one string: a rebuilt object must not rewrite a key a
  // second time (a rewrite need not be idempotent).
  EXPECT_EQ(up.calls, 5);
  // The rebuilt objects stay sorted by key, as canonical JSON needs.
  EXPECT_EQ(doc.dump(), R"({"a":1,"my SECRET":"the SECRET","z":{"SECRET":2}})");
}

TEST(RewriteStrings, AFirstKeyThatChangesIsKept) {
  json doc = {{"secret", 1}, {"zz", 2}};
  rewrite_strings(doc, [](std::string& s) { Upper{}(s); });
  EXPECT_EQ(doc, json({{"SECRET", 1}, {"zz", 2}}));
}

}  // namespace

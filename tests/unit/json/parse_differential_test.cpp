// clawgate's JSON parser (json/strict.cpp) against nlohmann::json::parse, the reference for the
// values it must produce: random documents, valid and then damaged byte by byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

#include "clawgate/json/strict.hpp"

namespace clawgate::json {
namespace {

using nlohmann::json;

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    value(out, 0);
    return out;
  }

  // One random edit: a byte removed, replaced or inserted, from a set that tends to matter.
  std::string damage(std::string s) {
    static constexpr char kBytes[] = "{}[]\",:\\/ \t\n0-+.eEu19aftrnl\x01\x7f";
    const auto pick = [this](std::size_t n) {
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    };
    const char b = kBytes[pick(sizeof kBytes - 1)];
    const std::size_t at = pick(s.size() + 1);
    switch (pick(3)) {
      case 0:
        if (at < s.size()) s.erase(at, 1);
        break;
      case 1:
        if (at < s.size()) s[at] = b;
        break;
      default:
        s.insert(at, 1, b);
    }
    return s;
  }

 private:
  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  void ws(std::string& out) {
    static constexpr const char* kWs[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    out += kWs[below(std::size(kWs))];
  }

  void string(std::string& out) {
    static constexpr const char* kPieces[] = {"a",
                                              "tool",
                                              "content",
                                              "caf\xC3\xA9",
                                              "\xF0\x9F\x98\x80",
                                              "\\n",
                                              "\\\"",
                                              "\\\\",
                                              "\\/",
                                              "\\b",
                                              "\\f",
                                              "\\r",
                                              "\\t",
                                              "\\u0041",
                                              "\\u00e9",
                                              "\\u20AC",
                                              "\\ud83d\\ude00",
                                              "\\u0000",
                                              " ",
                                              "x y z",
                                              "0123456789abcdef",
                                              "~",
                                              "/",
                                              "\xE2\x82\xAC"};
    out += '"';
    const std::size_t n = below(6);
    for (std::size_t i = 0; i < n; ++i) out += kPieces[below(std::size(kPieces))];
    if (below(8) == 0) out += std::string(below(40), 'q');
    out += '"';
  }

  void number(std::string& out) {
    static constexpr const char* kNumbers[] = {"0",
                                               "-0",
                                               "1",
                                               "-1",
                                               "42",
                                               "0.5",
                                               "-0.0",
                                               "1e3",
                                               "1E+2",
                                               "2e-3",
                                               "3.25e10",
                                               "1e-400",
                                               "123456789012345678",
                                               "9223372036854775807",
                                               "9223372036854775808",
                                               "-9223372036854775808",
                                               "-9223372036854775809",
                                               "18446744073709551615",
                                               "18446744073709551616",
                                               "1.7976931348623157e308",
                                               "0.1",
                                               "100000000000000000000000",
                                               "4.9e-324",
                                               "-12.5E-3"};
    out += kNumbers[below(std::size(kNumbers))];
  }

  void value(std::string& out, int depth) {
    const std::size_t kind = depth > 5 ? 2 + below(5) : below(7);
    switch (kind) {
      case 0: {
        out += '{';
        const std::size_t n = below(5);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          ws(out);
          string(out);
          ws(out);
          out += ':';
          ws(out);
          value(out, depth + 1);
          ws(out);
        }
        out += '}';
        return;
      }
      case 1: {
        out += '[';
        const std::size_t n = below(5);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          ws(out);
          value(out, depth + 1);
          ws(out);
        }
        out += ']';
        return;
      }
      case 2:
      case 3:
        string(out);
        return;
      case 4:
        number(out);
        return;
      case 5:
        out += below(2) == 0 ? "true" : "false";
        return;
      default:
        out += "null";
        return;
    }
  }

  std::mt19937 rng_;
};

// Same value and same number types (dump tells 1 from 1.0 and -0.0 from 0).
void expect_same(const json& a, const json& b, const std::string& text) {
  EXPECT_EQ(a.dump(), b.dump()) << text;
  EXPECT_EQ(a, b) << text;
}

// Keys the generator writes now and then (a one-piece string).
constexpr std::string_view kKept[] = {"a", "content", "tool"};

// What parse_lenient(text, kKept) should build from `reference`.
json kept_members(const json& reference) {
  if (!reference.is_object()) return reference;
  json out = json::object();
  for (const auto key : kKept) {
    const auto it = reference.find(key);
    if (it != reference.end()) out[std::string(key)] = *it;
  }
  return out;
}

TEST(JsonParseDifferential, AgreesWithNlohmannOnRandomAndDamagedDocuments) {
  Generator gen(20261122);
  std::size_t accepted = 0;
  std::size_t refused = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string valid = gen.document();
    const std::string text = i % 2 == 0 ? valid : gen.damage(valid);
    const json reference = json::parse(text, nullptr, /*allow_exceptions=*/false);

    const auto lenient = parse_lenient(text);
    ASSERT_EQ(lenient.has_value(), !reference.is_discarded()) << text;
    if (lenient) expect_same(*lenient, reference, text);

    // Building only some top-level members: the same outcome, and those members as they were.
    const auto projected = parse_lenient(text, kKept);
    ASSERT_EQ(projected.has_value(), !reference.is_discarded()) << text;
    if (projected) expect_same(*projected, kept_members(reference), text);

    // Strict: the same, except that it also refuses duplicate keys and deep nesting.
    const StrictParse strict = parse_strict(text);
    if (strict.value) {
      ASSERT_FALSE(reference.is_discarded()) << text;
      expect_same(*strict.value, reference, text);
      ++accepted;
    } else {
      ++refused;
      const bool own_rule = strict.error.rfind("duplicate key", 0) == 0 ||
                            strict.error.rfind("nesting deeper", 0) == 0;
      if (!own_rule) EXPECT_TRUE(reference.is_discarded()) << text << " -> " << strict.error;
    }
  }
  // Both outcomes were exercised, many times.
  EXPECT_GT(accepted, 8000u);
  EXPECT_GT(refused, 3000u);
}

TEST(JsonParseDifferential, LenientKeepsTheLastDuplicateAndSkipsAByteOrderMark) {
  const auto doc = parse_lenient("\xEF\xBB\xBF{\"a\":1,\"b\":[2],\"a\":{\"c\":3}}");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->dump(), R"({"a":{"c":3},"b":[2]})");
  EXPECT_FALSE(parse_lenient("{\"a\":\"\xFF\"}").has_value());
  EXPECT_FALSE(parse_lenient("").has_value());
  EXPECT_FALSE(parse_lenient(std::string(600, '[') + std::string(600, ']')).has_value());
  EXPECT_TRUE(parse_lenient(std::string(500, '[') + std::string(500, ']')).has_value());
}

TEST(JsonParseDifferential, LenientWithMembersBuildsOnlyThoseAndStillValidatesTheRest) {
  constexpr std::string_view keep[] = {"a"};
  const auto doc = parse_lenient(R"({"b":{"x":[1,"two",{"y":null}]},"a":{"c":3},"a2":4})", keep);
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->dump(), R"({"a":{"c":3}})");
  // A later duplicate still wins; an escaped key is the key it decodes to.
  EXPECT_EQ(parse_lenient(R"({"a":1,"\u0061":2})", keep)->dump(), R"({"a":2})");
  EXPECT_EQ(parse_lenient(R"([{"a":1,"b":2}])", keep)->dump(), R"([{"a":1,"b":2}])");
  // Whatever is skipped must still be valid, as for the whole parse.
  for (const char* bad : {R"({"a":1,"b":tru})", R"({"a":1,"b":"\ud800"})", R"({"a":1,"b":[1,]})",
                          R"({"a":1,"b":{"c" 2}})",
                          R"({"a":1,"b":"x)"
                          "\x01"
                          R"("})",
                          R"({"a":1,"b":01})", R"({"a":1,"b":{}}x)"}) {
    EXPECT_FALSE(parse_lenient(bad, keep).has_value()) << bad;
    EXPECT_FALSE(parse_lenient(bad).has_value()) << bad;
  }
  const std::string deep = R"({"a":1,"b":)" + std::string(600, '[') + std::string(600, ']') + "}";
  EXPECT_FALSE(parse_lenient(deep, keep).has_value());
}

TEST(JsonParseDifferential, NumberTypesMatchNlohmann) {
  for (const char* text :
       {"0", "-0", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
        "-9223372036854775809", "1.0", "1e2", "-0.0", "1e-400"}) {
    const StrictParse strict = parse_strict(text);
    ASSERT_TRUE(strict.value.has_value()) << text << " -> " << strict.error;
    const json reference = json::parse(text);
    EXPECT_EQ(strict.value->type(), reference.type()) << text;
    expect_same(*strict.value, reference, text);
  }
}

}  // namespace
}  // namespace clawgate::json

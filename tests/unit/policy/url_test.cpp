// Unit tests for url_host_in and url_scheme_in (SPEC §5): RFC 3986 parsing, http/https only,
// userinfo, IP literals and numeric hosts, IDNA, trailing dots, wildcards and ports.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "clawgate/policy/policy.hpp"

namespace clawgate::policy {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSrc = "policies/u.json";

json doc_for(const json& constraint) {
  return json{{"version", 1},
              {"rules", json::array({{{"id", "u"},
                                      {"match", {{"args", {{"/args/url", constraint}}}}},
                                      {"decision", "allow"}}})}};
}

Constraint load(const json& constraint) {
  auto r = parse_policy(doc_for(constraint).dump(), kSrc);
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return Constraint{};
  }
  return std::get<PolicyPtr>(r)->rules.at(0).match.args.at(0).second;
}

std::string load_error(const json& constraint) {
  auto r = parse_policy(doc_for(constraint).dump(), kSrc);
  if (std::holds_alternative<PolicyPtr>(r)) {
    ADD_FAILURE() << "expected an error for " << constraint.dump();
    return "";
  }
  return std::get<LoadError>(r).message;
}

class UrlHostIn : public ::testing::Test {
 protected:
  bool allowed(const std::vector<std::string>& hosts, const std::string& url) {
    const Constraint c = load({{"url_host_in", hosts}});
    const json v = url;
    return c.holds(&v);
  }
  std::string why(const std::vector<std::string>& hosts, const json& v) {
    return load({{"url_host_in", hosts}}).why_not(&v);
  }
  const std::vector<std::string> list = {"allowed.example"};
};

TEST_F(UrlHostIn, PlainMatches) {
  EXPECT_TRUE(allowed(list, "https://allowed.example/"));
  EXPECT_TRUE(allowed(list, "http://allowed.example"));
  EXPECT_TRUE(allowed(list, "https://allowed.example/a/b?q=1#frag"));
  EXPECT_TRUE(allowed(list, "HTTPS://allowed.example/"));   // scheme is case-insensitive
  EXPECT_TRUE(allowed(list, "https://ALLOWED.example/"));   // host is lower-cased
  EXPECT_TRUE(allowed(list, "https://allowed.example./"));  // trailing dot dropped
  EXPECT_TRUE(allowed({"ALLOWED.Example."}, "https://allowed.example/"));  // pattern too
  EXPECT_FALSE(allowed(list, "https://allowed.example../"));
  EXPECT_FALSE(allowed(list, "https://other.example/"));
}

TEST_F(UrlHostIn, UserinfoNeverMatches) {
  EXPECT_FALSE(allowed(list, "https://allowed@evil/"));
  EXPECT_FALSE(allowed(list, "https://allowed.example@evil.com/"));
  EXPECT_FALSE(allowed(list, "https://evil.com@allowed.example/"));  // even the listed host
  EXPECT_FALSE(allowed(list, "https://@allowed.example/"));          // even empty userinfo
  EXPECT_FALSE(allowed(list, "https://user:pw@allowed.example/"));
  EXPECT_EQ(why(list, "https://a@allowed.example/"), "url_host_in: the URL has userinfo (\"…@\")");
}

TEST_F(UrlHostIn, FragmentsQueriesAndLookalikes) {
  EXPECT_FALSE(allowed(list, "http://evil#allowed.example"));
  EXPECT_FALSE(allowed(list, "http://evil?allowed.example"));
  EXPECT_FALSE(allowed(list, "http://evil/allowed.example"));
  EXPECT_FALSE(allowed(list, "https://allowed.evil/"));
  EXPECT_FALSE(allowed(list, "https://allowed.example.evil/"));
  EXPECT_FALSE(allowed(list, "https://xallowed.example/"));
  EXPECT_FALSE(allowed(list, "https://sub.allowed.example/"));  // no wildcard: exact only
  EXPECT_EQ(why(list, "http://evil#allowed.example"), "url_host_in: host \"evil\" is not listed");
  // WHATWG parsers read "\" as "/" (host evil.com); RFC 3986 refuses it: never a match.
  EXPECT_FALSE(allowed(list, "http://evil.com\\@allowed.example/"));
  EXPECT_FALSE(allowed(list, "http://allowed.example\\.evil.com/"));
  EXPECT_FALSE(allowed(list, " https://allowed.example/"));
  EXPECT_FALSE(allowed(list, "https://allowed.example/\n"));
  EXPECT_FALSE(allowed(list, "https://allowed.ex\tample/"));
}

TEST_F(UrlHostIn, BoostLenienciesAreRefused) {
  // Boost.URL 1.81 stops the authority early and calls the rest a path; RFC 3986 (and WHATWG,
  // which the gateway's fetch uses) read a different host. Never a match.
  EXPECT_FALSE(allowed({"[::1]"}, "http://[::1].evil.example/"));
  EXPECT_FALSE(allowed({"[::1]"}, "http://[::1]x/"));
  EXPECT_FALSE(allowed(list, "http://allowed.example:80.evil.example/"));
  EXPECT_FALSE(allowed(list, "http://allowed.example:80x/"));
  EXPECT_FALSE(allowed(list, "http://allowed.example:8080:90/"));
  EXPECT_FALSE(allowed({"1.2.3.4"}, "http://1.2.3.4:80.5/"));
  EXPECT_FALSE(allowed(list, "http://x@allowed.example@evil/"));
  EXPECT_FALSE(allowed(list, "http://allowed.example%40evil/"));
  // Non-ASCII elsewhere in an IRI is fine.
  EXPECT_TRUE(allowed(list, "https://allowed.example/über?q=ä#ö"));
}

TEST_F(UrlHostIn, UnparsableAndSchemeless) {
  EXPECT_FALSE(allowed(list, "not a url"));
  EXPECT_FALSE(allowed(list, "//allowed.example/x"));  // no scheme
  EXPECT_FALSE(allowed(list, "allowed.example"));
  EXPECT_FALSE(allowed(list, "https:allowed.example"));  // no authority
  EXPECT_FALSE(allowed(list, "https:///allowed.example"));
  EXPECT_FALSE(allowed(list, ""));
  EXPECT_FALSE(allowed(list, "https://allowed.example:99999/"));  // port out of range
  EXPECT_FALSE(allowed(list, "https://allowed.example:65536/"));
  EXPECT_EQ(why(list, "not a url"), "url_host_in: not a URL (RFC 3986)");
  EXPECT_EQ(why(list, 5), "url_host_in: not a string (integer)");
  EXPECT_EQ(why(list, json::array({"https://allowed.example/"})),
            "url_host_in: not a string (array)");
  const Constraint c = load({{"url_host_in", list}});
  EXPECT_FALSE(c.holds(nullptr));
}

TEST_F(UrlHostIn, OnlyHttpAndHttps) {
  EXPECT_FALSE(allowed(list, "ftp://allowed.example/"));
  EXPECT_FALSE(allowed(list, "file://allowed.example/etc/passwd"));
  EXPECT_FALSE(allowed(list, "ws://allowed.example/"));
  EXPECT_FALSE(allowed(list, "javascript://allowed.example/%0aalert(1)"));
  EXPECT_EQ(why(list, "ftp://allowed.example"), "url_host_in: scheme \"ftp\" is not http or https");
}

TEST_F(UrlHostIn, IpLiteralsOnlyWhenListed) {
  EXPECT_FALSE(allowed(list, "http://127.0.0.1/"));
  EXPECT_FALSE(allowed(list, "http://[::1]/"));
  EXPECT_FALSE(allowed(list, "http://[v1.x]/"));
  EXPECT_FALSE(allowed({"*.example"}, "http://127.0.0.1/"));
  EXPECT_TRUE(allowed({"127.0.0.1"}, "http://127.0.0.1/"));
  EXPECT_TRUE(allowed({"127.0.0.1"}, "http://127.0.0.1:8080/x"));
  EXPECT_FALSE(allowed({"127.0.0.1"}, "http://127.0.0.2/"));
  EXPECT_TRUE(allowed({"[::1]"}, "http://[::1]/"));
  EXPECT_TRUE(allowed({"[::1]"}, "http://[0:0:0:0:0:0:0:1]/"));  // compared canonically
  EXPECT_TRUE(allowed({"[0::1]"}, "http://[::1]:80/"));
  EXPECT_FALSE(allowed({"[::1]"}, "http://[::2]/"));
  EXPECT_TRUE(allowed({"[v1.x]"}, "http://[v1.X]/"));  // Boost.URL refuses an upper-case V
  EXPECT_EQ(why(list, "http://127.0.0.1/"),
            "url_host_in: host \"127.0.0.1\" is an IP address that is not listed");
}

TEST_F(UrlHostIn, NumericLookingHostsAreIpsInDisguise) {
  // Node, browsers and inet_aton read all of these as 127.0.0.1.
  for (const char* url :
       {"http://0x7f.1/", "http://2130706433/", "http://127.1/", "http://0177.0.0.1/",
        "http://0x7f000001/", "http://127.0.0.1./", "http://127.0.0.01/", "http://0x/",
        "http://a.0x1f/", "http://allowed.example.1/", "http://１２７.０.０.１/"}) {
    EXPECT_FALSE(allowed({"allowed.example", "*.example"}, url)) << url;
  }
  // Boost.URL alone would read this as host 1.2.3.4 with path ".evil.example/".
  EXPECT_FALSE(allowed({"1.2.3.4"}, "http://1.2.3.4.evil.example/"));
  EXPECT_FALSE(allowed({"127.0.0.1"}, "http://127.0.0.1x/"));
  // Literally listed, they match exactly.
  EXPECT_TRUE(allowed({"2130706433"}, "http://2130706433/"));
  EXPECT_TRUE(allowed({"0x7f.1"}, "http://0X7F.1/"));
  EXPECT_FALSE(allowed({"2130706433"}, "http://2130706434/"));
}

TEST_F(UrlHostIn, WildcardsMatchSubdomainsOnly) {
  const std::vector<std::string> w = {"*.x.com"};
  EXPECT_TRUE(allowed(w, "https://a.x.com/"));
  EXPECT_TRUE(allowed(w, "https://b.a.x.com/"));
  EXPECT_TRUE(allowed(w, "https://A.X.COM./"));
  EXPECT_FALSE(allowed(w, "https://x.com/"));
  EXPECT_FALSE(allowed(w, "https://ax.com/"));
  EXPECT_FALSE(allowed(w, "https://a.x.com.evil/"));
  EXPECT_FALSE(allowed(w, "https://x.com.a/"));
  EXPECT_TRUE(allowed({"x.com", "*.x.com"}, "https://x.com/"));
}

TEST_F(UrlHostIn, Ports) {
  EXPECT_TRUE(allowed(list, "https://allowed.example:8443/"));  // no port in the pattern: any
  EXPECT_TRUE(allowed(list, "http://allowed.example:1/"));
  const std::vector<std::string> p = {"allowed.example:8443"};
  EXPECT_TRUE(allowed(p, "https://allowed.example:8443/"));
  EXPECT_TRUE(allowed(p, "http://allowed.example:08443/"));
  EXPECT_FALSE(allowed(p, "https://allowed.example/"));
  EXPECT_FALSE(allowed(p, "https://allowed.example:443/"));
  EXPECT_FALSE(allowed(p, "https://allowed.example:8444/"));
  EXPECT_EQ(why(p, "https://allowed.example/"),
            "url_host_in: host \"allowed.example\" is listed, but not with port 443");
  // Default ports when the URL names none.
  EXPECT_TRUE(allowed({"allowed.example:443"}, "https://allowed.example/"));
  EXPECT_TRUE(allowed({"allowed.example:443"}, "https://allowed.example:/"));  // empty = default
  EXPECT_FALSE(allowed({"allowed.example:443"}, "http://allowed.example/"));
  EXPECT_TRUE(allowed({"allowed.example:80"}, "http://allowed.example/"));
  EXPECT_TRUE(allowed({"*.x.com:8443"}, "https://a.x.com:8443/"));
  EXPECT_FALSE(allowed({"*.x.com:8443"}, "https://a.x.com/"));
  EXPECT_TRUE(allowed({"[::1]:8080"}, "http://[::1]:8080/"));
  EXPECT_FALSE(allowed({"[::1]:8080"}, "http://[::1]/"));
  EXPECT_TRUE(allowed({"allowed.example:8443", "allowed.example:443"}, "https://allowed.example/"));
}

TEST_F(UrlHostIn, Idna) {
  // Unicode and punycode forms of one name match each other, both ways, also as raw IRIs.
  EXPECT_TRUE(allowed({"bücher.example"}, "https://xn--bcher-kva.example/"));
  EXPECT_TRUE(allowed({"xn--bcher-kva.example"}, "https://bücher.example/"));
  EXPECT_TRUE(allowed({"bücher.example"}, "https://bücher.example/"));
  EXPECT_TRUE(allowed({"BÜCHER.example"}, "https://b%C3%BCcher.example/"));
  EXPECT_TRUE(allowed({"xn--bcher-kva.example"}, "https://BÜCHER.EXAMPLE/"));
  EXPECT_TRUE(allowed({"*.bücher.example"}, "https://a.xn--bcher-kva.example/"));
  EXPECT_FALSE(allowed({"bücher.example"}, "https://bucher.example/"));
  // Full-width dots are label separators under UTS #46, as in browsers.
  EXPECT_TRUE(allowed(list, "https://allowed。example/"));
  // Invalid punycode, escaped ASCII and bad UTF-8 never match.
  EXPECT_FALSE(allowed(list, "https://xn--zzzz.example/"));
  EXPECT_FALSE(allowed(list, "https://allowed%2eexample/"));
  EXPECT_FALSE(allowed(list, "https://%61llowed.example/"));
  EXPECT_FALSE(allowed(list, "https://allowed.example%00/"));
  EXPECT_FALSE(allowed(list, "https://allowed.example\xff/"));
  EXPECT_FALSE(allowed(list, "https://b%C3cher.example/"));
  EXPECT_THAT(*load({{"url_host_in", {"Bücher.Example."}}}).url_host_in,
              ElementsAre("xn--bcher-kva.example"));
}

TEST_F(UrlHostIn, PatternsAreNormalisedAtLoad) {
  const Constraint c =
      load({{"url_host_in",
             {"ALLOWED.example.", "allowed.example", "*.X.com:8443", "[0::1]", "127.0.0.1:80"}}});
  EXPECT_THAT(*c.url_host_in,
              ElementsAre("allowed.example", "*.x.com:8443", "[::1]", "127.0.0.1:80"));
}

TEST_F(UrlHostIn, PatternErrors) {
  const std::string w = kSrc + ": rules[0] (id \"u\"): match.args./args/url: url_host_in[0]: ";
  EXPECT_THAT(load_error({{"url_host_in", {"*"}}}), StartsWith(w + "\"*\": '*'"));
  EXPECT_THAT(load_error({{"url_host_in", {"a.*.com"}}}), StartsWith(w + "\"a.*.com\": '*'"));
  EXPECT_THAT(load_error({{"url_host_in", {"*a.com"}}}), StartsWith(w + "\"*a.com\": '*'"));
  EXPECT_EQ(load_error({{"url_host_in", {"::1"}}}),
            w + "\"::1\": IPv6 literals must be written in brackets");
  EXPECT_EQ(load_error({{"url_host_in", {"[::g]"}}}), w + "\"[::g]\": invalid IPv6 literal");
  EXPECT_EQ(load_error({{"url_host_in", {"a.com:0"}}}),
            w + "\"a.com:0\": the port must be a number from 1 to 65535");
  EXPECT_EQ(load_error({{"url_host_in", {"a.com:70000"}}}),
            w + "\"a.com:70000\": the port must be a number from 1 to 65535");
  EXPECT_EQ(load_error({{"url_host_in", {"a.com:"}}}),
            w + "\"a.com:\": the port must be a number from 1 to 65535");
  EXPECT_EQ(load_error({{"url_host_in", {"https://a.com"}}}),
            w + "\"https://a.com\": must be a host name (no scheme, path or userinfo)");
  EXPECT_EQ(load_error({{"url_host_in", {"u@a.com"}}}),
            w + "\"u@a.com\": must be a host name (no scheme, path or userinfo)");
  EXPECT_EQ(load_error({{"url_host_in", {"a b.com"}}}),
            w + "\"a b.com\": not a valid host name (IDNA)");
  EXPECT_EQ(load_error({{"url_host_in", {"xn--zzzz.example"}}}),
            w + "\"xn--zzzz.example\": not a valid host name (IDNA)");
  EXPECT_EQ(load_error({{"url_host_in", {"a..com"}}}),
            w + "\"a..com\": not a valid host name (IDNA)");
  EXPECT_EQ(load_error({{"url_host_in", {""}}}), w + "\"\": must not be empty");
  EXPECT_EQ(load_error({{"url_host_in", {"*.127.0.0.1"}}}),
            w + "\"*.127.0.0.1\": a wildcard cannot precede an IP address");
  EXPECT_EQ(load_error({{"url_host_in", {"*.1"}}}),
            w + "\"*.1\": a wildcard cannot precede a numeric host");
  EXPECT_EQ(load_error({{"url_host_in", "a.com"}}),
            kSrc +
                ": rules[0] (id \"u\"): match.args./args/url: url_host_in: must be a non-empty "
                "array of host names");
}

TEST(UrlSchemeIn, ComparesTheLowerCasedScheme) {
  const Constraint c = load({{"url_scheme_in", {"HTTPS", "mailto"}}});
  EXPECT_THAT(*c.url_scheme_in, ElementsAre("https", "mailto"));
  const auto ok = [&c](const json& v) { return c.holds(&v); };
  EXPECT_TRUE(ok("https://a.example/"));
  EXPECT_TRUE(ok("HTTPS://a.example/"));
  EXPECT_TRUE(ok("mailto:someone@example.com"));
  EXPECT_TRUE(ok("https://user@a.example/"));  // only the scheme is constrained
  EXPECT_FALSE(ok("http://a.example/"));
  EXPECT_FALSE(ok("javascript:alert(1)"));
  EXPECT_FALSE(ok("//a.example/"));  // no scheme
  EXPECT_FALSE(ok("not a url"));
  EXPECT_FALSE(ok("https://a.example/ x"));
  EXPECT_FALSE(ok(5));
  EXPECT_FALSE(c.holds(nullptr));
  const json ftp = "ftp://a.example/";
  EXPECT_EQ(c.why_not(&ftp), "url_scheme_in: scheme \"ftp\" is not listed");
  const json bad = "not a url";
  EXPECT_EQ(c.why_not(&bad), "url_scheme_in: not a URL (RFC 3986)");
}

TEST(UrlSchemeIn, CombinesWithUrlHostIn) {
  const Constraint c = load({{"url_scheme_in", {"https"}}, {"url_host_in", {"allowed.example"}}});
  const json good = "https://allowed.example/";
  const json plain = "http://allowed.example/";
  EXPECT_TRUE(c.holds(&good));
  EXPECT_FALSE(c.holds(&plain));
}

}  // namespace
}  // namespace clawgate::policy

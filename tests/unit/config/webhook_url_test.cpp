// approvals.webhook_url validation (SPEC §3, §6): the config refuses what the webhook sender
// cannot use, naming the key and what to fix.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "clawgate/config/config.hpp"

namespace clawgate::config {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::optional<std::string> webhook_env(const char* name) {
  const std::string n = name;
  if (n == "OPENCLAW_GATEWAY_TOKEN") return "gateway-token-for-webhook-url-tests";
  if (n == "CLAWGATE_AUDIT_KEY") return "audit-key-for-webhook-url-tests";
  return std::nullopt;
}

std::variant<Config, LoadError> load_with_webhook(const json& url) {
  json doc = {{"upstream", {{"url", "http://127.0.0.1:18789"}}}};
  doc["approvals"] = json::object();
  doc["approvals"]["webhook_url"] = url;
  return parse_config(doc.dump(), "/tmp", &webhook_env);
}

std::string error_for(const std::string& url) {
  auto r = load_with_webhook(url);
  if (std::holds_alternative<Config>(r)) {
    ADD_FAILURE() << "expected a config error for " << url;
    return "";
  }
  return std::get<LoadError>(r).message;
}

std::optional<std::string> accepted(const std::string& url) {
  auto r = load_with_webhook(url);
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected config error for " << url << ": " << e->message;
    return std::nullopt;
  }
  return std::get<Config>(r).approvals.webhook_url;
}

TEST(ConfigWebhookUrl, HttpUrlsAreAccepted) {
  EXPECT_EQ(accepted("http://127.0.0.1:9000/hook"), "http://127.0.0.1:9000/hook");
  EXPECT_EQ(accepted("http://hooks.internal/clawgate?team=sec"),
            "http://hooks.internal/clawgate?team=sec");
  EXPECT_EQ(accepted("HTTP://relay:8080"), "HTTP://relay:8080");
  EXPECT_EQ(accepted("http://[::1]:8080/x"), "http://[::1]:8080/x");
  auto none = load_with_webhook(nullptr);
  ASSERT_TRUE(std::holds_alternative<Config>(none));
  EXPECT_FALSE(std::get<Config>(none).approvals.webhook_url.has_value());
}

TEST(ConfigWebhookUrl, HttpsIsRefusedWithTheWayOut) {
  EXPECT_EQ(error_for("https://hooks.example.com/clawgate"),
            "approvals.webhook_url: https:// is not supported in this build; use an http:// "
            "endpoint on a trusted network or a local relay");
  EXPECT_THAT(error_for("HTTPS://hooks.example.com:8443"),
              StartsWith("approvals.webhook_url: https:// is not supported in this build"));
}

TEST(ConfigWebhookUrl, OtherSchemesAndMissingSchemes) {
  const std::string ftp = error_for("ftp://hooks.example.com/x");
  EXPECT_THAT(ftp, StartsWith("approvals.webhook_url: must start with http://"));
  EXPECT_THAT(ftp, HasSubstr("\"ftp\""));
  EXPECT_THAT(ftp, Not(HasSubstr("https")));  // never suggest what this build cannot do
  EXPECT_THAT(error_for("hooks.example.com/x"),
              StartsWith("approvals.webhook_url: must be an http:// URL"));
}

TEST(ConfigWebhookUrl, HostIsRequired) {
  for (const char* url : {"http://", "http:///hook", "http://:8080/hook", "http://?x=1"}) {
    EXPECT_THAT(error_for(url), StartsWith("approvals.webhook_url: must name a host")) << url;
  }
  EXPECT_THAT(error_for("http://bad..name/x"),
              StartsWith("approvals.webhook_url: host must be a DNS name"));
  EXPECT_THAT(error_for("http://[zz::1]/x"),
              StartsWith("approvals.webhook_url: host must be a valid IPv6 literal"));
}

TEST(ConfigWebhookUrl, BadPorts) {
  for (const char* url : {"http://h:0/x", "http://h:65536/x", "http://h:http/x", "http://h:/x",
                          "http://h:-1/x", "http://h:80x/x"}) {
    EXPECT_EQ(error_for(url), "approvals.webhook_url: port must be an integer from 1 to 65535")
        << url;
  }
}

TEST(ConfigWebhookUrl, UserinfoFragmentAndSpaces) {
  const std::string userinfo = error_for("http://alice:s3cr3t-pw@hooks.internal/x");
  EXPECT_THAT(userinfo, StartsWith("approvals.webhook_url: must not contain userinfo"));
  EXPECT_THAT(userinfo, Not(HasSubstr("s3cr3t-pw")));
  EXPECT_EQ(error_for("http://hooks.internal/x#frag"),
            "approvals.webhook_url: must not have a fragment");
  EXPECT_THAT(error_for("http://hooks.internal/a b"),
              StartsWith("approvals.webhook_url: must not contain spaces"));
  EXPECT_EQ(error_for(""), "approvals.webhook_url: must be a non-empty string");
}

}  // namespace
}  // namespace clawgate::config

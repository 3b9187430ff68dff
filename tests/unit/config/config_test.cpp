// Unit tests for the config loader (SPEC §3): defaults, every class of error, path resolution and
// that no message ever carries a secret.

#include "clawgate/config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "clawgate/core/crypto.hpp"

namespace clawgate::config {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Distinctive secret values: no error message may ever contain them.
constexpr const char* kToken = "TOKEN-VALUE-d0n7-l34k-m3-9b1f";
constexpr const char* kHmacKey = "HMAC-KEY-VALUE-n3v3r-pr1n7-4c2e";

// Deterministic environment for the EnvLookup seam.
std::map<std::string, std::string>& fake_env_map() {
  static std::map<std::string, std::string> m;
  return m;
}

std::optional<std::string> fake_env(const char* name) {
  auto it = fake_env_map().find(name);
  if (it == fake_env_map().end()) return std::nullopt;
  return it->second;
}

const std::string kDigestA(64, 'a');
const std::string kDigestB(64, 'b');
const std::string kDigestC(64, 'c');

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_env_map() = {{"OPENCLAW_GATEWAY_TOKEN", kToken}, {"CLAWGATE_AUDIT_KEY", kHmacKey}};
    char tmpl[] = "/tmp/clawgate-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A minimal valid document; tests add or break one thing at a time.
  static json base() { return json{{"upstream", {{"url", "http://127.0.0.1:18789"}}}}; }

  std::variant<Config, LoadError> parse(const json& doc) const {
    return parse_config(doc.dump(), dir_, &fake_env);
  }
  std::variant<Config, LoadError> parse_text(const std::string& text) const {
    return parse_config(text, dir_, &fake_env);
  }

  Config ok(const json& doc) const {
    auto r = parse(doc);
    if (auto* e = std::get_if<LoadError>(&r)) {
      ADD_FAILURE() << "unexpected error: " << e->message;
      return Config{};
    }
    return std::get<Config>(r);
  }

  std::string err(const json& doc) const { return err_text(doc.dump()); }

  std::string err_text(const std::string& text) const {
    auto r = parse_text(text);
    if (std::holds_alternative<Config>(r)) {
      ADD_FAILURE() << "expected an error for: " << text;
      return "";
    }
    const std::string msg = std::get<LoadError>(r).message;
    // Global invariant checked on every error this suite produces.
    EXPECT_THAT(msg, ::testing::Not(HasSubstr(kToken)));
    EXPECT_THAT(msg, ::testing::Not(HasSubstr(kHmacKey)));
    return msg;
  }

  // base() with doc[path...] = value, for one-key error tests.
  static json with(const std::string& section, const std::string& key, const json& value) {
    json doc = base();
    if (section.empty()) {
      doc[key] = value;
    } else {
      if (!doc.contains(section)) doc[section] = json::object();
      doc[section][key] = value;
    }
    return doc;
  }

  std::string write_file(const std::string& name, const std::string& content) const {
    const fs::path p = fs::path(dir_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }

  std::string dir_;
};

// ---- defaults and a full document
// ----------------------------------------------------------------

TEST_F(ConfigTest, DefaultsWhenKeysAreAbsent) {
  const Config c = ok(base());
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 18790);
  ASSERT_TRUE(c.admin_listen.has_value());
  EXPECT_EQ(c.admin_listen->to_string(), "127.0.0.1:18791");
  EXPECT_FALSE(c.tls.has_value());
  EXPECT_EQ(c.upstream.url, "http://127.0.0.1:18789");
  EXPECT_FALSE(c.upstream.https);
  EXPECT_EQ(c.upstream.host, "127.0.0.1");
  EXPECT_EQ(c.upstream.port, 18789);
  EXPECT_EQ(c.upstream.token_env, "OPENCLAW_GATEWAY_TOKEN");
  EXPECT_EQ(c.upstream.token, kToken);
  EXPECT_EQ(c.upstream.connect_timeout, Millis{2000});
  EXPECT_EQ(c.upstream.timeout, Millis{180000});
  EXPECT_EQ(c.upstream.stream_idle_timeout, Millis{180000});
  EXPECT_EQ(c.upstream.probe_path, "/readyz");
  EXPECT_EQ(c.upstream.probe_interval, Millis{5000});
  EXPECT_EQ(c.upstream.max_connections, 256U);
  EXPECT_TRUE(c.upstream.serialize_sessions);
  EXPECT_FALSE(c.upstream.ca_file.has_value());
  EXPECT_TRUE(c.upstream.verify_tls);
  EXPECT_TRUE(c.clients.empty());
  EXPECT_TRUE(c.admins.empty());
  EXPECT_EQ(c.policy_file, (fs::path(dir_) / "policies/default.json").string());
  EXPECT_EQ(c.audit.file, (fs::path(dir_) / "var/audit/clawgate.jsonl").string());
  EXPECT_EQ(c.audit.fsync, FsyncMode::always);
  EXPECT_EQ(c.audit.hmac_key_env, "CLAWGATE_AUDIT_KEY");
  EXPECT_EQ(c.audit.hmac_key, kHmacKey);
  EXPECT_TRUE(c.audit.include_bodies);
  EXPECT_EQ(c.audit.preview_chars, 500U);
  EXPECT_EQ(c.audit.rotate_bytes, 104857600U);
  EXPECT_EQ(c.approvals.ttl_s, 900);
  EXPECT_EQ(c.approvals.hold_s, 0);
  EXPECT_EQ(c.approvals.state_file, (fs::path(dir_) / "var/approvals.jsonl").string());
  EXPECT_FALSE(c.approvals.webhook_url.has_value());
  EXPECT_EQ(c.limits.max_body_bytes, 2097152U);
  EXPECT_EQ(c.limits.max_response_bytes, 16777216U);
  EXPECT_EQ(c.limits.max_header_bytes, 16384U);
  EXPECT_EQ(c.limits.header_timeout, Millis{10000});
  EXPECT_EQ(c.limits.idle_timeout, Millis{60000});
  EXPECT_EQ(c.limits.max_connections, 10000U);
  EXPECT_EQ(c.limits.drain_timeout, Millis{10000});
  EXPECT_EQ(c.threads, 0U);
}

TEST_F(ConfigTest, SpecExampleLoadsWithEveryValue) {
  fake_env_map()["MY_TOKEN"] = kToken;
  fake_env_map()["MY_KEY"] = kHmacKey;
  const std::string cert = write_file("tls/cert.pem", "cert");
  const std::string key = write_file("tls/key.pem", "key");
  const std::string ca = write_file("ca.pem", "ca");
  const json doc = json::parse(R"({
    "listen": "127.0.0.1:28790",
    "tls": {"cert_file": "tls/cert.pem", "key_file": "tls/key.pem"},
    "admin_listen": "[::1]:28791",
    "upstream": {"url": "https://gateway.example.com:8443/", "token_env": "MY_TOKEN",
                 "connect_timeout_ms": 1000, "timeout_ms": 2000, "stream_idle_timeout_ms": 3000,
                 "probe_path": "/healthz", "probe_interval_ms": 4000, "max_connections": 5,
                 "serialize_sessions": false, "ca_file": "ca.pem", "verify_tls": false},
    "clients": [{"id": "employee-001", "token_sha256": ")" +
                               std::string(64, 'A') + R"(",
                 "roles": ["employee", "finance"]},
                {"id": "bot", "token_sha256": ")" +
                               kDigestB + R"("}],
    "admins": [{"id": "manager-1", "token_sha256": ")" +
                               kDigestC + R"("}],
    "policy_file": "/etc/clawgate/policy.json",
    "audit": {"file": "logs/audit.jsonl", "fsync": "batch", "hmac_key_env": "MY_KEY",
              "include_bodies": false, "preview_chars": 0, "rotate_bytes": 0},
    "approvals": {"ttl_s": 60, "hold_s": 30, "state_file": "state/approvals.jsonl",
                  "webhook_url": "http://hooks.example.com/clawgate?x=1"},
    "limits": {"max_body_bytes": 1, "max_response_bytes": 2, "max_header_bytes": 1024,
               "header_timeout_ms": 3, "idle_timeout_ms": 4, "max_connections": 5,
               "drain_timeout_ms": 6},
    "threads": 256
  })");
  const Config c = ok(doc);
  EXPECT_EQ(c.listen.to_string(), "127.0.0.1:28790");
  ASSERT_TRUE(c.tls.has_value());
  EXPECT_EQ(c.tls->cert_file, cert);
  EXPECT_EQ(c.tls->key_file, key);
  ASSERT_TRUE(c.admin_listen.has_value());
  EXPECT_EQ(c.admin_listen->host, "::1");
  EXPECT_EQ(c.admin_listen->to_string(), "[::1]:28791");
  EXPECT_TRUE(c.upstream.https);
  EXPECT_EQ(c.upstream.url, "https://gateway.example.com:8443/");
  EXPECT_EQ(c.upstream.host, "gateway.example.com");
  EXPECT_EQ(c.upstream.port, 8443);
  EXPECT_EQ(c.upstream.host_port(), "gateway.example.com:8443");
  EXPECT_EQ(c.upstream.token_env, "MY_TOKEN");
  EXPECT_EQ(c.upstream.token, kToken);
  EXPECT_EQ(c.upstream.connect_timeout, Millis{1000});
  EXPECT_EQ(c.upstream.timeout, Millis{2000});
  EXPECT_EQ(c.upstream.stream_idle_timeout, Millis{3000});
  EXPECT_EQ(c.upstream.probe_path, "/healthz");
  EXPECT_EQ(c.upstream.probe_interval, Millis{4000});
  EXPECT_EQ(c.upstream.max_connections, 5U);
  EXPECT_FALSE(c.upstream.serialize_sessions);
  EXPECT_EQ(c.upstream.ca_file, ca);
  EXPECT_FALSE(c.upstream.verify_tls);
  ASSERT_EQ(c.clients.size(), 2U);
  EXPECT_EQ(c.clients[0].id, "employee-001");
  EXPECT_EQ(c.clients[0].token_sha256, kDigestA);  // normalised to lower case
  EXPECT_EQ(c.clients[0].roles, (std::vector<std::string>{"employee", "finance"}));
  EXPECT_TRUE(c.clients[1].roles.empty());
  ASSERT_EQ(c.admins.size(), 1U);
  EXPECT_EQ(c.admins[0].id, "manager-1");
  EXPECT_EQ(c.admins[0].token_sha256, kDigestC);
  EXPECT_EQ(c.policy_file, "/etc/clawgate/policy.json");
  EXPECT_EQ(c.audit.file, (fs::path(dir_) / "logs/audit.jsonl").string());
  EXPECT_EQ(c.audit.fsync, FsyncMode::batch);
  EXPECT_EQ(c.audit.hmac_key_env, "MY_KEY");
  EXPECT_EQ(c.audit.hmac_key, kHmacKey);
  EXPECT_FALSE(c.audit.include_bodies);
  EXPECT_EQ(c.audit.preview_chars, 0U);
  EXPECT_EQ(c.audit.rotate_bytes, 0U);
  EXPECT_EQ(c.approvals.ttl_s, 60);
  EXPECT_EQ(c.approvals.hold_s, 30);
  EXPECT_EQ(c.approvals.state_file, (fs::path(dir_) / "state/approvals.jsonl").string());
  EXPECT_EQ(c.approvals.webhook_url, "http://hooks.example.com/clawgate?x=1");
  EXPECT_EQ(c.limits.max_body_bytes, 1U);
  EXPECT_EQ(c.limits.max_response_bytes, 2U);
  EXPECT_EQ(c.limits.max_header_bytes, 1024U);
  EXPECT_EQ(c.limits.header_timeout, Millis{3});
  EXPECT_EQ(c.limits.idle_timeout, Millis{4});
  EXPECT_EQ(c.limits.max_connections, 5U);
  EXPECT_EQ(c.limits.drain_timeout, Millis{6});
  EXPECT_EQ(c.threads, 256U);
}

TEST_F(ConfigTest, Sha256IsOverTheExactText) {
  const std::string text = base().dump(2) + "\n";
  auto r = parse_text(text);
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).config_sha256, core::sha256_hex(text));
  EXPECT_TRUE(std::get<Config>(r).source_path.empty());  // set by load_config only
}

// ---- document-level errors
// -----------------------------------------------------------------------

TEST_F(ConfigTest, TopLevelMustBeAnObject) {
  EXPECT_THAT(err_text("[]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(err_text("null"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(err_text("\"listen\""), HasSubstr("must be a JSON object"));
}

TEST_F(ConfigTest, InvalidJsonIsAnError) {
  EXPECT_THAT(err_text("{"), StartsWith("config: invalid JSON"));
  EXPECT_THAT(err_text(""), StartsWith("config: invalid JSON"));
  EXPECT_THAT(err_text(base().dump() + " x"), StartsWith("config: invalid JSON"));
}

TEST_F(ConfigTest, DuplicateKeysAreRefused) {
  EXPECT_THAT(err_text(R"({"upstream":{"url":"http://127.0.0.1:1"},"threads":1,"threads":2})"),
              HasSubstr("duplicate"));
  EXPECT_THAT(err_text(R"({"upstream":{"url":"http://127.0.0.1:1","url":"http://10.0.0.1:1"}})"),
              HasSubstr("duplicate"));
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  EXPECT_EQ(err(with("", "listne", "127.0.0.1:1")), "listne: unknown key");
}

TEST_F(ConfigTest, UnknownNestedKeysNameTheFullPath) {
  EXPECT_EQ(err(with("upstream", "timeot_ms", 5)), "upstream.timeot_ms: unknown key");
  EXPECT_EQ(err(with("audit", "hmac_key", "x")), "audit.hmac_key: unknown key");
  EXPECT_EQ(err(with("approvals", "ttl", 5)), "approvals.ttl: unknown key");
  EXPECT_EQ(err(with("limits", "max_body", 5)), "limits.max_body: unknown key");
  EXPECT_EQ(err(with("", "tls", json{{"cert_file", "a"}, {"key_file", "b"}, {"ca", "c"}})),
            "tls.ca: unknown key");
  json doc = base();
  doc["clients"] = json::array({{{"id", "a"}, {"token_sha256", kDigestA}},
                                {{"id", "b"}, {"token_sha256", kDigestB}, {"role", "x"}}});
  EXPECT_EQ(err(doc), "clients[1].role: unknown key");
  doc = base();
  doc["admins"] =
      json::array({{{"id", "a"}, {"token_sha256", kDigestA}, {"roles", json::array()}}});
  EXPECT_EQ(err(doc), "admins[0].roles: unknown key");
}

// ---- wrong JSON types
// ----------------------------------------------------------------------------

TEST_F(ConfigTest, WrongTypesNameTheKey) {
  EXPECT_EQ(err(with("", "listen", 18790)), "listen: must be a string");
  EXPECT_EQ(err(with("", "admin_listen", 1)), "admin_listen: must be a string or null");
  EXPECT_EQ(err(with("", "tls", "yes")), "tls: must be an object or null");
  EXPECT_EQ(err(with("", "clients", json::object())), "clients: must be an array");
  EXPECT_EQ(err(with("", "admins", "x")), "admins: must be an array");
  EXPECT_EQ(err(with("", "policy_file", 3)), "policy_file: must be a non-empty string");
  EXPECT_EQ(err(with("", "audit", json::array())), "audit: must be an object");
  EXPECT_EQ(err(with("", "approvals", nullptr)), "approvals: must be an object");
  EXPECT_EQ(err(with("", "limits", 1)), "limits: must be an object");
  EXPECT_EQ(err(with("upstream", "verify_tls", "yes")), "upstream.verify_tls: must be a boolean");
  EXPECT_EQ(err(with("upstream", "serialize_sessions", 1)),
            "upstream.serialize_sessions: must be a boolean");
  EXPECT_EQ(err(with("upstream", "ca_file", 1)), "upstream.ca_file: must be a string or null");
  EXPECT_EQ(err(with("upstream", "url", 1)), "upstream.url: must be a non-empty string");
  EXPECT_EQ(err(with("audit", "include_bodies", "true")),
            "audit.include_bodies: must be a boolean");
  EXPECT_EQ(err(with("audit", "hmac_key_env", 1)), "audit.hmac_key_env: must be a string or null");
  EXPECT_EQ(err(with("approvals", "webhook_url", 1)),
            "approvals.webhook_url: must be a string or null");
  json doc = base();
  doc["upstream"] = "http://127.0.0.1:1";
  EXPECT_EQ(err(doc), "upstream: must be an object");
  doc = base();
  doc["clients"] = json::array({"employee"});
  EXPECT_EQ(err(doc), "clients[0]: must be an object");
  doc = base();
  doc["clients"] = json::array({{{"id", "a"}, {"token_sha256", kDigestA}, {"roles", "employee"}}});
  EXPECT_EQ(err(doc), "clients[0].roles: must be an array of strings");
  doc["clients"][0]["roles"] = json::array({"employee", ""});
  EXPECT_EQ(err(doc), "clients[0].roles[1]: must be a non-empty string");
  doc["clients"][0]["roles"] = json::array({"employee", 5});
  EXPECT_EQ(err(doc), "clients[0].roles[1]: must be a non-empty string");
}

// ---- integers
// ------------------------------------------------------------------------------------

TEST_F(ConfigTest, IntegersRejectFloatsBooleansStringsAndNegatives) {
  EXPECT_EQ(err_text(R"({"upstream":{"url":"http://127.0.0.1:1","timeout_ms":1.5}})"),
            "upstream.timeout_ms: must be an integer from 1 to 2147483647");
  EXPECT_THAT(err_text(R"({"upstream":{"url":"http://127.0.0.1:1","timeout_ms":1.0}})"),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_THAT(err_text(R"({"upstream":{"url":"http://127.0.0.1:1","timeout_ms":1e3}})"),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_THAT(err(with("upstream", "timeout_ms", true)),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_THAT(err(with("upstream", "timeout_ms", "1000")),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_THAT(err(with("upstream", "timeout_ms", nullptr)),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_THAT(err(with("upstream", "timeout_ms", -1)),
              StartsWith("upstream.timeout_ms: must be an integer"));
  EXPECT_EQ(err(with("audit", "preview_chars", -1)),
            "audit.preview_chars: must be an integer >= 0");
  EXPECT_EQ(err(with("approvals", "hold_s", -5)),
            "approvals.hold_s: must be an integer from 0 to 2147483647");
}

TEST_F(ConfigTest, IntegersThatOverflowTheFieldAreErrors) {
  EXPECT_THAT(err(with("upstream", "timeout_ms", 4294967296LL)),
              StartsWith("upstream.timeout_ms: must be an integer from 1 to"));
  EXPECT_THAT(err(with("", "threads", 4294967297LL)), StartsWith("threads: must be an integer"));
  EXPECT_THAT(err(with("approvals", "ttl_s", 9223372036854775807LL)),
              StartsWith("approvals.ttl_s: must be an integer"));
  // Beyond 64 bits nlohmann yields a double; still an integer error, and says why.
  EXPECT_EQ(err_text(R"({"upstream":{"url":"http://127.0.0.1:1"},"limits":{"max_body_bytes":)"
                     R"(99999999999999999999999}})"),
            "limits.max_body_bytes: must be an integer >= 1 (the number is too large)");
  // The largest 64-bit value is fine for a size.
  const Config c = ok(with("limits", "max_response_bytes", 18446744073709551615ULL));
  EXPECT_EQ(c.limits.max_response_bytes, 18446744073709551615ULL);
}

TEST_F(ConfigTest, TimeoutsMustBeAtLeastOneMillisecond) {
  for (const char* k :
       {"connect_timeout_ms", "timeout_ms", "stream_idle_timeout_ms", "probe_interval_ms"}) {
    EXPECT_EQ(err(with("upstream", k, 0)),
              std::string("upstream.") + k + ": must be an integer from 1 to 2147483647");
    EXPECT_EQ(ok(with("upstream", k, 1)).upstream.max_connections, 256U);
  }
  for (const char* k : {"header_timeout_ms", "idle_timeout_ms", "drain_timeout_ms"}) {
    EXPECT_EQ(err(with("limits", k, 0)),
              std::string("limits.") + k + ": must be an integer from 1 to 2147483647");
  }
  EXPECT_EQ(ok(with("limits", "drain_timeout_ms", 1)).limits.drain_timeout, Millis{1});
  EXPECT_EQ(ok(with("upstream", "timeout_ms", 2147483647)).upstream.timeout, Millis{2147483647});
}

TEST_F(ConfigTest, SizeAndCountRanges) {
  EXPECT_EQ(err(with("upstream", "max_connections", 0)),
            "upstream.max_connections: must be an integer >= 1");
  EXPECT_EQ(err(with("limits", "max_connections", 0)),
            "limits.max_connections: must be an integer >= 1");
  EXPECT_EQ(err(with("limits", "max_body_bytes", 0)),
            "limits.max_body_bytes: must be an integer >= 1");
  EXPECT_EQ(err(with("limits", "max_response_bytes", 0)),
            "limits.max_response_bytes: must be an integer >= 1");
  EXPECT_EQ(err(with("limits", "max_header_bytes", 1023)),
            "limits.max_header_bytes: must be an integer >= 1024");
  EXPECT_EQ(ok(with("limits", "max_header_bytes", 1024)).limits.max_header_bytes, 1024U);
  EXPECT_EQ(err(with("", "threads", 257)), "threads: must be an integer from 0 to 256");
  EXPECT_EQ(err(with("", "threads", -1)), "threads: must be an integer from 0 to 256");
  EXPECT_EQ(ok(with("", "threads", 0)).threads, 0U);
  EXPECT_EQ(ok(with("", "threads", 8)).threads, 8U);
}

TEST_F(ConfigTest, RotateBytesIsZeroOrAtLeast64KiB) {
  EXPECT_EQ(err(with("audit", "rotate_bytes", 1)),
            "audit.rotate_bytes: must be 0 (no rotation) or an integer >= 65536");
  EXPECT_EQ(err(with("audit", "rotate_bytes", 65535)),
            "audit.rotate_bytes: must be 0 (no rotation) or an integer >= 65536");
  EXPECT_EQ(ok(with("audit", "rotate_bytes", 0)).audit.rotate_bytes, 0U);
  EXPECT_EQ(ok(with("audit", "rotate_bytes", 65536)).audit.rotate_bytes, 65536U);
  EXPECT_THAT(err(with("audit", "rotate_bytes", -65536)),
              StartsWith("audit.rotate_bytes: must be an integer"));
}

TEST_F(ConfigTest, ApprovalRanges) {
  EXPECT_EQ(err(with("approvals", "ttl_s", 0)),
            "approvals.ttl_s: must be an integer from 1 to 2147483647");
  EXPECT_EQ(ok(with("approvals", "ttl_s", 1)).approvals.ttl_s, 1);
  EXPECT_EQ(ok(with("approvals", "hold_s", 0)).approvals.hold_s, 0);
}

// ---- listen addresses
// ----------------------------------------------------------------------------

TEST_F(ConfigTest, ListenAcceptsIpLiterals) {
  Config c = ok(with("", "listen", "0.0.0.0:0"));
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 0);
  c = ok(with("", "listen", "[::1]:18790"));
  EXPECT_EQ(c.listen.host, "::1");
  EXPECT_EQ(c.listen.to_string(), "[::1]:18790");
  c = ok(with("", "listen", "[0:0:0:0:0:0:0:1]:65535"));
  EXPECT_EQ(c.listen.host, "::1");  // canonical form
  EXPECT_EQ(c.listen.port, 65535);
  c = ok(with("", "listen", "10.1.2.3:80"));
  EXPECT_EQ(c.listen.to_string(), "10.1.2.3:80");
}

TEST_F(ConfigTest, ListenRejectsBadForms) {
  for (const char* bad : {"127.0.0.1",    "localhost:80",   "1.2.3.4:99999",
                          "[::1]",        "::1:80",         "127.1:80",
                          "01.2.3.4:80",  "0x7f.0.0.1:80",  ":80",
                          "1.2.3.4:",     "1.2.3.4:-1",     "1.2.3.4:+80",
                          "[::1]80",      "[::1:80",        " 1.2.3.4:80",
                          "1.2.3.4:80 ",  "1.2.3.4:8o",     "[fe80::1%eth0]:80",
                          "[1.2.3.4]:80", "1.2.3.4:123456", ""}) {
    const std::string msg = err(with("", "listen", bad));
    EXPECT_THAT(msg, StartsWith("listen: ")) << bad;
    EXPECT_THAT(msg, HasSubstr("host:port")) << bad;
  }
  EXPECT_THAT(err(with("", "listen", "1.2.3.4:99999")), HasSubstr("port must be"));
  EXPECT_THAT(err(with("", "listen", "localhost:80")), HasSubstr("IPv4 literal"));
  EXPECT_THAT(err(with("", "listen", "[::1]")), HasSubstr("missing port"));
  EXPECT_THAT(err(with("", "admin_listen", "127.0.0.1")), StartsWith("admin_listen: "));
}

TEST_F(ConfigTest, AdminListenMayBeDisabled) {
  const Config c = ok(with("", "admin_listen", nullptr));
  EXPECT_FALSE(c.admin_listen.has_value());
}

TEST_F(ConfigTest, AdminListenMustDifferFromListen) {
  json doc = with("", "listen", "127.0.0.1:9000");
  doc["admin_listen"] = "127.0.0.1:9000";
  EXPECT_THAT(err(doc), StartsWith("admin_listen: must differ from listen"));
  doc["listen"] = "[::1]:9000";
  doc["admin_listen"] = "[0::1]:9000";
  EXPECT_THAT(err(doc), StartsWith("admin_listen: must differ from listen"));
  // A wildcard on the same port overlaps every address.
  doc["listen"] = "0.0.0.0:9000";
  doc["admin_listen"] = "127.0.0.1:9000";
  EXPECT_THAT(err(doc), StartsWith("admin_listen: must differ from listen"));
  // Port 0 asks the kernel for two different ports: fine.
  doc["listen"] = "127.0.0.1:0";
  doc["admin_listen"] = "127.0.0.1:0";
  EXPECT_EQ(ok(doc).admin_listen->port, 0);
  doc["listen"] = "127.0.0.1:9000";
  doc["admin_listen"] = "127.0.0.2:9000";
  EXPECT_EQ(ok(doc).admin_listen->to_string(), "127.0.0.2:9000");
}

// ---- upstream
// ------------------------------------------------------------------------------------

TEST_F(ConfigTest, UpstreamUrlForms) {
  Config c = ok(with("upstream", "url", "http://gateway"));
  EXPECT_EQ(c.upstream.port, 80);
  EXPECT_FALSE(c.upstream.https);
  c = ok(with("upstream", "url", "https://gateway.internal/"));
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_TRUE(c.upstream.https);
  EXPECT_EQ(c.upstream.host_port(), "gateway.internal:443");
  c = ok(with("upstream", "url", "http://[::1]:18789"));
  EXPECT_EQ(c.upstream.host, "::1");
  EXPECT_EQ(c.upstream.port, 18789);
  EXPECT_EQ(c.upstream.host_port(), "[::1]:18789");
  c = ok(with("upstream", "url", "HTTP://GateWay.Example.COM:8080"));
  EXPECT_EQ(c.upstream.host, "gateway.example.com");
  EXPECT_EQ(c.upstream.url, "HTTP://GateWay.Example.COM:8080");      // as written
  c = ok(with("upstream", "url", "http://openclaw_gateway:18789"));  // container names
  EXPECT_EQ(c.upstream.host, "openclaw_gateway");
}

TEST_F(ConfigTest, UpstreamUrlErrors) {
  const auto e = [this](const char* url) { return err(with("upstream", "url", url)); };
  EXPECT_THAT(e("ftp://127.0.0.1"),
              StartsWith("upstream.url: must start with http:// or https://"));
  EXPECT_THAT(e("127.0.0.1:18789"), StartsWith("upstream.url: must start with http://"));
  EXPECT_THAT(e("http://user:pass@127.0.0.1:1"),
              StartsWith("upstream.url: must not contain userinfo"));
  EXPECT_THAT(e("http://user@127.0.0.1"), HasSubstr("userinfo"));
  EXPECT_THAT(e("http://127.0.0.1:1/api"),
              StartsWith("upstream.url: a path prefix is not supported"));
  EXPECT_THAT(e("http://127.0.0.1:1//"), HasSubstr("a path prefix is not supported"));
  EXPECT_THAT(e("http://127.0.0.1:1/?a=b"), StartsWith("upstream.url: must not have a query"));
  EXPECT_THAT(e("http://127.0.0.1:1?a=b"), StartsWith("upstream.url: must not have a query"));
  EXPECT_THAT(e("http://127.0.0.1:1#frag"), StartsWith("upstream.url: must not have a query"));
  EXPECT_THAT(e("http://127.0.0.1:0"), HasSubstr("port must be an integer from 1 to 65535"));
  EXPECT_THAT(e("http://127.0.0.1:70000"), HasSubstr("port must be"));
  EXPECT_THAT(e("http://127.0.0.1:"), HasSubstr("port must be"));
  EXPECT_THAT(e("http://127.0.0.1:8o"), HasSubstr("port must be"));
  EXPECT_THAT(e("http://"), HasSubstr("must name a host"));
  EXPECT_THAT(e("http://:80"), HasSubstr("must name a host"));
  EXPECT_THAT(e("http://[::1"), HasSubstr("IPv6"));
  EXPECT_THAT(e("http://[nothex]:80"), HasSubstr("IPv6"));
  EXPECT_THAT(e("http://127.1"), HasSubstr("host must be"));  // inet_aton shorthand
  EXPECT_THAT(e("http://1.2.3.256"), HasSubstr("host must be"));
  EXPECT_THAT(e("http://-bad-.example"), HasSubstr("host must be"));
  EXPECT_THAT(e("http://a..b"), HasSubstr("host must be"));
  EXPECT_THAT(e("http://gate way"), HasSubstr("must not contain spaces"));
  EXPECT_THAT(e("http://gate\r\nway"), HasSubstr("must not contain spaces"));
  EXPECT_THAT(e(""), StartsWith("upstream.url: must be a non-empty string"));
  EXPECT_EQ(err(json::object()),
            "upstream.url: required (the gateway's address, e.g. "
            "\"http://127.0.0.1:18789\")");
}

TEST_F(ConfigTest, UpstreamOtherFields) {
  EXPECT_EQ(err(with("upstream", "probe_path", "readyz")),
            "upstream.probe_path: must be a path starting with '/' without spaces, control "
            "characters or '#'");
  EXPECT_THAT(err(with("upstream", "probe_path", "/ready z")), StartsWith("upstream.probe_path:"));
  EXPECT_THAT(err(with("upstream", "probe_path", "/r\r\nX: y")),
              StartsWith("upstream.probe_path:"));
  EXPECT_THAT(err(with("upstream", "probe_path", "")), StartsWith("upstream.probe_path:"));
  EXPECT_EQ(ok(with("upstream", "probe_path", "/")).upstream.probe_path, "/");
  EXPECT_EQ(err(with("upstream", "token_env", "")),
            "upstream.token_env: must be a non-empty string");
  EXPECT_THAT(err(with("upstream", "token_env", "A=B")), StartsWith("upstream.token_env:"));
  // verify_tls false with http is pointless but allowed.
  EXPECT_FALSE(ok(with("upstream", "verify_tls", false)).upstream.verify_tls);
  EXPECT_FALSE(ok(with("upstream", "ca_file", nullptr)).upstream.ca_file.has_value());
}

TEST_F(ConfigTest, MissingTokenVariableNamesItButNotAValue) {
  fake_env_map().erase("OPENCLAW_GATEWAY_TOKEN");
  EXPECT_EQ(err(base()),
            "upstream.token_env: environment variable OPENCLAW_GATEWAY_TOKEN is not set");
  fake_env_map()["OPENCLAW_GATEWAY_TOKEN"] = "";
  EXPECT_EQ(err(base()),
            "upstream.token_env: environment variable OPENCLAW_GATEWAY_TOKEN is empty");
  fake_env_map()["OPENCLAW_GATEWAY_TOKEN"] = kToken;
  EXPECT_EQ(err(with("upstream", "token_env", "OTHER_TOKEN")),
            "upstream.token_env: environment variable OTHER_TOKEN is not set");
}

TEST_F(ConfigTest, TokenThatWouldBreakTheHeaderIsRefused) {
  for (const std::string bad : {std::string(kToken) + "\r\nX-Evil: 1", std::string(kToken) + "\n",
                                std::string(" ") + kToken, std::string(kToken) + "\x7f"}) {
    fake_env_map()["OPENCLAW_GATEWAY_TOKEN"] = bad;
    const std::string msg = err(base());
    EXPECT_THAT(msg, StartsWith("upstream.token_env: environment variable OPENCLAW_GATEWAY_TOKEN "
                                "holds characters not allowed"));
  }
}

TEST_F(ConfigTest, NullEnvLookupMeansNothingIsSet) {
  auto r = parse_config(base().dump(), dir_, nullptr);
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_THAT(std::get<LoadError>(r).message, HasSubstr("is not set"));
}

// ---- audit
// ---------------------------------------------------------------------------------------

TEST_F(ConfigTest, AuditHmacKey) {
  fake_env_map().erase("CLAWGATE_AUDIT_KEY");
  // The default names CLAWGATE_AUDIT_KEY: unset is an error, never a silent downgrade.
  EXPECT_EQ(err(base()), "audit.hmac_key_env: environment variable CLAWGATE_AUDIT_KEY is not set");
  EXPECT_EQ(err(with("audit", "hmac_key_env", "AUDIT_K")),
            "audit.hmac_key_env: environment variable AUDIT_K is not set");
  fake_env_map()["AUDIT_K"] = "";
  EXPECT_EQ(err(with("audit", "hmac_key_env", "AUDIT_K")),
            "audit.hmac_key_env: environment variable AUDIT_K is empty");
  EXPECT_EQ(err(with("audit", "hmac_key_env", "")),
            "audit.hmac_key_env: must be a non-empty string");
  const Config c = ok(with("audit", "hmac_key_env", nullptr));
  EXPECT_FALSE(c.audit.hmac_key_env.has_value());
  EXPECT_FALSE(c.audit.hmac_key.has_value());
  // Raw bytes of the key, any content.
  fake_env_map()["AUDIT_K"] = std::string("k\x01\xff y", 5);
  EXPECT_EQ(ok(with("audit", "hmac_key_env", "AUDIT_K")).audit.hmac_key,
            std::string("k\x01\xff y", 5));
}

TEST_F(ConfigTest, AuditFsyncModes) {
  EXPECT_EQ(ok(with("audit", "fsync", "always")).audit.fsync, FsyncMode::always);
  EXPECT_EQ(ok(with("audit", "fsync", "batch")).audit.fsync, FsyncMode::batch);
  EXPECT_EQ(ok(with("audit", "fsync", "never")).audit.fsync, FsyncMode::never);
  EXPECT_EQ(err(with("audit", "fsync", "sometimes")),
            "audit.fsync: must be \"always\", \"batch\" or \"never\"");
  EXPECT_EQ(err(with("audit", "fsync", "Always")),
            "audit.fsync: must be \"always\", \"batch\" or \"never\"");
  EXPECT_THAT(err(with("audit", "fsync", true)), StartsWith("audit.fsync: must be a string"));
}

TEST_F(ConfigTest, AuditFileMustBeNonEmpty) {
  EXPECT_EQ(err(with("audit", "file", "")), "audit.file: must be a non-empty string");
  EXPECT_THAT(err(with("audit", "file", std::string("a\0b", 3))),
              StartsWith("audit.file: must not contain a NUL"));
}

// ---- approvals
// -----------------------------------------------------------------------------------

TEST_F(ConfigTest, WebhookUrl) {
  EXPECT_EQ(ok(with("approvals", "webhook_url", "http://10.0.0.5:9000/hook")).approvals.webhook_url,
            "http://10.0.0.5:9000/hook");
  EXPECT_FALSE(ok(with("approvals", "webhook_url", nullptr)).approvals.webhook_url.has_value());
  EXPECT_THAT(err(with("approvals", "webhook_url", "ftp://x")),
              StartsWith("approvals.webhook_url: "));
  EXPECT_THAT(err(with("approvals", "webhook_url", "https://u:p@hooks.example.com/x")),
              StartsWith("approvals.webhook_url: must not contain userinfo"));
  EXPECT_THAT(err(with("approvals", "webhook_url", "https://hooks.example.com/x#y")),
              StartsWith("approvals.webhook_url: must not have a fragment"));
  EXPECT_THAT(err(with("approvals", "webhook_url", "")),
              StartsWith("approvals.webhook_url: must be a non-empty string"));
}

// ---- clients and admins
// --------------------------------------------------------------------------

TEST_F(ConfigTest, ClientEntries) {
  json doc = base();
  doc["clients"] = json::array({{{"id", "a"}, {"token_sha256", kDigestA}}});
  EXPECT_TRUE(ok(doc).clients[0].roles.empty());

  doc["clients"][0]["token_sha256"] = std::string(63, 'a');
  EXPECT_THAT(err(doc), StartsWith("clients[0].token_sha256: must be 64 hexadecimal digits"));
  doc["clients"][0]["token_sha256"] = std::string(63, 'a') + "g";
  EXPECT_THAT(err(doc), StartsWith("clients[0].token_sha256: must be 64 hexadecimal digits"));
  doc["clients"][0]["token_sha256"] = std::string(65, 'a');
  EXPECT_THAT(err(doc), StartsWith("clients[0].token_sha256: must be 64 hexadecimal digits"));
  doc["clients"][0]["token_sha256"] = 5;
  EXPECT_THAT(err(doc), StartsWith("clients[0].token_sha256: must be a string"));
  doc["clients"][0].erase("token_sha256");
  EXPECT_EQ(err(doc), "clients[0].token_sha256: required");

  doc["clients"] = json::array({{{"token_sha256", kDigestA}}});
  EXPECT_EQ(err(doc), "clients[0].id: required");
  doc["clients"][0]["id"] = "";
  EXPECT_EQ(err(doc), "clients[0].id: must be a non-empty string");
  doc["clients"][0]["id"] = "evil\nid";
  EXPECT_EQ(err(doc), "clients[0].id: must not contain control characters");
}

TEST_F(ConfigTest, DuplicateIdsWithinAList) {
  json doc = base();
  doc["clients"] = json::array(
      {{{"id", "a"}, {"token_sha256", kDigestA}}, {{"id", "a"}, {"token_sha256", kDigestB}}});
  EXPECT_EQ(err(doc), "clients[1].id: duplicate id \"a\" (also clients[0])");
  doc = base();
  doc["admins"] = json::array(
      {{{"id", "m"}, {"token_sha256", kDigestA}}, {{"id", "m"}, {"token_sha256", kDigestB}}});
  EXPECT_EQ(err(doc), "admins[1].id: duplicate id \"m\" (also admins[0])");
  // The two lists are separate namespaces.
  doc = base();
  doc["clients"] = json::array({{{"id", "x"}, {"token_sha256", kDigestA}}});
  doc["admins"] = json::array({{{"id", "x"}, {"token_sha256", kDigestB}}});
  EXPECT_EQ(ok(doc).admins[0].id, "x");
}

TEST_F(ConfigTest, DuplicateDigestsAnywhereAreAmbiguous) {
  json doc = base();
  doc["clients"] = json::array({{{"id", "a"}, {"token_sha256", kDigestA}},
                                {{"id", "b"}, {"token_sha256", std::string(64, 'A')}}});
  EXPECT_EQ(err(doc),
            "clients[1].token_sha256: the same token digest is already used by clients[0] "
            "(ambiguous identity)");
  doc = base();
  doc["clients"] = json::array({{{"id", "a"}, {"token_sha256", kDigestA}}});
  doc["admins"] = json::array({{{"id", "m"}, {"token_sha256", kDigestA}}});
  EXPECT_EQ(err(doc),
            "admins[0].token_sha256: the same token digest is already used by clients[0] "
            "(ambiguous identity)");
}

// ---- paths and files
// -----------------------------------------------------------------------------

TEST_F(ConfigTest, RelativePathsResolveAgainstBaseDir) {
  json doc = base();
  doc["policy_file"] = "../policies/./p.json";
  doc["audit"] = {{"file", "a/b/../audit.jsonl"}};
  doc["approvals"] = {{"state_file", "/var/lib/clawgate//approvals.jsonl"}};
  const Config c = ok(doc);
  EXPECT_EQ(c.policy_file, (fs::path(dir_).parent_path() / "policies/p.json").string());
  EXPECT_EQ(c.audit.file, (fs::path(dir_) / "a/audit.jsonl").string());
  EXPECT_EQ(c.approvals.state_file, "/var/lib/clawgate/approvals.jsonl");
}

TEST_F(ConfigTest, RelativeBaseDirBecomesAbsolute) {
  auto r = parse_config(base().dump(), "conf", &fake_env);
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  const Config& c = std::get<Config>(r);
  EXPECT_TRUE(fs::path(c.policy_file).is_absolute());
  EXPECT_EQ(c.policy_file, (fs::current_path() / "conf/policies/default.json").string());
  r = parse_config(base().dump(), "", &fake_env);
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).audit.file,
            (fs::current_path() / "var/audit/clawgate.jsonl").string());
}

TEST_F(ConfigTest, PolicyFileExistenceIsNotCheckedHere) {
  EXPECT_EQ(ok(with("", "policy_file", "nope/missing.json")).policy_file,
            (fs::path(dir_) / "nope/missing.json").string());
  EXPECT_EQ(err(with("", "policy_file", "")), "policy_file: must be a non-empty string");
}

TEST_F(ConfigTest, TlsFiles) {
  write_file("cert.pem", "c");
  write_file("key.pem", "k");
  json doc = with("", "tls", {{"cert_file", "cert.pem"}, {"key_file", "key.pem"}});
  EXPECT_EQ(ok(doc).tls->cert_file, (fs::path(dir_) / "cert.pem").string());
  EXPECT_FALSE(ok(with("", "tls", nullptr)).tls.has_value());

  doc["tls"]["cert_file"] = "missing.pem";
  EXPECT_EQ(err(doc), "tls.cert_file: cannot read " + (fs::path(dir_) / "missing.pem").string() +
                          ": No such file or directory");
  doc["tls"]["cert_file"] = ".";  // a folder is not a certificate
  EXPECT_THAT(err(doc), StartsWith("tls.cert_file: cannot read"));
  doc["tls"]["cert_file"] = "cert.pem";
  doc["tls"]["key_file"] = "nokey.pem";
  EXPECT_THAT(err(doc), StartsWith("tls.key_file: cannot read"));
  doc["tls"].erase("key_file");
  EXPECT_EQ(err(doc), "tls.key_file: required when tls is set");
  doc["tls"] = {{"key_file", "key.pem"}};
  EXPECT_EQ(err(doc), "tls.cert_file: required when tls is set");
  doc["tls"] = {{"cert_file", 1}, {"key_file", "key.pem"}};
  EXPECT_EQ(err(doc), "tls.cert_file: must be a non-empty string");
}

TEST_F(ConfigTest, CaFileMustExist) {
  const std::string ca = write_file("sub/ca.pem", "ca");
  EXPECT_EQ(ok(with("upstream", "ca_file", "sub/../sub/ca.pem")).upstream.ca_file, ca);
  EXPECT_EQ(ok(with("upstream", "ca_file", ca)).upstream.ca_file, ca);
  EXPECT_THAT(
      err(with("upstream", "ca_file", "sub/none.pem")),
      StartsWith("upstream.ca_file: cannot read " + (fs::path(dir_) / "sub/none.pem").string()));
}

// ---- load_config
// ---------------------------------------------------------------------------------

TEST_F(ConfigTest, LoadConfigReadsTheFileAndUsesItsFolder) {
  const std::string text = base().dump();
  const std::string path = write_file("etc/clawgate.json", text);
  auto r = load_config(path, &fake_env);
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<LoadError>(r).message;
  const Config& c = std::get<Config>(r);
  EXPECT_EQ(c.source_path, path);
  EXPECT_EQ(c.config_sha256, core::sha256_hex(text));
  EXPECT_EQ(c.policy_file, (fs::path(dir_) / "etc/policies/default.json").string());
}

TEST_F(ConfigTest, LoadConfigUnreadableFile) {
  const std::string path = dir_ + "/absent.json";
  auto r = load_config(path, &fake_env);
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_EQ(std::get<LoadError>(r).message,
            "cannot read config file " + path + ": No such file or directory");
  r = load_config(dir_, &fake_env);  // a folder
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_THAT(std::get<LoadError>(r).message, StartsWith("cannot read config file " + dir_ + ": "));
}

TEST_F(ConfigTest, LoadConfigErrorsKeepTheKeyPath) {
  const std::string path = write_file("bad.json", with("", "threads", 999).dump());
  auto r = load_config(path, &fake_env);
  ASSERT_TRUE(std::holds_alternative<LoadError>(r));
  EXPECT_EQ(std::get<LoadError>(r).message, "threads: must be an integer from 0 to 256");
}

// ---- small pieces
// --------------------------------------------------------------------------------

TEST(ConfigAddress, ToStringBracketsIpv6) {
  EXPECT_EQ((ListenAddress{"127.0.0.1", 80}).to_string(), "127.0.0.1:80");
  EXPECT_EQ((ListenAddress{"::", 0}).to_string(), "[::]:0");
  Upstream up;
  up.host = "fe80::1";
  up.port = 443;
  EXPECT_EQ(up.host_port(), "[fe80::1]:443");
  up.host = "gw";
  EXPECT_EQ(up.host_port(), "gw:443");
}

TEST(ConfigEnv, ProcessEnvWrapsGetenv) {
  ASSERT_EQ(::setenv("CLAWGATE_CONFIG_TEST_VAR", "v1", 1), 0);
  EXPECT_EQ(process_env("CLAWGATE_CONFIG_TEST_VAR"), "v1");
  ::unsetenv("CLAWGATE_CONFIG_TEST_VAR");
  EXPECT_FALSE(process_env("CLAWGATE_CONFIG_TEST_VAR").has_value());
  EXPECT_FALSE(process_env(nullptr).has_value());
}

// ---- secrets never leak
// --------------------------------------------------------------------------

TEST_F(ConfigTest, NoErrorMessageEverContainsASecret) {
  // err() asserts the invariant on every message in this suite; these configs are built to fail
  // right next to the secrets: bad variable names, bad values, failures after the token is read.
  for (const json& d : {with("", "threads", 1000), with("audit", "hmac_key_env", "UNSET_VAR"),
                        with("upstream", "token_env", "UNSET_VAR"), with("limits", "x", 1),
                        with("upstream", "url", "http://u:p@h"), with("audit", "fsync", "x"),
                        with("approvals", "webhook_url", "ftp://x")}) {
    (void)err(d);
  }
  // The variable's value is never echoed, even when it is the reason for the refusal.
  for (const std::string bad :
       {std::string(kToken) + "\r\n", std::string(kToken) + "\x01", std::string(" ") + kToken}) {
    fake_env_map()["OPENCLAW_GATEWAY_TOKEN"] = bad;
    (void)err(base());
  }
  // A secret value that happens to equal a variable name is still not a message ingredient.
  fake_env_map() = {{"OPENCLAW_GATEWAY_TOKEN", kToken}, {"CLAWGATE_AUDIT_KEY", kHmacKey}};
  (void)err(with("audit", "hmac_key_env", "NOT_SET_EITHER"));
}

TEST_F(ConfigTest, GarbageNeverThrows) {
  std::mt19937 rng(1234);  // fixed seed: reproducible
  const std::string alphabet =
      "{}[]\":,0123456789.-eE truefalsnul\\u\xff\x01"
      "abc";
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    const auto len = rng() % 64;
    for (std::size_t j = 0; j < len; ++j) text += alphabet[rng() % alphabet.size()];
    EXPECT_NO_THROW((void)parse_config(text, dir_, &fake_env));
  }
}

}  // namespace
}  // namespace clawgate::config

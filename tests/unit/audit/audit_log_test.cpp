#include "clawgate/audit/audit_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "clawgate/core/crypto.hpp"

namespace clawgate::audit {
namespace {

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/clawgate-audit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cfg_.file = dir_ + "/nested/audit.jsonl";
    cfg_.hmac_key_env = std::nullopt;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  config::Audit cfg_;
};

TEST(AuditCanonical, SortedKeysNoSpacesUtf8Unescaped) {
  const auto j = nlohmann::json::parse(R"({"b":1,"a":{"z":"é\n","y":[true,null]},"A":"x"})");
  EXPECT_EQ(canonical(j), "{\"A\":\"x\",\"a\":{\"y\":[true,null],\"z\":\"é\\n\"},\"b\":1}");
  EXPECT_EQ(canonical(nlohmann::json("\x01")), "\"\\u0001\"");
}

TEST(AuditCanonical, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(canonical(nlohmann::json(std::string("a\xff"
                                                 "b"))),
            "\"a\xef\xbf\xbd"
            "b\"");
}

// A secret in a key rebuilds the object (the key order may change): the slow path of the
// record's canonical data, which must redact as the fast one does.
TEST_F(AuditLogTest, SecretsVanishFromValuesAndKeys) {
  auto opened = open_jsonl_log(cfg_, {"gw-secret-123"});
  ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
  const auto log = std::get<AuditLogPtr>(opened);
  const nlohmann::json j = {{"a", "Bearer gw-secret-123 tail"},
                            {"gw-secret-123", 1},
                            {"list", {"x", "gw-secret-123gw-secret-123"}}};
  ASSERT_TRUE(log->append({"t", "decided", std::nullopt, "chat", j}, false));
  log->close();
  std::ifstream in(cfg_.file);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line.find("gw-secret-123"), std::string::npos) << line;
  const auto record = nlohmann::json::parse(line);
  EXPECT_EQ(canonical(record), line);
  EXPECT_EQ(record["data"]["a"], "Bearer [REDACTED] tail");
}

TEST_F(AuditLogTest, HoldsSecretFindsEachSecretAnywhere) {
  auto opened = open_jsonl_log(cfg_, {"gw-secret-123", "", "hmac-key-456"});
  ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
  const auto log = std::get<AuditLogPtr>(opened);
  EXPECT_TRUE(log->holds_secret("gw-secret-123"));
  EXPECT_TRUE(log->holds_secret(R"({"a":"x hmac-key-456 y"})"));
  EXPECT_FALSE(log->holds_secret(R"({"a":"gw-secret-12 hmac-key-45"})"));
  EXPECT_FALSE(log->holds_secret(""));  // an empty secret is no secret
  std::string s = "gw-secret-123 and hmac-key-456";
  log->redact(s);
  EXPECT_EQ(s, "[REDACTED] and [REDACTED]");
  log->close();
}

// A secret is searched for by its least common byte, then compared whole. Each secret is found
// wherever it starts, exactly (in its own case only), whichever of its bytes is the anchor: the
// first ("E"), the last ("7"), one in the middle ("Q"), the only one ("Z"), a non-ASCII one.
TEST_F(AuditLogTest, HoldsSecretFindsEachSecretAtEveryOffsetInItsOwnCaseOnly) {
  const std::vector<std::vector<std::string>> sets{
      {"Ek3-hmac-KEY", "gw-token-7"}, {"ek-Q-ey", "Z"}, {"\xc3\xa9t\xc3\xa9", "e-e"}};
  for (std::size_t k = 0; k < sets.size(); ++k) {
    const auto& secrets = sets[k];
    cfg_.file = dir_ + "/offsets" + std::to_string(k) + ".jsonl";
    auto opened = open_jsonl_log(cfg_, secrets);
    ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
    const auto log = std::get<AuditLogPtr>(opened);
    const std::string filler(100, 'e');  // the first byte of a secret, everywhere
    for (const auto& secret : secrets) {
      for (std::size_t at = 0; at + secret.size() <= filler.size(); ++at) {
        std::string text = filler;
        text.replace(at, secret.size(), secret);
        SCOPED_TRACE("set " + std::to_string(k) + ": " + secret + " at " + std::to_string(at));
        EXPECT_TRUE(log->holds_secret(text));
        log->redact(text);
        EXPECT_EQ(text.find(secret), std::string::npos);
        EXPECT_NE(text.find("[REDACTED]"), std::string::npos);
      }
    }
    // A near miss just before the secret: each of its bytes (so also the one it is searched
    // by) right in front of it.
    for (const auto& secret : secrets) {
      for (const char b : secret) {
        const std::string text = filler.substr(0, 10) + b + secret;
        SCOPED_TRACE("set " + std::to_string(k) + ": " + text);
        EXPECT_TRUE(log->holds_secret(text));
      }
    }
    EXPECT_FALSE(log->holds_secret(filler));
    // Another case of a secret is not the secret: neither found nor redacted.
    std::string other_case = "x ek3-HMAC-key GW-TOKEN-7 z";
    EXPECT_FALSE(log->holds_secret(other_case));
    log->redact(other_case);
    EXPECT_EQ(other_case, "x ek3-HMAC-key GW-TOKEN-7 z");
    log->close();
  }
}

TEST_F(AuditLogTest, ChainsRecordsAndResumesAfterReopen) {
  {
    auto opened = open_jsonl_log(cfg_, {"top-secret"});
    ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
    auto log = std::get<AuditLogPtr>(opened);
    EXPECT_TRUE(
        log->append({"t1", "received", std::nullopt, "chat", {{"body", "top-secret"}}}, false));
    EXPECT_TRUE(log->append({"t1", "decided", "alice", "chat", {{"decision", "allow"}}}, true));
  }
  {
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg_, {}));
    EXPECT_TRUE(log->append({"t2", "received", std::nullopt, "tools", {}}, false));
  }
  const auto lines = read_lines(cfg_.file);
  ASSERT_EQ(lines.size(), 3U);
  std::string prev(64, '0');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto r = lines[i];
    EXPECT_EQ(r["seq"], i + 1);
    EXPECT_EQ(r["prev"], prev);
    const std::string hash = r["hash"];
    r.erase("hash");
    EXPECT_EQ(core::sha256_hex(prev + "\n" + canonical(r)), hash) << "record " << i + 1;
    prev = hash;
  }
  EXPECT_EQ(lines[0]["identity"], nullptr);
  EXPECT_EQ(lines[1]["identity"], "alice");
  EXPECT_EQ(lines[0]["data"]["body"], "[REDACTED]");
}

TEST_F(AuditLogTest, RecordsCarryUtcMicrosecondTimestampsAndEscapedFields) {
  auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg_, {}));
  const auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(log->append({"t\"1", "received", std::string("al\nice\xff"), "ch\\at", {}}, false));
  const auto after = std::chrono::system_clock::now();
  std::ifstream in(cfg_.file);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  auto r = nlohmann::json::parse(line);
  EXPECT_EQ(r["trace_id"], "t\"1");
  EXPECT_EQ(r["identity"], "al\nice\xef\xbf\xbd");  // invalid UTF-8 replaced, as canonical() does
  EXPECT_EQ(r["route"], "ch\\at");
  // The line is the canonical form of the record (what the chain hash covers).
  EXPECT_EQ(canonical(r) + "\n", line + "\n");

  const std::string ts = r["ts"];
  ASSERT_EQ(ts.size(), 27U) << ts;
  std::tm tm{};
  const char* rest = strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  ASSERT_NE(rest, nullptr) << ts;
  ASSERT_EQ(std::string(rest).size(), 8U) << ts;  // ".uuuuuuZ"
  EXPECT_EQ(rest[0], '.');
  EXPECT_EQ(rest[7], 'Z');
  const long long micros = std::stoll(std::string(rest + 1, 6));
  const auto at =
      std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(micros);
  EXPECT_GE(at, std::chrono::time_point_cast<std::chrono::microseconds>(before)) << ts;
  EXPECT_LE(at, after) << ts;
}

TEST_F(AuditLogTest, HmacKeyChangesTheHash) {
  cfg_.hmac_key = "k3y";
  auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg_, {}));
  ASSERT_TRUE(log->append({"t", "received", std::nullopt, "chat", {}}, true));
  auto r = read_lines(cfg_.file).at(0);
  const std::string hash = r["hash"];
  r.erase("hash");
  EXPECT_EQ(core::hmac_sha256_hex("k3y", std::string(64, '0') + "\n" + canonical(r)), hash);
}

TEST_F(AuditLogTest, WriteFailureIsReportedAndMarksUnhealthy) {
  cfg_.file = "/dev/full";
  auto opened = open_jsonl_log(cfg_, {});
  ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
  auto log = std::get<AuditLogPtr>(opened);
  EXPECT_FALSE(log->append({"t", "decided", std::nullopt, "chat", {}}, true));
  EXPECT_FALSE(log->healthy());
}

TEST_F(AuditLogTest, UnopenablePathIsAnError) {
  cfg_.file = "/proc/clawgate-cannot-exist/audit.jsonl";
  EXPECT_TRUE(std::holds_alternative<OpenError>(open_jsonl_log(cfg_, {})));
}

}  // namespace
}  // namespace clawgate::audit

#include "clawgate/audit/verify.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "clawgate/audit/audit_log.hpp"

namespace clawgate::audit {
namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines, bool final_nl = true) {
  std::ofstream out(path, std::ios::trunc);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out << lines[i];
    if (i + 1 < lines.size() || final_nl) out << "\n";
  }
}

class AuditVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/clawgate-verify-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ + "/audit.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void make_log(int records, std::optional<std::string> key = std::nullopt) {
    config::Audit cfg;
    cfg.file = file_;
    cfg.hmac_key = std::move(key);
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg, {}));
    for (int i = 0; i < records; ++i) {
      ASSERT_TRUE(log->append({"t" + std::to_string(i), "received", std::nullopt, "chat",
                               {{"n", i}, {"text", "héllo"}}},
                              false));
    }
  }
  std::string dir_, file_;
};

TEST_F(AuditVerify, IntactChainVerifiesAndReportsTheAnchor) {
  make_log(5);
  const auto r = verify_files({file_}, std::nullopt);
  ASSERT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 5U);
  EXPECT_EQ(r.last_seq, 5U);
  EXPECT_EQ(r.last_hash, nlohmann::json::parse(lines_of(file_).back())["hash"]);
}

TEST_F(AuditVerify, FlippedByteIsABadHashAtItsLine) {
  make_log(5);
  auto lines = lines_of(file_);
  const auto pos = lines[2].find("héllo");
  ASSERT_NE(pos, std::string::npos);
  lines[2][pos] = 'H';
  write_lines(file_, lines);
  const auto r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3U);
  EXPECT_EQ(r.seq, 3U);
  EXPECT_NE(r.problem.find("bad hash"), std::string::npos) << r.problem;
}

TEST_F(AuditVerify, DeletedLineIsAGap) {
  make_log(5);
  auto lines = lines_of(file_);
  lines.erase(lines.begin() + 1);
  write_lines(file_, lines);
  const auto r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2U);
  EXPECT_NE(r.problem.find("seq gap: expected 2, found 3"), std::string::npos) << r.problem;
}

TEST_F(AuditVerify, DuplicatedAndReorderedLinesAreCaught) {
  make_log(5);
  auto lines = lines_of(file_);
  auto dup = lines;
  dup.insert(dup.begin() + 2, lines[1]);
  write_lines(file_, dup);
  auto r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3U);
  EXPECT_NE(r.problem.find("out of order or duplicated"), std::string::npos) << r.problem;

  auto swapped = lines;
  std::swap(swapped[1], swapped[2]);
  write_lines(file_, swapped);
  r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2U);
}

TEST_F(AuditVerify, TruncatedLastRecordIsReported) {
  make_log(3);
  auto lines = lines_of(file_);
  lines.back().resize(lines.back().size() / 2);
  write_lines(file_, lines, false);
  const auto r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3U);
  EXPECT_NE(r.problem.find("truncated"), std::string::npos) << r.problem;
}

TEST_F(AuditVerify, RewrittenRecordWithRecomputedPlainHashFailsUnderHmac) {
  make_log(3, std::string("k3y"));
  EXPECT_TRUE(verify_files({file_}, std::string("k3y")).ok);
  EXPECT_FALSE(verify_files({file_}, std::string("wrong")).ok);
  EXPECT_FALSE(verify_files({file_}, std::nullopt).ok);
}

TEST_F(AuditVerify, ChainContinuesAcrossFilesInOrder) {
  make_log(6);
  const auto lines = lines_of(file_);
  const std::string first = dir_ + "/audit.jsonl.000001";
  write_lines(first, {lines.begin(), lines.begin() + 4});
  write_lines(file_, {lines.begin() + 4, lines.end()});
  const auto ok = verify_files({first, file_}, std::nullopt);
  EXPECT_TRUE(ok.ok) << ok.problem;
  EXPECT_EQ(ok.records, 6U);
  const auto wrong = verify_files({file_, first}, std::nullopt);
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.file, file_);
  EXPECT_EQ(wrong.line, 1U);
}

TEST_F(AuditVerify, MissingFileAndGarbageAreErrors) {
  EXPECT_FALSE(verify_files({dir_ + "/nope.jsonl"}, std::nullopt).ok);
  write_lines(file_, {"not json"});
  const auto r = verify_files({file_}, std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 1U);
}

}  // namespace
}  // namespace clawgate::audit

namespace clawgate::audit {
namespace {

class AuditDurability : public AuditVerify {
 protected:
  config::Audit cfg(std::uint64_t rotate = 0) {
    config::Audit c;
    c.file = file_;
    c.rotate_bytes = rotate;
    return c;
  }
  static void append_n(const AuditLogPtr& log, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(log->append({"t", "received", std::nullopt, "chat", {{"pad", std::string(200, 'x')}}},
                              false));
    }
  }
};

TEST_F(AuditDurability, RotationContinuesTheChainIntoTheNextFile) {
  {
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg(2000), {}));
    append_n(log, 20);  // ~400 bytes a record: several rotations
  }
  ASSERT_TRUE(std::filesystem::exists(file_ + ".000001"));
  ASSERT_TRUE(std::filesystem::exists(file_ + ".000002"));
  std::vector<std::string> files;
  for (int i = 1; std::filesystem::exists(file_ + "." + (std::ostringstream() << std::setw(6) << std::setfill('0') << i).str()); ++i) {
    files.push_back(file_ + "." + (std::ostringstream() << std::setw(6) << std::setfill('0') << i).str());
  }
  for (const auto& f : files) EXPECT_LE(std::filesystem::file_size(f), 2000U) << f;
  files.push_back(file_);
  const auto r = verify_files(files, std::nullopt);
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << " " << r.problem;
  EXPECT_EQ(r.records, 20U);
}

TEST_F(AuditDurability, RestartAfterRotationResumesFromTheRotatedFile) {
  {
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg(), {}));
    append_n(log, 5);
  }
  // Simulate "rotated, then stopped before anything was written to the new FILE".
  std::filesystem::rename(file_, file_ + ".000001");
  {
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg(2000), {}));
    append_n(log, 2);
  }
  const auto r = verify_files({file_ + ".000001", file_}, std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.last_seq, 7U);
}

TEST_F(AuditDurability, TornLastLineIsMovedAsideAndRecorded) {
  {
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg(), {}));
    append_n(log, 3);
  }
  {
    std::ofstream out(file_, std::ios::app);
    out << R"({"seq":4,"ts":"2026-11-21T00:00:00.000000Z","trace_id":"t","sta)";  // crash mid-write
  }
  auto opened = open_jsonl_log(cfg(), {});
  ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened)) << std::get<OpenError>(opened).message;
  std::get<AuditLogPtr>(opened).reset();
  const auto torn = lines_of(file_ + ".torn");
  ASSERT_EQ(torn.size(), 1U);
  EXPECT_EQ(torn[0].rfind(R"({"seq":4,)", 0), 0U);
  const auto r = verify_files({file_}, std::nullopt);
  ASSERT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 4U);
  const auto last = nlohmann::json::parse(lines_of(file_).back());
  EXPECT_EQ(last["stage"], "recovered");
  EXPECT_EQ(last["data"]["moved_to"], file_ + ".torn");
  EXPECT_GT(last["data"]["torn_bytes"].get<int>(), 10);
}

TEST_F(AuditDurability, TailThatDoesNotVerifyWithTheKeyRefusesTheStart) {
  {
    auto c = cfg();
    c.hmac_key = "first-key";
    auto log = std::get<AuditLogPtr>(open_jsonl_log(c, {}));
    append_n(log, 2);
  }
  auto c = cfg();
  c.hmac_key = "another-key";
  const auto opened = open_jsonl_log(c, {});
  ASSERT_TRUE(std::holds_alternative<OpenError>(opened));
  EXPECT_NE(std::get<OpenError>(opened).message.find("does not verify"), std::string::npos);
  c.hmac_key = "first-key";
  EXPECT_TRUE(std::holds_alternative<AuditLogPtr>(open_jsonl_log(c, {})));
}

}  // namespace
}  // namespace clawgate::audit

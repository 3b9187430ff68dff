#include "clawgate/audit/verify.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

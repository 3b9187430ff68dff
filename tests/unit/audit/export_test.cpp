#include "clawgate/audit/export.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "clawgate/audit/audit_log.hpp"

namespace clawgate::audit {
namespace {

class AuditExport : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/clawgate-export-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config::Audit cfg;
    cfg.file = dir_ + "/a.jsonl";
    file_ = cfg.file;
    auto log = std::get<AuditLogPtr>(open_jsonl_log(cfg, {}));
    ASSERT_TRUE(log->append({"trace-1", "received", std::nullopt, "chat", {{"body", "hi, \"you\"\nthere"}}}, false));
    ASSERT_TRUE(log->append({"trace-1", "decided", "alice", "chat",
                             {{"decision", "deny"}, {"rules", {"deny-red"}}, {"reason", "red, sorry"}}},
                            true));
    ASSERT_TRUE(log->append({"trace-2", "rejected", std::nullopt, "tools",
                             {{"status", 401}, {"code", "unauthorized"}}},
                            false));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string run(const ExportOptions& opt) {
    std::ostringstream out;
    EXPECT_EQ(export_records({file_}, opt, out), "");
    return out.str();
  }
  std::string dir_, file_;
};

TEST_F(AuditExport, CsvHasOneQuotedRowPerRecord) {
  const std::string csv = run({});
  std::istringstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, kCsvHeader);
  EXPECT_NE(csv.find(",alice,chat,deny,,,,\"[\"\"deny-red\"\"]\",\"red, sorry\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",tools,,,401,unauthorized,,,"), std::string::npos) << csv;
  // The body with a comma, quotes and a newline stays one quoted field.
  EXPECT_NE(csv.find("\"{\"\"body\"\":\"\"hi, \\\"\"you\\\"\"\\nthere\"\"}\""), std::string::npos) << csv;
}

TEST_F(AuditExport, FiltersByTraceStageAndSince) {
  ExportOptions opt;
  opt.format = ExportOptions::Format::jsonl;
  opt.trace_id = "trace-1";
  std::string out = run(opt);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
  opt.stage = "decided";
  out = run(opt);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  EXPECT_NE(out.find("\"stage\":\"decided\""), std::string::npos);
  ExportOptions later;
  later.format = ExportOptions::Format::jsonl;
  later.since = "2999-01-01";
  EXPECT_EQ(run(later), "");
  later.since = "2000-01-01";
  out = run(later);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
}

TEST_F(AuditExport, JsonlIsTheOriginalLines) {
  ExportOptions opt;
  opt.format = ExportOptions::Format::jsonl;
  std::ifstream in(file_);
  std::ostringstream original;
  original << in.rdbuf();
  EXPECT_EQ(run(opt), original.str());
}

TEST_F(AuditExport, GarbageAndMissingFilesAreErrors) {
  std::ostringstream out;
  EXPECT_NE(export_records({dir_ + "/none"}, {}, out), "");
  {
    std::ofstream f(file_, std::ios::app);
    f << "garbage\n";
  }
  EXPECT_NE(export_records({file_}, {}, out).find(":4: not an audit record"), std::string::npos);
}

}  // namespace
}  // namespace clawgate::audit

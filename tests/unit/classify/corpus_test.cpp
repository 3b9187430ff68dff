// The labelled corpus (tests/corpus/classifier.jsonl) against the shipped default term lists.
// The lists below are the ones policies/default.json must carry; keep them in step.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

Spec default_spec() {
  Spec s;
  s.red.terms = {"delete",
                 "remove permanently",
                 "wire money",
                 "wire transfer*",
                 "transfer funds",
                 "transfer money",
                 "funds transfer*",
                 "payroll",
                 "bank account*",
                 "bank transfer*",
                 "bank detail*",
                 "routing number*",
                 "iban",
                 "credit card number*",
                 "hr record*",
                 "employee record*",
                 "run shell",
                 "execute command",
                 "shell command*",
                 "api key*",
                 "secret",
                 "secrets",
                 "credential*",
                 "token",
                 "access token*",
                 "auth token*",
                 "ssh",
                 "sudo",
                 "wipe",
                 "exfiltrat*",
                 "upload private",
                 "database dump",
                 "rm -rf",
                 "drop table*",
                 "home directory",
                 "private key*",
                 "password*",
                 "social security number*",
                 "ssn"};
  s.red.patterns = {"AKIA[0-9A-Z]{16}", "-----BEGIN [A-Z ]*PRIVATE KEY-----",
                    "sk-[A-Za-z0-9_-]{20,}"};
  s.amber.terms = {"email*",          "e-mail*",      "send",       "notify",  "customer*",
                   "vendor*",         "contract*",    "invoice*",   "budget*", "approv*",
                   "security policy", "confidential", "write file", "modify",  "change*",
                   "share",           "publish",      "forward"};
  return s;
}

TEST(Corpus, EveryLineHasItsTier) {
  const std::string path = CLAWGATE_TEST_DATA_DIR "/../corpus/classifier.jsonl";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  auto built = Classifier::build(default_spec());
  ASSERT_TRUE(std::holds_alternative<ClassifierPtr>(built)) << std::get<std::string>(built);
  const auto& c = std::get<ClassifierPtr>(built);

  std::string line;
  int lineno = 0;
  int checked = 0;
  int counts[3] = {0, 0, 0};
  std::ostringstream mismatches;
  int wrong = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(row.is_discarded()) << path << ":" << lineno << ": not JSON";
    ASSERT_TRUE(row.contains("text") && row["text"].is_string()) << path << ":" << lineno;
    ASSERT_TRUE(row.contains("tier") && row["tier"].is_string()) << path << ":" << lineno;
    const auto want = tier_from_string(row["tier"].get<std::string>());
    ASSERT_TRUE(want.has_value()) << path << ":" << lineno << ": bad tier";
    const Result got = c->classify_text(row["text"].get<std::string>());
    ++checked;
    ++counts[static_cast<int>(*want)];
    if (got.risk != *want) {
      ++wrong;
      mismatches << "  line " << lineno << ": want " << to_string(*want) << ", got "
                 << got.to_json().dump() << "  " << row["text"].dump() << "\n";
    }
  }
  EXPECT_EQ(wrong, 0) << wrong << " of " << checked << " lines mismatch:\n" << mismatches.str();
  EXPECT_GE(checked, 220);
  EXPECT_GE(counts[0], 50);  // green, including false-positive traps
  EXPECT_GE(counts[1], 30);  // amber
  EXPECT_GE(counts[2], 60);  // red, including obfuscated ones
}

}  // namespace
}  // namespace clawgate::classify

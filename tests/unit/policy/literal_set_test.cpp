// The redaction prefilter's literal search must agree with RE2's case-insensitive search for the
// same literals: a miss it reports is a secret pattern skipped.
#include "clawgate/policy/literal_set.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <random>
#include <string>

namespace clawgate::policy {
namespace {

TEST(LiteralSet, FindsLiteralsInEitherCase) {
  const auto set = LiteralSet::create({"sk-", "akia", "-----begin "});
  ASSERT_NE(set, nullptr);
  EXPECT_FALSE(set->may_occur_in(""));
  EXPECT_FALSE(set->may_occur_in("plain words, sk and ak and -----"));
  EXPECT_TRUE(set->may_occur_in("key SK-1"));
  EXPECT_TRUE(set->may_occur_in("sk-"));
  EXPECT_TRUE(set->may_occur_in("xxAkIa"));
  EXPECT_TRUE(set->may_occur_in("-----BEGIN RSA"));
  EXPECT_FALSE(set->may_occur_in("-----BEGIN"));  // the literal's space is missing
  EXPECT_FALSE(set->may_occur_in("sk_"));         // '-' is not folded like a letter
}

TEST(LiteralSet, FoldsLongSAndKelvinSignAsRe2Does) {
  const auto set = LiteralSet::create({"mask-"});
  ASSERT_NE(set, nullptr);
  EXPECT_TRUE(set->may_occur_in("ma\xC5\xBFk-"));      // ſ
  EXPECT_TRUE(set->may_occur_in("mas\xE2\x84\xAA-"));  // Kelvin sign
  EXPECT_FALSE(set->may_occur_in("ma\xC5\xBE"));       // ž: same lead byte, not s
  EXPECT_FALSE(set->may_occur_in("\xE2\x80\x9Cquoted\xE2\x80\x9D"));
}

TEST(LiteralSet, RefusesEmptyAndNonAsciiLiterals) {
  EXPECT_EQ(LiteralSet::create({"ok", ""}), nullptr);
  EXPECT_EQ(LiteralSet::create({"caf\xC3\xA9"}), nullptr);
}

// Texts built from fragments of the literals, long enough for the 16-byte search.
void expect_agreement_with_re2(const std::vector<std::string>& literals, unsigned seed) {
  const auto set = LiteralSet::create(literals);
  ASSERT_NE(set, nullptr);
  std::string alternation = "(?i)(?:";
  for (std::size_t i = 0; i < literals.size(); ++i) {
    alternation += (i > 0 ? "|" : "") + RE2::QuoteMeta(literals[i]);
  }
  alternation += ')';
  const RE2 re(alternation);
  ASSERT_TRUE(re.ok());
  static constexpr const char* kPieces[] = {"s",        "S",
                                            "k",        "K",
                                            "-",        "_",
                                            "a",        "A",
                                            "kia",      "KIA",
                                            "bear",     "ER",
                                            "-----",    "BEGIN",
                                            " ",        "private",
                                            " KEY",     "intern",
                                            "AL-",      "corp",
                                            "x",        "\n",
                                            "\xC5\xBF", "\xE2\x84\xAA",
                                            "\xC3\xA9", "\xE2\x80\x94",
                                            "\xC5\xBE", "9",
                                            "xox",      "XOXB",
                                            "p-",       "ghp_",
                                            "lit",      "SIA"};
  std::mt19937 rng(seed);
  int found = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 48);
    for (int k = 0; k < n; ++k) text += kPieces[rng() % std::size(kPieces)];
    const bool re2_found = RE2::PartialMatch(text, re);
    const bool folds = text.find("\xC5\xBF") != std::string::npos ||
                       text.find("\xE2\x84\xAA") != std::string::npos;
    if (re2_found) ++found;
    // Never a miss where RE2 finds one; a "maybe" beyond RE2 only for the two folding letters.
    // Both the 32-byte search (where the CPU has AVX2) and the 16-byte one.
    EXPECT_EQ(set->may_occur_in(text), re2_found || folds) << text;
    EXPECT_EQ(set->may_occur_in(text, false), re2_found || folds) << text;
  }
  EXPECT_GT(found, 3000);  // both answers are well represented
  EXPECT_LT(found, 17000);
}

TEST(LiteralSet, AgreesWithRe2CaseInsensitiveSearch) {
  // Literals sharing their first two bytes share one 16-byte comparison.
  expect_agreement_with_re2({"sk-", "akia", "bearer", "-----begin ", "private key-----",
                             "internal-", "corp_", "xoxb-", "xoxp-", "ghp_", "asia"},
                            11);
}

TEST(LiteralSet, AgreesWithRe2BeyondTheVectorSearchsPairLimit) {
  // More distinct first-two-byte pairs than the 16-byte search takes: the byte loop answers.
  expect_agreement_with_re2(
      {"sk-", "akia", "bearer", "-----begin ", "private key-----", "internal-", "corp_", "xoxb-",
       "ghp_", "lit1", "kia9", "er-x", "_k_", "9s9", "p-p"},
      12);
}

}  // namespace
}  // namespace clawgate::policy

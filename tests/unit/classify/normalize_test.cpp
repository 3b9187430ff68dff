#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

TEST(Normalize, AsciiIsLowerCasedAndTrimmed) {
  EXPECT_EQ(normalize("Wire MONEY"), "wire money");
  EXPECT_EQ(normalize("  wire money  "), "wire money");
  EXPECT_EQ(normalize(""), "");
  EXPECT_EQ(normalize(" \t\n "), "");
  EXPECT_EQ(normalize("Hello, World!"), "hello, world!");
}

TEST(Normalize, FullwidthFoldsByNfkc) {
  EXPECT_EQ(
      normalize(
          "\xEF\xBD\x97\xEF\xBD\x89\xEF\xBD\x92\xEF\xBD\x85 "
          "\xEF\xBD\x8D\xEF\xBD\x8F\xEF\xBD\x8E\xEF\xBD\x85\xEF\xBD\x99"),  // ｗｉｒｅ ｍｏｎｅｙ
      "wire money");
  EXPECT_EQ(normalize("\xEF\xBC\xB7\xEF\xBC\xA9\xEF\xBC\xB2\xEF\xBC\xA5"), "wire");  // ＷＩＲＥ
}

TEST(Normalize, LigaturesAndCompatibilityForms) {
  EXPECT_EQ(normalize("\xEF\xAC\x81le"), "file");                  // ﬁle
  EXPECT_EQ(normalize("\xE2\x91\xA0"), "1");                       // ① circled one
  EXPECT_EQ(normalize("x\xC2\xB2"), "x2");                         // superscript two
  EXPECT_EQ(normalize("\xF0\x9D\x90\xAC\xF0\x9D\x90\xA1"), "sh");  // 𝐬𝐡 math bold
}

TEST(Normalize, CaseFolding) {
  EXPECT_EQ(normalize("STRASSE Stra\xC3\x9F"
                      "e"),
            "strasse strasse");                                    // ß folds to ss
  EXPECT_EQ(normalize("\xC3\x89T\xC3\x89"), "\xC3\xA9t\xC3\xA9");  // ÉTÉ → été
}

TEST(Normalize, ComposesCombiningMarks) {
  EXPECT_EQ(normalize("cafe\xCC\x81"), "caf\xC3\xA9");  // e + U+0301 → é
  EXPECT_EQ(normalize("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(normalize("CAFE\xCC\x81"), "caf\xC3\xA9");
}

TEST(Normalize, CyrillicHomoglyphsFoldToLatin) {
  EXPECT_EQ(normalize("w\xD1\x96re m\xD0\xBEney"), "wire money");  // і U+0456, о U+043E
  // а е о р с у х, capitals А В Е К М Н О Р С Т Х
  EXPECT_EQ(normalize("\xD0\xB0\xD0\xB5\xD0\xBE\xD1\x80\xD1\x81\xD1\x83\xD1\x85"), "aeopcyx");
  EXPECT_EQ(normalize("\xD0\x90\xD0\x92\xD0\x95\xD0\x9A\xD0\x9C\xD0\x9D\xD0\x9E\xD0\xA0\xD0\xA1"
                      "\xD0\xA2\xD0\xA5"),
            "abekmhopctx");
  EXPECT_EQ(normalize("\xD1\x95\xD1\x95h"), "ssh");  // ѕѕh with U+0455
}

TEST(Normalize, GreekHomoglyphsFoldToLatin) {
  EXPECT_EQ(normalize("m\xCE\xBFney"), "money");  // ο omicron U+03BF
  EXPECT_EQ(normalize("\xCE\x91\xCE\xA1\xCE\x99 \xCE\x9A\xCE\x95\xCE\xA5"), "api key");  // ΑΡΙ ΚΕΥ
  EXPECT_EQ(normalize("\xCF\x84\xCE\xBF\xCE\xBA\xCE\xB5\xCE\xBD"), "tokev");  // τοκεν (small ν → v)
  EXPECT_EQ(normalize("\xCE\x9D"), "n");                                      // capital Ν → n
}

TEST(Normalize, FormatCharactersAreDropped) {
  EXPECT_EQ(normalize("wire\xE2\x80\x8Dmoney"), "wiremoney");  // ZWJ U+200D
  EXPECT_EQ(normalize("wire\xE2\x80\x8Cmoney"), "wiremoney");  // ZWNJ U+200C
  EXPECT_EQ(normalize("wi\xE2\x80\x8Bre"), "wire");            // ZWSP U+200B
  EXPECT_EQ(normalize("\xEF\xBB\xBFwire"), "wire");            // BOM U+FEFF
  EXPECT_EQ(normalize("wi\xE2\x80\xAEre"), "wire");            // RLO U+202E
  EXPECT_EQ(normalize("wi\xE2\x81\xA0re"), "wire");            // word joiner U+2060
  EXPECT_EQ(normalize("wi\xEF\xB8\x8Fre"), "wire");            // variation selector U+FE0F
}

TEST(Normalize, SoftHyphenIsDropped) { EXPECT_EQ(normalize("pass\xC2\xADword"), "password"); }

TEST(Normalize, ControlCharactersAreDropped) {
  EXPECT_EQ(normalize(std::string("wi\x00re", 5)), "wire");
  EXPECT_EQ(normalize("wi\x01re\x7F"), "wire");
}

TEST(Normalize, SeparatorsCollapseToOneSpace) {
  EXPECT_EQ(normalize("wire_money"), "wire money");
  EXPECT_EQ(normalize("wire-money"), "wire money");
  EXPECT_EQ(normalize("wire.money"), "wire money");
  EXPECT_EQ(normalize("wire/money"), "wire money");
  EXPECT_EQ(normalize("wire\tmoney"), "wire money");
  EXPECT_EQ(normalize("wire\r\n\nmoney"), "wire money");
  EXPECT_EQ(normalize("wire _-./ \t money"), "wire money");
  EXPECT_EQ(normalize("__wire__money--"), "wire money");
  EXPECT_EQ(normalize("rm -rf /"), "rm rf");
}

TEST(Normalize, UnicodeWhiteSpaceAndDashesSeparate) {
  EXPECT_EQ(normalize("wire\xC2\xA0money"), "wire money");      // NBSP
  EXPECT_EQ(normalize("wire\xE2\x80\x83money"), "wire money");  // em space
  EXPECT_EQ(normalize("wire\xE3\x80\x80money"), "wire money");  // ideographic space
  EXPECT_EQ(normalize("wire\xE2\x80\xA8money"), "wire money");  // line separator
  EXPECT_EQ(normalize("wire\xC2\x85money"), "wire money");      // NEL
  EXPECT_EQ(normalize("wire\xE2\x80\x93money"), "wire money");  // en dash
  EXPECT_EQ(normalize("wire\xEF\xBC\xBFmoney"), "wire money");  // fullwidth low line
}

TEST(Normalize, InvalidUtf8BecomesSpace) {
  EXPECT_EQ(normalize("wire\xFFmoney"), "wire money");
  EXPECT_EQ(normalize("wire\xC3"), "wire");  // truncated sequence at the end
  EXPECT_EQ(normalize("a\xC0\xAF"
                      "b"),
            "a b");  // overlong '/'
  EXPECT_EQ(normalize("a\xED\xA0\x80"
                      "b"),
            "a b");                                  // surrogate
  EXPECT_EQ(normalize("\xF8\x88\x80\x80\x80"), "");  // 5-byte form
  EXPECT_EQ(normalize("\xE2\x82"), "");
}

TEST(Normalize, OtherScriptsAreKept) {
  EXPECT_EQ(normalize("\xE6\x9D\xB1\xE4\xBA\xAC"), "\xE6\x9D\xB1\xE4\xBA\xAC");  // 東京
  EXPECT_EQ(normalize("\xF0\x9F\x98\x80 ok"), "\xF0\x9F\x98\x80 ok");            // emoji
}

TEST(Normalize, IsIdempotent) {
  for (const char* s : {"Wire_Money", "\xEF\xAC\x81le CAFE\xCC\x81", "w\xD1\x96re  m\xD0\xBEney",
                        "a\xE2\x80\x8D\xC2\xAD-b", "\xE6\x9D\xB1\xE4\xBA\xAC x"}) {
    const std::string once = normalize(s);
    EXPECT_EQ(normalize(once), once) << s;
  }
}

TEST(Normalize, CombiningMarksAreCanonicallyOrdered) {
  // O + U+0339 (ccc 220) + U+0301 (ccc 230): ó then U+0339, whatever the input order.
  EXPECT_EQ(normalize("O\xCC\xB9\xCC\x81"), "\xC3\xB3\xCC\xB9");
  EXPECT_EQ(normalize("O\xCC\x81\xCC\xB9"), "\xC3\xB3\xCC\xB9");
  EXPECT_EQ(normalize("\xC3\xB3\xCC\xB9"), "\xC3\xB3\xCC\xB9");
}

TEST(Normalize, MarksComposeAcrossDroppedCharacters) {
  EXPECT_EQ(normalize("a\x1D\xCC\x80"), "\xC3\xA0");          // control between a and U+0300
  EXPECT_EQ(normalize("a\xE2\x80\x8D\xCC\x80"), "\xC3\xA0");  // ZWJ between a and U+0300
}

// Deterministic random strings from tricky pieces: output is trimmed, has no double spaces,
// and normalising it again changes nothing.
TEST(Normalize, RandomInputsAreStable) {
  const char* pieces[] = {"a",
                          "A",
                          "\xC3\xA9",
                          "e\xCC\x81",
                          "\xE2\x80\x8D",
                          "\xC2\xAD",
                          "%41",
                          "\xEF\xAC\x81",
                          "\xCE\xA9",
                          "\xCF\x82",
                          "\xCE\x90",
                          "\xC7\x85",
                          "\xF0\x9F\x98\x80",
                          "\xFF",
                          "\xC3",
                          "_",
                          "-",
                          " ",
                          "\t",
                          "\xCC\x81",
                          "\xCC\xB9",
                          "\xE1\xBE\xB3",
                          "\xEF\xB7\xBA",
                          "\xE2\x85\xB7",
                          "\xC4\xB0",
                          "\xC4\xB1",
                          "K",
                          "\xEA\xB0\x80",
                          "\xE1\x86\xA8",
                          "\xC3\x9F",
                          "\xC5\x89",
                          "\xD0\x86\xCC\x88",
                          "\xD0\xB4",
                          "\x01",
                          "\x1D",
                          "\xE2\x80\x93"};
  std::uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int it = 0; it < 20000; ++it) {
    std::string t;
    const std::size_t len = next() % 16;
    for (std::size_t k = 0; k < len; ++k) {
      if (next() % 5 == 0) {
        t += static_cast<char>(next() % 256);
      } else {
        t += pieces[next() % std::size(pieces)];
      }
    }
    const std::string once = normalize(t);
    ASSERT_EQ(normalize(once), once) << t;
    if (!once.empty()) {
      ASSERT_NE(once.front(), ' ') << t;
      ASSERT_NE(once.back(), ' ') << t;
    }
    ASSERT_EQ(once.find("  "), std::string::npos) << t;
  }
}

TEST(Normalize, LongRunsOfCombiningMarksAreCut) {
  std::string s = "a";
  for (int i = 0; i < 50000; ++i) s += (i % 2 == 0) ? "\xCC\x81" : "\xCC\xA3";  // U+0301, U+0323
  EXPECT_LT(normalize(s).size(), 100u);  // cut to the stream-safe 30 marks
}

// Short non-ASCII stretches are remembered per thread and replayed: a replay must give the same
// text as the first time, whatever came before it.
TEST(Normalize, RememberedStretchesReplayTheSameInAnyContext) {
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(normalize("a \xE2\x80\x94 b"), "a b");  // em dash between separators
    EXPECT_EQ(normalize("\xE2\x80\x94" "b"), "b");        // at the start: nothing to separate
    EXPECT_EQ(normalize("a-\xE2\x80\x94-b"), "a b");
    EXPECT_EQ(normalize("a\xE2\x80\x94"), "a");
    EXPECT_EQ(normalize("caf\xC3\xA9 CAF\xC3\x89"), "caf\xC3\xA9 caf\xC3\xA9");
    bool kept = true;
    EXPECT_EQ(normalize("xe\xCC\x81 ye\xCC\x81", &kept), "x\xC3\xA9 y\xC3\xA9");
    EXPECT_FALSE(kept);
  }
}

// ASCII without dropped controls takes the 16-bytes-at-a-time path: it must give what the
// rules say, whatever the length, the alignment and the runs of separators.
std::string ascii_reference(std::string_view raw) {
  std::string out;
  bool pending = false;
  for (const char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || c == '_' || c == '-' || c == '.' || c == '/') {
      pending = !out.empty();
    } else if (c >= 0x20 && c < 0x7F) {
      if (pending) out += ' ';
      pending = false;
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
  }
  return out;
}

TEST(Normalize, AsciiMatchesTheRulesAtEveryLengthAndAlignment) {
  std::uint64_t s = 0x51ED5EEDull;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  const std::string alphabet = "aZ9 -_./\t\n\r,:x";
  for (int round = 0; round < 3000; ++round) {
    std::string t(next() % 300, 'a');
    for (char& c : t) {
      c = next() % 3 == 0 ? alphabet[next() % alphabet.size()] : static_cast<char>(0x20 + next() % 95);
    }
    if (round % 7 == 0) t.insert(next() % (t.size() + 1), 1, '\x01');  // a dropped control
    ASSERT_EQ(normalize(t), ascii_reference(t)) << t;
  }
}

TEST(Normalize, ReportsWhetherEveryAsciiCharacterIsKept) {
  bool kept = false;
  EXPECT_EQ(normalize("Wire--MONEY\x01 caf\xC3\xA9 \xE2\x80\x94 x", &kept), "wire money caf\xC3\xA9 x");
  EXPECT_TRUE(kept);
  EXPECT_EQ(normalize("wire\xCC\x81", &kept), "wir\xC3\xA9");  // e + U+0301 composes: é
  EXPECT_FALSE(kept);
  normalize("e\x01\xCC\x81", &kept);  // the mark composes across the dropped control
  EXPECT_FALSE(kept);
  normalize("\xC3\xA9\xCC\xA3", &kept);  // é + U+0323: no ASCII character involved
  EXPECT_TRUE(kept);
}

// The classifier looks for its pattern prefilter's ASCII atoms in normalised text. That is
// sound only if every non-ASCII character that a case-insensitive RE2 pattern treats as an ASCII
// letter becomes that letter here: these are the code points whose simple lower or upper case
// is ASCII.
TEST(Normalize, NonAsciiCasePartnersOfAsciiLettersBecomeThoseLetters) {
  std::vector<utf8proc_int32_t> partners;
  for (utf8proc_int32_t cp = 0x80; cp <= 0x10FFFF; ++cp) {
    if (utf8proc_tolower(cp) < 0x80 || utf8proc_toupper(cp) < 0x80) partners.push_back(cp);
  }
  EXPECT_EQ(partners, (std::vector<utf8proc_int32_t>{0x130, 0x131, 0x17F, 0x212A}));
  EXPECT_EQ(normalize("\xC4\xB0"), "i");            // İ
  EXPECT_EQ(normalize("\xC4\xB1"), "i");            // ı
  EXPECT_EQ(normalize("\xC5\xBF"), "s");            // ſ
  EXPECT_EQ(normalize("\xE2\x84\xAA"), "k");        // K Kelvin sign
}

}  // namespace
}  // namespace clawgate::classify

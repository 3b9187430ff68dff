// The classifier against a plain reference on random texts. The classifier walks its automaton
// over the raw ASCII (case and separators folded by the automaton's byte classes), only the
// stretches around other bytes normalised, in eight pieces at once for long texts; the reference
// normalises the whole text and looks for each term by itself (SPEC §4), and runs every pattern.
// The texts mix case, separator runs, punctuation, non-ASCII letters, combining marks, dropped
// characters and invalid bytes, with terms placed across the pieces' boundaries.
#include <gtest/gtest.h>
#include <re2/re2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

bool word_cp(utf8proc_int32_t cp) {
  const auto cat = utf8proc_category(cp);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// Word characters of normalised (valid UTF-8) text: the one starting at byte i...
bool word_at(const std::string& s, std::size_t i) {
  utf8proc_int32_t cp = 0;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data()) + i;
  utf8proc_iterate(p, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  return word_cp(cp);
}

// ...and the one ending just before byte i.
bool word_before(const std::string& s, std::size_t i) {
  std::size_t k = i - 1;
  while ((static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return word_at(s, k);
}

struct RefTerm {
  std::string label;
  std::vector<std::string> forms;  // normalised; a multi-word term also with its words joined
  bool open_end = false;
};

class Reference {
 public:
  explicit Reference(const Spec& spec) {
    const std::pair<Tier, const TierSpec*> tiers[] = {{Tier::red, &spec.red},
                                                      {Tier::amber, &spec.amber}};
    for (const auto& [tier, ts] : tiers) {
      for (const std::string& t : ts->terms) {
        RefTerm r{t, {}, !t.empty() && t.back() == '*'};
        const std::string key = normalize(r.open_end ? t.substr(0, t.size() - 1) : t);
        r.forms.push_back(key);
        if (key.find(' ') != std::string::npos) {
          std::string joined = key;
          joined.erase(std::remove(joined.begin(), joined.end(), ' '), joined.end());
          r.forms.push_back(joined);
        }
        terms_.push_back({tier, std::move(r)});
      }
      for (const std::string& p : ts->patterns) {
        patterns_.push_back({tier, std::make_unique<RE2>(p, quiet())});
      }
    }
  }

  Result classify(std::string_view text) const {
    const auto raw = found(text);
    std::set<std::pair<Tier, std::string>> decoded;
    for (const std::string& layer : decoded_layers(text)) {
      for (const auto& f : found(layer)) {
        if (raw.count(f) == 0) decoded.insert(f);
      }
    }
    Result r;
    for (const auto& [tier, label] : raw) r.matches.push_back({tier, label, "input"});
    for (const auto& [tier, label] : decoded) r.matches.push_back({tier, label, "input+decoded"});
    std::sort(r.matches.begin(), r.matches.end(), [](const Match& a, const Match& b) {
      if (a.tier != b.tier) return a.tier > b.tier;
      if (a.where != b.where) return a.where < b.where;
      return a.term < b.term;
    });
    if (!r.matches.empty()) r.risk = r.matches.front().tier;
    return r;
  }

 private:
  static RE2::Options quiet() {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_never_nl(false);
    return o;
  }

  std::set<std::pair<Tier, std::string>> found(std::string_view text) const {
    std::set<std::pair<Tier, std::string>> out;
    const std::string n = normalize(text);
    for (const auto& [tier, t] : terms_) {
      for (const std::string& form : t.forms) {
        for (auto at = n.find(form); at != std::string::npos; at = n.find(form, at + 1)) {
          const std::size_t end = at + form.size();
          if (at > 0 && word_before(n, at)) continue;
          if (!t.open_end && end < n.size() && word_at(n, end)) continue;
          out.insert({tier, t.label});
          break;
        }
      }
    }
    for (const auto& [tier, re] : patterns_) {
      if (RE2::PartialMatch(text, *re)) out.insert({tier, re->pattern()});
    }
    return out;
  }

  std::vector<std::pair<Tier, RefTerm>> terms_;
  std::vector<std::pair<Tier, std::unique_ptr<RE2>>> patterns_;
};

std::string base64(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

class TextGen {
 public:
  TextGen(std::uint32_t seed, std::vector<std::string> words)
      : rng_(seed), words_(std::move(words)) {}

  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool one_in(std::size_t n) { return below(n) == 0; }

  // A term's words (or another word), in random case, with separator runs between the words.
  std::string term_like() {
    std::string w = words_[below(words_.size())];
    std::string out;
    for (const char c : w) {
      if (c == ' ') {
        out += separator_run();
      } else if (c >= 'a' && c <= 'z' && one_in(3)) {
        out += static_cast<char>(c - 'a' + 'A');
      } else {
        out += c;
      }
    }
    if (one_in(8)) out.insert(below(out.size() + 1), odd());  // inside the word
    return out;
  }

  std::string separator_run() {
    static const char* const kRuns[] = {" ", " ", " ",   "  ", "\t",     "\n", "\n\n", "_", "-",
                                        ".", "/", " - ", "._", " \r\n ", "--", "",     ". "};
    return kRuns[below(std::size(kRuns))];
  }

  // Non-ASCII and other bytes that take normalize()'s slow path.
  std::string odd() {
    static const char* const kOdd[] = {
        "\xC3\xA9",          // é
        "\xC3\x89",          // É
        "\xCC\x81",          // combining acute
        "e\xCC\x81",         // e + combining acute
        "\xE2\x80\x94",      // em dash (a separator)
        "\xE2\x80\x9C",      // “
        "\xE2\x80\x9D",      // ”
        "\xF0\x9F\x98\x80",  // emoji (not a word character)
        "\xE2\x80\x8D",      // ZWJ (dropped)
        "\xC2\xAD",          // soft hyphen (dropped)
        "\xD0\xBE",          // Cyrillic о → o
        "\xCE\x9F",          // Greek Ο → o
        "\xEF\xBD\x97",      // fullwidth ｗ → w
        "\xC3\x9F",          // ß → ss
        "\xEF\xAC\x81",      // ﬁ → fi
        "\xE2\x84\xAA",      // Kelvin sign → k
        "\xC5\xBF",          // long s → s
        "\xC2\xA0",          // no-break space (a separator)
        "\xFF",              // invalid
        "\xC3",              // truncated sequence
        "\x01",              // dropped control
        "\x7F",              // DEL (dropped)
        "\xE2\x80\xA8",      // line separator
    };
    return kOdd[below(std::size(kOdd))];
  }

  std::string filler() {
    static const char* const kFill[] = {"the", "a",   "x",   "2",  "42",  ",", "!",
                                        "(",   ")",   "'",   "\"", ":",   "@", "#",
                                        "=",   "%20", "%41", "s",  "ing", "e", "q"};
    return kFill[below(std::size(kFill))];
  }

  // Something the patterns match (or nearly).
  std::string secret() {
    static const char kUpper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    switch (below(4)) {
      case 0: {
        std::string s = one_in(4) ? "akia" : "AKIA";
        for (std::size_t i = 0, n = 14 + below(4); i < n; ++i) s += kUpper[below(36)];
        return s;
      }
      case 1: {
        std::string s = "sk-";
        for (std::size_t i = 0, n = 15 + below(10); i < n; ++i) s += "abcXYZ019_-"[below(11)];
        return s;
      }
      case 2:
        return one_in(2) ? "-----BEGIN RSA PRIVATE KEY-----" : "-----begin private key-----";
      default:
        return base64("please " + words_[below(words_.size())] + " now, thanks");
    }
  }

  std::string text(bool ascii_only, std::size_t tokens) {
    std::string out;
    for (std::size_t i = 0; i < tokens; ++i) {
      const std::size_t kind = below(ascii_only ? 8 : 10);
      if (kind < 3) {
        out += term_like();
      } else if (kind < 5) {
        out += separator_run();
      } else if (kind < 7) {
        out += filler();
      } else if (kind == 7) {
        if (one_in(6))
          out += secret();
        else
          out += term_like();
      } else {
        out += odd();
      }
    }
    if (ascii_only) {
      // Keep only plain ASCII, so the walk runs over the raw bytes with no copy.
      std::erase_if(out, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x80 || (u < 0x20 && !(u >= 0x09 && u <= 0x0D)) || u == 0x7F;
      });
    }
    return out;
  }

  // Puts a term across the points where a text of this size is cut into eight pieces.
  void straddle(std::string& text) {
    const std::size_t len = text.size() / 8;
    for (std::size_t k = 1; k < 8; ++k) {
      const std::string t = term_like();
      if (t.size() < 2) continue;
      const std::size_t at = k * len - 1 - below(t.size() - 1);
      text.replace(at, t.size(), t);
    }
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> words_;
};

std::string escaped(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '\\') {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Spec random_spec(std::mt19937& rng, std::vector<std::string>& words) {
  Spec s;
  s.red.terms = {"wire money", "hr record*", "rm -rf",        "api key*",    "ssh",
                 "token",      "bank",       "bank account*", "caf\xC3\xA9", "x2",
                 "s",          "e e",        "the q",         "private key*"};
  s.red.patterns = {"AKIA[0-9A-Z]{16}", "-----BEGIN [A-Z ]*PRIVATE KEY-----",
                    "sk-[A-Za-z0-9_-]{20,}"};
  // Short words from few letters: they overlap, prefix one another and turn up inside others.
  std::uniform_int_distribution<int> letter(0, 4);
  std::uniform_int_distribution<int> length(1, 5);
  for (int i = 0; i < 40; ++i) {
    std::string w;
    for (int k = length(rng); k > 0; --k) w += static_cast<char>('a' + letter(rng));
    if (letter(rng) == 0) {
      w += ' ';
      for (int k = length(rng); k > 0; --k) w += static_cast<char>('a' + letter(rng));
    }
    if (std::find(s.red.terms.begin(), s.red.terms.end(), w) != s.red.terms.end() ||
        std::find(s.amber.terms.begin(), s.amber.terms.end(), w) != s.amber.terms.end()) {
      continue;
    }
    words.push_back(w);
    (letter(rng) < 2 ? s.red : s.amber).terms.push_back(letter(rng) == 0 ? w + "*" : w);
  }
  for (const std::string& t : s.red.terms) {
    if (t.find('*') == std::string::npos && t.find('-') == std::string::npos) words.push_back(t);
  }
  words.push_back("wire money");
  words.push_back("hr records");
  words.push_back("api keys");
  words.push_back("bank account");
  words.push_back("private keys");
  return s;
}

void expect_same(const Classifier& c, const Reference& ref, const std::string& text,
                 std::uint32_t seed) {
  const Result got = c.classify_text(text);
  const Result want = ref.classify(text);
  ASSERT_EQ(got.to_json(), want.to_json())
      << "seed " << seed << ", text \"" << escaped(text) << "\" (" << text.size() << " bytes)";
}

TEST(ClassifierDifferential, RandomTextsMatchTheReference) {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> words;
    const Spec spec = random_spec(rng, words);
    auto built = Classifier::build(spec);
    ASSERT_TRUE(std::holds_alternative<ClassifierPtr>(built)) << std::get<std::string>(built);
    const auto c = std::get<ClassifierPtr>(built);
    const Reference ref(spec);
    TextGen gen(seed, words);
    for (int i = 0; i < 250; ++i) {
      // Short texts are walked in one piece, long ones (>= 256 bytes) in eight.
      const std::size_t tokens = gen.one_in(3) ? 1 + gen.below(40) : 80 + gen.below(600);
      const bool ascii_only = gen.one_in(3);
      std::string text = gen.text(ascii_only, tokens);
      if (ascii_only && text.size() >= 256) gen.straddle(text);
      expect_same(*c, ref, text, seed);
      if (HasFatalFailure()) return;
    }
  }
}

// The cut points of a long ASCII text, swept across one multi-word term with separator runs.
TEST(ClassifierDifferential, TermsAcrossPieceBoundaries) {
  Spec spec;
  spec.red.terms = {"wire money", "bank account*", "ssh"};
  spec.amber.terms = {"money", "account"};
  auto built = Classifier::build(spec);
  ASSERT_TRUE(std::holds_alternative<ClassifierPtr>(built));
  const auto c = std::get<ClassifierPtr>(built);
  const Reference ref(spec);
  for (const std::string term :
       {"Wire  \t Money", "wire_money", "WIREMONEY", "bank - Accounts", "sSh", "bank....account"}) {
    for (std::size_t at = 0; at <= 2 * term.size(); ++at) {
      for (const char around : {' ', 'x', '_'}) {
        std::string text(1024, ' ');
        for (std::size_t i = 0; i < text.size(); i += 7) text[i] = around;
        // The pieces start at every 128th byte: the term moves across each.
        for (std::size_t cut = 128; cut < text.size(); cut += 128) {
          text.replace(cut - term.size() + at, term.size(), term);
        }
        expect_same(*c, ref, text, 0);
        if (HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace clawgate::classify

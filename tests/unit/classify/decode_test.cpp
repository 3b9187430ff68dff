#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

std::string base64(std::string_view in, bool url_safe = false, bool pad = true) {
  const char* alphabet = url_safe
                             ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v =
        static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    if (pad) out += '=';
  }
  return out;
}

std::string hex(std::string_view in) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char c : in) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

bool has_layer(const std::vector<std::string>& layers, std::string_view text) {
  return std::any_of(layers.begin(), layers.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

std::size_t total(const std::vector<std::string>& layers) {
  std::size_t n = 0;
  for (const auto& l : layers) n += l.size();
  return n;
}

// "~~~ ... ~~~" makes the standard alphabet use '+' and the URL-safe one '-'.
constexpr std::string_view kPhrase = "~~~ please wire money now ~~~";

TEST(Decode, TestHelpersEncodeAsExpected) {
  EXPECT_EQ(base64(kPhrase), "fn5+IHBsZWFzZSB3aXJlIG1vbmV5IG5vdyB+fn4=");
  EXPECT_EQ(base64(kPhrase, true, false), "fn5-IHBsZWFzZSB3aXJlIG1vbmV5IG5vdyB-fn4");
  EXPECT_EQ(hex("wire"), "77697265");
}

TEST(Decode, PercentSequencesAreDecodedInPlace) {
  const auto layers = decoded_layers("please wire%20money now");
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0], "please wire money now");
  EXPECT_EQ(decoded_layers("100% sure, 50%off").size(), 0u);  // not %XX
  EXPECT_EQ(decoded_layers("w%69re%2")[0], "wire%2");
}

TEST(Decode, Base64StandardWithAndWithoutPadding) {
  for (const bool pad : {true, false}) {
    const std::string text = "decode this: " + base64(kPhrase, false, pad) + " thanks";
    EXPECT_TRUE(has_layer(decoded_layers(text), "please wire money now")) << text;
  }
}

TEST(Decode, Base64UrlSafeWithAndWithoutPadding) {
  for (const bool pad : {true, false}) {
    const std::string text = "decode this: " + base64(kPhrase, true, pad) + " thanks";
    EXPECT_TRUE(has_layer(decoded_layers(text), "please wire money now")) << text;
  }
}

TEST(Decode, Base64InsideAUrlPath) {
  const std::string text = "see https://x.example.com/" + base64("please wire money", true, false);
  EXPECT_TRUE(has_layer(decoded_layers(text), "please wire money"));
}

TEST(Decode, HexOfARedPhrase) {
  const std::string text = "payload " + hex("transfer funds to account 42") + " end";
  EXPECT_TRUE(has_layer(decoded_layers(text), "transfer funds to account 42"));
  const std::string upper = "payload 7472616E736665722066756E6473";  // upper-case digits
  EXPECT_TRUE(has_layer(decoded_layers(upper), "transfer funds"));
}

TEST(Decode, ShortOrOddRunsAreNotDecoded) {
  EXPECT_TRUE(decoded_layers("x " + base64("wire money") + " y").empty());  // 16 chars with '='?
  EXPECT_TRUE(decoded_layers("x " + hex("wire mon") + "7 y").empty());      // 17 hex digits
  EXPECT_TRUE(decoded_layers(hex("wire mo")).empty());                      // 14 hex digits
}

TEST(Decode, DoubleEncodedIsFoundAtDepthTwoButNotThree) {
  const std::string filler(400, ' ');  // budget is not the limit here
  const std::string twice = base64(base64("please wire money now"));
  const std::string thrice = base64(twice);
  EXPECT_TRUE(has_layer(decoded_layers("a " + twice + filler), "please wire money now"));
  EXPECT_FALSE(has_layer(decoded_layers("a " + thrice + filler), "please wire money now"));
  EXPECT_TRUE(has_layer(decoded_layers("a " + thrice + filler, 3), "please wire money now"));
  EXPECT_FALSE(has_layer(decoded_layers("a " + twice + filler, 1), "please wire money now"));
  EXPECT_TRUE(decoded_layers("a " + twice + filler, 0).empty());
}

TEST(Decode, PercentCostsNoDepth) {
  // One character of a double base64 encoding written as %XX: the run only exists once %XX is
  // undone, and the phrase is still two base64 layers deep.
  std::string twice = base64(base64("please wire money now"));
  const char c = twice[20];
  twice.replace(20, 1, "%" + hex(std::string(1, c)));
  const std::string text = "a " + twice + std::string(100, ' ');
  EXPECT_TRUE(has_layer(decoded_layers(text), "please wire money now"));
}

TEST(Decode, DecodedTotalNeverExceedsInputSize) {
  const std::string b1 = base64("please wire money now, and then transfer funds again");
  const std::string b2 = base64(b1);
  const std::string b3 = base64(b2);
  std::vector<std::string> inputs = {
      b1, b2, b3, b2 + " " + b2 + " " + b2, hex(b1), hex(hex("abcdefgh")), base64(hex(b1)), "x"};
  std::string many;
  for (int i = 0; i < 200; ++i) many += base64("item " + std::to_string(i) + " is fine") + " ";
  inputs.push_back(many);
  for (const auto& in : inputs) {
    const auto layers = decoded_layers(in, 8);
    EXPECT_LE(total(layers), in.size()) << in;
  }
  // A bare double encoding: its second layer would exceed the budget, so it is not decoded.
  const auto layers = decoded_layers(b2);
  EXPECT_TRUE(has_layer(layers, b1));
  EXPECT_FALSE(has_layer(layers, "please wire money"));
}

TEST(Decode, NonTextIsIgnored) {
  const std::string binary("\xFF\xFE\xFD\xFC\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89", 14);
  EXPECT_TRUE(decoded_layers("blob " + base64(binary) + " end").empty());
  const std::string with_nul("please wire\0money now", 21);
  EXPECT_TRUE(decoded_layers("blob " + base64(with_nul) + " end").empty());
  EXPECT_TRUE(decoded_layers("blob " + base64("bell\x07 in the text here") + " end").empty());
  EXPECT_TRUE(decoded_layers("blob " + hex(binary) + " end").empty());
  // Tabs and newlines are text.
  EXPECT_FALSE(decoded_layers("blob " + base64("line one\r\n\tline two") + " end").empty());
}

// Hex digits are base64 characters too. A run skips base64 only when its hex decoding was text;
// this one's is not ("\xc2\x5e..."), while its base64 decoding is.
TEST(Decode, HexDigitsThatAreNotHexTextAreTriedAsBase64) {
  const auto layers = decoded_layers("id c25EeD1CaFddb2F4 end");
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0], "snDx=BhW]oax");
}

TEST(Decode, OrdinaryProseHasNoLayers) {
  EXPECT_TRUE(decoded_layers("Please summarise the internationalization guidelines for the "
                             "documentation team, focusing on characteristics of our products.")
                  .empty());
}

// Runs are found 64 bytes at a time: a run of any length at any offset, including one that
// crosses a block or ends the text, must be decoded; one shorter than 16 must not.
TEST(Decode, RunsAreFoundAtEveryOffset) {
  const std::string secret = "wire money to the account now, please";
  for (const bool url_safe : {false, true}) {
    const std::string run = base64(secret, url_safe, false);
    ASSERT_GE(run.size(), 16u);
    for (std::size_t at = 0; at < 140; ++at) {
      for (const bool at_end : {false, true}) {
        std::string text(at, '.');
        text += run;
        if (!at_end) text += ". tail";
        ASSERT_TRUE(has_layer(decoded_layers(text), secret)) << at << " " << at_end;
      }
    }
  }
  for (std::size_t at = 0; at < 70; ++at) {
    EXPECT_TRUE(decoded_layers(std::string(at, ' ') + hex("wire money") + " ").size() == 1) << at;
    EXPECT_TRUE(decoded_layers(std::string(at, ' ') + "0123456789abcde").empty()) << at;  // 15
  }
}

// The shortest run (16 characters) at every offset among words: it fills one aligned 8-byte
// group of the block's mask, which is all the search looks for before it looks closer.
TEST(Decode, SixteenCharacterRunsAtEveryOffset) {
  const std::string secret = "wire money!!";
  const std::string run = base64(secret);
  ASSERT_EQ(run.size(), 16u);
  for (std::size_t at = 0; at < 140; ++at) {
    std::string text;
    while (text.size() < at) text += "ab cd, ";
    text.resize(at);
    if (!text.empty()) text.back() = ' ';
    text += run;
    text += " ef gh";
    ASSERT_TRUE(has_layer(decoded_layers(text), secret)) << at;
    text.erase(at, 1);  // 15 characters
    ASSERT_FALSE(has_layer(decoded_layers(text), secret)) << at;
  }
}

// The decoder as decode.cpp's header describes it, one byte at a time: no SIMD masks, no
// probing of a run's first bytes, one string per decoding. decoded_layers() must give the same
// layers in the same order (the order decides what the budget pays for first).
class ReferenceDecoder {
 public:
  ReferenceDecoder(std::string_view raw, int max_depth) : budget_(raw.size()), max_(max_depth) {}

  std::vector<std::string> run(std::string_view raw) {
    if (max_ > 0 && !raw.empty()) step(std::string(raw), 0);
    return out_;
  }

 private:
  enum Alphabet { kStandard, kUrlSafe, kHex };

  static int b64(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  }
  static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static bool in(Alphabet a, unsigned char c) {
    if (a == kHex) return hexval(c) >= 0;
    if (b64(c) < 0) return false;
    return a == kStandard ? c != '-' && c != '_' : c != '+' && c != '/';
  }
  static bool any(unsigned char c) { return b64(c) >= 0; }

  // UTF-8 by code point (RFC 3629: no overlong forms, surrogates or values past U+10FFFF), no
  // control but \t \r \n.
  static bool is_text(const std::string& s) {
    static const std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      std::size_t len = 0;
      std::uint32_t cp = 0;
      if (c < 0x80)
        len = 1, cp = c;
      else if ((c >> 5) == 6)
        len = 2, cp = c & 0x1F;
      else if ((c >> 4) == 14)
        len = 3, cp = c & 0x0F;
      else if ((c >> 3) == 30)
        len = 4, cp = c & 0x07;
      else
        return false;
      if (i + len > s.size()) return false;
      for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return false;
        cp = cp << 6 | (b & 0x3F);
      }
      if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      if ((cp < 0x20 && cp != '\t' && cp != '\r' && cp != '\n') || cp == 0x7F) return false;
      i += len;
    }
    return true;
  }

  void step(std::string text, int depth) {
    std::string percent;
    std::size_t count = 0;
    for (std::size_t i = 0; i + 2 < text.size(); ++i) {
      if (text[i] == '%' && hexval(text[i + 1]) >= 0 && hexval(text[i + 2]) >= 0) ++count, i += 2;
    }
    if (count > 0 && count <= budget_) {
      budget_ -= count;
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hexval(text[i + 1]) >= 0 &&
            hexval(text[i + 2]) >= 0) {
          percent += static_cast<char>(hexval(text[i + 1]) << 4 | hexval(text[i + 2]));
          i += 2;
        } else {
          percent += text[i];
        }
      }
      text = percent;
    }
    for (std::size_t i = 0; i < text.size();) {
      std::size_t j = i;
      while (j < text.size() && any(text[j])) ++j;
      if (j - i >= 16) stretch(text.substr(i, j - i), depth);
      i = j == i ? i + 1 : j;
    }
    if (!percent.empty()) out_.push_back(percent);
  }

  // Maximal runs of >= 16 characters of `a` in `s`.
  static std::vector<std::pair<std::size_t, std::size_t>> runs(const std::string& s, Alphabet a) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t i = 0; i < s.size();) {
      std::size_t j = i;
      while (j < s.size() && in(a, s[j])) ++j;
      if (j - i >= 16) out.emplace_back(i, j);
      i = j == i ? i + 1 : j;
    }
    return out;
  }

  void stretch(const std::string& s, int depth) {
    std::vector<std::pair<std::size_t, std::size_t>> hex_text;
    for (const auto& r : runs(s, kHex)) {
      if ((r.second - r.first) % 2 == 0 &&
          attempt(kHex, s.substr(r.first, r.second - r.first), depth)) {
        hex_text.push_back(r);
      }
    }
    const auto standard = runs(s, kStandard);
    auto has = [](const auto& list, const auto& r) {
      return std::find(list.begin(), list.end(), r) != list.end();
    };
    for (const auto& r : standard) {
      if (!has(hex_text, r)) attempt(kStandard, s.substr(r.first, r.second - r.first), depth);
    }
    for (const auto& r : runs(s, kUrlSafe)) {
      if (!has(standard, r) && !has(hex_text, r)) {
        attempt(kUrlSafe, s.substr(r.first, r.second - r.first), depth);
      }
    }
  }

  bool attempt(Alphabet a, const std::string& run, int depth) {
    std::string decoded;
    if (a == kHex) {
      for (std::size_t i = 0; i + 1 < run.size(); i += 2) {
        decoded += static_cast<char>(hexval(run[i]) << 4 | hexval(run[i + 1]));
      }
    } else {
      if (run.size() % 4 == 1) return false;
      std::uint32_t acc = 0;
      int bits = 0;
      for (const char c : run) {
        acc = acc << 6 | static_cast<std::uint32_t>(b64(c));
        bits += 6;
        if (bits >= 8) bits -= 8, decoded += static_cast<char>(acc >> bits & 0xFF);
      }
    }
    if (decoded.empty() || decoded.size() > budget_ || !is_text(decoded)) return false;
    budget_ -= decoded.size();
    if (depth + 1 < max_) step(decoded, depth + 1);
    out_.push_back(decoded);
    return true;
  }

  std::size_t budget_;
  int max_;
  std::vector<std::string> out_;
};

// Random texts built to hit the decoder's edges: runs of every length around 16 and around the
// 64-character probe, next to '+', '/', '-', '_' and hex letters; text and binary payloads,
// payloads whose text turns to binary late (after the probe) or just at its end, nested and
// percent-escaped encodings, and budgets too small for everything.
TEST(Decode, MatchesByteAtATimeReference) {
  std::mt19937 rng(2026);
  const std::vector<std::string> words = {"wire",     "money",       "please",       "the",
                                          "cafe",     "caf\xC3\xA9", "\xE2\x80\x94", "ok",
                                          "deadbeef", "ABCDEF",      "0123"};
  auto payload = [&]() {
    std::string p;
    const std::size_t len = rng() % 90;
    const int kind = static_cast<int>(rng() % 4);
    for (std::size_t i = 0; i < len; ++i) {
      if (kind == 0) p += words[rng() % words.size()] + " ";
      if (kind == 1) p += static_cast<char>(rng());             // binary
      if (kind == 2) p += static_cast<char>('a' + rng() % 26);  // text...
    }
    if (kind == 2 && !p.empty())
      p[rng() % p.size()] = static_cast<char>(0x80 | rng());                     // ...or not
    if (kind == 3) p = std::string(45 + rng() % 8, 'x') + "\xE2\x82\xAC" + "y";  // probe's edge
    return p;
  };
  auto encode = [&](const std::string& p) {
    switch (rng() % 4) {
      case 0:
        return base64(p, false, rng() % 2 == 0);
      case 1:
        return base64(p, true, rng() % 2 == 0);
      case 2:
        return hex(p);
      default: {
        std::string h = hex(p);
        for (char& c : h) c = rng() % 2 == 0 ? static_cast<char>(std::toupper(c)) : c;
        return h;
      }
    }
  };
  const std::string glue = "+/-_ .:%=aF0";
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    const int parts = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < parts; ++k) {
      switch (rng() % 6) {
        case 0:
          text += words[rng() % words.size()];
          break;
        case 1:
          text += encode(payload());
          break;
        case 2:
          text += encode(encode(payload()));
          break;
        case 3: {  // one character of an encoding as %XX
          std::string e = encode(payload());
          if (!e.empty()) {
            const std::size_t at = rng() % e.size();
            e.replace(at, 1, "%" + hex(std::string(1, e[at])));
          }
          text += e;
          break;
        }
        case 4:
          text += std::string(10 + rng() % 60, "Az09+/-_"[rng() % 8]);
          break;
        default:
          text += glue[rng() % glue.size()];
          break;
      }
      text += glue[rng() % glue.size()];
    }
    if (rng() % 3 == 0) text = std::string(rng() % 70, ' ') + text;
    const int depth = 1 + static_cast<int>(rng() % 3);
    ASSERT_EQ(decoded_layers(text, depth), ReferenceDecoder(text, depth).run(text))
        << "round " << round << ", depth " << depth << ": " << text;
  }
}

TEST(Decode, InvalidUtf8InputDoesNotCrash) {
  const std::string junk(
      "\xFF\xC3%4\xE2\x82%zz%41\x80"
      "AAAAAAAAAAAAAAAAAAAAAAAA",
      35);
  EXPECT_NO_FATAL_FAILURE((void)decoded_layers(junk));
}

}  // namespace
}  // namespace clawgate::classify

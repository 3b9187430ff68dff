#include <gtest/gtest.h>

#include <algorithm>
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

TEST(Decode, InvalidUtf8InputDoesNotCrash) {
  const std::string junk(
      "\xFF\xC3%4\xE2\x82%zz%41\x80"
      "AAAAAAAAAAAAAAAAAAAAAAAA",
      35);
  EXPECT_NO_FATAL_FAILURE((void)decoded_layers(junk));
}

}  // namespace
}  // namespace clawgate::classify

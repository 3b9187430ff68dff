// core::ascii_lower: A-Z become a-z; every other byte, the ones next to A and Z and non-ASCII
// included, stays as it is. ascii_iequals / ascii_istarts_with compare with that folding only.

#include "clawgate/core/ascii.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clawgate::core {
namespace {

TEST(AsciiLower, OnlyAsciiCapitalsChange) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const char want = b >= 'A' && b <= 'Z' ? static_cast<char>(b + ('a' - 'A')) : c;
    EXPECT_EQ(ascii_lower(c), want) << "byte " << b;
  }
  EXPECT_EQ(ascii_lower(std::string_view("X-OpenClaw-Agent-ID @[`{ \xc3\x84")),
            "x-openclaw-agent-id @[`{ \xc3\x84");
  EXPECT_EQ(ascii_lower(std::string_view("")), "");
}

TEST(AsciiLower, EqualityAndPrefixFoldOnlyAsciiCase) {
  EXPECT_TRUE(ascii_iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(ascii_iequals("", ""));
  EXPECT_FALSE(ascii_iequals("host", "hosts"));
  EXPECT_FALSE(ascii_iequals("chunked", "chunkee"));
  EXPECT_FALSE(ascii_iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit, not by case
  EXPECT_FALSE(ascii_iequals("\xc3\x84", "\xc3\xa4"));  // Ä and ä: not ASCII, not folded
  EXPECT_TRUE(ascii_istarts_with("Text/Event-Stream; charset=utf-8", "text/event-stream"));
  EXPECT_TRUE(ascii_istarts_with("OpenClaw/ops", "openclaw/"));
  EXPECT_TRUE(ascii_istarts_with("x", ""));
  EXPECT_FALSE(ascii_istarts_with("text/event", "text/event-stream"));
  EXPECT_FALSE(ascii_istarts_with("application/json", "text/event-stream"));
}

}  // namespace
}  // namespace clawgate::core

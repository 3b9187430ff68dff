// core::ascii_lower: A-Z become a-z; every other byte, the ones next to A and Z and non-ASCII
// included, stays as it is.

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

}  // namespace
}  // namespace clawgate::core

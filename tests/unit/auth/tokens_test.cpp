#include "clawgate/auth/tokens.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "clawgate/core/crypto.hpp"

namespace clawgate::auth {
namespace {

using namespace std::string_literals;

TEST(TokensBearer, ExtractsToken) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_EQ(bearer_token("BeArEr cgt_0123"), "cgt_0123");
  EXPECT_EQ(bearer_token("Bearer    abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer a.b-c_d~e+f/g="), "a.b-c_d~e+f/g=");
}

TEST(TokensBearer, RefusesEverythingElse) {
  for (const std::string value : {""s,
                                  "Bearer"s,
                                  "Bearer "s,
                                  "Bearer    "s,
                                  "Bearerabc"s,
                                  "Basic abc"s,
                                  "Bearer\tabc"s,
                                  "Bearer abc "s,
                                  "Bearer abc\t"s,
                                  "Bearer a bc"s,
                                  "Bearer a\tbc"s,
                                  " Bearer abc"s,
                                  "Token abc"s,
                                  "Bearer: abc"s,
                                  "Bearer abc\r\n"s,
                                  "Bearer a\0b"s,
                                  "Bearer ab\x7F"s,
                                  "Bearer caf\xC3\xA9"s,
                                  "Bear abc"s,
                                  "Bearerr abc"s}) {
    EXPECT_FALSE(bearer_token(value).has_value()) << value;
  }
}

class TokensAuthenticate : public ::testing::Test {
 protected:
  TokensAuthenticate()
      : auth_({Principal{"employee-001", hash_token("tok-employee"), {"employee"}},
               Principal{"manager-1", hash_token("tok-manager"), {"manager", "employee"}},
               // Same token configured twice: the first principal wins.
               Principal{"duplicate", hash_token("tok-employee"), {"other"}}}) {}

  Authenticator auth_;
};

TEST_F(TokensAuthenticate, RightTokenGivesIdentity) {
  auto id = auth_.authenticate("Bearer tok-employee");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->id, "employee-001");
  EXPECT_EQ(id->roles, (std::vector<std::string>{"employee"}));

  id = auth_.authenticate("bearer  tok-manager");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->id, "manager-1");
  EXPECT_EQ(id->roles, (std::vector<std::string>{"manager", "employee"}));
}

TEST_F(TokensAuthenticate, WrongTokensAreRefused) {
  EXPECT_FALSE(auth_.authenticate("Bearer tok-employeE"));
  EXPECT_FALSE(auth_.authenticate("Bearer tok-employee2"));
  EXPECT_FALSE(auth_.authenticate("Bearer tok"));
  EXPECT_FALSE(auth_.authenticate("Bearer " + hash_token("tok-employee")));  // digest != token
  EXPECT_FALSE(auth_.authenticate("Basic tok-employee"));
  EXPECT_FALSE(auth_.authenticate("tok-employee"));
  EXPECT_FALSE(auth_.authenticate("Bearer tok-employee "));
}

TEST_F(TokensAuthenticate, EmptyTokenIsRefused) {
  EXPECT_FALSE(auth_.authenticate(""));
  EXPECT_FALSE(auth_.authenticate("Bearer "));
  EXPECT_FALSE(auth_.authenticate("Bearer"));
}

TEST(TokensAuthenticateConfig, NoPrincipalsRefusesAll) {
  const Authenticator none({});
  EXPECT_FALSE(none.authenticate("Bearer anything"));
}

TEST(TokensAuthenticateConfig, EmptyOrBadDigestsNeverMatch) {
  const Authenticator auth({Principal{"a", "", {}}, Principal{"b", "not-hex", {}}});
  EXPECT_FALSE(auth.authenticate("Bearer x"));
  EXPECT_FALSE(auth.authenticate("Bearer not-hex"));
}

TEST(TokensAuthenticateConfig, UpperCaseDigestStillMatches) {
  std::string digest = hash_token("tok");
  for (char& c : digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const Authenticator auth({Principal{"a", digest, {"r"}}});
  const auto id = auth.authenticate("Bearer tok");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->id, "a");
}

TEST(TokensHash, IsSha256Hex) {
  EXPECT_EQ(hash_token(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_token("tok"), core::sha256_hex("tok"));
}

TEST(TokensNew, FormatAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::optional<std::string> t = new_token();
    ASSERT_TRUE(t.has_value());
    ASSERT_EQ(t->size(), 4u + 64u);
    EXPECT_EQ(t->substr(0, 4), "cgt_");
    EXPECT_TRUE(core::is_lower_hex(t->substr(4), 64)) << *t;
    EXPECT_TRUE(bearer_token("Bearer " + *t).has_value());
    seen.insert(*t);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(TokensNew, NewTokenAuthenticatesThroughItsHash) {
  const std::string token = new_token().value();
  const Authenticator auth({Principal{"cli", hash_token(token), {}}});
  EXPECT_TRUE(auth.authenticate("Bearer " + token).has_value());
  EXPECT_FALSE(auth.authenticate("Bearer " + new_token().value()).has_value());
}

}  // namespace
}  // namespace clawgate::auth

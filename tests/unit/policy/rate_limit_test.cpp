// Unit tests for RateLimiter (SPEC §5 rate_limit): burst, refill, retry_after, per-key isolation,
// all-or-nothing across rules, limits changed by a reload. A fake clock: nothing sleeps.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "clawgate/policy/policy.hpp"

namespace clawgate::policy {
namespace {

using nlohmann::json;
using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1000);

Rule limited(const std::string& id, std::uint32_t max, std::uint32_t per_s,
             std::vector<std::string> key) {
  Rule r;
  r.id = id;
  r.decision = Decision::allow;
  r.rate_limit = RateLimit{max, per_s, std::move(key)};
  return r;
}

Input who(const std::string& identity, const std::string& tool = "web_fetch") {
  Input in;
  in.route = "tools";
  in.identity = identity;
  in.roles = {"employee"};
  in.agent = "main";
  in.tool = tool;
  return in;
}

Verdict verdict_of(std::initializer_list<const Rule*> rules) {
  Verdict v;
  v.decision = Decision::allow;
  v.rate_limited_rules.assign(rules.begin(), rules.end());
  return v;
}

TEST(RateLimitBucket, BurstThenRefuseWithRetryAfter) {
  RateLimiter rl;
  const Rule r = limited("fetch", 5, 60, {"identity"});
  const Verdict v = verdict_of({&r});
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.take(v, who("a"), t0).allowed) << i;
  const auto out = rl.take(v, who("a"), t0);
  EXPECT_FALSE(out.allowed);
  EXPECT_EQ(out.rule, "fetch");
  EXPECT_EQ(out.retry_after_s, 12);  // one token every 60/5 s
  // Refusals take nothing: still 12 s from t0.
  EXPECT_EQ(rl.take(v, who("a"), t0 + seconds(2)).retry_after_s, 10);
  EXPECT_EQ(rl.take(v, who("a"), t0 + milliseconds(11500)).retry_after_s, 1);  // ceil(0.5)
}

TEST(RateLimitBucket, RefillsAtMaxPerPeriod) {
  RateLimiter rl;
  const Rule r = limited("fetch", 5, 60, {"identity"});
  const Verdict v = verdict_of({&r});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.take(v, who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(v, who("a"), t0 + seconds(11)).allowed);
  EXPECT_TRUE(rl.take(v, who("a"), t0 + seconds(12)).allowed);  // exactly one token back
  EXPECT_FALSE(rl.take(v, who("a"), t0 + seconds(12)).allowed);
  EXPECT_TRUE(rl.take(v, who("a"), t0 + seconds(24)).allowed);
  // A long idle period refills to max, never beyond.
  const auto later = t0 + seconds(3600);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.take(v, who("a"), later).allowed) << i;
  EXPECT_FALSE(rl.take(v, who("a"), later).allowed);
}

TEST(RateLimitBucket, RetryAfterIsAtLeastOneSecond) {
  RateLimiter rl;
  const Rule r = limited("fast", 100, 1, {"identity"});  // a token every 10 ms
  const Verdict v = verdict_of({&r});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl.take(v, who("a"), t0).allowed);
  const auto out = rl.take(v, who("a"), t0);
  EXPECT_FALSE(out.allowed);
  EXPECT_EQ(out.retry_after_s, 1);
  EXPECT_TRUE(rl.take(v, who("a"), t0 + milliseconds(10)).allowed);
}

TEST(RateLimitBucket, ClockGoingBackwardsAddsNothing) {
  RateLimiter rl;
  const Rule r = limited("x", 1, 10, {"identity"});
  const Verdict v = verdict_of({&r});
  EXPECT_TRUE(rl.take(v, who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(v, who("a"), t0 - seconds(100)).allowed);
  EXPECT_FALSE(rl.take(v, who("a"), t0 + seconds(9)).allowed);
  EXPECT_TRUE(rl.take(v, who("a"), t0 + seconds(10)).allowed);
}

TEST(RateLimitKey, IdentitiesAreIsolated) {
  RateLimiter rl;
  const Rule r = limited("fetch", 1, 60, {"identity"});
  const Verdict v = verdict_of({&r});
  EXPECT_TRUE(rl.take(v, who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(v, who("a"), t0).allowed);
  EXPECT_TRUE(rl.take(v, who("b"), t0).allowed);
  EXPECT_TRUE(rl.take(v, who("a", "exec"), t0).allowed == false);  // tool is not in the key
}

TEST(RateLimitKey, EachKeyField) {
  const Input base = who("a");
  struct Case {
    std::string field;
    Input other;
  };
  std::vector<Case> cases;
  Input tool = base;
  tool.tool = "exec";
  cases.push_back({"tool", tool});
  Input agent = base;
  agent.agent = "ops";
  cases.push_back({"agent", agent});
  Input role = base;
  role.roles = {"finance"};
  cases.push_back({"role", role});
  Input risk = base;
  risk.risk = classify::Tier::red;
  cases.push_back({"risk", risk});
  Input id = base;
  id.identity = "b";
  cases.push_back({"identity", id});
  for (const auto& c : cases) {
    RateLimiter rl;
    const Rule r = limited("k", 1, 60, {c.field});
    const Verdict v = verdict_of({&r});
    EXPECT_TRUE(rl.take(v, base, t0).allowed) << c.field;
    EXPECT_FALSE(rl.take(v, base, t0).allowed) << c.field;
    EXPECT_TRUE(rl.take(v, c.other, t0).allowed) << c.field;  // its own bucket
    EXPECT_FALSE(rl.take(v, c.other, t0).allowed) << c.field;
  }
}

TEST(RateLimitKey, RolesAreASortedSet) {
  RateLimiter rl;
  const Rule r = limited("k", 1, 60, {"role"});
  const Verdict v = verdict_of({&r});
  Input ab = who("a");
  ab.roles = {"x", "y"};
  Input ba = who("b");
  ba.roles = {"y", "x"};
  EXPECT_TRUE(rl.take(v, ab, t0).allowed);
  EXPECT_FALSE(rl.take(v, ba, t0).allowed);  // same role set, same bucket
}

TEST(RateLimitKey, NoAmbiguityBetweenFields) {
  RateLimiter rl;
  const Rule r = limited("k", 1, 60, {"identity", "agent"});
  const Verdict v = verdict_of({&r});
  Input a = who("a|b");
  a.agent = "c";
  Input b = who("a");
  b.agent = "b|c";
  EXPECT_TRUE(rl.take(v, a, t0).allowed);
  EXPECT_TRUE(rl.take(v, b, t0).allowed);
}

TEST(RateLimitKey, RulesHaveTheirOwnBuckets) {
  RateLimiter rl;
  const Rule r1 = limited("one", 1, 60, {"identity"});
  const Rule r2 = limited("two", 1, 60, {"identity"});
  EXPECT_TRUE(rl.take(verdict_of({&r1}), who("a"), t0).allowed);
  EXPECT_TRUE(rl.take(verdict_of({&r2}), who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(verdict_of({&r1}), who("a"), t0).allowed);
}

TEST(RateLimitAllOrNothing, RefusalTakesNoToken) {
  RateLimiter rl;
  const Rule big = limited("big", 3, 60, {"identity"});
  const Rule small = limited("small", 1, 60, {"identity"});
  EXPECT_TRUE(rl.take(verdict_of({&big, &small}), who("a"), t0).allowed);  // big 2, small 0
  for (int i = 0; i < 5; ++i) {
    const auto out = rl.take(verdict_of({&big, &small}), who("a"), t0);
    EXPECT_FALSE(out.allowed);
    EXPECT_EQ(out.rule, "small");
    EXPECT_EQ(out.retry_after_s, 60);
  }
  // big was never charged for the refused requests: two tokens left.
  EXPECT_TRUE(rl.take(verdict_of({&big}), who("a"), t0).allowed);
  EXPECT_TRUE(rl.take(verdict_of({&big}), who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(verdict_of({&big}), who("a"), t0).allowed);
}

TEST(RateLimitAllOrNothing, ReportsTheLongestWait) {
  RateLimiter rl;
  const Rule a = limited("a", 1, 10, {"identity"});
  const Rule b = limited("b", 1, 30, {"identity"});
  EXPECT_TRUE(rl.take(verdict_of({&a, &b}), who("x"), t0).allowed);
  const auto out = rl.take(verdict_of({&a, &b}), who("x"), t0);
  EXPECT_FALSE(out.allowed);
  EXPECT_EQ(out.rule, "b");
  EXPECT_EQ(out.retry_after_s, 30);
}

TEST(RateLimitReload, SameLimitsKeepTheBucketChangedLimitsStartOver) {
  RateLimiter rl;
  const Rule r = limited("fetch", 1, 60, {"identity"});
  EXPECT_TRUE(rl.take(verdict_of({&r}), who("a"), t0).allowed);
  const Rule same = limited("fetch", 1, 60, {"identity"});  // a reloaded copy
  EXPECT_FALSE(rl.take(verdict_of({&same}), who("a"), t0).allowed);
  const Rule more = limited("fetch", 2, 60, {"identity"});
  EXPECT_TRUE(rl.take(verdict_of({&more}), who("a"), t0).allowed);
  EXPECT_TRUE(rl.take(verdict_of({&more}), who("a"), t0).allowed);
  EXPECT_FALSE(rl.take(verdict_of({&more}), who("a"), t0).allowed);
}

TEST(RateLimitBucket, NothingToLimit) {
  RateLimiter rl;
  const auto out = rl.take(Verdict{}, who("a"), t0);
  EXPECT_TRUE(out.allowed);
  EXPECT_EQ(out.retry_after_s, 0);
}

// Fills the limiter with distinct identities until it refuses a new one; returns how many fit.
int fill(RateLimiter& rl, const Verdict& v, Clock::time_point now,
         const std::string& prefix = "id-", int limit = 300000) {
  int n = 0;
  while (n < limit && rl.take(v, who(prefix + std::to_string(n)), now).allowed) ++n;
  return n;
}

TEST(RateLimitMemory, BoundedAndFailClosedWhileBucketsAreActive) {
  RateLimiter rl;
  const Rule r = limited("k", 1, 3600, {"identity"});
  const Verdict v = verdict_of({&r});
  const int n = fill(rl, v, t0);
  EXPECT_GE(n, 190000);
  EXPECT_LE(n, 200000);
  const auto out = rl.take(v, who("newcomer"), t0 + seconds(5));
  EXPECT_FALSE(out.allowed);  // no unbounded growth, and no bucket reset to hand out a burst
  EXPECT_EQ(out.rule, "k");
  EXPECT_EQ(out.retry_after_s, 1);
  EXPECT_FALSE(rl.take(v, who("id-17"), t0 + seconds(5)).allowed);  // state kept
}

TEST(RateLimitMemory, IdleFullBucketsAreEvicted) {
  RateLimiter rl;
  const Rule r = limited("k", 1, 10, {"identity"});
  const Verdict v = verdict_of({&r});
  ASSERT_GE(fill(rl, v, t0), 190000);
  EXPECT_FALSE(rl.take(v, who("newcomer"), t0 + seconds(1)).allowed);  // all still refilling
  // After a whole refill period every bucket is full again: the sweep drops them and makes room.
  EXPECT_TRUE(rl.take(v, who("newcomer"), t0 + seconds(10)).allowed);
  EXPECT_TRUE(rl.take(v, who("id-17"), t0 + seconds(10)).allowed);  // starts full, as it would
  EXPECT_FALSE(rl.take(v, who("id-17"), t0 + seconds(10)).allowed);
  EXPECT_EQ(fill(rl, v, t0 + seconds(10), "more-", 1000), 1000);  // room for many more
}

}  // namespace
}  // namespace clawgate::policy

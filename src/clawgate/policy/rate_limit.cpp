// Token buckets for rules' rate_limit (SPEC §5): capacity `max`, refilled at max/per_s tokens per
// second, starting full. One request takes one token from every limiting rule or none at all.

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "clawgate/policy/policy.hpp"

namespace clawgate::policy {

namespace {

// Above this many buckets, idle full ones are dropped (they carry no state: a new bucket starts
// full too). Past twice as many, requests that would need a new bucket are refused: memory stays
// bounded and an overflow never hands out fresh bursts.
constexpr std::size_t kSweepAbove = 100000;
constexpr std::size_t kHardCap = 2 * kSweepAbove;
// Sweeps cost O(buckets); at most one per second keeps a flood of new keys from turning every
// request into a full scan. The bookkeeping lives in the map under a key no bucket can have
// (bucket keys start with a digit).
constexpr const char* kSweepKey = "";
constexpr auto kSweepEvery = std::chrono::seconds(1);
// Refill arithmetic is in doubles; this absorbs rounding ("0.9999999999 tokens").
constexpr double kEpsilon = 1e-9;

// Appends one length-prefixed field, so no choice of values can make two keys collide
// ("a|b" + "c" vs "a" + "b|c").
void add_field(std::string& key, std::string_view value) {
  key += std::to_string(value.size());
  key += ':';
  key += value;
}

// The rule id, its limits' key fields and their values, as one unambiguous string. It starts
// with a digit, so it never equals the sweep bookkeeping key.
std::string bucket_key(const Rule& rule, const Input& in) {
  std::string key;
  add_field(key, rule.id);
  for (const auto& field : rule.rate_limit->key) {
    add_field(key, field);
    if (field == "identity") {
      add_field(key, in.identity);
    } else if (field == "role") {
      std::vector<std::string> roles = in.roles;
      std::sort(roles.begin(), roles.end());
      roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
      std::string joined;
      for (const auto& r : roles) add_field(joined, r);
      add_field(key, joined);
    } else if (field == "tool") {
      add_field(key, in.tool ? "=" + *in.tool : "-");  // absent differs from ""
    } else if (field == "agent") {
      add_field(key, in.agent);
    } else if (field == "risk") {
      add_field(key, classify::to_string(in.risk));
    }
  }
  return key;
}

double seconds(RateLimiter::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

RateLimiter::Outcome RateLimiter::take(const Verdict& verdict, const Input& input,
                                       Clock::time_point now) {
  if (verdict.rate_limited_rules.empty()) return {};
  std::lock_guard<std::mutex> lock(mu_);

  if (buckets_.size() > kSweepAbove) {
    auto [mark, fresh] = buckets_.try_emplace(kSweepKey, Bucket{0, now, 0, 0});
    if (fresh || now - mark->second.updated >= kSweepEvery) {
      mark->second.updated = now;
      // A bucket idle for its whole refill period is full again: dropping it changes nothing.
      std::erase_if(buckets_, [now](const auto& kv) {
        const Bucket& b = kv.second;
        return kv.first != kSweepKey && now - b.updated >= std::chrono::seconds(b.per_s);
      });
    }
  }

  std::vector<Bucket*> taking;
  Outcome refused;
  refused.allowed = true;
  for (const Rule* rule : verdict.rate_limited_rules) {
    if (rule == nullptr || !rule->rate_limit) continue;
    const RateLimit& rl = *rule->rate_limit;
    if (rl.max == 0 || rl.per_s == 0) continue;  // not a limit a loaded policy can hold
    const std::string key = bucket_key(*rule, input);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kHardCap) {
        // Fail closed rather than grow without bound or reset someone's bucket.
        if (refused.allowed) refused = {false, rule->id, 1};
        continue;
      }
      it = buckets_.emplace(key, Bucket{static_cast<double>(rl.max), now, rl.max, rl.per_s}).first;
    }
    Bucket& b = it->second;
    if (b.max != rl.max || b.per_s != rl.per_s) {
      // The rule's limits changed across a reload: start over with the new ones.
      b = Bucket{static_cast<double>(rl.max), now, rl.max, rl.per_s};
    }
    if (now > b.updated) {
      const double rate = static_cast<double>(b.max) / static_cast<double>(b.per_s);
      b.tokens = std::min(static_cast<double>(b.max), b.tokens + seconds(now - b.updated) * rate);
      b.updated = now;
    }
    if (b.tokens + kEpsilon >= 1.0) {
      taking.push_back(&b);
      continue;
    }
    const double wait =
        (1.0 - b.tokens) * static_cast<double>(b.per_s) / static_cast<double>(b.max);
    const auto retry =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait - kEpsilon)));
    // Report the longest wait: retrying earlier would be refused again.
    if (refused.allowed || retry > refused.retry_after_s) refused = {false, rule->id, retry};
  }
  if (!refused.allowed) return refused;
  for (Bucket* b : taking) b->tokens = std::max(0.0, b->tokens - 1.0);
  return {};
}

}  // namespace clawgate::policy

#include "clawgate/approval/store.hpp"

#include <gtest/gtest.h>

#include <latch>
#include <regex>
#include <set>
#include <thread>

#include "clawgate/core/crypto.hpp"
#include "unit/approval/approval_test_util.hpp"

namespace clawgate::approval {
namespace {

using test_util::ApprovalFixture;

class ApprovalStoreTest : public ApprovalFixture {
 protected:
  void SetUp() override {
    ApprovalFixture::SetUp();
    open();
  }
};

std::vector<std::string> events(const std::vector<Transition>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(t.event + " " + t.approval.id);
  return out;
}

TEST_F(ApprovalStoreTest, CreateApproveUseThenSecondUseIsUsed) {
  const auto a = create();
  EXPECT_EQ(a.state, State::pending);
  EXPECT_EQ(a.created_at_us, kStart);
  EXPECT_EQ(a.expires_at_us, kStart + kTtlUs);
  EXPECT_EQ(store_->pending_count(), 1U);

  now_ += 1'000'000;
  const auto d = decide(a.id, true, "looks fine");
  EXPECT_EQ(d.state, State::approved);
  EXPECT_EQ(d.reviewer, "manager-1");
  EXPECT_EQ(d.note, "looks fine");
  EXPECT_EQ(d.decided_at_us, kStart + 1'000'000);
  EXPECT_EQ(store_->pending_count(), 0U);

  now_ += 1'000'000;
  const auto first = store_->use(a.id, a.identity, a.request_sha256);
  EXPECT_EQ(first.check, UseCheck::ok);
  EXPECT_FALSE(first.io_error);
  ASSERT_TRUE(first.approval);
  EXPECT_EQ(first.approval->state, State::used);
  EXPECT_EQ(first.approval->used_at_us, kStart + 2'000'000);

  const auto second = store_->use(a.id, a.identity, a.request_sha256);
  EXPECT_EQ(second.check, UseCheck::used);
  EXPECT_EQ(state_of(a.id), State::used);
}

TEST_F(ApprovalStoreTest, MismatchesDoNotConsumeTheApproval) {
  const auto a = create();
  decide(a.id, true);
  store_->take_transitions();

  // Identity is checked before the request hash.
  EXPECT_EQ(store_->use(a.id, "employee-002", "0").check, UseCheck::identity_mismatch);
  EXPECT_EQ(store_->use(a.id, "employee-002", a.request_sha256).check, UseCheck::identity_mismatch);
  const auto other = request_sha256("tools", "main", a.session, {{"tool", "exec"}, {"x", 1}});
  const auto mismatch = store_->use(a.id, a.identity, other);
  EXPECT_EQ(mismatch.check, UseCheck::request_mismatch);
  ASSERT_TRUE(mismatch.approval);
  EXPECT_EQ(mismatch.approval->state, State::approved);
  EXPECT_EQ(state_of(a.id), State::approved);
  EXPECT_TRUE(store_->take_transitions().empty()) << "failed checks are not transitions";

  EXPECT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::ok);
}

TEST_F(ApprovalStoreTest, DeniedIsDeniedAndFinal) {
  const auto a = create();
  const auto d = decide(a.id, false, std::nullopt);
  EXPECT_EQ(d.state, State::denied);
  EXPECT_EQ(d.note, std::nullopt);
  const auto r = store_->use(a.id, a.identity, a.request_sha256);
  EXPECT_EQ(r.check, UseCheck::denied);
  ASSERT_TRUE(r.approval);
  EXPECT_EQ(r.approval->state, State::denied);
  // Denied wins over every later check, even a wrong identity.
  EXPECT_EQ(store_->use(a.id, "someone-else", "x").check, UseCheck::denied);
  EXPECT_EQ(std::get<DecideError>(store_->decide(a.id, true, "m", {})), DecideError::conflict);
  EXPECT_EQ(state_of(a.id), State::denied);
}

TEST_F(ApprovalStoreTest, PendingIsNotApproved) {
  const auto a = create();
  const auto r = store_->use(a.id, a.identity, a.request_sha256);
  EXPECT_EQ(r.check, UseCheck::not_approved);
  EXPECT_EQ(state_of(a.id), State::pending);
  decide(a.id, true);
  EXPECT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::ok);
}

TEST_F(ApprovalStoreTest, UnknownIdIsUnknownEverywhere) {
  const auto r = store_->use("apr_00000000000000000000000000000000", "employee-001", "x");
  EXPECT_EQ(r.check, UseCheck::unknown);
  EXPECT_FALSE(r.approval);
  EXPECT_EQ(std::get<DecideError>(store_->decide("apr_nope", true, "m", {})), DecideError::unknown);
  EXPECT_FALSE(store_->get("apr_nope"));
}

TEST_F(ApprovalStoreTest, DecideTwiceIsConflict) {
  const auto a = create();
  decide(a.id, true, "first");
  const auto again = store_->decide(a.id, false, "manager-2", "second");
  ASSERT_TRUE(std::holds_alternative<DecideError>(again));
  EXPECT_EQ(std::get<DecideError>(again), DecideError::conflict);
  const auto now = store_->get(a.id);
  EXPECT_EQ(now->state, State::approved);
  EXPECT_EQ(now->reviewer, "manager-1");
  EXPECT_EQ(now->note, "first");
}

TEST_F(ApprovalStoreTest, PendingExpiresAtTtl) {
  const auto a = create();
  now_ = kStart + kTtlUs - 1;
  EXPECT_EQ(state_of(a.id), State::pending);
  EXPECT_EQ(store_->pending_count(), 1U);
  now_ = kStart + kTtlUs;
  store_->expire_due();
  EXPECT_EQ(state_of(a.id), State::expired);
  EXPECT_EQ(store_->pending_count(), 0U);
  EXPECT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::expired);
  EXPECT_EQ(std::get<DecideError>(store_->decide(a.id, true, "m", {})), DecideError::expired);
  const auto ts = store_->take_transitions();
  ASSERT_EQ(ts.size(), 2U);
  EXPECT_EQ(ts[1].event, "approval_expired");
  EXPECT_EQ(ts[1].approval.state, State::expired);
}

TEST_F(ApprovalStoreTest, ApprovedButUnusedExpires) {
  const auto a = create();
  decide(a.id, true);
  now_ = kStart + kTtlUs + 5;
  const auto r = store_->use(a.id, a.identity, a.request_sha256);  // expires first, then checks
  EXPECT_EQ(r.check, UseCheck::expired);
  ASSERT_TRUE(r.approval);
  EXPECT_EQ(r.approval->state, State::expired);
  EXPECT_EQ(r.approval->reviewer, "manager-1") << "the decision stays on the record";
  EXPECT_EQ(events(store_->take_transitions()),
            (std::vector<std::string>{"approval_requested " + a.id, "approval_granted " + a.id,
                                      "approval_expired " + a.id}));
}

TEST_F(ApprovalStoreTest, DecideOnJustExpiredIsExpired) {
  const auto a = create();
  now_ = kStart + kTtlUs;  // no operation in between: decide itself must notice
  const auto r = store_->decide(a.id, true, "m", {});
  ASSERT_TRUE(std::holds_alternative<DecideError>(r));
  EXPECT_EQ(std::get<DecideError>(r), DecideError::expired);
  EXPECT_EQ(state_of(a.id), State::expired);
  EXPECT_FALSE(store_->get(a.id)->reviewer);
}

TEST_F(ApprovalStoreTest, FinalStatesDoNotExpire) {
  const auto used = create();
  decide(used.id, true);
  ASSERT_EQ(store_->use(used.id, used.identity, used.request_sha256).check, UseCheck::ok);
  const auto denied = create();
  decide(denied.id, false);
  store_->take_transitions();
  now_ = kStart + 10 * kTtlUs;
  store_->expire_due();
  EXPECT_EQ(state_of(used.id), State::used);
  EXPECT_EQ(state_of(denied.id), State::denied);
  EXPECT_TRUE(store_->take_transitions().empty());
}

TEST_F(ApprovalStoreTest, TransitionsAreReportedInOrderAndDrained) {
  const auto a = create();
  now_ += 1;
  const auto b = create();
  decide(a.id, true);
  decide(b.id, false, "no");
  ASSERT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::ok);
  const auto ts = store_->take_transitions();
  EXPECT_EQ(events(ts),
            (std::vector<std::string>{"approval_requested " + a.id, "approval_requested " + b.id,
                                      "approval_granted " + a.id, "approval_denied " + b.id,
                                      "approval_used " + a.id}));
  // Each carries the state after its transition.
  EXPECT_EQ(ts[0].approval.state, State::pending);
  EXPECT_EQ(ts[2].approval.state, State::approved);
  EXPECT_EQ(ts[3].approval.note, "no");
  EXPECT_EQ(ts[4].approval.state, State::used);
  EXPECT_TRUE(store_->take_transitions().empty());
}

TEST_F(ApprovalStoreTest, IdsAreUniqueAndWellFormed) {
  const std::regex shape("apr_[0-9a-f]{32}");
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const auto a = create();
    EXPECT_TRUE(std::regex_match(a.id, shape)) << a.id;
    ids.insert(a.id);
  }
  EXPECT_EQ(ids.size(), 200U);
}

TEST_F(ApprovalStoreTest, ListIsNewestFirstAndFiltersByState) {
  const auto a = create();
  now_ += 10;
  const auto b = create();
  now_ += 10;
  const auto c = create();
  decide(b.id, true);
  const auto all = store_->list(std::nullopt);
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].id, c.id);
  EXPECT_EQ(all[1].id, b.id);
  EXPECT_EQ(all[2].id, a.id);
  const auto pending = store_->list(State::pending);
  ASSERT_EQ(pending.size(), 2U);
  EXPECT_EQ(pending[0].id, c.id);
  EXPECT_EQ(pending[1].id, a.id);
  ASSERT_EQ(store_->list(State::approved).size(), 1U);
  EXPECT_TRUE(store_->list(State::used).empty());
  now_ = kStart + 2 * kTtlUs;
  EXPECT_EQ(store_->list(State::expired).size(), 3U) << "list expires first";
}

TEST_F(ApprovalStoreTest, ConcurrentUseLetsExactlyOneThrough) {
  for (int round = 0; round < 50; ++round) {
    const auto a = create();
    decide(a.id, true);
    std::latch start(2);
    UseCheck results[2];
    auto racer = [&](int i) {
      start.arrive_and_wait();
      results[i] = store_->use(a.id, a.identity, a.request_sha256).check;
    };
    std::thread t0(racer, 0);
    std::thread t1(racer, 1);
    t0.join();
    t1.join();
    const int oks = (results[0] == UseCheck::ok) + (results[1] == UseCheck::ok);
    EXPECT_EQ(oks, 1) << "round " << round;
    EXPECT_TRUE(results[0] == UseCheck::used || results[1] == UseCheck::used);
  }
}

TEST_F(ApprovalStoreTest, ConcurrentCreatesAreAllJournaled) {
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = store_->create(sample());
        if (auto* a = std::get_if<Approval>(&r)) ids[static_cast<std::size_t>(t)].push_back(a->id);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> unique;
  for (const auto& v : ids) unique.insert(v.begin(), v.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kEach));
  open();  // replay: every line is whole and every id is there
  EXPECT_EQ(store_->list(State::pending).size(), unique.size());
  for (const auto& id : unique) EXPECT_TRUE(store_->get(id)) << id;
}

TEST(ApprovalJson, ToJsonHasEveryKeyWithNullsAndTimestamps) {
  Approval a;
  a.id = "apr_0123456789abcdef0123456789abcdef";
  a.identity = "employee-001";
  a.route = "chat";
  a.agent = "main";
  a.created_at_us = 1'700'000'000'123'456;
  a.expires_at_us = a.created_at_us + 900'000'000;
  const auto j = a.to_json();
  const std::set<std::string> want{
      "id",         "state",      "trace_id",   "identity", "route",          "agent",
      "session",    "tool",       "action",     "summary",  "request_sha256", "policy_sha256",
      "created_at", "expires_at", "decided_at", "reviewer", "note",           "used_at"};
  std::set<std::string> got;
  for (const auto& [k, v] : j.items()) got.insert(k);
  EXPECT_EQ(got, want);
  EXPECT_EQ(j["state"], "pending");
  EXPECT_EQ(j["created_at"], "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(j["expires_at"], "2023-11-14T22:28:20.123456Z");
  for (const char* k : {"session", "tool", "action", "decided_at", "reviewer", "note", "used_at"}) {
    EXPECT_TRUE(j[k].is_null()) << k;
  }

  a.state = State::used;
  a.session = "s";
  a.tool = "exec";
  a.action = "run";
  a.decided_at_us = a.created_at_us + 1;
  a.reviewer = "manager-1";
  a.note = "ok";
  a.used_at_us = a.created_at_us + 2;
  const auto k = a.to_json();
  EXPECT_EQ(k["state"], "used");
  EXPECT_EQ(k["session"], "s");
  EXPECT_EQ(k["decided_at"], "2023-11-14T22:13:20.123457Z");
  EXPECT_EQ(k["used_at"], "2023-11-14T22:13:20.123458Z");
  EXPECT_EQ(k["reviewer"], "manager-1");
}

TEST(ApprovalJson, FormatTsMatchesTheAuditFormat) {
  EXPECT_EQ(format_ts(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_ts(1'700'000'000'000'001), "2023-11-14T22:13:20.000001Z");
  EXPECT_EQ(format_ts(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(ApprovalRequestHash, CoversEveryPartAndIgnoresKeyOrder) {
  const nlohmann::json body = nlohmann::json::parse(R"({"b":[1,"é"],"a":{"y":null,"x":true}})");
  const auto h = request_sha256("tools", "main", std::string("s-1"), body);
  EXPECT_EQ(h,
            core::sha256_hex("tools\nmain\ns-1\n{\"a\":{\"x\":true,\"y\":null},\"b\":[1,\"é\"]}"));
  EXPECT_EQ(request_sha256("tools", "main", std::nullopt, body),
            core::sha256_hex("tools\nmain\n\n{\"a\":{\"x\":true,\"y\":null},\"b\":[1,\"é\"]}"));
  const auto reordered = nlohmann::json::parse(R"({"a":{"x":true,"y":null},"b":[1,"é"]})");
  EXPECT_EQ(request_sha256("tools", "main", std::string("s-1"), reordered), h);
  EXPECT_NE(request_sha256("chat", "main", std::string("s-1"), body), h);
  EXPECT_NE(request_sha256("tools", "other", std::string("s-1"), body), h);
  EXPECT_NE(request_sha256("tools", "main", std::string("s-2"), body), h);
  EXPECT_NE(request_sha256("tools", "main", std::string("s-1"), nlohmann::json{{"b", 1}}), h);
}

TEST(ApprovalWords, StatesAndChecksHaveSpecWords) {
  for (State s : {State::pending, State::approved, State::denied, State::expired, State::used}) {
    EXPECT_EQ(parse_state(to_string(s)), s);
  }
  EXPECT_EQ(parse_state("Pending"), std::nullopt);
  EXPECT_EQ(to_string(UseCheck::not_approved), "not_approved");
  EXPECT_EQ(to_string(UseCheck::identity_mismatch), "identity_mismatch");
  EXPECT_EQ(to_string(UseCheck::request_mismatch), "request_mismatch");
  EXPECT_EQ(to_string(UseCheck::used), "used");
}

}  // namespace
}  // namespace clawgate::approval

// upstream.serialize_sessions (SPEC §3): one session's requests go upstream one at a time;
// different sessions and session-less requests run side by side.

#include <latch>
#include <thread>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

class Sessions : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    upstream_->on(kChatPath, [](const UpstreamRequest&, UpstreamConn& c) {
      if (c.sleep_for(Millis{300})) {
        c.respond(200, R"({"object":"chat.completion"})");
      }
    });
  }

  // Sends the requests at once (one thread each) and returns their statuses.
  std::vector<int> concurrently(const std::vector<std::pair<std::string, Headers>>& reqs) {
    std::vector<int> statuses(reqs.size(), -1);
    std::latch go(static_cast<std::ptrdiff_t>(reqs.size()));
    std::vector<std::thread> threads;
    const std::uint16_t p = port();
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      threads.emplace_back([&, i] {
        go.arrive_and_wait();
        statuses[i] = http_request(p, "POST", kChatPath, reqs[i].second, reqs[i].first).status;
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    return statuses;
  }

  static std::string chat(const std::string& user) {
    json j{{"model", "openclaw"},
           {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
    if (!user.empty()) {
      j["user"] = user;
    }
    return j.dump();
  }
};

TEST_F(Sessions, SameUserGoesUpstreamOneAtATime) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto st = concurrently({{chat("conv-1"), employee()},
                                {chat("conv-1"), employee()},
                                {chat("conv-1"), employee()},
                                {chat("conv-1"), employee()}});
  for (int s : st) {
    EXPECT_EQ(s, 200);
  }
  EXPECT_EQ(upstream_->proxied_count(), 4u);
  EXPECT_EQ(upstream_->max_in_flight("conv-1"), 1)
      << "concurrent first turns of one session reached the gateway together";
}

TEST_F(Sessions, SameSessionKeyHeaderGoesUpstreamOneAtATime) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const Headers h = employee({{"x-openclaw-session-key", "team-room-7"}});
  const auto st = concurrently({{chat(""), h}, {chat(""), h}, {chat(""), h}, {chat(""), h}});
  for (int s : st) {
    EXPECT_EQ(s, 200);
  }
  EXPECT_EQ(upstream_->proxied_count(), 4u);
  EXPECT_EQ(upstream_->max_in_flight("team-room-7"), 1);
}

TEST_F(Sessions, DifferentUsersRunConcurrently) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto st = concurrently({{chat("u-1"), employee()},
                                {chat("u-2"), employee()},
                                {chat("u-3"), employee()},
                                {chat("u-4"), employee()}});
  for (int s : st) {
    EXPECT_EQ(s, 200);
  }
  EXPECT_GT(upstream_->max_in_flight_total(), 1) << "different sessions were serialised";
}

TEST_F(Sessions, SessionlessRequestsRunConcurrently) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto st = concurrently({{chat(""), employee()},
                                {chat(""), employee()},
                                {chat(""), employee()},
                                {chat(""), employee()}});
  for (int s : st) {
    EXPECT_EQ(s, 200);
  }
  EXPECT_GT(upstream_->max_in_flight_total(), 1) << "session-less requests were serialised";
}

TEST_F(Sessions, SerialisationOffLetsOneUserRunConcurrently) {
  config_["upstream"]["serialize_sessions"] = false;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto st = concurrently({{chat("conv-9"), employee()},
                                {chat("conv-9"), employee()},
                                {chat("conv-9"), employee()},
                                {chat("conv-9"), employee()}});
  for (int s : st) {
    EXPECT_EQ(s, 200);
  }
  EXPECT_GT(upstream_->max_in_flight("conv-9"), 1);
}

}  // namespace
}  // namespace clawgate::itest

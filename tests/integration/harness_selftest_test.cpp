// The harness checked against itself (no clawgate involved): if these fail, the other
// integration tests' verdicts mean nothing.

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "integration/harness.hpp"

namespace clawgate::itest {
namespace {

TEST(Harness, ClientAndFakeUpstreamExchangeWithKeepAlive) {
  FakeUpstream up;
  up.on("/x", [](const UpstreamRequest& r, UpstreamConn& c) {
    c.respond(201, "echo:" + r.body, "text/plain", {{"X-Test", "1"}});
  });
  RawClient c;
  ASSERT_TRUE(c.connect(up.port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(make_request("POST", "/x", up.port(), {{"A", "b"}}, "hello")));
    const HttpResponse r = c.read_response(Millis{3000});
    ASSERT_EQ(r.status, 201) << r.describe();
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body, "echo:hello");
    EXPECT_EQ(r.header("x-test").value_or(""), "1");
  }
  ASSERT_TRUE(up.wait_proxied(3, Millis{1000}));
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("a").value_or(""), "b");
  EXPECT_EQ(reqs[0].body, "hello");
  EXPECT_EQ(up.accepted_connections(), 1);
  EXPECT_EQ(up.proxied_connections(), 1u);
}

TEST(Harness, ChunkedRequestBodyIsDecoded) {
  FakeUpstream up;
  const std::string req = make_request("POST", "/c", up.port(), {{"Transfer-Encoding", "chunked"}},
                                       "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
  const HttpResponse r = raw_exchange(up.port(), req);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].chunked);
  EXPECT_EQ(reqs[0].body, "abcde");
}

TEST(Harness, SseEventsAreReadIncrementally) {
  std::atomic<long long> third_sent{0};
  FakeUpstream up;  // after the state its handler uses: stopped first
  up.on("/s", [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    c.sse_event("data: 1\n\n");
    c.sleep_for(Millis{200});
    c.sse_event("data: 2\n\n");
    c.sleep_for(Millis{200});
    third_sent = Clock::now().time_since_epoch().count();
    c.sse_event("data: 3\n\n");
    c.sse_end();
  });
  RawClient c;
  ASSERT_TRUE(c.connect(up.port()));
  ASSERT_TRUE(c.send(make_request("GET", "/s", up.port())));
  const HttpResponse head = c.read_head(Millis{3000});
  ASSERT_EQ(head.status, 200);
  EXPECT_TRUE(head.chunked);
  Clock::time_point at;
  const auto ev = c.read_sse_event(Millis{3000}, &at);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(*ev, "data: 1\n\n");
  bool complete = false;
  EXPECT_EQ(c.read_body_rest(Millis{3000}, &complete), "data: 2\n\ndata: 3\n\n");
  EXPECT_TRUE(complete);
  EXPECT_LT(at.time_since_epoch().count(), third_sent.load());
}

TEST(Harness, TruncatedBodiesAreReportedIncomplete) {
  FakeUpstream up;
  up.on("/half", [](const UpstreamRequest&, UpstreamConn& c) {
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    c.close();
  });
  up.on("/cut", [](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    c.sse_event("data: 1\n\n");
    c.close();
  });
  up.on("/reset", [](const UpstreamRequest&, UpstreamConn& c) { c.reset(); });
  HttpResponse r = http_request(up.port(), "GET", "/half");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  r = http_request(up.port(), "GET", "/cut");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.body, "data: 1\n\n");
  bool closed = false;
  r = raw_exchange(up.port(), make_request("GET", "/reset", up.port()), &closed);
  EXPECT_EQ(r.status, -1);
  EXPECT_TRUE(closed);
}

TEST(Harness, PeerCloseIsDetectedByTheFake) {
  std::atomic<bool> saw{false};
  std::atomic<bool> done{false};
  FakeUpstream up;
  up.on("/w", [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    saw = c.wait_peer_closed(Millis{3000});
    done = true;
  });
  {
    RawClient c;
    ASSERT_TRUE(c.connect(up.port()));
    ASSERT_TRUE(c.send(make_request("GET", "/w", up.port())));
    ASSERT_EQ(c.read_head(Millis{3000}).status, 200);
  }
  const auto deadline = Clock::now() + Millis{4000};
  while (!done.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis{10});
  }
  EXPECT_TRUE(saw.load());
}

TEST(Harness, ConcurrencyIsTrackedPerSession) {
  FakeUpstream up;
  up.on("/p", [](const UpstreamRequest&, UpstreamConn& c) {
    c.sleep_for(Millis{200});
    c.respond(200, "{}");
  });
  std::latch go(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      go.arrive_and_wait();
      http_request(up.port(), "POST", "/p", {}, R"({"user":"same"})");
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(up.max_in_flight("same"), 3);
  EXPECT_EQ(up.max_in_flight_total(), 3);
}

TEST(Harness, ProcessRunnerParsesListeningLinesAndStops) {
  TempDir dir;
  ClawgateProcess p("/bin/sh",
                    {"-c",
                     "echo 'x proxy listening on 127.0.0.1:1234' >&2; "
                     "echo 'admin listening on 127.0.0.1:5678' >&2; exec sleep 30"},
                    {"PATH=/usr/bin:/bin"}, dir.path());
  const auto res = p.start(Millis{5000});
  ASSERT_TRUE(res.listening) << res.why;
  EXPECT_EQ(p.proxy_port(), 1234);
  EXPECT_EQ(p.admin_port(), 5678);
  EXPECT_EQ(p.stop(Millis{3000}).value_or(-1), 128 + 15);
}

TEST(Harness, ProcessRunnerReportsEarlyExit) {
  TempDir dir;
  ClawgateProcess p("/bin/sh", {"-c", "echo 'bad key: upstream.timeout_ms' >&2; exit 1"},
                    {"PATH=/usr/bin:/bin"}, dir.path());
  const auto res = p.start(Millis{5000});
  EXPECT_FALSE(res.listening);
  ASSERT_TRUE(res.exit_code.has_value());
  EXPECT_EQ(*res.exit_code, 1);
  EXPECT_NE(p.stderr_text().find("upstream.timeout_ms"), std::string::npos);
}

}  // namespace
}  // namespace clawgate::itest

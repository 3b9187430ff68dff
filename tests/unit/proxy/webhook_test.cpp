// The approval webhook sender (SPEC §6): delivery, order, retries, timeouts, overflow and stop,
// against a blocking loopback receiver on 127.0.0.1:0. Every wait is bounded; no assertion
// depends on how long something took.

#include "clawgate/proxy/webhook.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace clawgate::proxy {
namespace {

namespace http = beast::http;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // upper bound for anything the tests wait for

// A loopback HTTP receiver on its own thread: blocking accept, read one request per
// connection, answer with the status the script gives for the n-th request (0-based).
// Status 0 means "never answer": the connection is held open until the receiver goes away.
class Receiver {
 public:
  using Script = std::function<unsigned(std::size_t n)>;

  explicit Receiver(Script script)
      : script_(std::move(script)),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() { shutdown(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // The answer to the first request waits for release().
  void hold_first() {
    std::lock_guard lock(mu_);
    hold_first_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  bool wait_requests(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return seen_.size() >= n; });
  }
  std::vector<http::request<http::string_body>> requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  void shutdown() {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
      released_ = true;
      cv_.notify_all();
    }
    // Wake the blocking accept with one last connection.
    net::io_context ioc;
    tcp::socket poke(ioc);
    error_code ec;
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

 private:
  void run() {
    for (;;) {
      tcp::socket sock(ioc_);
      error_code ec;
      acceptor_.accept(sock, ec);
      {
        std::lock_guard lock(mu_);
        if (ec || closing_) return;
      }
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(sock, buffer, req, ec);
      if (ec) continue;
      std::size_t n = 0;
      {
        std::unique_lock lock(mu_);
        n = seen_.size();
        seen_.push_back(req);
        cv_.notify_all();
        if (n == 0 && hold_first_) cv_.wait(lock, [&] { return released_; });
      }
      const unsigned status = script_(n);
      if (status == 0) {
        held_.push_back(std::move(sock));
        continue;
      }
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      res.set(http::field::content_type, "text/plain");
      if (status != 204) res.body() = "answer " + std::to_string(n);
      res.prepare_payload();
      http::write(sock, res, ec);
      sock.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  Script script_;
  net::io_context ioc_;  // only for the blocking socket calls; never run
  tcp::acceptor acceptor_;
  std::uint16_t port_ = acceptor_.local_endpoint().port();
  std::vector<tcp::socket> held_;  // receiver thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<http::request<http::string_body>> seen_;
  bool hold_first_ = false;
  bool released_ = false;
  bool closing_ = false;
  std::thread thread_;
};

struct Reported {
  json event;
  bool delivered = false;
  std::string error;
};

class Reports {
 public:
  Webhook::Report callback() {
    return [this](const json& event, bool delivered, std::string error) {
      std::lock_guard lock(mu_);
      got_.push_back(Reported{event, delivered, std::move(error)});
      cv_.notify_all();
    };
  }
  bool wait(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return got_.size() >= n; });
  }
  std::vector<Reported> all() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Reported> got_;
};

json event(int seq) {
  json e = json::object();
  e["type"] = "approval.created";
  e["seq"] = seq;
  e["approval"] = {{"id", "apr_" + std::to_string(seq)}, {"state", "pending"}};
  return e;
}

std::uint16_t closed_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_ = std::thread([this] {
      ioc_.run();
      ran_out_.set_value();
    });
  }

  void TearDown() override {
    for (auto& hook : hooks_) hook->stop();
    hooks_.clear();
    guard_.reset();
    // Stopped senders leave no work behind, so run() returns on its own.
    if (ran_out_.get_future().wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "the io_context still had work after every webhook stopped";
      ioc_.stop();
    }
    runner_.join();
  }

  static Webhook::Options options(const std::string& url) {
    Webhook::Options o;
    o.url = url;
    o.timeout = 10s;  // never reached unless a test means it to be
    o.attempts = 3;
    o.backoff = 5ms;
    return o;
  }

  std::shared_ptr<Webhook> make(Webhook::Options o) {
    auto r = Webhook::create(ioc_, std::move(o), reports_.callback());
    if (auto* error = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "create failed: " << *error;
      return nullptr;
    }
    hooks_.push_back(std::get<std::shared_ptr<Webhook>>(r));
    return hooks_.back();
  }

  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_{
      ioc_.get_executor()};
  std::promise<void> ran_out_;
  std::thread runner_;
  Reports reports_;
  std::vector<std::shared_ptr<Webhook>> hooks_;
};

TEST_F(WebhookTest, PostsTheEventAsJsonWithHeaders) {
  Receiver rx([](std::size_t) { return 200U; });
  auto hook = make(options(rx.url("/hooks/clawgate?team=sec")));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(reports_.wait(1));
  const auto got = reports_.all();
  EXPECT_TRUE(got[0].delivered);
  EXPECT_EQ(got[0].error, "");
  EXPECT_EQ(got[0].event, event(1));

  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1U);
  const auto& req = reqs[0];
  EXPECT_EQ(req.method(), http::verb::post);
  EXPECT_EQ(req.target(), "/hooks/clawgate?team=sec");
  EXPECT_EQ(req[http::field::host], "127.0.0.1:" + std::to_string(rx.port()));
  EXPECT_EQ(req[http::field::content_type], "application/json");
  EXPECT_EQ(req[http::field::user_agent], "clawgate");
  EXPECT_EQ(req[http::field::content_length], std::to_string(req.body().size()));
  const json body = json::parse(req.body(), nullptr, false);
  EXPECT_EQ(body, event(1));
}

TEST_F(WebhookTest, RootPathWhenTheUrlHasNone) {
  Receiver rx([](std::size_t) { return 204U; });
  auto hook = make(options("http://127.0.0.1:" + std::to_string(rx.port())));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(reports_.wait(1));
  EXPECT_TRUE(reports_.all()[0].delivered);  // any 2xx
  ASSERT_EQ(rx.requests().size(), 1U);
  EXPECT_EQ(rx.requests()[0].target(), "/");
}

TEST_F(WebhookTest, EventsArriveInOrder) {
  Receiver rx([](std::size_t) { return 200U; });
  auto hook = make(options(rx.url()));
  ASSERT_TRUE(hook);
  constexpr int kEvents = 8;
  for (int i = 0; i < kEvents; ++i) hook->send(event(i));
  ASSERT_TRUE(reports_.wait(kEvents));
  const auto got = reports_.all();
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    const auto at = static_cast<std::size_t>(i);
    EXPECT_TRUE(got[at].delivered);
    EXPECT_EQ(got[at].event["seq"], i);
    EXPECT_EQ(json::parse(reqs[at].body())["seq"], i);
  }
}

TEST_F(WebhookTest, RetriesUntilA2xx) {
  Receiver rx([](std::size_t n) { return n < 2 ? 500U : 200U; });
  auto hook = make(options(rx.url()));
  ASSERT_TRUE(hook);
  hook->send(event(7));
  ASSERT_TRUE(reports_.wait(1));
  const auto got = reports_.all();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_TRUE(got[0].delivered);
  EXPECT_EQ(got[0].error, "");
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3U);
  for (const auto& r : reqs) EXPECT_EQ(json::parse(r.body()), event(7));
}

TEST_F(WebhookTest, GivesUpAfterExactlyAttemptsTries) {
  Receiver rx([](std::size_t) { return 500U; });
  auto o = options(rx.url());
  o.attempts = 3;
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(reports_.wait(1));
  const auto got = reports_.all();
  EXPECT_FALSE(got[0].delivered);
  EXPECT_THAT(got[0].error, StartsWith("not delivered after 3 tries"));
  EXPECT_THAT(got[0].error, HasSubstr("HTTP 500"));
  EXPECT_EQ(rx.requests().size(), 3U);  // the report comes after the last try

  // The next event gets its own tries; a failed one does not block the queue.
  hook->send(event(2));
  ASSERT_TRUE(reports_.wait(2));
  EXPECT_FALSE(reports_.all()[1].delivered);
  EXPECT_EQ(reports_.all()[1].event, event(2));
  EXPECT_EQ(rx.requests().size(), 6U);
}

TEST_F(WebhookTest, OneAttemptMeansNoRetry) {
  Receiver rx([](std::size_t n) { return n == 0 ? 503U : 200U; });
  auto o = options(rx.url());
  o.attempts = 1;
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  hook->send(event(2));
  ASSERT_TRUE(reports_.wait(2));
  const auto got = reports_.all();
  EXPECT_FALSE(got[0].delivered);
  EXPECT_EQ(got[0].error, "not delivered after 1 try: answered HTTP 503");
  EXPECT_TRUE(got[1].delivered);
  EXPECT_EQ(rx.requests().size(), 2U);
}

TEST_F(WebhookTest, ReceiverThatNeverAnswersTimesOut) {
  Receiver rx([](std::size_t) { return 0U; });  // read the request, never answer
  auto o = options(rx.url());
  o.timeout = 200ms;
  o.attempts = 2;
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(reports_.wait(1));
  const auto got = reports_.all();
  EXPECT_FALSE(got[0].delivered);
  EXPECT_THAT(got[0].error, StartsWith("not delivered after 2 tries"));
  EXPECT_THAT(got[0].error, HasSubstr("timed out"));
  EXPECT_EQ(rx.requests().size(), 2U);
}

TEST_F(WebhookTest, NothingListeningIsAConnectionFailure) {
  auto o = options("http://127.0.0.1:" + std::to_string(closed_port()) + "/hook");
  o.attempts = 2;
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(reports_.wait(1));
  const auto got = reports_.all();
  EXPECT_FALSE(got[0].delivered);
  EXPECT_THAT(got[0].error, StartsWith("not delivered after 2 tries: connecting to 127.0.0.1:"));
  EXPECT_THAT(got[0].error, HasSubstr("refused"));
}

TEST_F(WebhookTest, SendReturnsWhileTheReceiverStalls) {
  Receiver rx([](std::size_t) { return 200U; });
  rx.hold_first();
  auto hook = make(options(rx.url()));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(rx.wait_requests(1));
  // The receiver is now sitting on the first answer; these calls must not wait for it.
  hook->send(event(2));
  hook->send(event(3));
  EXPECT_TRUE(reports_.all().empty());
  EXPECT_EQ(rx.requests().size(), 1U);  // one at a time: nothing else was sent yet
  rx.release();
  ASSERT_TRUE(reports_.wait(3));
  const auto got = reports_.all();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(got[i].delivered);
    EXPECT_EQ(got[i].event["seq"], i + 1);
  }
}

TEST_F(WebhookTest, QueueOverflowDropsAndReports) {
  Receiver rx([](std::size_t) { return 200U; });
  rx.hold_first();
  auto o = options(rx.url());
  o.max_queue = 2;
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(rx.wait_requests(1));  // event 1 is in flight, the queue is empty
  hook->send(event(2));
  hook->send(event(3));  // the queue is full now
  hook->send(event(4));
  hook->send(event(5));
  ASSERT_TRUE(reports_.wait(2));
  auto got = reports_.all();
  ASSERT_EQ(got.size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(got[i].delivered);
    EXPECT_EQ(got[i].event["seq"], i + 4);
    EXPECT_EQ(got[i].error, "webhook queue full (2 events waiting); event dropped");
  }
  rx.release();
  ASSERT_TRUE(reports_.wait(5));
  got = reports_.all();
  for (std::size_t i = 2; i < 5; ++i) {
    EXPECT_TRUE(got[i].delivered);
    EXPECT_EQ(got[i].event["seq"], i - 1);
  }
  EXPECT_EQ(rx.requests().size(), 3U);
}

TEST_F(WebhookTest, StopReportsTheInFlightAndQueuedEvents) {
  Receiver rx([](std::size_t) { return 200U; });
  rx.hold_first();
  auto hook = make(options(rx.url()));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(rx.wait_requests(1));
  hook->send(event(2));
  hook->send(event(3));
  hook->stop();
  ASSERT_TRUE(reports_.wait(3));
  std::vector<int> seqs;
  for (const auto& r : reports_.all()) {
    EXPECT_FALSE(r.delivered);
    EXPECT_EQ(r.error, "webhook stopped before the event was delivered");
    seqs.push_back(r.event["seq"].get<int>());
  }
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, (std::vector<int>{1, 2, 3}));

  hook->send(event(4));  // refused, and said so
  ASSERT_TRUE(reports_.wait(4));
  EXPECT_FALSE(reports_.all()[3].delivered);
  EXPECT_EQ(reports_.all()[3].error, "webhook stopped; event not sent");
  hook->stop();  // twice is harmless
  rx.release();
  EXPECT_EQ(rx.requests().size(), 1U);
}

TEST_F(WebhookTest, StopDuringBackoffEndsTheRetries) {
  Receiver rx([](std::size_t) { return 500U; });
  auto o = options(rx.url());
  o.attempts = 5;
  o.backoff = 60s;  // would outlive the test if stop() did not cut it short
  auto hook = make(std::move(o));
  ASSERT_TRUE(hook);
  hook->send(event(1));
  ASSERT_TRUE(rx.wait_requests(1));
  hook->stop();
  ASSERT_TRUE(reports_.wait(1));
  EXPECT_FALSE(reports_.all()[0].delivered);
  EXPECT_EQ(reports_.all()[0].error, "webhook stopped before the event was delivered");
  EXPECT_EQ(rx.requests().size(), 1U);
}

TEST_F(WebhookTest, SendFromManyThreadsDeliversEverything) {
  Receiver rx([](std::size_t) { return 200U; });
  auto hook = make(options(rx.url()));
  ASSERT_TRUE(hook);
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&hook, t] {
      for (int i = 0; i < 5; ++i) hook->send(event(t * 100 + i));
    });
  }
  for (auto& s : senders) s.join();
  ASSERT_TRUE(reports_.wait(20));
  for (const auto& r : reports_.all()) EXPECT_TRUE(r.delivered);
  EXPECT_EQ(rx.requests().size(), 20U);
}

TEST_F(WebhookTest, CreateRefusesBadOptions) {
  auto error_of = [this](Webhook::Options o) {
    auto r = Webhook::create(ioc_, std::move(o), nullptr);
    if (auto* e = std::get_if<std::string>(&r)) return *e;
    return std::string("<created>");
  };
  auto o = options("https://hooks.example.com/x");
  EXPECT_THAT(error_of(o), StartsWith("webhook_url: https:// is not supported in this build"));
  o = options("http://127.0.0.1:9/x");
  o.attempts = 0;
  EXPECT_EQ(error_of(o), "webhook: attempts must be at least 1");
  o = options("http://127.0.0.1:9/x");
  o.timeout = 0ms;
  EXPECT_EQ(error_of(o), "webhook: timeout must be positive");
  o = options("http://127.0.0.1:9/x");
  o.max_queue = 0;
  EXPECT_EQ(error_of(o), "webhook: max_queue must be at least 1");
  EXPECT_EQ(error_of(options("http://127.0.0.1:9/x")), "<created>");
}

TEST_F(WebhookTest, NoReportCallbackIsFine) {
  Receiver rx([](std::size_t) { return 200U; });
  auto r = Webhook::create(ioc_, options(rx.url()), nullptr);
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Webhook>>(r));
  auto hook = std::get<std::shared_ptr<Webhook>>(r);
  hooks_.push_back(hook);
  hook->send(event(1));
  ASSERT_TRUE(rx.wait_requests(1));
}

// ---- URL checks ------------------------------------------------------------------------------

TEST(WebhookUrl, UsableUrls) {
  for (const char* url :
       {"http://127.0.0.1:9000/hook", "http://hooks.internal", "http://hooks.internal/",
        "HTTP://Relay_1:8080/a/b?c=d", "http://[::1]:8080/x", "http://[fe80::1]"}) {
    EXPECT_EQ(check_webhook_url(url), std::nullopt) << url;
  }
}

TEST(WebhookUrl, PartsForTheRequest) {
  auto p = parse_webhook_url("http://hooks.internal/a/b?c=d");
  ASSERT_TRUE(std::holds_alternative<WebhookUrl>(p));
  auto u = std::get<WebhookUrl>(p);
  EXPECT_EQ(u.host, "hooks.internal");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/a/b?c=d");
  EXPECT_EQ(u.host_header, "hooks.internal");

  u = std::get<WebhookUrl>(parse_webhook_url("http://127.0.0.1:9000"));
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header, "127.0.0.1:9000");

  u = std::get<WebhookUrl>(parse_webhook_url("http://relay?x=1"));
  EXPECT_EQ(u.target, "/?x=1");

  u = std::get<WebhookUrl>(parse_webhook_url("http://[::1]:8080/x"));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.host_header, "[::1]:8080");
}

TEST(WebhookUrl, Refusals) {
  const auto why = [](const char* url) { return check_webhook_url(url).value_or("<usable>"); };
  EXPECT_EQ(why("https://hooks.example.com/x"),
            "https:// is not supported in this build; use an http:// endpoint on a trusted "
            "network or a local relay");
  EXPECT_EQ(why(""), "must be a non-empty http:// URL");
  EXPECT_EQ(why("hooks.internal/x"), "must be an http:// URL (http://host[:port][/path])");
  EXPECT_EQ(why("ftp://x"), "must start with http:// (got scheme \"ftp\")");
  EXPECT_EQ(why("us:er@x://y"), "must start with http://");  // no echo of a possible secret
  EXPECT_EQ(why("http://"), "must name a host (http://host[:port][/path])");
  EXPECT_EQ(why("http:///x"), "must name a host (http://host[:port][/path])");
  EXPECT_EQ(why("http://:80/x"), "must name a host (http://host[:port][/path])");
  EXPECT_EQ(why("http://h:0"), "port must be an integer from 1 to 65535");
  EXPECT_EQ(why("http://h:65536"), "port must be an integer from 1 to 65535");
  EXPECT_EQ(why("http://h:x"), "port must be an integer from 1 to 65535");
  EXPECT_EQ(why("http://h:"), "port must be an integer from 1 to 65535");
  EXPECT_EQ(why("http://u:pw@h/x"), "must not contain userinfo (user:password@)");
  EXPECT_EQ(why("http://h/x#y"), "must not have a fragment");
  EXPECT_EQ(why("http://h/a b"), "must not contain spaces, control or non-ASCII characters");
  EXPECT_EQ(why("http://h\x01/"), "must not contain spaces, control or non-ASCII characters");
  EXPECT_EQ(why("http://h%41/"), "host must be a DNS name or an IP literal");
  EXPECT_EQ(why("http://[::1/x"), "has an unterminated IPv6 bracket");
  EXPECT_EQ(why("http://[]/x"), "host must be a valid IPv6 literal inside brackets");
  EXPECT_EQ(why("http://[::1]x/"), "has unexpected text after the IPv6 host");
}

}  // namespace
}  // namespace clawgate::proxy

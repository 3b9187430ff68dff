// upstream::Client sends a request only after the handlers that were already queued on its I/O
// thread have run: the requests decided in one event-loop round go out together, so a gateway
// sharing the core is woken about once per round (docs/performance.md, "Sends grouped per
// round"). A loopback server thread plays the gateway; it reads the second request only after
// the check has looked at its socket, so what the check sees is what clawgate had sent.

#include "clawgate/upstream/client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace clawgate::upstream {
namespace {

using namespace std::chrono_literals;

// Accepts one connection and answers each request on it with an empty 200, for `requests`
// requests. Before reading the second one it waits until allow_second() was called.
class OneConnectionServer {
 public:
  explicit OneConnectionServer(int requests) : requests_(requests) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listen_fd_, 4) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneConnectionServer() {
    allow_second();
    // Unblocks the thread wherever it waits: in accept, or in recv for a request never sent.
    ::shutdown(listen_fd_, SHUT_RDWR);
    {
      std::lock_guard lock(mu_);
      if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    }
    if (thread_.joinable()) thread_.join();
    if (conn_fd_ >= 0) ::close(conn_fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }

  // Whether request bytes wait unread on the server's side of the connection (no wait).
  bool bytes_waiting() {
    std::lock_guard lock(mu_);
    if (conn_fd_ < 0) return false;
    char byte = 0;
    return ::recv(conn_fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
  }
  void allow_second() {
    std::lock_guard lock(mu_);
    second_allowed_ = true;
    cv_.notify_all();
  }

 private:
  void serve() {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    {
      std::lock_guard lock(mu_);
      conn_fd_ = fd;
    }
    for (int i = 0; i < requests_; ++i) {
      if (i == 1) {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, 10s, [this] { return second_allowed_; })) return;
      }
      // The requests carry no body: a request ends at its blank line.
      std::string got;
      std::array<char, 4096> buf{};
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) return;
        got.append(buf.data(), static_cast<std::size_t>(n));
      }
      static constexpr std::string_view kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (::send(fd, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(kAnswer.size())) {
        return;
      }
    }
  }

  int requests_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int conn_fd_ = -1;
  bool second_allowed_ = false;
};

http::request<http::string_body> get(std::uint16_t port) {
  http::request<http::string_body> req{http::verb::get, "/readyz", 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  return req;
}

TEST(UpstreamClient, SendsOnlyAfterTheHandlersAlreadyQueuedHaveRun) {
  OneConnectionServer server(2);
  ASSERT_NE(server.port(), 0) << "cannot listen on 127.0.0.1";
  config::Upstream cfg;
  cfg.url = "http://127.0.0.1:" + std::to_string(server.port());
  cfg.host = "127.0.0.1";
  cfg.port = server.port();
  net::io_context ioc;
  Client client(ioc, cfg);
  ASSERT_EQ(client.init(), std::nullopt);

  // Whether the second request was on the wire when a handler queued just before it ran.
  std::optional<bool> sent_before_queued_handler;
  auto run = [&]() -> task<std::string> {
    const auto deadline = Clock::now() + 10s;
    // The first exchange opens the connection; the second reuses it, so sending it needs no
    // wait of its own (a connect would let the queued handler run either way).
    auto first = co_await client.start(get(server.port()), deadline);
    if (!std::holds_alternative<ExchangePtr>(first)) co_return "the first exchange failed";
    std::get<ExchangePtr>(first)->finish();
    if (client.idle_connections() != 1) co_return "the first connection was not pooled";
    net::post(ioc, [&] {
      sent_before_queued_handler = server.bytes_waiting();
      server.allow_second();
    });
    auto second = co_await client.start(get(server.port()), deadline);
    if (!std::holds_alternative<ExchangePtr>(second)) co_return "the second exchange failed";
    co_return "";
  };
  auto done = net::co_spawn(ioc, run(), net::use_future);
  ioc.run_for(20s);
  ASSERT_EQ(done.wait_for(0s), std::future_status::ready) << "the exchanges did not finish";
  EXPECT_EQ(done.get(), "");
  ASSERT_TRUE(sent_before_queued_handler.has_value()) << "the queued handler never ran";
  EXPECT_FALSE(*sent_before_queued_handler)
      << "the request was sent before a handler queued ahead of it had run";
}

}  // namespace
}  // namespace clawgate::upstream

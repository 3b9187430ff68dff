#include "clawgate/server/listener.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace clawgate::server {

Listener::Listener(net::io_context& ioc, std::string name, std::shared_ptr<RequestHandler> handler,
                   ConnectionLimits limits, std::size_t max_connections, unsigned io_threads)
    : ioc_(ioc),
      strands_(io_threads > 1),
      name_(std::move(name)),
      handler_(std::move(handler)),
      limits_(limits),
      max_connections_(max_connections),
      acceptor_(ioc) {}

Listener::~Listener() = default;

error_code Listener::open(const std::string& host, std::uint16_t port) {
  error_code ec;
  const auto addr = net::ip::make_address(host, ec);
  if (ec) return ec;
  const tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (ec) return ec;
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return ec;
  acceptor_.bind(ep, ec);
  if (ec) return ec;
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  return ec;
}

tcp::endpoint Listener::local_endpoint() const {
  error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::start() {
  net::co_spawn(acceptor_.get_executor(), accept_loop(), [name = name_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::critical("{}: accept loop ended: {}", name, x.what());
    }
  });
}

task<void> Listener::accept_loop() {
  for (;;) {
    // With one thread running the io_context a connection's handlers never run concurrently; a
    // strand would only add a queue and an executor copy to every operation.
    const net::any_io_executor ex =
        strands_ ? net::any_io_executor(net::make_strand(ioc_)) : ioc_.get_executor();
    auto [ec, sock] = co_await acceptor_.async_accept(ex);
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("{}: accept failed: {}", name_, ec.message());
      timer_t backoff(co_await net::this_coro::executor, std::chrono::milliseconds(100));
      co_await backoff.async_wait();
      continue;
    }
    // The session's cancellation signal: ClientConnection emits it when the client hangs up
    // while the upstream works. It lives in the completion handler, which outlives the session.
    auto cancel = std::make_unique<net::cancellation_signal>();
    net::cancellation_signal* signal = cancel.get();
    net::co_spawn(
        ex, run_session(std::move(sock), signal),
        net::bind_cancellation_slot(
            signal->slot(), [name = name_, cancel = std::move(cancel)](std::exception_ptr e) {
              if (!e) return;
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& x) {
                spdlog::error("{}: connection ended by exception: {}", name, x.what());
              }
            }));
  }
}

Listener::Handle Listener::track(const net::any_io_executor& strand) {
  std::lock_guard lock(mu_);
  tracked_.push_front(std::make_shared<Tracked>(Tracked{strand, nullptr}));
  return tracked_.begin();
}

void Listener::untrack(Handle h) {
  std::lock_guard lock(mu_);
  (*h)->conn = nullptr;
  tracked_.erase(h);
}

task<void> Listener::run_session(socket_t sock, net::cancellation_signal* cancel) {
  const std::size_t now_active = ++active_;
  const auto strand = sock.get_executor();
  ClientConnection conn(std::move(sock), limits_);
  conn.set_drain_flag(&draining_);
  conn.set_cancel_signal(cancel);
  const Handle h = track(strand);
  {
    std::lock_guard lock(mu_);
    (*h)->conn = &conn;
  }
  if (now_active > max_connections_) {
    co_await handler_->refuse_overloaded(conn);
  } else {
    for (;;) {
      if (draining_.load()) break;
      std::string head;
      const HeadResult r = co_await conn.read_head(head);
      if (r == HeadResult::closed) break;
      if (r != HeadResult::ok) {
        co_await handler_->refuse_head(conn, r, head);
        break;
      }
      const bool keep = co_await handler_->handle(conn, std::move(head));
      if (!keep) break;
    }
  }
  co_await conn.lingering_close();
  untrack(h);
  --active_;
}

void Listener::begin_drain() {
  draining_.store(true);
  net::post(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
  });
  std::lock_guard lock(mu_);
  for (const auto& t : tracked_) {
    net::post(t->strand, [t] {
      // Only connections waiting for a new request are closed now; busy ones finish.
      if (t->conn != nullptr && t->conn->idle()) {
        error_code ignored;
        t->conn->socket().cancel(ignored);
      }
    });
  }
}

void Listener::cut_all() {
  std::lock_guard lock(mu_);
  for (const auto& t : tracked_) {
    net::post(t->strand, [t] {
      if (t->conn != nullptr) {
        error_code ignored;
        t->conn->socket().shutdown(tcp::socket::shutdown_both, ignored);
        t->conn->socket().cancel(ignored);
      }
    });
  }
}

}  // namespace clawgate::server

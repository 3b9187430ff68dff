#pragma once
// A listening socket and its connections: one coroutine per connection (on a strand of its own
// when more than one thread runs the io_context), a connection cap, and graceful drain (stop
// accepting, close idle keep-alive connections, let in-flight requests finish, then cut
// whatever is left).

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "clawgate/core/net.hpp"
#include "clawgate/server/client_connection.hpp"

namespace clawgate::server {

// Handles one request whose head has been read and validated. Returns true when the connection
// may carry another request.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual task<bool> handle(ClientConnection& conn, std::string head) = 0;
  // Answers a connection refused before its request (connection cap); writes and returns.
  virtual task<void> refuse_overloaded(ClientConnection& conn) = 0;
  // Answers a head that could not be read: 408 (timeout) or 431 (too large).
  virtual task<void> refuse_head(ClientConnection& conn, HeadResult why, std::string_view partial) = 0;
};

class Listener {
 public:
  Listener(net::io_context& ioc, std::string name, std::shared_ptr<RequestHandler> handler,
           ConnectionLimits limits, std::size_t max_connections, unsigned io_threads);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  error_code open(const std::string& host, std::uint16_t port);
  tcp::endpoint local_endpoint() const;
  void start();

  // Drain: stop accepting and close connections that sit idle between requests. In-flight
  // requests finish; their responses carry Connection: close.
  void begin_drain();
  bool draining() const { return draining_.load(); }
  std::size_t active() const { return active_.load(); }
  // Closes every remaining connection (the end of the grace period).
  void cut_all();

 private:
  struct Tracked {
    net::any_io_executor strand;
    ClientConnection* conn = nullptr;  // valid while registered; used only on `strand`
  };
  using Handle = std::list<std::shared_ptr<Tracked>>::iterator;

  task<void> accept_loop();
  task<void> run_session(socket_t sock, net::cancellation_signal* cancel);
  Handle track(const net::any_io_executor& strand);
  void untrack(Handle h);

  net::io_context& ioc_;
  const bool strands_;  // more than one thread runs ioc_
  std::string name_;
  std::shared_ptr<RequestHandler> handler_;
  ConnectionLimits limits_;
  std::size_t max_connections_;
  acceptor_t acceptor_;
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> active_{0};
  std::mutex mu_;
  std::list<std::shared_ptr<Tracked>> tracked_;
};

}  // namespace clawgate::server

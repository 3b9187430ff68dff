#pragma once
// The upstream (gateway) client: a keep-alive connection pool over http or https (certificate
// and host name verified), connect and response deadlines, and an Exchange that reads the
// response head first so the caller can relay the body buffered or as a stream.

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "clawgate/config/config.hpp"
#include "clawgate/core/net.hpp"

namespace clawgate::upstream {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

enum class Failure {
  none,
  refused,          // could not connect / resolve (502)
  connect_timeout,  // connect did not finish in connect_timeout_ms (504)
  timeout,          // no response head (or whole buffered response) in time (504)
  reset,            // connection reset or closed early (502)
  protocol,         // unparsable response (502)
  tls,              // TLS handshake or certificate verification failed (502)
  overloaded,       // upstream.max_connections all busy (503)
};
std::string_view describe(Failure f);
int status_for(Failure f);          // 502 / 503 / 504
std::string_view code_for(Failure f);  // upstream_error / overloaded / upstream_timeout

class Client;

struct Connection {
  explicit Connection(Client& owner, const net::any_io_executor& ex);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  socket_t& lowest();

  Client& owner;
  std::optional<socket_t> plain;
  // On the heap: the TLS stream is large, and a plain connection (most held streams) needs none.
  std::unique_ptr<net::ssl::stream<socket_t>> secure;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};
  bool reused = false;
};
using ConnectionPtr = std::unique_ptr<Connection>;

class Exchange {
 public:
  Exchange(Client& client, ConnectionPtr conn);
  unsigned status() const { return parser_.get().result_int(); }
  const http::fields& fields() const { return parser_.get().base(); }
  bool is_event_stream() const;
  bool done() const { return parser_.is_done(); }
  // Frees the response's header fields once they were copied (a held stream keeps none); the
  // status, framing and keep-alive state stay with the parser.
  void drop_fields() { parser_.get().clear(); }
  // Appends the next body bytes to `out`; `budget` bounds the wait. Failure::none on success.
  // `lean`: hold no read buffer while waiting (wait for readability first, then read): for
  // streams, which spend most of their life waiting for the next event.
  task<Failure> read_some(std::string& out, Clock::duration budget, bool lean = false);
  // Reads the rest of the body into `out` by `deadline`, at most `limit` bytes in total.
  task<Failure> read_all(std::string& out, Clock::time_point deadline, std::size_t limit);
  // Returns the connection to the pool when the response completed and allows keep-alive.
  void finish();

 private:
  friend class Client;
  // Parses what is buffered as far as it goes without body bytes: after an event, that is the
  // next chunk's CRLF and size line. True when only more input from the socket can move the
  // parser on; `ec` is set when the buffered bytes are malformed.
  bool parse_buffered(error_code& ec);

  Client& client_;
  ConnectionPtr conn_;
  http::response_parser<http::buffer_body> parser_;
  // Body bytes land here. Allocated at the first read: the body's length when it is known (up
  // to 64 KiB), else small (a held stream lives long with small events); it doubles (to 64 KiB)
  // while reads fill it, so that large bodies need few reads. Streams free it between events.
  std::vector<char> chunk_;
};
using ExchangePtr = std::unique_ptr<Exchange>;

class Client {
 public:
  Client(net::io_context& ioc, config::Upstream cfg);
  // Builds the TLS context for https upstreams; an error message on failure.
  std::optional<std::string> init();
  const config::Upstream& config() const { return cfg_; }

  // Sends `req` (Host and Authorization already set) and reads the response head by `deadline`.
  task<std::variant<ExchangePtr, Failure>> start(http::request<http::string_body> req,
                                                 Clock::time_point deadline);
  // GET probe_path on a fresh connection; true on a 2xx answer.
  task<bool> probe();

  std::size_t open_connections() const { return open_.load(); }
  std::size_t idle_connections();

 private:
  friend struct Connection;
  friend class Exchange;
  task<std::variant<ConnectionPtr, Failure>> connect(Clock::time_point deadline);
  ConnectionPtr take_idle();
  void release(ConnectionPtr c);

  net::io_context& ioc_;
  const config::Upstream cfg_;
  std::optional<net::ssl::context> tls_;
  std::mutex mu_;
  std::vector<ConnectionPtr> idle_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace clawgate::upstream

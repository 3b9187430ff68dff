#include "clawgate/upstream/client.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "clawgate/core/ascii.hpp"
#include "clawgate/server/client_connection.hpp"
#include "clawgate/server/http_write.hpp"

namespace clawgate::upstream {
namespace {

// Node's http server closes idle keep-alive sockets after 5 s; never reuse one that old.
constexpr auto kMaxIdle = std::chrono::milliseconds(4000);

bool is_timeout(const server::Watchdog& dog, const error_code& ec) {
  return dog.fired() || ec == beast::error::timeout;
}

Failure classify_io(const server::Watchdog& dog, const error_code& ec) {
  if (is_timeout(dog, ec)) return Failure::timeout;
  if (ec.category() == net::error::get_ssl_category()) return Failure::tls;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::operation_aborted ||
      ec == net::ssl::error::stream_truncated) {
    return Failure::reset;
  }
  return Failure::protocol;
}

// A pooled connection is dead when the peer closed it (EOF readable) or sent anything while
// idle; either way it must not carry the next request.
bool looks_alive(socket_t& s) {
  char byte = 0;
  const ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

template <class Stream>
task<error_code> write_request(Stream& s, http::request<http::string_body>& req) {
  auto [ec, n] = co_await http::async_write(s, req, use_tuple);
  co_return ec;
}

// Beast reads as much as the buffer has room for (at least 512 bytes): with 4 KiB, a head and a
// small body (a chat completion, a tool result) come in one read instead of two or three. A
// stream's connection gives the room back while it waits (Exchange::read_some).
void reserve_head_room(beast::flat_buffer& b) {
  static constexpr std::size_t kHeadRead = 4096;
  if (b.capacity() - b.size() < kHeadRead) b.reserve(b.size() + kHeadRead);
}

// These dispatch on the stream kind and return the operation to await, without being coroutines
// themselves: a coroutine in between costs a frame per request. (if/else: GCC 12 miscompiles
// `co_await` inside `?:`.)
task<error_code> write_on(Connection& c, http::request<http::string_body>& req) {
  if (c.secure) return write_request(*c.secure, req);
  // The exchange's deadline is armed already: nothing to arm for a remainder.
  return server::write_message(*c.plain, req, [] {});
}

using Transferred = std::tuple<error_code, std::size_t>;

template <class Parser>
task<Transferred> read_header_on(Connection& c, Parser& p) {
  reserve_head_room(c.buffer);
  if (c.secure) return http::async_read_header(*c.secure, c.buffer, p, use_tuple);
  return http::async_read_header(*c.plain, c.buffer, p, use_tuple);
}

template <class Parser>
task<Transferred> read_some_on(Connection& c, Parser& p) {
  if (c.secure) return http::async_read_some(*c.secure, c.buffer, p, use_tuple);
  return http::async_read_some(*c.plain, c.buffer, p, use_tuple);
}

}  // namespace

std::string_view describe(Failure f) {
  switch (f) {
    case Failure::none: return "ok";
    case Failure::refused: return "the gateway refused the connection or could not be resolved";
    case Failure::connect_timeout: return "connecting to the gateway timed out";
    case Failure::timeout: return "the gateway did not answer in time";
    case Failure::reset: return "the gateway closed the connection before the response was complete";
    case Failure::protocol: return "the gateway sent a malformed response";
    case Failure::tls: return "the TLS handshake with the gateway failed";
    case Failure::overloaded: return "all upstream connections are busy";
  }
  return "unknown";
}

int status_for(Failure f) {
  switch (f) {
    case Failure::timeout:
    case Failure::connect_timeout: return 504;
    case Failure::overloaded: return 503;
    default: return 502;
  }
}

std::string_view code_for(Failure f) {
  switch (f) {
    case Failure::timeout:
    case Failure::connect_timeout: return "upstream_timeout";
    case Failure::overloaded: return "overloaded";
    default: return "upstream_error";
  }
}

Connection::Connection(Client& o, const net::any_io_executor& ex) : owner(o) {
  ++owner.open_;
  plain.emplace(ex);
}

Connection::~Connection() { --owner.open_; }

socket_t& Connection::lowest() { return secure ? secure->next_layer() : *plain; }

Exchange::Exchange(Client& client, ConnectionPtr conn) : client_(client), conn_(std::move(conn)) {
  parser_.body_limit(boost::none);  // limits are enforced by the caller per response kind
  parser_.header_limit(64 * 1024);
}

bool Exchange::is_event_stream() const {
  const auto it = parser_.get().find(http::field::content_type);
  if (it == parser_.get().end()) return false;
  return core::ascii_istarts_with(it->value(), "text/event-stream");
}

task<Failure> Exchange::read_some(std::string& out, Clock::duration budget, bool lean) {
  if (parser_.is_done()) co_return Failure::none;
  server::Watchdog dog(co_await net::this_coro::executor);
  dog.arm(budget, conn_->lowest());
  // TLS may hold decrypted bytes the socket no longer shows: only plain connections wait lean.
  bool wait_first = false;
  if (lean && conn_->plain && !conn_->secure) {
    error_code pec;
    wait_first = parse_buffered(pec);
    if (pec) {
      dog.disarm();
      co_return classify_io(dog, pec);
    }
    if (parser_.is_done()) co_return Failure::none;
  }
  if (wait_first) {
    conn_->buffer.shrink_to_fit();
    std::vector<char>().swap(chunk_);
    auto [wec] = co_await conn_->plain->async_wait(socket_t::wait_read, use_tuple);
    if (wec) {
      dog.disarm();
      co_return classify_io(dog, wec);
    }
  }
  if (chunk_.empty()) {
    // A stream's events are small; a body of known length is read in as few reads as it came.
    std::size_t size = lean ? 1024 : 4096;
    if (const auto left = parser_.content_length_remaining(); left && *left > 0) {
      size = static_cast<std::size_t>(std::min<std::uint64_t>(*left, 64 * 1024));
    }
    chunk_.resize(size);
  }
  parser_.get().body().data = chunk_.data();
  parser_.get().body().size = chunk_.size();
  auto [ec, n] = co_await read_some_on(*conn_, parser_);
  dog.disarm();
  if (ec == http::error::need_buffer) ec = {};
  const std::size_t got = chunk_.size() - parser_.get().body().size;
  out.append(chunk_.data(), got);
  if (got == chunk_.size() && chunk_.size() < 64 * 1024) chunk_.resize(chunk_.size() * 2);
  if (ec) co_return classify_io(dog, ec);
  co_return Failure::none;
}

bool Exchange::parse_buffered(error_code& ec) {
  while (conn_->buffer.size() > 0 && !parser_.is_done()) {
    // No body buffer: the parser stops with need_buffer at the first body byte.
    parser_.get().body().data = nullptr;
    parser_.get().body().size = 0;
    const std::size_t used = parser_.put(conn_->buffer.data(), ec);
    conn_->buffer.consume(used);
    if (ec == http::error::need_more) {
      ec = {};
      return true;
    }
    if (ec == http::error::need_buffer) {
      ec = {};
      return false;
    }
    if (ec || used == 0) return false;
  }
  return true;
}

task<Failure> Exchange::read_all(std::string& out, Clock::time_point deadline, std::size_t limit) {
  while (!parser_.is_done()) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return Failure::timeout;
    const Failure f = co_await read_some(out, left);
    if (f != Failure::none) co_return f;
    if (out.size() > limit) co_return Failure::protocol;  // caller maps "too large"
  }
  co_return Failure::none;
}

void Exchange::finish() {
  if (conn_ && parser_.is_done() && parser_.keep_alive()) client_.release(std::move(conn_));
  conn_.reset();
}

Client::Client(net::io_context& ioc, config::Upstream cfg) : ioc_(ioc), cfg_(std::move(cfg)) {}

std::optional<std::string> Client::init() {
  if (!cfg_.https) return std::nullopt;
  tls_.emplace(net::ssl::context::tls_client);
  error_code ec;
  tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                        net::ssl::context::no_tlsv1_1,
                    ec);
  if (cfg_.verify_tls) {
    tls_->set_verify_mode(net::ssl::verify_peer, ec);
    if (cfg_.ca_file) {
      tls_->load_verify_file(*cfg_.ca_file, ec);
      if (ec) return "upstream.ca_file: cannot load " + *cfg_.ca_file + ": " + ec.message();
    } else {
      tls_->set_default_verify_paths(ec);
      if (ec) return "upstream: cannot load the system trust store: " + ec.message();
    }
  } else {
    tls_->set_verify_mode(net::ssl::verify_none, ec);
    spdlog::warn("upstream.verify_tls is false: the gateway's certificate is NOT verified");
  }
  return std::nullopt;
}

std::size_t Client::idle_connections() {
  std::lock_guard lock(mu_);
  return idle_.size();
}

ConnectionPtr Client::take_idle() {
  std::vector<ConnectionPtr> dead;
  ConnectionPtr found;
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    while (!idle_.empty()) {
      ConnectionPtr c = std::move(idle_.back());
      idle_.pop_back();
      if (now - c->idle_since < kMaxIdle && looks_alive(c->lowest())) {
        found = std::move(c);
        break;
      }
      dead.push_back(std::move(c));
    }
  }
  // `dead` closes outside the lock. Sockets are closed here, on whichever strand took them:
  // nothing else references an idle connection.
  return found;
}

void Client::release(ConnectionPtr c) {
  c->idle_since = Clock::now();
  c->reused = true;
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(c));
}

task<std::variant<ConnectionPtr, Failure>> Client::connect(Clock::time_point deadline) {
  if (open_.load() >= cfg_.max_connections) co_return Failure::overloaded;
  const auto ex = co_await net::this_coro::executor;
  auto conn = std::make_unique<Connection>(*this, ex);
  const auto connect_deadline = std::min(deadline, Clock::now() + cfg_.connect_timeout);

  resolver_t resolver(ex);
  server::Watchdog dog(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port));
  if (rec) {
    spdlog::warn("upstream: cannot resolve {}: {}", cfg_.host, rec.message());
    co_return Failure::refused;
  }
  dog.arm(connect_deadline - Clock::now(), *conn->plain);
  auto [cec, ep] = co_await net::async_connect(*conn->plain, endpoints);
  dog.disarm();
  if (cec) co_return dog.fired() ? Failure::connect_timeout : Failure::refused;
  error_code ignored;
  conn->plain->set_option(tcp::no_delay(true), ignored);

  if (cfg_.https) {
    socket_t sock = std::move(*conn->plain);
    conn->plain.reset();
    conn->secure = std::make_unique<net::ssl::stream<socket_t>>(std::move(sock), *tls_);
    if (!SSL_set_tlsext_host_name(conn->secure->native_handle(), cfg_.host.c_str())) {
      co_return Failure::tls;
    }
    if (cfg_.verify_tls) conn->secure->set_verify_callback(net::ssl::host_name_verification(cfg_.host));
    dog.arm(connect_deadline - Clock::now(), conn->lowest());
    auto [hec] = co_await conn->secure->async_handshake(net::ssl::stream_base::client);
    dog.disarm();
    if (hec) {
      spdlog::warn("upstream: TLS handshake with {} failed: {}", cfg_.host, hec.message());
      co_return dog.fired() ? Failure::connect_timeout : Failure::tls;
    }
  }
  co_return conn;
}

task<std::variant<ExchangePtr, Failure>> Client::start(http::request<http::string_body> req,
                                                       Clock::time_point deadline) {
  const auto ex = co_await net::this_coro::executor;
  req.prepare_payload();
  // Once through the scheduler before sending: the requests that became ready in the same
  // event-loop round finish their decisions first and are then sent one after another, so a
  // gateway sharing the core is woken (and preempts clawgate) about once per round, not once per
  // request (docs/performance.md, "Sends grouped per round").
  co_await net::post(ex, net::use_awaitable);
  for (int attempt = 0;; ++attempt) {
    ConnectionPtr conn = take_idle();
    if (!conn) {
      auto r = co_await connect(deadline);
      if (std::holds_alternative<Failure>(r)) co_return std::get<Failure>(r);
      conn = std::move(std::get<ConnectionPtr>(r));
    }
    const bool reused = conn->reused;
    server::Watchdog dog(ex);
    dog.arm(deadline - Clock::now(), conn->lowest());
    error_code ec = co_await write_on(*conn, req);
    if (ec) {
      dog.disarm();
      // A reused connection the peer closed while we wrote: nothing was delivered, so a
      // single retry on a fresh connection cannot execute the request twice.
      if (reused && attempt == 0 && !dog.fired()) continue;
      co_return classify_io(dog, ec);
    }
    auto ex_ptr = std::make_unique<Exchange>(*this, std::move(conn));
    auto [hec, n] = co_await read_header_on(*ex_ptr->conn_, ex_ptr->parser_);
    ec = hec;
    dog.disarm();
    if (ec) co_return classify_io(dog, ec);
    co_return ex_ptr;
  }
}

task<bool> Client::probe() {
  const auto deadline = Clock::now() + cfg_.connect_timeout + std::chrono::seconds(5);
  auto r = co_await connect(deadline);
  if (std::holds_alternative<Failure>(r)) co_return false;
  ConnectionPtr conn = std::move(std::get<ConnectionPtr>(r));
  http::request<http::string_body> req{http::verb::get, cfg_.probe_path, 11};
  req.set(http::field::host, cfg_.host_port());
  req.set(http::field::connection, "close");
  req.prepare_payload();
  Exchange exchange(*this, std::move(conn));
  server::Watchdog dog(co_await net::this_coro::executor);
  dog.arm(deadline - Clock::now(), exchange.conn_->lowest());
  error_code ec = co_await write_on(*exchange.conn_, req);
  if (!ec) {
    auto [hec, n] = co_await read_header_on(*exchange.conn_, exchange.parser_);
    ec = hec;
  }
  dog.disarm();
  if (ec) co_return false;
  const unsigned status = exchange.status();
  co_return status >= 200 && status < 300;
}

}  // namespace clawgate::upstream

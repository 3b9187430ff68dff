#pragma once
// One accepted client connection: bounded reads of the request head and body, timed writes,
// chunked streaming, and a "client gone" watch used while waiting on the upstream.
// All methods run on the connection's strand; the object lives in the session coroutine frame.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "clawgate/core/net.hpp"

namespace clawgate::server {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

// Cancels a socket's pending operations when a deadline passes, leaving the socket open so a
// 408 can still be written. Re-armable; safe to destroy with a pending timer (shared state).
class Watchdog {
 public:
  explicit Watchdog(const net::any_io_executor& ex);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // On expiry, calls `sock.cancel()` (on the strand that armed it). Works for any socket type.
  template <class Socket>
  void arm(Clock::duration d, Socket& sock) {
    const auto gen = ++state_->generation;
    state_->fired = false;
    timer_.expires_after(d);
    timer_.async_wait([st = state_, gen, s = &sock](const error_code& ec) {
      // Runs on the arming strand, like every use of `s`; `dead` guards the lifetime.
      if (ec || st->dead || st->generation != gen) return;
      st->fired = true;
      error_code ignored;
      s->cancel(ignored);
    });
  }
  void disarm();
  bool fired() const { return state_->fired; }

 private:
  struct State {
    bool fired = false;
    bool dead = false;
    std::uint64_t generation = 0;
  };
  net::steady_timer timer_;
  std::shared_ptr<State> state_;
};

struct ConnectionLimits {
  std::size_t max_header_bytes = 16384;
  std::size_t max_body_bytes = 2097152;
  Clock::duration header_timeout = std::chrono::seconds(10);
  Clock::duration idle_timeout = std::chrono::seconds(60);
};

enum class HeadResult {
  ok,         // a complete head ("...\r\n\r\n") is in `head`
  closed,     // the peer closed, or went idle before sending a byte: close silently
  timeout,    // bytes arrived but the head was not complete within header_timeout: 408
  too_large,  // more than max_header_bytes without a complete head: 431
};

enum class BodyResult { ok, too_large, malformed, timeout, closed };

using RequestParser = http::request_parser<http::string_body>;

class ClientConnection {
 public:
  ClientConnection(socket_t sock, ConnectionLimits limits);

  // Waits for the next request head: idle_timeout for its first byte, then header_timeout.
  task<HeadResult> read_head(std::string& head);
  task<BodyResult> read_body(RequestParser& parser);

  // Writes a complete message with the idle timeout as write budget. false = client gone.
  task<bool> write(http::response<http::string_body>& res);

  // Streaming: the head (chunked), then chunks, then the last chunk.
  task<bool> write_stream_head(http::response<http::empty_body>& res);
  task<bool> write_chunk(std::string_view data);
  task<bool> write_last_chunk();
  // The interim "100 Continue" for a client that sent Expect: 100-continue and passed the checks
  // that precede reading its body.
  task<bool> write_continue();

  // Watches for the client closing or resetting the connection while the upstream works or a
  // request is held for approval (bytes it pipelines meanwhile are kept for the next request,
  // up to 64 KiB), without a coroutine of its own: a hang-up (or a failed wait) emits terminal
  // cancellation on `cancel`, which the listener bound to the session's coroutine, so what the
  // session awaits is cancelled. stop_watch must follow before the connection is used again; it
  // resumes once the watch's pending operation has ended and returns whether the client left.
  void set_cancel_signal(net::cancellation_signal* cancel) { cancel_ = cancel; }
  void start_watch();
  bool watch_saw_gone() const { return watch_.gone; }
  task<bool> stop_watch();

  socket_t& socket() { return sock_; }
  const std::string& peer() const { return peer_; }
  bool idle() const { return idle_; }  // waiting for the first byte of a request
  // While *flag is true, read_head does not wait for a new request (the listener is draining).
  void set_drain_flag(const std::atomic<bool>* flag) { draining_ = flag; }
  void close();
  // Half-closes, then discards what the client still sends (bounded in time and bytes) before
  // closing: closing with unread input makes the kernel send RST, which can destroy a refusal
  // (413, 503) the client has not read yet.
  task<void> lingering_close();

 private:
  // What read_arrived() found: bytes (now in buf_), nothing yet, or the end of the connection.
  enum class ReadNow { data, nothing, closed };
  ReadNow read_arrived();
  task<bool> write_buffers(const std::vector<net::const_buffer>& bufs);
  void watch_wait();
  void watch_end(bool gone);

  socket_t sock_;
  ConnectionLimits limits_;
  beast::flat_buffer buf_;
  Watchdog read_dog_;
  Watchdog write_dog_;
  std::string peer_;
  bool idle_ = false;
  const std::atomic<bool>* draining_ = nullptr;
  net::cancellation_signal* cancel_ = nullptr;
  struct Watch {
    bool pending = false;   // an async_wait or async_read_some of the watch is outstanding
    bool stopping = false;  // stop_watch was called: whatever completes now is not a hang-up
    bool gone = false;
  };
  Watch watch_;
  std::optional<net::any_completion_handler<void()>> watch_join_;
};

}  // namespace clawgate::server

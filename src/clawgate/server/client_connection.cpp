#include "clawgate/server/client_connection.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>

#include "clawgate/server/http_write.hpp"

namespace clawgate::server {

Watchdog::Watchdog(const net::any_io_executor& ex) : timer_(ex), state_(std::make_shared<State>()) {}

Watchdog::~Watchdog() {
  state_->dead = true;
  timer_.cancel();
}

void Watchdog::disarm() {
  ++state_->generation;
  timer_.cancel();
}

ClientConnection::ClientConnection(socket_t sock, ConnectionLimits limits)
    : sock_(std::move(sock)),
      limits_(limits),
      read_dog_(sock_.get_executor()),
      write_dog_(sock_.get_executor()) {
  error_code ec;
  const auto ep = sock_.remote_endpoint(ec);
  if (!ec) {
    peer_ = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    // Appended in two steps: `":" + std::to_string(...)` made GCC 12 warn (-Wrestrict, a
    // false positive in its inlined string insert).
    peer_ += ':';
    peer_ += std::to_string(ep.port());
  }
  sock_.set_option(tcp::no_delay(true), ec);
}

ClientConnection::ReadNow ClientConnection::read_arrived() {
  // Per thread, used only between the recv and the copy (no co_await): large enough for most
  // requests, head and body, so that a request that has arrived is read with one call.
  thread_local std::array<char, 16 * 1024> scratch;
  for (;;) {
    const ssize_t n = ::recv(sock_.native_handle(), scratch.data(), scratch.size(), MSG_DONTWAIT);
    if (n > 0) {
      const auto size = static_cast<std::size_t>(n);
      std::memcpy(buf_.prepare(size).data(), scratch.data(), size);
      buf_.commit(size);
      return ReadNow::data;
    }
    if (n == 0) return ReadNow::closed;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? ReadNow::nothing : ReadNow::closed;
  }
}

task<HeadResult> ClientConnection::read_head(std::string& head) {
  std::size_t scanned = 0;
  bool started = buf_.size() > 0;
  // An idle keep-alive connection holds no read buffer: memory per connection is what its
  // current request needs, not the largest head it ever sent.
  if (!started) buf_.shrink_to_fit();
  auto deadline = Clock::now() + limits_.header_timeout;
  for (;;) {
    const std::string_view data(static_cast<const char*>(buf_.data().data()), buf_.size());
    const auto pos = data.find("\r\n\r\n", scanned >= 3 ? scanned - 3 : 0);
    if (pos != std::string_view::npos) {
      if (pos + 4 > limits_.max_header_bytes) co_return HeadResult::too_large;
      head.assign(data.substr(0, pos + 4));
      buf_.consume(pos + 4);
      idle_ = false;
      co_return HeadResult::ok;
    }
    scanned = data.size();
    if (data.size() >= limits_.max_header_bytes) co_return HeadResult::too_large;
    if (!started && draining_ != nullptr && draining_->load()) co_return HeadResult::closed;
    if (!started) {
      // The start of a request. Under load it has usually arrived already: read all of it
      // there is, head and body, at once. Otherwise wait for it holding no read buffer, then
      // read it the same way.
      const ReadNow now = read_arrived();
      if (now == ReadNow::closed) co_return HeadResult::closed;
      if (now == ReadNow::data) {
        started = true;
        deadline = Clock::now() + limits_.header_timeout;
        continue;
      }
      idle_ = true;
      read_dog_.arm(limits_.idle_timeout, sock_);
      auto [ec] = co_await sock_.async_wait(socket_t::wait_read);
      read_dog_.disarm();
      idle_ = false;
      if (ec) co_return HeadResult::closed;
      continue;
    }
    read_dog_.arm(deadline - Clock::now(), sock_);
    // The rest of a head that did not come at once: up to 8 KiB at a time.
    const std::size_t room = std::min<std::size_t>(8192, limits_.max_header_bytes - data.size());
    auto [ec, n] = co_await sock_.async_read_some(buf_.prepare(room));
    read_dog_.disarm();
    if (ec) {
      if (read_dog_.fired()) co_return HeadResult::timeout;
      co_return HeadResult::closed;
    }
    buf_.commit(n);
  }
}

task<BodyResult> ClientConnection::read_body(RequestParser& parser) {
  if (parser.is_done()) co_return BodyResult::ok;
  // A body that came with the head (read_head reads all that has arrived) is parsed in place:
  // an asynchronous read of bytes already here would still cost a composed operation and a
  // trip through the scheduler.
  const auto length = parser.content_length_remaining();
  if (length && *length <= buf_.size()) {
    error_code ec;
    buf_.consume(parser.put(buf_.data(), ec));
    if (buf_.size() == 0) buf_.shrink_to_fit();  // the body is in the parser now
    if (ec == http::error::body_limit) co_return BodyResult::too_large;
    if (ec) co_return BodyResult::malformed;
    if (parser.is_done()) co_return BodyResult::ok;
  }
  // Beast reads into what the buffer can hold: make room for the rest of a known body (up to
  // 64 KiB) so that it arrives in as few reads as it was sent in.
  if (const auto left = parser.content_length_remaining(); left && *left > buf_.size()) {
    const std::size_t want = std::min<std::uint64_t>(*left - buf_.size(), 64 * 1024);
    if (buf_.capacity() - buf_.size() < want) buf_.reserve(buf_.size() + want);
  }
  read_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] = co_await http::async_read(sock_, buf_, parser, use_tuple);
  read_dog_.disarm();
  if (buf_.size() == 0) buf_.shrink_to_fit();  // the body is in the parser now
  if (!ec) co_return BodyResult::ok;
  if (ec == http::error::body_limit) co_return BodyResult::too_large;
  if (read_dog_.fired()) co_return BodyResult::timeout;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::operation_aborted) {
    co_return BodyResult::closed;
  }
  co_return BodyResult::malformed;  // bad chunk size, chunk extension, ...
}

task<bool> ClientConnection::write(http::response<http::string_body>& res) {
  bool armed = false;
  const error_code ec = co_await write_message(sock_, res, [&] {
    write_dog_.arm(limits_.idle_timeout, sock_);
    armed = true;
  });
  if (armed) write_dog_.disarm();
  co_return !ec;
}

task<bool> ClientConnection::write_stream_head(http::response<http::empty_body>& res) {
  http::response_serializer<http::empty_body> sr{res};
  write_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] = co_await http::async_write_header(sock_, sr, use_tuple);
  write_dog_.disarm();
  co_return !ec;
}

task<bool> ClientConnection::write_buffers(const std::vector<net::const_buffer>& bufs) {
  write_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] = co_await net::async_write(sock_, bufs, use_tuple);
  write_dog_.disarm();
  co_return !ec;
}

task<bool> ClientConnection::write_chunk(std::string_view data) {
  if (data.empty()) co_return true;  // an empty chunk would end the stream
  write_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] =
      co_await net::async_write(sock_, http::make_chunk(net::buffer(data)), use_tuple);
  write_dog_.disarm();
  co_return !ec;
}

task<bool> ClientConnection::write_last_chunk() {
  write_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] = co_await net::async_write(sock_, http::make_chunk_last(), use_tuple);
  write_dog_.disarm();
  co_return !ec;
}

task<bool> ClientConnection::write_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  write_dog_.arm(limits_.idle_timeout, sock_);
  auto [ec, n] = co_await net::async_write(sock_, net::buffer(kContinue), use_tuple);
  write_dog_.disarm();
  co_return !ec;
}

namespace {
constexpr std::size_t kMaxPipelined = 64 * 1024;
}  // namespace

void ClientConnection::start_watch() {
  watch_ = {};
  watch_wait();
}

void ClientConnection::watch_wait() {
  // Enough pipelined bytes kept: stop reading; the client cannot be seen leaving any more.
  watch_.pending = buf_.size() < kMaxPipelined;
  if (!watch_.pending) return;
  // The session joins every watch in stop_watch before it goes on, so `this` outlives it.
  sock_.async_wait(socket_t::wait_read, [this](const error_code& ec) {
    if (ec || watch_.stopping) {
      watch_end(ec && !watch_.stopping);
      return;
    }
    sock_.async_read_some(buf_.prepare(512), [this](const error_code& rec, std::size_t n) {
      buf_.commit(n);
      if (rec || n == 0 || watch_.stopping) {
        watch_end(!watch_.stopping);  // closed or reset, unless we stopped first
        return;
      }
      watch_wait();
    });
  });
}

void ClientConnection::watch_end(bool gone) {
  watch_.pending = false;
  if (gone) {
    watch_.gone = true;
    if (cancel_ != nullptr) cancel_->emit(net::cancellation_type::terminal);
  }
  if (watch_join_) {
    auto join = std::move(*watch_join_);  // move-construct only (see docs/architecture.md)
    watch_join_.reset();
    std::move(join)();  // last: it resumes the session, which may end and destroy *this
  }
}

task<bool> ClientConnection::stop_watch() {
  if (watch_.pending) {
    watch_.stopping = true;
    error_code ignored;
    sock_.cancel(ignored);  // nothing else is pending on the client socket now
    co_await net::async_initiate<const net::use_awaitable_t<>, void()>(
        [this](auto handler) { watch_join_.emplace(std::move(handler)); }, net::use_awaitable);
  }
  co_return watch_.gone;
}

task<void> ClientConnection::lingering_close() {
  static constexpr std::size_t kMaxDiscard = 4 * 1024 * 1024;
  // A client seen closing or resetting has nothing left to drain.
  if (watch_.gone) {
    close();
    co_return;
  }
  error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    // Small: the frame holds it, and thousands of connections can be closing at once (RSS
    // rose by 16 KiB per stream when 10,000 held streams closed together).
    std::array<char, 2048> sink{};
    std::size_t discarded = 0;
    read_dog_.arm(std::chrono::seconds(2), sock_);
    while (discarded < kMaxDiscard) {
      auto [rec, n] = co_await sock_.async_read_some(net::buffer(sink));
      if (rec) break;
      discarded += n;
    }
    read_dog_.disarm();
  }
  close();
}

void ClientConnection::close() {
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_send, ignored);
  sock_.close(ignored);
}

}  // namespace clawgate::server

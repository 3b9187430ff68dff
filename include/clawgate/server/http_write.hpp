#pragma once
// Writing an HTTP message on a plain socket: what the socket takes at once goes out without an
// asynchronous operation (most messages fit in the send buffer, so they cost no composed
// operation and no timer); only a remainder is written asynchronously.

#include <boost/beast/http/write.hpp>
#include <utility>

#include "clawgate/core/net.hpp"

namespace clawgate::server {

// Writes the message of `sr` on `s`. `on_wait()` runs only when a remainder must wait for the
// socket (to arm a timer for it). Returns the error, if any.
template <class Serializer, class OnWait>
task<error_code> write_now_or_async(socket_t& s, Serializer& sr, OnWait&& on_wait) {
  error_code ec;
  // Synchronous operations only: the socket's asynchronous ones are non-blocking anyway.
  if (!s.non_blocking()) s.non_blocking(true, ec);
  if (!ec) beast::http::write(s, sr, ec);
  if (ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  std::forward<OnWait>(on_wait)();
  auto [wec, n] = co_await beast::http::async_write(s, sr, use_tuple);
  co_return wec;
}

}  // namespace clawgate::server

#pragma once
// Writing an HTTP message on a plain socket: what the socket takes at once goes out without an
// asynchronous operation (most messages fit in the send buffer, so they cost no composed
// operation and no timer); only a remainder is written asynchronously.

#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <string>
#include <utility>

#include "clawgate/core/net.hpp"

namespace clawgate::server {

// Appends the head of `h` as Beast's serializer writes it: the start line (a response without
// a reason gets the standard one), every field in order as "Name: value", the blank line.
template <bool isRequest, class Fields>
void append_head(const beast::http::header<isRequest, Fields>& h, std::string& out) {
  const unsigned v = h.version();
  char version[] = "HTTP/1.1";
  version[5] = static_cast<char>('0' + v / 10);
  version[7] = static_cast<char>('0' + v % 10);
  if constexpr (isRequest) {
    out.append(h.method_string()).append(" ").append(h.target()).append(" ");
    out.append(version).append("\r\n");
  } else {
    const unsigned code = h.result_int();
    const char status[5] = {' ', static_cast<char>('0' + code / 100 % 10),
                            static_cast<char>('0' + code / 10 % 10),
                            static_cast<char>('0' + code % 10), ' '};
    out.append(version).append(status, sizeof status);
    out.append(h.reason()).append("\r\n");
  }
  for (const auto& f : h) out.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
  out.append("\r\n");
}

// Writes the message of `sr` on `s`. `on_wait()` runs only when a remainder must wait for the
// socket (to arm a timer for it). Returns the error, if any. `on_wait` is taken by value: a
// coroutine first runs when awaited, possibly after the caller's temporaries are gone.
template <class Serializer, class OnWait>
task<error_code> write_now_or_async(socket_t& s, Serializer& sr, OnWait on_wait) {
  error_code ec;
  // Synchronous operations only: the socket's asynchronous ones are non-blocking anyway.
  if (!s.non_blocking()) s.non_blocking(true, ec);
  if (!ec) beast::http::write(s, sr, ec);
  if (ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  on_wait();
  auto [wec, n] = co_await beast::http::async_write(s, sr, use_tuple);
  co_return wec;
}

// The same for a message with a string body: head and body leave in one gathered write, without
// Beast's serializer (its buffer views cost more than the rest of the write). A chunked message
// still goes through the serializer.
template <bool isRequest, class Fields, class OnWait>
task<error_code> write_message(
    socket_t& s, beast::http::message<isRequest, beast::http::string_body, Fields>& msg,
    OnWait on_wait) {
  if (msg.chunked()) {
    beast::http::serializer<isRequest, beast::http::string_body, Fields> sr{msg};
    co_return co_await write_now_or_async(s, sr, std::move(on_wait));
  }
  std::string head;
  head.reserve(512);
  append_head(msg.base(), head);
  const std::array<net::const_buffer, 2> message{net::buffer(head), net::buffer(msg.body())};
  error_code ec;
  if (!s.non_blocking()) s.non_blocking(true, ec);
  std::size_t sent = 0;
  if (!ec) sent = s.write_some(message, ec);  // one sendmsg
  if (!ec && sent == head.size() + msg.body().size()) co_return ec;
  if (ec && ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  on_wait();
  beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(message);
  rest.consume(sent);
  auto [wec, n] = co_await net::async_write(s, rest, use_tuple);
  co_return wec;
}

}  // namespace clawgate::server

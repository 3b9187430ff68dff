// The head clawgate writes itself (server::append_head) must be byte-for-byte what Beast's
// serializer writes for the same message: clients and the gateway parse it. And what
// server::write_message sends on a socket, by either of its paths, is what Beast would send.

#include "clawgate/server/http_write.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>

namespace clawgate::server {
namespace {

namespace http = beast::http;

template <bool isRequest>
std::string beast_bytes(const http::message<isRequest, http::string_body>& msg) {
  std::ostringstream os;
  os << msg;  // Beast's serializer, chunk framing included
  return os.str();
}

template <bool isRequest>
void expect_same_as_beast(http::message<isRequest, http::string_body>& msg) {
  msg.prepare_payload();
  std::string ours;
  append_head(msg.base(), ours);
  ours += msg.body();
  EXPECT_EQ(ours, beast_bytes(msg));
}

TEST(HttpWrite, ResponseHeadsAreWhatBeastWrites) {
  for (const unsigned status : {200U, 201U, 204U, 400U, 403U, 429U, 502U, 599U}) {
    for (const unsigned version : {10U, 11U}) {
      http::response<http::string_body> res{static_cast<http::status>(status), version};
      res.set(http::field::content_type, "application/json; charset=utf-8");
      res.set("X-Clawgate-Trace", "abc123");
      res.insert("Set-Cookie", "a=1");
      res.insert("Set-Cookie", "b=2");  // repeated fields keep their order
      res.set("x-lower-case-name", "");
      res.body() = status == 204 ? "" : R"({"ok":true})";
      SCOPED_TRACE(std::to_string(status) + " HTTP/" + std::to_string(version));
      expect_same_as_beast(res);
    }
  }
  http::response<http::string_body> custom{http::status::ok, 11};
  custom.reason("All Good");  // a reason the upstream chose is kept
  custom.body() = "x";
  expect_same_as_beast(custom);
}

TEST(HttpWrite, RequestHeadsAreWhatBeastWrites) {
  http::request<http::string_body> req{http::verb::post, "/v1/chat/completions?a=b", 11};
  req.set(http::field::host, "127.0.0.1:18789");
  req.set(http::field::authorization, "Bearer gateway-token");
  req.set("X-OpenClaw-Agent-Id", "main");
  req.body() = std::string(70000, 'b');  // larger than one write of most send buffers
  expect_same_as_beast(req);

  http::request<http::string_body> get{http::verb::get, "/v1/models", 10};
  expect_same_as_beast(get);

  http::request<http::string_body> odd{http::verb::unknown, "/x", 11};
  odd.method_string("PROPPATCH2");  // a method Beast has no verb for
  expect_same_as_beast(odd);
}

// What the peer of a loopback connection reads when write_message writes `msg` and then shuts
// its side. `waited`: whether a remainder had to wait for the socket (on_wait ran).
std::string sent_by_write_message(http::response<http::string_body>& msg, bool& waited) {
  net::io_context io;
  acceptor_t acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  socket_t writer(io);
  writer.connect(acceptor.local_endpoint());
  socket_t reader = acceptor.accept();
  std::string received;
  bool written = false;
  waited = false;
  net::co_spawn(
      io,
      [&]() -> task<void> {
        const error_code ec = co_await write_message(writer, msg, [&] { waited = true; });
        EXPECT_FALSE(ec) << ec.message();
        written = true;
        error_code ignored;
        writer.shutdown(tcp::socket::shutdown_send, ignored);
      },
      net::detached);
  net::co_spawn(
      io,
      [&]() -> task<void> {
        std::array<char, 65536> buf{};
        for (;;) {
          auto [ec, n] = co_await reader.async_read_some(net::buffer(buf));
          received.append(buf.data(), n);
          if (ec) break;  // eof once the writer has shut its side
        }
      },
      net::detached);
  io.run_for(std::chrono::seconds(20));  // bounded: both coroutines end long before
  EXPECT_TRUE(written);
  return received;
}

// A chunked message cannot be written as head + body: it goes through Beast's serializer, whose
// chunk framing must reach the peer, both when the socket takes it at once and when a remainder
// waits for the reader.
TEST(HttpWrite, ChunkedMessagesReachThePeerAsBeastFramesThem) {
  for (const std::size_t size : {std::size_t{300}, std::size_t{8} << 20}) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = std::string(size, 'c');
    res.chunked(true);
    SCOPED_TRACE("body bytes " + std::to_string(size));
    bool waited = false;
    const std::string sent = sent_by_write_message(res, waited);
    const std::string expected = beast_bytes(res);
    EXPECT_EQ(sent.size(), expected.size());
    EXPECT_TRUE(sent == expected);  // not EXPECT_EQ: 8 MiB would be printed on failure
    EXPECT_NE(sent.find("\r\n0\r\n\r\n"), std::string::npos);  // the last chunk
    EXPECT_EQ(waited, size > 300);  // 8 MiB exceeds any loopback send buffer
  }
}

// The same for a Content-Length message, written as one gathered head + body: a body larger
// than the send buffer leaves in the asynchronous remainder, byte for byte.
TEST(HttpWrite, LengthDelimitedMessagesReachThePeerAsBeastWritesThem) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{1500}, std::size_t{8} << 20}) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    std::string body(size, 'x');
    for (std::size_t i = 0; i < size; i += 4093) body[i] = static_cast<char>('a' + i % 26);
    res.body() = std::move(body);
    res.prepare_payload();
    SCOPED_TRACE("body bytes " + std::to_string(size));
    bool waited = false;
    const std::string sent = sent_by_write_message(res, waited);
    const std::string expected = beast_bytes(res);
    EXPECT_EQ(sent.size(), expected.size());
    EXPECT_TRUE(sent == expected);
    EXPECT_EQ(waited, size > 1500);
  }
}

}  // namespace
}  // namespace clawgate::server

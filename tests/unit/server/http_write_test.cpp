// The head clawgate writes itself (server::append_head) must be byte-for-byte what Beast's
// serializer writes for the same message: clients and the gateway parse it.

#include "clawgate/server/http_write.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>

namespace clawgate::server {
namespace {

namespace http = beast::http;

template <bool isRequest>
void expect_same_as_beast(http::message<isRequest, http::string_body>& msg) {
  msg.prepare_payload();
  std::ostringstream beast_bytes;
  beast_bytes << msg;  // Beast's serializer
  std::string ours;
  append_head(msg.base(), ours);
  ours += msg.body();
  EXPECT_EQ(ours, beast_bytes.str());
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

}  // namespace
}  // namespace clawgate::server

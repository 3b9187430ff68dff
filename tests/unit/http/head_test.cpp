#include "clawgate/http/head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clawgate::http {
namespace {

using namespace std::string_literals;

// Builds "<request line>\r\n<fields joined by CRLF>\r\n\r\n".
std::string head(const std::string& request_line, const std::string& fields) {
  std::string out = request_line + "\r\n";
  if (!fields.empty()) out += fields + "\r\n";
  out += "\r\n";
  return out;
}

std::string get(const std::string& fields) { return head("GET /v1/models HTTP/1.1", fields); }

void expect_refused(const std::string& raw, int status, const std::string& reason) {
  const HeadCheck c = check_request_head(raw);
  EXPECT_FALSE(c.ok()) << raw;
  EXPECT_EQ(c.status, status) << raw;
  EXPECT_EQ(c.reason, reason) << raw;
}

TEST(HeadCheck, AcceptsPlainGet) {
  const HeadCheck c = check_request_head(get("Host: gw"));
  EXPECT_TRUE(c.ok()) << c.reason;
  EXPECT_EQ(c.status, 0);
  EXPECT_TRUE(c.reason.empty());
}

TEST(HeadCheck, AcceptsPostWithContentLength) {
  EXPECT_TRUE(check_request_head(head("POST /v1/chat/completions HTTP/1.1",
                                      "Host: 127.0.0.1:18790\r\n"
                                      "Authorization: Bearer abc\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: 42"))
                  .ok());
}

TEST(HeadCheck, AcceptsChunkedCaseInsensitiveWithWhitespace) {
  EXPECT_TRUE(check_request_head(
                  head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nTransfer-Encoding:  ChUnKeD \t"))
                  .ok());
  EXPECT_TRUE(check_request_head(
                  head("POST /tools/invoke HTTP/1.1", "Host: gw\r\ntransfer-encoding:chunked"))
                  .ok());
}

TEST(HeadCheck, AcceptsHttp10WithoutHost) {
  EXPECT_TRUE(check_request_head(head("GET /healthz HTTP/1.0", "")).ok());
  EXPECT_TRUE(check_request_head(head("GET /healthz HTTP/1.0", "Accept: */*")).ok());
}

TEST(HeadCheck, AcceptsObsTextAndTabInValues) {
  EXPECT_TRUE(check_request_head(get("Host: gw\r\nX-Note: caf\xC3\xA9\tand \xFF")).ok());
}

TEST(HeadCheck, AcceptsEmptyValueAndQueryTarget) {
  EXPECT_TRUE(check_request_head(get("Host: gw\r\nX-Empty:")).ok());
  EXPECT_TRUE(check_request_head(head("GET /v1/models?x=1&y=%2F HTTP/1.1", "Host: gw")).ok());
}

TEST(HeadCheck, IgnoresBytesAfterTheBlankLine) {
  EXPECT_TRUE(check_request_head(get("Host: gw") + "{\"body\":\n1}").ok());
}

TEST(HeadCheck, RefusesContentLengthWithTransferEncoding) {
  expect_refused(head("POST /tools/invoke HTTP/1.1",
                      "Host: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"),
                 400, "Content-Length with Transfer-Encoding");
  // Any transfer coding with Content-Length is framing, not "unsupported" (400, not 501).
  expect_refused(head("POST /tools/invoke HTTP/1.1",
                      "Host: gw\r\nTransfer-Encoding: gzip\r\nContent-Length: 5"),
                 400, "Content-Length with Transfer-Encoding");
}

TEST(HeadCheck, RefusesTwoContentLengthsEvenWhenEqual) {
  expect_refused(
      head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nContent-Length: 5\r\nContent-Length: 5"),
      400, "two Content-Length fields");
  expect_refused(
      head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nContent-Length: 5\r\ncontent-length: 6"),
      400, "two Content-Length fields");
}

TEST(HeadCheck, RefusesContentLengthList) {
  expect_refused(head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nContent-Length: 5, 5"), 400,
                 "Content-Length list");
}

TEST(HeadCheck, RefusesNonDigitContentLength) {
  for (const char* value : {"+5", "-1", "5 5", "0x10", "", "5.0", "five"}) {
    expect_refused(
        head("POST /tools/invoke HTTP/1.1", std::string("Host: gw\r\nContent-Length: ") + value),
        400, "invalid Content-Length");
  }
}

TEST(HeadCheck, ContentLengthDigitLimit) {
  EXPECT_TRUE(check_request_head(head("POST /tools/invoke HTTP/1.1",
                                      "Host: gw\r\nContent-Length: 1234567890123456789"))
                  .ok());
  expect_refused(
      head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nContent-Length: 12345678901234567890"), 400,
      "Content-Length too large");
}

TEST(HeadCheck, UnsupportedTransferCodingIs501) {
  expect_refused(head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nTransfer-Encoding: gzip"), 501,
                 "unsupported transfer coding");
  expect_refused(
      head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nTransfer-Encoding: chunked, gzip"), 501,
      "unsupported transfer coding");
  expect_refused(
      head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nTransfer-Encoding: gzip, chunked"), 501,
      "unsupported transfer coding");
  expect_refused(head("POST /tools/invoke HTTP/1.1", "Host: gw\r\nTransfer-Encoding: chunked;x"),
                 501, "unsupported transfer coding");
}

TEST(HeadCheck, RefusesTransferEncodingTwice) {
  expect_refused(head("POST /tools/invoke HTTP/1.1",
                      "Host: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
                 400, "two Transfer-Encoding fields");
}

TEST(HeadCheck, RefusesTransferEncodingInHttp10) {
  expect_refused(head("POST /tools/invoke HTTP/1.0", "Transfer-Encoding: chunked"), 400,
                 "Transfer-Encoding in an HTTP/1.0 request");
}

TEST(HeadCheck, RefusesObsFold) {
  expect_refused(get("Host: gw\r\nX-A: one\r\n two"), 400, "obs-fold continuation line");
  expect_refused(get("Host: gw\r\nX-A: one\r\n\ttwo"), 400, "obs-fold continuation line");
  // Whitespace between the request line and the first field is the same trick.
  expect_refused(get(" Host: gw"), 400, "obs-fold continuation line");
}

TEST(HeadCheck, RefusesBareLf) {
  expect_refused("GET / HTTP/1.1\nHost: gw\r\n\r\n", 400, "bare LF line ending");
  expect_refused("GET / HTTP/1.1\r\nHost: gw\n\r\n", 400, "bare LF line ending");
  expect_refused("GET / HTTP/1.1\r\nHost: gw\r\n\n", 400, "bare LF line ending");
  expect_refused("GET / HTTP/1.1\r\nHost: g\nw\r\n\r\n", 400, "bare LF line ending");
}

TEST(HeadCheck, RefusesBareCr) {
  expect_refused("GET / HTTP/1.1\r\nHost: g\rw\r\n\r\n", 400, "bare CR in request head");
  expect_refused("GET / HTTP/1.1\rHost: gw\r\n\r\n", 400, "bare CR in request head");
  expect_refused("GET / HTTP/1.1\r\nHost: gw\r\n\r\r\n", 400, "bare CR in request head");
}

TEST(HeadCheck, RefusesNulAndControlsInValues) {
  expect_refused(get("Host: gw\r\nX-A: a\0b"s), 400, "NUL in header value");
  expect_refused(get("Host: gw\r\nX-A: a\001b"), 400, "control character in header value");
  expect_refused(get("Host: gw\r\nX-A: a\x7F"), 400, "control character in header value");
  expect_refused(get("Host: gw\r\nX-A: a\x1B[31m"), 400, "control character in header value");
}

TEST(HeadCheck, RefusesNulInRequestLine) {
  expect_refused("GET /a\0b HTTP/1.1\r\nHost: gw\r\n\r\n"s, 400, "NUL in request line");
}

TEST(HeadCheck, RefusesWhitespaceBeforeColon) {
  expect_refused(get("Host: gw\r\nContent-Length : 5"), 400,
                 "whitespace before colon in header field");
  expect_refused(get("Host\t: gw"), 400, "whitespace before colon in header field");
}

TEST(HeadCheck, RefusesBadFieldNames) {
  expect_refused(get("Host: gw\r\n: value"), 400, "empty header field name");
  expect_refused(get("Host: gw\r\nX(A): v"), 400, "invalid header field name");
  expect_refused(get("Host: gw\r\nX-\xC3\xA9: v"), 400, "invalid header field name");
  expect_refused(get("Host: gw\r\nno colon here"), 400, "header line without colon");
}

TEST(HeadCheck, RefusesNonOriginFormTargets) {
  expect_refused(head("GET http://gw/v1/models HTTP/1.1", "Host: gw"), 400,
                 "absolute-form request-target");
  expect_refused(head("CONNECT gw:443 HTTP/1.1", "Host: gw"), 400,
                 "request-target is not origin-form");
  expect_refused(head("OPTIONS * HTTP/1.1", "Host: gw"), 400, "asterisk-form request-target");
}

TEST(HeadCheck, RefusesBadTargetCharacters) {
  expect_refused(head("GET /v1/models#frag HTTP/1.1", "Host: gw"), 400,
                 "invalid character in request-target");
  expect_refused(head("GET /v1/m\xC3\xA9 HTTP/1.1", "Host: gw"), 400,
                 "invalid character in request-target");
  expect_refused(head("GET /a\\b HTTP/1.1", "Host: gw"), 400,
                 "invalid character in request-target");
  expect_refused(head("GET /a%2 HTTP/1.1", "Host: gw"), 400,
                 "bad percent-encoding in request-target");
  expect_refused(head("GET /a%zz HTTP/1.1", "Host: gw"), 400,
                 "bad percent-encoding in request-target");
}

TEST(HeadCheck, RefusesMalformedRequestLines) {
  expect_refused(head("GET  /v1/models HTTP/1.1", "Host: gw"), 400,
                 "request-target is not origin-form");
  expect_refused(head("GET /v1/models  HTTP/1.1", "Host: gw"), 400,
                 "invalid character in request-target");
  expect_refused(head("GET /a b HTTP/1.1", "Host: gw"), 400, "invalid character in request-target");
  expect_refused(head("GET /v1/models", "Host: gw"), 400, "malformed request line");
  expect_refused(head(" GET / HTTP/1.1", "Host: gw"), 400, "malformed request line");
  expect_refused(head("G(T / HTTP/1.1", "Host: gw"), 400, "invalid request method");
  expect_refused(head("GET\t/ HTTP/1.1", "Host: gw"), 400, "malformed request line");
  expect_refused("\r\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n", 400, "empty request line");
}

TEST(HeadCheck, RefusesOtherVersions) {
  for (const char* v : {"HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1 ", "HTTP/0.9", "HTTP/1"}) {
    expect_refused(head(std::string("GET / ") + v, "Host: gw"), 400, "unsupported HTTP version");
  }
}

TEST(HeadCheck, Http11NeedsExactlyOneHost) {
  expect_refused(get(""), 400, "missing Host");
  expect_refused(get("Accept: */*"), 400, "missing Host");
  expect_refused(get("Host: a\r\nhost: b"), 400, "two Host fields");
  expect_refused(head("GET / HTTP/1.0", "Host: a\r\nHOST: a"), 400, "two Host fields");
}

TEST(HeadCheck, RefusesIncompleteHead) {
  expect_refused("GET / HTTP/1.1\r\nHost: gw\r\n", 400, "incomplete request head");
  expect_refused("GET / HTTP/1.1\r\nHost: gw", 400, "incomplete request head");
  expect_refused("GET / HTTP/1.1\r\nHost: gw\r\n\r", 400, "incomplete request head");
  expect_refused("", 400, "incomplete request head");
}

}  // namespace
}  // namespace clawgate::http

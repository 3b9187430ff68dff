#include "integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace clawgate::itest {

namespace {

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  if (left <= 0) {
    return 0;
  }
  return static_cast<int>(std::min<long long>(left, 100000));
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) {
    ++b;
  }
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

std::optional<std::string> find_header(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (iequals(k, name)) {
      return v;
    }
  }
  return std::nullopt;
}

std::size_t count_header(const Headers& h, std::string_view name) {
  std::size_t n = 0;
  for (const auto& [k, v] : h) {
    if (iequals(k, name)) {
      ++n;
    }
  }
  return n;
}

// Parses "Name: value" lines of a head (after the first line). False on a malformed line.
bool parse_header_lines(std::string_view block, Headers& out) {
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      eol = block.size();
    }
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    out.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return true;
}

bool has_chunked(const Headers& h) {
  for (const auto& [k, v] : h) {
    if (iequals(k, "transfer-encoding") && to_lower(v).find("chunked") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Writes everything; poll-bounded so a stuck peer cannot block forever.
bool send_all(int fd, std::string_view bytes, const std::atomic<bool>* stop, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t off = 0;
  while (off < bytes.size()) {
    if (stop != nullptr && stop->load()) {
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    const int pr = ::poll(&p, 1, 100);
    if (pr < 0 && errno != EINTR) {
      return false;
    }
    if (pr <= 0) {
      if (Clock::now() > deadline) {
        return false;
      }
      continue;
    }
    const ssize_t n =
        ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        continue;
      }
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string chunk(std::string_view data) {
  std::ostringstream o;
  o << std::hex << data.size() << "\r\n" << data << "\r\n";
  return o.str();
}

std::string status_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Files

TempDir::TempDir() {
  std::string tmpl = "/tmp/clawgate-itest-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, std::string_view content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return {};
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------------------------------------
// HttpResponse

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

std::size_t HttpResponse::header_count(std::string_view name) const {
  return count_header(headers, name);
}

std::string HttpResponse::describe() const {
  std::ostringstream o;
  o << "status=" << status << " " << reason;
  if (!error.empty()) {
    o << " [" << error << "]";
  }
  o << "\n";
  for (const auto& [k, v] : headers) {
    o << "  " << k << ": " << v << "\n";
  }
  o << "  body(" << body.size() << "): " << body.substr(0, 600);
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// RawClient

RawClient::~RawClient() { close(); }

RawClient::RawClient(RawClient&& other) noexcept { *this = std::move(other); }

RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    eof_ = other.eof_;
    error_ = std::move(other.error_);
    raw_ = std::move(other.raw_);
    body_ = std::move(other.body_);
    framing_ = other.framing_;
    body_done_ = other.body_done_;
    remaining_ = other.remaining_;
    chunk_state_ = other.chunk_state_;
    bad_framing_ = other.bad_framing_;
  }
  return *this;
}

bool RawClient::connect(std::uint16_t port, Millis timeout) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    error_ = "socket: " + std::string(std::strerror(errno));
    return false;
  }
  sockaddr_in a = loopback(port);
  int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc < 0 && errno != EINPROGRESS) {
    error_ = "connect: " + std::string(std::strerror(errno));
    close();
    return false;
  }
  if (rc < 0) {
    pollfd p{fd_, POLLOUT, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (pr <= 0) {
      error_ = "connect: timeout";
      close();
      return false;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      error_ = "connect: " + std::string(std::strerror(err));
      close();
      return false;
    }
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  eof_ = false;
  raw_.clear();
  body_.clear();
  body_done_ = true;
  return true;
}

bool RawClient::send(std::string_view bytes) {
  if (fd_ < 0) {
    return false;
  }
  if (!send_all(fd_, bytes, nullptr, Millis{10000})) {
    error_ = "send: " + std::string(std::strerror(errno));
    return false;
  }
  return true;
}

void RawClient::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool RawClient::pump(Clock::time_point deadline) {
  if (fd_ < 0 || eof_) {
    return false;
  }
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr < 0 && errno == EINTR) {
      continue;
    }
    if (pr <= 0) {
      error_ = "timeout";
      return false;
    }
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n < 0) {
      error_ = "recv: " + std::string(std::strerror(errno));
      eof_ = true;
      return false;
    }
    if (n == 0) {
      error_ = "closed by server";
      eof_ = true;
      return false;
    }
    raw_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
}

HttpResponse RawClient::read_head(Millis timeout) {
  HttpResponse r;
  const auto deadline = Clock::now() + timeout;
  std::size_t end;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    if (!pump(deadline)) {
      r.error = error_ + (raw_.empty() ? "" : " (partial head: " + raw_.substr(0, 200) + ")");
      return r;
    }
  }
  const std::string head = raw_.substr(0, end);
  raw_.erase(0, end + 4);
  const std::size_t eol = head.find("\r\n");
  const std::string status_line = head.substr(0, eol);
  // HTTP/1.1 200 OK
  const std::size_t sp1 = status_line.find(' ');
  if (sp1 == std::string::npos || status_line.rfind("HTTP/1.", 0) != 0) {
    r.error = "bad status line: " + status_line;
    return r;
  }
  const std::size_t sp2 = status_line.find(' ', sp1 + 1);
  try {
    r.status = std::stoi(status_line.substr(sp1 + 1, sp2 - sp1 - 1));
  } catch (...) {
    r.error = "bad status line: " + status_line;
    r.status = -1;
    return r;
  }
  r.reason = sp2 == std::string::npos ? "" : status_line.substr(sp2 + 1);
  if (eol != std::string::npos && !parse_header_lines(head.substr(eol + 2), r.headers)) {
    r.error = "bad header line";
  }
  r.chunked = has_chunked(r.headers);
  start_body(r, false);
  return r;
}

void RawClient::start_body(const HttpResponse& head, bool head_request) {
  body_.clear();
  bad_framing_ = false;
  chunk_state_ = ChunkState::size;
  if (head_request || head.status == 204 || head.status == 304 ||
      (head.status >= 100 && head.status < 200)) {
    framing_ = Framing::none;
    body_done_ = true;
  } else if (head.chunked) {
    framing_ = Framing::chunked;
    body_done_ = false;
  } else if (auto cl = head.header("content-length")) {
    framing_ = Framing::length;
    remaining_ = static_cast<std::size_t>(std::stoull(*cl));
    body_done_ = remaining_ == 0;
  } else {
    framing_ = Framing::until_close;
    body_done_ = false;
  }
  decode_body();
}

void RawClient::decode_body() {
  for (;;) {
    if (body_done_ || bad_framing_) {
      return;
    }
    switch (framing_) {
      case Framing::none:
        body_done_ = true;
        return;
      case Framing::until_close:
        body_ += raw_;
        raw_.clear();
        if (eof_) {
          body_done_ = true;
        }
        return;
      case Framing::length: {
        const std::size_t take = std::min(remaining_, raw_.size());
        body_.append(raw_, 0, take);
        raw_.erase(0, take);
        remaining_ -= take;
        if (remaining_ == 0) {
          body_done_ = true;
        }
        return;
      }
      case Framing::chunked:
        switch (chunk_state_) {
          case ChunkState::size: {
            const std::size_t eol = raw_.find("\r\n");
            if (eol == std::string::npos) {
              return;
            }
            std::string line = raw_.substr(0, eol);
            raw_.erase(0, eol + 2);
            if (const auto semi = line.find(';'); semi != std::string::npos) {
              line.resize(semi);
            }
            line = trim(line);
            std::size_t size = 0;
            try {
              size = static_cast<std::size_t>(std::stoull(line, nullptr, 16));
            } catch (...) {
              bad_framing_ = true;
              error_ = "bad chunk size line: " + line;
              return;
            }
            if (size == 0) {
              chunk_state_ = ChunkState::trailers;
            } else {
              remaining_ = size;
              chunk_state_ = ChunkState::data;
            }
            break;
          }
          case ChunkState::data: {
            if (raw_.empty()) {
              return;
            }
            const std::size_t take = std::min(remaining_, raw_.size());
            body_.append(raw_, 0, take);
            raw_.erase(0, take);
            remaining_ -= take;
            if (remaining_ == 0) {
              chunk_state_ = ChunkState::data_crlf;
            }
            break;
          }
          case ChunkState::data_crlf:
            if (raw_.size() < 2) {
              return;
            }
            if (raw_.compare(0, 2, "\r\n") != 0) {
              bad_framing_ = true;
              error_ = "chunk data not followed by CRLF";
              return;
            }
            raw_.erase(0, 2);
            chunk_state_ = ChunkState::size;
            break;
          case ChunkState::trailers: {
            const std::size_t eol = raw_.find("\r\n");
            if (eol == std::string::npos) {
              return;
            }
            const bool blank = eol == 0;
            raw_.erase(0, eol + 2);
            if (blank) {
              chunk_state_ = ChunkState::done;
              body_done_ = true;
              return;
            }
            break;
          }
          case ChunkState::done:
            body_done_ = true;
            return;
        }
        break;
    }
  }
}

HttpResponse RawClient::read_response(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse r = read_head(timeout);
  if (r.status < 0) {
    return r;
  }
  while (!body_done_ && !bad_framing_) {
    if (!pump(deadline)) {
      decode_body();
      break;
    }
    decode_body();
  }
  r.body = std::move(body_);
  body_.clear();
  r.complete = body_done_ && !bad_framing_;
  if (!r.complete) {
    r.error = error_;
  }
  return r;
}

std::optional<std::string> RawClient::read_sse_event(Millis timeout, Clock::time_point* arrived) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::size_t end = body_.find("\n\n");
    if (end != std::string::npos) {
      if (arrived != nullptr) {
        *arrived = Clock::now();
      }
      std::string ev = body_.substr(0, end + 2);
      body_.erase(0, end + 2);
      return ev;
    }
    if (body_done_ || bad_framing_) {
      return std::nullopt;
    }
    if (!pump(deadline)) {
      decode_body();
      if (body_.find("\n\n") == std::string::npos) {
        return std::nullopt;
      }
      continue;
    }
    decode_body();
  }
}

std::string RawClient::read_body_rest(Millis timeout, bool* complete) {
  const auto deadline = Clock::now() + timeout;
  while (!body_done_ && !bad_framing_) {
    if (!pump(deadline)) {
      decode_body();
      break;
    }
    decode_body();
  }
  if (complete != nullptr) {
    *complete = body_done_ && !bad_framing_;
  }
  std::string out = std::move(body_);
  body_.clear();
  return out;
}

bool RawClient::wait_closed(Millis timeout) {
  if (fd_ < 0 || eof_) {
    return true;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr < 0 && errno == EINTR) {
      continue;
    }
    if (pr <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      eof_ = true;
      return true;
    }
  }
}

std::string make_request(std::string_view method, std::string_view target, std::uint16_t port,
                         const Headers& headers, std::string_view body) {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  r.append("Host: 127.0.0.1:").append(std::to_string(port)).append("\r\n");
  bool has_length = false;
  for (const auto& [k, v] : headers) {
    r.append(k).append(": ").append(v).append("\r\n");
    if (iequals(k, "content-length") || iequals(k, "transfer-encoding")) {
      has_length = true;
    }
  }
  if (!has_length && (!body.empty() || method == "POST")) {
    r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);
  return r;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          const Headers& headers, std::string_view body, Millis timeout) {
  return raw_exchange(port, make_request(method, target, port, headers, body), nullptr, timeout);
}

HttpResponse raw_exchange(std::uint16_t port, std::string_view bytes, bool* closed_after,
                          Millis timeout) {
  RawClient c;
  HttpResponse r;
  if (!c.connect(port)) {
    r.error = c.last_error();
    return r;
  }
  if (!c.send(bytes)) {
    // The server may already have answered and closed (e.g. 431): still try to read.
  }
  r = c.read_response(timeout);
  if (closed_after != nullptr) {
    *closed_after = c.wait_closed(Millis{3000});
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// FakeUpstream

std::optional<std::string> UpstreamRequest::header(std::string_view name) const {
  return find_header(headers, name);
}

std::size_t UpstreamRequest::header_count(std::string_view name) const {
  return count_header(headers, name);
}

bool UpstreamConn::send(std::string_view bytes) {
  if (closed_ || broken_) {
    return false;
  }
  if (!send_all(fd_, bytes, &owner_.stopping_, Millis{10000})) {
    broken_ = true;
    return false;
  }
  return true;
}

void UpstreamConn::respond(int status, std::string_view body, std::string_view content_type,
                           const Headers& extra) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) + "\r\n";
  if (!content_type.empty()) {
    r.append("Content-Type: ").append(content_type).append("\r\n");
  }
  for (const auto& [k, v] : extra) {
    r.append(k).append(": ").append(v).append("\r\n");
  }
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  if (!keep_alive_) {
    r.append("Connection: close\r\n");
  }
  r.append("\r\n").append(body);
  send(r);
}

bool UpstreamConn::sse_head(bool chunked) {
  chunked_ = chunked;
  std::string r =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache\r\n";
  if (chunked) {
    r.append("Transfer-Encoding: chunked\r\n");
  } else {
    r.append("Connection: close\r\n");
    keep_alive_ = false;
  }
  r.append("\r\n");
  return send(r);
}

bool UpstreamConn::sse_event(std::string_view event) {
  return chunked_ ? send(chunk(event)) : send(event);
}

bool UpstreamConn::sse_end() {
  if (chunked_) {
    return send("0\r\n\r\n");
  }
  close();
  return true;
}

bool UpstreamConn::sleep_for(Millis d) { return owner_.interruptible_sleep(d); }

bool UpstreamConn::peer_closed() {
  if (closed_) {
    return true;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) {
    return false;
  }
  if ((p.revents & (POLLHUP | POLLERR)) != 0) {
    return true;
  }
  char c;
  const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

bool UpstreamConn::wait_peer_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && !owner_.stopping()) {
    if (peer_closed()) {
      return true;
    }
    std::this_thread::sleep_for(Millis{10});
  }
  return false;
}

void UpstreamConn::close() {
  if (!closed_) {
    ::shutdown(fd_, SHUT_WR);
    closed_ = true;
  }
}

void UpstreamConn::reset() {
  if (!fd_closed_) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    {
      std::lock_guard lk(owner_.mu_);
      owner_.live_fds_.erase(id_);
    }
    ::close(fd_);  // with linger 0: RST, no FIN
    closed_ = true;
    fd_closed_ = true;
  }
}

FakeUpstream::FakeUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 1024) != 0) {
    throw std::runtime_error("FakeUpstream: bind/listen failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  default_handler_ = [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ok":true})");
  };
  handlers_["/readyz"] = [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ready":true})");
  };
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeUpstream::~FakeUpstream() { stop(); }

void FakeUpstream::on(std::string path, UpstreamHandler h) {
  std::lock_guard lk(mu_);
  handlers_[std::move(path)] = std::move(h);
}

void FakeUpstream::set_default(UpstreamHandler h) {
  std::lock_guard lk(mu_);
  default_handler_ = std::move(h);
}

std::vector<UpstreamRequest> FakeUpstream::requests() const {
  std::lock_guard lk(mu_);
  return requests_;
}

std::vector<UpstreamRequest> FakeUpstream::proxied_requests() const {
  std::lock_guard lk(mu_);
  std::vector<UpstreamRequest> out;
  for (const auto& r : requests_) {
    if (r.target != probe_path_) {
      out.push_back(r);
    }
  }
  return out;
}

bool FakeUpstream::wait_proxied(std::size_t n, Millis timeout) {
  std::unique_lock lk(mu_);
  return requests_cv_.wait_for(lk, timeout, [&] {
    std::size_t c = 0;
    for (const auto& r : requests_) {
      c += r.target != probe_path_ ? 1 : 0;
    }
    return c >= n;
  });
}

std::size_t FakeUpstream::proxied_connections() const {
  std::lock_guard lk(mu_);
  std::vector<int> ids;
  for (const auto& r : requests_) {
    if (r.target != probe_path_ && std::find(ids.begin(), ids.end(), r.conn_id) == ids.end()) {
      ids.push_back(r.conn_id);
    }
  }
  return ids.size();
}

int FakeUpstream::max_in_flight(const std::string& session_key) const {
  std::lock_guard lk(mu_);
  const auto it = max_in_flight_.find(session_key);
  return it == max_in_flight_.end() ? 0 : it->second;
}

int FakeUpstream::max_in_flight_total() const {
  std::lock_guard lk(mu_);
  return max_in_flight_total_;
}

bool FakeUpstream::interruptible_sleep(Millis d) {
  std::unique_lock lk(mu_);
  return !stop_cv_.wait_for(lk, d, [&] { return stopping_.load(); });
}

void FakeUpstream::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  {
    std::lock_guard lk(mu_);
    stop_cv_.notify_all();
  }
  if (acceptor_.joinable()) {
    acceptor_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, fd] : live_fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) {
    if (t.joinable()) {
      t.join();
    }
  }
}

void FakeUpstream::accept_loop() {
  int next_id = 1;
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, 50);
    if (pr <= 0) {
      continue;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    accepted_.fetch_add(1);
    const int id = next_id++;
    std::lock_guard lk(mu_);
    if (stopping_.load()) {
      ::close(fd);
      break;
    }
    live_fds_[id] = fd;
    conn_threads_.emplace_back([this, fd, id] { serve(fd, id); });
  }
}

void FakeUpstream::serve(int fd, int id) {
  std::string buf;
  auto fill = [&](std::size_t want_more_than) -> bool {
    while (buf.size() <= want_more_than) {
      if (stopping_.load()) {
        return false;
      }
      pollfd p{fd, POLLIN, 0};
      const int pr = ::poll(&p, 1, 100);
      if (pr <= 0) {
        continue;
      }
      char tmp[16384];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        continue;
      }
      if (n <= 0) {
        return false;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
  };
  auto read_line = [&](std::string& line) -> bool {
    std::size_t eol;
    while ((eol = buf.find("\r\n")) == std::string::npos) {
      if (!fill(buf.size())) {
        return false;
      }
    }
    line = buf.substr(0, eol);
    buf.erase(0, eol + 2);
    return true;
  };

  for (;;) {
    // Head.
    std::size_t end;
    bool ok = true;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(buf.size())) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      break;
    }
    UpstreamRequest req;
    req.conn_id = id;
    const std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    const std::size_t eol = head.find("\r\n");
    const std::string line = head.substr(0, eol);
    std::istringstream rl(line);
    rl >> req.method >> req.target >> req.version;
    if (eol != std::string::npos) {
      parse_header_lines(head.substr(eol + 2), req.headers);
    }
    // Body.
    req.chunked = has_chunked(req.headers);
    try {
      if (req.chunked) {
        for (;;) {
          std::string size_line;
          if (!read_line(size_line)) {
            ok = false;
            break;
          }
          const std::size_t size =
              std::stoull(size_line.substr(0, size_line.find(';')), nullptr, 16);
          if (size == 0) {
            std::string trailer;
            do {
              if (!read_line(trailer)) {
                ok = false;
                break;
              }
            } while (!trailer.empty());
            break;
          }
          if (!fill(size + 1)) {
            ok = false;
            break;
          }
          req.body.append(buf, 0, size);
          buf.erase(0, size + 2);
        }
      } else if (auto cl = req.header("content-length")) {
        const std::size_t size = std::stoull(*cl);
        if (size > 0 && !fill(size - 1)) {
          ok = false;
        } else {
          req.body = buf.substr(0, size);
          buf.erase(0, size);
        }
      }
    } catch (const std::exception&) {
      ok = false;  // unparsable framing from the proxy: drop the connection
    }
    if (!ok) {
      break;
    }
    req.received_at = Clock::now();

    std::string path = req.target.substr(0, req.target.find('?'));
    const bool probe = req.target == probe_path_;
    std::string session;
    if (auto sk = req.header("x-openclaw-session-key")) {
      session = *sk;
    } else {
      const auto j = nlohmann::json::parse(req.body, nullptr, false);
      if (j.is_object() && j.contains("user") && j["user"].is_string()) {
        session = j["user"].get<std::string>();
      }
    }
    UpstreamHandler handler;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(req);
      requests_cv_.notify_all();
      const auto it = handlers_.find(path);
      handler = it != handlers_.end() ? it->second : default_handler_;
      if (!probe) {
        in_flight_total_ += 1;
        max_in_flight_total_ = std::max(max_in_flight_total_, in_flight_total_);
        if (!session.empty()) {
          const int now = ++in_flight_[session];
          max_in_flight_[session] = std::max(max_in_flight_[session], now);
        }
      }
    }
    UpstreamConn conn(*this, fd, id);
    if (auto c = req.header("connection"); c && to_lower(*c).find("close") != std::string::npos) {
      conn.set_keep_alive(false);
    }
    handler(req, conn);
    {
      std::lock_guard lk(mu_);
      if (!probe) {
        in_flight_total_ -= 1;
        if (!session.empty()) {
          --in_flight_[session];
        }
      }
    }
    if (conn.fd_closed()) {
      return;
    }
    if (conn.is_closed() || !conn.keep_alive()) {
      break;
    }
  }
  {
    std::lock_guard lk(mu_);
    live_fds_.erase(id);
  }
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

// ---------------------------------------------------------------------------------------------
// ClawgateProcess

ClawgateProcess::ClawgateProcess(std::string binary, std::vector<std::string> args,
                                 std::vector<std::string> env, std::string log_dir)
    : binary_(std::move(binary)),
      args_(std::move(args)),
      env_(std::move(env)),
      stdout_path_(log_dir + "/clawgate.stdout"),
      stderr_path_(log_dir + "/clawgate.stderr") {}

ClawgateProcess::~ClawgateProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

ClawgateProcess::StartResult ClawgateProcess::start(Millis timeout) {
  StartResult res;
  std::vector<std::string> argv_s{binary_};
  argv_s.insert(argv_s.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& s : env_) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);

  const int out_fd = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    res.why = "cannot open log files";
    return res;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until execve.
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "itest: execve failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  if (pid < 0) {
    res.why = "fork failed";
    return res;
  }
  pid_ = pid;

  static const std::regex proxy_re(R"(proxy listening on 127\.0\.0\.1:(\d+))");
  static const std::regex admin_re(R"(admin listening on 127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::string text = stderr_text() + "\n" + stdout_text();
    std::smatch pm;
    std::smatch am;
    const bool p = std::regex_search(text, pm, proxy_re);
    const bool a = std::regex_search(text, am, admin_re);
    if (p && a) {
      proxy_port_ = static_cast<std::uint16_t>(std::stoi(pm[1].str()));
      admin_port_ = static_cast<std::uint16_t>(std::stoi(am[1].str()));
      res.listening = true;
      return res;
    }
    if (!running()) {
      res.exit_code = exit_code_;
      return res;
    }
    if (Clock::now() > deadline) {
      res.why = "timed out waiting for the listening lines";
      return res;
    }
    std::this_thread::sleep_for(Millis{20});
  }
}

bool ClawgateProcess::running() {
  if (pid_ <= 0 || exit_code_) {
    return false;
  }
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

void ClawgateProcess::signal(int sig) {
  if (running()) {
    ::kill(pid_, sig);
  }
}

std::optional<int> ClawgateProcess::wait_exit(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() > deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(Millis{10});
  }
  return exit_code_;
}

std::optional<int> ClawgateProcess::stop(Millis grace) {
  if (!running()) {
    return exit_code_;
  }
  ::kill(pid_, SIGTERM);
  if (auto code = wait_exit(grace)) {
    return code;
  }
  ::kill(pid_, SIGKILL);
  return wait_exit(Millis{5000});
}

}  // namespace clawgate::itest

// https upstreams: the certificate chain and the host name are verified, and a failed
// verification is a 502 with nothing delivered. The TLS "gateway" here is a minimal blocking
// OpenSSL server with a certificate made at test time by the openssl command.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

class TlsServer {
 public:
  TlsServer(const std::string& cert, const std::string& key) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    ok_ = ctx_ != nullptr && SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) == 1 &&
          SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1;
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ok_ = ok_ && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::listen(fd_, 16) == 0 &&
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  bool ok() const { return ok_; }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> heads() {
    std::lock_guard lock(mu_);
    return heads_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) serve(ssl);
      SSL_free(ssl);
      ::close(c);
    }
  }
  void serve(SSL* ssl) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    const std::string head = in.substr(0, in.find("\r\n\r\n") + 4);
    {
      std::lock_guard lock(mu_);
      heads_.push_back(head);
    }
    const std::string body = R"({"ok":true,"via":"tls"})";
    const std::string res = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    SSL_write(ssl, res.data(), static_cast<int>(res.size()));
    SSL_shutdown(ssl);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> heads_;
};

class TlsUpstream : public ProxyTest {
 protected:
  void make_cert(const std::string& san) {
    cert_ = dir_.file("cert.pem");
    key_ = dir_.file("key.pem");
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key_ + " -out " + cert_ +
        " -days 2 -subj /CN=clawgate-test -addext subjectAltName=" + san + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl req failed: " << cmd;
    server_ = std::make_unique<TlsServer>(cert_, key_);
    ASSERT_TRUE(server_->ok());
  }
  std::string cert_, key_;
  std::unique_ptr<TlsServer> server_;
};

TEST_F(TlsUpstream, TrustedCertificateAndMatchingNameForward) {
  ASSERT_NO_FATAL_FAILURE(make_cert("DNS:localhost"));
  config_["upstream"]["url"] = "https://localhost:" + std::to_string(server_->port());
  config_["upstream"]["ca_file"] = cert_;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kToolsPath, R"({"tool":"sessions_list","args":{}})", employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body, R"({"ok":true,"via":"tls"})");
  bool saw_token = false;
  for (const auto& h : server_->heads()) {
    if (h.rfind("POST /tools/invoke ", 0) == 0) {
      saw_token = h.find(std::string("Authorization: Bearer ") + kGatewayToken) != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_token) << "the TLS upstream did not receive the gateway token";
}

TEST_F(TlsUpstream, UntrustedCertificateIs502AndNothingIsDelivered) {
  ASSERT_NO_FATAL_FAILURE(make_cert("DNS:localhost"));
  config_["upstream"]["url"] = "https://localhost:" + std::to_string(server_->port());
  ASSERT_NO_FATAL_FAILURE(start_proxy());  // no ca_file: the system store does not know it
  const auto r = post(kToolsPath, R"({"tool":"sessions_list","args":{}})", employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 502, "upstream_error", Shape::tools));
  for (const auto& h : server_->heads()) EXPECT_NE(h.rfind("POST", 0), 0U) << h;
}

TEST_F(TlsUpstream, HostNameMismatchIs502) {
  ASSERT_NO_FATAL_FAILURE(make_cert("DNS:gateway.example"));
  config_["upstream"]["url"] = "https://localhost:" + std::to_string(server_->port());
  config_["upstream"]["ca_file"] = cert_;
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kToolsPath, R"({"tool":"sessions_list","args":{}})", employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(r, 502, "upstream_error", Shape::tools));
  for (const auto& h : server_->heads()) EXPECT_NE(h.rfind("POST", 0), 0U) << h;
}

}  // namespace
}  // namespace clawgate::itest

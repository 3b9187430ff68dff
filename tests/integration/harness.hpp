#pragma once
// Integration-test harness: the real `clawgate` binary (ClawgateProcess) between a raw HTTP/1.1
// client (RawClient) and a scriptable fake gateway (FakeUpstream). Blocking POSIX sockets and
// std::thread; everything binds 127.0.0.1 only, every wait is bounded, and every object stops
// what it started in its destructor.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace clawgate::itest {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;  // in wire order

std::string to_lower(std::string_view s);

// ---------------------------------------------------------------------------------------------
// Files

class TempDir {
 public:
  TempDir();  // mkdtemp under /tmp
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

void write_file(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);  // "" if missing

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t closed_port();

// ---------------------------------------------------------------------------------------------
// Client side

struct HttpResponse {
  int status = -1;  // -1: no response head arrived
  std::string reason;
  Headers headers;
  std::string body;       // de-chunked
  bool chunked = false;   // Transfer-Encoding: chunked
  bool complete = false;  // the body's framing ended properly (last chunk / full Content-Length)
  std::string error;      // why status is -1 or the body is incomplete

  std::optional<std::string> header(std::string_view name) const;  // first, case-insensitive
  std::size_t header_count(std::string_view name) const;
  std::string describe() const;  // for assertion messages
};

class RawClient {
 public:
  RawClient() = default;
  ~RawClient();
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Connects to 127.0.0.1:port; false (with errno-ish text in last_error()) on failure.
  bool connect(std::uint16_t port, Millis timeout = Millis{3000});
  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view bytes);  // whole buffer, MSG_NOSIGNAL; false on error

  // Reads one whole response (head and body). Keeps surplus bytes for the next call.
  HttpResponse read_response(Millis timeout = Millis{15000});

  // Streaming: read just the head, then pull decoded body bytes / SSE events as they arrive.
  HttpResponse read_head(Millis timeout = Millis{15000});
  // The next SSE event (up to and including its blank line "\n\n"), from the de-chunked body.
  std::optional<std::string> read_sse_event(Millis timeout, Clock::time_point* arrived = nullptr);
  // Reads the rest of the body; `complete` tells whether the framing ended properly.
  std::string read_body_rest(Millis timeout, bool* complete);

  // True once the server closed (EOF or reset) within `timeout`; discards any data read.
  bool wait_closed(Millis timeout);
  void close();
  const std::string& last_error() const { return error_; }

 private:
  bool pump(Clock::time_point deadline);  // one read; false on timeout/EOF/error
  void decode_body();                     // raw_ → body_ according to the framing
  void start_body(const HttpResponse& head, bool head_request);

  enum class Framing { none, length, chunked, until_close };
  enum class ChunkState { size, data, data_crlf, trailers, done };

  int fd_ = -1;
  bool eof_ = false;
  std::string error_;
  std::string raw_;   // received, not yet consumed
  std::string body_;  // decoded body bytes not yet handed out
  Framing framing_ = Framing::none;
  bool body_done_ = true;
  std::size_t remaining_ = 0;
  ChunkState chunk_state_ = ChunkState::size;
  bool bad_framing_ = false;
};

// "METHOD target HTTP/1.1" + Host + headers (+ Content-Length unless one is given or the body is
// empty on GET) + body.
std::string make_request(std::string_view method, std::string_view target, std::uint16_t port,
                         const Headers& headers = {}, std::string_view body = {});

// One request on a fresh connection.
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          const Headers& headers = {}, std::string_view body = {},
                          Millis timeout = Millis{15000});
// Raw bytes on a fresh connection; then one response; `closed_after` tells whether the server
// closed the connection afterwards (checked with a bounded wait).
HttpResponse raw_exchange(std::uint16_t port, std::string_view bytes, bool* closed_after = nullptr,
                          Millis timeout = Millis{15000});

// ---------------------------------------------------------------------------------------------
// Fake upstream (the OpenClaw gateway's stand-in)

struct UpstreamRequest {
  int conn_id = 0;
  std::string method;
  std::string target;
  std::string version;
  Headers headers;
  std::string body;  // de-chunked
  bool chunked = false;
  Clock::time_point received_at;

  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
};

class FakeUpstream;

// What a handler gets: the connection the request came on.
class UpstreamConn {
 public:
  UpstreamConn(FakeUpstream& owner, int fd, int id) : owner_(owner), fd_(fd), id_(id) {}
  int id() const { return id_; }

  bool send(std::string_view bytes);  // false once the peer is gone or the fake stops
  // A complete response with Content-Length.
  void respond(int status, std::string_view body,
               std::string_view content_type = "application/json; charset=utf-8",
               const Headers& extra = {});
  // SSE: the head (chunked or close-delimited), then one event per call.
  bool sse_head(bool chunked = true);
  bool sse_event(std::string_view event);  // writes one chunk when chunked
  bool sse_end();                          // last chunk (chunked) or close (close-delimited)

  // Interruptible sleep: false if the fake is stopping.
  bool sleep_for(Millis d);
  // Non-blocking: has the peer closed (EOF / reset)?
  bool peer_closed();
  // Waits until the peer closes; false on timeout / stop.
  bool wait_peer_closed(Millis timeout);

  void close();  // FIN, no response
  void reset();  // SO_LINGER 0, then close: RST
  void set_keep_alive(bool on) { keep_alive_ = on; }
  bool keep_alive() const { return keep_alive_; }
  bool is_closed() const { return closed_; }
  bool fd_closed() const { return fd_closed_; }

 private:
  FakeUpstream& owner_;
  int fd_;
  int id_;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool broken_ = false;
  bool fd_closed_ = false;
};

using UpstreamHandler = std::function<void(const UpstreamRequest&, UpstreamConn&)>;

class FakeUpstream {
 public:
  FakeUpstream();  // listens on 127.0.0.1:0 at once; GET /readyz → 200 by default
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Handler per exact path (the target up to '?'), else the default handler.
  void on(std::string path, UpstreamHandler h);
  void set_default(UpstreamHandler h);

  std::vector<UpstreamRequest> requests() const;          // every request, probes included
  std::vector<UpstreamRequest> proxied_requests() const;  // without probe_path requests
  std::size_t proxied_count() const { return proxied_requests().size(); }
  // Waits until at least n proxied requests arrived.
  bool wait_proxied(std::size_t n, Millis timeout);
  int accepted_connections() const { return accepted_.load(); }
  // Distinct connections that carried at least one non-probe request.
  std::size_t proxied_connections() const;

  // Concurrency: in flight per session key (x-openclaw-session-key, else the JSON body's "user")
  // and overall (non-probe requests), while the handler runs.
  int max_in_flight(const std::string& session_key) const;
  int max_in_flight_total() const;

  void set_probe_path(std::string p) { probe_path_ = std::move(p); }
  void stop();  // closes the listener and every connection; joins all threads
  bool stopping() const { return stopping_.load(); }

 private:
  friend class UpstreamConn;
  void accept_loop();
  void serve(int fd, int id);
  bool interruptible_sleep(Millis d);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string probe_path_ = "/readyz";
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::map<std::string, UpstreamHandler> handlers_;
  UpstreamHandler default_handler_;
  std::vector<UpstreamRequest> requests_;
  std::condition_variable requests_cv_;
  std::vector<std::thread> conn_threads_;
  std::map<int, int> live_fds_;  // id → fd
  std::map<std::string, int> in_flight_;
  std::map<std::string, int> max_in_flight_;
  int in_flight_total_ = 0;
  int max_in_flight_total_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The binary

class ClawgateProcess {
 public:
  // argv[0] is the binary; `env` is the complete environment ("NAME=value").
  ClawgateProcess(std::string binary, std::vector<std::string> args, std::vector<std::string> env,
                  std::string log_dir);
  ~ClawgateProcess();
  ClawgateProcess(const ClawgateProcess&) = delete;
  ClawgateProcess& operator=(const ClawgateProcess&) = delete;

  struct StartResult {
    bool listening = false;        // both listening lines seen
    std::optional<int> exit_code;  // the process ended before that
    std::string why;               // timeout / exec failure text
  };
  // Spawns and waits (bounded) for "proxy listening on" and "admin listening on", or for exit.
  StartResult start(Millis timeout = Millis{15000});

  std::uint16_t proxy_port() const { return proxy_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  pid_t pid() const { return pid_; }

  bool running();
  void signal(int sig);
  // Exit code (128 + signal number if killed by a signal); nullopt on timeout.
  std::optional<int> wait_exit(Millis timeout);
  // SIGTERM, bounded wait, then SIGKILL.
  std::optional<int> stop(Millis grace = Millis{8000});
  std::optional<int> exit_code() const { return exit_code_; }

  std::string stderr_text() const { return read_file(stderr_path_); }
  std::string stdout_text() const { return read_file(stdout_path_); }

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::string stdout_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::uint16_t proxy_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

}  // namespace clawgate::itest

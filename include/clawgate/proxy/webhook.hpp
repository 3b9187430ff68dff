#pragma once
// The approval webhook (SPEC §6 "Optional webhook POST on creation and decision";
// SPEC §3 `approvals.webhook_url`). Events are queued by send() and delivered by one sender
// coroutine on the Webhook's own strand, in order and one at a time, so a slow or dead receiver
// never delays a request. Each event is one JSON POST; a 2xx answer delivers it, anything else
// (another status, a connection error, a timeout) is a failed try, retried with backoff.

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "clawgate/core/net.hpp"
#include "clawgate/proxy/webhook_url.hpp"  // parse_webhook_url, check_webhook_url

namespace clawgate::proxy {

// Delivers approval events to approvals.webhook_url (SPEC §6) in the background: one JSON POST
// per event, never on a request's path. http:// URLs only in this build.
class Webhook : public std::enable_shared_from_this<Webhook> {
 public:
  struct Options {
    std::string url;                          // http://host[:port][/path]
    std::chrono::milliseconds timeout{5000};  // per attempt (resolve + connect + write + read)
    int attempts = 3;                         // total tries per event
    std::chrono::milliseconds backoff{500};   // doubled after each failed try
    std::size_t max_queue = 1000;             // events waiting; beyond: dropped + reported
  };
  // Called (on the io_context) once per event when it is finally delivered (2xx) or given up.
  using Report =
      std::function<void(const nlohmann::json& event, bool delivered, std::string error)>;

  // A running sender, or a message naming what is wrong with the options.
  static std::variant<std::shared_ptr<Webhook>, std::string> create(net::io_context& ioc, Options o,
                                                                    Report report);

  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;
  ~Webhook();

  // Thread-safe; returns at once. A full queue or a stopped sender reports the event as not
  // delivered (on the io_context) instead of queueing it.
  void send(nlohmann::json event);
  // Thread-safe. No new tries: the try in flight is cancelled and it and every queued event
  // are reported as not delivered. Later send() calls are refused the same way.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  using Strand = net::strand<net::io_context::executor_type>;
  struct Resolving;

  Webhook(net::io_context& ioc, Options o, WebhookUrl url, Report report);

  // The sender: drains the queue, then ends; send() starts it again when needed. It holds the
  // only strong reference the Webhook needs while it runs.
  static task<> drain(std::shared_ptr<Webhook> self);
  task<std::string> deliver(const nlohmann::json& event);  // "" when delivered
  task<std::string> attempt(const std::string& body);      // one try; "" on a 2xx answer
  task<std::string> resolve(tcp::resolver::results_type& out, Clock::time_point deadline);
  std::string io_error(std::string_view what, const error_code& ec);
  void report(const nlohmann::json& event, bool delivered, std::string error);
  void report_later(nlohmann::json event, std::string error);  // from any thread
  bool stopped();
  void cancel_io();  // on the strand

  Strand strand_;
  const Options opts_;
  const WebhookUrl url_;
  const Report report_;

  std::mutex mu_;  // guards the three below
  std::deque<nlohmann::json> queue_;
  bool running_ = false;
  bool stopped_ = false;

  // Used on the strand only.
  resolver_t resolver_;
  timer_t backoff_;
  std::shared_ptr<Resolving> resolving_;
  std::optional<beast::tcp_stream> stream_;
};

}  // namespace clawgate::proxy

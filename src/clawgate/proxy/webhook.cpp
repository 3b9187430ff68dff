#include "clawgate/proxy/webhook.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <utility>

namespace clawgate::proxy {
namespace {

namespace http = beast::http;

// attempt() and resolve() return this when stop() cut them short; deliver() turns it into the
// reported reason.
constexpr std::string_view kStopped = "stopped";
constexpr std::string_view kStoppedReason = "webhook stopped before the event was delivered";
constexpr auto kMaxBackoff = std::chrono::milliseconds(300'000);
constexpr std::size_t kMaxAnswerHead = 16384;

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

// One resolve in flight. The resolver's handler owns a reference, so a resolve abandoned at
// the deadline (getaddrinfo cannot be interrupted) completes later into this and nothing else.
struct Webhook::Resolving {
  explicit Resolving(const Strand& strand) : wake(strand) {}
  timer_t wake;  // expires at the deadline; the resolver's handler cancels it early
  bool done = false;
  error_code ec;
  tcp::resolver::results_type results;
};

std::variant<std::shared_ptr<Webhook>, std::string> Webhook::create(net::io_context& ioc, Options o,
                                                                    Report report) {
  auto parsed = parse_webhook_url(o.url);
  if (auto* error = std::get_if<std::string>(&parsed)) return "webhook_url: " + *error;
  if (o.timeout <= std::chrono::milliseconds::zero()) return "webhook: timeout must be positive";
  if (o.attempts < 1) return "webhook: attempts must be at least 1";
  if (o.backoff < std::chrono::milliseconds::zero()) return "webhook: backoff must not be negative";
  if (o.max_queue == 0) return "webhook: max_queue must be at least 1";
  return std::shared_ptr<Webhook>(
      new Webhook(ioc, std::move(o), std::move(std::get<WebhookUrl>(parsed)), std::move(report)));
}

Webhook::Webhook(net::io_context& ioc, Options o, WebhookUrl url, Report report)
    : strand_(net::make_strand(ioc)),
      opts_(std::move(o)),
      url_(std::move(url)),
      report_(std::move(report)),
      resolver_(strand_),
      backoff_(strand_) {}

Webhook::~Webhook() = default;

void Webhook::send(nlohmann::json event) {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_ || queue_.size() >= opts_.max_queue) {
      std::string refused = stopped_ ? std::string("webhook stopped; event not sent")
                                     : "webhook queue full (" + std::to_string(opts_.max_queue) +
                                           " events waiting); event dropped";
      spdlog::debug("webhook: {}", refused);
      // Only posts: the callback never runs here, let alone under the lock.
      report_later(std::move(event), std::move(refused));
      return;
    }
    queue_.push_back(std::move(event));
    start = !running_;
    running_ = true;
  }
  if (!start) return;
  // co_spawn only posts the start to the strand, so this never runs any of the sender here.
  net::co_spawn(strand_, drain(shared_from_this()), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("webhook: sender ended by exception: {}", x.what());
    }
  });
}

void Webhook::stop() {
  std::deque<nlohmann::json> pending;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    pending.swap(queue_);
  }
  net::post(strand_, [self = shared_from_this(), pending = std::move(pending)]() {
    self->cancel_io();
    for (const auto& event : pending) self->report(event, false, std::string(kStoppedReason));
  });
}

bool Webhook::stopped() {
  std::lock_guard lock(mu_);
  return stopped_;
}

void Webhook::cancel_io() {
  backoff_.cancel();
  if (resolving_) resolving_->wake.cancel();
  resolver_.cancel();
  if (stream_) stream_->cancel();
}

void Webhook::report(const nlohmann::json& event, bool delivered, std::string error) {
  if (!report_) return;
  // A throwing callback must not end the sender with events still queued.
  try {
    report_(event, delivered, std::move(error));
  } catch (const std::exception& x) {
    spdlog::error("webhook: report callback threw: {}", x.what());
  } catch (...) {
    spdlog::error("webhook: report callback threw");
  }
}

void Webhook::report_later(nlohmann::json event, std::string error) {
  net::post(strand_,
            [self = shared_from_this(), event = std::move(event),
             error = std::move(error)]() mutable { self->report(event, false, std::move(error)); });
}

task<> Webhook::drain(std::shared_ptr<Webhook> self) {
  for (;;) {
    nlohmann::json event;
    {
      std::lock_guard lock(self->mu_);
      if (self->queue_.empty()) {
        self->running_ = false;
        co_return;
      }
      event = std::move(self->queue_.front());
      self->queue_.pop_front();
    }
    std::string error = co_await self->deliver(event);
    const bool delivered = error.empty();
    self->report(event, delivered, std::move(error));
  }
}

task<std::string> Webhook::deliver(const nlohmann::json& event) {
  // `replace`: an invalid UTF-8 string in an event must not throw on the sender.
  const std::string body = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto pause = opts_.backoff;
  for (int tries = 1;; ++tries) {
    std::string error = co_await attempt(body);
    if (error.empty()) co_return error;
    if (error == kStopped) co_return std::string(kStoppedReason);
    spdlog::debug("webhook: try {} of {} failed: {}", tries, opts_.attempts, error);
    if (tries >= opts_.attempts) {
      const std::string tries_text = tries == 1 ? "1 try" : std::to_string(tries) + " tries";
      co_return "not delivered after " + tries_text + ": " + error;
    }
    if (stopped()) co_return std::string(kStoppedReason);
    backoff_.expires_after(pause);
    co_await backoff_.async_wait();
    pause = std::min(pause * 2, kMaxBackoff);
  }
}

task<std::string> Webhook::resolve(tcp::resolver::results_type& out, Clock::time_point deadline) {
  auto state = std::make_shared<Resolving>(strand_);
  state->wake.expires_at(deadline);
  resolving_ = state;
  resolver_.async_resolve(url_.host, std::to_string(url_.port), tcp::resolver::numeric_service,
                          [state](const error_code& ec, tcp::resolver::results_type results) {
                            state->done = true;
                            state->ec = ec;
                            state->results = std::move(results);
                            state->wake.cancel();
                          });
  co_await state->wake.async_wait();
  resolving_.reset();
  if (!state->done) {
    resolver_.cancel();
    if (stopped()) co_return std::string(kStopped);
    co_return "resolving " + url_.host + " took longer than " + ms_text(opts_.timeout);
  }
  if (state->ec) co_return "cannot resolve " + url_.host + ": " + state->ec.message();
  out = std::move(state->results);
  co_return std::string();
}

std::string Webhook::io_error(std::string_view what, const error_code& ec) {
  if (stopped()) return std::string(kStopped);
  if (ec == beast::error::timeout) {
    return std::string(what) + ": no answer within " + ms_text(opts_.timeout) + " (timed out)";
  }
  return std::string(what) + ": " + ec.message();
}

task<std::string> Webhook::attempt(const std::string& body) {
  if (stopped()) co_return std::string(kStopped);
  const auto deadline = Clock::now() + opts_.timeout;
  tcp::resolver::results_type endpoints;
  std::string error = co_await resolve(endpoints, deadline);
  if (!error.empty()) co_return error;
  if (stopped()) co_return std::string(kStopped);

  // One deadline for connect, write and read: Beast's stream timer is absolute until re-armed.
  stream_.emplace(strand_);
  stream_->expires_at(deadline);
  auto [cec, ep] = co_await stream_->async_connect(endpoints, use_tuple);
  if (cec) {
    stream_.reset();
    co_return io_error("connecting to " + url_.host_header, cec);
  }

  http::request<http::string_body> req{http::verb::post, url_.target, 11};
  req.set(http::field::host, url_.host_header);
  req.set(http::field::user_agent, "clawgate");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  req.body() = body;
  req.prepare_payload();
  auto [wec, written] = co_await http::async_write(*stream_, req, use_tuple);
  if (wec) {
    stream_.reset();
    co_return io_error("sending the event", wec);
  }

  // Only the status matters; the answer's body is never read.
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kMaxAnswerHead);
  auto [rec, read] = co_await http::async_read_header(*stream_, buffer, parser, use_tuple);
  stream_.reset();
  if (rec) co_return io_error("reading the answer", rec);
  const unsigned status = parser.get().result_int();
  if (status < 200 || status > 299) co_return "answered HTTP " + std::to_string(status);
  co_return std::string();
}

}  // namespace clawgate::proxy

// `clawgate serve`: start-up (everything validated before the first byte is accepted), the
// listeners, the upstream probe, signals (SIGTERM/SIGINT drain, SIGHUP reload) and shutdown.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "clawgate/approval/store.hpp"
#include "clawgate/audit/audit_log.hpp"
#include "clawgate/core/cpus.hpp"
#include "clawgate/proxy/webhook.hpp"
#include "clawgate/cli/cli.hpp"
#include "clawgate/config/config.hpp"
#include "clawgate/policy/policy.hpp"
#include "clawgate/proxy/handlers.hpp"
#include "clawgate/proxy/services.hpp"
#include "clawgate/server/listener.hpp"

namespace clawgate::cli {
namespace {

using Clock = std::chrono::steady_clock;

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("clawgate");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  const char* level = std::getenv("CLAWGATE_LOG_LEVEL");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::info);
}

int fail(const std::string& message) {
  std::cerr << "clawgate: " << message << "\n";
  return 1;
}

std::string_view fsync_word(config::FsyncMode m) {
  switch (m) {
    case config::FsyncMode::always: return "always";
    case config::FsyncMode::batch: return "batch";
    case config::FsyncMode::never: return "never";
  }
  return "always";
}

server::ConnectionLimits connection_limits(const config::Limits& l) {
  return {l.max_header_bytes, l.max_body_bytes, l.header_timeout, l.idle_timeout};
}

task<void> probe_loop(std::shared_ptr<proxy::Services> svc) {
  timer_t timer(co_await net::this_coro::executor);
  bool last = false;
  bool first = true;
  while (!svc->draining.load()) {
    const bool ok = co_await svc->upstream.probe();
    svc->upstream_ready.store(ok);
    if (first || ok != last) {
      if (ok) {
        spdlog::info("upstream {} is ready", svc->config->upstream.host_port());
      } else {
        spdlog::warn("upstream {} did not answer {} with 2xx; /readyz reports it",
                     svc->config->upstream.host_port(), svc->config->upstream.probe_path);
      }
    }
    first = false;
    last = ok;
    timer.expires_after(svc->config->upstream.probe_interval);
    co_await timer.async_wait();
  }
}

struct Runtime {
  std::shared_ptr<proxy::Services> svc;
  std::vector<server::Listener*> listeners;
  net::io_context* ioc = nullptr;
};

task<void> drain(Runtime rt) {
  const auto grace = rt.svc->config->limits.drain_timeout;
  spdlog::info("draining: no new connections; in-flight requests get up to {} ms",
               grace.count());
  rt.svc->draining.store(true);
  for (auto* l : rt.listeners) l->begin_drain();
  timer_t tick(co_await net::this_coro::executor);
  const auto deadline = Clock::now() + grace;
  auto active = [&rt] {
    std::size_t n = 0;
    for (auto* l : rt.listeners) n += l->active();
    return n;
  };
  while (active() > 0 && Clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait();
  }
  if (active() > 0) {
    spdlog::warn("grace period over: cutting {} connection(s)", active());
    for (auto* l : rt.listeners) l->cut_all();
    const auto cut_deadline = Clock::now() + std::chrono::seconds(2);
    while (active() > 0 && Clock::now() < cut_deadline) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait();
    }
  }
  rt.ioc->stop();
}

task<void> signal_loop(Runtime rt) {
  token_t::as_default_on_t<net::signal_set> signals(co_await net::this_coro::executor, SIGTERM,
                                                    SIGINT, SIGHUP);
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait();
    if (ec) co_return;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the policy");
      proxy::reload_policy(*rt.svc);
      continue;
    }
    co_await drain(rt);
    co_return;
  }
}

}  // namespace

int serve(const char* config_path) {
  setup_logging();
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (RLIMIT_FSIZE) must fail the audit write, which fails closed, rather than
  // kill the gate with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);

  auto loaded = config::load_config(config_path);
  if (auto* err = std::get_if<config::LoadError>(&loaded)) {
    return fail("invalid config " + std::string(config_path) + ": " + err->message);
  }
  auto cfg = std::make_shared<const config::Config>(std::get<config::Config>(std::move(loaded)));

  auto pol = policy::load_policy_file(cfg->policy_file);
  if (auto* err = std::get_if<policy::LoadError>(&pol)) {
    return fail("invalid policy: " + err->message);
  }
  auto policy = std::get<policy::PolicyPtr>(std::move(pol));

  // Secrets that must never reach the audit file, whatever a caller puts in a body.
  std::vector<std::string> secrets{cfg->upstream.token};
  if (cfg->audit.hmac_key) secrets.push_back(*cfg->audit.hmac_key);
  auto opened = audit::open_jsonl_log(cfg->audit, secrets);
  if (auto* err = std::get_if<audit::OpenError>(&opened)) return fail(err->message);
  auto log = std::get<audit::AuditLogPtr>(std::move(opened));
  if (!cfg->audit.hmac_key) {
    spdlog::warn("audit.hmac_key_env is null: the audit chain uses plain SHA-256, which anyone "
                 "who can write the file can recompute; set it for tamper evidence");
  }
  // SPEC §7: the weaker modes say what they give up, every time the server starts.
  switch (cfg->audit.fsync) {
    case config::FsyncMode::always:
      spdlog::info("audit: fsync \"always\": every decision is on disk (fdatasync, shared by "
                   "concurrent requests) before its request is forwarded");
      break;
    case config::FsyncMode::batch:
      spdlog::warn("audit: fsync \"batch\": decisions are written before forwarding but reach "
                   "the disk up to 200 ms later; a power loss or kernel crash can lose the last "
                   "200 ms of records");
      break;
    case config::FsyncMode::never:
      spdlog::warn("audit: fsync \"never\": decisions are written before forwarding but clawgate "
                   "never syncs them; a power loss or kernel crash can lose records the kernel "
                   "had not yet written back");
      break;
  }

  const unsigned threads = cfg->threads != 0 ? cfg->threads : core::usable_cpus();
  net::io_context ioc(static_cast<int>(threads));
  log->set_io_executor(ioc.get_executor());
  auto svc = std::make_shared<proxy::Services>(ioc, cfg, policy, log);
  // Approvals survive restarts in their journal; a journal that cannot be read back refuses the
  // start rather than losing approvals.
  auto store = approval::Store::open(cfg->approvals.state_file, cfg->approvals.ttl_s);
  if (auto* err = std::get_if<std::string>(&store)) return fail(*err);
  svc->approvals = std::get<std::unique_ptr<approval::Store>>(std::move(store));
  if (cfg->approvals.webhook_url) {
    // Delivery failures are logged and audited, never fatal: the approval itself stands.
    std::weak_ptr<proxy::Services> weak = svc;
    proxy::Webhook::Options options;
    options.url = *cfg->approvals.webhook_url;
    auto hook = proxy::Webhook::create(
        ioc, options, [weak](const nlohmann::json& event, bool delivered, std::string error) {
          if (delivered) return;
          const std::string name = event.value("event", "");
          const std::string id =
              event.contains("approval") ? event["approval"].value("id", "") : std::string();
          spdlog::warn("approvals.webhook_url: {} for {} not delivered: {}", name, id, error);
          if (auto s = weak.lock()) {
            s->audit->enqueue({"", "error", std::nullopt, "",
                               {{"code", "webhook_failed"},
                                {"message", name + " for " + id + " not delivered: " + error},
                                {"approval_id", id}}});
          }
        });
    if (auto* err = std::get_if<std::string>(&hook)) return fail("approvals.webhook_url: " + *err);
    svc->notify = [hook = std::get<std::shared_ptr<proxy::Webhook>>(std::move(hook))](
                      nlohmann::json event) { hook->send(std::move(event)); };
  }
  if (auto err = svc->upstream.init()) return fail(*err);

  server::Listener proxy_listener(ioc, "proxy", proxy::make_proxy_handler(svc),
                                  connection_limits(cfg->limits), cfg->limits.max_connections,
                                  threads);
  if (auto ec = proxy_listener.open(cfg->listen.host, cfg->listen.port)) {
    return fail("listen: cannot listen on " + cfg->listen.to_string() + ": " + ec.message());
  }
  std::unique_ptr<server::Listener> admin_listener;
  if (cfg->admin_listen) {
    // The admin API is small; its own modest connection cap keeps it reachable under load.
    admin_listener = std::make_unique<server::Listener>(
        ioc, "admin", proxy::make_admin_handler(svc), connection_limits(cfg->limits), 64, threads);
    if (auto ec = admin_listener->open(cfg->admin_listen->host, cfg->admin_listen->port)) {
      return fail("admin_listen: cannot listen on " + cfg->admin_listen->to_string() + ": " +
                  ec.message());
    }
  }
  if (cfg->tls) {
    return fail("tls: TLS on the listener is not available in this build yet; terminate TLS in "
                "front of clawgate or remove the `tls` key");
  }

  if (!log->append({"", "started", std::nullopt, "",
                    {{"version", CLAWGATE_VERSION},
                     {"config_sha256", cfg->config_sha256},
                     {"policy_sha256", policy->sha256},
                     {"fsync", fsync_word(cfg->audit.fsync)}}},
                   true)) {
    // Keep running, not ready: every request is refused with 503 until the log is writable.
    spdlog::error("audit: cannot write to {}; every request is refused (503) until it is writable",
                  cfg->audit.file);
  }
  log->enqueue({"", "policy_loaded", std::nullopt, "",
                {{"policy_sha256", policy->sha256}, {"name", policy->name}}});

  proxy_listener.start();
  const auto pe = proxy_listener.local_endpoint();
  spdlog::info("proxy listening on {}:{}", pe.address().to_string(), pe.port());
  Runtime rt{svc, {&proxy_listener}, &ioc};
  svc->open_connections = [&proxy_listener, &admin_listener] {
    return std::pair<std::size_t, std::size_t>(proxy_listener.active(),
                                               admin_listener ? admin_listener->active() : 0);
  };
  if (admin_listener) {
    admin_listener->start();
    const auto ae = admin_listener->local_endpoint();
    spdlog::info("admin listening on {}:{}", ae.address().to_string(), ae.port());
    rt.listeners.push_back(admin_listener.get());
  }
  spdlog::info("forwarding to {} with {} thread(s); policy \"{}\" ({} rules)",
               cfg->upstream.url, threads, policy->name, policy->rules.size());

  net::co_spawn(ioc, probe_loop(svc), net::detached);
  net::co_spawn(ioc, proxy::approval_maintenance_loop(svc), net::detached);
  net::co_spawn(ioc, signal_loop(rt), net::detached);

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();

  log->append({"", "stopped", std::nullopt, "", {{"reason", "signal"}}}, true);
  log->close();
  spdlog::info("stopped");
  return 0;
}

}  // namespace clawgate::cli

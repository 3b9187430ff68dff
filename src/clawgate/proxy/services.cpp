#include "clawgate/proxy/services.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace clawgate::proxy {
namespace {

std::vector<auth::Principal> principals(const config::Config& cfg, bool admins) {
  std::vector<auth::Principal> out;
  if (admins) {
    for (const auto& a : cfg.admins) out.push_back({a.id, a.token_sha256, {}});
  } else {
    for (const auto& c : cfg.clients) out.push_back({c.id, c.token_sha256, c.roles});
  }
  return out;
}

}  // namespace

Services::Services(net::io_context& ioc, std::shared_ptr<const config::Config> cfg,
                   policy::PolicyPtr pol, audit::AuditLogPtr log)
    : config(std::move(cfg)),
      clients(principals(*config, false)),
      admins(principals(*config, true)),
      policy(std::move(pol)),
      audit(std::move(log)),
      upstream(ioc, config->upstream),
      sessions(ioc) {}

std::string reload_policy(Services& svc) {
  auto loaded = policy::load_policy_file(svc.config->policy_file);
  if (auto* err = std::get_if<policy::LoadError>(&loaded)) {
    spdlog::error("policy reload failed, keeping the current policy: {}", err->message);
    svc.metrics.policy_reload(false);
    svc.audit->enqueue({"", "policy_reload_failed", std::nullopt, "", {{"error", err->message}}});
    return err->message;
  }
  auto p = std::get<policy::PolicyPtr>(std::move(loaded));
  spdlog::info("policy \"{}\" loaded (sha256 {})", p->name, p->sha256);
  svc.metrics.policy_reload(true);
  svc.audit->enqueue(
      {"", "policy_loaded", std::nullopt, "", {{"policy_sha256", p->sha256}, {"name", p->name}}});
  svc.policy.set(std::move(p));
  return "";
}

std::vector<audit::Record> take_approval_records(Services& svc, const std::string* used_trace) {
  std::vector<audit::Record> out;
  if (!svc.approvals) return out;
  for (auto& t : svc.approvals->take_transitions()) {
    const approval::Approval& a = t.approval;
    nlohmann::json data = {{"approval_id", a.id},
                           {"state", approval::to_string(a.state)},
                           {"reviewer", a.reviewer ? nlohmann::json(*a.reviewer) : nlohmann::json()},
                           {"note", a.note ? nlohmann::json(*a.note) : nlohmann::json()},
                           {"reason", nullptr}};
    std::string trace = a.trace_id;
    std::optional<std::string> identity = a.identity;
    if (t.event == "approval_requested") {
      data["reason"] = a.summary;
      data["request_sha256"] = a.request_sha256;
      data["expires_at"] = approval::format_ts(a.expires_at_us);
    } else if (t.event == "approval_granted" || t.event == "approval_denied") {
      identity = a.reviewer;  // who acted
    } else if (t.event == "approval_expired") {
      data["reason"] = "not decided and used within approvals.ttl_s";
    } else if (t.event == "approval_used" && used_trace != nullptr) {
      data["approval_trace_id"] = a.trace_id;
      trace = *used_trace;
    }
    if (svc.notify && t.event != "approval_used") {
      svc.notify({{"event", t.event}, {"approval", a.to_json()}});
    }
    out.push_back({std::move(trace), t.event, std::move(identity), a.route, std::move(data)});
  }
  return out;
}

void audit_approval_transitions(Services& svc) {
  for (auto& r : take_approval_records(svc)) svc.audit->enqueue(std::move(r));
}

task<void> approval_maintenance_loop(std::shared_ptr<Services> svc) {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!svc->draining.load()) {
    if (svc->approvals) {
      svc->approvals->expire_due();
      audit_approval_transitions(*svc);
    }
    timer.expires_after(std::chrono::seconds(1));
    const auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace clawgate::proxy

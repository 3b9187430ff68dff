#include "clawgate/proxy/services.hpp"

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
    svc.audit->enqueue({"", "policy_reload_failed", std::nullopt, "", {{"error", err->message}}});
    return err->message;
  }
  auto p = std::get<policy::PolicyPtr>(std::move(loaded));
  spdlog::info("policy \"{}\" loaded (sha256 {})", p->name, p->sha256);
  svc.audit->enqueue(
      {"", "policy_loaded", std::nullopt, "", {{"policy_sha256", p->sha256}, {"name", p->name}}});
  svc.policy.set(std::move(p));
  return "";
}

}  // namespace clawgate::proxy

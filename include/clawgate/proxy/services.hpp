#pragma once
// Everything a request needs, built once at start-up by `serve` and shared by both listeners.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/auth/tokens.hpp"
#include "clawgate/config/config.hpp"
#include "clawgate/policy/policy.hpp"
#include "clawgate/proxy/session_locks.hpp"
#include "clawgate/upstream/client.hpp"

namespace clawgate::proxy {

// The current policy, swapped atomically on reload; requests keep the one they started with.
class PolicyStore {
 public:
  explicit PolicyStore(policy::PolicyPtr p) : current_(std::move(p)) {}
  policy::PolicyPtr get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void set(policy::PolicyPtr p) {
    std::lock_guard lock(mu_);
    current_ = std::move(p);
  }

 private:
  mutable std::mutex mu_;
  policy::PolicyPtr current_;
};

struct Services {
  Services(net::io_context& ioc, std::shared_ptr<const config::Config> cfg, policy::PolicyPtr pol,
           audit::AuditLogPtr log);

  std::shared_ptr<const config::Config> config;
  auth::Authenticator clients;
  auth::Authenticator admins;
  PolicyStore policy;
  audit::AuditLogPtr audit;
  upstream::Client upstream;
  SessionLocks sessions;
  policy::RateLimiter rate_limiter;  // buckets outlive policy reloads (same rule id, same limits)
  std::atomic<bool> upstream_ready{false};
  std::atomic<bool> draining{false};
};

// Re-reads the policy file; on success swaps it in and audits `policy_loaded`, else audits
// `policy_reload_failed` and keeps the old one. Returns the error message, or "" on success.
std::string reload_policy(Services& svc);

}  // namespace clawgate::proxy

#pragma once
// Everything a request needs, built once at start-up by `serve` and shared by both listeners.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "clawgate/approval/store.hpp"
#include "clawgate/audit/audit_log.hpp"
#include "clawgate/auth/tokens.hpp"
#include "clawgate/config/config.hpp"
#include "clawgate/metrics/metrics.hpp"
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
  std::unique_ptr<approval::Store> approvals;  // set by serve before the listeners start
  // Posts an approval event to approvals.webhook_url in the background; empty without one.
  std::function<void(nlohmann::json)> notify;
  metrics::Metrics metrics;
  // Open connections of the proxy and admin listeners, read at scrape time (set by serve).
  std::function<std::pair<std::size_t, std::size_t>()> open_connections;
  std::atomic<bool> upstream_ready{false};
  std::atomic<bool> draining{false};
};

// Re-reads the policy file; on success swaps it in and audits `policy_loaded`, else audits
// `policy_reload_failed` and keeps the old one. Returns the error message, or "" on success.
std::string reload_policy(Services& svc);

// Drains the approval store's transitions (approval_requested, _granted, _denied, _expired,
// _used), posts each as a webhook event, and returns their audit records for the caller to write.
// An `approval_used` record carries `used_trace` (the request that used it) when given; the others
// carry the approval's own trace id, so `audit export --trace` shows an approval's whole life
// next to the request that asked for it.
std::vector<audit::Record> take_approval_records(Services& svc,
                                                 const std::string* used_trace = nullptr);
// The same, with every record handed to the audit writer.
void audit_approval_transitions(Services& svc);

// Every second: expires due approvals and audits the transitions.
task<void> approval_maintenance_loop(std::shared_ptr<Services> svc);

}  // namespace clawgate::proxy

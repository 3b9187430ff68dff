#include "clawgate/metrics/metrics.hpp"

#include <cstdio>

namespace clawgate::metrics {
namespace {

void line(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

void help(std::string& out, std::string_view name, std::string_view type, std::string_view text) {
  out.append("# HELP ").append(name).append(" ").append(text).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

std::string seconds(std::uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(us) / 1e6);
  return buf;
}

std::string bound(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

}  // namespace

void Histogram::observe_us(std::int64_t us) {
  if (us < 0) us = 0;
  const double s = static_cast<double>(us) / 1e6;
  std::size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < kBounds.size() ? bound(kBounds[i]) : "+Inf";
    line(out, std::string(name) + "_bucket", prefix + "le=\"" + le + "\"",
         std::to_string(cumulative));
  }
  line(out, std::string(name) + "_sum", labels, seconds(sum_us_.load()));
  line(out, std::string(name) + "_count", labels, std::to_string(count_.load()));
}

void Metrics::response(std::string_view route, std::string_view decision, unsigned status) {
  std::lock_guard lock(mu_);
  ++responses_[{std::string(route), std::string(decision), status}];
}

void Metrics::forwarded(std::int64_t own_us, std::int64_t upstream_us) {
  own_.observe_us(own_us);
  upstream_.observe_us(upstream_us);
}

void Metrics::answered(std::int64_t own_us) { own_.observe_us(own_us); }

void Metrics::upstream_error(std::string_view kind) {
  std::lock_guard lock(mu_);
  ++upstream_errors_[std::string(kind)];
}

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  out.reserve(8192);
  help(out, "clawgate_requests_total", "counter",
       "Responses sent, by route, policy decision (none: refused before deciding) and status.");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : responses_) {
      const auto& [route, decision, status] = key;
      line(out, "clawgate_requests_total",
           "route=\"" + route + "\",decision=\"" + decision + "\",status=\"" +
               std::to_string(status) + "\"",
           std::to_string(n));
    }
  }
  help(out, "clawgate_request_duration_seconds", "histogram",
       "Request time split into clawgate's own time and the upstream's (forwarded requests).");
  own_.render(out, "clawgate_request_duration_seconds", "part=\"clawgate\"");
  upstream_.render(out, "clawgate_request_duration_seconds", "part=\"upstream\"");
  help(out, "clawgate_upstream_errors_total", "counter",
       "Upstream failures by kind (upstream_error, upstream_timeout, overloaded).");
  {
    std::lock_guard lock(mu_);
    for (const auto& [kind, n] : upstream_errors_) {
      line(out, "clawgate_upstream_errors_total", "kind=\"" + kind + "\"", std::to_string(n));
    }
  }
  help(out, "clawgate_rate_limited_total", "counter", "Requests refused with 429 by a rate limit.");
  line(out, "clawgate_rate_limited_total", "", std::to_string(rate_limited_.load()));
  help(out, "clawgate_policy_reloads_total", "counter", "Policy reloads by result.");
  line(out, "clawgate_policy_reloads_total", "result=\"ok\"", std::to_string(reloads_ok_.load()));
  line(out, "clawgate_policy_reloads_total", "result=\"error\"",
       std::to_string(reloads_failed_.load()));
  help(out, "clawgate_approvals_pending", "gauge", "Approvals waiting for a decision.");
  line(out, "clawgate_approvals_pending", "", std::to_string(g.approvals_pending));
  help(out, "clawgate_open_connections", "gauge", "Open client connections per listener.");
  line(out, "clawgate_open_connections", "listener=\"proxy\"",
       std::to_string(g.open_connections_proxy));
  line(out, "clawgate_open_connections", "listener=\"admin\"",
       std::to_string(g.open_connections_admin));
  help(out, "clawgate_audit_records_total", "counter", "Audit records written to the file.");
  line(out, "clawgate_audit_records_total", "", std::to_string(g.audit_records));
  help(out, "clawgate_audit_bytes_total", "counter", "Audit bytes written to the file.");
  line(out, "clawgate_audit_bytes_total", "", std::to_string(g.audit_bytes));
  help(out, "clawgate_audit_write_failures_total", "counter",
       "Failed audit write, rotation or fdatasync attempts.");
  line(out, "clawgate_audit_write_failures_total", "", std::to_string(g.audit_failures));
  if (g.audit_sync_seconds != nullptr) {
    help(out, "clawgate_audit_fsync_duration_seconds", "histogram",
         "fdatasync latency of the audit writer (one per group commit).");
    g.audit_sync_seconds->render(out, "clawgate_audit_fsync_duration_seconds", "");
  }
  help(out, "clawgate_audit_healthy", "gauge", "1 while the audit file is writable.");
  line(out, "clawgate_audit_healthy", "", g.audit_healthy ? "1" : "0");
  help(out, "clawgate_upstream_ready", "gauge", "1 while the upstream answered its last probe.");
  line(out, "clawgate_upstream_ready", "", g.upstream_ready ? "1" : "0");
  return out;
}

}  // namespace clawgate::metrics

#pragma once
// Prometheus metrics for the admin listener's GET /metrics (issue #7). Counters and histograms
// are lock-free atomics, except the per-label request counter (one short mutex per response).
// Names follow Prometheus conventions: *_total counters, *_seconds histograms, base units.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace clawgate::metrics {

// A fixed-bucket histogram of seconds; observations are recorded in microseconds.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     0.25,   0.5,     1,      2.5,   10, 60};
  void observe_us(std::int64_t us);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` ("" or `k="v"`).
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last one: +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

class Metrics {
 public:
  // One response sent by either listener: route word ("chat", …, "admin", "unknown"), the
  // decision ("allow", "deny", "approve", or "none" when refused before deciding), the status.
  void response(std::string_view route, std::string_view decision, unsigned status);
  // A forwarded request's time in clawgate itself and in the upstream (head to last byte).
  void forwarded(std::int64_t own_us, std::int64_t upstream_us);
  // A request answered by clawgate itself (refusals, health): its whole time is clawgate's.
  void answered(std::int64_t own_us);
  void upstream_error(std::string_view kind);
  void rate_limited() { rate_limited_.fetch_add(1, std::memory_order_relaxed); }
  void policy_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).fetch_add(1); }

  // Values read at scrape time from the parts that own them.
  struct Gauges {
    std::uint64_t approvals_pending = 0;
    std::uint64_t open_connections_proxy = 0;
    std::uint64_t open_connections_admin = 0;
    std::uint64_t audit_records = 0;
    std::uint64_t audit_bytes = 0;
    std::uint64_t audit_syncs = 0;
    std::uint64_t audit_failures = 0;
    const Histogram* audit_sync_seconds = nullptr;
    bool audit_healthy = true;
    bool upstream_ready = false;
  };
  // The Prometheus text exposition format (version 0.0.4).
  std::string render(const Gauges& g) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> responses_;
  std::map<std::string, std::uint64_t> upstream_errors_;
  Histogram own_;
  Histogram upstream_;
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
};

}  // namespace clawgate::metrics

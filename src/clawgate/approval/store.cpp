#include "clawgate/approval/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include "clawgate/approval/journal.hpp"
#include "clawgate/audit/audit_log.hpp"
#include "clawgate/core/crypto.hpp"

namespace clawgate::approval {
namespace {

constexpr std::int64_t kMicros = 1'000'000;
constexpr std::int64_t kMaxTime = std::numeric_limits<std::int64_t>::max();

constexpr std::array<std::pair<State, std::string_view>, 5> kStates{{{State::pending, "pending"},
                                                                     {State::approved, "approved"},
                                                                     {State::denied, "denied"},
                                                                     {State::expired, "expired"},
                                                                     {State::used, "used"}}};

std::int64_t system_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// Saturates instead of overflowing: an absurd ttl simply never expires.
std::int64_t add_ttl(std::int64_t created_us, std::int64_t ttl_s) {
  const std::int64_t ttl_us = ttl_s > kMaxTime / kMicros ? kMaxTime : ttl_s * kMicros;
  return created_us > kMaxTime - ttl_us ? kMaxTime : created_us + ttl_us;
}

bool is_live(State s) { return s == State::pending || s == State::approved; }

// The state as checks must see it: a live approval past its expiry counts as expired even if
// its expire entry could not be journaled yet.
State effective_state(const Approval& a, std::int64_t now_us) {
  return is_live(a.state) && now_us >= a.expires_at_us ? State::expired : a.state;
}

nlohmann::json opt_json(const std::optional<std::string>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json opt_ts(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::json(format_ts(*v)) : nlohmann::json(nullptr);
}

}  // namespace

std::string_view to_string(State s) {
  for (const auto& [state, word] : kStates) {
    if (state == s) return word;
  }
  return "unknown";
}

std::optional<State> parse_state(std::string_view word) {
  for (const auto& [state, w] : kStates) {
    if (w == word) return state;
  }
  return std::nullopt;
}

std::string_view to_string(UseCheck c) {
  switch (c) {
    case UseCheck::ok:
      return "ok";
    case UseCheck::unknown:
      return "unknown";
    case UseCheck::denied:
      return "denied";
    case UseCheck::not_approved:
      return "not_approved";
    case UseCheck::expired:
      return "expired";
    case UseCheck::used:
      return "used";
    case UseCheck::identity_mismatch:
      return "identity_mismatch";
    case UseCheck::request_mismatch:
      return "request_mismatch";
  }
  return "unknown";
}

std::string format_ts(std::int64_t unix_us) {
  // Floor division, so times before 1970 still get a fraction in [0, 1 s).
  std::int64_t secs = unix_us / kMicros;
  std::int64_t frac = unix_us % kMicros;
  if (frac < 0) {
    frac += kMicros;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<long long>(frac));
  return n > 0 ? std::string(buf) : std::string();
}

nlohmann::json Approval::to_json() const {
  return {{"id", id},
          {"state", std::string(to_string(state))},
          {"trace_id", trace_id},
          {"identity", identity},
          {"route", route},
          {"agent", agent},
          {"session", opt_json(session)},
          {"tool", opt_json(tool)},
          {"action", opt_json(action)},
          {"summary", summary},
          {"request_sha256", request_sha256},
          {"policy_sha256", policy_sha256},
          {"created_at", format_ts(created_at_us)},
          {"expires_at", format_ts(expires_at_us)},
          {"decided_at", opt_ts(decided_at_us)},
          {"reviewer", opt_json(reviewer)},
          {"note", opt_json(note)},
          {"used_at", opt_ts(used_at_us)}};
}

std::string request_sha256(std::string_view route, std::string_view agent,
                           const std::optional<std::string>& session, const nlohmann::json& body) {
  std::string material;
  material.append(route).append("\n").append(agent).append("\n");
  if (session) material.append(*session);
  material.append("\n").append(audit::canonical(body));
  return core::sha256_hex(material);
}

struct Store::Impl {
  std::mutex mu;
  std::unique_ptr<journal::File> file;
  std::int64_t ttl_s = 0;
  Clock clock;
  journal::Map by_id;
  std::set<std::pair<std::int64_t, std::string>> live;  // (expires_at_us, id), pending/approved
  std::vector<Transition> transitions;
  bool expire_failing = false;  // log a failing expiry once, not on every operation

  void record(const char* event, const Approval& a) { transitions.push_back({event, a}); }

  void expire_due(std::int64_t now_us) {
    while (!live.empty() && live.begin()->first <= now_us) {
      const auto it = by_id.find(live.begin()->second);
      if (auto err = file->append(journal::expire_entry(it->first, now_us))) {
        // The checks treat it as expired anyway (effective_state); the entry is retried later.
        if (!expire_failing) spdlog::error("approvals: cannot record an expiry: {}", *err);
        expire_failing = true;
        return;
      }
      expire_failing = false;
      journal::apply_expire(it->second);
      live.erase(live.begin());
      record("approval_expired", it->second);
    }
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

std::variant<std::unique_ptr<Store>, std::string> Store::open(std::string path, std::int64_t ttl_s,
                                                              Clock clock) {
  if (ttl_s < 1) return std::string("approvals.ttl_s must be at least 1");
  auto opened = journal::File::open(path);
  if (auto* err = std::get_if<std::string>(&opened)) return std::move(*err);
  auto& [file, text] = std::get<journal::File::Opened>(opened);

  auto impl = std::make_unique<Impl>();
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t nl = text.find('\n', pos);  // text ends with '\n' (torn tail removed)
    ++line_no;
    if (auto err =
            journal::replay_line(std::string_view(text).substr(pos, nl - pos), impl->by_id)) {
      return "approvals.state_file " + path + " line " + std::to_string(line_no) + ": " + *err +
             "; fix or move the file (approvals would be lost otherwise)";
    }
    pos = nl + 1;
  }
  for (const auto& [id, a] : impl->by_id) {
    if (is_live(a.state)) impl->live.emplace(a.expires_at_us, id);
  }
  impl->file = std::move(file);
  impl->ttl_s = ttl_s;
  impl->clock = clock ? std::move(clock) : Clock(system_now_us);
  spdlog::info("approvals: {} replayed ({} entries, {} approvals, {} pending or approved)", path,
               line_no, impl->by_id.size(), impl->live.size());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

std::variant<Approval, std::string> Store::create(NewApproval a) {
  std::lock_guard lock(impl_->mu);
  const std::int64_t now = impl_->clock();
  impl_->expire_due(now);
  // Ids must be unguessable: never fall back to a weaker random source.
  const auto hex = core::random_hex(16);
  if (!hex) return std::string("approvals: the random number generator failed; no approval id");
  Approval created;
  created.id = "apr_" + *hex;
  if (impl_->by_id.contains(created.id)) return std::string("approvals: id collision; try again");
  created.trace_id = std::move(a.trace_id);
  created.identity = std::move(a.identity);
  created.route = std::move(a.route);
  created.agent = std::move(a.agent);
  created.session = std::move(a.session);
  created.tool = std::move(a.tool);
  created.action = std::move(a.action);
  created.summary = std::move(a.summary);
  created.request_sha256 = std::move(a.request_sha256);
  created.policy_sha256 = std::move(a.policy_sha256);
  created.created_at_us = now;
  created.expires_at_us = add_ttl(now, impl_->ttl_s);
  if (auto err = impl_->file->append(journal::create_entry(created))) return std::move(*err);
  impl_->live.emplace(created.expires_at_us, created.id);
  impl_->record("approval_requested", created);
  impl_->by_id.emplace(created.id, created);
  return created;
}

std::optional<Approval> Store::get(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  impl_->expire_due(impl_->clock());
  const auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return std::nullopt;
  return it->second;
}

std::vector<Approval> Store::list(std::optional<State> state) {
  std::lock_guard lock(impl_->mu);
  impl_->expire_due(impl_->clock());
  std::vector<Approval> out;
  for (const auto& [id, a] : impl_->by_id) {
    if (!state || a.state == *state) out.push_back(a);
  }
  std::sort(out.begin(), out.end(), [](const Approval& x, const Approval& y) {
    return std::tie(x.created_at_us, x.id) > std::tie(y.created_at_us, y.id);
  });
  return out;
}

std::variant<Approval, DecideError> Store::decide(std::string_view id, bool approve,
                                                  std::string reviewer,
                                                  std::optional<std::string> note) {
  std::lock_guard lock(impl_->mu);
  const std::int64_t now = impl_->clock();
  impl_->expire_due(now);
  const auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return DecideError::unknown;
  const State s = effective_state(it->second, now);
  if (s == State::expired) return DecideError::expired;
  if (s != State::pending) return DecideError::conflict;
  Approval next = it->second;
  journal::apply_decide(next, approve, std::move(reviewer), std::move(note), now);
  if (auto err = impl_->file->append(
          journal::decide_entry(next.id, approve, *next.reviewer, next.note, now))) {
    spdlog::error("approvals: cannot record a decision on {}: {}", next.id, *err);
    return DecideError::io;
  }
  if (!approve) impl_->live.erase({next.expires_at_us, next.id});
  it->second = next;
  impl_->record(approve ? "approval_granted" : "approval_denied", next);
  return next;
}

Store::UseResult Store::use(std::string_view id, std::string_view identity,
                            std::string_view request_sha256) {
  std::lock_guard lock(impl_->mu);
  const std::int64_t now = impl_->clock();
  impl_->expire_due(now);
  UseResult r;
  const auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return r;  // check = unknown
  const Approval& a = it->second;
  r.approval = a;
  const State s = effective_state(a, now);
  if (s == State::denied) {
    r.check = UseCheck::denied;
  } else if (s == State::pending) {
    r.check = UseCheck::not_approved;
  } else if (s == State::expired) {
    r.check = UseCheck::expired;
  } else if (s == State::used) {
    r.check = UseCheck::used;
  } else if (a.identity != identity) {
    r.check = UseCheck::identity_mismatch;
  } else if (a.request_sha256 != request_sha256) {
    r.check = UseCheck::request_mismatch;
  } else {
    r.check = UseCheck::ok;
  }
  if (r.check != UseCheck::ok) return r;
  // Checked and marked used under one lock: two concurrent re-sends cannot both pass.
  if (auto err = impl_->file->append(journal::use_entry(a.id, now))) {
    spdlog::error("approvals: cannot record the use of {}: {}", a.id, *err);
    r.io_error = true;
    return r;
  }
  journal::apply_use(it->second, now);
  impl_->live.erase({a.expires_at_us, a.id});
  impl_->record("approval_used", it->second);
  r.approval = it->second;
  return r;
}

void Store::expire_due() {
  std::lock_guard lock(impl_->mu);
  impl_->expire_due(impl_->clock());
}

std::vector<Transition> Store::take_transitions() {
  std::lock_guard lock(impl_->mu);
  impl_->expire_due(impl_->clock());
  return std::exchange(impl_->transitions, {});
}

std::size_t Store::pending_count() {
  std::lock_guard lock(impl_->mu);
  impl_->expire_due(impl_->clock());
  return static_cast<std::size_t>(
      std::count_if(impl_->live.begin(), impl_->live.end(), [this](const auto& entry) {
        const auto it = impl_->by_id.find(entry.second);
        return it != impl_->by_id.end() && it->second.state == State::pending;
      }));
}

}  // namespace clawgate::approval

#pragma once
// Human approvals (SPEC §6): the records, their state machine and their persistence in an
// append-only, fsynced journal (approvals.state_file). Pure logic and file I/O; no sockets. The
// proxy audits every transition this store reports.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace clawgate::approval {

enum class State { pending, approved, denied, expired, used };
std::string_view to_string(State s);
std::optional<State> parse_state(std::string_view word);

struct Approval {
  std::string id;  // "apr_" + 32 lower-case hex digits (128 bits from OpenSSL RAND)
  State state = State::pending;
  std::string trace_id;
  std::string identity;
  std::string route;  // route word: chat, responses, tools, models
  std::string agent;
  std::optional<std::string> session;
  std::optional<std::string> tool;
  std::optional<std::string> action;
  std::string summary;
  std::string request_sha256;
  std::string policy_sha256;
  std::int64_t created_at_us = 0;  // Unix time in µs
  std::int64_t expires_at_us = 0;
  std::optional<std::int64_t> decided_at_us;
  std::optional<std::string> reviewer;
  std::optional<std::string> note;
  std::optional<std::int64_t> used_at_us;

  // The SPEC §6 object: every key present (null when unset); times as
  // "2026-11-21T19:48:00.123456Z" strings.
  nlohmann::json to_json() const;
};

// "2026-11-21T19:48:00.123456Z" for a Unix time in µs (the audit log's `ts` format).
std::string format_ts(std::int64_t unix_us);

// SHA-256 hex of the canonical request (SPEC §6): route word, agent, session (empty when none)
// and the canonical JSON of the body (sorted keys, no white space, UTF-8 unescaped; the
// audit log's canonical form), joined with "\n". A changed argument changes the hash.
std::string request_sha256(std::string_view route, std::string_view agent,
                           const std::optional<std::string>& session, const nlohmann::json& body);

struct NewApproval {
  std::string trace_id, identity, route, agent;
  std::optional<std::string> session, tool, action;
  std::string summary, request_sha256, policy_sha256;
};

// Why a re-sent request may not use an approval (SPEC §6 reasons; `denied` maps to 403
// approval_denied, the others to approval_invalid with this word as `reason`).
enum class UseCheck { ok, unknown, denied, not_approved, expired, used, identity_mismatch,
                      request_mismatch };
std::string_view to_string(UseCheck c);

enum class DecideError { unknown, conflict, expired, io };

// One transition, for the caller to audit: event is approval_requested, approval_granted,
// approval_denied, approval_expired or approval_used; `approval` is the state after it.
struct Transition {
  std::string event;
  Approval approval;
};

class Store {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix time in µs; tests inject their own

  // Opens (creating parent folders with mode 0700, and the file with 0600) and replays the
  // journal. A complete line that is not a valid journal entry (bad JSON, unknown op, unknown
  // id, impossible transition) is an error naming the file and 1-based line: the server must
  // not start and lose approvals. A torn last line (no trailing newline: a crash mid-write, never
  // acknowledged) is moved to FILE.torn with a warning, like the audit log's.
  static std::variant<std::unique_ptr<Store>, std::string> open(std::string path,
                                                                std::int64_t ttl_s,
                                                                Clock clock = {});

  // Creates a pending approval (journaled and fsynced before it returns). The error string
  // names the file and the system error.
  std::variant<Approval, std::string> create(NewApproval a);

  std::optional<Approval> get(std::string_view id);
  // Newest first; all states when `state` is nullopt.
  std::vector<Approval> list(std::optional<State> state);

  // approve = true → approved, false → denied; reviewer and note recorded. Not pending →
  // conflict (expired → expired); journal write failure → io (state unchanged).
  std::variant<Approval, DecideError> decide(std::string_view id, bool approve,
                                             std::string reviewer, std::optional<std::string> note);

  // Checks a re-sent request against approval `id` in SPEC order (unknown, denied,
  // not_approved (still pending), expired, used, identity_mismatch, request_mismatch) and on ok
  // marks it used (journaled) in the same critical section, so two concurrent re-sends cannot
  // both pass. A failed check changes nothing. `approval` is set whenever the id is known.
  struct UseResult {
    UseCheck check = UseCheck::unknown;
    std::optional<Approval> approval;
    bool io_error = false;  // ok by the checks, but the journal could not be written: not used
  };
  UseResult use(std::string_view id, std::string_view identity, std::string_view request_sha256);

  // Marks every pending or approved approval past its expiry as expired (journaled). Every
  // public operation does this first; the proxy also calls it on a timer.
  void expire_due();

  // Transitions since the last call (creation, decisions, use, expiry), oldest first.
  std::vector<Transition> take_transitions();

  std::size_t pending_count();

 private:
  struct Impl;  // the mutex, the journal file and the records (store.cpp)
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;

 public:
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
};

}  // namespace clawgate::approval

#pragma once
// The audit log (SPEC §7): one JSON record per stage per request, hash-chained, appended to a
// JSON Lines file by one dedicated writer thread. Request coroutines hand records over and, for
// the `decided` record, await its completion; the writer writes whatever has queued up with one
// write() and, with fsync "always", makes the whole group durable with one fdatasync (group
// commit). No I/O thread ever waits for a sync. With fsync "batch" or "never" the group that
// requests await is written by their I/O thread instead (see set_io_executor).

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "clawgate/config/config.hpp"
#include "clawgate/metrics/metrics.hpp"

namespace clawgate::audit {

struct Record {
  Record() = default;
  Record(std::string trace, std::string stage_name, std::optional<std::string> who,
         std::string route_name, nlohmann::json stage_data = nlohmann::json::object())
      : trace_id(std::move(trace)), stage(std::move(stage_name)), identity(std::move(who)),
        route(std::move(route_name)), data(std::move(stage_data)) {}

  std::string trace_id;               // "" for service records
  std::string stage;                  // received, decided, forwarded, completed, rejected, ...
  std::optional<std::string> identity;  // null before authentication
  std::string route;                  // chat, responses, tools, models, admin, or "" (unknown)
  nlohmann::json data = nlohmann::json::object();
  // When set, the record's data instead of `data` (which stays empty): canonical JSON whose
  // strings are redacted already (DataWriter::finish), written into the line as it is.
  std::string data_canonical;
};

// Called with true once the record is in the file (and, with fsync "always", on disk), false when
// it could not be written. Runs on the handler's associated executor.
using Done = boost::asio::any_completion_handler<void(bool)>;

// Counters since start-up (for tests, benchmarks and /metrics).
struct Stats {
  std::uint64_t records = 0;   // records written to the file
  std::uint64_t bytes = 0;     // bytes written
  std::uint64_t groups = 0;    // write groups (one write() each, unless a rotation splits one)
  std::uint64_t syncs = 0;     // successful fdatasync calls
  std::uint64_t failures = 0;  // failed write, rotation or fdatasync attempts
  std::uint64_t lost = 0;      // records dropped beyond the in-memory bound during an outage
  std::uint64_t io_groups = 0;  // of `groups`, those an I/O thread wrote (fsync batch / never)
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Queues a record; never blocks on the disk. A record that cannot be written now is kept and
  // retried (bounded), so a disk that fills up and frees again loses nothing.
  virtual void enqueue(Record record) = 0;
  // Queues a record and calls `done` as described above (the `decided` record).
  virtual void enqueue(Record record, Done done) = 0;
  // Queues a record and blocks the calling thread until it is written (durable = also synced
  // with fsync "always"). For start-up, shutdown and tools: never call it on an I/O thread.
  virtual bool append(Record record, bool durable) = 0;
  // The I/O threads' executor. Once set, a request that awaits its record posts a handler there,
  // which runs after what the I/O thread already has ready, so one handler serves every decision
  // of that round. With fsync "always" it wakes the writer (the sync stays off the I/O thread);
  // with "batch" or "never" it writes the queue itself (one write() into the page cache) and
  // resumes the waiting requests at once, saving the hand-over to the writer thread and back,
  // unless the writer is busy or the file is due for rotation. Set once, before serving.
  virtual void set_io_executor(boost::asio::any_io_executor ex) = 0;
  // false after a failed write or sync, until a later write or sync (or the writer's periodic
  // retry) succeeds: /readyz is 503 meanwhile.
  virtual bool healthy() const = 0;
  // Replaces the secrets this log never writes (tokens) in `s` with "[REDACTED]"; callers that
  // cut text (previews) redact before cutting so half a token cannot slip through.
  virtual void redact(std::string& s) const = 0;
  // Whether `text` holds one of those secrets: when it does not, redact() changes no piece of it.
  virtual bool holds_secret(std::string_view text) const = 0;
  virtual Stats stats() const = 0;
  // fdatasync latency, one observation per group commit (for /metrics).
  virtual const metrics::Histogram& sync_seconds() const = 0;
  // Writes what is queued, syncs (unless fsync "never"), stops the writer. Idempotent.
  virtual void close() = 0;
};
using AuditLogPtr = std::shared_ptr<AuditLog>;

// Canonical JSON (SPEC §7): sorted keys, no insignificant white space, UTF-8 unescaped.
std::string canonical(const nlohmann::json& value);

// The chain hash of a record (SPEC §7): HMAC-SHA256(key, prev || "\n" || canonical(record)),
// plain SHA-256 without a key. `record` is the record without its "hash" field.
std::string chain_hash(const std::string& prev, const nlohmann::json& record,
                       const std::optional<std::string>& key);

struct OpenError {
  std::string message;
};

// Tests only: replaces the fdatasync the log calls (nullptr restores ::fdatasync), to simulate a
// slow or failing disk. Set it before opening a log and restore it after closing it.
namespace testing {
using SyncFn = int (*)(int fd);
void set_fdatasync(SyncFn fn);
// Tests only: how much of the audit file's end stays in the page cache after a sync, and the
// multiple of bytes it is dropped up to (8 MiB and 2 MiB unless set); reset restores those.
void set_cached_tail(std::uint64_t tail_bytes, std::uint64_t align_bytes);
void reset_cached_tail();
}  // namespace testing

// Opens (creating folders with mode 0700), resumes the chain from the last record (reading only
// the end of the file), moves a torn last line aside and starts the writer thread (and, with
// fsync "batch", the thread that syncs behind it).
std::variant<AuditLogPtr, OpenError> open_jsonl_log(const config::Audit& cfg,
                                                    std::vector<std::string> secrets);

}  // namespace clawgate::audit

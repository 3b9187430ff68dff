#include "clawgate/audit/audit_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <future>
#include <initializer_list>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "clawgate/core/crypto.hpp"
#include "clawgate/core/files.hpp"
#include "clawgate/json/canonical.hpp"

namespace clawgate::audit {
namespace {

namespace net = boost::asio;
using SteadyClock = std::chrono::steady_clock;

// While the file cannot be written, records wait in memory up to these bounds; beyond them they
// are counted, and an `error` record saying how many were lost is written once the file recovers.
constexpr std::size_t kMaxRetainedRecords = 100000;
constexpr std::size_t kMaxRetainedBytes = std::size_t{64} << 20;
constexpr auto kRetryInterval = std::chrono::milliseconds(500);
// fsync "batch": written records reach the disk at most this long after they were written.
constexpr auto kBatchSyncInterval = std::chrono::milliseconds(200);
// Records nobody waits for (received, classified, forwarded, completed) do not wake the writer
// one by one: the first of a group starts this window, and the group is written when it ends, when
// a record somebody waits for (decided) arrives, or when the group reaches kUrgentRecords. On a
// busy proxy this saves a thread wake-up (two context switches) per record.
constexpr auto kLinger = std::chrono::milliseconds(20);
constexpr std::size_t kUrgentRecords = 1024;

// clawgate never reads its audit lines back, so once synced they leave the page cache, except
// the file's last kCachedTail bytes or so (for a log shipper that tails the file). Left cached,
// they grow the page cache by every byte written (in a container, charged to its memory limit),
// and a new page-cache page can cost more than a recycled one (docs/performance.md). Pages go
// up to a multiple of kDropAlign: the kernel drops a large folio only whole, and a folio is
// aligned to its size, at most 2 MiB (a PMD) on x86-64 with 4 KiB pages.
constexpr std::uint64_t kCachedTail = std::uint64_t{8} << 20;
constexpr std::uint64_t kDropAlign = std::uint64_t{2} << 20;
std::atomic<std::uint64_t> g_cached_tail{kCachedTail};
std::atomic<std::uint64_t> g_drop_align{kDropAlign};

// Appends the current UTC time as 2026-11-22T07:40:01.123456Z (every record has one).
void append_now_ts(std::string& out) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[27];
  const auto put = [&buf](std::size_t at, long long v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) {
      buf[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
    }
  };
  put(0, tm.tm_year + 1900, 4);
  buf[4] = '-';
  put(5, tm.tm_mon + 1, 2);
  buf[7] = '-';
  put(8, tm.tm_mday, 2);
  buf[10] = 'T';
  put(11, tm.tm_hour, 2);
  buf[13] = ':';
  put(14, tm.tm_min, 2);
  buf[16] = ':';
  put(17, tm.tm_sec, 2);
  buf[19] = '.';
  put(20, static_cast<long long>(us % 1000000), 6);
  buf[26] = 'Z';
  out.append(buf, sizeof buf);
}

std::atomic<testing::SyncFn> g_fdatasync{nullptr};

// The range [dropped_to, end) of a file synced up to `synced` whose pages can leave the page
// cache: all but the last `tail` bytes or so, up to a multiple of `align`; nullopt when empty.
std::optional<std::pair<std::uint64_t, std::uint64_t>> droppable(std::uint64_t dropped_to,
                                                                 std::uint64_t synced,
                                                                 std::uint64_t tail,
                                                                 std::uint64_t align) {
  if (synced <= tail || align == 0) return std::nullopt;
  const std::uint64_t end = (synced - tail) / align * align;
  if (end <= dropped_to) return std::nullopt;
  return std::pair{dropped_to, end};
}

int data_sync(int fd) {
  const testing::SyncFn fn = g_fdatasync.load();
  return fn != nullptr ? fn(fd) : ::fdatasync(fd);
}

// FILE.NNNNNN, the name of the n-th rotated file.
std::string rotated_name(const std::string& file, unsigned n) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ".%06u", n);
  return file + suffix;
}

// Highest N among the rotated files FILE.NNNNNN (0 when there are none).
unsigned highest_rotation(const std::string& file) {
  namespace fs = std::filesystem;
  const fs::path p(file);
  const std::string prefix = p.filename().string() + ".";
  unsigned best = 0;
  std::error_code ec;
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != prefix.size() + 6 || name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    best = std::max(best, static_cast<unsigned>(std::stoul(digits)));
  }
  return best;
}

// The secrets the file must never hold (the gateway token, the HMAC key; SPEC §7). Each is
// searched for by the byte of it that is least common in the texts checked (prose and JSON), then
// compared whole: std::string_view::find stops at every occurrence of a secret's first byte, so a
// key starting with a common letter cost a stop at, say, every "e" of every body.
class SecretSet {
 public:
  explicit SecretSet(std::vector<std::string> secrets) {
    for (auto& s : secrets) {
      if (!s.empty()) needles_.push_back({anchor_of(s), std::move(s)});
    }
  }
  bool empty() const { return needles_.empty(); }

  bool found_in(std::string_view text) const {
    return std::any_of(needles_.begin(), needles_.end(), [text](const Needle& n) {
      return find(text, n, 0) != std::string_view::npos;
    });
  }

  void redact(std::string& s) const {
    for (const auto& n : needles_) {
      for (auto pos = find(s, n, 0); pos != std::string_view::npos; pos = find(s, n, pos)) {
        s.replace(pos, n.text.size(), "[REDACTED]");
        pos += 10;
      }
    }
  }

 private:
  struct Needle {
    std::size_t anchor;  // index of the byte searched for
    std::string text;
  };

  // How common a byte is in the texts searched: English letters by frequency, then the space
  // and JSON's punctuation. Anything else (digits, capitals, rarer punctuation, non-ASCII) is
  // taken as rare.
  static int commonness(unsigned char c) {
    static constexpr std::string_view kByFrequency = " \"etaoinsrhldcu:,mfpgwybvk.{}x-jqz";
    const auto at = kByFrequency.find(static_cast<char>(c));
    return at == std::string_view::npos ? 0 : static_cast<int>(kByFrequency.size() - at);
  }
  static std::size_t anchor_of(std::string_view secret) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < secret.size(); ++i) {
      if (commonness(static_cast<unsigned char>(secret[i])) <
          commonness(static_cast<unsigned char>(secret[best]))) {
        best = i;
      }
    }
    return best;
  }

  // The first occurrence of `n` in text[from, end), or npos.
  static std::size_t find(std::string_view text, const Needle& n, std::size_t from) {
    const std::size_t len = n.text.size();
    const char anchor = n.text[n.anchor];
    for (std::size_t i = from + n.anchor; i + len <= text.size() + n.anchor;) {
      const void* hit = std::memchr(text.data() + i, anchor, text.size() - i);
      if (hit == nullptr) return std::string_view::npos;
      const auto h = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
      const std::size_t start = h - n.anchor;
      if (start + len > text.size()) return std::string_view::npos;
      if (std::memcmp(text.data() + start, n.text.data(), len) == 0) return start;
      i = h + 1;
    }
    return std::string_view::npos;
  }

  std::vector<Needle> needles_;
};

// The end of a file: its last complete line and whatever follows it (a torn line).
struct Tail {
  std::uint64_t complete = 0;  // bytes up to and including the last '\n'
  std::string last_line;       // without its '\n'
  std::string torn;
};

// Reads only as much of the end of `path` as it takes to hold the last complete line, growing
// the window from 64 KiB: start-up time does not depend on the file's size.
std::optional<Tail> read_tail(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t window = 64 * 1024;
  std::string buf;
  for (;;) {
    const std::uint64_t off = size > window ? size - window : 0;
    buf.resize(size - off);
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got,
                                static_cast<off_t>(off + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        if (n == 0) errno = EIO;  // the file shrank under us
        return std::nullopt;
      }
      got += static_cast<std::size_t>(n);
    }
    const auto nl = buf.rfind('\n');
    if (nl == std::string::npos && off > 0) {
      window *= 2;
      continue;
    }
    Tail t;
    if (nl == std::string::npos) {
      t.torn = std::move(buf);
      ::close(fd);
      return t;
    }
    const auto start = nl == 0 ? std::string::npos : buf.rfind('\n', nl - 1);
    if (start == std::string::npos && off > 0) {
      window *= 2;
      continue;
    }
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    t.complete = off + nl + 1;
    t.last_line = buf.substr(from, nl - from);
    t.torn = buf.substr(nl + 1);
    ::close(fd);
    return t;
  }
}

// A record as the submitting thread renders it: everything except seq, prev and hash, which only
// the writer knows. Canonical key order is data, hash, identity, prev, route, seq, stage,
// trace_id, ts, so the line is assembled from these pieces around prev, seq and hash.
struct Pending {
  std::string head;  // {"data":<canonical data>
  // ,"identity":<json> then ,"route":<json> then ,"stage":…,"trace_id":…,"ts":"…"}: one string
  // (fewer allocations on the request path), cut at route_at and tail_at.
  std::string rest;
  std::size_t route_at = 0;
  std::size_t tail_at = 0;
  bool durable = false;
  Done done;
  std::promise<bool>* waiter = nullptr;
  net::any_completion_executor work;  // keeps the awaiting request's executor alive

  explicit Pending(Done d = {}) : done(std::move(d)) {}
  // Move construction only. Boost 1.81's any_completion_handler move-assignment passes an lvalue
  // of itself to its converting constructor and recurses until the stack overflows, so nothing
  // may assign a Done (or a Pending): this type cannot be assigned at all.
  Pending(Pending&&) noexcept = default;
  Pending& operator=(Pending&&) = delete;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() = default;

  std::string_view identity() const { return std::string_view(rest).substr(0, route_at); }
  std::string_view route() const {
    return std::string_view(rest).substr(route_at, tail_at - route_at);
  }
  std::string_view tail() const { return std::string_view(rest).substr(tail_at); }
  std::size_t bytes() const { return head.size() + rest.size(); }
};

// Calls a Done with its result; move-only on purpose (see Pending).
struct Completion {
  Done done;
  bool ok;
  Completion(Done d, bool result) : done(std::move(d)), ok(result) {}
  Completion(Completion&&) noexcept = default;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  Completion& operator=(Completion&&) = delete;
  ~Completion() = default;
  void operator()() { std::move(done)(ok); }
};
// A completion kept until the thread that wrote the record has released the writing state.
using HeldCompletion = std::pair<net::any_completion_executor, Completion>;

// Canonical data with the secrets redacted: in one pass when it can be, else copy and redact.
void append_canonical_data(Record& r, const SecretSet& secrets, std::string& out) {
  if (!r.data_canonical.empty()) {
    out.append(r.data_canonical);
    return;
  }
  const json::StringRewrite rewrite = [&secrets](std::string& s) { secrets.redact(s); };
  json::write_canonical_or_replace(r.data, out, secrets.empty() ? nullptr : &rewrite);
}

Pending render(Record r, const SecretSet& secrets, Done done = {}) {
  Pending p(std::move(done));
  p.head.reserve(r.data_canonical.size() + 256);
  p.head = "{\"data\":";
  append_canonical_data(r, secrets, p.head);
  // The fixed text and the timestamp are about 90 bytes; the rest is the strings themselves.
  p.rest.reserve(96 + (r.identity ? r.identity->size() : 0) + r.route.size() + r.stage.size() +
                 r.trace_id.size());
  p.rest = ",\"identity\":";
  if (r.identity) {
    json::write_string_or_replace(*r.identity, p.rest);
  } else {
    p.rest += "null";
  }
  p.route_at = p.rest.size();
  p.rest += ",\"route\":";
  json::write_string_or_replace(r.route, p.rest);
  p.tail_at = p.rest.size();
  p.rest += ",\"stage\":";
  json::write_string_or_replace(r.stage, p.rest);
  p.rest += ",\"trace_id\":";
  json::write_string_or_replace(r.trace_id, p.rest);
  p.rest += ",\"ts\":\"";
  append_now_ts(p.rest);
  p.rest += "\"}";
  return p;
}

class JsonlLog final : public AuditLog {
 public:
  JsonlLog(config::Audit cfg, std::vector<std::string> secrets, int fd, std::uint64_t seq,
           std::string prev, std::uint64_t size, unsigned next_index, bool rotatable)
      : cfg_(std::move(cfg)),
        secrets_(std::move(secrets)),
        fd_(fd),
        seq_(seq),
        prev_(std::move(prev)),
        size_(size),
        next_index_(next_index),
        rotatable_(rotatable),
        written_(size) {
    writer_ = std::thread([this] { run(); });
    if (cfg_.fsync == config::FsyncMode::batch) syncer_ = std::thread([this] { sync_loop(); });
  }
  ~JsonlLog() override {
    close();
    if (fd_ >= 0) ::close(fd_);
  }
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  void enqueue(Record record) override { push(render(std::move(record), secrets_)); }

  void enqueue(Record record, Done done) override {
    auto work = net::prefer(net::get_associated_executor(done),
                            net::execution::outstanding_work.tracked);
    Pending p = render(std::move(record), secrets_, std::move(done));
    p.durable = true;
    p.work = std::move(work);
    push(std::move(p));
  }

  // Posted on an I/O thread by the first awaited record of a round; runs after that round.
  // fsync "batch" / "never": writes the queue here, then resumes the requests awaiting it at once
  // (not behind what arrived meanwhile, as a completion from the writer thread would be). False,
  // nothing done, with fsync "always" (the sync stays off I/O threads), while another thread
  // writes, or when the file is due for rotation (a rotation syncs): the writer must do it.
  bool write_on_io_thread() {
    {
      std::lock_guard lock(mu_);
      wake_posted_ = false;
      if (cfg_.fsync == config::FsyncMode::always || writing_ || stopping_ || rotation_due_) {
        return false;
      }
      writing_ = true;
      urgent_ = false;
      io_batch_.swap(queue_);
    }
    std::vector<HeldCompletion> held;
    write_group(io_batch_, &held);
    io_batch_.clear();
    ++io_groups_;
    end_writing();  // before resuming anyone: a resumed request may write again
    for (auto& [executor, completion] : held) net::dispatch(executor, std::move(completion));
    return true;
  }

  bool append(Record record, bool durable) override {
    std::promise<bool> result;
    auto future = result.get_future();
    Pending p = render(std::move(record), secrets_);
    p.durable = durable;
    p.waiter = &result;
    if (!push(std::move(p))) return false;
    return future.get();
  }

  void set_io_executor(net::any_io_executor ex) override {
    std::lock_guard lock(mu_);
    io_ = std::move(ex);
  }

  bool healthy() const override { return healthy_.load() && !sync_failing_.load(); }

  const metrics::Histogram& sync_seconds() const override { return sync_seconds_; }

  Stats stats() const override {
    return {records_.load(),  bytes_.load(),      groups_.load(),   syncs_.load(),
            failures_.load(), lost_total_.load(), io_groups_.load()};
  }

  void redact(std::string& s) const override { secrets_.redact(s); }

  bool holds_secret(std::string_view text) const override { return secrets_.found_in(text); }

  void close() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    std::lock_guard lock(join_mu_);
    if (writer_.joinable()) writer_.join();
    // The writer synced what it wrote last; the syncer has nothing left to do.
    {
      std::lock_guard sync_lock(sync_mu_);
      sync_stop_ = true;
    }
    sync_cv_.notify_one();
    if (syncer_.joinable()) syncer_.join();
  }

 private:
  // Hands a record to the writer; false (and the record completed as failed) after close().
  bool push(Pending p) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        const bool urgent =
            p.durable || p.waiter != nullptr || queue_.size() + 1 >= kUrgentRecords;
        // A request awaiting its record: once the I/O thread has run what is ready now (post),
        // one handler writes (or wakes the writer for) every decision made in that round
        // instead of one each. On one CPU each wake-up costs two context switches.
        const bool defer = p.durable && p.waiter == nullptr && io_.has_value();
        queue_.push_back(std::move(p));
        if (urgent && defer) {
          urgent_ = true;
          if (!wake_posted_) {
            wake_posted_ = true;
            net::post(*io_, [this] {
              if (!write_on_io_thread()) cv_.notify_one();
            });
          }
        } else if (urgent) {
          urgent_ = true;
          cv_.notify_one();
        } else if (writer_idle_) {
          writer_idle_ = false;  // starts the linger window; later records need no wake-up
          cv_.notify_one();
        }
        return true;
      }
    }
    spdlog::error("audit: a record arrived after the log was closed; it is not written");
    complete(p, false);
    return false;
  }

  // With `held` (write_group on an I/O thread), a Done is kept there, to run once the writing
  // state is released; a waiter is told at once.
  static void complete(Pending& p, bool ok, std::vector<HeldCompletion>* held = nullptr) {
    if (held != nullptr && p.done) {
      held->emplace_back(std::move(p.work), Completion{std::move(p.done), ok});
      p.work = {};
    }
    if (p.waiter != nullptr) {
      p.waiter->set_value(ok);
      p.waiter = nullptr;
    }
    if (p.done) {
      // From the writer thread, which runs no I/O executor, this queues the completion there.
      net::dispatch(p.work, Completion{std::move(p.done), ok});
      p.work = {};
    }
  }

  // The writer thread: takes everything queued, writes it as one group, repeats.
  void run() {
    std::vector<Pending> batch;
    bool last = false;
    while (!last) {
      {
        std::unique_lock lock(mu_);
        if (queue_.empty() && !stopping_) {
          writer_idle_ = true;
          // Until a record arrives or the retry after a failure is due (an I/O thread's failed
          // write sets one, and wakes this wait to see it).
          while (queue_.empty() && !stopping_) {
            if (!retry_at_) {
              cv_.wait(lock);
            } else if (cv_.wait_until(lock, *retry_at_) == std::cv_status::timeout) {
              break;
            }
          }
          writer_idle_ = false;
        }
        // Nobody waits for what is queued: let the group grow for a while (see kLinger).
        if (!queue_.empty() && !urgent_ && !stopping_) {
          auto until = SteadyClock::now() + kLinger;
          if (retry_at_) until = std::min(until, *retry_at_);
          cv_.wait_until(lock, until, [this] { return urgent_ || stopping_; });
        }
        // An I/O thread is writing (write_on_io_thread): the group follows once it is done.
        if (writing_) {
          writer_waits_ = true;
          cv_.wait(lock, [this] { return !writing_; });
          writer_waits_ = false;
        }
        writing_ = true;
        urgent_ = false;
        batch.swap(queue_);
        last = stopping_ && batch.empty();
      }
      if (!batch.empty() || !retained_.empty() || lost_ > 0) {
        write_group(batch);
        batch.clear();
      } else if (!healthy_.load()) {
        probe();
      }
      end_writing();
    }
    if (!retained_.empty() || lost_ > 0) {
      spdlog::error("audit: {} record(s) could not be written to {} before stopping",
                    retained_.size() + lost_, cfg_.file);
    }
    if (dirty_ && cfg_.fsync != config::FsyncMode::never) sync();
  }

  bool rotates_by_size() const { return rotatable_ && cfg_.rotate_bytes > 0; }

  // Called by whoever wrote (the writer or write_on_io_thread) when done with the writing state.
  void end_writing() {
    // An I/O thread never rotates (a rotation syncs the full file): once the file is full, the
    // writer thread writes the next group, which starts the new file.
    const bool rotation_due = rotates_by_size() && size_ >= cfg_.rotate_bytes;
    // When the writer must wake up without new records: to retry after a failure.
    std::optional<SteadyClock::time_point> retry_at;
    if (!healthy_.load() || !retained_.empty() || lost_ > 0) {
      retry_at = last_failure_ + kRetryInterval;
    }
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      retry_at_ = retry_at;
      rotation_due_ = rotation_due;
      // An idle writer sleeps without a deadline: a failure here must arm its retry.
      wake = writer_waits_ || (retry_at && writer_idle_);
    }
    if (wake) cv_.notify_one();
  }

  // fsync "batch": this thread syncs what the writer wrote, at most kBatchSyncInterval after it
  // was written, so the writer never waits for the disk. On a busy disk one fdatasync can take
  // hundreds of milliseconds; on the writer it would hold every decision queued behind it.
  void sync_loop() {
    std::unique_lock lock(sync_mu_);
    auto last = SteadyClock::now();
    for (;;) {
      sync_cv_.wait(lock, [this] { return sync_wanted_ || sync_stop_; });
      // Let what follows gather: one fdatasync per interval at most.
      sync_cv_.wait_until(lock, last + kBatchSyncInterval, [this] { return sync_stop_; });
      if (sync_stop_) return;
      sync_wanted_ = false;
      lock.unlock();
      const bool ok = sync_file();
      if (ok) drop_synced_pages();
      lock.lock();
      last = SteadyClock::now();
      if (!ok) {
        sync_wanted_ = true;  // the written records are not on disk yet: try again
        last += kRetryInterval - kBatchSyncInterval;
      }
    }
  }

  // The syncer's fdatasync. A failure turns the log unhealthy until a later sync succeeds.
  bool sync_file() {
    if (!timed_sync()) {
      const int err = errno;
      ++failures_;
      if (!sync_failing_.exchange(true)) {
        spdlog::error("audit: fdatasync of {} failed: {}; not ready until it works again",
                      cfg_.file, std::strerror(err));
      }
      return false;
    }
    ++syncs_;
    if (sync_failing_.exchange(false)) spdlog::info("audit: {} syncs again", cfg_.file);
    return true;
  }

  // fdatasync of the current file, timed for the histogram; false (errno set) on failure. Safe
  // from both the writer and the syncer: fd_mu_ keeps rotation from swapping the descriptor.
  bool timed_sync() {
    const auto start = SteadyClock::now();
    int rc = 0;
    int err = 0;
    {
      std::lock_guard fd_lock(fd_mu_);
      // What write() had returned before the sync started is on disk once it succeeds.
      const std::uint64_t written = written_.load(std::memory_order_acquire);
      rc = data_sync(fd_);
      err = errno;
      if (rc == 0) synced_ = std::max(synced_, written);
    }
    sync_seconds_.observe_us(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start)
            .count());
    errno = err;
    return rc == 0;
  }

  // Drops what the last syncs put on disk from the page cache (see kCachedTail). Called after a
  // sync, once the records it made durable are completed: freeing 1 MiB of pages takes about
  // 250 us on this project's VM, which no request should wait for.
  void drop_synced_pages() {
    if (!rotatable_) return;  // not a regular file: no page cache of its own
    std::lock_guard fd_lock(fd_mu_);
    const auto range = droppable(dropped_to_, synced_, g_cached_tail.load(), g_drop_align.load());
    if (!range) return;
    advise_dontneed(fd_, range->first, range->second - range->first);
    dropped_to_ = range->second;
  }

  // A hint: a failure costs memory, not correctness, so it is reported once and writing goes on.
  void advise_dontneed(int fd, std::uint64_t offset, std::uint64_t length) {
    const int rc = ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                                   POSIX_FADV_DONTNEED);
    if (rc != 0 && !dontneed_failed_.exchange(true)) {
      spdlog::warn("audit: cannot drop written lines of {} from the page cache: {}", cfg_.file,
                   std::strerror(rc));
    }
  }

  // fsync "batch": the written records are for the syncer.
  void want_sync() {
    {
      std::lock_guard lock(sync_mu_);
      if (sync_wanted_) return;
      sync_wanted_ = true;
    }
    sync_cv_.notify_one();
  }

  // Appends the line of `p` (with seq, prev and hash) to `out` and advances the chain; the prev
  // it replaced goes to `old_prev`.
  void chain(const Pending& p, std::string& out, std::string& old_prev) {
    char seq_text[24];
    const auto seq_end = std::to_chars(seq_text, seq_text + sizeof seq_text, seq_ + 1).ptr;
    const std::string_view seq(seq_text, static_cast<std::size_t>(seq_end - seq_text));
    // hash over prev || "\n" || record-without-hash, fed in pieces (never joined). The record
    // without its hash is head, then identity, prev, route, seq and tail (canonical key order).
    constexpr std::size_t kMiddleFrom = 3;  // pieces after prev, "\n" and head
    const std::initializer_list<std::string_view> pieces = {
        prev_, "\n",      p.head,      p.identity(), ",\"prev\":\"", prev_,
        "\"",  p.route(), ",\"seq\":", seq,          p.tail()};
    std::string hash;
    if (hmac_) {
      hash = hmac_->hex(pieces);
    } else {
      core::Sha256Stream sha;
      for (const std::string_view piece : pieces) sha.update(piece);
      hash = sha.hex();
    }
    out.append(p.head).append(",\"hash\":\"").append(hash).append("\"");
    for (auto it = pieces.begin() + kMiddleFrom; it != pieces.end(); ++it) out.append(*it);
    out.push_back('\n');
    ++seq_;
    old_prev = std::exchange(prev_, std::move(hash));
  }

  // Writes retained records (older), a lost-records notice, then `batch`, in that order, with as
  // few write() calls as rotation allows, then one fdatasync for the group when any record in it
  // is durable (fsync "always"). Records not written are kept for the next attempt. `held`: the
  // group is written on an I/O thread, which never rotates (a rotation syncs the full file) and
  // keeps the completions there (see complete).
  void write_group(std::vector<Pending>& batch, std::vector<HeldCompletion>* held = nullptr) {
    std::vector<Pending> work;
    work.swap(retained_);
    retained_bytes_ = 0;
    std::size_t marker = std::string::npos;  // index of the lost-records notice, if any
    const std::size_t lost = lost_;
    if (lost > 0) {
      marker = work.size();
      work.push_back(render({"", "error", std::nullopt, "",
                             {{"code", "audit_records_lost"},
                              {"message", std::to_string(lost) +
                                              " audit record(s) could not be kept in memory while "
                                              "the audit file was failing"}}},
                            secrets_));
    }
    for (auto& p : batch) work.push_back(std::move(p));

    std::uint64_t committed_seq = seq_;
    std::string committed_prev = prev_;
    std::size_t committed = 0;
    const char* failed = nullptr;
    // Reused between groups: the lines of a group are assembled without allocating.
    std::string& buf = group_buf_;
    std::string& line = line_buf_;
    buf.clear();
    for (std::size_t i = 0; i < work.size(); ++i) {
      const std::uint64_t seq_before = seq_;
      std::string prev_before;
      line.clear();
      chain(work[i], line, prev_before);
      if (held == nullptr && rotates_by_size() && size_ + buf.size() > 0 &&
          size_ + buf.size() + line.size() > cfg_.rotate_bytes) {
        if (!write_all(buf)) {
          failed = "write";
          break;
        }
        committed = i;
        committed_seq = seq_before;
        committed_prev = std::move(prev_before);
        buf.clear();
        if (!rotate()) {
          failed = "rotation";
          break;
        }
      }
      buf += line;
    }
    if (failed == nullptr) {
      if (write_all(buf)) {
        committed = work.size();
        committed_seq = seq_;
        committed_prev = prev_;
      } else {
        failed = "write";
      }
    }
    seq_ = committed_seq;
    prev_ = std::move(committed_prev);
    if (committed > 0) {
      dirty_ = true;
      records_ += committed;
      ++groups_;
      if (cfg_.fsync == config::FsyncMode::batch) want_sync();
    }
    if (marker < committed) lost_ -= std::min(lost_, lost);

    bool synced = true;
    const bool wants_sync = cfg_.fsync == config::FsyncMode::always &&
                            std::any_of(work.begin(), work.begin() + static_cast<long>(committed),
                                        [](const Pending& p) { return p.durable; });
    if (wants_sync) synced = sync();
    for (std::size_t i = 0; i < committed; ++i) complete(work[i], synced, held);
    if (wants_sync && synced) drop_synced_pages();
    if (failed != nullptr) {
      fail(failed);
      for (std::size_t i = committed; i < work.size(); ++i) {
        if (i == marker) continue;  // re-rendered with the current count next time
        complete(work[i], false, held);
        retain(std::move(work[i]));
      }
    } else if (synced && !healthy_.load()) {
      healthy_ = true;
      spdlog::info("audit: {} is writable again", cfg_.file);
    }
    // A burst of large records must not stay allocated: keep only ordinary capacities.
    if (buf.capacity() > kKeptGroupBytes) std::string().swap(buf);
    if (line.capacity() > kKeptLineBytes) std::string().swap(line);
  }

  void retain(Pending p) {
    if (retained_.size() >= kMaxRetainedRecords || retained_bytes_ + p.bytes() > kMaxRetainedBytes) {
      ++lost_;
      ++lost_total_;
      return;
    }
    retained_bytes_ += p.bytes();
    retained_.push_back(std::move(p));
  }

  // After a failed sync with nothing left to write: the log is healthy once a sync succeeds.
  void probe() {
    if (SteadyClock::now() - last_failure_ < kRetryInterval) return;
    if (cfg_.fsync == config::FsyncMode::never || sync()) {
      healthy_ = true;
      spdlog::info("audit: {} is writable again", cfg_.file);
    }
  }

  bool sync() {
    if (!timed_sync()) {
      fail("fdatasync");
      return false;
    }
    dirty_ = false;
    ++syncs_;
    return true;
  }

  bool write_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0) errno = EIO;
        const int err = errno;
        // A partial line would break the chain for every later record: cut it off again.
        if (off > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
          spdlog::error("audit: could not remove a partial record: {}", std::strerror(errno));
        }
        errno = err;
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    size_ += data.size();
    written_.store(size_, std::memory_order_release);
    bytes_ += data.size();
    return true;
  }

  // The full file becomes FILE.NNNNNN and FILE starts anew; the chain simply continues, so
  // `audit verify FILE.000001 … FILE` checks across the boundary.
  bool rotate() {
    std::lock_guard fd_lock(fd_mu_);  // the syncer never syncs a closed or reused descriptor
    if (cfg_.fsync != config::FsyncMode::never && data_sync(fd_) != 0) return false;
    const std::string target = rotated_name(cfg_.file, next_index_);
    if (::rename(cfg_.file.c_str(), target.c_str()) != 0) return false;
    const int nfd = ::open(cfg_.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (nfd < 0) {
      const int err = errno;
      ::rename(target.c_str(), cfg_.file.c_str());  // keep writing where we were
      errno = err;
      return false;
    }
    // The full file was synced above; none of it needs to stay cached.
    if (cfg_.fsync != config::FsyncMode::never) advise_dontneed(fd_, 0, 0);
    ::close(fd_);
    fd_ = nfd;
    size_ = 0;
    written_.store(0, std::memory_order_release);
    synced_ = 0;
    dropped_to_ = 0;
    dirty_ = false;
    ++next_index_;
    core::sync_parent_dir(cfg_.file);
    spdlog::info("audit: rotated to {}", target);
    return true;
  }

  void fail(const char* what) {
    const int err = errno;
    if (healthy_.exchange(false)) {
      spdlog::error("audit: {} of {} failed: {}; requests are refused until it works again", what,
                    cfg_.file, std::strerror(err));
    }
    last_failure_ = SteadyClock::now();
    ++failures_;
  }

  const config::Audit cfg_;
  const SecretSet secrets_;
  // The keyed HMAC (null without a key); used only by the thread holding writing_.
  const std::unique_ptr<core::HmacSha256> hmac_ =
      cfg_.hmac_key ? std::make_unique<core::HmacSha256>(*cfg_.hmac_key) : nullptr;

  // Shared with submitting threads.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;  // the writer waits for a first record (push must wake it)
  bool urgent_ = false;       // a queued record is awaited: write now, no linger
  // One thread at a time writes (the writer or an I/O thread in write_on_io_thread) and owns the
  // writing state below while it does; the writer thread waits for the token (writer_waits_).
  bool writing_ = false;
  bool writer_waits_ = false;
  bool rotation_due_ = false;  // the file is full: the writer writes (and rotates) next
  std::optional<SteadyClock::time_point> retry_at_;  // the writer's retry after a failure
  bool wake_posted_ = false;  // a handler for the awaited records is queued on an I/O executor
  std::optional<net::any_io_executor> io_;  // where it is posted (set_io_executor)
  std::atomic<bool> healthy_{true};
  metrics::Histogram sync_seconds_;
  std::atomic<std::uint64_t> records_{0}, bytes_{0}, groups_{0}, syncs_{0}, failures_{0},
      lost_total_{0}, io_groups_{0};

  // The writing state: only the thread holding writing_ touches it.
  int fd_;
  std::uint64_t seq_;
  std::string prev_;
  std::uint64_t size_;
  unsigned next_index_;
  bool rotatable_;
  bool dirty_ = false;
  SteadyClock::time_point last_failure_{};
  std::vector<Pending> retained_;
  // write_group's lines and one line, kept for the next group up to these sizes.
  static constexpr std::size_t kKeptGroupBytes = 256 * 1024;
  static constexpr std::size_t kKeptLineBytes = 64 * 1024;
  std::string group_buf_;
  std::string line_buf_;
  std::vector<Pending> io_batch_;  // write_on_io_thread's group
  std::size_t retained_bytes_ = 0;
  std::size_t lost_ = 0;

  // fsync "batch": the syncer thread. fd_mu_ keeps fd_ from being replaced (rotation) while it
  // is synced; the writer's write() calls need no lock, only it changes fd_.
  std::mutex fd_mu_;
  // size_ for whoever syncs (the syncer thread cannot read size_); then, guarded by fd_mu_, how
  // much of fd_ is known to be on disk and how much of that has left the page cache.
  std::atomic<std::uint64_t> written_;
  std::uint64_t synced_ = 0;
  std::uint64_t dropped_to_ = 0;
  std::atomic<bool> dontneed_failed_{false};
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_wanted_ = false;  // written since the last sync
  bool sync_stop_ = false;
  std::atomic<bool> sync_failing_{false};

  std::mutex join_mu_;
  std::thread writer_;
  std::thread syncer_;
};

}  // namespace

void testing::set_fdatasync(SyncFn fn) { g_fdatasync.store(fn); }

void testing::set_cached_tail(std::uint64_t tail_bytes, std::uint64_t align_bytes) {
  g_cached_tail.store(tail_bytes);
  g_drop_align.store(align_bytes);
}

void testing::reset_cached_tail() { set_cached_tail(kCachedTail, kDropAlign); }

namespace {

// Parses and checks the last record of a file; its seq and hash continue the chain.
std::optional<OpenError> resume_from(const std::string& line, const std::string& source,
                                     const config::Audit& cfg, std::uint64_t& seq,
                                     std::string& prev) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j.contains("hash") ||
      !j.contains("prev") || !j["seq"].is_number_unsigned() || !j["hash"].is_string() ||
      !j["prev"].is_string()) {
    return OpenError{"audit.file: the last record of " + source +
                     " is not a valid audit record; run `clawgate audit verify` on it"};
  }
  const std::string hash = j["hash"].get<std::string>();
  nlohmann::json body = j;
  body.erase("hash");
  if (!core::constant_time_equal(chain_hash(j["prev"].get<std::string>(), body, cfg.hmac_key),
                                 hash)) {
    return OpenError{"audit.file: the last record of " + source +
                     " does not verify with the configured key (a different audit.hmac_key_env "
                     "value, or the file was altered); run `clawgate audit verify`"};
  }
  seq = j["seq"].get<std::uint64_t>();
  prev = hash;
  return std::nullopt;
}

}  // namespace

std::string canonical(const nlohmann::json& value) {
  // Client bytes that are not UTF-8 (a body, a path) become U+FFFD: the record is still
  // written, and the file's text is exactly what was hashed, so `audit verify` recomputes the
  // same hash.
  std::string out;
  json::write_canonical_or_replace(value, out);
  return out;
}

std::string chain_hash(const std::string& prev, const nlohmann::json& record,
                       const std::optional<std::string>& key) {
  const std::string material = prev + "\n" + canonical(record);
  return key ? core::hmac_sha256_hex(*key, material) : core::sha256_hex(material);
}

std::variant<AuditLogPtr, OpenError> open_jsonl_log(const config::Audit& cfg,
                                                    std::vector<std::string> secrets) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(cfg.file);
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) return OpenError{"audit.file: cannot create " + path.parent_path().string() + ": " +
                             ec.message()};
    fs::permissions(path.parent_path(), fs::perms::owner_all, ec);
  }
  // Resume the chain from the last complete record: of FILE, or of the newest rotated file when
  // FILE is new or empty. A torn last line (a crash mid-write) is moved to FILE.torn, never
  // dropped. Only the end of each file is read.
  std::uint64_t seq = 0;
  std::string prev(64, '0');
  std::uint64_t size = 0;
  std::string torn;
  const bool regular = !fs::exists(path, ec) || fs::is_regular_file(path, ec);
  const unsigned rotated = regular ? highest_rotation(cfg.file) : 0;
  bool resumed = false;
  if (regular && fs::exists(path, ec)) {
    auto tail = read_tail(cfg.file);
    if (!tail) return OpenError{"audit.file: cannot read " + cfg.file + ": " + std::strerror(errno)};
    torn = std::move(tail->torn);
    size = tail->complete;
    if (!torn.empty()) {
      const std::string torn_path = cfg.file + ".torn";
      const int tfd = ::open(torn_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      const bool saved = tfd >= 0 &&
                         ::write(tfd, torn.data(), torn.size()) == static_cast<ssize_t>(torn.size()) &&
                         ::fsync(tfd) == 0;
      if (tfd >= 0) ::close(tfd);
      if (!saved || ::truncate(cfg.file.c_str(), static_cast<off_t>(size)) != 0) {
        return OpenError{"audit.file: cannot move the torn last line of " + cfg.file + " to " +
                         torn_path + ": " + std::strerror(errno)};
      }
      spdlog::warn("audit: moved a torn last line ({} bytes) of {} to {}", torn.size(), cfg.file,
                   torn_path);
    }
    if (size > 0) {
      if (auto err = resume_from(tail->last_line, cfg.file, cfg, seq, prev)) return *err;
      resumed = true;
    }
  }
  if (!resumed && rotated > 0) {
    const std::string source = rotated_name(cfg.file, rotated);
    const auto tail = read_tail(source);
    if (tail && tail->complete > 0) {
      if (auto err = resume_from(tail->last_line, source, cfg, seq, prev)) return *err;
    }
  }
  const int fd = ::open(cfg.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return OpenError{"audit.file: cannot open " + cfg.file + ": " + std::strerror(errno)};
  }
  auto log = std::make_shared<JsonlLog>(cfg, std::move(secrets), fd, seq, std::move(prev), size,
                                        rotated + 1, regular);
  if (!torn.empty() &&
      !log->append({"", "recovered", std::nullopt, "",
                    {{"torn_bytes", torn.size()}, {"moved_to", cfg.file + ".torn"}}},
                   true)) {
    return OpenError{"audit.file: cannot write to " + cfg.file + ": " + std::strerror(errno)};
  }
  return AuditLogPtr(std::move(log));
}

}  // namespace clawgate::audit

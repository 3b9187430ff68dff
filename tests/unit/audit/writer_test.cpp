// The audit writer thread (issue #4): group commit, the fsync modes, awaiting completion from
// coroutines, records held through an outage, resuming from files whose last record is larger
// than the tail window, and what the log leaves in the page cache.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/audit/data_writer.hpp"
#include "clawgate/audit/verify.hpp"

namespace clawgate::audit {
namespace {

namespace net = boost::asio;

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Busy for `d` (a sleep would let the writer thread run on this thread's CPU meanwhile).
void spin_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

class AuditWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/clawgate-writer-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cfg_.file = dir_ + "/audit.jsonl";
    cfg_.hmac_key_env = "K";
    cfg_.hmac_key = "writer-test-key";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AuditLogPtr open() {
    auto opened = open_jsonl_log(cfg_, {});
    if (auto* e = std::get_if<OpenError>(&opened)) ADD_FAILURE() << e->message;
    return std::get<AuditLogPtr>(opened);
  }

  // `n` coroutines on `threads` I/O threads each await one durable record; returns how many
  // completed with true.
  static int await_concurrently(AuditLog& log, int n, int threads) {
    net::io_context ioc(threads);
    std::atomic<int> ok{0};
    for (int i = 0; i < n; ++i) {
      net::co_spawn(
          net::make_strand(ioc),
          [&log, &ok, i]() -> net::awaitable<void> {
            Record r{"trace-" + std::to_string(i), "decided", "alice", "chat",
                     {{"decision", "allow"}}};
            const bool done = co_await net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
                [&log](auto handler, Record rec) { log.enqueue(std::move(rec), Done(std::move(handler))); },
                net::use_awaitable, std::move(r));
            if (done) ++ok;
          },
          net::detached);
    }
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();  // returns only when every coroutine has its answer: the writer keeps work alive
    for (auto& t : pool) t.join();
    return ok.load();
  }

  // One record written and the writer back to waiting, so that a test starts from a writer
  // that sleeps; returns the groups written so far.
  static std::uint64_t warm_up(AuditLog& log) {
    EXPECT_TRUE(log.append({"", "started", std::nullopt, "", {}}, false));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return log.stats().groups;
  }

  std::string dir_;
  config::Audit cfg_;
};

TEST_F(AuditWriterTest, ConcurrentDurableRecordsShareFdatasyncs) {
  auto log = open();
  const int n = 256;
  EXPECT_EQ(await_concurrently(*log, n, 4), n);
  const Stats s = log->stats();
  EXPECT_EQ(s.records, static_cast<std::uint64_t>(n));
  EXPECT_GE(s.syncs, 1u);
  // Group commit: far fewer syncs than durable records (each sync covered a whole group).
  EXPECT_LT(s.syncs, static_cast<std::uint64_t>(n / 2)) << "syncs=" << s.syncs;
  EXPECT_EQ(s.syncs, s.groups) << "fsync \"always\" syncs each group that holds a decision";
  log->close();
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, static_cast<std::uint64_t>(n));
}

TEST_F(AuditWriterTest, NonDurableRecordsAloneAreNotSyncedUnderAlways) {
  auto log = open();
  for (int i = 0; i < 50; ++i) log->enqueue({"t", "received", std::nullopt, "chat", {{"i", i}}});
  ASSERT_TRUE(log->append({"t", "received", std::nullopt, "chat", {}}, false));
  EXPECT_EQ(log->stats().records, 51u);
  EXPECT_EQ(log->stats().syncs, 0u);
  // The next durable record syncs everything before it too.
  ASSERT_TRUE(log->append({"t", "decided", std::nullopt, "chat", {}}, true));
  EXPECT_EQ(log->stats().syncs, 1u);
}

TEST_F(AuditWriterTest, RecordsNobodyAwaitsAreGroupedAndStillWrittenSoon) {
  cfg_.fsync = config::FsyncMode::never;
  auto log = open();
  const std::uint64_t groups_before = warm_up(*log);
  // 100 records over about 5 ms, as a busy proxy would queue them: a writer woken per record
  // would write about 100 groups.
  for (int i = 0; i < 100; ++i) {
    log->enqueue({"t", "received", std::nullopt, "chat", {{"i", i}}});
    spin_for(std::chrono::microseconds(50));
  }
  // Nobody waits for them, yet they reach the file within the linger window (bounded wait).
  for (int i = 0; i < 200 && log->stats().records < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(log->stats().records, 101u);
  // One wake-up for the lot, not one per record.
  const std::uint64_t groups = log->stats().groups - groups_before;
  EXPECT_LE(groups, 2u) << "groups=" << groups;
}

TEST_F(AuditWriterTest, DecisionsOfOneRoundShareOneWakeUp) {
  cfg_.fsync = config::FsyncMode::never;  // no fdatasync to group them by accident
  auto log = open();
  const std::uint64_t groups_before = warm_up(*log);
  net::io_context ioc(1);
  log->set_io_executor(ioc.get_executor());
  const int n = 64;
  std::atomic<int> ok{0};
  // All n coroutines are ready before the first runs: one round of the I/O thread, about 6 ms
  // long. A writer woken per decision would write about n groups.
  for (int i = 0; i < n; ++i) {
    net::co_spawn(
        ioc,
        [&log, &ok, i]() -> net::awaitable<void> {
          spin_for(std::chrono::microseconds(100));  // the request's own work
          Record r{"trace-" + std::to_string(i), "decided", "alice", "chat", {}};
          const bool done = co_await net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
              [&log](auto handler, Record rec) {
                log->enqueue(std::move(rec), Done(std::move(handler)));
              },
              net::use_awaitable, std::move(r));
          if (done) ++ok;
        },
        net::detached);
  }
  ioc.run();
  EXPECT_EQ(ok.load(), n);
  EXPECT_EQ(log->stats().records, static_cast<std::uint64_t>(n) + 1);
  const std::uint64_t groups = log->stats().groups - groups_before;
  EXPECT_LE(groups, 2u) << "groups=" << groups;
}

// One round of an I/O thread: `n` coroutines each await one decision; the last one also posts a
// handler, which queues behind the handler the round's first decision posted. Returns the order
// in which the coroutines resumed ("r") and that handler ran ("h"), and sets `ok` to how many
// decisions were written.
std::string one_round(AuditLog& log, int n, int& ok) {
  net::io_context ioc(1);
  log.set_io_executor(ioc.get_executor());
  std::string order;
  ok = 0;
  for (int i = 0; i < n; ++i) {
    net::co_spawn(
        ioc,
        [&log, &ok, &order, &ioc, i, n]() -> net::awaitable<void> {
          if (i == n - 1) net::post(ioc, [&order] { order += 'h'; });
          Record r{"trace-" + std::to_string(i), "decided", "alice", "chat", {}};
          const bool done = co_await net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
              [&log](auto handler, Record rec) {
                log.enqueue(std::move(rec), Done(std::move(handler)));
              },
              net::use_awaitable, std::move(r));
          order += 'r';
          if (done) ++ok;
        },
        net::detached);
  }
  ioc.run();
  return order;
}

TEST_F(AuditWriterTest, BatchAndNeverWriteARoundsDecisionsOnTheIoThreadAndResumeThemAtOnce) {
  for (const auto mode : {config::FsyncMode::batch, config::FsyncMode::never}) {
    SCOPED_TRACE(mode == config::FsyncMode::batch ? "batch" : "never");
    cfg_.fsync = mode;
    std::filesystem::remove(cfg_.file);
    auto log = open();
    const std::uint64_t groups_before = warm_up(*log);
    int ok = 0;
    // The requests resume inside the handler that wrote their decisions, before anything queued
    // after it; a completion from the writer thread would queue behind the 'h' handler.
    EXPECT_EQ(one_round(*log, 8, ok), "rrrrrrrrh");
    EXPECT_EQ(ok, 8);
    const Stats s = log->stats();
    EXPECT_EQ(s.groups - groups_before, 1u);
    EXPECT_EQ(s.io_groups, 1u) << "the I/O thread wrote the round's group";
    EXPECT_EQ(s.records, 9u);
    log->close();
    const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
    EXPECT_TRUE(v.ok) << v.problem;
  }
}

TEST_F(AuditWriterTest, AlwaysLeavesTheRoundsSyncToTheWriterThread) {
  auto log = open();  // fsync "always"
  warm_up(*log);      // a writer thread still starting could split the round into two groups
  const std::uint64_t syncs_before = log->stats().syncs;
  int ok = 0;
  EXPECT_EQ(one_round(*log, 8, ok), "hrrrrrrrr");
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(log->stats().io_groups, 0u);
  EXPECT_EQ(log->stats().syncs - syncs_before, 1u) << "one fdatasync for the round";
}

TEST_F(AuditWriterTest, AFullFileIsRotatedByTheWriterThreadNotAnIoThread) {
  cfg_.fsync = config::FsyncMode::batch;
  cfg_.rotate_bytes = 65536;
  auto log = open();
  // The writer thread takes whatever is queued whenever it is awake, rounds included; only an
  // idle writer is left alone until the file is full. Without this, a writer thread that started
  // late took the first rounds (70 of 300 runs under ASan).
  warm_up(*log);
  int ok = 0;
  // Rounds written on the I/O thread until the file is full; it may pass rotate_bytes by the
  // last of them, since an I/O thread does not rotate (a rotation syncs).
  int rounds = 0;
  while (!std::filesystem::exists(cfg_.file + ".000001") && rounds < 200) {
    const std::uint64_t io_before = log->stats().io_groups;
    const std::uint64_t size_before = std::filesystem::file_size(cfg_.file);
    one_round(*log, 16, ok);
    ASSERT_EQ(ok, 16);
    ++rounds;
    if (log->stats().io_groups == io_before) {
      // The writer thread wrote this round, which it does only once the file was full.
      EXPECT_GE(size_before, cfg_.rotate_bytes);
    } else {
      EXPECT_FALSE(std::filesystem::exists(cfg_.file + ".000001")) << "an I/O thread rotated";
    }
  }
  ASSERT_TRUE(std::filesystem::exists(cfg_.file + ".000001")) << "never rotated";
  EXPECT_GT(log->stats().io_groups, 0u);
  // The rotated file ends with the round that filled it: at most one group past the limit.
  EXPECT_LT(std::filesystem::file_size(cfg_.file + ".000001"), cfg_.rotate_bytes + 16 * 1024);
  log->close();
  const auto v = verify_files({cfg_.file + ".000001", cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

TEST_F(AuditWriterTest, BatchModeSyncsOnItsOwnWithinTheInterval) {
  cfg_.fsync = config::FsyncMode::batch;
  auto log = open();
  ASSERT_TRUE(log->append({"t", "decided", std::nullopt, "chat", {}}, true));
  EXPECT_EQ(log->stats().syncs, 0u) << "batch does not sync before answering";
  for (int i = 0; i < 40 && log->stats().syncs == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));  // bounded: 1 s
  }
  EXPECT_EQ(log->stats().syncs, 1u) << "batch syncs written records within 200 ms";
}

// A disk whose fdatasync hangs until the test opens the gate, or fails while `g_sync_fails`.
std::mutex g_gate_mu;
std::condition_variable g_gate_cv;
bool g_gate_open = true;
std::atomic<int> g_syncs_entered{0};
std::atomic<bool> g_sync_fails{false};

int gated_fdatasync(int fd) {
  ++g_syncs_entered;
  {
    std::unique_lock lock(g_gate_mu);
    g_gate_cv.wait(lock, [] { return g_gate_open; });
  }
  if (g_sync_fails.load()) {
    errno = EIO;
    return -1;
  }
  return ::fdatasync(fd);
}

void set_gate(bool open) {
  {
    std::lock_guard lock(g_gate_mu);
    g_gate_open = open;
  }
  g_gate_cv.notify_all();
}

// Restores the real fdatasync (and an open gate) however the test ends.
struct GatedDisk {
  GatedDisk() {
    g_syncs_entered = 0;
    g_sync_fails = false;
    testing::set_fdatasync(&gated_fdatasync);
  }
  ~GatedDisk() {
    set_gate(true);
    g_sync_fails = false;
    testing::set_fdatasync(nullptr);
  }
  GatedDisk(const GatedDisk&) = delete;
  GatedDisk& operator=(const GatedDisk&) = delete;
};

TEST_F(AuditWriterTest, BatchModeWritesOnWhileASyncHangs) {
  cfg_.fsync = config::FsyncMode::batch;
  GatedDisk disk;
  set_gate(false);
  AuditLogPtr log = open();
  // Each append runs on a thread of its own: a writer that waits for the hanging sync fails the
  // test after 5 s instead of hanging it.
  const auto append_within_5s = [&log](const char* trace) {
    auto f = std::async(std::launch::async, [&log, trace] {
      return log->append({trace, "decided", std::nullopt, "chat", {}}, true);
    });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      set_gate(true);  // let the append (and the test) end
      f.wait();
      return false;
    }
    return f.get();
  };
  ASSERT_TRUE(append_within_5s("t1"));
  for (int i = 0; i < 200 && g_syncs_entered.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // bounded: 2 s
  }
  ASSERT_EQ(g_syncs_entered.load(), 1) << "the written record was not being synced";
  // The sync hangs; a decision is still written and answered: the writer never waits for it.
  ASSERT_TRUE(append_within_5s("t2")) << "the writer waited for the hanging sync";
  EXPECT_EQ(read_lines(cfg_.file).size(), 2u);
  EXPECT_EQ(log->stats().syncs, 0u);
  set_gate(true);
  log->close();
  EXPECT_GE(log->stats().syncs, 1u);
}

TEST_F(AuditWriterTest, BatchModeSyncFailureTurnsUnhealthyUntilASyncWorks) {
  cfg_.fsync = config::FsyncMode::batch;
  GatedDisk disk;
  g_sync_fails = true;
  AuditLogPtr log = open();
  ASSERT_TRUE(log->append({"t1", "decided", std::nullopt, "chat", {}}, true));
  for (int i = 0; i < 200 && log->healthy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // bounded: 2 s
  }
  EXPECT_FALSE(log->healthy()) << "a failed batch sync must turn the log not ready";
  EXPECT_GE(log->stats().failures, 1u);
  g_sync_fails = false;  // the syncer retries the unsynced records
  for (int i = 0; i < 300 && !log->healthy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // bounded: 3 s
  }
  EXPECT_TRUE(log->healthy());
  EXPECT_GE(log->stats().syncs, 1u);
  log->close();
}

TEST_F(AuditWriterTest, NeverModeNeverSyncs) {
  cfg_.fsync = config::FsyncMode::never;
  auto log = open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->append({"t", "decided", std::nullopt, "chat", {}}, true));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  log->close();
  EXPECT_EQ(log->stats().syncs, 0u);
  EXPECT_EQ(read_lines(cfg_.file).size(), 5u);
}

TEST_F(AuditWriterTest, CloseWritesWhatIsQueuedAndLaterRecordsFail) {
  auto log = open();
  for (int i = 0; i < 1000; ++i) log->enqueue({"t", "received", std::nullopt, "chat", {{"i", i}}});
  log->close();
  EXPECT_EQ(read_lines(cfg_.file).size(), 1000u);
  EXPECT_FALSE(log->append({"t", "late", std::nullopt, "chat", {}}, true));
  log->close();  // idempotent
}

// The file-size limit stands in for a full disk: writes fail with EFBIG while it is low.
class FsizeLimit {
 public:
  explicit FsizeLimit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_);
    const rlimit low{bytes, saved_.rlim_max};
    setrlimit(RLIMIT_FSIZE, &low);
  }
  ~FsizeLimit() { lift(); }
  void lift() {
    if (!lifted_) setrlimit(RLIMIT_FSIZE, &saved_);
    lifted_ = true;
  }
  FsizeLimit(const FsizeLimit&) = delete;
  FsizeLimit& operator=(const FsizeLimit&) = delete;

 private:
  rlimit saved_{};
  bool lifted_ = false;
};

TEST_F(AuditWriterTest, RecordsHeldThroughAnOutageAreWrittenWhenTheDiskRecovers) {
  auto log = open();
  ASSERT_TRUE(log->append({"t0", "decided", std::nullopt, "chat", {}}, true));
  const auto size = std::filesystem::file_size(cfg_.file);
  {
    FsizeLimit full(static_cast<rlim_t>(size));
    EXPECT_FALSE(log->append({"t1", "decided", std::nullopt, "chat", {}}, true));
    EXPECT_FALSE(log->healthy());
    log->enqueue({"t1", "rejected", std::nullopt, "chat", {{"status", 503}}});
    for (int i = 0; i < 100 && log->stats().failures < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the rejected record's try
    }
    EXPECT_GE(log->stats().failures, 2u);
    EXPECT_EQ(std::filesystem::file_size(cfg_.file), size) << "no partial record may remain";
    full.lift();
    EXPECT_FALSE(log->healthy());
    // The writer retries on its own (no new record needed) and becomes healthy.
    for (int i = 0; i < 60 && !log->healthy(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // bounded: 3 s
    }
  }
  EXPECT_TRUE(log->healthy());
  log->close();
  const auto lines = read_lines(cfg_.file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["trace_id"], "t1");
  EXPECT_EQ(lines[1]["stage"], "decided");
  EXPECT_EQ(lines[2]["stage"], "rejected");
  EXPECT_GE(log->stats().failures, 1u);
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

TEST_F(AuditWriterTest, AwaitingCoroutinesLearnOfAFailure) {
  auto log = open();
  ASSERT_TRUE(log->append({"t0", "started", std::nullopt, "", {}}, true));
  FsizeLimit full(static_cast<rlim_t>(std::filesystem::file_size(cfg_.file)));
  EXPECT_EQ(await_concurrently(*log, 16, 2), 0);
}

TEST_F(AuditWriterTest, AFailedWriteOnTheIoThreadIsRetriedByTheWriterAlone) {
  cfg_.fsync = config::FsyncMode::batch;
  auto log = open();
  ASSERT_TRUE(log->append({"t0", "started", std::nullopt, "", {}}, true));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the writer back to sleep
  {
    FsizeLimit full(static_cast<rlim_t>(std::filesystem::file_size(cfg_.file)));
    int ok = 0;
    one_round(*log, 4, ok);
    EXPECT_EQ(ok, 0) << "decisions that could not be written are refused";
    EXPECT_FALSE(log->healthy());
    full.lift();
  }
  // No record arrives: the sleeping writer must learn of the failure to retry on its own.
  for (int i = 0; i < 60 && !log->healthy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // bounded: 3 s
  }
  EXPECT_TRUE(log->healthy());
  log->close();
  EXPECT_EQ(read_lines(cfg_.file).size(), 5u) << "the refused decisions are kept and written";
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

TEST_F(AuditWriterTest, ResumesAfterALastRecordLargerThanTheTailWindow) {
  {
    auto log = open();
    ASSERT_TRUE(log->append({"a", "received", std::nullopt, "chat", {{"body", std::string(300000, 'x')}}}, true));
    ASSERT_TRUE(log->append({"b", "received", std::nullopt, "chat", {{"body", std::string(200000, 'y')}}}, true));
  }
  // A torn tail larger than the window too.
  const std::string torn = "{\"seq\":3,\"data\":\"" + std::string(150000, 'z');
  {
    std::ofstream out(cfg_.file, std::ios::app);
    out << torn;
  }
  {
    auto log = open();
    ASSERT_TRUE(log->append({"c", "received", std::nullopt, "chat", {}}, true));
  }
  const auto lines = read_lines(cfg_.file);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2]["stage"], "recovered");
  EXPECT_EQ(lines[2]["data"]["torn_bytes"], torn.size());
  EXPECT_EQ(lines[3]["seq"], 4);
  EXPECT_EQ(std::filesystem::file_size(cfg_.file + ".torn"), torn.size());
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

TEST_F(AuditWriterTest, WrittenLinesAreCanonicalRecords) {
  auto log = open();
  ASSERT_TRUE(log->append({"tr\"ace", "decided", std::string("ali\u00e9\n"), "chat",
                           {{"z", 1}, {"a", {{"y", "\x01"}, {"b", nullptr}}}}},
                          true));
  log->close();
  std::ifstream in(cfg_.file);
  std::string line;
  std::getline(in, line);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(canonical(j), line) << "the assembled line must be exactly the canonical record";
  nlohmann::json without = j;
  without.erase("hash");
  EXPECT_EQ(chain_hash(std::string(64, '0'), without, cfg_.hmac_key), j["hash"]);
}

// The request path writes its records' data with a DataWriter: the same bytes as the same data
// built as JSON and rendered by the log, secrets redacted alike, and a line that verifies.
TEST_F(AuditWriterTest, DataWriterWritesWhatTheLogWouldRenderFromJson) {
  auto opened = open_jsonl_log(cfg_, {"s3cret-token"});
  ASSERT_TRUE(std::holds_alternative<AuditLogPtr>(opened));
  auto log = std::get<AuditLogPtr>(opened);
  const std::string body = R"({"messages":[{"content":"hi","role":"user"}]})";
  const std::string not_utf8 = "agent-\xff\xfe";
  const nlohmann::json nested = {{"z", {1, "key s3cret-token", nullptr}}, {"a", {{"q", "\t\""}}}};
  DataWriter w(*log);
  w.canonical("body", body)
      .string("body_sha256", "ab\"c\\\x01\u00e9")
      .integer("bytes", -42)
      .string("client", "client s3cret-token and s3cret-token")
      .boolean("enforced", false)
      .value("matches", nested)
      .string_or_null("none", std::nullopt)
      .string("odd", not_utf8)
      .strings("rules", {"r1", "s3cret-token", ""})
      .string_or_null("session", std::string("s"))
      .boolean("stream", true);
  Record written{"t1", "received", std::string("alice"), "chat"};
  written.data_canonical = w.finish();
  Record built{"t2",
               "received",
               std::string("alice"),
               "chat",
               {{"body", nlohmann::json::parse(body)},
                {"body_sha256", "ab\"c\\\x01\u00e9"},
                {"bytes", -42},
                {"client", "client s3cret-token and s3cret-token"},
                {"enforced", false},
                {"matches", nested},
                {"none", nullptr},
                {"odd", not_utf8},
                {"rules", {"r1", "s3cret-token", ""}},
                {"session", "s"},
                {"stream", true}}};
  ASSERT_TRUE(log->append(std::move(written), false));
  ASSERT_TRUE(log->append(std::move(built), false));
  log->close();
  std::ifstream in(cfg_.file);
  std::vector<std::string> data;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(canonical(j), line) << "not the canonical record";
    EXPECT_EQ(line.find("s3cret-token"), std::string::npos) << line;
    data.push_back(canonical(j["data"]));
  }
  ASSERT_EQ(data.size(), 2U);
  EXPECT_EQ(data[0], data[1]);
  EXPECT_NE(data[0].find(R"("client":"client [REDACTED] and [REDACTED]")"), std::string::npos);
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

// A member out of canonical order would make the record fail verification: refused at once.
TEST_F(AuditWriterTest, DataWriterRefusesMembersOutOfKeyOrder) {
  auto log = open();
  DataWriter w(*log);
  w.string("bytes", "1");
  EXPECT_THROW(w.string("body_sha256", "x"), std::logic_error);  // "bo" sorts before "by"
  EXPECT_THROW(w.integer("bytes", 2), std::logic_error);         // twice
  EXPECT_NO_THROW(w.integer("client", 3));
  EXPECT_EQ(w.finish(), R"({"bytes":"1","client":3})");
  DataWriter empty(*log);
  EXPECT_EQ(empty.finish(), "{}");
}

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// Which pages of `path` are in the page cache (mincore over a mapping that is never touched).
std::vector<bool> cached_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return {};
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(path));
  std::vector<unsigned char> in_core((size + page_size() - 1) / page_size());
  void* map = size == 0 ? MAP_FAILED : ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return {};
  EXPECT_EQ(::mincore(map, size, in_core.data()), 0) << std::strerror(errno);
  ::munmap(map, size);
  std::vector<bool> cached;
  for (const unsigned char c : in_core) cached.push_back((c & 1U) != 0);
  return cached;
}

// Whether this file system lets synced pages go on POSIX_FADV_DONTNEED (tmpfs does not).
bool drops_synced_pages(const std::string& dir) {
  const std::string probe = dir + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string data(64 * 1024, 'p');
  const bool written = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
                       ::fdatasync(fd) == 0 && ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  ::close(fd);
  const auto cached = cached_pages(probe);
  std::filesystem::remove(probe);
  return written && !cached.empty() && std::count(cached.begin(), cached.end(), true) == 0;
}

// A tail of 64 KiB dropped up to multiples of 64 KiB (larger than the folios of these tests'
// ~20 KB writes), so that a test writes a few hundred KB.
struct SmallCachedTail {
  static constexpr std::size_t kTail = 64 * 1024;
  static constexpr std::size_t kAlign = 64 * 1024;
  SmallCachedTail() { testing::set_cached_tail(kTail, kAlign); }
  ~SmallCachedTail() { testing::reset_cached_tail(); }
  SmallCachedTail(const SmallCachedTail&) = delete;
  SmallCachedTail& operator=(const SmallCachedTail&) = delete;
};

// One round: 8 records nobody awaits and a decision, about 20 KB in all.
void write_round(AuditLog& log) {
  for (int i = 0; i < 8; ++i) {
    log.enqueue({"t", "received", std::nullopt, "chat", {{"body", std::string(2200, 'b')}}});
  }
  ASSERT_TRUE(log.append({"t", "decided", std::nullopt, "chat", {{"decision", "allow"}}}, true));
}

// Rounds until `file` holds at least `bytes` (bounded: about 2 MB).
void write_rounds(AuditLog& log, std::size_t bytes, const std::string& file) {
  for (int round = 0; round < 100; ++round) {
    if (std::filesystem::exists(file) && std::filesystem::file_size(file) >= bytes) return;
    write_round(log);
  }
}

// Cached pages that lie wholly below byte `to`.
std::size_t cached_below(const std::vector<bool>& cached, std::size_t to) {
  return static_cast<std::size_t>(
      std::count(cached.begin(), cached.begin() + std::min(cached.size(), to / page_size()), true));
}

// Pages not cached among those holding bytes from `from` to the end.
std::size_t uncached_from(const std::vector<bool>& cached, std::size_t from) {
  return static_cast<std::size_t>(std::count(
      cached.begin() + std::min(cached.size(), from / page_size()), cached.end(), false));
}

// The writer drops after it has completed the records a sync made durable: wait (bounded: 2 s;
// batch syncs come every 200 ms) until nothing below `to` is cached; returns the pages left.
std::vector<bool> wait_until_dropped_below(const std::string& file, std::size_t to) {
  std::vector<bool> cached = cached_pages(file);
  for (int i = 0; i < 40 && cached_below(cached, to) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cached = cached_pages(file);
  }
  return cached;
}

TEST_F(AuditWriterTest, SyncedLinesLeaveThePageCacheExceptTheFilesTail) {
  if (!drops_synced_pages(dir_)) GTEST_SKIP() << dir_ << " keeps synced pages cached (tmpfs?)";
  SmallCachedTail tail;
  auto log = open();  // fsync "always": the writer thread syncs, then drops
  write_rounds(*log, 320 * 1024, cfg_.file);
  const std::size_t size = std::filesystem::file_size(cfg_.file);
  // Everything synced but the last kTail bytes goes (up to the next multiple of kAlign)...
  const auto cached =
      wait_until_dropped_below(cfg_.file, size - SmallCachedTail::kTail - SmallCachedTail::kAlign);
  ASSERT_FALSE(cached.empty());
  EXPECT_EQ(cached_below(cached, size - SmallCachedTail::kTail - SmallCachedTail::kAlign), 0u)
      << "synced audit lines are still in the page cache";
  // ...and the tail, which a log shipper is about to read, stays.
  EXPECT_EQ(uncached_from(cached, size - SmallCachedTail::kTail / 2), 0u)
      << "the file's last lines were dropped too";
  log->close();
  const auto v = verify_files({cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

TEST_F(AuditWriterTest, BatchModesSyncerDropsWhatItSynced) {
  if (!drops_synced_pages(dir_)) GTEST_SKIP() << dir_ << " keeps synced pages cached (tmpfs?)";
  SmallCachedTail tail;
  cfg_.fsync = config::FsyncMode::batch;
  auto log = open();
  write_rounds(*log, 320 * 1024, cfg_.file);
  const std::size_t size = std::filesystem::file_size(cfg_.file);
  const std::size_t to = size - SmallCachedTail::kTail - SmallCachedTail::kAlign;
  EXPECT_EQ(cached_below(wait_until_dropped_below(cfg_.file, to), to), 0u)
      << "the batch syncer left synced audit lines in the page cache";
}

TEST_F(AuditWriterTest, ARotatedFileLeavesThePageCacheWhole) {
  if (!drops_synced_pages(dir_)) GTEST_SKIP() << dir_ << " keeps synced pages cached (tmpfs?)";
  cfg_.rotate_bytes = 128 * 1024;  // below the default tail: only the rotation drops pages
  auto log = open();
  for (int round = 0; round < 100 && !std::filesystem::exists(cfg_.file + ".000001"); ++round) {
    write_round(*log);
  }
  ASSERT_TRUE(std::filesystem::exists(cfg_.file + ".000001")) << "never rotated";
  const auto cached = cached_pages(cfg_.file + ".000001");
  ASSERT_FALSE(cached.empty());
  EXPECT_EQ(std::count(cached.begin(), cached.end(), true), 0)
      << "the rotated file is still in the page cache";
  log->close();
  const auto v = verify_files({cfg_.file + ".000001", cfg_.file}, cfg_.hmac_key);
  EXPECT_TRUE(v.ok) << v.problem;
}

}  // namespace
}  // namespace clawgate::audit

// Persistence of the approval store: replay, corrupt and torn journals, write failures.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "clawgate/approval/store.hpp"
#include "unit/approval/approval_test_util.hpp"

namespace clawgate::approval {
namespace {

using test_util::ApprovalFixture;
using test_util::lines_of;
using test_util::read_text;
using test_util::write_text;

class ApprovalJournalTest : public ApprovalFixture {};

// Makes writes past `bytes` fail with EFBIG (RLIMIT_FSIZE), the way a full disk would, for the
// scope's lifetime. Root is not exempt, unlike permission bits.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uintmax_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = saved_;
    r.rlim_cur = static_cast<rlim_t>(bytes);
    ::setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

std::uintmax_t size_of(const std::string& path) { return std::filesystem::file_size(path); }

TEST_F(ApprovalJournalTest, ReopenReplaysEveryState) {
  open();
  const auto pending = create();
  const auto approved = create(sample("employee-002"));
  decide(approved.id, true, "ok once");
  const auto used = create();
  decide(used.id, true);
  ASSERT_EQ(store_->use(used.id, used.identity, used.request_sha256).check, UseCheck::ok);
  const auto denied = create();
  decide(denied.id, false, "no");
  std::vector<nlohmann::json> before;
  for (const auto& a : store_->list(std::nullopt)) before.push_back(a.to_json());

  open();  // a restart
  std::vector<nlohmann::json> after;
  for (const auto& a : store_->list(std::nullopt)) after.push_back(a.to_json());
  EXPECT_EQ(after, before);
  EXPECT_TRUE(store_->take_transitions().empty()) << "replay is not a new transition";
  EXPECT_EQ(store_->pending_count(), 1U);
  EXPECT_EQ(store_->use(used.id, used.identity, used.request_sha256).check, UseCheck::used);
  EXPECT_EQ(store_->use(denied.id, denied.identity, denied.request_sha256).check, UseCheck::denied);
  EXPECT_EQ(store_->use(approved.id, approved.identity, approved.request_sha256).check,
            UseCheck::ok);
  decide(pending.id, true);

  open();  // changes made after a replay replay too
  EXPECT_EQ(state_of(approved.id), State::used);
  EXPECT_EQ(state_of(pending.id), State::approved);
}

TEST_F(ApprovalJournalTest, ReplayedApprovalsKeepTheirExpiry) {
  open();
  const auto a = create();
  now_ = kStart + kTtlUs - 1;
  open();
  EXPECT_EQ(state_of(a.id), State::pending);
  now_ = kStart + kTtlUs;
  EXPECT_EQ(state_of(a.id), State::expired);
  const auto ts = store_->take_transitions();
  ASSERT_EQ(ts.size(), 1U);
  EXPECT_EQ(ts[0].event, "approval_expired");
  open();
  EXPECT_EQ(state_of(a.id), State::expired);
  EXPECT_TRUE(store_->take_transitions().empty()) << "the expiry was journaled, not redone";
}

TEST_F(ApprovalJournalTest, OneSyncedLinePerTransition) {
  open();
  const auto a = create();
  now_ += 7;
  decide(a.id, true, "fine");
  now_ += 7;
  ASSERT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::ok);
  const auto b = create();
  decide(b.id, false);
  const auto c = create();
  now_ = kStart + 2 * kTtlUs;
  store_->expire_due();

  const auto lines = lines_of(read_text(path_));
  std::vector<std::string> ops;
  std::vector<nlohmann::json> entries;
  for (const auto& line : lines) {
    entries.push_back(nlohmann::json::parse(line));
    ops.push_back(entries.back()["op"]);
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"create", "approve", "use", "create", "deny", "create",
                                           "expire"}));
  EXPECT_EQ(entries[0]["approval"]["id"], a.id);
  EXPECT_EQ(entries[0]["approval"]["state"], "pending");
  EXPECT_EQ(entries[0]["approval"]["request_sha256"], a.request_sha256);
  EXPECT_EQ(entries[1]["id"], a.id);
  EXPECT_EQ(entries[1]["reviewer"], "manager-1");
  EXPECT_EQ(entries[1]["note"], "fine");
  EXPECT_EQ(entries[1]["at"], kStart + 7);
  EXPECT_EQ(entries[2]["at"], kStart + 14);
  EXPECT_TRUE(entries[4]["note"].is_null());
  EXPECT_EQ(entries[6]["id"], c.id);
}

TEST_F(ApprovalJournalTest, CreatesPrivateFoldersAndFile) {
  open();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/var").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  ASSERT_EQ(::stat((dir_ + "/var/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ApprovalJournalTest, OneWriterPerJournal) {
  open();
  auto second = try_open();
  ASSERT_TRUE(std::holds_alternative<std::string>(second));
  EXPECT_NE(std::get<std::string>(second).find(path_), std::string::npos);
  EXPECT_NE(std::get<std::string>(second).find("in use"), std::string::npos);
  store_.reset();
  EXPECT_TRUE(std::holds_alternative<std::unique_ptr<Store>>(try_open())) << "lock released";
}

TEST_F(ApprovalJournalTest, BadTtlOrPathIsAnOpenError) {
  auto zero = Store::open(path_, 0, clock());
  ASSERT_TRUE(std::holds_alternative<std::string>(zero));
  EXPECT_NE(std::get<std::string>(zero).find("ttl_s"), std::string::npos);

  write_text(dir_ + "/plain", "x");
  const std::string under_file = dir_ + "/plain/approvals.jsonl";
  auto bad = Store::open(under_file, kTtlS, clock());
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_NE(std::get<std::string>(bad).find("approvals.state_file " + under_file),
            std::string::npos)
      << std::get<std::string>(bad);
}

struct CorruptCase {
  std::string line;  // appended as line 5 after four valid entries
  std::string expect;
};

TEST_F(ApprovalJournalTest, InvalidCompleteLineStopsOpenNamingFileAndLine) {
  open();
  const auto pending = create();
  const auto used = create();
  decide(used.id, true);
  ASSERT_EQ(store_->use(used.id, used.identity, used.request_sha256).check, UseCheck::ok);
  store_.reset();
  const std::string good = read_text(path_);
  const auto good_lines = lines_of(good);
  ASSERT_EQ(good_lines.size(), 4U);
  const std::string unknown = "apr_" + std::string(32, '0');
  auto without = [&](const char* key) {
    auto j = nlohmann::json::parse(good_lines[0]);
    j["approval"].erase(key);
    j["approval"]["id"] = unknown;
    return j.dump();
  };

  const std::vector<CorruptCase> cases{
      {"{not json", "not valid JSON"},
      {"", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"id":")" + pending.id + R"(","at":1})", "\"op\""},
      {R"({"op":"frobnicate","id":")" + pending.id + R"("})", "unknown op \"frobnicate\""},
      {R"({"op":"approve","id":")" + unknown + R"(","reviewer":"m","note":null,"at":1})",
       "approve of unknown id " + unknown},
      {R"({"op":"use","id":")" + pending.id + R"(","at":1})",
       "use of " + pending.id + " which is pending"},
      {R"({"op":"approve","id":")" + used.id + R"(","reviewer":"m","note":null,"at":1})",
       "approve of " + used.id + " which is used"},
      {R"({"op":"expire","id":")" + used.id + R"(","at":1})",
       "expire of " + used.id + " which is used"},
      {good_lines[0], "duplicate create of " + pending.id},
      {R"({"op":"deny","id":")" + pending.id + R"(","reviewer":7,"note":null,"at":1})",
       "\"reviewer\""},
      {R"({"op":"deny","id":")" + pending.id + R"(","reviewer":"m","at":1})", "\"note\""},
      {R"({"op":"expire","id":")" + pending.id + R"(","at":"soon"})", "integer \"at\""},
      {R"({"op":"expire","id":")" + pending.id + R"(","at":1.5})", "integer \"at\""},
      {without("summary"), "approval.summary"},
      {without("created_at_us"), "approval.created_at_us"},
      {R"({"op":"create","approval":{"id":"apr_x"}})", "not apr_ + 32 hex digits"},
      {R"({"op":"create"})", "\"approval\" object"},
  };
  for (const auto& c : cases) {
    write_text(path_, good + c.line + "\n");
    auto opened = try_open();
    ASSERT_TRUE(std::holds_alternative<std::string>(opened)) << c.line;
    const auto& err = std::get<std::string>(opened);
    EXPECT_NE(err.find("approvals.state_file " + path_ + " line 5: "), std::string::npos) << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << "line: " << c.line << "\nerror: " << err;
    EXPECT_NE(err.find("fix or move the file"), std::string::npos) << err;
    EXPECT_EQ(read_text(path_), good + c.line + "\n") << "a failed open must not touch the file";
  }

  // A bad line in the middle is found even though good lines follow it.
  write_text(path_, good_lines[0] + "\n{oops\n" + good_lines[1] + "\n");
  auto middle = try_open();
  ASSERT_TRUE(std::holds_alternative<std::string>(middle));
  EXPECT_NE(std::get<std::string>(middle).find(" line 2: not valid JSON"), std::string::npos)
      << std::get<std::string>(middle);
}

TEST_F(ApprovalJournalTest, TornLastLineIsMovedAsideAndEarlierEntriesKept) {
  open();
  const auto a = create();
  decide(a.id, true);
  store_.reset();
  const std::string good = read_text(path_);
  const std::string torn = R"({"op":"use","id":")" + a.id + R"(","a)";
  write_text(path_, good + torn);

  open();
  EXPECT_EQ(state_of(a.id), State::approved) << "the torn use was never acknowledged";
  EXPECT_EQ(read_text(path_), good);
  EXPECT_EQ(read_text(path_ + ".torn"), torn);

  // The journal continues cleanly after the cut: the next entry is a line of its own.
  ASSERT_EQ(store_->use(a.id, a.identity, a.request_sha256).check, UseCheck::ok);
  open();
  EXPECT_EQ(state_of(a.id), State::used);
}

TEST_F(ApprovalJournalTest, WholeTornFileIsMovedAside) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  write_text(path_, R"({"op":"crea)");
  open();
  EXPECT_TRUE(store_->list(std::nullopt).empty());
  EXPECT_EQ(read_text(path_), "");
  EXPECT_EQ(read_text(path_ + ".torn"), R"({"op":"crea)");
}

TEST_F(ApprovalJournalTest, UnwritableJournalFailsCreateAndChangesNothing) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto opened = Store::open("/dev/full", kTtlS, clock());
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Store>>(opened))
      << std::get<std::string>(opened);
  auto& store = std::get<std::unique_ptr<Store>>(opened);
  const auto r = store->create(sample());
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("/dev/full"), std::string::npos);
  EXPECT_NE(std::get<std::string>(r).find("No space left"), std::string::npos)
      << std::get<std::string>(r);
  EXPECT_TRUE(store->list(std::nullopt).empty());
  EXPECT_EQ(store->pending_count(), 0U);
  EXPECT_TRUE(store->take_transitions().empty());
}

TEST_F(ApprovalJournalTest, PartialWriteIsCutBack) {
  open();
  const auto a = create();
  const std::string before = read_text(path_);
  std::variant<Approval, std::string> r;
  {
    FileSizeLimit limit(before.size() + 10);  // 10 bytes of the next line fit, the rest not
    r = store_->create(sample());
  }
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find(path_), std::string::npos) << std::get<std::string>(r);
  EXPECT_EQ(read_text(path_), before) << "the partial line was removed";
  EXPECT_EQ(store_->list(std::nullopt).size(), 1U);
  store_->take_transitions();

  const auto b = create();  // the journal still works, and replays whole
  open();
  EXPECT_EQ(store_->list(std::nullopt).size(), 2U);
  EXPECT_TRUE(store_->get(a.id));
  EXPECT_TRUE(store_->get(b.id));
}

TEST_F(ApprovalJournalTest, DecideAndUseWriteFailuresChangeNothing) {
  open();
  const auto a = create();
  store_->take_transitions();
  std::variant<Approval, DecideError> decided;
  {
    FileSizeLimit limit(size_of(path_));
    decided = store_->decide(a.id, true, "manager-1", "ok");
  }
  ASSERT_TRUE(std::holds_alternative<DecideError>(decided));
  EXPECT_EQ(std::get<DecideError>(decided), DecideError::io);
  EXPECT_EQ(state_of(a.id), State::pending);
  EXPECT_FALSE(store_->get(a.id)->reviewer);
  EXPECT_TRUE(store_->take_transitions().empty());

  decide(a.id, true);
  store_->take_transitions();
  Store::UseResult used;
  {
    FileSizeLimit limit(size_of(path_));
    used = store_->use(a.id, a.identity, a.request_sha256);
  }
  EXPECT_TRUE(used.io_error);
  EXPECT_EQ(used.check, UseCheck::ok);
  ASSERT_TRUE(used.approval);
  EXPECT_EQ(used.approval->state, State::approved) << "not used: the caller must fail closed";
  EXPECT_EQ(state_of(a.id), State::approved);
  EXPECT_TRUE(store_->take_transitions().empty());

  const auto retry = store_->use(a.id, a.identity, a.request_sha256);
  EXPECT_EQ(retry.check, UseCheck::ok);
  EXPECT_FALSE(retry.io_error);
  open();
  EXPECT_EQ(state_of(a.id), State::used);
}

TEST_F(ApprovalJournalTest, UnjournaledExpiryStillRefuses) {
  open();
  const auto a = create();
  decide(a.id, true);
  store_->take_transitions();
  now_ = kStart + kTtlUs;
  Store::UseResult r;
  std::variant<Approval, DecideError> d;
  bool reported = true;
  {
    FileSizeLimit limit(size_of(path_));
    r = store_->use(a.id, a.identity, a.request_sha256);
    d = store_->decide(a.id, false, "m", {});
    reported = !store_->take_transitions().empty();
  }
  EXPECT_EQ(r.check, UseCheck::expired) << "past its expiry counts as expired";
  EXPECT_FALSE(r.io_error);
  EXPECT_EQ(std::get<DecideError>(d), DecideError::expired);
  EXPECT_FALSE(reported) << "not journaled, so not reported yet";

  store_->expire_due();  // writable again: the expiry is recorded now
  const auto ts = store_->take_transitions();
  ASSERT_EQ(ts.size(), 1U);
  EXPECT_EQ(ts[0].event, "approval_expired");
  open();
  EXPECT_EQ(state_of(a.id), State::expired);
}

}  // namespace
}  // namespace clawgate::approval

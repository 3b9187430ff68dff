#pragma once
// Shared fixture for the approval store tests: a private temp folder, a fake clock and helpers.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "clawgate/approval/store.hpp"

namespace clawgate::approval::test_util {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class ApprovalFixture : public ::testing::Test {
 protected:
  static constexpr std::int64_t kTtlS = 900;
  static constexpr std::int64_t kTtlUs = kTtlS * 1'000'000;
  static constexpr std::int64_t kStart = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z

  void SetUp() override {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base.push_back('/');
    std::string tmpl = base + "clawgate-approval-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/var/state/approvals.jsonl";
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Store::Clock clock() {
    return [this] { return now_.load(); };
  }

  std::variant<std::unique_ptr<Store>, std::string> try_open() {
    return Store::open(path_, kTtlS, clock());
  }

  // Opens (or reopens) store_ on path_; fails the test on an error.
  void open() {
    store_.reset();
    auto opened = try_open();
    if (auto* err = std::get_if<std::string>(&opened)) FAIL() << *err;
    store_ = std::move(std::get<std::unique_ptr<Store>>(opened));
  }

  static NewApproval sample(std::string identity = "employee-001") {
    NewApproval n;
    n.trace_id = "trace-1";
    n.identity = std::move(identity);
    n.route = "tools";
    n.agent = "main";
    n.session = "s-1";
    n.tool = "exec";
    n.action = "run";
    n.summary = "exec: rm -rf /tmp/x";
    n.request_sha256 = request_sha256("tools", "main", n.session, {{"tool", "exec"}});
    n.policy_sha256 = std::string(64, 'a');
    return n;
  }

  Approval create(NewApproval n = sample()) {
    auto r = store_->create(std::move(n));
    EXPECT_TRUE(std::holds_alternative<Approval>(r))
        << (std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "");
    return std::get<Approval>(r);  // throws (fails the test) on an error
  }

  Approval decide(const std::string& id, bool approve, std::optional<std::string> note = {}) {
    auto r = store_->decide(id, approve, "manager-1", std::move(note));
    EXPECT_TRUE(std::holds_alternative<Approval>(r));
    return std::get<Approval>(r);
  }

  State state_of(const std::string& id) {
    const auto a = store_->get(id);
    EXPECT_TRUE(a.has_value()) << id;
    return a ? a->state : State::pending;
  }

  std::string dir_;
  std::string path_;
  std::atomic<std::int64_t> now_{kStart};
  std::unique_ptr<Store> store_;
};

}  // namespace clawgate::approval::test_util

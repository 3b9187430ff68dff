// The audit log under stress, through the running binary (SPEC §7, issue #4): completion facts
// and previews, a disk that fails after a request was forwarded and then recovers, fsync modes
// announced at start-up, and `kill -9` under concurrent load — after which every request the
// upstream received still has its durable `decided` record and the chain verifies.

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "clawgate/core/crypto.hpp"
#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

using nlohmann::json;

class AuditDurability : public ProxyTest {
 protected:
  std::string audit_file() const { return dir_.file("audit/clawgate.jsonl"); }

  // Every audit file in chain order: FILE.000001, FILE.000002, …, FILE.
  std::vector<std::string> audit_files() const {
    std::vector<std::string> rotated;
    for (const auto& e : std::filesystem::directory_iterator(dir_.file("audit"))) {
      const std::string name = e.path().filename().string();
      if (name.rfind("clawgate.jsonl.", 0) == 0 && name.size() == 21 &&
          name.find_first_not_of("0123456789", 15) == std::string::npos) {
        rotated.push_back(e.path().string());
      }
    }
    std::sort(rotated.begin(), rotated.end());
    rotated.push_back(audit_file());
    return rotated;
  }

  std::vector<json> read_records() const {
    std::vector<json> out;
    for (const auto& f : audit_files()) {
      std::istringstream in(read_file(f));
      for (std::string line; std::getline(in, line);) {
        out.push_back(json::parse(line, nullptr, false));
        EXPECT_FALSE(out.back().is_discarded()) << f << ": not JSON: " << line;
      }
    }
    return out;
  }

  // `clawgate audit verify` over every file; returns its output, fails the test on exit != 0.
  std::string verify_all() {
    std::string cmd = "'" + clawgate_binary() + "' audit verify";
    for (const auto& f : audit_files()) cmd += " '" + f + "'";
    const std::string out = dir_.file("verify.out");
    cmd += " > '" + out + "' 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(out);
    return read_file(out);
  }

  static const json* find(const std::vector<json>& recs, const std::string& trace,
                          const std::string& stage) {
    for (const auto& r : recs) {
      if (r.value("trace_id", "") == trace && r.value("stage", "") == stage) return &r;
    }
    return nullptr;
  }

  // Polls /readyz until it answers `status` (bounded).
  bool wait_ready_status(int status, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (get("/readyz", {}).status == status) return true;
      std::this_thread::sleep_for(Millis{50});
    }
    return false;
  }
};

std::string chat_body(const std::string& text, bool stream = false) {
  return json{{"model", "openclaw"},
              {"stream", stream},
              {"messages", json::array({{{"role", "user"}, {"content", text}}})}}
      .dump();
}

std::string chunk(const std::string& text) {
  return "data: " +
         json{{"choices", json::array({{{"index", 0}, {"delta", {{"content", text}}}}})}}.dump() +
         "\n\n";
}

TEST_F(AuditDurability, CompletedRecordCarriesARedactedPreviewOfTheAnswer) {
  config_["audit"]["preview_chars"] = 60;
  // The answer holds a provider key and the gateway's own token; the preview keeps neither, and
  // is cut to 60 code points after redaction.
  const std::string answer = std::string("Your key is sk-") + std::string(24, 'k') +
                             " and the token " + kGatewayToken +
                             "; ünïcödé text goes on well past the sixty character cut";
  upstream_->on(kChatPath, [answer](const UpstreamRequest& req, UpstreamConn& c) {
    if (req.body.find("\"stream\":true") != std::string::npos) {
      c.sse_head(true);
      c.sse_event(chunk("Streamed "));
      c.sse_event(chunk("answer ✓"));
      c.sse_event("data: [DONE]\n\n");
      c.sse_end();
      return;
    }
    c.respond(200, json{{"choices", json::array({{{"index", 0},
                                                  {"message", {{"role", "assistant"},
                                                               {"content", answer}}}}})}}
                       .dump());
  });
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ok":true,"result":{"sessions":[{"key":"main"}]}})");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto plain = post(kChatPath, chat_body("hello"), employee());
  ASSERT_EQ(plain.status, 200) << plain.describe();
  const auto streamed = post(kChatPath, chat_body("hello", true), employee());
  ASSERT_EQ(streamed.status, 200) << streamed.describe();
  const auto tool = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  ASSERT_EQ(tool.status, 200) << tool.describe();
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  const auto recs = read_records();

  const json* c1 = find(recs, plain.header("X-Clawgate-Trace-Id").value_or(""), "completed");
  ASSERT_NE(c1, nullptr);
  const std::string preview = (*c1)["data"].value("preview", "");
  EXPECT_EQ(preview.rfind("Your key is [REDACTED] and the token [REDACTED]; ünïcödé", 0), 0u)
      << preview;
  EXPECT_EQ(core::sha256_hex(plain.body), (*c1)["data"].value("response_sha256", ""));
  std::size_t code_points = 0;
  for (const unsigned char ch : preview) code_points += (ch & 0xC0) != 0x80 ? 1 : 0;
  EXPECT_EQ(code_points, 60u) << preview;

  const json* c2 = find(recs, streamed.header("X-Clawgate-Trace-Id").value_or(""), "completed");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ((*c2)["data"].value("preview", ""), "Streamed answer ✓");
  EXPECT_EQ((*c2)["data"].value("stream", false), true);
  EXPECT_EQ((*c2)["data"].value("stream_complete", false), true);
  EXPECT_EQ((*c2)["data"].value("response_sha256", ""), core::sha256_hex(streamed.body));

  const json* c3 = find(recs, tool.header("X-Clawgate-Trace-Id").value_or(""), "completed");
  ASSERT_NE(c3, nullptr);
  EXPECT_EQ((*c3)["data"].value("preview", ""), R"({"sessions":[{"key":"main"}]})");

  for (const auto& f : audit_files()) {
    const std::string text = read_file(f);
    EXPECT_EQ(text.find(kGatewayToken), std::string::npos) << "the gateway token reached " << f;
    EXPECT_EQ(text.find("sk-kkkkkkkk"), std::string::npos) << "a provider key reached " << f;
  }
}

TEST_F(AuditDurability, PreviewCharsZeroRecordsNoPreview) {
  config_["audit"]["preview_chars"] = 0;
  upstream_->on(kToolsPath, [](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, R"({"ok":true,"result":"secret plans"})");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto r = post(kToolsPath, R"({"tool":"sessions_list"})", employee());
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  const auto recs = read_records();
  const json* c = find(recs, r.header("X-Clawgate-Trace-Id").value_or(""), "completed");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE((*c)["data"]["preview"].is_null()) << c->dump();
}

// SPEC §7: a `completed` record that cannot be written leaves the client's answer alone, turns
// the service not-ready and refuses new requests (503, nothing forwarded) until the log is
// writable again; then it recovers by itself, and the records held meanwhile reach the file.
TEST_F(AuditDurability, FailedCompletedRecordTurnsNotReadyUntilTheDiskRecovers) {
  std::atomic<bool> release{false};
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kToolsPath, [&release](const UpstreamRequest& req, UpstreamConn& c) {
    if (req.body.find("\"hold\"") != std::string::npos) {
      for (int i = 0; i < 200 && !release.load(); ++i) {
        if (!c.sleep_for(Millis{25})) return;
      }
    }
    c.respond(200, R"({"ok":true,"result":"done"})");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HttpResponse first;
  std::thread client([&] { first = post(kToolsPath, R"({"tool":"sessions_list","args":{"hold":1}})", employee()); });
  ASSERT_TRUE(upstream_->wait_proxied(1, Millis{5000}));
  std::this_thread::sleep_for(Millis{100});  // the `forwarded` record reaches the file

  // The "disk" fills: clawgate may not grow any file beyond its current audit file size.
  // Only the soft limit moves: raising a hard limit again needs CAP_SYS_RESOURCE.
  rlimit before{};
  ASSERT_EQ(prlimit(proxy_->pid(), RLIMIT_FSIZE, nullptr, &before), 0) << std::strerror(errno);
  const auto size = static_cast<rlim_t>(std::filesystem::file_size(audit_file()));
  const rlimit full{size, before.rlim_max};
  ASSERT_EQ(prlimit(proxy_->pid(), RLIMIT_FSIZE, &full, nullptr), 0) << std::strerror(errno);
  release = true;
  client.join();
  EXPECT_EQ(first.status, 200) << "the client must still get the upstream's answer\n"
                               << first.describe();
  EXPECT_TRUE(wait_ready_status(503, Millis{5000})) << "not-ready after the completed record failed";
  const auto refused = post(kToolsPath, R"({"tool":"sessions_list","args":{"n":2}})", employee());
  EXPECT_NO_FATAL_FAILURE(expect_error(refused, 503, "audit_unavailable", Shape::tools));
  EXPECT_EQ(upstream_->proxied_count(), 1u) << "a request was forwarded while the log was failing";

  // The disk recovers: readiness comes back without any request, then requests pass again.
  ASSERT_EQ(prlimit(proxy_->pid(), RLIMIT_FSIZE, &before, nullptr), 0) << std::strerror(errno);
  EXPECT_TRUE(wait_ready_status(200, Millis{5000})) << "did not recover by itself";
  const auto after = post(kToolsPath, R"({"tool":"sessions_list","args":{"n":3}})", employee());
  EXPECT_EQ(after.status, 200) << after.describe();
  EXPECT_EQ(upstream_->proxied_count(), 2u);

  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  EXPECT_EQ(verify_all().rfind("ok: ", 0), 0u);
  const auto recs = read_records();
  const std::string t1 = first.header("X-Clawgate-Trace-Id").value_or("");
  const json* completed = find(recs, t1, "completed");
  ASSERT_NE(completed, nullptr) << "the completed record held during the outage was lost";
  EXPECT_EQ((*completed)["data"].value("status", 0), 200);
  const std::string t2 = refused.header("X-Clawgate-Trace-Id").value_or("");
  const json* rejected = find(recs, t2, "rejected");
  ASSERT_NE(rejected, nullptr) << "the refusal during the outage was not recorded";
  EXPECT_EQ((*rejected)["data"].value("code", ""), "audit_unavailable");
  EXPECT_EQ(find(recs, t2, "forwarded"), nullptr);
}

TEST_F(AuditDurability, WeakerFsyncModesAnnounceWhatTheyGiveUp) {
  for (const char* mode : {"batch", "never"}) {
    SCOPED_TRACE(mode);
    config_["audit"]["fsync"] = mode;
    ASSERT_NO_FATAL_FAILURE(start_proxy());
    EXPECT_EQ(post(kToolsPath, R"({"tool":"sessions_list"})", employee()).status, 200);
    ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
    const std::string err = proxy_->stderr_text();
    EXPECT_NE(err.find(std::string("fsync \"") + mode + "\""), std::string::npos) << err;
    EXPECT_NE(err.find("can lose"), std::string::npos) << err;
    EXPECT_EQ(verify_all().rfind("ok: ", 0), 0u);
    const auto recs = read_records();
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs.back().value("stage", ""), "stopped");
  }
}

// Issue #4 acceptance: kill -9 under concurrent load, restart — the chain verifies (across
// rotation) and every request the upstream received has its `decided` record. With fsync
// "always" the writer thread writes the decisions; with "batch" the I/O threads do (a kill
// leaves the page cache intact) and the writer thread only rotates.
class KillDashNine : public AuditDurability, public ::testing::WithParamInterface<const char*> {};
INSTANTIATE_TEST_SUITE_P(Fsync, KillDashNine, ::testing::Values("always", "batch"));

TEST_P(KillDashNine, UnderLoadLosesNoDecisionOfAForwardedRequest) {
  config_["audit"]["fsync"] = GetParam();
  config_["audit"]["rotate_bytes"] = 65536;
  // The upstream checks, as each request arrives, that its `decided` record is already in the
  // file: the ordering holds for every request, not only for those the kill happens to catch.
  std::atomic<int> undecided_on_arrival{0};
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kToolsPath, [this, &undecided_on_arrival](const UpstreamRequest& req,
                                                          UpstreamConn& c) {
    const std::string want = "\"body_sha256\":\"" + core::sha256_hex(req.body) + "\"";
    bool decided = false;
    // Up to three passes: a rotation between listing and reading the files can hide a record
    // from one pass, never from the next.
    for (int pass = 0; pass < 3 && !decided; ++pass) {
      std::string trace;
      for (const auto& f : audit_files()) {
        std::istringstream in(read_file(f));
        for (std::string line; std::getline(in, line);) {
          if (trace.empty() && line.find(want) != std::string::npos) {
            trace = json::parse(line, nullptr, false).value("trace_id", "");
          } else if (!trace.empty() && line.find("\"stage\":\"decided\"") != std::string::npos &&
                     line.find(trace) != std::string::npos) {
            decided = true;
          }
        }
      }
    }
    if (!decided) ++undecided_on_arrival;
    c.respond(200, R"({"ok":true,"result":"fine"})");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::uint16_t proxy_port = port();
  std::atomic<bool> go{true};
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 2000 && go.load(); ++i) {
        const std::string body = json{{"tool", "sessions_list"},
                                      {"args", {{"client", t}, {"i", i}}}}.dump();
        const HttpResponse r = http_request(proxy_port, "POST", kToolsPath, employee(), body, Millis{5000});
        if (r.status == 200) ++answered;
        if (r.status == -1) return;  // the server is gone
      }
    });
  }
  const auto deadline = Clock::now() + Millis{10000};
  while (upstream_->proxied_count() < 150 && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis{20});
  }
  proxy_->signal(SIGKILL);
  EXPECT_EQ(proxy_->wait_exit(Millis{5000}).value_or(-1), 128 + SIGKILL);
  go = false;
  for (auto& c : clients) c.join();
  const auto received = upstream_->proxied_requests();
  ASSERT_GE(received.size(), 100u) << "too little load to mean anything";
  EXPECT_EQ(undecided_on_arrival.load(), 0)
      << "requests reached the upstream before their decided record was in the audit file";

  // Restart on the same files: the chain resumes (a torn last line would be moved aside).
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  EXPECT_EQ(post(kToolsPath, R"({"tool":"sessions_list","args":{"after":"restart"}})", employee())
                .status,
            200);
  ASSERT_EQ(proxy_->stop(Millis{8000}).value_or(-1), 0);
  const std::string verified = verify_all();
  EXPECT_EQ(verified.rfind("ok: ", 0), 0u) << verified;
  EXPECT_GT(audit_files().size(), 1u) << "the load was meant to rotate the log at least once";

  const auto recs = read_records();
  std::map<std::string, std::string> trace_of_body;  // body_sha256 → trace id
  std::set<std::string> decided;
  for (const auto& r : recs) {
    if (r.value("stage", "") == "received") {
      trace_of_body[r["data"].value("body_sha256", "")] = r.value("trace_id", "");
    } else if (r.value("stage", "") == "decided") {
      decided.insert(r.value("trace_id", ""));
    }
  }
  std::size_t missing = 0;
  for (const auto& req : received) {
    const auto it = trace_of_body.find(core::sha256_hex(req.body));
    if (it == trace_of_body.end() || decided.count(it->second) == 0) {
      ++missing;
      ADD_FAILURE() << "forwarded without a durable decided record: " << req.body;
      if (missing > 5) break;
    }
  }
  EXPECT_EQ(missing, 0u);
}

}  // namespace
}  // namespace clawgate::itest

// Audit records per second for each fsync mode with 1, 16 and 256 concurrent writers. Every
// record is appended as a durable `decided` record would be. This is the baseline the
// group-commit writer has to beat: today each durable append is its own fdatasync under one
// mutex, so `always` is bounded by the disk's sync latency whatever the writer count.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "clawgate/audit/audit_log.hpp"

namespace {

void BM_AuditAppend(benchmark::State& state) {
  const auto mode = static_cast<clawgate::config::FsyncMode>(state.range(0));
  const int writers = static_cast<int>(state.range(1));
  char tmpl[] = "/tmp/clawgate-audit-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  clawgate::config::Audit cfg;
  cfg.file = std::string(tmpl) + "/audit.jsonl";
  cfg.fsync = mode;
  cfg.rotate_bytes = 0;
  auto opened = clawgate::audit::open_jsonl_log(cfg, {});
  auto log = std::get<clawgate::audit::AuditLogPtr>(std::move(opened));
  const nlohmann::json data = {{"decision", "allow"}, {"enforced", true}, {"rules", {"chat-green"}},
                               {"reason", ""}, {"policy_sha256", std::string(64, 'a')}};
  const int per_writer = 64;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&log, &data] {
        for (int i = 0; i < per_writer; ++i) {
          log->append({"0123456789abcdef0123456789abcdef", "decided", "employee-001", "chat", data},
                      true);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  state.SetItemsProcessed(state.iterations() * writers * per_writer);
  log.reset();
  std::filesystem::remove_all(tmpl);
}

BENCHMARK(BM_AuditAppend)
    ->ArgNames({"fsync", "writers"})
    ->ArgsProduct({{0, 1, 2}, {1, 16, 256}})  // 0 always, 1 batch, 2 never
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

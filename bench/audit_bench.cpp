// Audit records per second for each fsync mode with 1, 16 and 256 concurrent writers. A writer
// is a request coroutine on one of two I/O threads that awaits each record as the proxy awaits
// its `decided` record; the dedicated writer thread groups whatever has queued into one write()
// and, with fsync "always", one fdatasync (group commit). Counter `records/sync` shows how many
// durable records shared each fdatasync.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "clawgate/audit/audit_log.hpp"

namespace {

namespace net = boost::asio;
using clawgate::audit::Record;

net::awaitable<void> writer(clawgate::audit::AuditLog& log, const nlohmann::json& data, int n) {
  for (int i = 0; i < n; ++i) {
    Record r{"0123456789abcdef0123456789abcdef", "decided", "employee-001", "chat", data};
    co_await net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
        [&log](auto handler, Record rec) {
          log.enqueue(std::move(rec), clawgate::audit::Done(std::move(handler)));
        },
        net::use_awaitable, std::move(r));
  }
}

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
  const int per_writer = std::max(4, 1024 / writers);
  for (auto _ : state) {
    net::io_context ioc(2);
    for (int w = 0; w < writers; ++w) {
      net::co_spawn(net::make_strand(ioc), writer(*log, data, per_writer), net::detached);
    }
    std::thread second([&ioc] { ioc.run(); });
    ioc.run();
    second.join();
  }
  const auto stats = log->stats();
  state.SetItemsProcessed(state.iterations() * writers * per_writer);
  state.counters["records/sync"] =
      stats.syncs == 0 ? 0.0 : static_cast<double>(stats.records) / static_cast<double>(stats.syncs);
  log->close();
  std::filesystem::remove_all(tmpl);
}

BENCHMARK(BM_AuditAppend)
    ->ArgNames({"fsync", "writers"})
    ->ArgsProduct({{0, 1, 2}, {1, 16, 256}})  // 0 always, 1 batch, 2 never
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

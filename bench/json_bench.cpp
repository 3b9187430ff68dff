// Parsing a request body: clawgate's strict parser against nlohmann::json::parse (the DOM both
// produce), on the 1.5 KB chat body bench/run.sh sends.
#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "clawgate/json/strict.hpp"

namespace {

std::string chat_body() {
  std::ifstream in(CLAWGATE_BENCH_BODIES "/chat.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void BM_ParseStrictChat(benchmark::State& state) {
  const std::string body = chat_body();
  for (auto _ : state) {
    auto r = clawgate::json::parse_strict(body);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseStrictChat)->Unit(benchmark::kMicrosecond);

void BM_NlohmannParseChat(benchmark::State& state) {
  const std::string body = chat_body();
  for (auto _ : state) {
    auto r = nlohmann::json::parse(body, nullptr, false);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_NlohmannParseChat)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

// Decisions per second against the number of rules: policy evaluation is a loop over rules
// (deny-overrides needs every match), so this shows its linear cost and where it sits next to
// the request's network time.

#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "clawgate/policy/policy.hpp"

namespace {

clawgate::policy::PolicyPtr make_policy(int rules) {
  nlohmann::json doc = {{"version", 1}, {"name", "bench"}, {"default_decision", "deny"},
                        {"rules", nlohmann::json::array()}};
  for (int i = 0; i < rules; ++i) {
    doc["rules"].push_back({{"id", "r" + std::to_string(i)},
                            {"match",
                             {{"route", "tools"},
                              {"tool", "tool_" + std::to_string(i) + "*"},
                              {"roles", {"employee", "analyst"}},
                              {"args", {{"/args/url", {{"url_host_in", {"docs.example.com"}}}}}}}},
                            {"decision", i % 3 == 0 ? "deny" : "allow"}});
  }
  auto p = clawgate::policy::parse_policy(doc.dump(), "bench");
  return std::get<clawgate::policy::PolicyPtr>(std::move(p));
}

// Arg 0: rules; arg 1: 1 for `explain` (policy explain, a message per unmatched rule), 0 for
// the proxy's way (verdict only).
void BM_Evaluate(benchmark::State& state) {
  const auto pol = make_policy(static_cast<int>(state.range(0)));
  const bool explain = state.range(1) != 0;
  const nlohmann::json body = {{"tool", "tool_7"}, {"args", {{"url", "https://docs.example.com/a"}}}};
  clawgate::policy::Input in;
  in.route = "tools";
  in.identity = "alice";
  in.roles = {"employee"};
  in.agent = "main";
  in.tool = "tool_7";
  in.body = &body;
  for (auto _ : state) {
    auto v = clawgate::policy::evaluate(*pol, in, explain);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate)->ArgsProduct({{10, 100, 1000}, {0, 1}})->ArgNames({"rules", "explain"});

}  // namespace

BENCHMARK_MAIN();

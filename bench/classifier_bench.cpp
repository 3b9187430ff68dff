// Classifier throughput (SPEC §4: the cost must not grow with the number of terms).
//
// BM_Classify/N        classify_text() of ~64 KiB of enterprise prose with N terms (30, 1,000,
//                      10,000) plus the three default patterns: normalise, decode, match.
// BM_Build/N           Classifier::build() with N terms (policy load/reload).
// BM_Normalize         normalize() alone on the same text.
// BM_NormalizeAccented normalize() of ~64 KiB where every few words have an accent, a dash or a
//                      curly quote (the slow path's share of the work, and its cost per stretch).
// BM_DecodedLayers     decoded_layers() alone.
// BM_Re2SetTerms/N     the alternative term matcher: one RE2::Set of boundary-wrapped terms over
//                      the same normalised text (plus the same normalise/decode work), to compare
//                      with the Aho-Corasick automaton used by the classifier.
#include <benchmark/benchmark.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace {

using clawgate::classify::Classifier;
using clawgate::classify::ClassifierPtr;
using clawgate::classify::Spec;

// Deterministic pseudo-random numbers (no <random> distribution differences across libstdc++).
struct Rng {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s >> 16);
  }
  std::size_t below(std::size_t n) { return next() % n; }
};

const std::string& sample_text() {
  static const std::string text = [] {
    const char* sentences[] = {
        "Please summarize the attached meeting notes from Tuesday's product sync.",
        "The quarterly roadmap review covers hiring, onboarding and the migration plan.",
        "Our Berlin office will host the offsite; travel requests go through the portal.",
        "Explain why the integration test for the parser fails on large inputs.",
        "The team agreed to revisit the caching strategy after the load test results.",
        "Draft a short welcome message for the new engineers joining in March.",
        "Revenue grew twelve percent year over year, driven by the EMEA region.",
        "Action items: follow up with facilities, update the wiki, schedule the retro.",
        "The incident postmortem found a misconfigured timeout in the upstream pool.",
        "Compare PostgreSQL and MySQL for an analytics workload with heavy joins.",
        "Caf\xC3\xA9 meeting at 10:00 \xE2\x80\x94 bring the \xE2\x80\x9C"
        "draft\xE2\x80\x9D slides.",
        "See https://docs.example.com/guides/getting-started for the setup steps.",
        "def handler(request):\n    return render(request, \"index.html\")\n",
        "Customer feedback mentioned the onboarding flow and the invoice layout.",
    };
    Rng rng;
    std::string out;
    while (out.size() < 64 * 1024) {
      out += sentences[rng.below(std::size(sentences))];
      out += rng.below(5) == 0 ? "\n\n" : " ";
    }
    return out;
  }();
  return text;
}

const std::vector<std::string>& default_terms() {
  static const std::vector<std::string> terms = {"delete",
                                                 "remove permanently",
                                                 "wire money",
                                                 "transfer funds",
                                                 "payroll",
                                                 "bank account*",
                                                 "hr record*",
                                                 "employee record*",
                                                 "run shell",
                                                 "execute command",
                                                 "api key*",
                                                 "secret",
                                                 "credential*",
                                                 "token",
                                                 "ssh",
                                                 "sudo",
                                                 "wipe",
                                                 "exfiltrat*",
                                                 "upload private",
                                                 "database dump",
                                                 "shell command*",
                                                 "rm -rf",
                                                 "drop table*",
                                                 "home directory",
                                                 "private key*",
                                                 "password*",
                                                 "email*",
                                                 "send",
                                                 "customer*",
                                                 "invoice*"};
  return terms;
}

// N terms: the defaults, then generated words and word pairs (some with a trailing '*').
std::vector<std::string> terms(std::size_t n) {
  std::vector<std::string> out(default_terms().begin(), default_terms().end());
  Rng rng;
  auto word = [&] {
    std::string w;
    const std::size_t len = 4 + rng.below(8);
    for (std::size_t i = 0; i < len; ++i) w += static_cast<char>('a' + rng.below(26));
    return w;
  };
  while (out.size() < n) {
    std::string t = word();
    if (rng.below(3) == 0) t += " " + word();
    if (rng.below(4) == 0) t += "*";
    out.push_back(std::move(t));
  }
  out.resize(n);
  return out;
}

Spec spec_with(std::size_t n) {
  Spec s;
  const auto all = terms(n);
  for (std::size_t i = 0; i < all.size(); ++i)
    (i % 2 == 0 ? s.red : s.amber).terms.push_back(all[i]);
  s.red.patterns = {"AKIA[0-9A-Z]{16}", "-----BEGIN [A-Z ]*PRIVATE KEY-----",
                    "sk-[A-Za-z0-9_-]{20,}"};
  return s;
}

void BM_Classify(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto built = Classifier::build(spec_with(n));
  if (!std::holds_alternative<ClassifierPtr>(built)) {
    state.SkipWithError(std::get<std::string>(built).c_str());
    return;
  }
  const auto c = std::get<ClassifierPtr>(built);
  const std::string& text = sample_text();
  for (auto _ : state) {
    auto r = c->classify_text(text);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["text_bytes"] = static_cast<double>(text.size());  // bench/instructions.sh
}
BENCHMARK(BM_Classify)->Arg(30)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Building (policy load and reload) with N terms.
void BM_Build(benchmark::State& state) {
  const Spec spec = spec_with(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto built = Classifier::build(spec);
    benchmark::DoNotOptimize(built);
  }
}
BENCHMARK(BM_Build)->Arg(30)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Normalize(benchmark::State& state) {
  const std::string& text = sample_text();
  for (auto _ : state) {
    auto out = clawgate::classify::normalize(text);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Normalize)->Unit(benchmark::kMicrosecond);

const std::string& accented_text() {
  static const std::string text = [] {
    const char* words[] = {"caf\xC3\xA9", "r\xC3\xA9sum\xC3\xA9", "na\xC3\xAFve",
                           "\xE2\x80\x94", "\xE2\x80\x9Cquoted\xE2\x80\x9D", "stra\xC3\x9F" "e",
                           "plain", "words", "in", "between", "them"};
    Rng rng;
    std::string out;
    while (out.size() < 64 * 1024) {
      out += words[rng.below(std::size(words))];
      out += ' ';
    }
    return out;
  }();
  return text;
}

void BM_NormalizeAccented(benchmark::State& state) {
  const std::string& text = accented_text();
  for (auto _ : state) {
    auto out = clawgate::classify::normalize(text);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_NormalizeAccented)->Unit(benchmark::kMicrosecond);

void BM_DecodedLayers(benchmark::State& state) {
  const std::string& text = sample_text();
  for (auto _ : state) {
    auto out = clawgate::classify::decoded_layers(text);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodedLayers)->Unit(benchmark::kMicrosecond);

// The RE2::Set alternative for terms, with the same word-boundary semantics.
void BM_Re2SetTerms(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  RE2::Options opt;
  opt.set_log_errors(false);
  opt.set_max_mem(int64_t{1} << 30);
  RE2::Set set(opt, RE2::UNANCHORED);
  const std::string nonword = R"([^\pL\pN])";
  for (const std::string& term : terms(n)) {
    std::string t = term;
    const bool star = !t.empty() && t.back() == '*';
    if (star) t.pop_back();
    std::string key = clawgate::classify::normalize(t);
    std::vector<std::string> forms{key};
    if (key.find(' ') != std::string::npos) {
      std::string joined;
      for (const char ch : key) {
        if (ch != ' ') joined += ch;
      }
      forms.push_back(joined);
    }
    for (const auto& f : forms) {
      std::string re = "(?:^|" + nonword + ")" + RE2::QuoteMeta(f);
      if (!star) re += "(?:$|" + nonword + ")";
      set.Add(re, nullptr);
    }
  }
  if (!set.Compile()) {
    state.SkipWithError("RE2::Set::Compile failed");
    return;
  }
  RE2::Set patterns(opt, RE2::UNANCHORED);
  for (const auto& p : spec_with(0).red.patterns) patterns.Add(p, nullptr);
  patterns.Compile();
  const std::string& text = sample_text();
  std::vector<int> found;
  for (auto _ : state) {
    const std::string norm = clawgate::classify::normalize(text);
    auto layers = clawgate::classify::decoded_layers(text);
    RE2::Set::ErrorInfo info{};
    found.clear();
    if (!set.Match(norm, &found, &info) && info.kind != RE2::Set::kNoError) {
      state.SkipWithError("RE2::Set::Match failed (DFA out of memory)");
      return;
    }
    patterns.Match(text, &found);
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(layers);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Re2SetTerms)->Arg(30)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

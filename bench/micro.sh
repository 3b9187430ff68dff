#!/usr/bin/env bash
# Builds (Release) and runs every microbenchmark, then prints one summary table: for each, the
# median and the best of MICRO_REPS repetitions (10), with the process pinned to one CPU
# (MICRO_CPU, 1) when the machine has more than one. Single runs move by 20-40% on a shared
# 2-core VM; another tenant's load only ever adds time, so "best" is the steadier figure for
# comparing code, "median" the typical one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release micro_benchmarks  # the benchmarks only, not the tests
reps="${MICRO_REPS:-10}"
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then
  pin=(taskset -c "${MICRO_CPU:-1}")
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for b in build/release/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "==> $(basename "$b")" >&2
  "${pin[@]}" "$b" --benchmark_format=json --benchmark_min_time=0.2 \
    --benchmark_repetitions="$reps" > "$out/$(basename "$b").json"
done
python3 - "$out" "$reps" "${pin[*]:-not pinned}" <<'PY'
import json, pathlib, statistics, sys

def rate(b):
    if b.get("bytes_per_second"):
        return b["bytes_per_second"] / 1e6, "MB/s"
    if b.get("items_per_second"):
        return b["items_per_second"], "/s"
    return None, ""

def fmt(value, unit):
    return "" if value is None else f"{value:,.0f} {unit}"

print(f"Repetitions: {sys.argv[2]}; {sys.argv[3]}.")
print()
print("| benchmark | time/iter, median | time/iter, best | throughput, median | throughput, best |")
print("|---|---|---|---|---|")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    runs = {}
    for b in json.loads(f.read_text())["benchmarks"]:
        if b.get("run_type") == "iteration":
            runs.setdefault(b["run_name"], []).append(b)
    for name, bs in runs.items():
        if any(b.get("error_occurred") for b in bs):
            print(f"| {name} | skipped: {bs[0].get('error_message', '')} | | | |")
            continue
        unit = bs[0]["time_unit"]
        times = [b["real_time"] for b in bs]
        rates = [r for r in (rate(b)[0] for b in bs) if r is not None]
        runit = rate(bs[0])[1]
        med_rate = statistics.median(rates) if rates else None
        best_rate = max(rates) if rates else None
        print(f"| {name} | {statistics.median(times):.1f} {unit} | {min(times):.1f} {unit} | "
              f"{fmt(med_rate, runit)} | {fmt(best_rate, runit)} |")
PY

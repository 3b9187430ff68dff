#!/usr/bin/env bash
# Builds (Release) and runs every microbenchmark, then prints one summary table: the median of
# 5 repetitions of each (single runs move by 20-40% on a shared 2-core VM).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
out="$(mktemp -d)"
for b in build/release/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "==> $(basename "$b")" >&2
  "$b" --benchmark_format=json --benchmark_min_time=0.2 --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true > "$out/$(basename "$b").json"
done
python3 - "$out" <<'PY'
import json, pathlib, sys
print("| benchmark | time/iter | throughput |")
print("|---|---|---|")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for b in json.loads(f.read_text())["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        rate = b.get("bytes_per_second")
        items = b.get("items_per_second")
        thr = f"{rate/1e6:,.0f} MB/s" if rate else (f"{items:,.0f} /s" if items else "")
        print(f"| {b['run_name']} | {b['real_time']:.1f} {b['time_unit']} | {thr} |")
PY

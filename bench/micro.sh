#!/usr/bin/env bash
# Builds (Release) and runs every microbenchmark, then prints one summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
out="$(mktemp -d)"
for b in build/release/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "==> $(basename "$b")" >&2
  "$b" --benchmark_format=json --benchmark_min_time=0.2 > "$out/$(basename "$b").json"
done
python3 - "$out" <<'PY'
import json, pathlib, sys
print("| benchmark | time/iter | throughput |")
print("|---|---|---|")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for b in json.loads(f.read_text())["benchmarks"]:
        rate = b.get("bytes_per_second")
        items = b.get("items_per_second")
        thr = f"{rate/1e6:,.0f} MB/s" if rate else (f"{items:,.0f} /s" if items else "")
        print(f"| {b['name']} | {b['real_time']:.1f} {b['time_unit']} | {thr} |")
PY

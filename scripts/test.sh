#!/usr/bin/env bash
# Installs everything, builds the release and the ASan+UBSan configurations, and runs every test
# suite under ctest in both. This is the README's test command and all that .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

status=0
for preset in release asan; do
  echo "==> build ($preset)"
  scripts/build.sh "$preset"
  echo "==> ctest ($preset)"
  # ASan/UBSan: abort on the first report so a finding fails the run.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --preset "$preset" || status=1
done
exit "$status"

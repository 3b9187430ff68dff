#!/usr/bin/env bash
# Configures and builds one CMake preset (dev, release, asan): scripts/build.sh PRESET [TARGET...]
# `release` first trains its profile-guided optimisation (scripts/pgo-train.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:?usage: scripts/build.sh PRESET [TARGET...]}"
shift
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
fi
pgo=()
if [ "$preset" = release ]; then
  # The release build is optimised with a training profile (scripts/pgo-train.sh).
  # CLAWGATE_SKIP_PGO=1 builds it without one: quicker, and slower to run.
  if [ "${CLAWGATE_SKIP_PGO:-}" = 1 ]; then
    echo "==> PGO SKIPPED: CLAWGATE_SKIP_PGO=1 -- the release build has no training profile" >&2
    pgo=(-DCLAWGATE_PGO=)
  else
    scripts/pgo-train.sh
    pgo=(-DCLAWGATE_PGO=use)
  fi
fi
cmake --preset "$preset" "${launcher[@]}" "${pgo[@]}" >/dev/null
if (($#)); then
  cmake --build --preset "$preset" --target "$@"
else
  cmake --build --preset "$preset"
fi

#!/usr/bin/env bash
# Installs the Debian 12 packages clawgate builds and tests with, and any named as arguments
# (the benchmarks add theirs: nginx, wrk, valgrind). Idempotent: apt-get only runs when a
# package is missing, so repeated runs cost a dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential g++-12 cmake ninja-build ccache pkg-config git ca-certificates curl jq python3
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev
  libre2-dev libutf8proc-dev libidn2-dev libgoogle-perftools-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  openssl procps
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

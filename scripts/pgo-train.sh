#!/usr/bin/env bash
# Profile-guided optimisation, the training half: builds the `pgo-generate` preset (clawgate with
# -fprofile-generate), serves scripts/pgo-workload.py's requests with it in front of
# bench/upstream.c on 127.0.0.1, and leaves the profile in build/pgo-generate/profile, which the
# `release` preset compiles with (-fprofile-use). scripts/build.sh release runs this first.
#
#   scripts/pgo-train.sh           # trains unless the profile is newer than the instrumented
#                                  # binary and the training's own files
#   scripts/pgo-train.sh --force   # trains again
#
# About 10 seconds when the instrumented build is current; its first build compiles src/ once
# more (about 3.5 minutes on 2 cores, less with ccache). Fails, naming the step, if any step
# fails: a release build never goes on with a partial profile.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
build="$root/build/pgo-generate"
profile="$build/profile"

log() { echo "pgo-train: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ccache without a base_dir: a profile's checksums include each source's path as the compiler
# was given it, and the release build gives absolute paths (src/CMakeLists.txt).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  unset CCACHE_BASEDIR
fi
cmake --preset pgo-generate "${launcher[@]}" >/dev/null
cmake --build --preset pgo-generate
bin="$build/src/clawgate"

# Current: trained after the instrumented binary and everything else the training reads changed.
current() {
  local f
  [ -f "$profile/.trained" ] || return 1
  for f in "$bin" scripts/pgo-train.sh scripts/pgo-workload.py bench/upstream.c \
    bench/loopback.sh policies/default.json; do
    [ "$profile/.trained" -nt "$f" ] || return 1
  done
}
if [ "${1:-}" != --force ] && current; then
  log "profile is current ($profile)"
  exit 0
fi

work="$(mktemp -d /tmp/clawgate-pgo.XXXXXX)"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# free_port, start_upstream, new_client, clawgate_config, wait_ready.
# shellcheck source=bench/loopback.sh
source bench/loopback.sh

# The profile accumulates over runs of the binary: start from none.
rm -rf "$profile"
mkdir -p "$profile"

# The servers on one CPU and the client on another, where there are two, as in bench/run.sh: the
# client's 64 connections then keep clawgate busy, and the profile is the one of a loaded server
# (requests decided, audited and sent in groups), not of one waiting for each request.
server_prefix=() client_prefix=()
if taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  server_prefix=(taskset -c 0) client_prefix=(taskset -c 1)
fi

start_upstream fast
disown "$up_pid" # killed at exit: no job notice for it
new_client
port="$(free_port)"
clawgate_config "$work" "$port" "$up_port" batch 1
OPENCLAW_GATEWAY_TOKEN=pgo-gateway-token CLAWGATE_AUDIT_KEY="$(openssl rand -hex 32)" \
  CLAWGATE_LOG_LEVEL=warn "${server_prefix[@]}" "$bin" serve --config "$work/clawgate.json" \
  2>"$work/clawgate.log" &
cg=$!
pids+=("$cg")
wait_ready "$cg" "$port" 20 "$work/clawgate.log"

log "training on scripts/pgo-workload.py"
"${client_prefix[@]}" python3 scripts/pgo-workload.py "$port" "$client_token" ||
  die "the training workload did not get the answers it expects (above)"

# The profile is written when the process exits normally: SIGTERM drains and exits 0.
kill -TERM "$cg"
for _ in $(seq 300); do
  kill -0 "$cg" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$cg" 2>/dev/null && die "clawgate did not exit within 30 s of SIGTERM"
wait "$cg" || die "clawgate exited with status $? after SIGTERM: $(cat "$work/clawgate.log")"

# g++ names each file after its object's absolute path, '/' as '#'. The release build looks for
# the path below its own build directory (-fprofile-prefix-path): drop this build's part.
prefix="$(tr / '#' <<<"$build")#"
files=0
for f in "$profile"/*.gcda; do
  [ -e "$f" ] || die "no profile data written to $profile"
  name="${f##*/}"
  [[ $name == "$prefix"* ]] || die "profile file $name is not named after an object of $build"
  mv "$f" "$profile/${name#"$prefix"}"
  files=$((files + 1))
done
touch "$profile/.trained"
log "profile: $files files in $profile"

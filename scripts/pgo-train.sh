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
    policies/default.json; do
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

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The profile accumulates over runs of the binary: start from none.
rm -rf "$profile"
mkdir -p "$profile"

# The servers on one CPU and the client on another, where there are two, as in bench/run.sh: the
# client's 64 connections then keep clawgate busy, and the profile is the one of a loaded server
# (requests decided, audited and sent in groups), not of one waiting for each request.
server_cpu=() client_cpu=()
if taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi

cc -O2 -o "$work/upstream" bench/upstream.c
"${server_cpu[@]}" "$work/upstream" -p 0 >"$work/upstream.out" 2>&1 &
pids+=("$!")
disown "$!" # killed at exit: no job notice for it
for _ in $(seq 100); do
  grep -q '^PORT ' "$work/upstream.out" && break
  sleep 0.1
done
upstream_port="$(awk '/^PORT /{print $2}' "$work/upstream.out")"
[ -n "$upstream_port" ] || die "bench/upstream.c did not start: $(cat "$work/upstream.out")"

client="$("$bin" token new)"
token="$(jq -r .token <<<"$client")"
port="$(free_port)"
cat >"$work/clawgate.json" <<EOF
{
  "listen": "127.0.0.1:$port",
  "admin_listen": null,
  "upstream": {"url": "http://127.0.0.1:$upstream_port", "token_env": "OPENCLAW_GATEWAY_TOKEN"},
  "clients": [
    {"id": "pgo", "token_sha256": "$(jq -r .token_sha256 <<<"$client")", "roles": ["agent"]}
  ],
  "policy_file": "$root/policies/default.json",
  "audit": {"file": "$work/audit.jsonl", "fsync": "batch", "hmac_key_env": "CLAWGATE_AUDIT_KEY"},
  "approvals": {"state_file": "$work/approvals.jsonl"},
  "threads": 1
}
EOF
OPENCLAW_GATEWAY_TOKEN=pgo-gateway-token CLAWGATE_AUDIT_KEY="$(openssl rand -hex 32)" \
  CLAWGATE_LOG_LEVEL=warn "${server_cpu[@]}" "$bin" serve --config "$work/clawgate.json" \
  2>"$work/clawgate.log" &
cg=$!
pids+=("$cg")
for _ in $(seq 200); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
  kill -0 "$cg" 2>/dev/null || die "clawgate exited at start: $(cat "$work/clawgate.log")"
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || die "clawgate not ready after 20 s"

log "training on scripts/pgo-workload.py"
"${client_cpu[@]}" python3 scripts/pgo-workload.py "$port" "$token" ||
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

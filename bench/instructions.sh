#!/usr/bin/env bash
# Instructions counted by valgrind's callgrind: a measure of clawgate's own work that a shared,
# noisy host does not move (there, times of the same binary move by ±20% within the hour).
#
#   bench/instructions.sh            # builds clawgate and classifier_bench (Release) first
#
# Prints two markdown tables on stdout (progress goes to stderr):
# 1. the classifier: instructions per classify_text() of BM_Classify's 64 KiB of prose
#    (bench/classifier_bench.cpp) with 30 / 1,000 / 10,000 terms, and per byte;
# 2. the request path: instructions per request of the clawgate process (all its threads), one
#    I/O thread, audit fsync "batch", the shipped default policy, serving INSTR_REQUESTS
#    sequential keep-alive requests from one client after 50 unmeasured ones: an allowed chat
#    (1.5 KB), a tool call and a denied (red) chat, against bench/upstream.c.
# Callgrind runs the code on a simulated CPU: it counts instructions, not time, and its CPU has no
# SHA-NI, so SHA-256's block function (about 2 µs of an allowed chat on this host's CPU) is about
# half of an allowed chat's instructions there. Compare versions by these counts; compare with
# other software by bench/run.sh. Everything binds 127.0.0.1; every process started is stopped.
# Settings (environment): INSTR_REQUESTS (2000), INSTR_TERMS ("30 1000 10000").
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
requests="${INSTR_REQUESTS:-2000}"
read -r -a terms_list <<<"${INSTR_TERMS:-30 1000 10000}"

log() { echo "instructions: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

scripts/install-deps.sh valgrind
log "building (scripts/build.sh release clawgate classifier_bench)"
scripts/build.sh release clawgate classifier_bench >&2
bin="$root/build/release/src/clawgate"
bench="$root/build/release/bench/classifier_bench"

work="$(mktemp -d /tmp/clawgate-instructions.XXXXXX)"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sums, over every call of the functions whose name starts with $2 in callgrind file $1, the calls
# and their inclusive instructions ("calls=" lines are followed by the call's cost). A prefix, not
# a substring: template instances called from a function carry its name inside theirs.
inclusive() {
  python3 - "$1" "$2" <<'PY'
import re, sys
names, calls, cost, target, pending = {}, 0, 0, None, False
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        if line.startswith("cfn="):
            target = names.get(m.group(1), "")
        continue
    if line.startswith("calls="):
        pending = (target or "").startswith(sys.argv[2])
        if pending:
            calls += int(line.split()[0][len("calls="):])
        continue
    if pending:
        cost += int(line.split()[-1])
        pending = False
print(calls, cost)
PY
}

# --- 1. the classifier --------------------------------------------------------------------------
echo "| classifier, 64 KiB of prose | classifications counted | instructions per classification | per byte |"
echo "|---|---|---|---|"
for n in "${terms_list[@]}"; do
  log "classifier, $n terms"
  valgrind --tool=callgrind --callgrind-out-file="$work/classify.$n" "$bench" \
    --benchmark_filter="BM_Classify/$n\$" --benchmark_min_time=0.05 --benchmark_format=json \
    >"$work/classify.$n.json" 2>"$work/classify.$n.log" || die "callgrind of classifier_bench failed"
  read -r calls cost < <(inclusive "$work/classify.$n" \
    "clawgate::classify::(anonymous namespace)::ClassifierImpl::classify_text(")
  ((calls > 0)) || die "no classify_text() calls counted for $n terms"
  bytes="$(jq '[.benchmarks[] | select(.run_type == "iteration") | .text_bytes][0]' "$work/classify.$n.json")"
  python3 -c "import sys; c, k, b = map(float, sys.argv[1:4]); \
print(f'| {int(sys.argv[4]):,} terms | {int(c):,} | {k / c:,.0f} | {k / c / b:.2f} |')" \
    "$calls" "$cost" "$bytes" "$n"
done
echo

# --- 2. the request path ------------------------------------------------------------------------
# free_port, start_upstream, new_client, clawgate_config, wait_ready.
# shellcheck source=bench/loopback.sh
source bench/loopback.sh
start_upstream fast
new_client
port="$(free_port)"
clawgate_config "$work" "$port" "$up_port" batch 1
OPENCLAW_GATEWAY_TOKEN="bench-gateway-token"
# A fixed key: the key is one of the secrets every record is searched for, so its bytes are part
# of what is measured (a random key made the count move by up to 3% between runs before 2026-11-23).
CLAWGATE_AUDIT_KEY="e3a1f09b7c5d2e4f6a8b0c1d3e5f7a9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f"
CLAWGATE_LOG_LEVEL=warn
export OPENCLAW_GATEWAY_TOKEN CLAWGATE_AUDIT_KEY CLAWGATE_LOG_LEVEL
log "clawgate under callgrind"
valgrind --tool=callgrind --callgrind-out-file="$work/serve" "$bin" serve \
  --config "$work/clawgate.json" 2>"$work/serve.log" &
vg=$!
pids+=("$vg")
wait_ready "$vg" "$port" 60 "$work/serve.log"

# send PATH BODY N STATUS: N sequential keep-alive requests, each answered with STATUS.
send() {
  python3 - "$port" "$1" "$root/bench/bodies/$2.json" "$client_token" "$3" "$4" <<'PY'
import http.client, sys
port, path, body_file, token, n, want = sys.argv[1:]
body = open(body_file, "rb").read()
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
for i in range(int(n)):
    c.request("POST", path, body, {"Content-Type": "application/json",
                                   "Authorization": "Bearer " + token})
    r = c.getresponse()
    r.read()
    if r.status != int(want):
        sys.exit(f"request {i} to {path}: status {r.status}, expected {want}")
PY
}

echo "| request (clawgate, one I/O thread, fsync batch) | requests counted | instructions per request |"
echo "|---|---|---|"
dump=0
for row in "chat|/v1/chat/completions|chat|200" "tool call|/tools/invoke|tools|200" \
  "denied (red) chat|/v1/chat/completions|red|403"; do
  IFS='|' read -r label path body status <<<"$row"
  log "$label"
  send "$path" "$body" 50 "$status" || die "$label: warm-up failed"
  callgrind_control -z "$vg" >/dev/null
  send "$path" "$body" "$requests" "$status" || die "$label: the requests failed"
  callgrind_control -d "$vg" >/dev/null
  dump=$((dump + 1))
  f="$work/serve.$dump"
  for _ in $(seq 100); do [ -s "$f" ] && grep -q '^totals:' "$f" && break; sleep 0.1; done
  total="$(awk '/^summary:/ {print $2}' "$f")"
  [ -n "$total" ] || die "no callgrind dump at $f"
  python3 -c "import sys; t, n = int(sys.argv[1]), int(sys.argv[2]); \
print(f'| {sys.argv[3]} | {n:,} | {t / n:,.0f} |')" "$total" "$requests" "$label"
done

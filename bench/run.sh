#!/usr/bin/env bash
# Load benchmark: clawgate against the upstream directly and against nginx, on loopback.
#
#   bench/run.sh                     # builds clawgate (Release) first
#   CLAWGATE_BIN=/path/clawgate bench/run.sh
#
# Prints markdown tables on stdout (progress goes to stderr):
# 1. throughput and latency: wrk with a 1.5 KB chat completion request, a small /tools/invoke
#    and a red chat (the deny path), at 50 and 256 connections, against
#      direct            the upstream itself
#      nginx             nginx proxy_pass with upstream keep-alive (1 worker)
#      clawgate always   clawgate, shipped default policy, audit fsync "always"
#      clawgate batch    the same with audit fsync "batch"
#    on a fast upstream (answers at once) and a slow one (20 ms per answer). Every cell runs
#    BENCH_REPS times, interleaved (all cells once, then all again, ...), and the table holds
#    the median. CPU µs/request is utime+stime of the proxy process(es) from /proc, divided by
#    the completed requests.
# 2. memory: clawgate's VmRSS idle and with thousands of SSE streams held open through it to a
#    slow streaming upstream.
#
# Servers (upstreams, nginx, clawgate) run on CPU BENCH_SERVER_CPU (0), wrk and the stream holder
# on BENCH_CLIENT_CPU (1). Everything binds 127.0.0.1. The upstream is bench/upstream.c, compiled
# here with cc: a one-thread epoll server, so that it costs the proxies' core little.
#
# Settings (environment): BENCH_DURATION seconds per wrk run (4), BENCH_REPS (3),
# BENCH_CONNS ("50 256"), BENCH_HOLD streams to hold open (10000; capped by the open-files hard
# limit, since clawgate needs two descriptors per stream), BENCH_CLAWGATE_THREADS (0, clawgate's
# default: one I/O thread per CPU; taskset still confines them to the servers' core, as it does
# nginx's one worker), BENCH_KEEP=1 keeps the work folder (configs, logs, raw results).
# About 6.5 minutes with the defaults on a 2-core machine, plus the build. docs/performance.md
# has the latest results and what they mean.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
t_start=$SECONDS
started_at="$(date -u +%Y-%m-%dT%H:%MZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

duration="${BENCH_DURATION:-4}"
reps="${BENCH_REPS:-3}"
read -r -a conns_list <<<"${BENCH_CONNS:-50 256}"
hold_target="${BENCH_HOLD:-10000}"
cg_threads="${BENCH_CLAWGATE_THREADS:-0}"
server_cpu="${BENCH_SERVER_CPU:-0}"
client_cpu="${BENCH_CLIENT_CPU:-1}"
slow_ms=20

log() { echo "bench: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- dependencies and build --------------------------------------------------------------------
scripts/install-deps.sh nginx wrk
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$nginx_bin" ] || die "nginx is not installed"

if [ -n "${CLAWGATE_BIN:-}" ]; then
  bin="$(readlink -f "$CLAWGATE_BIN")"
else
  log "building clawgate (scripts/build.sh release clawgate)"
  scripts/build.sh release clawgate >&2
  bin="$root/build/release/src/clawgate"
fi
[ -x "$bin" ] || die "no clawgate binary at $bin"
(($(nproc) >= 2)) || die "needs 2 CPUs: servers on one, the load generator on the other"

# Each process may open as many files as the hard limit allows (root cannot go beyond it either
# without CAP_SYS_RESOURCE).
ulimit -n "$(ulimit -Hn)"
nofile="$(ulimit -n)"

work="$(mktemp -d /tmp/clawgate-bench.XXXXXX)"
fstype="$(findmnt -no FSTYPE -T "$work" 2>/dev/null || echo unknown)"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid deadline
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    log "work folder kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: SIGTERM, then SIGKILL after 10 s; forgets the pid.
stop() {
  local pid="$1" deadline=$((SECONDS + 10)) kept=() p
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# free_port, wait_for, start_upstream, new_client, clawgate_config, wait_ready.
server_prefix=(taskset -c "$server_cpu")
# shellcheck source=bench/loopback.sh
source bench/loopback.sh

# cpu_ticks PID...: utime+stime of the processes (all their threads), in clock ticks.
cpu_ticks() {
  local total=0 pid t
  for pid in "$@"; do
    # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')"
    total=$((total + t))
  done
  echo "$total"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# --- upstreams ---------------------------------------------------------------------------------
start_upstream fast
fast_pid=$up_pid fast_port=$up_port
start_upstream slow -d "$slow_ms"
slow_pid=$up_pid slow_port=$up_port
log "upstreams: fast on 127.0.0.1:$fast_port, slow (${slow_ms} ms) on 127.0.0.1:$slow_port"

# --- nginx -------------------------------------------------------------------------------------
mkdir -p "$work/nginx/tmp"
nginx_fast_port="$(free_port)"
nginx_slow_port="$(free_port)"
nginx_user=""
if [ "$(id -u)" -eq 0 ]; then nginx_user="user root;"; fi
nginx_site() { # PORT UPSTREAM
  cat <<EOF
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://$2;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-gateway-token";
    }
  }
EOF
}
cat >"$work/nginx/nginx.conf" <<EOF
$nginx_user
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  upstream fast { server 127.0.0.1:$fast_port; keepalive 512; keepalive_requests 1000000; }
  upstream slow { server 127.0.0.1:$slow_port; keepalive 512; keepalive_requests 1000000; }
$(nginx_site "$nginx_fast_port" fast)
$(nginx_site "$nginx_slow_port" slow)
}
EOF
"${server_prefix[@]}" "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" \
  -g 'daemon off;' 2>"$work/nginx/stderr.log" &
pids+=("$!")
nginx_pid=$!
wait_for 10 nginx "$nginx_pid" "$work/nginx/stderr.log" \
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_fast_port/readyz"
mapfile -t nginx_workers < <(pgrep -P "$nginx_pid")
nginx_pids=("$nginx_pid" "${nginx_workers[@]}")
log "nginx $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on :$nginx_fast_port (fast), :$nginx_slow_port (slow); processes ${nginx_pids[*]}"

# --- clawgate ----------------------------------------------------------------------------------
new_client
export BENCH_TOKEN="$client_token"
OPENCLAW_GATEWAY_TOKEN=bench-gateway-token
CLAWGATE_AUDIT_KEY="$(openssl rand -hex 32)"
CLAWGATE_LOG_LEVEL=warn
export OPENCLAW_GATEWAY_TOKEN CLAWGATE_AUDIT_KEY CLAWGATE_LOG_LEVEL

# start_clawgate NAME UPSTREAM_PORT FSYNC MAX_CONNECTIONS: sets cg_pid and cg_port.
start_clawgate() {
  local name="$1" upstream_port="$2" fsync="$3" maxconn="$4" dir="$work/$1"
  cg_port="$(free_port)"
  clawgate_config "$dir" "$cg_port" "$upstream_port" "$fsync" "$cg_threads" "$maxconn"
  "${server_prefix[@]}" "$bin" serve --config "$dir/clawgate.json" 2>"$dir/clawgate.log" &
  pids+=("$!")
  cg_pid=$!
  wait_ready "$cg_pid" "$cg_port" 20 "$dir/clawgate.log"
}
start_clawgate cg-always-fast "$fast_port" always 1024
cga_fast_pid=$cg_pid cga_fast_port=$cg_port
start_clawgate cg-always-slow "$slow_port" always 1024
cga_slow_pid=$cg_pid cga_slow_port=$cg_port
start_clawgate cg-batch-fast "$fast_port" batch 1024
cgb_fast_pid=$cg_pid cgb_fast_port=$cg_port
start_clawgate cg-batch-slow "$slow_port" batch 1024
cgb_slow_pid=$cg_pid cgb_slow_port=$cg_port
log "clawgate $("$bin" --version 2>&1 | head -1): 4 instances, threads $cg_threads (0: one per CPU)"

# --- the matrix --------------------------------------------------------------------------------
# One cell per line: upstream|body|expect|conns|target|url|proxy pids. "deny" cells never reach
# the upstream; their ×direct compares with the direct fast chat at the same connections.
bodies="$root/bench/bodies"
cells="$work/cells.txt"
: >"$cells"
add_cell() { echo "$*" >>"$cells"; }
for c in "${conns_list[@]}"; do
  for body in chat tools; do
    path=/v1/chat/completions
    [ "$body" = tools ] && path=/tools/invoke
    add_cell "fast|$body|allow|$c|direct|http://127.0.0.1:$fast_port$path|"
    add_cell "fast|$body|allow|$c|nginx|http://127.0.0.1:$nginx_fast_port$path|${nginx_pids[*]}"
    add_cell "fast|$body|allow|$c|clawgate always|http://127.0.0.1:$cga_fast_port$path|$cga_fast_pid"
    add_cell "fast|$body|allow|$c|clawgate batch|http://127.0.0.1:$cgb_fast_port$path|$cgb_fast_pid"
  done
  path=/v1/chat/completions
  add_cell "slow|chat|allow|$c|direct|http://127.0.0.1:$slow_port$path|"
  add_cell "slow|chat|allow|$c|nginx|http://127.0.0.1:$nginx_slow_port$path|${nginx_pids[*]}"
  add_cell "slow|chat|allow|$c|clawgate always|http://127.0.0.1:$cga_slow_port$path|$cga_slow_pid"
  add_cell "slow|chat|allow|$c|clawgate batch|http://127.0.0.1:$cgb_slow_port$path|$cgb_slow_pid"
  add_cell "-|red|deny|$c|clawgate always|http://127.0.0.1:$cga_fast_port$path|$cga_fast_pid"
  add_cell "-|red|deny|$c|clawgate batch|http://127.0.0.1:$cgb_fast_port$path|$cgb_fast_pid"
done
ncells="$(wc -l <"$cells")"

# Each URL answers as expected before anything is measured.
while IFS='|' read -r _ body expect _ target url _; do
  code="$(curl -s -o "$work/check.out" -w '%{http_code}' --max-time 5 -X POST \
    -H "Authorization: Bearer $client_token" -H 'Content-Type: application/json' \
    --data-binary "@$bodies/$body.json" "$url" </dev/null)" || code=000
  want=200
  [ "$expect" = deny ] && want=403
  [ "$code" = "$want" ] || die "$target $url ($body) answered $code, expected $want: $(head -c 300 "$work/check.out")"
done <"$cells"

clk_tck="$(getconf CLK_TCK)"
results="$work/results.jsonl"
: >"$results"

# run_wrk SECONDS CONNS BODY URL OUT
run_wrk() {
  BENCH_BODY="$bodies/$3.json" taskset -c "$client_cpu" \
    timeout $(($1 + 30)) wrk -t1 -c"$2" -d"$1s" --timeout 5s -s bench/post.lua "$4" >"$5" 2>&1
}

log "warm-up: 1 s per cell at the first connection count"
while IFS='|' read -r _ body _ conns target url _; do
  [ "$conns" = "${conns_list[0]}" ] || continue
  run_wrk 1 "$conns" "$body" "$url" "$work/warmup.out" </dev/null || die "wrk failed: $(cat "$work/warmup.out")"
done <"$cells"

est=$((reps * ncells * (duration + 1)))
log "$ncells cells × $reps repetitions × ${duration}s (about $((est / 60)) min $((est % 60)) s)"
for rep in $(seq 1 "$reps"); do
  n=0
  while IFS='|' read -r upstream body expect conns target url proxy; do
    n=$((n + 1))
    read -r -a ppids <<<"$proxy"
    up_pids=()
    [ "$upstream" = fast ] && up_pids=("$fast_pid")
    [ "$upstream" = slow ] && up_pids=("$slow_pid")
    p0="$(cpu_ticks "${ppids[@]}")"
    u0="$(cpu_ticks "${up_pids[@]}")"
    run_wrk "$duration" "$conns" "$body" "$url" "$work/wrk.out" </dev/null ||
      die "wrk failed on $target $url: $(cat "$work/wrk.out")"
    p1="$(cpu_ticks "${ppids[@]}")"
    u1="$(cpu_ticks "${up_pids[@]}")"
    line="$(sed -n 's/^BENCH_RESULT //p' "$work/wrk.out")"
    [ -n "$line" ] || die "no result from wrk: $(cat "$work/wrk.out")"
    has_proxy=false
    [ -n "$proxy" ] && has_proxy=true
    printf '{"rep":%d,"upstream":"%s","body":"%s","expect":"%s","conns":%d,"target":"%s",' \
      "$rep" "$upstream" "$body" "$expect" "$conns" "$target" >>"$results"
    printf '"proxy_ticks":%s,"upstream_ticks":%s,"has_proxy":%s,"wrk":%s}\n' \
      $((p1 - p0)) $((u1 - u0)) "$has_proxy" "$line" >>"$results"
    log "rep $rep/$reps cell $n/$ncells: $upstream $body $conns conns $target:" \
      "$(jq -r --argjson d "$duration" '"\(.requests / $d | floor) req/s, p99 \(.p99_us) µs, non-2xx \(.status)"' <<<"$line")"
    # Rotated audit files are no longer written; drop them so the disk does not fill.
    rm -f "$work"/cg-*/audit.jsonl.0*
  done <"$cells"
done

rss_after_load="$(rss_kib "$cga_fast_pid")"
for pid in "$cga_fast_pid" "$cga_slow_pid" "$cgb_fast_pid" "$cgb_slow_pid" "$nginx_pid" \
  "$fast_pid" "$slow_pid"; do
  stop "$pid"
done

# --- memory: streams held open -----------------------------------------------------------------
# Each held stream costs clawgate two descriptors (client and upstream); keep 200 spare.
hold_max=$(((nofile - 200) / 2))
hold=$((hold_target < hold_max ? hold_target : hold_max))
((hold == hold_target)) || log "holding $hold streams, not $hold_target: the open-files hard limit is $nofile"
start_upstream sse -d "$slow_ms" -i 1000
sse_pid=$up_pid sse_port=$up_port
start_clawgate cg-hold "$sse_port" always $((hold + 1000))
hold_pid=$cg_pid hold_port=$cg_port
curl -sf -o /dev/null --max-time 5 -H "Authorization: Bearer $client_token" -H 'Content-Type: application/json' \
  --data-binary "@$bodies/chat.json" "http://127.0.0.1:$hold_port/v1/chat/completions" ||
  die "the hold clawgate does not answer"
sleep 1
rss_idle="$(rss_kib "$hold_pid")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["stream"]=True; json.dump(d, open(sys.argv[2], "w"))' \
  "$bodies/chat.json" "$work/stream.json"
coproc HOLDER {
  exec taskset -c "$client_cpu" python3 bench/hold.py --port "$hold_port" --token-env BENCH_TOKEN \
    --body "$work/stream.json" 2>"$work/hold.err"
}
# shellcheck disable=SC2153 # HOLDER_PID is set by coproc
holder_pid=$HOLDER_PID
pids+=("$holder_pid")
holder_in="${HOLDER[1]}"
holder_out="${HOLDER[0]}"
rss_rows=()
for target in $((hold / 2)) "$hold"; do
  echo "$target" >&"$holder_in"
  read -r -t 180 -u "$holder_out" word held failed secs || die "holder: no answer within 180 s ($(cat "$work/hold.err"))"
  [ "$word" = HELD ] || die "holder said: $word $held $failed $secs"
  sleep 2
  fds="$(find "/proc/$hold_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
  rss_rows+=("$held|$failed|$secs|$(rss_kib "$hold_pid")|$fds")
  log "held $held streams ($failed failed) in ${secs}s; clawgate RSS $(rss_kib "$hold_pid") KiB, $fds fds"
done
exec {holder_in}>&-
wait_for 30 "holder exit" - - bash -c "! kill -0 $holder_pid"
sleep 3
rss_released="$(rss_kib "$hold_pid")"
stop "$hold_pid"
stop "$sse_pid"

# --- report ------------------------------------------------------------------------------------
elapsed=$((SECONDS - t_start))
python3 - "$results" "$clk_tck" "$rss_after_load" "$rss_idle" "$rss_released" "$hold_target" \
  "$nofile" "${rss_rows[@]}" <<'PY'
import json, statistics, sys

results_file, clk_tck, rss_load, rss_idle, rss_released, hold_target, nofile = sys.argv[1:8]
rss_rows = [r.split("|") for r in sys.argv[8:]]
clk_tck = int(clk_tck)
runs = [json.loads(l) for l in open(results_file)]
cells = {}
for r in runs:
    key = (r["upstream"], r["body"], r["expect"], r["conns"], r["target"])
    cells.setdefault(key, []).append(r)

def med(xs):
    return statistics.median(xs) if xs else None

def summary(rs):
    rps, p50, p90, p99, cpu, ucpu, errors = [], [], [], [], [], [], 0
    for r in rs:
        w = r["wrk"]
        n = w["requests"]
        rps.append(n / (w["duration_us"] / 1e6))
        p50.append(w["p50_us"]); p90.append(w["p90_us"]); p99.append(w["p99_us"])
        if n:
            if r["has_proxy"]:
                cpu.append(r["proxy_ticks"] * 1e6 / clk_tck / n)
            ucpu.append(r["upstream_ticks"] * 1e6 / clk_tck / n)
        wrong = n - w["status"] if r["expect"] == "deny" else w["status"]
        errors += w["connect"] + w["read"] + w["write"] + w["timeout"] + wrong
    return {"rps": med(rps), "p50": med(p50), "p90": med(p90), "p99": med(p99),
            "cpu": med(cpu), "ucpu": med(ucpu), "errors": errors,
            "requests": sum(r["wrk"]["requests"] for r in rs)}

def ms(us):
    return f"{us / 1000:.2f} ms"

def ratio(x, ref):
    return f" ({x / ref:.2f}×)" if ref else ""

print("| upstream | request | conns | target | req/s (×direct) | p50 (×direct) | p90 (×direct) "
      "| p99 (×direct) | proxy CPU µs/req | upstream CPU µs/req | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
names = {"chat": "chat 1.5 KB", "tools": "tools/invoke", "red": "red chat (deny)"}
order = {"fast": 0, "slow": 1, "-": 2}
targets = ["direct", "nginx", "clawgate always", "clawgate batch"]
for key in sorted(cells, key=lambda k: (order[k[0]], k[3], k[1], targets.index(k[4]))):
    upstream, body, expect, conns, target = key
    s = summary(cells[key])
    ref_key = ("fast", "chat", "allow", conns, "direct") if expect == "deny" else \
        (upstream, body, expect, conns, "direct")
    ref = summary(cells[ref_key]) if ref_key in cells else None
    direct = target == "direct"
    cols = [
        f"{s['rps']:,.0f}" + ("" if direct or not ref else ratio(s["rps"], ref["rps"])),
        *(ms(s[p]) + ("" if direct or not ref else ratio(s[p], ref[p])) for p in ("p50", "p90", "p99")),
        "—" if s["cpu"] is None else f"{s['cpu']:.1f}",
        "—" if expect == "deny" else f"{s['ucpu']:.1f}",
        f"{s['errors']}",
    ]
    up = {"fast": "fast", "slow": "20 ms", "-": "not reached"}[upstream]
    print(f"| {up} | {names[body]} | {conns} | {target} | " + " | ".join(cols) + " |")

print()
print("| clawgate memory | streams held | VmRSS | per stream |")
print("|---|---|---|---|")
idle = int(rss_idle)
print(f"| idle (after one request) | 0 | {idle / 1024:.1f} MiB | |")
for held, failed, secs, rss, fds in rss_rows:
    held, rss = int(held), int(rss)
    per = f"{(rss - idle) / held:.1f} KiB" if held else ""
    note = f" ({failed} failed)" if failed != "0" else ""
    print(f"| SSE streams open to a slow upstream, opened in {secs} s, {fds} fds | {held:,}{note} "
          f"| {rss / 1024:.1f} MiB | {per} |")
print(f"| streams closed, 3 s later | 0 | {int(rss_released) / 1024:.1f} MiB | |")
print(f"| after the load matrix (clawgate always, fast) | 0 | {int(rss_load) / 1024:.1f} MiB | |")
if rss_rows and int(rss_rows[-1][0]) < int(hold_target):
    print(f"\nStreams held: {int(rss_rows[-1][0]):,} of {int(hold_target):,} asked; the open-files "
          f"hard limit ({nofile}) allows no more, as each stream costs clawgate two descriptors.")
PY
echo
echo "$started_at; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), kernel" \
  "$(uname -r), audit on $fstype; wrk -t1, ${duration} s per run, median of $reps interleaved" \
  "runs; servers on CPU $server_cpu, wrk on CPU $client_cpu; clawgate threads $cg_threads;" \
  "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg); total ${elapsed} s"

# shellcheck shell=bash disable=SC2154,SC2034 # the caller sets the inputs and reads the outputs
# Starting bench/upstream.c and clawgate on 127.0.0.1, shared by the scripts that measure or
# train clawgate under load: bench/run.sh, bench/instructions.sh and scripts/pgo-train.sh. Sourced,
# not run. The caller defines:
#   root           the repository's top folder
#   work           a folder for binaries, configs, logs and audit files
#   pids           an array; every process started here is appended, for the caller's exit trap
#   die MESSAGE    reports and exits
#   server_prefix  optional array put before each server's command (e.g. taskset -c 0)

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS WHAT PID LOG COMMAND...: polls COMMAND every 0.1 s until it succeeds; dies
# naming WHAT, with the end of LOG (its stderr), when process PID exits first, or when SECONDS pass.
# PID and LOG "-": no process to watch.
wait_for() {
  local limit="$1" what="$2" pid="$3" log_file="$4"
  shift 4
  local deadline=$((SECONDS + limit)) where=""
  [ "$log_file" = - ] || where=" ($log_file)"
  until "$@" >/dev/null 2>&1; do
    [ "$pid" = - ] || kill -0 "$pid" 2>/dev/null ||
      die "$what exited at start: $(tail -n 5 "$log_file")"
    ((SECONDS < deadline)) || die "$what not ready after ${limit}s$where"
    sleep 0.1
  done
}

# start_upstream NAME [ARGS...]: bench/upstream.c (compiled into $work on first use) on a free
# port with ARGS (-d MS delays each answer, -i MS streams events); sets up_pid and up_port. Its
# output goes to $work/NAME.out and .err.
start_upstream() {
  local name="$1"
  shift
  if [ ! -x "$work/upstream" ]; then
    cc -O2 -o "$work/upstream" "$root/bench/upstream.c" || die "cannot compile bench/upstream.c"
  fi
  "${server_prefix[@]}" "$work/upstream" -p 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  up_pid=$!
  pids+=("$up_pid")
  wait_for 5 "upstream $name" "$up_pid" "$work/$name.err" grep -q '^PORT ' "$work/$name.out"
  up_port="$(awk '/^PORT / {print $2}' "$work/$name.out")"
}

# new_client: a client token for the configs below; sets client_token and client_sha256. Needs
# $bin, the clawgate binary.
new_client() {
  local pair
  pair="$("$bin" token new)" || die "clawgate token new failed"
  client_token="$(jq -r .token <<<"$pair")"
  client_sha256="$(jq -r .token_sha256 <<<"$pair")"
}

# clawgate_config DIR PORT UPSTREAM_PORT FSYNC THREADS [MAX_CONNECTIONS]: writes DIR/clawgate.json:
# listening on 127.0.0.1:PORT without an admin listener, forwarding to 127.0.0.1:UPSTREAM_PORT, one
# client ("bench", client_sha256 from new_client, role agent), the shipped default policy, audit
# (fsync FSYNC, HMAC key from CLAWGATE_AUDIT_KEY) and approvals files in DIR; MAX_CONNECTIONS,
# when given, caps both the client connections and the upstream pool.
clawgate_config() {
  local dir="$1" port="$2" upstream_port="$3" fsync="$4" threads="$5" maxconn="${6:-}"
  local upstream_max="" limits=""
  if [ -n "$maxconn" ]; then
    upstream_max=", \"max_connections\": $maxconn"
    limits="\"limits\": {\"max_connections\": $maxconn},"
  fi
  mkdir -p "$dir"
  cat >"$dir/clawgate.json" <<EOF
{
  "listen": "127.0.0.1:$port",
  "admin_listen": null,
  "upstream": {
    "url": "http://127.0.0.1:$upstream_port",
    "token_env": "OPENCLAW_GATEWAY_TOKEN"$upstream_max
  },
  "clients": [{"id": "bench", "token_sha256": "$client_sha256", "roles": ["agent"]}],
  "policy_file": "$root/policies/default.json",
  "audit": {"file": "$dir/audit.jsonl", "fsync": "$fsync", "hmac_key_env": "CLAWGATE_AUDIT_KEY"},
  "approvals": {"state_file": "$dir/approvals.jsonl"},
  $limits
  "threads": $threads
}
EOF
}

# wait_ready PID PORT SECONDS LOG: waits for clawgate (PID) to answer /readyz on PORT; dies with
# its LOG when it exits first or is not ready within SECONDS.
wait_ready() {
  wait_for "$3" clawgate "$1" "$4" curl -sf -o /dev/null "http://127.0.0.1:$2/readyz"
}

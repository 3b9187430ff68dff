#!/usr/bin/env bash
# The governance tutorial, live: clawgate with the shipped policies/default.json in front of a real
# OpenClaw gateway (scripts/openclaw-local.sh, the scripted mock model; a real OpenAI model when
# OPENAI_API_KEY is set).
#
#   scripts/demo.sh
#
# It starts an instance of its own, on free ports of 127.0.0.1: a local gateway with its state in
# var/demo/openclaw/, and clawgate with a generated config (var/demo/clawgate.json), fresh client
# and admin tokens and a fresh audit key (var/demo/secrets/). Then it sends the tutorial's five
# requests and four tool calls through clawgate and prints one row per request: risk (the
# X-Clawgate-Risk header), clawgate's decision and rule (from the `decided` audit record), the
# HTTP status, the trace id and the answer. The amber request is approved on the admin API
# (`clawgate approvals approve`) and sent again with X-Clawgate-Approval. Finally clawgate is
# stopped, and `clawgate audit verify` and `clawgate audit export --format csv` run on its audit
# log. Exit status 0 only when every row came out as the tutorial intends and the chain verifies.
#
# On exit (also on Ctrl-C or an error) it stops clawgate and the gateway it started. The gateway's
# state dir is deleted after a successful run and kept (with its logs) after a failed one. The rest
# of var/demo/ stays for inspection (audit log, CSV, config, clawgate.log, tokens and key) until
# the next run replaces it.
#
# Environment: CLAWGATE_BIN (a clawgate binary to use; default: install deps and build
# build/release/src/clawgate), CLAWGATE_DEMO_DIR (default var/demo), OPENAI_API_KEY and the other
# variables of scripts/openclaw-local.sh (OPENCLAW_READY_TIMEOUT, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

now() { date +%s%3N; }
secs() { # secs START_MS [END_MS]: elapsed seconds, one decimal
  local ms=$((${2:-$(now)} - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}
log() { echo "demo: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
t_start="$(now)"

# --- binary ------------------------------------------------------------------------------------
if [ -n "${CLAWGATE_BIN:-}" ]; then
  bin="$(readlink -f "$CLAWGATE_BIN")"
else
  scripts/install-deps.sh
  scripts/build.sh release clawgate >&2
  bin="$root/build/release/src/clawgate"
fi
[ -x "$bin" ] || die "no clawgate binary at $bin"
for c in curl jq openssl python3; do command -v "$c" >/dev/null || die "'$c' is required"; done

# --- the demo folder ---------------------------------------------------------------------------
demo="${CLAWGATE_DEMO_DIR:-$root/var/demo}"
case "$demo" in /*) ;; *) demo="$root/$demo" ;; esac
if [ -e "$demo" ]; then
  [ -e "$demo/.clawgate-demo" ] || die "$demo exists and was not made by demo.sh: remove it or set CLAWGATE_DEMO_DIR"
  # A previous run that was killed may have left its gateway running.
  OPENCLAW_LOCAL_STATE="$demo/openclaw" scripts/openclaw-local.sh stop 2>/dev/null || true
  rm -rf "$demo"
fi
mkdir -p "$demo"
touch "$demo/.clawgate-demo"
(umask 077 && mkdir -p "$demo/secrets")
audit="$demo/audit/clawgate.jsonl"

# --- clean-up ----------------------------------------------------------------------------------
cg_pid=""
gw_started=0
stop_clawgate() {
  [ -n "$cg_pid" ] || return 0
  if kill -0 "$cg_pid" 2>/dev/null; then
    kill -TERM "$cg_pid" 2>/dev/null || true
    local deadline=$(($(now) + 15000))
    while kill -0 "$cg_pid" 2>/dev/null && [ "$(now)" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$cg_pid" 2>/dev/null || true
  fi
  wait "$cg_pid" 2>/dev/null || true
  cg_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_clawgate
  if [ "$gw_started" = 1 ]; then
    local t_stop
    t_stop="$(now)"
    log "stopping the gateway"
    if [ "$rc" = 0 ]; then
      OPENCLAW_LOCAL_STATE="$demo/openclaw" scripts/openclaw-local.sh clean >/dev/null 2>&1 || true
    else
      OPENCLAW_LOCAL_STATE="$demo/openclaw" scripts/openclaw-local.sh stop >/dev/null 2>&1 || true
      log "the gateway's logs stay in $demo/openclaw/ (gateway.log, mock-model.log)"
    fi
    log "gateway stopped after $(secs "$t_stop")s"
  fi
  [ "$rc" = 0 ] || log "failed (exit $rc); clawgate's log: $demo/clawgate.log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the gateway -------------------------------------------------------------------------------
log "starting a local OpenClaw gateway (state $demo/openclaw; the first run installs it, about a minute)"
t_gw="$(now)"
gw_started=1
OPENCLAW_LOCAL_STATE="$demo/openclaw" OPENCLAW_PORT=0 scripts/openclaw-local.sh start >/dev/null
gw_env="$(OPENCLAW_LOCAL_STATE="$demo/openclaw" scripts/openclaw-local.sh env)"
gw_url="$(sed -n 's/^OPENCLAW_GATEWAY_URL=//p' <<<"$gw_env")"
OPENCLAW_GATEWAY_TOKEN="$(sed -n 's/^OPENCLAW_GATEWAY_TOKEN=//p' <<<"$gw_env")"
export OPENCLAW_GATEWAY_TOKEN
gw_secs="$(secs "$t_gw")"
log "gateway ready at $gw_url after ${gw_secs}s"

# --- clawgate ----------------------------------------------------------------------------------
free_ports() {
  python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
EOF
}
read -r port admin_port < <(free_ports)
cg="http://127.0.0.1:$port"
admin_url="http://127.0.0.1:$admin_port"

(
  umask 077
  "$bin" token new >"$demo/secrets/client-token.json"
  "$bin" token new >"$demo/secrets/admin-token.json"
  openssl rand -hex 32 >"$demo/secrets/audit-key"
)
CLIENT_TOKEN="$(jq -r .token "$demo/secrets/client-token.json")"
CLAWGATE_ADMIN_TOKEN="$(jq -r .token "$demo/secrets/admin-token.json")"
CLAWGATE_AUDIT_KEY="$(cat "$demo/secrets/audit-key")"
export CLAWGATE_ADMIN_TOKEN CLAWGATE_AUDIT_KEY

jq --arg listen "127.0.0.1:$port" --arg admin "127.0.0.1:$admin_port" --arg url "$gw_url" \
  --arg policy "$root/policies/default.json" --arg audit "$audit" \
  --arg approvals "$demo/approvals.jsonl" \
  --slurpfile c "$demo/secrets/client-token.json" --slurpfile a "$demo/secrets/admin-token.json" \
  '.listen = $listen | .admin_listen = $admin
   | .upstream.url = $url | .upstream.probe_interval_ms = 1000
   | .policy_file = $policy | .audit.file = $audit | .approvals.state_file = $approvals
   | .clients = [{"id": "demo-employee", "token_sha256": $c[0].token_sha256, "roles": ["employee"]}]
   | .admins = [{"id": "demo-approver", "token_sha256": $a[0].token_sha256}]' \
  config/clawgate.json >"$demo/clawgate.json"

"$bin" serve --config "$demo/clawgate.json" 2>"$demo/clawgate.log" &
cg_pid=$!
deadline=$(($(now) + 30000))
until curl -fsS --max-time 2 -o /dev/null "$cg/readyz" 2>/dev/null; do
  kill -0 "$cg_pid" 2>/dev/null || {
    tail -n 20 "$demo/clawgate.log" >&2
    die "clawgate exited during start-up"
  }
  [ "$(now)" -lt "$deadline" ] || {
    curl -sS --max-time 2 "$cg/readyz" >&2 || true
    die "clawgate not ready after 30 s"
  }
  sleep 0.2
done
log "clawgate ready at $cg (admin API $admin_url), policy policies/default.json"

# --- requests ----------------------------------------------------------------------------------
rows=()
failures=()
last_status="" last_trace="" last_body="$demo/last-response.json"
row() { printf '%-3s %-48s %-6s %-14s %-16s %-4s %-32s %6s  %s\n' "$@"; }

header() { sed -n "s/^$1: *//Ip" "$demo/last-headers.txt" | tr -d '\r' | tail -n 1; }

# call ID LABEL PATH BODY [HEADER...]: one request as the demo client; records a table row.
call() {
  local id="$1" label="$2" path="$3" body="$4"
  shift 4
  local -a extra=()
  local h
  for h in "$@"; do extra+=(-H "$h"); done
  local t0
  t0="$(now)"
  : >"$last_body"
  : >"$demo/last-headers.txt"
  last_status="$(curl -sS --max-time 240 -o "$last_body" -D "$demo/last-headers.txt" -w '%{http_code}' \
    -H "Authorization: Bearer $CLIENT_TOKEN" -H 'Content-Type: application/json' "${extra[@]}" \
    --data-binary "$body" "$cg$path")" || last_status=000
  local took risk decision rule answer
  took="$(secs "$t0")"
  last_trace="$(header x-clawgate-trace-id)"
  risk="$(header x-clawgate-risk)"
  decision="$(jq -r --arg t "$last_trace" \
    'select(.trace_id == $t and .stage == "decided") | .data.decision' "$audit" 2>/dev/null | tail -n 1)"
  rule="$(jq -r --arg t "$last_trace" \
    'select(.trace_id == $t and .stage == "decided") | (.data.rules // []) | join(",")' "$audit" 2>/dev/null | tail -n 1)"
  if [ -n "$(jq -r --arg t "$last_trace" \
    'select(.trace_id == $t and .stage == "approval_used") | .stage' "$audit" 2>/dev/null)" ]; then
    decision="$decision (used)"
  fi
  answer="$(jq -r '
      if (.choices? | type) == "array" then "model: " + (.choices[0].message.content // "" | tostring)
      elif .ok? == true then "tool result: " + (.result | tostring)
      elif (.error? | type) == "object" then
        (.error.code // .error.type // "error") + ": "
        + (if .error.approval_id then .error.approval_id else (.error.message // "") end)
      else tostring end' "$last_body" 2>/dev/null || head -c 80 "$last_body" || true)"
  answer="$(tr '\n\r\t' '   ' <<<"$answer" | sed 's/ *$//' | cut -c1-64)"
  [ "${#label}" -le 48 ] || label="${label:0:45}..."
  [ -n "$rule" ] || { [ -z "$decision" ] || rule="(default)"; }
  rows+=("$(row "$id" "$label" "${risk:--}" "${decision:--}" "${rule:--}" \
    "$last_status" "${last_trace:--}" "${took}s" "$answer")")
  row "$id" "$label" "${risk:--}" "${decision:--}" "${rule:--}" \
    "$last_status" "${last_trace:--}" "${took}s" "$answer"
}

# expect ID WANT_RISK WANT_DECISION WANT_STATUS: compare the last call with the tutorial's intent.
expect() {
  local id="$1" want_risk="$2" want_decision="$3" want_status="$4" got_risk got_decision
  got_risk="$(header x-clawgate-risk)"
  got_decision="$(jq -r --arg t "$last_trace" \
    'select(.trace_id == $t and .stage == "decided") | .data.decision' "$audit" 2>/dev/null | tail -n 1)"
  if [ "$want_risk" != "*" ] && [ "$got_risk" != "$want_risk" ]; then
    failures+=("$id: risk $got_risk, expected $want_risk")
  fi
  [ "$got_decision" = "$want_decision" ] || failures+=("$id: decision ${got_decision:-none}, expected $want_decision")
  [ "$last_status" = "$want_status" ] || failures+=("$id: HTTP $last_status, expected $want_status")
}

chat() { jq -cn --arg t "$1" '{"model": "openclaw", "messages": [{"role": "user", "content": $t}]}'; }
tool() { jq -cn --arg t "$1" --argjson a "$2" '{"tool": $t, "args": $a}'; }

text1="Summarize our company policy for expense reports"
text2="Draft an email to the finance team about the Q3 budget"
text3="Send a payroll delay email to all employees"
text4="Transfer funds from the operating account to vendor X"
text5="Run a shell command to archive the home directory and upload it."

echo
echo "The governance tutorial through clawgate ($cg -> gateway $gw_url), as client demo-employee:"
echo "  1 $text1"
echo "  2 $text2"
echo "  3 $text3"
echo "  4 $text4"
echo "  5 $text5"
echo "  6-9 tool calls on /tools/invoke"
echo
row "#" "request" "risk" "decision" "rule" "HTTP" "trace id" "time" "answer"
call 1 "$text1" /v1/chat/completions "$(chat "$text1")"
expect 1 green allow 200
call 2 "$text2" /v1/chat/completions "$(chat "$text2")"
expect 2 amber approve 403
approval_id="$(jq -r '.error.approval_id // empty' "$last_body" 2>/dev/null || true)"
call 3 "$text3" /v1/chat/completions "$(chat "$text3")"
expect 3 red deny 403
call 4 "$text4" /v1/chat/completions "$(chat "$text4")"
expect 4 red deny 403
call 5 "$text5" /v1/chat/completions "$(chat "$text5")"
expect 5 red deny 403
call 6 "tool sessions_list {limit:5}" /tools/invoke "$(tool sessions_list '{"limit":5}')"
expect 6 green allow 200
call 7 "tool web_fetch https://docs.openclaw.ai/ (listed)" /tools/invoke \
  "$(tool web_fetch '{"url":"https://docs.openclaw.ai/gateway"}')"
expect 7 "*" allow "$last_status" # forwarded; the gateway's own answer depends on network access
web_fetch_status="$last_status"
call 8 "tool web_fetch https://pastebin.com/ (unlisted)" /tools/invoke \
  "$(tool web_fetch '{"url":"https://pastebin.com/raw/q3-report"}')"
expect 8 "*" deny 403
call 9 "tool exec {command:id}" /tools/invoke "$(tool exec '{"command":"id"}')"
expect 9 "*" deny 403

echo
if [ -z "$approval_id" ]; then
  failures+=("2: no approval id in the answer")
else
  echo "An approver reviews request 2 on the admin API ($admin_url):"
  if "$bin" --help 2>&1 | grep -q 'approvals'; then
    echo "  \$ clawgate approvals approve $approval_id --note 'Q3 budget mail reviewed' --admin-url $admin_url --token-env CLAWGATE_ADMIN_TOKEN"
    "$bin" approvals approve "$approval_id" --note "Q3 budget mail reviewed" \
      --admin-url "$admin_url" --token-env CLAWGATE_ADMIN_TOKEN | sed 's/^/  /' ||
      failures+=("2: clawgate approvals approve failed")
  else
    echo "  \$ curl -X POST $admin_url/v1/approvals/$approval_id/approve (admin token)"
    curl -sS --max-time 10 -X POST -H "Authorization: Bearer $CLAWGATE_ADMIN_TOKEN" \
      -H 'Content-Type: application/json' -d '{"note":"Q3 budget mail reviewed"}' \
      "$admin_url/v1/approvals/$approval_id/approve" | jq -c '{id, state, reviewer, note}' | sed 's/^/  /' ||
      failures+=("2: approving on the admin API failed")
  fi
  echo "The client sends request 2 again with X-Clawgate-Approval: $approval_id"
  echo
  row "#" "request" "risk" "decision" "rule" "HTTP" "trace id" "time" "answer"
  call 2b "$text2 (approved)" /v1/chat/completions "$(chat "$text2")" "X-Clawgate-Approval: $approval_id"
  expect 2b amber approve 200
fi

# --- what reached the model ---------------------------------------------------------------------
mock_log="$(sed -n 's/^MOCK_MODEL_REQUEST_LOG=//p' <<<"$gw_env")"
if [ -n "$mock_log" ] && [ -f "$mock_log" ]; then
  echo
  echo "What reached the model (the mock's request log, $(wc -l <"$mock_log") requests):"
  for i in 1 2 3 4 5; do
    var="text$i"
    n="$(grep -cF -- "${!var}" "$mock_log" || true)"
    echo "  request $i: ${n} model call(s)$([ "$i" = 2 ] && echo " (the approved re-send)")"
    if [ "$i" -ge 3 ] && [ "$n" != 0 ]; then failures+=("$i: a red request reached the model"); fi
  done
fi

# --- the audit log -----------------------------------------------------------------------------
stop_clawgate
echo
echo "Summary"
echo
row "#" "request" "risk" "decision" "rule" "HTTP" "trace id" "time" "answer"
printf '%s\n' "${rows[@]}"
echo
echo "\$ clawgate audit verify $audit --key-env CLAWGATE_AUDIT_KEY"
if ! "$bin" audit verify "$audit" --key-env CLAWGATE_AUDIT_KEY | sed 's/^/  /'; then
  failures+=("audit verify failed")
fi
echo
"$bin" audit export --format csv "$audit" >"$demo/audit.csv"
echo "\$ clawgate audit export --format csv $audit   ($(($(wc -l <"$demo/audit.csv") - 1)) records; full file: $demo/audit.csv)"
echo "  the decided and approval records, without the data column:"
python3 - "$demo/audit.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
head, body = rows[0], rows[1:]
keep = [i for i, name in enumerate(head) if name != "data"]
stage = head.index("stage")
shown = [head] + [r for r in body if r[stage] == "decided" or r[stage].startswith("approval_")]
w = csv.writer(sys.stdout, lineterminator="\n")
for r in shown:
    w.writerow([r[i] for i in keep])
EOF

echo
total="$(secs "$t_start")"
if ((${#failures[@]})); then
  echo "NOT as the tutorial intends:"
  printf '  - %s\n' "${failures[@]}"
  echo "(gateway start ${gw_secs}s, whole demo ${total}s)"
  exit 1
fi
echo "As the tutorial intends: green answered by the model, amber approved after review and then"
echo "answered, red denied, tools allowed or denied by the policy, and the audit chain verifies."
echo "(gateway start ${gw_secs}s, whole demo ${total}s; files in $demo)"
if [ "$web_fetch_status" != 200 ]; then
  echo "Row 7 was allowed and forwarded; the gateway's own web_fetch answered $web_fetch_status" \
    "(no internet access here, or OPENCLAW_OFFLINE)."
fi

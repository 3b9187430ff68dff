#!/usr/bin/env bash
# Installs everything, builds clawgate (Release) and serves it in front of an OpenClaw gateway.
#
#   scripts/run.sh                                   # starts a local gateway first (see below)
#   OPENCLAW_GATEWAY_TOKEN=… [OPENCLAW_GATEWAY_URL=…] scripts/run.sh   # a gateway you already have
#
# Which gateway:
# - OPENCLAW_GATEWAY_TOKEN set: that gateway, at OPENCLAW_GATEWAY_URL (default
#   http://127.0.0.1:18789). Nothing else is started.
# - Neither set: `scripts/openclaw-local.sh start` runs a local gateway on 127.0.0.1 (state in
#   var/openclaw/; the scripted mock model, or a real OpenAI model when OPENAI_API_KEY is set;
#   OPENCLAW_LOCAL_STATE and the script's other variables apply), and clawgate uses the URL and
#   token that `openclaw-local.sh env` prints. When clawgate stops (Ctrl-C or SIGTERM to this
#   script), a gateway this script started is stopped too; one that was already running is left
#   running. CLAWGATE_KEEP_GATEWAY=1 leaves it running in both cases.
# - OPENCLAW_GATEWAY_URL without OPENCLAW_GATEWAY_TOKEN is an error.
#
# CLAWGATE_BIN=/path/to/clawgate skips the build and serves with that binary.
#
# Tokens: when config/clawgate.json lists no clients, a client token and an admin token are made
# once (var/secrets/, mode 0700) and printed. The audit HMAC key is var/secrets/audit-key. The
# served file is config/local.json: config/clawgate.json with the gateway URL and, when it had no
# clients, the digests of those two tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

log() { echo "run.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

scripts/install-deps.sh
if [ -n "${CLAWGATE_BIN:-}" ]; then
  bin="$(readlink -f "$CLAWGATE_BIN")" # a binary you built or installed; no build
else
  scripts/build.sh release clawgate
  bin="$root/build/release/src/clawgate"
fi
[ -x "$bin" ] || die "no clawgate binary at $bin"

# --- the gateway -------------------------------------------------------------------------------
started_gateway=0
if [ -n "${OPENCLAW_GATEWAY_TOKEN:-}" ]; then
  export OPENCLAW_GATEWAY_URL="${OPENCLAW_GATEWAY_URL:-http://127.0.0.1:18789}"
  log "using the gateway at $OPENCLAW_GATEWAY_URL (OPENCLAW_GATEWAY_TOKEN from the environment)"
elif [ -n "${OPENCLAW_GATEWAY_URL:-}" ]; then
  die "OPENCLAW_GATEWAY_URL is set but OPENCLAW_GATEWAY_TOKEN is not: give the gateway's token too"
else
  if scripts/openclaw-local.sh status >/dev/null 2>&1; then
    log "a local gateway is already running (${OPENCLAW_LOCAL_STATE:-var/openclaw}); using it and leaving it running"
  else
    log "no OPENCLAW_GATEWAY_TOKEN: starting a local gateway (scripts/openclaw-local.sh start;" \
      "the first start installs Node and openclaw, about a minute)"
    scripts/openclaw-local.sh start >/dev/null
    started_gateway=1
  fi
  gateway_env="$(scripts/openclaw-local.sh env)" || die "the local gateway is not running"
  OPENCLAW_GATEWAY_URL="$(sed -n 's/^OPENCLAW_GATEWAY_URL=//p' <<<"$gateway_env")"
  OPENCLAW_GATEWAY_TOKEN="$(sed -n 's/^OPENCLAW_GATEWAY_TOKEN=//p' <<<"$gateway_env")"
  export OPENCLAW_GATEWAY_URL OPENCLAW_GATEWAY_TOKEN
fi

# shellcheck disable=SC2317 # called by the EXIT trap
stop_gateway() {
  if [ "$started_gateway" = 1 ] && [ "${CLAWGATE_KEEP_GATEWAY:-0}" != 1 ]; then
    started_gateway=0
    log "stopping the local gateway this script started"
    scripts/openclaw-local.sh stop || true
  fi
}
trap stop_gateway EXIT

# --- secrets and config ------------------------------------------------------------------------
umask 077
mkdir -p var/secrets
[ -s var/secrets/audit-key ] || openssl rand -hex 32 >var/secrets/audit-key
CLAWGATE_AUDIT_KEY="$(cat var/secrets/audit-key)"
export CLAWGATE_AUDIT_KEY

base="config/clawgate.json"
config="config/local.json"
own_tokens=0
if [ "$(jq '.clients | length' "$base")" = "0" ]; then
  own_tokens=1
  [ -s var/secrets/client-token.json ] || "$bin" token new >var/secrets/client-token.json
  [ -s var/secrets/admin-token.json ] || "$bin" token new >var/secrets/admin-token.json
  jq --arg url "$OPENCLAW_GATEWAY_URL" \
    --slurpfile c var/secrets/client-token.json --slurpfile a var/secrets/admin-token.json \
    '.upstream.url = $url
     | .clients = [{"id": "local-employee", "token_sha256": $c[0].token_sha256, "roles": ["employee"]}]
     | .admins = [{"id": "local-admin", "token_sha256": $a[0].token_sha256}]' \
    "$base" >"$config.tmp"
else
  jq --arg url "$OPENCLAW_GATEWAY_URL" '.upstream.url = $url' "$base" >"$config.tmp"
fi
mv "$config.tmp" "$config"

listen="$(jq -r .listen "$config")"
admin_listen="$(jq -r '.admin_listen // empty' "$config")"
audit_file="$(jq -r .audit.file "$config")"
case "$audit_file" in /*) ;; *) audit_file="$(realpath -m "config/$audit_file")" ;; esac

# --- serve -------------------------------------------------------------------------------------
# clawgate runs as a child so that the EXIT trap can stop the gateway after it. Ctrl-C reaches
# clawgate directly (it handles SIGINT as SIGTERM: graceful drain, limits.drain_timeout_ms) and
# through the INT trap below; SIGTERM to this script is passed on by the TERM trap.
"$bin" serve --config "$config" &
pid=$!
# shellcheck disable=SC2317 # called by the INT and TERM traps
forward() { kill -TERM "$pid" 2>/dev/null || true; }
trap forward INT TERM

# The banner once clawgate listens (bounded wait; /healthz needs no token).
deadline=$(($(date +%s) + 30))
until curl -fsS --max-time 2 -o /dev/null "http://$listen/healthz" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || break
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  ready="$(curl -sS --max-time 3 "http://$listen/readyz" 2>/dev/null | jq -c . 2>/dev/null || echo '"no answer"')"
  {
    echo
    echo "  clawgate      http://$listen  ->  gateway $OPENCLAW_GATEWAY_URL"
    echo "  /readyz       $ready"
    if [ -n "$admin_listen" ]; then
      echo "  admin API     http://$admin_listen  (admin tokens only)"
    else
      echo "  admin API     none (no admin_listen in $base)"
    fi
    echo "  config        $config  (audit log $audit_file)"
    if [ "$own_tokens" = 1 ]; then
      client_token="$(jq -r .token var/secrets/client-token.json)"
      echo "  client token  $client_token  (var/secrets/client-token.json)"
      echo "  admin token   $(jq -r .token var/secrets/admin-token.json)  (var/secrets/admin-token.json)"
      echo
      echo "  Try it:"
      echo "    curl -s http://$listen/v1/chat/completions \\"
      echo "      -H 'Authorization: Bearer $client_token' -H 'Content-Type: application/json' \\"
      echo "      -d '{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'"
      if [ -n "$admin_listen" ]; then
        echo "    export CLAWGATE_ADMIN_TOKEN=\$(jq -r .token var/secrets/admin-token.json)"
        echo "    $bin approvals list --state pending --admin-url http://$admin_listen --token-env CLAWGATE_ADMIN_TOKEN"
      fi
    else
      echo "  clients       from $base (their tokens are yours: the config holds only digests)"
    fi
    echo
    if [ "$started_gateway" = 1 ] && [ "${CLAWGATE_KEEP_GATEWAY:-0}" != 1 ]; then
      echo "  Ctrl-C stops clawgate, then the local gateway this script started."
    else
      echo "  Ctrl-C stops clawgate."
    fi
    echo
  } >&2
fi

status=0
while :; do
  wait "$pid" && status=0 || status=$?
  # wait returns > 128 when a trapped signal interrupted it; clawgate itself may still run.
  kill -0 "$pid" 2>/dev/null || break
done
trap - INT TERM
exit "$status"

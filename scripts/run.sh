#!/usr/bin/env bash
# Installs everything, builds clawgate (Release) and serves it with config/clawgate.json in front
# of the OpenClaw gateway at OPENCLAW_GATEWAY_URL (default http://127.0.0.1:18789), authenticating
# to it with OPENCLAW_GATEWAY_TOKEN.
#
# When config/clawgate.json lists no clients, a local client token and admin token are made once
# (var/secrets/, mode 0700) and config/local.json is written with their SHA-256 digests; the
# tokens are printed so you can point an agent at clawgate.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

scripts/install-deps.sh
scripts/build.sh release clawgate
bin="$root/build/release/src/clawgate"

if [ -z "${OPENCLAW_GATEWAY_TOKEN:-}" ]; then
  echo "run.sh: set OPENCLAW_GATEWAY_TOKEN to your gateway's token (and OPENCLAW_GATEWAY_URL if it" >&2
  echo "        is not http://127.0.0.1:18789). Starting a local gateway is not automated yet." >&2
  exit 1
fi

umask 077
mkdir -p var/secrets
[ -s var/secrets/audit-key ] || openssl rand -hex 32 > var/secrets/audit-key
export CLAWGATE_AUDIT_KEY="$(cat var/secrets/audit-key)"

config="config/clawgate.json"
if [ "$(jq '.clients | length' "$config")" = "0" ]; then
  [ -s var/secrets/client-token.json ] || "$bin" token new > var/secrets/client-token.json
  [ -s var/secrets/admin-token.json ] || "$bin" token new > var/secrets/admin-token.json
  jq --arg url "${OPENCLAW_GATEWAY_URL:-http://127.0.0.1:18789}" \
     --slurpfile c var/secrets/client-token.json --slurpfile a var/secrets/admin-token.json \
     '.upstream.url = $url
      | .clients = [{"id": "local-employee", "token_sha256": $c[0].token_sha256, "roles": ["employee"]}]
      | .admins = [{"id": "local-admin", "token_sha256": $a[0].token_sha256}]' \
     "$config" > config/local.json
  config="config/local.json"
  echo "run.sh: client token: $(jq -r .token var/secrets/client-token.json)  (var/secrets/client-token.json)"
  echo "run.sh: admin token:  $(jq -r .token var/secrets/admin-token.json)  (var/secrets/admin-token.json)"
fi

exec "$bin" serve --config "$config"

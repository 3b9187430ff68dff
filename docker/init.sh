#!/usr/bin/env bash
# Prepares docker/ for `docker compose -f docker/compose.yaml up` (docs/deploying.md). Idempotent:
# existing secrets are kept.
#   docker/.env                 OPENCLAW_GATEWAY_TOKEN and CLAWGATE_AUDIT_KEY (fresh random values;
#                               compose reads this file; mode 0600)
#   docker/secrets/client-token a clawgate client token (role employee) and
#   docker/secrets/admin-token  an admin token, each `cgt_` + 64 hex digits (mode 0600)
#   docker/config.local.json    docker/config.json with those tokens' SHA-256 digests in
#                               `clients` and `admins` (mode 0644: the container user reads it;
#                               digests are not secrets)
# Needs bash, openssl, sha256sum and sed.
set -euo pipefail
cd "$(dirname "$0")"
umask 077

if [ ! -s .env ]; then
  {
    echo "# made by docker/init.sh; keep it secret. OPENCLAW_MODEL=openai and OPENAI_API_KEY=… select a real model."
    echo "OPENCLAW_GATEWAY_TOKEN=$(openssl rand -hex 32)"
    echo "CLAWGATE_AUDIT_KEY=$(openssl rand -hex 32)"
  } >.env
  echo "init.sh: wrote docker/.env" >&2
fi

mkdir -p secrets
for who in client admin; do
  [ -s "secrets/$who-token" ] || echo "cgt_$(openssl rand -hex 32)" >"secrets/$who-token"
done
digest() { printf %s "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
client_sha="$(digest secrets/client-token)"
admin_sha="$(digest secrets/admin-token)"

sed -e "s|\"clients\": \[\]|\"clients\": [{\"id\": \"employee-1\", \"token_sha256\": \"$client_sha\", \"roles\": [\"employee\"]}]|" \
  -e "s|\"admins\": \[\]|\"admins\": [{\"id\": \"admin-1\", \"token_sha256\": \"$admin_sha\"}]|" \
  config.json >config.local.json.tmp
if ! grep -q "$client_sha" config.local.json.tmp || ! grep -q "$admin_sha" config.local.json.tmp; then
  rm -f config.local.json.tmp
  echo "init.sh: docker/config.json no longer has empty \"clients\": [] and \"admins\": [] lines" >&2
  exit 1
fi
chmod 644 config.local.json.tmp
mv config.local.json.tmp config.local.json

cat <<MSG
init.sh: docker/config.local.json lists client employee-1 and admin admin-1.
  client token  $(cat secrets/client-token)   (docker/secrets/client-token)
  admin token   $(cat secrets/admin-token)   (docker/secrets/admin-token)
Next: docker compose -f docker/compose.yaml up -d --build
MSG

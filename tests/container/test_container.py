#!/usr/bin/env python3
"""Container tests: the image built from docker/Dockerfile, run with podman in front of the REAL
OpenClaw gateway (standard library only).

    tests/container/test_container.py --clawgate build/release/src/clawgate [--keep]

The image must exist already: `scripts/container.sh build` makes it (scripts/test.sh runs that
before ctest, outside ctest's time limit). A missing image or podman is a failure, not a skip.
CLAWGATE_SKIP_CONTAINER=1 skips everything with a loud message and exit code 77 (ctest:
SKIP_RETURN_CODE).

What it does, all on 127.0.0.1 and in one fresh temporary folder:
  1. Checks the image itself: runs as uid 10001, has the /readyz HEALTHCHECK, holds no compiler or
     build tool, no source and no secret (environment, history, files), and stays small.
  2. Starts a local gateway (scripts/openclaw-local.sh, as the e2e test does: own state dir, free
     ports, the scripted mock model whose request log shows what reached "the model").
  3. Runs the image as the sidecar: `podman run --network host` (runc, no default ulimits: the
     settings scripts/container.sh writes), a config mounted read-only at
     /etc/clawgate/config.json that listens on a free port, a host folder owned by uid 10001
     mounted at /var/lib/clawgate, the gateway token and the audit key passed by name from the
     environment (`-e NAME`), so that they are on no command line.
  4. The cases below, in order; then `podman stop` (SIGTERM: exit 0 expected), the host's
     `clawgate audit verify` on the audit log in the mounted folder, and clean-up: containers
     removed and the gateway stopped, always, with bounded waits.

CLAWGATE_CONTAINER_KEEP=1 (or --keep) keeps the temporary folder; it is kept anyway after a failure.
CLAWGATE_IMAGE names the image (default localhost/clawgate:dev).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
# The gateway handling (openclaw-local.sh start/stop, orphan clean-up, the mock's request log) and
# the HTTP helpers are the e2e test's.
import test_openclaw_e2e as e2e  # noqa: E402

SKIP_CODE = 77
RUNTIME_UID = 10001
MAX_IMAGE_BYTES = 160 * 1000 * 1000  # 95 MB measured; a build tool or a -dev package would show
START_S = 90
STOP_S = 45  # podman stop -t 30: drain_timeout_ms is 10 s
PODMAN_S = 120
CLIENT_ID = "container-employee"
ADMIN_ID = "container-approver"


def log(msg):
    print(f"container: {msg}", file=sys.stderr, flush=True)


def wait_ready(proxy, seconds, running, interval):
    """Polls GET /readyz on `proxy`: True once it answers 200, False once `running()` is false
    or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if e2e.request(proxy, "GET", "/readyz", timeout=5).status == 200:
                return True
        except OSError:
            pass
        if time.monotonic() > deadline or not running():
            return False
        time.sleep(interval)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Podman:
    """podman with the machine's settings (runc, no default ulimits: scripts/container.sh conf)."""

    def __init__(self):
        r = subprocess.run([os.path.join(REPO, "scripts", "container.sh"), "conf"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("scripts/container.sh conf failed: " + r.stderr)
        self.conf = r.stdout.strip()

    def env(self, extra=None):
        env = dict(os.environ)
        env["CONTAINERS_CONF"] = self.conf
        env.update(extra or {})
        return env

    def __call__(self, *args, env=None, timeout=PODMAN_S, check=False):
        r = subprocess.run(["podman", *args], env=self.env(env), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args[:3])} … failed ({r.returncode}):\n"
                               f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r


def stderr_without_podman_noise(text):
    """podman logs `level=error msg="unable to get systemd connection …"` when an image has a
    HEALTHCHECK and systemd is not running (no timer for it); that is podman's, not clawgate's."""
    return "\n".join(line for line in text.splitlines()
                     if "unable to get systemd connection" not in line)


class Env:
    def __init__(self, clawgate, image, keep):
        self.clawgate = os.path.abspath(clawgate)
        self.image = image
        self.keep = keep
        self.podman = Podman()
        # The e2e test's environment, for its gateway handling only (its own clawgate stays off).
        self.gw = e2e.Env(self.clawgate, keep, os.path.join(REPO, "policies", "default.json"))
        self.tmp = self.gw.tmp
        self.data = os.path.join(self.tmp, "data")
        self.audit_file = os.path.join(self.data, "audit", "clawgate.jsonl")
        self.audit_key = secrets.token_hex(32)
        self.name = f"clawgate-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.containers = []  # names to remove at the end
        self.container_started = False
        self.exit_code = None
        self.failed = False
        self.timings = self.gw.timings

    # -- the sidecar ----------------------------------------------------------------------------
    def write_config(self, path, **overrides):
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "admin_listen": f"127.0.0.1:{self.admin_port}",
            "upstream": {"url": self.gw.gateway_url, "token_env": "OPENCLAW_GATEWAY_TOKEN",
                         "connect_timeout_ms": 5000, "timeout_ms": 170000,
                         "stream_idle_timeout_ms": 170000, "probe_path": "/readyz",
                         "probe_interval_ms": 1000, "serialize_sessions": True},
            "clients": [{"id": CLIENT_ID, "token_sha256": self.client_sha, "roles": ["employee"]}],
            "admins": [{"id": ADMIN_ID, "token_sha256": self.admin_sha}],
            # The image's own copy of the shipped policy.
            "policy_file": "/etc/clawgate/policies/default.json",
            "audit": {"file": "/var/lib/clawgate/audit/clawgate.jsonl", "fsync": "always",
                      "hmac_key_env": "CLAWGATE_AUDIT_KEY", "include_bodies": True,
                      "preview_chars": 500},
            "approvals": {"ttl_s": 900, "hold_s": 0,
                          "state_file": "/var/lib/clawgate/approvals.jsonl"},
        }
        config.update(overrides)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        os.chmod(path, 0o644)  # the container's user reads it; digests are not secrets

    def secret_env(self):
        return {"OPENCLAW_GATEWAY_TOKEN": self.gw.gateway_token,
                "CLAWGATE_AUDIT_KEY": self.audit_key}

    def start_container(self):
        t0 = time.monotonic()
        for who in ("client", "admin"):
            tok = self.gw.new_token()
            setattr(self, f"{who}_token", tok["token"])
            setattr(self, f"{who}_sha", tok["token_sha256"])
        self.port, self.admin_port = free_port(), free_port()
        self.config_file = os.path.join(self.tmp, "clawgate.json")
        self.write_config(self.config_file)
        # The audit folder as a user must prepare it: owned by the image's uid, private.
        os.makedirs(self.data, mode=0o700)
        os.chown(self.data, RUNTIME_UID, RUNTIME_UID)
        self.containers.append(self.name)
        r = self.podman(
            "run", "-d", "--name", self.name, "--network", "host",
            "-v", f"{self.config_file}:/etc/clawgate/config.json:ro",
            "-v", f"{self.data}:/var/lib/clawgate",
            # The values come from podman's environment: no secret on a command line.
            "-e", "OPENCLAW_GATEWAY_TOKEN", "-e", "CLAWGATE_AUDIT_KEY",
            "-e", f"CLAWGATE_HEALTH_PORT={self.port}", "-e", "CLAWGATE_LOG_LEVEL=info",
            self.image, env=self.secret_env())
        if r.returncode != 0:
            raise RuntimeError(f"podman run failed ({r.returncode}):\n{r.stderr[-3000:]}")
        self.container_started = True
        self.proxy = ("127.0.0.1", self.port)
        if not wait_ready(self.proxy, START_S, self.running, 0.3):
            raise RuntimeError("the container did not turn ready:\n" + self.logs())
        self.timings["container start"] = time.monotonic() - t0
        log(f"container {self.name} ready on 127.0.0.1:{self.port} after "
            f"{self.timings['container start']:.1f}s")

    def inspect(self, fmt):
        return self.podman("inspect", "--format", fmt, self.name, timeout=30).stdout.strip()

    def running(self):
        return self.inspect("{{.State.Running}}") == "true"

    def logs(self, tail=40):
        r = self.podman("logs", "--tail", str(tail), self.name, timeout=30)
        return stderr_without_podman_noise(r.stdout + r.stderr)

    def stop_container(self):
        """podman stop (SIGTERM, KILL after 30 s); returns clawgate's exit code."""
        if self.exit_code is not None or not self.container_started:
            return self.exit_code
        t0 = time.monotonic()
        self.podman("stop", "-t", "30", self.name, timeout=STOP_S + 30)
        code = self.inspect("{{.State.ExitCode}}")
        self.exit_code = int(code) if code.lstrip("-").isdigit() else None
        self.timings["container stop"] = time.monotonic() - t0
        return self.exit_code

    # -- what reached the model, what the audit says --------------------------------------------
    def audit_records(self):
        with open(self.audit_file, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def close(self):
        try:
            for name in self.containers:
                r = self.podman("rm", "-f", "-t", "5", name, timeout=60)
                if r.returncode != 0 and "no such container" not in r.stderr.lower():
                    log(f"podman rm {name}: {r.stderr.strip()}")
        finally:
            self.gw.failed = self.failed
            self.gw.close()  # stops the gateway; removes the folder unless kept or failed


ENV = None


class ContainerTests(unittest.TestCase):
    maxDiff = 4000
    traces = {}

    def client(self):
        return {"Authorization": f"Bearer {ENV.client_token}"}

    def chat(self, text):
        return e2e.chat_body(text)

    def run_in_image(self, script, timeout=60):
        """A shell command in a throw-away container of the image, as its default user."""
        name = f"{ENV.name}-sh-{secrets.token_hex(2)}"
        ENV.containers.append(name)
        return ENV.podman("run", "--rm", "--name", name, "--network", "none", "--no-healthcheck",
                          "--entrypoint", "bash", ENV.image, "-c", script, timeout=timeout)

    # -- the image ------------------------------------------------------------------------------
    def test_01_image_is_small_and_clean(self):
        """image: non-root user, HEALTHCHECK on /readyz, small, no compiler, source or secret"""
        info = json.loads(ENV.podman("image", "inspect", ENV.image, check=True).stdout)[0]
        config = info["Config"]
        self.assertEqual(config.get("User"), "clawgate:clawgate")
        self.assertEqual(config.get("Entrypoint"), ["/usr/local/bin/clawgate"])
        health = info.get("Healthcheck") or config.get("Healthcheck") or {}
        self.assertIn("/readyz", " ".join(health.get("Test") or []),
                      "no HEALTHCHECK in the image (built without --format docker?)")
        env_names = [e.split("=", 1)[0] for e in config.get("Env") or []]
        self.assertEqual(env_names, ["PATH"], "the image sets environment variables")
        self.assertLess(info["Size"], MAX_IMAGE_BYTES, f"image is {info['Size']} bytes")
        log(f"image {ENV.image}: {info['Size']} bytes")
        history = ENV.podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", ENV.image,
                             check=True).stdout
        for name in ("OPENCLAW_GATEWAY_TOKEN=", "CLAWGATE_AUDIT_KEY=", "OPENAI_API_KEY="):
            self.assertNotIn(name, history, f"{name} set while building the image")

        r = self.run_in_image(
            "set -u; for c in g++ gcc cc c++ g++-12 clang cmake make ninja ld as ccache git curl "
            "python3 pkg-config; do command -v $c && echo found $c; done; "
            "dpkg-query -W -f '${Package}\\n' | grep -E -- '-dev$|^build-essential$|^(gcc|cpp)(-[0-9]+)?$|"
            "^g\\+\\+|^binutils|^cmake|^make$|^ninja-build$|^ccache$|^git$' "
            "| sed 's/^/package /'; "
            "for p in /src /build /usr/include/boost /usr/include/c++; do "
            "[ ! -e $p ] || echo found $p; done; "
            "find /etc/clawgate -type f | sort; "
            "echo \"data:[$(ls -A /var/lib/clawgate)]\"; "
            "find / -xdev \\( -name .env -o -name '*-token' -o -name '*.pem' -path '*secret*' \\) "
            "-print 2>/dev/null | sed 's/^/secret-like /'")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual([x for x in lines if x.startswith(("found", "package", "secret-like"))],
                         [], "build tools, sources or secrets in the runtime image")
        self.assertEqual([x for x in lines if x.startswith("/etc/clawgate")],
                         ["/etc/clawgate/config.json", "/etc/clawgate/policies/default.json",
                          "/etc/clawgate/policies/monitor.json",
                          "/etc/clawgate/policies/strict.json"])
        self.assertIn("data:[]", lines)  # /var/lib/clawgate is empty in the image
        # The shipped config has no client or admin; a user mounts their own.
        r = self.run_in_image("cat /etc/clawgate/config.json")
        shipped = json.loads(r.stdout)
        self.assertEqual((shipped["clients"], shipped["admins"]), ([], []))
        self.assertEqual(shipped["upstream"]["token_env"], "OPENCLAW_GATEWAY_TOKEN")

    # -- the running sidecar --------------------------------------------------------------------
    def test_02_runs_as_non_root(self):
        """the clawgate process (pid 1) runs as uid/gid 10001, not root"""
        r = ENV.podman("exec", ENV.name, "cat", "/proc/1/status", "/proc/1/cmdline", timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        fields = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
        self.assertEqual(fields["Uid"].split(), [str(RUNTIME_UID)] * 4, r.stdout)
        self.assertEqual(fields["Gid"].split(), [str(RUNTIME_UID)] * 4, r.stdout)
        self.assertIn("/usr/local/bin/clawgate\0serve", r.stdout)
        r = ENV.podman("exec", ENV.name, "id", "-u", timeout=30)
        self.assertEqual(r.stdout.strip(), str(RUNTIME_UID), r.stderr)

    def test_03_healthcheck_and_readyz(self):
        """the image's HEALTHCHECK passes (podman healthcheck run); /readyz is 200"""
        r = ENV.podman("healthcheck", "run", ENV.name, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = e2e.request(ENV.proxy, "GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["ready"], True, r)

    def test_04_green_chat_answered(self):
        """a green chat through the container is answered by the model"""
        m = e2e.marker("chat")
        r = e2e.request(ENV.proxy, "POST", "/v1/chat/completions",
                        self.chat(f"hello {m} how are you"), self.client())
        self.traces["green"] = r.trace_id
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-clawgate-risk"), "green")
        self.assertEqual(r.json()["choices"][0]["message"]["content"],
                         f"mock answer: hello {m} how are you")
        self.assertGreaterEqual(ENV.gw.model_saw(m), 1, "the chat did not reach the model")

    def test_05_red_chat_refused(self):
        """a red chat is refused (403 policy_denied, deny-red) and never reaches the model"""
        m = e2e.marker("red")
        r = e2e.request(ENV.proxy, "POST", "/v1/chat/completions",
                        self.chat(f"wire money to account 4711 {m} today"), self.client())
        self.traces["red"] = r.trace_id
        self.assertEqual(r.status, 403, r)
        err = r.json()["error"]
        self.assertEqual((err["code"], err.get("rule")), ("policy_denied", "deny-red"), r)
        self.assertEqual(r.headers.get("x-clawgate-risk"), "red")
        self.traces["red marker"] = m
        self.assertEqual(ENV.gw.model_saw(m), 0, "a red request reached the model")
        # Without a client token: 401, nothing forwarded.
        r = e2e.request(ENV.proxy, "POST", "/v1/chat/completions", self.chat(f"hi {m}"))
        self.assertEqual(r.status, 401, r)

    def test_06_healthcheck_fails_without_gateway(self):
        """gateway stopped: /readyz turns 503 and the HEALTHCHECK fails"""
        ENV.gw.stop_gateway()
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status = e2e.request(ENV.proxy, "GET", "/readyz", timeout=5).status
            if status == 503:
                break
            time.sleep(0.5)
        self.assertEqual(status, 503, "/readyz stayed 200 with the gateway gone")
        r = ENV.podman("healthcheck", "run", ENV.name, timeout=60)
        self.assertNotEqual(r.returncode, 0, "the HEALTHCHECK passed while /readyz was 503")

    def test_07_stop_and_audit_verify(self):
        """SIGTERM -> exit 0; the audit log in the mounted folder verifies with the host's clawgate"""
        code = ENV.stop_container()
        self.assertEqual(code, 0, "exit code on podman stop\n" + ENV.logs())
        st = os.stat(ENV.audit_file)
        self.assertEqual((st.st_uid, st.st_gid), (RUNTIME_UID, RUNTIME_UID))
        verify = [ENV.clawgate, "audit", "verify", ENV.audit_file, "--key-env",
                  "CLAWGATE_AUDIT_KEY"]
        good = subprocess.run(verify, env=dict(os.environ, CLAWGATE_AUDIT_KEY=ENV.audit_key),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        log("audit verify: " + good.stdout.strip())
        bad = subprocess.run(verify, env=dict(os.environ, CLAWGATE_AUDIT_KEY="not-the-key"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        self.assertEqual(bad.returncode, 1, "a wrong key must not verify")

        records = ENV.audit_records()
        self.assertEqual(records[0]["stage"], "started")
        self.assertEqual(records[-1]["stage"], "stopped")

        def stages(tid):
            return [r["stage"] for r in records if r.get("trace_id") == tid]

        green, red = self.traces.get("green"), self.traces.get("red")
        if green:
            for s in ("received", "decided", "forwarded", "completed"):
                self.assertIn(s, stages(green))
        if red:
            self.assertIn("rejected", stages(red))
            self.assertNotIn("forwarded", stages(red))
        with open(ENV.audit_file, encoding="utf-8") as f:
            audit_text = f.read()
        logs = ENV.podman("logs", ENV.name, timeout=30)
        for name, secret in (("gateway token", ENV.gw.gateway_token),
                             ("client token", ENV.client_token),
                             ("admin token", ENV.admin_token), ("audit key", ENV.audit_key)):
            self.assertNotIn(secret, audit_text, f"the {name} is in the audit file")
            self.assertNotIn(secret, logs.stdout + logs.stderr, f"the {name} is in the log")
        if self.traces.get("red marker"):
            self.assertEqual(ENV.gw.model_saw(self.traces["red marker"]), 0)

    def test_08_bad_config_exits_non_zero(self):
        """a bad config (unknown key; missing secret) exits 1 with the error on stderr"""
        bad = os.path.join(ENV.tmp, "bad.json")
        ENV.write_config(bad, bogus_setting=1)
        cases = [
            ("unknown key", ENV.secret_env(),
             "invalid config /etc/clawgate/config.json: bogus_setting: unknown key"),
            ("missing secret", {"CLAWGATE_AUDIT_KEY": ENV.audit_key},
             "environment variable OPENCLAW_GATEWAY_TOKEN is not set"),
        ]
        for what, env, expect in cases:
            with self.subTest(what):
                name = f"{ENV.name}-bad-{secrets.token_hex(2)}"
                ENV.containers.append(name)
                config = bad if what == "unknown key" else ENV.config_file
                # Only the variables named with -e reach the container.
                env_args = [a for k in sorted(env) for a in ("-e", k)]
                r = ENV.podman("run", "--rm", "--name", name, "--network", "host",
                               "-v", f"{config}:/etc/clawgate/config.json:ro",
                               "-v", f"{ENV.data}:/var/lib/clawgate", *env_args, ENV.image,
                               env=env, timeout=90)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(expect, stderr_without_podman_noise(r.stderr))
                self.assertNotIn(expect, r.stdout, "the error went to stdout")


# ---------------------------------------------------------------------------------------------


def loud_skip():
    banner = "#" * 78
    msg = (f"\n{banner}\n##  CONTAINER TESTS SKIPPED: CLAWGATE_SKIP_CONTAINER=1 -- the image was NOT\n"
           f"##  built or run. Nothing was checked about docker/Dockerfile.\n{banner}\n")
    print(msg, flush=True)
    print(msg, file=sys.stderr, flush=True)
    return SKIP_CODE


def refuse_to_start(tag, clawgate):
    """The exit code when the tests cannot or must not run (skipped, no clawgate binary, no
    podman), else None."""
    if os.environ.get("CLAWGATE_SKIP_CONTAINER") == "1":
        return loud_skip()
    if not clawgate or not os.access(clawgate, os.X_OK):
        print(f"{tag}: --clawgate must name the host's clawgate binary; got {clawgate!r}",
              file=sys.stderr)
        return 2
    if shutil.which("podman") is None:
        print(f"{tag}: FAILED: podman is not installed. scripts/container.sh build installs "
              "it and builds the images (scripts/test.sh does this before ctest); "
              "CLAWGATE_SKIP_CONTAINER=1 skips these tests.", file=sys.stderr)
        return 1
    return None


def main():
    p = argparse.ArgumentParser(description="clawgate container tests (podman)")
    p.add_argument("--clawgate", default=os.environ.get("CLAWGATE_BINARY"),
                   help="the host's clawgate binary, for tokens and `audit verify`")
    p.add_argument("--image", default=os.environ.get("CLAWGATE_IMAGE", "localhost/clawgate:dev"))
    p.add_argument("--keep", action="store_true",
                   default=os.environ.get("CLAWGATE_CONTAINER_KEEP") == "1")
    args = p.parse_args()

    refused = refuse_to_start("container", args.clawgate)
    if refused is not None:
        return refused
    if os.geteuid() != 0:
        print("container: note: tested as root; rootless podman maps uid 10001 elsewhere, so the "
              "mounted folder may need `podman unshare chown 10001:10001`", file=sys.stderr)

    def make():
        global ENV
        env = ENV = Env(args.clawgate, args.image, args.keep)
        return env

    def start(env):
        if env.podman("image", "exists", args.image, timeout=60).returncode != 0:
            raise RuntimeError(f"no image {args.image}: run scripts/container.sh build first "
                               f"(scripts/test.sh does); CLAWGATE_SKIP_CONTAINER=1 skips")
        env.gw.start_gateway()
        env.start_container()

    def show_logs(env):
        if env.container_started:
            print("---- container log (tail) ----\n" + env.logs(30))

    return run_suite("container", "clawgate container (podman) against OpenClaw", make, start,
                     ContainerTests, show_logs)


def run_suite(tag, title, make, start, case, show_logs):
    """Runs `case` within CLAWGATE_CONTAINER_BUDGET_S (480 s): make() builds the fixture object
    (it has .failed, .close() and .timings), start(obj) brings it up, show_logs(obj) prints what
    helps after a failure. Always cleans up and prints a summary; returns the exit code."""
    budget = int(os.environ.get("CLAWGATE_CONTAINER_BUDGET_S", "480"))

    def on_budget(signum, _frame):
        raise e2e.Budget(f"signal {signum}" if signum != signal.SIGALRM else
                         f"the run exceeded its budget of {budget}s")

    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_budget)
    signal.alarm(budget)

    t0 = time.monotonic()
    ok, result, obj = False, None, None
    try:
        obj = make()
        start(obj)
        suite = unittest.TestLoader().loadTestsFromTestCase(case)
        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                         resultclass=e2e.TimedResult).run(suite)
        ok = result.wasSuccessful()
    except e2e.Budget as e:
        print(f"{tag}: ABORTED: {e}", file=sys.stderr, flush=True)
    except Exception as e:  # set-up failed
        print(f"{tag}: SET-UP FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda s, _f: log(f"signal {s} during clean-up: finishing it first"))
        if e2e.RESULT is not None and result is None:
            result = e2e.RESULT
        if obj is not None:
            obj.failed = not ok
            if not ok:
                try:
                    show_logs(obj)
                except Exception as e:  # noqa: BLE001 - report and go on cleaning up
                    print(f"(no logs: {e})")
            try:
                obj.close()
            except BaseException as e:
                print(f"{tag}: clean-up problem: {e!r}", file=sys.stderr, flush=True)
                ok = False
        print(f"\n==== {title}: summary ====")
        for k, v in (obj.timings.items() if obj else []):
            print(f"  {'':5} {v:7.1f}s  {k}")
        for word, secs, doc in (result.rows if result else []):
            print(f"  {word:5} {secs:7.1f}s  {doc}")
        print(f"  {'OK' if ok else 'FAILED':5} {time.monotonic() - t0:7.1f}s  total")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())

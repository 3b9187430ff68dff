#!/usr/bin/env python3
"""The layout of docker/compose.yaml, run with plain `podman run`s (standard library only).

    tests/container/test_compose_layout.py --clawgate build/release/src/clawgate [--keep]

Debian 12's podman-compose (1.0.3) cannot start docker/compose.yaml: it hands
`network_mode: service:openclaw` to podman unchanged (`--network service:openclaw`, plus a
`--net` of its own), and podman 4.3 refuses that ("invalid option for network service"), so the
mock model and clawgate never start. This test therefore runs exactly what compose.yaml describes,
service by service, as podman commands:

  openclaw    localhost/clawgate-openclaw:2026.9.6 (docker/openclaw.Dockerfile) in a network
              namespace of its own (podman's default bridge network), docker/openclaw/ mounted at
              /etc/openclaw, a named volume at /home/node, clawgate's port 18790 published on
              the host's 127.0.0.1 (a free port here, CLAWGATE_PORT in compose), compose's
              healthcheck; the next services start once it is healthy (depends_on:
              service_healthy)
  mock-model  localhost/clawgate-mock-model:dev (docker/mock-model.Dockerfile), --network
              container:<openclaw> (network_mode: service:openclaw)
  clawgate    localhost/clawgate:dev (docker/Dockerfile), --network container:<openclaw>,
              docker/config.local.json mounted at /etc/clawgate/config.json, a named volume at
              /var/lib/clawgate

with the secrets and config that docker/init.sh writes (run here on a copy of docker/). Then: a
green chat through the published port is answered by the model, a red one is refused and never
reaches it (the mock's request log in its container), the admin API answers the documented
`podman exec … clawgate approvals list`, the gateway's port is not published, and after
`podman stop` the audit log in the named volume verifies with the host's clawgate.

The images must exist: `scripts/container.sh build` and `scripts/container.sh build-gateway`
(scripts/test.sh runs both before ctest). CLAWGATE_SKIP_CONTAINER=1 skips loudly (exit 77).
"""

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import test_openclaw_e2e as e2e  # noqa: E402
from test_container import (Podman, free_port, log, refuse_to_start,  # noqa: E402
                            run_suite, stderr_without_podman_noise, wait_ready)

IMAGES = {
    "clawgate": os.environ.get("CLAWGATE_IMAGE", "localhost/clawgate:dev"),
    "openclaw": os.environ.get("CLAWGATE_OPENCLAW_IMAGE", "localhost/clawgate-openclaw:2026.9.6"),
    "mock-model": os.environ.get("CLAWGATE_MOCK_IMAGE", "localhost/clawgate-mock-model:dev"),
}
GATEWAY_HEALTH = ("node -e \"fetch('http://127.0.0.1:18789/readyz').then(r => process.exit(r.ok ? 0 : 1), "
                  "() => process.exit(1))\"")
GATEWAY_READY_S = 240
CLAWGATE_READY_S = 60
MOCK_LOG = "/tmp/mock-model.requests.jsonl"


class Layout:
    def __init__(self, clawgate, keep):
        self.clawgate = os.path.abspath(clawgate)
        self.keep = keep
        self.podman = Podman()
        self.tmp = tempfile.mkdtemp(prefix="clawgate-compose-")
        self.prefix = f"clawgate-layout-{os.getpid()}-{secrets.token_hex(2)}"
        self.names = {s: f"{self.prefix}-{s}" for s in IMAGES}
        self.volumes = [f"{self.prefix}-openclaw-home", f"{self.prefix}-clawgate-data"]
        self.created = []
        self.failed = False
        self.timings = {}
        self.exit_code = None

    def init(self):
        """docker/init.sh on a copy of docker/ (it writes .env, secrets/ and config.local.json)."""
        self.docker = os.path.join(self.tmp, "docker")
        shutil.copytree(os.path.join(REPO, "docker"), self.docker,
                        ignore=shutil.ignore_patterns(".env", "secrets", "config.local.json"))
        r = subprocess.run([os.path.join(self.docker, "init.sh")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("docker/init.sh failed:\n" + r.stderr)
        env = {}
        with open(os.path.join(self.docker, ".env"), encoding="utf-8") as f:
            for line in f:
                m = re.fullmatch(r"([A-Z_]+)=(.*)", line.strip())
                if m:
                    env[m.group(1)] = m.group(2)
        self.gateway_token = env["OPENCLAW_GATEWAY_TOKEN"]
        self.audit_key = env["CLAWGATE_AUDIT_KEY"]
        for who in ("client", "admin"):
            with open(os.path.join(self.docker, "secrets", f"{who}-token"), encoding="utf-8") as f:
                setattr(self, f"{who}_token", f.read().strip())
        self.port = free_port()
        self.proxy = ("127.0.0.1", self.port)

    def run(self, service, *args, env=None):
        name = self.names[service]
        self.created.append(name)
        r = self.podman("run", "-d", "--name", name, *args, IMAGES[service], env=env)
        if r.returncode != 0:
            raise RuntimeError(f"podman run {service} failed ({r.returncode}):\n{r.stderr[-3000:]}")

    def logs(self, service, tail=30):
        r = self.podman("logs", "--tail", str(tail), self.names[service], timeout=30)
        return stderr_without_podman_noise(r.stdout + r.stderr)

    def running(self, service):
        r = self.podman("inspect", "--format", "{{.State.Running}}", self.names[service], timeout=30)
        return r.stdout.strip() == "true"

    def up(self):
        t0 = time.monotonic()
        secrets_env = {"OPENCLAW_GATEWAY_TOKEN": self.gateway_token,
                       "CLAWGATE_AUDIT_KEY": self.audit_key}
        # openclaw: owns the network namespace; publishes clawgate's port only.
        self.run("openclaw",
                 "-e", "OPENCLAW_GATEWAY_TOKEN", "-e", "OPENCLAW_CONFIG_PATH=/etc/openclaw/mock.json",
                 "-v", f"{self.docker}/openclaw:/etc/openclaw:ro",
                 "-v", f"{self.volumes[0]}:/home/node",
                 "-p", f"127.0.0.1:{self.port}:18790",
                 "--health-cmd", GATEWAY_HEALTH, "--health-interval", "10s",
                 "--health-timeout", "5s", "--health-retries", "3", "--health-start-period", "180s",
                 env={"OPENCLAW_GATEWAY_TOKEN": self.gateway_token})
        deadline = time.monotonic() + GATEWAY_READY_S
        while True:
            r = self.podman("healthcheck", "run", self.names["openclaw"], timeout=60)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline or not self.running("openclaw"):
                raise RuntimeError("the gateway container did not turn healthy:\n" +
                                   self.logs("openclaw"))
            time.sleep(2)
        self.timings["gateway healthy"] = time.monotonic() - t0
        log(f"gateway container healthy after {self.timings['gateway healthy']:.1f}s")
        net = f"container:{self.names['openclaw']}"
        self.run("mock-model", "--network", net)
        self.run("clawgate", "--network", net,
                 "-e", "OPENCLAW_GATEWAY_TOKEN", "-e", "CLAWGATE_AUDIT_KEY",
                 "-v", f"{self.docker}/config.local.json:/etc/clawgate/config.json:ro",
                 "-v", f"{self.volumes[1]}:/var/lib/clawgate", env=secrets_env)
        if not wait_ready(self.proxy, CLAWGATE_READY_S, lambda: self.running("clawgate"), 0.5):
            raise RuntimeError("clawgate did not turn ready on the published port:\n" +
                               self.logs("clawgate") + "\n" + self.logs("mock-model"))
        self.timings["all up"] = time.monotonic() - t0
        log(f"clawgate ready on 127.0.0.1:{self.port} after {self.timings['all up']:.1f}s")

    def mock_bodies(self):
        r = self.podman("exec", self.names["mock-model"], "cat", MOCK_LOG, timeout=30)
        out = []
        for line in r.stdout.splitlines():
            if line.strip():
                out.append(json.dumps(json.loads(line).get("body"), ensure_ascii=False))
        return out

    def model_saw(self, text):
        return sum(text in b for b in self.mock_bodies())

    def close(self):
        for name in reversed(self.created):
            r = self.podman("rm", "-f", "-t", "10", name, timeout=90)
            if r.returncode != 0 and "no such container" not in r.stderr.lower():
                log(f"podman rm {name}: {r.stderr.strip()}")
        for vol in self.volumes:
            self.podman("volume", "rm", "-f", vol, timeout=60)
        if self.keep or self.failed:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


L = None


class ComposeLayout(unittest.TestCase):
    traces = {}

    def client(self):
        return {"Authorization": f"Bearer {L.client_token}"}

    def chat(self, text):
        return e2e.chat_body(text)

    def test_00_compose_file_matches(self):
        """docker/compose.yaml still describes the layout run here (images, namespace, mounts)"""
        with open(os.path.join(REPO, "docker", "compose.yaml"), encoding="utf-8") as f:
            text = f.read()
        for needle in (
                "dockerfile: docker/openclaw.Dockerfile", "dockerfile: docker/mock-model.Dockerfile",
                "dockerfile: docker/Dockerfile", f"image: {IMAGES['openclaw']}",
                f"image: {IMAGES['mock-model']}", f"image: {IMAGES['clawgate']}",
                "OPENCLAW_CONFIG_PATH: /etc/openclaw/${OPENCLAW_MODEL:-mock}.json",
                "- ./openclaw:/etc/openclaw:ro", "- openclaw-home:/home/node",
                '- "127.0.0.1:${CLAWGATE_PORT:-18790}:18790"',
                "fetch('http://127.0.0.1:18789/readyz')",
                "- ${CLAWGATE_CONFIG:-./config.local.json}:/etc/clawgate/config.json:ro",
                "- clawgate-data:/var/lib/clawgate", "condition: service_healthy"):
            self.assertIn(needle, text)
        self.assertEqual(len(re.findall(r"^ +network_mode: service:openclaw$", text, re.M)), 2)
        self.assertEqual(len(re.findall(r"^ +ports:$", text, re.M)), 1,
                         "only the namespace owner publishes a port")

    def test_01_green_chat(self):
        """green chat on the published port: answered by the model in the mock-model container"""
        m = e2e.marker("chat")
        r = e2e.request(L.proxy, "POST", "/v1/chat/completions", self.chat(f"hello {m}"),
                        self.client())
        self.traces["green"] = r.trace_id
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], f"mock answer: hello {m}")
        self.assertGreaterEqual(L.model_saw(m), 1)

    def test_02_red_chat(self):
        """red chat: 403 policy_denied, never in the mock model's request log"""
        m = e2e.marker("red")
        r = e2e.request(L.proxy, "POST", "/v1/chat/completions",
                        self.chat(f"wire money to account 4711 {m} today"), self.client())
        self.traces["red"] = r.trace_id
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["code"], "policy_denied", r)
        self.assertEqual(L.model_saw(m), 0, "a red request reached the model")

    def test_03_admin_api_inside(self):
        """the admin API answers `podman exec clawgate clawgate approvals list` with the admin token"""
        cmd = ["exec", "-e", "CLAWGATE_ADMIN_TOKEN", L.names["clawgate"], "clawgate", "approvals",
               "list", "--admin-url", "http://127.0.0.1:18791", "--token-env",
               "CLAWGATE_ADMIN_TOKEN", "--json"]
        r = L.podman(*cmd, env={"CLAWGATE_ADMIN_TOKEN": L.admin_token}, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        json.loads(r.stdout)
        r = L.podman(*cmd, env={"CLAWGATE_ADMIN_TOKEN": L.client_token}, timeout=60)
        self.assertEqual(r.returncode, 1, "a client token was accepted on the admin API")

    def test_04_only_clawgate_published(self):
        """only clawgate's port is published; the gateway's 18789 is not"""
        r = L.podman("port", L.names["openclaw"], timeout=30)
        self.assertEqual(r.stdout.split(), ["18790/tcp", "->", f"127.0.0.1:{L.port}"], r.stdout)

    def test_05_stop_and_verify(self):
        """podman stop clawgate -> exit 0; the audit log in the named volume verifies"""
        L.podman("stop", "-t", "30", L.names["clawgate"], timeout=90)
        code = L.podman("inspect", "--format", "{{.State.ExitCode}}", L.names["clawgate"],
                        timeout=30).stdout.strip()
        self.assertEqual(code, "0", L.logs("clawgate"))
        mount = L.podman("volume", "inspect", "--format", "{{.Mountpoint}}", L.volumes[1],
                         timeout=30).stdout.strip()
        audit = os.path.join(mount, "audit", "clawgate.jsonl")
        r = subprocess.run([L.clawgate, "audit", "verify", audit, "--key-env", "CLAWGATE_AUDIT_KEY"],
                           env=dict(os.environ, CLAWGATE_AUDIT_KEY=L.audit_key),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        log("audit verify: " + r.stdout.strip())
        with open(audit, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        stages = {}
        for rec in records:
            stages.setdefault(rec.get("trace_id"), []).append(rec["stage"])
        if self.traces.get("green"):
            self.assertIn("completed", stages.get(self.traces["green"], []))
        if self.traces.get("red"):
            self.assertNotIn("forwarded", stages.get(self.traces["red"], []))
            self.assertIn("rejected", stages.get(self.traces["red"], []))


def main():
    p = argparse.ArgumentParser(description="docker/compose.yaml's layout with podman runs")
    p.add_argument("--clawgate", default=os.environ.get("CLAWGATE_BINARY"))
    p.add_argument("--keep", action="store_true",
                   default=os.environ.get("CLAWGATE_CONTAINER_KEEP") == "1")
    args = p.parse_args()
    refused = refuse_to_start("compose", args.clawgate)
    if refused is not None:
        return refused

    def make():
        global L
        layout = L = Layout(args.clawgate, args.keep)
        return layout

    def start(layout):
        missing = [i for i in IMAGES.values()
                   if layout.podman("image", "exists", i, timeout=60).returncode != 0]
        if missing:
            raise RuntimeError(f"missing images {missing}: run scripts/container.sh build and "
                               f"scripts/container.sh build-gateway (scripts/test.sh does)")
        layout.init()
        layout.up()

    def show_logs(layout):
        for s in [s for s in IMAGES if layout.names[s] in layout.created]:
            print(f"---- {s} log (tail) ----\n" + layout.logs(s, 20))

    return run_suite("compose", "docker/compose.yaml layout (podman runs) against OpenClaw", make,
                     start, ComposeLayout, show_logs)

if __name__ == "__main__":
    sys.exit(main())

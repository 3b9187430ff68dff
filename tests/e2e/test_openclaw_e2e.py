#!/usr/bin/env python3
"""End-to-end tests: clawgate in front of the REAL OpenClaw gateway (standard library only).

    tests/e2e/test_openclaw_e2e.py --clawgate build/release/src/clawgate [--keep]

What it does, all on 127.0.0.1 and all inside one fresh temporary folder:
  1. scripts/openclaw-local.sh start, with its own state dir (OPENCLAW_LOCAL_STATE), any free
     gateway port and any free mock-model port, so parallel runs (release and asan presets, a
     developer's own instance on 18789) never collide. The gateway talks to scripts/mock-model.py,
     whose request log shows exactly what reached "the model".
  2. clawgate serve with the shipped policies/default.json, fresh client and admin tokens
     (`clawgate token new`), its own audit file and approval journal, CLAWGATE_AUDIT_KEY set, and
     both listeners on port 0 (the ports are read from the "... listening on HOST:PORT" lines).
  3. The cases below, in order. Each asserts on clawgate's answer and, where it matters, on the
     mock model's request log (what the model saw) and on clawgate's audit file.
  4. SIGTERM to clawgate (exit 0 expected), `clawgate audit verify`, and
     `openclaw-local.sh stop`: the last two always, with bounded waits.

CLAWGATE_SKIP_E2E=1 skips everything with a loud message and exit code 77 (ctest: SKIP_RETURN_CODE).
CLAWGATE_E2E_KEEP=1 (or --keep) keeps the temporary folder; it is kept anyway after a failure.
CLAWGATE_E2E_BUDGET_S bounds the cases (default 660 s; the bounded clean-up comes on top, still
below the ctest TIMEOUT of 900 s), so that this program always stops the gateway it started: the
gateway runs in its own session, and a ctest kill would leave it running.
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SKIP_CODE = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

REQUEST_TIMEOUT_S = 180  # a first chat turn takes 8-25 s; a loaded machine more
CLAWGATE_START_S = 60
CLAWGATE_STOP_S = 45  # drain_timeout_ms is 10 s; ASan exit adds some
GATEWAY_STOP_S = 90  # openclaw-local.sh stop: 20 s TERM->KILL per process, helpers after

CLIENT_ID = "e2e-employee"
ADMIN_ID = "e2e-approver"


class Budget(KeyboardInterrupt):
    """The run's time budget is over (or a signal came): stop everything, clean up, fail.
    A KeyboardInterrupt, so that unittest lets it through instead of recording one error."""


def log(msg):
    print(f"e2e: {msg}", file=sys.stderr, flush=True)


def marker(tag):
    """A word of letters only (<= 12 characters: no base64/hex decoding, no classifier term)."""
    return "zq" + tag + "".join(secrets.choice("bcdfghjkmnpqrstvwxz") for _ in range(6))


def chat_body(text, **extra):
    """A chat completion request with one user message."""
    body = {"model": "openclaw", "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return f.read().rsplit(") ", 1)[-1][:1] not in ("Z", "X")
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# HTTP


class Reply:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def trace_id(self):
        return self.headers.get("x-clawgate-trace-id")

    def __repr__(self):
        return f"<{self.status} {self.body[:600]!r}>"


def request(base, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT_S):
    """One request on a fresh connection; body: dict (sent as JSON), bytes, or None."""
    host, port = base
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    started = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload,
                     time.monotonic() - started)
    finally:
        conn.close()


def stream_request(base, path, body, headers, timeout=REQUEST_TIMEOUT_S):
    """POST that reads an SSE answer event by event: (status, headers, [(seconds, data)], raw)."""
    host, port = base
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers)
    hdrs["Content-Type"] = "application/json"
    hdrs["Accept"] = "text/event-stream"
    started = time.monotonic()
    try:
        conn.request("POST", path, body=json.dumps(body).encode("utf-8"), headers=hdrs)
        resp = conn.getresponse()
        rh = {k.lower(): v for k, v in resp.getheaders()}
        events, raw = [], bytearray()
        while True:
            line = resp.readline()
            if not line:
                break
            raw += line
            text = line.decode("utf-8").rstrip("\r\n")
            if text.startswith("data:"):
                events.append((time.monotonic() - started, text[5:].strip()))
            if time.monotonic() - started > timeout:
                raise TimeoutError("SSE answer did not end in time")
        return resp.status, rh, events, bytes(raw)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# The environment: gateway + mock + clawgate


class Env:
    def __init__(self, clawgate, keep, policy):
        self.clawgate = os.path.abspath(clawgate)
        self.policy = os.path.abspath(policy)
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix="clawgate-e2e-")
        self.state = os.path.join(self.tmp, "openclaw")
        self.gateway_started = False
        self.proc = None
        self.stderr_thread = None
        self.cg_log = os.path.join(self.tmp, "clawgate.log")
        self.audit_file = os.path.join(self.tmp, "audit", "clawgate.jsonl")
        self.approvals_file = os.path.join(self.tmp, "approvals.jsonl")
        self.audit_key = secrets.token_hex(32)
        self.timings = {}
        self.exit_code = None
        self.failed = False

    # -- openclaw-local.sh ----------------------------------------------------------------------
    def ocl_env(self):
        env = dict(os.environ)
        # Mock mode, default deny list, no extras: whatever the developer's shell has set.
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENCLAW_CONFIG_EXTRA",
                  "OPENCLAW_TOOLS_DENY", "OPENCLAW_PORT", "MOCK_MODEL_PORT"):
            env.pop(k, None)
        env["OPENCLAW_LOCAL_STATE"] = self.state
        env["OPENCLAW_PORT"] = "0"
        env["MOCK_MODEL_PORT"] = "0"
        env.setdefault("OPENCLAW_READY_TIMEOUT", "300")
        return env

    def ocl(self, cmd, timeout):
        script = os.path.join(REPO, "scripts", "openclaw-local.sh")
        return subprocess.run([script, cmd], env=self.ocl_env(), cwd=REPO, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def own_orphans(self):
        """Processes of this run's gateway or mock that openclaw-local.sh lost track of: node with
        its working directory in our state dir, or the mock with our pid file on its command
        line. Our state dir is unique to this run, so these are ours."""
        state = os.path.realpath(self.state)
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().split(b"\0")
            except OSError:
                continue
            if cwd == state or cwd.startswith(state + "/") or \
                    (state + "/mock-model.pid").encode() in cmdline:
                found.append(int(pid))
        return found

    def kill_orphans(self):
        pids = self.own_orphans()
        if not pids:
            return
        log(f"stopping processes of this run that openclaw-local.sh did not stop: {pids}")
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            for p in pids:
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                pids = [p for p in pids if alive(p)]
                if not pids:
                    return
                time.sleep(0.2)

    def start_gateway(self):
        t0 = time.monotonic()
        r = self.ocl("install", 900)
        if r.returncode != 0:
            raise RuntimeError("openclaw-local.sh install failed:\n" + r.stderr[-3000:])
        ready_s = int(self.ocl_env()["OPENCLAW_READY_TIMEOUT"])
        for attempt in (1, 2):
            self.gateway_started = True
            r = self.ocl("start", ready_s + 120)
            if r.returncode == 0:
                break
            log(f"openclaw-local.sh start failed (attempt {attempt}):\n{r.stderr[-3000:]}")
            self.ocl("stop", GATEWAY_STOP_S)
            self.kill_orphans()
            if attempt == 2:
                raise RuntimeError("the local OpenClaw gateway did not start")
        r = self.ocl("env", 30)
        if r.returncode != 0:
            raise RuntimeError("openclaw-local.sh env failed: " + r.stderr)
        values = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            # printf %q output; our values (URL, hex token, /tmp paths) need no unquoting, but be safe
            values[k] = subprocess.run(["bash", "-c", f"printf %s {v}"], stdout=subprocess.PIPE,
                                       text=True, check=True).stdout
        self.gateway_url = values["OPENCLAW_GATEWAY_URL"]
        self.gateway_token = values["OPENCLAW_GATEWAY_TOKEN"]
        self.mock_log = values["MOCK_MODEL_REQUEST_LOG"]
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", self.gateway_url)
        if not m:
            raise RuntimeError(f"unexpected gateway URL {self.gateway_url}")
        self.gateway = ("127.0.0.1", int(m.group(1)))
        self.timings["gateway start"] = time.monotonic() - t0
        log(f"gateway {self.gateway_url} ready after {self.timings['gateway start']:.1f}s "
            f"(state {self.state})")

    def stop_gateway(self):
        if not self.gateway_started:
            return
        t0 = time.monotonic()
        try:
            r = self.ocl("stop", GATEWAY_STOP_S)
            if r.returncode != 0:
                log("openclaw-local.sh stop failed:\n" + r.stderr[-2000:])
        except subprocess.TimeoutExpired:
            log("openclaw-local.sh stop timed out")
        self.kill_orphans()
        self.gateway_started = False
        self.timings["gateway stop"] = time.monotonic() - t0

    # -- clawgate -------------------------------------------------------------------------------
    def cli(self, *args, env_extra=None, timeout=60, stdin=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        return subprocess.run([self.clawgate, *args], env=env, timeout=timeout, input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def new_token(self):
        r = self.cli("token", "new")
        if r.returncode != 0:
            raise RuntimeError("clawgate token new failed: " + r.stderr)
        return json.loads(r.stdout)

    def start_clawgate(self):
        t0 = time.monotonic()
        client = self.new_token()
        admin = self.new_token()
        self.client_token = client["token"]
        self.admin_token = admin["token"]
        self.client_token_sha256 = client["token_sha256"]
        config = {
            "listen": "127.0.0.1:0",
            "admin_listen": "127.0.0.1:0",
            "upstream": {
                "url": self.gateway_url,
                "token_env": "OPENCLAW_GATEWAY_TOKEN",
                "connect_timeout_ms": 5000,
                "timeout_ms": 170000,
                "stream_idle_timeout_ms": 170000,
                "probe_path": "/readyz",
                "probe_interval_ms": 1000,
                "serialize_sessions": True,
            },
            "clients": [{"id": CLIENT_ID, "token_sha256": client["token_sha256"],
                         "roles": ["employee"]}],
            "admins": [{"id": ADMIN_ID, "token_sha256": admin["token_sha256"]}],
            "policy_file": self.policy,
            "audit": {"file": self.audit_file, "fsync": "always",
                      "hmac_key_env": "CLAWGATE_AUDIT_KEY", "include_bodies": True,
                      "preview_chars": 500},
            "approvals": {"ttl_s": 900, "hold_s": 0, "state_file": self.approvals_file},
        }
        self.config_file = os.path.join(self.tmp, "clawgate.json")
        with open(self.config_file, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        env = dict(os.environ)
        env["OPENCLAW_GATEWAY_TOKEN"] = self.gateway_token
        env["CLAWGATE_AUDIT_KEY"] = self.audit_key
        env.setdefault("CLAWGATE_LOG_LEVEL", "info")
        self.proc = subprocess.Popen([self.clawgate, "serve", "--config", self.config_file],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports = {}
        seen = threading.Condition()

        def pump():
            with open(self.cg_log, "wb") as out:
                for line in self.proc.stderr:
                    out.write(line)
                    out.flush()
                    m = re.search(rb"(proxy|admin) listening on 127\.0\.0\.1:(\d+)", line)
                    if m:
                        with seen:
                            ports[m.group(1).decode()] = int(m.group(2))
                            seen.notify_all()
            with seen:
                seen.notify_all()

        self.stderr_thread = threading.Thread(target=pump, daemon=True)
        self.stderr_thread.start()
        deadline = time.monotonic() + CLAWGATE_START_S
        with seen:
            while len(ports) < 2 and self.proc.poll() is None and time.monotonic() < deadline:
                seen.wait(0.5)
        if len(ports) < 2:
            raise RuntimeError("clawgate did not print both listening lines:\n" +
                               self.clawgate_log_tail())
        self.proxy = ("127.0.0.1", ports["proxy"])
        self.admin = ("127.0.0.1", ports["admin"])
        self.admin_url = f"http://127.0.0.1:{ports['admin']}"
        # Ready = policy loaded, audit writable, and the gateway answered the probe.
        while True:
            try:
                if request(self.proxy, "GET", "/readyz", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("clawgate did not turn ready:\n" + self.clawgate_log_tail())
            time.sleep(0.3)
        self.timings["clawgate start"] = time.monotonic() - t0
        log(f"clawgate proxy 127.0.0.1:{ports['proxy']}, admin 127.0.0.1:{ports['admin']}, "
            f"ready after {self.timings['clawgate start']:.1f}s")

    def stop_clawgate(self):
        """SIGTERM, bounded wait; returns the exit code (KILL and None when it hangs)."""
        if self.proc is None or self.exit_code is not None:
            return self.exit_code
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(CLAWGATE_STOP_S)
        except subprocess.TimeoutExpired:
            log(f"clawgate did not exit within {CLAWGATE_STOP_S}s of SIGTERM: KILL")
            self.proc.kill()
            self.proc.wait(10)
            self.exit_code = None
        if self.stderr_thread:
            self.stderr_thread.join(10)
        self.timings["clawgate stop"] = time.monotonic() - t0
        return self.exit_code

    def clawgate_log_tail(self, lines=40):
        try:
            with open(self.cg_log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no clawgate log)"

    # -- what reached the model, what the audit says --------------------------------------------
    def mock_bodies(self):
        """The request bodies the mock model received, each as JSON text."""
        out = []
        try:
            with open(self.mock_log, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        out.append(json.dumps(json.loads(line).get("body"), ensure_ascii=False))
        except FileNotFoundError:
            pass
        return out

    def model_saw(self, text):
        return sum(text in b for b in self.mock_bodies())

    def audit_records(self):
        with open(self.audit_file, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def audit_for(self, trace_id):
        return [r for r in self.audit_records() if r.get("trace_id") == trace_id]

    def close(self):
        try:
            if self.proc is not None and self.exit_code is None and self.proc.poll() is None:
                self.stop_clawgate()
        finally:
            self.stop_gateway()
            if self.keep or self.failed:
                log(f"kept {self.tmp} (clawgate log, audit file, gateway state and logs)")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


ENV = None  # the running Env, shared by the cases


# ---------------------------------------------------------------------------------------------
# The cases (run in name order: one gateway for all of them)


class OpenClawE2E(unittest.TestCase):
    maxDiff = 4000
    traces = {}  # case -> trace ids, checked against the audit file at the end

    @property
    def env(self):
        return ENV

    def client_headers(self, **extra):
        h = {"Authorization": f"Bearer {ENV.client_token}"}
        h.update(extra)
        return h

    def proxy(self, method, path, body=None, **headers):
        return request(ENV.proxy, method, path, body, self.client_headers(**headers))

    def direct(self, method, path, body=None):
        """The same request straight to the gateway, with its token (for "relayed unchanged")."""
        return request(ENV.gateway, method, path, body,
                       {"Authorization": f"Bearer {ENV.gateway_token}"})

    def admin(self, method, path, body=None, token=None):
        return request(ENV.admin, method, path, body,
                       {"Authorization": f"Bearer {token or ENV.admin_token}"}, timeout=30)

    def remember(self, case, reply):
        self.assertTrue(reply.trace_id, f"no X-Clawgate-Trace-Id on {reply!r}")
        self.traces.setdefault(case, []).append(reply.trace_id)

    def assert_v1_error(self, reply, status, code, etype):
        self.assertEqual(reply.status, status, reply)
        err = reply.json()["error"]
        self.assertEqual(err["code"], code, reply)
        self.assertEqual(err["type"], etype, reply)
        self.assertEqual(err["trace_id"], reply.trace_id)
        self.assertTrue(err["message"])
        return err

    def assert_tools_error(self, reply, status, code):
        self.assertEqual(reply.status, status, reply)
        body = reply.json()
        self.assertIs(body["ok"], False, reply)
        self.assertEqual(body["error"]["type"], code, reply)
        self.assertEqual(body["error"]["trace_id"], reply.trace_id)
        self.assertTrue(body["error"]["message"])
        return body["error"]

    def chat(self, text, **extra):
        return chat_body(text, **extra)

    # -- cases ----------------------------------------------------------------------------------
    def test_01_readyz_and_auth(self):
        """readyz 200; no token, a wrong token and the gateway's own token are 401 at clawgate"""
        r = request(ENV.proxy, "GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        m = marker("auth")
        body = self.chat(f"hello {m}")
        for hdrs in ({}, {"Authorization": "Bearer cgt_wrong"},
                     {"Authorization": f"Bearer {ENV.gateway_token}"}):
            r = request(ENV.proxy, "POST", "/v1/chat/completions", body, hdrs)
            self.assert_v1_error(r, 401, "unauthorized", "authentication_error")
        # The client's token is no admin token.
        r = self.admin("GET", "/v1/approvals", token=ENV.client_token)
        self.assert_v1_error(r, 401, "unauthorized", "authentication_error")
        self.assertEqual(ENV.model_saw(m), 0)

    def test_02_chat_non_stream(self):
        """green chat, non-stream: 200 with the mock's answer; the text reached the model"""
        m = marker("chat")
        r = self.proxy("POST", "/v1/chat/completions", self.chat(f"hello {m} how are you"))
        self.remember("chat", r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-clawgate-risk"), "green")
        doc = r.json()
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["choices"][0]["message"]["content"],
                         f"mock answer: hello {m} how are you")
        self.assertGreaterEqual(ENV.model_saw(m), 1)
        # The policy's governance system prompt was injected on the way (chat.system_prompt).
        self.assertTrue(any(m in b and "operating under governance controls" in b
                            for b in ENV.mock_bodies()), "no governance prompt at the model")

    def test_03_chat_stream(self):
        """green chat, SSE: chunks relayed as events, the mock's answer, ends with [DONE]"""
        m = marker("sse")
        status, headers, events, raw = stream_request(
            ENV.proxy, "/v1/chat/completions", self.chat(f"stream {m} please", stream=True),
            self.client_headers())
        self.assertEqual(status, 200, raw[:500])
        self.traces.setdefault("sse", []).append(headers.get("x-clawgate-trace-id"))
        self.assertTrue(headers.get("content-type", "").startswith("text/event-stream"), headers)
        self.assertGreaterEqual(len(events), 3, raw[:500])
        self.assertEqual(events[-1][1], "[DONE]", raw[-300:])
        chunks = [json.loads(d) for _, d in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                       if c.get("choices"))
        self.assertEqual(text, f"mock answer: stream {m} please")
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertGreaterEqual(ENV.model_saw(m), 1)

    def test_04_responses(self):
        """green /v1/responses, JSON and SSE: the mock's answer as output_text"""
        m = marker("resp")
        r = self.proxy("POST", "/v1/responses", {"model": "openclaw", "input": f"hi {m} there"})
        self.remember("responses", r)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["object"], "response")
        self.assertEqual(doc["status"], "completed")
        texts = [p["text"] for item in doc["output"] if item.get("type") == "message"
                 for p in item["content"] if p.get("type") == "output_text"]
        self.assertEqual(texts, [f"mock answer: hi {m} there"])
        self.assertGreaterEqual(ENV.model_saw(m), 1)

        m2 = marker("rsse")
        status, headers, events, raw = stream_request(
            ENV.proxy, "/v1/responses", {"model": "openclaw", "input": f"hi {m2}", "stream": True},
            self.client_headers())
        self.assertEqual(status, 200, raw[:500])
        self.traces.setdefault("sse", []).append(headers.get("x-clawgate-trace-id"))
        self.assertTrue(headers.get("content-type", "").startswith("text/event-stream"), headers)
        self.assertEqual(events[-1][1], "[DONE]", raw[-300:])
        types = [json.loads(d).get("type") for _, d in events[:-1]]
        self.assertEqual(types[0], "response.created", types)
        self.assertIn("response.completed", types)
        deltas = "".join(json.loads(d).get("delta", "") for _, d in events[:-1]
                         if json.loads(d).get("type") == "response.output_text.delta")
        self.assertEqual(deltas, f"mock answer: hi {m2}")
        self.assertGreaterEqual(ENV.model_saw(m2), 1)

    def test_05_models(self):
        """GET /v1/models is allowed (models-list) and lists the gateway's agent targets"""
        r = self.proxy("GET", "/v1/models")
        self.assertEqual(r.status, 200, r)
        ids = [m["id"] for m in r.json()["data"]]
        self.assertTrue(any(i.startswith("openclaw") for i in ids), ids)

    def test_06_tool_allowed(self):
        """tool sessions_list (tools-read-only): 200 ok:true, the gateway's own result"""
        r = self.proxy("POST", "/tools/invoke", {"tool": "sessions_list", "args": {"limit": 5}})
        self.remember("tool allowed", r)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertIs(doc["ok"], True, r)
        self.assertIn("sessions", doc["result"]["details"])
        self.assertEqual(doc["result"]["details"]["limitApplied"], 5)

    def test_07_tool_denied(self):
        """tools exec and bash (alias) are tools-never: 403 policy_denied in the tools shape"""
        for tool in ("exec", "bash", "EXEC"):
            r = self.proxy("POST", "/tools/invoke",
                           {"tool": tool, "args": {"command": "id"}})
            self.remember("tool denied", r)
            err = self.assert_tools_error(r, 403, "policy_denied")
            self.assertEqual(err.get("rule"), "tools-never", r)

    def test_08_tool_unknown(self):
        """tool no rule allows (frobnicate; web_fetch to an unlisted host): 403 default deny

        default.json allows no tool that the gateway lacks, so "unknown to the gateway but allowed"
        cannot happen with it; what it does with an unknown tool is deny it by default, and the
        request is never forwarded (the gateway itself would answer 404 not_found)."""
        body = {"tool": "frobnicate", "args": {}}
        r = self.proxy("POST", "/tools/invoke", body)
        self.remember("tool unknown", r)
        err = self.assert_tools_error(r, 403, "policy_denied")
        self.assertNotIn("rule", err, r)  # no rule matched, so none is named
        self.assertIn("default_decision", err.get("reason", ""), r)
        g = self.direct("POST", "/tools/invoke", body)
        self.assertEqual(g.status, 404, g)
        self.assertEqual(g.json()["error"]["type"], "not_found")
        # web_fetch is allowed for listed hosts only.
        r = self.proxy("POST", "/tools/invoke",
                       {"tool": "web_fetch", "args": {"url": "https://attacker.example.org/x"}})
        self.remember("tool unknown", r)
        self.assert_tools_error(r, 403, "policy_denied")

    def test_09_gateway_4xx_relayed(self):
        """the gateway's own 4xx are relayed unchanged (same status, same bytes as direct)"""
        cases = [
            ("/v1/chat/completions", self.chat("hello unknown agent", model="openclaw/nope")),
            ("/v1/chat/completions", {"model": "openclaw", "messages": []}),
            ("/tools/invoke", {"tool": "sessions_list", "args": {"limit": -3}}),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                r = self.proxy("POST", path, body)
                self.remember("gateway 4xx", r)
                g = self.direct("POST", path, body)
                self.assertGreaterEqual(g.status, 400, g)
                self.assertLess(g.status, 500, g)
                self.assertEqual(r.status, g.status, (r, g))
                self.assertEqual(r.body, g.body)
                self.assertNotIn("trace_id", r.body.decode())  # not a clawgate refusal
        self.assertEqual(ENV.model_saw("hello unknown agent"), 0)

    def test_10_red_never_reaches_model(self):
        """red chat / SSE / responses / tool args: 403 policy_denied deny-red, nothing forwarded"""
        m = marker("red")
        text = f"wire money to account 4711 {m} today"
        attempts = [
            ("/v1/chat/completions", self.chat(text), "v1"),
            ("/v1/chat/completions", self.chat(text, stream=True), "v1"),
            ("/v1/responses", {"model": "openclaw", "input": text}, "v1"),
            ("/tools/invoke", {"tool": "sessions_list", "args": {"search": text}}, "tools"),
        ]
        for path, body, shape in attempts:
            with self.subTest(path=path, stream=body.get("stream")):
                r = self.proxy("POST", path, body)
                self.remember("red", r)
                if shape == "v1":
                    err = self.assert_v1_error(r, 403, "policy_denied", "permission_error")
                else:
                    err = self.assert_tools_error(r, 403, "policy_denied")
                self.assertEqual(err.get("rule"), "deny-red", r)
                self.assertEqual(r.headers.get("x-clawgate-risk"), "red")
        self.assertEqual(ENV.model_saw(m), 0, "a red request reached the model")
        self.traces["red marker"] = [m]

    def test_11_approval_round_trip(self):
        """approval round trip: amber chat 403 -> CLI approve -> re-send 200 once -> then 'used'

        403 approval_required with the id; still pending -> approval_invalid not_approved;
        `clawgate approvals approve` on the admin listener; a changed body -> request_mismatch;
        the same body with X-Clawgate-Approval -> 200 from the gateway; again -> used."""
        m = marker("amb")
        body = self.chat(f"draft a note to the vendor {m} about lunch")
        r = self.proxy("POST", "/v1/chat/completions", body)
        self.remember("approval", r)
        err = self.assert_v1_error(r, 403, "approval_required", "permission_error")
        self.assertEqual(err.get("rule"), "approve-amber")
        aid = err["approval_id"]
        self.assertRegex(aid, r"^apr_[0-9a-f]{32}$")
        self.assertIn(aid, err["message"])
        self.assertEqual(ENV.model_saw(m), 0, "an amber request reached the model unapproved")

        # Pending, then still refused while pending.
        listed = self.admin("GET", "/v1/approvals?state=pending")
        self.assertEqual(listed.status, 200, listed)
        self.assertIn(aid, [a["id"] for a in listed.json()["approvals"]])
        r = self.proxy("POST", "/v1/chat/completions", body, **{"X-Clawgate-Approval": aid})
        self.remember("approval", r)
        err = self.assert_v1_error(r, 403, "approval_invalid", "permission_error")
        self.assertEqual(err.get("reason"), "not_approved")

        # Approve with the CLI (the approver's path in README).
        env_var = "CLAWGATE_E2E_ADMIN_TOKEN"
        cli = ENV.cli("approvals", "approve", aid, "--note", "e2e ok", "--admin-url",
                      ENV.admin_url, "--token-env", env_var, "--json",
                      env_extra={env_var: ENV.admin_token})
        self.assertEqual(cli.returncode, 0, cli.stderr)
        approved = json.loads(cli.stdout)
        self.assertEqual(approved["state"], "approved")
        self.assertEqual(approved["reviewer"], ADMIN_ID)
        self.assertEqual(approved["note"], "e2e ok")
        self.assertEqual(approved["identity"], CLIENT_ID)

        # A changed request does not match (and does not use the approval up).
        changed = self.chat(f"draft a note to the vendor {m} about dinner")
        r = self.proxy("POST", "/v1/chat/completions", changed, **{"X-Clawgate-Approval": aid})
        self.remember("approval", r)
        err = self.assert_v1_error(r, 403, "approval_invalid", "permission_error")
        self.assertEqual(err.get("reason"), "request_mismatch")
        self.assertEqual(ENV.model_saw(m), 0)

        # The same request, approved: forwarded once, answered by the gateway.
        r = self.proxy("POST", "/v1/chat/completions", body, **{"X-Clawgate-Approval": aid})
        self.remember("approval", r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-clawgate-risk"), "amber")
        self.assertEqual(r.json()["choices"][0]["message"]["content"],
                         f"mock answer: draft a note to the vendor {m} about lunch")
        seen = ENV.model_saw(m)
        self.assertGreaterEqual(seen, 1)

        # Used up.
        r = self.proxy("POST", "/v1/chat/completions", body, **{"X-Clawgate-Approval": aid})
        self.remember("approval", r)
        err = self.assert_v1_error(r, 403, "approval_invalid", "permission_error")
        self.assertEqual(err.get("reason"), "used")
        self.assertEqual(ENV.model_saw(m), seen, "a used approval let a request through")
        shown = self.admin("GET", f"/v1/approvals/{aid}")
        self.assertEqual(shown.status, 200, shown)
        self.assertEqual(shown.json()["state"], "used")
        self.assertTrue(shown.json()["used_at"])
        self.traces["approval id"] = [aid]

    def test_12_approval_denied(self):
        """amber tool: denied over the admin API -> 403 approval_denied; deciding again -> 409"""
        body = {"tool": "sessions_list", "args": {"search": "customer accounts"}}
        r = self.proxy("POST", "/tools/invoke", body)
        self.remember("approval denied", r)
        err = self.assert_tools_error(r, 403, "approval_required")
        aid = err["approval_id"]
        d = self.admin("POST", f"/v1/approvals/{aid}/deny", {"note": "not today"})
        self.assertEqual(d.status, 200, d)
        self.assertEqual(d.json()["state"], "denied")
        self.assertEqual(d.json()["reviewer"], ADMIN_ID)
        r = self.proxy("POST", "/tools/invoke", body, **{"X-Clawgate-Approval": aid})
        self.remember("approval denied", r)
        self.assert_tools_error(r, 403, "approval_denied")
        again = self.admin("POST", f"/v1/approvals/{aid}/approve", {})
        self.assert_v1_error(again, 409, "approval_conflict", "api_error")

    def test_99_stop_and_audit(self):
        """SIGTERM -> exit 0; `audit verify` passes (and fails with a wrong key); records right

        Per trace id: forwarded requests have received..completed (status 200, stream complete
        for SSE), refused ones rejected and no forwarded record; the approval's transitions are
        recorded; no token or key is in the file; the red marker never reached the model."""
        code = ENV.stop_clawgate()
        self.assertEqual(code, 0, "clawgate exit code on SIGTERM\n" + ENV.clawgate_log_tail())
        v = ENV.cli("audit", "verify", ENV.audit_file, "--key-env", "CLAWGATE_AUDIT_KEY",
                    env_extra={"CLAWGATE_AUDIT_KEY": ENV.audit_key})
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        bad = ENV.cli("audit", "verify", ENV.audit_file, "--key-env", "CLAWGATE_AUDIT_KEY",
                      env_extra={"CLAWGATE_AUDIT_KEY": "not-the-key"})
        self.assertEqual(bad.returncode, 1, "a wrong key must not verify")

        records = ENV.audit_records()
        stages = [r["stage"] for r in records]
        self.assertEqual(stages[0], "started")
        self.assertEqual(stages[-1], "stopped")
        by_trace = {}
        for rec in records:
            by_trace.setdefault(rec.get("trace_id"), []).append(rec)

        def stages_of(tid):
            return [r["stage"] for r in by_trace.get(tid, [])]

        for case in ("chat", "responses", "tool allowed", "sse"):
            for tid in self.traces.get(case, []):
                with self.subTest(case=case, trace=tid):
                    st = stages_of(tid)
                    for s in ("received", "classified", "decided", "forwarded", "completed"):
                        self.assertIn(s, st)
                    done = [r for r in by_trace[tid] if r["stage"] == "completed"][0]
                    self.assertEqual(done["data"]["status"], 200)
                    self.assertEqual(done["identity"], CLIENT_ID)
                    if case == "sse":
                        self.assertIs(done["data"]["stream"], True)
                        self.assertIs(done["data"]["stream_complete"], True)
        for case in ("tool denied", "tool unknown", "red"):
            for tid in self.traces.get(case, []):
                with self.subTest(case=case, trace=tid):
                    st = stages_of(tid)
                    self.assertIn("rejected", st)
                    self.assertNotIn("forwarded", st)
                    decided = [r for r in by_trace[tid] if r["stage"] == "decided"]
                    self.assertEqual(decided[0]["data"]["decision"], "deny")
        aid = self.traces.get("approval id", [None])[0]
        if aid:
            mine = [r for r in records if (r.get("data") or {}).get("approval_id") == aid]
            st = [r["stage"] for r in mine]
            for s in ("approval_requested", "approval_granted", "approval_used"):
                self.assertIn(s, st)
        # No secret reached the audit file.
        with open(ENV.audit_file, encoding="utf-8") as f:
            text = f.read()
        for name, secret in (("gateway token", ENV.gateway_token),
                             ("client token", ENV.client_token),
                             ("admin token", ENV.admin_token), ("HMAC key", ENV.audit_key)):
            self.assertNotIn(secret, text, f"the {name} is in the audit file")
        # Over the whole run.
        red = self.traces.get("red marker", [None])[0]
        if red:
            self.assertEqual(ENV.model_saw(red), 0)


# ---------------------------------------------------------------------------------------------
# Runner with a per-case summary


RESULT = None  # the TimedResult, for the summary even when the run was aborted


class TimedResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        global RESULT
        RESULT = self
        self.rows = []
        self._t0 = None
        self._has_row = False

    def startTest(self, test):
        self._t0 = time.monotonic()
        self._has_row = False
        super().startTest(test)

    def stopTest(self, test):
        if not self._has_row:  # a failed subtest (no addSuccess/addFailure for the case)
            self._row(test, "FAIL")
        super().stopTest(test)

    def _row(self, test, word):
        self._has_row = True
        doc = (test._testMethodDoc or test._testMethodName).strip().splitlines()[0]
        self.rows.append((word, time.monotonic() - (self._t0 or time.monotonic()), doc))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._row(test, "PASS")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._row(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._row(test, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._row(test, "SKIP")


def loud_skip():
    banner = "#" * 78
    msg = (f"\n{banner}\n##  E2E SKIPPED: CLAWGATE_SKIP_E2E=1 -- the real-gateway tests did NOT run.\n"
           f"##  Nothing was checked against OpenClaw. Unset CLAWGATE_SKIP_E2E to run them.\n"
           f"{banner}\n")
    print(msg, flush=True)
    print(msg, file=sys.stderr, flush=True)
    return SKIP_CODE


def main():
    p = argparse.ArgumentParser(description="clawgate end-to-end tests against a real OpenClaw gateway")
    p.add_argument("--clawgate", default=os.environ.get("CLAWGATE_BINARY"),
                   help="the clawgate binary (default $CLAWGATE_BINARY)")
    p.add_argument("--keep", action="store_true",
                   default=os.environ.get("CLAWGATE_E2E_KEEP") == "1",
                   help="keep the temporary folder")
    p.add_argument("--policy", default=os.path.join(REPO, "policies", "default.json"),
                   help="policy file (default: the shipped policies/default.json, which the cases "
                        "assume; another one is for checking that the cases catch a bad policy)")
    p.add_argument("-k", dest="patterns", action="append", default=[],
                   help="run only cases whose name contains this (repeatable)")
    args = p.parse_args()

    if os.environ.get("CLAWGATE_SKIP_E2E") == "1":
        return loud_skip()
    if not args.clawgate or not os.access(args.clawgate, os.X_OK):
        print(f"e2e: --clawgate (or $CLAWGATE_BINARY) must name the clawgate binary; got "
              f"{args.clawgate!r}", file=sys.stderr)
        return 2

    budget = int(os.environ.get("CLAWGATE_E2E_BUDGET_S", "660"))

    def on_budget(signum, _frame):
        raise Budget(f"signal {signum}" if signum != signal.SIGALRM else
                     f"the run exceeded its budget of {budget}s (CLAWGATE_E2E_BUDGET_S)")

    signal.signal(signal.SIGALRM, on_budget)
    signal.signal(signal.SIGTERM, on_budget)
    signal.signal(signal.SIGINT, on_budget)
    signal.alarm(budget)

    global ENV
    t0 = time.monotonic()
    env = Env(args.clawgate, args.keep, args.policy)
    ENV = env
    result = None
    ok = False
    try:
        env.start_gateway()
        env.start_clawgate()
        loader = unittest.TestLoader()
        if args.patterns:
            loader.testNamePatterns = [f"*{x}*" for x in args.patterns] + ["*test_99*"]
        suite = loader.loadTestsFromTestCase(OpenClawE2E)
        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=TimedResult)
        result = runner.run(suite)
        ok = result.wasSuccessful()
    except Budget as e:
        print(f"e2e: ABORTED: {e}", file=sys.stderr, flush=True)
    except Exception as e:  # set-up failed
        print(f"e2e: SET-UP FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGINT):  # clean-up is bounded: let it finish
            signal.signal(sig, lambda s, _f: log(f"signal {s} during clean-up: finishing it first"))
        if RESULT is not None and result is None:
            result = RESULT
        env.failed = not ok
        try:
            env.close()
        except BaseException as e:  # still report what we have
            print(f"e2e: clean-up problem: {e!r}", file=sys.stderr, flush=True)
            ok = False
        total = time.monotonic() - t0
        print("\n==== clawgate e2e against OpenClaw: summary ====")
        for k, v in env.timings.items():
            print(f"  {'':5} {v:7.1f}s  {k}")
        for word, secs, doc in (result.rows if result else []):
            print(f"  {word:5} {secs:7.1f}s  {doc}")
        print(f"  {'OK' if ok else 'FAILED':5} {total:7.1f}s  total")
        if not ok and env.proc is not None:
            print("---- clawgate log (tail) ----\n" + env.clawgate_log_tail(30))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

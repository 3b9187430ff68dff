#!/usr/bin/env python3
"""Scripted OpenAI-compatible model server for running the OpenClaw gateway locally (stdlib only).

Serves on 127.0.0.1 only:
  POST /v1/chat/completions   (also /chat/completions) non-stream JSON, or SSE when "stream": true
  GET  /v1/models             (also /models, /v1/models/<id>)
  GET  /health                liveness probe; the only request that is not written to the request log

The answer is chosen from the text of the last user turn (the gateway's timestamp prefix,
"Runtime: ..." footer and internal context blocks are ignored; see user_text()):
  [mock:tool:NAME {json args}]  answer with a tool call to NAME (arguments optional, default {});
                                several markers give several parallel tool calls. When NAME is not
                                among the request's tools but the gateway's "tool_call" meta tool
                                is, the call is wrapped as tool_call {"id": NAME, "args": {...}}.
  [mock:error] / [mock:error:NNN]  answer HTTP NNN (default 500) with an OpenAI-style error body
  [mock:say:TEXT]               answer exactly TEXT (TEXT cannot contain "]")
  [mock:say64:BASE64]           answer exactly the base64-decoded UTF-8 text
  [mock:slow:MS]                wait MS milliseconds first (combines with the others)
  anything else                 "mock answer: <first 60 chars of the user text>"
Once the last user turn has had a tool round (a tool call or a tool result after it), the answer is
always text, "mock answer: tool NAME returned: <first 200 chars of the last result>", so a tool
loop ends after one round whatever the gateway does with the call.

Every request is appended to the request log (--request-log or $MOCK_MODEL_REQUEST_LOG) as one
JSON line: {"time", "method", "path", "headers", "body"}; body is the parsed JSON, or the raw text
when it is not JSON, or null when empty.

The bound port is printed alone on the first line of stdout and written to --port-file. Port 0
picks a free port. SIGTERM and SIGINT stop the server cleanly (exit 0).
"""

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
MAX_BODY = 32 * 1024 * 1024
MAX_SLOW_MS = 600_000
ECHO_CHARS = 60
TOOL_RESULT_CHARS = 200

MARKER_TOOL = re.compile(r"\[mock:tool:([A-Za-z0-9_.:-]+)")
MARKER_ERROR = re.compile(r"\[mock:error(?::(\d{3}))?\]")
MARKER_SAY = re.compile(r"\[mock:say:([^\]]*)\]")
MARKER_SAY64 = re.compile(r"\[mock:say64:([A-Za-z0-9+/=_-]*)\]")
MARKER_SLOW = re.compile(r"\[mock:slow:(\d+)\]")
# What the gateway wraps around the user's own text (observed with openclaw 2026.9.6):
# "[Sat 2026-11-21 23:29 UTC] <text>\n\nRuntime: agent=main | session=... | ...", followed by a
# second user message holding "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> ... <<<END_...>>>".
TIMESTAMP_PREFIX = re.compile(r"\A\s*\[[A-Z][a-z]{2} \d{4}-\d{2}-\d{2} [^\]]*\]\s*")
RUNTIME_FOOTER = re.compile(r"\n+\s*Runtime: agent=.*\Z", re.S)
INTERNAL_CONTEXT = re.compile(
    r"<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>.*?(<<<END_OPENCLAW_INTERNAL_CONTEXT>>>|\Z)", re.S)


def content_text(content):
    """Text of an OpenAI message content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def strip_gateway_wrapping(text):
    text = INTERNAL_CONTEXT.sub("", text)
    text = RUNTIME_FOOTER.sub("", text)
    return TIMESTAMP_PREFIX.sub("", text).strip()


def last_user_turn(messages):
    """(index, text) of the last user message with text of the user's own (one that is not only an
    internal context block), without the gateway's timestamp prefix and Runtime footer."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "user":
            own = strip_gateway_wrapping(content_text(m.get("content")))
            if own:
                return i, own
    return -1, ""


def user_text(messages):
    return last_user_turn(messages)[1]


def parse_tool_markers(text):
    """[(name, args)] for every [mock:tool:NAME {json}] marker, in order."""
    calls = []
    decoder = json.JSONDecoder()
    for m in MARKER_TOOL.finditer(text):
        name = m.group(1)
        pos = m.end()
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        args = {}
        if pos < len(text) and text[pos] == "{":
            try:
                args, _ = decoder.raw_decode(text, pos)
            except ValueError:
                args = {}
        calls.append((name, args if isinstance(args, dict) else {"value": args}))
    return calls


def request_tool_names(body):
    names = set()
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return names


def plan_answer(body):
    """Decide the scripted answer: a dict with kind text|tool_calls|error."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    turn, text = last_user_turn(messages)
    plan = {"slow_ms": 0}
    slow = MARKER_SLOW.search(text)
    if slow:
        plan["slow_ms"] = min(int(slow.group(1)), MAX_SLOW_MS)

    # Once this turn has had a tool round (the gateway appends its internal context block after
    # the tool results, so "the last message" is no guide), answer with text: never loop.
    results = [m for m in messages[turn + 1:]
               if isinstance(m, dict) and m.get("role") in ("tool", "function")]
    called = any(isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
                 for m in messages[turn + 1:])
    if results or called:
        last = results[-1] if results else {}
        name = last.get("name") or tool_name_for_id(messages, last.get("tool_call_id")) or "?"
        result = content_text(last.get("content"))
        plan.update(kind="text",
                    text=f"mock answer: tool {name} returned: {result[:TOOL_RESULT_CHARS]}")
        return plan

    err = MARKER_ERROR.search(text)
    if err:
        plan.update(kind="error", status=int(err.group(1) or 500))
        return plan

    calls = parse_tool_markers(text)
    if calls:
        available = request_tool_names(body)
        wrapped = []
        for name, args in calls:
            if name not in available and "tool_call" in available:
                wrapped.append(("tool_call", {"id": name, "args": args}))
            else:
                wrapped.append((name, args))
        plan.update(kind="tool_calls", calls=[
            {"id": "callmock" + uuid.uuid4().hex[:12], "type": "function",
             "function": {"name": n, "arguments": json.dumps(a, separators=(",", ":"))}}
            for n, a in wrapped])
        return plan

    say64 = MARKER_SAY64.search(text)
    if say64:
        encoded = say64.group(1).rstrip("=").replace("-", "+").replace("_", "/")
        try:
            said = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            said = "mock answer: bad say64 payload"
        plan.update(kind="text", text=said)
        return plan
    say = MARKER_SAY.search(text)
    if say:
        plan.update(kind="text", text=say.group(1))
        return plan

    plan.update(kind="text", text="mock answer: " + text[:ECHO_CHARS])
    return plan


def tool_name_for_id(messages, call_id):
    if not call_id:
        return None
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "assistant":
            for call in m.get("tool_calls") or []:
                if isinstance(call, dict) and call.get("id") == call_id:
                    return (call.get("function") or {}).get("name")
    return None


def usage_for(body, completion_text):
    prompt_chars = len(json.dumps(body.get("messages", []), ensure_ascii=False))
    prompt = max(1, prompt_chars // 4)
    completion = max(1, len(completion_text.split()))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class RequestLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, record):
        if not self.path:
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-model/1"
    model_id = "mock-model"
    request_log = RequestLog(None)
    quiet = False

    # --- plumbing -------------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # noqa: N802 (stdlib name)
        if not self.quiet:
            sys.stderr.write("mock-model: %s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                if len(data) + size > MAX_BODY:
                    raise ValueError("body too large")
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def log_request_record(self, raw):
        body = None
        if raw:
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        self.request_log.write({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        })
        return body

    def send_json(self, status, obj):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, message, etype="invalid_request_error"):
        self.send_json(status, {"error": {"message": message, "type": etype,
                                          "param": None, "code": None}})

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def sse(self, obj):
        payload = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
        self.write_chunk(("data: " + payload + "\n\n").encode("utf-8"))

    # --- routes ---------------------------------------------------------------------------------
    def route(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.startswith("/v1/"):
            path = path[3:]
        return path

    def do_GET(self):  # noqa: N802
        path = self.route()
        if path == "/health":
            self.send_json(200, {"ok": True})
            return
        self.log_request_record(b"")
        model = {"id": self.model_id, "object": "model", "created": 0, "owned_by": "mock"}
        if path == "/models":
            self.send_json(200, {"object": "list", "data": [model]})
        elif path == "/models/" + self.model_id:
            self.send_json(200, model)
        else:
            self.send_error_json(404, f"no route for GET {self.path}")

    def do_POST(self):  # noqa: N802
        try:
            raw = self.read_body()
        except ValueError as e:
            self.close_connection = True
            self.send_error_json(413, str(e))
            return
        body = self.log_request_record(raw)
        if self.route() != "/chat/completions":
            self.send_error_json(404, f"no route for POST {self.path}")
            return
        if not isinstance(body, dict):
            self.send_error_json(400, "body must be a JSON object")
            return
        plan = plan_answer(body)
        if plan["slow_ms"]:
            time.sleep(plan["slow_ms"] / 1000.0)
        if plan["kind"] == "error":
            status = plan["status"]
            etype = "rate_limit_error" if status == 429 else (
                "server_error" if status >= 500 else "invalid_request_error")
            self.send_error_json(status, f"mock error {status} (requested by [mock:error])", etype)
            return
        try:
            if body.get("stream"):
                self.answer_stream(body, plan)
            else:
                self.answer_json(body, plan)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def answer_json(self, body, plan):
        message = {"role": "assistant", "content": None}
        if plan["kind"] == "tool_calls":
            message["tool_calls"] = plan["calls"]
            finish, produced = "tool_calls", json.dumps(plan["calls"])
        else:
            message["content"] = plan["text"]
            finish, produced = "stop", plan["text"]
        self.send_json(200, {
            "id": "chatcmpl-mock" + uuid.uuid4().hex[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model_id,
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
            "usage": usage_for(body, produced),
        })

    def answer_stream(self, body, plan):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-mock" + uuid.uuid4().hex[:16], "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model") or self.model_id}

        def chunk(delta, finish=None):
            return dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish,
                                        "logprobs": None}])

        if plan["kind"] == "tool_calls":
            produced = json.dumps(plan["calls"])
            self.sse(chunk({"role": "assistant", "content": None}))
            for i, call in enumerate(plan["calls"]):
                self.sse(chunk({"tool_calls": [{
                    "index": i, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}]}))
                args = call["function"]["arguments"]
                for start in range(0, len(args), 16):
                    self.sse(chunk({"tool_calls": [{
                        "index": i, "function": {"arguments": args[start:start + 16]}}]}))
            self.sse(chunk({}, "tool_calls"))
        else:
            produced = plan["text"]
            self.sse(chunk({"role": "assistant", "content": ""}))
            for piece in re.findall(r"\s*\S+", produced) or [produced]:
                self.sse(chunk({"content": piece}))
            self.sse(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            self.sse(dict(base, choices=[], usage=usage_for(body, produced)))
        self.sse("[DONE]")
        self.write_chunk(b"")


def write_atomic(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", nargs="?", type=int, default=None,
                   help="port on 127.0.0.1 (default $MOCK_MODEL_PORT or 0 = any free port)")
    p.add_argument("--port-file", help="write the bound port here")
    p.add_argument("--pid-file", help="write the process id here (removed on clean exit)")
    p.add_argument("--request-log", default=os.environ.get("MOCK_MODEL_REQUEST_LOG"),
                   help="append one JSON line per request (default $MOCK_MODEL_REQUEST_LOG)")
    p.add_argument("--model-id", default=os.environ.get("MOCK_MODEL_ID", "mock-model"))
    p.add_argument("--quiet", action="store_true", help="no per-request access log on stderr")
    args = p.parse_args()
    port = args.port if args.port is not None else int(os.environ.get("MOCK_MODEL_PORT") or 0)

    Handler.model_id = args.model_id
    Handler.request_log = RequestLog(args.request_log)
    Handler.quiet = args.quiet
    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    bound = server.server_address[1]

    stopping = threading.Event()

    def on_signal(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.pid_file:
        write_atomic(args.pid_file, f"{os.getpid()}\n")
    if args.port_file:
        write_atomic(args.port_file, f"{bound}\n")
    print(bound, flush=True)
    sys.stderr.write(f"mock-model: listening on http://{HOST}:{bound}/v1 (model {args.model_id})\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.pid_file:
            try:
                with open(args.pid_file, encoding="utf-8") as f:
                    if f.read().strip() == str(os.getpid()):
                        os.remove(args.pid_file)
            except OSError:
                pass
        sys.stderr.write("mock-model: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

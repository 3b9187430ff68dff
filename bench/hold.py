#!/usr/bin/env python3
"""Holds many streaming chat requests open at once, for bench/run.sh's memory measurement.

    hold.py --port P --token-env VAR --body FILE

Reads target counts from stdin, one per line. For each, opens streams until that many are
held: a POST /v1/chat/completions whose answer started (status 200 and the first SSE bytes).
Then prints "HELD <held> <failed> <seconds>" and waits for the next line. Streams stay open,
their events read and dropped, until stdin closes. 127.0.0.1 only; every step has a deadline.
"""
import argparse
import asyncio
import os
import sys
import time

OPEN_TIMEOUT_S = 30
MAX_OPENING = 256  # connections being set up at once; the listener's backlog is larger


async def open_stream(port, request, streams):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        first = await reader.read(4096)
        if not first:
            raise RuntimeError("stream closed before its first event")
    except BaseException:
        writer.close()
        raise
    streams.append(writer)
    return reader


async def drain_forever(reader):
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, asyncio.CancelledError):
        pass


async def grow(port, request, streams, readers, target, failures):
    sem = asyncio.Semaphore(MAX_OPENING)

    async def one():
        async with sem:
            try:
                reader = await asyncio.wait_for(open_stream(port, request, streams), OPEN_TIMEOUT_S)
            except (OSError, RuntimeError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                failures.append(str(e) or type(e).__name__)
                return
            readers.append(asyncio.ensure_future(drain_forever(reader)))

    need = max(0, target - len(streams))
    await asyncio.gather(*(one() for _ in range(need)))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-env", required=True)
    ap.add_argument("--body", required=True)
    args = ap.parse_args()
    body = open(args.body, "rb").read()
    token = os.environ[args.token_env]
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
        "Authorization: Bearer {}\r\nContent-Type: application/json\r\n"
        "Accept: text/event-stream\r\nContent-Length: {}\r\n\r\n"
    ).format(args.port, token, len(body)).encode() + body

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    streams, readers = [], []
    while True:
        line = await stdin.readline()
        if not line:
            break
        target = int(line)
        failures = []
        started = time.monotonic()
        await grow(args.port, request, streams, readers, target, failures)
        alive = sum(1 for r in readers if not r.done())
        print("HELD {} {} {:.1f}".format(alive, len(failures), time.monotonic() - started),
              flush=True)
        if failures:
            print("hold.py: first failure: " + failures[0], file=sys.stderr, flush=True)
    for w in streams:
        w.close()
    for r in readers:
        r.cancel()


if __name__ == "__main__":
    asyncio.run(main())

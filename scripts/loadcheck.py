#!/usr/bin/env python3
"""A load generator that checks every answer, for drain and deploy tests.

    scripts/loadcheck.py PORT [--connections N] [--seconds S] [--path P]... [--host H]
                              [--until-refused] [--post-key KEY]

N keep-alive connections each send requests one after another (the paths in
turn; with --post-key, every other request is a POST /api/items) and check
each answer whole: a status line, headers, a JSON body of the announced
length, status 200 (201 for POSTs). An answer with `Connection: close` ends
the connection, which reconnects. Outcomes are counted:

  ok         a full, correct answer
  refused    a reconnect refused (the server stopped accepting: expected in a drain)
  failed     anything else: a reset or close with a request sent and no full
             answer, a timeout, a wrong status or a short body (the bar is zero)

With --until-refused, a connection stops at its first refused reconnect (a
drained server); otherwise everything stops after S seconds. Prints one
JSON line: {"ok", "refused", "failed", "failures": [first few], "created": [ids]}.
"""

import argparse
import asyncio
import json
import sys
import time


class Stats:
    def __init__(self):
        self.ok = self.refused = self.failed = 0
        self.failures = []
        self.created = []

    def fail(self, why):
        self.failed += 1
        if len(self.failures) < 20:
            self.failures.append(why)


async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def connection(n, args, stats, deadline):
    reader = writer = None
    i = 0
    while time.monotonic() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(args.host, args.port)
            except ConnectionRefusedError:
                stats.refused += 1
                if args.until_refused:
                    return
                await asyncio.sleep(0.05)
                continue
            except OSError as e:
                stats.fail(f"connect: {e!r}")
                await asyncio.sleep(0.05)
                continue
        path = args.path[i % len(args.path)]
        post = args.post_key and i % 2 == 1
        i += 1
        if post:
            body = json.dumps({"name": f"load {n}/{i}", "price": 1}).encode()
            req = (f"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"X-API-Key: {args.post_key}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        try:
            writer.write(req)
            await writer.drain()
            status, headers, body = await asyncio.wait_for(read_answer(reader), args.timeout)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            # A keep-alive connection the server closed before this request reached it is
            # not a lost request only if nothing at all was sent back and the server said
            # nothing: HTTP clients retry those. Here it counts: the drain must not do it.
            stats.fail(f"{path}: {e!r}")
            writer.close()
            writer = None
            continue
        except asyncio.TimeoutError:
            stats.fail(f"{path}: no answer in {args.timeout} s")
            writer.close()
            writer = None
            continue
        want = 201 if post else 200
        if status != want or not body.startswith(b"{"):
            stats.fail(f"{path}: status {status}, body {body[:80]!r}")
        else:
            stats.ok += 1
            if post:
                stats.created.append(json.loads(body)["id"])
        if headers.get("connection", "").lower() == "close":
            writer.close()
            writer = None
    if writer:
        writer.close()


async def main_async(args):
    stats = Stats()
    deadline = time.monotonic() + args.seconds
    await asyncio.gather(*(connection(n, args, stats, deadline) for n in range(args.connections)))
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--path", action="append")
    ap.add_argument("--until-refused", action="store_true")
    ap.add_argument("--post-key")
    args = ap.parse_args()
    args.path = args.path or ["/api/items"]
    stats = asyncio.run(main_async(args))
    print(json.dumps({"ok": stats.ok, "refused": stats.refused, "failed": stats.failed,
                      "failures": stats.failures, "created": stats.created}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

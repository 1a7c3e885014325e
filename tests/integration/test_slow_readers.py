"""Memory the plan could not see, under a container's limit: 860 slow readers of a
1,000-item page under a 64 MB memory cgroup that is charged for TCP buffers too (as cgroup v2
charges a Fargate task). Before, each held its ~240 KB answer and the kernel's socket buffers,
and the process was OOM-killed within a second in 6 of 8 runs while /health/detailed said
"pass". Now answers built and not yet sent draw on a bounded pool, socket buffers are bounded
per connection, and connections over the limit are refused at once: 10 of 10 runs end with no
OOM kill, every answer 200 or 503, and /health answered throughout."""

import json
import os
import selectors
import socket
import sys
import threading
import time
import unittest

import pg
from harness import SANITIZED, free_port, read_response
from test_memory import make_cgroups, start_in
from test_overload import Prober

READERS = 860
RUNS = 10
NAME = "n" * 200  # the longest name: a 1,000-item page is about 240 KB


def slow_readers(port, n, hold_s):
    """n connections ask for the whole page and read nothing for hold_s, then read each
    answer through; returns the statuses (None for a connection that got no answer)."""
    socks, statuses = [], []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/items?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        except OSError:
            statuses.append(None)
    time.sleep(hold_s)
    for s in socks:
        try:
            s.settimeout(10)
            statuses.append(read_response(s).status)
        except OSError:
            statuses.append(None)
        finally:
            s.close()
    return statuses


def oom_kills(procs):
    """OOM kills recorded by the memory cgroup (v1 memory.oom_control, v2 memory.events)."""
    d = os.path.dirname(procs[0])
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(f"{d}/{name}") as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
    return None


class SlowReadersTest(unittest.TestCase):
    def setUp(self):
        if SANITIZED:
            self.skipTest("a sanitized build's own memory does not fit a 64 MB plan")
        if os.getuid() != 0:
            self.skipTest("needs root to make a memory cgroup (the test makes and removes its own)")
        try:
            self.procs = make_cgroups(self, 64 << 20, tcp=True)
        except OSError as e:
            self.skipTest(f"cannot make a memory cgroup here (is the memory controller "
                          f"mounted and delegated?): {e}")

    def run_scenario(self, env, fill, every_run):
        results = []
        for run in range(RUNS):
            port = free_port()
            p = start_in(self, self.procs, {"PORT": str(port), "HOST": "127.0.0.1",
                                            "ACCESS_LOG": "off", **env})
            try:
                started = json.loads(p.stdout.readline())
                self.assertEqual(started["memory_limit_bytes"], 64 << 20)
                if every_run or run == 0:
                    fill(port)
                prober = Prober(port)
                statuses = slow_readers(port, READERS, hold_s=2)
                probes = prober.finish()
                self.assertIsNone(p.poll(), f"run {run}: node-api died (OOM kill?)")
                results.append(statuses)
            finally:
                p.terminate()
                p.wait(30)
                p.stdout.close()
            self.assertEqual(p.returncode, 0, f"run {run}: exit status {p.returncode}")
            self.assertEqual(set(statuses), {200, 503}, f"run {run}")
            self.assertEqual(set(probes), {200}, f"run {run}: {probes}")
        self.assertEqual(oom_kills(self.procs), 0)
        counts = [(r.count(200), r.count(503)) for r in results]
        print(f"\nslow readers under 64 MB, {RUNS} runs of {READERS}: (200s, 503s) {counts}",
              file=sys.stderr)

    def test_embedded_store(self):
        def fill(port):
            body = json.dumps({"name": NAME, "price": 1}).encode()
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            for _ in range(997):
                s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n"
                          b"Content-Type: application/json\r\nContent-Length: " +
                          str(len(body)).encode() + b"\r\n\r\n" + body)
                self.assertEqual(read_response(s).status, 201)
            s.close()

        # The store lives as long as the process: every run fills its own.
        self.run_scenario({"API_KEY": "k"}, fill, every_run=True)

    def test_postgres(self):
        db = pg.shared()
        url = db.fresh_database("slow_readers")

        def fill(port):
            deadline = time.monotonic() + 20
            while True:  # the schema is there once the database check passes
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                        s.sendall(b"GET /health/detailed HTTP/1.1\r\nHost: x\r\n\r\n")
                        if read_response(s).status == 200:
                            break
                except OSError:
                    pass
                self.assertLess(time.monotonic(), deadline, "the database never connected")
                time.sleep(0.1)
            db.psql(f"INSERT INTO items (name, price) SELECT '{NAME}', 1"
                    " FROM generate_series(1, 997)", db="slow_readers")

        self.run_scenario({"DATABASE_URL": url, "DB_POOL_SIZE": "4"}, fill, every_run=False)


if __name__ == "__main__":
    unittest.main()

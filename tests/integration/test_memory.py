"""Memory budget: shedding with 503 near the limit, while /health stays up."""

import unittest

from harness import Server


class MemoryTest(unittest.TestCase):
    def test_shedding(self):
        # A threshold far below any real RSS puts the server in shedding at once.
        with Server({"MEMORY_LIMIT_MB": "64", "MEMORY_SHED_PERCENT": "1"}) as srv:
            srv.wait_log(lambda l: l["message"].startswith("memory near its limit"))
            r = srv.get("/api/items")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertEqual(r.json()["error"]["status"], 503)
            # The load balancer's check stays shallow and up.
            self.assertEqual(srv.get("/health").status, 200)
            # Monitoring sees why (shed at its first call, hence the 503 error shape).
            self.assertEqual(srv.get("/health/detailed").status, 503)

    def test_budget_reported(self):
        with Server({"MEMORY_LIMIT_MB": "256"}) as srv:
            started = srv.logs()[0]
            self.assertEqual(started["memory_limit_bytes"], 256 << 20)
            self.assertLessEqual(started["worst_case_bytes"], started["shed_threshold_bytes"])
            self.assertEqual(srv.get("/api/items").status, 200)
            d = srv.get("/health/detailed").json()
            self.assertEqual(d["checks"]["memory"]["limit_bytes"], 256 << 20)
            self.assertEqual(d["connections"]["max"], started["max_connections"])

    def test_connection_limit_holds(self):
        with Server({"MAX_CONNECTIONS": "20", "THREADS": "1"}) as srv:
            socks = [srv.connect() for _ in range(20)]
            try:
                # The 21st connect may complete in the backlog but gets no service...
                extra = srv.connect(timeout=1)
                extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                extra.settimeout(0.5)
                try:
                    got = extra.recv(100)
                except OSError:
                    got = b""
                self.assertFalse(got.startswith(b"HTTP/1.1 200"), got)
                # ...until a slot frees.
                socks.pop().close()
                extra.settimeout(10)
                from harness import read_response
                if not got:
                    self.assertEqual(read_response(extra).status, 200)
                extra.close()
            finally:
                for s in socks:
                    s.close()


if __name__ == "__main__":
    unittest.main()


class CgroupDefaultsTest(unittest.TestCase):
    """THREADS and MEMORY_LIMIT_MB default to what the process's cgroup grants.

    Runs the binary inside a cgroup made for the test (v1 memory and cpu
    controllers, or v2 where this process may create a child group); skipped
    where neither can be made (not root, no delegation).
    """

    def make_groups(self):
        import os
        name = f"node-api-test-{os.getpid()}"
        own = {}
        with open("/proc/self/cgroup") as f:
            lines = f.readlines()
        for line in lines:
            num, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else ["unified" if num == "0" else ""]:
                own[c] = path
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # pure v2
            base = f"/sys/fs/cgroup{own.get('unified', '/').rstrip('/')}/{name}"
            os.mkdir(base)
            self.addCleanup(os.rmdir, base)
            with open(f"{base}/memory.max", "w") as f:
                f.write(str(256 << 20))
            with open(f"{base}/cpu.max", "w") as f:
                f.write("50000 100000")
            return [base]
        groups = []
        for ctrl, files in (("memory", {"memory.limit_in_bytes": str(256 << 20)}),
                            ("cpu", {"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"})):
            base = f"/sys/fs/cgroup/{ctrl}{own.get(ctrl, '/').rstrip('/')}/{name}"
            os.mkdir(base)
            self.addCleanup(os.rmdir, base)
            for fname, value in files.items():
                with open(f"{base}/{fname}", "w") as f:
                    f.write(value)
            groups.append(base)
        return groups

    def test_limits_come_from_the_cgroup(self):
        import os
        import subprocess
        from harness import BIN
        try:
            groups = self.make_groups()
        except OSError as e:
            self.skipTest(f"cannot make a cgroup here: {e}")
        procs = " ".join(f"{g}/cgroup.procs" for g in groups)
        script = f'for f in {procs}; do echo $$ > "$f"; done; exec "{BIN}"'
        env = {k: v for k, v in os.environ.items()
               if k not in ("THREADS", "MEMORY_LIMIT_MB", "PORT")}
        env.update(PORT="0", HOST="127.0.0.1")
        p = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE)
        try:
            import json
            started = json.loads(p.stdout.readline())
        finally:
            p.terminate()
            p.wait(20)
            p.stdout.close()
        self.assertEqual(started["memory_limit_bytes"], 256 << 20)
        self.assertEqual(started["shed_threshold_bytes"], (256 << 20) // 100 * 90)
        self.assertEqual(started["threads"], 1)

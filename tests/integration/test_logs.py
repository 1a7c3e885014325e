"""Logs: every line valid JSON with the common fields; lifecycle and access lines."""

import re
import time
import unittest

from harness import Server

COMMON = ("level", "message", "timestamp", "service")


class LogsTest(unittest.TestCase):
    def check_common(self, lines, service="node-api"):
        for l in lines:
            for f in COMMON:
                self.assertIn(f, l)
            self.assertIn(l["level"], ("debug", "info", "warn", "error"))
            self.assertEqual(l["service"], service)
            self.assertRegex(l["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_lifecycle_and_access_lines(self):
        srv = Server({"SERVICE_NAME": "items-svc", "ENABLE_LOADTEST_ROUTES": "1"})
        srv.get("/api/items", {"User-Agent": "probe/1.0", "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
                               "X-Amzn-Trace-Id": "Root=1-5f84c7a9-abc", "X-Request-Id": "rid-1"})
        srv.get("/api/status/502")
        srv.get("/nope\xe9")
        srv.signal()
        self.assertEqual(srv.wait(), 0)
        lines = srv.logs()
        srv.stop()
        self.check_common(lines, "items-svc")

        started = lines[0]
        self.assertTrue(started["message"].startswith("Server started on port"))
        for f in ("port", "threads", "max_connections", "max_body_bytes", "version", "pid"):
            self.assertIn(f, started)

        # Each request is its own connection, so another thread may log the next one's line
        # before this one's: pick the lines by path, not by order.
        access = [l for l in lines if l["message"] == "request"]
        self.assertEqual(len(access), 3)
        by_path = {l["path"]: l for l in access}
        a = by_path["/api/items"]
        self.assertEqual((a["method"], a["path"], a["status"]), ("GET", "/api/items", 200))
        self.assertEqual(a["client"], "203.0.113.9")
        # Too short for an X-Ray root: no trace id, the ALB's header kept as it came.
        self.assertIsNone(a["trace_id"])
        self.assertEqual(a["amzn_trace_id"], "Root=1-5f84c7a9-abc")
        self.assertEqual(a["request_id"], "rid-1")
        self.assertEqual(a["user_agent"], "probe/1.0")
        self.assertGreater(a["bytes"], 100)
        self.assertIsInstance(a["duration_ms"], float)
        self.assertEqual(by_path["/api/status/502"]["level"], "error")  # a 5xx answer
        self.assertEqual(by_path["/api/status/502"]["status"], 502)
        # The raw byte 0xE9 is not UTF-8: the log line carries U+FFFD in its place.
        self.assertEqual(sorted(by_path), ["/api/items", "/api/status/502", "/nope\ufffd"])
        self.assertEqual(by_path["/nope\ufffd"]["status"], 404)

        messages = [l["message"] for l in lines]
        self.assertIn("SIGTERM received, shutting down gracefully", messages)
        self.assertIn("drained", messages)
        self.assertEqual(messages[-1], "Server closed")

    def test_trace_context(self):
        """trace_id is one field a log query joins on: the W3C traceparent's trace id, or the
        ALB's X-Ray root as the same 32 hex digits; malformed values are ignored, never an
        error; the ALB's header is kept as it came."""
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        root = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        cases = [
            ("/api/items?case=w3c", {"traceparent": tp}, "4bf92f3577b34da6a3ce929d0e0e4736", None),
            ("/api/items?case=xray", {"X-Amzn-Trace-Id": root}, "5759e988bd862e3fe1be46a994272793",
             root),
            ("/api/items?case=both", {"traceparent": tp, "X-Amzn-Trace-Id": root},
             "4bf92f3577b34da6a3ce929d0e0e4736", root),
            ("/api/items?case=bad-w3c", {"traceparent": tp.upper(), "X-Amzn-Trace-Id": root},
             "5759e988bd862e3fe1be46a994272793", root),
            ("/api/items?case=bad", {"traceparent": "00-xyz", "X-Amzn-Trace-Id": "Root=1-zz"},
             None, "Root=1-zz"),
        ]
        with Server() as srv:
            for path, headers, _, _ in cases:
                r = srv.get(path, headers)
                self.assertEqual(r.status, 200)
            # Lines are written by the log's own thread: wait for all of them.
            deadline = time.monotonic() + 10
            while True:
                access = [l for l in srv.logs() if l["message"] == "request"]
                if len(access) >= len(cases) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(len(access), len(cases))
            got = sorted((l["trace_id"] or "", l["amzn_trace_id"] or "") for l in access)
            want = sorted((t or "", a or "") for _, _, t, a in cases)
            self.assertEqual(got, want)

    def test_server_timing(self):
        """Every answer says how long the service spent on it, so a load generator can tell
        server time from network time (the database's part: test_metrics.py)."""
        with Server({"ENABLE_LOADTEST_ROUTES": "1"}) as srv:
            for path, at_least_ms in (("/api/items", 0), ("/api/delay/120", 120), ("/nope", 0)):
                r = srv.get(path)
                m = re.fullmatch(r"app;dur=(\d+\.\d{3})", r.header("Server-Timing") or "")
                self.assertIsNotNone(m, r.headers)
                self.assertGreaterEqual(float(m.group(1)), at_least_ms)

    def test_access_log_off_keeps_errors(self):
        srv = Server({"ACCESS_LOG": "off", "ENABLE_LOADTEST_ROUTES": "1"})
        for _ in range(5):
            srv.get("/health")
        srv.get("/api/status/500")
        srv.stop()
        access = [l for l in srv.logs() if l["message"] == "request"]
        self.assertEqual([a["status"] for a in access], [500])

    def test_access_log_sampling(self):
        srv = Server({"ACCESS_LOG": "0.5"})
        s = srv.connect()
        for _ in range(400):
            srv.request("GET", "/health", sock=s)
        s.close()
        srv.stop()
        n = len([l for l in srv.logs() if l["message"] == "request"])
        self.assertTrue(100 < n < 300, n)

    def test_root_warning(self):
        import os
        srv = Server()
        srv.stop()
        warned = any(l["message"].startswith("running as root") and l["level"] == "warn"
                     for l in srv.logs())
        self.assertEqual(warned, os.getuid() == 0)

    def test_log_level(self):
        srv = Server({"LOG_LEVEL": "warn"})
        srv.get("/health")
        srv.stop()
        levels = {l["level"] for l in srv.logs()}
        self.assertNotIn("info", levels)

    def test_no_secret_in_logs(self):
        srv = Server({"API_KEY": "s3cr3t-key"})
        srv.get("/health?token=s3cr3t-query", {"Authorization": "Bearer s3cr3t-bearer"})
        srv.stop()
        text = "\n".join(srv.lines)
        for secret in ("s3cr3t-key", "s3cr3t-query", "s3cr3t-bearer"):
            self.assertNotIn(secret, text)


if __name__ == "__main__":
    unittest.main()

"""Logs: every line valid JSON with the common fields; lifecycle and access lines."""

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
        self.assertEqual(a["trace_id"], "Root=1-5f84c7a9-abc")
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

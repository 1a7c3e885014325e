"""Command line, configuration errors and the healthcheck command."""

import json
import time
import unittest

from harness import Server, run


class CommandLineTest(unittest.TestCase):
    def test_version_and_help(self):
        rc, out, _ = run(["--version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^node-api \d+\.\d+\.\d+ ")
        rc, out, _ = run(["--help"])
        self.assertEqual(rc, 0)
        for var in ("PORT", "NODE_ENV", "APP_VERSION", "LOG_LEVEL", "THREADS", "MAX_CONNECTIONS",
                    "KEEPALIVE_TIMEOUT_S", "SHUTDOWN_TIMEOUT_S", "MAX_BODY_BYTES",
                    "MEMORY_LIMIT_MB", "ACCESS_LOG", "ENABLE_LOADTEST_ROUTES", "METRICS_PORT",
                    "METRICS_EMF", "METRICS_EMF_INTERVAL_S", "METRICS_EMF_NAMESPACE"):
            self.assertIn(var, out)

    def test_unknown_argument(self):
        for args in (["bogus"], ["serve", "extra"], ["--port=3"]):
            rc, out, err = run(args)
            self.assertEqual(rc, 2, args)
            self.assertIn("usage:", err)
            self.assertEqual(out, "")


class ConfigErrorTest(unittest.TestCase):
    CASES = [
        ("PORT", "abc"), ("PORT", "70000"), ("THREADS", "0"), ("LOG_LEVEL", "loud"),
        ("KEEPALIVE_TIMEOUT_S", "-5"), ("SHUTDOWN_TIMEOUT_S", "soon"), ("MAX_BODY_BYTES", "1MB"),
        ("MEMORY_LIMIT_MB", "4"), ("ACCESS_LOG", "2"), ("ENABLE_LOADTEST_ROUTES", "perhaps"),
        ("MAX_CONNECTIONS", "x"), ("SERVICE_NAME", "a b"), ("MEMORY_SHED_PERCENT", "0"),
        ("HEADERS_TIMEOUT_S", "0"), ("REQUEST_TIMEOUT_S", "abc"), ("SHED_UNHEALTHY_AFTER_S", "-1"),
        ("MEMORY_STORE_MAX_ITEMS", "0"), ("IDEMPOTENCY_TTL_S", "0"), ("IDEMPOTENCY_MAX_KEYS", "x"),
        ("SEND_TIMEOUT_S", "0"), ("METRICS_PORT", "x"), ("METRICS_EMF_INTERVAL_S", "0"),
        ("METRICS_EMF_NAMESPACE", "AWS/mine"),
    ]

    def test_shutdown_timeout_leaves_room_for_the_stop(self):
        """With PostgreSQL the stop waits up to DB_STATEMENT_TIMEOUT_MS + 1 s for calls still
        running: a SHUTDOWN_TIMEOUT_S that leaves no time to drain before it is refused."""
        rc, out, _ = run([], {"SHUTDOWN_TIMEOUT_S": "6", "DB_STATEMENT_TIMEOUT_MS": "5000",
                              "DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "PORT": "0"})
        self.assertEqual(rc, 2)
        line = json.loads(out.strip().split("\n")[-1])
        self.assertEqual(line["variable"], "SHUTDOWN_TIMEOUT_S")
        self.assertIn("DB_STATEMENT_TIMEOUT_MS + 1 s", line["message"])

    def test_bad_values_stop_the_process(self):
        for var, value in self.CASES:
            with self.subTest(var=var, value=value):
                rc, out, _ = run([], {var: value, "PORT": "0"} if var != "PORT" else {var: value})
                self.assertEqual(rc, 2)
                lines = out.strip().split("\n")
                self.assertEqual(len(lines), 1, out)
                line = json.loads(lines[0])
                self.assertEqual(line["level"], "error")
                self.assertEqual(line["variable"], var)
                self.assertIn(var, line["message"])
                self.assertIn("timestamp", line)
                self.assertIn("service", line)

    def test_store_caps_that_do_not_fit_the_memory_limit(self):
        """The embedded store's caps are part of the memory plan: caps that leave no room for
        connections stop the start, naming the variable at fault."""
        for var, value in (("IDEMPOTENCY_MAX_KEYS", "1000000"),
                           ("MEMORY_STORE_MAX_ITEMS", "1000000")):
            with self.subTest(var=var):
                rc, out, _ = run([], {var: value, "MEMORY_LIMIT_MB": "64", "PORT": "0"})
                self.assertEqual(rc, 2, out)
                line = json.loads(out.strip().split("\n")[-1])
                self.assertEqual(line["variable"], var)
                self.assertIn("MEMORY_LIMIT_MB", line["message"])
        rc, out, _ = run([], {"MEMORY_LIMIT_MB": "20", "PORT": "0"})
        self.assertEqual((rc, json.loads(out.strip().split("\n")[-1])["variable"]),
                         (2, "MEMORY_LIMIT_MB"))

    def test_unbindable_host(self):
        rc, out, _ = run([], {"PORT": "0", "HOST": "203.0.113.1"})
        self.assertEqual(rc, 1)
        self.assertIn("HOST", json.loads(out.strip().split("\n")[0])["error"])

    def test_port_in_use(self):
        with Server() as srv:
            rc, out, _ = run([], {"PORT": str(srv.port), "HOST": "127.0.0.1"})
            self.assertEqual(rc, 1)
            err = [json.loads(l) for l in out.strip().split("\n")][0]
            self.assertEqual(err["level"], "error")
            self.assertIn("PORT", err["error"])


class ListenTest(unittest.TestCase):
    def test_dual_stack(self):
        import socket
        from harness import build_request, read_response
        with Server({"HOST": "::"}) as srv:
            for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                with socket.socket(family) as s:
                    s.settimeout(10)
                    s.connect((addr, srv.port))
                    s.sendall(build_request("GET", "/health"))
                    self.assertEqual(read_response(s).status, 200)
            rc, out, _ = run(["healthcheck"], {"PORT": str(srv.port), "HOST": "::"})
            self.assertEqual(rc, 0, out)
        # Sorted: a request's line is written after its answer, so two connections' lines
        # may come in either order. The second ::1 is the healthcheck's.
        clients = sorted(l["client"] for l in srv.logs() if l["message"] == "request")
        self.assertEqual(clients, ["127.0.0.1", "::1", "::1"])


class HealthcheckTest(unittest.TestCase):
    def test_healthy(self):
        with Server() as srv:
            rc, out, _ = run(["healthcheck"], {"PORT": str(srv.port), "HOST": "0.0.0.0"})
            self.assertEqual(rc, 0)
            self.assertIn("200", out)

    def test_nothing_listening(self):
        with Server() as srv:
            port = srv.port
        rc, _, err = run(["healthcheck"], {"PORT": str(port), "HOST": "127.0.0.1"})
        self.assertEqual(rc, 1)
        self.assertIn("unhealthy", err)

    def test_unhealthy_answer(self):
        # A server whose /health answers 503 (draining) is unhealthy.
        with Server({"ENABLE_LOADTEST_ROUTES": "1", "SHUTDOWN_TIMEOUT_S": "5"}) as srv:
            s = srv.connect()
            s.sendall(b"GET /api/delay/3000 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)
            srv.signal()
            srv.wait_log(lambda l: "SIGTERM" in l.get("message", ""))
            # The listener is shut: the check fails fast instead of hanging.
            rc, _, err = run(["healthcheck"], {"PORT": str(srv.port), "HOST": "127.0.0.1"})
            self.assertEqual(rc, 1)
            self.assertIn("unhealthy", err)
            s.close()

    def test_bad_config_is_unhealthy_not_2(self):
        rc, _, _ = run(["healthcheck"], {"PORT": "nope"})
        self.assertEqual(rc, 1)


if __name__ == "__main__":
    unittest.main()

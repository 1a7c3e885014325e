"""Routes: status, headers, and body schema and types, against the tutorial's app."""

import re
import socket
import unittest

from harness import Server, read_response

JSON_TYPE = "application/json; charset=utf-8"


class RoutesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"NODE_ENV": "production", "APP_VERSION": "2.0.1"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assertJsonResponse(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), JSON_TYPE)
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{24}$")
        return r.json()

    def test_health(self):
        body = self.assertJsonResponse(self.srv.get("/health"), 200)
        self.assertEqual(set(body), {"status", "hostname", "uptime", "timestamp"})
        self.assertEqual(body["status"], "healthy")
        self.assertEqual(body["hostname"], socket.gethostname())
        self.assertIsInstance(body["uptime"], float)
        self.assertGreaterEqual(body["uptime"], 0)
        self.assertIsInstance(body["timestamp"], int)
        self.assertGreater(body["timestamp"], 1_600_000_000_000)

    def test_info(self):
        body = self.assertJsonResponse(self.srv.get("/api/info"), 200)
        self.assertEqual(body, {"service": "node-api", "version": "2.0.1",
                                "environment": "production", "hostname": socket.gethostname()})

    def test_items(self):
        r = self.srv.get("/api/items")
        body = self.assertJsonResponse(r, 200)
        self.assertEqual(body, {"items": [{"id": 1, "name": "Widget A", "price": 29.99},
                                          {"id": 2, "name": "Widget B", "price": 49.99},
                                          {"id": 3, "name": "Widget C", "price": 19.99}],
                                "count": 3})
        self.assertIsInstance(body["items"][0]["id"], int)
        # Exact, as Express prints them.
        self.assertIn(b'"price":29.99}', r.body)

    def test_health_detailed(self):
        body = self.assertJsonResponse(self.srv.get("/health/detailed"), 200)
        self.assertEqual(body["status"], "healthy")
        self.assertEqual(body["checks"]["store"]["status"], "pass")
        self.assertEqual(body["checks"]["store"]["backend"], "memory")
        mem = body["checks"]["memory"]
        self.assertEqual(mem["status"], "pass")
        self.assertIsInstance(mem["rss_bytes"], int)
        self.assertGreater(mem["rss_bytes"], 0)
        self.assertGreaterEqual(body["in_flight"], 1)  # this very request
        self.assertGreaterEqual(body["connections"]["open"], 1)
        self.assertEqual(body["version"], "2.0.1")
        self.assertIsInstance(body["uptime"], float)

    def test_head_matches_get(self):
        for path in ("/health", "/api/info", "/api/items", "/health/detailed"):
            g = self.srv.get(path)
            h = self.srv.request("HEAD", path)
            self.assertEqual(h.status, g.status, path)
            self.assertEqual(h.body, b"")
            self.assertEqual(h.header("Content-Type"), JSON_TYPE)
            if path in ("/api/info", "/api/items"):
                self.assertEqual(h.header("Content-Length"), g.header("Content-Length"))

    def test_not_found(self):
        body = self.assertJsonResponse(self.srv.get("/api/nothing"), 404)
        self.assertEqual(body["error"]["status"], 404)
        self.assertIn("/api/nothing", body["error"]["message"])
        self.assertEqual(set(body), {"error"})
        # The load-testing routes are off by default.
        self.assertEqual(self.srv.get("/api/delay/1").status, 404)

    def test_method_not_allowed(self):
        for path, allow, methods in (
                ("/api/info", "GET, HEAD, OPTIONS", ("POST", "PUT", "DELETE", "PATCH", "BREW")),
                ("/api/items", "GET, HEAD, POST, OPTIONS", ("PUT", "DELETE", "PATCH", "BREW")),
                ("/api/items/1", "GET, HEAD, PUT, DELETE, OPTIONS", ("POST", "PATCH"))):
            for method in methods:
                r = self.srv.request(method, path, body=b"{}" if method != "BREW" else b"")
                body = self.assertJsonResponse(r, 405)
                self.assertEqual(body["error"]["status"], 405)
                self.assertEqual(r.header("Allow"), allow)

    def test_options(self):
        r = self.srv.request("OPTIONS", "/api/items")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Allow"), "GET, HEAD, POST, OPTIONS")

    def test_express_path_leniency(self):
        self.assertEqual(self.srv.get("/API/Items/").status, 200)
        self.assertEqual(self.srv.get("/health?probe=1").status, 200)

    def test_request_id(self):
        r = self.srv.get("/health", {"X-Request-Id": "trace-abc-123"})
        self.assertEqual(r.header("X-Request-Id"), "trace-abc-123")
        # Not sane: replaced by a fresh ObjectId, never echoed.
        for bad in ("has space", "x" * 200, "semi;colon"):
            r = self.srv.get("/health", {"X-Request-Id": bad})
            self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{24}$")
        ids = {self.srv.get("/health").header("X-Request-Id") for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_body_too_large(self):
        s = self.srv.connect()
        try:
            # Declared far too large to read and drop: refused before reading any of it.
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
                      b"Content-Type: application/json\r\n\r\n")
            r = read_response(s)
        finally:
            s.close()
        body = self.assertJsonResponse(r, 413)
        self.assertEqual(body["error"]["status"], 413)
        self.assertEqual(r.header("Connection"), "close")

    def test_body_too_large_chunked(self):
        s = self.srv.connect()
        try:
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            for _ in range(20):  # 1.25 MiB, over the 1 MiB default
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            r = read_response(s)
        finally:
            s.close()
        self.assertEqual(self.assertJsonResponse(r, 413)["error"]["status"], 413)

    def test_keepalive_reuses_connection(self):
        s = self.srv.connect()
        try:
            ids = []
            for path in ("/health", "/api/info", "/api/items", "/nope", "/health"):
                r = self.srv.request("GET", path, sock=s)
                self.assertNotEqual(r.header("Connection"), "close")
                ids.append(r.header("X-Request-Id"))
            # Five answers over one socket: the connection was reused.
            self.assertEqual(len(set(ids)), 5)
            d = self.srv.request("GET", "/health/detailed", sock=s).json()
            self.assertGreaterEqual(d["connections"]["open"], 1)
        finally:
            s.close()

    def test_http10_client(self):
        s = self.srv.connect()
        try:
            s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(re.match(rb"HTTP/1\.[01] 200", data), data)
        finally:
            s.close()


class LoadTestRoutesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"ENABLE_LOADTEST_ROUTES": "1"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_delay(self):
        import time
        t0 = time.monotonic()
        r = self.srv.get("/api/delay/300")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"delayed_ms": 300})
        self.assertGreaterEqual(took, 0.29)
        self.assertEqual(self.srv.get("/api/delay/999999").status, 400)

    def test_delay_does_not_hold_a_thread(self):
        # More concurrent delays than worker threads: all finish in about one delay.
        import threading
        import time
        results = []

        def one():
            results.append(self.srv.get("/api/delay/500").status)

        t0 = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(16)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            # The server keeps answering other routes meanwhile.
            self.assertEqual(self.srv.get("/health").status, 200)
            time.sleep(0.05)
        self.assertEqual(results, [200] * 16)
        # Serialised on 2 threads they would take 4 s; concurrently about 0.5 s.
        self.assertLess(time.monotonic() - t0, 3.5)

    def test_status(self):
        r = self.srv.get("/api/status/503")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error"]["status"], 503)
        self.assertEqual(self.srv.get("/api/status/201").json(), {"status": 201})
        r = self.srv.get("/api/status/204")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.srv.get("/api/status/600").status, 400)


if __name__ == "__main__":
    unittest.main()

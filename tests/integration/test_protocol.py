"""Protocol edges a real client or proxy meets: request heads up to Node's 16 KiB limit, 413
read by clients that send the whole body first, drained requests answered before the close,
encoded slashes, unsupported transfer codings, and statuses that carry no body."""

import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import Server, read_response

KEY = "protocol-key"
HEAD_MAX = 16384  # Node's maxHeaderSize: the request line and headers, blank line included


def head_of(size, path=b"/health"):
    """A GET of `path` whose head (request line, headers, blank line) is `size` bytes."""
    start = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nX-Pad: "
    end = b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def exchange(port, data, timeout=5.0):
    """Sends raw bytes, reads until the server closes or goes quiet; returns the bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                head, _, rest = got.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":")[1]):
                            return got
    finally:
        s.close()
    return got


def status_of(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.") else None


class HeadSizeTest(unittest.TestCase):
    def test_sweep_of_head_sizes_every_one_answered(self):
        """From 7 KB to 17 KB in 25-byte steps: 200 up to 16 KiB, 431 (JSON) above, and never a
        close without an answer (the 16 KiB pool of before closed silently near 8 KB)."""
        silent, wrong = [], []
        with Server({"ACCESS_LOG": "off"}) as srv:
            for size in range(7000, 17001, 25):
                raw = exchange(srv.port, head_of(size))
                status = status_of(raw)
                want = 200 if size <= HEAD_MAX else 431
                if status is None:
                    silent.append(size)
                elif status != want:
                    wrong.append((size, status))
            for size in (HEAD_MAX, HEAD_MAX + 1):
                raw = exchange(srv.port, head_of(size))
                self.assertEqual(status_of(raw), 200 if size == HEAD_MAX else 431)
            body = raw.partition(b"\r\n\r\n")[2]
            self.assertIn(b'"status":431', body)  # our JSON error, not libmicrohttpd's HTML
        self.assertEqual(silent, [], "closed without an answer")
        self.assertEqual(wrong, [])

    def test_large_head_with_a_large_answer(self):
        """A 16 KiB head and the response headers it gets fit together, for every route."""
        with Server({"ACCESS_LOG": "off", "API_KEY": KEY}) as srv:
            for path in (b"/api/items?limit=3", b"/api/items/1", b"/api/info", b"/nope",
                         b"/health/detailed"):
                with self.subTest(path=path):
                    raw = exchange(srv.port, head_of(HEAD_MAX, path))
                    self.assertEqual(status_of(raw), 404 if path == b"/nope" else 200, raw[:200])
            # A 405 carries Allow, a 401 WWW-Authenticate: the longest header blocks we send.
            raw = exchange(srv.port, head_of(HEAD_MAX, b"/api/items").replace(b"GET", b"PUT", 1))
            self.assertEqual(status_of(raw), 405, raw[:200])
            self.assertIn(b"Allow: GET, HEAD, POST, OPTIONS", raw)


class TooLargeBodyTest(unittest.TestCase):
    def test_413_reaches_clients_that_send_the_whole_body(self):
        """Without Expect: 100-continue a client writes the whole body before it reads: the
        server reads and drops it (up to a bound) so the 413 is read, never a reset."""
        with Server({"API_KEY": KEY, "ACCESS_LOG": "off"}) as srv:
            body = b"x" * (2 * 1024 * 1024)
            for _ in range(20):
                s = srv.connect()
                try:
                    s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() +
                              b"\r\nContent-Type: application/json\r\nContent-Length: " +
                              str(len(body)).encode() + b"\r\n\r\n" + body)
                    r = read_response(s)
                finally:
                    s.close()
                self.assertEqual(r.status, 413)
                self.assertEqual(r.json()["error"]["status"], 413)

    def test_undici_reads_the_413(self):
        """Node's undici (from npm), as fetch() and most Node clients send: 20 of 20 read 413."""
        node = shutil.which("node")
        here = os.path.dirname(os.path.abspath(__file__))
        client = os.path.join(here, "undici")
        if not node:
            self.skipTest("node not found")
        if not os.path.isdir(os.path.join(client, "node_modules", "undici")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=client,
                           check=True, timeout=300)
        with Server({"API_KEY": KEY, "ACCESS_LOG": "off"}) as srv:
            p = subprocess.run([node, os.path.join(client, "post_large.mjs"), str(srv.port), KEY,
                                "20", str(2 * 1024 * 1024)], capture_output=True, text=True,
                               timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["413"] * 20, p.stdout + p.stderr)


class ThroughHaproxyTest(unittest.TestCase):
    """What a proxy in front makes of the edges: HAProxy, standing in for the ALB, turns a
    reset or a close with no answer into a 502 of its own."""

    def test_413_and_large_heads_reach_the_client_through_haproxy(self):
        import tempfile
        from harness import free_port
        if not shutil.which("haproxy"):
            self.skipTest("haproxy not found")
        with Server({"API_KEY": KEY, "ACCESS_LOG": "off"}) as srv:
            tmp = tempfile.mkdtemp(prefix="node-api-haproxy-")
            self.addCleanup(shutil.rmtree, tmp, True)
            front = free_port()
            cfg = os.path.join(tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(f"""global
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-server-close
frontend fe
    bind 127.0.0.1:{front}
    default_backend be
backend be
    server s1 127.0.0.1:{srv.port}
""")
            proxy = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            self.addCleanup(proxy.wait, 10)
            self.addCleanup(proxy.terminate)
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", front), timeout=1).close()
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "haproxy did not listen")
                    time.sleep(0.05)
            body = b"x" * (2 * 1024 * 1024)
            statuses = []
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", front), timeout=10)
                try:
                    s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() +
                              b"\r\nContent-Type: application/json\r\nContent-Length: " +
                              str(len(body)).encode() + b"\r\n\r\n" + body)
                    statuses.append(read_response(s).status)
                except OSError as e:
                    statuses.append(repr(e))
                finally:
                    s.close()
            self.assertEqual(statuses, [413] * 40)
            # Heads HAProxy passes (its buffer is 16 KiB by default) get node-api's answer.
            for size in range(7000, 15001, 500):
                raw = exchange(front, head_of(size))
                self.assertEqual(status_of(raw), 200, (size, raw[:100]))


class PathsAndCodingsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"API_KEY": KEY, "ACCESS_LOG": "off", "ENABLE_LOADTEST_ROUTES": "1"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_encoded_slash_is_not_a_separator(self):
        """Routing is on the raw path, as in Express: /api%2Fitems%2F1 is not /api/items/1, so
        path rules in front (ALB, WAF) cannot be bypassed."""
        for path in ("/api%2Fitems%2F1", "/api%2fitems", "/api/items%2F1", "/health%2F"):
            with self.subTest(path=path):
                r = self.srv.get(path)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.json()["error"]["status"], 404)

    def test_routing_is_on_the_raw_path_as_in_express(self):
        """Express matches routes on the path as it came (a literal segment never decodes), so
        an escaped letter cannot reach a route that path rules in front (an ALB's, a WAF's)
        were written for; it decodes the parameter only: /api/items/%31 is item 1."""
        for path in ("/%61pi/items/1", "/api/item%73/1", "/api/items%2f1", "/%68ealth",
                     "/api/%69nfo"):
            with self.subTest(path=path):
                r = self.srv.get(path)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.json()["error"]["status"], 404)
        r = self.srv.get("/api/items/%31")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], 1)
        # The query string still decodes, as Express's req.query does.
        r = self.srv.get("/api/items?limit=%31")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["count"], 1)

    def test_unsupported_transfer_coding_is_501(self):
        for coding in (b"gzip", b"gzip, chunked", b"deflate", b"identity", b"chunked, gzip"):
            with self.subTest(coding=coding):
                raw = exchange(self.srv.port,
                               b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                               b"\r\nX-API-Key: " + KEY.encode() + b"\r\nTransfer-Encoding: " +
                               coding + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                self.assertEqual(status_of(raw), 501, raw[:300])
                self.assertIn(b'"status":501', raw)

    def test_transfer_encoding_twice_is_400(self):
        """A second Transfer-Encoding field is a smuggling shape (a proxy in front may go by the
        other one): refused with 400 whatever the two say, never read by the first alone."""
        for first, second in ((b"chunked", b"gzip"), (b"gzip", b"chunked"), (b"chunked", b"chunked")):
            with self.subTest(first=first, second=second):
                raw = exchange(self.srv.port,
                               b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                               b"\r\nX-API-Key: " + KEY.encode() + b"\r\nTransfer-Encoding: " + first +
                               b"\r\nTransfer-Encoding: " + second +
                               b"\r\n\r\n11\r\n{\"name\":\"smuggl\"}\r\n0\r\n\r\n")
                self.assertEqual(status_of(raw), 400, raw[:300])
                self.assertIn(b"Transfer-Encoding given 2 times", raw)

    def test_statuses_without_a_body(self):
        for code in (204, 205, 304):
            with self.subTest(code=code):
                s = self.srv.connect()
                try:
                    s.sendall(f"GET /api/status/{code} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    time.sleep(0.3)
                    s.settimeout(1)
                    raw = s.recv(65536)
                finally:
                    s.close()
                head, _, rest = raw.partition(b"\r\n\r\n")
                self.assertEqual(status_of(raw), code)
                self.assertEqual(rest, b"", f"{code} sent a body")
                lines = head.lower().split(b"\r\n")
                if code == 205:
                    self.assertIn(b"content-length: 0", lines)  # RFC 9110 15.3.6
                else:
                    self.assertFalse([l for l in lines if l.startswith(b"content-length")],
                                     f"{code} carries Content-Length")


if __name__ == "__main__":
    unittest.main()


class FieldValueWhitespaceTest(unittest.TestCase):
    """RFC 9110 5.5: a field value excludes the whitespace around it; libmicrohttpd 0.9.75
    strips only what comes before. A key, an Idempotency-Key or a fault header sent with a
    trailing space is the same value without it."""

    def test_trailing_whitespace(self):
        with Server({"API_KEY": "k", "ENABLE_LOADTEST_ROUTES": "1"}) as srv:
            body = b'{"name":"ws","price":1}'
            ct = {"Content-Type": "application/json "}
            self.assertEqual(srv.request("POST", "/api/items", {
                **ct, "Authorization": "Bearer k \t"}, body).status, 201)
            self.assertEqual(srv.request("POST", "/api/items", {
                **ct, "X-API-Key": "k "}, body).status, 201)
            first = srv.request("POST", "/api/items", {
                **ct, "X-API-Key": "k", "Idempotency-Key": "ws-1 "}, body)
            again = srv.request("POST", "/api/items", {
                **ct, "X-API-Key": "k", "Idempotency-Key": "ws-1"}, body)
            self.assertEqual((first.status, again.status), (201, 201))
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
            self.assertEqual(again.json()["id"], first.json()["id"])

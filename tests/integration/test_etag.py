"""Conditional GET as Express does it: a weak ETag on every 200 GET and HEAD, If-None-Match
(one or many tags, `*`, weak comparison) answered 304 with no body, and an ETag that changes
with the item. The tutorial's Express app (scripts/bench/express) runs beside node-api and
both must behave the same on the tutorial's routes."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import Server, free_port, read_response

KEY = "etag-key"
HERE = os.path.dirname(os.path.abspath(__file__))
EXPRESS = os.path.join(HERE, "..", "..", "scripts", "bench", "express")
WEAK = re.compile(r'^W/"[\x21\x23-\x7e]+"$')


class Express:
    """The tutorial's app, from npm ci, on a free loopback port."""

    def __init__(self):
        node = shutil.which("node")
        assert node, "node not found (Node 20 is a test prerequisite)"
        if not os.path.isdir(os.path.join(EXPRESS, "node_modules", "express")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=EXPRESS,
                           check=True, timeout=300)
        self.port = free_port()
        self.proc = subprocess.Popen([node, "app.js"], cwd=EXPRESS,
                                     env={**os.environ, "PORT": str(self.port)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("the Express app did not start")
                time.sleep(0.05)

    def request(self, method, path, headers=None):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            lines = [f"{method} {path} HTTP/1.1", "Host: x"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            return read_response(s, head=(method == "HEAD"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def shape(r):
    """What a client can tell apart: status, whether a body came, an ETag, a Content-Type."""
    return (r.status, len(r.body) > 0, r.header("ETag") is not None,
            r.header("Content-Type") is not None)


class ExpressParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.express = Express()
        cls.srv = Server({"API_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.express.stop()

    def both(self, method, path, headers=None):
        return (self.srv.request(method, path, headers),
                self.express.request(method, path, headers))

    def test_every_200_get_and_head_has_a_weak_etag(self):
        for path in ("/health", "/api/info", "/api/items"):
            for method in ("GET", "HEAD"):
                for r in self.both(method, path):
                    self.assertEqual(r.status, 200, (path, method))
                    self.assertRegex(r.header("ETag") or "", WEAK, (path, method))

    def test_head_has_the_get_etag_and_no_body(self):
        for path in ("/api/info", "/api/items"):
            for side in (self.srv, self.express):
                get = side.request("GET", path)
                head = side.request("HEAD", path)
                self.assertEqual(head.body, b"")
                self.assertRegex(head.header("ETag") or "", WEAK, path)
                self.assertEqual(head.header("ETag"), get.header("ETag"), path)

    def test_if_none_match_answers_304_with_no_body(self):
        for path in ("/api/info", "/api/items"):
            outcomes = []
            for side in (self.srv, self.express):
                tag = side.request("GET", path).header("ETag")
                bare = tag[2:]  # the same tag without W/: a weak comparison matches it
                cases = [
                    ("GET", {"If-None-Match": tag}),
                    ("HEAD", {"If-None-Match": tag}),
                    ("GET", {"If-None-Match": bare}),
                    ("GET", {"If-None-Match": f'"nope", W/"other", {tag}'}),
                    ("GET", {"If-None-Match": "*"}),
                    ("GET", {"If-None-Match": 'W/"nope"'}),
                    ("GET", {"If-None-Match": tag, "Cache-Control": "no-cache"}),
                ]
                got = []
                for method, headers in cases:
                    r = side.request(method, path, headers)
                    got.append(shape(r))
                    if r.status == 304:
                        self.assertEqual(r.header("ETag"), tag)
                        self.assertIsNone(r.header("Content-Type"))
                outcomes.append(got)
            want = [(304, False, True, False)] * 5 + [(200, True, True, True)] * 2
            self.assertEqual(outcomes[0], want, path)
            self.assertEqual(outcomes[1], want, path)

    def test_health_matches_star_and_changes_otherwise(self):
        """/health carries the uptime, so yesterday's tag is stale; `*` still matches."""
        for side in (self.srv, self.express):
            tag = side.request("GET", "/health").header("ETag")
            time.sleep(0.01)
            self.assertEqual(side.request("GET", "/health", {"If-None-Match": tag}).status, 200)
            self.assertEqual(side.request("GET", "/health", {"If-None-Match": "*"}).status, 304)

    def test_lines_of_a_list_are_one_list(self):
        """RFC 9110 5.3: a list split over lines is the list on one line. `*` is alone or a
        fault, however it comes; a no-cache on any Cache-Control line counts."""
        for side in (self.srv, self.express):
            tag = side.request("GET", "/api/items").header("ETag")
            outcomes = []
            for lines in ([("If-None-Match", "*"), ("If-None-Match", '"a"')],
                          [("If-None-Match", '*, "a"')],
                          [("If-None-Match", '"a"'), ("If-None-Match", tag)],
                          [("If-None-Match", tag), ("Cache-Control", "max-age=0"),
                           ("Cache-Control", "no-cache")]):
                sock = socket.create_connection(("127.0.0.1", side.port), timeout=10)
                try:
                    sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n" +
                                 b"".join(f"{k}: {v}\r\n".encode() for k, v in lines) + b"\r\n")
                    outcomes.append(read_response(sock).status)
                finally:
                    sock.close()
            self.assertEqual(outcomes, [200, 200, 304, 200], side)

    def test_an_error_is_never_304(self):
        for r in self.both("GET", "/nowhere", {"If-None-Match": "*"}):
            self.assertEqual(r.status, 404)

    def test_the_connection_stays_usable_after_a_304(self):
        tag = self.srv.get("/api/items").header("ETag")
        with self.srv.connect() as s:
            for _ in range(3):
                r = self.srv.request("GET", "/api/items", {"If-None-Match": tag}, sock=s)
                self.assertEqual((r.status, r.body), (304, b""))
                # The length of the 200 it stands for (RFC 9110 8.6), as libmicrohttpd sends.
                self.assertEqual(r.header("Content-Length"), "144")
            r = self.srv.request("GET", "/api/info", sock=s)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["service"], "node-api")


class ItemTagTest(unittest.TestCase):
    """The tag follows the item: a PUT changes it, the old one no longer matches."""

    def setUp(self):
        self.srv = Server({"API_KEY": KEY})
        self.auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def tearDown(self):
        self.srv.stop()

    def test_put_changes_the_etag(self):
        r = self.srv.request("POST", "/api/items", self.auth,
                             json.dumps({"name": "Gadget", "price": 5}).encode())
        self.assertEqual(r.status, 201)
        path = f"/api/items/{r.json()['id']}"
        first = self.srv.get(path).header("ETag")
        self.assertRegex(first, WEAK)
        self.assertEqual(self.srv.get(path, {"If-None-Match": first}).status, 304)
        listed = self.srv.get("/api/items").header("ETag")
        r = self.srv.request("PUT", path, self.auth,
                             json.dumps({"name": "Gadget", "price": 6}).encode())
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("ETag"))  # only GET and HEAD answers are tagged
        second = self.srv.get(path).header("ETag")
        self.assertRegex(second, WEAK)
        self.assertNotEqual(first, second)
        self.assertEqual(self.srv.get(path, {"If-None-Match": first}).status, 200)
        self.assertEqual(self.srv.get(path, {"If-None-Match": second}).status, 304)
        self.assertNotEqual(self.srv.get("/api/items").header("ETag"), listed)
        self.assertEqual(self.srv.request("DELETE", path, self.auth).status, 204)
        self.assertEqual(self.srv.get(path, {"If-None-Match": second}).status, 404)

    def test_negotiated_answers_vary_on_accept(self):
        """JSON or BSON by Accept: a cache must key on it (RFC 9110 12.5.5), 304 included."""
        for path in ("/api/items", "/api/items/1"):
            for accept in ("application/json", "application/bson"):
                r = self.srv.get(path, {"Accept": accept})
                self.assertEqual((r.status, r.header("Vary")), (200, "Accept"), (path, accept))
                r = self.srv.get(path, {"Accept": accept, "If-None-Match": r.header("ETag")})
                self.assertEqual((r.status, r.header("Vary")), (304, "Accept"), (path, accept))
        self.assertIsNone(self.srv.get("/api/info").header("Vary"))

    def test_bson_has_a_tag_of_its_own(self):
        path = "/api/items/1"
        js = self.srv.get(path).header("ETag")
        bs = self.srv.get(path, {"Accept": "application/bson"})
        self.assertEqual(bs.status, 200)
        self.assertRegex(bs.header("ETag"), WEAK)
        self.assertNotEqual(bs.header("ETag"), js)
        again = self.srv.get(path, {"Accept": "application/bson", "If-None-Match": bs.header("ETag")})
        self.assertEqual((again.status, again.body), (304, b""))
        self.assertEqual(self.srv.get(path, {"If-None-Match": bs.header("ETag")}).status, 200)


if __name__ == "__main__":
    unittest.main()

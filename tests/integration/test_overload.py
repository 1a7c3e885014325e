"""Overload and slow clients: connections over the limit are answered at once (503 with
Connection: close, or the health check's own answer for /health), a slowloris cannot keep a
normal client or the prober out, and a request's head and body have deadlines that a client
trickling bytes cannot stretch."""

import socket
import threading
import time
import unittest

from harness import Server, read_response


class Prober:
    """GET /health on a fresh connection every 100 ms, as a load balancer does; every answer
    is recorded, and a missing one is a failure."""

    def __init__(self, port):
        self.port = port
        self.results = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.results.append(read_response(s).status)
            except OSError as e:
                self.results.append(repr(e))
            time.sleep(0.1)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        return self.results


def served(port, n=1):
    """n keep-alive connections that have each been served a request."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s).status == 200
        socks.append(s)
    return socks


def kernel_sockets(local_port, remote_port):
    """The states (hex, as /proc/net/tcp writes them) of the kernel's sockets from
    local_port to remote_port on loopback."""
    states = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == local_port and
                    int(fields[2].split(":")[1], 16) == remote_port):
                states.append(fields[3])
    return states


class Busy:
    """n keep-alive connections kept busy: each sends a request every 300 ms, so none is ever
    idle for the second that would make it a candidate to close to make room. Every answer
    is recorded. One thread per connection: taken in turn by one thread, a round of n
    requests on a slow (sanitized, loaded) server can itself last near a second."""

    def __init__(self, port, n):
        self.socks = served(port, n)
        self.statuses = []
        self.stop_ = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True)
                        for s in self.socks]
        for t in self.threads:
            t.start()

    def _run(self, s):
        while not self.stop_.wait(0.3):
            try:
                s.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
                self.statuses.append(read_response(s).status)
            except OSError as e:
                self.statuses.append(repr(e))

    def stop(self):
        self.stop_.set()
        for t in self.threads:
            t.join(10)
        for s in self.socks:
            s.close()
        return self.statuses


class OverLimitTest(unittest.TestCase):
    def test_connections_over_the_limit_get_503_at_once(self):
        with Server({"MAX_CONNECTIONS": "50", "ACCESS_LOG": "off"}) as srv:
            busy = Busy(srv.port, 50)  # the limit, every one busy: none may be taken
            try:
                time.sleep(1.5)  # a second and more since they connected
                for _ in range(100):
                    t0 = time.monotonic()
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                    s.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
                    r = read_response(s)
                    s.close()
                    self.assertLess(time.monotonic() - t0, 2)
                    self.assertEqual(r.status, 503)
                    self.assertEqual(r.header("Connection"), "close")
                    self.assertEqual(r.header("Retry-After"), "1")
                    self.assertIn("too many connections", r.json()["error"]["message"])
                # HEAD gets the same head and no body (RFC 9110 9.3.2), over the limit too.
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                s.sendall(b"HEAD /api/items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
                raw = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    raw += chunk
                s.close()
                head, _, rest = raw.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 503 "), raw)
                self.assertIn(b"Content-Length: ", head)
                self.assertEqual(rest, b"")
                # The load balancer's check still gets the real answer.
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                r = read_response(s)
                s.close()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["status"], "healthy")
            finally:
                statuses = busy.stop()
            # The busy ones are untouched.
            self.assertGreater(len(statuses), 50)
            self.assertEqual(set(statuses), {200})

    def test_idle_keep_alive_connections_make_room(self):
        """As nginx reuses idle keep-alive connections at its limit: 50 served connections idle
        for over a second fill the limit, and 50 new clients each take the place of one (200).
        Each one closed is told so (503, Connection: close, Retry-After) before the close,
        never closed without a word, and none of the others is disturbed."""
        with Server({"MAX_CONNECTIONS": "50", "ACCESS_LOG": "off"}) as srv:
            idle = served(srv.port, 50)
            fresh = []
            try:
                time.sleep(1.3)
                statuses = []
                for _ in range(50):  # each kept open: each needs a place of its own
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                    fresh.append(s)
                    s.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
                    statuses.append(read_response(s).status)
                self.assertEqual(statuses, [200] * 50)
                for s in idle:
                    s.settimeout(5)
                    r = read_response(s)
                    self.assertEqual(r.status, 503)
                    self.assertEqual(r.header("Connection"), "close")
                    self.assertEqual(r.header("Retry-After"), "1")
                    self.assertIn("closed to make room", r.json()["error"]["message"])
                    self.assertEqual(s.recv(100), b"")
                for s in fresh:  # the newcomers are served on
                    s.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(read_response(s).status, 200)
            finally:
                for s in idle + fresh:
                    s.close()

    def test_flood_over_the_limit_gets_answers_not_timeouts(self):
        """Ten times the limit in concurrent keep-alive clients: every request is answered,
        200 or 503, and the prober passes throughout."""
        with Server({"MAX_CONNECTIONS": "40", "ACCESS_LOG": "off"}) as srv:
            prober = Prober(srv.port)
            statuses, errors = [], []
            lock = threading.Lock()

            def client():
                deadline = time.monotonic() + 4
                sock = None
                while time.monotonic() < deadline:
                    try:
                        if sock is None:
                            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
                        sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
                        r = read_response(sock)
                    except OSError as e:
                        with lock:
                            errors.append(repr(e))
                        sock = None
                        continue
                    with lock:
                        statuses.append(r.status)
                    if r.header("Connection") == "close":
                        sock.close()
                        sock = None
                if sock:
                    sock.close()

            threads = [threading.Thread(target=client) for _ in range(400)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            probes = prober.finish()
        self.assertEqual(errors, [])
        self.assertEqual(set(statuses), {200, 503})
        self.assertGreater(statuses.count(503), 100)
        self.assertGreater(statuses.count(200), 100)
        self.assertEqual(set(probes), {200}, probes)


class SlowClientsTest(unittest.TestCase):
    def test_slowloris_above_the_limit_does_not_keep_clients_out(self):
        """150 slowloris connections against a limit of 100: a normal client is served (each
        new connection takes the place of a silent one), the prober passes, and the slowloris
        connections are closed at the headers deadline."""
        with Server({"MAX_CONNECTIONS": "100", "HEADERS_TIMEOUT_S": "4",
                     "ACCESS_LOG": "off"}) as srv:
            prober = Prober(srv.port)
            slow = []
            stop = threading.Event()

            def trickle():
                # A byte of header every half second, forever: never a whole head.
                while not stop.is_set():
                    for s in list(slow):
                        try:
                            s.send(b"a")
                        except OSError:
                            slow.remove(s)
                    time.sleep(0.5)

            for _ in range(150):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(s)
            t = threading.Thread(target=trickle, daemon=True)
            t.start()
            try:
                time.sleep(1.2)  # the slowloris connections are now over a second old
                statuses = []
                for _ in range(30):
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                        s.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
                        statuses.append(read_response(s).status)
                    time.sleep(0.05)
                self.assertEqual(statuses, [200] * 30)
                line = srv.wait_log(lambda l: l["message"] == "closed slow or silent connections"
                                    and l["headers_timeouts"] >= 50, timeout=10)
                self.assertEqual(line["headers_timeout_s"], 4)
            finally:
                stop.set()
                t.join(5)
                probes = prober.finish()
                for s in slow:
                    s.close()
        self.assertEqual(set(probes), {200}, probes)

    def test_headers_deadline_whatever_the_pace(self):
        """A byte every 300 ms keeps libmicrohttpd's idle timeout (KEEPALIVE_TIMEOUT_S) from
        firing, not the headers deadline."""
        with Server({"HEADERS_TIMEOUT_S": "2", "KEEPALIVE_TIMEOUT_S": "65"}) as srv:
            s = srv.connect()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            t0 = time.monotonic()
            closed_after, got = None, b""
            while time.monotonic() - t0 < 8:
                try:
                    s.send(b"a")
                except OSError:
                    closed_after = time.monotonic() - t0
                    break
                s.settimeout(0.3)
                try:
                    chunk = s.recv(4096)
                    got += chunk
                    if chunk == b"":
                        closed_after = time.monotonic() - t0
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed_after = time.monotonic() - t0
                    break
            s.close()
            self.assertIsNotNone(closed_after, "still open after 8 s")
            self.assertGreaterEqual(closed_after, 1.9)
            self.assertLess(closed_after, 3.5)
            # Told why before the close, as Node does (408), not closed without a word.
            self.assertTrue(got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), got)
            self.assertIn(b"Connection: close\r\n", got)
            # An origin server with a clock dates its 4xx (RFC 9110 6.6.1).
            self.assertRegex(got, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n")
            self.assertIn(b'"status":408', got)
            srv.wait_log(lambda l: l["message"] == "closed slow or silent connections"
                         and l["headers_timeouts"] == 1)

    def test_request_deadline_for_a_trickled_body(self):
        with Server({"API_KEY": "k", "HEADERS_TIMEOUT_S": "1", "REQUEST_TIMEOUT_S": "3"}) as srv:
            s = srv.connect()
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            t0 = time.monotonic()
            closed_after, got = None, b""
            while time.monotonic() - t0 < 10:
                try:
                    s.send(b" ")
                    s.settimeout(0.3)
                    chunk = s.recv(4096)
                    got += chunk
                    if chunk == b"":
                        closed_after = time.monotonic() - t0
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed_after = time.monotonic() - t0
                    break
            s.close()
            self.assertTrue(got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), got)
            self.assertIsNotNone(closed_after, "still open after 10 s")
            self.assertGreaterEqual(closed_after, 2.9)
            self.assertLess(closed_after, 4.5)
            line = srv.wait_log(lambda l: l["message"] == "request" and l.get("aborted"))
            self.assertEqual(line["path"], "/api/items")
            srv.wait_log(lambda l: l["message"] == "closed slow or silent connections"
                         and l["request_timeouts"] == 1)

    def test_send_deadline_for_a_reader_that_reads_a_byte_at_a_time(self):
        """A client that reads its 1,000-item page a byte every 100 ms keeps libmicrohttpd's
        idle timeout from ever firing, and would hold the answer's memory (the response pool)
        for hours. At SEND_TIMEOUT_S after its answer was queued the connection is reset (so
        the kernel drops what it still holds for it too), the request is logged as cut off,
        the log says why, and the server goes on serving."""
        with Server({"SEND_TIMEOUT_S": "2", "MEMORY_STORE_MAX_ITEMS": "1000",
                     "API_KEY": "k"}) as srv:
            for i in range(997):
                srv.request("POST", "/api/items", {"X-API-Key": "k", "Content-Type":
                            "application/json"}, b'{"name":"item %d","price":1}' % i)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(b"GET /api/items?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            stop = threading.Event()

            def read_slowly():
                s.settimeout(1)
                while not stop.is_set():
                    try:
                        if not s.recv(1):
                            return
                    except OSError:
                        return
                    time.sleep(0.1)

            t = threading.Thread(target=read_slowly, daemon=True)
            t0 = time.monotonic()
            t.start()
            try:
                line = srv.wait_log(lambda l: l["message"] == "closed slow or silent "
                                    "connections" and l["send_timeouts"] == 1)
                self.assertGreaterEqual(time.monotonic() - t0, 1.9)
                self.assertEqual(line["send_timeout_s"], 2)
                line = srv.wait_log(lambda l: l["message"] == "request" and l.get("aborted"))
                self.assertEqual(line["path"], "/api/items")
                self.assertEqual(line["status"], 200)
                # Gone from the server: the prober's own is the one connection open, and the
                # kernel holds nothing for it either (no orphan left sending what it had).
                self.assertEqual(srv.get("/health/detailed").json()["connections"]["open"], 1)
                self.assertEqual(kernel_sockets(srv.port, s.getsockname()[1]), [])
                self.assertEqual(srv.get("/api/items/1").status, 200)
            finally:
                stop.set()
                t.join(5)
                s.close()

if __name__ == "__main__":
    unittest.main()

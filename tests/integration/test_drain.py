"""Graceful drain on SIGTERM/SIGINT: nothing accepted is lost, new connects fail fast."""

import signal
import socket
import threading
import time
import unittest

from harness import Server, build_request, read_response


def send(srv, path):
    s = srv.connect()
    s.sendall(build_request("GET", path))
    return s


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


class DrainTest(unittest.TestCase):
    def test_in_flight_requests_finish_and_connects_are_refused(self):
        srv = Server({"ENABLE_LOADTEST_ROUTES": "1", "SHUTDOWN_TIMEOUT_S": "10"})
        socks = [send(srv, "/api/delay/1500") for _ in range(5)]
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        srv.wait_log(lambda l: l["message"] == "SIGTERM received, shutting down gracefully")
        # New connects are refused at once, not left hanging in the backlog.
        t1 = time.monotonic()
        self.assertTrue(refused(srv.port))
        self.assertLess(time.monotonic() - t1, 1.0)
        for s in socks:
            r = read_response(s)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json(), {"delayed_ms": 1500})
            self.assertEqual(r.header("Connection"), "close")
            s.close()
        self.assertEqual(srv.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 8)
        drained = srv.wait_log(lambda l: l["message"] == "drained")
        self.assertEqual(drained["requests"], 5)
        srv.stop()

    def test_keepalive_connection_gets_one_answer_with_close(self):
        srv = Server({"ENABLE_LOADTEST_ROUTES": "1", "SHUTDOWN_TIMEOUT_S": "10"})
        idle = srv.connect()
        self.assertEqual(srv.request("GET", "/api/info", sock=idle).status, 200)
        busy = send(srv, "/api/delay/1000")
        time.sleep(0.2)
        srv.signal()
        srv.wait_log(lambda l: "SIGTERM" in l["message"])
        # A request arriving on an open connection during the drain is answered...
        r = srv.request("GET", "/health", sock=idle)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["status"], "draining")
        self.assertEqual(r.header("Connection"), "close")
        # ...and then the server closes that connection.
        idle.settimeout(5)
        self.assertEqual(idle.recv(1), b"")
        self.assertEqual(read_response(busy).status, 200)
        busy.close()
        idle.close()
        self.assertEqual(srv.wait(10), 0)
        srv.stop()

    def test_sigint_drains_too(self):
        srv = Server()
        self.assertEqual(srv.get("/health").status, 200)
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait(10), 0)
        srv.wait_log(lambda l: l["message"] == "SIGINT received, shutting down gracefully")
        srv.stop()

    def test_idle_connections_at_deadline_exit_zero(self):
        srv = Server({"SHUTDOWN_TIMEOUT_S": "1"})
        idle = srv.connect()
        self.assertEqual(srv.request("GET", "/health", sock=idle).status, 200)
        t0 = time.monotonic()
        srv.signal()
        self.assertEqual(srv.wait(10), 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        line = srv.wait_log(lambda l: l["message"].startswith("drained; closing idle"))
        self.assertEqual(line["idle_connections"], 1)
        idle.close()
        srv.stop()

    def test_timeout_cuts_off_and_exits_nonzero(self):
        srv = Server({"ENABLE_LOADTEST_ROUTES": "1", "SHUTDOWN_TIMEOUT_S": "1"})
        busy = [send(srv, "/api/delay/8000") for _ in range(6)]
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.signal()
        self.assertEqual(srv.wait(10), 1)
        self.assertLess(time.monotonic() - t0, 5)
        line = srv.wait_log(lambda l: l["message"].startswith("shutdown timeout"))
        self.assertEqual(line["level"], "error")
        self.assertEqual(line["in_flight"], 6)
        # Every cut-off request gets its 503 before the connection closes.
        for s in busy:
            s.settimeout(5)
            r = read_response(s)
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"]["message"], "server shutting down")
            self.assertEqual(r.header("Connection"), "close")
            s.close()
        srv.stop()

    def test_second_signal_exits_at_once(self):
        srv = Server({"ENABLE_LOADTEST_ROUTES": "1", "SHUTDOWN_TIMEOUT_S": "20"})
        busy = send(srv, "/api/delay/10000")
        time.sleep(0.2)
        srv.signal()
        srv.wait_log(lambda l: "SIGTERM" in l["message"])
        t0 = time.monotonic()
        srv.signal()
        self.assertEqual(srv.wait(5), 1)
        self.assertLess(time.monotonic() - t0, 2)
        srv.wait_log(lambda l: l["message"] == "second signal received, exiting now")
        busy.close()
        srv.stop()

    def test_drain_under_load_loses_nothing(self):
        """Keep-alive clients hammer the server; SIGTERM mid-run. Every request sent
        on an accepted connection gets a full 200; the only failures allowed are
        refused reconnects after the drain began."""
        srv = Server({"SHUTDOWN_TIMEOUT_S": "10", "ACCESS_LOG": "off"})
        stop = threading.Event()
        stats = {"ok": 0, "refused": 0, "failed": []}
        lock = threading.Lock()

        def client():
            sock = None
            # A client told to close reconnects at once, whether or not the run is over: the
            # reconnect is what must be refused.
            while sock is None or not stop.is_set():
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                except ConnectionRefusedError:
                    with lock:
                        stats["refused"] += 1
                    return
                try:
                    sock.sendall(build_request("GET", "/api/items"))
                    r = read_response(sock)
                    ok = r.status == 200 and r.json()["count"] == 3
                except Exception as e:  # a lost request
                    with lock:
                        stats["failed"].append(repr(e))
                    sock.close()
                    return
                with lock:
                    if ok:
                        stats["ok"] += 1
                    else:
                        stats["failed"].append(repr(r))
                if r.header("Connection") == "close":
                    sock.close()
                    sock = None

        threads = [threading.Thread(target=client) for _ in range(32)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        srv.signal()
        rc = srv.wait(15)
        stop.set()
        for t in threads:
            t.join(10)
        srv.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 100)
        self.assertEqual(stats["refused"], 32)


if __name__ == "__main__":
    unittest.main()

"""Floods at the connection limit, as an attacker or a mis-sized load generator makes them:
refusals that stay cheap however many clients are being served, silent connections that cannot
fill the refusals and keep the health check out, a slowloris that reconnects when it is closed
or trickles a second head on a served connection, which must not keep normal clients out, and
connections taken to make room, which are told so and whose request never half-runs."""

import resource
import selectors
import socket
import threading
import time
import unittest

from harness import SANITIZED, Server, read_response
from test_overload import Busy, Prober, served

REQUEST = b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n"


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n


def burst(port, n, timeout):
    """n connections at once, each sending REQUEST as soon as it connects; returns, for each,
    its status (or the error) and the seconds from its connect to its answer."""
    sel = selectors.DefaultSelector()
    results = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, [time.monotonic(), b"", False])
    deadline = time.monotonic() + timeout
    while len(sel.get_map()) and time.monotonic() < deadline:
        for key, ev in sel.select(0.05):
            s, st = key.fileobj, key.data
            if not st[2]:
                try:
                    s.send(REQUEST)
                except OSError as e:
                    results.append((repr(e), time.monotonic() - st[0]))
                    sel.unregister(s)
                    s.close()
                    continue
                st[2] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                chunk = s.recv(65536)
            except OSError as e:
                chunk, err = b"", repr(e)
            else:
                err = "closed unanswered"
            st[1] += chunk
            if b"\r\n\r\n" in st[1] or not chunk:
                head = st[1].split(b"\r\n", 1)[0]
                results.append((int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else err,
                                time.monotonic() - st[0]))
                sel.unregister(s)
                s.close()
    for key in list(sel.get_map().values()):
        results.append(("no answer", timeout))
        key.fileobj.close()
    sel.close()
    return results


@unittest.skipIf(SANITIZED, "a measure of cost at 10,000 connections, not of memory or races")
class ManyServedTest(unittest.TestCase):
    def test_refusals_stay_at_once_beside_10000_served_connections(self):
        """10,000 served keep-alive connections, idle, fill the limit. A burst of 4,000 connects
        (what the backlog holds) is answered, each within 2 s of its connect (wrk's timeout),
        not left in the backlog: finding a place costs the same however many are served (the
        sweep gathers candidates, make_room pops them). Those that found a place are served
        (200), the rest refused (503); each idle connection closed to make room is told so
        (503), and every other is served on."""
        if not raise_nofile(15000):
            self.skipTest("needs 15,000 descriptors")
        with Server({"MAX_CONNECTIONS": "10000", "ACCESS_LOG": "off"}) as srv:
            busy = served(srv.port, 10000)
            try:
                results = burst(srv.port, 4000, timeout=20)
                statuses = [r[0] for r in results]
                self.assertEqual([s for s in statuses if s not in (200, 503)], [])
                slowest = max(r[1] for r in results)
                self.assertLess(slowest, 2, f"slowest answer took {slowest:.2f} s")
                told = 0
                for b in busy:
                    b.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
                    r = read_response(b)
                    if r.status == 503:
                        self.assertIn("closed to make room", r.json()["error"]["message"])
                        told += 1
                    else:
                        self.assertEqual(r.status, 200)
                time.sleep(0.3)
                sweeps = [l for l in srv.logs()
                          if l["message"] == "closed slow or silent connections"]
                taken = max([l["closed_to_make_room"] for l in sweeps] or [0])
                self.assertEqual(told, taken)
            finally:
                for b in busy:
                    b.close()


def freezer(test, pid):
    """Puts pid (every thread of it) in a freezer cgroup the test makes and removes; returns
    a function that freezes (True) or thaws (False) it. Skips the test where it cannot."""
    import os
    name = f"node-api-test-{os.getpid()}-freeze"
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        with open("/proc/self/cgroup") as f:
            own = f.read().split("::", 1)[-1].strip()
        base, state, values = f"/sys/fs/cgroup{own.rstrip('/')}/{name}", "cgroup.freeze", "10"
    else:
        base, state, values = f"/sys/fs/cgroup/freezer/{name}", "freezer.state", ("FROZEN",
                                                                                  "THAWED")
    try:
        os.mkdir(base)
    except OSError as e:
        test.skipTest(f"cannot make a freezer cgroup here (needs root and the freezer): {e}")
    test.addCleanup(os.rmdir, base)
    with open(f"{base}/cgroup.procs", "w") as f:
        f.write(str(pid))

    def freeze(on):
        with open(f"{base}/{state}", "w") as f:
            f.write(values[0] if on else values[1])
        want = ("1" if on else "0") if state == "cgroup.freeze" else ("FROZEN" if on else "THAWED")
        for _ in range(200):
            with open(f"{base}/{state}") as f:
                if f.read().strip() == want:
                    return
            time.sleep(0.01)
        raise AssertionError(f"{base} did not become {want}")
    return freeze


class EvictionTest(unittest.TestCase):
    def test_a_request_waiting_unread_is_never_evicted(self):
        """50 connections, silent for over a second, fill the limit of 50: each may be closed
        to make room. Then, while the server is frozen (a worker behind, as under a CPU quota),
        each sends a whole request, and 50 new connections arrive with theirs. On thawing, the
        requests already in are served (200): a connection whose request waits unread in its
        socket is not taken; one taken as its worker was reading its request (a race one
        compare-and-swap settles) answers it 503, unrun. Each newcomer is served if it took
        such a place, refused (503) otherwise."""
        with Server({"MAX_CONNECTIONS": "50", "THREADS": "1", "ACCESS_LOG": "off"}) as srv:
            freeze = freezer(self, srv.proc.pid)
            old = [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                   for _ in range(50)]
            new = []
            try:
                time.sleep(1.3)
                freeze(True)
                for s in old:
                    s.sendall(REQUEST)
                for _ in range(50):
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                    s.sendall(REQUEST)
                    new.append(s)
                freeze(False)
                olds = []
                for s in old:
                    try:
                        olds.append(read_response(s).status)
                    except OSError as e:
                        olds.append(repr(e))
                news = [read_response(s).status for s in new]
                time.sleep(0.5)  # the sweep logs what it closed within 100 ms
                sweeps = [l for l in srv.logs()
                          if l["message"] == "closed slow or silent connections"]
                taken = max([l["closed_to_make_room"] for l in sweeps] or [0])
            finally:
                freeze(False)
                for s in old + new:
                    s.close()
        # A request waiting unread is never taken; one its worker had just read when its
        # connection was taken does not run, and gets the 503.
        seen = (olds, news, sweeps)
        self.assertEqual(sorted(olds), [200] * (50 - taken) + [503] * taken, seen)
        self.assertEqual(sorted(news), [200] * taken + [503] * (50 - taken), seen)


class KeepAliveSlowlorisTest(unittest.TestCase):
    def test_served_connections_trickling_a_second_head_do_not_hold_the_limit(self):
        """50 connections, each served once, then trickling a second head (a header line every
        half second, which keeps libmicrohttpd's idle timeout from firing), hold the limit of
        50. They are idle keep-alive connections as far as making room goes: 20 normal
        clients, each on a new connection, are all served (before: every one refused for as
        long as the attacker kept it up)."""
        with Server({"MAX_CONNECTIONS": "50", "ACCESS_LOG": "off"}) as srv:
            slow = served(srv.port, 50)
            stop = threading.Event()
            for s in slow:
                s.sendall(b"GET /api/items/1 HTTP/1.1\r\n")

            def trickle():
                while not stop.wait(0.5):
                    for s in slow:
                        try:
                            s.send(b"X: y\r\n")
                        except OSError:
                            pass

            t = threading.Thread(target=trickle, daemon=True)
            t.start()
            try:
                time.sleep(1.5)
                statuses = []
                for _ in range(20):
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                        s.sendall(REQUEST)
                        statuses.append(read_response(s).status)
            finally:
                stop.set()
                t.join(5)
                for s in slow:
                    s.close()
        self.assertEqual(statuses, [200] * 20)


class QuietClientsTest(unittest.TestCase):
    def test_a_client_taken_to_make_room_is_told_so(self):
        """20 clients connect and stay quiet (a pre-connecting pool, a client stalled) at a limit
        of 20; after a second, 20 newcomers take their places (200). Each quiet client, when
        it does send its request, reads a 503 that says it was closed to make room, with
        Retry-After: never an end of input (before: closed without a word, so a request sent
        a moment after was lost to a bare close)."""
        with Server({"MAX_CONNECTIONS": "20", "ACCESS_LOG": "off"}) as srv:
            quiet = [socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                     for _ in range(20)]
            fresh = []
            try:
                time.sleep(1.3)
                statuses = []
                for _ in range(20):
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                    fresh.append(s)
                    s.sendall(REQUEST)
                    statuses.append(read_response(s).status)
                self.assertEqual(statuses, [200] * 20)
                for s in quiet:
                    try:
                        s.sendall(REQUEST)
                    except OSError:
                        pass  # the 503 is waiting all the same
                    r = read_response(s)
                    self.assertEqual(r.status, 503)
                    self.assertEqual(r.header("Retry-After"), "1")
                    self.assertIn("closed to make room", r.json()["error"]["message"])
            finally:
                for s in quiet + fresh:
                    s.close()


class SilentFloodTest(unittest.TestCase):
    def test_silent_connections_cannot_keep_the_prober_out(self):
        """With the limit full of busy clients, an attacker keeps opening connections that
        send nothing, twice as many as the server holds refusals for, reopening each one the
        server closes. The load balancer's prober (a fresh connection every 100 ms, 2 s
        timeout) passes every check, and a normal client is answered 503 at once."""
        # A small memory plan makes few refusals to fill. A sanitized build's own memory is
        # most of 64 MB (it would shed the busy clients' requests): it gets room for it.
        memory = "192" if SANITIZED else "64"
        with Server({"MAX_CONNECTIONS": "20", "MEMORY_LIMIT_MB": memory,
                     "ACCESS_LOG": "off"}) as srv:
            refuse_max = srv.wait_log(lambda l: l["message"].startswith("Server started"))["refuse_max"]
            if not raise_nofile(2 * refuse_max + 500):
                self.skipTest("needs more descriptors")
            busy = Busy(srv.port, 20)
            stop = threading.Event()
            sel = selectors.DefaultSelector()

            def attacker():
                def open_one():
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(("127.0.0.1", srv.port))
                    sel.register(s, selectors.EVENT_READ)
                for _ in range(2 * refuse_max):
                    open_one()
                while not stop.is_set():
                    for key, _ in sel.select(0.05):
                        try:
                            gone = not key.fileobj.recv(4096)
                        except OSError:
                            gone = True
                        if gone:
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                            open_one()
                for key in list(sel.get_map().values()):
                    key.fileobj.close()

            t = threading.Thread(target=attacker, daemon=True)
            t.start()
            try:
                time.sleep(2)  # the refusals are full, and the backlog behind them
                prober = Prober(srv.port)
                time.sleep(3)
                statuses = []
                for _ in range(10):
                    t0 = time.monotonic()
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
                        s.sendall(REQUEST)
                        statuses.append(read_response(s).status)
                    self.assertLess(time.monotonic() - t0, 2)
                probes = prober.finish()
            finally:
                stop.set()
                t.join(10)
                busy_statuses = busy.stop()
        self.assertEqual(set(busy_statuses), {200})
        self.assertEqual(statuses, [503] * 10)
        self.assertGreaterEqual(len(probes), 10)
        self.assertEqual(set(probes), {200}, probes)


class ReconnectingSlowlorisTest(unittest.TestCase):
    def test_a_reconnecting_slowloris_does_not_take_normal_clients_places(self):
        """150 slowloris connections against a limit of 100, each reopened at once when the
        server closes it. A connection over the limit may take a silent one's place only once
        it has shown it is not silent itself (its whole head is in), so the slowloris cannot
        take back the places it loses: 60 normal requests, each on a new connection, are all
        served (200), and the prober passes."""
        with Server({"MAX_CONNECTIONS": "100", "HEADERS_TIMEOUT_S": "30",
                     "ACCESS_LOG": "off"}) as srv:
            stop = threading.Event()
            sel = selectors.DefaultSelector()
            lock = threading.Lock()

            def open_one():
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port))
                sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, [False])

            def slowloris():
                with lock:
                    for _ in range(150):
                        open_one()
                last = time.monotonic()
                while not stop.is_set():
                    with lock:
                        for key, ev in sel.select(0.05):
                            s, st = key.fileobj, key.data
                            if ev & selectors.EVENT_WRITE and not st[0]:
                                try:
                                    s.send(b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                                except OSError:
                                    pass
                                st[0] = True
                                sel.modify(s, selectors.EVENT_READ, st)
                                continue
                            try:
                                gone = not s.recv(4096)
                            except OSError:
                                gone = True
                            if gone:  # closed or refused: back at once
                                sel.unregister(s)
                                s.close()
                                open_one()
                        if time.monotonic() - last > 0.5:  # a byte each, every half second
                            last = time.monotonic()
                            for key in list(sel.get_map().values()):
                                if key.data[0]:
                                    try:
                                        key.fileobj.send(b"a")
                                    except OSError:
                                        pass
                with lock:
                    for key in list(sel.get_map().values()):
                        key.fileobj.close()

            t = threading.Thread(target=slowloris, daemon=True)
            t.start()
            try:
                time.sleep(1.5)  # the slowloris holds the limit, and its first places are old
                prober = Prober(srv.port)
                statuses = []
                for _ in range(60):
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                        s.sendall(REQUEST)
                        statuses.append(read_response(s).status)
                    time.sleep(0.05)
                probes = prober.finish()
            finally:
                stop.set()
                t.join(10)
        self.assertEqual(statuses, [200] * 60)
        self.assertEqual(set(probes), {200}, probes)


if __name__ == "__main__":
    unittest.main()

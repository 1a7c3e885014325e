"""Connections the database closed while they sat idle in the pool (a failover, an
operator's pg_terminate_backend, an idle timeout of a proxy): the server said so on the
socket before any request came. The next requests must not be the ones that find out, as
with Node's pg pool, which drops an idle client the moment its socket errors."""

import json
import socket
import threading
import time
import unittest

import pg
from harness import Server, sample, scrape

KEY = "stale-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
POOL = 3


def terminate_all(db, name):
    """Ends every backend of database `name` and waits until each has exited (its FATAL
    is then in the socket of the connection it served). Only those: a worker may open a
    new connection meanwhile (the health lane's housekeeping finds its own ended)."""
    pids = ",".join(r[0] for r in db.psql(
        "SELECT pid FROM pg_stat_activity, pg_terminate_backend(pid)"
        f" WHERE datname = '{name}' AND pid <> pg_backend_pid()")) or "0"
    deadline = time.monotonic() + 10
    while db.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({pids})") != [["0"]]:
        assert time.monotonic() < deadline, "the backends did not exit"
        time.sleep(0.05)


class PooledTest(unittest.TestCase):
    """A database of its own (NAME), and a server on it for each test (with ENV)."""
    NAME, ENV = None, {}

    @classmethod
    def setUpClass(cls):
        cls.db = pg.shared()
        cls.name = cls.NAME
        cls.url = cls.db.fresh_database(cls.name)

    def setUp(self):
        self.srv = Server({"API_KEY": KEY, "DATABASE_URL": self.url, "ACCESS_LOG": "off",
                           **self.ENV})
        self.addCleanup(self.srv.stop)
        self.srv.wait_log(lambda l: l["message"] == "database connected")


class IdleConnectionsClosedByTheDatabaseTest(PooledTest):
    NAME, ENV = "stale_conns", {"DB_POOL_SIZE": str(POOL)}

    def setUp(self):
        super().setUp()
        deadline = time.monotonic() + 10
        while self.db.psql("SELECT count(*) FROM pg_stat_activity"
                           f" WHERE datname = '{self.name}'") != [[str(POOL + 1)]]:
            self.assertLess(time.monotonic(), deadline, "the pool did not fill")
            time.sleep(0.05)

    def test_the_health_check_passes_the_first_time(self):
        terminate_all(self.db, self.name)
        r = self.srv.get("/health/detailed")
        self.assertEqual((r.status, r.json()["checks"]["database"]["status"]), (200, "pass"))

    def test_reads_on_every_pooled_connection_are_answered(self):
        terminate_all(self.db, self.name)
        self.assertEqual([self.srv.get("/api/items?limit=1").status for _ in range(2 * POOL)],
                         [200] * 2 * POOL)

    def test_a_write_is_written(self):
        terminate_all(self.db, self.name)
        r = self.srv.request("POST", "/api/items", AUTH,
                             json.dumps({"name": "after failover", "price": 1}).encode())
        self.assertEqual(r.status, 201)
        self.assertEqual(self.db.psql("SELECT count(*) FROM items WHERE name = 'after failover'",
                                      db=self.name), [["1"]])



class EndedMidCallTest(PooledTest):
    """A backend ended while a call waits on it (a failover in the middle of a query, here
    pg_terminate_backend of one waiting on a lock): its FATAL says the call's transaction did
    not commit, so the call runs again on a new connection, and answers as if nothing had
    happened; the reviewer's race (backends ended just before requests came, their FATAL
    arriving after the request was sent) is this case too. Before: 503 for each."""
    NAME, ENV = "ended_mid_call", {"DB_POOL_SIZE": "2", "DB_ACQUIRE_TIMEOUT_MS": "10000"}

    def psql(self, sql):
        return self.db.psql(sql, db=self.name)

    def ended_while_waiting(self, method, path, headers=None, payload=b""):
        """Runs the request while a lock on items holds it, ends the backend it waits on,
        then lifts the lock; returns the answer."""
        locker = self.db.psql_background("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE;"
                                         " SELECT pg_sleep(30); COMMIT;", db=self.name)
        answer = []
        try:
            deadline = time.monotonic() + 10
            while self.psql("SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                            " AND mode = 'AccessExclusiveLock' AND granted") != [["1"]]:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
            t = threading.Thread(target=lambda: answer.append(
                self.srv.request(method, path, headers, payload)))
            t.start()
            waiting = []
            while not waiting:
                self.assertLess(time.monotonic(), deadline, "the request never waited")
                waiting = self.psql("SELECT pid FROM pg_stat_activity WHERE wait_event_type ="
                                    " 'Lock' AND query NOT LIKE '%pg_sleep%'")
                time.sleep(0.02)
            self.psql(f"SELECT pg_terminate_backend({waiting[0][0]})")
            while self.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {waiting[0][0]}"
                            ) != [["0"]]:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
        finally:
            self.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")
            locker.wait(30)
        t.join(20)
        self.assertEqual(sample(scrape(self.srv), "node_api_db_reruns_total"), 1)
        return answer[0]

    def test_a_read(self):
        r = self.ended_while_waiting("GET", "/api/items?limit=1")
        self.assertEqual(r.status, 200, r.body)

    def test_a_plain_write(self):
        r = self.ended_while_waiting("POST", "/api/items", AUTH,
                                     json.dumps({"name": "ended plain", "price": 1}).encode())
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(self.psql("SELECT count(*) FROM items WHERE name = 'ended plain'"),
                         [["1"]])

    def test_a_keyed_write(self):
        r = self.ended_while_waiting("POST", "/api/items",
                                     {**AUTH, "Idempotency-Key": "ended-keyed"},
                                     json.dumps({"name": "ended keyed", "price": 1}).encode())
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(self.psql("SELECT count(*) FROM items WHERE name = 'ended keyed'"),
                         [["1"]])


class SlowEndProxy:
    """A TCP proxy to PostgreSQL that passes the server's end of a connection on `delay`
    seconds late: its last words (a terminated backend's FATAL) come at once, the close after
    them (a backend slow to exit, a path that delays the FIN)."""

    def __init__(self, upstream_port, delay):
        self.upstream, self.delay = upstream_port, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(c, u, 0), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, self.delay), daemon=True).start()

    @staticmethod
    def _pump(a, b, delay):
        while True:
            try:
                data = a.recv(65536)
                if data:
                    b.sendall(data)
                    continue
            except OSError:
                pass
            time.sleep(delay)
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv too
                except OSError:
                    pass
            return

    def close(self):
        self.sock.close()


class FatalBeforeTheEndTest(unittest.TestCase):
    """A terminated backend's FATAL reaches the idle connection before the close does: libpq
    reads it as a notice (no query is running) and the connection still looks open. It is
    the server saying the session is over: the next call is not sent on it, but runs on a new
    connection (an outside review: a plain write sent there got 504, "may have been applied",
    and was not in the table; a read 503)."""

    def test_calls_after_the_fatal_run_on_a_new_connection(self):
        db = pg.shared()
        name = "fatal_first"
        url = db.fresh_database(name)
        proxy = SlowEndProxy(db.port, 2)
        self.addCleanup(proxy.close)
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url.replace(f":{db.port}/",
                                                                  f":{proxy.port}/"),
                      "DB_POOL_SIZE": "1", "ACCESS_LOG": "off"})
        self.addCleanup(srv.stop)
        srv.wait_log(lambda l: l["message"] == "database connected")
        answers = []
        for method, path, headers, payload in (
                ("POST", "/api/items", AUTH, json.dumps({"name": "fatal first", "price": 1})),
                ("GET", "/api/items?limit=1", None, ""),
                ("POST", "/api/items", {**AUTH, "Idempotency-Key": "fatal-first"},
                 json.dumps({"name": "fatal first keyed", "price": 1}))):
            self.assertEqual(srv.get("/api/items?limit=1").status, 200)  # connected, idle
            terminate_all(db, name)
            answers.append(srv.request(method, path, headers, payload.encode()).status)
        self.assertEqual(answers, [201, 200, 201])
        self.assertEqual(db.psql("SELECT name FROM items WHERE name LIKE 'fatal first%'"
                                 " ORDER BY id", db=name),
                         [["fatal first"], ["fatal first keyed"]])


if __name__ == "__main__":
    unittest.main()

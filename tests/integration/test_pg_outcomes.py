"""What PostgreSQL decides at commit reaches the answer: a write that a deferred constraint
or trigger rolls back is never answered as done; and a keyed write whose transaction is
abandoned (a partition swallows the client's close) does not hold its key for hours."""

import json
import socket
import threading
import time
import unittest

import pg
from harness import Server

KEY = "outcome-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def body(obj):
    return json.dumps(obj).encode()


class CommitTimeErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.shared()
        cls.url = cls.pg.fresh_database("commit_errors")
        cls.srv = Server({"API_KEY": KEY, "DATABASE_URL": cls.url, "ACCESS_LOG": "off"})
        cls.srv.wait_log(lambda l: l["message"] == "database connected")
        cls.pg.psql("ALTER TABLE items ADD CONSTRAINT items_name_unique UNIQUE (name)"
                    " DEFERRABLE INITIALLY DEFERRED", db="commit_errors")
        cls.pg.psql("CREATE FUNCTION refuse_zero() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF NEW.price = 0 THEN RAISE EXCEPTION 'no free items'; END IF;"
                    " RETURN NEW; END $$", db="commit_errors")
        cls.pg.psql("CREATE CONSTRAINT TRIGGER refuse_zero AFTER UPDATE ON items"
                    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_zero()",
                    db="commit_errors")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def count(self, name):
        return int(self.pg.psql(f"SELECT count(*) FROM items WHERE name = '{name}'",
                                db="commit_errors")[0][0])

    def test_deferred_unique_violation_is_409_not_201(self):
        for headers in (AUTH, {**AUTH, "Idempotency-Key": "k-dup-2"}):
            with self.subTest(keyed="Idempotency-Key" in headers):
                name = "dup " + headers.get("Idempotency-Key", "plain")
                first = self.srv.request("POST", "/api/items", AUTH, body({"name": name, "price": 1}))
                self.assertEqual(first.status, 201)
                again = self.srv.request("POST", "/api/items", headers, body({"name": name, "price": 1}))
                self.assertEqual(again.status, 409, again)
                self.assertIsNone(again.header("Retry-After"))  # retrying cannot help
                self.assertIn("constraint", again.json()["error"]["message"])
                self.assertEqual(self.count(name), 1)

    def test_deferred_trigger_failure_is_not_200(self):
        r = self.srv.request("POST", "/api/items", AUTH, body({"name": "trigger", "price": 5}))
        path = r.header("Location")
        r = self.srv.request("PUT", path, AUTH, body({"name": "trigger", "price": 0}))
        self.assertEqual(r.status, 500, r)
        self.assertEqual(self.srv.get(path).json()["price"], 5)  # unchanged, as the answer says


class FreezingProxy:
    """A TCP proxy to PostgreSQL that can black-hole the connections open so far: nothing
    more passes either way, and a close from either side is not passed on (a partition).
    Connections made after that pass normally."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.frozen = set()  # generations frozen
        self.generation = 0
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            gen = self.generation
            self.held += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b, gen), daemon=True).start()

    def _pump(self, a, b, gen):
        while True:
            try:
                data = a.recv(65536)
            except OSError:
                return
            if gen in self.frozen:
                return  # swallowed, and the other side is never told
            if not data:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                b.sendall(data)
            except OSError:
                return

    def freeze(self):
        self.frozen.add(self.generation)
        self.generation += 1

    def close(self):
        self.sock.close()
        for s in self.held:
            s.close()


class AbandonedTransactionTest(unittest.TestCase):
    def test_partition_does_not_hold_the_key(self):
        """A keyed write stuck behind a lock when a partition swallows its connection: the
        abandoned transaction ends within seconds (idle_in_transaction_session_timeout), so
        the key is free again and the retry writes exactly once, instead of 409 for hours."""
        db = pg.shared()
        url = db.fresh_database("abandoned")
        proxy = FreezingProxy(db.port)
        proxied = url.replace(f":{db.port}/", f":{proxy.port}/")
        # The statement outlives the lock: it completes, and the transaction waits for a
        # COMMIT that the partition keeps from ever coming (an error would end it at once).
        srv = Server({"API_KEY": KEY, "DATABASE_URL": proxied, "DB_POOL_SIZE": "2",
                      "DB_STATEMENT_TIMEOUT_MS": "3000", "ACCESS_LOG": "off"})
        try:
            srv.wait_log(lambda l: l["message"] == "database connected")
            self.assertEqual(srv.get("/api/items").status, 200)
            locker = db.psql_background(
                "BEGIN; LOCK TABLE items IN EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;",
                db="abandoned")
            deadline = time.monotonic() + 10
            while db.psql("SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                          " AND mode = 'ExclusiveLock' AND granted", db="abandoned") != [["1"]]:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            headers = {**AUTH, "Idempotency-Key": "k-partition"}
            first = {}
            t = threading.Thread(target=lambda: first.setdefault("r", srv.request(
                "POST", "/api/items", headers, body({"name": "partitioned", "price": 1}))))
            t.start()
            time.sleep(0.5)  # BEGIN and the key's lock are in; the write waits for the table
            proxy.freeze()
            t.join(10)
            locker.wait(30)
            self.assertEqual(first["r"].status, 503)  # before COMMIT: certainly not done
            t0 = time.monotonic()
            while True:
                r = srv.request("POST", "/api/items", headers, body({"name": "partitioned", "price": 1}))
                if r.status not in (409, 503) or time.monotonic() - t0 > 20:
                    break
                time.sleep(0.3)
            waited = time.monotonic() - t0
            self.assertEqual(r.status, 201, r)
            self.assertLess(waited, 10, f"the key stayed taken {waited:.0f} s")
            rows = db.psql("SELECT count(*) FROM items WHERE name = 'partitioned'", db="abandoned")
            self.assertEqual(rows, [["1"]])
        finally:
            srv.stop()
            proxy.close()


class EndedAfterCommitTest(unittest.TestCase):
    def test_a_keyed_write_whose_backend_ends_after_its_commit_is_201(self):
        """A keyed write's COMMIT commits, then its backend is terminated before the answer is
        out (PostgreSQL takes the terminate when it reads the next message, after the
        COMMIT's CommandComplete is queued): the client gets COMMIT done, then the FATAL. The
        write is committed, and its answer is 201 (an outside review: 503, "certainly not
        done", for a row that was in the table). A commit_delay makes the window wide."""
        db = pg.Postgres(durable=True)
        self.addCleanup(db.destroy)
        db.psql("ALTER SYSTEM SET commit_delay = 100000", db="postgres")  # 100 ms in the commit
        db.psql("ALTER SYSTEM SET commit_siblings = 0", db="postgres")
        db.psql("SELECT pg_reload_conf()", db="postgres")
        url = db.fresh_database("after_commit")
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "1",
                      "ACCESS_LOG": "off"})
        self.addCleanup(srv.stop)
        srv.wait_log(lambda l: l["message"] == "database connected")
        answer = []
        headers = {**AUTH, "Idempotency-Key": "k-after-commit"}
        t = threading.Thread(target=lambda: answer.append(srv.request(
            "POST", "/api/items", headers, body({"name": "after commit", "price": 1}))))
        t.start()
        ended = []
        deadline = time.monotonic() + 10
        while not ended:
            self.assertLess(time.monotonic(), deadline, "the COMMIT was never seen running")
            ended = db.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE usename = 'app' AND state = 'active' AND query = 'COMMIT'",
                            db="after_commit")
        t.join(20)
        self.assertEqual(db.psql("SELECT count(*) FROM items WHERE name = 'after commit'",
                                 db="after_commit"), [["1"]])
        self.assertEqual(answer[0].status, 201, answer[0].body)
        self.assertEqual(answer[0].json()["name"], "after commit")


if __name__ == "__main__":
    unittest.main()

"""PostgreSQL faults: down at start, restarted under load, stalled by a lock.

These tests stop and start their own PostgreSQL, apart from the shared one."""

import sys
import threading
import time
import unittest

import pg
from harness import SANITIZED, Server
from items_contract import AUTH, KEY, body

PG = None


def setUpModule():
    global PG
    PG = pg.Postgres()


def tearDownModule():
    PG.destroy()


def wait_for(pred, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


class DeadDatabase:
    """A listener standing in for a database that accepts and hangs up at once: every
    TCP connect the service makes is counted, with its time."""

    def __init__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connects = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connects.append(time.monotonic())
            conn.close()

    def close(self):
        self.sock.close()


def attempts_bound(seconds, first_ms=100, cap_ms=5000):
    """Most connection attempts one worker can make in `seconds` with exponential backoff
    from `first_ms` to `cap_ms`, each nap at least half its step (the jitter's floor)."""
    n, t, step = 1, 0.0, first_ms
    while True:
        t += step / 2 / 1000
        if t > seconds:
            return n
        n += 1
        step = min(step * 2, cap_ms)


class ReconnectTest(unittest.TestCase):
    def test_backoff_holds_under_steady_traffic(self):
        """While the database is down, traffic does not wake the reconnecting workers: about
        pool size connects per backoff step, not one per worker per request."""
        dead = DeadDatabase()
        pool = 4
        url = (f"postgresql://app:pw@127.0.0.1:{dead.port}/nodeapi"
               "?sslmode=disable&gssencmode=disable")
        srv = Server({"DATABASE_URL": url, "DB_POOL_SIZE": str(pool),
                      "DB_ACQUIRE_TIMEOUT_MS": "50", "ACCESS_LOG": "off"})
        try:
            t0 = time.monotonic()
            statuses = []
            while time.monotonic() - t0 < 6:
                statuses.append(srv.get("/api/items").status)
                time.sleep(0.01)
            elapsed = time.monotonic() - t0
        finally:
            srv.stop()
            dead.close()
        self.assertEqual(set(statuses), {503})
        self.assertGreater(len(statuses), 50)  # steady traffic, all through the outage
        # The pool's workers plus the health check's own connection.
        bound = (pool + 1) * attempts_bound(elapsed + 1)
        print(f"\ndead database under traffic: {len(statuses)} requests, {len(dead.connects)} "
              f"connects in {elapsed:.1f} s (bound {bound})", file=sys.stderr)
        self.assertLessEqual(len(dead.connects), bound,
                             f"{len(dead.connects)} connects in {elapsed:.1f} s")
        self.assertGreaterEqual(len(dead.connects), pool + 1)  # they did try


class FaultsTest(unittest.TestCase):
    def test_down_at_start_then_recovers(self):
        PG.stop()
        try:
            srv = Server({"DATABASE_URL": PG.url, "DB_ACQUIRE_TIMEOUT_MS": "500",
                          "DB_HEALTH_TIMEOUT_MS": "500"})
            self.assertEqual(srv.get("/health").status, 200)
            self.assertEqual(srv.get("/api/info").status, 200)
            t0 = time.monotonic()
            r = srv.get("/api/items")
            self.assertLess(time.monotonic() - t0, 5)  # bounded by the acquire timeout, not hung
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertEqual(r.json()["error"]["status"], 503)
            d = srv.get("/health/detailed")
            self.assertEqual(d.status, 503)
            self.assertEqual(d.json()["checks"]["database"]["status"], "fail")
            self.assertEqual(d.json()["checks"]["database"]["pool"]["connected"], 0)
            line = srv.wait_log(lambda l: l["message"].startswith("database unavailable"))
            self.assertEqual(line["level"], "warn")
        finally:
            PG.start()
        try:
            # Back by itself, no restart: within the 5 s backoff cap.
            self.assertTrue(wait_for(lambda: srv.get("/api/items").status == 200))
            self.assertEqual(srv.get("/api/items").json()["count"], 3)
            # The health check's own connection follows its own backoff.
            self.assertTrue(wait_for(lambda: srv.get("/health/detailed").status == 200))
            srv.wait_log(lambda l: l["message"] == "database connected")
        finally:
            srv.stop()

    def test_restart_under_load(self):
        srv = Server({"DATABASE_URL": PG.url, "API_KEY": KEY, "DB_POOL_SIZE": "4",
                      "DB_ACQUIRE_TIMEOUT_MS": "1000", "ACCESS_LOG": "off"})
        srv.wait_log(lambda l: l["message"] == "database connected")
        stop = threading.Event()
        results, created, failures = [], [], []
        lock = threading.Lock()

        def client(n):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 2:
                        r = srv.request("POST", "/api/items", AUTH,
                                        body({"name": f"load {n}/{i}", "price": 1}))
                    else:
                        r = srv.get("/api/items?limit=5")
                except Exception as e:  # a hang (timeout) or a broken answer
                    with lock:
                        failures.append(repr(e))
                    continue
                with lock:
                    results.append(r.status)
                    if r.status == 201:
                        created.append(r.json()["id"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        time.sleep(1)
        PG.stop("fast")
        time.sleep(1)
        PG.start()
        time.sleep(1)
        self.assertTrue(wait_for(lambda: srv.get("/api/items").status == 200))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        srv.stop()
        self.assertEqual(failures, [])
        # 504: a write whose connection died after it was sent, which may have committed.
        self.assertTrue(set(results) <= {200, 201, 503, 504}, set(results))
        self.assertIn(503, results)  # the restart was seen...
        self.assertGreater(results.count(201), 10)  # ...between successes
        # Every write answered 201 is in the database.
        rows = {int(r[0]) for r in PG.psql("SELECT id FROM items")}
        self.assertEqual(set(created) - rows, set())

    def test_stalled_database_does_not_stall_the_rest(self):
        # The deep check's own connection answers at once; a sanitized build, busy with the
        # requests below, may take longer than the default second to get to it.
        srv = Server({"DATABASE_URL": PG.url, "DB_POOL_SIZE": "2",
                      "DB_STATEMENT_TIMEOUT_MS": "1500", "DB_ACQUIRE_TIMEOUT_MS": "500",
                      "DB_HEALTH_TIMEOUT_MS": "4000" if SANITIZED else "1000"})
        srv.wait_log(lambda l: l["message"] == "database connected")
        self.assertEqual(srv.get("/api/items").status, 200)
        locker = PG.psql_background(
            "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;")
        try:
            self.assertTrue(wait_for(lambda: PG.psql(
                "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                " AND mode = 'AccessExclusiveLock' AND granted") == [["1"]]))
            statuses = []
            # Distinct reads (identical ones would share one query): every connection gets stuck.
            threads = [threading.Thread(target=lambda n=n: statuses.append(
                srv.get(f"/api/items?limit={n}"))) for n in range(1, 7)]
            for t in threads:
                t.start()
            time.sleep(0.2)
            # Every pool connection is stuck behind the lock; the rest answers meanwhile.
            for _ in range(20):
                self.assertEqual(srv.get("/health").status, 200)
                self.assertEqual(srv.get("/api/info").status, 200)
            d = srv.get("/health/detailed").json()
            self.assertEqual(d["checks"]["database"]["status"], "pass")  # its own connection
            self.assertEqual(d["checks"]["database"]["pool"]["busy"], 2)
            self.assertIsNone(locker.poll(), "the lock ended before the checks: inconclusive")
            for t in threads:
                t.join(20)
            self.assertEqual([r.status for r in statuses], [503] * 6)
            for r in statuses:
                self.assertEqual(r.header("Retry-After"), "1")
        finally:
            locker.wait(30)
        self.assertTrue(wait_for(lambda: srv.get("/api/items").status == 200))
        srv.stop()

    def test_drain_ends_within_its_timeout_with_a_stalled_database(self):
        """The stop waits for statements still running (each call is bounded by
        DB_STATEMENT_TIMEOUT_MS + 1 s), so the drain stops taking requests that long before
        SHUTDOWN_TIMEOUT_S: the process is gone by SHUTDOWN_TIMEOUT_S + 1 s (the deploy
        checker asks stopTimeout for 2 s more) even with the database stalled, instead of a
        request that reached it late in the drain holding the exit past ECS's SIGKILL."""
        import socket
        srv = Server({"DATABASE_URL": PG.url, "DB_STATEMENT_TIMEOUT_MS": "3000",
                      "SHUTDOWN_TIMEOUT_S": "5", "ACCESS_LOG": "off"})
        srv.wait_log(lambda l: l["message"] == "database connected")
        late = srv.connect()
        self.assertEqual(srv.request("GET", "/health", sock=late).status, 200)
        locker = PG.psql_background(
            "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;")
        try:
            self.assertTrue(wait_for(lambda: PG.psql(
                "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                " AND mode = 'AccessExclusiveLock' AND granted") == [["1"]]))
            t0 = time.monotonic()
            srv.signal()
            time.sleep(4.2)  # past SHUTDOWN_TIMEOUT_S - (statement + 1 s): too late to begin
            late.setblocking(False)
            try:
                seen = late.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                seen = None  # still open: a request sent now would reach the stalled database
                late.setblocking(True)
                late.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
            code = srv.wait(20)
            elapsed = time.monotonic() - t0
            late.close()
            self.assertEqual(seen, b"", "the idle connection was still open")
            self.assertLessEqual(elapsed, 6.0)
            self.assertEqual(code, 0)
            srv.wait_log(lambda l: l["message"].startswith("drained; closing idle"))
        finally:
            locker.wait(30)
            srv.stop()

    def test_coalesced_read_is_bounded_from_its_arrival(self):
        """A read that joins the batch waiting behind a stuck query still gets its answer
        within acquire + statement + 1 s of its own arrival, not after two queries' time."""
        acquire_ms, statement_ms = 500, 3000
        srv = Server({"DATABASE_URL": PG.url, "DB_POOL_SIZE": "2", "ACCESS_LOG": "off",
                      "DB_STATEMENT_TIMEOUT_MS": str(statement_ms),
                      "DB_ACQUIRE_TIMEOUT_MS": str(acquire_ms)})
        srv.wait_log(lambda l: l["message"] == "database connected")
        locker = PG.psql_background(
            "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;")
        try:
            self.assertTrue(wait_for(lambda: PG.psql(
                "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                " AND mode = 'AccessExclusiveLock' AND granted") == [["1"]]))
            answers = {}

            def read(name):
                t0 = time.monotonic()
                r = srv.get("/api/items?limit=7")
                answers[name] = (r, time.monotonic() - t0)

            first = threading.Thread(target=read, args=("first",))
            first.start()
            time.sleep(0.3)  # the first read's query is running, stuck behind the lock
            second = threading.Thread(target=read, args=("second",))
            second.start()
            first.join(20)
            second.join(20)
            self.assertIsNone(locker.poll(), "the lock ended before the reads: inconclusive")
        finally:
            PG.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE '%pg_sleep(12)%' AND pid <> pg_backend_pid()")
            locker.wait(30)
        bound = (acquire_ms + statement_ms + 1000) / 1000
        for name in ("first", "second"):
            r, took = answers[name]
            self.assertEqual(r.status, 503, (name, r))
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertLess(took, bound, f"{name} read answered after {took:.1f} s")
        srv.stop()

    def test_frozen_database_answers_are_honest_and_keys_prevent_duplicates(self):
        """PostgreSQL frozen (SIGSTOP) under 8 writers: writes without a key were sent and
        may commit when it resumes, so they get 504 and no Retry-After (and do commit);
        writes with a key never got past BEGIN, so they get 503 and Retry-After; retried with
        the same key once it resumes, each ends as exactly one row."""
        import os
        import signal as sig
        import subprocess
        srv = Server({"DATABASE_URL": PG.url, "API_KEY": KEY, "DB_POOL_SIZE": "8",
                      "DB_STATEMENT_TIMEOUT_MS": "1000", "DB_ACQUIRE_TIMEOUT_MS": "3000",
                      "DB_CONNECT_TIMEOUT_S": "2", "ACCESS_LOG": "off"})
        self.assertTrue(wait_for(lambda: srv.get("/health/detailed").json()["checks"]["database"]
                                 ["pool"]["connected"] == 8))
        with open(os.path.join(PG.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                  text=True).stdout.split()
        frozen = [postmaster] + [int(p) for p in children]
        first, final = {}, {}
        tag = f"freeze-{time.monotonic_ns()}"

        def writer(i):
            keyed = i % 2 == 0
            headers = {**AUTH, "Idempotency-Key": f"{tag}-{i}"} if keyed else AUTH
            name = f"{tag} {'keyed' if keyed else 'plain'} {i}"
            r = srv.request("POST", "/api/items", headers, body({"name": name, "price": 1}))
            first[i] = r

        for p in frozen:
            os.kill(p, sig.SIGSTOP)
        try:
            threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
        finally:
            for p in frozen:
                os.kill(p, sig.SIGCONT)
        for i in range(0, 8, 2):
            r = first[i]
            self.assertEqual((r.status, r.header("Retry-After")), (503, "1"), r)
            # The client does as told: retries, with the same key, until it has an answer.
            deadline = time.monotonic() + 30
            while r.status in (503, 409) and time.monotonic() < deadline:
                time.sleep(0.2)
                r = srv.request("POST", "/api/items", {**AUTH, "Idempotency-Key": f"{tag}-{i}"},
                                body({"name": f"{tag} keyed {i}", "price": 1}))
            final[i] = r
        for i in range(1, 8, 2):
            r = first[i]
            self.assertEqual(r.status, 504, r)
            self.assertIsNone(r.header("Retry-After"))
            self.assertIn("may have been applied", r.json()["error"]["message"])
        srv.stop()
        for i in range(0, 8, 2):
            self.assertEqual(final[i].status, 201, final[i])
            rows = PG.psql(f"SELECT id FROM items WHERE name = '{tag} keyed {i}'")
            self.assertEqual(rows, [[str(final[i].json()["id"])]])  # exactly one
        # What the 504s meant: each of those writes did commit once the database resumed.
        self.assertTrue(wait_for(lambda: PG.psql(
            f"SELECT count(*) FROM items WHERE name LIKE '{tag} plain %'") == [["4"]]))

    def test_writes_after_a_restart_go_to_new_connections(self):
        """After PostgreSQL restarts, the pool's idle connections are dead: a write is never
        sent on one (it would get 504 "may have been applied"), nor failed with it (503, as
        before, when dead connections were found on use): each goes to a new connection and
        is written, 201."""
        srv = Server({"DATABASE_URL": PG.url, "API_KEY": KEY, "DB_POOL_SIZE": "4",
                      "ACCESS_LOG": "off"})
        try:
            self.assertTrue(wait_for(lambda: srv.get("/health/detailed").json()["checks"]
                                     ["database"]["pool"]["connected"] == 4))
            # Fast: the backends end at once. (Immediate would too, but with this test cluster's
            # fsync=off a crash can lose the schema.)
            PG.stop("fast")
            PG.start()
            results = []
            threads = [threading.Thread(target=lambda i=i: results.append(srv.request(
                "POST", "/api/items", AUTH, body({"name": f"after restart {i}", "price": 1}))))
                for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            self.assertEqual([r.status for r in results], [201] * 6, results)
            created = {r.json()["id"] for r in results}
            rows = {int(r[0]) for r in PG.psql("SELECT id FROM items WHERE name LIKE 'after restart%'")}
            self.assertEqual(rows, created)
        finally:
            srv.stop()

    def test_secrets_stay_out_of_logs_and_answers(self):
        srv = Server({"DATABASE_URL": PG.url, "API_KEY": KEY, "DB_ACQUIRE_TIMEOUT_MS": "300"})
        srv.wait_log(lambda l: l["message"] == "database connected")
        srv.request("POST", "/api/items", AUTH, body({"name": "s", "price": 1}))
        srv.request("POST", "/api/items", {"Authorization": "Bearer not-the-key"}, b"{}")
        answers = [srv.get(p).body for p in ("/health/detailed", "/api/info", "/health")]
        PG.stop()
        try:
            srv.get("/api/items")
            srv.wait_log(lambda l: l["message"].startswith("database unavailable"))
        finally:
            PG.start()
        srv.stop()
        text = "\n".join(srv.lines) + "\n".join(a.decode() for a in answers)
        for secret in (pg.PASSWORD, KEY, "not-the-key"):
            self.assertNotIn(secret, text)
        started = srv.logs()[0]
        self.assertEqual(started["database"], f"postgresql://app@127.0.0.1:{PG.port}/nodeapi")


if __name__ == "__main__":
    unittest.main()

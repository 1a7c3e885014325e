"""Write groups: plain POSTs waiting for a database connection are committed together, in one
transaction of one INSERT each (one commit, one round trip), and each still gets exactly its
own answer: its own row, and its own error when it is the one the database refuses; a group
whose transaction fails is run again one write at a time, so a refused write never takes the
others with it.

The groups are made deterministic here: a lock on the table holds the one connection's first
INSERT, the other writes queue behind it, and when the lock ends they go as one group."""

import json
import threading
import time
import unittest

import pg
from harness import Server, sample, scrape

KEY = "groups-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def body(obj):
    return json.dumps(obj).encode()


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def lock_items(db, name, seconds):
    """Locks the items table of database `name` for `seconds`; returns the locking psql
    once the lock is held."""
    locker = db.psql_background("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE;"
                                f" SELECT pg_sleep({seconds}); COMMIT;", db=name)
    if not wait_for(lambda: db.psql(
            "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
            " AND mode = 'AccessExclusiveLock' AND granted", db=name) == [["1"]]):
        raise AssertionError("the lock on items was not taken")
    return locker


class WriteGroupsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.shared()
        cls.db = "write_groups"
        cls.url = cls.pg.fresh_database(cls.db)
        cls.srv = Server({"API_KEY": KEY, "DATABASE_URL": cls.url, "DB_POOL_SIZE": "1",
                          "DB_ACQUIRE_TIMEOUT_MS": "10000", "ACCESS_LOG": "off"})
        cls.srv.wait_log(lambda l: l["message"] == "database connected")
        # Refused at its INSERT, and (a deferred unique name) refused only at COMMIT.
        cls.pg.psql("ALTER TABLE items ADD CONSTRAINT no_refused CHECK (name <> 'refused')",
                    db=cls.db)
        cls.pg.psql("ALTER TABLE items ADD CONSTRAINT items_name_unique UNIQUE (name)"
                    " DEFERRABLE INITIALLY DEFERRED", db=cls.db)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def waiting(self):
        return self.srv.get("/health/detailed").json()["checks"]["database"]["pool"]["waiting"]

    def held(self, names):
        """POSTs `names` while a lock holds the first: the rest queue, then go as one group.
        Returns {name: response} and the counters' growth (groups, writes in them)."""
        before = scrape(self.srv)
        locker = lock_items(self.pg, self.db, 3)
        answers = {}

        def post(name):
            answers[name] = self.srv.request("POST", "/api/items", AUTH,
                                             body({"name": name, "price": 1.25}))

        threads = [threading.Thread(target=post, args=(names[0],))]
        threads[0].start()
        self.assertTrue(wait_for(lambda: self.srv.get("/health/detailed").json()["checks"]
                                 ["database"]["pool"]["busy"] == 1))
        for name in names[1:]:
            threads.append(threading.Thread(target=post, args=(name,)))
            threads[-1].start()
        self.assertTrue(wait_for(lambda: self.waiting() == len(names) - 1))
        self.assertIsNone(locker.poll(), "the lock ended before the writes queued: inconclusive")
        for t in threads:
            t.join(20)
        locker.wait(20)
        after = scrape(self.srv)
        grown = [sample(after, n) - sample(before, n)
                 for n in ("node_api_db_write_groups_total", "node_api_db_writes_grouped_total")]
        return answers, grown

    def rows(self, like):
        return self.pg.psql(f"SELECT id, name, price::text FROM items WHERE name LIKE '{like}%'"
                            " ORDER BY id", db=self.db)

    def test_queued_writes_commit_as_one_group_each_with_its_own_row(self):
        names = [f"grouped {i}" for i in range(12)]
        answers, grown = self.held(names)
        self.assertEqual(grown, [1, 11])  # the first went alone; the eleven behind it together
        ids = set()
        for name in names:
            r = answers[name]
            self.assertEqual(r.status, 201, r)
            item = r.json()
            self.assertEqual(item["name"], name)
            self.assertEqual(item["price"], 1.25)
            self.assertEqual(r.header("Location"), f"/api/items/{item['id']}")
            self.assertEqual(self.srv.get(f"/api/items/{item['id']}").json(), item)
            ids.add(item["id"])
        self.assertEqual(len(ids), 12)
        self.assertEqual(len(self.rows("grouped ")), 12)

    def test_a_write_refused_at_its_insert_leaves_the_others_written(self):
        names = ["alone 1"] + [f"mixed {i}" for i in range(5)] + ["refused"] + \
            [f"mixed {i}" for i in range(5, 10)]
        answers, grown = self.held(names)
        self.assertEqual(grown, [1, 11])
        r = answers["refused"]
        self.assertEqual(r.status, 409, r)
        self.assertIn("no_refused", r.json()["error"]["message"])
        for name in names:
            if name != "refused":
                self.assertEqual(answers[name].status, 201, (name, answers[name]))
                self.assertEqual(answers[name].json()["name"], name)
        self.assertEqual(sorted(row[1] for row in self.rows("mixed ")),
                         [f"mixed {i}" for i in range(10)])  # queued in any order
        self.assertEqual(self.rows("refused"), [])

    def test_a_write_refused_at_commit_leaves_the_others_written(self):
        """Two writes of one name in a group: the deferred unique constraint fails the
        group's COMMIT, nothing of the group is written; one at a time, the first of the two
        is written and the second refused, and the rest written."""
        names = ["alone 2", "commit a", "commit twin", "commit b", "commit twin", "commit c"]
        unique = [f"{n}#{i}" for i, n in enumerate(names)]  # keys for the answers
        before = scrape(self.srv)
        locker = lock_items(self.pg, self.db, 3)
        answers = {}

        def post(key, name):
            answers[key] = self.srv.request("POST", "/api/items", AUTH,
                                            body({"name": name, "price": 2}))

        threads = []
        for i, (key, name) in enumerate(zip(unique, names)):
            threads.append(threading.Thread(target=post, args=(key, name)))
            threads[-1].start()
            self.assertTrue(wait_for(lambda: self.srv.get("/health/detailed").json()["checks"]
                                     ["database"]["pool"]["busy"] == 1 and self.waiting() == i))
        self.assertIsNone(locker.poll(), "the lock ended before the writes queued: inconclusive")
        for t in threads:
            t.join(20)
        locker.wait(20)
        after = scrape(self.srv)
        self.assertEqual(sample(after, "node_api_db_write_groups_total") -
                         sample(before, "node_api_db_write_groups_total"), 1)
        self.assertEqual([answers[k].status for k in unique], [201, 201, 201, 201, 409, 201])
        self.assertIn("items_name_unique", answers[unique[4]].json()["error"]["message"])
        self.assertEqual([row[1] for row in self.rows("commit ")],
                         ["commit a", "commit twin", "commit b", "commit c"])

    def test_keyed_writes_are_not_grouped(self):
        """A write under an Idempotency-Key is a transaction of its own (its key's lock,
        lookup and record): it never joins a group."""
        names = ["keyed 0"] + [f"keyed {i}" for i in range(1, 6)]
        before = scrape(self.srv)
        locker = lock_items(self.pg, self.db, 3)
        answers = {}

        def post(name):
            answers[name] = self.srv.request("POST", "/api/items",
                                             {**AUTH, "Idempotency-Key": name.replace(" ", "-")},
                                             body({"name": name, "price": 3}))

        threads = [threading.Thread(target=post, args=(n,)) for n in names]
        for t in threads:
            t.start()
        self.assertTrue(wait_for(lambda: self.waiting() == len(names) - 1))
        for t in threads:
            t.join(20)
        locker.wait(20)
        after = scrape(self.srv)
        self.assertEqual(sample(after, "node_api_db_writes_grouped_total"),
                         sample(before, "node_api_db_writes_grouped_total"))
        self.assertEqual(sorted(answers[n].status for n in names), [201] * 6)


def before_insert(body):
    """A BEFORE INSERT trigger on items whose PL/pgSQL body is `body`."""
    return ["CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN " + body + " END$$",
            "CREATE TRIGGER t BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION f()"]


class TriggersTest(unittest.TestCase):
    """What an operator's trigger or id default does to a write is what the write's answer
    shows, in a group as alone: a trigger that moves ids, one that skips rows, a default
    from a sequence of the operator's own (found by an outside review: a group drew ids
    from the column's owned sequence and matched rows to writes by id, so a moved id gave
    a 201 another write's row, and a custom default was bypassed)."""

    def group(self, name, setup, names):
        """Runs `setup`, then POSTs `names` (the first alone, the rest as one group); returns
        the answers, the table's rows by id, and the server (stopped after the test)."""
        db = pg.shared()
        url = db.fresh_database(name)
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "1",
                      "DB_ACQUIRE_TIMEOUT_MS": "10000", "ACCESS_LOG": "off"})
        self.addCleanup(srv.stop)
        srv.wait_log(lambda l: l["message"] == "database connected")
        for sql in setup:
            db.psql(sql, db=name)
        pool = lambda: srv.get("/health/detailed").json()["checks"]["database"]["pool"]
        locker = lock_items(db, name, 2)
        answers, threads = {}, []

        def post(n):
            answers[n] = srv.request("POST", "/api/items", AUTH, body({"name": n, "price": 2}))

        for i, n in enumerate(names):  # queued in this order: the first alone, then a group
            threads.append(threading.Thread(target=post, args=(n,)))
            threads[-1].start()
            self.assertTrue(wait_for(lambda: pool()["busy"] == 1 and pool()["waiting"] == i))
        for t in threads:
            t.join(20)
        locker.wait(20)
        self.assertEqual(sample(scrape(srv), "node_api_db_write_groups_total"), 1)
        rows = {r[0]: r for r in db.psql("SELECT id, name, price::text FROM items", db=name)}
        return answers, rows, srv

    def check_own_rows(self, answers, rows, srv, names):
        for n in names:
            r = answers[n]
            self.assertEqual(r.status, 201, (n, r))
            item = r.json()
            self.assertEqual(rows[str(item["id"])][1], item["name"], (n, item))
            self.assertTrue(item["name"].startswith(n), (n, item))  # its own row
            self.assertEqual(srv.get(f"/api/items/{item['id']}").json(), item)

    def test_a_trigger_that_moves_ids(self):
        names = [f"moved {i}" for i in range(8)]
        answers, rows, srv = self.group(
            "trig_move", before_insert("NEW.id := NEW.id + 1; RETURN NEW;"), names)
        self.check_own_rows(answers, rows, srv, names)

    def test_a_trigger_that_renames(self):
        names = [f"renamed {i}" for i in range(6)]
        answers, rows, srv = self.group(
            "trig_rename", before_insert("NEW.name := NEW.name || ' (checked)'; RETURN NEW;"),
            names)
        self.check_own_rows(answers, rows, srv, names)
        self.assertTrue(all(answers[n].json()["name"] == n + " (checked)" for n in names))

    def test_a_trigger_that_skips_a_row(self):
        """A row the trigger drops is not written: that write's answer is the one it gets
        alone (404, nothing written), and every other write keeps its own row."""
        names = ["kept 0", "kept 1", "skip", "kept 2", "kept 3"]
        skip = before_insert("IF NEW.name = 'skip' THEN RETURN NULL; END IF; RETURN NEW;")
        answers, rows, srv = self.group("trig_skip", skip, names)
        self.assertEqual(answers["skip"].status, 404, answers["skip"])
        self.check_own_rows(answers, rows, srv, [n for n in names if n != "skip"])
        self.assertNotIn("skip", [r[1] for r in rows.values()])

    def test_an_id_default_of_the_operators_own(self):
        """The column's default draws the ids, as for a write alone, whatever sequence the
        column happens to own."""
        names = [f"custom {i}" for i in range(5)]
        answers, rows, srv = self.group("custom_default", [
            "ALTER TABLE items ALTER id DROP IDENTITY",
            "CREATE SEQUENCE s2 START 500 OWNED BY NONE",
            "GRANT USAGE ON SEQUENCE s2 TO app",
            "ALTER TABLE items ALTER id SET DEFAULT nextval('s2')",
            "CREATE SEQUENCE legacy START 503",
            "ALTER SEQUENCE legacy OWNER TO app",
            "ALTER SEQUENCE legacy OWNED BY items.id"], names)
        self.check_own_rows(answers, rows, srv, names)
        self.assertEqual(sorted(answers[n].json()["id"] for n in names), list(range(500, 505)))
        later = srv.request("POST", "/api/items", AUTH, body({"name": "later", "price": 1}))
        self.assertEqual(later.status, 201, later)
        self.assertEqual(later.json()["id"], 505)


class GroupLostTest(unittest.TestCase):
    def test_a_group_whose_backend_is_terminated_runs_again_and_is_written_once(self):
        """The group's backend killed while it runs (a failover, an operator): the server's
        own error says the transaction is gone, nothing of it written, so the group runs
        again on a new connection, and each member is written once and answered 201 (before:
        503 for each, the client left to retry)."""
        db = pg.shared()
        url = db.fresh_database("groups_lost")
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "1",
                      "DB_ACQUIRE_TIMEOUT_MS": "10000", "ACCESS_LOG": "off"})
        try:
            srv.wait_log(lambda l: l["message"] == "database connected")
            # Slow the first time only: a sequence is not rolled back with the transaction.
            db.psql("CREATE SEQUENCE slow_once", db="groups_lost")
            db.psql("GRANT USAGE ON SEQUENCE slow_once TO app", db="groups_lost")
            db.psql("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF NEW.name = 'slow' THEN IF nextval('slow_once') = 1 THEN"
                    " PERFORM pg_sleep(30); END IF; END IF; RETURN NEW; END $$",
                    db="groups_lost")
            db.psql("CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW"
                    " EXECUTE FUNCTION slow()", db="groups_lost")
            locker = lock_items(db, "groups_lost", 2)
            answers = {}

            def post(name):
                answers[name] = srv.request("POST", "/api/items", AUTH,
                                            body({"name": name, "price": 1}))

            names = ["first", "slow", "lost 1", "lost 2"]
            threads = [threading.Thread(target=post, args=(n,)) for n in names]
            threads[0].start()
            pool = lambda: srv.get("/health/detailed").json()["checks"]["database"]["pool"]
            self.assertTrue(wait_for(lambda: pool()["busy"] == 1))
            for t in threads[1:]:
                t.start()
            self.assertTrue(wait_for(lambda: pool()["waiting"] == 3))
            locker.wait(20)
            # The group runs, held by the trigger's sleep: end its backend.
            self.assertTrue(wait_for(lambda: db.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'groups_lost'"
                " AND wait_event = 'PgSleep' AND usename = 'app'", db="groups_lost") == [["1"]]))
            db.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = 'groups_lost' AND wait_event = 'PgSleep'"
                    " AND usename = 'app'", db="groups_lost")
            for t in threads:
                t.join(20)
            for name in names:
                self.assertEqual(answers[name].status, 201, (name, answers[name]))
                self.assertEqual(answers[name].json()["name"], name)
            self.assertEqual(sorted(db.psql("SELECT name FROM items WHERE name IN"
                                            " ('first', 'slow', 'lost 1', 'lost 2')",
                                            db="groups_lost")),
                             [["first"], ["lost 1"], ["lost 2"], ["slow"]])
            self.assertEqual(sample(scrape(srv), "node_api_db_write_groups_total"), 2)
        finally:
            srv.stop()


class SlowGroupTest(unittest.TestCase):
    """A group runs under the one statement_timeout a single write has, enforced by the
    server, so its outcome is always known: slow statements that add up past it make the
    server cancel the group (503, nothing written), never the client give up on a group
    that then commits (504 for writes that were written); and a group the server cancels is
    answered at once, not run again one write at a time, so waits stay bounded."""

    def setUp(self):
        self.db = pg.shared()
        self.name = "groups_slow"
        self.url = self.db.fresh_database(self.name)
        self.srv = Server({"API_KEY": KEY, "DATABASE_URL": self.url, "DB_POOL_SIZE": "1",
                           "DB_STATEMENT_TIMEOUT_MS": "1000", "DB_ACQUIRE_TIMEOUT_MS": "30000",
                           "ACCESS_LOG": "off"})
        self.srv.wait_log(lambda l: l["message"] == "database connected")
        self.db.psql("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN IF NEW.name LIKE 'slow%' THEN PERFORM pg_sleep(0.4); END IF;"
                     " RETURN NEW; END $$", db=self.name)
        self.db.psql("CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW"
                     " EXECUTE FUNCTION slow()", db=self.name)

    def tearDown(self):
        self.srv.stop()

    def queue(self, names, first="first"):
        """POSTs `first`, then `names` while it holds the one connection; returns
        {name: (response, seconds)}."""
        answers = {}

        def post(name):
            t0 = time.monotonic()
            try:
                r = self.srv.request("POST", "/api/items", AUTH, body({"name": name, "price": 1}))
            except OSError as e:  # no answer within the client's timeout
                r = e
            answers[name] = (r, time.monotonic() - t0)

        pool = lambda: self.srv.get("/health/detailed").json()["checks"]["database"]["pool"]
        threads = [threading.Thread(target=post, args=(first,))]
        threads[0].start()
        self.assertTrue(wait_for(lambda: pool()["busy"] == 1))
        for n in names:
            threads.append(threading.Thread(target=post, args=(n,)))
            threads[-1].start()
        self.assertTrue(wait_for(lambda: pool()["waiting"] == len(names)))
        for t in threads:
            t.join(60)
        return answers

    def test_slow_statements_past_the_timeout_are_503_and_unwritten_not_504_and_written(self):
        names = [f"slow {i}" for i in range(8)]  # 8 x 0.4 s: past the 1 s statement_timeout
        answers = self.queue(names, first="slow first")
        self.assertEqual(answers["slow first"][0].status, 201)
        for n in names:
            r = answers[n][0]
            self.assertEqual(r.status, 503, (n, r))
            self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(self.db.psql("SELECT count(*) FROM items WHERE name LIKE 'slow _'",
                                      db=self.name), [["0"]])

    def test_a_cancelled_group_is_answered_at_once(self):
        """Every statement waits on a lock past the timeout: the first write gets 503 after
        1 s, the group queued behind it 503 after 1 s more: within acquire (the 1 s it
        queued) + statement + 1 s each, where running the group's writes again one at a time
        took a second per write."""
        names = [f"locked {i}" for i in range(9)]
        locker = lock_items(self.db, self.name, 30)
        try:
            answers = self.queue(names)
        finally:
            self.db.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
                         db=self.name)
            locker.wait(30)
        for n in ["first"] + names:
            r, took = answers[n]
            self.assertEqual(getattr(r, "status", None), 503, (n, r, took))
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertLess(took, 1 + 1 + 1 + 1, n)  # queued 1 s, then statement + 1 s
        self.assertEqual(self.db.psql("SELECT count(*) FROM items WHERE name LIKE 'locked %'",
                                      db=self.name), [["0"]])

    def test_reruns_after_a_refusal_stop_at_the_groups_deadline(self):
        """A group refused for one write's data runs again one write at a time, but only
        those that start before the group's deadline (statement + 1 s from its start): with
        writes of 0.4 s each, the last ones get 503 (not written) instead of holding the
        connection, and the drain, for four times as long."""
        self.srv.stop()  # a statement timeout of 3 s: the lock below holds the first 2.5 s
        self.srv = Server({"API_KEY": KEY, "DATABASE_URL": self.url, "DB_POOL_SIZE": "1",
                           "DB_STATEMENT_TIMEOUT_MS": "3000", "DB_ACQUIRE_TIMEOUT_MS": "30000",
                           "ACCESS_LOG": "off"})
        self.srv.wait_log(lambda l: l["message"] == "database connected")
        self.db.psql("ALTER TABLE items ADD CONSTRAINT no_refused CHECK (name <> 'refused')",
                     db=self.name)
        names = ["slow a", "refused"] + [f"slow {i:02}" for i in range(20)]
        answers = {}

        def post(name):
            t0 = time.monotonic()
            r = self.srv.request("POST", "/api/items", AUTH, body({"name": name, "price": 1}))
            answers[name] = (r, time.monotonic() - t0)

        pool = lambda: self.srv.get("/health/detailed").json()["checks"]["database"]["pool"]
        locker = lock_items(self.db, self.name, 2.5)
        threads = []
        for i, name in enumerate(["first"] + names):  # queued in this order
            threads.append(threading.Thread(target=post, args=(name,)))
            threads[-1].start()
            self.assertTrue(wait_for(lambda: pool()["busy"] == 1 and pool()["waiting"] == i))
        for t in threads:
            t.join(60)
        locker.wait(20)
        statuses = [answers[n][0].status for n in names]
        self.assertEqual(answers["first"][0].status, 201)
        self.assertEqual(statuses[1], 409)  # refused, alone
        self.assertIn(503, statuses)
        cut = statuses.index(503)
        self.assertEqual(set(statuses[:cut]) - {201, 409}, set(), statuses)
        self.assertEqual(set(statuses[cut:]), {503}, statuses)  # none started after the deadline
        for n in names[cut:]:
            self.assertEqual(answers[n][0].json()["error"]["message"], "database busy, retry later")
            self.assertLess(answers[n][1], 2.5 + 2 * (3 + 1))  # queued, then two writes' time
        written = [n for n, st in zip(names, statuses) if st == 201]
        self.assertEqual(sorted(r[0] for r in self.db.psql(
            "SELECT name FROM items WHERE name LIKE 'slow %'", db=self.name)), sorted(written))


class HoldTest(unittest.TestCase):
    def test_a_write_stuck_ahead_holds_the_next_briefly_not_until_it_ends(self):
        """Plain creates are held for the group running ahead of them, to go as its worker's
        next group; but only 10 ms at most: with a write stuck in a trigger for 3 s and a
        second connection free, the next write is written and answered while the stuck one
        still runs."""
        db = pg.shared()
        name = "write_hold"
        url = db.fresh_database(name)
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "2",
                      "ACCESS_LOG": "off"})
        self.addCleanup(srv.stop)
        srv.wait_log(lambda l: l["message"] == "database connected")
        for sql in before_insert("IF NEW.name = 'stuck' THEN PERFORM pg_sleep(3); END IF;"
                                 " RETURN NEW;"):
            db.psql(sql, db=name)
        stuck = []
        t = threading.Thread(target=lambda: stuck.append(srv.request(
            "POST", "/api/items", AUTH, body({"name": "stuck", "price": 1}))))
        t.start()
        self.assertTrue(wait_for(lambda: db.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
            db=name) == [["1"]]))
        r = srv.request("POST", "/api/items", AUTH, body({"name": "next", "price": 1}))
        running = t.is_alive()
        t.join(20)
        self.assertEqual((r.status, r.json()["name"]), (201, "next"))
        self.assertTrue(running)  # answered while the stuck write still ran
        self.assertEqual(stuck[0].status, 201)


class GroupsOffTest(unittest.TestCase):
    def test_group_max_1_runs_each_write_alone(self):
        db = pg.shared()
        url = db.fresh_database("groups_off")
        srv = Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "1",
                      "DB_WRITE_GROUP_MAX": "1", "ACCESS_LOG": "off"})
        try:
            srv.wait_log(lambda l: l["message"] == "database connected")
            started = srv.wait_log(lambda l: l.get("message", "").startswith("Server started"))
            self.assertEqual(started["db_write_group_max"], 1)
            threads = [threading.Thread(target=lambda i=i: srv.request(
                "POST", "/api/items", AUTH, body({"name": f"off {i}", "price": 1})))
                for i in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            self.assertEqual(db.psql("SELECT count(*) FROM items WHERE name LIKE 'off %'",
                                     db="groups_off"), [["20"]])
            self.assertEqual(sample(scrape(srv), "node_api_db_write_groups_total"), 0)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()

"""Idempotency-Key on writes, on both stores: a repeat gets the first outcome without a second
write, another request under the same key gets 422, malformed keys 400, keys expire, and on
PostgreSQL a key in use gets 409, survives a restart, is scoped to its API key, and is purged."""

import json
import threading
import time
import unittest

import pg
from bsondec import decode
from harness import Server

KEY = "idem-key-1"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def body(obj):
    return json.dumps(obj).encode()


def keyed(key, headers=AUTH):
    return {**headers, "Idempotency-Key": key}


class IdempotencyContract:
    """Run against each store; a subclass sets cls.srv and count_rows()."""

    def post(self, key, obj, headers=AUTH):
        return self.srv.request("POST", "/api/items", keyed(key, headers), body(obj))

    def test_repeat_gets_the_first_outcome(self):
        before = self.count_rows()
        first = self.post("k-repeat", {"name": "once", "price": 1.5})
        self.assertEqual(first.status, 201, first)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        again = self.post("k-repeat", {"name": "once", "price": 1.5})
        self.assertEqual((again.status, again.body), (201, first.body))
        self.assertEqual(again.header("Location"), first.header("Location"))
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        # Key order and whitespace are not part of the request's identity.
        third = self.srv.request("POST", "/api/items", keyed("k-repeat"),
                                 b' { "price" : 1.5 , "name" : "once" } ')
        self.assertEqual((third.status, third.body), (201, first.body))
        self.assertEqual(self.count_rows(), before + 1)
        # The same outcome in BSON, for a client that asks for it.
        b = self.post("k-repeat", {"name": "once", "price": 1.5},
                      {**AUTH, "Accept": "application/bson"})
        self.assertEqual(decode(b.body), first.json())

    def test_same_key_other_request_is_422(self):
        self.assertEqual(self.post("k-other", {"name": "a", "price": 1}).status, 201)
        r = self.post("k-other", {"name": "b", "price": 1})
        self.assertEqual(r.status, 422, r)
        self.assertIn("different request", r.json()["error"]["message"])
        r = self.srv.request("PUT", "/api/items/1", keyed("k-other"), body({"name": "a", "price": 1}))
        self.assertEqual(r.status, 422)

    def test_put_and_delete_replay(self):
        created = self.post("k-create-for-put", {"name": "p", "price": 2}).json()
        path = f"/api/items/{created['id']}"
        put = lambda: self.srv.request("PUT", path, keyed("k-put"), body({"name": "p2", "price": 3}))
        r1, r2 = put(), put()
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r1.body, r2.body)
        self.assertEqual(r2.header("Idempotent-Replayed"), "true")
        delete = lambda: self.srv.request("DELETE", path, keyed("k-delete", {"X-API-Key": KEY}))
        d1, d2 = delete(), delete()
        self.assertEqual((d1.status, d1.body, d2.status, d2.body), (204, b"", 204, b""))
        self.assertEqual(d2.header("Idempotent-Replayed"), "true")
        self.assertEqual(self.srv.get(path).status, 404)
        # A 404 is an outcome too: kept, and replayed.
        missing = lambda: self.srv.request("DELETE", "/api/items/987654321",
                                           keyed("k-missing", {"X-API-Key": KEY}))
        m1, m2 = missing(), missing()
        self.assertEqual((m1.status, m2.status), (404, 404))
        self.assertEqual(m1.body, m2.body)
        self.assertEqual(m2.header("Idempotent-Replayed"), "true")

    def test_key_forms(self):
        a = self.post("k-form", {"name": "f", "price": 1})
        self.assertEqual(a.status, 201)
        # The structured-field string form is the same key.
        b = self.post('"k-form"', {"name": "f", "price": 1})
        self.assertEqual((b.status, b.body, b.header("Idempotent-Replayed")), (201, a.body, "true"))
        c = self.post('"with \\"quotes\\" and \\\\"', {"name": "q", "price": 1})
        self.assertEqual(c.status, 201)
        self.assertEqual(self.post("x" * 255, {"name": "long", "price": 1}).status, 201)
        for bad in ("", "x" * 256, '"unterminated', '"a"b', '"bad\\escape"', "caf\u00e9", '""'):
            with self.subTest(key=bad):
                r = self.srv.request("POST", "/api/items", keyed(bad),
                                     body({"name": "no", "price": 1}))
                self.assertEqual(r.status, 400, r)
                self.assertIn("Idempotency-Key", r.json()["error"]["message"])

    def raw_post(self, key_lines, obj):
        from harness import read_response
        data = body(obj)
        s = self.srv.connect()
        try:
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      KEY.encode() + b"\r\nContent-Type: application/json\r\n" + key_lines +
                      b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
            return read_response(s)
        finally:
            s.close()

    def test_keys_that_would_be_read_wrong_are_refused(self):
        # Two keys: which one would it be?
        r = self.raw_post(b"Idempotency-Key: tw1\r\nIdempotency-Key: tw2\r\n", {"name": "two", "price": 1})
        self.assertEqual(r.status, 400, r)
        self.assertIn("Idempotency-Key given 2 times", r.json()["error"]["message"])
        # Whitespace after the value is not part of it (a proxy may trim it).
        a = self.raw_post(b"Idempotency-Key: k-trim   \t\r\n", {"name": "trim", "price": 1})
        b = self.post("k-trim", {"name": "trim", "price": 1})
        self.assertEqual((a.status, b.status, b.header("Idempotent-Replayed")), (201, 201, "true"))

    def test_refusals_are_not_kept(self):
        r = self.post("k-fix", {"name": "", "price": 1})
        self.assertEqual(r.status, 400)
        r = self.post("k-fix", {"name": "fixed", "price": 1})
        self.assertEqual(r.status, 201)
        self.assertIsNone(r.header("Idempotent-Replayed"))

    def test_reads_ignore_the_header(self):
        self.assertEqual(self.srv.get("/api/items/1", {"Idempotency-Key": "\x01"}).status, 200)


class MemoryIdempotencyTest(IdempotencyContract, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"API_KEY": KEY, "ACCESS_LOG": "off"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def count_rows(self):
        return self.srv.get("/api/items?limit=1000").json()["count"]

    def test_keys_expire(self):
        with Server({"API_KEY": KEY, "IDEMPOTENCY_TTL_S": "1"}) as srv:
            req = lambda: srv.request("POST", "/api/items", keyed("k-ttl"), body({"name": "t", "price": 1}))
            first = req().json()
            self.assertEqual(req().json(), first)
            time.sleep(1.3)
            second = req()
            self.assertEqual(second.status, 201)
            self.assertIsNone(second.header("Idempotent-Replayed"))
            self.assertNotEqual(second.json()["id"], first["id"])

    def test_bounded_table_refuses_rather_than_forgets(self):
        with Server({"API_KEY": KEY, "IDEMPOTENCY_MAX_KEYS": "2", "IDEMPOTENCY_TTL_S": "1"}) as srv:
            req = lambda k: srv.request("POST", "/api/items", keyed(k), body({"name": k, "price": 1}))
            self.assertEqual([req("a").status, req("b").status], [201, 201])
            full = req("c")
            self.assertEqual(full.status, 503)
            self.assertEqual(full.header("Retry-After"), "1")
            self.assertIn("IDEMPOTENCY_MAX_KEYS", full.json()["error"]["message"])
            self.assertEqual(req("a").header("Idempotent-Replayed"), "true")  # still kept
            time.sleep(1.3)
            self.assertEqual(req("c").status, 201)  # expired keys make room


class PostgresIdempotencyTest(IdempotencyContract, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.shared()
        cls.url = cls.pg.fresh_database("idempotency")
        cls.srv = Server({"API_KEY": KEY, "DATABASE_URL": cls.url, "DB_POOL_SIZE": "4",
                          "ACCESS_LOG": "off"})
        cls.srv.wait_log(lambda l: l["message"] == "database connected")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def count_rows(self):
        return int(self.pg.psql("SELECT count(*) FROM items", db="idempotency")[0][0])

    def test_record_commits_with_the_write(self):
        r = self.post("k-row", {"name": "row", "price": 4.25})
        rows = self.pg.psql("SELECT status, item_id, item_name, item_price::text,"
                            " expires_at > now() + interval '23 hours'"
                            " FROM idempotency_keys WHERE key = 'k-row'", db="idempotency")
        self.assertEqual(rows, [["201", str(r.json()["id"]), "row", "4.25", "t"]])

    def test_key_in_use_is_409(self):
        locker = self.pg.psql_background(
            "BEGIN; LOCK TABLE items IN EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
            db="idempotency")
        try:
            deadline = time.monotonic() + 10
            while self.pg.psql("SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                               " AND mode = 'ExclusiveLock' AND granted",
                               db="idempotency") != [["1"]]:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            results = {}
            first = threading.Thread(target=lambda: results.setdefault(
                "first", self.post("k-busy", {"name": "busy", "price": 1})))
            first.start()
            time.sleep(0.5)  # the first holds the key, waiting for the table
            busy = self.post("k-busy", {"name": "busy", "price": 1})
            self.assertEqual(busy.status, 409, busy)
            self.assertEqual(busy.header("Retry-After"), "1")
            self.assertIsNone(locker.poll(), "the lock ended too soon: inconclusive")
        finally:
            locker.wait(30)
            first.join(30)
        self.assertEqual(results["first"].status, 201)
        again = self.post("k-busy", {"name": "busy", "price": 1})
        self.assertEqual((again.status, again.body), (201, results["first"].body))

    def test_key_survives_a_restart_and_is_scoped_to_its_api_key(self):
        url = self.pg.fresh_database("idempotency_restart")
        with Server({"API_KEY": KEY, "DATABASE_URL": url}) as first:
            first.wait_log(lambda l: l["message"] == "database connected")
            r1 = first.request("POST", "/api/items", keyed("k-restart"), body({"name": "r", "price": 1}))
        with Server({"API_KEY": KEY, "DATABASE_URL": url}) as second:
            second.wait_log(lambda l: l["message"] == "database connected")
            r2 = second.request("POST", "/api/items", keyed("k-restart"), body({"name": "r", "price": 1}))
        self.assertEqual((r2.status, r2.body, r2.header("Idempotent-Replayed")),
                         (201, r1.body, "true"))
        other = {"Authorization": "Bearer another-key", "Content-Type": "application/json"}
        with Server({"API_KEY": "another-key", "DATABASE_URL": url}) as third:
            third.wait_log(lambda l: l["message"] == "database connected")
            r3 = third.request("POST", "/api/items", keyed("k-restart", other),
                               body({"name": "r", "price": 1}))
        # Another API key's record is not this caller's: a new write, not a replay.
        self.assertEqual(r3.status, 201)
        self.assertIsNone(r3.header("Idempotent-Replayed"))
        self.assertNotEqual(r3.json()["id"], r1.json()["id"])
        rows = self.pg.psql("SELECT count(DISTINCT scope) FROM idempotency_keys", db="idempotency_restart")
        self.assertEqual(rows, [["2"]])
        keys = self.pg.psql("SELECT scope FROM idempotency_keys", db="idempotency_restart")
        for (scope,) in keys:
            self.assertNotIn(KEY, scope)  # the API key itself is never stored
            self.assertEqual(len(scope), 64)

    def test_expired_keys_are_replaced_and_purged(self):
        url = self.pg.fresh_database("idempotency_ttl")
        with Server({"API_KEY": KEY, "DATABASE_URL": url, "IDEMPOTENCY_TTL_S": "1"}) as srv:
            srv.wait_log(lambda l: l["message"] == "database connected")
            req = lambda: srv.request("POST", "/api/items", keyed("k-ttl"), body({"name": "t", "price": 1}))
            first = req().json()
            self.assertEqual(req().header("Idempotent-Replayed"), "true")
            time.sleep(1.3)
            second = req()
            self.assertEqual(second.status, 201)
            self.assertIsNone(second.header("Idempotent-Replayed"))
            self.assertNotEqual(second.json()["id"], first["id"])
            count = lambda: self.pg.psql("SELECT count(*) FROM idempotency_keys", db="idempotency_ttl")
            deadline = time.monotonic() + 10
            while count() != [["0"]]:
                self.assertLess(time.monotonic(), deadline, "expired keys were not purged")
                time.sleep(0.2)

    def test_ttl_counts_from_the_write(self):
        """A key's lifetime starts when the write is done, not when its transaction began:
        a write that waited for a lock longer than the TTL is still replayed right after."""
        url = self.pg.fresh_database("idempotency_ttl_start")
        with Server({"API_KEY": KEY, "DATABASE_URL": url, "IDEMPOTENCY_TTL_S": "2"}) as srv:
            srv.wait_log(lambda l: l["message"] == "database connected")
            locker = self.pg.psql_background(
                "BEGIN; LOCK TABLE items IN EXCLUSIVE MODE; SELECT pg_sleep(2.7); COMMIT;",
                db="idempotency_ttl_start")
            deadline = time.monotonic() + 10
            while self.pg.psql("SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"
                               " AND mode = 'ExclusiveLock' AND granted",
                               db="idempotency_ttl_start") != [["1"]]:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            req = lambda: srv.request("POST", "/api/items", keyed("k-slow"),
                                      body({"name": "slow", "price": 1}))
            first = req()
            locker.wait(30)
            again = req()
        self.assertEqual(first.status, 201)
        self.assertEqual((again.status, again.body, again.header("Idempotent-Replayed")),
                         (201, first.body, "true"))

    def test_purge_keeps_up(self):
        """100,000 expired keys (a busy task's worth) are purged in seconds, in batches that
        never hold a connection long, not at a batch a minute."""
        import sys
        url = self.pg.fresh_database("idempotency_purge")
        with Server({"API_KEY": KEY, "DATABASE_URL": url, "IDEMPOTENCY_TTL_S": "2"}) as srv:
            srv.wait_log(lambda l: l["message"] == "database connected")
            self.pg.psql("INSERT INTO idempotency_keys (scope, key, fingerprint, status, expires_at)"
                         " SELECT 's', 'k' || i, 'f', 201, now() - interval '1 hour'"
                         " FROM generate_series(1, 100000) i", db="idempotency_purge")
            t0 = time.monotonic()
            count = lambda: int(self.pg.psql("SELECT count(*) FROM idempotency_keys",
                                             db="idempotency_purge")[0][0])
            while count():
                self.assertLess(time.monotonic() - t0, 15, f"{count()} keys left")
                # Requests go on meanwhile, the deep check (the purge's connection) included.
                self.assertEqual(srv.get("/health/detailed").status, 200)
                time.sleep(0.2)
            took = time.monotonic() - t0
        print(f"\npurged 100,000 expired keys in {took:.1f} s", file=sys.stderr)

    def test_schema_too_old_answers_503_for_keyed_writes_only(self):
        url = self.pg.fresh_database("idempotency_old")
        with Server({"DATABASE_URL": url}) as srv:  # migrate, then wind back to version 2
            srv.wait_log(lambda l: l["message"] == "database connected")
        self.pg.psql("DROP TABLE idempotency_keys; DELETE FROM node_api_schema WHERE version = 3",
                     db="idempotency_old")
        with Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_MIGRATE": "off"}) as srv:
            srv.wait_log(lambda l: l["message"] == "database connected")
            self.assertEqual(srv.request("POST", "/api/items", AUTH, body({"name": "x", "price": 1})).status, 201)
            r = srv.request("POST", "/api/items", keyed("k-old"), body({"name": "x", "price": 1}))
            self.assertEqual(r.status, 503)
            self.assertIn("node-api migrate", r.json()["error"]["message"])
            # Once migrated, the same connections take keys, with no restart.
            from harness import run
            self.assertEqual(run(["migrate"], {"DATABASE_URL": url})[0], 0)
            r = srv.request("POST", "/api/items", keyed("k-old"), body({"name": "x", "price": 1}))
            self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    unittest.main()

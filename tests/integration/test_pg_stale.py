"""Connections the database closed while they sat idle in the pool (a failover, an
operator's pg_terminate_backend, an idle timeout of a proxy): the server said so on the
socket before any request came. The next requests must not be the ones that find out, as
with Node's pg pool, which drops an idle client the moment its socket errors."""

import json
import time
import unittest

import pg
from harness import Server

KEY = "stale-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
POOL = 3


def terminate_all(db, name):
    """Ends every backend of database `name` and waits until each has exited (its FATAL
    is then in the socket of the connection it served)."""
    db.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    deadline = time.monotonic() + 10
    while db.psql("SELECT count(*) FROM pg_stat_activity"
                  f" WHERE datname = '{name}' AND pid <> pg_backend_pid()") != [["0"]]:
        assert time.monotonic() < deadline, "the backends did not exit"
        time.sleep(0.05)


class IdleConnectionsClosedByTheDatabaseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = pg.shared()
        cls.name = "stale_conns"
        cls.url = cls.db.fresh_database(cls.name)

    def setUp(self):
        self.srv = Server({"API_KEY": KEY, "DATABASE_URL": self.url,
                           "DB_POOL_SIZE": str(POOL), "ACCESS_LOG": "off"})
        self.addCleanup(self.srv.stop)
        self.srv.wait_log(lambda l: l["message"] == "database connected")
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


if __name__ == "__main__":
    unittest.main()

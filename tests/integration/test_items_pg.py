"""The items API on PostgreSQL, and the deep health check's database part."""

import unittest

import pg
from harness import Server
from items_contract import AUTH, KEY, ItemsContract, body


class PostgresItemsTest(ItemsContract, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.shared()
        cls.url = cls.pg.fresh_database("items_contract")
        cls.srv = Server({"API_KEY": KEY, "DATABASE_URL": cls.url, "DB_POOL_SIZE": "4"})
        cls.srv.wait_log(lambda l: l["message"] == "database connected")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def count_rows(self):
        return int(self.pg.psql("SELECT count(*) FROM items", db="items_contract")[0][0])

    def test_rows_match_answers(self):
        r = self.post({"name": "exact", "price": 0.3})
        row = self.pg.psql(f"SELECT name, price::text FROM items WHERE id = {r.json()['id']}",
                           db="items_contract")
        self.assertEqual(row, [["exact", "0.30"]])

    def test_reads_see_earlier_writes_while_coalesced(self):
        """Readers keep list batches forming; a writer always reads its own write back."""
        import threading
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                self.srv.get("/api/items?limit=1000")
                self.srv.get("/api/items/1")

        readers = [threading.Thread(target=reader) for _ in range(12)]
        for t in readers:
            t.start()
        try:
            for i in range(100):
                created = self.post({"name": f"fresh {i}", "price": 1}).json()
                listed = self.srv.get("/api/items?limit=1000").json()["items"]
                self.assertIn(created, listed)
                self.assertEqual(self.srv.get(f"/api/items/{created['id']}").json(), created)
        finally:
            stop.set()
            for t in readers:
                t.join()

    def test_ids_are_exact_over_the_bigint_range(self):
        """Ids print as exact integers, never through a double (5000000000000001, not 5e+15)."""
        from bsondec import decode
        ids = (5000000000000001, 2 ** 53 - 1, 2 ** 53 + 1, 2 ** 63 - 2, 2 ** 63 - 1)
        values = ", ".join(f"({i}, 'big {i}', 1.5)" for i in ids)
        self.pg.psql(f"INSERT INTO items (id, name, price) VALUES {values}", db="items_contract")
        try:
            for i in ids:
                with self.subTest(id=i):
                    r = self.srv.get(f"/api/items/{i}")
                    self.assertEqual(r.status, 200, r)
                    self.assertIn(f'"id":{i},'.encode(), r.body)
                    self.assertEqual(r.json()["id"], i)
                    b = self.srv.get(f"/api/items/{i}", {"Accept": "application/bson"})
                    self.assertEqual(decode(b.body)["id"], i)
                    r = self.srv.request("PUT", f"/api/items/{i}", AUTH,
                                         body({"name": f"big {i}", "price": 2}))
                    self.assertEqual(r.json(), {"id": i, "name": f"big {i}", "price": 2})
            n = self.count_rows()
            listed = self.srv.get(f"/api/items?limit=1000&offset={n - len(ids)}")
            self.assertEqual([i["id"] for i in listed.json()["items"]], list(ids))
            for i in ids:
                self.assertIn(f'"id":{i},'.encode(), listed.body)
            b = self.srv.get(f"/api/items?limit=1000&offset={n - len(ids)}",
                             {"Accept": "application/bson"})
            self.assertEqual([i["id"] for i in decode(b.body)["items"]], list(ids))
        finally:
            self.pg.psql("DELETE FROM items WHERE id >= 5000000000000000", db="items_contract")

    def test_deep_health(self):
        d = self.srv.get("/health/detailed")
        self.assertEqual(d.status, 200)
        db = d.json()["checks"]["database"]
        self.assertEqual(db["status"], "pass")
        self.assertIsInstance(db["latency_ms"], float)
        self.assertEqual(db["pool"]["size"], 4)
        self.assertEqual(db["pool"]["connected"], 4)
        self.assertEqual(set(db["pool"]), {"size", "connected", "busy", "waiting"})
        self.assertEqual(d.json()["checks"]["store"]["backend"], "postgres")


if __name__ == "__main__":
    unittest.main()

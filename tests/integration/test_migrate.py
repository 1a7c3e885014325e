"""`node-api migrate` and migration at start: idempotent, safe when run at once."""

import json
import subprocess
import unittest

import pg
from harness import BIN, Server, run


class MigrateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.shared()

    def versions(self, db):
        return self.pg.psql("SELECT version FROM node_api_schema ORDER BY version", db=db)

    def test_twice(self):
        url = self.pg.fresh_database("migrate_twice")
        rc, out, err = run(["migrate"], {"DATABASE_URL": url})
        self.assertEqual(rc, 0, out + err)
        line = json.loads(out.strip().splitlines()[-1])
        self.assertEqual((line["message"], line["from_version"], line["to_version"]),
                         ("schema migrated", 0, 3))
        rc, out, err = run(["migrate"], {"DATABASE_URL": url})
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out.strip().splitlines()[-1])["message"],
                         "schema already up to date")
        self.assertEqual(err, "")
        self.assertEqual(self.versions("migrate_twice"), [["1"], ["2"], ["3"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM items", db="migrate_twice"), [["3"]])

    def test_many_at_once(self):
        url = self.pg.fresh_database("migrate_race")
        procs = [subprocess.Popen([BIN, "migrate"], env={"DATABASE_URL": url, "PATH": "/usr/bin"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(8)]
        results = [(p.wait(60), p.stdout.read().decode(), p.stderr.read().decode()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        self.assertEqual([rc for rc, _, _ in results], [0] * 8, results)
        messages = [json.loads(out.strip().splitlines()[-1])["message"] for _, out, _ in results]
        self.assertEqual(messages.count("schema migrated"), 1)
        self.assertEqual(self.versions("migrate_race"), [["1"], ["2"], ["3"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM items", db="migrate_race"), [["3"]])

    def test_seed_only_into_an_empty_table(self):
        url = self.pg.fresh_database("migrate_seed")
        self.assertEqual(run(["migrate"], {"DATABASE_URL": url})[0], 0)
        self.pg.psql("DELETE FROM items", db="migrate_seed")
        self.pg.psql("INSERT INTO items (name, price) VALUES ('mine', 1)", db="migrate_seed")
        self.assertEqual(run(["migrate"], {"DATABASE_URL": url})[0], 0)
        self.assertEqual(self.pg.psql("SELECT name FROM items", db="migrate_seed"), [["mine"]])

    def test_servers_starting_together(self):
        url = self.pg.fresh_database("migrate_serve")
        servers = [Server({"DATABASE_URL": url, "DB_POOL_SIZE": "3"}) for _ in range(4)]
        try:
            for srv in servers:
                srv.wait_log(lambda l: l["message"] == "database connected")
                self.assertEqual(srv.get("/api/items").json()["count"], 3)
        finally:
            for srv in servers:
                srv.stop()
        self.assertEqual(self.versions("migrate_serve"), [["1"], ["2"], ["3"]])

    def test_migrate_off_then_command(self):
        url = self.pg.fresh_database("migrate_off")
        with Server({"DATABASE_URL": url, "DB_MIGRATE": "off", "DB_ACQUIRE_TIMEOUT_MS": "300"}) as srv:
            r = srv.get("/api/items")
            self.assertEqual(r.status, 503)
            self.assertEqual(srv.get("/health").status, 200)
            self.assertEqual(run(["migrate"], {"DATABASE_URL": url})[0], 0)
            # The pool's connections retry their setup in the background and recover.
            srv.wait_log(lambda l: l["message"] == "database connected", 15)
            for _ in range(100):
                if srv.get("/api/items").status == 200:
                    break
            self.assertEqual(srv.get("/api/items").json()["count"], 3)

    def test_errors(self):
        rc, out, _ = run(["migrate"], {"DATABASE_URL": ""})
        self.assertEqual(rc, 2)
        self.assertEqual(json.loads(out)["variable"], "DATABASE_URL")
        rc, out, _ = run(["migrate"], {"DATABASE_URL": f"postgresql://app:wrong@127.0.0.1:{self.pg.port}/nodeapi"})
        self.assertEqual(rc, 1)
        self.assertNotIn("wrong", out.replace("wrong-", ""))
        self.assertIn("password authentication failed", out)
        for bad in ("postgresql://x:pw@host:notaport/db", "postgresql://x:pw@host/db?bogus=1",
                    "host=x password=pw bogus"):
            rc, out, _ = run([], {"DATABASE_URL": bad})
            self.assertEqual(rc, 2, bad)
            line = json.loads(out)
            self.assertEqual(line["variable"], "DATABASE_URL")
            self.assertNotIn("pw", line["message"])


if __name__ == "__main__":
    unittest.main()

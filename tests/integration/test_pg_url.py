"""DATABASE_URL as users write it: its own options kept beside ours, host names resolved
within the connect deadline, and a DNS server that never answers costing a bounded wait."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import pg
from harness import BIN, Server


class UrlOptionsTest(unittest.TestCase):
    def test_url_options_are_merged_with_ours(self):
        """options=-c search_path=... in the URL is honoured, and statement_timeout still
        applies (a statement stuck behind a lock is cancelled by the server)."""
        db = pg.shared()
        url = db.fresh_database("url_options")
        db.psql("CREATE SCHEMA alt AUTHORIZATION app", db="url_options")
        srv = Server({"DATABASE_URL": url + "?options=-c%20search_path%3Dalt",
                      "DB_STATEMENT_TIMEOUT_MS": "500", "DB_ACQUIRE_TIMEOUT_MS": "500"})
        try:
            srv.wait_log(lambda l: l["message"] == "database connected")
            self.assertEqual(srv.get("/api/items").status, 200)
            tables = db.psql("SELECT table_schema FROM information_schema.tables"
                             " WHERE table_name = 'items'", db="url_options")
            self.assertEqual(tables, [["alt"]])  # migrated into the URL's schema
            locker = db.psql_background("BEGIN; LOCK TABLE alt.items IN ACCESS EXCLUSIVE MODE;"
                                        " SELECT pg_sleep(5); COMMIT;", db="url_options")
            try:
                deadline = time.monotonic() + 10
                while db.psql("SELECT count(*) FROM pg_locks WHERE relation = 'alt.items'::regclass"
                              " AND granted AND mode = 'AccessExclusiveLock'",
                              db="url_options") != [["1"]]:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
                r = srv.get("/api/items?limit=3")
            finally:
                db.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()",
                        db="url_options")
                locker.wait(30)
            self.assertEqual(r.status, 503)
            self.assertIn("statement timed out", r.json()["error"]["message"])
        finally:
            srv.stop()

    def test_host_names_resolve(self):
        db = pg.shared()
        url = db.fresh_database("url_names").replace("127.0.0.1", "localhost")
        srv = Server({"DATABASE_URL": url})
        try:
            srv.wait_log(lambda l: l["message"] == "database connected")
            self.assertEqual(srv.get("/api/items").status, 200)
        finally:
            srv.stop()


class SilentDns:
    """A DNS server on 127.0.0.1:53 that reads queries and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.1)
        self.queries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1

    def close(self):
        self.stop.set()
        self.thread.join(5)  # the port is free once the thread is out of recvfrom()
        self.sock.close()


class DnsStallTest(unittest.TestCase):
    def start_behind_silent_dns(self, url):
        """node-api in a mount namespace of its own, where /etc/resolv.conf points at a DNS
        server that never answers; returns (process, its stdout lines, the port, the DNS)."""
        if os.getuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare to give node-api a resolver of its own")
        try:
            dns = SilentDns()
        except OSError as e:
            self.skipTest(f"cannot listen on 127.0.0.1:53: {e}")
        self.addCleanup(dns.close)
        tmp = tempfile.mkdtemp(prefix="node-api-dns-")
        self.addCleanup(shutil.rmtree, tmp, True)
        resolv = os.path.join(tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        free = port.getsockname()[1]
        port.close()
        env = {**os.environ, "PORT": str(free), "HOST": "127.0.0.1", "ACCESS_LOG": "off",
               "DATABASE_URL": url, "DB_CONNECT_TIMEOUT_S": "2", "DB_POOL_SIZE": "2",
               "DB_ACQUIRE_TIMEOUT_MS": "300"}
        proc = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c",
             f'mount --bind "{resolv}" /etc/resolv.conf && exec "{BIN}"'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()

        def cleanup():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(cleanup)
        deadline = time.monotonic() + 20
        while not any("Server started" in l for l in lines):
            self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() else "")
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        return proc, lines, free, dns

    def test_a_stalled_name_does_not_keep_the_next_host_out(self):
        """Of a list of hosts, a name DNS never answers takes a share of the connect timeout,
        and the next host is tried, as libpq would (it cannot: its lookup blocks)."""
        db = pg.shared()
        url = db.fresh_database("dns_failover")
        url = url.replace(f"@127.0.0.1:{db.port}/",
                          f"@db.stalled.invalid:{db.port},localhost:{db.port}/")
        proc, lines, port, dns = self.start_behind_silent_dns(url)
        deadline = time.monotonic() + 10
        while not any('"database connected"' in l for l in lines):
            self.assertLess(time.monotonic(), deadline, lines[-5:])
            time.sleep(0.05)
        srv = Server.__new__(Server)
        srv.port = port
        self.assertEqual(srv.get("/api/items").status, 200)
        self.assertGreater(dns.queries, 0)

    def test_stalled_dns_costs_a_bounded_wait(self):
        """With a DNS server that never answers, each attempt gives up at the connect
        timeout, requests get 503 in time, and SIGTERM is not held up by a lookup."""
        proc, lines, free, dns = self.start_behind_silent_dns(
            "postgresql://app:pw@db.stalled.invalid:5432/nodeapi")
        try:
            srv = Server.__new__(Server)
            srv.port = free
            t0 = time.monotonic()
            r = srv.get("/api/items")
            self.assertEqual(r.status, 503)
            self.assertLess(time.monotonic() - t0, 2)  # the acquire timeout, not the DNS
            # Attempts end at the connect timeout with a reason that says so.
            deadline = time.monotonic() + 10
            while not any("database unavailable" in l for l in lines):
                self.assertLess(time.monotonic(), deadline, lines[-5:])
                time.sleep(0.05)
            warn = next(l for l in lines if "database unavailable" in l)
            self.assertIn('could not translate host name \\"db.stalled.invalid\\" to address: '
                          "timed out", warn)
            self.assertGreater(dns.queries, 0)  # the lookups were really sent, and stalled
            # A lookup in progress does not hold up the exit.
            time.sleep(0.5)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(30)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0)
            self.assertLess(took, 1.5, f"exit took {took:.1f} s")
        finally:
            pass


if __name__ == "__main__":
    unittest.main()

"""Deploys lose nothing: a drain under load at 256 keep-alive connections, and
writes to PostgreSQL while the service is stopped, every answer checked by
scripts/loadcheck.py (wrk cannot tell a lost request from a refused reconnect)."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

import pg
from harness import Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOADCHECK = os.path.join(ROOT, "scripts", "loadcheck.py")


def loadcheck(port, *args):
    return subprocess.Popen([sys.executable, LOADCHECK, str(port), *args],
                            stdout=subprocess.PIPE, text=True)


def result(proc, timeout=60):
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out)


class DrainUnderLoadTest(unittest.TestCase):
    def test_sigterm_at_256_connections_loses_nothing(self):
        srv = Server({"SHUTDOWN_TIMEOUT_S": "20", "ACCESS_LOG": "off"})
        # API routes only: /health answers 503 once draining, as it should (the load
        # balancer's signal), and is checked by the load balancer, not by clients.
        load = loadcheck(srv.port, "--connections", "256", "--seconds", "30", "--until-refused",
                         "--path", "/api/items", "--path", "/api/info")
        time.sleep(2)
        busy = srv.get("/health/detailed").json()
        srv.signal(signal.SIGTERM)
        rc = srv.wait(25)
        r = result(load)
        srv.stop()
        self.assertGreaterEqual(busy["connections"]["open"], 250)  # the load was really there
        self.assertEqual(rc, 0)
        self.assertEqual((r["failed"], r["failures"]), (0, []))
        self.assertGreater(r["ok"], 1000)
        # Each connection got its last answer with Connection: close, then a refused reconnect.
        self.assertEqual(r["refused"], 256)
        drained = srv.wait_log(lambda l: l["message"] == "drained")
        self.assertGreater(drained["requests"], 0)


class WritesDuringStopTest(unittest.TestCase):
    def test_every_201_is_stored_and_nothing_else(self):
        db = pg.shared()
        url = db.fresh_database("writes_during_stop")
        srv = Server({"DATABASE_URL": url, "API_KEY": "k", "ACCESS_LOG": "off",
                      "SHUTDOWN_TIMEOUT_S": "20"})
        srv.wait_log(lambda l: l["message"] == "database connected")
        load = loadcheck(srv.port, "--connections", "32", "--seconds", "30", "--until-refused",
                         "--post-key", "k")
        time.sleep(1.5)
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait(25), 0)
        r = result(load)
        srv.stop()
        self.assertEqual((r["failed"], r["failures"]), (0, []))
        stored = {int(row[0]) for row in db.psql("SELECT id FROM items WHERE name LIKE 'load %'",
                                                  db="writes_during_stop")}
        created = set(r["created"])
        self.assertGreater(len(created), 100)
        # Every write answered 201 is there, and no other: nothing answered with an
        # error (or not at all) was stored behind the client's back.
        self.assertEqual(stored, created)


if __name__ == "__main__":
    unittest.main()


class RollingDeployTest(unittest.TestCase):
    """Two node-api instances behind HAProxy (standing in for the ALB: active health checks
    on /health), replaced one at a time the way ECS does it, while a client runs."""

    def haproxy(self, cmd):
        import socket as so
        with so.socket(so.AF_UNIX) as s:
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def state(self, server):
        """HAProxy's view: "up", "down", or None while it is starting."""
        try:
            lines = self.haproxy("show servers state be").splitlines()
        except OSError:
            return None
        for line in lines:
            f = line.split()
            if len(f) > 5 and f[3] == server:
                return "up" if f[5] == "2" else "down"  # srv_op_state 2: running
        return None

    def up(self, server):
        return self.state(server) == "up"

    def test_rolling_deploy_loses_nothing(self):
        import shutil
        import tempfile
        from harness import free_port
        tmp = tempfile.mkdtemp(prefix="node-api-haproxy-")
        self.sock = os.path.join(tmp, "admin.sock")
        front = free_port()
        ports = [free_port() for _ in range(4)]
        cfg = os.path.join(tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
    stats socket {self.sock} mode 600 level admin
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend fe
    bind 127.0.0.1:{front}
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
""" + "".join(f"    server s{i} 127.0.0.1:{p} check\n" for i, p in enumerate(ports)))
        proxy = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        env = {"ACCESS_LOG": "off", "SHUTDOWN_TIMEOUT_S": "3", "HOST": "127.0.0.1"}
        live = {}
        try:
            for i in (0, 1):
                live[i] = Server({**env, "PORT": str(ports[i])})
            # HAProxy starts out assuming every server is up: wait for its checks to say
            # which are, so the load starts on the two running instances only.
            deadline = time.monotonic() + 15
            while [self.state(f"s{i}") for i in range(4)] != ["up", "up", "down", "down"]:
                self.assertLess(time.monotonic(), deadline, "HAProxy never saw the first servers")
                time.sleep(0.05)
            load = loadcheck(front, "--connections", "32", "--seconds", "12",
                             "--path", "/api/items", "--path", "/api/info")
            time.sleep(1)
            stops = []
            for old, new in ((0, 2), (1, 3)):
                # ECS: start the new task, wait until the load balancer finds it healthy,
                # then SIGTERM the old one, still in rotation until its checks fail.
                live[new] = Server({**env, "PORT": str(ports[new])})
                deadline = time.monotonic() + 15
                while not self.up(f"s{new}"):
                    self.assertLess(time.monotonic(), deadline, f"s{new} never healthy")
                    time.sleep(0.05)
                srv = live.pop(old)
                srv.signal(signal.SIGTERM)
                stops.append(srv.wait(20))
                srv.stop()
                time.sleep(1)
            r = result(load, timeout=90)
        finally:
            for s in live.values():
                s.stop()
            proxy.terminate()
            proxy.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stops, [0, 0])
        self.assertEqual((r["failed"], r["failures"]), (0, []))
        self.assertEqual(r["refused"], 0)  # the proxy always answered
        self.assertGreater(r["ok"], 1000)

"""On ECS: the task metadata (v4) read at start, and CloudWatch EMF metric lines.

A loopback HTTP server plays the ECS agent's metadata endpoint: the documented v4 task JSON,
a slow answer, garbage. Every EMF line is checked against the specification (emf.py) and
its values against the traffic the test sent.
"""

import http.server
import json
import os
import signal
import socket
import threading
import time
import unittest

import emf
from harness import Server, run

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "task-metadata-v4.json")


class Agent:
    """GET /v4/<id>/task answers `body` after `delay` s (chunked when `chunked`)."""

    def __init__(self, body=None, delay=0.0, chunked=True, status=200):
        with open(FIXTURE, "rb") as f:
            self.body = f.read() if body is None else body
        self.delay, self.chunked, self.status = delay, chunked, status
        self.paths = []
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                agent.paths.append(self.path)
                time.sleep(agent.delay)
                self.send_response(agent.status)
                self.send_header("Content-Type", "application/json")
                if agent.chunked:
                    # As Go's net/http sends a body it did not know the length of.
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for i in range(0, len(agent.body), 1000):
                        part = agent.body[i:i + 1000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(agent.body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(agent.body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/v4/e9028f8d-2495160603"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def started(srv):
    return srv.wait_log(lambda l: l.get("message", "").startswith("Server started"))


class TaskMetadataTest(unittest.TestCase):
    def test_documented_task_json(self):
        for chunked in (True, False):
            with self.subTest(chunked=chunked):
                agent = Agent(chunked=chunked)
                try:
                    with Server({"ECS_CONTAINER_METADATA_URI_V4": agent.uri,
                                 "METRICS_EMF": "off"}) as srv:
                        line = started(srv)
                        self.assertEqual(agent.paths, ["/v4/e9028f8d-2495160603/task"])
                        self.assertEqual(line["cluster"],
                                         "arn:aws:ecs:us-east-1:123456789012:cluster/node-api")
                        self.assertEqual(line["task_family"], "node-api-task")
                        self.assertEqual(line["task_revision"], "7")
                        self.assertEqual(line["availability_zone"], "us-east-1b")
                        self.assertEqual(line["launch_type"], "FARGATE")
                        self.assertTrue(line["task_arn"].endswith("/e9028f8d5d8e4f258373e7b93ce9a3c3"))
                        info = srv.get("/api/info").json()
                        # The tutorial's four fields as they are, the task beside them.
                        self.assertEqual(sorted(info), ["environment", "hostname", "service",
                                                        "task", "version"])
                        self.assertEqual(info["task"], {
                            "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/node-api",
                            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/node-api/"
                                       "e9028f8d5d8e4f258373e7b93ce9a3c3",
                            "family": "node-api-task", "revision": "7",
                            "availabilityZone": "us-east-1b", "launchType": "FARGATE"})
                finally:
                    agent.close()

    def test_slow_or_broken_agent_does_not_stop_the_start(self):
        cases = [(Agent(delay=5), "within 1000 ms"), (Agent(body=b"<html>oops</html>"),
                                                      "not a JSON object"),
                 (Agent(status=500, body=b"{}"), "answered 500"),
                 (Agent(body=b'{"Family":"f"}'), "Revision is missing")]
        for agent, says in cases:
            with self.subTest(says=says):
                try:
                    t0 = time.monotonic()
                    with Server({"ECS_CONTAINER_METADATA_URI_V4": agent.uri,
                                 "METRICS_EMF": "off"}) as srv:
                        line = started(srv)
                        self.assertLess(time.monotonic() - t0, 4.5)  # not the agent's 5 s
                        self.assertIsNone(line["task_family"])
                        warn = srv.wait_log(lambda l: l.get("message", "").startswith(
                            "ECS task metadata unavailable"))
                        self.assertIn(says, warn["error"])
                        self.assertEqual(warn["variable"], "ECS_CONTAINER_METADATA_URI_V4")
                        self.assertNotIn("task", srv.get("/api/info").json())
                finally:
                    agent.close()

    def test_nothing_listening(self):
        with Server({"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:1/v4/x"}) as srv:
            warn = srv.wait_log(lambda l: l.get("message", "").startswith(
                "ECS task metadata unavailable"))
            self.assertIn("cannot connect", warn["error"])
            self.assertEqual(srv.get("/health").status, 200)


class EmfTest(unittest.TestCase):
    def emf_lines(self, srv, n, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            raw = [l for l in srv.lines if '"_aws"' in l]
            if len(raw) >= n or time.monotonic() > deadline:
                return [emf.validate(l) for l in raw]
            time.sleep(0.05)

    def test_lines_follow_the_spec_and_the_traffic(self):
        """On ECS (the metadata variable set) EMF is on by default. Each line covers its
        interval: summed, they equal the traffic, per kind."""
        agent = Agent()
        try:
            srv = Server({"ECS_CONTAINER_METADATA_URI_V4": agent.uri,
                          "METRICS_EMF_INTERVAL_S": "1", "METRICS_EMF_NAMESPACE": "tests/node-api",
                          "ENABLE_LOADTEST_ROUTES": "1"})
            try:
                self.assertTrue(started(srv)["emf"])
                sent = {"ok": 0, "404": 0, "5xx": 0}
                for i in range(30):
                    self.assertEqual(srv.get("/api/items").status, 200)
                    sent["ok"] += 1
                for i in range(6):
                    self.assertEqual(srv.get("/api/items/987654").status, 404)
                    sent["404"] += 1
                for i in range(4):
                    self.assertEqual(srv.get("/api/status/503").status, 503)
                    sent["5xx"] += 1
                self.assertEqual(srv.get("/api/delay/300").status, 200)
                sent["ok"] += 1
                time.sleep(1.2)
            finally:
                srv.signal()
                self.assertEqual(srv.wait(), 0)
                lines = self.emf_lines(srv, 2)
                srv.stop()
        finally:
            agent.close()
        self.assertGreaterEqual(len(lines), 2)
        for doc in lines:
            directive = doc["_aws"]["CloudWatchMetrics"][0]
            self.assertEqual(directive["Namespace"], "tests/node-api")
            self.assertEqual(emf.dimension_sets(doc), [
                {"service": "node-api"},
                {"service": "node-api", "task_revision": "node-api-task:7"}])
        total = lambda name: sum(emf.metric_values(d)[name] for d in lines)
        self.assertEqual(total("Requests"), sum(sent.values()))
        self.assertEqual(total("Errors4xx"), sent["404"])
        self.assertEqual(total("Errors5xx"), sent["5xx"])
        self.assertEqual(total("RequestsShed"), 0)
        self.assertEqual(total("DatabaseErrors"), 0)
        # Latency: one value per request while under 100 in a line; the delayed request's
        # 300 ms among them, in its bucket (250 to 500 ms).
        values = [v for d in lines for v in emf.metric_values(d).get("Latency", [])]
        self.assertEqual(len(values), sum(sent.values()))
        self.assertEqual(len([v for v in values if 250 <= v <= 500]), 1)
        self.assertEqual(lines[-1]["Connections"], 0)

    def test_dropped_lines_lose_no_counts(self):
        """stdout that does not keep up fills the log's ring and lines are dropped, EMF lines
        among them: the next line then covers the dropped one's interval too, so the sums
        still equal the traffic."""
        import subprocess
        from harness import BIN, free_port
        port = free_port()
        env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "METRICS_PORT": "0",
               "METRICS_EMF": "on", "METRICS_EMF_INTERVAL_S": "1"}
        # Nobody reads stdout until the end: the writer blocks, the ring fills.
        p = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            sent = 0
            t0 = time.monotonic()
            with s:
                req = b"GET /api/items?pad=" + b"x" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                while time.monotonic() - t0 < 3 or sent < 20000:
                    s.sendall(req * 50)
                    got = 0
                    while got < 50:
                        data = s.recv(1 << 20)
                        self.assertTrue(data)
                        got += data.count(b"HTTP/1.1 200")
                    sent += 50
            time.sleep(1.2)
            p.send_signal(signal.SIGTERM)
            out = p.stdout.read().decode()
            self.assertEqual(p.wait(30), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
        lines = [l for l in out.splitlines() if '"_aws"' in l]
        dropped = [json.loads(l) for l in out.splitlines() if "log lines dropped" in l]
        self.assertTrue(dropped, "the test did not make the log drop lines")
        docs = [emf.validate(l) for l in lines]
        self.assertEqual(sum(emf.metric_values(d)["Requests"] for d in docs), sent)

    def test_off_by_default_off_ecs(self):
        with Server({"METRICS_EMF_INTERVAL_S": "1"}) as srv:
            self.assertFalse(started(srv)["emf"])
            srv.get("/api/items")
            time.sleep(1.5)
            self.assertEqual([l for l in srv.lines if '"_aws"' in l], [])

    def test_bad_namespace_stops_the_start(self):
        for ns in ("AWS/ECS", "bad\"quote", "x" * 256, "   "):
            with self.subTest(ns=ns[:20]):
                rc, out, _ = run([], {"METRICS_EMF": "on", "METRICS_EMF_NAMESPACE": ns,
                                      "PORT": "0"})
                self.assertEqual(rc, 2)
                self.assertEqual(json.loads(out.strip().split("\n")[-1])["variable"],
                                 "METRICS_EMF_NAMESPACE")


if __name__ == "__main__":
    unittest.main()

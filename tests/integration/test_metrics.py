"""Prometheus /metrics: where it is served, what it counts, and real Prometheus tooling on it.

The counts are checked exactly against the requests each test sent. A request is counted once
its answer has been sent, which the client may see a moment before the server has counted it:
the tests wait (bounded) for the total to reach what they sent, then compare every series.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import pg
from harness import Server, free_port, run
from items_contract import AUTH, KEY, body

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in out, f"duplicate series: {line!r}"
        out[key] = float(m.group(3))
    return out


def series(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def requests_total(samples):
    return sum(v for (n, _), v in samples.items() if n == "http_requests_total")


class Scraper:
    """GETs /metrics on a port of the server's."""

    def __init__(self, srv, port=None):
        self.srv = srv
        self.port = port or srv.wait_log(
            lambda l: l.get("message", "").startswith("Server started"))["metrics_port"]

    def get(self, path="/metrics", method="GET", headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def text(self):
        status, headers, body = self.get()
        assert status == 200, (status, body)
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
        return body

    def until_total(self, expected):
        """The scrape once http_requests_total reaches `expected`; fails if it does not
        within 10 s or goes past it."""
        deadline = time.monotonic() + 10
        while True:
            samples = parse(self.text())
            total = requests_total(samples)
            if total >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if total != expected:
            raise AssertionError(f"http_requests_total is {total}, {expected} sent")
        return samples


class OwnPortTest(unittest.TestCase):
    """The default: /metrics on METRICS_PORT, apart from the API."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"API_KEY": KEY})
        cls.scrape = Scraper(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_counts_equal_the_requests_sent(self):
        """Per method, route template and status, from several connections at once; 200
        random paths make one series, not 200."""
        before = parse(self.scrape.text())
        sent = requests_total(before)
        plan = [("GET", "/api/items", 200, 40), ("GET", "/api/items/1", 200, 30),
                ("GET", "/api/items/987654", 404, 10), ("HEAD", "/api/items/1", 200, 5),
                ("DELETE", "/health", 405, 3), ("OPTIONS", "/api/items", 204, 2),
                ("POST", "/api/items", 401, 4), ("BREW", "/api/info", 405, 1)]
        errors = []

        def client(method, path, status, n):
            for _ in range(n):
                r = self.srv.request(method, path)
                if r.status != status:
                    errors.append((method, path, r.status))

        threads = [threading.Thread(target=client, args=p) for p in plan]
        threads += [threading.Thread(target=lambda k=k: [
            self.srv.get(f"/random/{k}/{i}") for i in range(50)]) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        sent += sum(p[3] for p in plan) + 200
        samples = self.scrape.until_total(sent)

        def delta(method, route, status):
            key = dict(method=method, route=route, status=str(status))
            return (series(samples, "http_requests_total", **key) or 0) - \
                (series(before, "http_requests_total", **key) or 0)

        self.assertEqual(delta("GET", "/api/items", 200), 40)
        self.assertEqual(delta("GET", "/api/items/{id}", 200), 30)
        self.assertEqual(delta("GET", "/api/items/{id}", 404), 10)
        self.assertEqual(delta("HEAD", "/api/items/{id}", 200), 5)
        self.assertEqual(delta("DELETE", "/health", 405), 3)
        self.assertEqual(delta("OPTIONS", "/api/items", 204), 2)
        self.assertEqual(delta("POST", "/api/items", 401), 4)
        self.assertEqual(delta("OTHER", "/api/info", 405), 1)
        self.assertEqual(delta("GET", "unmatched", 404), 200)
        routes = {dict(l)["route"] for (n, l) in samples if n == "http_requests_total"}
        self.assertLessEqual(routes, {"/api/items", "/api/items/{id}", "/health", "/api/info",
                                      "unmatched", "/health/detailed"})
        # The histogram counts the same requests, each in a bucket.
        count = series(samples, "http_request_duration_seconds_count", method="GET",
                       route="/api/items/{id}")
        inf = series(samples, "http_request_duration_seconds_bucket", method="GET",
                     route="/api/items/{id}", le="+Inf")
        self.assertEqual(count, inf)
        self.assertEqual(count - (series(before, "http_request_duration_seconds_count",
                                         method="GET", route="/api/items/{id}") or 0), 40)
        self.assertEqual(series(samples, "http_requests_in_flight"), 0)

    def test_promtool_accepts_the_scrape(self):
        self.srv.get("/api/items")
        self.srv.get("/api/items/1")
        p = subprocess.run(["promtool", "check", "metrics"], input=self.scrape.text().encode(),
                           capture_output=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"", b""))

    def test_openmetrics_when_asked(self):
        status, headers, body = self.scrape.get(
            headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"],
                         "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertTrue(body.endswith("\n# EOF\n"), body[-40:])
        self.assertIn("# TYPE http_requests counter\n", body)
        self.assertIn("# TYPE process_cpu_seconds counter\n", body)

    def test_families_present(self):
        samples = parse(self.scrape.text())
        names = {n for (n, _) in samples}
        for name in ("http_requests_in_flight", "node_api_connections_open",
                     "node_api_connections_max", "node_api_connections_refused_total",
                     "node_api_connections_closed_total", "node_api_requests_shed_total",
                     "node_api_draining", "node_api_drain_requests_finished_total",
                     "node_api_memory_limit_bytes", "node_api_memory_charged_bytes",
                     "node_api_memory_shed_threshold_bytes", "node_api_pool_bytes",
                     "node_api_log_lines_dropped_total", "node_api_build_info",
                     "process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_start_time_seconds", "process_open_fds", "process_max_fds"):
            self.assertIn(name, names)
        rc, out, _ = run(["--version"])
        version, revision = re.match(r"node-api (\S+) \((\S+)\)", out).groups()
        self.assertEqual(series(samples, "node_api_build_info", version=version,
                                revision=revision), 1)
        self.assertEqual(series(samples, "node_api_draining"), 0)
        self.assertGreater(series(samples, "process_resident_memory_bytes"), 1 << 20)
        self.assertLess(abs(series(samples, "process_start_time_seconds") - time.time()), 3600)
        # Not on the API's port: the load balancer forwards only that one.
        self.assertEqual(self.srv.get("/metrics").status, 404)

    def test_a_request_cut_off_is_not_aborted(self):
        """A body that stops coming gets 408 at REQUEST_TIMEOUT_S from the sweep: that is
        a connection closed at a deadline, not a client gone before its answer."""
        with Server({"HEADERS_TIMEOUT_S": "1", "REQUEST_TIMEOUT_S": "2", "API_KEY": KEY}) as srv:
            scrape = Scraper(srv)
            with srv.connect() as s:
                s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                          b"Content-Type: application/json\r\n\r\n{\"na")
                s.settimeout(10)
                self.assertIn(b" 408 ", s.recv(4096))
            deadline = time.monotonic() + 10
            while True:
                samples = parse(scrape.text())
                closed = series(samples, "node_api_connections_closed_total",
                                reason="request_timeout")
                if closed or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(closed, 1)
            time.sleep(0.2)  # the request's own completion, on its thread
            samples = parse(scrape.text())
            self.assertEqual(series(samples, "node_api_requests_aborted_total"), 0)
            self.assertEqual(requests_total(samples), 0)

    def test_stop_with_the_metrics_port_full(self):
        """Eight idle connections fill the metrics port; SIGTERM still stops at once (its
        thread is woken for the stop, not left polling until they time out)."""
        srv = Server()
        port = Scraper(srv).port
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        try:
            time.sleep(0.3)
            srv.signal()
            self.assertEqual(srv.wait(timeout=10), 0)
        finally:
            for s in socks:
                s.close()
            srv.stop()

    def test_other_requests_on_the_metrics_port(self):
        status, headers, body = self.scrape.get("/api/items")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["status"], 404)
        # Escapes are not decoded into a route, as on the main port.
        self.assertEqual(self.scrape.get("/%6detrics")[0], 404)
        status, headers, body = self.scrape.get("/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(json.loads(body)["error"]["status"], 405)


class WhereTest(unittest.TestCase):
    def test_on_the_main_port_when_metrics_port_is_port(self):
        port = free_port()
        with Server({"PORT": str(port), "METRICS_PORT": str(port)}) as srv:
            started = srv.wait_log(lambda l: l.get("message", "").startswith("Server started"))
            self.assertEqual(started["metrics_port"], port)
            srv.get("/api/items")
            scrape = Scraper(srv, port)
            # Each scrape is itself counted once it has been sent: a scrape sees every earlier
            # one at most, and, a moment later, all of them.
            deadline = time.monotonic() + 10
            for earlier in range(1000):
                samples = parse(scrape.text())
                items = series(samples, "http_requests_total", method="GET",
                               route="/api/items", status="200")
                scrapes = series(samples, "http_requests_total", method="GET",
                                 route="/metrics", status="200") or 0
                self.assertLessEqual(scrapes, earlier)
                if ((items, scrapes) == (1, earlier) and earlier) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual((items, scrapes), (1, earlier))
            self.assertGreater(earlier, 0)

    def test_off(self):
        with Server({"METRICS_PORT": "off"}) as srv:
            started = srv.wait_log(lambda l: l.get("message", "").startswith("Server started"))
            self.assertIsNone(started["metrics_port"])
            self.assertEqual(srv.get("/metrics").status, 404)

    def test_port_taken_stops_the_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            rc, out, _ = run([], {"PORT": "0", "HOST": "127.0.0.1", "METRICS_PORT": str(port)})
        self.assertEqual(rc, 1)
        line = [json.loads(l) for l in out.strip().split("\n") if "metrics" in l][-1]
        self.assertEqual(line["variable"], "METRICS_PORT")
        self.assertIn(f"METRICS_PORT {port}", line["error"])


class PrometheusTest(unittest.TestCase):
    """A real Prometheus server (Debian's) scrapes the service on loopback; its query API
    returns the requests the test sent."""

    def test_prometheus_scrapes_and_counts(self):
        with Server() as srv:
            scrape = Scraper(srv)
            for _ in range(25):
                self.assertEqual(srv.get("/api/items").status, 200)
            for _ in range(7):
                self.assertEqual(srv.get("/api/items/424242").status, 404)
            scrape.until_total(32)
            work = tempfile.mkdtemp(prefix="node-api-prom-")
            web = free_port()
            try:
                with open(os.path.join(work, "prometheus.yml"), "w") as f:
                    f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                            "scrape_configs:\n  - job_name: node-api\n    static_configs:\n"
                            f"      - targets: ['127.0.0.1:{scrape.port}']\n")
                prom = subprocess.Popen(
                    ["prometheus", f"--config.file={work}/prometheus.yml",
                     f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{web}"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    got = self._query_until(web, 'sum(http_requests_total{route="/api/items",'
                                                 'status="200"})', 25.0)
                    self.assertEqual(got, 25.0)
                    self.assertEqual(self._query_until(
                        web, 'http_requests_total{route="/api/items/{id}",status="404"}', 7.0), 7.0)
                    self.assertEqual(self._query_until(web, 'up{job="node-api"}', 1.0), 1.0)
                    # Prometheus asks for OpenMetrics first: the scrape it parsed was that.
                    self.assertEqual(self._query_until(
                        web, 'scrape_samples_scraped{job="node-api"} > 50', None) > 50, True)
                finally:
                    prom.terminate()
                    try:
                        prom.wait(20)
                    except subprocess.TimeoutExpired:
                        prom.kill()
                        prom.wait()
                    prom.stderr.close()
            finally:
                shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _query_until(web, query, want, timeout=60):
        """The query's single value once it equals `want` (any value when None), or the last
        value seen at the deadline."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            url = f"http://127.0.0.1:{web}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    data = json.load(r)
                result = data["data"]["result"]
                if len(result) == 1:
                    value = float(result[0]["value"][1])
                    if want is None or value == want:
                        return value
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        return value


class DatabaseMetricsTest(unittest.TestCase):
    def test_pool_and_query_histogram(self):
        db = pg.shared()
        url = db.fresh_database("metrics")
        with Server({"API_KEY": KEY, "DATABASE_URL": url, "DB_POOL_SIZE": "3"}) as srv:
            scrape = Scraper(srv)
            created = srv.request("POST", "/api/items", AUTH, body({"name": "m", "price": 1}))
            self.assertEqual(created.status, 201, created)
            item = created.json()["id"]
            for _ in range(9):
                r = srv.get(f"/api/items/{item}")
                self.assertEqual(r.status, 200)
                # Server-Timing: the service's time, and the database's within it.
                m = re.fullmatch(r"app;dur=(\d+\.\d{3}), db;dur=(\d+\.\d{3})",
                                 r.header("Server-Timing"))
                self.assertIsNotNone(m, r.header("Server-Timing"))
                self.assertLessEqual(float(m.group(2)), float(m.group(1)))
                self.assertGreater(float(m.group(2)), 0)
            samples = scrape.until_total(10)
            # One query per call, none shared: the calls came one after another.
            self.assertEqual(series(samples, "node_api_db_query_duration_seconds_count"), 10)
            self.assertEqual(series(samples, "node_api_db_pool_size"), 3)
            self.assertEqual(series(samples, "node_api_db_acquire_timeouts_total"), 0)
            self.assertEqual(series(samples, "node_api_reads_coalesced_total"), 0)
            self.assertEqual(series(samples, "node_api_db_write_groups_total"), 0)
            self.assertEqual(series(samples, "node_api_db_writes_held_total"), 0)
            self.assertEqual(series(samples, "node_api_db_reruns_total"), 0)
            self.assertEqual(series(samples, "node_api_db_pool_connections", state="busy"), 0)


if __name__ == "__main__":
    unittest.main()

"""The image for real: built with podman (runc) from a locally made Debian base,
FROM scratch with the binary and exactly its libraries, run hardened (--read-only, --cap-drop ALL, a memory limit, the image's numeric
non-root user), checked over loopback, health-checked, and stopped with
`podman stop`, which must drain an in-flight request and exit 0.

The first run on a machine makes the base images with debootstrap (about
30 s) and builds (about 20 s); later runs reuse both from podman's store.
"""

import json
import os
import socket
import subprocess
import sys
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = "node-api:test"
PODMAN = ["podman", "--runtime", "runc"]
# This machine kind's limits for containers (see README, "Container").
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args, check=True, timeout=120):
    p = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise AssertionError(f"podman {' '.join(args)}: {p.stderr}")
    return p


def read(s):
    """One response: (status, head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError(data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += s.recv(4096)
    return int(head.split()[1]), head.decode(), body


def http(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return read(s)


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.getuid() != 0:
            raise unittest.SkipTest("making the base images (debootstrap) needs root")
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(ROOT, "scripts", "image.sh"), IMAGE], cwd=ROOT,
                           capture_output=True, text=True, timeout=1200)
        if p.returncode:
            raise AssertionError(f"image build failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        cls.build_s = time.monotonic() - t0

    def test_image_shape(self):
        info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
        cfg = info["Config"]
        self.assertEqual(cfg["User"], "10001:10001")
        self.assertIn("3000/tcp", cfg["ExposedPorts"])
        self.assertEqual(cfg["StopSignal"], "SIGTERM")
        self.assertEqual(cfg["Entrypoint"], ["/usr/local/bin/node-api"])
        self.assertEqual(info["Healthcheck"]["Test"],
                         ["CMD", "/usr/local/bin/node-api", "healthcheck"])
        print(f"\nimage {IMAGE}: {info['Size'] / 1e6:.1f} MB, built in {self.build_s:.0f} s",
              file=sys.stderr)
        self.assertLess(info["Size"], 20e6)

    def test_image_holds_the_binary_and_its_libraries_only(self):
        """FROM scratch: the binary, the shared objects it loads, the loader, the CA
        certificates and glibc's few files; no shell, no package manager, no curl (the health
        check is the binary's own)."""
        import tarfile
        import tempfile
        cid = podman("create", IMAGE).stdout.strip()
        try:
            with tempfile.TemporaryFile() as f:
                subprocess.run([*PODMAN, "export", cid], stdout=f, check=True, timeout=120)
                f.seek(0)
                files = sorted(m.name.lstrip("./") for m in tarfile.open(fileobj=f)
                               if m.isfile() or m.issym())
        finally:
            podman("rm", cid, check=False)
        etc = ["etc/group", "etc/hosts", "etc/nsswitch.conf", "etc/passwd",
               "etc/ssl/certs/ca-certificates.crt"]
        self.assertEqual([f for f in files if f.startswith("etc/")], etc)
        self.assertIn("usr/local/bin/node-api", files)
        rest = [f for f in files if f not in etc and f != "usr/local/bin/node-api"]
        self.assertTrue(rest)
        for f in rest:
            self.assertRegex(f, r"^(usr/)?lib(64)?/([a-z0-9_]+-linux-gnu/)?[^/]+\.so[.0-9]*$", f)
        for tool in ("bin/sh", "usr/bin/apt", "usr/bin/curl", "usr/bin/wget"):
            self.assertNotIn(tool, files)
        p = podman("run", "--rm", *ULIMITS, "--entrypoint", "sh", IMAGE, "-c", "true",
                   check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_hardened_run_and_graceful_stop(self):
        port, metrics_port = free_port(), free_port()
        name = f"node-api-test-{os.getpid()}"
        podman("run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
               "--memory", "128m", *ULIMITS, "-e", f"PORT={port}", "-e", "HOST=127.0.0.1",
               "-e", f"METRICS_PORT={metrics_port}", "-e", "ENABLE_LOADTEST_ROUTES=1", IMAGE)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    status, _, body = http(port, "/health")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(podman("logs", name).stdout)
                    time.sleep(0.1)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["status"], "healthy")
            self.assertEqual(http(port, "/api/items")[0], 200)
            # The metrics on their own port, the API's request among them (counted once its
            # answer is sent, which the client may see first: a few scrapes).
            want = b'http_requests_total{method="GET",route="/api/items",status="200"} 1\n'
            for _ in range(50):
                status, _, body = http(metrics_port, "/metrics")
                if want in body:
                    break
                time.sleep(0.1)
            self.assertEqual(status, 200)
            self.assertIn(want, body)
            self.assertEqual(http(port, "/metrics")[0], 404)

            started = json.loads(podman("logs", name).stdout.splitlines()[0])
            self.assertTrue(started["message"].startswith("Server started"))
            self.assertEqual(started["memory_limit_bytes"], 128 << 20)  # from the cgroup
            self.assertNotIn("running as root", podman("logs", name).stdout)
            pid = podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
            with open(f"/proc/{pid}/status") as f:
                uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
            self.assertEqual(set(uids), {"10001"})

            self.assertEqual(podman("healthcheck", "run", name, check=False).returncode, 0)

            # A request in flight when `podman stop` sends SIGTERM still gets its answer.
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /api/delay/1500 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            podman("stop", "-t", "30", name, timeout=60)
            status, head, body = read(s)
            s.close()
            self.assertEqual(status, 200)
            self.assertIn("Connection: close", head)
            self.assertEqual(json.loads(body), {"delayed_ms": 1500})

            state = json.loads(podman("inspect", name).stdout)[0]["State"]
            self.assertEqual(state["ExitCode"], 0)
            logs = [json.loads(l) for l in podman("logs", name).stdout.splitlines()]
            messages = [l["message"] for l in logs]
            self.assertIn("SIGTERM received, shutting down gracefully", messages)
            drained = next(l for l in logs if l["message"] == "drained")
            self.assertGreaterEqual(drained["requests"], 1)
            self.assertEqual(messages[-1], "Server closed")
        finally:
            podman("rm", "-f", name, check=False)

    def test_postgres_over_verified_tls(self):
        """libpq in the image from scratch reaches PostgreSQL over TLS with the server's
        certificate verified (sslmode=verify-full) against a CA bundle mounted into the
        container, as for RDS; the server accepts only TLS from the service's role, and a
        wrong CA is refused with the reason logged."""
        import tempfile
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        import pg
        db = pg.Postgres()
        certs = tempfile.mkdtemp(prefix="node-api-tls-")
        self.addCleanup(db.destroy)

        def ssl(*args):
            subprocess.run(["openssl", *args], cwd=certs, check=True, capture_output=True)

        for ca in ("ca", "other-ca"):
            ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                f"/CN={ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
            "server.key", "-out", "server.csr")
        with open(os.path.join(certs, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
        for name in ("server.crt", "server.key"):
            dest = os.path.join(db.data, name)
            with open(os.path.join(certs, name), "rb") as src, open(dest, "wb") as out:
                out.write(src.read())
            os.chmod(dest, 0o600)
            if db.root:
                import shutil
                shutil.chown(dest, "postgres", "postgres")
        os.chmod(certs, 0o755)
        for name in ("ca.pem", "other-ca.pem"):
            os.chmod(os.path.join(certs, name), 0o644)
        hba = os.path.join(db.data, "pg_hba.conf")
        with open(hba) as f:
            lines = f.read().splitlines()
        with open(hba, "w") as f:  # TCP only with TLS
            f.write("\n".join(l.replace("host ", "hostssl ", 1) if l.startswith("host ") else l
                              for l in lines) + "\n")
        db.psql("ALTER SYSTEM SET ssl = on", db="postgres")
        db.psql("SELECT pg_reload_conf()", db="postgres")
        time.sleep(0.5)

        def run(ca):
            port = free_port()
            name = f"node-api-tls-{os.getpid()}-{ca}"
            url = (f"postgresql://app:{pg.PASSWORD}@localhost:{db.port}/nodeapi"
                   f"?sslmode=verify-full&sslrootcert=/certs/{ca}.pem")
            podman("run", "-d", "--name", name, "--network", "host", "--read-only",
                   "--cap-drop", "ALL", *ULIMITS, "-v", f"{certs}/{ca}.pem:/certs/{ca}.pem:ro",
                   "-e", f"PORT={port}", "-e", "HOST=127.0.0.1", "-e", f"DATABASE_URL={url}",
                   "-e", "METRICS_PORT=0", IMAGE)
            self.addCleanup(podman, "rm", "-f", name, check=False)
            return name, port

        name, port = run("ca")
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = http(port, "/health/detailed")
                if status == 200 or time.monotonic() > deadline:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["checks"]["database"]["status"], "pass")
        self.assertEqual(db.psql("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity"
                                 " a USING (pid) WHERE a.usename = 'app'", db="postgres"),
                         [["t"]])

        bad, bad_port = run("other-ca")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "certificate verify failed" not in \
                podman("logs", bad).stdout:
            time.sleep(0.2)
        self.assertIn("certificate verify failed", podman("logs", bad).stdout)
        self.assertEqual(http(bad_port, "/health/detailed")[0], 503)


if __name__ == "__main__":
    unittest.main()

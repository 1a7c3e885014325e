"""The local stack for real: compose.yaml brought up with podman-compose (Debian's), node-api
on PostgreSQL 15 built from Debian, each in its own container on the stack's network. The API
finds the database by its service name, migrates, serves; an item written survives the API's
restart (it is in PostgreSQL, not in the process); `podman stop` drains and exits 0; `down -v`
leaves nothing behind."""

import json
import os
import socket
import subprocess
import time
import unittest

from test_image import ROOT, free_port

PROJECT = f"nodeapi-test-{os.getpid()}"


def compose(*args, timeout=900, check=True):
    p = subprocess.run(["podman-compose", "--podman-args=--runtime runc",
                        "--podman-build-args=--format docker --network host", "-p", PROJECT,
                        *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "NODE_API_PORT": str(ComposeTest.port)})
    if check and p.returncode:
        raise AssertionError(f"podman-compose {' '.join(args)}:\n{p.stdout[-3000:]}\n"
                             f"{p.stderr[-3000:]}")
    return p


def request(port, method, path, body=b"", headers=()):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        s.sendall((head + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(data)
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += s.recv(65536)
        return int(head.split()[1]), json.loads(rest) if rest else None


def wait_healthy(port, timeout=120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = request(port, "GET", "/health/detailed")
            if last[0] == 200:
                return last[1]
        except (OSError, ValueError) as e:
            last = repr(e)
        time.sleep(0.5)
    raise AssertionError(f"the stack never became healthy: {last}")


def podman(*args):
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, timeout=120)


class ComposeTest(unittest.TestCase):
    port = 0

    @classmethod
    def setUpClass(cls):
        if os.getuid() != 0:
            raise unittest.SkipTest("the base image (debootstrap) needs root")
        cls.port = free_port()
        subprocess.run([os.path.join(ROOT, "scripts", "base-image.sh")], check=True, timeout=600)
        compose("up", "-d", "--build")

    @classmethod
    def tearDownClass(cls):
        compose("down", "-v", check=False, timeout=300)
        left = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}",
                      "--format", "{{.Names}}").stdout.split()
        vols = podman("volume", "ls", "--filter", f"label=io.podman.compose.project={PROJECT}",
                      "--format", "{{.Name}}").stdout.split()
        if left or vols:
            raise AssertionError(f"left behind: {left} {vols}")

    def test_stack(self):
        key = ["X-API-Key: local-dev-key", "Content-Type: application/json"]
        health = wait_healthy(self.port)
        self.assertEqual(health["checks"]["store"]["backend"], "postgres")
        self.assertEqual(health["checks"]["database"]["status"], "pass")
        status, item = request(self.port, "POST", "/api/items",
                               json.dumps({"name": "from compose", "price": 2.5}).encode(), key)
        self.assertEqual(status, 201)

        # The item lives in PostgreSQL: a new API process still has it.
        api = f"{PROJECT}_api_1"
        self.assertEqual(podman("restart", "-t", "30", api).returncode, 0)
        wait_healthy(self.port)
        self.assertEqual(request(self.port, "GET", f"/api/items/{item['id']}"),
                         (200, {"id": item["id"], "name": "from compose", "price": 2.5}))

        # Stopping drains and exits 0, as ECS's SIGTERM would.
        self.assertEqual(podman("stop", "-t", "30", api).returncode, 0)
        state = json.loads(podman("inspect", api).stdout)[0]["State"]
        self.assertEqual(state["ExitCode"], 0)
        logs = [json.loads(l) for l in podman("logs", api).stdout.splitlines() if l.startswith("{")]
        messages = [l["message"] for l in logs]
        self.assertIn("SIGTERM received, shutting down gracefully", messages)
        self.assertEqual(messages[-1], "Server closed")


if __name__ == "__main__":
    unittest.main()

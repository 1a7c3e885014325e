"""Integration test harness: runs the real node-api binary on loopback.

Each Server is a child process started with PORT=0 (a free port, read back
from its "started" log line), with its stdout collected line by line so a
test can assert on the logs. Requests go over raw sockets, so tests see
exactly what the server sent (status line, headers, Connection handling).
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time

import openapi_check

BIN = os.environ.get("NODE_API_BIN", os.path.join(os.path.dirname(__file__), "../../build/node-api"))
# Sanitized builds start and answer more slowly; timeouts allow for it.
START_TIMEOUT = 20.0
# Set when BIN is an ASan/UBSan build: its shadow memory and quarantine are outside the
# memory plan, so tests of memory bounds do not apply to it.
SANITIZED = bool(os.environ.get("NODE_API_SANITIZED"))


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


def read_response(sock, head=False):
    """Reads one HTTP/1.1 response with a Content-Length (or none) from sock."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before headers: {buf!r}")
        buf += chunk
    head_text, rest = buf.split(b"\r\n\r\n", 1)
    lines = head_text.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    assert version in ("HTTP/1.1", "HTTP/1.0"), lines[0]
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    # A 304's Content-Length is the length of the 200 it stands for (RFC 9110 8.6): no body.
    no_body = head or int(status) in (204, 304) or 100 <= int(status) < 200
    length = 0 if no_body else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    # Keep-alive: a pipelined tail would stay in `rest`; tests do not pipeline.
    return Response(int(status), reason[0] if reason else "", headers, rest[:length])


def build_request(method, path, headers=None, body=b""):
    headers = dict(headers or {})
    headers.setdefault("Host", "localhost")
    if body:
        headers.setdefault("Content-Length", str(len(body)))
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return text.encode("latin-1") + b"\r\n" + body


def free_port():
    """A port that was free a moment ago (for runs whose logs cannot say)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env=None, args=(), wait=True):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PORT", "HOST"))}
        # METRICS_PORT 0: a free port each (the default, 9464, would be shared by every server).
        full_env.update({"PORT": "0", "HOST": "127.0.0.1", "LOG_LEVEL": "info",
                         "METRICS_PORT": "0"})
        full_env.update(env or {})
        quiet = full_env["LOG_LEVEL"] in ("warn", "error")
        if quiet and full_env["PORT"] == "0":
            full_env["PORT"] = str(free_port())
        self.lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([BIN, *args], env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = None
        if wait and quiet:
            self.port = int(full_env["PORT"])
            self._wait_listening()
        elif wait:
            started = self.wait_log(lambda l: l.get("message", "").startswith("Server started"),
                                    START_TIMEOUT)
            self.port = started["port"]

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"server did not listen on {self.port}: {self.lines[-5:]}")

    def _read(self):
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def logs(self):
        """Every stdout line so far, parsed; fails on a line that is not JSON."""
        with self._cond:
            return [json.loads(l) for l in self.lines]

    def wait_log(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for l in self.lines:
                    try:
                        obj = json.loads(l)
                    except ValueError:
                        continue
                    if pred(obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"log line not seen; logs: {self.lines[-20:]}")
                self._cond.wait(min(left, 0.1))

    def connect(self, timeout=10.0):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def request(self, method, path, headers=None, body=b"", sock=None):
        own = sock is None
        if own:
            sock = self.connect()
        try:
            sock.sendall(build_request(method, path, headers, body))
            r = read_response(sock, head=(method == "HEAD"))
            openapi_check.check(method, path, r)  # every answer, held to the document
            return r
        finally:
            if own:
                sock.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def stop(self):
        if self.proc.stdout.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stderr.close()
        self.proc.stdout.close()
        # A sanitized build reports memory errors and leaks on stderr.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer"):
            if marker in err:
                raise AssertionError(f"sanitizer report from node-api:\n{err}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def scrape(srv):
    """The text of `srv`'s /metrics, from the metrics port its start line names."""
    import urllib.request
    port = srv.wait_log(lambda l: l.get("message", "").startswith("Server started"))["metrics_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name):
    """The value of the unlabelled series `name` in a scrape; None if absent."""
    import re
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def run(args=(), env=None, timeout=20.0):
    """Runs the binary to completion: (exit status, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items()}
    full_env.setdefault("METRICS_PORT", "0")
    full_env.update(env or {})
    p = subprocess.run([BIN, *args], env=full_env, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

"""What the benchmark's sections share: the servers it starts (pinned to CPUs, or in a CPU
quota cgroup), wrk and its JSON report line, the reference apps' installs, and small /proc
readers."""

import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(ROOT, "scripts", "bench")
LUA = os.path.join(BENCH, "report.lua")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=2.0):
    """One GET on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def process_tree(pid):
    """pid and its descendants (nginx's workers)."""
    out = [pid]
    try:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        for k in kids.split():
            out += process_tree(int(k))
    except OSError:
        pass
    return out


class Server:
    def __init__(self, name, argv, env=None, cwd=None, cpus="0", ready_path="/health",
                 prepare=None):
        self.name, self.argv, self.env, self.cwd = name, argv, env or {}, cwd
        self.cpus, self.ready_path, self.prepare = cpus, ready_path, prepare
        self.port = None
        self.proc = None

    def start(self, port=None, timeout=30.0):
        self.port = port or free_port()
        if self.prepare:
            self.prepare(self.port)
        env = {**os.environ, **self.env, "PORT": str(self.port)}
        t0 = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", self.cpus, *self.argv], env=env, cwd=self.cwd,
                                     stdout=self.stdout(), stderr=subprocess.DEVNULL)
        while True:
            try:
                if get(self.port, self.ready_path, timeout=1)[0] == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.0005)

    def stdout(self):
        return subprocess.DEVNULL

    def pids(self):
        return process_tree(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class CpuQuota:
    """A cgroup with a CPU quota (`cpus` of one CPU), v2 or v1, made and removed here. A
    server starts inside it (its first thread already there: node-api reads THREADS from it)."""

    def __init__(self, cpus, name="quota"):
        self.cpus = cpus
        name = f"node-api-bench-{os.getpid()}-{name}"
        v1 = "/sys/fs/cgroup/cpu"
        if os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
            self.path, self.v2 = os.path.join(v1, name), False
        else:
            self.path, self.v2 = os.path.join("/sys/fs/cgroup", name), True

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        quota = int(self.cpus * 100000)
        if self.v2:
            with open(os.path.join(self.path, "cpu.max"), "w") as f:
                f.write(f"{quota} 100000")
        else:
            with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))
        return self

    def wrap(self, argv):
        """argv run inside the cgroup."""
        procs = os.path.join(self.path, "cgroup.procs")
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *argv]

    def __exit__(self, *exc):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)  # its processes are still exiting


def cpu_seconds(pids):
    """User and system CPU time of the processes so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


class LoggingServer(Server):
    """node-api with its access log on, written to a file as a log driver would."""

    def __init__(self, *a, logfile, **kw):
        super().__init__(*a, **kw)
        self.logfile = logfile

    def stdout(self):
        return open(self.logfile, "w")


def wrk(port, path, conns, duration, cpus, script=LUA, script_args=()):
    """One wrk run (one thread, on `cpus`), its JSON report line parsed; `script` in
    scripts/bench/ (report.lua, or write.lua and its arguments)."""
    argv = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
            "-s", script, f"http://127.0.0.1:{port}{path}"]
    if script_args:
        argv += ["--", *script_args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                         cwd=BENCH).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] + r["non2xx"]
    return r


def npm_ci(app):
    d = os.path.join(BENCH, app)
    stamp = os.path.join(d, "node_modules", ".package-lock.json")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(os.path.join(d, "package-lock.json")):
        return
    log(f"bench: npm ci in scripts/bench/{app}")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d, check=True)


def nginx_server(tmp, workers, cpus):
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(BENCH, "nginx.conf")) as f:
        template = f.read().replace("@WORKERS@", str(workers)).replace("@PREFIX@", prefix)
    conf = os.path.join(prefix, "nginx.conf")

    def prepare(port):
        with open(conf, "w") as f:
            f.write(template.replace("@PORT@", str(port)))

    return Server("nginx", ["nginx", "-p", prefix, "-c", conf], cpus=cpus, prepare=prepare)


def versions(bin_path):
    def run(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    def locked(app, pkg):
        with open(os.path.join(BENCH, app, "package-lock.json")) as f:
            return json.load(f)["packages"][f"node_modules/{pkg}"]["version"]

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    return {
        "machine": f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}",
        "node-api": run([bin_path, "--version"]),
        "node": run(["node", "--version"]),
        "express": locked("express", "express"),
        "fastify": locked("fastify", "fastify"),
        "pg": locked("express-pg", "pg"),
        "nginx": run(["nginx", "-v"]),
        "wrk": run(["wrk", "-v"]),
    }


def median(xs):
    return statistics.median(xs) if xs else float("nan")

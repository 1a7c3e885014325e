"""A throwaway PostgreSQL for the tests: initdb in a temporary directory, a free
port on loopback, torn down at exit even when tests fail.

The server binaries refuse to run as root, so as root they run as the
`postgres` user. The superuser connects through the Unix socket (trust); the
service connects over TCP as role `app` with a password (scram-sha-256), as
it would to RDS, so tests also see that the password stays out of the logs.
"""

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import time

from harness import free_port

PASSWORD = "pw-9f8e7d6c"


def _bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found (install the postgresql package)")
    return dirs[-1]


class Postgres:
    def __init__(self, durable=False):
        """durable: fsync, synchronous_commit and full_page_writes on, as on RDS (the write
        benchmark); off by default, for fast tests."""
        self.durable = durable
        self.bin = _bindir()
        self.root = os.getuid() == 0
        self.dir = tempfile.mkdtemp(prefix="node-api-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.port = free_port()
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        atexit.register(self.destroy)
        self._run(["initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8", "--no-sync",
                   "--auth-local=trust", "--auth-host=scram-sha-256"])
        self.start()
        self.psql("CREATE ROLE app LOGIN PASSWORD '%s'" % PASSWORD, db="postgres")
        self.psql("CREATE DATABASE nodeapi OWNER app", db="postgres")
        self.url = f"postgresql://app:{PASSWORD}@127.0.0.1:{self.port}/nodeapi"

    def _run(self, argv, check=True, **kw):
        argv = [os.path.join(self.bin, argv[0])] + argv[1:]
        if self.root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, check=check, capture_output=True, text=True, cwd="/", **kw)

    def start(self):
        self._run(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "30",
                   "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 " +
                         ("-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
                          if self.durable else
                          "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"),
                   "start"])

    def stop(self, mode="fast"):
        self._run(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop"], check=False)

    def psql(self, sql, db="nodeapi"):
        """Runs SQL as the superuser; returns the output rows as lists of strings."""
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-c", sql], capture_output=True, text=True, check=True,
                           env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
        return [line.split("|") for line in p.stdout.splitlines() if line]

    def psql_background(self, sql, db="nodeapi"):
        """Starts psql running `sql` and returns the process (caller waits)."""
        return subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                                 "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def fresh_database(self, name):
        """A new empty database owned by app; returns its URL."""
        self.psql(f"DROP DATABASE IF EXISTS {name}", db="postgres")
        self.psql(f"CREATE DATABASE {name} OWNER app", db="postgres")
        return f"postgresql://app:{PASSWORD}@127.0.0.1:{self.port}/{name}"

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.psql("SELECT 1", db="postgres")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        raise AssertionError("PostgreSQL did not come back")

    def destroy(self):
        if os.path.isdir(self.dir):
            self.stop("immediate")
            shutil.rmtree(self.dir, ignore_errors=True)


_instance = None


def shared():
    """One server for the whole test run; created on first use."""
    global _instance
    if _instance is None:
        _instance = Postgres()
    return _instance

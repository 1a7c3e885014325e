"""Overload: node-api and nginx each in a 0.25 CPU quota (the smallest Fargate task), offered
an open-loop load (build/openloop: requests due at a fixed rate whatever the answers do,
latency measured from when each was due) of 0.8x and 2x the capacity wrk measured for it just
before, on GET /api/items over 1,000 keep-alive connections. Reports what was answered 200 and
how fast, what was shed with 503 and how fast, and what got no answer before the run ended."""

import contextlib
import json
import math
import os
import subprocess

from .common import CpuQuota, Server, log, nginx_server, wrk

LOADS = [0.8, 2.0]
CONNECTIONS = 1000


def _openloop(binary, port, rate, seconds, cpus):
    out = subprocess.run(["taskset", "-c", cpus, binary, "127.0.0.1", str(port), "/api/items",
                          str(int(rate)), str(seconds), str(CONNECTIONS)],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(args, tmp, cpus=0.25):
    openloop = os.path.join(os.path.dirname(args.bin), "openloop")
    if not os.path.exists(openloop):
        return {"skipped": "build/openloop is missing (make bench builds it)"}
    out = {"cpus": cpus, "connections": CONNECTIONS, "seconds": args.duration * 2,
           "servers": {}}
    for name in ("node-api", "nginx"):
        with contextlib.ExitStack() as stack:
            try:
                q = stack.enter_context(CpuQuota(cpus, f"overload-{name}"))
            except OSError as e:
                log(f"bench: no CPU quota cgroup ({e}): the overload section is skipped")
                return {"skipped": f"no CPU quota cgroup: {e.strerror or e}"}
            if name == "node-api":
                s = Server(name, q.wrap([args.bin]), cpus=args.all_cpus,
                           env={"HOST": "127.0.0.1", "LOG_LEVEL": "warn", "ACCESS_LOG": "off",
                                "METRICS_PORT": "0"})
            else:
                s = nginx_server(os.path.join(tmp, "overload-nginx"), math.ceil(cpus),
                                 args.all_cpus)
                s.argv = q.wrap(s.argv)
            s.start()
            try:
                wrk(s.port, "/api/items", 50, 1, args.all_cpus)  # warm-up
                capacity = wrk(s.port, "/api/items", 50, args.duration, args.all_cpus)["rps"]
                runs = {}
                for load in LOADS:
                    runs[str(load)] = _openloop(openloop, s.port, capacity * load,
                                                out["seconds"], args.all_cpus)
                out["servers"][name] = {"capacity_rps": capacity, "runs": runs}
                log(f"bench: overload of {name} done")
            finally:
                s.stop()
    return out


def markdown(r):
    if "skipped" in r:
        return [f"Overload: skipped ({r['skipped']})."]
    lines = [f"Each server in a {r['cpus']} CPU quota, GET /api/items over {r['connections']:,} "
             f"keep-alive connections for {r['seconds']} s, offered an open-loop load of a "
             "multiple of the capacity wrk measured for it (build/openloop; latency from when "
             "each request was due):", "",
             "| server | capacity | offered | answered 200 | p50 ms | p99 ms | shed 503 | "
             "503 p99 ms | no answer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in r["servers"].items():
        for load, o in m["runs"].items():
            lines.append(
                f"| {name} | {m['capacity_rps']:,.0f}/s | {load}x ({o['rate']:,.0f}/s) | "
                f"{o['ok']:,} | {o['ok_p50_us'] / 1000:.2f} | {o['ok_p99_us'] / 1000:.2f} | "
                f"{o['shed']:,} | {o['shed_p99_us'] / 1000:.2f} | {o['unanswered']:,} |")
    return lines

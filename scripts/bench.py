#!/usr/bin/env python3
"""node-api side by side with the tutorial's Express app, Fastify and nginx.

    scripts/bench.py [--quick] [--rounds N] [--duration S] [--server-cpus N] [--no-db]
                     [--no-cost] [--no-sizes] [--sizes 0.25,0.5,1,2] [--size-rounds N]
                     [--size-duration S] [--no-overload] [--only sizes|db|overload]
                     [--out DIR] [--bin PATH]

In one run on one machine: every server gets the same CPU set (the first
--server-cpus CPUs, 1 by default: per-vCPU figures) and wrk runs on a CPU of
its own where there is one. For /health, /api/info and /api/items at 50 and
256 keep-alive connections, several short rounds with the servers
interleaved (their order rotates each round), so drift hits all alike; the
report gives medians, and ratios as medians of per-round paired ratios.

Also: idle RSS, RSS with 1,000 open keep-alive connections, time from exec
to the first 200, and the cost of the access log (to a file). The Fargate
sizes (benchlib/sizes.py): every server in a CPU quota of 0.25, 0.5, 1 and 2
CPUs, wrk outside it, with the CPU time per request, and a chart
(fargate.svg, with gnuplot). The database (benchlib/database.py): GET, POST,
PUT and DELETE on a durable PostgreSQL for node-api and for Express + pg. The
overload (benchlib/overload.py): node-api and nginx in a 0.25 CPU quota,
offered 0.8x and 2x their capacity by an open-loop generator (build/openloop).
And what metrics and the access log cost where they matter most, at a 0.25
vCPU CPU quota: node-api against itself with each switched off, interleaved,
as medians of paired ratios. The quota sections make and remove a cgroup (v1
or v2; root) and are skipped, saying why, where none can be made. The
reference apps are installed with `npm ci` from their lock files in
scripts/bench/.

Writes results.md and results.json into --out (default build/bench) and
prints the Markdown; --only runs one section, into results-<section>.md.
"""

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import database, overload, sizes  # noqa: E402
from benchlib.common import (BENCH, ROOT, CpuQuota, LoggingServer, Server, cpu_seconds, get,  # noqa: E402
                             log, median, nginx_server, npm_ci, rss_kb, versions, wrk)
ROUTES = ["/health", "/api/info", "/api/items"]
CONNS = [50, 256]


def measure_table(servers, args, wrk_cpus, results):
    """Rounds of every route x connections x server, the server order rotating."""
    names = [s.name for s in servers]
    for s in servers:
        for path in ROUTES:
            wrk(s.port, path, 50, 1, wrk_cpus)  # warm-up: JIT, caches, pools
    for rnd in range(args.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for path in ROUTES:
            for conns in CONNS:
                for s in order:
                    r = wrk(s.port, path, conns, args.duration, wrk_cpus)
                    results.setdefault(f"{s.name} {path} {conns}", []).append(r)
        log(f"bench: round {rnd + 1}/{args.rounds} done")
    return names


def rss_with_connections(server, n=1000):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.recv(4096)
        time.sleep(0.5)
        return rss_kb(server.pids())
    finally:
        for s in socks:
            s.close()


def startup_ms(make, trials):
    times = []
    for _ in range(trials):
        s = make()
        try:
            times.append(s.start() * 1000)
        finally:
            s.stop()
    return median(times)


def fmt_ms(us):
    return f"{us / 1000:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one short round of each section: about 6 minutes")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int, help="seconds per wrk run")
    ap.add_argument("--server-cpus", type=int, default=1)
    ap.add_argument("--no-db", action="store_true")
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--sizes", default="0.25,0.5,1,2",
                    help="CPU quotas of the Fargate sizes section (comma-separated)")
    ap.add_argument("--size-rounds", type=int)
    ap.add_argument("--size-duration", type=int, help="seconds per wrk run in the sizes section")
    ap.add_argument("--no-sizes", action="store_true")
    ap.add_argument("--no-overload", action="store_true")
    ap.add_argument("--only", choices=["sizes", "db", "overload"], help="run that section alone")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "node-api"))
    args = ap.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.size_rounds = args.size_rounds or (1 if args.quick else 3)
    args.size_duration = args.size_duration or (1 if args.quick else 3)
    args.sizes = [float(x) for x in args.sizes.split(",") if x]
    args.duration = args.duration or (2 if args.quick else 5)
    os.makedirs(args.out, exist_ok=True)

    cpus = sorted(os.sched_getaffinity(0))
    args.all_cpus = ",".join(str(c) for c in cpus)  # the quota sections: any CPU, as on Fargate
    n = min(args.server_cpus, len(cpus))
    server_cpus = ",".join(str(c) for c in cpus[:n])
    wrk_cpus = ",".join(str(c) for c in (cpus[n:] or cpus))
    log(f"bench: servers on CPU {server_cpus}, wrk on CPU {wrk_cpus}")
    for app in ("express", "fastify", "express-pg"):
        npm_ci(app)
    tmp = tempfile.mkdtemp(prefix="node-api-bench-")
    node_env = {"NODE_ENV": "production"}
    # Metrics on, as by default, on a free port (two node-api run at once).
    base = {"THREADS": str(n), "HOST": "127.0.0.1", "LOG_LEVEL": "warn", "METRICS_PORT": "0"}

    def node_api(access_log="off", name="node-api", metrics="0"):
        env = {**base, "ACCESS_LOG": access_log, "METRICS_PORT": metrics}
        if access_log == "off":
            return Server(name, [args.bin], env=env, cpus=server_cpus)
        return LoggingServer(name, [args.bin], env=env, cpus=server_cpus,
                             logfile=os.path.join(tmp, "access.log"))

    def express():
        return Server("express", ["node", "app.js"], env=node_env, cwd=os.path.join(BENCH, "express"),
                      cpus=server_cpus)

    def fastify():
        return Server("fastify", ["node", "app.js"], env=node_env, cwd=os.path.join(BENCH, "fastify"),
                      cpus=server_cpus)

    def only(name, key, result, lines):
        """One section run alone: its results-<name>.json and .md, printed."""
        md = "\n".join(lines) + "\n"
        with open(os.path.join(args.out, f"results-{name}.json"), "w") as f:
            json.dump({"versions": versions(args.bin), key: result}, f, indent=2)
        with open(os.path.join(args.out, f"results-{name}.md"), "w") as f:
            f.write(md)
        print(md)
        shutil.rmtree(tmp, ignore_errors=True)

    if args.only == "sizes":
        r = sizes.run(args, ROUTES, CONNS, tmp, node_env, BENCH)
        sizes.chart(r, ROUTES[2], 50, os.path.join(args.out, "fargate.svg"))
        return only("sizes", "fargate", r, sizes.markdown(r, ROUTES, CONNS))
    if args.only == "overload":
        r = overload.run(args, tmp)
        return only("overload", "overload", r, overload.markdown(r))
    if args.only == "db":
        r = database.run(args, base, server_cpus, wrk_cpus, node_env, BENCH)
        return only("db", "database", r, database.markdown(r, fmt_ms))

    report = {"versions": versions(args.bin), "server_cpus": n, "rounds": args.rounds,
              "duration_s": args.duration, "routes": {}, "memory": {}, "startup_ms": {}}
    servers = [node_api(), express(), fastify(), nginx_server(tmp, n, server_cpus),
               node_api("on", "node-api (access log on)"),
               node_api(name="node-api (metrics off)", metrics="off")]
    try:
        for s in servers:
            s.start()
            for path in ROUTES:
                status, body = get(s.port, path)
                if status != 200 or not body.startswith(b"{"):
                    raise RuntimeError(f"{s.name} {path} answered {status}")
        time.sleep(1)
        for s in servers[:4]:
            report["memory"][s.name] = {"idle_rss_kb": rss_kb(s.pids())}

        results = {}
        measure_table(servers, args, wrk_cpus, results)
        for s in servers[:4]:
            report["memory"][s.name]["rss_1000_conns_kb"] = rss_with_connections(s)
    finally:
        for s in servers:
            s.stop()

    # Medians, and paired ratios: per round, node-api over each peer.
    for path in ROUTES:
        for conns in CONNS:
            row = {}
            for s in servers:
                runs = results[f"{s.name} {path} {conns}"]
                row[s.name] = {k: median([r[k] for r in runs]) for k in
                               ("rps", "p50_us", "p99_us", "p999_us")}
                row[s.name]["errors"] = sum(r["errors"] for r in runs)
            mine = results[f"node-api {path} {conns}"]
            for peer in ("express", "fastify", "nginx", "node-api (access log on)",
                         "node-api (metrics off)"):
                theirs = results[f"{peer} {path} {conns}"]
                row["node-api"][f"vs_{peer}"] = median([a["rps"] / b["rps"] for a, b in zip(mine, theirs)])
            report["routes"][f"{path} {conns}"] = row

    trials = 3 if args.quick else 7
    report["startup_ms"]["node-api"] = startup_ms(node_api, trials)
    report["startup_ms"]["express"] = startup_ms(express, trials)
    report["startup_ms"]["fastify"] = startup_ms(fastify, trials)

    if not args.no_sizes:
        report["fargate"] = sizes.run(args, ROUTES, CONNS, tmp, node_env, BENCH)
        svg = sizes.chart(report["fargate"], ROUTES[2], 50, os.path.join(args.out, "fargate.svg"))
        if svg:
            log(f"bench: chart in {svg}")
    if not args.no_overload:
        report["overload"] = overload.run(args, tmp)
    if not args.no_db:
        report["database"] = database.run(args, base, server_cpus, wrk_cpus, node_env, BENCH)
    if not args.no_cost:
        report["cost"] = bench_cost(args, base, wrk_cpus, tmp)
        micro = os.path.join(os.path.dirname(args.bin), "metrics_cost")
        if os.path.exists(micro):
            report["cost"]["record"] = json.loads(subprocess.run(
                [micro], capture_output=True, text=True, check=True).stdout)
    shutil.rmtree(tmp, ignore_errors=True)

    md = markdown(report)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print(md)


def bench_cost(args, base, wrk_cpus, tmp, cpus=0.25):
    """node-api against itself with metrics off and with the access log on, each in the same
    0.25 vCPU quota (one at a time), interleaved rounds: per round, the ratio of req/s."""
    rounds = 5 if args.quick else 15
    out = {"cpus": cpus, "rounds": rounds, "routes": {}}
    with contextlib.ExitStack() as stack:
        try:
            q = stack.enter_context(CpuQuota(cpus))
        except OSError as e:
            # Making a cgroup takes root (and a writable cgroup tree): say so, skip the section.
            log(f"bench: no CPU quota cgroup ({e}): the cost section is skipped")
            out["skipped"] = f"no CPU quota cgroup: {e.strerror or e}"
            return out

        def one(name, **env):
            e = {**base, "THREADS": "", "ACCESS_LOG": "off", **env}  # THREADS from the quota
            if env.get("ACCESS_LOG") == "on":
                s = LoggingServer(name, q.wrap([args.bin]), env=e, cpus="0",
                                  logfile=os.path.join(tmp, "cost-access.log"))
            else:
                s = Server(name, q.wrap([args.bin]), env=e, cpus="0")
            return s

        variants = [one("on"), one("metrics off", METRICS_PORT="off"),
                    one("access log on", ACCESS_LOG="on")]
        for path in ("/health", "/api/items"):
            runs = {v.name: [] for v in variants}
            for rnd in range(rounds):
                order = variants[rnd % 3:] + variants[:rnd % 3]
                for v in order:
                    v.start()
                    try:
                        wrk(v.port, path, 50, 1, wrk_cpus)  # warm-up
                        c0 = cpu_seconds(v.pids())
                        r = wrk(v.port, path, 50, args.duration, wrk_cpus)
                        r["cpu_us_per_req"] = ((cpu_seconds(v.pids()) - c0) * 1e6 /
                                               max(r["requests"], 1))
                        runs[v.name].append(r)
                    finally:
                        v.stop()
            base_runs = runs["on"]
            out["routes"][path] = {
                "rps": {k: median([r["rps"] for r in v]) for k, v in runs.items()},
                "cpu_us_per_req": {k: median([r["cpu_us_per_req"] for r in v])
                                   for k, v in runs.items()},
                "metrics_cost": median([1 - a["rps"] / b["rps"] for a, b in
                                        zip(base_runs, runs["metrics off"])]),
                "access_log_cost": median([1 - b["rps"] / a["rps"] for a, b in
                                           zip(base_runs, runs["access log on"])]),
                "errors": sum(r["errors"] for v in runs.values() for r in v),
            }
            log(f"bench: cost of metrics and the access log on {path} done")
    return out


def markdown(r):
    v = r["versions"]
    lines = [f"Machine: {v['machine']}. Each server on {r['server_cpus']} CPU (wrk on another); "
             f"{r['rounds']} round(s) of {r['duration_s']} s per cell, medians; ratios are medians "
             "of per-round paired ratios.",
             "",
             f"Versions: {v['node-api']}; node {v['node']}, express {v['express']}, fastify "
             f"{v['fastify']}, pg {v['pg']}; {v['nginx']}; {v['wrk']}.",
             "",
             "| route | conns | server | req/s | p50 ms | p99 ms | p99.9 ms | node-api is |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for key, row in r["routes"].items():
        path, conns = key.split()
        for name, m in row.items():
            ratio = ""
            if name == "node-api":
                ratio = (f"{m['vs_express']:.1f}x Express, {m['vs_fastify']:.1f}x Fastify, "
                         f"{m['vs_nginx']:.2f}x nginx")
            elif name == "node-api (access log on)":
                cost = 1 - 1 / row["node-api"]["vs_node-api (access log on)"]
                ratio = f"access log costs {cost * 100:.0f}%"
            elif name == "node-api (metrics off)":
                # Metrics cost: what node-api (metrics on) loses against this one.
                cost = 1 - row["node-api"]["vs_node-api (metrics off)"]
                ratio = f"metrics cost {cost * 100:.1f}%"
            err = f" ({m['errors']} errors)" if m["errors"] else ""
            lines.append(f"| {path} | {conns} | {name} | {m['rps']:,.0f}{err} | {fmt_ms(m['p50_us'])} | "
                         f"{fmt_ms(m['p99_us'])} | {fmt_ms(m['p999_us'])} | {ratio} |")
    lines += ["", "| server | idle RSS | RSS, 1,000 open connections | exec to first 200 |",
              "|---|---:|---:|---:|"]
    for name, m in r["memory"].items():
        start = r["startup_ms"].get(name)
        lines.append(f"| {name} | {m['idle_rss_kb'] / 1024:.1f} MB | "
                     f"{m['rss_1000_conns_kb'] / 1024:.1f} MB | "
                     f"{'' if start is None else f'{start:.1f} ms'} |")
    if "database" in r:
        lines += [""] + database.markdown(r["database"], fmt_ms)
    if "cost" in r and "skipped" in r["cost"]:
        lines += ["", f"Cost of metrics and the access log at a CPU quota: skipped "
                      f"({r['cost']['skipped']})."]
        if "record" in r["cost"]:
            lines.append(f"Recording one request's metrics costs "
                         f"{r['cost']['record']['ns_per_request']:.1f} ns (build/metrics_cost).")
    elif "cost" in r:
        c = r["cost"]
        lines += ["", f"node-api in a {c['cpus']} vCPU CPU quota (THREADS from it), 50 connections, "
                      f"{c['rounds']} interleaved rounds: what metrics and the access log cost "
                      "(medians of paired ratios; CPU time per request from /proc):", "",
                  "| route | metrics on | metrics off | metrics cost | access log on | access log cost "
                  "| CPU per request (on / off / log on) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for path, m in c["routes"].items():
            rps, cpu = m["rps"], m["cpu_us_per_req"]
            err = f" ({m['errors']} errors)" if m["errors"] else ""
            lines.append(f"| {path} | {rps['on']:,.0f}{err} | {rps['metrics off']:,.0f} | "
                         f"{m['metrics_cost'] * 100:.1f}% | {rps['access log on']:,.0f} | "
                         f"{m['access_log_cost'] * 100:.1f}% | {cpu['on']:.1f} / "
                         f"{cpu['metrics off']:.1f} / {cpu['access log on']:.1f} us |")
        if "record" in c:
            ns = c["record"]["ns_per_request"]
            per_req = min(m["cpu_us_per_req"]["on"] for m in c["routes"].values())
            lines += ["", f"Recording one request's metrics costs {ns:.1f} ns "
                          f"({c['record']['ns_per_request_two_threads']:.1f} ns with two threads "
                          f"recording at once, each in its own shard): "
                          f"{ns / (per_req * 1000) * 100:.2f}% of the {per_req:.1f} us of CPU a "
                          "request costs at that size (build/metrics_cost)."]
    if "overload" in r:
        lines += ["", "### Overload", ""] + overload.markdown(r["overload"])
    if "fargate" in r:
        lines += ["", "### Fargate sizes", ""] + sizes.markdown(r["fargate"], ROUTES, CONNS)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

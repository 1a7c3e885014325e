"""The Fargate sizes: every server in a CPU quota of 0.25, 0.5, 1 and 2 CPUs, as a task's vCPU
is a quota and not a core. Per size, each server gets a cgroup of its own with the quota (made
and removed here, v1 or v2) and runs on any CPU; wrk runs outside every quota. Rounds are
interleaved (the order of the servers rotates), and each cell reports medians, the CPU time
per request (from /proc), and node-api's ratios to each peer as medians of per-round paired
ratios. node-api takes THREADS from the quota, as on Fargate: the section reads its start line
to show it did; nginx gets as many workers as the quota rounds up to."""

import contextlib
import json
import math
import os
import time

from .common import CpuQuota, LoggingServer, Server, cpu_seconds, get, log, median, nginx_server, wrk

SIZES = [0.25, 0.5, 1.0, 2.0]
PEERS = ["express", "fastify", "nginx"]


class StartLine(LoggingServer):
    """node-api with its log to a file, for the start line."""

    def threads(self):
        with open(self.logfile) as f:
            for line in f:
                try:
                    started = json.loads(line)
                except ValueError:
                    continue
                if started.get("message", "").startswith("Server started"):
                    return started["threads"]
        return None


def _servers(args, size, quotas, tmp, node_env, bench):
    """The four servers, each in its own quota."""
    def inside(name, argv):
        return quotas[name].wrap(argv)

    env = {"HOST": "127.0.0.1", "LOG_LEVEL": "info", "ACCESS_LOG": "off", "METRICS_PORT": "0"}
    mine = StartLine("node-api", inside("node-api", [args.bin]), env=env, cpus=args.all_cpus,
                     logfile=os.path.join(tmp, f"node-api-{size}.log"))
    express = Server("express", inside("express", ["node", "app.js"]), env=node_env,
                     cwd=os.path.join(bench, "express"), cpus=args.all_cpus)
    fastify = Server("fastify", inside("fastify", ["node", "app.js"]), env=node_env,
                     cwd=os.path.join(bench, "fastify"), cpus=args.all_cpus)
    nginx = nginx_server(os.path.join(tmp, f"nginx-{size}"), math.ceil(size), args.all_cpus)
    nginx.argv = inside("nginx", nginx.argv)
    return [mine, express, fastify, nginx]


def run(args, routes, conns, tmp, node_env, bench):
    """Measures every size; returns {"sizes": {...}} or {"skipped": why}."""
    out = {"rounds": args.size_rounds, "duration_s": args.size_duration, "sizes": {}}
    for size in args.sizes:
        with contextlib.ExitStack() as stack:
            try:
                quotas = {name: stack.enter_context(CpuQuota(size, name))
                          for name in ("node-api", "express", "fastify", "nginx")}
            except OSError as e:
                log(f"bench: no CPU quota cgroup ({e}): the Fargate sizes are skipped")
                return {"skipped": f"no CPU quota cgroup: {e.strerror or e}"}
            servers = _servers(args, size, quotas, os.path.join(tmp, f"sizes-{size}"), node_env,
                               bench)
            os.makedirs(os.path.join(tmp, f"sizes-{size}"), exist_ok=True)
            results = {}
            try:
                for s in servers:
                    s.start()
                    for path in routes:
                        status, _ = get(s.port, path)
                        if status != 200:
                            raise RuntimeError(f"{s.name} {path} answered {status} at {size} CPU")
                time.sleep(1)
                threads = servers[0].threads()
                for s in servers:
                    for path in routes:
                        wrk(s.port, path, 50, 1, args.all_cpus)  # warm-up: JIT, caches, pools
                for rnd in range(args.size_rounds):
                    order = servers[rnd % 4:] + servers[:rnd % 4]
                    for path in routes:
                        for c in conns:
                            for s in order:
                                c0 = cpu_seconds(s.pids())
                                r = wrk(s.port, path, c, args.size_duration, args.all_cpus)
                                r["cpu_us_per_req"] = ((cpu_seconds(s.pids()) - c0) * 1e6 /
                                                       max(r["requests"], 1))
                                results.setdefault((s.name, path, c), []).append(r)
                    log(f"bench: {size} CPU, round {rnd + 1}/{args.size_rounds} done")
            finally:
                for s in servers:
                    s.stop()
        cells = {}
        for path in routes:
            for c in conns:
                row = {}
                for s in servers:
                    runs = results[(s.name, path, c)]
                    row[s.name] = {k: median([r[k] for r in runs])
                                   for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req")}
                    row[s.name]["errors"] = sum(r["errors"] for r in runs)
                mine = results[("node-api", path, c)]
                for peer in PEERS:
                    theirs = results[(peer, path, c)]
                    row["node-api"][f"vs_{peer}"] = median(
                        [a["rps"] / b["rps"] for a, b in zip(mine, theirs)])
                cells[f"{path} {c}"] = row
        out["sizes"][str(size)] = {"threads": threads, "cells": cells}
    return out


def markdown(r, routes, conns):
    if "skipped" in r:
        return [f"Fargate sizes: skipped ({r['skipped']})."]
    lines = [f"Each server in a CPU quota of its own (a task's vCPU), wrk outside it; "
             f"{r['rounds']} interleaved round(s) of {r['duration_s']} s per cell, medians; "
             "ratios are medians of per-round paired ratios; CPU per request from /proc.", "",
             "| CPUs | route | conns | node-api req/s | CPU/req | nginx | CPU/req | Fastify | "
             "Express | node-api is |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for size, m in r["sizes"].items():
        for path in routes:
            for c in conns:
                row = m["cells"][f"{path} {c}"]
                me, ng = row["node-api"], row["nginx"]
                err = sum(v["errors"] for v in row.values())
                lines.append(
                    f"| {size} ({m['threads']} thr) | {path} | {c} | {me['rps']:,.0f} | "
                    f"{me['cpu_us_per_req']:.1f} us | {ng['rps']:,.0f} | "
                    f"{ng['cpu_us_per_req']:.1f} us | {row['fastify']['rps']:,.0f} | "
                    f"{row['express']['rps']:,.0f} | {me['vs_nginx']:.2f}x nginx, "
                    f"{me['vs_fastify']:.1f}x Fastify, {me['vs_express']:.1f}x Express"
                    f"{f' ({err} errors)' if err else ''} |")
    return lines


def chart(r, route, conns, out_svg):
    """req/s per server at each size for one route and connection count, as an SVG (gnuplot);
    returns the SVG's path, or None without gnuplot or sizes."""
    import shutil
    import subprocess

    if "skipped" in r or not shutil.which("gnuplot"):
        return None
    names = ["node-api", "nginx", "fastify", "express"]
    data = out_svg[:-4] + ".dat"
    with open(data, "w") as f:
        f.write("# cpus " + " ".join(names) + "\n")
        for size, m in r["sizes"].items():
            row = m["cells"][f"{route} {conns}"]
            f.write(size + " " + " ".join(f"{row[n]['rps']:.0f}" for n in names) + "\n")
    plot = ", ".join(f"'{data}' using 1:{i + 2} with linespoints lw 2 pt 7 title '{n}'"
                     for i, n in enumerate(names))
    script = f"""
set terminal svg size 720,420 dynamic font 'sans,12' background '#ffffff'
set output '{out_svg}'
set title 'GET {route}, {conns} connections: requests per second in a CPU quota'
set xlabel 'CPU quota (Fargate vCPU)'
set ylabel 'requests/s (log scale)'
set logscale xy 2
set xtics ({', '.join(f'"{s}" {s}' for s in r['sizes'])})
set format y '%.0s%c'
set grid ytics
set key top left
plot {plot}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return out_svg

#!/usr/bin/env python3
"""The long reliability runs (make soak), whose figures go in the README.

    scripts/soak.py [--rounds N] [--requests N] [--bin PATH]

1. Drain under load, node-api beside the tutorial's Express app: 256
   keep-alive connections checked by scripts/loadcheck.py, SIGTERM after 3 s,
   N rounds each. Counts requests that got no full answer (the bar: zero).
2. A million mixed requests (reads, errors, 404s) with wrk against node-api:
   RSS after a warm-up of 100,000 and after the million must differ by less
   than 1 MB.

Prints a Markdown summary and exits 1 if node-api loses a request or grows.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench  # noqa: E402  (servers, ports and wrk, shared with the benchmark)

MIXED_LUA = """
-- A mix of what clients send: the three routes, one item, a page, errors.
local paths = {"/health", "/api/info", "/api/items", "/api/items/1", "/api/items?limit=2",
               "/api/nothing", "/api/items/abc", "/health/detailed"}
local i = 0
request = function()
  i = i + 1
  if i % 20 == 0 then
    return wrk.format("POST", "/api/info", {["Content-Type"] = "application/json"}, "{}")
  end
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def drain_round(server, connections=256):
    server.start()
    load = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "loadcheck.py"),
                             str(server.port), "--connections", str(connections), "--seconds", "30",
                             "--until-refused", "--path", "/api/items", "--path", "/api/info"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        rc = server.proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = "hung"
        server.stop()
    exit_s = time.monotonic() - t0
    out, _ = load.communicate(timeout=60)
    r = json.loads(out)
    return {"ok": r["ok"], "failed": r["failed"], "refused": r["refused"], "exit": rc,
            "exit_s": round(exit_s, 2), "failures": r["failures"][:3]}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def million(binary, total):
    server = bench.Server("node-api", [binary], cpus="0",
                          env={"THREADS": "1", "HOST": "127.0.0.1", "ACCESS_LOG": "off", "METRICS_PORT": "0",
                               "LOG_LEVEL": "warn"})
    server.start()
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(MIXED_LUA)
    lua.close()
    try:
        def run(n):
            # wrk runs for a time, not a count: run until n requests are done.
            done = 0
            while done < n:
                out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", "-d2s", "-s", lua.name,
                                      f"http://127.0.0.1:{server.port}/"],
                                     capture_output=True, text=True).stdout
                done += int(re.search(r"(\d+) requests in", out).group(1))
            return done

        warm = run(total // 10)
        before = rss_kb(server.proc.pid)
        rest = run(total - warm)
        after = rss_kb(server.proc.pid)
    finally:
        server.stop()
        os.unlink(lua.name)
    return {"requests": warm + rest, "rss_after_warmup_kb": before, "rss_after_kb": after,
            "growth_kb": after - before}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "node-api"))
    args = ap.parse_args()
    bench.npm_ci("express")

    results = {"node-api": [], "express": []}
    for rnd in range(args.rounds):
        results["node-api"].append(drain_round(bench.Server(
            "node-api", [args.bin], env={"HOST": "127.0.0.1", "ACCESS_LOG": "off", "METRICS_PORT": "0",
                                         "LOG_LEVEL": "warn", "SHUTDOWN_TIMEOUT_S": "20"})))
        results["express"].append(drain_round(bench.Server(
            "express", ["node", "app.js"], env={"NODE_ENV": "production"},
            cwd=os.path.join(bench.BENCH, "express"))))
        bench.log(f"soak: drain round {rnd + 1}/{args.rounds}: "
                  f"node-api lost {results['node-api'][-1]['failed']}, "
                  f"express lost {results['express'][-1]['failed']}")
    soak = million(args.bin, args.requests)

    lines = ["| server | rounds | requests answered | requests lost | lost per round (median) | "
             "exit status |", "|---|---:|---:|---:|---:|---|"]
    for name, rs in results.items():
        lost = sorted(r["failed"] for r in rs)
        exits = sorted({str(r["exit"]) for r in rs})
        lines.append(f"| {name} | {len(rs)} | {sum(r['ok'] for r in rs):,} | {sum(lost)} | "
                     f"{lost[len(lost) // 2]} | {', '.join(exits)} |")
    lines += ["", f"{soak['requests']:,} mixed requests: RSS {soak['rss_after_warmup_kb'] / 1024:.1f} MB "
                  f"after the first tenth, {soak['rss_after_kb'] / 1024:.1f} MB after all "
                  f"(growth {soak['growth_kb']} kB)."]
    print("\n".join(lines))
    out = os.path.join(ROOT, "build", "soak.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"drain": results, "million": soak}, f, indent=2)
    bad = any(r["failed"] or r["exit"] != 0 for r in results["node-api"]) or soak["growth_kb"] >= 1024
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

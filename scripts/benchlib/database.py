"""The database section: node-api and the tutorial's Express app with pg, on one PostgreSQL
made durable as on RDS (fsync, synchronous_commit and full_page_writes on), each server on the
same CPUs with a pool of 10: GET /api/items, and the writes, POST /api/items,
PUT /api/items/{id} and DELETE /api/items/{id}, one statement each on both sides (node-api's
PostgreSQL store runs the same SQL that scripts/bench/express-pg/app.js runs). Interleaved
rounds, medians, ratios as medians of per-round paired ratios. POST runs a third time on node-api
with DB_WRITE_GROUP_MAX=1, so the write groups' share of its figure is measured in the same run.

The DELETEs need rows to delete: the table is seeded with enough, and each run deletes ids no
run before it touched (a 404 would count as an error in the table)."""

import os
import subprocess
import sys

from .common import ROOT, Server, median, wrk

KEY = "bench-key"
OPS = [("GET", "/api/items", None), ("POST", "/api/items", "post"),
       ("PUT", "/api/items/1", "put"), ("DELETE", "/api/items/1", "delete")]
PUT_IDS = 1000  # PUTs cycle over the first thousand rows
SEED_ROWS = 1000000
GROUPS_OFF = "node-api, write groups off"


def run(args, base, server_cpus, wrk_cpus, node_env, bench):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import pg  # the test harness's throwaway PostgreSQL

    db = pg.Postgres(durable=True)
    try:
        url = db.fresh_database("bench")
        subprocess.run([args.bin, "migrate"], env={**os.environ, "DATABASE_URL": url},
                       check=True, capture_output=True)
        db.psql(f"INSERT INTO items (name, price) SELECT 'seed ' || g, 1 "
                f"FROM generate_series(1, {SEED_ROWS}) g", db="bench")
        next_delete = [PUT_IDS + 10]  # ids from here on are deleted, each once

        mine = Server("node-api", [args.bin], cpus=server_cpus, ready_path="/api/items",
                      env={**base, "ACCESS_LOG": "off", "DATABASE_URL": url, "DB_POOL_SIZE": "10",
                           "API_KEY": KEY})
        alone = Server(GROUPS_OFF, [args.bin], cpus=server_cpus, ready_path="/api/items",
                       env={**base, "ACCESS_LOG": "off", "DATABASE_URL": url,
                            "DB_POOL_SIZE": "10", "API_KEY": KEY, "DB_WRITE_GROUP_MAX": "1"})
        theirs = Server("express-pg", ["node", "app.js"], cwd=os.path.join(bench, "express-pg"),
                        cpus=server_cpus, ready_path="/api/items",
                        env={**node_env, "DATABASE_URL": url, "DB_POOL_SIZE": "10",
                             "API_KEY": KEY})

        def once(s, op, duration):
            method, path, mode = op
            if not mode:
                return wrk(s.port, path, 50, duration, wrk_cpus)
            first = next_delete[0] if mode == "delete" else 1
            r = wrk(s.port, path, 50, duration, wrk_cpus, script="write.lua",
                    script_args=(mode, KEY, str(first), str(PUT_IDS)))
            if mode == "delete":
                next_delete[0] += r["requests"] + 50 + 1  # and those in flight at the end
            return r

        def servers(op):
            return (mine, theirs, alone) if op[0] == "POST" else (mine, theirs)

        runs = {(s.name, op[0]): [] for op in OPS for s in servers(op)}
        try:
            for s in (mine, theirs, alone):
                s.start()
            for op in OPS:
                for s in servers(op):
                    once(s, op, 1)  # warm-up
            for rnd in range(args.rounds):
                for op in OPS:
                    order = servers(op) if rnd % 2 == 0 else servers(op)[::-1]
                    for s in order:
                        runs[(s.name, op[0])].append(once(s, op, args.duration))
        finally:
            for s in (mine, theirs, alone):
                s.stop()
        if next_delete[0] > SEED_ROWS:
            raise RuntimeError("the DELETE runs went past the seeded rows: seed more")
        out = {"postgres": db.psql("SHOW server_version", db="postgres")[0][0],
               "durable": {k: db.psql(f"SHOW {k}", db="postgres")[0][0]
                           for k in ("fsync", "synchronous_commit", "full_page_writes")},
               "ops": {}}
        for op in OPS:
            method, row = op[0], {}
            for s in servers(op):
                rs = runs[(s.name, method)]
                row[s.name] = {k: median([r[k] for r in rs]) for k in ("rps", "p50_us", "p99_us",
                                                                       "p999_us")}
                row[s.name]["errors"] = sum(r["errors"] for r in rs)
                if s is not theirs:
                    row[s.name]["ratio"] = median([a["rps"] / b["rps"] for a, b in zip(
                        rs, runs[("express-pg", method)])])
            out["ops"][method] = row
        return out
    finally:
        db.destroy()


def markdown(d, fmt_ms):
    lines = [f"PostgreSQL {d['postgres']} on this machine's disk, durable as on RDS (fsync "
             f"{d['durable']['fsync']}, synchronous_commit {d['durable']['synchronous_commit']}, "
             f"full_page_writes {d['durable']['full_page_writes']}); 50 connections, pools of "
             "10, one statement per request on both sides but node-api's write groups (one statement "
             "for the POSTs waiting together; the \"write groups off\" row is node-api without "
             "them):", "",
             "| request | server | req/s | p50 ms | p99 ms | p99.9 ms | node-api is |",
             "|---|---|---:|---:|---:|---:|---|"]
    for method, row in d["ops"].items():
        for name in ("node-api", GROUPS_OFF, "express-pg"):
            if name not in row:
                continue
            m = row[name]
            err = f" ({m['errors']} errors)" if m["errors"] else ""
            ratio = f"{m['ratio']:.1f}x Express + pg" if "ratio" in m else ""
            lines.append(f"| {method} | {name} | {m['rps']:,.0f}{err} | {fmt_ms(m['p50_us'])} | "
                         f"{fmt_ms(m['p99_us'])} | {fmt_ms(m['p999_us'])} | {ratio} |")
    return lines

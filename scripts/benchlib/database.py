"""The database section: node-api and the tutorial's Express app with pg, on one PostgreSQL
made durable as on RDS (fsync, synchronous_commit and full_page_writes on), each server on the
same CPUs with a pool of 10: GET /api/items, and the writes, POST /api/items,
PUT /api/items/{id} and DELETE /api/items/{id}, one statement each on both sides (node-api's
PostgreSQL store runs the same SQL that scripts/bench/express-pg/app.js runs). Interleaved
rounds, medians, ratios as medians of per-round paired ratios.

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

        runs = {(s, op[0]): [] for s in ("node-api", "express-pg") for op in OPS}
        try:
            for s in (mine, theirs):
                s.start()
                for op in OPS:
                    once(s, op, 1)  # warm-up
            for rnd in range(args.rounds):
                for op in OPS:
                    for s in ((mine, theirs) if rnd % 2 == 0 else (theirs, mine)):
                        runs[(s.name, op[0])].append(once(s, op, args.duration))
        finally:
            mine.stop()
            theirs.stop()
        if next_delete[0] > SEED_ROWS:
            raise RuntimeError("the DELETE runs went past the seeded rows: seed more")
        out = {"postgres": db.psql("SHOW server_version", db="postgres")[0][0],
               "durable": {k: db.psql(f"SHOW {k}", db="postgres")[0][0]
                           for k in ("fsync", "synchronous_commit", "full_page_writes")},
               "ops": {}}
        for method, _, _ in OPS:
            row = {}
            for name in ("node-api", "express-pg"):
                rs = runs[(name, method)]
                row[name] = {k: median([r[k] for r in rs]) for k in ("rps", "p50_us", "p99_us",
                                                                     "p999_us")}
                row[name]["errors"] = sum(r["errors"] for r in rs)
            row["ratio"] = median([a["rps"] / b["rps"] for a, b in
                                   zip(runs[("node-api", method)], runs[("express-pg", method)])])
            out["ops"][method] = row
        return out
    finally:
        db.destroy()


def markdown(d, fmt_ms):
    lines = [f"PostgreSQL {d['postgres']} on this machine's disk, durable as on RDS (fsync "
             f"{d['durable']['fsync']}, synchronous_commit {d['durable']['synchronous_commit']}, "
             f"full_page_writes {d['durable']['full_page_writes']}); 50 connections, pools of "
             "10, one statement per request on both sides:", "",
             "| request | server | req/s | p50 ms | p99 ms | p99.9 ms | node-api is |",
             "|---|---|---:|---:|---:|---:|---|"]
    for method, row in d["ops"].items():
        for name in ("node-api", "express-pg"):
            m = row[name]
            err = f" ({m['errors']} errors)" if m["errors"] else ""
            ratio = f"{row['ratio']:.1f}x Express + pg" if name == "node-api" else ""
            lines.append(f"| {method} | {name} | {m['rps']:,.0f}{err} | {fmt_ms(m['p50_us'])} | "
                         f"{fmt_ms(m['p99_us'])} | {fmt_ms(m['p999_us'])} | {ratio} |")
    return lines

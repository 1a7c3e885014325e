#!/bin/sh
# THREADS scaling, for machines with 16 CPUs or more: node-api and nginx are
# each given 1, 2, 4 and 8 CPUs (THREADS worker threads, worker_processes
# nginx workers), wrk runs 8 threads on 8 other CPUs, at 256 connections.
# Two interleaved 4 s runs per cell; prints one line per cell.
#
#   scripts/bench-scaling.sh [NODE_API_BIN]        (make first; needs nginx, wrk)
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/node-api}
[ "$(nproc)" -ge 16 ] || { echo "bench-scaling: needs 16 CPUs, this machine has $(nproc)" >&2; exit 2; }
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
mkdir -p "$prefix/logs"

run_wrk() {
    taskset -c 8-15 wrk -t8 -c256 -d4s "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
}
for t in 1 2 4 8; do
    cpus=0-$((t - 1))
    THREADS=$t ACCESS_LOG=off LOG_LEVEL=error PORT=3100 HOST=127.0.0.1 taskset -c "$cpus" "$bin" &
    na=$!
    sed -e "s/@WORKERS@/$t/" -e "s/@PORT@/3200/" -e "s#@PREFIX@#$prefix#g" \
        scripts/bench/nginx.conf >"$prefix/nginx.conf"
    taskset -c "$cpus" nginx -p "$prefix" -c "$prefix/nginx.conf" &
    ng=$!
    sleep 1
    for p in /health /api/info /api/items; do
        run_wrk 3100 "$p" >/dev/null # warm-up
        a=$(run_wrk 3100 "$p")
        b=$(run_wrk 3200 "$p")
        c=$(run_wrk 3100 "$p")
        d=$(run_wrk 3200 "$p")
        echo "threads=$t path=$p node-api=$a,$c nginx=$b,$d"
    done
    kill "$na" "$ng"
    wait "$na" "$ng" 2>/dev/null || true
done

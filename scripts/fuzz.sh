#!/bin/sh
# Runs each fuzz target for a set time and reports what it reached.
#
#   scripts/fuzz.sh SECONDS TARGET...       (make fuzz / make test build and call it)
#
# Each target starts from its committed seeds (tests/fuzz/corpus/NAME) and a
# working corpus kept in build-fuzz/corpus/NAME, which grows from run to run,
# with the dictionary its name suggests. A crash, leak, sanitizer report or
# timeout fails the run and leaves the input that caused it in build-fuzz/.
set -u
secs=$1
shift
cd "$(dirname "$0")/.."
status=0
printf '%-18s %10s %8s %8s %s\n' target runs exec/s cov result
for bin in "$@"; do
    name=$(basename "$bin")
    short=${name#fuzz_}
    seeds=tests/fuzz/corpus/$short
    work=build-fuzz/corpus/$short
    mkdir -p "$work"
    case $short in
    item | json) dict=tests/fuzz/json.dict ;;
    config) dict=tests/fuzz/config.dict ;;
    json_escape) dict="" ;;
    *) dict=tests/fuzz/http.dict ;;
    esac
    log=build-fuzz/$name.log
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix=build-fuzz/"$name"- ${dict:+-dict=$dict} \
        "$work" "$seeds" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="FAILED (see $log)"
        status=1
    fi
    printf '%-18s %10s %8s %8s %s\n' "$short" "${runs:-?}" "${eps:-?}" "${cov:-?}" "$result"
    [ "$rc" -eq 0 ] || grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
done
exit $status

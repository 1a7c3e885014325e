#!/bin/sh
# Prints the Python interpreter the deploy checks and tests run with, one
# that has botocore, cfn-lint (cfnlint) and moto, with the aws, cfn-lint
# and moto_server commands beside it or on PATH:
#
#   1. the virtual environment build/deploy-venv, when made before;
#   2. else this machine's python3, when it has them all already;
#   3. else it makes build/deploy-venv (Debian's python3 with its site
#      packages, for python3-botocore) and installs
#      scripts/deploy-requirements.txt into it, when the package index can
#      be reached;
#   4. else it fails with one line naming what is missing and why it could
#      not be installed (pip's own error), its log kept in build/deploy-venv.log.
#
#   scripts/deploy-env.sh          (VENV overrides build/deploy-venv)
set -eu
cd "$(dirname "$0")/.."

venv=${VENV:-build/deploy-venv}
modules="botocore cfnlint moto"

# The modules a python lacks, and the commands missing beside it and on PATH.
missing() {
    py=$1
    out=""
    for m in $modules; do
        "$py" -c "import $m" 2>/dev/null || out="$out $m"
    done
    dir=$(dirname "$py")
    for c in aws cfn-lint moto_server; do
        [ -x "$dir/$c" ] || command -v "$c" >/dev/null 2>&1 || out="$out $c"
    done
    echo "$out"
}

if [ -x "$venv/bin/python" ] && [ -z "$(missing "$venv/bin/python")" ]; then
    echo "$(cd "$venv/bin" && pwd)/python"
    exit 0
fi
own=$(command -v python3 || true)
if [ -n "$own" ] && [ -z "$(missing "$own")" ]; then
    echo "$own"
    exit 0
fi
base=/usr/bin/python3
[ -x "$base" ] || base=$own
# Only a directory this script makes is removed when it fails: a VENV of the user's stays.
made=0
[ -e "$venv" ] || made=1
log=/dev/null
why=""
if [ -z "$base" ]; then
    why="no python3"
elif ! mkdir -p "$(dirname "$venv")" 2>/dev/null; then
    why="cannot make $(dirname "$venv") for VENV $venv"
elif ! log="$venv.log" || ! "$base" -m venv --system-site-packages "$venv" >"$log" 2>&1; then
    # Debian without python3-venv says so in its first line.
    why="$base -m venv failed ($(head -n 1 "$log" | cut -c 1-200)): apt-get install python3-venv"
elif ! "$venv/bin/python" -m pip install --disable-pip-version-check --timeout 10 --retries 1 \
        -r scripts/deploy-requirements.txt >"$log" 2>&1; then
    # pip's own reason: its last ERROR line (an index it cannot reach, a version it lacks).
    why="pip could not install scripts/deploy-requirements.txt into $venv ($(grep '^ERROR' "$log" |
        tail -n 1 | cut -c 1-200)): reach the package index and rerun make deps"
elif [ -n "$(missing "$venv/bin/python")" ]; then
    why="installed scripts/deploy-requirements.txt, yet$(missing "$venv/bin/python") still missing"
else
    rm -f "$log"
    echo "$(cd "$venv/bin" && pwd)/python"
    exit 0
fi
[ "$made" = 0 ] || rm -rf "$venv"
# One line; Debian refuses a bare `pip install` outside a virtual environment
# (externally-managed-environment), so the advice is a virtual environment.
where=""
[ "$log" = /dev/null ] || where="; full log: $log"
echo "deploy tests: missing$(missing "${own:-$base}"): $why; or install them into a" \
    "virtual environment of your own (python3 -m venv, then pip install -r" \
    "scripts/deploy-requirements.txt) and put its bin first on PATH$where" >&2
exit 1

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
#   4. else it fails with one line naming what is missing.
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
if [ -n "$base" ] && "$base" -m venv --system-site-packages "$venv" >/dev/null 2>&1 &&
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --timeout 10 --retries 1 \
        -r scripts/deploy-requirements.txt >/dev/null 2>&1 &&
    [ -z "$(missing "$venv/bin/python")" ]; then
    echo "$(cd "$venv/bin" && pwd)/python"
    exit 0
fi
rm -rf "$venv"
echo "deploy tests: missing$(missing "${own:-$base}") (not installed here, and the package index" \
    "cannot be reached): install them, e.g. apt-get install awscli python3-botocore and" \
    "pip install -r scripts/deploy-requirements.txt" >&2
exit 1

#!/bin/sh
# Installs the Debian packages node-api needs, only those missing.
#
#   scripts/deps.sh build   compiler and libraries (what `make run` needs)
#   scripts/deps.sh test    build + what `make test` needs
#   scripts/deps.sh bench   test + nginx, wrk and gnuplot for `make bench` (which also needs Node.js
#                           and npm: looked for, not installed, as they often come from
#                           elsewhere than Debian)
#
# The deploy tests also need the AWS CLI, botocore, cfn-lint and moto
# (moto_server): the machine's own when it has them, else Debian's awscli and
# python3-botocore, and cfn-lint and moto from PyPI in build/deploy-venv
# (scripts/deploy-env.sh); without the package index, one line names what is
# missing.
#
# Idempotent and quick when everything is present: one dpkg-query call.
# Runs apt-get as root, through sudo otherwise.
set -eu

build="gcc make pkg-config libc6-dev libmicrohttpd-dev libcjson-dev libbson-dev libpq-dev"
test="$build libcmocka-dev python3 clang-format curl postgresql jq podman runc debootstrap haproxy clang libclang-rt-14-dev podman-compose golang-github-containernetworking-plugin-dnsname qemu-user-static prometheus"

case "${1:-test}" in
build) want=$build ;;
test) want=$test ;;
bench) want="$test nginx-light wrk gnuplot-nox" ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system; install the equivalents of: $want" >&2
    exit 0
fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done
if [ "${1:-test}" = bench ]; then
    for tool in node npm; do
        command -v "$tool" >/dev/null 2>&1 ||
            echo "deps: $tool not found: the benchmark's reference apps need Node.js 20 and npm" >&2
    done
fi
# The deploy tests' Python tools: the machine's own when it has them all, else Debian's awscli
# and python3-botocore with cfn-lint and moto in a virtual environment (scripts/deploy-env.sh).
deploy_tools=""
if [ "${1:-test}" = test ] || [ "${1:-test}" = bench ]; then
    if ! "$(dirname "$0")/deploy-env.sh" >/dev/null 2>&1; then
        deploy_tools="awscli python3-botocore python3-venv python3-pip"
        for p in $deploy_tools; do
            dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
                missing="$missing $p"
        done
    fi
fi
if [ -z "$missing" ]; then
    [ -z "$deploy_tools" ] || "$(dirname "$0")/deploy-env.sh" >/dev/null
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root: apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once, then retry.
if ! $sudo apt-get install -y --no-install-recommends $missing; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends $missing
fi
[ -z "$deploy_tools" ] || "$(dirname "$0")/deploy-env.sh" >/dev/null

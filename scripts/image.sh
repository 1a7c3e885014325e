#!/bin/sh
# Builds the node-api image: scripts/image.sh [TAG [PLATFORM]]
#
# The tag defaults to node-api:<version>-<git sha>, immutable by
# construction; PLATFORM (linux/amd64, the default, or linux/arm64) is the
# image's, which the build stage cross-compiles for (no emulation).
# CONTAINER_ENGINE picks podman (the default) or docker; with
# podman the base images are made locally first when missing (see
# base-image.sh). PODMAN_RUNTIME (e.g. runc) is passed on to podman.
# IMAGE_TARGET=unit builds the Dockerfile's unit stage instead: the unit
# tests, compiled for PLATFORM and run there (under qemu-user for another).
set -eu
cd "$(dirname "$0")/.."

engine=${CONTAINER_ENGINE:-podman}
sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
tag=${1:-node-api:$(make -s print-version)-$sha}
platform=${2:-linux/amd64}

if [ "$engine" = podman ]; then
    scripts/base-image.sh
    set -- --runtime "${PODMAN_RUNTIME:-runc}"
    fmt="--format docker" # OCI images have no HEALTHCHECK
    # Podman 4.3 does not set the platform arguments docker does: the build stage runs on
    # this machine's platform and cross-compiles for the image's.
    case $(uname -m) in
    x86_64) native=amd64 ;;
    aarch64) native=arm64 ;;
    *) native=$(uname -m) ;;
    esac
    fmt="$fmt --build-arg BUILDPLATFORM=linux/$native --build-arg TARGETARCH=${platform#linux/}"
else
    set --
    fmt=""
    # BuildKit adds a provenance attestation by default, which makes each platform's image
    # an index: `docker manifest create` (deploy.sh) refuses an index inside its list.
    if docker buildx version >/dev/null 2>&1; then
        fmt="--provenance=false"
    fi
fi
# Host networking: the build stage's apt reaches the mirror the host reaches.
# shellcheck disable=SC2086
"$engine" "$@" build $fmt --platform "$platform" --network host --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
    ${IMAGE_TARGET:+--target "$IMAGE_TARGET"} --build-arg GIT_SHA="$sha" -t "$tag" .
echo "$tag"

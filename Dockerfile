# node-api image: compiled on Debian bookworm, run FROM scratch with the
# binary and exactly the shared objects it loads (scripts/rootfs.sh), the
# CA certificates and the image's user: no shell, no package manager, about
# 18 MB. Layers are ordered so that editing the sources reuses the package
# layer.
#
#   docker build --build-arg GIT_SHA=$(git rev-parse --short HEAD) -t node-api .
#   docker run --rm -p 3000:3000 --read-only --cap-drop ALL node-api

# The build stage runs on the build machine's own platform and cross-compiles
# for the image's (TARGETARCH, set by `build --platform`): an arm64 image
# (Graviton) builds on amd64 without emulation. TARGETARCH has no default:
# BuildKit and podman set it from --platform, and a default here would win
# over theirs; a builder that sets none builds for its own architecture.
ARG BUILDPLATFORM
FROM --platform=$BUILDPLATFORM debian:bookworm AS build
ARG TARGETARCH
RUN set -eu; \
    native=$(dpkg --print-architecture); TARGETARCH=${TARGETARCH:-$native}; \
    if [ "$TARGETARCH" = "$native" ]; then \
        arch=""; tools="gcc"; \
    else \
        dpkg --add-architecture "$TARGETARCH"; arch=":$TARGETARCH"; \
        case "$TARGETARCH" in \
        arm64) tools="gcc-aarch64-linux-gnu" ;; \
        amd64) tools="gcc-x86-64-linux-gnu" ;; \
        *) echo "no cross compiler for $TARGETARCH" >&2; exit 1 ;; \
        esac; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends make pkg-config binutils ca-certificates $tools \
        libc6-dev$arch libmicrohttpd-dev$arch libcjson-dev$arch libbson-dev$arch libpq-dev$arch; \
    apt-get clean; rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY scripts/deps.sh scripts/rootfs.sh scripts/
COPY include include
COPY src src
ARG GIT_SHA=unknown
RUN set -eu; \
    native=$(dpkg --print-architecture); TARGETARCH=${TARGETARCH:-$native}; \
    case "$TARGETARCH" in \
    "$native") triplet=$(gcc -dumpmachine); prefix="" ;; \
    arm64) triplet=aarch64-linux-gnu; prefix="$triplet-" ;; \
    amd64) triplet=x86_64-linux-gnu; prefix="$triplet-" ;; \
    esac; \
    PKG_CONFIG_LIBDIR="/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig" \
        make WERROR=1 GIT_SHA="$GIT_SHA" CC="${prefix}gcc"; \
    "${prefix}strip" build/node-api; \
    if [ -z "$prefix" ]; then build/node-api --version; fi; \
    scripts/rootfs.sh /rootfs build/node-api "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib

# `build --target unit`: the unit tests, compiled as the image's binary is and run on its
# platform (under qemu-user when that is another one): the code the image ships, tested there.
# Their output stays in the image (/src/build/unit.log): a rebuild from cached layers prints
# nothing, and the log is still the run of exactly these sources.
FROM build AS unit
ARG TARGETARCH
COPY tests/unit tests/unit
RUN set -eu; \
    native=$(dpkg --print-architecture); TARGETARCH=${TARGETARCH:-$native}; \
    apt-get update; \
    case "$TARGETARCH" in \
    "$native") triplet=$(gcc -dumpmachine); prefix=""; runner=""; pkgs="libcmocka-dev" ;; \
    arm64) triplet=aarch64-linux-gnu; prefix="$triplet-"; runner=qemu-aarch64-static; \
           pkgs="libcmocka-dev:arm64 qemu-user-static" ;; \
    amd64) triplet=x86_64-linux-gnu; prefix="$triplet-"; runner=qemu-x86_64-static; \
           pkgs="libcmocka-dev:amd64 qemu-user-static" ;; \
    esac; \
    apt-get install -y --no-install-recommends $pkgs; \
    status=0; PKG_CONFIG_LIBDIR="/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig" \
        make unit WERROR=1 CC="${prefix}gcc" UNIT_RUNNER="$runner" >build/unit.log 2>&1 || status=$?; \
    cat build/unit.log; exit $status

FROM scratch
COPY --from=build /rootfs /
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
# A numeric user (named node-api in /etc/passwd): Kubernetes' runAsNonRoot and ECS can check it.
USER 10001:10001
EXPOSE 3000 9464
# node-api handles SIGTERM as PID 1: it drains, then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/node-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/node-api"]
CMD ["serve"]

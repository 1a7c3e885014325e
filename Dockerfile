# node-api image: compiled on Debian bookworm, run FROM scratch with the
# binary and exactly the shared objects it loads (scripts/rootfs.sh), the
# CA certificates and the image's user: no shell, no package manager, about
# 18 MB. Layers are ordered so that editing the sources reuses the package
# layer.
#
#   docker build --build-arg GIT_SHA=$(git rev-parse --short HEAD) -t node-api .
#   docker run --rm -p 3000:3000 --read-only --cap-drop ALL node-api

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make pkg-config libc6-dev \
        libmicrohttpd-dev libcjson-dev libbson-dev libpq-dev ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY scripts/deps.sh scripts/rootfs.sh scripts/
COPY include include
COPY src src
ARG GIT_SHA=unknown
RUN make WERROR=1 GIT_SHA="$GIT_SHA" \
 && strip build/node-api \
 && build/node-api --version \
 && scripts/rootfs.sh /rootfs build/node-api

FROM scratch
COPY --from=build /rootfs /
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
# A numeric user (named node-api in /etc/passwd): Kubernetes' runAsNonRoot and ECS can check it.
USER 10001:10001
EXPOSE 3000
# node-api handles SIGTERM as PID 1: it drains, then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/node-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/node-api"]
CMD ["serve"]

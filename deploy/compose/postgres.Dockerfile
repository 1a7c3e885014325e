# PostgreSQL 15 from Debian for the local stack (compose.yaml), so it builds
# wherever the service's image builds, registry or not. Data in a volume at
# /var/lib/postgresql/data, made on first start with the password given.
FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
# Owned by postgres in the image, so a fresh volume mounted there is too.
RUN mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data \
 && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --timeout=2s --retries=30 CMD ["pg_isready", "-h", "127.0.0.1", "-q"]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]

/*
 * exporter: serves GET /metrics on a port of its own (METRICS_PORT).
 *
 * A second, small libmicrohttpd daemon: one thread, a few connections,
 * its own listen socket. Being apart from the main port, a scrape gets
 * through while the service sheds load or sits at its connection limit,
 * and the load balancer, which forwards only PORT, never exposes it.
 * Anything but GET or HEAD /metrics is answered with the JSON error shape
 * (404, or 405 with Allow).
 */
#ifndef NA_EXPORTER_H
#define NA_EXPORTER_H

#include "na/metrics.h"

/* Scrapes served at once, at most; one more waits in the backlog. */
#define NA_EXPORTER_CONNECTIONS 8

struct na_exporter;

/*
 * Binds host:port (port 0: any free port) and starts the thread. `m` is
 * borrowed until na_exporter_stop(). Returns NULL with `err` naming
 * METRICS_PORT or HOST.
 */
struct na_exporter *na_exporter_start(const char *host, unsigned port, struct na_metrics *m,
                                      char *err, size_t errlen);

/* The bound port. */
unsigned na_exporter_port(const struct na_exporter *e);

/* Stops the thread, closes every connection and frees. NULL is a no-op. */
void na_exporter_stop(struct na_exporter *e);

#endif

/*
 * healthcheck: `node-api healthcheck`, the container health check.
 *
 * GET /health on the configured PORT over loopback (HOST when it names one
 * address), without curl or wget in the image. Exit status 0 on a 200
 * within the timeout, 1 otherwise, with one line saying what was seen.
 */
#ifndef NA_HEALTHCHECK_H
#define NA_HEALTHCHECK_H

#include "na/config.h"

#define NA_HEALTHCHECK_TIMEOUT_MS 3000u

/* Returns the exit status. */
int na_healthcheck(const struct na_config *cfg, unsigned timeout_ms);

#endif

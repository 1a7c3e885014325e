/*
 * service: `node-api serve`, from start to exit.
 *
 * Wires the store, the app state and the server, then runs the lifecycle
 * loop on the main thread: signals are taken synchronously (sigtimedwait),
 * so they work the same when the process is PID 1 in a container, and
 * between signals the loop samples memory (the container's charged
 * figure, or RSS) to switch load shedding on and off.
 *
 * On SIGTERM or SIGINT it drains (see server.h), waiting up to
 * SHUTDOWN_TIMEOUT_S for every connection to close. It exits 0 when they
 * all closed, or when only idle keep-alive connections were left at the
 * deadline (closing those loses nothing); 1 when requests were still in
 * flight at the deadline (they are logged as cut off) or on a second signal.
 */
#ifndef NA_SERVICE_H
#define NA_SERVICE_H

#include "na/config.h"
#include "na/sysinfo.h"

/*
 * Runs until drained or failed; returns the process exit status. `meter`
 * reads what the container is charged (sysinfo.h; may be empty);
 * `revision` is the build's git revision (static), for the metrics.
 */
int na_service_run(const struct na_config *cfg, const struct na_memory_meter *meter,
                   const char *revision);

#endif

/*
 * metrics_writer.h: the growing text buffer a scrape is written into, and
 * the process_* families. Private to src/ (metrics.c, metrics_process.c):
 * sources see only the na_metrics_family()/na_metrics_sample() contract.
 *
 * A write that cannot grow the buffer marks it failed; na_mw_finish() then
 * returns NULL, so a scrape is whole or absent, never cut short.
 */
#ifndef NA_METRICS_WRITER_H
#define NA_METRICS_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "na/metrics.h"

struct na_metrics_writer {
    char *data;
    size_t len, cap;
    bool failed;
    bool openmetrics;
};

/* Returns 0, or -1 when out of memory. */
int na_mw_init(struct na_metrics_writer *w, bool openmetrics, size_t cap);
void na_mw_printf(struct na_metrics_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ends the exposition (OpenMetrics' "# EOF"); the text, caller-frees, or NULL. */
char *na_mw_finish(struct na_metrics_writer *w, size_t *len);

/* process_*: CPU, memory, file descriptors, start time (metrics_process.c). */
void na_metrics_write_process(struct na_metrics_writer *w);

#endif

/*
 * log: structured JSON log lines on one file descriptor (stdout).
 *
 * Every line is one JSON object: {"level","message","timestamp","service",
 * ...fields}, the shape of the tutorial's logger. Lines are formatted by the
 * calling thread into its own stack storage and handed over whole, so lines
 * from different threads never interleave.
 *
 * Until na_log_start() and after na_log_stop() lines are written
 * synchronously. In between, a writer thread drains a bounded ring buffer:
 * a request thread never waits on a slow pipe (the awslogs driver, a full
 * terminal). If the ring is full the line is dropped and counted, and the
 * writer reports the count in a "log lines dropped" warning once it can.
 *
 * Fields are passed as brace initializers:
 *
 *     na_logf(NA_LOG_INFO, "started", NA_LF_INT("port", port),
 *             NA_LF_STR("host", host));
 */
#ifndef NA_LOG_H
#define NA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "na/buf.h"

enum na_log_level { NA_LOG_DEBUG, NA_LOG_INFO, NA_LOG_WARN, NA_LOG_ERROR };

enum na_log_type {
    NA_LT_END_ = 0,
    NA_LT_STR_,  /* v.s, NUL-terminated; NULL is written as null */
    NA_LT_INT_,  /* v.i */
    NA_LT_DBL_,  /* v.d */
    NA_LT_BOOL_, /* v.i */
    NA_LT_RAW_,  /* v.s is already JSON */
};

struct na_log_field {
    const char *key;
    enum na_log_type type;
    union {
        const char *s;
        long long i;
        double d;
    } v;
};

#define NA_LF_STR(k, x)                                                                            \
    {                                                                                              \
        .key = (k), .type = NA_LT_STR_, .v.s = (x)                                                 \
    }
#define NA_LF_INT(k, x)                                                                            \
    {                                                                                              \
        .key = (k), .type = NA_LT_INT_, .v.i = (long long)(x)                                      \
    }
#define NA_LF_DBL(k, x)                                                                            \
    {                                                                                              \
        .key = (k), .type = NA_LT_DBL_, .v.d = (double)(x)                                         \
    }
#define NA_LF_BOOL(k, x)                                                                           \
    {                                                                                              \
        .key = (k), .type = NA_LT_BOOL_, .v.i = !!(x)                                              \
    }
#define NA_LF_RAW(k, x)                                                                            \
    {                                                                                              \
        .key = (k), .type = NA_LT_RAW_, .v.s = (x)                                                 \
    }

/* Parses debug|info|warn|error (any case). Returns 0, or -1 if unknown. */
int na_log_level_parse(const char *s, enum na_log_level *out);

/*
 * Sets the service name written on every line (copied, at most 64 bytes),
 * the minimum level and the descriptor. Call before any other thread logs.
 */
void na_log_setup(const char *service, enum na_log_level min_level, int fd);

/* True when lines at `level` are written: callers skip costly formatting. */
bool na_log_enabled(enum na_log_level level);

/* Starts the writer thread. Returns 0, or -1 (lines stay synchronous). */
int na_log_start(void);

/* Flushes everything queued, stops the writer thread. Idempotent. */
void na_log_stop(void);

/* Lines dropped because the ring buffer was full, since start. */
uint64_t na_log_dropped(void);

void na_log_emit(enum na_log_level level, const char *message, const struct na_log_field *fields);

#define na_log(level, msg) na_log_emit((level), (msg), NULL)
#define na_logf(level, msg, ...)                                                                   \
    na_log_emit((level), (msg), (const struct na_log_field[]){__VA_ARGS__, {0}})

#endif

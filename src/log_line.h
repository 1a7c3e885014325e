/*
 * log_line.h: building a log line by hand, for formatters with fields of
 * their own (the access log). Private to src/: callers elsewhere use the
 * field macros of include/na/log.h.
 */
#ifndef NA_LOG_LINE_H
#define NA_LOG_LINE_H

#include "na/buf.h"
#include "na/log.h"

/* Longest line we write; longer ones are cut to a marked stub. */
#define NA_LOG_LINE_MAX 8192

/*
 * na_log_begin() writes the opening and the four common fields into `b`
 * (which the caller backs with NA_LOG_LINE_MAX bytes); the caller appends
 * `,"key":value` pairs; na_log_end() closes the object and queues the line,
 * returning false when it was dropped (the ring full: stdout cannot keep up).
 */
void na_log_begin(struct na_buf *b, enum na_log_level level, const char *message);
bool na_log_end(struct na_buf *b);

#endif

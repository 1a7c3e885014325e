/*
 * buf: append-only text buffer over caller-provided storage.
 *
 * The logger and the hot-path encoders format into fixed storage (often on
 * the stack) so that a log line or a /health body costs no allocation. A
 * buffer never overflows: an append that does not fit is cut at the last
 * whole character that fits and `truncated` is set, so callers size storage
 * for the worst case and may check the flag.
 *
 * JSON strings are escaped per RFC 8259; bytes that are not valid UTF-8 are
 * written as U+FFFD so that every line we emit is valid JSON whatever the
 * client sent.
 */
#ifndef NA_BUF_H
#define NA_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct na_buf {
    char *data; /* borrowed storage, always NUL-terminated */
    size_t len;
    size_t cap; /* bytes of storage, including room for the NUL */
    bool truncated;
};

/* Points the buffer at `storage` (cap >= 1) and empties it. */
void na_buf_init(struct na_buf *b, char *storage, size_t cap);

void na_buf_append(struct na_buf *b, const char *s, size_t n);
void na_buf_puts(struct na_buf *b, const char *s);
void na_buf_putc(struct na_buf *b, char c);
void na_buf_printf(struct na_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void na_buf_int(struct na_buf *b, long long v);

/*
 * Appends `s` (n bytes) as a quoted JSON string. At most `max_in` input
 * bytes are used (0 means all), which bounds the output at 6 * max_in + 2.
 */
void na_buf_json_str(struct na_buf *b, const char *s, size_t n, size_t max_in);

/* Checks that s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool na_utf8_valid(const char *s, size_t n);

#endif

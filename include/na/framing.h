/*
 * framing: the checks on a request's head that decide, before any of its
 * body is read, whether it can be read at all.
 *
 * What makes a body's end ambiguous is the stuff of request smuggling:
 * Transfer-Encoding together with Content-Length (RFC 9112 6.1: "ought to
 * be handled as an error"), and Content-Length headers that disagree.
 * libmicrohttpd would go by one of them and read the bytes after it as
 * another request. A transfer coding other than chunked cannot be read at
 * all (libmicrohttpd would wait for the connection to close): 501, as RFC
 * 9112 6.1 asks. A head over Node's 16 KiB maxHeaderSize, or with more than
 * NA_HEADERS_MAX fields, is refused with 431, as Node does. A
 * Transfer-Encoding or an Idempotency-Key given twice is refused with 400:
 * which one would it be? (A proxy in front may go by the other one.)
 *
 * Pure functions over header values, for the server and its unit tests.
 */
#ifndef NA_FRAMING_H
#define NA_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest request head served: request line, headers and blank line (Node's default). */
#define NA_HEAD_MAX 16384u
/*
 * Header fields at most. libmicrohttpd keeps each in the connection's pool
 * (about 56 bytes apiece) beside the head itself and the response headers:
 * the pool is sized for NA_HEAD_MAX of head in this many fields.
 */
#define NA_HEADERS_MAX 100u

struct na_framing {
    size_t head_bytes;             /* the request head, as received */
    size_t fields;                 /* header fields in it */
    const char *transfer_encoding; /* the first one; NULL when absent */
    size_t transfer_encodings;     /* Transfer-Encoding fields: one at most */
    const char *const *lengths;    /* every Content-Length value, in order */
    size_t nlengths;
    size_t idempotency_keys; /* Idempotency-Key fields: one at most */
};

/*
 * Returns 0 when the body can be read as framed, or the status to refuse
 * it with (400, 431, 501) and a message for the error body. When it
 * returns 0, *length is the declared length and *has_length whether there
 * was one (a chunked body has none).
 */
unsigned na_framing_check(const struct na_framing *f, uint64_t *length, bool *has_length, char *msg,
                          size_t msglen);

#endif

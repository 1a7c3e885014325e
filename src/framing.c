/*
 * framing: head checks before the body (see include/na/framing.h).
 */
#include "na/framing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A Content-Length libmicrohttpd has accepted: digits; saturates at UINT64_MAX. */
static uint64_t parse_length(const char *v)
{
    uint64_t n = 0;

    for (; *v >= '0' && *v <= '9'; v++)
        n = n > UINT64_MAX / 10 - 10 ? UINT64_MAX : n * 10 + (uint64_t)(*v - '0');
    return n;
}

unsigned na_framing_check(const struct na_framing *f, uint64_t *length, bool *has_length, char *msg,
                          size_t msglen)
{
    if (f->head_bytes > NA_HEAD_MAX) {
        snprintf(msg, msglen, "request headers of %zu bytes, over the %u allowed", f->head_bytes,
                 NA_HEAD_MAX);
        return 431;
    }
    if (f->fields > NA_HEADERS_MAX) {
        snprintf(msg, msglen, "request with %zu header fields, over the %u allowed", f->fields,
                 NA_HEADERS_MAX);
        return 431;
    }
    if (f->idempotency_keys > 1) {
        snprintf(msg, msglen, "Idempotency-Key given %zu times: one at most", f->idempotency_keys);
        return 400;
    }
    if (f->transfer_encodings > 1) {
        snprintf(msg, msglen, "Transfer-Encoding given %zu times: one at most",
                 f->transfer_encodings);
        return 400;
    }
    if (f->transfer_encoding && f->nlengths) {
        snprintf(msg, msglen, "ambiguous request: Transfer-Encoding together with Content-Length");
        return 400;
    }
    if (f->transfer_encoding && strcasecmp(f->transfer_encoding, "chunked")) {
        snprintf(msg, msglen, "Transfer-Encoding \"%.40s\" is not supported: only chunked",
                 f->transfer_encoding);
        return 501;
    }
    for (size_t i = 1; i < f->nlengths; i++) {
        if (strcmp(f->lengths[i], f->lengths[0])) {
            snprintf(msg, msglen, "ambiguous request: Content-Length headers that disagree");
            return 400;
        }
    }
    *has_length = f->nlengths > 0;
    *length = f->nlengths ? parse_length(f->lengths[0]) : 0;
    return 0;
}

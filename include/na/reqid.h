/*
 * reqid: the request id carried in X-Request-Id.
 *
 * A client's (or the ALB's, or an upstream service's) id is kept when it is
 * sane, so one id follows a request across services; otherwise the request
 * gets a fresh ObjectId from libbson, 24 hex digits that sort by time.
 */
#ifndef NA_REQID_H
#define NA_REQID_H

#include <stdbool.h>
#include <stddef.h>

#define NA_REQID_MAX 128

/*
 * Sane: 1 to NA_REQID_MAX bytes of letters, digits and - _ . : / + = @.
 * That admits UUIDs, ObjectIds, AWS trace ids and base64, and nothing that
 * could split a header or a log line.
 */
bool na_reqid_sane(const char *s, size_t n);

/*
 * Writes the id for a request into `out` (NUL-terminated) and returns its
 * length: `client` (may be NULL) if sane, else a new ObjectId.
 */
size_t na_reqid_assign(const char *client, char out[NA_REQID_MAX + 1]);

#endif

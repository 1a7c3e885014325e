/*
 * taskmeta: the ECS task metadata (endpoint version 4), read once at start.
 *
 * ECS sets ECS_CONTAINER_METADATA_URI_V4 in every container of a task;
 * GET ${it}/task answers the task's JSON. Of it node-api keeps the cluster,
 * the task ARN, the task definition's family and revision, the
 * availability zone and the launch type: for the start line, the
 * metrics' dimensions and /api/info's "task" object.
 *
 * The read is bounded (a deadline for the whole exchange, a cap on the
 * answer's size) and runs before the server starts; whatever goes wrong
 * (no answer, a slow one, garbage), the caller starts anyway and logs why.
 * Only plain http:// to a numeric address, as ECS gives it.
 */
#ifndef NA_TASKMETA_H
#define NA_TASKMETA_H

#include <stdbool.h>
#include <stddef.h>

#define NA_TASKMETA_MAX_BYTES (256 * 1024) /* a task's JSON is a few KiB */

struct na_taskmeta {
    char cluster[512]; /* an ARN: a 255-character cluster name makes it ~320 */
    char task_arn[512];
    char family[256];
    char revision[16];
    char availability_zone[64];
    char launch_type[16];
};

/*
 * Parses the task metadata JSON (n bytes). Family (letters, digits, '-'
 * and '_', as ECS allows) and Revision (digits) are required, as they name
 * a metric dimension; the rest optional (empty when absent), printable
 * ASCII. Returns 0 and fills
 * *out, or -1 with the reason in `err` (*out untouched).
 */
int na_taskmeta_parse(const char *json, size_t n, struct na_taskmeta *out, char *err,
                      size_t errlen);

/*
 * Reads an HTTP/1.1 response (n bytes, the connection closed after it):
 * sets *body and *body_len to its body, de-chunked in place when chunked.
 * Returns 0, or -1 with `err` (not 200, malformed, cut short).
 */
int na_taskmeta_http_body(char *resp, size_t n, char **body, size_t *body_len, char *err,
                          size_t errlen);

/*
 * GET `uri`/task within `timeout_ms`, then parse. Returns 0 and fills
 * *out, or -1 with `err` saying why.
 */
int na_taskmeta_fetch(const char *uri, unsigned timeout_ms, struct na_taskmeta *out, char *err,
                      size_t errlen);

#endif

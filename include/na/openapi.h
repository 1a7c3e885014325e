/*
 * openapi: the service's OpenAPI 3.1 document, the bytes of
 * api/openapi.json compiled in (src/openapi_doc.c, written by
 * scripts/openapi.py), served at GET /openapi.json.
 *
 * Static storage, NUL-terminated; read-only, any thread.
 */
#ifndef NA_OPENAPI_H
#define NA_OPENAPI_H

#include <stddef.h>

extern const size_t na_openapi_len;
extern const char na_openapi_json[];

#endif

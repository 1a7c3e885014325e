/*
 * Fuzz target: the request headers parsed by themselves: Accept
 * (negotiate.h, and metrics.h's OpenMetrics choice), X-Request-Id (reqid.h), X-Forwarded-For
 * (accesslog.h), Authorization / X-API-Key (auth.h), Idempotency-Key (idem.h) and traceparent /
 * X-Amzn-Trace-Id (trace.h), If-None-Match and Cache-Control (etag.h). The input is split at its
 * first two newlines into three header values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/accesslog.h"
#include "na/auth.h"
#include "na/etag.h"
#include "na/idem.h"
#include "na/metrics.h"
#include "na/negotiate.h"
#include "na/reqid.h"
#include "na/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *a, *b, *c, id[NA_REQID_MAX + 1], key[NA_IDEM_KEY_MAX + 1];
    const char *client;
    size_t n;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    a = s;
    b = strchr(a, '\n');
    b = b ? (*b = '\0', b + 1) : a;
    c = strchr(b, '\n');
    c = c ? (*c = '\0', c + 1) : b;
    if (na_negotiate(a) > NA_FORMAT_BSON)
        abort();
    /* Not asked for, never chosen: an Accept without the media type gets the text format. */
    if (na_metrics_wants_openmetrics(a) && !strcasestr(a, "application/openmetrics-text"))
        abort();
    n = na_reqid_assign(b, id);
    if (n != strlen(id) || !na_reqid_sane(id, n))
        abort(); /* whatever came in, the id going out is sane */
    client = na_access_client(c, "10.0.0.1", &n);
    if (n > strlen(client))
        abort();
    if (!na_idem_key_parse(c, key)) {
        /* A key is 1 to 255 printable ASCII characters, whatever form it came in. */
        n = strlen(key);
        if (!n || n > NA_IDEM_KEY_MAX)
            abort();
        for (size_t i = 0; i < n; i++) {
            if (key[i] < 0x20 || key[i] > 0x7e)
                abort();
        }
    }
    {
        char trace[NA_TRACE_ID_LEN + 1];

        /* A trace id is 32 lower-case hex digits, not all zeros, whatever came in. */
        if (na_trace_id(a, b, trace)) {
            bool nonzero = false;

            if (strlen(trace) != NA_TRACE_ID_LEN)
                abort();
            for (size_t i = 0; i < NA_TRACE_ID_LEN; i++) {
                if (!trace[i] || !strchr("0123456789abcdef", trace[i]))
                    abort();
                nonzero |= trace[i] != '0';
            }
            if (!nonzero)
                abort();
        }
    }
    {
        char tag[NA_ETAG_MAX];

        /* The tag of any body matches itself, as a list's last member and alone. */
        na_etag_of(c, strlen(c), tag);
        if (strlen(tag) >= NA_ETAG_MAX || !na_etag_matches(tag, tag) ||
            !na_etag_matches(tag + 2, tag))
            abort();
        (void)na_etag_matches(a, tag);
        (void)na_etag_no_cache(b);
    }
    na_auth_check("secret-key", a, b);
    na_auth_check("", c, NULL);
    free(s);
    return 0;
}

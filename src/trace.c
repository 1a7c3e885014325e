/*
 * trace: traceparent and X-Amzn-Trace-Id parsing (see include/na/trace.h).
 */
#include "na/trace.h"

#include <string.h>

/* n lower-case hex digits, not all zeros when `nonzero`. */
static bool hex(const char *s, size_t n, bool nonzero)
{
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        any |= s[i] != '0';
    }
    return any || !nonzero;
}

/* Optional whitespace around a header value is the parser's; a field's own is not. */
static const char *trim(const char *s, size_t *n)
{
    size_t len = strlen(s);

    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *n = len;
    return s;
}

static bool from_traceparent(const char *v, char out[NA_TRACE_ID_LEN + 1])
{
    size_t n;
    const char *s = trim(v, &n);

    /* version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55 */
    if (n < 55 || !hex(s, 2, false) || !memcmp(s, "ff", 2) || s[2] != '-' ||
        !hex(s + 3, 32, true) || s[35] != '-' || !hex(s + 36, 16, true) || s[52] != '-' ||
        !hex(s + 53, 2, false))
        return false;
    /* Version 00 is exactly that long; a later one may go on after a dash. */
    if (n > 55 && (!memcmp(s, "00", 2) || s[55] != '-'))
        return false;
    memcpy(out, s + 3, 32);
    out[32] = '\0';
    return true;
}

static bool from_amzn(const char *v, char out[NA_TRACE_ID_LEN + 1])
{
    const char *p = v;

    /* Fields are ;-separated Key=Value pairs; Root may come anywhere among them. */
    while (*p) {
        size_t n;

        while (*p == ' ' || *p == ';')
            p++;
        n = strcspn(p, ";");
        /* "Root=1-" 8 hex "-" 24 hex: 7 + 8 + 1 + 24 = 40 */
        if (n >= 40 && !memcmp(p, "Root=1-", 7) && hex(p + 7, 8, false) && p[15] == '-' &&
            hex(p + 16, 24, false) && (n == 40 || p[40] == ' ')) {
            char id[NA_TRACE_ID_LEN + 1];

            memcpy(id, p + 7, 8);
            memcpy(id + 8, p + 16, 24);
            id[32] = '\0';
            if (!hex(id, 32, true))
                return false; /* all zeros: no trace */
            memcpy(out, id, sizeof(id));
            return true;
        }
        p += n;
    }
    return false;
}

bool na_trace_id(const char *traceparent, const char *amzn, char out[NA_TRACE_ID_LEN + 1])
{
    char id[NA_TRACE_ID_LEN + 1];

    if ((traceparent && from_traceparent(traceparent, id)) || (amzn && from_amzn(amzn, id))) {
        memcpy(out, id, sizeof(id));
        return true;
    }
    return false;
}

/*
 * negotiate: Accept header parsing (see include/na/negotiate.h).
 */
#include "na/negotiate.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A quality value: "1", "1.000", "0", "0.5"; -1 when malformed. */
static int parse_q(const char *p, const char *end)
{
    int q = 0, digits = 0;

    if (p >= end || (*p != '0' && *p != '1'))
        return -1;
    q = (*p++ - '0') * 1000;
    if (p < end && *p == '.') {
        for (p++; p < end && isdigit((unsigned char)*p) && digits < 3; p++, digits++)
            q += (*p - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
    }
    p = skip_ws(p, end);
    if (p != end || q > 1000)
        return -1;
    return q;
}

struct candidate {
    const char *type, *subtype;
    int q;           /* in thousandths */
    int specificity; /* of the range that set q: 0 none, 1 * / *, 2 type/ *, 3 exact */
};

static void consider(struct candidate *c, const char *type, size_t tl, const char *sub, size_t sl,
                     int q)
{
    int spec;

    if (tl == 1 && *type == '*' && sl == 1 && *sub == '*')
        spec = 1;
    else if (tl == strlen(c->type) && !strncasecmp(type, c->type, tl) && sl == 1 && *sub == '*')
        spec = 2;
    else if (tl == strlen(c->type) && !strncasecmp(type, c->type, tl) && sl == strlen(c->subtype) &&
             !strncasecmp(sub, c->subtype, sl))
        spec = 3;
    else
        return;
    if (spec > c->specificity) {
        c->specificity = spec;
        c->q = q;
    }
}

enum na_format na_negotiate(const char *accept)
{
    struct candidate json = {"application", "json", 0, 0}, bson = {"application", "bson", 0, 0};
    const char *p = accept, *end;

    if (!accept || !*skip_ws(accept, accept + strlen(accept)))
        return NA_FORMAT_JSON;
    end = accept + strlen(accept);
    while (p < end) {
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        const char *params, *slash, *type, *sub, *tend, *send;
        int q = 1000;

        if (!item_end)
            item_end = end;
        type = skip_ws(p, item_end);
        params = memchr(type, ';', (size_t)(item_end - type));
        if (!params)
            params = item_end;
        slash = memchr(type, '/', (size_t)(params - type));
        p = item_end + 1;
        if (!slash)
            continue; /* not a media range: ignore it */
        tend = slash;
        sub = slash + 1;
        send = params;
        while (send > sub && (send[-1] == ' ' || send[-1] == '\t'))
            send--;
        /* Parameters: only q matters here. */
        for (const char *a = params; a < item_end;) {
            const char *next = memchr(a + 1, ';', (size_t)(item_end - a - 1));
            const char *k = skip_ws(a + 1, item_end);

            if (!next)
                next = item_end;
            if (next - k >= 2 && (k[0] == 'q' || k[0] == 'Q') && k[1] == '=') {
                q = parse_q(k + 2, next);
                if (q < 0)
                    q = 0; /* a malformed weight counts as "not acceptable" */
            }
            a = next;
        }
        if (tend == type || send == sub)
            continue;
        consider(&json, type, (size_t)(tend - type), sub, (size_t)(send - sub), q);
        consider(&bson, type, (size_t)(tend - type), sub, (size_t)(send - sub), q);
    }
    if (json.q <= 0 && bson.q <= 0)
        return NA_FORMAT_NONE;
    return bson.q > json.q ? NA_FORMAT_BSON : NA_FORMAT_JSON;
}

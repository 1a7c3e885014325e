/*
 * router: the route table and path matching (see include/na/router.h).
 */
#include "na/router.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define READ (NA_METHOD_GET | NA_METHOD_HEAD | NA_METHOD_OPTIONS)

static const struct route {
    const char *pattern; /* "{}" marks a parameter segment */
    enum na_route route;
    unsigned methods;
    unsigned flag; /* the na_router_flags bit that switches it on; 0: always */
    bool exact;    /* letters compare as they are, not folded */
} routes[] = {
    {"/health", NA_ROUTE_HEALTH, READ, 0, false},
    {"/health/detailed", NA_ROUTE_HEALTH_DETAILED, READ, 0, false},
    {"/api/info", NA_ROUTE_INFO, READ, 0, false},
    {"/openapi.json", NA_ROUTE_OPENAPI, READ, 0, false},
    {"/api/items", NA_ROUTE_ITEMS, READ | NA_METHOD_POST, 0, false},
    {"/api/items/{}", NA_ROUTE_ITEM, READ | NA_METHOD_PUT | NA_METHOD_DELETE, 0, false},
    {"/api/delay/{}", NA_ROUTE_DELAY, READ, NA_ROUTER_LOADTEST, false},
    {"/api/status/{}", NA_ROUTE_STATUS, READ, NA_ROUTER_LOADTEST, false},
    {"/api/cpu/{}", NA_ROUTE_CPU, READ, NA_ROUTER_LOADTEST, false},
    {"/api/payload/{}", NA_ROUTE_PAYLOAD, READ, NA_ROUTER_LOADTEST, false},
    {"/api/echo", NA_ROUTE_ECHO, NA_METHOD_POST | NA_METHOD_OPTIONS, NA_ROUTER_LOADTEST, false},
    {"/health/disable", NA_ROUTE_HEALTH_DISABLE, NA_METHOD_POST | NA_METHOD_OPTIONS,
     NA_ROUTER_LOADTEST, false},
    {"/health/enable", NA_ROUTE_HEALTH_ENABLE, NA_METHOD_POST | NA_METHOD_OPTIONS,
     NA_ROUTER_LOADTEST, false},
    /*
     * Exact: a load balancer's path rules compare case-sensitively, so a
     * rule that keeps /metrics from the internet must meet the one spelling
     * that reaches it here (/METRICS does not).
     */
    {"/metrics", NA_ROUTE_METRICS, READ, NA_ROUTER_METRICS, true},
};

/* By enum na_route: the parameter named as the OpenAPI document names it. */
static const char *const templates[NA_ROUTE_LAST_ + 1] = {
    [NA_ROUTE_NONE] = "unmatched",
    [NA_ROUTE_HEALTH] = "/health",
    [NA_ROUTE_HEALTH_DETAILED] = "/health/detailed",
    [NA_ROUTE_INFO] = "/api/info",
    [NA_ROUTE_ITEMS] = "/api/items",
    [NA_ROUTE_ITEM] = "/api/items/{id}",
    [NA_ROUTE_DELAY] = "/api/delay/{ms}",
    [NA_ROUTE_STATUS] = "/api/status/{code}",
    [NA_ROUTE_METRICS] = "/metrics",
    [NA_ROUTE_OPENAPI] = "/openapi.json",
    [NA_ROUTE_CPU] = "/api/cpu/{ms}",
    [NA_ROUTE_PAYLOAD] = "/api/payload/{bytes}",
    [NA_ROUTE_ECHO] = "/api/echo",
    [NA_ROUTE_HEALTH_DISABLE] = "/health/disable",
    [NA_ROUTE_HEALTH_ENABLE] = "/health/enable",
};

static const struct {
    const char *name;
    enum na_method bit;
} methods[] = {
    {"GET", NA_METHOD_GET},         {"HEAD", NA_METHOD_HEAD},     {"POST", NA_METHOD_POST},
    {"PUT", NA_METHOD_PUT},         {"DELETE", NA_METHOD_DELETE}, {"PATCH", NA_METHOD_PATCH},
    {"OPTIONS", NA_METHOD_OPTIONS},
};

enum na_method na_method_parse(const char *method)
{
    /* Method names are case-sensitive (RFC 9110, 9.1). */
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (!strcmp(method, methods[i].name))
            return methods[i].bit;
    }
    return NA_METHOD_OTHER;
}

unsigned na_method_index(enum na_method m)
{
    unsigned i = 0;

    while (i < 7 && !((unsigned)m & (1u << i)))
        i++;
    return i;
}

const char *na_method_name(unsigned index)
{
    return index < sizeof(methods) / sizeof(methods[0]) ? methods[index].name : "OTHER";
}

const char *na_router_template(enum na_route route)
{
    return (unsigned)route <= NA_ROUTE_LAST_ ? templates[route] : templates[NA_ROUTE_NONE];
}

/*
 * Matches one pattern. On success sets the parameter (if the pattern has
 * one) and returns true.
 */
static bool match_one(const char *pat, const char *path, bool exact, const char **param,
                      size_t *param_len)
{
    while (*pat) {
        if (pat[0] == '{') {
            size_t n = strcspn(path, "/");

            if (!n)
                return false;
            *param = path;
            *param_len = n;
            path += n;
            pat += 2;
            continue;
        }
        /* Patterns are lower case; only letters fold. */
        char c = !exact && *path >= 'A' && *path <= 'Z' ? (char)(*path | 0x20) : *path;

        if (c != *pat)
            return false;
        pat++;
        path++;
    }
    return path[0] == '\0' || (path[0] == '/' && path[1] == '\0');
}

void na_router_match(const char *path, unsigned flags, struct na_match *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *param = NULL;
        size_t param_len = 0;

        if (routes[i].flag && !(flags & routes[i].flag))
            continue;
        if (match_one(routes[i].pattern, path, routes[i].exact, &param, &param_len)) {
            out->route = routes[i].route;
            out->methods = routes[i].methods;
            out->param = param;
            out->param_len = param_len;
            /* Escapes in the parameter decode (/api/items/%31 is item 1), as in Express. */
            if (param && memchr(param, '%', param_len) && param_len < sizeof(out->param_buf)) {
                memcpy(out->param_buf, param, param_len);
                out->param_buf[param_len] = '\0';
                out->param = out->param_buf;
                out->param_len = na_router_unescape(out->param_buf);
            }
            return;
        }
    }
}

void na_router_allow(unsigned mask, char *out, size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        int n;

        if (!(mask & methods[i].bit))
            continue;
        n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", methods[i].name);
        if (n < 0 || (size_t)n >= cap - len) {
            out[len] = '\0'; /* whole names only */
            return;
        }
        len += (size_t)n;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t na_router_unescape(char *s)
{
    char *r = s, *w = s;

    while (*r) {
        int hi, lo;

        /*
         * %00 would cut the string short; %2F would make a separator that
         * was not one. Both stay as they came.
         */
        if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
            (hi | lo) && (hi << 4 | lo) != '/') {
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/*
 * Unit tests for openapi: the document compiled in is JSON, and it names
 * every route of the router with exactly the methods the router serves,
 * and nothing else (a route added to one and not the other fails here).
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "na/openapi.h"
#include "na/router.h"

static const struct {
    const char *op;
    enum na_method bit;
} ops[] = {
    {"get", NA_METHOD_GET},         {"head", NA_METHOD_HEAD},     {"post", NA_METHOD_POST},
    {"put", NA_METHOD_PUT},         {"delete", NA_METHOD_DELETE}, {"patch", NA_METHOD_PATCH},
    {"options", NA_METHOD_OPTIONS},
};

/* A path the template matches: each {param} becomes 1. */
static void concrete(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = tmpl; *p && n + 2 < cap; p++) {
        if (*p == '{') {
            out[n++] = '1';
            p = strchr(p, '}');
            assert_non_null(p);
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static void test_document_is_json(void **state)
{
    cJSON *doc = cJSON_ParseWithLength(na_openapi_json, na_openapi_len);

    (void)state;
    assert_non_null(doc);
    assert_int_equal(strlen(na_openapi_json), na_openapi_len);
    assert_string_equal(cJSON_GetObjectItem(doc, "openapi")->valuestring, "3.1.0");
    cJSON_Delete(doc);
}

static void test_routes_and_methods_agree(void **state)
{
    cJSON *doc = cJSON_ParseWithLength(na_openapi_json, na_openapi_len), *paths, *path;
    unsigned all = NA_ROUTER_LOADTEST | NA_ROUTER_METRICS, documented = 0;

    (void)state;
    paths = cJSON_GetObjectItem(doc, "paths");
    assert_non_null(paths);
    for (unsigned r = NA_ROUTE_NONE + 1; r <= NA_ROUTE_LAST_; r++) {
        const char *tmpl = na_router_template((enum na_route)r);
        struct na_match m;
        unsigned in_doc = 0;
        char sample[128];

        path = cJSON_GetObjectItem(paths, tmpl);
        if (!path)
            fail_msg("route %s is not in the document", tmpl);
        concrete(tmpl, sample, sizeof(sample));
        na_router_match(sample, all, &m);
        assert_int_equal(m.route, r);
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (cJSON_GetObjectItem(path, ops[i].op))
                in_doc |= ops[i].bit;
        if (in_doc != m.methods)
            fail_msg("%s: the document has methods %#x, the router %#x", tmpl, in_doc, m.methods);
    }
    cJSON_ArrayForEach(path, paths)
    {
        struct na_match m;
        char sample[128];

        concrete(path->string, sample, sizeof(sample));
        na_router_match(sample, all, &m);
        if (m.route == NA_ROUTE_NONE || strcmp(na_router_template(m.route), path->string))
            fail_msg("the document's %s is no route", path->string);
        documented++;
    }
    assert_int_equal(documented, NA_ROUTE_LAST_);
    cJSON_Delete(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_is_json),
        cmocka_unit_test(test_routes_and_methods_agree),
    };

    return RUN(tests);
}

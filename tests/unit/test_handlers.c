/*
 * Unit tests for handlers: each route's reply, 404/405/OPTIONS, and the
 * load-testing routes' parameters, against the embedded store.
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "na/handlers.h"

static struct na_config cfg;
static struct na_store *store;
static struct na_app app;

static size_t last_len; /* body length of the last run() */

/* An empty environment: the test must not depend on the caller's. */
static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

static int setup(void **state)
{
    static const struct na_sysinfo si = {.cpus = 2, .nofile = 4096};
    struct na_config_error err;

    (void)state;
    if (na_config_load(&cfg, no_env, NULL, &si, &err))
        return -1;
    cfg.loadtest_routes = true;
    store = na_store_memory_new();
    return store && !na_app_init(&app, &cfg, store) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    na_app_release(&app);
    na_store_free(store);
    return 0;
}

/* Runs a request; returns the parsed body (or NULL if empty). */
static cJSON *run(const char *method, const char *path, struct na_reply *r)
{
    struct na_request req = {
        .method = na_method_parse(method), .method_name = method, .path = path};
    char text[4096];

    na_router_match(path, cfg.loadtest_routes, &req.match);
    na_reply_reset(r);
    na_handle(&app, &req, r);
    assert_true(r->len < sizeof(text));
    memcpy(text, r->body, r->len);
    text[r->len] = '\0';
    last_len = r->len;
    na_reply_release(r);
    return last_len ? cJSON_Parse(text) : NULL;
}

static int error_status(cJSON *j)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "status")->valueint;
}

static void test_routes(void **state)
{
    struct na_reply r;
    cJSON *j;

    (void)state;
    j = run("GET", "/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "healthy");
    cJSON_Delete(j);

    j = run("GET", "/api/info", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "service")->valuestring, "node-api");
    cJSON_Delete(j);

    /* Twice: the second answer comes from the cache and must be the same. */
    for (int i = 0; i < 2; i++) {
        j = run("GET", "/api/items", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, 3);
        assert_true(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0), "price")
                ->valuedouble == 29.99);
        cJSON_Delete(j);
    }

    j = run("GET", "/health/detailed", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "healthy");
    cJSON_Delete(j);
}

static void test_errors(void **state)
{
    struct na_reply r;
    cJSON *j;

    (void)state;
    j = run("GET", "/nope", &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(error_status(j), 404);
    cJSON_Delete(j);

    j = run("DELETE", "/api/items", &r);
    assert_int_equal(r.status, 405);
    assert_int_equal(error_status(j), 405);
    assert_string_equal(r.allow, "GET, HEAD, OPTIONS");
    cJSON_Delete(j);

    j = run("OPTIONS", "/api/info", &r);
    assert_int_equal(r.status, 204);
    assert_null(j);
    assert_string_equal(r.allow, "GET, HEAD, OPTIONS");
}

static void test_draining_health(void **state)
{
    struct na_reply r;
    cJSON *j;

    (void)state;
    atomic_store(&app.draining, true);
    j = run("GET", "/health", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "draining");
    cJSON_Delete(j);
    j = run("GET", "/health/detailed", &r);
    assert_int_equal(r.status, 503);
    cJSON_Delete(j);
    atomic_store(&app.draining, false);
}

static void test_loadtest_routes(void **state)
{
    struct na_reply r;
    cJSON *j;

    (void)state;
    j = run("GET", "/api/delay/250", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(last_len, strlen("{\"delayed_ms\":250}"));
    assert_int_equal(r.delay_ms, 250);
    assert_int_equal(cJSON_GetObjectItem(j, "delayed_ms")->valueint, 250);
    cJSON_Delete(j);
    j = run("GET", "/api/delay/30001", &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.delay_ms, 0);
    cJSON_Delete(j);
    j = run("GET", "/api/delay/-1", &r);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);

    j = run("GET", "/api/status/503", &r);
    assert_int_equal(r.status, 503);
    assert_int_equal(error_status(j), 503);
    cJSON_Delete(j);
    j = run("GET", "/api/status/201", &r);
    assert_int_equal(r.status, 201);
    cJSON_Delete(j);
    j = run("GET", "/api/status/204", &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(last_len, 0);
    j = run("GET", "/api/status/99", &r);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);
    j = run("GET", "/api/status/abc", &r);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_draining_health),
        cmocka_unit_test(test_loadtest_routes),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests for handlers: each route's reply, 404/405/OPTIONS, the
 * load-testing routes' parameters, and the item routes' rules, against the
 * embedded store.
 */
#include "unit.h"

#include <bson/bson.h>
#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

#include "na/handlers.h"

static struct na_config cfg;
static struct na_store *store;
static struct na_app app;

/* Headers and query arguments of the request under test. */
static const char *const *headers, *const *query;
static size_t last_len;      /* body length of the last run() */
static char last_body[8192]; /* and its bytes */
static bool resumed;

static const char *find(const char *const *kv, const char *name)
{
    for (; kv && kv[0]; kv += 2) {
        if (!strcasecmp(kv[0], name))
            return kv[1];
    }
    return NULL;
}

static const char *lookup(const struct na_request *req, enum na_lookup kind, const char *name)
{
    (void)req;
    return find(kind == NA_LOOKUP_HEADER ? headers : query, name);
}

static void resume(struct na_request *req)
{
    (void)req;
    resumed = true;
}

/* An empty environment: the test must not depend on the caller's. */
static const char *no_env(const char *name, void *ctx)
{
    (void)ctx;
    return strcmp(name, "API_KEY") ? NULL : "secret-key";
}

static int setup(void **state)
{
    static const struct na_sysinfo si = {.cpus = 2, .nofile = 4096};
    struct na_config_error err;

    (void)state;
    if (na_config_load(&cfg, no_env, NULL, &si, &err))
        return -1;
    cfg.loadtest_routes = true;
    store = na_store_memory_new(1000, 100);
    return store && !na_app_init(&app, &cfg, store) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    na_app_release(&app);
    na_store_free(store);
    return 0;
}

/*
 * Runs a request the way the server does (precheck, handler, store call);
 * returns the parsed body (NULL if empty or not JSON).
 */
static cJSON *run_with(const char *method, const char *path, const char *body, struct na_reply *r,
                       struct na_request *req)
{
    char *text = last_body;

    memset(req, 0, sizeof(*req));
    na_request_init(req, &app, method, path,
                    &(struct na_request_hooks){.lookup = lookup, .resume = resume}, r);
    req->body = body;
    req->body_len = body ? strlen(body) : 0;
    resumed = false;
    if (!na_handle_precheck(req)) {
        na_handle(req);
        if (r->defer == NA_DEFER_STORE) {
            na_store_submit(store, &req->call);
            assert_true(resumed); /* the embedded store finishes inline */
        }
    }
    assert_true(r->len < sizeof(last_body));
    memcpy(text, r->body ? r->body : "", r->len);
    text[r->len] = '\0';
    last_len = r->len;
    na_reply_release(r);
    return last_len ? cJSON_Parse(text) : NULL;
}

static cJSON *run(const char *method, const char *path, struct na_reply *r)
{
    static struct na_request req;

    return run_with(method, path, NULL, r, &req);
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
    headers = query = NULL;
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
    headers = query = NULL;
    j = run("GET", "/nope", &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(error_status(j), 404);
    cJSON_Delete(j);

    j = run("PATCH", "/api/items", &r);
    assert_int_equal(r.status, 405);
    assert_int_equal(error_status(j), 405);
    assert_string_equal(r.allow, "GET, HEAD, POST, OPTIONS");
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
    assert_int_equal(r.delay_ms, 250);
    assert_int_equal(r.defer, NA_DEFER_TIMER);
    assert_int_equal(last_len, strlen("{\"delayed_ms\":250}"));
    cJSON_Delete(j);
    j = run("GET", "/api/delay/30001", &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.defer, NA_DEFER_NONE);
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
}

static void test_item_writes(void **state)
{
    static const char *const auth_json[] = {"Authorization", "Bearer secret-key", "Content-Type",
                                            "application/json", NULL};
    static const char *const no_auth[] = {"Content-Type", "application/json", NULL};
    static const char *const wrong_auth[] = {"X-API-Key", "nope", "Content-Type",
                                             "application/json", NULL};
    static const char *const no_type[] = {"X-API-Key", "secret-key", NULL};
    struct na_request req;
    struct na_reply r;
    cJSON *j;

    (void)state;
    query = NULL;
    headers = auth_json;
    j = run_with("POST", "/api/items", "{\"name\":\"Gadget\",\"price\":5.5}", &r, &req);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.location, "/api/items/4");
    assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, 4);
    cJSON_Delete(j);
    /* The list cache saw the write. */
    j = run("GET", "/api/items", &r);
    assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, 4);
    cJSON_Delete(j);

    j = run_with("PUT", "/api/items/4", "{\"name\":\"Gadget 2\",\"price\":6}", &r, &req);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring, "Gadget 2");
    cJSON_Delete(j);
    j = run_with("PUT", "/api/items/99", "{\"name\":\"x\",\"price\":6}", &r, &req);
    assert_int_equal(r.status, 404);
    cJSON_Delete(j);
    j = run_with("POST", "/api/items", "{\"name\":\"x\"}", &r, &req);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);

    headers = no_auth;
    j = run_with("POST", "/api/items", "{\"name\":\"x\",\"price\":1}", &r, &req);
    assert_int_equal(r.status, 401);
    assert_true(r.challenge);
    cJSON_Delete(j);
    headers = wrong_auth;
    j = run("DELETE", "/api/items/4", &r);
    assert_int_equal(r.status, 401);
    cJSON_Delete(j);
    headers = no_type;
    j = run_with("POST", "/api/items", "{\"name\":\"x\",\"price\":1}", &r, &req);
    assert_int_equal(r.status, 415);
    cJSON_Delete(j);
    j = run("DELETE", "/api/items/4", &r);
    assert_int_equal(r.status, 204);
    j = run("DELETE", "/api/items/4", &r);
    assert_int_equal(r.status, 404);
    cJSON_Delete(j);
}

static void test_item_reads(void **state)
{
    static const char *const bson_accept[] = {"Accept", "application/bson", NULL};
    static const char *const html_accept[] = {"Accept", "text/html", NULL};
    static const char *const page[] = {"limit", "2", "offset", "1", NULL};
    static const char *const bad_limit[] = {"limit", "1001", NULL};
    struct na_reply r;
    bson_iter_t it;
    bson_t doc;
    cJSON *j;

    (void)state;
    headers = NULL;
    query = page;
    j = run("GET", "/api/items", &r);
    assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, 2);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0), "id")->valueint,
        2);
    cJSON_Delete(j);
    query = bad_limit;
    j = run("GET", "/api/items", &r);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);
    query = NULL;
    j = run("GET", "/api/items/abc", &r);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);
    j = run("GET", "/api/items/2", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring, "Widget B");
    cJSON_Delete(j);

    headers = bson_accept;
    cJSON_Delete(run("GET", "/api/items/2", &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/bson");
    assert_true(bson_init_static(&doc, (const uint8_t *)last_body, last_len));
    assert_true(bson_iter_init_find(&it, &doc, "name"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "Widget B");
    assert_true(bson_iter_init_find(&it, &doc, "price"));
    assert_true(bson_iter_double(&it) == 49.99);
    headers = html_accept;
    j = run("GET", "/api/items", &r);
    assert_int_equal(r.status, 406);
    cJSON_Delete(j);
    headers = NULL;
}

static void test_idempotency_key(void **state)
{
    static const char *const keyed[] = {
        "X-API-Key", "secret-key", "Content-Type", "application/json", "Idempotency-Key",
        "k-1",       NULL};
    static const char *const bad_key[] = {
        "X-API-Key", "secret-key", "Content-Type", "application/json", "Idempotency-Key",
        "\"open",    NULL};
    struct na_request req;
    struct na_reply r;
    cJSON *j;
    int id;

    (void)state;
    query = NULL;
    headers = keyed;
    j = run_with("POST", "/api/items", "{\"name\":\"Once\",\"price\":1}", &r, &req);
    assert_int_equal(r.status, 201);
    assert_false(r.replayed);
    id = cJSON_GetObjectItem(j, "id")->valueint;
    cJSON_Delete(j);
    j = run_with("POST", "/api/items", "{\"price\":1,\"name\":\"Once\"}", &r, &req);
    assert_int_equal(r.status, 201);
    assert_true(r.replayed);
    assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, id);
    cJSON_Delete(j);
    j = run_with("POST", "/api/items", "{\"name\":\"Twice\",\"price\":1}", &r, &req);
    assert_int_equal(r.status, 422);
    cJSON_Delete(j);
    /* A malformed key is refused before the body is read. */
    headers = bad_key;
    j = run_with("POST", "/api/items", NULL, &r, &req);
    assert_int_equal(r.status, 400);
    cJSON_Delete(j);
    assert_non_null(strstr(last_body, "Idempotency-Key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_draining_health), cmocka_unit_test(test_loadtest_routes),
        cmocka_unit_test(test_item_writes),     cmocka_unit_test(test_item_reads),
        cmocka_unit_test(test_idempotency_key),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

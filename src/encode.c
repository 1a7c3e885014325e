/*
 * encode: JSON response bodies (see include/na/encode.h).
 */
#include "na/encode.h"
#include "na/taskmeta.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

size_t na_encode_price(int64_t cents, char out[32])
{
    uint64_t u = cents < 0 ? 0 - (uint64_t)cents : (uint64_t)cents;
    uint64_t whole = u / 100, frac = u % 100;
    int n;

    if (!frac)
        n = snprintf(out, 32, "%s%" PRIu64, cents < 0 ? "-" : "", whole);
    else if (frac % 10 == 0)
        n = snprintf(out, 32, "%s%" PRIu64 ".%" PRIu64, cents < 0 ? "-" : "", whole, frac / 10);
    else
        n = snprintf(out, 32, "%s%" PRIu64 ".%02" PRIu64, cents < 0 ? "-" : "", whole, frac);
    return (size_t)n;
}

/* Prints and frees `root`; returns the text (caller frees) or NULL. */
static char *finish(cJSON *root, size_t *len)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;

    cJSON_Delete(root);
    if (text)
        *len = strlen(text);
    return text;
}

/*
 * Adds an integer as raw text: cJSON prints numbers through a double, which
 * turns 5000000000000001 into 5e+15 and every id past 2^53 into a neighbour.
 */
static bool add_int(cJSON *o, const char *key, int64_t v)
{
    char text[24];

    snprintf(text, sizeof(text), "%" PRId64, v);
    return cJSON_AddRawToObject(o, key, text) != NULL;
}

/* Adds id, name and price to `o`; false if out of memory. */
static bool add_item_fields(cJSON *o, const struct na_item *item)
{
    char price[32];

    na_encode_price(item->price_cents, price);
    /* The price goes in as raw text so cJSON's double printing cannot round it. */
    return add_int(o, "id", item->id) && cJSON_AddStringToObject(o, "name", item->name) &&
           cJSON_AddRawToObject(o, "price", price);
}

char *na_encode_items(const struct na_item *items, size_t n, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "items");

    if (!arr)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();

        if (!o)
            goto fail;
        cJSON_AddItemToArray(arr, o);
        if (!add_item_fields(o, &items[i]))
            goto fail;
    }
    if (!add_int(root, "count", (int64_t)n))
        goto fail;
    return finish(root, len);
fail:
    cJSON_Delete(root);
    return NULL;
}

char *na_encode_item(const struct na_item *item, size_t *len)
{
    cJSON *root = cJSON_CreateObject();

    if (!root || !add_item_fields(root, item)) {
        cJSON_Delete(root);
        return NULL;
    }
    return finish(root, len);
}

char *na_encode_info(const char *service, const char *version, const char *environment,
                     const char *hostname, const struct na_taskmeta *task, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *t;

    if (!cJSON_AddStringToObject(root, "service", service) ||
        !cJSON_AddStringToObject(root, "version", version) ||
        !cJSON_AddStringToObject(root, "environment", environment) ||
        !cJSON_AddStringToObject(root, "hostname", hostname))
        goto fail;
    if (task) {
        /* Empty members (not in the metadata) are left out rather than sent as "". */
        const char *const kv[][2] = {
            {"cluster", task->cluster},
            {"taskArn", task->task_arn},
            {"family", task->family},
            {"revision", task->revision},
            {"availabilityZone", task->availability_zone},
            {"launchType", task->launch_type},
        };

        t = cJSON_AddObjectToObject(root, "task");
        if (!t)
            goto fail;
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
            if (kv[i][1][0] && !cJSON_AddStringToObject(t, kv[i][0], kv[i][1]))
                goto fail;
        }
    }
    return finish(root, len);
fail:
    cJSON_Delete(root);
    return NULL;
}

void na_encode_health(struct na_buf *b, const char *status, const char *hostname, double uptime_s,
                      int64_t now_ms, const char *reason)
{
    long long ms = (long long)(uptime_s * 1000.0);
    /* Always with a fraction, as process.uptime() is never whole; integers, not printf. */
    char frac[5] = {'.', (char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10),
                    (char)('0' + ms % 10), '\0'};

    na_buf_puts(b, "{\"status\":\"");
    na_buf_puts(b, status);
    na_buf_puts(b, "\",\"hostname\":");
    na_buf_json_str(b, hostname, strlen(hostname), 255);
    na_buf_puts(b, ",\"uptime\":");
    na_buf_int(b, ms / 1000);
    na_buf_puts(b, frac);
    na_buf_puts(b, ",\"timestamp\":");
    na_buf_int(b, now_ms);
    if (reason) {
        na_buf_puts(b, ",\"reason\":");
        na_buf_json_str(b, reason, strlen(reason), 200);
    }
    na_buf_putc(b, '}');
}

void na_encode_error(struct na_buf *b, unsigned status, const char *message)
{
    na_buf_puts(b, "{\"error\":{\"status\":");
    na_buf_int(b, status);
    na_buf_puts(b, ",\"message\":");
    /*
     * Escaping can grow a byte to six ("\ufffd"): take no more of the message
     * than fits whole with the closing "}}", so the body is always valid JSON.
     */
    na_buf_json_str(b, message, strlen(message), (b->cap - b->len - 5) / 6);
    na_buf_puts(b, "}}");
}

static bool add_bytes(cJSON *o, const char *key, uint64_t v)
{
    return v ? add_int(o, key, (int64_t)v) : cJSON_AddNullToObject(o, key) != NULL;
}

/* The database check: the round trip's outcome and latency, and the pool. */
static bool add_database(cJSON *checks, const struct na_health_report *r)
{
    cJSON *db = cJSON_AddObjectToObject(checks, "database");
    cJSON *pool;

    if (!db || !cJSON_AddStringToObject(db, "status", r->store_ok ? "pass" : "fail") ||
        !cJSON_AddNumberToObject(db, "latency_ms", r->store_latency_ms) ||
        (r->store_detail && !cJSON_AddStringToObject(db, "detail", r->store_detail)))
        return false;
    pool = cJSON_AddObjectToObject(db, "pool");
    return pool && add_int(pool, "size", r->store.pool_size) &&
           add_int(pool, "connected", r->store.pool_connected) &&
           add_int(pool, "busy", r->store.pool_busy) &&
           add_int(pool, "waiting", r->store.pool_waiting);
}

char *na_encode_health_detailed(const struct na_health_report *r, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *status = cJSON_AddStringToObject(root, "status", r->status);
    cJSON *checks = cJSON_AddObjectToObject(root, "checks");
    cJSON *store = cJSON_AddObjectToObject(checks, "store");
    cJSON *mem = cJSON_AddObjectToObject(checks, "memory");
    cJSON *conns;

    if (!status || !store || !mem)
        goto fail;
    if (!cJSON_AddStringToObject(store, "status", r->store_ok ? "pass" : "fail") ||
        !cJSON_AddStringToObject(store, "backend", r->store.backend))
        goto fail;
    if (r->store.items >= 0 && !add_int(store, "items", r->store.items))
        goto fail;
    if (r->store_detail && !cJSON_AddStringToObject(store, "detail", r->store_detail))
        goto fail;
    if (r->store.has_pool && !add_database(checks, r))
        goto fail;
    if (!cJSON_AddStringToObject(mem, "status", r->memory_ok ? "pass" : "fail") ||
        !add_int(mem, "rss_bytes", (int64_t)r->rss_bytes) ||
        !add_bytes(mem, "charged_bytes", r->charged_bytes) ||
        !add_bytes(mem, "limit_bytes", r->limit_bytes) ||
        !add_bytes(mem, "shed_threshold_bytes", r->shed_bytes))
        goto fail;
    if (r->failing_on_purpose) {
        cJSON *toggle = cJSON_AddObjectToObject(checks, "toggle");

        if (!toggle || !cJSON_AddStringToObject(toggle, "status", "fail") ||
            !cJSON_AddStringToObject(toggle, "detail", "failing on purpose: POST /health/disable"))
            goto fail;
    }
    conns = cJSON_AddObjectToObject(root, "connections");
    if (!conns || !add_int(conns, "open", (int64_t)r->connections) ||
        !add_int(conns, "max", (int64_t)r->max_connections) ||
        !add_int(root, "in_flight", (int64_t)r->in_flight) ||
        !cJSON_AddNumberToObject(root, "uptime", r->uptime_s) ||
        !cJSON_AddStringToObject(root, "version", r->version) ||
        !cJSON_AddStringToObject(root, "hostname", r->hostname) ||
        !add_int(root, "timestamp", r->timestamp_ms))
        goto fail;
    return finish(root, len);
fail:
    cJSON_Delete(root);
    return NULL;
}

/*
 * config: environment parsing and validation (see include/na/config.h).
 */
#include "na/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "na/buf.h"
#include "na/store.h"

static const struct {
    const char *name, *def, *help;
} variables[] = {
    {"PORT", "3000", "TCP port to listen on (0: any free port)"},
    {"HOST", "0.0.0.0", "address to listen on (IPv4 or IPv6 literal, or a name)"},
    {"NODE_ENV", "development", "reported as \"environment\" by /api/info"},
    {"APP_VERSION", NA_VERSION, "reported as \"version\" by /api/info"},
    {"LOG_LEVEL", "info", "debug, info, warn or error"},
    {"SERVICE_NAME", "node-api", "\"service\" in /api/info and in every log line"},
    {"THREADS", "usable CPUs", "worker threads (CPU affinity and cgroup quota)"},
    {"MAX_CONNECTIONS", "from memory", "open connections at most"},
    {"KEEPALIVE_TIMEOUT_S", "65", "idle connection timeout (keep above the ALB's 60 s)"},
    {"SHUTDOWN_TIMEOUT_S", "25", "drain deadline after SIGTERM (keep under stopTimeout)"},
    {"MAX_BODY_BYTES", "1048576", "largest request body accepted (413 above)"},
    {"MEMORY_LIMIT_MB", "cgroup limit", "memory budget in MiB (none without a limit)"},
    {"MEMORY_SHED_PERCENT", "90", "RSS share of the budget above which requests get 503"},
    {"ACCESS_LOG", "on", "on, off, or a sampling ratio such as 0.01"},
    {"ENABLE_LOADTEST_ROUTES", "0",
     "1 enables the load-testing routes and faults (README: load-testing controls)"},
    {"FAULT_ERROR_PERCENT", "0", "share of API requests answered 500 or 503 (0 to 100)"},
    {"FAULT_DELAY_MS", "0", "latency added to API requests: min-max ms (up to 30000)"},
    {"METRICS_PORT", "9464", "Prometheus /metrics port (PORT: on the main port; off: none)"},
    {"METRICS_EMF", "on on ECS", "CloudWatch embedded metric format lines on stdout"},
    {"METRICS_EMF_INTERVAL_S", "60", "seconds each metrics line covers"},
    {"METRICS_EMF_NAMESPACE", "node-api", "the CloudWatch namespace of those metrics"},
    {"DATABASE_URL", "unset", "PostgreSQL URL or conninfo; unset: embedded store"},
    {"API_KEY", "unset", "key for POST/PUT/DELETE (Bearer or X-API-Key); unset: 403"},
    {"DB_POOL_SIZE", "10", "database connections (one per database worker)"},
    {"DB_WRITE_GROUP_MAX", "32", "queued plain POSTs written by one statement, at most (1: alone)"},
    {"DB_CONNECT_TIMEOUT_S", "5", "connect timeout per attempt"},
    {"DB_STATEMENT_TIMEOUT_MS", "5000", "statement_timeout of every connection"},
    {"DB_ACQUIRE_TIMEOUT_MS", "1000", "wait for a free connection, then 503"},
    {"DB_HEALTH_TIMEOUT_MS", "1000", "deadline of /health/detailed's database round trip"},
    {"DB_MIGRATE", "on", "migrate the schema at start (off: run `node-api migrate`)"},
    {"IDEMPOTENCY_TTL_S", "86400", "how long an Idempotency-Key and its outcome are kept"},
    {"IDEMPOTENCY_MAX_KEYS", "10000", "Idempotency-Keys the embedded store keeps at most"},
    {"MEMORY_STORE_MAX_ITEMS", "10000", "items the embedded store holds at most (507 above)"},
    {"HEADERS_TIMEOUT_S", "60",
     "a request's headers must arrive within this (Node's headersTimeout)"},
    {"REQUEST_TIMEOUT_S", "300", "and its body within this (Node's requestTimeout)"},
    {"SEND_TIMEOUT_S", "60", "and its answer sent within this of being ready"},
    {"SHED_UNHEALTHY_AFTER_S", "60", "shedding load this long turns /health to 503"},
};

const char *na_config_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

void na_config_print_help(FILE *out)
{
    fputs("Environment (an empty value counts as unset):\n", out);
    for (size_t i = 0; i < sizeof(variables) / sizeof(variables[0]); i++)
        fprintf(out, "  %-24s %-14s %s\n", variables[i].name, variables[i].def, variables[i].help);
}

struct loader {
    na_getenv_fn get;
    void *ctx;
    struct na_config_error *err;
};

static int fail(struct loader *l, const char *var, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, const char *var, const char *fmt, ...)
{
    va_list ap;

    snprintf(l->err->var, sizeof(l->err->var), "%s", var);
    va_start(ap, fmt);
    vsnprintf(l->err->message, sizeof(l->err->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* The variable's value, or NULL when unset or empty. */
static const char *value(struct loader *l, const char *var)
{
    const char *v = l->get(var, l->ctx);

    return v && *v ? v : NULL;
}

/* Quotes a bad value for a message: JSON-escaped and cut at 64 bytes. */
static const char *quoted(const char *v, char *storage, size_t cap)
{
    struct na_buf b;

    na_buf_init(&b, storage, cap);
    na_buf_json_str(&b, v, strlen(v), 64);
    return storage;
}

static int get_uint(struct loader *l, const char *var, uint64_t def, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    const char *v = value(l, var);
    char q[400], *end;
    unsigned long long n;

    if (!v) {
        *out = def;
        return 0;
    }
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return fail(l, var, "%s is not a whole number", quoted(v, q, sizeof(q)));
    }
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || n < min || n > max)
        return fail(l, var, "%s is out of range %llu..%llu", quoted(v, q, sizeof(q)),
                    (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return 0;
}

static int get_uint32(struct loader *l, const char *var, unsigned def, unsigned min, unsigned max,
                      unsigned *out)
{
    uint64_t v;

    if (get_uint(l, var, def, min, max, &v))
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Text that goes into responses: valid UTF-8, no control characters. */
static int get_text(struct loader *l, const char *var, const char *def, char *out, size_t cap)
{
    const char *v = value(l, var);
    char q[400];
    size_t n;

    if (!v)
        v = def;
    n = strlen(v);
    if (n >= cap)
        return fail(l, var, "%s is longer than %zu bytes", quoted(v, q, sizeof(q)), cap - 1);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return fail(l, var, "%s contains control characters", quoted(v, q, sizeof(q)));
    }
    if (!na_utf8_valid(v, n))
        return fail(l, var, "%s is not valid UTF-8", quoted(v, q, sizeof(q)));
    memcpy(out, v, n + 1);
    return 0;
}

static bool word_in(const char *v, const char *const *words)
{
    for (; *words; words++) {
        if (!strcasecmp(v, *words))
            return true;
    }
    return false;
}

static const char *const yes_words[] = {"1", "on", "true", "yes", NULL};
static const char *const no_words[] = {"0", "off", "false", "no", NULL};

static int get_bool(struct loader *l, const char *var, bool def, bool *out)
{
    const char *v = value(l, var);
    char q[400];

    if (!v)
        *out = def;
    else if (word_in(v, yes_words))
        *out = true;
    else if (word_in(v, no_words))
        *out = false;
    else
        return fail(l, var, "%s is not one of 1, 0, on, off, true, false", quoted(v, q, sizeof(q)));
    return 0;
}

static int get_ratio(struct loader *l, const char *var, double *out)
{
    const char *v = value(l, var);
    char q[400], *end;
    double r;

    if (!v || word_in(v, yes_words)) {
        *out = 1.0;
        return 0;
    }
    if (word_in(v, no_words)) {
        *out = 0.0;
        return 0;
    }
    errno = 0;
    r = strtod(v, &end);
    if (errno || *end || end == v || !isdigit((unsigned char)v[0]) || !(r >= 0.0 && r <= 1.0))
        return fail(l, var, "%s is not on, off, or a ratio between 0 and 1",
                    quoted(v, q, sizeof(q)));
    *out = r;
    return 0;
}

/*
 * FAULT_ERROR_PERCENT and FAULT_DELAY_MS. Faults are for load tests: asked
 * for without ENABLE_LOADTEST_ROUTES=1 (a production task given them by
 * mistake), they stop the start rather than fail requests on purpose.
 */
static int get_faults(struct loader *l, bool loadtest, struct na_fault_config *out)
{
    const char *pct = value(l, "FAULT_ERROR_PERCENT"), *delay = value(l, "FAULT_DELAY_MS");
    struct na_fault_config f = {0};
    char q[400];

    if (pct && na_fault_parse_percent(pct, &f.error_ppm))
        return fail(l, "FAULT_ERROR_PERCENT", "%s is not a percentage from 0 to 100",
                    quoted(pct, q, sizeof(q)));
    if (delay && na_fault_parse_delay(delay, &f.delay_min_ms, &f.delay_max_ms))
        return fail(l, "FAULT_DELAY_MS",
                    "%s is not min-max (or one number) in whole ms, min <= max <= %u",
                    quoted(delay, q, sizeof(q)), NA_FAULT_DELAY_MAX_MS);
    if (!loadtest && f.error_ppm)
        return fail(l, "FAULT_ERROR_PERCENT",
                    "injects faults, which needs ENABLE_LOADTEST_ROUTES=1 (a load test, not "
                    "production)");
    if (!loadtest && f.delay_max_ms)
        return fail(l, "FAULT_DELAY_MS",
                    "injects faults, which needs ENABLE_LOADTEST_ROUTES=1 (a load test, not "
                    "production)");
    *out = f;
    return 0;
}

/*
 * A CloudWatch namespace: 1 to 255 of letters, digits and . - _ / # : and
 * space, not beginning with "AWS/" (AWS's own) or ":" (PutMetricData's rules).
 */
static int get_namespace(struct loader *l, char *out, size_t cap)
{
    const char *v = value(l, "METRICS_EMF_NAMESPACE");
    char q[400];

    if (!v)
        v = "node-api";
    if (strlen(v) >= cap)
        return fail(l, "METRICS_EMF_NAMESPACE", "%s is longer than %zu characters",
                    quoted(v, q, sizeof(q)), cap - 1);
    if (!v[strspn(v, " ")])
        return fail(l, "METRICS_EMF_NAMESPACE", "is only spaces: CloudWatch needs a name");
    if (!strncmp(v, "AWS/", 4) || v[0] == ':')
        return fail(l, "METRICS_EMF_NAMESPACE",
                    "%s begins with AWS/ or ':', which CloudWatch keeps for itself",
                    quoted(v, q, sizeof(q)));
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr(".-_/#: ", *p))
            return fail(l, "METRICS_EMF_NAMESPACE",
                        "%s may hold only letters, digits, '.', '-', '_', '/', '#', ':' and spaces",
                        quoted(v, q, sizeof(q)));
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int get_service_name(struct loader *l, char *out, size_t cap)
{
    const char *v = value(l, "SERVICE_NAME");
    char q[400];

    if (!v)
        v = "node-api";
    if (strlen(v) >= cap)
        return fail(l, "SERVICE_NAME", "%s is longer than %zu bytes", quoted(v, q, sizeof(q)),
                    cap - 1);
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return fail(l, "SERVICE_NAME", "%s may hold only letters, digits, '.', '_' and '-'",
                        quoted(v, q, sizeof(q)));
    }
    strcpy(out, v);
    return 0;
}

/*
 * A secret: taken as is (up to cap - 1 bytes), never quoted in a message.
 * The DATABASE_URL is checked by libpq's own parser; its message is not
 * repeated either, as it may quote the password.
 */
static int get_secret(struct loader *l, const char *var, char *out, size_t cap)
{
    const char *v = value(l, var);

    out[0] = '\0';
    if (!v)
        return 0;
    if (strlen(v) >= cap)
        return fail(l, var, "is longer than %zu bytes", cap - 1);
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(l, var, "contains control characters");
    }
    strcpy(out, v);
    return 0;
}

static int get_database_url(struct loader *l, char *out, size_t cap)
{
    PQconninfoOption *opts;
    char *errmsg = NULL;

    if (get_secret(l, "DATABASE_URL", out, cap))
        return -1;
    if (!out[0])
        return 0;
    opts = PQconninfoParse(out, &errmsg);
    PQfreemem(errmsg);
    if (!opts)
        return fail(l, "DATABASE_URL", "is not a valid PostgreSQL URL or connection string");
    /* libpq checks ports only when connecting: a typo would retry forever. */
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "port") || !o->val)
            continue;
        for (const char *p = o->val; *p; p++) {
            if (!isdigit((unsigned char)*p) && *p != ',') {
                PQconninfoFree(opts);
                return fail(l, "DATABASE_URL", "has a port that is not a number");
            }
        }
    }
    PQconninfoFree(opts);
    return 0;
}

void na_config_db_display(const struct na_config *cfg, char *out, size_t cap)
{
    PQconninfoOption *opts;
    const char *user = "", *host = "", *port = "", *db = "";

    out[0] = '\0';
    if (!cfg->database_url[0])
        return;
    opts = PQconninfoParse(cfg->database_url, NULL);
    if (!opts)
        return;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
    }
    snprintf(out, cap, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", host, *port ? ":" : "",
             port, db);
    PQconninfoFree(opts);
}

int na_config_load(struct na_config *cfg, na_getenv_fn get, void *ctx, const struct na_sysinfo *si,
                   struct na_config_error *err)
{
    struct loader l = {.get = get, .ctx = ctx, .err = err};
    struct na_config c = {0};
    struct na_budget_input bi = {.nofile = si->nofile};
    const char *v, *bad_var = NULL;
    char q[400], msg[256];
    uint64_t mem_mb;

    if (get_uint32(&l, "PORT", 3000, 0, 65535, &c.port))
        return -1;
    if (get_text(&l, "HOST", "0.0.0.0", c.host, sizeof(c.host)))
        return -1;
    if (get_text(&l, "NODE_ENV", "development", c.node_env, sizeof(c.node_env)))
        return -1;
    if (get_text(&l, "APP_VERSION", NA_VERSION, c.app_version, sizeof(c.app_version)))
        return -1;
    c.log_level = NA_LOG_INFO;
    v = value(&l, "LOG_LEVEL");
    if (v && na_log_level_parse(v, &c.log_level))
        return fail(&l, "LOG_LEVEL", "%s is not one of debug, info, warn, error",
                    quoted(v, q, sizeof(q)));
    if (get_service_name(&l, c.service_name, sizeof(c.service_name)))
        return -1;
    if (get_uint32(&l, "THREADS", si->cpus ? si->cpus : 1, 1, 1024, &c.threads))
        return -1;
    if (get_uint32(&l, "KEEPALIVE_TIMEOUT_S", 65, 1, 3600, &c.keepalive_timeout_s))
        return -1;
    if (get_uint32(&l, "SHUTDOWN_TIMEOUT_S", 25, 1, 3600, &c.shutdown_timeout_s))
        return -1;
    if (get_uint(&l, "MAX_BODY_BYTES", 1048576, 0, 1ull << 30, &c.max_body_bytes))
        return -1;
    if (get_uint(&l, "MEMORY_LIMIT_MB", si->memory_limit / NA_MIB, 1, 1ull << 22, &mem_mb))
        return -1;
    if (get_uint32(&l, "MEMORY_SHED_PERCENT", 90, 1, 100, &c.memory_shed_percent))
        return -1;
    if (get_uint32(&l, "MAX_CONNECTIONS", 0, 1, 1000000, &bi.max_connections))
        return -1;
    if (get_ratio(&l, "ACCESS_LOG", &c.access_log_ratio))
        return -1;
    if (get_bool(&l, "ENABLE_LOADTEST_ROUTES", false, &c.loadtest_routes) ||
        get_faults(&l, c.loadtest_routes, &c.faults))
        return -1;
    v = value(&l, "METRICS_PORT");
    if (v && word_in(v, no_words) && strcmp(v, "0")) {
        c.metrics_at = NA_METRICS_OFF;
    } else {
        if (get_uint32(&l, "METRICS_PORT", 9464, 0, 65535, &c.metrics_port))
            return -1;
        c.metrics_at =
            c.metrics_port && c.metrics_port == c.port ? NA_METRICS_MAIN_PORT : NA_METRICS_OWN_PORT;
    }
    /* Set by the ECS agent in every task (Fargate platform 1.4.0 and later). */
    v = value(&l, "ECS_CONTAINER_METADATA_URI_V4");
    if (v && strlen(v) >= sizeof(c.ecs_metadata_uri))
        return fail(&l, "ECS_CONTAINER_METADATA_URI_V4", "is longer than %zu bytes",
                    sizeof(c.ecs_metadata_uri) - 1);
    snprintf(c.ecs_metadata_uri, sizeof(c.ecs_metadata_uri), "%s", v ? v : "");
    if (get_bool(&l, "METRICS_EMF", c.ecs_metadata_uri[0] != '\0', &c.emf) ||
        get_uint32(&l, "METRICS_EMF_INTERVAL_S", 60, 1, 3600, &c.emf_interval_s) ||
        get_namespace(&l, c.emf_namespace, sizeof(c.emf_namespace)))
        return -1;
    if (get_database_url(&l, c.database_url, sizeof(c.database_url)) ||
        get_secret(&l, "API_KEY", c.api_key, sizeof(c.api_key)))
        return -1;
    if (get_uint32(&l, "DB_POOL_SIZE", 10, 1, 100, &c.db_pool_size) ||
        get_uint32(&l, "DB_WRITE_GROUP_MAX", 32, 1, 1000, &c.db_write_group_max) ||
        get_uint32(&l, "DB_CONNECT_TIMEOUT_S", 5, 1, 60, &c.db_connect_timeout_s) ||
        get_uint32(&l, "DB_STATEMENT_TIMEOUT_MS", 5000, 1, 600000, &c.db_statement_timeout_ms) ||
        get_uint32(&l, "DB_ACQUIRE_TIMEOUT_MS", 1000, 1, 60000, &c.db_acquire_timeout_ms) ||
        get_uint32(&l, "DB_HEALTH_TIMEOUT_MS", 1000, 1, 60000, &c.db_health_timeout_ms) ||
        get_bool(&l, "DB_MIGRATE", true, &c.db_migrate))
        return -1;
    if (get_uint32(&l, "IDEMPOTENCY_TTL_S", 86400, 1, 31536000, &c.idempotency_ttl_s) ||
        get_uint32(&l, "IDEMPOTENCY_MAX_KEYS", 10000, 1, 1000000, &c.idempotency_max_keys) ||
        get_uint32(&l, "MEMORY_STORE_MAX_ITEMS", 10000, 1, 10000000, &c.memory_store_max_items))
        return -1;
    if (get_uint32(&l, "HEADERS_TIMEOUT_S", 60, 1, 3600, &c.headers_timeout_s) ||
        get_uint32(&l, "REQUEST_TIMEOUT_S", 300, 1, 86400, &c.request_timeout_s) ||
        get_uint32(&l, "SEND_TIMEOUT_S", 60, 1, 86400, &c.send_timeout_s) ||
        get_uint32(&l, "SHED_UNHEALTHY_AFTER_S", 60, 1, 86400, &c.shed_unhealthy_s))
        return -1;
    if (c.request_timeout_s < c.headers_timeout_s)
        return fail(&l, "REQUEST_TIMEOUT_S",
                    "%u is below HEADERS_TIMEOUT_S (%u): the body comes after the headers",
                    c.request_timeout_s, c.headers_timeout_s);
    /*
     * The stop after the drain waits for database calls still running,
     * each bounded by the statement timeout + 1 s: the drain stops taking
     * requests that long before SHUTDOWN_TIMEOUT_S, so that the process is
     * gone by then (and its last 503s sent within a second more).
     */
    c.drain_wait_ms = c.shutdown_timeout_s * 1000u;
    if (c.database_url[0]) {
        unsigned stop_ms = c.db_statement_timeout_ms + 1000u;

        if (c.drain_wait_ms <= stop_ms)
            return fail(&l, "SHUTDOWN_TIMEOUT_S",
                        "%u s leaves no time to drain: the stop waits up to %u ms for database "
                        "calls (DB_STATEMENT_TIMEOUT_MS + 1 s); make it longer",
                        c.shutdown_timeout_s, stop_ms);
        c.drain_wait_ms -= stop_ms;
    }

    bi.limit_bytes = mem_mb * NA_MIB;
    bi.shed_percent = c.memory_shed_percent;
    bi.max_body_bytes = c.max_body_bytes;
    if (!c.database_url[0]) {
        bi.store_bytes = na_store_memory_bytes(c.memory_store_max_items, c.idempotency_max_keys);
        bi.store_var = na_store_memory_bytes(c.memory_store_max_items, 0) * 2 > bi.store_bytes
                           ? "MEMORY_STORE_MAX_ITEMS"
                           : "IDEMPOTENCY_MAX_KEYS";
    }
    if (na_budget_plan(&bi, &c.budget, &bad_var, msg, sizeof(msg)))
        return fail(&l, bad_var, "%s", msg);
    *cfg = c;
    return 0;
}

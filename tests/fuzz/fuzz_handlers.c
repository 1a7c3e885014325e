/*
 * Fuzz target: a whole request through the handlers (handlers.h) on the
 * embedded store, as the server drives them: precheck, then the handler,
 * then the store call. The input is split at newlines into the method, the
 * path, the Accept, Content-Type, Authorization and Idempotency-Key
 * headers, the limit and offset query arguments, the X-Fault-Status,
 * X-Fault-Delay-Ms and X-Echo-Headers headers (the load-testing routes are
 * on; any other header name echo asks for has the value "v"); the rest is
 * the body. Work for a worker thread (/api/cpu) runs with its stop flag
 * set, as in a stopping server.
 * Every request must end with a reply: a status from 100 to 599 and, for
 * errors, the JSON error body. Each request runs twice on the same store:
 * a keyed write that was done (2xx or 404) must then be replayed, with the
 * same status and body.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "na/handlers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    F_METHOD,
    F_PATH,
    F_ACCEPT,
    F_CTYPE,
    F_AUTH,
    F_IDEM,
    F_LIMIT,
    F_OFFSET,
    F_FAULT_STATUS,
    F_FAULT_DELAY,
    F_ECHO,
    F_COUNT
};

static const char *fields[F_COUNT];
static bool resumed;

static const char *lookup(const struct na_request *req, enum na_lookup kind, const char *name)
{
    (void)req;
    if (kind == NA_LOOKUP_QUERY)
        return !strcmp(name, "limit")    ? fields[F_LIMIT]
               : !strcmp(name, "offset") ? fields[F_OFFSET]
                                         : NULL;
    if (!strcasecmp(name, "Accept"))
        return fields[F_ACCEPT];
    if (!strcasecmp(name, "Content-Type"))
        return fields[F_CTYPE];
    if (!strcasecmp(name, "Authorization"))
        return fields[F_AUTH];
    if (!strcasecmp(name, "Idempotency-Key"))
        return fields[F_IDEM];
    if (!strcasecmp(name, "X-Fault-Status"))
        return fields[F_FAULT_STATUS];
    if (!strcasecmp(name, "X-Fault-Delay-Ms"))
        return fields[F_FAULT_DELAY];
    if (!strcasecmp(name, "X-Echo-Headers"))
        return fields[F_ECHO];
    return !strncasecmp(name, "x-", 2) ? "v" : NULL;
}

static void resume(struct na_request *req)
{
    (void)req;
    resumed = true;
}

static const char *no_env(const char *name, void *ctx)
{
    (void)ctx;
    return strcmp(name, "API_KEY") ? NULL : "k";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct na_config cfg;
    static bool ready;
    static struct na_request req;
    static struct na_reply reply;
    struct na_store *store;
    struct na_app app;
    char *text = malloc(size + 1), *p;
    size_t i;

    if (!text)
        return 0;
    if (!ready) {
        const struct na_sysinfo si = {.cpus = 1, .nofile = 1024};
        struct na_config_error err;

        if (na_config_load(&cfg, no_env, NULL, &si, &err))
            abort();
        cfg.loadtest_routes = true;
        ready = true;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    p = text;
    for (i = 0; i < F_COUNT; i++) {
        char *nl = strchr(p, '\n');

        fields[i] = *p ? p : NULL;
        if (!nl) {
            p += strlen(p);
            continue;
        }
        *nl = '\0';
        p = nl + 1;
    }
    store = na_store_memory_new(1000, 100);
    if (!store || na_app_init(&app, &cfg, store)) {
        na_store_free(store);
        free(text);
        return 0;
    }
    for (int round = 0; round < 2; round++) {
        static char first[8192];
        static size_t first_len;
        static unsigned first_status;

        memset(&req, 0, sizeof(req));
        na_request_init(&req, &app, fields[F_METHOD] ? fields[F_METHOD] : "GET",
                        fields[F_PATH] ? fields[F_PATH] : "/",
                        &(struct na_request_hooks){.lookup = lookup, .resume = resume}, &reply);
        req.body = p;
        req.body_len = (size_t)(text + size - p);
        resumed = false;
        if (!na_handle_precheck(&req)) {
            na_handle(&req);
            if (reply.defer == NA_DEFER_STORE) {
                na_store_submit(store, &req.call);
                if (!resumed)
                    abort(); /* the embedded store answers at once */
            } else if (reply.defer == NA_DEFER_WORK) {
                static atomic_bool stop = true;

                req.work(&req, &stop, &stop);
            }
        }
        if (reply.status < 100 || reply.status > 599 ||
            (reply.len && !reply.body && !reply.pattern))
            abort();
        for (unsigned e = 0; e < reply.echo_count; e++) {
            if (!reply.echo[e].name_len || reply.echo[e].name_len > 64 || !reply.echo[e].value)
                abort();
        }
        if (reply.status >= 400) {
            cJSON *j = cJSON_ParseWithLength(reply.body, reply.len);

            if (!j || !cJSON_GetObjectItem(j, "error"))
                abort();
            cJSON_Delete(j);
        }
        if (round == 0) {
            first_status = reply.status;
            first_len = reply.len < sizeof(first) ? reply.len : sizeof(first);
            memcpy(first, reply.body ? reply.body : "", first_len);
        } else if (req.call.idem.key[0] && req.reply->defer == NA_DEFER_STORE &&
                   (first_status < 300 || first_status == 404) && req.call.op != NA_STORE_LIST &&
                   req.call.op != NA_STORE_GET) {
            if (!reply.replayed || reply.status != first_status || reply.len != first_len ||
                memcmp(reply.body ? reply.body : "", first, first_len))
                abort(); /* a keyed write done once is replayed, not done again */
        }
        na_reply_release(&reply);
    }
    na_app_release(&app);
    na_store_free(store);
    free(text);
    return 0;
}

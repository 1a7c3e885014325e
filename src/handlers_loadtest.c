/*
 * handlers_loadtest: the load-testing routes (/api/delay, /api/status,
 * /api/cpu, /api/payload, /api/echo, the health toggles) and the injected
 * faults (see handlers_loadtest.h and include/na/fault.h). Each costs only
 * what the memory plan already holds: the payload is generated as it is
 * sent, the echo answers with the body the pool already holds, and the CPU
 * is burnt on a worker thread, not on an event loop.
 */
#include "handlers_loadtest.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers_items.h"
#include "na/clock.h"
#include "na/log.h"

/* Parses a route parameter of 1 to 9 digits; -1 if it is not one. */
static long long param_number(const struct na_match *m)
{
    long long v = 0;

    if (!m->param_len || m->param_len > 9)
        return -1;
    for (size_t i = 0; i < m->param_len; i++) {
        if (m->param[i] < '0' || m->param[i] > '9')
            return -1;
        v = v * 10 + (m->param[i] - '0');
    }
    return v;
}

/*
 * Reads the route's number parameter into req->amount when it is from
 * `min` to `max`; otherwise answers 400 naming `what`, its `unit` (NULL: a
 * code) and its bounds, and returns true (refused). A check of the head:
 * it comes before any fault.
 */
static bool param_refused(struct na_request *req, unsigned min, unsigned max, const char *what,
                          const char *unit)
{
    long long v = param_number(&req->match);
    char msg[96];

    if (v < (long long)min || v > (long long)max) {
        if (unit)
            snprintf(msg, sizeof(msg), "%s must be a whole number of %s from %u to %u", what, unit,
                     min, max);
        else
            snprintf(msg, sizeof(msg), "%s must be a code from %u to %u", what, min, max);
        na_reply_error(req->reply, 400, msg);
        return true;
    }
    req->amount = (uint64_t)v;
    return false;
}

/* ---- faults ------------------------------------------------------------- */

bool na_loadtest_faultable(enum na_route route)
{
    switch (route) {
    case NA_ROUTE_INFO:
    case NA_ROUTE_ITEMS:
    case NA_ROUTE_ITEM:
    case NA_ROUTE_DELAY:
    case NA_ROUTE_STATUS:
    case NA_ROUTE_CPU:
    case NA_ROUTE_PAYLOAD:
    case NA_ROUTE_ECHO:
        return true;
    case NA_ROUTE_NONE:
    case NA_ROUTE_HEALTH:
    case NA_ROUTE_HEALTH_DETAILED:
    case NA_ROUTE_METRICS:
    case NA_ROUTE_OPENAPI:
    case NA_ROUTE_HEALTH_DISABLE:
    case NA_ROUTE_HEALTH_ENABLE:
        break;
    }
    return false;
}

/*
 * Every field line of a request header: into `values` (up to `max`), and
 * how many there are. Where the server gives one line only, that one.
 */
static size_t header_lines(const struct na_request *req, const char *name, const char **values,
                           size_t max)
{
    const char *v;

    if (req->lookup_all)
        return req->lookup_all(req, name, values, max);
    v = req->lookup(req, NA_LOOKUP_HEADER, name);
    if (v && max)
        values[0] = v;
    return v != NULL;
}

/* The one value of a header that may come once; true (400 in the reply) when it came twice. */
static bool single_header(struct na_request *req, const char *name, const char **out)
{
    const char *v[2] = {NULL, NULL};
    char msg[96];

    if (header_lines(req, name, v, 2) > 1) {
        snprintf(msg, sizeof(msg), "%s given more than once: which one would it be?", name);
        na_reply_error(req->reply, 400, msg);
        return true;
    }
    *out = v[0];
    return false;
}

/*
 * The headers an answer with `status` carries elsewhere in the service, for
 * the statuses answered on request (an injected fault, /api/status): a 503
 * or 429 says Retry-After (certainly not done, retry), a 401 challenges and
 * a 405 says Allow (RFC 9110 15.5.2 and 15.5.6).
 */
static void status_headers(struct na_request *req, unsigned status)
{
    struct na_reply *out = req->reply;

    if (status == 503 || status == 429)
        out->retry_after_s = 1;
    if (status == 401)
        out->challenge = true;
    if (status == 405)
        na_router_allow(req->match.methods, out->allow, sizeof(out->allow));
}

bool na_loadtest_decide_fault(struct na_request *req)
{
    struct na_app *app = req->app;
    const char *status, *delay;
    char msg[128];
    unsigned refused;

    if (!app->cfg->loadtest_routes || !na_loadtest_faultable(req->match.route))
        return false;
    if (single_header(req, "X-Fault-Status", &status) ||
        single_header(req, "X-Fault-Delay-Ms", &delay))
        return true;
    refused = na_fault_decide(&app->cfg->faults, status, delay, na_fault_random(), &req->fault, msg,
                              sizeof(msg));
    if (refused) {
        na_reply_error(req->reply, refused, msg);
        return true;
    }
    return false;
}

void na_loadtest_fault_reply(struct na_request *req)
{
    struct na_reply *out = req->reply;
    unsigned status = req->fault.status;

    na_reply_error(out, status,
                   req->fault.by_header ? "fault injected: X-Fault-Status, the request was not run"
                                        : "fault injected: FAULT_ERROR_PERCENT, the request was "
                                          "not run");
    req->fault_answered = true;
    na_metrics_count(req->app->metrics, NA_EV_FAULT_STATUS);
    status_headers(req, status);
}

/* ---- /api/delay/{ms} and /api/status/{code} ----------------------------- */

static void delay(struct na_request *req)
{
    struct na_reply *out = req->reply;
    struct na_buf b;

    na_reply_buf(out, &b, 200);
    na_buf_printf(&b, "{\"delayed_ms\":%llu}", (unsigned long long)req->amount);
    out->len = b.len;
    out->delay_ms = (unsigned)req->amount;
    out->defer = req->amount ? NA_DEFER_TIMER : NA_DEFER_NONE;
}

static void status_route(struct na_request *req)
{
    struct na_reply *out = req->reply;
    long long code = (long long)req->amount;
    const char *reason;
    struct na_buf b;

    reason = MHD_get_reason_phrase_for((unsigned)code);
    if (code >= 400) {
        /* libmicrohttpd names codes it does not know "Unknown". */
        na_reply_error(out, (unsigned)code,
                       strcmp(reason, "Unknown") ? reason : "status requested from /api/status");
        status_headers(req, (unsigned)code);
        return;
    }
    na_reply_buf(out, &b, (unsigned)code);
    /* 204, 205 and 304 carry no body (RFC 9110, 15.3.5, 15.3.6 and 15.4.5). */
    if (code != 204 && code != 205 && code != 304)
        na_buf_printf(&b, "{\"status\":%lld}", code);
    out->len = b.len;
}

/* ---- /api/cpu/{ms} ------------------------------------------------------ */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The work: burns req->amount ms of this thread's CPU time (not wall time:
 * under a CPU quota it takes longer), polling `stop` and `gone` between
 * slices of about 50 us.
 */
static void burn(struct na_request *req, const atomic_bool *stop, const atomic_bool *gone)
{
    struct na_reply *out = req->reply;
    uint64_t want = req->amount * 1000000u, cpu0 = thread_cpu_ns(), wall0 = na_clock_ns();
    volatile uint64_t sink = wall0;
    struct na_buf b;

    while (thread_cpu_ns() - cpu0 < want) {
        if (atomic_load_explicit(stop, memory_order_relaxed)) {
            na_reply_error(out, 503, "server shutting down: the burn was stopped");
            out->retry_after_s = 1;
            return;
        }
        if (atomic_load_explicit(gone, memory_order_relaxed)) {
            na_reply_error(out, 503, "the client went away: burn stopped");
            return;
        }
        for (unsigned i = 0; i < 20000; i++)
            sink = sink * UINT64_C(6364136223846793005) + 1442695040888963407u;
    }
    na_reply_buf(out, &b, 200);
    na_buf_printf(&b, "{\"cpu_ms\":%llu,\"wall_ms\":%.1f}", (unsigned long long)req->amount,
                  na_clock_ms_since(wall0));
    out->len = b.len;
}

static void cpu(struct na_request *req)
{
    struct na_reply *out = req->reply;
    struct na_buf b;

    if (!req->amount) {
        na_reply_buf(out, &b, 200);
        na_buf_puts(&b, "{\"cpu_ms\":0,\"wall_ms\":0}");
        out->len = b.len;
        return;
    }
    req->work = burn;
    out->defer = NA_DEFER_WORK;
}

/* ---- /api/payload/{bytes} ----------------------------------------------- */

static void payload(struct na_request *req)
{
    struct na_reply *out = req->reply;

    out->status = 200;
    out->body = NULL;
    out->len = (size_t)req->amount;
    out->pattern = true;
    out->content_type = "application/octet-stream";
}

/* ---- POST /api/echo ----------------------------------------------------- */

/* RFC 9110 5.6.2: a header name is a token. */
static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * Reads X-Echo-Headers (lists of header names, on one line or several) into
 * the reply's echo list: every field line of each named header, with its
 * value; names the request lacks are left out. What comes back, the echoed
 * Content-Type included, is bounded so that the answer's headers fit
 * libmicrohttpd's per-connection pool beside a head of NA_HEAD_MAX. True
 * when refused (400).
 */
static bool echo_headers_refused(struct na_request *req)
{
    struct na_reply *out = req->reply;
    const char *lists[NA_ECHO_HEADERS_MAX + 1],
        *type = req->lookup(req, NA_LOOKUP_HEADER, "Content-Type");
    size_t nlists = header_lines(req, "X-Echo-Headers", lists, NA_ECHO_HEADERS_MAX + 1);
    size_t bytes = type ? strlen(type) : 0;
    unsigned named = 0;
    char msg[128];

    out->echo_count = 0;
    if (nlists > NA_ECHO_HEADERS_MAX)
        goto too_many;
    for (size_t l = 0; l < nlists; l++) {
        for (const char *p = lists[l]; *p;) {
            const char *start, *values[NA_ECHO_HEADERS_MAX + 1];
            size_t n = 0, after, nvalues;
            char name[65];

            p += strspn(p, " \t,");
            if (!*p)
                break;
            while (is_tchar(p[n]))
                n++;
            after = n + strspn(p + n, " \t");
            if (!n || n >= sizeof(name) || (p[after] && p[after] != ',')) {
                na_reply_error(out, 400,
                               "X-Echo-Headers must be a comma-separated list of header names "
                               "(64 characters at most each)");
                return true;
            }
            if (++named > NA_ECHO_HEADERS_MAX)
                goto too_many;
            memcpy(name, p, n);
            name[n] = '\0';
            start = p;
            p += after;
            nvalues = header_lines(req, name, values, NA_ECHO_HEADERS_MAX + 1);
            if (out->echo_count + nvalues > NA_ECHO_HEADERS_MAX)
                goto too_many;
            for (size_t v = 0; v < nvalues; v++) {
                bytes += n + strlen(values[v]);
                out->echo[out->echo_count++] =
                    (struct na_echo_header){.name = start, .name_len = n, .value = values[v]};
            }
        }
    }
    if (bytes > NA_ECHO_BYTES_MAX) {
        out->echo_count = 0;
        snprintf(msg, sizeof(msg),
                 "the echoed Content-Type and the headers X-Echo-Headers names come to over %u "
                 "bytes",
                 NA_ECHO_BYTES_MAX);
        na_reply_error(out, 400, msg);
        return true;
    }
    return false;
too_many:
    out->echo_count = 0;
    snprintf(msg, sizeof(msg), "X-Echo-Headers may name %u headers (and lines of them) at most",
             NA_ECHO_HEADERS_MAX);
    na_reply_error(out, 400, msg);
    return true;
}

static void echo(struct na_request *req)
{
    struct na_reply *out = req->reply;
    const char *type = req->lookup(req, NA_LOOKUP_HEADER, "Content-Type");

    /* The body stays the request's until the answer is sent: nothing to copy or count twice. */
    out->status = 200;
    out->body = req->body ? req->body : "";
    out->len = req->body_len;
    out->content_type = type && *type ? type : "application/octet-stream";
}

/* ---- POST /health/disable and /health/enable ---------------------------- */

static void health_toggle(struct na_request *req, bool fail)
{
    struct na_app *app = req->app;
    struct na_buf b;

    if (atomic_exchange(&app->failing_on_purpose, fail) != fail) {
        if (fail)
            na_log(NA_LOG_WARN, "health failing on purpose: POST /health/disable (the task "
                                "still serves; POST /health/enable restores it)");
        else
            na_log(NA_LOG_INFO, "health restored: POST /health/enable");
    }
    na_reply_buf(req->reply, &b, 200);
    na_buf_puts(&b, fail ? "{\"healthy\":false}" : "{\"healthy\":true}");
    req->reply->len = b.len;
}

/* ---- dispatch ----------------------------------------------------------- */

bool na_loadtest_precheck(struct na_request *req)
{
    switch (req->match.route) {
    case NA_ROUTE_DELAY:
        return param_refused(req, 0, NA_DELAY_MAX_MS, "delay", "ms");
    case NA_ROUTE_STATUS:
        return param_refused(req, 200, 599, "status", NULL);
    case NA_ROUTE_CPU:
        return param_refused(req, 0, NA_CPU_MAX_MS, "cpu", "ms");
    case NA_ROUTE_PAYLOAD:
        return param_refused(req, 0, NA_PAYLOAD_MAX_BYTES, "payload", "bytes");
    case NA_ROUTE_HEALTH_DISABLE:
    case NA_ROUTE_HEALTH_ENABLE:
        return na_handle_auth_refused(req);
    case NA_ROUTE_ECHO:
        return echo_headers_refused(req);
    default:
        return false;
    }
}

bool na_loadtest_takes_body(const struct na_request *req)
{
    return req->match.route == NA_ROUTE_ECHO && req->method == NA_METHOD_POST;
}

void na_loadtest_handle(struct na_request *req)
{
    switch (req->match.route) {
    case NA_ROUTE_DELAY:
        delay(req);
        break;
    case NA_ROUTE_STATUS:
        status_route(req);
        break;
    case NA_ROUTE_CPU:
        cpu(req);
        break;
    case NA_ROUTE_PAYLOAD:
        payload(req);
        break;
    case NA_ROUTE_ECHO:
        echo(req);
        break;
    case NA_ROUTE_HEALTH_DISABLE:
        health_toggle(req, true);
        break;
    case NA_ROUTE_HEALTH_ENABLE:
        health_toggle(req, false);
        break;
    default:
        na_reply_error(req->reply, 404, "no route");
        break;
    }
}

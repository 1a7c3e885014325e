/*
 * metrics: per-thread shards, the scrape that sums them, and the text
 * writer (see include/na/metrics.h). The process_* families are in
 * metrics_process.c.
 */
#include "na/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics_writer.h"

#define STATUS_MIN   200u
#define STATUS_SLOTS 400u /* 200..599 */

/*
 * Bucket bounds from 100 us: the service answers most requests well under
 * a millisecond, which the usual client-library default (5 ms first) would
 * put in one bucket. 16 finite bounds, then +Inf.
 */
#define BUCKETS NA_METRICS_BUCKETS
static const uint64_t bounds_ns[BUCKETS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
static const char *const bounds_text[BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5",    "10",
};

/* Counts per bucket (not cumulative: the scrape sums them up), and the sum. */
struct hist {
    atomic_uint_fast64_t counts[BUCKETS + 1];
    atomic_uint_fast64_t sum_ns;
};

/*
 * One thread's counts: written by that thread only, read by scrapes. The
 * status counts are the bulk (230 KiB); calloc() maps them untouched, so
 * only the pages of the (route, method) pairs a thread has answered are
 * ever resident.
 */
struct shard {
    struct shard *next; /* the registry's list; set before the shard is published */
    atomic_uint_fast64_t events[NA_EV_COUNT_];
    struct hist db;
    struct hist latency[NA_METRICS_ROUTES][NA_METRICS_METHODS];
    atomic_uint_fast64_t requests[NA_METRICS_ROUTES][NA_METRICS_METHODS][STATUS_SLOTS];
};

struct source {
    na_metrics_source_fn *fn;
    void *cls;
};

struct na_metrics {
    uint64_t id;
    pthread_mutex_t lock; /* taken when a thread adds its shard */
    _Atomic(struct shard *) shards;
    struct source sources[NA_METRICS_SOURCES_MAX];
    unsigned nsources;
};

/* Registries are told apart by id, not address: a freed one's address may come back. */
static atomic_uint_fast64_t next_id = 1;
static _Thread_local uint64_t mine_id;
static _Thread_local struct shard *mine;

struct na_metrics *na_metrics_new(void)
{
    struct na_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL)) {
        free(m);
        return NULL;
    }
    m->id = atomic_fetch_add(&next_id, 1);
    atomic_init(&m->shards, NULL);
    return m;
}

void na_metrics_free(struct na_metrics *m)
{
    struct shard *s, *next;

    if (!m)
        return;
    for (s = atomic_load(&m->shards); s; s = next) {
        next = s->next;
        free(s);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int na_metrics_add_source(struct na_metrics *m, na_metrics_source_fn *fn, void *cls)
{
    if (m->nsources == NA_METRICS_SOURCES_MAX)
        return -1;
    m->sources[m->nsources++] = (struct source){.fn = fn, .cls = cls};
    return 0;
}

/* The calling thread's shard; NULL when one cannot be allocated (nothing is counted then). */
static struct shard *shard_get(struct na_metrics *m)
{
    struct shard *s;

    if (!m)
        return NULL; /* a test's app without a registry */
    if (mine_id == m->id)
        return mine;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_lock(&m->lock);
    s->next = atomic_load_explicit(&m->shards, memory_order_relaxed);
    atomic_store_explicit(&m->shards, s, memory_order_release);
    pthread_mutex_unlock(&m->lock);
    mine_id = m->id;
    mine = s;
    return s;
}

/* One writer per shard: a load and a store, no locked instruction. */
static inline void bump(atomic_uint_fast64_t *x, uint64_t n)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void observe(struct hist *h, uint64_t ns)
{
    unsigned b = 0;

    while (b < BUCKETS && ns > bounds_ns[b])
        b++;
    bump(&h->counts[b], 1);
    bump(&h->sum_ns, ns);
}

void na_metrics_request(struct na_metrics *m, enum na_route route, enum na_method method,
                        unsigned status, uint64_t duration_ns)
{
    struct shard *s = shard_get(m);
    unsigned r = (unsigned)route < NA_METRICS_ROUTES ? (unsigned)route : NA_ROUTE_NONE;
    unsigned mi = na_method_index(method);

    if (!s)
        return;
    if (status < STATUS_MIN || status >= STATUS_MIN + STATUS_SLOTS) {
        bump(&s->events[NA_EV_ABORTED], 1);
        return;
    }
    bump(&s->requests[r][mi][status - STATUS_MIN], 1);
    observe(&s->latency[r][mi], duration_ns);
}

void na_metrics_count(struct na_metrics *m, enum na_metrics_event ev)
{
    struct shard *s = shard_get(m);

    if (s && (unsigned)ev < NA_EV_COUNT_)
        bump(&s->events[ev], 1);
}

void na_metrics_db_query(struct na_metrics *m, uint64_t duration_ns)
{
    struct shard *s = shard_get(m);

    if (s)
        observe(&s->db, duration_ns);
}

/* ---- the scrape --------------------------------------------------------- */

uint64_t na_metrics_bucket_bound_ns(unsigned b)
{
    return b < BUCKETS ? bounds_ns[b] : UINT64_MAX;
}

static uint64_t load(const atomic_uint_fast64_t *x)
{
    return atomic_load_explicit(x, memory_order_relaxed);
}

static uint64_t sum_event(struct shard *head, enum na_metrics_event ev)
{
    uint64_t n = 0;

    for (struct shard *s = head; s; s = s->next)
        n += load(&s->events[ev]);
    return n;
}

/* Sums one histogram over the shards; `at` picks it out of a shard. */
static void sum_hist(struct shard *head, struct hist *(*at)(struct shard *, const void *),
                     const void *arg, uint64_t counts[BUCKETS + 1], uint64_t *sum_ns)
{
    memset(counts, 0, sizeof(uint64_t) * (BUCKETS + 1));
    *sum_ns = 0;
    for (struct shard *s = head; s; s = s->next) {
        struct hist *h = at(s, arg);

        for (unsigned b = 0; b <= BUCKETS; b++)
            counts[b] += load(&h->counts[b]);
        *sum_ns += load(&h->sum_ns);
    }
}

/* Writes a histogram's _bucket, _sum and _count samples; `labels` may be "". */
static void write_hist(struct na_metrics_writer *w, const char *name, const char *labels,
                       const uint64_t counts[BUCKETS + 1], uint64_t sum_ns)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";

    for (unsigned b = 0; b <= BUCKETS; b++) {
        cum += counts[b];
        na_mw_printf(w, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
                     b < BUCKETS ? bounds_text[b] : "+Inf", (unsigned long long)cum);
    }
    na_mw_printf(w, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                 (double)sum_ns / 1e9);
    na_mw_printf(w, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                 labels[0] ? "}" : "", (unsigned long long)cum);
}

struct pair {
    unsigned route, method;
};

static struct hist *latency_at(struct shard *s, const void *arg)
{
    const struct pair *p = arg;

    return &s->latency[p->route][p->method];
}

static struct hist *db_at(struct shard *s, const void *arg)
{
    (void)arg;
    return &s->db;
}

static void write_requests(struct na_metrics_writer *w, struct shard *head)
{
    na_metrics_family(w, "http_requests_total", NA_METRIC_COUNTER,
                      "Requests answered, by method, route template and status.");
    for (unsigned r = 0; r < NA_METRICS_ROUTES; r++) {
        for (unsigned mi = 0; mi < NA_METRICS_METHODS; mi++) {
            for (unsigned st = 0; st < STATUS_SLOTS; st++) {
                uint64_t n = 0;

                for (struct shard *s = head; s; s = s->next)
                    n += load(&s->requests[r][mi][st]);
                if (n)
                    na_mw_printf(w,
                                 "http_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"} "
                                 "%llu\n",
                                 na_method_name(mi), na_router_template((enum na_route)r),
                                 st + STATUS_MIN, (unsigned long long)n);
            }
        }
    }
    na_metrics_family(w, "http_request_duration_seconds", NA_METRIC_HISTOGRAM,
                      "Time from a request's head to its answer sent, by method and route "
                      "template.");
    for (unsigned r = 0; r < NA_METRICS_ROUTES; r++) {
        for (unsigned mi = 0; mi < NA_METRICS_METHODS; mi++) {
            struct pair p = {r, mi};
            uint64_t counts[BUCKETS + 1], sum_ns;
            char labels[128];

            uint64_t any = 0;

            sum_hist(head, latency_at, &p, counts, &sum_ns);
            for (unsigned b = 0; b <= BUCKETS; b++)
                any += counts[b];
            if (!any)
                continue; /* a pair never answered has no series */
            snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\"", na_method_name(mi),
                     na_router_template((enum na_route)r));
            write_hist(w, "http_request_duration_seconds", labels, counts, sum_ns);
        }
    }
}

static void write_events(struct na_metrics_writer *w, struct shard *head)
{
    static const struct {
        enum na_metrics_event ev;
        const char *reason;
    } shed[] = {
        {NA_EV_SHED_MEMORY, "memory"},
        {NA_EV_SHED_BODIES, "body_pool"},
        {NA_EV_SHED_RESPONSES, "response_pool"},
        {NA_EV_SHED_CPU, "cpu_queue"},
    };
    uint64_t counts[BUCKETS + 1], sum_ns;

    na_metrics_family(w, "node_api_requests_shed_total", NA_METRIC_COUNTER,
                      "Requests refused with 503 to stay within memory (or, for load tests, "
                      "the CPU route's queue), by reason (also in http_requests_total).");
    for (size_t i = 0; i < sizeof(shed) / sizeof(shed[0]); i++) {
        char labels[48];

        snprintf(labels, sizeof(labels), "reason=\"%s\"", shed[i].reason);
        na_metrics_sample(w, "node_api_requests_shed_total", labels,
                          (double)sum_event(head, shed[i].ev));
    }
    na_metrics_counter(w, "node_api_requests_aborted_total",
                       "Requests whose client went away before the answer was sent.",
                       (double)sum_event(head, NA_EV_ABORTED));
    na_metrics_family(w, "node_api_faults_injected_total", NA_METRIC_COUNTER,
                      "Faults injected on purpose (ENABLE_LOADTEST_ROUTES): a status answered "
                      "in a request's place, or a delay before it ran.");
    na_metrics_sample(w, "node_api_faults_injected_total", "kind=\"status\"",
                      (double)sum_event(head, NA_EV_FAULT_STATUS));
    na_metrics_sample(w, "node_api_faults_injected_total", "kind=\"delay\"",
                      (double)sum_event(head, NA_EV_FAULT_DELAY));
    na_metrics_family(w, "node_api_db_query_duration_seconds", NA_METRIC_HISTOGRAM,
                      "Time of each database call on its connection.");
    sum_hist(head, db_at, NULL, counts, &sum_ns);
    write_hist(w, "node_api_db_query_duration_seconds", "", counts, sum_ns);
}

void na_metrics_totals(struct na_metrics *m, struct na_metrics_totals *out)
{
    struct shard *head = atomic_load_explicit(&m->shards, memory_order_acquire);

    memset(out, 0, sizeof(*out));
    for (struct shard *s = head; s; s = s->next) {
        for (unsigned r = 0; r < NA_METRICS_ROUTES; r++) {
            for (unsigned mi = 0; mi < NA_METRICS_METHODS; mi++) {
                const atomic_uint_fast64_t *st = s->requests[r][mi];

                for (unsigned i = 0; i < STATUS_SLOTS; i++) {
                    uint64_t n = load(&st[i]);

                    if (!n)
                        continue;
                    out->requests += n;
                    if (i + STATUS_MIN >= 500)
                        out->status_5xx += n;
                    else if (i + STATUS_MIN >= 400)
                        out->status_4xx += n;
                }
                for (unsigned b = 0; b <= BUCKETS; b++)
                    out->latency[b] += load(&s->latency[r][mi].counts[b]);
            }
        }
        for (unsigned e = 0; e < NA_EV_COUNT_; e++)
            out->events[e] += load(&s->events[e]);
    }
}

char *na_metrics_render(struct na_metrics *m, bool openmetrics, size_t *len)
{
    struct na_metrics_writer w;
    struct shard *head = atomic_load_explicit(&m->shards, memory_order_acquire);

    if (na_mw_init(&w, openmetrics, 64 * 1024))
        return NULL;
    write_requests(&w, head);
    write_events(&w, head);
    for (unsigned i = 0; i < m->nsources; i++)
        m->sources[i].fn(&w, m->sources[i].cls);
    na_metrics_write_process(&w);
    return na_mw_finish(&w, len);
}

const char *na_metrics_content_type(bool openmetrics)
{
    return openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                       : "text/plain; version=0.0.4; charset=utf-8";
}

bool na_metrics_wants_openmetrics(const char *accept)
{
    const char *p = accept;

    while (p && *p) {
        size_t n;
        const char *q;

        p += strspn(p, " \t,");
        n = strcspn(p, ",");
        if (n >= 28 && !strncasecmp(p, "application/openmetrics-text", 28)) {
            /* A q of 0 (q=0, q=0.0, q=0.000) refuses it. */
            q = strstr(p, "q=");
            if (!q || q >= p + n)
                return true;
            q += 2;
            while (*q == '0' || *q == '.')
                q++;
            if (q < p + n && *q >= '1' && *q <= '9')
                return true;
        }
        p += n;
    }
    return false;
}

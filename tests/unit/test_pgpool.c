/*
 * Unit tests for pgpool, over fake connections whose opening can fail and
 * whose calls can be held: queueing in arrival order, the acquire timeout
 * counted from arrival, backoff that traffic cannot cut short, recovery,
 * the shutdown, and write groups.
 */
#include "unit.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "na/clock.h"
#include "na/pgpool.h"

struct fake {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int fail_opens; /* attempts to fail before one succeeds; -1: all */
    unsigned opens, closes, live;
    bool hold;         /* calls wait for release() */
    unsigned held;     /* calls waiting so */
    unsigned gone;     /* connections the server is to have closed: usable() says no */
    unsigned asked;    /* usable() calls */
    unsigned end_next; /* runs to come whose backend ends under them: not run */
    unsigned run_ms;   /* how long a run takes */
    int64_t stuck_id;  /* not 0: only runs of the call with this id are held */
};

static struct fake f;

static void fake_reset(int fail_opens, bool hold)
{
    pthread_mutex_init(&f.lock, NULL);
    pthread_cond_init(&f.changed, NULL);
    f.fail_opens = fail_opens;
    f.opens = f.closes = f.live = f.held = f.gone = f.asked = f.end_next = f.run_ms = 0;
    f.stuck_id = 0;
    f.hold = hold;
}

static void *fake_open(void *cls, const atomic_bool *stop, char *err, size_t errlen)
{
    void *conn = NULL;

    (void)cls;
    (void)stop;
    pthread_mutex_lock(&f.lock);
    f.opens++;
    if (f.fail_opens != 0) {
        if (f.fail_opens > 0)
            f.fail_opens--;
        snprintf(err, errlen, "refused");
    } else {
        f.live++;
        conn = &f;
    }
    pthread_cond_broadcast(&f.changed);
    pthread_mutex_unlock(&f.lock);
    return conn;
}

static bool fake_run(void *conn, struct na_store_call *call, void *cls)
{
    bool ended;

    (void)conn;
    (void)cls;
    pthread_mutex_lock(&f.lock);
    f.held++;
    pthread_cond_broadcast(&f.changed);
    while (f.hold && (!f.stuck_id || call->id == f.stuck_id))
        pthread_cond_wait(&f.changed, &f.lock);
    f.held--;
    ended = f.end_next > 0;
    if (ended)
        f.end_next--;
    pthread_mutex_unlock(&f.lock);
    if (f.run_ms)
        usleep(f.run_ms * 1000);
    if (ended) {
        /* As a terminated backend's FATAL before the statement completed. */
        assert_int_equal(call->rc, NA_STORE_OK); /* a rerun starts clean */
        call->rc = NA_STORE_UNAVAILABLE;
        snprintf(call->detail, sizeof(call->detail), "database unavailable, retry later");
        call->not_run = true;
        return false;
    }
    return true;
}

static bool fake_usable(void *conn, void *cls)
{
    bool ok;

    (void)conn;
    (void)cls;
    pthread_mutex_lock(&f.lock);
    f.asked++;
    ok = !f.gone;
    if (f.gone)
        f.gone--;
    pthread_mutex_unlock(&f.lock);
    return ok;
}

static void fake_close(void *conn, void *cls)
{
    (void)conn;
    (void)cls;
    pthread_mutex_lock(&f.lock);
    f.closes++;
    f.live--;
    pthread_mutex_unlock(&f.lock);
}

static void release(void)
{
    pthread_mutex_lock(&f.lock);
    f.hold = false;
    pthread_cond_broadcast(&f.changed);
    pthread_mutex_unlock(&f.lock);
}

/* Waits until `pred` holds (checked under the fake's lock), at most 5 s. */
static void wait_until(bool (*pred)(void *), void *arg)
{
    uint64_t deadline = na_clock_after_ms(5000);

    pthread_mutex_lock(&f.lock);
    while (!pred(arg)) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&f.changed, &f.lock, &ts);
        if (na_clock_ns() > deadline)
            fail_msg("condition not reached in 5 s");
    }
    pthread_mutex_unlock(&f.lock);
}

/* Calls that record when and how they finished. */
struct probe {
    struct na_store_call call;
    int order; /* 1-based finishing order; 0: not yet */
    uint64_t done_ns;
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static int finished;

static void probe_done(struct na_store_call *call)
{
    struct probe *p = call->cls;

    pthread_mutex_lock(&done_lock);
    p->order = ++finished;
    p->done_ns = na_clock_ns();
    pthread_mutex_unlock(&done_lock);
}

static void probe_init(struct probe *p, uint64_t arrived_ns)
{
    memset(p, 0, sizeof(*p));
    p->call.op = NA_STORE_GET;
    p->call.arrived_ns = arrived_ns;
    p->call.done = probe_done;
    p->call.cls = p;
}

static int order_of(struct probe *p)
{
    int o;

    pthread_mutex_lock(&done_lock);
    o = p->order;
    pthread_mutex_unlock(&done_lock);
    return o;
}

static struct na_pgpool *start(unsigned size, unsigned acquire_ms)
{
    struct na_pgpool_config c = {
        .size = size,
        .acquire_timeout_ms = acquire_ms,
        .health_timeout_ms = 1000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 160,
        .open = fake_open,
        .run = fake_run,
        .close = fake_close,
    };
    struct na_pgpool *p = na_pgpool_start(&c);

    assert_non_null(p);
    finished = 0;
    return p;
}

static bool asked_is(void *arg)
{
    return f.asked == *(unsigned *)arg;
}

static bool all_connected(void *arg)
{
    return f.live == *(unsigned *)arg;
}

static bool held_is(void *arg)
{
    return f.held == *(unsigned *)arg;
}

static void submit(struct na_pgpool *p, struct probe *pr)
{
    /* As na_store_submit() does. */
    if (!pr->call.arrived_ns)
        pr->call.arrived_ns = na_clock_ns();
    na_pgpool_submit(p, &pr->call);
}

static void test_queue_in_arrival_order(void **state)
{
    struct probe a, b, c, d;
    struct na_pgpool_stats st;
    unsigned two = 2, one = 1;
    struct na_pgpool *p;

    (void)state;
    fake_reset(0, true);
    p = start(1, 5000);
    wait_until(all_connected, &two); /* the item worker and the health worker */
    probe_init(&a, 0);
    submit(p, &a);
    wait_until(held_is, &one);
    probe_init(&b, 0);
    probe_init(&c, 0);
    submit(p, &b);
    submit(p, &c);
    /* Arrived before c and b, submitted after them (a coalesced batch): it goes first. */
    probe_init(&d, b.call.arrived_ns - 1000);
    submit(p, &d);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.size, 1);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.busy, 1);
    assert_int_equal(st.waiting, 3);
    release();
    while (order_of(&a) == 0 || order_of(&b) == 0 || order_of(&c) == 0 || order_of(&d) == 0)
        sched_yield();
    assert_int_equal(order_of(&a), 1);
    assert_int_equal(order_of(&d), 2);
    assert_int_equal(order_of(&b), 3);
    assert_int_equal(order_of(&c), 4);
    assert_int_equal(a.call.rc, NA_STORE_OK);
    na_pgpool_free(p);
    assert_int_equal(f.opens, f.closes);
}

static void test_acquire_timeout_counts_from_arrival(void **state)
{
    struct probe a, b;
    unsigned two = 2, one = 1;
    struct na_pgpool *p;
    uint64_t t0;

    (void)state;
    fake_reset(0, true);
    p = start(1, 300);
    wait_until(all_connected, &two);
    probe_init(&a, 0);
    submit(p, &a);
    wait_until(held_is, &one);
    t0 = na_clock_ns();
    /* It arrived 200 ms ago: 100 ms of its 300 are left. */
    probe_init(&b, t0 - 200 * 1000000ull);
    submit(p, &b);
    while (!order_of(&b))
        sched_yield();
    assert_int_equal(b.call.rc, NA_STORE_UNAVAILABLE);
    assert_non_null(strstr(b.call.detail, "no database connection free in time"));
    /* Expired at its arrival + 300 ms, not at its submission + 300 ms. */
    assert_true(b.done_ns - b.call.arrived_ns >= 300 * 1000000ull);
    assert_true(b.done_ns - t0 < 250 * 1000000ull);
    release();
    na_pgpool_free(p);
}

static void test_backoff_is_not_cut_short_by_traffic(void **state)
{
    static struct probe calls[300];
    struct na_pgpool *p;
    uint64_t t0;
    unsigned opens;

    (void)state;
    fake_reset(-1, false);
    p = start(2, 5);
    t0 = na_clock_ns();
    /* A call every 2 ms for 600 ms, while no connection can be opened. */
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        struct timespec ts = {.tv_nsec = 2000000};

        probe_init(&calls[i], 0);
        submit(p, &calls[i]);
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&f.lock);
    opens = f.opens;
    pthread_mutex_unlock(&f.lock);
    while (order_of(&calls[sizeof(calls) / sizeof(calls[0]) - 1]) == 0)
        sched_yield(); /* the last ones expire too */
    na_pgpool_free(p);
    /*
     * Naps of 20, 40, 80, then 160 ms, each at least half its length: in
     * 0.6 s (and the time the loop overran) one worker makes at most
     * 1 + the naps that fit. Three workers: two for items, one for pings.
     */
    {
        double secs = (double)(na_clock_ns() - t0) / 1e9;
        unsigned per_worker = 1, step = 20;
        double t = 0;

        while ((t += step / 2000.0) <= secs) {
            per_worker++;
            step = step * 2 > 160 ? 160 : step * 2;
        }
        if (opens > 3 * per_worker)
            fail_msg("%u connection attempts in %.2f s; at most %u expected", opens, secs,
                     3 * per_worker);
    }
    assert_true(opens >= 3);
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        assert_int_equal(calls[i].call.rc, NA_STORE_UNAVAILABLE);
        assert_non_null(strstr(calls[i].call.detail, "unavailable"));
    }
}

static void test_recovers_when_the_database_returns(void **state)
{
    struct probe a;
    unsigned two = 2;
    struct na_pgpool *p;

    (void)state;
    fake_reset(4, false);
    p = start(1, 5000);
    wait_until(all_connected, &two);
    assert_true(f.opens >= 6);
    probe_init(&a, 0);
    submit(p, &a);
    while (!order_of(&a))
        sched_yield();
    assert_int_equal(a.call.rc, NA_STORE_OK);
    na_pgpool_free(p);
}

static void test_replaces_a_connection_the_server_closed(void **state)
{
    struct na_pgpool_config c = {
        .size = 1,
        .acquire_timeout_ms = 5000,
        .health_timeout_ms = 1000,
        .open = fake_open,
        .run = fake_run,
        .usable = fake_usable,
        .close = fake_close,
    };
    struct na_pgpool_stats st;
    struct probe a, b;
    unsigned two = 2, three = 3;
    struct na_pgpool *p;

    (void)state;
    fake_reset(0, false);
    p = na_pgpool_start(&c);
    assert_non_null(p);
    finished = 0;
    wait_until(all_connected, &two);
    /* Closed by the server while idle: replaced first, and the call runs on the new one. */
    f.gone = 1;
    probe_init(&a, 0);
    submit(p, &a);
    while (!order_of(&a))
        sched_yield();
    assert_int_equal(a.call.rc, NA_STORE_OK);
    wait_until(asked_is, &two); /* the gone one, then its replacement */
    assert_int_equal(f.opens, 3);
    assert_int_equal(f.closes, 1);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.errors, 0);
    /* A usable one is asked once per call, and kept. */
    probe_init(&b, 0);
    submit(p, &b);
    while (!order_of(&b))
        sched_yield();
    wait_until(asked_is, &three);
    assert_int_equal(f.opens, 3);
    na_pgpool_free(p);
    assert_int_equal(f.opens, f.closes);
}

static void test_a_call_whose_backend_ended_runs_again(void **state)
{
    struct probe a, b, c;
    struct na_pgpool_stats st;
    unsigned two = 2;
    struct na_pgpool *p;

    (void)state;
    fake_reset(0, false);
    p = start(1, 5000);
    wait_until(all_connected, &two);
    /* Ended once: run again on a new connection, and answered. */
    f.end_next = 1;
    probe_init(&a, 0);
    submit(p, &a);
    while (!order_of(&a))
        sched_yield();
    assert_int_equal(a.call.rc, NA_STORE_OK);
    assert_string_equal(a.call.detail, "");
    na_pgpool_stats(p, &st);
    assert_int_equal(st.reruns, 1);
    assert_int_equal(st.errors, 0);
    assert_int_equal(f.opens, 3);
    /* Ended on every connection: NA_PGPOOL_RERUNS runs more at most, then 503. */
    f.end_next = 10;
    probe_init(&b, 0);
    submit(p, &b);
    while (!order_of(&b))
        sched_yield();
    assert_int_equal(b.call.rc, NA_STORE_UNAVAILABLE);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.reruns, 1 + NA_PGPOOL_RERUNS);
    /* Past its acquire deadline when it ended: not run again (the bound holds). */
    wait_until(all_connected, &two);
    f.end_next = 1;
    f.run_ms = 150;
    probe_init(&c, na_clock_ns() - 4900 * 1000000ull); /* 100 ms of its 5 s left */
    submit(p, &c);
    while (!order_of(&c))
        sched_yield();
    assert_int_equal(c.call.rc, NA_STORE_UNAVAILABLE);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.reruns, 1 + NA_PGPOOL_RERUNS);
    na_pgpool_free(p);
}

struct shutdown_arg {
    struct na_pgpool *p;
};

static void *run_shutdown(void *arg)
{
    na_pgpool_shutdown(((struct shutdown_arg *)arg)->p);
    return NULL;
}

static void test_shutdown(void **state)
{
    struct probe a, b, c, late;
    unsigned two = 2, one = 1;
    struct shutdown_arg arg;
    pthread_t t;

    (void)state;
    fake_reset(0, true);
    arg.p = start(1, 5000);
    wait_until(all_connected, &two);
    probe_init(&a, 0);
    submit(arg.p, &a);
    wait_until(held_is, &one);
    probe_init(&b, 0);
    probe_init(&c, 0);
    submit(arg.p, &b);
    submit(arg.p, &c);
    assert_int_equal(pthread_create(&t, NULL, run_shutdown, &arg), 0);
    /* Queued calls finish at once as unavailable; the running one goes on. */
    while (!order_of(&b) || !order_of(&c))
        sched_yield();
    assert_int_equal(order_of(&a), 0);
    assert_int_equal(b.call.rc, NA_STORE_UNAVAILABLE);
    assert_string_equal(c.call.detail, "server shutting down");
    release();
    pthread_join(t, NULL);
    assert_int_equal(a.call.rc, NA_STORE_OK);
    assert_int_equal(f.live, 0);
    /* After the shutdown, calls finish inline. */
    probe_init(&late, 0);
    submit(arg.p, &late);
    assert_int_equal(order_of(&late), 4);
    assert_int_equal(late.call.rc, NA_STORE_UNAVAILABLE);
    na_pgpool_free(arg.p);
}

static atomic_int idle_calls;

static bool fake_idle(void *conn, void *cls, bool *more)
{
    (void)conn;
    (void)cls;
    /* Work left for five more slices after the first. */
    *more = atomic_fetch_add(&idle_calls, 1) < 5;
    return true;
}

static void test_housekeeping_in_slices(void **state)
{
    struct na_pgpool_config c = {
        .size = 1,
        .acquire_timeout_ms = 1000,
        .health_timeout_ms = 1000,
        .open = fake_open,
        .run = fake_run,
        .close = fake_close,
        .idle = fake_idle,
        .idle_ms = 200,
    };
    struct timespec half = {.tv_nsec = 500000000};
    struct na_pgpool *p;
    struct probe ping;

    (void)state;
    fake_reset(0, false);
    atomic_init(&idle_calls, 0);
    finished = 0;
    p = na_pgpool_start(&c);
    assert_non_null(p);
    nanosleep(&half, NULL);
    /* The first slice after 200 ms idle, the five after it 10 ms apart, not 200. */
    assert_in_range(atomic_load(&idle_calls), 6, 7); /* and perhaps the next, at 450 ms */
    /* And pings still get through between housekeeping runs. */
    probe_init(&ping, 0);
    ping.call.op = NA_STORE_PING;
    submit(p, &ping);
    while (!order_of(&ping))
        sched_yield();
    assert_int_equal(ping.call.rc, NA_STORE_OK);
    na_pgpool_free(p);
}

/* Write groups: creates are groupable; the sizes of the groups run, in order. */
static unsigned group_sizes[8], ngroups;

static bool fake_groupable(const struct na_store_call *call, void *cls)
{
    (void)cls;
    return call->op == NA_STORE_CREATE;
}

static bool fake_run_group(void *conn, struct na_store_call *calls, void *cls)
{
    unsigned n = 0;

    (void)conn;
    (void)cls;
    for (struct na_store_call *c = calls; c; c = c->next, n++)
        c->rc = NA_STORE_OK;
    pthread_mutex_lock(&f.lock);
    if (ngroups < 8)
        group_sizes[ngroups++] = n;
    /* Held as fake_run() holds its calls. */
    f.held++;
    pthread_cond_broadcast(&f.changed);
    while (f.hold)
        pthread_cond_wait(&f.changed, &f.lock);
    f.held--;
    pthread_mutex_unlock(&f.lock);
    return true;
}

/* Two workers, groups of 3 at most, creates held for the group ahead for `hold_ms`. */
static struct na_pgpool *start_holding(unsigned hold_ms)
{
    struct na_pgpool_config c = {
        .size = 2,
        .acquire_timeout_ms = 10000,
        .health_timeout_ms = 1000,
        .open = fake_open,
        .run = fake_run,
        .close = fake_close,
        .groupable = fake_groupable,
        .run_group = fake_run_group,
        .group_max = 3,
        .hold_ms = hold_ms,
    };
    unsigned three = 3;
    struct na_pgpool *p;

    fake_reset(0, true);
    ngroups = 0;
    finished = 0;
    p = na_pgpool_start(&c);
    assert_non_null(p);
    wait_until(all_connected, &three);
    return p;
}

static void submit_op(struct na_pgpool *p, struct probe *pr, enum na_store_op op)
{
    probe_init(pr, 0);
    pr->call.op = op;
    submit(p, pr);
}

static void test_creates_are_held_for_the_group_running(void **state)
{
    struct probe a, b, c, g;
    struct na_pgpool_stats st;
    unsigned one = 1, two = 2;
    struct na_pgpool *p;

    (void)state;
    p = start_holding(5000);
    submit_op(p, &a, NA_STORE_CREATE);
    wait_until(held_is, &one);
    submit_op(p, &b, NA_STORE_CREATE);
    submit_op(p, &c, NA_STORE_CREATE);
    /* The second worker is free, and leaves them for a's. */
    usleep(100 * 1000);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.busy, 1);
    assert_int_equal(st.waiting, 2);
    assert_int_equal(st.held, 2);
    /* A read is never held, even queued behind held creates. */
    submit_op(p, &g, NA_STORE_GET);
    wait_until(held_is, &two);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.waiting, 2);
    release();
    while (!order_of(&b) || !order_of(&c) || !order_of(&g))
        sched_yield();
    /* a's worker took b and c as one group. */
    assert_int_equal(ngroups, 1);
    assert_int_equal(group_sizes[0], 2);
    assert_true(order_of(&a) < order_of(&b));
    assert_int_equal(b.call.rc, NA_STORE_OK);
    assert_int_equal(c.call.rc, NA_STORE_OK);
    na_pgpool_free(p);
}

static void test_a_whole_group_is_not_held(void **state)
{
    struct probe a, b[3];
    unsigned one = 1, two = 2;
    struct na_pgpool *p;

    (void)state;
    p = start_holding(5000);
    submit_op(p, &a, NA_STORE_CREATE);
    wait_until(held_is, &one);
    for (int i = 0; i < 3; i++)
        submit_op(p, &b[i], NA_STORE_CREATE);
    /* group_max waiting: the second worker runs them at once, a still running. */
    wait_until(held_is, &two);
    assert_int_equal(order_of(&a), 0);
    assert_int_equal(ngroups, 1);
    assert_int_equal(group_sizes[0], 3);
    release();
    while (!order_of(&a) || !order_of(&b[2]))
        sched_yield();
    na_pgpool_free(p);
}

static void test_a_group_running_longer_than_the_hold_holds_nothing(void **state)
{
    struct probe a, b;
    struct na_pgpool_stats st;
    unsigned one = 1, two = 2;
    struct na_pgpool *p;

    (void)state;
    p = start_holding(200);
    submit_op(p, &a, NA_STORE_CREATE);
    wait_until(held_is, &one);
    /* a runs on past the hold (stuck behind a lock, say): the writes after it are not held. */
    usleep(300 * 1000);
    submit_op(p, &b, NA_STORE_CREATE);
    na_pgpool_stats(p, &st);
    assert_int_equal(st.held, 0);
    wait_until(held_is, &two);
    assert_int_equal(order_of(&a), 0);
    release();
    while (!order_of(&a) || !order_of(&b))
        sched_yield();
    na_pgpool_free(p);
    /*
     * Nor those after a write that ran alongside it and ended: the group
     * stuck is the only one running (an outside review: each sequential
     * POST was held 10 ms, for a group that had ended).
     */
    p = start_holding(200);
    f.stuck_id = 7;
    probe_init(&a, 0);
    a.call.op = NA_STORE_CREATE;
    a.call.id = 7;
    submit(p, &a);
    wait_until(held_is, &one);
    usleep(300 * 1000);
    for (int i = 0; i < 3; i++) {
        struct probe n;

        submit_op(p, &n, NA_STORE_CREATE);
        while (!order_of(&n))
            sched_yield();
    }
    na_pgpool_stats(p, &st);
    assert_int_equal(st.held, 0);
    release();
    while (!order_of(&a))
        sched_yield();
    na_pgpool_free(p);
}

static void test_a_hold_runs_out(void **state)
{
    struct probe a, b;
    unsigned one = 1, two = 2;
    struct na_pgpool *p;

    (void)state;
    p = start_holding(100);
    submit_op(p, &a, NA_STORE_CREATE);
    wait_until(held_is, &one);
    submit_op(p, &b, NA_STORE_CREATE);
    /* a runs on (stuck behind a lock, say): b starts on the other worker once held 100 ms. */
    wait_until(held_is, &two);
    assert_true(na_clock_ns() - b.call.arrived_ns >= 100 * 1000000ull);
    assert_int_equal(order_of(&a), 0);
    release();
    while (!order_of(&a) || !order_of(&b))
        sched_yield();
    assert_int_equal(ngroups, 0); /* each ran alone */
    na_pgpool_free(p);
}

static void test_write_groups(void **state)
{
    struct na_pgpool_config c = {
        .size = 1,
        .acquire_timeout_ms = 5000,
        .health_timeout_ms = 1000,
        .open = fake_open,
        .run = fake_run,
        .close = fake_close,
        .groupable = fake_groupable,
        .run_group = fake_run_group,
        .group_max = 3,
    };
    /* a runs (held); b c d e f queue, g (a read) after them, then h. */
    enum na_store_op ops[8] = {NA_STORE_CREATE, NA_STORE_CREATE, NA_STORE_CREATE, NA_STORE_CREATE,
                               NA_STORE_CREATE, NA_STORE_CREATE, NA_STORE_GET,    NA_STORE_CREATE};
    struct probe pr[8];
    struct na_pgpool_stats st;
    unsigned two = 2, one = 1;
    struct na_pgpool *p;

    (void)state;
    fake_reset(0, true);
    ngroups = 0;
    finished = 0;
    p = na_pgpool_start(&c);
    assert_non_null(p);
    wait_until(all_connected, &two);
    for (int i = 0; i < 8; i++) {
        probe_init(&pr[i], 0);
        pr[i].call.op = ops[i];
        submit(p, &pr[i]);
        if (i == 0)
            wait_until(held_is, &one);
    }
    release();
    while (!order_of(&pr[7]))
        sched_yield();
    /* a alone; b c d (group_max); e f (the read ends it); g alone (run); h alone. */
    assert_int_equal(ngroups, 2);
    assert_int_equal(group_sizes[0], 3);
    assert_int_equal(group_sizes[1], 2);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(order_of(&pr[i]), i + 1); /* finished in arrival order */
        assert_int_equal(pr[i].call.rc, NA_STORE_OK);
    }
    na_pgpool_stats(p, &st);
    assert_int_equal(st.groups, 2);
    assert_int_equal(st.grouped, 5);
    na_pgpool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_in_arrival_order),
        cmocka_unit_test(test_acquire_timeout_counts_from_arrival),
        cmocka_unit_test(test_backoff_is_not_cut_short_by_traffic),
        cmocka_unit_test(test_recovers_when_the_database_returns),
        cmocka_unit_test(test_replaces_a_connection_the_server_closed),
        cmocka_unit_test(test_a_call_whose_backend_ended_runs_again),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_housekeeping_in_slices),
        cmocka_unit_test(test_write_groups),
        cmocka_unit_test(test_creates_are_held_for_the_group_running),
        cmocka_unit_test(test_a_whole_group_is_not_held),
        cmocka_unit_test(test_a_group_running_longer_than_the_hold_holds_nothing),
        cmocka_unit_test(test_a_hold_runs_out),
    };

    return RUN(tests);
}

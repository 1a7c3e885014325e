/*
 * Unit tests for coalesce: identical reads share a query, never one that
 * started before they arrived; writes and other keys pass through; every
 * reader gets its own copy of the result.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "na/clock.h"
#include "na/coalesce.h"

/* A blocking store the test drives by hand: calls wait until finish_next(). */
struct fake {
    struct na_store base;
    struct na_store_call *queue[64];
    size_t queued, submitted;
};

static struct fake fake_store;

static void fake_submit(struct na_store *s, struct na_store_call *call)
{
    struct fake *f = (struct fake *)s;

    f->queue[f->queued++] = call;
    f->submitted++;
}

static void fake_health(struct na_store *s, struct na_store_health *out)
{
    memset(out, 0, sizeof(*out));
    out->backend = s->backend;
}

static uint64_t fake_generation(struct na_store *s)
{
    (void)s;
    return 0;
}

static void fake_free(struct na_store *s)
{
    (void)s;
}

static const struct na_store_ops fake_ops = {
    .submit = fake_submit,
    .health = fake_health,
    .generation = fake_generation,
    .free = fake_free,
};

/* Finishes the oldest call with `n` items whose ids start at `first`. */
static void finish_next(size_t n, int64_t first)
{
    struct na_store_call *call = fake_store.queue[0];

    memmove(fake_store.queue, fake_store.queue + 1, --fake_store.queued * sizeof(call));
    if (call->op == NA_STORE_LIST) {
        call->items = calloc(n, sizeof(*call->items));
        for (size_t i = 0; i < n; i++)
            call->items[i].id = first + (int64_t)i;
        call->count = n;
    } else {
        call->result.id = first;
    }
    call->done(call);
}

static int done_count;

static void on_done(struct na_store_call *call)
{
    (void)call;
    done_count++;
}

static void list_call(struct na_store_call *c, size_t limit)
{
    memset(c, 0, sizeof(*c));
    c->op = NA_STORE_LIST;
    c->limit = limit;
    c->done = on_done;
}

static struct na_store *setup_store(void)
{
    memset(&fake_store, 0, sizeof(fake_store));
    fake_store.base.ops = &fake_ops;
    fake_store.base.backend = "fake";
    fake_store.base.blocking = true;
    done_count = 0;
    return na_coalesce_new(&fake_store.base, 1000);
}

static void test_reads_share_a_later_query(void **state)
{
    struct na_store *s = setup_store();
    struct na_store_call a, b, c, d;

    (void)state;
    list_call(&a, 100);
    na_store_submit(s, &a); /* runs at once */
    assert_int_equal(fake_store.submitted, 1);
    list_call(&b, 100);
    list_call(&c, 100);
    na_store_submit(s, &b); /* arrived while a's query runs: wait for the next one */
    na_store_submit(s, &c);
    assert_int_equal(fake_store.submitted, 1);

    finish_next(3, 1); /* a's query: only a gets it */
    assert_int_equal(done_count, 1);
    assert_int_equal(a.count, 3);
    assert_int_equal(b.count, 0);
    assert_int_equal(fake_store.submitted, 2); /* the waiting batch started */

    list_call(&d, 100);
    na_store_submit(s, &d); /* b and c's query runs: d waits for a third */
    finish_next(4, 10);
    assert_int_equal(done_count, 3);
    assert_int_equal(b.count, 4);
    assert_int_equal(c.count, 4);
    assert_ptr_not_equal(b.items, c.items); /* each reader owns its copy */
    assert_int_equal(c.items[3].id, 13);
    assert_int_equal(fake_store.submitted, 3);
    finish_next(1, 99);
    assert_int_equal(d.count, 1);
    assert_int_equal(done_count, 4);
    assert_int_equal(fake_store.queued, 0);
    free(a.items);
    free(b.items);
    free(c.items);
    free(d.items);
    na_store_free(s);
}

static void test_other_keys_and_writes_pass_through(void **state)
{
    struct na_store *s = setup_store();
    struct na_store_call a, b, w1, w2, g1, g2;

    (void)state;
    list_call(&a, 100);
    list_call(&b, 50); /* another limit: another key */
    na_store_submit(s, &a);
    na_store_submit(s, &b);
    assert_int_equal(fake_store.submitted, 2);
    memset(&w1, 0, sizeof(w1));
    w1.op = NA_STORE_CREATE;
    w1.done = on_done;
    w2 = w1;
    na_store_submit(s, &w1);
    na_store_submit(s, &w2);
    assert_int_equal(fake_store.submitted, 4); /* writes are never shared */
    memset(&g1, 0, sizeof(g1));
    g1.op = NA_STORE_GET;
    g1.id = 7;
    g1.done = on_done;
    g2 = g1;
    g2.id = 8;
    na_store_submit(s, &g1);
    na_store_submit(s, &g2);
    assert_int_equal(fake_store.submitted, 6);
    while (fake_store.queued)
        finish_next(2, 1);
    assert_int_equal(done_count, 6);
    free(a.items);
    free(b.items);
    na_store_free(s);
}

static void test_errors_reach_every_member(void **state)
{
    struct na_store *s = setup_store();
    struct na_store_call a, b, c;
    struct na_store_call *leader;

    (void)state;
    list_call(&a, 100);
    list_call(&b, 100);
    list_call(&c, 100);
    na_store_submit(s, &a);
    na_store_submit(s, &b);
    na_store_submit(s, &c);
    finish_next(1, 1);
    leader = fake_store.queue[0];
    fake_store.queued = 0;
    leader->rc = NA_STORE_UNAVAILABLE;
    strcpy(leader->detail, "database unavailable");
    leader->done(leader);
    assert_int_equal(b.rc, NA_STORE_UNAVAILABLE);
    assert_int_equal(c.rc, NA_STORE_UNAVAILABLE);
    assert_string_equal(c.detail, "database unavailable");
    assert_null(c.items);
    free(a.items);
    na_store_free(s);
}

/* Waiting in a batch counts toward a read's acquire timeout, from its own arrival. */
static void test_waiting_counts_from_arrival(void **state)
{
    struct na_store *s = setup_store();
    struct na_store_call a, b, c, d, e;
    uint64_t now = na_clock_ns();

    (void)state;
    list_call(&a, 100);
    na_store_submit(s, &a);
    list_call(&b, 100);
    b.arrived_ns = now - 1500 * 1000000ull; /* its 1 s ran out while a's query ran */
    list_call(&c, 100);
    na_store_submit(s, &b);
    na_store_submit(s, &c);
    assert_int_equal(a.arrived_ns, fake_store.queue[0]->arrived_ns); /* the leader's */
    finish_next(2, 1);
    assert_int_equal(done_count, 2); /* a answered, b refused */
    assert_int_equal(b.rc, NA_STORE_UNAVAILABLE);
    assert_non_null(strstr(b.detail, "no database connection free in time"));
    assert_null(b.items);
    assert_int_equal(fake_store.submitted, 2);
    /* c's query starts with c's arrival, its members' earliest. */
    assert_int_equal(fake_store.queue[0]->arrived_ns, c.arrived_ns);
    finish_next(1, 5);
    assert_int_equal(c.rc, NA_STORE_OK);
    assert_int_equal(c.count, 1);

    /* When every waiting member ran out, no query runs for them. */
    list_call(&d, 100);
    na_store_submit(s, &d);
    list_call(&e, 100);
    e.arrived_ns = now - 2000 * 1000000ull;
    na_store_submit(s, &e);
    finish_next(1, 1);
    assert_int_equal(e.rc, NA_STORE_UNAVAILABLE);
    assert_int_equal(fake_store.submitted, 3);
    assert_int_equal(fake_store.queued, 0);
    assert_int_equal(done_count, 5);
    free(a.items);
    free(c.items);
    free(d.items);
    na_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_share_a_later_query),
        cmocka_unit_test(test_other_keys_and_writes_pass_through),
        cmocka_unit_test(test_errors_reach_every_member),
        cmocka_unit_test(test_waiting_counts_from_arrival),
    };

    return RUN(tests);
}

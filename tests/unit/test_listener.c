/*
 * Unit tests for listener, over real sockets on loopback with an owner of
 * the test's: admission when there is room, refusal when there is not
 * (the owner's answer, then a close), an answer even to a client that
 * sends nothing, a place made only for a client whose head is in (and
 * left for libmicrohttpd to read), the oldest refusal ended when they are
 * full, the tick, and connects refused once closed.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "na/listener.h"

static atomic_bool has_room, can_make_room;
static atomic_int admitted, ticks, refusals;
static char seen[64], admitted_with[64];

static bool room(void *cls)
{
    (void)cls;
    return atomic_load(&has_room);
}

static bool make_room(void *cls)
{
    (void)cls;
    return atomic_load(&can_make_room);
}

static int admit(void *cls, int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)cls;
    (void)sa;
    (void)len;
    /* What the client sent is still there, for libmicrohttpd to read. */
    ssize_t n = recv(fd, admitted_with, sizeof(admitted_with) - 1, MSG_DONTWAIT);
    admitted_with[n > 0 ? n : 0] = '\0';
    (void)!write(fd, "admitted", 8);
    close(fd);
    atomic_fetch_add(&admitted, 1);
    return 0;
}

static size_t refusal(void *cls, const char *head, size_t n, char *out, size_t cap)
{
    (void)cls;
    snprintf(seen, sizeof(seen), "%.*s", (int)(n < 20 ? n : 20), head);
    atomic_fetch_add(&refusals, 1);
    return (size_t)snprintf(out, cap, "refused:%zu", n);
}

static atomic_bool hold_tick, in_tick;

/* Holds the listener's thread while hold_tick is set: events pile up for its next batch. */
static void tick(void *cls)
{
    struct timespec ms = {.tv_nsec = 1000000};

    (void)cls;
    atomic_fetch_add(&ticks, 1);
    while (atomic_load(&hold_tick)) {
        atomic_store(&in_tick, true); /* held, and known to be */
        nanosleep(&ms, NULL);
    }
    atomic_store(&in_tick, false);
}

/* wait_ms 0: the listener's own second for a refused connection's head. */
static struct na_listener *start_waiting(unsigned wait_ms)
{
    struct na_listener_options o = {.host = "127.0.0.1",
                                    .port = 0,
                                    .sndbuf = 16384,
                                    .rcvbuf = 16384,
                                    .refuse_max = 4,
                                    .wait_ms = wait_ms};
    struct na_listener_ops ops = {
        .room = room, .make_room = make_room, .admit = admit, .refusal = refusal, .tick = tick};
    char err[200];
    struct na_listener *l = na_listener_open(&o, err, sizeof(err));

    assert_non_null(l);
    assert_int_equal(na_listener_start(l, &ops), 0);
    return l;
}

static struct na_listener *start(void)
{
    return start_waiting(0);
}

static int dial(struct na_listener *l)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)na_listener_port(l))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the peer closes; returns what came. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;

    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

static void test_admit_and_refuse(void **state)
{
    struct na_listener *l;
    struct na_listener_stats st;
    char buf[128];
    int fd;

    (void)state;
    atomic_store(&has_room, true);
    l = start();
    fd = dial(l);
    read_all(fd, buf, sizeof(buf));
    close(fd);
    assert_string_equal(buf, "admitted");

    /* No room: the owner's answer to what was sent, then the close. */
    atomic_store(&has_room, false);
    fd = dial(l);
    (void)!write(fd, "GET /x HTTP/1.1\r\n\r\n", 19);
    read_all(fd, buf, sizeof(buf));
    close(fd);
    assert_string_equal(buf, "refused:19");
    assert_string_equal(seen, "GET /x HTTP/1.1\r\n\r\n");

    /* A client that sends nothing is answered too, after a second. */
    fd = dial(l);
    read_all(fd, buf, sizeof(buf));
    close(fd);
    assert_string_equal(buf, "refused:0");

    na_listener_stats(l, &st);
    assert_int_equal(st.accepted, 3);
    assert_int_equal(st.refused, 2);

    /* A refusal is counted by the time its client has read the answer and the close. */
    for (int i = 1; i <= 200; i++) {
        fd = dial(l);
        (void)!write(fd, "GET /c HTTP/1.1\r\n\r\n", 19);
        read_all(fd, buf, sizeof(buf));
        close(fd);
        na_listener_stats(l, &st);
        assert_int_equal(st.refused, 2 + (unsigned)i);
    }
    assert_int_equal(st.dropped, 0);
    assert_true(atomic_load(&ticks) >= 5); /* over a second of ticking */
    na_listener_free(l);
}

static void test_a_place_only_for_a_head(void **state)
{
    struct na_listener *l;
    struct timespec ms = {.tv_nsec = 100000000};
    char buf[128];
    int fd;

    (void)state;
    atomic_store(&has_room, false);
    atomic_store(&can_make_room, true);
    atomic_store(&admitted, 0);
    l = start();
    fd = dial(l);
    nanosleep(&ms, NULL);
    assert_int_equal(atomic_load(&admitted), 0); /* silent: it cannot take a place */
    (void)!write(fd, "GET /y HTTP/1.1\r\n", 17);
    nanosleep(&ms, NULL);
    assert_int_equal(atomic_load(&admitted), 0); /* half a head is not yet a head */
    (void)!write(fd, "\r\n", 2);
    read_all(fd, buf, sizeof(buf));
    close(fd);
    assert_string_equal(buf, "admitted");
    assert_string_equal(admitted_with, "GET /y HTTP/1.1\r\n\r\n");
    atomic_store(&can_make_room, false);
    na_listener_free(l);
}

static void test_full_refusals_end_the_oldest(void **state)
{
    struct na_listener *l;
    struct timespec ms = {.tv_nsec = 20000000};
    char buf[128];
    int silent[4], fd;

    (void)state;
    atomic_store(&has_room, false);
    l = start(); /* refuse_max 4 */
    for (int i = 0; i < 4; i++) {
        silent[i] = dial(l);
        nanosleep(&ms, NULL); /* in this order */
    }
    /* A fifth is met at once, not kept in the backlog behind four that send nothing... */
    fd = dial(l);
    (void)!write(fd, "GET /z HTTP/1.1\r\n\r\n", 19);
    read_all(fd, buf, sizeof(buf));
    close(fd);
    assert_string_equal(buf, "refused:19");
    /* ...by ending the oldest of them (answered as it is), and only it. */
    read_all(silent[0], buf, sizeof(buf));
    assert_string_equal(buf, "refused:0");
    assert_int_equal(recv(silent[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
    for (int i = 0; i < 4; i++)
        close(silent[i]);
    na_listener_free(l);
}

/*
 * A refusal ended to make room while an event of its own is pending in the
 * same batch (it has just sent its head): the event must not touch it (a
 * use after free, which the sanitized build of this test reports).
 */
static void test_refusal_ended_with_its_event_pending(void **state)
{
    struct na_listener *l;
    struct timespec ms = {.tv_nsec = 1000000};
    char buf[128];
    int silent[4], fd;

    (void)state;
    atomic_store(&has_room, false);
    /* refuse_max 4; and a wait for heads long enough that, however slow this machine (an
       emulated one, under qemu-user), none is answered for its silence before it sends. */
    l = start_waiting(60000);
    for (int i = 0; i < 4; i++)
        silent[i] = dial(l);
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    /* Hold the thread in its tick; then a newcomer first, the four heads after it. */
    atomic_store(&hold_tick, true);
    while (!atomic_load(&in_tick))
        nanosleep(&ms, NULL);
    fd = dial(l);
    for (int i = 0; i < 4; i++)
        (void)!write(silent[i], "GET /s HTTP/1.1\r\n\r\n", 19);
    (void)!write(fd, "GET /n HTTP/1.1\r\n\r\n", 19);
    atomic_store(&hold_tick, false);
    read_all(fd, buf, sizeof(buf));
    assert_string_equal(buf, "refused:19");
    close(fd);
    for (int i = 0; i < 4; i++) {
        read_all(silent[i], buf, sizeof(buf));
        assert_string_equal(buf, "refused:19"); /* each answered on its own head */
        close(silent[i]);
    }
    na_listener_free(l);
}

static void test_close_refuses_connects(void **state)
{
    struct na_listener *l;
    struct timespec ms = {.tv_nsec = 50000000};
    int fd;

    (void)state;
    atomic_store(&has_room, true);
    l = start();
    na_listener_close(l);
    nanosleep(&ms, NULL); /* the thread acts on it */
    fd = dial(l);
    assert_int_equal(fd, -1);
    na_listener_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_and_refuse),
        cmocka_unit_test(test_a_place_only_for_a_head),
        cmocka_unit_test(test_full_refusals_end_the_oldest),
        cmocka_unit_test(test_refusal_ended_with_its_event_pending),
        cmocka_unit_test(test_close_refuses_connects),
    };

    return RUN(tests);
}

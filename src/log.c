/*
 * log: JSON log lines, formatted by the caller, written by one writer thread
 * through a bounded ring buffer (see include/na/log.h).
 */
#include "log_line.h"
#include "na/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE (1u << 20)

static struct {
    char service[65];
    enum na_log_level min_level;
    int fd;

    pthread_mutex_t lock; /* guards everything below, and synchronous writes */
    pthread_cond_t wake;
    pthread_t writer;
    bool running;
    bool stopping;
    bool writer_waiting;
    char *ring;
    size_t head, tail; /* byte offsets modulo RING_SIZE; head == tail: empty */
    uint64_t dropped, dropped_reported;
} g = {
    .service = "node-api",
    .min_level = NA_LOG_INFO,
    .fd = 1,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static char ring_storage[RING_SIZE];
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int na_log_level_parse(const char *s, enum na_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (!strcasecmp(s, level_names[i])) {
            *out = (enum na_log_level)i;
            return 0;
        }
    }
    return -1;
}

void na_log_setup(const char *service, enum na_log_level min_level, int fd)
{
    snprintf(g.service, sizeof(g.service), "%s", service);
    g.min_level = min_level;
    g.fd = fd;
}

bool na_log_enabled(enum na_log_level level)
{
    return level >= g.min_level;
}

/* Writes all of buf, waiting out EAGAIN on a non-blocking descriptor. */
static void write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};

                poll(&p, 1, 100);
                continue;
            }
            return; /* stdout is gone: nothing sensible left to do */
        }
        buf += w;
        n -= (size_t)w;
    }
}

static size_t ring_used(void)
{
    return (g.head - g.tail) & (RING_SIZE - 1);
}

/* Queues a line under the lock; false when it does not fit. */
static bool ring_put(const char *line, size_t n)
{
    size_t first;

    if (n >= RING_SIZE - 1 - ring_used())
        return false;
    first = RING_SIZE - g.head;
    if (first > n)
        first = n;
    memcpy(g.ring + g.head, line, first);
    memcpy(g.ring, line + first, n - first);
    g.head = (g.head + n) & (RING_SIZE - 1);
    return true;
}

/* Returns false when the line was dropped (the ring full). */
static bool enqueue(const char *line, size_t n)
{
    bool kept = true;

    pthread_mutex_lock(&g.lock);
    if (!g.running) {
        write_all(g.fd, line, n);
    } else if (!ring_put(line, n)) {
        g.dropped++;
        kept = false;
    } else if (g.writer_waiting) {
        pthread_cond_signal(&g.wake);
    }
    pthread_mutex_unlock(&g.lock);
    return kept;
}

/*
 * "2026-11-26T19:18:00.123Z". The date and time up to the second are cached
 * per thread: at high request rates most lines fall in the same second.
 */
static void put_timestamp(struct na_buf *b)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[24];
    struct timespec ts;
    char ms[5];

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;

        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    na_buf_puts(b, cached);
    ms[0] = '.';
    ms[1] = (char)('0' + ts.tv_nsec / 100000000);
    ms[2] = (char)('0' + ts.tv_nsec / 10000000 % 10);
    ms[3] = (char)('0' + ts.tv_nsec / 1000000 % 10);
    ms[4] = 'Z';
    na_buf_append(b, ms, 5);
}

void na_log_begin(struct na_buf *b, enum na_log_level level, const char *message)
{
    na_buf_puts(b, "{\"level\":\"");
    na_buf_puts(b, level_names[level]);
    na_buf_puts(b, "\",\"message\":");
    na_buf_json_str(b, message, strlen(message), 1024);
    na_buf_puts(b, ",\"timestamp\":\"");
    put_timestamp(b);
    na_buf_puts(b, "\",\"service\":");
    na_buf_json_str(b, g.service, strlen(g.service), 0);
}

bool na_log_end(struct na_buf *b)
{
    if (b->truncated) {
        /*
         * Never emit half an object: cut back to the common fields, which
         * come first and always fit, and say that the rest was cut.
         */
        char *p = strstr(b->data, ",\"service\":\"");

        b->len = p ? (size_t)(p - b->data) + 13 + strlen(g.service) : 0;
        b->truncated = false;
        if (!b->len)
            return false;
        na_buf_puts(b, ",\"truncated\":true");
    }
    na_buf_append(b, "}\n", 2);
    return enqueue(b->data, b->len);
}

static void put_field(struct na_buf *b, const struct na_log_field *f)
{
    na_buf_putc(b, ',');
    na_buf_json_str(b, f->key, strlen(f->key), 0);
    na_buf_putc(b, ':');
    switch (f->type) {
    case NA_LT_STR_:
        if (f->v.s)
            na_buf_json_str(b, f->v.s, strlen(f->v.s), 2048);
        else
            na_buf_puts(b, "null");
        break;
    case NA_LT_INT_:
        na_buf_int(b, f->v.i);
        break;
    case NA_LT_DBL_:
        na_buf_printf(b, "%.6g", f->v.d);
        break;
    case NA_LT_BOOL_:
        na_buf_puts(b, f->v.i ? "true" : "false");
        break;
    case NA_LT_RAW_:
        na_buf_puts(b, f->v.s ? f->v.s : "null");
        break;
    case NA_LT_END_:
        break;
    }
}

void na_log_emit(enum na_log_level level, const char *message, const struct na_log_field *fields)
{
    char storage[NA_LOG_LINE_MAX];
    struct na_buf b;

    if (level < g.min_level)
        return;
    na_buf_init(&b, storage, sizeof(storage));
    na_log_begin(&b, level, message);
    for (const struct na_log_field *f = fields; f && f->key; f++)
        put_field(&b, f);
    na_log_end(&b);
}

static void report_drops(uint64_t n)
{
    char storage[512];
    struct na_buf b;

    na_buf_init(&b, storage, sizeof(storage));
    na_log_begin(&b, NA_LOG_WARN, "log lines dropped: stdout could not keep up");
    na_buf_puts(&b, ",\"dropped\":");
    na_buf_int(&b, (long long)n);
    na_buf_append(&b, "}\n", 2);
    write_all(g.fd, b.data, b.len);
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    for (;;) {
        size_t tail = g.tail, n;

        if (g.head == tail) {
            uint64_t drops = g.dropped - g.dropped_reported;

            if (drops) {
                /* Report drops once the backlog is out, in order. */
                g.dropped_reported = g.dropped;
                pthread_mutex_unlock(&g.lock);
                report_drops(drops);
                pthread_mutex_lock(&g.lock);
                continue;
            }
            if (g.stopping)
                break;
            g.writer_waiting = true;
            pthread_cond_wait(&g.wake, &g.lock);
            g.writer_waiting = false;
            continue;
        }
        n = g.head > tail ? g.head - tail : RING_SIZE - tail;

        /* Write outside the lock: producers keep queueing meanwhile. */
        pthread_mutex_unlock(&g.lock);
        write_all(g.fd, g.ring + tail, n);
        pthread_mutex_lock(&g.lock);
        g.tail = (tail + n) & (RING_SIZE - 1);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

int na_log_start(void)
{
    int rc = 0;

    pthread_mutex_lock(&g.lock);
    if (g.running)
        goto out;
    g.ring = ring_storage;
    g.head = g.tail = 0;
    g.stopping = false;
    if (pthread_create(&g.writer, NULL, writer_main, NULL)) {
        rc = -1;
        goto out;
    }
    g.running = true;
out:
    pthread_mutex_unlock(&g.lock);
    return rc;
}

void na_log_stop(void)
{
    pthread_mutex_lock(&g.lock);
    if (!g.running) {
        pthread_mutex_unlock(&g.lock);
        return;
    }
    g.stopping = true;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.lock);
    pthread_join(g.writer, NULL);
    pthread_mutex_lock(&g.lock);
    g.running = false;
    pthread_mutex_unlock(&g.lock);
}

uint64_t na_log_dropped(void)
{
    uint64_t n;

    pthread_mutex_lock(&g.lock);
    n = g.dropped;
    pthread_mutex_unlock(&g.lock);
    return n;
}

/*
 * accesslog: access log lines (see include/na/accesslog.h).
 */
#include "na/accesslog.h"

#include <stdint.h>
#include <string.h>

#include "na/clock.h"
#include "log_line.h"
#include "na/log.h"

bool na_access_sampled(double ratio)
{
    static _Thread_local uint64_t state;

    if (ratio >= 1.0)
        return true;
    if (ratio <= 0.0)
        return false;
    if (!state)
        state = (na_clock_ns() << 20) ^ (uint64_t)(uintptr_t)&state ^ 0x9e3779b97f4a7c15u;
    /* xorshift64: sampling needs spread, not secrecy. */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1.0p-53 < ratio;
}

bool na_access_always(const struct na_access_entry *e)
{
    return e->aborted || e->status >= 500;
}

const char *na_access_client(const char *forwarded, const char *peer, size_t *len)
{
    if (forwarded) {
        const char *p = forwarded;
        size_t n;

        while (*p == ' ' || *p == '\t')
            p++;
        n = strcspn(p, ",");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n) {
            *len = n;
            return p;
        }
    }
    *len = strlen(peer);
    return peer;
}

static void put_str(struct na_buf *b, const char *key, const char *v, size_t n, size_t max)
{
    na_buf_putc(b, ',');
    na_buf_puts(b, key);
    if (v)
        na_buf_json_str(b, v, n, max);
    else
        na_buf_puts(b, "null");
}

void na_access_log(const struct na_access_entry *e)
{
    enum na_log_level level = na_access_always(e) ? NA_LOG_ERROR : NA_LOG_INFO;
    char storage[NA_LOG_LINE_MAX];
    const char *client;
    size_t client_len;
    struct na_buf b;

    if (!na_log_enabled(level))
        return;
    na_buf_init(&b, storage, sizeof(storage));
    na_log_begin(&b, level, "request");
    /* Each field is capped so the line fits NA_LOG_LINE_MAX even fully escaped. */
    put_str(&b, "\"method\":", e->method, strlen(e->method), 32);
    put_str(&b, "\"path\":", e->path, strlen(e->path), 512);
    na_buf_puts(&b, ",\"status\":");
    na_buf_int(&b, e->status);
    na_buf_printf(&b, ",\"duration_ms\":%.3f,\"bytes\":", e->duration_ms);
    na_buf_int(&b, (long long)e->bytes);
    put_str(&b, "\"request_id\":", e->request_id, e->request_id ? strlen(e->request_id) : 0, 128);
    put_str(&b, "\"trace_id\":", e->trace_id, e->trace_id ? strlen(e->trace_id) : 0, 32);
    put_str(&b, "\"amzn_trace_id\":", e->amzn_trace, e->amzn_trace ? strlen(e->amzn_trace) : 0,
            128);
    client = na_access_client(e->forwarded, e->peer, &client_len);
    put_str(&b, "\"client\":", client, client_len, 64);
    put_str(&b, "\"user_agent\":", e->user_agent, e->user_agent ? strlen(e->user_agent) : 0, 256);
    if (e->aborted)
        na_buf_puts(&b, ",\"aborted\":true");
    if (e->fault_status) {
        na_buf_puts(&b, ",\"fault_status\":");
        na_buf_int(&b, e->fault_status);
    }
    if (e->fault_delay_ms) {
        na_buf_puts(&b, ",\"fault_delay_ms\":");
        na_buf_int(&b, e->fault_delay_ms);
        if (e->fault_delay_cut)
            na_buf_puts(&b, ",\"fault_delay_cut\":true");
    }
    na_log_end(&b);
}

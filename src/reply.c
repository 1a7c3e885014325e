/*
 * reply: replies and the one error shape (see include/na/reply.h).
 */
#include "na/reply.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "na/reqid.h"

void na_reply_reset(struct na_reply *r)
{
    r->status = 0;
    r->body = NULL;
    r->len = 0;
    r->content_type = NULL;
    r->release = NULL;
    r->release_cls = NULL;
    r->defer = NA_DEFER_NONE;
    r->delay_ms = 0;
    r->retry_after_s = 0;
    r->challenge = false;
    r->replayed = false;
    r->shared = false;
    r->vary_accept = false;
    r->pattern = false;
    r->echo_count = 0;
    r->allow[0] = '\0';
    r->location[0] = '\0';
}

void na_reply_release(struct na_reply *r)
{
    if (r->release)
        r->release(r->release_cls);
    r->release = NULL;
    r->release_cls = NULL;
    r->body = NULL;
    r->len = 0;
}

void na_reply_buf(struct na_reply *r, struct na_buf *b, unsigned status)
{
    na_buf_init(b, r->storage, sizeof(r->storage));
    r->status = status;
    r->body = r->storage;
}

void na_reply_error(struct na_reply *r, unsigned status, const char *message)
{
    struct na_buf b;

    na_reply_release(r);
    na_buf_init(&b, r->storage, sizeof(r->storage));
    na_encode_error(&b, status, message);
    r->status = status;
    r->body = b.data;
    r->len = b.len;
    r->content_type = NULL;
    r->defer = NA_DEFER_NONE;
    r->pattern = false;
    r->echo_count = 0;
}

static const char pattern_line[64] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n";

size_t na_reply_pattern(uint64_t pos, char *buf, size_t max)
{
    size_t done = 0;

    while (done < max) {
        size_t at = (size_t)((pos + done) % sizeof(pattern_line));
        size_t n = sizeof(pattern_line) - at;

        if (n > max - done)
            n = max - done;
        memcpy(buf + done, pattern_line + at, n);
        done += n;
    }
    return max;
}

void na_reply_store_error(struct na_reply *r, const struct na_store_call *call)
{
    switch (call->rc) {
    case NA_STORE_NOT_FOUND:
        na_reply_error(r, 404, call->detail[0] ? call->detail : "not found");
        break;
    case NA_STORE_UNAVAILABLE:
        na_reply_error(r, 503, call->detail[0] ? call->detail : "store unavailable, retry later");
        r->retry_after_s = 1;
        break;
    case NA_STORE_UNKNOWN:
        /* No Retry-After: a blind retry could write twice. */
        na_reply_error(r, 504,
                       "the database did not confirm the write, which may have been applied: "
                       "retry with the same Idempotency-Key, or read before writing again");
        break;
    case NA_STORE_KEY_BUSY:
        na_reply_error(r, 409,
                       "a request with this Idempotency-Key is still being processed, retry later");
        r->retry_after_s = 1;
        break;
    case NA_STORE_CONFLICT:
        na_reply_error(r, 409,
                       call->detail[0] ? call->detail : "the write conflicts with the data");
        break;
    case NA_STORE_KEY_REUSED:
        na_reply_error(r, 422, "this Idempotency-Key was used for a different request");
        break;
    case NA_STORE_FULL:
        na_reply_error(r, 507, call->detail[0] ? call->detail : "the store is full");
        break;
    case NA_STORE_NOMEM:
        na_reply_error(r, 500, "out of memory");
        break;
    case NA_STORE_ERROR:
    case NA_STORE_OK:
        na_reply_error(r, 500, call->detail[0] ? call->detail : "store error");
        break;
    }
}

size_t na_reply_raw(unsigned status, const char *message, const char *body, size_t body_len,
                    const char *request_id, unsigned retry_after_s, bool head_only, char *out,
                    size_t cap)
{
    char storage[NA_ENCODE_SMALL_MAX], retry[32] = "", id[NA_REQID_MAX + 32] = "", date[48];
    struct na_buf b;
    struct tm tm;
    time_t now;
    int n;

    if (!body) {
        na_buf_init(&b, storage, sizeof(storage));
        na_encode_error(&b, status, message);
        body = b.data;
        body_len = b.len;
    }
    if (retry_after_s)
        snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
    if (request_id)
        snprintf(id, sizeof(id), "X-Request-Id: %s\r\n", request_id);
    /* An origin server with a clock dates its answers (RFC 9110 6.6.1), as libmicrohttpd does. */
    now = time(NULL);
    if (!gmtime_r(&now, &tm) ||
        !strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm))
        date[0] = '\0';
    n = snprintf(out, cap,
                 "HTTP/1.1 %u %s\r\n%sContent-Type: application/json; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n%s%sX-Content-Type-Options: nosniff\r\n"
                 "Connection: close\r\n\r\n%.*s",
                 status, MHD_get_reason_phrase_for(status), date, body_len, id, retry,
                 head_only ? 0 : (int)body_len, body);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

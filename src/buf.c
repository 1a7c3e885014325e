/*
 * buf: bounded text buffer and JSON string escaping (see include/na/buf.h).
 */
#include "na/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void na_buf_init(struct na_buf *b, char *storage, size_t cap)
{
    b->data = storage;
    b->cap = cap;
    b->len = 0;
    b->truncated = false;
    storage[0] = '\0';
}

void na_buf_append(struct na_buf *b, const char *s, size_t n)
{
    size_t room = b->cap - 1 - b->len;

    if (n > room) {
        n = room;
        b->truncated = true;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void na_buf_puts(struct na_buf *b, const char *s)
{
    na_buf_append(b, s, strlen(s));
}

void na_buf_putc(struct na_buf *b, char c)
{
    na_buf_append(b, &c, 1);
}

void na_buf_printf(struct na_buf *b, const char *fmt, ...)
{
    size_t room = b->cap - b->len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        b->truncated = true;
        return;
    }
    if ((size_t)n >= room) {
        b->len = b->cap - 1;
        b->truncated = true;
        return;
    }
    b->len += (size_t)n;
}

void na_buf_int(struct na_buf *b, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    na_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 when
 * the bytes there are not one. Follows the table in RFC 3629 section 4.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
        unsigned char hi = c == 0xED ? 0x9F : 0xBF;

        if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;

        if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

bool na_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t k = utf8_seq_len(p + i, n - i);

        if (!k)
            return false;
        i += k;
    }
    return true;
}

/*
 * Appends one escape or character whole, keeping a byte for the closing
 * quote; returns false (and marks truncation) when it does not fit, so a
 * cut string never ends inside an escape sequence.
 */
static bool put_whole(struct na_buf *b, const char *s, size_t n)
{
    if (b->len + n + 2 > b->cap) {
        b->truncated = true;
        return false;
    }
    na_buf_append(b, s, n);
    return true;
}

void na_buf_json_str(struct na_buf *b, const char *s, size_t n, size_t max_in)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    if (max_in && n > max_in)
        n = max_in;
    if (b->len + 3 > b->cap) {
        b->truncated = true;
        return;
    }
    na_buf_putc(b, '"');
    while (i < n) {
        unsigned char c = p[i];
        char esc[6];
        size_t k;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            /* Plain ASCII is copied in runs, and may be cut anywhere. */
            size_t run = i, room;

            while (i < n && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' && p[i] < 0x80)
                i++;
            room = b->cap - 2 - b->len;
            if (i - run > room) {
                na_buf_append(b, s + run, room);
                b->truncated = true;
                break;
            }
            na_buf_append(b, s + run, i - run);
            continue;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            k = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        } else {
            k = utf8_seq_len(p + i, n - i);
            if (k) {
                if (!put_whole(b, s + i, k))
                    break;
                i += k;
                continue;
            }
            memcpy(esc, "\\ufffd", 6);
            k = 6;
        }
        if (!put_whole(b, esc, k))
            break;
        i++;
    }
    na_buf_putc(b, '"');
}

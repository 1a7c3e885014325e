/*
 * taskmeta: the ECS task metadata v4 client and parser (see
 * include/na/taskmeta.h).
 */
#include "na/taskmeta.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "na/clock.h"

/* Copies a string member into out; false when present but not a string or too long. */
static bool member(const cJSON *root, const char *name, char *out, size_t cap, bool *found)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

    *found = v != NULL;
    if (!v)
        return true;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return false;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

/*
 * Printable ASCII; with `only` set, letters, digits and those characters
 * alone (a task family's alphabet).
 */
static bool printable(const char *s, const char *only)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e)
            return false;
        if (only && !(*s >= '0' && *s <= '9') && !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') &&
            !strchr(only, *s))
            return false;
    }
    return true;
}

int na_taskmeta_parse(const char *json, size_t n, struct na_taskmeta *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off, cap;
        bool required;
    } fields[] = {
        {"Cluster", offsetof(struct na_taskmeta, cluster), 512, false},
        {"TaskARN", offsetof(struct na_taskmeta, task_arn), 512, false},
        {"Family", offsetof(struct na_taskmeta, family), 256, true},
        {"Revision", offsetof(struct na_taskmeta, revision), 16, true},
        {"AvailabilityZone", offsetof(struct na_taskmeta, availability_zone), 64, false},
        {"LaunchType", offsetof(struct na_taskmeta, launch_type), 16, false},
    };
    struct na_taskmeta m = {0};
    cJSON *root = cJSON_ParseWithLength(json, n);
    int rc = -1;

    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "the answer is not a JSON object");
        goto out;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        bool found;

        if (!member(root, fields[i].name, (char *)&m + fields[i].off, fields[i].cap, &found)) {
            snprintf(err, errlen, "%s is not a string of fewer than %zu bytes", fields[i].name,
                     fields[i].cap);
            goto out;
        }
        if (!found && fields[i].required) {
            snprintf(err, errlen, "%s is missing", fields[i].name);
            goto out;
        }
        if (!printable((char *)&m + fields[i].off, fields[i].required ? "-_" : NULL)) {
            snprintf(err, errlen, "%s holds characters ECS never writes there", fields[i].name);
            goto out;
        }
    }
    if (!m.revision[0] || strspn(m.revision, "0123456789") != strlen(m.revision) || !m.family[0]) {
        snprintf(err, errlen, "Family or Revision is empty, or Revision is not a number");
        goto out;
    }
    *out = m;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* De-chunks body[0..n) in place; returns its new length, or -1 when malformed or cut short. */
static long dechunk(char *body, size_t n)
{
    size_t r = 0, w = 0;

    for (;;) {
        char *end;
        unsigned long size;

        if (r >= n)
            return -1;
        errno = 0;
        size = strtoul(body + r, &end, 16);
        if (errno || end == body + r || (size_t)(end - body) > n)
            return -1;
        r = (size_t)(end - body);
        /* Chunk extensions, then CRLF. */
        while (r < n && body[r] != '\r')
            r++;
        if (r + 2 > n || body[r + 1] != '\n')
            return -1;
        r += 2;
        if (!size)
            return (long)w;
        if (size > n - r || n - r - size < 2 || body[r + size] != '\r' ||
            body[r + size + 1] != '\n')
            return -1;
        memmove(body + w, body + r, size);
        w += size;
        r += size + 2;
    }
}

int na_taskmeta_http_body(char *resp, size_t n, char **body, size_t *body_len, char *err,
                          size_t errlen)
{
    char *head_end, *p;
    size_t head_len, len;
    int status;
    bool chunked = false;
    long content_length = -1;

    head_end = memmem(resp, n, "\r\n\r\n", 4);
    if (!head_end || n < 12 || memcmp(resp, "HTTP/1.", 7) || resp[8] != ' ') {
        snprintf(err, errlen, "not an HTTP response");
        return -1;
    }
    status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    if (status != 200) {
        snprintf(err, errlen, "answered %.3s", resp + 9);
        return -1;
    }
    head_len = (size_t)(head_end - resp) + 4;
    /* Header lines, each up to its LF (the head ends in CRLF CRLF): only framing matters. */
    for (p = (char *)memchr(resp, '\n', head_len) + 1; p < head_end + 2;) {
        char *eol = memchr(p, '\n', (size_t)(head_end + 3 - p));
        size_t line = (size_t)(eol - p);

        if (line >= 18 && !strncasecmp(p, "Transfer-Encoding:", 18))
            chunked = memmem(p, line, "chunked", 7) != NULL;
        else if (line >= 15 && !strncasecmp(p, "Content-Length:", 15)) {
            const char *d = p + 15;

            content_length = 0;
            while (d < eol && (*d == ' ' || *d == '\t'))
                d++;
            while (d < eol && *d >= '0' && *d <= '9' && content_length < (1L << 40))
                content_length = content_length * 10 + (*d++ - '0');
        }
        p = eol + 1;
    }
    *body = resp + head_len;
    len = n - head_len;
    if (chunked) {
        long m = dechunk(*body, len);

        if (m < 0) {
            snprintf(err, errlen, "a malformed or cut-short chunked body");
            return -1;
        }
        len = (size_t)m;
    } else if (content_length >= 0) {
        if ((size_t)content_length > len) {
            snprintf(err, errlen, "the body is cut short (%zu of %ld bytes)", len, content_length);
            return -1;
        }
        len = (size_t)content_length;
    }
    *body_len = len;
    return 0;
}

/* "http://1.2.3.4:80/v4/abc" -> host, port, path. */
static int split_uri(const char *uri, char *host, size_t hcap, char *port, size_t pcap,
                     const char **path)
{
    const char *h, *end, *colon;

    if (strncmp(uri, "http://", 7))
        return -1;
    h = uri + 7;
    *path = strchr(h, '/');
    end = *path ? *path : h + strlen(h);
    if (!*path)
        *path = "";
    if (*h == '[') { /* an IPv6 literal */
        const char *close = memchr(h, ']', (size_t)(end - h));

        if (!close)
            return -1;
        colon = close[1] == ':' ? close + 1 : NULL;
        snprintf(host, hcap, "%.*s", (int)(close - h - 1), h + 1);
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        snprintf(host, hcap, "%.*s", (int)((colon ? colon : end) - h), h);
    }
    snprintf(port, pcap, "%.*s", colon ? (int)(end - colon - 1) : 2, colon ? colon + 1 : "80");
    /* getaddrinfo() takes "99999" and wraps it: a port is 1 to 65535, digits only. */
    if (!port[0] || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        atoi(port) < 1 || atoi(port) > 65535)
        return -1;
    return host[0] ? 0 : -1;
}

/* Waits for `events` on fd until the deadline; false when it passed. */
static bool wait_for(int fd, short events, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t now = na_clock_ns();
        struct pollfd p = {.fd = fd, .events = events};
        int rc;

        if (now >= deadline_ns)
            return false;
        rc = poll(&p, 1, (int)((deadline_ns - now) / 1000000u) + 1);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

int na_taskmeta_fetch(const char *uri, unsigned timeout_ms, struct na_taskmeta *out, char *err,
                      size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    uint64_t deadline = na_clock_ns() + (uint64_t)timeout_ms * 1000000u;
    char host[256], port[16], req[1024], *resp = NULL, *body;
    const char *path;
    size_t n = 0, body_len;
    int fd = -1, rc = -1, len, soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (split_uri(uri, host, sizeof(host), port, sizeof(port), &path) ||
        getaddrinfo(host, port, &hints, &ai)) {
        snprintf(err, errlen, "not an http:// URI with a numeric address");
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)) {
        snprintf(err, errlen, "cannot connect: %s", strerror(errno));
        goto out;
    }
    if (!wait_for(fd, POLLOUT, deadline)) {
        snprintf(err, errlen, "no connection within %u ms", timeout_ms);
        goto out;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
        snprintf(err, errlen, "cannot connect: %s", strerror(soerr ? soerr : errno));
        goto out;
    }
    len = snprintf(req, sizeof(req),
                   "GET %s/task HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                   "Connection: close\r\n\r\n",
                   path, host);
    if (len < 0 || (size_t)len >= sizeof(req) || send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        snprintf(err, errlen, "cannot send the request");
        goto out;
    }
    resp = malloc(NA_TASKMETA_MAX_BYTES + 1);
    if (!resp) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t got;

        if (!wait_for(fd, POLLIN, deadline)) {
            snprintf(err, errlen, "no whole answer within %u ms", timeout_ms);
            goto out;
        }
        got = recv(fd, resp + n, NA_TASKMETA_MAX_BYTES - n, 0);
        if (got == 0)
            break;
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(err, errlen, "reading the answer: %s", strerror(errno));
            goto out;
        }
        n += (size_t)got;
        if (n == NA_TASKMETA_MAX_BYTES) {
            snprintf(err, errlen, "the answer is over %d bytes", NA_TASKMETA_MAX_BYTES);
            goto out;
        }
    }
    resp[n] = '\0';
    if (na_taskmeta_http_body(resp, n, &body, &body_len, err, errlen) ||
        na_taskmeta_parse(body, body_len, out, err, errlen))
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (ai)
        freeaddrinfo(ai);
    free(resp);
    return rc;
}

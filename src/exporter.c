/*
 * exporter: the metrics port's daemon (see include/na/exporter.h).
 */
#include "na/exporter.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "na/reply.h"
#include "na/router.h"

/* A scrape's connection: its head, and the answer's headers. */
#define EXPORTER_POOL_BYTES (32 * 1024)
#define EXPORTER_TIMEOUT_S  30

struct na_exporter {
    struct MHD_Daemon *daemon;
    struct na_metrics *metrics;
    unsigned port;
    int fd;
};

static enum MHD_Result answer(struct MHD_Connection *mc, unsigned status, const char *body,
                              size_t len, const char *type, void (*release)(void *),
                              const char *allow)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
        len, (void *)body, release, (void *)body);
    enum MHD_Result ret;

    if (!resp) {
        if (release)
            release((void *)body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *mc, unsigned status, const char *message,
                                    const char *allow)
{
    struct na_reply r;
    char *body;

    na_reply_reset(&r);
    na_reply_error(&r, status, message);
    body = malloc(r.len ? r.len : 1);
    if (!body)
        return MHD_NO;
    memcpy(body, r.body, r.len);
    return answer(mc, status, body, r.len, "application/json; charset=utf-8", free, allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **req_cls)
{
    struct na_exporter *e = cls;
    struct na_match m;
    enum na_method verb = na_method_parse(method);
    char msg[320];
    bool om;
    size_t len;
    char *text;

    (void)version;
    (void)upload_data;
    /* Answered once the request (and any body, dropped) is in. */
    if (!*req_cls) {
        *req_cls = e;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    na_router_match(url, NA_ROUTER_METRICS, &m);
    if (m.route != NA_ROUTE_METRICS) {
        snprintf(msg, sizeof(msg), "no route for %.16s %.256s (this port serves /metrics)", method,
                 url);
        return answer_error(mc, 404, msg, NULL);
    }
    if (verb != NA_METHOD_GET && verb != NA_METHOD_HEAD) {
        snprintf(msg, sizeof(msg), "method %.16s not allowed on %.256s", method, url);
        return answer_error(mc, 405, msg, "GET, HEAD");
    }
    om = na_metrics_wants_openmetrics(
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    text = na_metrics_render(e->metrics, om, &len);
    if (!text)
        return answer_error(mc, 503, "out of memory rendering metrics, retry later", NULL);
    return answer(mc, 200, text, len, na_metrics_content_type(om), free, NULL);
}

/* Paths match as they came, escapes and all, as on the main port ("/%6detrics" is not /metrics). */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* A listening socket on host:port, or -1 with `err`. */
static int bind_socket(const char *host, unsigned port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    char service[8];
    int fd = -1, rc, one = 1;

    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "HOST %s does not resolve for METRICS_PORT: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    snprintf(err, errlen, "METRICS_PORT %u: cannot listen on %s", port, host);
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)) {
            snprintf(err, errlen, "METRICS_PORT %u: cannot listen on %s: %s", port, host,
                     strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct na_exporter *na_exporter_start(const char *host, unsigned port, struct na_metrics *m,
                                      char *err, size_t errlen)
{
    struct na_exporter *e = calloc(1, sizeof(*e));

    if (!e) {
        snprintf(err, errlen, "out of memory starting the metrics port");
        return NULL;
    }
    e->metrics = m;
    e->fd = bind_socket(host, port, err, errlen);
    if (e->fd < 0)
        goto fail;
    e->port = bound_port(e->fd);
    /*
     * ITC: at its connection limit the thread stops polling the listen
     * socket, and only the inter-thread channel wakes it for the stop.
     */
    e->daemon = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC, 0, NULL, NULL,
                                 on_request, e, MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, e->fd, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)NA_EXPORTER_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)EXPORTER_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                 (size_t)EXPORTER_POOL_BYTES, MHD_OPTION_END);
    if (!e->daemon) {
        snprintf(err, errlen, "METRICS_PORT %u: libmicrohttpd failed to start", e->port);
        goto fail;
    }
    return e;
fail:
    if (e->fd >= 0)
        close(e->fd);
    free(e);
    return NULL;
}

unsigned na_exporter_port(const struct na_exporter *e)
{
    return e->port;
}

void na_exporter_stop(struct na_exporter *e)
{
    if (!e)
        return;
    MHD_stop_daemon(e->daemon); /* closes the listen socket it was given, too */
    free(e);
}

/*
 * metrics_process: the scrape's text writer, the helpers sources write
 * with, and the standard process_* families as Prometheus client libraries
 * name them (client_golang's process collector reads the same /proc files).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics_writer.h"
#include "na/sysinfo.h"

int na_mw_init(struct na_metrics_writer *w, bool openmetrics, size_t cap)
{
    *w = (struct na_metrics_writer){.openmetrics = openmetrics, .cap = cap};
    w->data = malloc(cap);
    if (!w->data)
        return -1;
    w->data[0] = '\0';
    return 0;
}

void na_mw_printf(struct na_metrics_writer *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(w->data + w->len, w->cap - w->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            w->failed = true;
            return;
        }
        if ((size_t)n < w->cap - w->len)
            break;
        size_t cap = w->cap * 2 > w->len + (size_t)n + 1 ? w->cap * 2 : w->len + (size_t)n + 1;
        char *grown = realloc(w->data, cap);

        if (!grown) {
            w->failed = true;
            return;
        }
        w->data = grown;
        w->cap = cap;
    }
    w->len += (size_t)n;
}

char *na_mw_finish(struct na_metrics_writer *w, size_t *len)
{
    if (w->openmetrics)
        na_mw_printf(w, "# EOF\n");
    if (w->failed) {
        free(w->data);
        return NULL;
    }
    *len = w->len;
    return w->data;
}

void na_metrics_family(struct na_metrics_writer *w, const char *name, enum na_metrics_type type,
                       const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    size_t n = strlen(name);

    /* OpenMetrics names a counter's family without the _total its sample has. */
    if (w->openmetrics && type == NA_METRIC_COUNTER && n > 6 && !strcmp(name + n - 6, "_total"))
        n -= 6;
    na_mw_printf(w, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name,
                 types[type]);
}

void na_metrics_sample(struct na_metrics_writer *w, const char *name, const char *labels,
                       double value)
{
    if (labels && labels[0])
        na_mw_printf(w, "%s{%s} %.15g\n", name, labels, value);
    else
        na_mw_printf(w, "%s %.15g\n", name, value);
}

void na_metrics_gauge(struct na_metrics_writer *w, const char *name, const char *help, double value)
{
    na_metrics_family(w, name, NA_METRIC_GAUGE, help);
    na_metrics_sample(w, name, NULL, value);
}

void na_metrics_counter(struct na_metrics_writer *w, const char *name, const char *help,
                        double value)
{
    na_metrics_family(w, name, NA_METRIC_COUNTER, help);
    na_metrics_sample(w, name, NULL, value);
}

size_t na_metrics_escape(const char *v, char *out, size_t cap)
{
    size_t n = 0;

    for (; *v && n + 3 < cap; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[n++] = '\\';
            out[n++] = *v == '\n' ? 'n' : *v;
        } else {
            out[n++] = *v;
        }
    }
    out[n] = '\0';
    return n;
}

/* The process's start, in seconds since the epoch: its start tick after the boot time. */
static double start_time_s(void)
{
    char buf[1024], *p;
    unsigned long long ticks = 0, btime = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;

    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 22, counted after the command name's closing parenthesis (field 2). */
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(buf, sizeof(buf), f)) {
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    }
    fclose(f);
    return (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    unsigned n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n ? n - 1 : 0; /* not the directory's own descriptor */
}

void na_metrics_write_process(struct na_metrics_writer *w)
{
    struct rusage ru;
    struct rlimit rl;
    double cpu = 0;

    if (!getrusage(RUSAGE_SELF, &ru))
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    na_metrics_counter(w, "process_cpu_seconds_total",
                       "Total user and system CPU time spent in seconds.", cpu);
    na_metrics_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
                     (double)na_sysinfo_rss());
    na_metrics_gauge(w, "process_start_time_seconds",
                     "Start time of the process since unix epoch in seconds.", start_time_s());
    na_metrics_gauge(w, "process_open_fds", "Number of open file descriptors.", open_fds());
    na_metrics_gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
                     getrlimit(RLIMIT_NOFILE, &rl) ? 0 : (double)rl.rlim_cur);
}

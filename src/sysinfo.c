/*
 * sysinfo: CPU, memory and descriptor limits from cgroups and rlimits (see
 * include/na/sysinfo.h).
 */
#include "na/sysinfo.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* v1 reports "no limit" as a page-rounded LONG_MAX; anything this big is none. */
#define UNLIMITED_FLOOR (UINT64_C(1) << 60)

static int parse_u64(const char *s, char **end, uint64_t *out)
{
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, end, 10);
    if (errno)
        return -1;
    *out = v;
    return 0;
}

static bool only_space(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

int na_sysinfo_parse_cpu_max(const char *text, unsigned *cpus)
{
    const char *p = text;
    char *end;
    uint64_t quota, period;

    while (isspace((unsigned char)*p))
        p++;
    if (!strncmp(p, "max", 3) || !strncmp(p, "-1", 2)) {
        *cpus = 0;
        return 0;
    }
    if (parse_u64(p, &end, &quota) || !isspace((unsigned char)*end))
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (parse_u64(end, &end, &period) || !only_space(end) || !period)
        return -1;
    if (!quota) {
        *cpus = 0;
        return 0;
    }
    *cpus = (unsigned)((quota + period - 1) / period);
    return 0;
}

int na_sysinfo_parse_memory_max(const char *text, uint64_t *bytes)
{
    const char *p = text;
    char *end;
    uint64_t v;

    while (isspace((unsigned char)*p))
        p++;
    if (!strncmp(p, "max", 3) && only_space(p + 3)) {
        *bytes = 0;
        return 0;
    }
    if (parse_u64(p, &end, &v) || !only_space(end))
        return -1;
    *bytes = v >= UNLIMITED_FLOOR ? 0 : v;
    return 0;
}

/* Reads a small file into buf; returns 0, or -1 if missing or empty. */
static int read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/*
 * Finds this process's cgroup path for a v1 controller ("memory", "cpu") or
 * for v2 (controller NULL). Returns 0 and fills `path`, or -1.
 */
static int own_cgroup(const char *controller, char *path, size_t cap)
{
    char text[4096], *line, *save = NULL;

    if (read_text("/proc/self/cgroup", text, sizeof(text)))
        return -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        size_t clen;
        bool match = false;

        if (!c2)
            continue;
        clen = (size_t)(c2 - c1 - 1);
        if (!controller) {
            match = !strncmp(line, "0:", 2) && clen == 0;
        } else {
            /* The list may hold several controllers: "cpu,cpuacct". */
            for (char *p = c1 + 1; p < c2;) {
                char *comma = memchr(p, ',', (size_t)(c2 - p));
                size_t n = comma ? (size_t)(comma - p) : (size_t)(c2 - p);

                if (n == strlen(controller) && !strncmp(p, controller, n))
                    match = true;
                p += n + 1;
            }
        }
        if (match) {
            snprintf(path, cap, "%s", c2 + 1);
            return 0;
        }
    }
    return -1;
}

/*
 * Walks from the process's own cgroup up to the mount root, calling `take`
 * on each level's `file` that exists. Inside a container with its own
 * cgroup namespace the path is "/" and the loop reads the root only.
 */
static void walk_cgroup(const char *mount, const char *cgpath, const char *file,
                        void (*take)(const char *text, const char *dir, void *ctx), void *ctx)
{
    char rel[1024], dir[1100], path[1400], text[128];

    snprintf(rel, sizeof(rel), "%s", cgpath);
    for (;;) {
        char *slash;

        snprintf(dir, sizeof(dir), "%s%s", mount, strcmp(rel, "/") ? rel : "");
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (!read_text(path, text, sizeof(text)))
            take(text, dir, ctx);
        slash = strrchr(rel, '/');
        if (!slash || slash == rel) {
            if (!strcmp(rel, "/"))
                break;
            strcpy(rel, "/");
            continue;
        }
        *slash = '\0';
    }
}

/* The tightest limit seen, and the directory it was read in. */
struct memory_walk {
    uint64_t limit;
    char dir[1100];
};

static void take_memory(const char *text, const char *dir, void *ctx)
{
    struct memory_walk *w = ctx;
    uint64_t v;

    if (!na_sysinfo_parse_memory_max(text, &v) && v && (!w->limit || v < w->limit)) {
        w->limit = v;
        snprintf(w->dir, sizeof(w->dir), "%s", dir);
    }
}

static void take_cpu(const char *text, const char *dir, void *ctx)
{
    unsigned *cpus = ctx, v;

    (void)dir;
    if (!na_sysinfo_parse_cpu_max(text, &v) && v && (!*cpus || v < *cpus))
        *cpus = v;
}

static unsigned cgroup_cpus(void)
{
    char cg[1024], q[64], per[64], joined[160], path[1400];
    unsigned cpus = 0;

    if (!own_cgroup(NULL, cg, sizeof(cg)) && !access("/sys/fs/cgroup/cgroup.controllers", F_OK))
        walk_cgroup("/sys/fs/cgroup", cg, "cpu.max", take_cpu, &cpus);
    if (cpus)
        return cpus;

    /* cgroup v1: the quota of the process's own group, or of the mount root. */
    if (own_cgroup("cpu", cg, sizeof(cg)))
        strcpy(cg, "/");
    for (int i = 0; i < 2; i++) {
        const char *rel = i == 0 && strcmp(cg, "/") ? cg : "";

        snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu%s/cpu.cfs_quota_us", rel);
        if (read_text(path, q, sizeof(q)))
            continue;
        snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu%s/cpu.cfs_period_us", rel);
        if (read_text(path, per, sizeof(per)))
            continue;
        q[strcspn(q, "\n")] = '\0';
        snprintf(joined, sizeof(joined), "%s %s", q, per);
        take_cpu(joined, NULL, &cpus);
        break;
    }
    return cpus;
}

static void meter_file(char *out, size_t cap, const char *dir, const char *file)
{
    char path[1400];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (!access(path, R_OK))
        snprintf(out, cap, "%s", path);
}

/* The memory limit, and the meter of the cgroup that sets it. */
static uint64_t cgroup_memory(struct na_memory_meter *m)
{
    struct memory_walk w = {0};
    char cg[1024];

    memset(m, 0, sizeof(*m));
    if (!own_cgroup(NULL, cg, sizeof(cg)) && !access("/sys/fs/cgroup/cgroup.controllers", F_OK))
        walk_cgroup("/sys/fs/cgroup", cg, "memory.max", take_memory, &w);
    if (w.limit) {
        meter_file(m->usage, sizeof(m->usage), w.dir, "memory.current");
        meter_file(m->stat, sizeof(m->stat), w.dir, "memory.stat");
        m->inactive_key = "inactive_file";
        return w.limit;
    }
    if (own_cgroup("memory", cg, sizeof(cg)))
        strcpy(cg, "/");
    walk_cgroup("/sys/fs/cgroup/memory", cg, "memory.limit_in_bytes", take_memory, &w);
    if (w.limit) {
        meter_file(m->usage, sizeof(m->usage), w.dir, "memory.usage_in_bytes");
        meter_file(m->tcp, sizeof(m->tcp), w.dir, "memory.kmem.tcp.usage_in_bytes");
        meter_file(m->stat, sizeof(m->stat), w.dir, "memory.stat");
        m->inactive_key = "total_inactive_file";
    }
    return w.limit;
}

void na_sysinfo_probe(struct na_sysinfo *si)
{
    cpu_set_t set;
    unsigned quota;
    struct rlimit rl;

    si->cpus = 1;
    if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
        si->cpus = (unsigned)CPU_COUNT(&set);
    quota = cgroup_cpus();
    if (quota && quota < si->cpus)
        si->cpus = quota;

    si->memory_limit = cgroup_memory(&si->meter);

    /*
     * Every connection is a descriptor. Raise the soft limit to the hard
     * one, as nginx and Go do, so MAX_CONNECTIONS is not capped by a
     * conservative default of 1024.
     */
    si->nofile = 1024;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t want = rl.rlim_max;

            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl))
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        si->nofile = rl.rlim_cur == RLIM_INFINITY ? UINT64_C(1) << 20 : (uint64_t)rl.rlim_cur;
    }
}

uint64_t na_sysinfo_rss(void)
{
    char text[128];
    unsigned long long size, resident;

    if (read_text("/proc/self/statm", text, sizeof(text)) ||
        sscanf(text, "%llu %llu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t na_sysinfo_parse_stat(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        uint64_t v;

        if (!strncmp(p, key, klen) && p[klen] == ' ' && !parse_u64(p + klen + 1, NULL, &v))
            return v;
    }
    return 0;
}

static uint64_t read_u64(const char *path)
{
    char text[64];
    uint64_t v;

    return path[0] && !read_text(path, text, sizeof(text)) && !parse_u64(text, NULL, &v) ? v : 0;
}

uint64_t na_sysinfo_charged(const struct na_memory_meter *m)
{
    char stat[8192];
    uint64_t usage = read_u64(m->usage), inactive = 0;

    if (!usage)
        return 0;
    usage += read_u64(m->tcp);
    if (m->stat[0] && !read_text(m->stat, stat, sizeof(stat)))
        inactive = na_sysinfo_parse_stat(stat, m->inactive_key);
    return usage > inactive ? usage - inactive : 0;
}

/*
 * sysinfo: what the machine (or container) grants this process.
 *
 * CPU and memory limits come from the process's own cgroup, v2 or v1, and
 * from its ancestors (the tightest limit wins), so THREADS and
 * MEMORY_LIMIT_MB default to what a Fargate task or `docker run --cpus
 * --memory` actually allows. The parse functions take file contents so
 * that the unit tests can feed them what any kernel writes.
 */
#ifndef NA_SYSINFO_H
#define NA_SYSINFO_H

#include <stdint.h>

/*
 * Where the memory a container is charged can be read: the files of the
 * cgroup whose limit applies. On v2 memory.current counts everything the
 * limit does (socket buffers too); on v1 the kernel's TCP buffers are
 * counted apart (memory.kmem.tcp.usage_in_bytes, where that accounting is
 * on) and are added, as v2 would charge them. Page cache the kernel can
 * drop at once (inactive files, from memory.stat) is left out, as the
 * OOM killer would reclaim it first. Empty paths: nothing to read.
 */
struct na_memory_meter {
    char usage[1400];
    char tcp[1400];
    char stat[1400];
    const char *inactive_key; /* "inactive_file" (v2) or "total_inactive_file" (v1) */
};

struct na_sysinfo {
    unsigned cpus;                /* CPUs usable: affinity mask, capped by CPU quota */
    uint64_t memory_limit;        /* bytes; 0 when no cgroup limit applies */
    uint64_t nofile;              /* RLIMIT_NOFILE soft limit, after raising it */
    struct na_memory_meter meter; /* of the cgroup that sets memory_limit */
};

/* Fills `si` from /proc and /sys; never fails (falls back to no limits). */
void na_sysinfo_probe(struct na_sysinfo *si);

/*
 * Parses cgroup v2 cpu.max ("max 100000" or "150000 100000") or a v1 pair
 * of cfs_quota_us and cfs_period_us written as "quota period" ("-1 100000").
 * Sets *cpus to the quota rounded up to whole CPUs, 0 when unlimited.
 * Returns 0, or -1 on text it does not understand.
 */
int na_sysinfo_parse_cpu_max(const char *text, unsigned *cpus);

/*
 * Parses memory.max (v2: "max" or bytes) or memory.limit_in_bytes (v1:
 * bytes, where "unlimited" is a huge page-rounded value). Sets *bytes, 0
 * when unlimited. Returns 0, or -1 on text it does not understand.
 */
int na_sysinfo_parse_memory_max(const char *text, uint64_t *bytes);

/* Resident set size of this process in bytes, 0 if unknown. Cheap. */
uint64_t na_sysinfo_rss(void);

/*
 * The memory the container is charged, as the meter reads it; 0 when
 * there is no meter or it cannot be read. Three small files: cheap enough
 * for every 10 ms.
 */
uint64_t na_sysinfo_charged(const struct na_memory_meter *m);

/* The value of `key` in a memory.stat text ("key value" lines); 0 if absent. */
uint64_t na_sysinfo_parse_stat(const char *text, const char *key);

#endif

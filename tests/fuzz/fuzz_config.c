/*
 * Fuzz target: configuration (config.h). The input is an environment, one
 * NAME=value a line. Loading either succeeds with values in range or fails
 * naming a variable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct env {
    char *text;
};

static const char *lookup(const char *name, void *ctx)
{
    struct env *e = ctx;
    size_t n = strlen(name);

    for (char *line = e->text; line && *line;) {
        char *next = strchr(line, '\n');
        size_t len = next ? (size_t)(next - line) : strlen(line);

        if (len > n && !strncmp(line, name, n) && line[n] == '=') {
            static char value[4096];
            size_t v = len - n - 1 < sizeof(value) - 1 ? len - n - 1 : sizeof(value) - 1;

            memcpy(value, line + n + 1, v);
            value[v] = '\0';
            return value;
        }
        line = next ? next + 1 : NULL;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct na_sysinfo si = {.cpus = 2, .memory_limit = 512u << 20, .nofile = 4096};
    struct na_config cfg;
    struct na_config_error err;
    struct env e = {malloc(size + 1)};

    if (!e.text)
        return 0;
    memcpy(e.text, data, size);
    e.text[size] = '\0';
    if (na_config_load(&cfg, lookup, &e, &si, &err)) {
        if (!err.var[0] || !err.message[0])
            abort();
    } else if (!cfg.threads || cfg.budget.max_connections == 0 ||
               cfg.budget.worst_case_bytes > cfg.budget.plan_bytes) {
        abort();
    }
    free(e.text);
    return 0;
}

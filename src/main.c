/*
 * main: parses the command line, loads the configuration and runs the
 * chosen command. Everything else lives in the modules under include/na/.
 */
#include <stdio.h>
#include <string.h>

#include "na/config.h"
#include "na/healthcheck.h"
#include "na/log.h"
#include "na/migrate.h"
#include "na/service.h"
#include "na/sysinfo.h"
#include "na_git.h"

enum command { CMD_SERVE, CMD_HEALTHCHECK, CMD_MIGRATE, CMD_VERSION, CMD_HELP };

static void usage(FILE *out)
{
    fputs("usage: node-api [serve | healthcheck | migrate | --version | --help]\n"
          "\n"
          "  serve        run the HTTP service (the default)\n"
          "  healthcheck  GET /health on the configured port; exit 0 on 200, else 1\n"
          "  migrate      create or upgrade the database schema, then exit\n"
          "  --version    print the version\n"
          "  --help       print this help\n"
          "\n",
          out);
    na_config_print_help(out);
}

int main(int argc, char **argv)
{
    enum command cmd = CMD_SERVE;
    struct na_sysinfo si;
    struct na_config cfg;
    struct na_config_error err;

    if (argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2) {
        if (!strcmp(argv[1], "serve"))
            cmd = CMD_SERVE;
        else if (!strcmp(argv[1], "healthcheck"))
            cmd = CMD_HEALTHCHECK;
        else if (!strcmp(argv[1], "migrate"))
            cmd = CMD_MIGRATE;
        else if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
            cmd = CMD_VERSION;
        else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
            cmd = CMD_HELP;
        else {
            fprintf(stderr, "node-api: unknown argument '%s'\n", argv[1]);
            usage(stderr);
            return 2;
        }
    }
    if (cmd == CMD_VERSION) {
        printf("node-api %s (%s)\n", NA_VERSION, NA_GIT_SHA);
        return 0;
    }
    if (cmd == CMD_HELP) {
        usage(stdout);
        return 0;
    }

    na_sysinfo_probe(&si);
    if (na_config_load(&cfg, na_config_getenv, NULL, &si, &err)) {
        char msg[400];

        snprintf(msg, sizeof(msg), "invalid configuration: %s %s", err.var, err.message);
        na_logf(NA_LOG_ERROR, msg, NA_LF_STR("variable", err.var));
        /* Docker reserves health check status 2: a broken config is just unhealthy. */
        return cmd == CMD_HEALTHCHECK ? 1 : 2;
    }
    if (cmd == CMD_HEALTHCHECK)
        return na_healthcheck(&cfg, NA_HEALTHCHECK_TIMEOUT_MS);

    na_log_setup(cfg.service_name, cfg.log_level, 1);
    if (cmd == CMD_MIGRATE)
        return na_migrate_command(&cfg);
    return na_service_run(&cfg, &si.meter, NA_GIT_SHA);
}

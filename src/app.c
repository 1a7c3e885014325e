/*
 * app: shared service state (see include/na/app.h).
 */
#include "na/app.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "na/encode.h"

int na_app_init(struct na_app *app, const struct na_config *cfg, struct na_store *store)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->store = store;
    clock_gettime(CLOCK_MONOTONIC, &app->started);
    if (gethostname(app->hostname, sizeof(app->hostname) - 1))
        strcpy(app->hostname, "localhost");
    app->info_body = na_encode_info(cfg->service_name, cfg->app_version, cfg->node_env,
                                    app->hostname, &app->info_len);
    if (!app->info_body)
        return -1;
    atomic_init(&app->draining, false);
    atomic_init(&app->shedding, false);
    atomic_init(&app->rss_bytes, 0);
    atomic_init(&app->in_flight, 0);
    atomic_init(&app->connections, 0);
    atomic_init(&app->body_bytes, 0);
    return 0;
}

void na_app_release(struct na_app *app)
{
    free(app->info_body);
    app->info_body = NULL;
}

double na_app_uptime(const struct na_app *app)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - app->started.tv_sec) +
           (double)(now.tv_nsec - app->started.tv_nsec) / 1e9;
}

int64_t na_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

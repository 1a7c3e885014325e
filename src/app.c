/*
 * app: shared service state (see include/na/app.h).
 */
#include "na/app.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "na/clock.h"
#include "na/encode.h"
#include "na/idem.h"

int na_app_init(struct na_app *app, const struct na_config *cfg, struct na_store *store)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->store = store;
    app->started_ns = na_clock_ns();
    if (gethostname(app->hostname, sizeof(app->hostname) - 1))
        strcpy(app->hostname, "localhost");
    app->info_body = na_encode_info(cfg->service_name, cfg->app_version, cfg->node_env,
                                    app->hostname, NULL, &app->info_len);
    if (!app->info_body)
        return -1;
    if (cfg->api_key[0])
        na_idem_scope(cfg->api_key, app->idem_scope);
    atomic_init(&app->draining, false);
    atomic_init(&app->failing_on_purpose, false);
    atomic_init(&app->shedding, false);
    atomic_init(&app->shedding_since_ns, 0);
    atomic_init(&app->rss_bytes, 0);
    atomic_init(&app->charged_bytes, 0);
    atomic_init(&app->in_flight, 0);
    atomic_init(&app->connections, 0);
    na_quota_init(&app->bodies, cfg->budget.body_pool_bytes);
    na_quota_init(&app->responses, cfg->budget.response_pool_bytes);
    return 0;
}

int na_app_set_task(struct na_app *app, const struct na_taskmeta *task)
{
    size_t len;
    char *body = na_encode_info(app->cfg->service_name, app->cfg->app_version, app->cfg->node_env,
                                app->hostname, task, &len);

    if (!body)
        return -1;
    free(app->info_body);
    app->info_body = body;
    app->info_len = len;
    return 0;
}

void na_app_release(struct na_app *app)
{
    free(app->info_body);
    app->info_body = NULL;
}

double na_app_uptime(const struct na_app *app)
{
    return na_clock_ms_since(app->started_ns) / 1e3;
}

"""Rules on the cluster, the service and its auto scaling: what the ECS API refuses,
and what turns a deploy or a zone's outage into downtime."""

from .common import ALB_DEFAULT_IDLE_S, RESOURCE_LABEL, as_int, literal
from .task import env_of, setting

# Fargate platform versions older than this lack what the task definition uses
# (secrets from Secrets Manager by JSON key, ephemeral storage, the awslogs modes).
PLATFORM_MIN = (1, 4, 0)


def version(v):
    try:
        return tuple(int(x) for x in str(v).split("."))
    except ValueError:
        return None


def check_cluster(m, report):
    cl, where = m["cluster"], m["files"]["cluster"]
    if cl is None:
        report.add(where, "cluster", "no cluster definition")
        return
    if cl["settings"].get("containerInsights") not in ("enabled", "enhanced"):
        report.add(where, "cluster", "containerInsights is off: without it no per-task CPU and "
                                     "memory metrics: set containerInsights to enabled")


def check_strategy(m, strategy, where, report):
    """A capacity-provider strategy as CreateService takes it, and as Fargate Spot runs it."""
    if not strategy:
        return
    if not isinstance(strategy, list) or not all(isinstance(s, dict) for s in strategy):
        report.add(where, "capacity", "capacityProviderStrategy must be a list of "
                                      '{"capacityProvider": ..., "base": ..., "weight": ...}')
        return
    providers = [s.get("capacityProvider") for s in strategy]
    for p in providers:
        if p not in ("FARGATE", "FARGATE_SPOT"):
            report.add(where, "capacity", f"capacity provider {p!r}: write FARGATE or FARGATE_SPOT")
    for p in sorted({p for p in providers if providers.count(p) > 1}, key=str):
        report.add(where, "capacity", f"{p} appears twice in capacityProviderStrategy: "
                                      "ECS refuses it: one entry per provider")
    weights = [as_int(s.get("weight")) or 0 for s in strategy]
    for w in weights:
        if not 0 <= w <= 1000:
            report.add(where, "capacity", f"weight {w} is outside 0..1000, which ECS accepts")
    # One provider alone may have weight 0 (every task goes to it); among several, ECS
    # refuses a strategy whose weights are all 0.
    if len(strategy) > 1 and not any(w > 0 for w in weights):
        report.add(where, "capacity", "every weight is 0: ECS places no task beyond the base: "
                                      "give one provider a weight of 1 or more")
    bases = [as_int(s.get("base")) or 0 for s in strategy]
    for b in bases:
        if not 0 <= b <= 100000:
            report.add(where, "capacity", f"base {b} is outside 0..100000, which ECS accepts")
    if sum(1 for b in bases if b) > 1:
        report.add(where, "capacity", "a base on more than one provider: ECS refuses it: "
                                      "put the base on FARGATE only")
    if "FARGATE_SPOT" in providers:
        base = sum(as_int(s.get("base")) or 0 for s in strategy if s.get("capacityProvider") == "FARGATE")
        if base < 1:
            report.add(where, "capacity", "FARGATE_SPOT without an on-demand base: one Spot "
                                          "reclaim can stop every task: give FARGATE a base of 1 "
                                          "or more")
        spot_base = sum(as_int(s.get("base")) or 0 for s in strategy
                        if s.get("capacityProvider") == "FARGATE_SPOT")
        if spot_base:
            report.add(where, "capacity", "a base on FARGATE_SPOT: put the base on FARGATE")
        td = m.get("taskdef") or {}
        arch = (td.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64")
        if arch != "X86_64":
            report.add(where, "capacity", f"FARGATE_SPOT runs X86_64 tasks only, and the task "
                                          f"definition's cpuArchitecture is {arch}: run "
                                          "X86_64 or drop FARGATE_SPOT")
    # ECS places a service's tasks only on providers associated with its cluster.
    cl = m.get("cluster") or {}
    missing = [p for p in dict.fromkeys(providers) if p not in (cl.get("capacityProviders") or [])]
    if m.get("cluster") is not None and missing:
        report.add(m["files"]["cluster"], "capacity",
                   f"the cluster does not offer {', '.join(map(str, missing))}, which the "
                   f"service's capacityProviderStrategy uses: list them in capacityProviders "
                   "(or put-cluster-capacity-providers on an existing cluster)")


def check_service(m, c, report):
    svc, where = m["service"], m["files"]["service"]
    if not svc:
        return
    net = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    dc = svc.get("deploymentConfiguration") or {}
    cb = dc.get("deploymentCircuitBreaker") or {}
    strategy = svc.get("capacityProviderStrategy") or []
    if strategy and svc.get("launchType"):
        report.add(where, "service", "launchType and capacityProviderStrategy together are refused "
                                     "by ECS: keep capacityProviderStrategy, drop launchType")
    elif not strategy and svc.get("launchType") != "FARGATE":
        report.add(where, "service", "launchType must be FARGATE")
    check_strategy(m, strategy, where, report)
    if net.get("assignPublicIp") != "DISABLED":
        report.add(where, "service", "tasks must get no public IP (assignPublicIp DISABLED)")
    if cb.get("enable") is not True or cb.get("rollback") is not True:
        report.add(where, "service", "the deployment circuit breaker must be on, with rollback")
    if (as_int(dc.get("minimumHealthyPercent")) or 0) < 100 or \
            (as_int(dc.get("maximumPercent")) or 0) < 200:
        report.add(where, "service", "zero-downtime rolling deploys need minimumHealthyPercent "
                                     ">= 100 and maximumPercent >= 200")
    pv = literal(svc.get("platformVersion"))
    if pv in (None, "LATEST"):
        report.add(where, "service", "pin platformVersion (not LATEST)")
    elif version(pv) is None or version(pv) < PLATFORM_MIN:
        report.add(where, "service", f"platformVersion {pv} is older than 1.4.0: write 1.4.0")
    desired = as_int(svc.get("desiredCount"))
    if desired is not None and desired < 2:
        report.add(where, "service", f"desiredCount {desired}: one zone's outage takes the "
                                     "service down: run 2 or more")
    st = m["scalable_target"] or {}
    lo, hi = as_int(st.get("MinCapacity")), as_int(st.get("MaxCapacity"))
    if desired is not None and lo is not None and hi is not None and not lo <= desired <= hi:
        report.add(where, "scaling", f"desiredCount {desired} is outside MinCapacity {lo} .. "
                                     f"MaxCapacity {hi}: auto scaling would move it at once")
    check_grace(m, c, svc, where, report)
    for lb in svc.get("loadBalancers") or []:
        ports = [p.get("containerPort") for p in (c or {}).get("portMappings", [])]
        if lb.get("containerName") != "node-api" or lb.get("containerPort") not in ports:
            report.add(where, "service", "the load balancer must target node-api's port mapping")


def watched(alarm):
    """(namespace, metric name, {dimension: value}) of each metric an alarm watches."""
    dims = lambda ds: {d.get("Name"): d.get("Value") for d in ds or []}  # noqa: E731
    if alarm.get("MetricName"):
        return [(alarm.get("Namespace"), alarm["MetricName"], dims(alarm.get("Dimensions")))]
    out = []
    for q in alarm.get("Metrics") or []:
        metric = (q.get("MetricStat") or {}).get("Metric") or {}
        if metric.get("MetricName"):
            out.append((metric.get("Namespace"), metric["MetricName"],
                        dims(metric.get("Dimensions"))))
    return out


# What the deployment alarms must watch: the EMF metrics node-api writes, and the ALB's.
ALARM_COVERAGE = (("Errors5xx", "the revision's 5xx share (EMF Errors5xx)"),
                  ("Latency", "the revision's p99 latency (EMF Latency)"),
                  ("HTTPCode_Target_5XX_Count", "the load balancer's target 5xx"))


def check_deploy_alarms(m, c, report):
    """A revision that starts and passes its health checks but answers 5xx or slowly is
    rolled back only by deployment alarms: they must be on, name alarms the artifacts make,
    and watch what the tasks actually write (namespace, service name)."""
    svc, where = m["service"], m["files"]["service"]
    if not svc or m.get("alarms") is None:
        return
    da = (svc.get("deploymentConfiguration") or {}).get("alarms") or {}
    if da.get("enable") is not True or da.get("rollback") is not True:
        report.add(where, "deploy-alarms", "deploymentConfiguration.alarms must be enabled, with "
                                           "rollback: a revision that answers 5xx is not rolled "
                                           "back otherwise")
        return
    made = {a.get("AlarmName"): a for a in m["alarms"]}
    named = []
    for name in da.get("alarmNames") or []:
        if name not in made:
            report.add(where, "deploy-alarms", f"alarm {name!r} is not one the artifacts make "
                                               f"({', '.join(sorted(map(str, made))) or 'none'})")
        else:
            named.append(made[name])
    env = env_of(c) if c else {}
    namespace = env.get("METRICS_EMF_NAMESPACE") or "node-api"
    service = env.get("SERVICE_NAME") or "node-api"
    metrics = [w for a in named for w in watched(a)]
    for metric, what in ALARM_COVERAGE:
        if not any(w[1] == metric for w in metrics):
            report.add(where, "deploy-alarms", f"no deployment alarm watches {what}")
    for ns, metric, dims in metrics:
        if metric in ("Errors5xx", "Latency", "Requests") and \
                (ns != namespace or dims.get("service") != service):
            report.add(m["files"]["alarms"], "deploy-alarms",
                       f"the alarm on {metric} watches namespace {ns!r}, service "
                       f"{dims.get('service')!r}, but the tasks write {namespace!r}, "
                       f"{service!r} (METRICS_EMF_NAMESPACE, SERVICE_NAME): it can never fire")


def check_grace(m, c, svc, where, report):
    """The grace period must cover the time a healthy task takes to pass the ALB's checks,
    or a new task is killed while it warms up."""
    grace = as_int(svc.get("healthCheckGracePeriodSeconds"))
    start = as_int(((c or {}).get("healthCheck") or {}).get("startPeriod", 0)) or 0
    tg = m["target_group"] or {}
    interval = as_int(tg.get("HealthCheckIntervalSeconds")) or 30
    healthy = as_int(tg.get("HealthyThresholdCount")) or 5
    to_healthy = interval * healthy
    if grace is None or grace < start:
        report.add(where, "service", "healthCheckGracePeriodSeconds must cover the container's "
                                     "startPeriod")
    elif grace < to_healthy:
        report.add(where, "service", f"healthCheckGracePeriodSeconds {grace} is shorter than the "
                                     f"target group's time to healthy ({healthy} x {interval} s "
                                     f"= {to_healthy} s): write {to_healthy} or more")


def check_scaling(m, c, report):
    for file, name, cfg in m["scaling_policies"]:
        where = file
        cfg = cfg or {}
        out, inn = as_int(cfg.get("ScaleOutCooldown")), as_int(cfg.get("ScaleInCooldown"))
        if out is None or inn is None or out >= inn:
            report.add(where, "cooldowns", f"{name}: ScaleOutCooldown must be shorter than "
                                           "ScaleInCooldown (scale out fast, in slowly)")
        spec = cfg.get("PredefinedMetricSpecification") or {}
        if spec.get("PredefinedMetricType") == "ALBRequestCountPerTarget":
            label = spec.get("ResourceLabel")
            if label is None or (literal(label) is not None and not RESOURCE_LABEL.match(label)):
                report.add(where, "resource-label",
                           f"{name}: ResourceLabel {label!r} is not "
                           "app/<alb>/<id>/targetgroup/<tg>/<id>")
    where = m["files"]["scalable_target"]
    metrics = {(cfg or {}).get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
               for _, _, cfg in m["scaling_policies"]}
    for want in ("ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"):
        if want not in metrics:
            report.add(where, "scaling", f"no target tracking policy on {want}")
    st = m["scalable_target"] or {}
    lo, hi = as_int(st.get("MinCapacity")), as_int(st.get("MaxCapacity"))
    if lo is not None and lo < 2:
        report.add(where, "scaling", "MinCapacity below 2: one task is one zone's outage away from none")
    if lo is not None and hi is not None and hi < lo:
        report.add(where, "scaling", "MaxCapacity below MinCapacity")


def check_timeouts(m, c, report):
    """The drain, the ALB and the deregistration delay against the longest request."""
    env = env_of(c) if c else {}
    longest_s = (setting(env, "DB_ACQUIRE_TIMEOUT_MS") + setting(env, "DB_STATEMENT_TIMEOUT_MS")
                 + 1000 + 999) // 1000
    idle = as_int(m["lb"]["attributes"].get("idle_timeout.timeout_seconds")) or ALB_DEFAULT_IDLE_S
    keepalive = setting(env, "KEEPALIVE_TIMEOUT_S")
    if keepalive <= idle:
        report.add(m["files"]["taskdef"], "keep-alive",
                   f"KEEPALIVE_TIMEOUT_S {keepalive} must be above the ALB idle timeout {idle}, "
                   "or the ALB sees 502s")
    where = m["files"]["tg_attributes"]
    dereg = as_int(m["tg_attributes"].get("deregistration_delay.timeout_seconds"))
    if dereg is None:
        report.add(where, "deregistration-delay", "unset: the 300 s default slows every deploy")
    elif dereg > 3600:
        report.add(where, "deregistration-delay", f"{dereg} s is over the API's 3600 s maximum")
    elif dereg < longest_s:
        report.add(where, "deregistration-delay",
                   f"{dereg} s is shorter than the longest request ({longest_s} s): requests "
                   "still running when ECS sends SIGTERM would be cut")
    elif dereg > 300:
        report.add(where, "deregistration-delay", f"{dereg} s makes deploys needlessly slow")

"""Rules on the target group, the load balancer, its listeners and the security groups."""

import re

from .common import as_int

# The ALB's TLS 1.3 policies (TLS 1.2 at least, no CBC ciphers): anything older lets
# clients negotiate TLS 1.0/1.1.
TLS_POLICY = re.compile(r"^ELBSecurityPolicy-TLS13-1-[23]-(Res-|FIPS-|Ext[12]-)*20\d\d-\d\d$")
OPEN = ("0.0.0.0/0", "::/0")


def codes(matcher):
    """The HTTP codes a target-group matcher accepts ("200", "200,204", "200-299")."""
    out = set()
    for part in str(matcher or "").split(","):
        lo, _, hi = part.strip().partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


def check_target_group(m, report):
    tg, where = m["target_group"] or {}, m["files"]["target_group"]
    if tg.get("TargetType") != "ip":
        report.add(where, "target-group", "TargetType must be ip for Fargate tasks")
    if tg.get("HealthCheckPath") != "/health":
        report.add(where, "target-group", "the health check must be the shallow /health")
    for key, lo, hi in (("HealthyThresholdCount", 2, 10), ("UnhealthyThresholdCount", 2, 10),
                        ("HealthCheckIntervalSeconds", 5, 300), ("HealthCheckTimeoutSeconds", 2, 120)):
        v = as_int(tg.get(key))
        if v is not None and not lo <= v <= hi:
            report.add(where, "target-group", f"{key} {v} is outside {lo}..{hi}")
    interval = as_int(tg.get("HealthCheckIntervalSeconds")) or 30
    timeout = as_int(tg.get("HealthCheckTimeoutSeconds")) or 5
    if timeout >= interval:
        report.add(where, "target-group", f"HealthCheckTimeoutSeconds {timeout} must be below "
                                          f"HealthCheckIntervalSeconds {interval}")
    accepted = codes((tg.get("Matcher") or {}).get("HttpCode", "200"))
    bad = sorted(c for c in accepted if c >= 300)
    if bad:
        report.add(where, "target-group", f"Matcher HttpCode {tg['Matcher']['HttpCode']!r} counts "
                                          f"{bad[0]} as healthy: /health answers 503 when the "
                                          "task is not: write \"200\"")


def check_load_balancer(m, report):
    attrs, where = m["lb"]["attributes"], m["files"]["lb"]
    if str(attrs.get("routing.http.drop_invalid_header_fields.enabled", "false")).lower() != "true":
        report.add(where, "load-balancer", "routing.http.drop_invalid_header_fields.enabled must "
                                           "be true: invalid header fields reach the service")
    mode = attrs.get("routing.http.desync_mitigation_mode", "defensive")
    if mode not in ("defensive", "strictest"):
        report.add(where, "load-balancer", f"routing.http.desync_mitigation_mode {mode!r} is "
                                           "weaker than defensive: write defensive or strictest")


def forwards(listener):
    return any(a.get("Type") == "forward" for a in listener.get("DefaultActions") or [])


def check_listeners(m, report):
    listeners, where = m["listeners"], m["files"]["listeners"]
    if listeners is None:
        return
    https = [x for x in listeners if x.get("Protocol") == "HTTPS"]
    for x in https:
        policy = x.get("SslPolicy")
        if not policy or not TLS_POLICY.match(policy):
            report.add(where, "tls", f"SslPolicy {policy!r} allows outdated TLS: write "
                                     "ELBSecurityPolicy-TLS13-1-2-2021-06")
    for x in listeners:
        if x.get("Protocol") == "HTTP" and https and forwards(x):
            report.add(where, "listener", f"the HTTP listener on port {x.get('Port')} forwards "
                                          "although HTTPS is served: redirect it to HTTPS "
                                          "(HTTP_301)")
    if not any(forwards(x) for x in listeners):
        report.add(where, "listener", "no listener forwards to the target group")


def blocks_metrics(rule):
    """True when a listener rule answers /metrics and below itself, never forwarding."""
    values = []
    for cond in rule.get("Conditions") or []:
        if cond.get("Field") == "path-pattern":
            values += (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values") or []
    actions = rule.get("Actions") or []
    return ("/metrics" in values and "/metrics/*" in values and bool(actions)
            and all(a.get("Type") == "fixed-response" for a in actions))


def check_metrics_exposure(m, c, report):
    """/metrics must not reach the internet: on a port of its own, the load balancer never
    forwards to it; on PORT, only a listener rule answering it keeps it off."""
    if not c:
        return
    env = {e.get("name"): e.get("value") for e in c.get("environment") or [] if isinstance(e, dict)}
    port, metrics = str(env.get("PORT") or "3000"), str(env.get("METRICS_PORT") or "9464")
    listeners = m["listeners"]
    if listeners is None:
        if metrics == port:
            report.add(m["files"]["taskdef"], "metrics",
                       f"METRICS_PORT {metrics} is PORT: the load balancer would serve /metrics "
                       "to the internet: give it a port of its own (9464)")
        return
    for lid, x in zip(m["listener_ids"], listeners):
        if forwards(x) and not any(blocks_metrics(r) for r in m["listener_rules"]
                                   if r.get("ListenerArn") == lid):
            report.add(m["files"]["listeners"], "metrics",
                       f"the listener on port {x.get('Port')} would forward /metrics to the "
                       "tasks (served there when METRICS_PORT is PORT): add a rule answering "
                       "/metrics and /metrics/* with a fixed response")


def check_security_groups(m, report):
    sgs, where = m["security_groups"], m["files"]["security_groups"]
    if sgs is None:
        return
    net = ((m["service"] or {}).get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    for gid in net.get("securityGroups") or []:
        sg = sgs.get(gid)
        if sg is None:
            continue
        for rule in sg["ingress"]:
            if rule.get("CidrIp") in OPEN or rule.get("CidrIpv6") in OPEN:
                report.add(where, "security-group",
                           f"{sg['name']} (the tasks' group) is open to "
                           f"{rule.get('CidrIp') or rule.get('CidrIpv6')}: accept the load "
                           "balancer's group only (SourceSecurityGroupId)")

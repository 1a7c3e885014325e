"""Rules on the task definition and its node-api container: what Fargate refuses, what
breaks the drain or the logs, and what is unsafe."""

import re

from .common import (FARGATE, SERVICE_DEFAULTS, SSM_ARN, as_int, literal, secret_arn)

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIALS?)$|(^|_)KEY$|^DATABASE_URL$",
                         re.I)
NOFILE_MAX = 1048576  # the kernel's nr_open on Fargate: a higher limit fails the task
LOG_OPTIONS = ("awslogs-group", "awslogs-region", "awslogs-stream-prefix")


def env_of(container):
    return {e.get("name"): e.get("value") for e in container.get("environment") or []
            if isinstance(e, dict)}


def setting(env, name):
    v = as_int(env.get(name))
    return SERVICE_DEFAULTS[name] if v is None else v


def container_of(td):
    return next((c for c in td.get("containerDefinitions") or []
                 if isinstance(c, dict) and c.get("name") == "node-api"), None)


def check_taskdef(m, report, architectures):
    """Returns the node-api container, for the rules that relate it to the rest."""
    td, where = m["taskdef"], m["files"]["taskdef"]
    if not td:
        report.add(where, "task-definition", "no task definition")
        return None
    cpu, mem = as_int(td.get("cpu")), as_int(td.get("memory"))
    if "FARGATE" not in (td.get("requiresCompatibilities") or []):
        report.add(where, "fargate", "requiresCompatibilities must include FARGATE")
    if td.get("networkMode") != "awsvpc":
        report.add(where, "fargate", "networkMode must be awsvpc on Fargate")
    if cpu not in FARGATE:
        report.add(where, "fargate-cpu-memory", f"cpu {td.get('cpu')} is not a Fargate size")
    elif mem not in FARGATE[cpu]:
        report.add(where, "fargate-cpu-memory",
                   f"cpu {cpu} with memory {td.get('memory')} is not a Fargate combination "
                   f"(cpu {cpu} allows {FARGATE[cpu][0]} to {FARGATE[cpu][-1]} MiB)")
    if td.get("executionRoleArn") is not None and td.get("executionRoleArn") == td.get("taskRoleArn"):
        report.add(where, "roles", "execution and task roles must be separate roles")
    platform = td.get("runtimePlatform") or {}
    arch = platform.get("cpuArchitecture", "X86_64")
    if platform.get("operatingSystemFamily", "LINUX") != "LINUX":
        report.add(where, "runtime-platform", "runtimePlatform.operatingSystemFamily: the image "
                                              "is a Linux image: write LINUX")
    if arch not in architectures:
        report.add(where, "runtime-platform",
                   f"runtimePlatform.cpuArchitecture {arch}: the image is built for "
                   f"{' and '.join(sorted(architectures))} only (scripts/deploy.sh PLATFORMS)")
    c = container_of(td)
    if not c:
        report.add(where, "container", "no container named node-api")
        return None
    check_container(m, c, where, report, mem)
    return c


def check_container(m, c, where, report, mem):
    env = env_of(c)
    if c.get("essential", True) is not True:
        report.add(where, "container", "essential: false: a task whose only container stopped "
                                       "would keep running with nothing in it: write true")
    if c.get("privileged"):
        report.add(where, "hardening", "privileged: true is refused by Fargate and never needed: "
                                       "remove it")
    for p in c.get("portMappings") or []:
        host, port = p.get("hostPort"), p.get("containerPort")
        if host is not None and host != port:
            report.add(where, "port-mapping", f"hostPort {host} differs from containerPort {port}: "
                                              "awsvpc needs them equal: drop hostPort")
    image = literal(c.get("image"))
    if isinstance(image, str) and "@sha256:" not in image:
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if tag in ("", "latest"):
            report.add(where, "image", f"image {image!r} has a mutable tag: name an immutable "
                                       "<version>-<git sha> tag or a digest")
    for name in env:
        if isinstance(name, str) and SECRET_NAME.search(name):
            report.add(where, "secrets", f"{name} is a plain environment variable: use secrets "
                                         "(valueFrom an SSM parameter or a Secrets Manager "
                                         "secret)")
    for s in c.get("secrets") or []:
        arn = literal(s.get("valueFrom"))
        if arn is not None and not (SSM_ARN.match(arn) or secret_arn(arn)):
            report.add(where, "secret-arn",
                       f"{s.get('name')}: valueFrom {arn!r} is neither an SSM parameter ARN nor "
                       "a Secrets Manager secret ARN")
    check_health(c, where, report)
    check_stop(env, c, where, report)
    if c.get("readonlyRootFilesystem") is not True:
        report.add(where, "hardening", "readonlyRootFilesystem must be true")
    user = str(literal(c.get("user")) or "")
    uid = user.split(":")[0]
    if not uid.isdigit() or uid == "0":
        report.add(where, "hardening", f"user {user!r} must be a numeric non-root uid")
    nofile = next((u for u in c.get("ulimits") or [] if u.get("name") == "nofile"), None)
    if not nofile:
        report.add(where, "hardening", "no nofile ulimit: connections are capped by the default")
    else:
        soft, hard = as_int(nofile.get("softLimit")), as_int(nofile.get("hardLimit"))
        if soft != hard or (soft or 0) < 4096:
            report.add(where, "hardening", "the nofile ulimit must be at least 4096, soft = hard")
        if max(soft or 0, hard or 0) > NOFILE_MAX:
            report.add(where, "ulimits", f"nofile {max(soft or 0, hard or 0)} is above the "
                                         f"kernel's {NOFILE_MAX}: the task would fail to start")
    limit = env.get("MEMORY_LIMIT_MB")
    if limit is not None and mem is not None and (as_int(limit) or 0) > mem:
        report.add(where, "memory-limit",
                   f"MEMORY_LIMIT_MB {limit} is over the task memory {mem}: the plan would not "
                   "fit: write the task memory")
    check_logs(m, c, where, report)


def check_health(c, where, report):
    hc = c.get("healthCheck")
    if not hc:
        report.add(where, "health-check", "the container has no health check")
        return
    command = [str(x) for x in hc.get("command") or []]
    if not command or command[0] not in ("CMD", "CMD-SHELL"):
        report.add(where, "health-check", f"command {command!r} must start with CMD or "
                                          "CMD-SHELL: write [\"CMD\", \"/usr/local/bin/node-api\", "
                                          "\"healthcheck\"]")
    cmd = " ".join(command)
    if "curl" in cmd or "wget" in cmd or "node-api healthcheck" not in cmd:
        report.add(where, "health-check",
                   f"command {cmd!r}: the image has no curl or wget; use node-api healthcheck")
    for key, lo, hi, default in (("interval", 5, 300, 30), ("timeout", 2, 60, 5),
                                 ("retries", 1, 10, 3), ("startPeriod", 0, 300, 0)):
        v = as_int(hc.get(key, default))
        if v is None or not lo <= v <= hi:
            report.add(where, "health-check", f"{key} {hc.get(key)} is outside {lo}..{hi}")
    timeout, interval = as_int(hc.get("timeout", 5)), as_int(hc.get("interval", 30))
    if timeout and interval and timeout >= interval:
        report.add(where, "health-check", "timeout must be shorter than interval")


def check_stop(env, c, where, report):
    shutdown = setting(env, "SHUTDOWN_TIMEOUT_S")
    stop = as_int(c.get("stopTimeout"))
    if stop is None:
        report.add(where, "stop-timeout", "stopTimeout is unset (30 s default): set it explicitly")
    elif stop > 120:
        report.add(where, "stop-timeout", f"stopTimeout {stop} is over Fargate's 120 s maximum")
    elif stop < shutdown + 2:
        report.add(where, "stop-timeout",
                   f"stopTimeout {stop} leaves no margin over SHUTDOWN_TIMEOUT_S {shutdown}: "
                   "SIGKILL would cut the drain short (need >= SHUTDOWN_TIMEOUT_S + 2)")
    # node-api keeps DB_STATEMENT_TIMEOUT_MS + 1 s of SHUTDOWN_TIMEOUT_S for its stop (the calls
    # still running): the drain proper is the rest, and the longest request must fit in it.
    statement = setting(env, "DB_STATEMENT_TIMEOUT_MS")
    longest_ms = setting(env, "DB_ACQUIRE_TIMEOUT_MS") + statement + 1000
    if shutdown * 1000 - (statement + 1000) < longest_ms:
        report.add(where, "drain", f"SHUTDOWN_TIMEOUT_S {shutdown} is shorter than the longest "
                                   f"request ({longest_ms} ms) and the stop after the drain "
                                   f"({statement + 1000} ms)")


def check_logs(m, c, where, report):
    logs = c.get("logConfiguration") or {}
    opts = logs.get("options") or {}
    if logs.get("logDriver") != "awslogs":
        report.add(where, "logs", "logDriver must be awslogs")
        return
    if opts.get("mode") != "non-blocking" or "max-buffer-size" not in opts:
        report.add(where, "logs", "awslogs must run in mode non-blocking with a max-buffer-size, "
                                  "or a slow CloudWatch blocks the service's stdout")
    for key in LOG_OPTIONS:
        if not opts.get(key):
            report.add(where, "logs", f"logConfiguration.options has no {key}: Fargate needs "
                                      "the group, the region and a stream prefix")
    group = (m.get("log_group") or {}).get("name")
    if group and opts.get("awslogs-group") and opts["awslogs-group"] != group:
        report.add(where, "logs", f"awslogs-group {opts['awslogs-group']!r} is not the log group "
                                  f"the stack makes ({group!r}): write {group}")

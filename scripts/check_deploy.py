#!/usr/bin/env python3
"""Checks the deploy artifacts before they meet AWS.

    scripts/check_deploy.py [DEPLOY_DIR]     (default: deploy/ beside this script)

Two passes, both offline:

1. Shape: every JSON input in DEPLOY_DIR/cli is validated against the input
   shape of the API call it is made for, from the AWS CLI's own botocore
   service models: required members, types, enums and ranges, unknown keys.
   Policy documents are checked inside the call that carries them.
2. Meaning: the rules of Fargate, the ALB and this service that the models
   do not encode (valid cpu/memory pairs, health-check ranges, stopTimeout
   against the drain, deregistration delay against the longest request,
   keep-alive above the ALB idle timeout, cooldown order, ResourceLabel
   format, secret ARN forms, the execution role granting what the task
   definition references, hardening), on the CLI inputs and on the literal
   values of deploy/cloudformation.yaml (cfn-lint checks the rest of it).

Prints one line per problem, "file: rule: what is wrong", and exits 1 if
there is any; exits 0 and prints "deploy artifacts: ok" otherwise.
"""

import json
import os
import re
import sys

import botocore.session
from botocore.validate import ParamValidator

# Fargate's task sizes: cpu units -> memory MiB allowed.
FARGATE = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}
ALB_DEFAULT_IDLE_S = 60
SERVICE_DEFAULTS = {"SHUTDOWN_TIMEOUT_S": 25, "KEEPALIVE_TIMEOUT_S": 65,
                    "DB_ACQUIRE_TIMEOUT_MS": 1000, "DB_STATEMENT_TIMEOUT_MS": 5000}
SSM_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9_.\-/]+$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@\-]+"
                        r"(:[A-Za-z0-9_-]*:[A-Za-z0-9_-]*:[A-Za-z0-9_-]*)?$")
RESOURCE_LABEL = re.compile(r"^app/[A-Za-z0-9-]+/[0-9a-f]+/targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$")
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)[:@].+$")

# file -> (botocore service, operation, builder of the call's parameters from the file)
CALLS = {
    "ecr-repository.json": ("ecr", "CreateRepository", None),
    "ecr-lifecycle-policy.json": ("ecr", "PutLifecyclePolicy",
                                  lambda d: {"repositoryName": "node-api",
                                             "lifecyclePolicyText": json.dumps(d)}),
    "log-group.json": ("logs", "CreateLogGroup", None),
    "log-retention.json": ("logs", "PutRetentionPolicy", None),
    "iam/ecs-tasks-trust-policy.json": ("iam", "CreateRole",
                                        lambda d: {"RoleName": "node-api-execution",
                                                   "AssumeRolePolicyDocument": json.dumps(d)}),
    "iam/execution-role-policy.json": ("iam", "PutRolePolicy",
                                       lambda d: {"RoleName": "node-api-execution",
                                                  "PolicyName": "node-api-execution",
                                                  "PolicyDocument": json.dumps(d)}),
    "target-group.json": ("elbv2", "CreateTargetGroup", None),
    "target-group-attributes.json": ("elbv2", "ModifyTargetGroupAttributes", None),
    "load-balancer-attributes.json": ("elbv2", "ModifyLoadBalancerAttributes", None),
    "task-definition.json": ("ecs", "RegisterTaskDefinition", None),
    "service.json": ("ecs", "CreateService", None),
    "scalable-target.json": ("application-autoscaling", "RegisterScalableTarget", None),
    "scaling-policy-requests.json": ("application-autoscaling", "PutScalingPolicy", None),
    "scaling-policy-cpu.json": ("application-autoscaling", "PutScalingPolicy", None),
}


class Report:
    def __init__(self):
        self.problems = []

    def add(self, where, rule, message):
        self.problems.append(f"{where}: {rule}: {message}")


# ---- pass 1: shapes ---------------------------------------------------------------------------

def enum_errors(value, shape, path="", out=None):
    """botocore's ParamValidator leaves enums out: values outside a shape's enum."""
    out = [] if out is None else out
    if shape.type_name == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                enum_errors(v, shape.members[k], f"{path}.{k}" if path else k, out)
    elif shape.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            enum_errors(v, shape.member, f"{path}[{i}]", out)
    elif shape.type_name == "map" and isinstance(value, dict):
        for k, v in value.items():
            enum_errors(v, shape.value, f"{path}.{k}", out)
    elif shape.type_name == "string" and getattr(shape, "enum", None) and value not in shape.enum:
        out.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
    return out


def check_shapes(cli_dir, report):
    session = botocore.session.get_session()
    docs = {}
    listed = set()
    for root, _, files in os.walk(cli_dir):
        for f in files:
            listed.add(os.path.relpath(os.path.join(root, f), cli_dir))
    for name in sorted(listed - set(CALLS)):
        report.add(name, "shape", "not a known artifact: say which call it is for in CALLS")
    for name, (service, op, build) in CALLS.items():
        path = os.path.join(cli_dir, name)
        if not os.path.exists(path):
            report.add(name, "shape", "missing")
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
        except ValueError as e:
            report.add(name, "shape", f"not valid JSON: {e}")
            continue
        docs[name] = doc
        shape = session.get_service_model(service).operation_model(op).input_shape
        params = build(doc) if build else doc
        result = ParamValidator().validate(params, shape)
        if result.has_errors():
            for line in result.generate_report().splitlines():
                if line.strip() and not line.startswith("Parameter validation failed"):
                    report.add(name, f"shape ({service} {op})", line.strip())
        for err in enum_errors(params, shape):
            report.add(name, f"shape ({service} {op})", err)
    return docs


# ---- the model both passes reason about -------------------------------------------------------

def lower_keys(obj):
    """CloudFormation's PascalCase ECS properties in the API's camelCase."""
    if isinstance(obj, dict) and not set(obj) & {"Ref", "Fn::Sub", "Fn::GetAtt", "Fn::If"}:
        return {(k[0].lower() + k[1:] if k[0].isupper() else k): lower_keys(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [lower_keys(v) for v in obj]
    return obj


def attributes(pairs):
    return {p["Key"]: p["Value"] for p in pairs or []}


def model_from_cli(docs):
    policies = [docs[n] for n in ("scaling-policy-requests.json", "scaling-policy-cpu.json")
                if n in docs]
    return {
        "taskdef": docs.get("task-definition.json"),
        "service": docs.get("service.json"),
        "target_group": docs.get("target-group.json"),
        "tg_attributes": attributes(docs.get("target-group-attributes.json", {}).get("Attributes")),
        "lb_attributes": attributes(docs.get("load-balancer-attributes.json", {}).get("Attributes")),
        "scalable_target": docs.get("scalable-target.json"),
        "scaling_policies": [(p.get("PolicyName"), p.get("TargetTrackingScalingPolicyConfiguration"))
                             for p in policies],
        "execution_policy": docs.get("iam/execution-role-policy.json"),
        "ecr": docs.get("ecr-repository.json"),
        "log_retention": (docs.get("log-retention.json") or {}).get("retentionInDays"),
    }


def model_from_template(t):
    res = t.get("Resources", {})

    def props(kind):
        return [r.get("Properties", {}) for r in res.values() if r.get("Type") == kind]

    td = (props("AWS::ECS::TaskDefinition") or [None])[0]
    svc = (props("AWS::ECS::Service") or [None])[0]
    tg = (props("AWS::ElasticLoadBalancingV2::TargetGroup") or [{}])[0]
    lb = (props("AWS::ElasticLoadBalancingV2::LoadBalancer") or [{}])[0]
    st = (props("AWS::ApplicationAutoScaling::ScalableTarget") or [None])[0]
    role_policies = []
    for r in props("AWS::IAM::Role"):
        for p in r.get("Policies", []):
            role_policies.append(p.get("PolicyDocument"))
    log = (props("AWS::Logs::LogGroup") or [{}])[0]
    params = t.get("Parameters", {})
    taskdef = lower_keys(td) if td else None
    if taskdef:
        # Resolve the task size from the parameters' defaults, the sizes a stack gets unless told.
        for key in ("cpu", "memory"):
            v = taskdef.get(key)
            if isinstance(v, dict) and "Ref" in v:
                taskdef[key + "_ref"] = v["Ref"]
                taskdef[key] = params.get(v["Ref"], {}).get("Default")
    return {
        "taskdef": taskdef,
        "service": lower_keys(svc) if svc else None,
        "target_group": tg,
        "tg_attributes": attributes(tg.get("TargetGroupAttributes")),
        "lb_attributes": attributes(lb.get("LoadBalancerAttributes")),
        "scalable_target": st,
        "scaling_policies": [(p.get("PolicyName"), p.get("TargetTrackingScalingPolicyConfiguration"))
                             for p in props("AWS::ApplicationAutoScaling::ScalingPolicy")],
        "execution_policy": None,  # its resources are references: cfn-lint's business
        "template_role_policies": role_policies,
        "ecr": lower_keys((props("AWS::ECR::Repository") or [None])[0]),
        "log_retention": log.get("RetentionInDays"),
    }


# ---- pass 2: meaning --------------------------------------------------------------------------

def literal(v):
    return None if isinstance(v, (dict, list)) else v


def as_int(v):
    try:
        return int(literal(v))
    except (TypeError, ValueError):
        return None


def env_of(container):
    return {e.get("name"): e.get("value") for e in container.get("environment", [])}


def setting(env, name):
    v = as_int(env.get(name))
    return SERVICE_DEFAULTS[name] if v is None else v


def iam_match(pattern, value):
    """IAM resource matching: * is any run of characters, ? one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value) is not None


def grants(policy, action, resource):
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(iam_match(a.lower(), action.lower()) for a in actions) and \
                any(iam_match(r, resource) for r in resources):
            return True
    return False


def check_taskdef(m, where, report):
    td = m["taskdef"]
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
    containers = td.get("containerDefinitions") or []
    c = next((c for c in containers if c.get("name") == "node-api"), None)
    if not c:
        report.add(where, "container", "no container named node-api")
        return None
    env = env_of(c)
    for name in ("DATABASE_URL", "API_KEY"):
        if name in env:
            report.add(where, "secrets", f"{name} is a plain environment variable: use secrets")
    for s in c.get("secrets", []):
        arn = literal(s.get("valueFrom"))
        if arn is not None and not (SSM_ARN.match(arn) or SECRET_ARN.match(arn)):
            report.add(where, "secret-arn",
                       f"{s.get('name')}: valueFrom {arn!r} is neither an SSM parameter ARN nor "
                       "a Secrets Manager secret ARN")
    hc = c.get("healthCheck")
    if not hc:
        report.add(where, "health-check", "the container has no health check")
    else:
        cmd = " ".join(str(x) for x in hc.get("command", []))
        if "curl" in cmd or "wget" in cmd or "node-api healthcheck" not in cmd:
            report.add(where, "health-check",
                       f"command {cmd!r}: the image has no curl or wget; use node-api healthcheck")
        for key, lo, hi, default in (("interval", 5, 300, 30), ("timeout", 2, 60, 5),
                                     ("retries", 1, 10, 3), ("startPeriod", 0, 300, 0)):
            v = as_int(hc.get(key, default))
            if v is None or not lo <= v <= hi:
                report.add(where, "health-check", f"{key} {hc.get(key)} is outside {lo}..{hi}")
        if as_int(hc.get("timeout", 5)) and as_int(hc.get("interval", 30)) and \
                as_int(hc.get("timeout", 5)) >= as_int(hc.get("interval", 30)):
            report.add(where, "health-check", "timeout must be shorter than interval")
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
    longest_ms = setting(env, "DB_ACQUIRE_TIMEOUT_MS") + setting(env, "DB_STATEMENT_TIMEOUT_MS") + 1000
    if shutdown * 1000 < longest_ms:
        report.add(where, "drain", f"SHUTDOWN_TIMEOUT_S {shutdown} is shorter than the longest "
                                   f"request ({longest_ms} ms)")
    if c.get("readonlyRootFilesystem") is not True:
        report.add(where, "hardening", "readonlyRootFilesystem must be true")
    user = str(literal(c.get("user")) or "")
    uid = user.split(":")[0]
    if not uid.isdigit() or uid == "0":
        report.add(where, "hardening", f"user {user!r} must be a numeric non-root uid")
    nofile = next((u for u in c.get("ulimits", []) if u.get("name") == "nofile"), None)
    if not nofile:
        report.add(where, "hardening", "no nofile ulimit: connections are capped by the default")
    elif as_int(nofile.get("softLimit")) != as_int(nofile.get("hardLimit")) or \
            (as_int(nofile.get("softLimit")) or 0) < 4096:
        report.add(where, "hardening", "the nofile ulimit must be at least 4096, soft = hard")
    limit = env.get("MEMORY_LIMIT_MB")
    if isinstance(limit, dict):
        if limit.get("Ref") != td.get("memory_ref"):
            report.add(where, "memory-limit", "MEMORY_LIMIT_MB must follow the task memory")
    elif limit is not None and mem is not None and (as_int(limit) or 0) > mem:
        report.add(where, "memory-limit",
                   f"MEMORY_LIMIT_MB {limit} is over the task memory {mem}: the plan would not fit")
    logs = c.get("logConfiguration") or {}
    opts = logs.get("options") or {}
    if logs.get("logDriver") != "awslogs":
        report.add(where, "logs", "logDriver must be awslogs")
    elif opts.get("mode") != "non-blocking" or "max-buffer-size" not in opts:
        report.add(where, "logs", "awslogs must run in mode non-blocking with a max-buffer-size, "
                                  "or a slow CloudWatch blocks the service's stdout")
    return c


def check_rest(m, c, where, report):
    td, svc = m["taskdef"], m["service"]
    env = env_of(c) if c else {}
    shutdown = setting(env, "SHUTDOWN_TIMEOUT_S")
    longest_s = (setting(env, "DB_ACQUIRE_TIMEOUT_MS") + setting(env, "DB_STATEMENT_TIMEOUT_MS")
                 + 1000 + 999) // 1000
    idle = as_int(m["lb_attributes"].get("idle_timeout.timeout_seconds")) or ALB_DEFAULT_IDLE_S
    keepalive = setting(env, "KEEPALIVE_TIMEOUT_S")
    if keepalive <= idle:
        report.add(where, "keep-alive", f"KEEPALIVE_TIMEOUT_S {keepalive} must be above the ALB "
                                        f"idle timeout {idle}, or the ALB sees 502s")
    dereg = as_int(m["tg_attributes"].get("deregistration_delay.timeout_seconds"))
    if dereg is None:
        report.add(where, "deregistration-delay", "unset: the 300 s default slows every deploy")
    elif dereg < longest_s:
        report.add(where, "deregistration-delay",
                   f"{dereg} s is shorter than the longest request ({longest_s} s): requests "
                   "still running when ECS sends SIGTERM would be cut")
    elif dereg > 300:
        report.add(where, "deregistration-delay", f"{dereg} s makes deploys needlessly slow")
    tg = m["target_group"] or {}
    if tg.get("TargetType") != "ip":
        report.add(where, "target-group", "TargetType must be ip for Fargate tasks")
    if tg.get("HealthCheckPath") != "/health":
        report.add(where, "target-group", "the health check must be the shallow /health")
    for key, lo, hi in (("HealthyThresholdCount", 2, 10), ("UnhealthyThresholdCount", 2, 10),
                        ("HealthCheckIntervalSeconds", 5, 300), ("HealthCheckTimeoutSeconds", 2, 120)):
        v = as_int(tg.get(key))
        if v is not None and not lo <= v <= hi:
            report.add(where, "target-group", f"{key} {v} is outside {lo}..{hi}")
    for name, cfg in m["scaling_policies"]:
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
    metrics = {(cfg or {}).get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
               for _, cfg in m["scaling_policies"]}
    for want in ("ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"):
        if want not in metrics:
            report.add(where, "scaling", f"no target tracking policy on {want}")
    st = m["scalable_target"] or {}
    lo, hi = st.get("MinCapacity"), st.get("MaxCapacity")
    if as_int(lo) is not None and as_int(lo) < 2:
        report.add(where, "scaling", "MinCapacity below 2: one task is one zone's outage away from none")
    if as_int(lo) is not None and as_int(hi) is not None and as_int(hi) < as_int(lo):
        report.add(where, "scaling", "MaxCapacity below MinCapacity")
    if svc:
        net = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        dc = svc.get("deploymentConfiguration") or {}
        cb = dc.get("deploymentCircuitBreaker") or {}
        if svc.get("launchType") != "FARGATE":
            report.add(where, "service", "launchType must be FARGATE")
        if net.get("assignPublicIp") != "DISABLED":
            report.add(where, "service", "tasks must get no public IP (assignPublicIp DISABLED)")
        if cb.get("enable") is not True or cb.get("rollback") is not True:
            report.add(where, "service", "the deployment circuit breaker must be on, with rollback")
        if (as_int(dc.get("minimumHealthyPercent")) or 0) < 100 or \
                (as_int(dc.get("maximumPercent")) or 0) < 200:
            report.add(where, "service", "zero-downtime rolling deploys need minimumHealthyPercent "
                                         ">= 100 and maximumPercent >= 200")
        if literal(svc.get("platformVersion")) in (None, "LATEST"):
            report.add(where, "service", "pin platformVersion (not LATEST)")
        grace = as_int(svc.get("healthCheckGracePeriodSeconds"))
        start = as_int(((c or {}).get("healthCheck") or {}).get("startPeriod", 0)) or 0
        if grace is None or grace < start:
            report.add(where, "service", "healthCheckGracePeriodSeconds must cover the container's "
                                         "startPeriod")
        for lb in svc.get("loadBalancers") or []:
            ports = [p.get("containerPort") for p in (c or {}).get("portMappings", [])]
            if lb.get("containerName") != "node-api" or lb.get("containerPort") not in ports:
                report.add(where, "service", "the load balancer must target node-api's port mapping")
    ecr = m["ecr"] or {}
    if ecr.get("imageTagMutability") != "IMMUTABLE":
        report.add(where, "ecr", "image tags must be IMMUTABLE")
    if (ecr.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        report.add(where, "ecr", "scanOnPush must be on")
    if m["log_retention"] is None:
        report.add(where, "logs", "the log group has no retention: logs would be kept forever")


def check_least_privilege(policy, where, report):
    """Resource "*" is for the one action that has no resource: ecr:GetAuthorizationToken."""
    for st in policy.get("Statement", []):
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if st.get("Effect") == "Allow" and "*" in resources:
            broad = [a for a in actions if a != "ecr:GetAuthorizationToken"]
            if broad:
                report.add(where, "least-privilege", f"{', '.join(broad)} on Resource \"*\": "
                                                     "name the resources")
        if any(a == "*" or a.endswith(":*") for a in actions):
            report.add(where, "least-privilege", f"wildcard action in {actions}")


def check_execution_role(m, c, report):
    policy = m["execution_policy"]
    if not policy or not c:
        return
    where = "iam/execution-role-policy.json"
    check_least_privilege(policy, where, report)
    need = []
    for s in c.get("secrets", []):
        arn = s.get("valueFrom", "")
        if SSM_ARN.match(arn):
            need.append(("ssm:GetParameters", arn, s.get("name")))
        elif SECRET_ARN.match(arn):
            # A partial secret ARN matches the full one, which ends in -XXXXXX.
            need.append(("secretsmanager:GetSecretValue", arn + "-AbCdEf", s.get("name")))
    opts = (c.get("logConfiguration") or {}).get("options") or {}
    region = opts.get("awslogs-region", "us-east-1")
    account = (re.search(r":(\d{12}):", m["taskdef"].get("executionRoleArn", "")) or [None, "*"])[1]
    group = opts.get("awslogs-group")
    if group:
        stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:ecs/node-api/x"
        need += [("logs:CreateLogStream", stream, "awslogs"), ("logs:PutLogEvents", stream, "awslogs")]
    image = ECR_IMAGE.match(c.get("image", ""))
    if image:
        acct, reg, repo = image.groups()
        repo_arn = f"arn:aws:ecr:{reg}:{acct}:repository/{repo}"
        need += [("ecr:GetAuthorizationToken", "*", "image"),
                 ("ecr:BatchGetImage", repo_arn, "image"),
                 ("ecr:GetDownloadUrlForLayer", repo_arn, "image")]
    for action, resource, why in need:
        if not grants(policy, action, resource):
            report.add(where, "execution-role", f"does not grant {action} on {resource}, which the "
                                                f"task definition needs ({why})")


def check_consistency(m, report):
    td, svc, st = m["taskdef"] or {}, m["service"] or {}, m["scalable_target"] or {}
    if svc and td and svc.get("taskDefinition", "").split(":")[0].split("/")[-1] != td.get("family"):
        report.add("service.json", "consistency", "taskDefinition is not task-definition.json's family")
    want = f"service/{svc.get('cluster')}/{svc.get('serviceName')}"
    if svc and st and st.get("ResourceId") != want:
        report.add("scalable-target.json", "consistency", f"ResourceId must be {want}")


def check_template(path, report):
    from cfnlint.decode import cfn_yaml
    where = os.path.basename(path)
    t = cfn_yaml.load(path)
    m = model_from_template(t)
    c = check_taskdef(m, where, report)
    check_rest(m, c, where, report)
    params = t.get("Parameters", {})
    cpu, mem = params.get("Cpu", {}), params.get("Memory", {})
    for v in cpu.get("AllowedValues", []):
        if int(v) not in FARGATE:
            report.add(where, "fargate-cpu-memory", f"Cpu allows {v}, not a Fargate size")
    if "FargateCpuMemory" not in t.get("Rules", {}):
        report.add(where, "fargate-cpu-memory", "no Rules entry ties Cpu to valid Memory values")
    for doc in m["template_role_policies"]:
        check_least_privilege(doc or {}, where, report)


def main(argv):
    deploy = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "deploy")
    report = Report()
    docs = check_shapes(os.path.join(deploy, "cli"), report)
    m = model_from_cli(docs)
    c = check_taskdef(m, "task-definition.json", report)
    check_rest(m, c, "cli", report)
    check_execution_role(m, c, report)
    check_consistency(m, report)
    template = os.path.join(deploy, "cloudformation.yaml")
    if os.path.exists(template):
        check_template(template, report)
    else:
        report.add("cloudformation.yaml", "template", "missing")
    for p in report.problems:
        print(p)
    if report.problems:
        print(f"deploy artifacts: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("deploy artifacts: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

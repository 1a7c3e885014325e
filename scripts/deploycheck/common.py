"""What every rule module shares: the report, value helpers, IAM matching, ARN forms.

A rule never raises on a malformed input: it reports what it can and moves on, as
the shapes pass already says what is malformed.
"""

import re

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
# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653}

SSM_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9_.\-/]+$")
# A Secrets Manager reference: the secret's ARN (full, with the 6-character suffix
# Secrets Manager adds, or partial, without it), optionally followed by
# :json-key:version-stage:version-id as ECS accepts it.
SECRET_REF = re.compile(r"^(?P<arn>arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:"
                        r"(?P<name>[A-Za-z0-9/_+=.@\-]+))"
                        r"(?::(?P<key>[^:]*):(?P<stage>[^:]*):(?P<version>[^:]*))?$")
SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
RESOURCE_LABEL = re.compile(r"^app/[A-Za-z0-9-]+/[0-9a-f]+/targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$")
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)([:@].+)$")


class Report:
    def __init__(self):
        self.problems = []

    def add(self, where, rule, message):
        line = f"{where}: {rule}: {message}"
        if line not in self.problems:  # the template's scenarios repeat what holds in all
            self.problems.append(line)


def literal(v):
    return None if isinstance(v, (dict, list)) else v


def as_int(v):
    try:
        return int(literal(v))
    except (TypeError, ValueError):
        return None


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def iam_match(pattern, value):
    """IAM resource matching: * is any run of characters, ? one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def statements(policy):
    return [s for s in as_list((policy or {}).get("Statement")) if isinstance(s, dict)]


def grants(policy, action, resource):
    for st in statements(policy):
        if st.get("Effect") != "Allow":
            continue
        if any(iam_match(a.lower(), action.lower()) for a in as_list(st.get("Action"))
               if isinstance(a, str)) and \
                any(iam_match(r, resource) for r in as_list(st.get("Resource"))
                    if isinstance(r, str)):
            return True
    return False


def secret_arn(ref):
    """(the secret's ARN as given, whether it is partial) for a valueFrom, or None."""
    m = SECRET_REF.match(ref or "")
    if not m:
        return None
    return m.group("arn"), not SECRET_SUFFIX.search(m.group("name"))

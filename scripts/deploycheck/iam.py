"""Rules on the roles: the execution role grants exactly what starting the task needs
(pull this repository, write this log group, read these two secrets), in forms IAM
matches, and nothing broader; the task role grants nothing; both trust ECS tasks of
this account only.

Breadth is tested the way IAM would decide it: each granted resource pattern is
matched against decoys, resources next to the ones needed (another secret with the
same prefix, another log group, the same name in another account). A pattern that
matches a decoy grants more than the task uses.
"""

import re

from .common import (ECR_IMAGE, SSM_ARN, as_list, grants, iam_match, secret_arn, statements)

# What the execution role may do: the ECS agent's calls when starting a task.
EXECUTION_ACTIONS = {"ecr:getauthorizationtoken", "ecr:batchchecklayeravailability",
                     "ecr:getdownloadurlforlayer", "ecr:batchgetimage", "logs:createlogstream",
                     "logs:putlogevents", "ssm:getparameters", "secretsmanager:getsecretvalue",
                     "kms:decrypt"}
# The one AWS managed policy an execution role may carry (what the CDK attaches).
EXECUTION_MANAGED = {"arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
ACCOUNT_RX = re.compile(r":(\d{12}):")


def _swap(arn, field, value):
    parts = arn.split(":")
    if len(parts) > field:
        parts[field] = value
    return ":".join(parts)


def needs(m, c):
    """[(action, resource, why, decoys)] the task definition makes the execution role need."""
    out = []
    for s in c.get("secrets") or []:
        ref = s.get("valueFrom") or ""
        name = s.get("name")
        if SSM_ARN.match(ref):
            decoys = [ref + "x", ref.rsplit("/", 1)[0] + "/other"]
            out.append(("ssm:GetParameters", ref, name, decoys))
        elif secret_arn(ref):
            arn, partial = secret_arn(ref)
            # IAM sees the full ARN, which ends in -XXXXXX, whatever the reference says.
            full = arn + "-AbCdEf" if partial else arn
            base = arn if partial else arn[:-7]
            decoys = [base + "-other-AbCdEf", base + "x-AbCdEf", base + "-AbCdEfGh"]
            out.append(("secretsmanager:GetSecretValue", full, name, decoys))
    opts = (c.get("logConfiguration") or {}).get("options") or {}
    td = m["taskdef"] or {}
    region = opts.get("awslogs-region", "us-east-1")
    account = (ACCOUNT_RX.search(td.get("executionRoleArn") or "") or [None, "123456789012"])[1]
    group = opts.get("awslogs-group")
    if group:
        prefix = f"arn:aws:logs:{region}:{account}:log-group:"
        stream = f"{prefix}{group}:log-stream:{opts.get('awslogs-stream-prefix', 'ecs')}/node-api/x"
        decoys = [f"{prefix}{group}x:log-stream:x", f"{prefix}/other:log-stream:x"]
        out += [("logs:CreateLogStream", stream, "awslogs", decoys),
                ("logs:PutLogEvents", stream, "awslogs", decoys)]
    image = ECR_IMAGE.match(c.get("image") or "")
    if image:
        acct, reg, repo, _ = image.groups()
        arn = f"arn:aws:ecr:{reg}:{acct}:repository/{repo}"
        decoys = [arn + "x", arn.rsplit("/", 1)[0] + "/other"]
        out += [("ecr:GetAuthorizationToken", "*", "image", []),
                ("ecr:BatchGetImage", arn, "image", decoys),
                ("ecr:GetDownloadUrlForLayer", arn, "image", decoys)]
    # Every resource has a twin in another account and region, which no grant may reach.
    return [(a, r, w, d + ([_swap(r, 4, "999999999999"), _swap(r, 3, "eu-west-3")]
                           if r != "*" else []))
            for a, r, w, d in out]


def check_roles(m, c, report):
    roles = m["roles"]
    td = m["taskdef"] or {}
    where = m["files"]["roles"]
    for role in roles:
        check_trust(role, report)
    execution = next((r for r in roles if r["arn"] == td.get("executionRoleArn")), None)
    task = next((r for r in roles if r["arn"] == td.get("taskRoleArn")), None)
    if task is not None:
        for arn in task["managed"]:
            report.add(where, "task-role", f"{arn} is attached to the task role: node-api calls "
                                           "no AWS API: attach nothing")
        for doc in task["policies"]:
            for st in statements(doc):
                if st.get("Effect") == "Allow":
                    report.add(where, "task-role", f"the task role allows {st.get('Action')}: "
                                                   "node-api calls no AWS API: grant nothing")
    if execution is None or c is None:
        return
    for arn in execution["managed"]:
        if arn not in EXECUTION_MANAGED:
            report.add(where, "execution-role", f"{arn} is attached to the execution role: grant "
                                                "the actions the task needs, on its resources")
    need = needs(m, c)
    for doc in execution["policies"]:
        check_breadth(doc or {}, need, where, report)
    granted = lambda a, r: any(grants(d or {}, a, r) for d in execution["policies"])  # noqa: E731
    if any(a.endswith("AmazonECSTaskExecutionRolePolicy") for a in execution["managed"]):
        # ECR pull and logs on any resource: the managed policy's statement.
        managed = {"Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "logs:CreateLogStream",
            "logs:PutLogEvents"]}]}
        plain = granted
        granted = lambda a, r: plain(a, r) or grants(managed, a, r)  # noqa: E731
    for action, resource, why, _ in need:
        if granted(action, resource):
            continue
        hint = ""
        if action == "secretsmanager:GetSecretValue" and resource.endswith("-AbCdEf"):
            arn = resource[:-7]
            if any(grants(d or {}, action, arn) for d in execution["policies"]):
                hint = (f": it grants {arn}, which IAM never matches, as the secret's ARN ends in "
                        f"a 6-character suffix: grant {arn}-?????? or the full ARN")
            else:
                resource = f"{arn}-?????? (the secret's full ARN)"
        report.add(where, "execution-role", f"does not grant {action} on {resource}, which the "
                                            f"task definition needs ({why}){hint}")


def check_breadth(policy, need, where, report):
    """Actions beyond what starting a task needs, wildcards in actions, and resources that
    reach past the ones needed."""
    for st in statements(policy):
        if st.get("Effect") != "Allow":
            continue
        actions = [a for a in as_list(st.get("Action")) if isinstance(a, str)]
        resources = [r for r in as_list(st.get("Resource")) if isinstance(r, str)]
        if "NotAction" in st or "NotResource" in st:
            report.add(where, "least-privilege", "NotAction or NotResource in an Allow grants "
                                                 "everything else: list actions and resources")
        for a in actions:
            if "*" in a or "?" in a:
                report.add(where, "least-privilege", f"wildcard action {a}: name the actions")
            elif a.lower() not in EXECUTION_ACTIONS:
                report.add(where, "least-privilege", f"{a} is not needed to start the task: "
                                                     "remove it")
        if "*" in resources:
            broad = [a for a in actions if a.lower() != "ecr:getauthorizationtoken"]
            if broad:
                report.add(where, "least-privilege", f"{', '.join(broad)} on Resource \"*\": "
                                                     "name the resources")
            continue
        for r in resources:
            for action, _, why, decoys in need:
                if not any(iam_match(a.lower(), action.lower()) for a in actions):
                    continue
                hit = next((d for d in decoys if iam_match(r, d)), None)
                if hit:
                    report.add(where, "least-privilege",
                               f"{r} grants {action} on more than the task uses ({why}), "
                               f"for example {hit}: name the one resource"
                               + (" (secrets: <name>-??????)" if "secretsmanager" in action else ""))
                    break


def check_trust(role, report):
    where = role["trust_file"]
    doc = role["trust"]
    if not doc:
        report.add(where, "trust", f"the {role['name']} role has no trust policy")
        return
    for st in statements(doc):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = as_list((principal or {}).get("Service")) if isinstance(principal, dict) else []
        if principal == "*" or (isinstance(principal, dict) and
                                ("AWS" in principal or "Federated" in principal)) or \
                services != ["ecs-tasks.amazonaws.com"]:
            report.add(where, "trust", f"{role['name']} role: Principal {principal!r}: only "
                                       "{\"Service\": \"ecs-tasks.amazonaws.com\"} may assume it")
        cond = st.get("Condition") or {}
        accounts = [v for op, kv in cond.items() if op in ("StringEquals", "ArnLike", "StringLike")
                    for k, v in (kv or {}).items()
                    if k.lower() in ("aws:sourceaccount", "aws:sourcearn")]
        if not accounts:
            report.add(where, "trust", f"{role['name']} role: no aws:SourceAccount condition: "
                                       "any account's tasks could assume it (confused deputy): "
                                       "add StringEquals aws:SourceAccount")

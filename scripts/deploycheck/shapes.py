"""Pass 1: every JSON input of deploy/cli against the input shape of the API call it is
made for, from the AWS CLI's own botocore service models: required members, types,
enums (which botocore's validator leaves out) and ranges, unknown keys. Policy
documents are checked inside the call that carries them."""

import json
import os

import botocore.session
from botocore.validate import ParamValidator

# file -> (botocore service, operation, builder of the call's parameters from the file)
CALLS = {
    "cluster.json": ("ecs", "CreateCluster", None),
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
    "alarm-5xx-rate.json": ("cloudwatch", "PutMetricAlarm", None),
    "alarm-p99-latency.json": ("cloudwatch", "PutMetricAlarm", None),
    "alarm-target-5xx.json": ("cloudwatch", "PutMetricAlarm", None),
}


def enum_errors(value, shape, path="", out=None):
    """Values outside a shape's enum, which ParamValidator does not check."""
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
    """Validates each file; returns {file name: parsed document} for those that parse."""
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

"""One model of the stack, whether it comes from the CLI inputs or the template.

The rules reason about this dict, never about files. ECS parts are in the API's
camelCase (the template's PascalCase is lowered), ELB and Application Auto
Scaling parts in their APIs' PascalCase, as both inputs already are. A part the
input does not describe is None, and the rules on it are skipped: the CLI inputs
have no listeners or security groups (the tutorial makes them with flags), the
template has no placeholder account.

"files" names, for each part, where a problem is reported.
"""

import json

from .template import physical

PARTS = ("cluster", "taskdef", "service", "target_group", "tg_attributes", "lb", "listeners", "alarms",
         "security_groups", "scalable_target", "scaling_policies", "roles", "ecr", "lifecycle",
         "log_group")


def lower_keys(obj):
    """CloudFormation's PascalCase ECS properties in the API's camelCase."""
    if isinstance(obj, dict):
        return {(k[0].lower() + k[1:] if k[:1].isupper() else k): lower_keys(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [lower_keys(v) for v in obj]
    return obj


def attributes(pairs):
    return {p.get("Key"): p.get("Value") for p in pairs or [] if isinstance(p, dict)}


def _doc(text):
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None


def from_cli(docs):
    """From deploy/cli's parsed files (those that parse: the shapes pass names the rest)."""
    files = {"cluster": "cluster.json", "taskdef": "task-definition.json",
             "service": "service.json", "target_group": "target-group.json",
             "tg_attributes": "target-group-attributes.json",
             "lb": "load-balancer-attributes.json", "scalable_target": "scalable-target.json",
             "roles": "iam/execution-role-policy.json", "ecr": "ecr-repository.json",
             "lifecycle": "ecr-lifecycle-policy.json", "log_group": "log-group.json"}
    files.update({part: "cli" for part in PARTS if part not in files})
    policies = []
    for n in ("scaling-policy-requests.json", "scaling-policy-cpu.json"):
        if n in docs:
            policies.append((n, docs[n].get("PolicyName"),
                             docs[n].get("TargetTrackingScalingPolicyConfiguration")))
    taskdef = docs.get("task-definition.json")
    trust = docs.get("iam/ecs-tasks-trust-policy.json")
    roles = []
    if taskdef:
        # The tutorial makes both roles with the one trust policy; only the execution
        # role gets a policy.
        roles = [{"name": "execution", "arn": taskdef.get("executionRoleArn"), "trust": trust,
                  "trust_file": "iam/ecs-tasks-trust-policy.json",
                  "policies": [docs["iam/execution-role-policy.json"]]
                  if "iam/execution-role-policy.json" in docs else [], "managed": []},
                 {"name": "task", "arn": taskdef.get("taskRoleArn"), "trust": trust,
                  "trust_file": "iam/ecs-tasks-trust-policy.json", "policies": [],
                  "managed": []}]
    cluster = docs.get("cluster.json")
    if cluster is not None:
        cluster = {"name": cluster.get("clusterName"),
                   "settings": {s.get("name"): s.get("value") for s in cluster.get("settings", [])},
                   "capacityProviders": cluster.get("capacityProviders")}
    log = docs.get("log-group.json") or {}
    files["alarms"] = "alarm-*.json"
    return {
        "files": files,
        "alarms": [docs[n] for n in sorted(docs) if n.startswith("alarm-")],
        "cluster": cluster,
        "taskdef": taskdef,
        "service": docs.get("service.json"),
        "target_group": docs.get("target-group.json"),
        "tg_attributes": attributes((docs.get("target-group-attributes.json") or {})
                                    .get("Attributes")),
        "lb": {"attributes": attributes((docs.get("load-balancer-attributes.json") or {})
                                        .get("Attributes"))},
        "listeners": None,
        "listener_ids": None,
        "listener_rules": None,
        "security_groups": None,
        "scalable_target": docs.get("scalable-target.json"),
        "scaling_policies": policies,
        "roles": roles,
        "ecr": docs.get("ecr-repository.json"),
        "lifecycle": docs.get("ecr-lifecycle-policy.json"),
        "log_group": {"name": log.get("logGroupName"),
                      "retention": (docs.get("log-retention.json") or {}).get("retentionInDays"),
                      "retention_file": "log-retention.json"},
    }


def from_template(resolved, where):
    """From an evaluated template (template.Evaluator.evaluate())."""
    res = resolved["Resources"]

    def of(kind):
        return [(name, r.get("Properties") or {}) for name, r in res.items()
                if r.get("Type") == kind]

    def first(kind):
        found = of(kind)
        return found[0][1] if found else None

    td, svc = first("AWS::ECS::TaskDefinition"), first("AWS::ECS::Service")
    tg = first("AWS::ElasticLoadBalancingV2::TargetGroup")
    lb = first("AWS::ElasticLoadBalancingV2::LoadBalancer")
    repo = first("AWS::ECR::Repository")
    log = first("AWS::Logs::LogGroup") or {}
    cluster = first("AWS::ECS::Cluster")
    if cluster is not None:
        assoc = first("AWS::ECS::ClusterCapacityProviderAssociations") or {}
        cluster = {"name": cluster.get("ClusterName"),
                   "settings": {s.get("Name"): s.get("Value")
                                for s in cluster.get("ClusterSettings") or []},
                   "capacityProviders": cluster.get("CapacityProviders")
                   or assoc.get("CapacityProviders")}
    # Roles with their inline policies, and separate policy resources attached to them.
    roles = []
    for name, p in of("AWS::IAM::Role"):
        rname, attrs = physical(name, res[name])
        roles.append({"name": name, "arn": attrs["Arn"], "ref": rname,
                      "trust": p.get("AssumeRolePolicyDocument"), "trust_file": where,
                      "policies": [x.get("PolicyDocument") for x in p.get("Policies") or []],
                      "managed": list(p.get("ManagedPolicyArns") or [])})
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for _, p in of(kind):
            for r in roles:
                if r["ref"] in (p.get("Roles") or []):
                    r["policies"].append(p.get("PolicyDocument"))
    sgs = {}
    for name, p in of("AWS::EC2::SecurityGroup"):
        sgs[physical(name, res[name])[0]] = {"name": name,
                                             "ingress": list(p.get("SecurityGroupIngress") or [])}
    for _, p in of("AWS::EC2::SecurityGroupIngress"):
        if p.get("GroupId") in sgs:
            sgs[p["GroupId"]]["ingress"].append(p)
    lifecycle = _doc(((repo or {}).get("LifecyclePolicy") or {}).get("LifecyclePolicyText"))
    return {
        "files": {part: where for part in PARTS},
        "cluster": cluster,
        "taskdef": lower_keys(td) if td is not None else None,
        "service": lower_keys(svc) if svc is not None else None,
        "target_group": {k: v for k, v in (tg or {}).items() if k != "TargetGroupAttributes"},
        "tg_attributes": attributes((tg or {}).get("TargetGroupAttributes")),
        "lb": {"attributes": attributes((lb or {}).get("LoadBalancerAttributes")),
               "scheme": (lb or {}).get("Scheme")},
        "listeners": [p for _, p in of("AWS::ElasticLoadBalancingV2::Listener")],
        "alarms": [p for _, p in of("AWS::CloudWatch::Alarm")],
        "listener_ids": [physical(name, res[name])[0]
                         for name, _ in of("AWS::ElasticLoadBalancingV2::Listener")],
        "listener_rules": [p for _, p in of("AWS::ElasticLoadBalancingV2::ListenerRule")],
        "security_groups": sgs,
        "scalable_target": first("AWS::ApplicationAutoScaling::ScalableTarget"),
        "scaling_policies": [(where, p.get("PolicyName"),
                              p.get("TargetTrackingScalingPolicyConfiguration"))
                             for _, p in of("AWS::ApplicationAutoScaling::ScalingPolicy")],
        "roles": roles,
        "ecr": lower_keys({k: v for k, v in (repo or {}).items() if k != "LifecyclePolicy"})
        if repo is not None else None,
        "lifecycle": lifecycle,
        "log_group": {"name": log.get("LogGroupName"), "retention": log.get("RetentionInDays"),
                      "retention_file": where},
    }

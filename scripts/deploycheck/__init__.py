"""Checks the deploy artifacts before they meet AWS (scripts/check_deploy.py runs it).

Two passes, both offline:

1. Shape (shapes.py): every JSON input in deploy/cli against the input shape of
   the API call it is made for, from botocore's service models.
2. Meaning: the rules AWS applies that the models do not encode, and the ones
   this service needs to deploy without losing anything and to stay safe
   (task.py, service.py, network.py, iam.py, registry.py). They reason about one
   model of the stack (model.py), built from the CLI inputs and from the
   template, which template.py evaluates for each scenario a stack can be
   created with (defaults, a certificate, each secret ARN form, each choice a
   parameter allows), so `!Ref`s meet the same rules as literal values. The
   template also gets what only it has: creation order and its Rules.

Each problem is one line, "file: rule: what is wrong, what to write instead".
"""

import json
import os
import re

from . import iam, model, network, registry, service, task, template
from .common import FARGATE, Report
from .shapes import check_shapes

ARCHITECTURES = {"linux/amd64": "X86_64", "linux/arm64": "ARM64"}


def built_architectures(root):
    """The CPU architectures scripts/deploy.sh publishes the image for (its PLATFORMS)."""
    try:
        with open(os.path.join(root, "scripts", "deploy.sh")) as f:
            m = re.search(r"^PLATFORMS=\$\{PLATFORMS:-([^}]*)\}", f.read(), re.M)
    except OSError:
        m = None
    platforms = m.group(1).split(",") if m else ["linux/amd64"]
    return {ARCHITECTURES[p] for p in platforms if p in ARCHITECTURES}


def check_model(m, report, architectures):
    c = task.check_taskdef(m, report, architectures)
    service.check_cluster(m, report)
    service.check_service(m, c, report)
    service.check_deploy_alarms(m, c, report)
    service.check_scaling(m, c, report)
    service.check_timeouts(m, c, report)
    network.check_target_group(m, report)
    network.check_load_balancer(m, report)
    network.check_listeners(m, report)
    network.check_metrics_exposure(m, c, report)
    network.check_security_groups(m, report)
    iam.check_roles(m, c, report)
    registry.check_repository(m, report)
    registry.check_lifecycle(m, report)
    registry.check_log_group(m, report)
    return c


def check_cli_consistency(m, report):
    td, svc, st = m["taskdef"] or {}, m["service"] or {}, m["scalable_target"] or {}
    if svc and td and str(svc.get("taskDefinition", "")).split(":")[0].split("/")[-1] != td.get("family"):
        report.add("service.json", "consistency", "taskDefinition is not task-definition.json's family")
    want = f"service/{svc.get('cluster')}/{svc.get('serviceName')}"
    if svc and st and st.get("ResourceId") != want:
        report.add("scalable-target.json", "consistency", f"ResourceId must be {want}")
    cl = m["cluster"] or {}
    if svc and cl and svc.get("cluster") != cl.get("name"):
        report.add("service.json", "consistency", f"cluster {svc.get('cluster')!r} is not "
                                                  f"cluster.json's {cl.get('name')!r}")


def check_dashboards(resolved, where, report):
    """CloudFormation takes a DashboardBody that is not JSON, and CloudWatch refuses it at
    deploy time: the checker parses it as CloudFormation will have substituted it."""
    for name, r in resolved["Resources"].items():
        if r.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        try:
            body = json.loads(r["Properties"].get("DashboardBody") or "")
        except ValueError as e:
            report.add(where, "dashboard", f"{name}'s DashboardBody is not JSON: {e}")
            continue
        if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
            report.add(where, "dashboard", f"{name}'s DashboardBody has no widgets list")


def check_creation_order(ev, resolved, where, report):
    """The Service must be created after every listener that forwards to its target group,
    or ECS refuses a target group that no load balancer uses yet."""
    res = resolved["Resources"]
    for name, r in res.items():
        if r.get("Type") != "AWS::ECS::Service":
            continue
        tgs = {lb.get("TargetGroupArn") for lb in r["Properties"].get("LoadBalancers") or []}
        deps = template.dependencies(ev, name)
        for lname, lr in res.items():
            if lr.get("Type") != "AWS::ElasticLoadBalancingV2::Listener":
                continue
            acts = lr["Properties"].get("DefaultActions") or []
            if any(a.get("Type") == "forward" and a.get("TargetGroupArn") in tgs for a in acts) \
                    and lname not in deps:
                report.add(where, "creation-order",
                           f"{name} does not depend on {lname}, the listener that forwards to its "
                           f"target group: CloudFormation may create {name} first and fail: "
                           f"make {name} depend on it")


def check_rules(t, where, report):
    """The Rules must refuse exactly the task sizes Fargate does not run."""
    params = t.get("Parameters", {})
    cpus = [str(v) for v in params.get("Cpu", {}).get("AllowedValues", [])]
    mems = [str(v) for v in params.get("Memory", {}).get("AllowedValues", [])]
    for v in cpus:
        if int(v) not in FARGATE:
            report.add(where, "fargate-cpu-memory", f"Cpu allows {v}, not a Fargate size")
    rule = (t.get("Rules") or {}).get("FargateCpuMemory")
    if not rule:
        report.add(where, "fargate-cpu-memory", "no Rules entry ties Cpu to valid Memory values")
        return
    for cpu in cpus:
        for mem in mems:
            holds = template.Evaluator(t, {"Cpu": cpu, "Memory": mem}).rule_holds(rule)
            valid = int(mem) in FARGATE.get(int(cpu), [])
            if holds != valid:
                report.add(where, "fargate-cpu-memory",
                           f"Rules FargateCpuMemory {'accepts' if holds else 'refuses'} Cpu {cpu} "
                           f"with Memory {mem}, which Fargate {'does not run' if valid is False else 'runs'}")
                return


def check_template(path, report, architectures):
    where = os.path.basename(path)
    t = template.load(path)
    seen = set()
    try:
        check_rules(t, where, report)
        scenarios = template.scenarios(t)
    except template.Unresolved as e:
        report.add(where, "template", f"cannot evaluate the Rules: {e}")
        return
    for label, overrides in scenarios:
        try:
            ev = template.Evaluator(t, overrides)
            resolved = ev.evaluate()
        except template.Unresolved as e:
            report.add(where, "template", f"cannot evaluate ({label or 'defaults'}): {e}")
            continue
        scenario = Report()
        m = model.from_template(resolved, where)
        check_model(m, scenario, architectures)
        check_creation_order(ev, resolved, where, scenario)
        check_dashboards(resolved, where, scenario)
        for line in scenario.problems:
            if line in seen:
                continue
            seen.add(line)
            if label:
                head, rest = line.split(": ", 1)
                line = f"{head} ({label}): {rest}"
            report.problems.append(line)


def main(argv):
    import sys
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    deploy = argv[1] if len(argv) > 1 else os.path.join(root, "deploy")
    architectures = built_architectures(root)
    report = Report()
    docs = check_shapes(os.path.join(deploy, "cli"), report)
    m = model.from_cli(docs)
    check_model(m, report, architectures)
    check_cli_consistency(m, report)
    path = os.path.join(deploy, "cloudformation.yaml")
    if os.path.exists(path):
        check_template(path, report, architectures)
    else:
        report.add("cloudformation.yaml", "template", "missing")
    for p in report.problems:
        print(p)
    if report.problems:
        print(f"deploy artifacts: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("deploy artifacts: ok")
    return 0

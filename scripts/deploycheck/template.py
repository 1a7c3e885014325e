"""The CloudFormation template made concrete, so the CLI inputs' rules apply to it.

A stack's values are only known once it is created, so the template is evaluated
the way CloudFormation would for a set of scenarios: parameters take their
defaults, those without one take a value shaped as the tutorial writes it, and a
scenario overrides a few (a certificate, a full secret ARN, Spot...). Intrinsic
functions are evaluated (Ref, Sub, GetAtt, If, Join, Select, Split, the condition
functions), resources whose Condition is false are dropped, and each resource's
physical names and attributes are synthesized in the forms AWS gives them, so an
IAM grant on `!GetAtt LogGroup.Arn` can be matched against the log stream the
task writes.

evaluate() returns the resolved template; dependencies() the resources one
depends on, directly or not, which is what orders creation.
"""

import copy
import hashlib
import re

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
          "AWS::StackName": "node-api", "AWS::URLSuffix": "amazonaws.com",
          "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/node-api/1"}
# Parameters without a default, as the tutorial's reader fills them in.
SAMPLES = {
    "AWS::EC2::VPC::Id": "vpc-0abc123def4567890",
    "List<AWS::EC2::Subnet::Id>": ["subnet-0aaa1111bbbb2222c", "subnet-0ddd3333eeee4444f"],
    "ImageTag": "1.0.0-0123456789ab",
    "DatabaseUrlParameterArn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/database-url",
    "ApiKeySecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/api-key",
}
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
NO_VALUE = object()


class Unresolved(Exception):
    pass


def parameter_values(template, overrides):
    values = {}
    for name, p in (template.get("Parameters") or {}).items():
        if name in overrides:
            v = overrides[name]
        elif "Default" in p:
            v = p["Default"]
        elif name in SAMPLES:
            v = SAMPLES[name]
        elif p.get("Type") in SAMPLES:
            v = SAMPLES[p["Type"]]
        else:
            raise Unresolved(f"parameter {name} has no default and no sample value")
        if str(p.get("Type", "")).startswith("List<") or p.get("Type") == "CommaDelimitedList":
            v = v if isinstance(v, list) else [x for x in str(v).split(",") if x]
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        values[name] = v
    return values


def _hexid(name):
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def physical(logical, res):
    """(Ref value, {attribute: value}) in the forms AWS gives them."""
    kind, p = res.get("Type", ""), res.get("Properties") or {}
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    if kind == "AWS::ECS::Cluster":
        name = p.get("ClusterName") or f"node-api-{logical}-{_hexid(logical)[:8]}"
        return name, {"Arn": arn.format("ecs", f"cluster/{name}")}
    if kind == "AWS::Logs::LogGroup":
        name = p.get("LogGroupName") or f"node-api-{logical}"
        return name, {"Arn": arn.format("logs", f"log-group:{name}:*")}
    if kind == "AWS::ECR::Repository":
        name = p.get("RepositoryName") or f"node-api-{logical.lower()}"
        return name, {"Arn": arn.format("ecr", f"repository/{name}"),
                      "RepositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"}
    if kind == "AWS::IAM::Role":
        name = p.get("RoleName") or f"node-api-{logical}"
        return name, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "RoleId": "AROA" + logical}
    if kind == "AWS::EC2::SecurityGroup":
        gid = f"sg-{_hexid(logical)}"
        return gid, {"GroupId": gid}
    if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        full = f"app/{p.get('Name') or 'node-api-alb'}/{_hexid(logical)}"
        return (arn.format("elasticloadbalancing", f"loadbalancer/{full}"),
                {"LoadBalancerFullName": full, "LoadBalancerName": full.split("/")[1],
                 "DNSName": f"node-api-alb-1.{REGION}.elb.amazonaws.com"})
    if kind == "AWS::ElasticLoadBalancingV2::TargetGroup":
        full = f"targetgroup/{p.get('Name') or 'node-api-tg'}/{_hexid(logical)}"
        return (arn.format("elasticloadbalancing", full),
                {"TargetGroupFullName": full, "TargetGroupName": full.split("/")[1]})
    if kind == "AWS::CloudWatch::Alarm":
        name = p.get("AlarmName") or f"{logical}-{_hexid(logical)[:8]}"
        return name, {"Arn": arn.format("cloudwatch", f"alarm:{name}")}
    if kind == "AWS::ECS::TaskDefinition":
        return arn.format("ecs", f"task-definition/{p.get('Family') or logical}:1"), {}
    if kind == "AWS::ECS::Service":
        name = p.get("ServiceName") or logical
        return arn.format("ecs", f"service/{name}"), {"Name": name}
    return f"{logical}-{_hexid(logical)[:8]}", {}


class Evaluator:
    def __init__(self, template, overrides=None):
        self.t = template
        self.params = parameter_values(template, overrides or {})
        self.conditions = {}
        for name in (template.get("Conditions") or {}):
            self.condition(name)
        self.resources = {k: r for k, r in (template.get("Resources") or {}).items()
                          if self.condition(r.get("Condition")) is not False}
        self.physical = {}

    def condition(self, name):
        if name is None:
            return None
        if name not in self.conditions:
            self.conditions[name] = None  # no cycles
            self.conditions[name] = bool(self.value(self.t["Conditions"][name], resolve_refs=False))
        return self.conditions[name]

    def ref(self, name, resolve_refs=True):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if not resolve_refs or name not in self.resources:
            raise Unresolved(f"Ref {name}")
        return self.attrs(name)[0]

    def attrs(self, name):
        if name not in self.physical:
            res = self.resources[name]
            # Names in Properties may themselves be expressions.
            props = self.value(res.get("Properties") or {}, names_only=True)
            self.physical[name] = physical(name, {**res, "Properties": props})
        return self.physical[name]

    def getatt(self, name, attr):
        if name not in self.resources:
            raise Unresolved(f"GetAtt {name}.{attr}")
        ref, attrs = self.attrs(name)
        if attr not in attrs:
            return f"{ref}.{attr}"
        return attrs[attr]

    def sub(self, text, extra):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key:
                return str(self.getatt(*key.split(".", 1)))
            return str(self.ref(key))
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def value(self, v, resolve_refs=True, names_only=False):
        ev = lambda x: self.value(x, resolve_refs, names_only)  # noqa: E731
        if isinstance(v, list):
            out = [ev(x) for x in v]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (fn, arg), = v.items()
            if names_only and fn in ("Ref", "Fn::GetAtt", "Fn::Sub") and not self._params_only(v):
                return None
            if fn == "Ref":
                return self.ref(arg, resolve_refs)
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(name, attr)
            if fn == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: ev(x) for k, x in arg[1].items()})
                return self.sub(arg, {})
            if fn == "Fn::If":
                return ev(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Join":
                return arg[0].join(str(x) for x in ev(arg[1]))
            if fn == "Fn::Select":
                items, i = ev(arg[1]), int(ev(arg[0]))
                # Naming a resource, a reference is not known yet (None): nor is a piece of it.
                return items[i] if i < len(items) or not names_only else None
            if fn == "Fn::Split":
                return str(ev(arg[1])).split(arg[0])
            if fn == "Fn::Equals":
                a, b = ev(arg[0]), ev(arg[1])
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not ev(arg[0])
            if fn == "Fn::And":
                return all(ev(x) for x in arg)
            if fn == "Fn::Or":
                return any(ev(x) for x in arg)
            if fn == "Fn::Contains":
                return str(ev(arg[1])) in [str(x) for x in ev(arg[0])]
            # The two Rules-only functions (CloudFormation's rule functions).
            if fn == "Fn::EachMemberIn":
                allowed = [str(x) for x in ev(arg[1])]
                return all(str(x) in allowed for x in ev(arg[0]))
            if fn == "Fn::EachMemberEquals":
                return all(str(x) == str(ev(arg[1])) for x in ev(arg[0]))
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Base64":
                return ev(arg)
        out = {k: ev(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not NO_VALUE}

    def _params_only(self, v):
        """Whether an expression needs no resource: those can name a resource."""
        return not (refs(v) & set(self.resources))

    def evaluate(self):
        """The template with every expression resolved; resources whose Condition is false gone."""
        out = {"Parameters": self.params, "Conditions": dict(self.conditions), "Resources": {}}
        for name, res in self.resources.items():
            r = dict(res)
            r["Properties"] = self.value(res.get("Properties") or {})
            if "Metadata" in res:
                r["Metadata"] = self.value(res["Metadata"])
            out["Resources"][name] = r
        out["Outputs"] = {k: self.value(o.get("Value")) for k, o in
                          (self.t.get("Outputs") or {}).items()
                          if self.condition(o.get("Condition")) is not False}
        return out

    def rule_holds(self, rule):
        """Whether a Rules entry's assertions hold for these parameter values."""
        def truth(expr):
            # Anything but a boolean is a function this evaluator does not know: guessing
            # would let a scenario through, or drop one, unseen.
            v = self.value(expr, resolve_refs=False)
            if not isinstance(v, bool):
                raise Unresolved(f"a rule this checker cannot evaluate: {expr!r}")
            return v

        if "RuleCondition" in rule and not truth(rule["RuleCondition"]):
            return True
        return all(truth(a.get("Assert")) for a in rule.get("Assertions", []))


def refs(v, out=None):
    """Every name an expression refers to: Ref, GetAtt, ${X} and ${X.Attr} in Sub."""
    out = set() if out is None else out
    if isinstance(v, list):
        for x in v:
            refs(x, out)
    elif isinstance(v, dict):
        for fn, arg in v.items():
            if fn == "Ref" and isinstance(arg, str):
                out.add(arg)
            elif fn == "Fn::GetAtt":
                out.add((arg if isinstance(arg, list) else arg.split("."))[0])
            elif fn == "Fn::Sub":
                text, extra = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                for key in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    if key not in extra:
                        out.add(key.split(".")[0])
                refs(extra, out)
            else:
                refs(arg, out)
    return out


def dependencies(ev, name):
    """Resources `name` waits for in this scenario: DependsOn, Ref, GetAtt, Sub, transitively.
    Fn::If takes only the scenario's branch."""
    seen, todo = set(), [name]
    while todo:
        res = ev.resources.get(todo.pop(), {})
        direct = set(res.get("DependsOn") if isinstance(res.get("DependsOn"), list)
                     else [res["DependsOn"]] if res.get("DependsOn") else [])
        direct |= refs(_branches(ev, res.get("Properties")))
        direct |= refs(_branches(ev, res.get("Metadata")))
        for d in direct & set(ev.resources):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def _branches(ev, v):
    if isinstance(v, list):
        return [_branches(ev, x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"Fn::If"}:
            c, a, b = v["Fn::If"]
            return _branches(ev, a if ev.condition(c) else b)
        return {k: _branches(ev, x) for k, x in v.items()}
    return v


def scenarios(template):
    """(label, parameter overrides) to evaluate the template with: those its parameters'
    AllowedPattern and its Rules accept, as CloudFormation refuses the others before it
    starts."""
    params = template.get("Parameters") or {}
    out = [("", {})]
    if "CertificateArn" in params:
        out.append(("with CertificateArn", {"CertificateArn": CERTIFICATE}))
    if "ApiKeySecretArn" in params:
        arn = SAMPLES["ApiKeySecretArn"]
        out.append(("with a full ApiKeySecretArn", {"ApiKeySecretArn": arn + "-AbCdEf"}))
    if "ApiKeyJsonKey" in params:
        out.append(("with an ApiKeyJsonKey", {"ApiKeyJsonKey": "token"}))
    choices = []
    for name, p in params.items():
        allowed = [str(x) for x in p.get("AllowedValues", [])]
        if name in ("Cpu", "Memory", "LogRetentionDays") or len(allowed) > 4:
            continue
        for v in allowed:
            if v != str(p.get("Default")):
                choices.append((name, v))
    # Each choice alone, and every two together (ARM64 with Spot, say): a combination the
    # Rules do not refuse is one CloudFormation would deploy.
    for i, (name, v) in enumerate(choices):
        out.append((f"with {name} {v}", {name: v}))
        for other, w in choices[i + 1:]:
            if other != name:
                out.append((f"with {name} {v} and {other} {w}", {name: v, other: w}))
    rules = (template.get("Rules") or {}).values()
    return [(label, o) for label, o in out
            if all(allowed_by(params.get(k, {}), v) for k, v in o.items())
            and all(Evaluator(template, o).rule_holds(r) for r in rules)]


def allowed_by(param, value):
    """Whether CloudFormation accepts a parameter value (AllowedPattern matches it whole)."""
    pattern = param.get("AllowedPattern")
    return pattern is None or re.fullmatch(pattern, str(value)) is not None


def load(path):
    from cfnlint.decode import cfn_yaml
    return copy.deepcopy(cfn_yaml.load(path))

"""The deploy checker and cfn-lint: clean on the real artifacts, and each rule
caught on a deliberately broken copy, with a message that says what is wrong."""

import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import check_deploy  # noqa: E402  (the checker under test, run in-process)


def check(deploy_dir):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = check_deploy.main(["check_deploy.py", deploy_dir])
    return rc, out.getvalue()


def container(td):
    return td["containerDefinitions"][0]


def env_set(td, name, value):
    env = [e for e in container(td)["environment"] if e["name"] != name]
    env.append({"name": name, "value": value})
    container(td)["environment"] = env


# (file, how to break it, words the message must contain)
BREAKAGES = [
    ("task-definition.json", lambda d: d.update(memory="5120"), "not a Fargate combination"),
    ("task-definition.json", lambda d: d.update(cpu="300"), "not a Fargate size"),
    ("task-definition.json", lambda d: container(d)["healthCheck"].update(interval=400),
     "interval 400 is outside 5..300"),
    ("task-definition.json", lambda d: container(d)["healthCheck"].update(
        command=["CMD-SHELL", "curl -f http://localhost:3000/health || exit 1"]), "no curl"),
    ("task-definition.json", lambda d: container(d).update(stopTimeout=150), "over Fargate's 120"),
    ("task-definition.json", lambda d: container(d).update(stopTimeout=20), "SIGKILL would cut"),
    ("task-definition.json", lambda d: env_set(d, "SHUTDOWN_TIMEOUT_S", "3"),
     "shorter than the longest request"),
    # Deployment alarms: on with rollback, naming alarms that exist, watching what the tasks
    # write; a revision that passes its health checks but answers 5xx is rolled back.
    ("service.json", lambda d: d["deploymentConfiguration"]["alarms"].update(enable=False),
     "must be enabled, with rollback"),
    ("service.json", lambda d: d["deploymentConfiguration"]["alarms"].update(rollback=False),
     "must be enabled, with rollback"),
    ("service.json", lambda d: d["deploymentConfiguration"]["alarms"]["alarmNames"].remove(
        "node-api-target-5xx"), "no deployment alarm watches the load balancer's target 5xx"),
    ("service.json", lambda d: d["deploymentConfiguration"]["alarms"]["alarmNames"].append(
        "node-api-typo"), "alarm 'node-api-typo' is not one the artifacts make"),
    ("alarm-5xx-rate.json", lambda d: d["Metrics"][0]["MetricStat"]["Metric"].update(
        Namespace="NodeApi"), "it can never fire"),
    ("task-definition.json", lambda d: env_set(d, "SERVICE_NAME", "orders"), "it can never fire"),
    ("alarm-p99-latency.json", lambda d: d.update(ComparisonOperator="Above"),
     "shape (cloudwatch PutMetricAlarm)"),
    # The tutorial's ALB forwards every path on PORT: /metrics there is on the internet.
    ("task-definition.json", lambda d: env_set(d, "METRICS_PORT", "3000"),
     "METRICS_PORT 3000 is PORT"),
    ("task-definition.json", lambda d: env_set(d, "SHUTDOWN_TIMEOUT_S", "12"),
     "and the stop after the drain"),
    ("task-definition.json", lambda d: env_set(d, "KEEPALIVE_TIMEOUT_S", "30"),
     "above the ALB idle timeout"),
    ("task-definition.json", lambda d: env_set(d, "MEMORY_LIMIT_MB", "2048"), "over the task memory"),
    ("task-definition.json", lambda d: env_set(d, "API_KEY", "hunter2"), "use secrets"),
    ("task-definition.json", lambda d: container(d)["secrets"][0].update(valueFrom="prod/db-url"),
     "neither an SSM parameter ARN"),
    ("task-definition.json", lambda d: container(d)["secrets"][0].update(
        valueFrom="arn:aws:ssm:us-east-1:123456789012:parameter/other/db"),
     "does not grant ssm:GetParameters"),
    ("task-definition.json", lambda d: container(d)["logConfiguration"]["options"].update(
        {"awslogs-group": "/ecs/other"}), "does not grant logs:CreateLogStream"),
    ("task-definition.json", lambda d: container(d).update(readonlyRootFilesystem=False),
     "readonlyRootFilesystem"),
    ("task-definition.json", lambda d: container(d).update(user="root"), "numeric non-root"),
    ("task-definition.json", lambda d: container(d).pop("ulimits"), "nofile"),
    ("task-definition.json", lambda d: container(d)["logConfiguration"]["options"].pop("mode"),
     "non-blocking"),
    ("task-definition.json", lambda d: d.update(taskRoleArn=d["executionRoleArn"]),
     "must be separate"),
    ("task-definition.json", lambda d: container(d).update(cpu="many"), "shape"),
    ("task-definition.json", lambda d: d.update(colour="blue"), "Unknown parameter"),
    ("task-definition.json", lambda d: d.pop("containerDefinitions"), "Missing required"),
    ("target-group-attributes.json", lambda d: d["Attributes"][0].update(Value="2"),
     "shorter than the longest request"),
    ("target-group.json", lambda d: d.update(TargetType="instance"), "must be ip"),
    ("target-group.json", lambda d: d.update(HealthCheckPath="/health/detailed"), "shallow /health"),
    ("load-balancer-attributes.json", lambda d: d["Attributes"][0].update(Value="120"),
     "above the ALB idle timeout 120"),
    ("scaling-policy-requests.json", lambda d: d["TargetTrackingScalingPolicyConfiguration"].update(
        ScaleOutCooldown=600), "ScaleOutCooldown must be shorter"),
    ("scaling-policy-requests.json", lambda d: d["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"].update(ResourceLabel="node-api-tg"), "ResourceLabel"),
    ("scaling-policy-cpu.json", lambda d: d.update(PolicyType="Sideways"), "shape"),
    ("scalable-target.json", lambda d: d.update(MinCapacity=1), "MinCapacity below 2"),
    ("service.json", lambda d: d["networkConfiguration"]["awsvpcConfiguration"].update(
        assignPublicIp="ENABLED"), "no public IP"),
    ("service.json", lambda d: d["deploymentConfiguration"].pop("deploymentCircuitBreaker"),
     "circuit breaker"),
    ("service.json", lambda d: d["deploymentConfiguration"].update(minimumHealthyPercent=50),
     "zero-downtime"),
    ("service.json", lambda d: d.update(platformVersion="LATEST"), "pin platformVersion"),
    ("service.json", lambda d: d.update(healthCheckGracePeriodSeconds=5), "startPeriod"),
    ("service.json", lambda d: d.update(serviceName="other"), "ResourceId must be"),
    ("ecr-repository.json", lambda d: d.update(imageTagMutability="MUTABLE"), "IMMUTABLE"),
    ("ecr-lifecycle-policy.json", lambda d: d.clear(), "shape"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][1].update(Resource="*"),
     "least-privilege"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"].pop(4),
     "does not grant secretsmanager:GetSecretValue"),
    # What AWS refuses or what is unsafe, one mistake at a time.
    ("task-definition.json", lambda d: container(d).update(essential=False), "essential: false"),
    ("task-definition.json", lambda d: container(d).update(privileged=True), "privileged: true"),
    ("task-definition.json", lambda d: container(d)["portMappings"][0].update(hostPort=8080),
     "hostPort 8080 differs from containerPort 3000"),
    ("task-definition.json", lambda d: container(d).update(
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/node-api:latest"), "mutable tag"),
    ("task-definition.json", lambda d: container(d).update(
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/node-api"), "mutable tag"),
    ("task-definition.json", lambda d: env_set(d, "PGPASSWORD", "x"),
     "PGPASSWORD is a plain environment variable"),
    ("task-definition.json", lambda d: env_set(d, "DB_SECRET", "x"),
     "DB_SECRET is a plain environment variable"),
    ("task-definition.json", lambda d: env_set(d, "GITHUB_TOKEN", "x"),
     "GITHUB_TOKEN is a plain environment variable"),
    ("task-definition.json", lambda d: env_set(d, "SIGNING_KEY", "x"),
     "SIGNING_KEY is a plain environment variable"),
    ("task-definition.json", lambda d: container(d)["healthCheck"].update(
        command=["/usr/local/bin/node-api", "healthcheck"]), "must start with CMD or CMD-SHELL"),
    ("task-definition.json", lambda d: container(d).update(
        ulimits=[{"name": "nofile", "softLimit": 2000000, "hardLimit": 2000000}]),
     "above the kernel's 1048576"),
    ("task-definition.json", lambda d: container(d)["logConfiguration"]["options"].pop(
        "awslogs-region"), "no awslogs-region"),
    ("task-definition.json", lambda d: container(d)["logConfiguration"]["options"].pop(
        "awslogs-stream-prefix"), "no awslogs-stream-prefix"),
    ("task-definition.json", lambda d: container(d)["logConfiguration"]["options"].update(
        {"awslogs-group": "/ecs/other"}), "not the log group the stack makes"),
    ("task-definition.json", lambda d: d["runtimePlatform"].update(
        operatingSystemFamily="WINDOWS_SERVER_2022_CORE"), "is a Linux image"),
    ("service.json", lambda d: d.update(capacityProviderStrategy=[
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1}]),
     "launchType and capacityProviderStrategy together"),
    ("service.json", lambda d: (d.pop("launchType"), d.update(capacityProviderStrategy=[
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}])), "without an on-demand base"),
    ("service.json", lambda d: d.update(desiredCount=1), "desiredCount 1: one zone's outage"),
    ("service.json", lambda d: d.update(desiredCount=20), "outside MinCapacity 2 .. MaxCapacity 10"),
    ("service.json", lambda d: d.update(healthCheckGracePeriodSeconds=20),
     "shorter than the target group's time to healthy"),
    ("service.json", lambda d: d.update(platformVersion="1.3.0"), "older than 1.4.0"),
    ("service.json", lambda d: d.update(cluster="staging"), "not cluster.json's"),
    ("cluster.json", lambda d: d["settings"][0].update(value="disabled"), "containerInsights is off"),
    ("target-group.json", lambda d: d.update(HealthCheckTimeoutSeconds=15),
     "must be below HealthCheckIntervalSeconds 15"),
    ("target-group.json", lambda d: d.update(Matcher={"HttpCode": "200,404"}),
     "counts 404 as healthy"),
    ("target-group.json", lambda d: d.update(Matcher={"HttpCode": "200-499"}),
     "counts 300 as healthy"),
    ("target-group-attributes.json", lambda d: d["Attributes"][0].update(Value="4000"),
     "over the API's 3600 s maximum"),
    ("load-balancer-attributes.json", lambda d: d["Attributes"][1].update(Value="false"),
     "drop_invalid_header_fields"),
    ("load-balancer-attributes.json", lambda d: d["Attributes"].append(
        {"Key": "routing.http.desync_mitigation_mode", "Value": "monitor"}),
     "weaker than defensive"),
    ("ecr-lifecycle-policy.json", lambda d: d["rules"][1].update(rulePriority=1),
     "must be distinct"),
    ("ecr-lifecycle-policy.json", lambda d: (d["rules"][0].update(rulePriority=2),
                                             d["rules"][1].update(rulePriority=1)),
     "tagStatus any must have the highest rulePriority"),
    ("ecr-lifecycle-policy.json", lambda d: d["rules"][0]["selection"].update(tagStatus="tagged"),
     "needs a tagPrefixList"),
    ("ecr-lifecycle-policy.json", lambda d: d["rules"][0]["selection"].pop("countUnit"),
     "needs countUnit days"),
    ("log-retention.json", lambda d: d.update(retentionInDays=45), "not one CloudWatch accepts"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][3].update(
        Resource="arn:aws:ssm:us-east-1:123456789012:parameter/*"), "more than the task uses"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][3].update(
        Resource="arn:aws:ssm:*:*:parameter/prod/database-url"), "more than the task uses"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][3].update(Action="ssm:Get*"),
     "wildcard action ssm:Get*"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][1].update(
        Resource="arn:aws:ecr:us-east-1:123456789012:repository/*"), "more than the task uses"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][2].update(
        Resource="arn:aws:logs:us-east-1:123456789012:log-group:*"), "more than the task uses"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][4].update(
        Resource="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*"),
     "more than the task uses"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][4].update(
        Resource="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key"),
     "which IAM never matches"),
    ("iam/execution-role-policy.json", lambda d: d["Statement"][3].update(
        Action=["ssm:GetParameters", "s3:GetObject"]), "s3:GetObject is not needed"),
    ("iam/ecs-tasks-trust-policy.json", lambda d: d["Statement"][0].pop("Condition"),
     "no aws:SourceAccount condition"),
    ("iam/ecs-tasks-trust-policy.json", lambda d: d["Statement"][0].update(Principal={"AWS": "*"}),
     "only {\"Service\": \"ecs-tasks.amazonaws.com\"} may assume it"),
]

# Tight policies the checker must accept: each secret reference form with the grant IAM matches.
VALID = [
    ("full secret ARN, granted exactly",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-AbCdEf",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-AbCdEf"),
    ("partial ARN with a JSON key",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key:token::",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-??????"),
    ("full ARN with a JSON key and a stage",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-AbCdEf:token:AWSCURRENT:",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key-AbCdEf"),
]


def on_spot(strategy=None):
    """service.json moved from launchType to a capacity-provider strategy (Spot by default)."""
    def go(d):
        d.pop("launchType", None)
        d["capacityProviderStrategy"] = strategy if strategy is not None else [
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    return go


def cluster_offers(*providers):
    return lambda d: d.update(capacityProviders=list(providers))


# Breakages that take more than one file: ({file: how to break it}, words the message must contain).
SPOT_BREAKAGES = [
    # The README's recipe for Spot on deploy/cli, on a cluster that does not offer it: ECS
    # refuses the service ("capacity provider is not associated with the cluster").
    ({"service.json": on_spot(), "cluster.json": lambda d: d.pop("capacityProviders", None)},
     "the cluster does not offer FARGATE, FARGATE_SPOT"),
    ({"service.json": on_spot(), "cluster.json": cluster_offers("FARGATE")},
     "the cluster does not offer FARGATE_SPOT"),
    # Fargate Spot runs X86_64 tasks only.
    ({"service.json": on_spot(), "task-definition.json": lambda d: d["runtimePlatform"].update(
        cpuArchitecture="ARM64")}, "FARGATE_SPOT runs X86_64 tasks only"),
    ({"service.json": on_spot([{"capacityProvider": "FARGATE", "base": 2, "weight": 0},
                               {"capacityProvider": "FARGATE_SPOT", "weight": 0}])},
     "every weight is 0"),
    ({"service.json": on_spot([{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                               {"capacityProvider": "FARGATE", "weight": 3}])},
     "FARGATE appears twice"),
    ({"service.json": on_spot([{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                               {"capacityProvider": "FARGATE_SPOT", "weight": 1001}])},
     "weight 1001 is outside 0..1000"),
    ({"service.json": on_spot([{"capacityProvider": "FARGATE", "base": 100001, "weight": 1},
                               {"capacityProvider": "FARGATE_SPOT", "weight": 3}])},
     "base 100001 is outside 0..100000"),
    # Reported, not a traceback.
    ({"service.json": on_spot(["FARGATE"])}, "capacityProviderStrategy must be a list of"),
]


class CheckDeployTest(unittest.TestCase):
    def test_real_artifacts_are_clean(self):
        rc, out = check(DEPLOY)
        self.assertEqual((rc, out.strip()), (0, "deploy artifacts: ok"))
        # And as a command.
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check_deploy.py")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_cfn_lint_clean(self):
        p = subprocess.run(["cfn-lint", os.path.join(DEPLOY, "cloudformation.yaml")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_cfn_lint_catches_a_broken_template(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.yaml")
            with open(os.path.join(DEPLOY, "cloudformation.yaml")) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("TargetType: ip", "TargetType: pod"))
            p = subprocess.run(["cfn-lint", path], capture_output=True, text=True)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("pod", p.stdout)

    def test_each_rule_catches_its_breakage(self):
        for name, breakage, says in BREAKAGES:
            with self.subTest(file=name, says=says), tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                path = os.path.join(tmp, "cli", name)
                with open(path) as f:
                    doc = json.load(f)
                broken = copy.deepcopy(doc)
                breakage(broken)
                with open(path, "w") as f:
                    json.dump(broken, f)
                rc, out = check(tmp)
                self.assertEqual(rc, 1, out)
                self.assertIn(says, out)

    def test_template_rules(self):
        cases = [
            ("StopTimeout: 30", "StopTimeout: 20", "SIGKILL would cut"),
            ('Key: deregistration_delay.timeout_seconds\n          Value: "30"',
             'Key: deregistration_delay.timeout_seconds\n          Value: "1"', "deregistration-delay"),
            ("ScaleOutCooldown: 60\n        ScaleInCooldown: 300",
             "ScaleOutCooldown: 600\n        ScaleInCooldown: 300", "cooldowns"),
            ("ReadonlyRootFilesystem: true", "ReadonlyRootFilesystem: false", "readonlyRootFilesystem"),
            ("Resource: !GetAtt Repository.Arn", 'Resource: "*"', "least-privilege"),
            ("  FargateCpuMemory:", "  Whatever:", "no Rules entry"),
            # The Service after the listener that forwards, with a certificate too.
            ("DependsOn: ForwardingListener", "DependsOn: HttpListener",
             "Service does not depend on HttpsListener"),
            # A partial secret ARN, as the tutorial writes it, granted as given.
            ('                  - !Ref ApiKeySecretArn\n                  - !Sub "${ApiKeySecretArn}-??????"\n',
             "                  - !Ref ApiKeySecretArn\n", "which IAM never matches"),
            ("          Value: enabled", "          Value: disabled", "containerInsights is off"),
            ('HttpCode: "200"', 'HttpCode: "200-499"', "counts 300 as healthy"),
            ("HealthCheckTimeoutSeconds: 5", "HealthCheckTimeoutSeconds: 15", "must be below"),
            ("SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06", "SslPolicy: ELBSecurityPolicy-2016-08",
             "allows outdated TLS"),
            ('Type: redirect\n            RedirectConfig:\n              Protocol: HTTPS\n'
             '              Port: "443"\n              StatusCode: HTTP_301',
             "Type: forward\n            TargetGroupArn: !Ref TargetGroup",
             "forwards although HTTPS is served"),
            ("SourceSecurityGroupId: !Ref LoadBalancerSecurityGroup", "CidrIp: 0.0.0.0/0",
             "open to 0.0.0.0/0"),
            ('drop_invalid_header_fields.enabled\n          Value: "true"',
             'drop_invalid_header_fields.enabled\n          Value: "false"', "drop_invalid"),
            ("  TaskRole:\n    Type: AWS::IAM::Role\n    Properties:\n",
             "  TaskRole:\n    Type: AWS::IAM::Role\n    Properties:\n      ManagedPolicyArns:\n"
             "        - arn:aws:iam::aws:policy/AdministratorAccess\n",
             "AdministratorAccess is attached to the task role"),
            ('!Contains [["512", "1024", "2048"], !Ref Memory]', '!Contains [["512", "2048"], !Ref Memory]',
             "refuses Cpu 256 with Memory 1024"),
            ("Essential: true", "Essential: false", "essential: false"),
            ("              awslogs-stream-prefix: ecs\n", "", "no awslogs-stream-prefix"),
            ("awslogs-group: !Ref LogGroup", "awslogs-group: /ecs/other",
             "not the log group the stack makes"),
            ("  DesiredCount:\n    Type: Number\n    Default: 2",
             "  DesiredCount:\n    Type: Number\n    Default: 1", "desiredCount 1"),
            ("PlatformVersion: 1.4.0", "PlatformVersion: 1.3.0", "older than 1.4.0"),
            ('"rulePriority":2', '"rulePriority":1', "must be distinct"),
            ("Values: [/metrics, /metrics/*]", "Values: [/metrics]", "would forward /metrics"),
            ("            - !Ref TargetErrorsAlarm\n", "", "no deployment alarm watches the load "
             "balancer's target 5xx"),
            ('                          [".", "DatabaseErrors", ".", ".", {"stat": "Sum"}]]}}',
             '                          [".", "DatabaseErrors", ".", ".", {"stat": "Sum"}]]}},',
             "DashboardBody is not JSON"),
            ("          Enable: true\n          Rollback: true\n      PropagateTags",
             "          Enable: true\n          Rollback: false\n      PropagateTags",
             "must be enabled, with rollback"),
            ("              Namespace: node-api\n              MetricName: Errors5xx",
             "              Namespace: NodeApi\n              MetricName: Errors5xx",
             "it can never fire"),
            ("        - Type: fixed-response\n", "        - Type: forward\n          TargetGroupArn: "
             "!Ref TargetGroup\n", "would forward /metrics"),
        ]
        with open(os.path.join(DEPLOY, "cloudformation.yaml")) as f:
            text = f.read()
        for old, new, says in cases:
            with self.subTest(says=says), tempfile.TemporaryDirectory() as tmp:
                self.assertIn(old, text)
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                with open(os.path.join(tmp, "cloudformation.yaml"), "w") as f:
                    f.write(text.replace(old, new))
                rc, out = check(tmp)
                self.assertEqual(rc, 1, out)
                self.assertIn("cloudformation.yaml", out)
                self.assertIn(says, out)

    def test_capacity_provider_rules(self):
        for breaks, says in SPOT_BREAKAGES:
            with self.subTest(says=says), tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                for name, breakage in breaks.items():
                    path = os.path.join(tmp, "cli", name)
                    with open(path) as f:
                        doc = json.load(f)
                    breakage(doc)
                    with open(path, "w") as f:
                        json.dump(doc, f)
                rc, out = check(tmp)
                self.assertEqual(rc, 1, out)
                self.assertIn(says, out)

    def test_spot_as_the_readme_says_passes(self):
        """deploy/cli's cluster offers both providers, so the README's one change to
        service.json (a strategy in place of launchType) is all Spot takes."""
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
            path = os.path.join(tmp, "cli", "service.json")
            with open(path) as f:
                doc = json.load(f)
            on_spot()(doc)
            with open(path, "w") as f:
                json.dump(doc, f)
            rc, out = check(tmp)
            self.assertEqual((rc, out.strip()), (0, "deploy artifacts: ok"))

    def test_strategies_ecs_accepts_pass(self):
        for strategy in ([{"capacityProvider": "FARGATE"}],
                         [{"capacityProvider": "FARGATE", "base": 2, "weight": 0}],
                         [{"capacityProvider": "FARGATE", "base": 2, "weight": 0},
                          {"capacityProvider": "FARGATE_SPOT", "weight": 1}]):
            with self.subTest(strategy=strategy), tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                path = os.path.join(tmp, "cli", "service.json")
                with open(path) as f:
                    doc = json.load(f)
                on_spot(strategy)(doc)
                with open(path, "w") as f:
                    json.dump(doc, f)
                rc, out = check(tmp)
                self.assertEqual((rc, out.strip()), (0, "deploy artifacts: ok"))

    def test_template_rules_as_cloudformation_reads_them(self):
        """The Rules functions are evaluated as CloudFormation does (Fn::EachMemberIn), and
        one the checker does not know is reported, not taken as true."""
        with open(os.path.join(DEPLOY, "cloudformation.yaml")) as f:
            text = f.read()
        old = "      - Assert: !Equals [!Ref CpuArchitecture, X86_64]"
        self.assertIn(old, text)
        for assertion, says in (
                ('      - Assert: {"Fn::EachMemberIn": [[!Ref CpuArchitecture], [X86_64]]}', None),
                ('      - Assert: {"Fn::RefAll": "AWS::EC2::VPC::Id"}', "cannot evaluate the Rules")):
            with self.subTest(assertion=assertion), tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                with open(os.path.join(tmp, "cloudformation.yaml"), "w") as f:
                    f.write(text.replace(old, assertion))
                rc, out = check(tmp)
                if says is None:
                    self.assertEqual((rc, out.strip()), (0, "deploy artifacts: ok"))
                else:
                    self.assertEqual(rc, 1, out)
                    self.assertIn(says, out)

    def test_template_refuses_spot_on_arm64(self):
        """Without the Rule, a stack with CpuArchitecture ARM64 and FargateSpot on would be
        created and its service refused by ECS."""
        with open(os.path.join(DEPLOY, "cloudformation.yaml")) as f:
            text = f.read()
        self.assertTrue("  SpotRunsX86Only:" in text, "no Rules entry SpotRunsX86Only")
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
            with open(os.path.join(tmp, "cloudformation.yaml"), "w") as f:
                start = text.index("  SpotRunsX86Only:")
                f.write(text[:start] + text[text.index("\nConditions:", start) + 1:])
            rc, out = check(tmp)
            self.assertEqual(rc, 1, out)
            self.assertIn("cloudformation.yaml (with CpuArchitecture ARM64 and FargateSpot on)", out)
            self.assertIn("FARGATE_SPOT runs X86_64 tasks only", out)

    def test_valid_secret_references_pass(self):
        for label, value_from, grant in VALID:
            with self.subTest(label), tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
                td_path = os.path.join(tmp, "cli", "task-definition.json")
                pol_path = os.path.join(tmp, "cli", "iam", "execution-role-policy.json")
                with open(td_path) as f:
                    td = json.load(f)
                with open(pol_path) as f:
                    pol = json.load(f)
                container(td)["secrets"][1]["valueFrom"] = value_from
                pol["Statement"][4]["Resource"] = grant
                with open(td_path, "w") as f:
                    json.dump(td, f)
                with open(pol_path, "w") as f:
                    json.dump(pol, f)
                rc, out = check(tmp)
                self.assertEqual((rc, out.strip()), (0, "deploy artifacts: ok"))

    def test_unknown_artifact_is_reported(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DEPLOY, tmp, dirs_exist_ok=True)
            with open(os.path.join(tmp, "cli", "extra.json"), "w") as f:
                f.write("{}")
            rc, out = check(tmp)
            self.assertEqual(rc, 1)
            self.assertIn("extra.json: shape: not a known artifact", out)


if __name__ == "__main__":
    unittest.main()

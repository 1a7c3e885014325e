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

"""scripts/deploy.sh end to end against moto_server on 127.0.0.1.

The stack is stood up the tutorial's way, with the AWS CLI and the JSON inputs
of deploy/cli (their placeholder ids replaced by moto's): cluster, ECR
repository and lifecycle policy, log group, roles, load balancer, target
group, task definition, service, scaling target and policies. Then the deploy
script runs for real: it builds the image, stores its manifest with
`ecr put-image` (the stand-in for a push: no registry is reachable here),
registers a revision and updates the service, twice.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.path.join(ROOT, "deploy", "cli")
DEPLOY = os.path.join(ROOT, "scripts", "deploy.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(name):
    with open(os.path.join(CLI, name)) as f:
        return json.load(f)


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="node-api-deploy-")
        port = free_port()
        cls.env = {**os.environ,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                   "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                   "CLUSTER": "production", "SERVICE": "node-api-service",
                   "PUSH": "put-image", "POLL_S": "1", "DEPLOY_TIMEOUT_S": "60"}
        # The service reports as many running tasks as it wants: deployments complete.
        cls.moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                                    env={**cls.env, "MOTO_ECS_SERVICE_RUNNING": "2"},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        cls.bootstrap()

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def aws(cls, *args):
        p = subprocess.run(["aws", "--output", "json", *args], env=cls.env, capture_output=True,
                           text=True)
        if p.returncode:
            raise AssertionError(f"aws {' '.join(args)}: {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else {}

    @classmethod
    def input(cls, doc, name):
        """Writes a (placeholder-replaced) input; returns its file:// URL."""
        path = os.path.join(cls.tmp, name.replace("/", "_"))
        with open(path, "w") as f:
            json.dump(doc, f)
        return "file://" + path

    @classmethod
    def bootstrap(cls):
        aws = cls.aws
        vpc = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"10.0.{i}.0/24",
                       "--availability-zone", az)["Subnet"]["SubnetId"]
                   for i, az in enumerate(["us-east-1a", "us-east-1b"] * 2)]
        alb_sg = aws("ec2", "create-security-group", "--group-name", "alb", "--description", "alb",
                     "--vpc-id", vpc)["GroupId"]
        ecs_sg = aws("ec2", "create-security-group", "--group-name", "ecs-tasks",
                     "--description", "tasks", "--vpc-id", vpc)["GroupId"]
        aws("ec2", "authorize-security-group-ingress", "--group-id", ecs_sg, "--protocol", "tcp",
            "--port", "3000", "--source-group", alb_sg)
        aws("ecs", "create-cluster", "--cli-input-json", "file://" + CLI + "/cluster.json")
        aws("logs", "create-log-group", "--cli-input-json", "file://" + CLI + "/log-group.json")
        aws("logs", "put-retention-policy", "--cli-input-json",
            "file://" + CLI + "/log-retention.json")
        aws("ecr", "create-repository", "--cli-input-json", "file://" + CLI + "/ecr-repository.json")
        aws("ecr", "put-lifecycle-policy", "--repository-name", "node-api",
            "--lifecycle-policy-text", "file://" + CLI + "/ecr-lifecycle-policy.json")
        for role in ("node-api-execution", "node-api-task"):
            aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document",
                "file://" + CLI + "/iam/ecs-tasks-trust-policy.json")
        aws("iam", "put-role-policy", "--role-name", "node-api-execution", "--policy-name",
            "node-api-execution", "--policy-document",
            "file://" + CLI + "/iam/execution-role-policy.json")
        lb = aws("elbv2", "create-load-balancer", "--name", "prod-alb", "--subnets", *subnets[:2],
                 "--security-groups", alb_sg)["LoadBalancers"][0]["LoadBalancerArn"]
        attrs = load("load-balancer-attributes.json")
        attrs["LoadBalancerArn"] = lb
        aws("elbv2", "modify-load-balancer-attributes", "--cli-input-json",
            cls.input(attrs, "lb-attrs.json"))
        tg_in = load("target-group.json")
        tg_in["VpcId"] = vpc
        tg = aws("elbv2", "create-target-group", "--cli-input-json",
                 cls.input(tg_in, "tg.json"))["TargetGroups"][0]["TargetGroupArn"]
        attrs = load("target-group-attributes.json")
        attrs["TargetGroupArn"] = tg
        aws("elbv2", "modify-target-group-attributes", "--cli-input-json",
            cls.input(attrs, "tg-attrs.json"))
        aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP",
            "--port", "80", "--default-actions", f"Type=forward,TargetGroupArn={tg}")
        aws("ecs", "register-task-definition", "--cli-input-json",
            "file://" + CLI + "/task-definition.json")
        svc = load("service.json")
        svc["networkConfiguration"]["awsvpcConfiguration"].update(subnets=subnets[2:],
                                                                  securityGroups=[ecs_sg])
        svc["loadBalancers"][0]["targetGroupArn"] = tg
        aws("ecs", "create-service", "--cli-input-json", cls.input(svc, "service.json"))
        aws("application-autoscaling", "register-scalable-target", "--cli-input-json",
            "file://" + CLI + "/scalable-target.json")
        label = (lb.split(":loadbalancer/")[1] + "/" + tg.split(":")[-1])
        for name in ("scaling-policy-requests.json", "scaling-policy-cpu.json"):
            p = load(name)
            spec = p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
            if "ResourceLabel" in spec:
                spec["ResourceLabel"] = label
            aws("application-autoscaling", "put-scaling-policy", "--cli-input-json",
                cls.input(p, name))
        cls.label = label
        # The deployment alarms service.json names, the ALB's on this load balancer's names.
        for name in ("alarm-5xx-rate.json", "alarm-p99-latency.json", "alarm-target-5xx.json"):
            a = load(name)
            for d in a.get("Dimensions", []):
                if d["Name"] == "LoadBalancer":
                    d["Value"] = label.split("/targetgroup/")[0]
                elif d["Name"] == "TargetGroup":
                    d["Value"] = "targetgroup/" + label.split("/targetgroup/")[1]
            aws("cloudwatch", "put-metric-alarm", "--cli-input-json", cls.input(a, name))

    def deploy(self, *args, **env):
        p = subprocess.run([DEPLOY, *args], env={**self.env, **env}, capture_output=True,
                           text=True, timeout=600)
        return p.returncode, p.stdout + p.stderr

    def service(self):
        return self.aws("ecs", "describe-services", "--cluster", "production", "--services",
                        "node-api-service")["services"][0]

    def revisions(self):
        return self.aws("ecs", "list-task-definitions", "--family-prefix",
                        "node-api-task")["taskDefinitionArns"]

    def test_1_stack_as_bootstrapped(self):
        policies = self.aws("application-autoscaling", "describe-scaling-policies",
                            "--service-namespace", "ecs")["ScalingPolicies"]
        self.assertEqual(len(policies), 2)
        self.assertRegex(self.label, r"^app/prod-alb/[0-9a-f]+/targetgroup/node-api-tg/[0-9a-f]+$")
        self.assertEqual(self.service()["taskDefinition"].split("/")[-1], "node-api-task:1")

    def test_2_missing_inputs_are_named(self):
        env = {k: v for k, v in self.env.items() if k not in ("CLUSTER", "AWS_REGION",
                                                               "AWS_DEFAULT_REGION")}
        p = subprocess.run([DEPLOY], env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing inputs: AWS_REGION CLUSTER", p.stderr)

    def test_3_dry_run_changes_nothing(self):
        before = self.revisions()
        rc, out = self.deploy("--dry-run", IMAGE_TAG="1.0.0-dryrun")
        self.assertEqual(rc, 0, out)
        self.assertIn("would run:", out)
        self.assertIn("register-task-definition", out)
        self.assertEqual(self.revisions(), before)
        images = self.aws("ecr", "list-images", "--repository-name", "node-api")["imageIds"]
        self.assertNotIn("1.0.0-dryrun", [i.get("imageTag") for i in images])

    def test_4_deploy_twice(self):
        for n, tag in enumerate(["1.0.0-e2e1", "1.0.0-e2e2"], start=2):
            rc, out = self.deploy(IMAGE_TAG=tag)
            self.assertEqual(rc, 0, out)
            self.assertIn("deployed", out)
            svc = self.service()
            self.assertTrue(svc["taskDefinition"].endswith(f"node-api-task:{n}"), svc)
            td = self.aws("ecs", "describe-task-definition", "--task-definition",
                          svc["taskDefinition"])["taskDefinition"]
            c = td["containerDefinitions"][0]
            self.assertEqual(c["image"],
                             f"123456789012.dkr.ecr.us-east-1.amazonaws.com/node-api:{tag}")
            self.assertIn({"name": "APP_VERSION", "value": tag}, c["environment"])
            # Everything else carried over from the previous revision.
            self.assertEqual(c["healthCheck"]["command"],
                             ["CMD", "/usr/local/bin/node-api", "healthcheck"])
            self.assertEqual(len(c["secrets"]), 2)
            images = self.aws("ecr", "describe-images", "--repository-name", "node-api",
                              "--image-ids", f"imageTag={tag}")["imageDetails"]
            self.assertEqual(len(images), 1)
        # The same tag again: no second push of an immutable tag.
        rc, out = self.deploy(IMAGE_TAG="1.0.0-e2e2")
        self.assertEqual(rc, 0, out)
        self.assertIn("already in node-api", out)

    def shim(self, describe_services):
        """An `aws` ahead on PATH that answers describe-services itself, after the first (the
        check that the service exists), and passes all else on."""
        d = tempfile.mkdtemp(dir=self.tmp)
        real = shutil.which("aws")
        with open(os.path.join(d, "aws"), "w") as f:
            f.write("#!/bin/sh\n"
                    'here=$(dirname "$0")\n'
                    'case " $* " in *" describe-services "*)\n'
                    '    if [ -e "$here/seen" ]; then cat "$here/answer.json"; exit 0; fi\n'
                    '    touch "$here/seen";;\n'
                    "esac\n"
                    f'exec "{real}" "$@"\n')
        os.chmod(os.path.join(d, "aws"), 0o755)
        with open(os.path.join(d, "answer.json"), "w") as f:
            json.dump({"services": [describe_services]}, f)
        return {"PATH": d + ":" + self.env["PATH"]}

    def test_5_rollback_is_a_failure(self):
        answer = {"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/node-api-task:1",
                  "desiredCount": 2, "runningCount": 2,
                  "deployments": [{"status": "PRIMARY", "rolloutState": "FAILED",
                                   "rolloutStateReason": "ECS deployment circuit breaker: tasks "
                                                         "failed to start."}]}
        rc, out = self.deploy(IMAGE_TAG="1.0.0-broken", **self.shim(answer))
        self.assertEqual(rc, 1, out)
        self.assertIn("circuit breaker rolled back", out)
        self.assertIn("tasks failed to start", out)

    def test_6_wait_is_bounded(self):
        answer = {"taskDefinition": "x", "desiredCount": 2, "runningCount": 1,
                  "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]}
        shim = self.shim(answer)
        # The shim's taskDefinition never matches: make it the one about to be registered.
        n = len(self.revisions()) + 1
        answer["taskDefinition"] = f"arn:aws:ecs:us-east-1:123456789012:task-definition/node-api-task:{n}"
        with open(os.path.join(shim["PATH"].split(":")[0], "answer.json"), "w") as f:
            json.dump({"services": [answer]}, f)
        rc, out = self.deploy(IMAGE_TAG="1.0.0-slow", DEPLOY_TIMEOUT_S="2", **shim)
        self.assertEqual(rc, 1, out)
        self.assertIn("not stable after 2 s", out)
        # The service is left on the new revision unless told otherwise.
        self.assertTrue(self.service()["taskDefinition"].endswith(f"node-api-task:{n}"))

    def test_6b_rollback_on_timeout(self):
        before = self.service()["taskDefinition"]
        n = len(self.revisions()) + 1
        answer = {"taskDefinition": f"arn:aws:ecs:us-east-1:123456789012:task-definition/"
                                    f"node-api-task:{n}",
                  "desiredCount": 2, "runningCount": 1,
                  "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]}
        rc, out = self.deploy(IMAGE_TAG="1.0.0-slow2", DEPLOY_TIMEOUT_S="2",
                              ROLLBACK_ON_TIMEOUT="1", **self.shim(answer))
        self.assertEqual(rc, 1, out)
        self.assertIn("not stable after 2 s", out)
        self.assertIn(f"rolled back to {before}", out)
        self.assertEqual(self.service()["taskDefinition"], before)

    def test_5b_rollback_reason_is_the_failed_deployments(self):
        # What ECS shows after a circuit-breaker rollback: a new PRIMARY on the old revision,
        # and the failed deployment, with the reason, still listed.
        n = len(self.revisions()) + 1
        answer = {"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/node-api-task:1",
                  "desiredCount": 2, "runningCount": 2,
                  "deployments": [
                      {"status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                       "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/"
                                         "node-api-task:1",
                       "rolloutStateReason": "ECS deployment ecs-svc/1 in progress."},
                      {"status": "ACTIVE", "rolloutState": "FAILED",
                       "taskDefinition": f"arn:aws:ecs:us-east-1:123456789012:task-definition/"
                                         f"node-api-task:{n}",
                       "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to "
                                             "start."}]}
        rc, out = self.deploy(IMAGE_TAG="1.0.0-broken2", **self.shim(answer))
        self.assertEqual(rc, 1, out)
        self.assertIn("circuit breaker rolled back", out)
        self.assertIn("tasks failed to start", out)

    def test_5c_an_alarm_rollback_names_the_alarm(self):
        # A revision that starts and passes its checks but answers 5xx: the deployment alarm
        # on its 5xx share fires, ECS rolls back, and the deploy fails naming the alarm.
        n = len(self.revisions()) + 1
        svc = self.service()
        self.assertEqual(self.aws("cloudwatch", "describe-alarms", "--alarm-names",
                                  "node-api-5xx-rate")["MetricAlarms"][0]["AlarmName"],
                         "node-api-5xx-rate")
        self.aws("cloudwatch", "set-alarm-state", "--alarm-name", "node-api-5xx-rate",
                 "--state-value", "ALARM", "--state-reason", "5xx share 37% > 5%")
        try:
            answer = {"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/"
                                        "node-api-task:1",
                      "desiredCount": 2, "runningCount": 2,
                      "deploymentConfiguration": load("service.json")["deploymentConfiguration"],
                      "deployments": [
                          {"status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                           "taskDefinition": svc["taskDefinition"]},
                          {"status": "ACTIVE", "rolloutState": "FAILED",
                           "taskDefinition": f"arn:aws:ecs:us-east-1:123456789012:"
                                             f"task-definition/node-api-task:{n}",
                           "rolloutStateReason": "ECS deployment ecs-svc/2 rolled back: "
                                                 "alarm(s) in ALARM state."}]}
            rc, out = self.deploy(IMAGE_TAG="1.0.0-5xx", **self.shim(answer))
        finally:
            self.aws("cloudwatch", "set-alarm-state", "--alarm-name", "node-api-5xx-rate",
                     "--state-value", "OK", "--state-reason", "test over")
        self.assertEqual(rc, 1, out)
        self.assertIn("rolled back by the deployment alarm(s) node-api-5xx-rate (in ALARM)", out)
        self.assertNotIn("node-api-p99-latency", out)  # not in ALARM

    def assert_refused_before_any_change(self, says, rc_want=2, **env):
        before = self.revisions()
        images = self.aws("ecr", "list-images", "--repository-name", "node-api")["imageIds"]
        rc, out = self.deploy(**env)
        self.assertEqual(rc, rc_want, out)
        self.assertIn(says, out)
        self.assertNotIn("Traceback", out)
        self.assertEqual(self.revisions(), before)
        self.assertEqual(self.aws("ecr", "list-images", "--repository-name", "node-api")["imageIds"],
                         images)
        return out

    def test_7_wrong_cluster_or_service(self):
        self.assert_refused_before_any_change("cluster staging not found",
                                              IMAGE_TAG="1.0.0-x1", CLUSTER="staging")
        self.assert_refused_before_any_change("service node-api-svc not found in cluster production",
                                              IMAGE_TAG="1.0.0-x2", SERVICE="node-api-svc")

    def test_8_unknown_task_family(self):
        out = self.assert_refused_before_any_change("task definition family node-api-tsak",
                                                    IMAGE_TAG="1.0.0-x3",
                                                    TASK_FAMILY="node-api-tsak")
        self.assertEqual(self.aws("ecs", "list-task-definitions", "--family-prefix",
                                  "node-api-tsak")["taskDefinitionArns"], [], out)

    def test_9_inputs_validated_first(self):
        for var, value in (("DEPLOY_TIMEOUT_S", "15m"), ("POLL_S", "0"), ("POLL_S", "ten"),
                           ("ROLLBACK_ON_TIMEOUT", "yes"), ("CONTAINER_ENGINE", "lxc"),
                           ("IMAGE_TAG", "has space"), ("PLATFORMS", "linux/sparc"),
                           ("PLATFORMS", "linux/amd64,linux/amd64")):
            with self.subTest(var=var, value=value):
                env = {"IMAGE_TAG": "1.0.0-x4", var: value}
                self.assert_refused_before_any_change(f"{var} ", **env)

    def test_10_describe_images_errors_are_not_absence(self):
        self.assert_refused_before_any_change("RepositoryNotFoundException", rc_want=1,
                                              IMAGE_TAG="1.0.0-x5", ECR_REPOSITORY="node-apii")

    def test_11_untracked_files_refuse_the_commit_tag(self):
        # A clean clone of this tree, then one untracked source file: the Makefile builds
        # every src/*.c and the image copies src/, so the tag would lie.
        repo = os.path.join(self.tmp, "repo")
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            if os.path.isfile(os.path.join(ROOT, name)):
                os.makedirs(os.path.dirname(os.path.join(repo, name)) or repo, exist_ok=True)
                shutil.copy2(os.path.join(ROOT, name), os.path.join(repo, name))
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clean"]):
            subprocess.run(git + args, cwd=repo, check=True)
        with open(os.path.join(repo, "src", "extra.c"), "w") as f:
            f.write("int extra;\n")
        before = self.revisions()
        p = subprocess.run([os.path.join(repo, "scripts", "deploy.sh")], env=self.env,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("src/extra.c", p.stderr)
        self.assertEqual(self.revisions(), before)

    def test_12_platforms_must_cover_the_tasks_architecture(self):
        """The family runs X86_64 (deploy/cli's runtimePlatform): an image built only for
        arm64 would fail every task start with "exec format error"."""
        self.assert_refused_before_any_change("PLATFORMS linux/arm64 has no linux/amd64",
                                              IMAGE_TAG="1.0.0-x6", PLATFORMS="linux/arm64")

    def test_13_an_existing_tag_must_cover_the_tasks_architecture(self):
        """A tag already in the repository, pushed for arm64 only: deploying it to an X86_64
        family is refused, not rolled out (tags are immutable: it cannot be completed)."""
        m = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                   "digest": "sha256:" + "a" * 64, "size": 2},
                        "layers": []})
        digest = "sha256:" + hashlib.sha256(m.encode()).hexdigest()
        self.aws("ecr", "put-image", "--repository-name", "node-api", "--image-tag",
                 "1.0.0-armonly-arm64", "--image-manifest", m)
        lst = json.dumps({"schemaVersion": 2,
                          "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                          "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                         "digest": digest, "size": len(m),
                                         "platform": {"architecture": "arm64", "os": "linux"}}]})
        self.aws("ecr", "put-image", "--repository-name", "node-api", "--image-tag",
                 "1.0.0-armonly", "--image-manifest", lst)
        self.assert_refused_before_any_change("1.0.0-armonly in node-api has no linux/amd64 image",
                                              IMAGE_TAG="1.0.0-armonly")

    def test_13b_a_single_image_tag_for_an_arm64_family(self):
        """A tag holding one image, not a list (as deploy.sh pushed before lists): its
        architecture is not in the manifest, and deploy.sh only ever pushed amd64 so; a
        family that runs ARM64 is refused it rather than rolled out to exec format errors."""
        d = tempfile.mkdtemp(dir=self.tmp)
        real = shutil.which("aws")
        with open(os.path.join(d, "aws"), "w") as f:
            f.write("#!/bin/sh\n"
                    'case " $* " in *" describe-task-definition "*)\n'
                    f'    "{real}" "$@" | jq \'.taskDefinition.runtimePlatform.cpuArchitecture = "ARM64"\'\n'
                    '    exit;;\n'
                    "esac\n"
                    f'exec "{real}" "$@"\n')
        os.chmod(os.path.join(d, "aws"), 0o755)
        m = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                   "digest": "sha256:" + "b" * 64, "size": 3},
                        "layers": []})
        self.aws("ecr", "put-image", "--repository-name", "node-api", "--image-tag",
                 "1.0.0-single", "--image-manifest", m)
        self.assert_refused_before_any_change("1.0.0-single in node-api is a single image",
                                              IMAGE_TAG="1.0.0-single",
                                              PATH=d + ":" + self.env["PATH"])

    def test_z_a_partial_push_can_be_retried(self):
        """(Named to run last: it deploys, and the tests above count revisions.)
        The list's put-image fails after the platform image went in (a dropped connection,
        expired credentials): the same deploy run again completes, though tags are immutable,
        instead of failing for ever on the platform tag it pushed itself."""
        d = tempfile.mkdtemp(dir=self.tmp)
        real = shutil.which("aws")
        with open(os.path.join(d, "aws"), "w") as f:
            f.write("#!/bin/sh\n"
                    'case " $* " in *" put-image "*" --image-tag 1.0.0-partial "*)\n'
                    '    echo "Could not connect to the endpoint URL" >&2; exit 255;;\n'
                    "esac\n"
                    f'exec "{real}" "$@"\n')
        os.chmod(os.path.join(d, "aws"), 0o755)
        rc, out = self.deploy(IMAGE_TAG="1.0.0-partial", PLATFORMS="linux/amd64",
                              PATH=d + ":" + self.env["PATH"])
        self.assertEqual(rc, 1, out)
        self.assertIn("Could not connect", out)
        tags = [i.get("imageTag") for i in
                self.aws("ecr", "list-images", "--repository-name", "node-api")["imageIds"]]
        self.assertIn("1.0.0-partial-amd64", tags)
        self.assertNotIn("1.0.0-partial", tags)
        rc, out = self.deploy(IMAGE_TAG="1.0.0-partial", PLATFORMS="linux/amd64")
        self.assertEqual(rc, 0, out)
        self.assertIn("deployed", out)
        tags = [i.get("imageTag") for i in
                self.aws("ecr", "list-images", "--repository-name", "node-api")["imageIds"]]
        self.assertIn("1.0.0-partial", tags)


if __name__ == "__main__":
    unittest.main()

"""The arm64 image (Graviton), cross-compiled on this machine without emulation: built with
scripts/image.sh for linux/arm64, it is an arm64 image whose binary and every library are
AArch64, and its own root filesystem serves, under qemu-user (Debian's qemu-user-static, run
explicitly: no binfmt registration), the same answers as the amd64 build, then drains on
SIGTERM and exits 0."""

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

from test_image import PODMAN, ROOT, free_port, http

IMAGE = "node-api:test-arm64"
QEMU = shutil.which("qemu-aarch64-static")


def machine(path):
    out = subprocess.run(["readelf", "-h", path], capture_output=True, text=True).stdout
    return next((l.split(":", 1)[1].strip() for l in out.splitlines()
                 if l.strip().startswith("Machine:")), None)


@unittest.skipUnless(QEMU, "qemu-aarch64-static (qemu-user-static) is not installed")
class Arm64Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.getuid() != 0:
            raise unittest.SkipTest("making the base image (debootstrap) needs root")
        p = subprocess.run([os.path.join(ROOT, "scripts", "image.sh"), IMAGE, "linux/arm64"],
                           cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if p.returncode:
            raise AssertionError(f"arm64 build failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        cls.root = tempfile.mkdtemp(prefix="node-api-arm64-")
        cid = subprocess.run([*PODMAN, "create", "--platform", "linux/arm64", IMAGE],
                             capture_output=True, text=True, check=True).stdout.strip()
        try:
            with tempfile.TemporaryFile() as f:
                subprocess.run([*PODMAN, "export", cid], stdout=f, check=True, timeout=120)
                f.seek(0)
                tarfile.open(fileobj=f).extractall(cls.root)
        finally:
            subprocess.run([*PODMAN, "rm", cid], capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_an_arm64_image_of_arm64_files(self):
        info = json.loads(subprocess.run([*PODMAN, "image", "inspect", IMAGE],
                                         capture_output=True, text=True).stdout)[0]
        self.assertEqual(info["Architecture"], "arm64")
        self.assertLess(info["Size"], 20e6)
        elves = []
        for d, _, names in os.walk(self.root):
            for n in names:
                path = os.path.join(d, n)
                with open(path, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        elves.append(path)
        self.assertGreater(len(elves), 10)
        for path in elves:
            self.assertEqual(machine(path), "AArch64", path)

    def test_unit_tests_pass_on_arm64(self):
        """The Dockerfile's unit stage: the unit tests cross-compiled as the binary is, and
        run under qemu-aarch64-static in the build; the build fails if any test does."""
        p = subprocess.run([os.path.join(ROOT, "scripts", "image.sh"), "node-api:test-unit-arm64",
                            "linux/arm64"], cwd=ROOT, capture_output=True, text=True,
                           timeout=1800, env={**os.environ, "IMAGE_TARGET": "unit"})
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        # The run's log as the image keeps it: a build from cached layers (a second `make
        # test`, or a tree built before) prints no output of the RUN it did not repeat.
        cid = subprocess.run([*PODMAN, "create", "--platform", "linux/arm64",
                              "node-api:test-unit-arm64"],
                             capture_output=True, text=True, check=True).stdout.strip()
        try:
            log = subprocess.run([*PODMAN, "cp", f"{cid}:/src/build/unit.log", "-"],
                                 capture_output=True, check=True).stdout
        finally:
            subprocess.run([*PODMAN, "rm", cid], capture_output=True)
        with tarfile.open(fileobj=io.BytesIO(log)) as tar:
            text = tar.extractfile("unit.log").read().decode()
        ran = [l for l in text.splitlines() if l.startswith("== build/tests/")]
        units = [f for f in os.listdir(os.path.join(ROOT, "tests", "unit")) if f.startswith("test_")]
        self.assertEqual(len(ran), len(units), ran)
        for line in ran:
            self.assertTrue(line.endswith("(under qemu-aarch64-static)"), line)

    def test_it_serves_and_drains_under_qemu(self):
        port = free_port()
        env = {"PORT": str(port), "HOST": "127.0.0.1", "API_KEY": "k",
               "ENABLE_LOADTEST_ROUTES": "1", "METRICS_PORT": "0"}
        p = subprocess.Popen([QEMU, "-L", self.root, os.path.join(self.root, "usr/local/bin/node-api")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, _, body = http(port, "/health")
                    break
                except OSError:
                    if time.monotonic() > deadline or p.poll() is not None:
                        raise AssertionError(p.stderr.read() if p.poll() is not None else
                                             "no answer in 60 s")
                    time.sleep(0.2)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["status"], "healthy")
            status, _, body = http(port, "/api/items/1")
            self.assertEqual((status, json.loads(body)),
                             (200, {"id": 1, "name": "Widget A", "price": 29.99}))
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(30), 0)
            lines = [json.loads(l) for l in p.stdout.read().decode().splitlines()]
            self.assertTrue(lines[0]["message"].startswith("Server started"))
            self.assertEqual(lines[-1]["message"], "Server closed")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    unittest.main()


class DockerfilePlatformArgsTest(unittest.TestCase):
    def test_platform_args_have_no_default(self):
        """BuildKit (docker buildx) sets TARGETARCH and the other platform arguments from
        --platform, but a default written in the Dockerfile wins over its value
        (docker/buildx#510): `ARG TARGETARCH=amd64` made every image of a multi-platform
        buildx build an amd64 binary. The Dockerfile declares them with no default."""
        import re
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            text = f.read()
        declared = re.findall(r"^ARG\s+((?:TARGET|BUILD)(?:PLATFORM|OS|ARCH|VARIANT)\b\S*)",
                              text, re.M)
        self.assertIn("TARGETARCH", declared)
        self.assertEqual([d for d in declared if "=" in d], [])

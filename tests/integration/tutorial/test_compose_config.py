"""compose.yaml and the Dockerfile: `docker-compose config` accepts the file (with and without
the tutorial profile), and the pieces the README promises are there. No Docker engine is needed
(and none is used): `config` only reads and validates."""
import os
import re
import shutil
import subprocess
import unittest

from tutorial_support import SOURCE_DIR

COMPOSE_FILE = os.path.join(SOURCE_DIR, "compose.yaml")
DOCKERFILE = os.path.join(SOURCE_DIR, "Dockerfile")


def compose(*args):
    return subprocess.run(["docker-compose", "-f", COMPOSE_FILE, *args], cwd=SOURCE_DIR,
                          capture_output=True, text=True, timeout=60)


@unittest.skipIf(shutil.which("docker-compose") is None,
                 "docker-compose is not installed (scripts/install-deps.sh test installs it)")
class ComposeConfig(unittest.TestCase):
    def test_config_is_valid(self):
        for profile in ([], ["--profile", "tutorial"]):
            with self.subTest(profile=profile):
                r = compose(*profile, "config", "-q")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("ERROR", r.stderr)
                self.assertNotIn("WARNING", r.stderr)

    def test_services(self):
        # docker-compose 1.29 lists profiled services too; the profiles are checked below.
        r = compose("--profile", "tutorial", "config", "--services")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()), ["iothub-emulator", "read-telemetry",
                                                    "send-c2d", "simulated-device"])

    def test_structure(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        r = compose("--profile", "tutorial", "config")
        self.assertEqual(r.returncode, 0, r.stderr)
        config = yaml.safe_load(r.stdout)
        emulator = config["services"]["iothub-emulator"]
        self.assertNotIn("profiles", emulator)  # `docker-compose up` starts the emulator alone
        published = {str(p).split(":")[-1].split("/")[0] for p in emulator["ports"]}
        self.assertEqual(published, {"8883", "5671"})
        # Non-root user, HTTPS on 443 inside the container.
        self.assertEqual(str(emulator["sysctls"]["net.ipv4.ip_unprivileged_port_start"]), "0")
        self.assertIn("iothub-data", config["volumes"])
        self.assertTrue(any(str(v).startswith("iothub-data:/data") for v in emulator["volumes"]))
        test = emulator["healthcheck"]["test"]
        self.assertIn("/run/iothub-emulator/ready.json", " ".join(test))
        for name in ("simulated-device", "send-c2d"):
            service = config["services"][name]
            self.assertEqual(service["profiles"], ["tutorial"])
            self.assertEqual(service["depends_on"]["iothub-emulator"]["condition"],
                             "service_healthy")
            self.assertIn("/data/certs/ca.crt", service["command"])
            self.assertTrue(any(str(v).startswith("iothub-data:/data") and str(v).endswith(":ro")
                                for v in service["volumes"]), service["volumes"])
            env = " ".join(str(v) for v in service["environment"].values())
            self.assertIn("HostName=iothub-emulator.internal;", env)

        # The Node telemetry reader: the Node image, the samples and the pinned packages from
        # the host, the CA from the volume, the Event Hubs-compatible string of the hub the
        # Dockerfile's CMD names (its first label, the service name, is the hub name).
        reader = config["services"]["read-telemetry"]
        self.assertEqual(reader["profiles"], ["tutorial"])
        self.assertEqual(reader["depends_on"]["iothub-emulator"]["condition"], "service_healthy")
        self.assertRegex(reader["image"], r"^node:\d+")
        self.assertIn("node", reader["command"])
        script = [c for c in reader["command"] if str(c).endswith("read_telemetry.js")]
        self.assertEqual(len(script), 1, reader["command"])
        env = reader["environment"]
        self.assertEqual(env["NODE_EXTRA_CA_CERTS"], "/data/certs/ca.crt")
        mounts = {}
        for v in reader["volumes"]:
            source, target = str(v).split(":")[:2]
            mounts[target] = source
        self.assertTrue(any(str(v).startswith("iothub-data:/data") and str(v).endswith(":ro")
                            for v in reader["volumes"]), reader["volumes"])
        samples = mounts[os.path.dirname(script[0])]
        self.assertTrue(os.path.samefile(samples, os.path.join(SOURCE_DIR, "clients", "node")))
        self.assertTrue(os.path.isfile(os.path.join(samples, "read_telemetry.js")))
        self.assertTrue(os.path.samefile(os.path.dirname(mounts[env["NODE_PATH"]]),
                                         os.path.join(SOURCE_DIR, "tests", "node")))
        self.assertEqual(os.path.basename(mounts[env["NODE_PATH"]]), "node_modules")
        service_key = re.search(r"SharedAccessKey=([^;]+)",
                                config["services"]["send-c2d"]["environment"]
                                ["IOTHUB_CONNECTION_STRING"]).group(1)
        self.assertEqual(env["EVENTHUB_CONNECTION_STRING"],
                         "Endpoint=sb://iothub-emulator.internal/;SharedAccessKeyName=service;"
                         "SharedAccessKey=%s;EntityPath=iothub-emulator" % service_key)

    def test_dockerfile_matches_compose(self):
        with open(DOCKERFILE) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^FROM debian:12 AS build$")
        self.assertRegex(text, r"(?m)^FROM debian:12-slim$")
        self.assertRegex(text, r"(?m)^USER iothub$")
        self.assertRegex(text, r"(?m)^VOLUME /data$")
        self.assertRegex(text, r"(?m)^EXPOSE 8883 5671( 443)?$")
        self.assertRegex(text, r"(?m)^HEALTHCHECK ")
        # The CMD's ready file is the one both health checks look at.
        cmd = re.search(r"(?ms)^CMD \[(.*?)\]$", text).group(1)
        for flag in ('"--bind", "0.0.0.0"', '"--data-dir", "/data"',
                     '"--host-name", "iothub-emulator.internal"', '"--host-alias", "iothub-emulator"',
                     '"--ready-file", "/run/iothub-emulator/ready.json"'):
            self.assertIn(flag, cmd.replace("\\\n", " ").replace("  ", " "))
        self.assertIn("test -s /run/iothub-emulator/ready.json", text)

    def test_dockerignore_keeps_build_trees_out(self):
        with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
            entries = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for entry in ("build/", "build-*/", "**/node_modules", "iothub-data/"):
            self.assertIn(entry, entries)


if __name__ == "__main__":
    unittest.main()

"""compose.yaml and the Dockerfile: `docker-compose config` accepts the file (with and without
its profiles), and the pieces the README promises are there. No Docker engine is needed (and
none is used): `config` only reads and validates. scripts/container-test.sh builds and runs
them for real where an engine can be started."""
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
        for profile in ([], ["--profile", "tutorial"], ["--profile", "observe"]):
            with self.subTest(profile=profile):
                r = compose(*profile, "config", "-q")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("ERROR", r.stderr)
                self.assertNotIn("WARNING", r.stderr)

    def test_services(self):
        # docker-compose 1.29 lists profiled services too; the profiles are checked below.
        r = compose("--profile", "tutorial", "--profile", "observe", "config", "--services")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()), ["iothub-emulator", "prometheus",
                                                    "read-telemetry", "send-c2d",
                                                    "simulated-device"])

    def test_structure(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        r = compose("--profile", "tutorial", "--profile", "observe", "config")
        self.assertEqual(r.returncode, 0, r.stderr)
        config = yaml.safe_load(r.stdout)
        emulator = config["services"]["iothub-emulator"]
        self.assertNotIn("profiles", emulator)  # `docker-compose up` starts the emulator alone
        # docker-compose 1.29 prints ports in their long form.
        published = {str(p["target"]) if isinstance(p, dict) else str(p).split(":")[-1].split("/")[0]
                     for p in emulator["ports"]}
        self.assertEqual(published, {"8883", "5671", "443"})
        for p in emulator["ports"]:
            self.assertEqual(p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0],
                             "127.0.0.1", "published on loopback only")
        # One image: only the emulator's service builds it; the samples run it.
        self.assertIn("build", emulator)
        for name in ("simulated-device", "send-c2d", "read-telemetry"):
            self.assertNotIn("build", config["services"][name], name)
            self.assertEqual(config["services"][name]["image"], emulator["image"])
        # Non-root user, HTTPS on 443 inside the container.
        self.assertEqual(str(emulator["sysctls"]["net.ipv4.ip_unprivileged_port_start"]), "0")
        self.assertIn("iothub-data", config["volumes"])
        self.assertTrue(any(str(v).startswith("iothub-data:/data") for v in emulator["volumes"]))
        # Healthy means the hub answers GET /health (a hub round), not that a file exists.
        test = " ".join(emulator["healthcheck"]["test"])
        self.assertIn("https://localhost:443/health", test)
        self.assertIn("--ca-certificate=/data/certs/ca.crt", test)
        for name in ("simulated-device", "send-c2d", "read-telemetry"):
            service = config["services"][name]
            self.assertEqual(service["profiles"], ["tutorial"])
            self.assertEqual(service["depends_on"]["iothub-emulator"]["condition"],
                             "service_healthy")
            self.assertIn("/data/certs/ca.crt", service["command"])
            self.assertTrue(any(str(v).startswith("iothub-data:/data") and str(v).endswith(":ro")
                                for v in service["volumes"]), service["volumes"])
            env = " ".join(str(v) for v in service["environment"].values())
            self.assertRegex(env, r"(HostName=|Endpoint=sb://)iothub-emulator\.internal[;/]")

        # The telemetry reader (clients/read_telemetry) with the Event Hubs-compatible string of
        # the hub the Dockerfile's CMD names (its first label, the service name, is the hub name).
        reader = config["services"]["read-telemetry"]
        self.assertEqual(reader["entrypoint"], ["read-telemetry"])
        service_key = re.search(r"SharedAccessKey=([^;]+)",
                                config["services"]["send-c2d"]["environment"]
                                ["IOTHUB_CONNECTION_STRING"]).group(1)
        self.assertEqual(reader["environment"]["EVENTHUB_CONNECTION_STRING"],
                         "Endpoint=sb://iothub-emulator.internal/;SharedAccessKeyName=service;"
                         "SharedAccessKey=%s;EntityPath=iothub-emulator" % service_key)

        # Prometheus (observe profile) scrapes /metrics over TLS with the CA from the volume.
        prometheus = config["services"]["prometheus"]
        self.assertEqual(prometheus["profiles"], ["observe"])
        self.assertEqual(prometheus["depends_on"]["iothub-emulator"]["condition"],
                         "service_healthy")
        with open(os.path.join(SOURCE_DIR, "compose", "prometheus", "prometheus.yml")) as f:
            scrape = yaml.safe_load(f)
        job = scrape["scrape_configs"][0]
        self.assertEqual(job["scheme"], "https")
        self.assertEqual(job["tls_config"]["ca_file"], "/data/certs/ca.crt")
        self.assertEqual(job["static_configs"][0]["targets"], ["iothub-emulator.internal:443"])

    def test_dockerfile_matches_compose(self):
        with open(DOCKERFILE) as f:
            text = f.read()
        # One pinned base image for both stages.
        base = re.search(r"(?m)^ARG BASE_IMAGE=(debian:\d+\.\d+-slim)$", text)
        self.assertIsNotNone(base, "ARG BASE_IMAGE pins a Debian point release")
        self.assertRegex(text, r"(?m)^FROM \$\{BASE_IMAGE\} AS build$")
        self.assertRegex(text, r"(?m)^FROM \$\{BASE_IMAGE\}$")
        self.assertEqual(len(re.findall(r"(?m)^FROM ", text)), 2)
        with open(COMPOSE_FILE) as f:
            self.assertIn("${BASE_IMAGE:-%s}" % base.group(1), f.read())
        self.assertRegex(text, r"(?m)^USER iothub$")
        self.assertRegex(text, r"(?m)^VOLUME /data$")
        self.assertRegex(text, r"(?m)^EXPOSE 8883 5671( 443)?$")
        self.assertRegex(text, r"(?m)^HEALTHCHECK ")
        # The CMD: listen on every address of the container, the data volume, the host names.
        cmd = re.search(r"(?ms)^CMD \[(.*?)\]$", text).group(1)
        for flag in ('"--bind", "0.0.0.0"', '"--data-dir", "/data"',
                     '"--host-name", "iothub-emulator.internal"', '"--host-alias", "iothub-emulator"',
                     '"--ready-file", "/run/iothub-emulator/ready.json"'):
            self.assertIn(flag, cmd.replace("\\\n", " ").replace("  ", " "))
        self.assertIn('"--https-port", "443"', cmd)
        self.assertIn("https://localhost:443/health", text)

    def test_dockerignore_keeps_build_trees_out(self):
        with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
            entries = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for entry in ("build/", "build-*/", "**/node_modules", "iothub-data/"):
            self.assertIn(entry, entries)


if __name__ == "__main__":
    unittest.main()

"""The iothub-emulator executable's contract with users: ready file, exit codes and messages,
restart on the same data, graceful stop. Runs the real binary."""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest
import urllib.parse

from attack_clients import Hub
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]


def run(args, timeout=30):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout)


class ReadyAndRestart(unittest.TestCase):
    def test_default_hub_is_ready_with_connection_strings(self):
        with Emulator(BINARY) as emu:
            r = emu.ready
            # A dotted HostName, because the C SDK splits it at its first dot (issue 21).
            self.assertEqual(r["hostName"], "127.0.0.1")
            self.assertEqual(r["hubName"], "localhost")
            self.assertTrue(os.path.isfile(r["caCertificate"]))
            cs = r["connectionStrings"]
            self.assertRegex(cs["iothubowner"],
                             r"^HostName=127\.0\.0\.1;SharedAccessKeyName=iothubowner;SharedAccessKey=.+=$")
            self.assertIn("SharedAccessKeyName=service;", cs["service"])
            self.assertRegex(cs["devices"]["myDevice"],
                             r"^HostName=127\.0\.0\.1;DeviceId=myDevice;SharedAccessKey=.+=$")
            service_key = cs["service"].split("SharedAccessKey=")[1]
            self.assertEqual(cs["eventHubsCompatible"],
                             "Endpoint=sb://127.0.0.1:%d/;SharedAccessKeyName=service;"
                             "SharedAccessKey=%s;EntityPath=localhost" % (r["ports"]["amqp"], service_key))
            self.assertNotIn("eventHubsCompatibleDevelopment", cs)  # no plain AMQP port
            self.assertEqual(emu.terminate(), 0)
            log = emu.log()
            self.assertIn("iothub-emulator ready {", log)
            self.assertIn("DEVELOPMENT ONLY", log)
            self.assertIn("stopped", log)

    def test_every_name_of_the_hub_is_accepted_and_no_other(self):
        """The printed 127.0.0.1 and its alias localhost both name the default hub: MQTT user
        names and SAS `sr` of either are accepted; another host is refused (CONNACK 5)."""
        with Emulator(BINARY) as emu:
            hub = Hub(emu.ready)
            for host in ("127.0.0.1", "localhost", "LOCALHOST"):
                hub.host = host
                hub.mqtt_device("myDevice").close()
            hub.host = "otherhub.localhost"
            with hub.mqtt() as m:
                self.assertEqual(m.connect("myDevice", "otherhub.localhost/myDevice/?api-version="
                                           "2021-04-12", hub.device_token("myDevice")), 5)
            self.assertIn("user name host 'otherhub.localhost' is not 127.0.0.1", emu.log())
        # --host-alias replaces the defaults: localhost is then another hub's name.
        with Emulator(BINARY, args=["--host-name", "emuhub.localhost",
                                    "--host-alias", "emuhub-alias"]) as emu:
            hub = Hub(emu.ready)
            self.assertEqual(emu.ready["hubName"], "emuhub")
            for host in ("emuhub.localhost", "emuhub-alias"):
                hub.host = host
                hub.mqtt_device("myDevice").close()
            hub.host = "localhost"
            with hub.mqtt() as m:
                self.assertEqual(m.connect("myDevice", "localhost/myDevice/?api-version=2021-04-12",
                                           hub.device_token("myDevice")), 5)
        self.assertIn("hostAliases: must be DNS names or IP addresses (bad name)",
                      run(["--host-alias", "bad name"]).stderr)

    def test_restart_on_the_same_data_keeps_keys_and_ca(self):
        with tempfile.TemporaryDirectory() as data:
            config = {"devices": [{"deviceId": "generated"}]}  # keys generated on first start
            with Emulator(BINARY, data_dir=data, config=config) as first:
                cs1 = first.ready["connectionStrings"]["devices"]["generated"]
                ca1 = open(first.ready["caCertificate"]).read()
                self.assertEqual(first.terminate(), 0)
            with Emulator(BINARY, data_dir=data, config=config) as second:
                self.assertEqual(second.ready["connectionStrings"]["devices"]["generated"], cs1)
                self.assertEqual(open(second.ready["caCertificate"]).read(), ca1)

    def test_a_hub_keeps_its_partition_count_and_says_so(self):
        with tempfile.TemporaryDirectory() as data:
            key = base64.b64encode(b"k" * 32).decode()
            config = {"devices": [{"deviceId": "d", "primaryKey": key}],
                      "eventHubs": {"partitionCount": 2}}
            with Emulator(BINARY, data_dir=data, config=config) as first:
                hub = Hub(first.ready)
                with hub.mqtt_device("d") as device:
                    device.publish("devices/d/messages/events/", b"first")  # stores the count
                self.assertEqual(first.terminate(), 0)
            config["eventHubs"]["partitionCount"] = 8
            config["listen"] = {"amqpPlainPort": 0}
            with Emulator(BINARY, data_dir=data, config=config) as second:
                self.assertIn("eventHubs.partitionCount 8 ignored: this hub's telemetry log has 2 "
                              "partitions", second.log())
                dev = second.ready["connectionStrings"]["eventHubsCompatibleDevelopment"]
                self.assertTrue(dev.startswith("Endpoint=sb://127.0.0.1:%d/;" %
                                               second.ready["ports"]["amqpPlain"]))
                self.assertTrue(dev.endswith(";UseDevelopmentEmulator=true"))

    def test_restart_after_sigkill(self):
        with tempfile.TemporaryDirectory() as data:
            config = {"devices": [{"deviceId": "k"}]}
            with Emulator(BINARY, data_dir=data, config=config) as first:
                cs1 = first.ready["connectionStrings"]["devices"]["k"]
                first.kill()
            with Emulator(BINARY, data_dir=data, config=config) as second:
                self.assertEqual(second.ready["connectionStrings"]["devices"]["k"], cs1)

    def test_in_memory_writes_no_database(self):
        with tempfile.TemporaryDirectory() as data:
            with Emulator(BINARY, data_dir=data, in_memory=True) as emu:
                self.assertIsNone(emu.ready["database"])
                self.assertFalse(os.path.exists(os.path.join(data, "iothub.db")))

    def test_configured_devices_and_host_name(self):
        key = base64.b64encode(b"k" * 32).decode()
        config = {"hostName": "myhub.localhost",
                  "devices": [{"deviceId": "dev-a", "primaryKey": key}]}
        with Emulator(BINARY, config=config) as emu:
            self.assertEqual(emu.ready["hubName"], "myhub")
            self.assertEqual(emu.ready["connectionStrings"]["devices"],
                             {"dev-a": "HostName=myhub.localhost;DeviceId=dev-a;SharedAccessKey=" + key})


    def test_example_config_is_valid_and_matches_the_defaults(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..", "..", "config", "example.json")
        with Emulator(BINARY, args=["--config", example]) as with_file:
            from_file = with_file.ready["connectionStrings"]
        with Emulator(BINARY) as defaults:
            expected = defaults.ready["connectionStrings"]
        # The Event Hubs-compatible string names the AMQP port, which differs per run.
        for strings in (from_file, expected):
            strings["eventHubsCompatible"] = re.sub(r":\d+/;", ":PORT/;",
                                                    strings["eventHubsCompatible"])
        self.assertEqual(from_file, expected)


class Refusals(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def serve(self, *args):
        return run(["--mqtt-port", "0", "--amqp-port", "0", "--https-port", "0", "--data-dir", self.dir]
                   + list(args))

    def config(self, text):
        path = os.path.join(self.dir, "c.json")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_unknown_option_and_bad_port(self):
        r = run(["--bogus", "--mqtt-port", "70000"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--bogus: unknown option", r.stderr)
        self.assertIn("--mqtt-port: must be a port number 0..65535 (70000)", r.stderr)

    def test_bad_config_reports_key_problem_value(self):
        r = self.serve("--config", self.config(
            '{"c2d": {"maxDeliveryCount": 0, "defaultTtlSeconds": 5}, "nope": 1,'
            ' "mqtt": {"connectTimeoutSeconds": 0, "ioThreads": 0}, "amqp": {"idleTimeoutSeconds": "x"},'
            ' "eventHubs": {"partitionCount": 33, "consumerGroups": ["a/b"], "retentionSeconds": 0},'
            ' "devices": [{"deviceId": "bad id"}], "policies": [{"name": "p", "primaryKey": "xx",'
            ' "secondaryKey": "xx", "permissions": ["Teleport"]}]}'))
        self.assertEqual(r.returncode, 2)
        for line in ["c2d.maxDeliveryCount: must be between 1 and 100 (0)",
                     "c2d.defaultTtlSeconds: must be between 60",
                     "nope: unknown setting (1)",
                     "mqtt.connectTimeoutSeconds: must be between 0.1",
                     "mqtt.ioThreads: must be between 1 and 64 (0)",
                     "amqp.idleTimeoutSeconds: must be a number of seconds (x)",
                     "eventHubs.partitionCount: must be between 1 and 32 (33)",
                     "eventHubs.consumerGroups: must be non-empty names without '/'",
                     "eventHubs.retentionSeconds: must be between 1",
                     "devices[0].deviceId: is not a valid device id",
                     "policies[0].permissions: unknown permission",
                     "policies[0].primaryKey: must be base64 of 16 to 64 bytes"]:
            self.assertIn(line, r.stderr)
        self.assertNotIn("xx", r.stderr.replace("xxx", ""))  # keys are never echoed

    def test_unreadable_and_invalid_config(self):
        self.assertIn("cannot read the file", self.serve("--config", "/nonexistent.json").stderr)
        r = self.serve("--config", self.config("{not json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("config: is not valid JSON", r.stderr)

    def test_garbage_database_is_refused_and_left_alone(self):
        db = os.path.join(self.dir, "iothub.db")
        garbage = os.urandom(4096)
        with open(db, "wb") as f:
            f.write(garbage)
        r = self.serve()
        self.assertEqual(r.returncode, 3)
        self.assertIn("is not an SQLite database", r.stderr)
        with open(db, "rb") as f:
            self.assertEqual(f.read(), garbage)

    def test_newer_database_is_refused(self):
        db = os.path.join(self.dir, "iothub.db")
        con = sqlite3.connect(db)
        con.execute("PRAGMA application_id = %d" % 0x494F5448)
        con.execute("PRAGMA user_version = 99")
        con.execute("CREATE TABLE future (x)")
        con.commit()
        con.close()
        r = self.serve()
        self.assertEqual(r.returncode, 3)
        self.assertIn("database schema version 99 is newer than this iothub-emulator supports", r.stderr)

    def test_another_programs_database_is_refused(self):
        db = os.path.join(self.dir, "iothub.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE customers (name TEXT)")
        con.commit()
        con.close()
        r = self.serve()
        self.assertEqual(r.returncode, 3)
        self.assertIn("database:", r.stderr)

    def test_second_emulator_on_the_same_data_is_refused(self):
        with Emulator(BINARY, data_dir=self.dir):
            r = self.serve()
            self.assertEqual(r.returncode, 3)
            self.assertIn("another iothub-emulator", r.stderr)

    def test_mismatched_tls_options(self):
        r = self.serve("--tls-cert", "/nonexistent.pem")
        self.assertEqual(r.returncode, 2)
        self.assertIn("tls: certificate and key must be given together", r.stderr)
        r = self.serve("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key")
        self.assertEqual(r.returncode, 4)
        self.assertIn("/nonexistent.pem", r.stderr)


class Ports(unittest.TestCase):
    def test_port_in_use_exits_5_with_the_port(self):
        with Emulator(BINARY) as first:
            mqtt = first.ports["mqtt"]
            with tempfile.TemporaryDirectory() as d:
                r = run(["--mqtt-port", str(mqtt), "--amqp-port", "0", "--https-port", "0",
                         "--data-dir", d])
            self.assertEqual(r.returncode, 5)
            self.assertIn("mqtt: cannot listen on 127.0.0.1:%d: Address already in use" % mqtt,
                          r.stderr)

    @unittest.skipUnless(os.getuid() == 0, "needs root to run the binary as an unprivileged user")
    def test_default_https_port_falls_back_for_unprivileged_users(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            common = ["--mqtt-port", "0", "--amqp-port", "0", "--data-dir", d + "/data",
                      "--ready-file", d + "/ready.json"]
            # Not chosen: 443 is refused, a free port is used, with a warning; then SIGTERM.
            p = subprocess.Popen(as_nobody + [BINARY] + common, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            ready = None
            for line in p.stdout:
                if line.startswith("iothub-emulator ready "):
                    ready = json.loads(line[len("iothub-emulator ready "):])
                    break
            p.terminate()
            try:
                out = p.communicate(timeout=20)[0]
            except subprocess.TimeoutExpired:
                # Seen once under TSan on a loaded machine: keep the evidence (every thread's
                # stack) instead of only the time-out.
                stacks = "(gdb not installed)"
                if shutil.which("gdb"):
                    stacks = subprocess.run(
                        ["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt"],
                        capture_output=True, text=True, timeout=60).stdout
                p.kill()
                self.fail("no exit within 20 s of SIGTERM; threads:\n" + stacks[-12000:])
            self.assertIsNotNone(ready)
            self.assertNotEqual(ready["ports"]["https"], 443)
            self.assertGreater(ready["ports"]["https"], 0)
            self.assertEqual(p.returncode, 0)
            # Chosen explicitly: refused with exit code 5.
            r = subprocess.run(as_nobody + [BINARY] + common + ["--https-port", "443"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 5)
            self.assertIn("https: cannot listen on 127.0.0.1:443: Permission denied", r.stderr)


class Help(unittest.TestCase):
    def test_help_documents_every_option(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        for option in ["--config", "--data-dir", "--in-memory", "--host-name", "--hub-name",
                       "--bind", "--mqtt-port", "--amqp-port", "--https-port", "--test-control",
                       "--mqtt-plain-port", "--tls-cert", "--fault-injection", "--throttling",
                       "--tls-key", "--ready-file", "--log-level", "sas-token"]:
            self.assertIn(option, r.stdout)

    def test_a_bad_throttling_tier_is_exit_code_2_with_the_rule(self):
        for bad in ["S9", "F1:2", "S1:0", "S1:x"]:
            r = run(["--in-memory", "--throttling", bad])
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--throttling: must be F1, S1, S2 or S3", r.stderr)

    def test_sas_token_for_a_device_connection_string(self):
        key = base64.b64encode(b"d" * 32).decode()
        r = run(["sas-token", "--connection-string",
                 "HostName=localhost;DeviceId=dev1;SharedAccessKey=" + key, "--ttl", "600"])
        self.assertEqual(r.returncode, 0, r.stderr)
        token = r.stdout.strip()
        self.assertTrue(token.startswith("SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig="))
        fields = dict(p.split("=", 1) for p in token[len("SharedAccessSignature "):].split("&"))
        expected = base64.b64encode(hmac.new(base64.b64decode(key),
                                             (fields["sr"] + "\n" + fields["se"]).encode(),
                                             hashlib.sha256).digest()).decode()
        self.assertEqual(urllib.parse.unquote(fields["sig"]), expected)
        self.assertNotIn("skn", fields)
        r = run(["sas-token", "--connection-string", "HostName=x"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()

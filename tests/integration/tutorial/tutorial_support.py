"""Shared pieces of the tutorial tests: paths, a fresh emulator per test, sample processes whose
output is read line by line with bounded waits, and throw-away certificates from certs/gen.sh.

Environment (set by CMakeLists.txt): EMU_BINARY, SIMULATED_DEVICE, SEND_C2D, READ_TELEMETRY,
EMU_SOURCE_DIR, and PYTHONPATH with tests/support (for emulator.py and attack_clients.py).
"""
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from attack_clients import Hub
from emulator import Emulator

SOURCE_DIR = os.environ.get("EMU_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
EMU_BINARY = os.environ.get("EMU_BINARY", "")
SIMULATED_DEVICE = os.environ.get("SIMULATED_DEVICE", "")
SEND_C2D = os.environ.get("SEND_C2D", "")
READ_TELEMETRY = os.environ.get("READ_TELEMETRY", "")
NODE_MODULES = os.path.join(SOURCE_DIR, "tests", "node", "node_modules")
NODE_SAMPLES = os.path.join(SOURCE_DIR, "clients", "node")

# Exit codes of the samples (clients/common/exit_codes.hpp, clients/node/common.js).
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_UNAUTHORIZED, EXIT_TLS, EXIT_CONNECTION, EXIT_REJECTED, \
    EXIT_TIMEOUT = (0, 1, 2, 3, 4, 5, 6, 7)

# A valid base64 key that is nobody's key (32 bytes).
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhIQ=="

FRONT_MISSING = {
    "mqtt": "needs ports.mqtt in the ready file: the MQTT device gateway is not wired into "
            "iothub-emulator yet",
    "amqp": "needs ports.amqp in the ready file: the AMQP service endpoint is not wired into "
            "iothub-emulator yet",
}


def start_emulator(test, needs=(), config=None):
    """A fresh in-memory emulator on 127.0.0.1 with ephemeral ports, stopped at test cleanup.
    Skips the test (printed by unittest) only when the ready file lacks a port it needs."""
    if not EMU_BINARY:
        test.fail("EMU_BINARY is not set")
    emu = Emulator(EMU_BINARY, in_memory=True, config=config)
    test.addCleanup(emu.cleanup)
    test.addCleanup(emu.kill)
    emu.start()
    for front in needs:
        if front not in emu.ports:
            test.skipTest(FRONT_MISSING[front])
    return emu


class Sample:
    """A running sample whose stdout and stderr are collected line by line (no sleeps: waits
    block on a queue with a deadline)."""

    def __init__(self, test, cmd, env=None, name=None, keep_stdin_open=False):
        self.name = name or os.path.basename(cmd[0] if cmd[0] != "node" else cmd[1])
        self.lines = []          # (stream, line) in arrival order
        self._queue = queue.Queue()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.PIPE if keep_stdin_open else subprocess.DEVNULL,
                                     env=env, text=True, errors="replace")
        self._threads = [threading.Thread(target=self._pump, args=(s, n), daemon=True)
                         for s, n in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))]
        for t in self._threads:
            t.start()
        test.addCleanup(self.kill)

    def _pump(self, stream, name):
        for line in stream:
            self._queue.put((name, line.rstrip("\n")))
        self._queue.put((name, None))

    def _drain(self, timeout):
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return False
        if item[1] is not None:
            self.lines.append(item)
        return True

    def wait_for_line(self, pattern, timeout):
        """Blocks until a line matches `pattern` (regex) or fails with everything seen so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for _, line in self.lines[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("%s: no line matching %r within %ss; output so far:\n%s" %
                                     (self.name, pattern, timeout, self.text()))
            if not self._drain(min(remaining, 0.5)) and self.proc.poll() is not None \
                    and self._queue.empty() and not any(t.is_alive() for t in self._threads):
                raise AssertionError("%s exited with %s before printing %r; output:\n%s" %
                                     (self.name, self.proc.returncode, pattern, self.text()))

    def wait(self, timeout):
        """Waits for exit, collects the rest of the output, returns the exit code."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %ss; output:\n%s" %
                                 (self.name, timeout, self.text()))
        for t in self._threads:
            t.join(10)
        while self._drain(0):
            pass
        return self.proc.returncode

    def stdout(self):
        return "\n".join(line for stream, line in self.lines if stream == "out")

    def stderr(self):
        return "\n".join(line for stream, line in self.lines if stream == "err")

    def text(self):
        return "\n".join(("  " if s == "out" else "! ") + l for s, l in self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()


def run(test, cmd, env=None, timeout=60):
    """Runs a sample to completion; returns (exit code, stdout, stderr)."""
    sample = Sample(test, cmd, env=env)
    code = sample.wait(timeout)
    return code, sample.stdout(), sample.stderr()


def node_env(extra):
    env = dict(os.environ)
    env["NODE_PATH"] = NODE_MODULES
    env.update(extra)
    return env


def node_available(packages=("azure-iot-device", "azure-iot-device-mqtt", "azure-iothub",
                            "azure-iot-common")):
    """None when the Node samples can run, else the reason they cannot."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/install-deps.sh test installs it)"
    for package in packages:
        if not os.path.isdir(os.path.join(NODE_MODULES, package)):
            return "%s is missing from tests/node/node_modules (run npm ci in tests/node)" % package
    return None


# ---- telemetry (the readers of the Event Hubs-compatible endpoint) ---------------------------

# The tutorial's device (its public development key) and a second device whose events a reader
# with a device filter must leave out.
TELEMETRY_DEVICE = "myDevice"
OTHER_DEVICE = "otherDevice"
TELEMETRY_CONFIG = {"devices": [
    {"deviceId": TELEMETRY_DEVICE, "primaryKey": "SFLuYJxmAK3qF70FLO6fIiRxRUV+YLwFaUSvij7CKnI="},
    {"deviceId": OTHER_DEVICE, "primaryKey": "b3RoZXItZGV2aWNlLWtleS0wMTIzNDU2Nzg5YWJjZGU="},
]}


def start_telemetry_emulator(test):
    """A fresh emulator with TELEMETRY_DEVICE and OTHER_DEVICE, MQTT and AMQP."""
    return start_emulator(test, needs=("mqtt", "amqp"), config=TELEMETRY_CONFIG)


def send_telemetry(emu, device_id, messages):
    """Publishes telemetry as a device does (MQTT 3.1.1 over TLS, QoS 1, each PUBACK awaited, so
    every event is in the hub's log when this returns). The tutorial's simulated devices only
    receive, so the tests send with the test support's MQTT client. `messages`: (message id,
    {application property: value}, body text)."""
    device = Hub(emu.ready).mqtt_device(device_id)
    try:
        for message_id, properties, body in messages:
            bag = urllib.parse.urlencode([("$.mid", message_id), ("$.ct", "application/json"),
                                          ("$.ce", "utf-8")] + list(properties.items()),
                                         quote_via=urllib.parse.quote, safe="")
            device.publish("devices/%s/messages/events/%s" % (device_id, bag), body.encode())
    finally:
        device.close()


def telemetry_messages(tag, count):
    """`count` telemetry messages as the quickstart's simulated device sends them."""
    return [("%s-%d" % (tag, i), {"temperatureAlert": "true" if i % 2 else "false", "run": tag},
             '{"temperature": %d.5, "humidity": %d}' % (20 + i, 60 + i)) for i in range(count)]


def parse_events(output):
    """The events a reader printed (both readers print the same lines): a list of dicts with
    device, partition, sequence, enqueued, message_id, properties (parsed JSON) and body."""
    pattern = re.compile(
        r"^Telemetry received from device '(?P<device>[^']*)'\n"
        r"    Partition: (?P<partition>\S+), sequence number: (?P<sequence>\d+), "
        r"enqueued: (?P<enqueued>\S+)\n"
        r"    Message id: (?P<message_id>.*)\n"
        r"    Application properties: (?P<properties>.*)\n"
        r"    Body: <<(?P<body>.*)>>\n"
        r"    Total events received: (?P<total>\d+)$", re.M)
    events = []
    for m in pattern.finditer(output):
        e = m.groupdict()
        e["sequence"] = int(e["sequence"])
        e["total"] = int(e["total"])
        e["properties"] = json.loads(e["properties"])
        events.append(e)
    return events


_certs_lock = threading.Lock()
_certs_dir = None


def generated_certs():
    """certs/gen.sh output (ca.crt, untrusted-ca.crt, untrusted-server.crt, …), made once per
    process in a temporary directory that is removed at exit."""
    global _certs_dir
    with _certs_lock:
        if _certs_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="tutorial-certs-")
            out = os.path.join(tmp.name, "certs")
            subprocess.run(["bash", os.path.join(SOURCE_DIR, "certs", "gen.sh"), out], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            _certs_dir = (tmp, out)
        return _certs_dir[1]


_device_certs_dir = None


def device_certs():
    """certs/gen.sh --device x509dev --device cadev output (devices/x509dev-self.crt,
    devices/cadev.crt, device-ca.crt, …), made once per process, removed at exit."""
    global _device_certs_dir
    with _certs_lock:
        if _device_certs_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="tutorial-device-certs-")
            out = os.path.join(tmp.name, "certs")
            subprocess.run(["bash", os.path.join(SOURCE_DIR, "certs", "gen.sh"), "--device",
                            "x509dev", "--device", "cadev", out], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            _device_certs_dir = (tmp, out)
        return _device_certs_dir[1]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TlsServer:
    """`openssl s_server` on 127.0.0.1 with an ephemeral port: a TLS peer for certificate tests
    that do not need the emulator's fronts."""

    def __init__(self, test, cert, key):
        self.sample = Sample(test, ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert,
                                    "-key", key], name="openssl s_server",
                             keep_stdin_open=True)  # s_server drops a client at stdin EOF
        line = self.sample.wait_for_line(r"ACCEPT .*:(\d+)", 20)
        self.port = int(re.search(r":(\d+)\s*$", line).group(1))


def replace_key(connection_string, key):
    return re.sub(r"SharedAccessKey=[^;]*", "SharedAccessKey=" + key, connection_string)


def with_part(connection_string, name, value):
    """Sets `name=value` in a connection string (replacing it if present)."""
    parts = [p for p in connection_string.split(";") if p and not p.startswith(name + "=")]
    return ";".join(parts + ["%s=%s" % (name, value)])


class TutorialTestCase(unittest.TestCase):
    maxDiff = None

    def assertExit(self, sample_or_code, expected, output=""):
        code = sample_or_code
        self.assertEqual(code, expected, "exit code %s, expected %s; output:\n%s" %
                         (code, expected, output))

    def assertNoSecret(self, text, key):
        self.assertNotIn(key, text, "the key was printed")

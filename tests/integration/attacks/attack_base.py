"""Shared fixture of the attack matrix (issue 7, item 4): one real emulator per test module, a
well-behaved "canary" device connected over MQTT for the module's whole life, and a check that
an attack left every other client unaffected.

`assert_others_unaffected()` proves, on the emulator under attack:
- the process is alive;
- the canary's MQTT connection (opened before any attack) still receives a C2D message sent by
  a fresh, properly authenticated AMQP service connection (or by test control), and completes
  it;
- a new device connects over MQTT (CONNACK 0);
- the registry answers over HTTPS (GET /devices/canary with `registryRead`).
Each check has its own deadline, so a front that an attack froze fails the test instead of
hanging it.
"""
import itertools
import os
import threading
import time
import unittest

from attack_clients import Hub, c2d_message, c2d_topic_properties, send_outcome, wait_closed
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
DEVICES = ["canary", "bystander", "dev-a", "dev-b"]
# Deadlines for connections that never become valid, shortened from the defaults (10 s TLS
# handshake and 10 s CONNECT on MQTT, 30 s TLS + open on AMQP) so that the tests that wait for
# them stay short. HTTPS has fixed ones: 5 s for the TLS handshake and for each read.
SHORT_DEADLINES = {"mqtt": {"tlsHandshakeTimeoutSeconds": 4, "connectTimeoutSeconds": 4},
                   "amqp": {"handshakeTimeoutSeconds": 6},
                   "https": {"tlsHandshakeTimeoutSeconds": 4, "requestTimeoutSeconds": 4}}


def without_asan_quarantine(env):
    """The environment for an emulator whose RSS shows what it holds: AddressSanitizer keeps
    freed memory resident in its quarantine (to catch use after free), so every allocation,
    even a freed one, would count. Builds without ASan ignore the variable."""
    options = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o]
    options += ["quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]
    return dict(env, ASAN_OPTIONS=":".join(options))


def emulator_config(**extra):
    """The attack tests' configuration: their devices, EMU_IO_THREADS I/O threads
    (scripts/tsan.sh runs the fronts on several), and `extra` sections merged in."""
    config = {"devices": [{"deviceId": d} for d in DEVICES]}
    threads = os.environ.get("EMU_IO_THREADS")
    if threads:
        config["ioThreads"] = int(threads)
    for key, value in extra.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config


class Attacker(threading.Thread):
    """Opens a connection and misbehaves on it; `closed_after` is the seconds from the start
    of the connection until the server closed it (None: still open when given up)."""

    def __init__(self, connect, payload=b"", byte_interval=None, give_up=45.0):
        super().__init__(daemon=True)
        self.connect = connect
        self.payload = payload
        self.byte_interval = byte_interval
        self.give_up = give_up
        self.closed_after = None
        self.error = None
        self.stop = threading.Event()
        self.ready = threading.Event()  # the connection is up and misbehaving

    def run(self):
        started = time.monotonic()
        try:
            sock = self.connect()
        except OSError as e:
            self.error = e
            self.ready.set()
            return
        try:
            self.closed_after = self._misbehave(sock, started)
        finally:
            self.ready.set()
            sock.close()

    def _misbehave(self, sock, started):
        """Returns the seconds until the server closed, or None."""
        def closed_now():
            return time.monotonic() - started
        chunks = ([self.payload] if self.byte_interval is None else
                  [self.payload[i:i + 1] for i in range(len(self.payload))])
        for chunk in chunks:
            if chunk:
                try:
                    sock.sendall(chunk)
                except OSError:
                    return closed_now()  # the server closed while we were still sending
            if self.byte_interval is None:
                break
            self.ready.set()
            if wait_closed(sock, self.byte_interval) is not None:
                return closed_now()
            if self.stop.is_set() or closed_now() > self.give_up:
                return None
        self.ready.set()
        # Then nothing: wait for the server's close, in slices so that stop() is heard.
        while not self.stop.is_set() and closed_now() < self.give_up:
            if wait_closed(sock, min(0.5, max(0.01, self.give_up - closed_now()))) is not None:
                return closed_now()
        return None


class AttackTest(unittest.TestCase):
    emulator_args = ["--test-control"]
    emulator_config = emulator_config()
    emulator_env = None
    _ids = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(BINARY, args=cls.emulator_args, config=cls.emulator_config,
                           env=cls.emulator_env)
        cls.emu.start()
        cls.hub = Hub(cls.emu.ready)
        # Long keep-alive: the canary sends nothing between checks.
        cls.canary = cls.hub.mqtt_device("canary", keep_alive=900)
        codes = cls.canary.subscribe("devices/canary/messages/devicebound/#")
        assert codes == [1], codes

    @classmethod
    def tearDownClass(cls):
        cls.canary.close()
        code = cls.emu.terminate()
        log = cls.emu.log()
        cls.emu.__exit__(None, None, None)
        cls.emu.cleanup()
        # After every attack the emulator still stops cleanly (and, in the ASan build, without
        # a leak report, which would make the exit code non-zero).
        assert code == 0, "emulator exit code %s after the attacks\n%s" % (code, log[-6000:])

    def start_attackers(self, attackers):
        """Starts the attackers; whatever happens in the test, they are stopped and joined at
        its end, so a front they froze is free again for the next test."""
        def cleanup():
            for a in attackers:
                a.stop.set()
            for a in attackers:
                a.join(60)
        self.addCleanup(cleanup)
        for a in attackers:
            a.start()
        for a in attackers:
            a.ready.wait(30)
        errors = [a.error for a in attackers if a.error]
        self.assertEqual(errors, [], "attackers could not even connect")

    # ---- checks ---------------------------------------------------------------------------

    def assert_alive(self):
        self.assertIsNone(self.emu.proc.poll(),
                          "the emulator died:\n" + self.emu.log()[-6000:])

    def assert_others_unaffected(self, via="amqp"):
        """The well-behaved clients still work (see the module docstring). `via` is how the
        canary's C2D message is sent: "amqp" or "https" (test control)."""
        self.assert_alive()
        message_id = "canary-%d" % next(self._ids)

        def send_over_amqp():
            conn = self.hub.amqp_plain("service", timeout=15)
            try:
                sender = conn.create_sender("/messages/devicebound")
                return send_outcome(sender, c2d_message("canary", message_id), timeout=15)
            finally:
                conn.close()

        if via == "amqp":
            self.assertEqual(self.step("AMQP C2D send", send_over_amqp), ("accepted", None))
        else:
            self.step("test-control C2D enqueue", lambda: self.hub.enqueue("canary", message_id))
        topic, packet_id, _ = self.step("canary MQTT receive",
                                        lambda: self.canary.next_publish(timeout=15))
        self.assertEqual(c2d_topic_properties(topic)["$.mid"], message_id)
        self.canary.puback(packet_id)

        self.step("new MQTT device connection",
                  lambda: self.hub.mqtt_device("bystander", timeout=15).close())
        status, body = self.step("HTTPS registry read", lambda: self.hub.https(
            "GET", "/devices/canary?api-version=2021-04-12",
            token=self.hub.policy_token("registryRead"), timeout=15))
        self.assertEqual(status, 200, body)
        self.assert_alive()

    def step(self, what, action):
        """Runs one check of a well-behaved client; an exception (a time-out, a refused
        connection) is a test failure that names the client."""
        try:
            return action()
        except AssertionError:
            raise
        except Exception as e:
            self.fail("a well-behaved client was affected: %s failed: %r" % (what, e))

"""Attack matrix: thousands of connections from one client. The emulator keeps serving the
well-behaved clients while they are held, reclaims them by its handshake deadlines, enforces its
connection limits, and does not crash.

The test process raises its open-file limit (RLIMIT_NOFILE) before starting the emulator, which
inherits it: the point is the emulator's own limits, not the operating system's.
"""
import fcntl
import resource
import selectors
import socket
import time
import unittest

from attack_base import SHORT_DEADLINES, AttackTest, emulator_config
from attack_clients import Hub, c2d_message, send_outcome, tcp_connect, tls_context
from emulator import Emulator

import attack_base

MQTT_FLOOD = 2000
MQTT_TLS_IDLE = 300
AMQP_MAX_CONNECTIONS = 1000  # amqp_settings.max_connections default (not configurable)
MARGIN = 5.0


def raise_open_file_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


HIGH_FD = 1100  # flood sockets live above this: select(), used by Proton, stops at 1024


def high_fd_socket(sock):
    """The same connection on a file descriptor above HIGH_FD, so that the well-behaved
    clients of this process keep low descriptors (python3-qpid-proton's blocking API uses
    select(), which cannot watch descriptors above 1023)."""
    fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    moved = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
    sock.close()
    return moved


def open_many(port, count, tls_ca=None):
    socks = []
    try:
        for _ in range(count):
            sock = high_fd_socket(tcp_connect(port))
            if tls_ca:
                sock = tls_context(tls_ca).wrap_socket(sock, server_hostname="localhost")
            socks.append(sock)
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def closed_by_server(socks, timeout, until=None):
    """Waits until every socket (or `until` of them) was closed by the server, or `timeout`.
    Returns the sockets closed by the server."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = []
    target = len(socks) if until is None else until
    deadline = time.monotonic() + timeout
    try:
        while len(closed) < target and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    closed.append(s)
    finally:
        sel.close()
    return closed


MQTT_TLS = SHORT_DEADLINES["mqtt"]["tlsHandshakeTimeoutSeconds"]
MQTT_CONNECT = SHORT_DEADLINES["mqtt"]["connectTimeoutSeconds"]
HTTPS_TLS = SHORT_DEADLINES["https"]["tlsHandshakeTimeoutSeconds"]
HTTPS_REQUEST = SHORT_DEADLINES["https"]["requestTimeoutSeconds"]
HTTPS_FLOOD = 800  # under the default https.maxConnections (1000)
HTTPS_TLS_IDLE = 100


class FloodAttacks(AttackTest):
    emulator_config = emulator_config(**SHORT_DEADLINES)

    @classmethod
    def setUpClass(cls):
        limit = raise_open_file_limit(16384)
        if limit < MQTT_FLOOD + AMQP_MAX_CONNECTIONS + HTTPS_FLOOD + 500:
            raise unittest.SkipTest("open-file limit %d is too low for the flood tests" % limit)
        super().setUpClass()

    def test_thousands_of_mqtt_connections(self):
        port = self.hub.ports["mqtt"]
        started = time.monotonic()
        raw = open_many(port, MQTT_FLOOD)
        self.addCleanup(close_all, raw)
        idle_tls = open_many(port, MQTT_TLS_IDLE, self.hub.ca)  # TLS done, no CONNECT
        self.addCleanup(close_all, idle_tls)
        opened = time.monotonic() - started
        # Served while the flood holds its connections.
        self.assert_others_unaffected()
        # Reclaimed: TCP-only ones by the TLS handshake deadline, TLS ones by the CONNECT
        # deadline.
        left = MQTT_FLOOD + MQTT_TLS_IDLE
        closed = closed_by_server(raw, MQTT_TLS + MARGIN + opened)
        self.assertEqual(len(closed), MQTT_FLOOD, "TCP-only connections not reclaimed")
        closed = closed_by_server(idle_tls, MQTT_CONNECT + MARGIN + opened)
        self.assertEqual(len(closed), MQTT_TLS_IDLE, "idle TLS connections not reclaimed")
        print("\n  %d connections to the MQTT port held (opened in %.1f s) and reclaimed" %
              (left, opened))
        self.assert_others_unaffected()

    def test_amqp_connection_limit_is_enforced_and_recovers(self):
        port = self.hub.ports["amqp"]
        over = 50
        socks = open_many(port, AMQP_MAX_CONNECTIONS + over)
        self.addCleanup(close_all, socks)
        # The connections beyond the limit are closed right after accept; the others stay
        # (until their handshake deadline).
        closed = closed_by_server(socks, 10, until=over)
        self.assertEqual(len(closed), over)
        self.assertEqual(len(closed_by_server([s for s in socks if s not in closed], 0.5)), 0)
        # The limit is the AMQP front's own: the other fronts serve as usual.
        self.assert_others_unaffected(via="https")
        close_all(socks)
        # Once the flood is gone, AMQP clients get in again.
        deadline = time.monotonic() + 15
        while True:
            try:
                self.hub.amqp_plain("service", timeout=5).close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # the server notices the closed sockets asynchronously
        self.assert_others_unaffected()

    def test_hundreds_of_https_connections(self):
        """800 TCP connections to the HTTPS port that never start TLS and 100 that finish TLS
        but send no request: the HTTPS front keeps serving while they are held (one I/O thread,
        no thread per connection), and reclaims them by its handshake and request deadlines."""
        port = self.hub.ports["https"]
        started = time.monotonic()
        raw = open_many(port, HTTPS_FLOOD)
        self.addCleanup(close_all, raw)
        idle_tls = open_many(port, HTTPS_TLS_IDLE, self.hub.ca)
        self.addCleanup(close_all, idle_tls)
        opened = time.monotonic() - started
        self.assert_others_unaffected(via="https")
        closed = closed_by_server(raw, HTTPS_TLS + MARGIN + opened)
        self.assertEqual(len(closed), HTTPS_FLOOD, "TCP-only connections not reclaimed")
        closed = closed_by_server(idle_tls, HTTPS_REQUEST + MARGIN + opened)
        self.assertEqual(len(closed), HTTPS_TLS_IDLE, "idle TLS connections not reclaimed")
        print("\n  %d connections to the HTTPS port held (opened in %.1f s) and reclaimed" %
              (HTTPS_FLOOD + HTTPS_TLS_IDLE, opened))
        self.assert_others_unaffected(via="https")


class ConfiguredConnectionLimits(unittest.TestCase):
    """`mqtt.maxConnections` / `amqp.maxConnections` enforced when configured (skipped by an
    emulator that does not know the settings)."""

    def limited_emulator(self, front, limit):
        config = emulator_config(**{front: {"maxConnections": limit}})
        emu = Emulator(attack_base.BINARY, config=config)
        try:
            emu.start()
        except RuntimeError as e:
            if getattr(emu, "_log", None):
                emu._log.close()
            emu.cleanup()
            if "unknown setting" in str(e):
                self.skipTest("%s.maxConnections is not configurable yet" % front)
            raise
        self.addCleanup(emu.cleanup)
        self.addCleanup(emu.__exit__, None, None, None)
        return emu

    def check_limit(self, front, limit=100, over=20):
        emu = self.limited_emulator(front, limit)
        socks = open_many(emu.ports[front], limit + over)
        self.addCleanup(close_all, socks)
        self.assertEqual(len(closed_by_server(socks, 10, until=over)), over)
        self.assertEqual(emu.terminate(), 0)
        # Refusals are logged, but at most once a second (with a count), not once each.
        refusals = [line for line in emu.log().splitlines() if "maxConnections)" in line]
        self.assertGreaterEqual(len(refusals), 1)
        self.assertLessEqual(len(refusals), 3, "\n".join(refusals))

    def test_mqtt_max_connections(self):
        self.check_limit("mqtt")

    def test_amqp_max_connections(self):
        self.check_limit("amqp")

    def test_https_max_connections(self):
        self.check_limit("https")

    def test_amqp_max_links(self):
        """amqp.maxLinks 4: four sender links attach, the fifth is refused with
        amqp:resource-limit-exceeded, and the four keep working."""
        from proton.utils import LinkDetached
        config = emulator_config(amqp={"maxLinks": 4})
        emu = Emulator(attack_base.BINARY, config=config)
        emu.start()
        self.addCleanup(emu.cleanup)
        self.addCleanup(emu.__exit__, None, None, None)
        hub = Hub(emu.ready)
        conn = hub.amqp_plain("service", timeout=15)
        try:
            senders = [conn.create_sender("/messages/devicebound", name="s%d" % i)
                       for i in range(4)]
            with self.assertRaises(LinkDetached) as refused:
                conn.create_sender("/messages/devicebound", name="s4")
            self.assertIn("resource-limit-exceeded", str(refused.exception))
            self.assertEqual(send_outcome(senders[3], c2d_message("canary", "after-limit")),
                             ("accepted", None))
        finally:
            conn.close()
        self.assertEqual(emu.terminate(), 0)


if __name__ == "__main__":
    unittest.main()

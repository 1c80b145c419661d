"""Attack matrix: what an UNAUTHENTICATED connection can make the emulator hold (issue 7,
"per-connection buffer limits").

- MQTT: until the hub has accepted a CONNECT, a packet may be at most mqtt.maxConnectPacketSize
  (80 KiB by default: the largest Will a CONNECT can carry plus client id, user name and token);
  a larger first packet closes the connection at its fixed header, before its body is buffered.
  mqtt.maxPacketSize applies from the CONNACK on.
- AMQP: before the peer's open, frames may be at most 4 KiB (AMQP 1.0 §2.4.1 allows 512); an
  unauthorised connection may send 64 KiB in all before it is cut with
  amqp:resource-limit-exceeded; amqp.maxFrameSize (64 KiB) is no longer mqtt.maxPacketSize.

The memory rows measure the emulator's RSS (/proc/<pid>/status) while many attacking
connections are held open: without the limits each one makes the emulator buffer what it
announces (2 MiB here). This module raises mqtt.maxPacketSize to its maximum (16 MiB), so only
the pre-authentication limits can refuse the attacks, and lengthens the CONNECT and open
deadlines so they cannot.
"""
import os
import socket
import ssl
import struct
import time

from attack_base import AttackTest, emulator_config, without_asan_quarantine
from attack_clients import (CONNACK, MqttClosed, c2d_message, mqtt_str, process_rss_kib,
                            send_outcome, tls_connect, username_for, varint, wait_closed)

MIB = 1024 * 1024
MAX_PACKET = 16 * MIB            # this module's mqtt.maxPacketSize (the largest allowed)
CONNECT_LIMIT = 80 * 1024        # mqtt.maxConnectPacketSize default
AMQP_BEFORE_OPEN = 4 * 1024      # amqp_settings.max_frame_size_before_open
AMQP_BEFORE_AUTH = 64 * 1024     # amqp_settings.max_input_before_auth
HELD = 40                        # attacking connections held open by the memory rows
ATTACK_SIZE = 2 * MIB            # what each of them announces
# Growth of the emulator's RSS allowed while HELD attackers are held. Without the limits it is
# more than HELD x ATTACK_SIZE (80 MiB); with them, only TLS state and allocator noise (under
# 1 MiB with ASan, up to 9 MiB with TSan's per-thread caches and shadow memory).
RSS_BOUND_KIB = 16 * 1024


AMQP_HEADER = b"AMQP\x00\x01\x00\x00"


def connect_with_will(device_id, host, token, size):
    """A CONNECT of exactly `size` bytes of remaining length: a Will of the largest payload
    MQTT 3.1.1 allows (65,535 bytes, §3.1.3.3) on the device's telemetry topic, and a user name
    padded with a DeviceClientType to reach `size`."""
    will_topic = "devices/%s/messages/events/" % device_id
    will_payload = b"w" * 65535
    flags = 0x80 | 0x40 | 0x04  # user name, password, Will (QoS 0), clean session 0

    def body_with(username):
        return (mqtt_str("MQTT") + bytes([4, flags]) + struct.pack(">H", 60) +
                mqtt_str(device_id) + mqtt_str(will_topic) + mqtt_str(will_payload) +
                mqtt_str(username) + mqtt_str(token))

    base = username_for(host, device_id) + "&DeviceClientType="
    padding = size - len(body_with(base))
    assert 0 <= padding < 65535 - len(base), padding
    body = body_with(base + "x" * padding)
    assert len(body) == size
    return b"\x10" + varint(len(body)) + body


def amqp_frame(body, frame_type=0, channel=0):
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, channel) + body


def amqp_open_frame(container="preauth-attacker"):
    """An open performative (AMQP 1.0 §2.7.1) with only its container-id."""
    field = b"\xa1" + bytes([len(container)]) + container.encode()
    fields = b"\x01" + field  # list8: count 1
    return amqp_frame(b"\x00\x53\x10" + b"\xc0" + bytes([len(fields)]) + fields)


def amqp_empty_frame(size=1020):
    """An empty frame (a heartbeat, AMQP 1.0 §2.4.5) padded by its extended header."""
    return struct.pack(">IBBH", size, size // 4, 0, 0) + b"\x00" * (size - 8)


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes (or `timeout`); (bytes, closed)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return received, False
        except (ssl.SSLError, OSError):
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def send_ignoring_close(sock, data):
    """Sends `data`; the server may close part-way (that is what these tests want)."""
    try:
        sock.sendall(data)
        return True
    except (OSError, ssl.SSLError):
        return False


class PreAuthAttacks(AttackTest):
    emulator_config = emulator_config(
        mqtt={"maxPacketSize": MAX_PACKET, "connectTimeoutSeconds": 60},
        amqp={"handshakeTimeoutSeconds": 60})
    emulator_env = without_asan_quarantine(os.environ)

    # ---- helpers ------------------------------------------------------------------------

    def hold_attackers(self, port, payload):
        """Opens HELD TLS connections, sends `payload` on each and keeps them open. Returns
        (sockets, RSS growth in KiB while they are held)."""
        pid = self.emu.proc.pid
        rss_before = process_rss_kib(pid)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(HELD):
            sock = tls_connect(port, self.hub.ca)
            socks.append(sock)
            sock.settimeout(10)
            send_ignoring_close(sock, payload)
        # The emulator reads what was sent at its own pace: take the highest RSS over a while.
        peak = process_rss_kib(pid)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.1)  # sampling interval of the RSS, not a wait for an event
            peak = max(peak, process_rss_kib(pid))
        return socks, peak - rss_before

    def assert_all_closed(self, socks, timeout=5):
        still_open = [s for s in socks if wait_closed(s, timeout) is None]
        self.assertEqual(len(still_open), 0,
                         "%d of %d attacking connections left open" % (len(still_open), len(socks)))

    # ---- MQTT ---------------------------------------------------------------------------

    def test_mqtt_connect_announcing_1_mib_is_closed_at_its_header(self):
        """The fixed header of a CONNECT announcing 1 MiB (under mqtt.maxPacketSize, over
        mqtt.maxConnectPacketSize): closed at once, no body awaited; valid devices connect."""
        with self.hub.mqtt() as m:
            m.send(b"\x10" + varint(MIB))
            closed = m.wait_closed(5)
            self.assertIsNotNone(closed, "CONNECT announcing 1 MiB left open")
            self.assertLess(closed, 3)
        # Any first packet, not only CONNECT (the session closes a non-CONNECT anyway, but only
        # once it has been read whole).
        with self.hub.mqtt() as m:
            m.send(b"\x30" + varint(CONNECT_LIMIT + 1))
            self.assertIsNotNone(m.wait_closed(5), "PUBLISH before CONNECT left open")
        self.hub.mqtt_device("dev-a").close()
        self.assert_others_unaffected()

    def test_mqtt_connect_of_the_limit_is_served_and_one_byte_more_is_closed(self):
        """A real CONNECT of exactly mqtt.maxConnectPacketSize bytes (carrying the largest
        Will MQTT allows) is accepted; the same CONNECT one byte longer is closed without a
        CONNACK. Once connected, packets up to mqtt.maxPacketSize are read again."""
        token = self.hub.device_token("dev-a")
        with self.hub.mqtt() as m:
            m.send(connect_with_will("dev-a", self.hub.host, token, CONNECT_LIMIT))
            kind, _, body = m.read_packet()
            self.assertEqual((kind, body[1]), (CONNACK, 0))
            # After the CONNACK the device may send a packet larger than the CONNECT limit.
            m.publish("devices/dev-a/messages/events/", b"t" * (200 * 1024))
            m.send(b"\xe0\x00")  # DISCONNECT: the Will is discarded
        with self.hub.mqtt() as m:
            try:
                m.send(connect_with_will("dev-a", self.hub.host, token, CONNECT_LIMIT + 1))
            except OSError:
                pass  # closed at the fixed header while the body was still being sent
            try:
                packet = m.read_packet(timeout=5)
                self.fail("answered instead of closed: %r" % (packet,))
            except MqttClosed:
                pass
            except TimeoutError:  # socket.timeout: still open after 5 s
                self.fail("a CONNECT over the limit was not closed within 5 s")
            except OSError:
                pass  # reset or TLS EOF: closed by the server
        self.assert_others_unaffected()

    def test_mqtt_connects_announcing_2_mib_do_not_grow_memory(self):
        """HELD connections, each sending a CONNECT header announcing 2 MiB and then all but
        the last byte of it: each is closed at its header and the RSS stays flat."""
        payload = b"\x10" + varint(ATTACK_SIZE) + b"\x00" * (ATTACK_SIZE - 1)
        socks, grown_kib = self.hold_attackers(self.hub.ports["mqtt"], payload)
        print("\nMQTT: RSS grew %d KiB with %d pre-CONNECT attackers of %d KiB held" %
              (grown_kib, HELD, ATTACK_SIZE // 1024))
        self.assertLess(grown_kib, RSS_BOUND_KIB)
        self.assert_all_closed(socks)
        self.assert_others_unaffected()

    # ---- AMQP ---------------------------------------------------------------------------

    def test_amqp_frame_over_the_pre_open_limit_is_refused_at_its_header(self):
        """A frame announcing one byte more than the pre-open limit, before any open: the
        connection ends with amqp:connection:framing-error without the body being sent."""
        sock = tls_connect(self.hub.ports["amqp"], self.hub.ca)
        try:
            sock.sendall(AMQP_HEADER + struct.pack(">IBBH", AMQP_BEFORE_OPEN + 1, 2, 0, 0))
            received, closed = read_until_closed(sock, 5)
            self.assertTrue(closed, "oversized frame before open left open")
            self.assertIn(b"amqp:connection:framing-error", received)
        finally:
            sock.close()
        self.assert_others_unaffected()

    def test_amqp_oversized_frames_before_open_do_not_grow_memory(self):
        """HELD connections, each sending the AMQP header and then a frame announcing 2 MiB,
        all but its last byte: each is refused at the frame header and the RSS stays flat."""
        payload = (AMQP_HEADER + struct.pack(">IBBH", ATTACK_SIZE, 2, 0, 0) +
                   b"\x00" * (ATTACK_SIZE - 9))
        socks, grown_kib = self.hold_attackers(self.hub.ports["amqp"], payload)
        print("\nAMQP: RSS grew %d KiB with %d pre-open attackers of %d KiB held" %
              (grown_kib, HELD, ATTACK_SIZE // 1024))
        self.assertLess(grown_kib, RSS_BOUND_KIB)
        self.assert_all_closed(socks)
        self.assert_others_unaffected()

    def test_amqp_unauthorised_connection_is_cut_after_its_budget(self):
        """Opened (no SASL, like rhea) but never authorised, the peer keeps sending (empty
        frames here, which cost it nothing): it is cut with amqp:resource-limit-exceeded once
        it has sent 64 KiB."""
        sock = tls_connect(self.hub.ports["amqp"], self.hub.ca)
        try:
            sock.sendall(AMQP_HEADER + amqp_open_frame())
            sent = 0
            frame = amqp_empty_frame()
            while sent < 2 * AMQP_BEFORE_AUTH and send_ignoring_close(sock, frame):
                sent += len(frame)
            received, closed = read_until_closed(sock, 5)
            self.assertTrue(closed, "unauthorised connection still open after %d bytes" % sent)
            self.assertIn(b"amqp:resource-limit-exceeded", received)
        finally:
            sock.close()
        self.assert_others_unaffected()

    def test_amqp_official_paths_still_work(self):
        """CBS (no SASL, as the Node and C# SDKs) and SASL PLAIN (as the C SDK): a C2D message
        near 64 KB, larger than one frame, is accepted (the client splits it by our 64 KiB
        max-frame-size); one over 64 KB is refused with amqp:link:message-size-exceeded and the
        link keeps working."""
        conn = self.hub.amqp_bare()
        try:
            self.assertEqual(self.hub.cbs_put_token(conn, self.hub.policy_token("service")), 200)
            sender = conn.create_sender("/messages/devicebound")
            self.assertEqual(send_outcome(sender, c2d_message("dev-b", "near-64k",
                                                              body=b"n" * 65000), timeout=30),
                             ("accepted", None))
            self.assertEqual(send_outcome(sender, c2d_message("dev-b", "over-64k",
                                                              body=b"o" * (65 * 1024)),
                                          timeout=30),
                             ("rejected", "amqp:link:message-size-exceeded"))
            self.assertEqual(send_outcome(sender, c2d_message("dev-b", "small")),
                             ("accepted", None))
        finally:
            conn.close()
        conn = self.hub.amqp_plain("service")
        try:
            sender = conn.create_sender("/messages/devicebound")
            self.assertEqual(send_outcome(sender, c2d_message("dev-b", "plain-near-64k",
                                                              body=b"p" * 65000), timeout=30),
                             ("accepted", None))
        finally:
            conn.close()
        ids = [m["messageId"] for m in self.hub.queue("dev-b")]
        for message_id in ("near-64k", "small", "plain-near-64k"):
            self.assertIn(message_id, ids)
        self.assertNotIn("over-64k", ids)
        self.assert_others_unaffected()


if __name__ == "__main__":
    import unittest
    unittest.main()

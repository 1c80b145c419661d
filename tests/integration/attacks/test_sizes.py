"""Attack matrix: oversized packets, frames, messages and requests on every front. Each is
refused without being buffered (or with a bounded buffer), and the well-behaved clients are
unaffected (attack_base.py)."""
import json
import os
import ssl
import struct
import time
import unittest

from attack_base import AttackTest, without_asan_quarantine
from attack_clients import (c2d_message, process_rss_kib, publish_packet, send_outcome,
                            tls_connect, varint, wait_closed)

MAX_PACKET = 512 * 1024  # mqtt.maxPacketSize default (amqp.maxFrameSize is its own: 64 KiB)


class SizeAttacks(AttackTest):
    # ---- MQTT -----------------------------------------------------------------------------

    def test_mqtt_packet_larger_than_the_limit_closes_at_its_header(self):
        """A PUBLISH announcing MAX_PACKET + 1 bytes: closed as soon as the fixed header is
        read, without waiting for (or buffering) the body."""
        with self.hub.mqtt_device("dev-a") as m:
            m.send(b"\x32" + varint(MAX_PACKET + 1))
            self.assertIsNotNone(m.wait_closed(5), "oversized packet header left open")
        # The same before CONNECT (nothing authenticated yet; the smaller
        # mqtt.maxConnectPacketSize refuses it too, test_preauth).
        with self.hub.mqtt() as m:
            m.send(b"\x10" + varint(MAX_PACKET + 1))
            self.assertIsNotNone(m.wait_closed(5))
        # A remaining length that is not even valid (a fifth length byte).
        with self.hub.mqtt() as m:
            m.send(b"\x10\xff\xff\xff\xff\x7f")
            self.assertIsNotNone(m.wait_closed(5))
        self.assert_others_unaffected()

    def test_mqtt_telemetry_larger_than_256_kb_closes(self):
        with self.hub.mqtt_device("dev-a") as m:
            m.send(publish_packet("devices/dev-a/messages/events/", b"x" * (256 * 1024 + 1)))
            self.assertIsNotNone(m.wait_closed(5), "oversized telemetry left open")
        self.assert_others_unaffected()

    # ---- AMQP -----------------------------------------------------------------------------

    def test_c2d_message_larger_than_64_kb_is_refused_and_the_link_keeps_working(self):
        conn = self.hub.amqp_plain("service")
        try:
            sender = conn.create_sender("/messages/devicebound")
            for size in (64 * 1024 + 1, 2 * 1024 * 1024):  # over the hub limit, over the buffer
                with self.subTest(size=size):
                    self.assertEqual(
                        send_outcome(sender, c2d_message("dev-b", "big-%d" % size,
                                                         body=b"x" * size), timeout=30),
                        ("rejected", "amqp:link:message-size-exceeded"))
            self.assertEqual(send_outcome(sender, c2d_message("dev-b", "small")),
                             ("accepted", None))
        finally:
            conn.close()
        ids = [m["messageId"] for m in self.hub.queue("dev-b")]
        self.assertIn("small", ids)
        self.assertFalse([i for i in ids if i.startswith("big-")])
        self.assert_others_unaffected()

    def test_amqp_frame_larger_than_the_limit_ends_the_connection(self):
        sock = tls_connect(self.hub.ports["amqp"], self.hub.ca)
        try:
            sock.sendall(b"AMQP\x00\x01\x00\x00" + struct.pack(">IBBH", 16 << 20, 2, 0, 0))
            received = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sock.settimeout(deadline - time.monotonic())
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            self.assertIn(b"amqp:connection:framing-error", received)
        finally:
            sock.close()
        self.assert_others_unaffected()

    # ---- HTTPS ----------------------------------------------------------------------------

    def test_http_body_larger_than_1_mib_is_413(self):
        token = self.hub.policy_token("registryReadWrite")
        status, body = self.hub.https("PUT", "/devices/big?api-version=2021-04-12",
                                      body=b"{" + b" " * (2 * 1024 * 1024) + b"}", token=token)
        self.assertEqual(status, 413, body)
        self.assertIn("MessageTooLarge", body["Message"])
        # A Content-Length of 100 MiB with no body: refused without reading it.
        sock = tls_connect(self.hub.ports["https"], self.hub.ca)
        try:
            sock.sendall(b"PUT /devices/big?api-version=2021-04-12 HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 104857600\r\n"
                         b"Authorization: " + token.encode() + b"\r\n\r\n")
            sock.settimeout(15)
            self.assertTrue(sock.recv(64).startswith(b"HTTP/1.1 413"))
        finally:
            sock.close()
        self.assertEqual(self.hub.https("GET", "/devices/big?api-version=2021-04-12",
                                        token=token)[0], 404)
        self.assert_others_unaffected()

    def test_http_header_flood_is_refused_with_bounded_memory(self):
        """12 MB of small headers in one request: refused with 431 (or the connection closed)
        once the head passes https.maxHeaderBytes (16 KiB), and the emulator's memory does not
        grow with what was sent (it grew by ~150 MiB with the earlier cpp-httplib front)."""
        rss_before = process_rss_kib(self.emu.proc.pid)
        sock = tls_connect(self.hub.ports["https"], self.hub.ca)
        answer = b""
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
            block = b"".join(b"X-%d: b\r\n" % i for i in range(10000))
            try:
                for _ in range(100):
                    sock.sendall(block)
                sock.sendall(b"\r\n")
                sock.settimeout(30)
                answer = sock.recv(64)
            except (ConnectionError, ssl.SSLError, BrokenPipeError):
                answer = b""  # closed by the server: a refusal
        finally:
            sock.close()
        grown_mib = (process_rss_kib(self.emu.proc.pid) - rss_before) / 1024
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 431"),
                        "12 MB of headers not refused: %r" % answer)
        self.assertLess(grown_mib, 20, "RSS grew %.0f MiB for 12 MB of headers" % grown_mib)
        self.assert_others_unaffected()


class HttpMemory(AttackTest):
    """RSS measurements need an emulator without ASan's quarantine (attack_base)."""
    emulator_env = without_asan_quarantine(os.environ)

    def test_announced_http_bodies_do_not_reserve_memory(self):
        """200 connections each send a head announcing a 1 MiB body (within the limit), the
        body's first byte, and then nothing. The read buffer grows with the bytes that arrive, not with the announced
        Content-Length: the emulator's RSS grows by far less than the 200 MiB announced (it
        grew by ~400 MiB when the buffer was sized from Content-Length)."""
        rss_before = process_rss_kib(self.emu.proc.pid)
        # `Expect: 100-continue` makes the emulator's reading of each head observable: its
        # `100 Continue` says the head is parsed and the body is awaited. Then the body's first
        # byte goes out, as a client that sends its body would.
        head = (b"PUT /devices/big?api-version=2021-04-12 HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1048576\r\n"
                b"Expect: 100-continue\r\n\r\n")
        socks = []
        try:
            for _ in range(200):
                sock = tls_connect(self.hub.ports["https"], self.hub.ca)
                socks.append(sock)
                sock.sendall(head)
            for sock in socks:
                sock.settimeout(10)
                interim = b""
                while not interim.endswith(b"\r\n\r\n"):
                    chunk = sock.recv(64)
                    self.assertTrue(chunk, "closed instead of 100 Continue")
                    interim += chunk
                self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue"), interim)
                sock.sendall(b"{")
            grown_mib = (process_rss_kib(self.emu.proc.pid) - rss_before) / 1024
        finally:
            for sock in socks:
                sock.close()
        self.assertLess(grown_mib, 40, "RSS grew %.0f MiB for 200 announced bodies" % grown_mib)
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

"""Attack matrix: connections that never finish. A CONNECT (or AMQP open, or HTTP request)
dribbled one byte per second after the TLS handshake (slowloris), and TLS handshakes that never
finish (TCP only, or half a ClientHello), and WebSocket connections that complete their upgrade
and then never send the MQTT CONNECT or the AMQP header (issue 20 item 5). Each front must close them within its deadline,
configured shorter than the defaults to keep the test short (attack_base.SHORT_DEADLINES):

| front | TLS handshake                      | then                              | default |
|-------|------------------------------------|-----------------------------------|---------|
| MQTT  | mqtt.tlsHandshakeTimeoutSeconds 4  | mqtt.connectTimeoutSeconds 4      | 10 + 10 |
| AMQP  | amqp.handshakeTimeoutSeconds 6 for TLS and the AMQP open together      | 30      |
| HTTPS | https.tlsHandshakeTimeoutSeconds 4 | https.requestTimeoutSeconds 4     | 10 + 10 |

and the well-behaved clients are served meanwhile (checked while the attackers hold their
connections). Attacks on one front run in parallel threads, so each test takes about one
deadline.
"""
import struct
import unittest

from proton import Data, Described, ulong

from attack_base import SHORT_DEADLINES, AttackTest, Attacker, emulator_config
from attack_clients import connect_packet, tcp_connect, tls_connect, username_for

MARGIN = 4.0  # scheduling slack on a loaded 2-core machine (ASan/TSan builds)


def amqp_open_frame():
    data = Data()
    data.put_object(Described(ulong(0x10), ["slow-client", "localhost"]))
    body = data.encode()
    return struct.pack(">IBBH", 8 + len(body), 2, 0, 0) + body


MQTT_TLS = SHORT_DEADLINES["mqtt"]["tlsHandshakeTimeoutSeconds"]
MQTT_CONNECT = SHORT_DEADLINES["mqtt"]["connectTimeoutSeconds"]
AMQP_OPEN = SHORT_DEADLINES["amqp"]["handshakeTimeoutSeconds"]
HTTPS_TLS = SHORT_DEADLINES["https"]["tlsHandshakeTimeoutSeconds"]
HTTPS_REQUEST = SHORT_DEADLINES["https"]["requestTimeoutSeconds"]


class SlowAttacks(AttackTest):
    emulator_config = emulator_config(**SHORT_DEADLINES)

    def run_attackers(self, attackers, deadline, via="amqp"):
        """Starts the attackers, checks the other clients while they hold their connections,
        then expects every attacker closed within `deadline` seconds of its start."""
        self.start_attackers(attackers)
        self.assert_others_unaffected(via=via)
        for a in attackers:
            a.join(deadline + MARGIN + 10)
        closed = [a.closed_after for a in attackers]
        late = [c for c in closed if c is None or c > deadline + MARGIN]
        self.assertEqual(late, [], "connections not closed within %.0f s (+%.0f): %s" %
                         (deadline, MARGIN, closed))
        return max(closed)

    def mqtt_connect_bytes(self):
        hub = self.hub
        return connect_packet("dev-a", username_for(hub.host, "dev-a"), hub.device_token("dev-a"))

    # ---- slowloris (after TLS) ------------------------------------------------------------

    def test_mqtt_connect_one_byte_per_second_is_closed_by_the_connect_timeout(self):
        hub = self.hub
        attackers = [Attacker(lambda: tls_connect(hub.ports["mqtt"], hub.ca),
                              self.mqtt_connect_bytes(), byte_interval=1.0) for _ in range(20)]
        worst = self.run_attackers(attackers, deadline=MQTT_CONNECT)
        # The CONNECT timeout is what closed them (they were still going at 1 byte/s).
        self.assertGreater(worst, MQTT_CONNECT - 1.5)
        self.assert_others_unaffected()

    def test_amqp_open_one_byte_per_second_is_closed_by_the_handshake_timeout(self):
        hub = self.hub
        payload = b"AMQP\x00\x01\x00\x00" + amqp_open_frame()
        self.assertGreater(len(payload), AMQP_OPEN + 10)  # longer than the deadline at 1 byte/s
        attackers = [Attacker(lambda: tls_connect(hub.ports["amqp"], hub.ca), payload,
                              byte_interval=1.0) for _ in range(20)]
        worst = self.run_attackers(attackers, deadline=AMQP_OPEN)
        self.assertGreater(worst, AMQP_OPEN - 1.5)
        self.assert_others_unaffected()

    def test_https_request_one_byte_per_second_is_closed_by_the_request_timeout(self):
        """The whole request must arrive within https.requestTimeoutSeconds of its first byte:
        a client that keeps every single read short (1 byte/s) is still cut."""
        hub = self.hub
        request = (b"GET /health HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: 1\r\n" * 10 +
                   b"\r\n")
        self.assertGreater(len(request), HTTPS_REQUEST + 10)
        attackers = [Attacker(lambda: tls_connect(hub.ports["https"], hub.ca), request,
                              byte_interval=1.0, give_up=30.0) for _ in range(50)]
        worst = self.run_attackers(attackers, deadline=HTTPS_REQUEST, via="https")
        self.assertGreater(worst, HTTPS_REQUEST - 1.5)
        self.assert_others_unaffected()

    # ---- TLS handshakes that never finish -------------------------------------------------

    def handshake_attackers(self, port, count, give_up):
        half_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20
        return ([Attacker(lambda: tcp_connect(port), give_up=give_up) for _ in range(count)] +
                [Attacker(lambda: tcp_connect(port), half_hello, give_up=give_up)
                 for _ in range(count)])

    def test_tls_handshake_that_never_finishes(self):
        ports = self.hub.ports
        attackers = {"mqtt": self.handshake_attackers(ports["mqtt"], 10, 30),
                     "amqp": self.handshake_attackers(ports["amqp"], 10, 30),
                     "https": self.handshake_attackers(ports["https"], 10, 30)}
        deadlines = {"mqtt": MQTT_TLS, "amqp": AMQP_OPEN, "https": HTTPS_TLS}
        self.start_attackers([a for group in attackers.values() for a in group])
        self.assert_others_unaffected()
        for group in attackers.values():
            for a in group:
                a.join(60)
        for front, group in attackers.items():
            with self.subTest(front=front):
                closed = [a.closed_after for a in group]
                late = [c for c in closed if c is None or c > deadlines[front] + MARGIN]
                self.assertEqual(late, [], "%s: handshakes not cut within %.0f s: %s" %
                                 (front, deadlines[front], closed))
        self.assert_others_unaffected()

    # ---- WebSockets: the upgrade done, then nothing --------------------------------------

    def websocket_then_silence(self, subprotocol):
        """A TLS connection to 443 whose WebSocket upgrade succeeded (101) and that then sends
        nothing: no MQTT CONNECT, no AMQP header."""
        import base64
        import os
        hub = self.hub

        def connect():
            sock = tls_connect(hub.ports["https"], hub.ca)
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(("GET /$iothub/websocket HTTP/1.1\r\nHost: localhost\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: %s\r\n\r\n" % (key, subprotocol)).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise OSError("closed during the upgrade")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise OSError("upgrade refused: %r" % head[:80])
            return sock
        return connect

    def test_websocket_upgraded_then_silent_is_closed_by_the_protocols_deadline(self):
        mqtt = [Attacker(self.websocket_then_silence("mqtt")) for _ in range(10)]
        amqp = [Attacker(self.websocket_then_silence("AMQPWSB10")) for _ in range(10)]
        self.start_attackers(mqtt + amqp)
        self.assert_others_unaffected()
        for a in mqtt + amqp:
            a.join(60)
        for name, group, deadline in (("mqtt", mqtt, MQTT_CONNECT), ("amqp", amqp, AMQP_OPEN)):
            with self.subTest(subprotocol=name):
                closed = [a.closed_after for a in group]
                late = [c for c in closed if c is None or c > deadline + MARGIN]
                self.assertEqual(late, [], "%s over WebSockets: not cut within %.0f s: %s" %
                                 (name, deadline, closed))
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

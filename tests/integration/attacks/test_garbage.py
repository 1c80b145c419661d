"""Attack matrix: garbage bytes on every port, before the TLS handshake and after it, and behind
a valid start (an authenticated MQTT CONNECT, the AMQP header, an HTTP request line). The
emulator must not crash, must close every garbage connection within the front's deadline, and
must keep serving the well-behaved clients (attack_base.py).

Random but reproducible: GARBAGE_SEED (printed) replays a run, GARBAGE_ROUNDS sets the number
of connections per front and kind (default 16; half of it on HTTPS).
"""
import concurrent.futures
import os
import random
import sys
import unittest

from attack_base import SHORT_DEADLINES, AttackTest, Attacker, emulator_config
from attack_clients import connect_packet, tcp_connect, tls_connect, username_for

ROUNDS = int(os.environ.get("GARBAGE_ROUNDS", "16"))
MARGIN = 5.0
# When a front must have closed a connection that never became valid: its TLS handshake
# deadline, then its CONNECT / AMQP open / request read deadline (shortened, see attack_base).
DEADLINE = {"mqtt": float(SHORT_DEADLINES["mqtt"]["tlsHandshakeTimeoutSeconds"] +
                          SHORT_DEADLINES["mqtt"]["connectTimeoutSeconds"]),
            "amqp": float(SHORT_DEADLINES["amqp"]["handshakeTimeoutSeconds"]),
            "https": 10.0}
# Connections at once per front. HTTPS serves each connection on one of its 8 worker threads
# until the connection ends (a garbage request line gets 400, then the connection is kept
# alive for 5 s): 6 lanes leave workers to the well-behaved clients, and fewer rounds keep the
# test short.
LANES = {"mqtt": ROUNDS * 3, "amqp": ROUNDS * 3, "https": 6}
ROUNDS_OF = {"mqtt": ROUNDS, "amqp": ROUNDS, "https": max(1, ROUNDS // 2)}


class GarbageAttacks(AttackTest):
    emulator_config = emulator_config(**SHORT_DEADLINES)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seed = int(os.environ.get("GARBAGE_SEED", random.randrange(1 << 30)))
        print("\ngarbage: seed %d, %d connections per front and kind" % (cls.seed, ROUNDS),
              file=sys.stderr)

    def garbage(self, rng):
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))

    def valid_start(self, front):
        hub = self.hub
        if front == "mqtt":
            return connect_packet("dev-a", username_for(hub.host, "dev-a"),
                                  hub.device_token("dev-a"))
        if front == "amqp":
            return b"AMQP\x00\x01\x00\x00"
        return b"POST /devices/dev-a?api-version=2021-04-12 HTTP/1.1\r\nHost: localhost\r\n"

    def attack(self, front, rng):
        """Returns [(kind, closed_after)] for every garbage connection on `front`."""
        port, ca = self.hub.ports[front], self.hub.ca
        plans = []
        for _ in range(ROUNDS_OF[front]):
            plans.append(("before TLS", lambda: tcp_connect(port), self.garbage(rng), True))
            plans.append(("after TLS", lambda: tls_connect(port, ca), self.garbage(rng), True))
            # Behind a valid start the garbage may happen to be valid protocol (a PINGREQ);
            # the connection may then rightly stay open, so only survival is checked.
            plans.append(("after a valid start", lambda: tls_connect(port, ca),
                          self.valid_start(front) + self.garbage(rng), False))

        def run(plan):
            kind, connect, payload, must_close = plan
            a = Attacker(connect, payload, give_up=DEADLINE[front] + MARGIN)
            a.run()  # in this pool thread
            return kind, must_close, a.closed_after, a.error

        with concurrent.futures.ThreadPoolExecutor(LANES[front]) as pool:
            return list(pool.map(run, plans))

    def check_front(self, front):
        rng = random.Random("%d-%s" % (self.seed, front))
        results = self.attack(front, rng)
        self.assert_alive()
        failures = [(kind, closed, error) for kind, must_close, closed, error in results
                    if error is not None or (must_close and closed is None)]
        self.assertEqual(failures, [], "%s: garbage connections not closed within %.0f s "
                         "(seed %d)" % (front, DEADLINE[front] + MARGIN, self.seed))
        closed = sorted(c for _, _, c, _ in results if c is not None)
        print("  %s: %d garbage connections, %d closed by the emulator (median after %.2f s, "
              "slowest %.1f s)" % (front, len(results), len(closed), closed[len(closed) // 2],
                                   closed[-1]), file=sys.stderr)
        self.assert_others_unaffected()

    def test_garbage_on_the_mqtt_port(self):
        self.check_front("mqtt")

    def test_garbage_on_the_amqp_port(self):
        self.check_front("amqp")

    def test_garbage_on_the_https_port(self):
        self.check_front("https")


if __name__ == "__main__":
    unittest.main()

"""Attack matrix, TLS (issue 20, item 6): on every port (MQTT 8883, AMQP 5671, HTTPS and
WebSockets 443) only TLS 1.2 and 1.3, and only the cipher suites Azure IoT Hub accepts
(emulator/net/tls_context.cpp): ECDHE with AES-GCM, or with AES-CBC and SHA-2 (TLS 1.2);
TLS_AES_256_GCM_SHA384 / TLS_AES_128_GCM_SHA256 (TLS 1.3). Every other offer ends in a TLS
alert from the emulator, and the well-behaved clients are unaffected (attack_base.py).

Each probe is a real handshake from Python's ssl module (OpenSSL) or `openssl s_client`; a
refusal counts only when it is the server's alert, so a client that could not even offer the
version or suite (a local configuration refusal) fails the test instead of passing it.
"""
import socket
import ssl
import subprocess
import unittest
import warnings

from attack_base import AttackTest

PORTS = ("mqtt", "amqp", "https")
# The dev server key is ECDSA P-256: the ECDSA suites are the ones that can be negotiated.
ACCEPTED_TLS12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"}
REFUSED_TLS12 = {"ECDHE-ECDSA-CHACHA20-POLY1305",  # not in Azure's list
                 "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",  # SHA-1 MAC
                 "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256",  # no forward secrecy
                 "AES128-SHA", "DHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-NULL-SHA"}
ACCEPTED_TLS13 = {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"}
REFUSED_TLS13 = {"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256"}
# Alerts the emulator sends (as the client's OpenSSL names them on receipt).
SERVER_ALERTS = {"TLSV1_ALERT_PROTOCOL_VERSION", "SSLV3_ALERT_HANDSHAKE_FAILURE",
                 "TLSV1_ALERT_INSUFFICIENT_SECURITY"}


class TlsAttacks(AttackTest):
    def handshake(self, port, configure):
        """(negotiated version, cipher) or the reason of the TLS error."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.hub.ca)
        configure(ctx)
        with socket.create_connection(("127.0.0.1", self.hub.ports[port]), timeout=10) as s:
            try:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    return t.version(), t.cipher()[0]
            except ssl.SSLError as e:
                return e.reason

    def test_tls_below_1_2_is_refused_on_every_port(self):
        for port in PORTS:
            for version in ("TLSv1", "TLSv1_1"):
                with self.subTest(port=port, version=version), warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    v = getattr(ssl.TLSVersion, version)

                    def old(ctx, v=v):
                        ctx.minimum_version = ctx.maximum_version = v
                        ctx.set_ciphers("ALL:@SECLEVEL=0")
                    self.assertEqual(self.handshake(port, old), "TLSV1_ALERT_PROTOCOL_VERSION")
            with self.subTest(port=port, version="TLSv1.2 and 1.3"):
                for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
                    def only(ctx, v=v):
                        ctx.minimum_version = ctx.maximum_version = v
                    self.assertEqual(self.handshake(port, only)[0], name)
        self.assert_others_unaffected()

    def test_tls_1_2_cipher_suites_are_azures(self):
        for port in PORTS:
            accepted, refused = set(), {}
            for suite in sorted(ACCEPTED_TLS12 | REFUSED_TLS12):
                def tls12(ctx, suite=suite):
                    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                    ctx.set_ciphers(suite + ":@SECLEVEL=0")
                result = self.handshake(port, tls12)
                if isinstance(result, tuple):
                    self.assertEqual(result, ("TLSv1.2", suite))
                    accepted.add(suite)
                else:
                    refused[suite] = result
            with self.subTest(port=port):
                self.assertEqual(accepted, ACCEPTED_TLS12)
                for suite, reason in refused.items():
                    self.assertIn(reason, SERVER_ALERTS, suite)
        self.assert_others_unaffected()

    def test_tls_1_3_cipher_suites_are_azures(self):
        # Python cannot choose TLS 1.3 suites: openssl s_client can.
        for port in PORTS:
            for suite in sorted(ACCEPTED_TLS13 | REFUSED_TLS13):
                with self.subTest(port=port, suite=suite):
                    r = subprocess.run(
                        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.hub.ports[port],
                         "-servername", "localhost", "-CAfile", self.hub.ca, "-tls1_3",
                         "-ciphersuites", suite, "-brief"],
                        input=b"", capture_output=True, timeout=20)
                    out = (r.stdout + r.stderr).decode(errors="replace")
                    if suite in ACCEPTED_TLS13:
                        self.assertIn("Ciphersuite: " + suite, out)
                        self.assertIn("Verification: OK", out)
                    else:
                        self.assertNotIn("Ciphersuite:", out)
                        self.assertIn("alert handshake failure", out)
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

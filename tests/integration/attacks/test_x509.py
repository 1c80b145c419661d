"""Attack matrix, X.509 rows (issue 16): a client certificate can only ever act as the device
it was registered for, a device without one cannot pass for an X.509 device, and asking every
TLS client for a certificate breaks nobody (SAS clients, session resumption). The canary
(attack_base.py) must stay unaffected throughout.

Certificates are made with the openssl CLI in a temporary directory; the X.509 devices come
from the config file (`authentication`, `primaryThumbprint`)."""
import os
import socket
import ssl
import subprocess
import tempfile
import unittest

from attack_base import DEVICES, AttackTest, emulator_config
from attack_clients import sas_token, tls_context, username_for

_tmp = tempfile.TemporaryDirectory(prefix="attack-x509-")


def make_cert(name, cn):
    crt, key = os.path.join(_tmp.name, name + ".crt"), os.path.join(_tmp.name, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=" + cn], check=True, capture_output=True)
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return (crt, key), out.strip().split("=", 1)[1].replace(":", "")


CERT_A, PRINT_A = make_cert("a", "x509-a")
CERT_B, PRINT_B = make_cert("b", "x509-b")
CERT_M, PRINT_M = make_cert("m", "mod-x")
STRANGER, _ = make_cert("stranger", "x509-a")


class X509Attacks(AttackTest):
    emulator_config = emulator_config(devices=[{"deviceId": d} for d in DEVICES] + [
        {"deviceId": "sas-dev"},
        {"deviceId": "x509-a", "authentication": "selfSigned", "primaryThumbprint": PRINT_A},
        {"deviceId": "x509-b", "authentication": "selfSigned", "primaryThumbprint": PRINT_B},
    ])

    def connack(self, client_id, password, client_cert):
        with self.hub.mqtt(client_cert=client_cert) as m:
            code = m.connect(client_id, username_for(self.hub.host, client_id), password)
            if code != 0:
                self.assertIsNotNone(m.wait_closed(10), "connection left open after CONNACK")
            return code

    def test_a_certificate_admits_its_own_device_only(self):
        self.assertEqual(self.connack("x509-a", None, CERT_A), 0)
        self.assertEqual(self.connack("x509-b", None, CERT_A), 5)  # A's certificate as B
        self.assertEqual(self.connack("x509-a", None, STRANGER), 5)  # same CN, other key
        self.assertEqual(self.connack("sas-dev", None, CERT_A), 5)  # a SAS device
        self.assert_others_unaffected()

    def test_a_self_signed_module_connects_with_its_certificate_only(self):
        # A module identity (issue 16) of type selfSigned below the SAS device sas-dev.
        owner = self.hub.policy_token("iothubowner")
        status, body = self.hub.https(
            "PUT", "/devices/sas-dev/modules/mod-x?api-version=2021-04-12",
            {"authentication": {"type": "selfSigned",
                                "x509Thumbprint": {"primaryThumbprint": PRINT_M}}},
            token=owner)
        self.assertIn(status, (200, 409), body)
        self.assertEqual(self.connack("sas-dev/mod-x", None, CERT_M), 0)
        self.assertEqual(self.connack("sas-dev/mod-x", None, CERT_A), 5)  # a device's certificate
        self.assertEqual(self.connack("sas-dev", None, CERT_M), 5)  # the module's, for its device
        self.assertEqual(self.connack("x509-a", None, CERT_M), 5)
        self.assertEqual(self.connack("sas-dev/mod-x", None, None), 5)
        self.assert_others_unaffected()

    def test_no_certificate_and_no_password_is_refused(self):
        self.assertEqual(self.connack("x509-a", None, None), 5)
        self.assertEqual(self.connack("x509-a", "", None), 5)

    def test_a_sas_token_cannot_stand_in_for_a_certificate(self):
        # An X.509 device has no keys: a token signed with an empty key or any other is refused,
        # with or without the device's certificate.
        resource = "%s/devices/x509-a" % self.hub.host
        for key in ("", "AAAAAAAAAAAAAAAAAAAAAA=="):
            self.assertEqual(self.connack("x509-a", sas_token(resource, key), None), 5)
        # With its certificate and a bogus token the token is what is checked (and refused).
        self.assertEqual(
            self.connack("x509-a", sas_token(resource, "AAAAAAAAAAAAAAAAAAAAAA=="), CERT_A), 5)

    def test_a_sas_device_presenting_any_certificate_still_authenticates_with_its_token(self):
        self.assertEqual(self.connack("sas-dev", self.hub.device_token("sas-dev"), CERT_A), 0)

    def test_tls_sessions_resume_on_every_port_with_and_without_a_certificate(self):
        # Asking for client certificates needs a session id context, or OpenSSL fails every
        # resumed handshake with an internal_error alert (Node's https agent resumes). A session
        # with a client certificate is not resumed but answered with a full handshake, so the
        # client sends its whole chain again (a resumed session keeps only the leaf).
        for front in ("mqtt", "amqp", "https"):
            for cert in (None, CERT_A):
                with self.subTest(front=front, certificate=bool(cert)):
                    context = tls_context(self.hub.ca, cert)
                    context.maximum_version = ssl.TLSVersion.TLSv1_2  # sessions at once
                    session = None
                    for attempt in range(2):
                        raw = socket.create_connection(("127.0.0.1", self.hub.ports[front]), 10)
                        with context.wrap_socket(raw, server_hostname="localhost",
                                                 session=session) as s:
                            if attempt == 1:
                                self.assertEqual(s.session_reused, cert is None)
                            session = s.session
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()

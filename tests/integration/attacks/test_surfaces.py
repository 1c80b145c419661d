"""Attack matrix, the new surfaces (issue 20, item 6). Whatever clients send, right or wrong, no key and
no token signature ever shows in what the emulator gives away without a key: its log (after
the start banner, which prints the connection strings a user asked for), `GET /metrics` and
`GET /health`.

The test authenticates every way a client can (MQTT with a device token, AMQP CBS with a
service token and SASL PLAIN, HTTPS registry calls) and fails every way it can (a token
signed with another key, an expired one, a garbage `Authorization`), then searches the log and
the unauthenticated endpoints for every key of the hub and every signature it sent, raw and
URL-encoded. And the Event Hubs-compatible endpoint reads telemetry for a policy with
ServiceConnect only: a device's own token opens no reader.
"""
import re
import unittest
import urllib.parse

from attack_base import AttackTest
from attack_clients import sas_token, username_for

API = "?api-version=2021-04-12"
WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="


class SurfaceAttacks(AttackTest):
    def test_no_key_or_signature_is_logged_or_served(self):
        hub = self.hub
        tokens = []

        def token(t):
            tokens.append(t)
            return t

        # Accepted: MQTT device, AMQP CBS (service) and SASL PLAIN, HTTPS registry.
        with hub.mqtt_device("dev-a", token=token(hub.device_token("dev-a"))):
            pass
        conn = hub.amqp_bare()
        self.assertEqual(hub.cbs_put_token(conn, token(hub.policy_token("service"))), 200)
        conn.close()
        hub.amqp_plain(token=token(hub.policy_token("service"))).close()
        owner = token(hub.policy_token("iothubowner"))
        self.assertEqual(hub.https("GET", "/devices/dev-a" + API, token=owner)[0], 200)
        # Refused: a token signed with another key, an expired one, garbage.
        wrong = token(sas_token("%s/devices/dev-b" % hub.host, WRONG_KEY))
        with hub.mqtt() as m:
            self.assertEqual(m.connect("dev-b", username_for(hub.host, "dev-b"), wrong), 5)
        expired = token(hub.device_token("dev-b", se=1000))
        with hub.mqtt() as m:
            self.assertEqual(m.connect("dev-b", username_for(hub.host, "dev-b"), expired), 5)
        conn = hub.amqp_bare()
        self.assertEqual(hub.cbs_put_token(conn, token(sas_token(hub.host, WRONG_KEY,
                                                                 skn="service"))), 401)
        conn.close()
        for bad in (token(sas_token(hub.host, WRONG_KEY, skn="iothubowner")),
                    "SharedAccessSignature sr=x&sig=" + WRONG_KEY + "&se=1&skn=y"):
            self.assertEqual(hub.https("GET", "/devices/dev-a" + API, token=bad)[0], 401)

        secrets = set(hub.device_keys.values()) | set(hub.policy_keys.values()) | {WRONG_KEY}
        for t in tokens:
            sig = re.search(r"sig=([^&]+)", t).group(1)
            secrets |= {sig, urllib.parse.unquote(sig)}
        status, metrics = hub.https("GET", "/metrics")
        self.assertEqual(status, 200)
        status, health = hub.https("GET", "/health")
        self.assertEqual(status, 200)
        # The start banner prints the connection strings on purpose (README "Two commands");
        # everything logged after it is what clients caused.
        log = self.emu.log()
        banner_end = log.index("\n", log.index("iothub-emulator ready {"))
        exposed = {"log": log[banner_end:], "/metrics": str(metrics), "/health": str(health)}
        for where, text in exposed.items():
            for secret in secrets:
                self.assertNotIn(secret, text, "a secret in the %s" % where)
        # The refusals were logged, so the log was looked at with something in it.
        self.assertIn("dev-b", exposed["log"])
        self.assert_others_unaffected()


    def test_a_device_token_cannot_read_the_event_hubs_endpoint(self):
        """Telemetry is read with a policy that has ServiceConnect; a device's own token (CBS
        accepts it for the device's links) opens no reader, on any partition."""
        from proton.utils import LinkDetached
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        device_token = self.hub.device_token("dev-a")
        self.assertEqual(self.hub.cbs_put_token(conn, device_token,
                                                audience="%s/devices/dev-a" % self.hub.host), 200)
        for partition in ("0", "1"):
            with self.subTest(partition=partition):
                with self.assertRaises(LinkDetached) as e:
                    conn.create_receiver("%s/ConsumerGroups/$Default/Partitions/%s"
                                         % (self.emu.ready["hubName"], partition))
                self.assertEqual(e.exception.link.remote_condition.name,
                                 "amqp:unauthorized-access")
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

"""Attack matrix, authentication rows: every front refuses what Azure IoT Hub refuses, and the
well-behaved clients on the same emulator are unaffected (attack_base.py).

The emulator runs with `tokenClockSkewSeconds: 0`, so a token is expired as soon as its `se`
has passed (the default 300 s grace is a setting, not what is tested here) and a token that
expires while connected can be watched doing so within seconds.
"""
import time
import unittest

from proton import Endpoint
from proton._exceptions import ConnectionException
from proton.utils import LinkDetached

from attack_base import AttackTest, emulator_config
from attack_clients import (CONNACK, WRONG_KEY, connect_packet, publish_packet,
                            username_for)

API = "?api-version=2021-04-12"


class AuthAttacks(AttackTest):
    emulator_config = emulator_config(tokenClockSkewSeconds=0)

    # ---- helpers --------------------------------------------------------------------------

    def mqtt_refused(self, client_id, password, username=None):
        """CONNECT must get CONNACK 5 and the connection must then be closed."""
        with self.hub.mqtt() as m:
            code = m.connect(client_id, username or username_for(self.hub.host, client_id),
                             password)
            self.assertEqual(code, 5)
            self.assertIsNotNone(m.wait_closed(10), "connection left open after CONNACK 5")

    def cbs_refused(self, token, audience=None):
        """CBS put-token answers 401, and the C2D sender link is then refused."""
        conn = self.hub.amqp_bare()
        try:
            self.assertEqual(self.hub.cbs_put_token(conn, token, audience), 401)
            with self.assertRaises(LinkDetached) as ctx:
                conn.create_sender("/messages/devicebound")
            self.assertIn("amqp:unauthorized-access", str(ctx.exception))
        finally:
            conn.close()

    def service_links_refused(self, token, audience=None):
        """CBS put-token of a device token answers 200 (device AMQP: the device's own links),
        but the service's C2D sender link is refused."""
        conn = self.hub.amqp_bare()
        try:
            self.assertEqual(self.hub.cbs_put_token(conn, token, audience), 200)
            with self.assertRaises(LinkDetached) as ctx:
                conn.create_sender("/messages/devicebound")
            self.assertIn("amqp:unauthorized-access", str(ctx.exception))
        finally:
            conn.close()

    def sasl_refused(self, policy, token):
        with self.assertRaises(ConnectionException) as ctx:
            self.hub.amqp_plain(policy, token=token).close()
        self.assertIn("amqp:unauthorized-access", str(ctx.exception))

    def https_refused(self, method, path, token, body=None):
        status, answer = self.hub.https(method, path, body=body, token=token)
        self.assertEqual(status, 401, answer)
        self.assertIn("IotHubUnauthorizedAccess", answer["Message"])

    # ---- rows -----------------------------------------------------------------------------

    def test_wrong_key(self):
        hub = self.hub
        self.mqtt_refused("dev-a", hub.device_token("dev-a", key=WRONG_KEY))
        self.cbs_refused(hub.policy_token("service", key=WRONG_KEY))
        self.sasl_refused("service", hub.policy_token("service", key=WRONG_KEY))
        self.https_refused("GET", "/devices/dev-a" + API,
                           hub.policy_token("registryRead", key=WRONG_KEY))
        self.assert_others_unaffected()

    def test_a_pipelining_client_reads_its_connack_5_not_a_reset(self):
        # CONNECT with a wrong key followed at once by 4 MiB of PUBLISH packets (more than the
        # socket buffers hold): the refusal drains them, so the whole send goes through and
        # the CONNACK arrives, then the end of the stream.
        hub = self.hub
        with hub.mqtt() as m:
            burst = publish_packet("devices/dev-a/messages/events/", b"x" * 60000) * 70
            m.send(connect_packet("dev-a", username_for(hub.host, "dev-a"),
                                  hub.device_token("dev-a", key=WRONG_KEY)) + burst)
            kind, _, body = m.read_packet()
            self.assertEqual((kind, body[1]), (CONNACK, 5))  # not authorized
            self.assertIsNotNone(m.wait_closed(10), "connection left open after CONNACK 5")
        self.assert_others_unaffected()

    def test_expired_token(self):
        hub = self.hub
        past = int(time.time()) - 5
        self.mqtt_refused("dev-a", hub.device_token("dev-a", se=past))
        self.cbs_refused(hub.policy_token("service", se=past))
        self.sasl_refused("service", hub.policy_token("service", se=past))
        self.https_refused("GET", "/devices/dev-a" + API, hub.policy_token("registryRead", se=past))
        self.assert_others_unaffected()

    def test_token_expiring_while_connected_closes_the_connection(self):
        hub = self.hub
        with hub.mqtt_device("dev-a", token=hub.device_token("dev-a", ttl=2)) as m:
            self.assertIsNotNone(m.wait_closed(15), "MQTT connection open after its token expired")

        conn = hub.amqp_plain("service", token=hub.policy_token("service", ttl=2))
        sender = conn.create_sender("/messages/devicebound")
        try:
            conn.wait(lambda: sender.link.state & Endpoint.REMOTE_CLOSED or
                      conn.conn.state & Endpoint.REMOTE_CLOSED, timeout=15,
                      msg="the AMQP connection outlived its SASL token")
        except ConnectionException:
            pass  # disconnected by the emulator: the expected end
        finally:
            try:
                conn.close()
            except Exception:
                pass
        self.assert_others_unaffected()

    def test_token_of_device_a_used_by_device_b(self):
        hub = self.hub
        token_a = hub.device_token("dev-a")
        self.mqtt_refused("dev-b", token_a)
        # Client id B with A's user name, and the reverse: the ids must agree with the token.
        self.mqtt_refused("dev-b", token_a, username=username_for(hub.host, "dev-a"))
        self.mqtt_refused("dev-a", token_a, username=username_for(hub.host, "dev-b"))
        self.assert_others_unaffected()

    def test_device_token_on_the_service_endpoint(self):
        hub = self.hub
        token = hub.device_token("dev-a")
        self.service_links_refused(token, audience="%s/devices/dev-a" % hub.host)
        self.service_links_refused(token)
        self.sasl_refused("service", token)
        self.https_refused("GET", "/devices/dev-a" + API, token)
        self.assert_others_unaffected()

    def test_service_token_without_service_connect(self):
        hub = self.hub
        for policy in ["registryRead", "registryReadWrite", "device"]:
            with self.subTest(policy=policy):
                self.cbs_refused(hub.policy_token(policy))
                self.sasl_refused(policy, hub.policy_token(policy))
        self.assert_others_unaffected()

    def test_registry_write_with_registry_read(self):
        hub = self.hub
        for policy in ["registryRead", "service"]:
            with self.subTest(policy=policy):
                token = hub.policy_token(policy)
                self.https_refused("PUT", "/devices/intruder" + API, token,
                                   body={"deviceId": "intruder"})
                self.https_refused("DELETE", "/devices/dev-b" + API, token)
        reader = hub.policy_token("registryRead")
        self.assertEqual(hub.https("GET", "/devices/intruder" + API, token=reader)[0], 404)
        self.assertEqual(hub.https("GET", "/devices/dev-b" + API, token=reader)[0], 200)
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

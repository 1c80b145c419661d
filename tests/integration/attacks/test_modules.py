"""Attack matrix, module rows (issue 16): a module is an identity of its own. Its key opens
neither its device nor another module, a device's key does not open its modules, and a
connection that reaches for the other's topics is closed with nothing stored, while the
canary (attack_base.py) stays unaffected. A module asking for IoT Edge inputs or C2D is
refused the filter, not the connection (a closed connection would make an SDK reconnect and
subscribe again, forever)."""
import base64
import unittest

from attack_base import AttackTest
from attack_clients import publish_packet, sas_token, subscribe_packet, username_for

MODULE = "dev-a/m1"


class ModuleAttacks(AttackTest):
    def setUp(self):
        super().setUp()
        status, body = self.hub.https("PUT", "/devices/dev-a/modules/m1?api-version=2021-04-12",
                                      {"moduleId": "m1"}, token=self.hub.policy_token("iothubowner"))
        self.assertIn(status, (200, 409), body)
        if status == 409:
            status, body = self.hub.https("GET", "/devices/dev-a/modules/m1",
                                          token=self.hub.policy_token("iothubowner"))
            self.assertEqual(status, 200, body)
        self.module_key = body["authentication"]["symmetricKey"]["primaryKey"]

    def module_token(self, sr_path="devices/dev-a/modules/m1", key=None):
        return sas_token("%s/%s" % (self.hub.host, sr_path), key or self.module_key)

    def connack(self, client_id, password):
        with self.hub.mqtt() as m:
            code = m.connect(client_id, username_for(self.hub.host, client_id), password)
            if code != 0:
                self.assertIsNotNone(m.wait_closed(10), "connection left open after CONNACK")
            return code

    def module_connection(self):
        m = self.hub.mqtt()
        self.assertEqual(m.connect(MODULE, username_for(self.hub.host, MODULE),
                                   self.module_token()), 0)
        return m

    def stored(self, marker):
        status, telemetry = self.hub.https("GET", "/admin/telemetry")
        self.assertEqual(status, 200)
        return [t for t in telemetry if t["bodyBase64"] == base64.b64encode(marker).decode()]

    def test_keys_open_only_their_own_identity(self):
        self.assertEqual(self.connack(MODULE, self.module_token()), 0)
        # The module's token for its device, the device's token for its module, and the
        # module's key under the device's resource.
        self.assertEqual(self.connack("dev-a", self.module_token()), 5)
        self.assertEqual(self.connack(MODULE, self.hub.device_token("dev-a")), 5)
        self.assertEqual(self.connack(MODULE, self.module_token("devices/dev-a")), 5)
        # Another device's module id, and a module that does not exist.
        self.assertEqual(self.connack("dev-b/m1", self.module_token("devices/dev-b/modules/m1")), 5)
        self.assertEqual(self.connack("dev-a/m2", self.module_token("devices/dev-a/modules/m2")), 5)
        # A user name naming the device for the module's client id.
        with self.hub.mqtt() as m:
            self.assertEqual(m.connect(MODULE, username_for(self.hub.host, "dev-a"),
                                       self.module_token()), 5)
        self.assert_others_unaffected()

    def test_a_module_publishing_on_its_devices_topic_is_closed_and_nothing_is_stored(self):
        marker = b"module-as-device"
        for topic in ["devices/dev-a/messages/events/", "devices/dev-a/modules/m2/messages/events/",
                      "devices/dev-b/modules/m1/messages/events/"]:
            with self.subTest(topic=topic):
                with self.module_connection() as m:
                    m.send(publish_packet(topic, marker, 1, 1))
                    self.assertIsNotNone(m.wait_closed(10), "connection left open")
        self.assertEqual(self.stored(marker), [], "spoofed telemetry was stored")
        self.assert_others_unaffected()

    def test_a_device_publishing_on_its_modules_topic_is_closed_and_nothing_is_stored(self):
        marker = b"device-as-module"
        with self.hub.mqtt_device("dev-a") as m:
            m.send(publish_packet("devices/dev-a/modules/m1/messages/events/", marker, 1, 1))
            self.assertIsNotNone(m.wait_closed(10), "connection left open")
        self.assertEqual(self.stored(marker), [], "spoofed telemetry was stored")
        self.assert_others_unaffected()

    def test_a_module_reaching_for_its_devices_c2d_is_closed_and_the_queue_untouched(self):
        seq = self.hub.enqueue("dev-a", "for-dev-a-only")
        with self.module_connection() as m:
            m.send(subscribe_packet(1, "devices/dev-a/messages/devicebound/#"))
            self.assertIsNotNone(m.wait_closed(10), "connection left open")
        queue = self.hub.queue("dev-a")
        self.assertEqual([(q["seq"], q["state"], q["deliveryCount"]) for q in queue],
                         [(seq, "Enqueued", 0)], "dev-a's message was touched")
        self.assert_others_unaffected()

    def test_a_modules_inputs_filter_is_refused_and_its_connection_keeps_working(self):
        marker = b"module-telemetry"
        with self.module_connection() as m:
            self.assertEqual(m.subscribe("devices/dev-a/modules/m1/inputs/#"), [0x80])
            self.assertEqual(m.subscribe("devices/dev-a/modules/m1/messages/devicebound/#"),
                             [0x80])
            # Acknowledged after the refused filters: the connection stayed open.
            m.publish("devices/dev-a/modules/m1/messages/events/", marker, 1)
        [event] = self.stored(marker)
        self.assertEqual(event["deviceId"], "dev-a")
        self.assertEqual(event["moduleId"], "m1")
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

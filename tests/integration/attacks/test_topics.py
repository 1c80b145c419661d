"""Attack matrix: a device reaching for another device's topics (spec §3.4: the hub terminates
the connection where AMQP would answer an error). The other device's messages stay untouched,
and the well-behaved clients are unaffected (attack_base.py)."""
import base64
import unittest

from attack_base import AttackTest
from attack_clients import mqtt_packet, mqtt_str, publish_packet, subscribe_packet


class TopicAttacks(AttackTest):
    def closed_after(self, packet, device="dev-a"):
        with self.hub.mqtt_device(device) as m:
            m.send(packet)
            self.assertIsNotNone(m.wait_closed(10), "connection left open")

    def test_subscribe_to_another_devices_c2d_topic(self):
        seq = self.hub.enqueue("dev-b", "for-b-only")
        for topic in ["devices/dev-b/messages/devicebound/#", "devices/+/messages/devicebound/#",
                      "#", "devices/dev-b/#"]:
            with self.subTest(topic=topic):
                self.closed_after(subscribe_packet(1, topic))
        queue = self.hub.queue("dev-b")
        self.assertEqual([(m["seq"], m["state"], m["deliveryCount"]) for m in queue],
                         [(seq, "Enqueued", 0)], "dev-b's message was touched")
        self.assert_others_unaffected()

    def test_unsubscribe_from_another_devices_topic(self):
        body = b"\x00\x01" + mqtt_str("devices/dev-b/messages/devicebound/#")
        self.closed_after(mqtt_packet(0xA2, body))
        self.assert_others_unaffected()

    def test_publish_on_another_devices_telemetry_topic(self):
        marker = b"spoofed-by-dev-a"
        for qos in (0, 1):
            with self.subTest(qos=qos):
                self.closed_after(publish_packet("devices/dev-b/messages/events/", marker, qos))
        status, telemetry = self.hub.https("GET", "/admin/telemetry")
        self.assertEqual(status, 200)
        self.assertEqual([t for t in telemetry if t["bodyBase64"] == base64.b64encode(marker).decode()],
                         [], "spoofed telemetry was stored")
        self.assert_others_unaffected()


if __name__ == "__main__":
    unittest.main()

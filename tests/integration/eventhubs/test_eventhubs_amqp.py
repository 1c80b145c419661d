"""The Event Hubs-compatible endpoint at the AMQP level (issue 14, next-capabilities §1).

The official @azure/event-hubs client is tested in tests/node/eventhubs; this file checks with
python3-qpid-proton what that client does not show: link credit (a reader without credit gets
nothing, and exactly its credit when it grants some), the selector filter spellings of the
other clients (the C SDK's symbol descriptor and unquoted `x-opt-enqueuedtimeutc`, the ulong
descriptor, bad filters), the AMQP types of the event annotations and of the $management
answers, epochs (amqp:link:stolen), CBS with the Event Hubs text-key signature, and the
amqp:link:redirect of the IoT Hub path `/messages/events`.

Telemetry is sent by a raw MQTT client (tests/support/attack_clients.py).
"""
import base64
import hashlib
import hmac
import os
import time
import unittest
import urllib.parse
import uuid

from proton import Described, Message, Timeout, symbol, ulong
from proton.reactor import Filter, LinkOption, Selector
from proton.utils import BlockingConnection, LinkDetached

from attack_clients import Hub
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
DEVICE = "eh-dev"
DEVICE_KEY = base64.b64encode(b"k" * 32).decode()


def text_key_token(sr, key, skn, ttl=3600):
    """A SAS token signed as the Event Hubs clients sign: the key's text is the HMAC key."""
    se = int(time.time()) + ttl
    encoded = urllib.parse.quote(sr, safe="")
    digest = hmac.new(key.encode(), (encoded + "\n" + str(se)).encode(), hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    return "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s" % (encoded, sig, se, skn)


class Epoch(LinkOption):
    def __init__(self, epoch):
        self.epoch = epoch

    def apply(self, link):
        link.properties = {symbol("com.microsoft:epoch"): self.epoch}


class UlongSelector(Filter):
    """The selector filter as @azure/event-hubs sends it: ulong descriptor."""

    def __init__(self, expression):
        super().__init__({symbol("apache.org:selector-filter:string"):
                          Described(ulong(0x0000468C00000004), expression)})


class EventHubsEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(BINARY, args=["--test-control"], config={
            "devices": [{"deviceId": DEVICE, "primaryKey": DEVICE_KEY,
                         "secondaryKey": base64.b64encode(b"s" * 32).decode()}],
            "eventHubs": {"partitionCount": 2, "consumerGroups": ["second"]}})
        cls.emu.start()
        cls.hub = Hub(cls.emu.ready)
        cls.name = cls.emu.ready["hubName"]
        cls.key = cls.hub.policy_keys["service"]
        cls.sent = 0
        cls.device = cls.hub.mqtt_device(DEVICE)

    @classmethod
    def tearDownClass(cls):
        cls.device.close()
        code = cls.emu.terminate()
        cls.emu.cleanup()
        assert code == 0, code

    # ---- helpers ---------------------------------------------------------------------------
    def send(self, n=1, **props):
        """Publishes n telemetry messages (QoS 1, PUBACK awaited); returns their message ids."""
        ids = []
        for _ in range(n):
            type(self).sent += 1
            mid = "m%d" % self.sent
            bag = "&".join(["$.mid=" + mid] + ["%s=%s" % kv for kv in props.items()])
            self.device.publish("devices/%s/messages/events/%s" % (DEVICE, bag),
                                ("body-%s" % mid).encode())
            ids.append(mid)
        return ids

    def connection(self):
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  timeout=15, allowed_mechs="ANONYMOUS")
        self.addCleanup(conn.close)
        audience = "sb://%s/%s" % (self.hub.host, self.name)
        self.assertEqual(self.hub.cbs_put_token(
            conn, text_key_token(audience, self.key, "service"), audience), 200)
        return conn

    def partition_of_device(self):
        """The partition the device's events go to (from $management: the one that grew)."""
        conn = self.connection()
        before = [self.read_partition(conn, p)["last_enqueued_sequence_number"] for p in "01"]
        self.send()
        after = [self.read_partition(conn, p)["last_enqueued_sequence_number"] for p in "01"]
        grown = [p for p, (a, b) in zip("01", zip(before, after)) if b > a]
        self.assertEqual(len(grown), 1, (before, after))
        return grown[0]

    def management(self, conn, **props):
        reply_to = "mgmt-" + uuid.uuid4().hex
        snd = conn.create_sender("$management")
        rcv = conn.create_receiver("$management", name=reply_to)
        snd.send(Message(id=str(uuid.uuid4()), reply_to=reply_to, body="[]",
                         properties=dict(operation="READ", name=self.name, **props)))
        reply = rcv.receive(timeout=15)
        rcv.accept()
        snd.close()
        rcv.close()
        return reply

    def read_partition(self, conn, partition):
        reply = self.management(conn, type="com.microsoft:partition", partition=partition)
        self.assertEqual(reply.properties["status-code"], 200, reply.properties)
        return reply.body

    def address(self, partition, group="$Default"):
        return "%s/ConsumerGroups/%s/Partitions/%s" % (self.name, group, partition)

    @staticmethod
    def remote_condition(conn, link, timeout=15):
        """Waits until the emulator closed `link`; its remote condition."""
        try:
            conn.wait(lambda: link.remote_condition is not None, timeout=timeout)
        except LinkDetached:
            pass  # BlockingConnection raises for a link the peer closed: that is the point
        return link.remote_condition

    def refused_attach(self, conn, address, **options):
        """Attaches a receiver the emulator closes (at once, or after asking the hub); the
        condition it closed the link with."""
        try:
            rcv = conn.create_receiver(address, credit=0, **options)
        except LinkDetached as e:
            return e.link.remote_condition
        return self.remote_condition(conn, rcv.link)

    @staticmethod
    def refusal(e):
        """The remote condition of a LinkDetached."""
        return e.exception.link.remote_condition

    def pump(self, conn, seconds):
        """Lets the connection process I/O for `seconds`."""
        try:
            conn.wait(lambda: False, timeout=seconds)
        except Timeout:
            pass

    # ---- tests -----------------------------------------------------------------------------
    def test_management_answers_are_amqp_value_maps_with_the_types_the_clients_read(self):
        conn = self.connection()
        reply = self.management(conn, type="com.microsoft:eventhub")
        self.assertEqual(reply.correlation_id, reply.correlation_id)
        info = reply.body
        self.assertIsInstance(info, dict)
        # An AMQP array of strings, as Event Hubs sends it (rhea reads a JS array).
        self.assertEqual(list(info["partition_ids"].elements), ["0", "1"])
        self.assertEqual(info["name"], self.name)
        self.assertEqual(type(info["created_at"]).__name__, "timestamp")
        self.send()
        p = self.read_partition(conn, self.partition_of_device())
        self.assertIsInstance(p["last_enqueued_offset"], str)
        self.assertEqual(type(p["last_enqueued_sequence_number"]).__name__, "int")
        self.assertEqual(type(p["last_enqueued_time_utc"]).__name__, "timestamp")
        self.assertIs(p["is_partition_empty"], False)
        bad = self.management(conn, type="com.microsoft:partition", partition="2")
        self.assertEqual(bad.properties["status-code"], 404)
        self.assertIn("does not exist", bad.properties["status-description"])
        other = self.management(conn, type="com.microsoft:nothing")
        self.assertEqual(other.properties["status-code"], 400)

    def test_events_carry_their_annotations_with_the_right_amqp_types(self):
        partition = self.partition_of_device()
        conn = self.connection()
        info = self.read_partition(conn, partition)
        last = info["last_enqueued_sequence_number"]
        (mid,) = self.send(colour="blue")
        rcv = conn.create_receiver(self.address(partition),
                                   options=UlongSelector("amqp.annotation.x-opt-sequence-number > '%d'" % last))
        m = rcv.receive(timeout=15)  # events come pre-settled: nothing to accept
        a = m.annotations
        self.assertEqual(m.id, mid)
        self.assertEqual(m.body, ("body-" + mid).encode())
        self.assertEqual(m.properties, {"colour": "blue"})
        self.assertEqual(a["x-opt-sequence-number"], last + 1)
        self.assertIsInstance(a["x-opt-offset"], str)
        self.assertEqual(type(a["x-opt-enqueued-time"]).__name__, "timestamp")
        self.assertEqual(type(a["iothub-enqueuedtime"]).__name__, "timestamp")
        self.assertEqual(a["iothub-connection-device-id"], DEVICE)
        self.assertEqual(a["iothub-message-source"], "Telemetry")

    def test_a_reader_gets_nothing_without_credit_and_exactly_its_credit_with_it(self):
        partition = self.partition_of_device()
        conn = self.connection()
        start = self.read_partition(conn, partition)["last_enqueued_sequence_number"]
        self.send(5)
        rcv = conn.create_receiver(
            self.address(partition), credit=0,
            options=Selector("amqp.annotation.x-opt-sequence-number > '%d'" % start))
        got = rcv.fetcher.incoming  # what has arrived (pre-settled, not yet taken)
        self.pump(conn, 1.0)
        self.assertEqual(len(got), 0, "no credit, no events")
        rcv.link.flow(2)
        conn.wait(lambda: len(got) >= 2, timeout=15)
        self.pump(conn, 0.5)
        self.assertEqual(len(got), 2, "exactly the credit granted")
        rcv.link.flow(10)
        conn.wait(lambda: len(got) >= 5, timeout=15)
        self.pump(conn, 0.5)
        self.assertEqual(len(got), 5, "the rest, and no more than there is")

    def test_the_c_sdk_filter_and_every_start_position(self):
        partition = self.partition_of_device()
        conn = self.connection()
        first_new = self.read_partition(conn, partition)["last_enqueued_sequence_number"] + 1
        ids = self.send(3)

        def read(selector, n):
            rcv = conn.create_receiver(self.address(partition), options=selector)
            got = []
            for _ in range(n):
                got.append(rcv.receive(timeout=15))
            rcv.close()
            return got

        by_seq = read(Selector("amqp.annotation.x-opt-sequence-number >= '%d'" % first_new), 3)
        self.assertEqual([m.id for m in by_seq], ids)
        offset = by_seq[1].annotations["x-opt-offset"]
        by_offset = read(Selector("amqp.annotation.x-opt-offset >= '%s'" % offset), 2)
        self.assertEqual([m.id for m in by_offset], ids[1:])
        t = by_seq[2].annotations["x-opt-enqueued-time"]
        # The C SDK's spelling: another annotation name and an unquoted value.
        by_time = read(Selector("amqp.annotation.x-opt-enqueuedtimeutc > %d" % (int(t) - 1)), 1)
        # The first event enqueued in that millisecond (the three may share it).
        first_at_t = next(m for m in by_seq if int(m.annotations["x-opt-enqueued-time"]) == int(t))
        self.assertEqual(by_time[0].id, first_at_t.id)
        earliest = read(Selector("amqp.annotation.x-opt-offset > '-1'"), 1)
        self.assertEqual(earliest[0].annotations["x-opt-sequence-number"],
                         self.read_partition(conn, partition)["begin_sequence_number"])

    def test_bad_filters_groups_and_partitions_are_refused(self):
        conn = self.connection()
        with self.assertRaises(LinkDetached) as e:
            conn.create_receiver(self.address("0"), options=Selector("amqp.annotation.x-opt-foo > '1'"))
        self.assertEqual(self.refusal(e).name, "amqp:invalid-field")
        self.assertIn("x-opt-foo", self.refusal(e).description)
        conn = self.connection()
        for address, text in ((self.address("0", "nosuch"), "consumer group 'nosuch'"),
                              (self.address("5"), "partition '5'")):
            c = self.refused_attach(conn, address)
            self.assertEqual(c.name, "amqp:not-found")
            self.assertIn(text, c.description)
        # The configured second group is there, case-insensitively.
        rcv = conn.create_receiver(self.address("0", "SECOND"), credit=0)
        self.pump(conn, 0.5)
        self.assertIsNone(rcv.link.remote_condition)

    def test_a_higher_epoch_takes_the_partition_and_a_lower_one_is_refused(self):
        # Two connections, so the first link's closing is only seen when asked for.
        conn1, conn2 = self.connection(), self.connection()
        first = conn1.create_receiver(self.address("1"), name="e1", options=Epoch(1), credit=0)
        second = conn2.create_receiver(self.address("1"), name="e2", options=Epoch(2), credit=0)
        self.assertEqual(self.remote_condition(conn1, first.link).name, "amqp:link:stolen")
        for name, option in (("e0", [Epoch(1)]), ("plain", None)):
            c = self.refused_attach(conn1, self.address("1"), name=name, options=option)
            self.assertEqual(c.name, "amqp:link:stolen")
        self.pump(conn2, 0.5)
        self.assertIsNone(second.link.remote_condition, "the highest epoch keeps reading")

    def test_cbs_accepts_the_text_key_and_the_decoded_key_and_refuses_a_wrong_one(self):
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  timeout=15, allowed_mechs="ANONYMOUS")
        self.addCleanup(conn.close)
        audience = "sb://%s/%s/$management" % (self.hub.host, self.name)
        wrong = base64.b64encode(b"w" * 32).decode()
        self.assertEqual(self.hub.cbs_put_token(conn, text_key_token(audience, wrong, "service"),
                                                audience), 401)
        self.assertEqual(self.hub.cbs_put_token(
            conn, self.hub.policy_token("service", sr=audience), audience), 200)
        self.assertEqual(self.hub.cbs_put_token(
            conn, text_key_token(audience, self.key, "service"), audience), 200)

    def test_sasl_plain_with_the_policy_name_and_key_as_the_c_sdk_e2e_reader(self):
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  timeout=15, allowed_mechs="PLAIN", user="service",
                                  password=self.key)
        self.addCleanup(conn.close)
        rcv = conn.create_receiver(self.address("0"), credit=0)
        self.pump(conn, 0.3)
        self.assertIsNone(rcv.link.remote_condition)
        from proton import ConnectionException
        with self.assertRaises(ConnectionException):
            BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                               timeout=15, allowed_mechs="PLAIN", user="service",
                               password=base64.b64encode(b"w" * 32).decode())

    def test_unauthorised_readers_are_refused(self):
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  timeout=15, allowed_mechs="ANONYMOUS")
        self.addCleanup(conn.close)
        with self.assertRaises(LinkDetached) as e:
            conn.create_receiver(self.address("0"))
        self.assertEqual(self.refusal(e).name, "amqp:unauthorized-access")

    def test_the_iothub_path_redirects_to_the_event_hubs_endpoint(self):
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  timeout=15, allowed_mechs="ANONYMOUS")
        self.addCleanup(conn.close)
        audience = "sb://%s/messages/events/$management" % self.hub.host
        # @azure/event-hubs 1.x signs this one with the decoded key (IotSasTokenProvider).
        self.assertEqual(self.hub.cbs_put_token(
            conn, self.hub.policy_token("iothubowner", sr=audience), audience), 200)
        with self.assertRaises(LinkDetached) as e:
            conn.create_sender("/messages/events/$management")
        c = self.refusal(e)
        self.assertEqual(c.name, "amqp:link:redirect")
        self.assertEqual(c.info["hostname"], self.hub.host)
        self.assertEqual(c.info["port"], self.hub.ports["amqp"])
        self.assertEqual(c.info["address"], "amqps://%s:%d/%s/$management" % (
            self.hub.host, self.hub.ports["amqp"], self.name))


if __name__ == "__main__":
    unittest.main()


class AcknowledgedTelemetrySurvivesKill(unittest.TestCase):
    """Every telemetry message the device got a PUBACK for is in the log after `kill -9`, with
    its sequence number, and numbering goes on after it."""

    def test_kill_9_loses_no_acknowledged_event(self):
        config = {"devices": [{"deviceId": DEVICE, "primaryKey": DEVICE_KEY}],
                  "eventHubs": {"partitionCount": 1}}
        emu = Emulator(BINARY, config=config)
        self.addCleanup(emu.cleanup)
        emu.start()
        hub = Hub(emu.ready)
        device = hub.mqtt_device(DEVICE)
        for i in range(200):  # publish() waits for each PUBACK
            device.publish("devices/%s/messages/events/$.mid=k%d" % (DEVICE, i), b"x%d" % i)
        emu.kill()
        device.close()

        again = Emulator(BINARY, config=config, data_dir=emu.data_dir)
        self.addCleanup(again.cleanup)
        again.start()
        self.addCleanup(again.kill)
        hub = Hub(again.ready)
        conn = BlockingConnection(hub.amqp_url, ssl_domain=hub.amqp_ssl_domain(), timeout=15,
                                  allowed_mechs="ANONYMOUS")
        self.addCleanup(conn.close)
        name = again.ready["hubName"]
        audience = "sb://%s/%s" % (hub.host, name)
        self.assertEqual(hub.cbs_put_token(conn, text_key_token(
            audience, hub.policy_keys["service"], "service"), audience), 200)
        rcv = conn.create_receiver("%s/ConsumerGroups/$Default/Partitions/0" % name,
                                   options=Selector("amqp.annotation.x-opt-offset > '-1'"))
        got = [rcv.receive(timeout=15) for _ in range(200)]
        self.assertEqual([m.id for m in got], ["k%d" % i for i in range(200)])
        self.assertEqual([m.annotations["x-opt-sequence-number"] for m in got], list(range(200)))
        device = hub.mqtt_device(DEVICE)
        self.addCleanup(device.close)
        device.publish("devices/%s/messages/events/$.mid=after" % DEVICE, b"after")
        m = rcv.receive(timeout=15)
        self.assertEqual((m.id, m.annotations["x-opt-sequence-number"]), ("after", 200))

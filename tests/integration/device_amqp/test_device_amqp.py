"""Device AMQP at the link level (issue 15 item 1, next-capabilities §4) with
python3-qpid-proton: what the official Node SDK (tests/node/device-amqp) does not show.

- A device's CBS put-token admits exactly that device's telemetry link: another device's link,
  the service's C2D node and the feedback node are refused with amqp:unauthorized-access, and a
  service token does not open a device's link.
- Several devices share one connection (the C SDK multiplexes), each with its own token.
- Telemetry is accepted only once stored; a message with a list property value or an
  amqp-value body is rejected with the condition that names the problem, and not stored.
- C2D on the device's receiver link: settled by its disposition (accepted = complete,
  rejected = reject, released = abandon), with the feedback and queue state that follow.
- Twin and method links (next-capabilities §2.5, §3.3) with the value types the C SDK reads:
  twin answers with an int `status`, a long `version` and the request's correlation-id;
  desired notifications without one, only between PUT and DELETE; method calls with a uuid
  correlation-id and `IoThub-methodname`, answers with `IoThub-status` reaching the caller.
"""
import base64
import json
import os
import threading
import unittest
import uuid

from proton import ConnectionException, Message, int32
from proton.utils import BlockingConnection, LinkDetached, SendException

from attack_clients import Hub
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
KEYS = {d: base64.b64encode((d * 11).encode()[:32]).decode() for d in ("da1", "da2")}


class DeviceAmqp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(BINARY, args=["--test-control"], config={
            "devices": [{"deviceId": d, "primaryKey": key,
                         "secondaryKey": base64.b64encode(b"s" * 32).decode()}
                        for d, key in KEYS.items()]})
        cls.emu.start()
        cls.hub = Hub(cls.emu.ready)

    @classmethod
    def tearDownClass(cls):
        code = cls.emu.terminate()
        cls.emu.cleanup()
        assert code == 0, code

    def connection(self, *devices):
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        for d in devices:
            audience = "%s%%2Fdevices%%2F%s" % (self.hub.host, d)
            self.assertEqual(self.hub.cbs_put_token(conn, self.hub.device_token(d), audience), 200)
        return conn

    def barrier(self, conn, device):
        """A disposition is not answered: a CBS put-token on the same connection is, after a
        hub round that follows the dispositions sent before it (one connection, one hub
        queue). Once it is answered, the settlements are stored."""
        audience = "%s%%2Fdevices%%2F%s" % (self.hub.host, device)
        self.assertEqual(self.hub.cbs_put_token(conn, self.hub.device_token(device), audience), 200)

    def refused(self, conn, address, sender=True):
        with self.assertRaises(LinkDetached) as e:
            if sender:
                conn.create_sender(address)
            else:
                conn.create_receiver(address)
        return e.exception.link.remote_condition

    def stored(self, device):
        status, telemetry = self.hub.https("GET", "/admin/telemetry")
        self.assertEqual(status, 200)
        return [t for t in telemetry if t["deviceId"] == device]

    def test_a_device_token_opens_only_its_own_telemetry_link(self):
        conn = self.connection("da1")
        snd = conn.create_sender("/devices/da1/messages/events")
        snd.send(Message(id="m-1", body=b"hello", inferred=True, properties={"k": "v"}))
        [event] = self.stored("da1")
        self.assertEqual(event["body"], "hello")
        self.assertEqual(event["properties"]["k"], "v")
        self.assertEqual(event["properties"]["iothub-connection-device-id"], "da1")
        for address in ("/devices/da2/messages/events", "/messages/devicebound"):
            c = self.refused(conn, address)
            self.assertEqual(c.name, "amqp:unauthorized-access", address)
        c = self.refused(conn, "/messages/serviceBound/feedback", sender=False)
        self.assertEqual(c.name, "amqp:unauthorized-access")

    def test_a_policy_with_device_connect_opens_the_device_named_by_the_audience(self):
        # iothubowner has ServiceConnect and DeviceConnect; the audience names the device.
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        audience = "%s%%2Fdevices%%2Fda1" % self.hub.host
        self.assertEqual(self.hub.cbs_put_token(conn, self.hub.policy_token("iothubowner"),
                                                audience), 200)
        before = len(self.stored("da1"))
        conn.create_sender("/devices/da1/messages/events").send(
            Message(body=b"by policy", inferred=True))
        events = self.stored("da1")
        self.assertEqual(len(events), before + 1)
        self.assertIn('"scope":"hub"', events[-1]["properties"]["iothub-connection-auth-method"])
        c = self.refused(conn, "/devices/da2/messages/events")
        self.assertEqual(c.name, "amqp:unauthorized-access")

    def test_a_service_token_does_not_open_a_device_link(self):
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        self.assertEqual(self.hub.cbs_put_token(conn, self.hub.policy_token("service")), 200)
        c = self.refused(conn, "/devices/da1/messages/events")
        self.assertEqual(c.name, "amqp:unauthorized-access")

    def test_a_wrong_key_is_401_and_opens_nothing(self):
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        bad = self.hub.device_token("da1", key=base64.b64encode(b"w" * 32).decode())
        self.assertEqual(self.hub.cbs_put_token(conn, bad), 401)
        c = self.refused(conn, "/devices/da1/messages/events")
        self.assertEqual(c.name, "amqp:unauthorized-access")

    def test_legacy_sasl_plain_as_a_device(self):
        # {deviceId}@sas.{hubName} with the device's SAS token as password (the legacy device
        # clients): that device's links open without a CBS put-token; a wrong key fails SASL.
        hub_name = self.hub.ready["hubName"]
        conn = BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                                  allowed_mechs="PLAIN", user="da1@sas." + hub_name,
                                  password=self.hub.device_token("da1"), timeout=15)
        self.addCleanup(conn.close)
        before = len(self.stored("da1"))
        conn.create_sender("/devices/da1/messages/events").send(
            Message(body=b"via sasl plain", inferred=True))
        self.assertEqual(len(self.stored("da1")), before + 1)
        c = self.refused(conn, "/devices/da2/messages/events")
        self.assertEqual(c.name, "amqp:unauthorized-access")
        wrong = base64.b64encode(b"w" * 32).decode()
        with self.assertRaises(ConnectionException):
            BlockingConnection(self.hub.amqp_url, ssl_domain=self.hub.amqp_ssl_domain(),
                               allowed_mechs="PLAIN", user="da1@sas." + hub_name,
                               password=self.hub.device_token("da1", key=wrong), timeout=15)

    def test_two_devices_share_one_connection(self):
        conn = self.connection("da1", "da2")
        before = {d: len(self.stored(d)) for d in KEYS}
        for d in KEYS:
            conn.create_sender("amqps://%s/devices/%s/messages/events" % (self.hub.host, d)).send(
                Message(body=("from " + d).encode(), inferred=True))
        for d in KEYS:
            events = self.stored(d)
            self.assertEqual(len(events), before[d] + 1)
            self.assertEqual(events[-1]["body"], "from " + d)

    def test_bad_messages_are_rejected_and_not_stored(self):
        conn = self.connection("da2")
        snd = conn.create_sender("/devices/da2/messages/events")
        before = len(self.stored("da2"))
        with self.assertRaises(SendException) as e:
            snd.send(Message(body=b"x", inferred=True, properties={"list": [1, 2]}))
        self.assertEqual(e.exception.state.name, "REJECTED")
        with self.assertRaises(SendException):
            snd.send(Message(body={"a": 1}))  # an amqp-value body
        self.assertEqual(len(self.stored("da2")), before)

    def test_c2d_dispositions_settle_on_the_hub(self):
        conn = self.connection("da2")
        rcv = conn.create_receiver("/devices/da2/messages/devicebound", credit=10)
        for mid, outcome in (("c-acc", "accept"), ("c-rej", "reject"), ("c-rel", "release")):
            status, _ = self.hub.https("POST", "/admin/devices/da2/messages",
                                       {"messageId": mid, "ack": "full", "body": mid})
            self.assertEqual(status, 201)
            msg = rcv.receive(timeout=15)
            self.assertEqual(msg.id, mid)
            self.assertEqual(msg.properties["iothub-ack"], "full")
            self.assertEqual(msg.address, "/devices/da2/messages/devicebound")
            getattr(rcv, outcome)()
            if outcome == "release":
                again = rcv.receive(timeout=15)  # abandoned: delivered again, counted
                self.assertEqual(again.id, mid)
                status, queue = self.hub.https("GET", "/admin/devices/da2/messages")
                self.assertEqual(queue[0]["deliveryCount"], 1)
                rcv.accept()
        self.barrier(conn, "da2")
        status, fb = self.hub.https("GET", "/admin/feedback")
        records = fb["pending"] + [r for b in fb["batches"] for r in b["records"]]
        outcomes = {r["originalMessageId"]: r["statusCode"] for r in records}
        self.assertEqual(outcomes.get("c-acc"), "Success")
        self.assertEqual(outcomes.get("c-rej"), "Rejected")
        self.assertEqual(outcomes.get("c-rel"), "Success")
        status, queue = self.hub.https("GET", "/admin/devices/da2/messages")
        self.assertEqual(queue, [])

    def test_an_expired_device_token_ends_only_that_devices_links(self):
        # Moves the hub's clock by 400 s: the other tests' one-hour tokens stay valid.
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        for d, ttl in (("da1", 60), ("da2", 86400)):
            audience = "%s%%2Fdevices%%2F%s" % (self.hub.host, d)
            self.assertEqual(self.hub.cbs_put_token(conn, self.hub.device_token(d, ttl=ttl),
                                                    audience), 200)
        short = conn.create_sender("/devices/da1/messages/events")
        long = conn.create_sender("/devices/da2/messages/events")
        # Past da1's se + the 5-minute skew, well before da2's.
        status, _ = self.hub.https("POST", "/admin/clock/advance", {"seconds": 400})
        self.assertEqual(status, 200)
        self.assertEqual(self.remote_condition(conn, short.link).name, "amqp:unauthorized-access")
        before = len(self.stored("da2"))
        long.send(Message(body=b"still here", inferred=True))
        self.assertEqual(len(self.stored("da2")), before + 1)

    @staticmethod
    def remote_condition(conn, link, timeout=15):
        try:
            conn.wait(lambda: link.remote_condition is not None, timeout=timeout)
        except LinkDetached:
            pass
        return link.remote_condition

    def test_a_rekeyed_devices_telemetry_link_is_closed_by_its_next_message(self):
        # A telemetry-only link holds no hub session, so the hub cannot end it when the
        # device's keys change; its next message finds the token no longer holds.
        owner = self.hub.policy_token("iothubowner")
        path = "/devices/rekeyed?api-version=2021-04-12"

        def keys(fill):
            return {"primaryKey": base64.b64encode(fill * 32).decode(),
                    "secondaryKey": base64.b64encode(fill.upper() * 32).decode()}

        status, created = self.hub.https("PUT", path, {
            "deviceId": "rekeyed", "authentication": {"type": "sas", "symmetricKey": keys(b"k")}},
            token=owner)
        self.assertEqual(status, 200, created)
        conn = self.hub.amqp_bare()
        self.addCleanup(conn.close)
        audience = "%s%%2Fdevices%%2Frekeyed" % self.hub.host
        old_key = keys(b"k")["primaryKey"]
        self.assertEqual(self.hub.cbs_put_token(
            conn, self.hub.device_token("rekeyed", key=old_key), audience), 200)
        snd = conn.create_sender("/devices/rekeyed/messages/events")
        snd.send(Message(body=b"before", inferred=True))
        status, updated = self.hub.https("PUT", path, {
            "deviceId": "rekeyed", "etag": created["etag"],
            "authentication": {"type": "sas", "symmetricKey": keys(b"n")}},
            token=owner, headers={"If-Match": '"%s"' % created["etag"]})
        self.assertEqual(status, 200, updated)
        with self.assertRaises((SendException, LinkDetached)):
            snd.send(Message(body=b"after", inferred=True))
        self.assertEqual(self.remote_condition(conn, snd.link).name, "amqp:unauthorized-access")
        self.assertEqual([t["body"] for t in self.stored("rekeyed")], ["before"])

    # Twin answers, notifications and method calls come settled (the SDKs' receivers accept
    # everything): nothing to accept.
    def twin_pair(self, conn, device):
        snd = conn.create_sender("/devices/%s/twin" % device)
        rcv = conn.create_receiver("/devices/%s/twin" % device, credit=10)
        return snd, rcv

    def test_twin_answers_carry_the_types_the_c_sdk_reads(self):
        # next-capabilities §2.5: status an AMQP int, version an AMQP long, the request's
        # correlation-id echoed with its type, bodies in a data section.
        conn = self.connection("da1")
        snd, rcv = self.twin_pair(conn, "da1")
        snd.send(Message(correlation_id="get-1", annotations={"operation": "GET"}, body=b" ",
                         inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual(r.correlation_id, "get-1")
        self.assertIsInstance(r.annotations["status"], int32)
        self.assertEqual(r.annotations["status"], 200)
        self.assertIsInstance(r.body, bytes, "a data section")
        twin = json.loads(r.body)
        self.assertIn("$version", twin["desired"])
        reported_before = twin["reported"]["$version"]

        cid = uuid.uuid4()
        snd.send(Message(correlation_id=cid,
                         annotations={"operation": "PATCH", "resource": "/properties/reported"},
                         body=json.dumps({"fw": "1.0"}).encode(), inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual(r.correlation_id, cid)
        self.assertEqual(r.annotations["status"], 204)
        self.assertIs(type(r.annotations["version"]), int, "an AMQP long")
        self.assertEqual(r.annotations["version"], reported_before + 1)
        status, t = self.hub.https("GET", "/twins/da1?api-version=2021-04-12",
                                   token=self.hub.policy_token("iothubowner"))
        self.assertEqual(status, 200)
        self.assertEqual(t["properties"]["reported"]["fw"], "1.0")

        # Not a request the hub knows: 400 with IoT Hub's error JSON, the link stays.
        snd.send(Message(correlation_id="bad-1", annotations={"operation": "POST"}, body=b" ",
                         inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual(r.annotations["status"], 400)
        self.assertEqual(json.loads(r.body)["errorCode"], 400004)
        # A PATCH whose body is not a JSON object: 400, nothing written.
        snd.send(Message(correlation_id="bad-2",
                         annotations={"operation": "PATCH", "resource": "/properties/reported"},
                         body=b"[1]", inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual(r.annotations["status"], 400)
        # No correlation-id: no answer could be matched, so the message is rejected.
        with self.assertRaises(SendException) as e:
            snd.send(Message(annotations={"operation": "GET"}, body=b" ", inferred=True))
        self.assertEqual(e.exception.state.name, "REJECTED")

    def test_desired_notifications_follow_put_and_stop_after_delete(self):
        conn = self.connection("da2")
        snd, rcv = self.twin_pair(conn, "da2")
        resource = "/notifications/twin/properties/desired"
        snd.send(Message(correlation_id="sub", annotations={"operation": "PUT", "resource": resource},
                         body=b" ", inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual((r.correlation_id, r.annotations["status"]), ("sub", 204))
        owner = self.hub.policy_token("iothubowner")
        status, t = self.hub.https("PATCH", "/twins/da2?api-version=2021-04-12",
                                   {"properties": {"desired": {"rate": 3}}}, token=owner)
        self.assertEqual(status, 200)
        n = rcv.receive(timeout=15)
        self.assertIsNone(n.correlation_id, "a notification is not a response")
        patch = json.loads(n.body)
        self.assertEqual(patch["rate"], 3)
        self.assertEqual(patch["$version"], t["properties"]["desired"]["$version"])
        self.assertIs(type(n.annotations["version"]), int)

        snd.send(Message(correlation_id="unsub",
                         annotations={"operation": "DELETE", "resource": resource},
                         body=b" ", inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual((r.correlation_id, r.annotations["status"]), ("unsub", 204))
        status, _ = self.hub.https("PATCH", "/twins/da2?api-version=2021-04-12",
                                   {"properties": {"desired": {"rate": 4}}}, token=owner)
        self.assertEqual(status, 200)
        # The next message on the link is the answer to this GET, not a notification.
        snd.send(Message(correlation_id="get", annotations={"operation": "GET"}, body=b" ",
                         inferred=True))
        r = rcv.receive(timeout=15)
        self.assertEqual(r.correlation_id, "get")
        self.assertEqual(json.loads(r.body)["desired"]["rate"], 4)

    def test_a_method_call_is_a_uuid_correlated_message_and_the_answer_reaches_the_caller(self):
        conn = self.connection("da1")
        answers = conn.create_sender("/devices/da1/methods/devicebound")
        calls = conn.create_receiver("/devices/da1/methods/devicebound", credit=10)
        result = {}

        def invoke():
            result["call"] = self.hub.https(
                "POST", "/twins/da1/methods?api-version=2021-04-12",
                {"methodName": "reboot", "payload": {"delay": 2}, "responseTimeoutInSeconds": 10,
                 "connectTimeoutInSeconds": 10},
                token=self.hub.policy_token("service"), timeout=30)

        caller = threading.Thread(target=invoke)
        caller.start()
        self.addCleanup(caller.join)
        call = calls.receive(timeout=15)
        self.assertEqual(call.properties["IoThub-methodname"], "reboot")
        self.assertIsInstance(call.correlation_id, uuid.UUID, "the C SDK reads a uuid")
        self.assertEqual(json.loads(call.body), {"delay": 2})
        # An answer without IoThub-status is no answer: rejected.
        with self.assertRaises(SendException):
            answers.send(Message(correlation_id=call.correlation_id, body=b"{}", inferred=True))
        answers.send(Message(correlation_id=call.correlation_id,
                             properties={"IoThub-status": int32(201)},
                             body=json.dumps({"ok": True}).encode(), inferred=True))
        caller.join(timeout=30)
        self.assertEqual(result["call"], (200, {"status": 201, "payload": {"ok": True}}))

    def test_another_devices_twin_and_method_links_are_refused(self):
        conn = self.connection("da1")
        for address, sender in (("/devices/da2/twin", True), ("/devices/da2/twin", False),
                                ("/devices/da2/methods/devicebound", False)):
            c = self.refused(conn, address, sender=sender)
            self.assertEqual(c.name, "amqp:unauthorized-access", address)

if __name__ == "__main__":
    unittest.main()

"""The AMQP service endpoint (issue 4) with python3-qpid-proton and raw frames: what the Node SDK
does not cover. SASL PLAIN with the legacy C client's user name, ANONYMOUS and MSSBCBS, CBS reply
types, refused attaches, malformed messages and frames, expiry, feedback settlement, idle
time-out. Every test uses the real amqp_server over real TLS on 127.0.0.1 (harness.py)."""
import socket
import ssl
import time
import unittest
import uuid

from proton import (Condition, Delivery, Described, Endpoint, Link, Message, symbol, timestamp,
                    uint, ulong)
from proton.reactor import LinkOption
from proton.utils import BlockingConnection, ConnectionClosed, LinkDetached, SendException
from proton._exceptions import ConnectionException

from proton import Data

from harness import (AMQP_HEADER, SASL_HEADER, FrameReader, Harness, RawClient, encode,
                     error_condition, frame, performative, sections)

C2D = "/messages/devicebound"
FEEDBACK = "/messages/serviceBound/feedback"
CBS_TYPE = "servicebus.windows.net:sastoken"


class Target(LinkOption):
    def __init__(self, address):
        self.address = address

    def apply(self, link):
        link.target.address = self.address


class RcvSecond(LinkOption):
    def apply(self, link):
        link.rcv_settle_mode = Link.RCV_SECOND


def c2d_message(device, body=b"payload", **kw):
    props = kw.pop("properties", {})
    return Message(address="/devices/%s/messages/devicebound" % device, body=body,
                   inferred=True, properties=props, **kw)


class Base(unittest.TestCase):
    harness_args = []

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(cls.harness_args).start()

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def setUp(self):
        self.connections = []

    def tearDown(self):
        for c in self.connections:
            try:
                c.close()
            except Exception:
                pass

    def connect(self, **kw):
        kw.setdefault("sasl_enabled", False)  # the bare AMQP header, as rhea and C# send it
        c = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20, **kw)
        self.connections.append(c)
        return c

    def put_token(self, conn, token, msg_id="req-1", reply_to="cbs", reply_target=None,
                  token_type=CBS_TYPE):
        # Unique link names: Proton's default name is container+address, and a second link with
        # the same name on one connection is (rightly) a protocol error.
        tag = uuid.uuid4().hex
        snd = conn.create_sender("$cbs", name="cbs-s-" + tag)
        options = [Target(reply_target)] if reply_target else None
        rcv = conn.create_receiver("$cbs", options=options, name="cbs-r-" + tag)
        snd.send(Message(id=msg_id, reply_to=reply_to, body=token, properties={
            "operation": "put-token", "type": token_type, "name": self.h.host}))
        reply = rcv.receive(timeout=20)
        rcv.accept()
        return reply

    def authorised(self, policy="iothubowner"):
        conn = self.connect()
        reply = self.put_token(conn, self.h.token(policy))
        self.assertEqual(reply.properties["status-code"], 200)
        return conn

    def sync(self, conn):
        """A round trip through the connection and the hub executor: everything this
        connection sent before (e.g. a disposition) has reached the hub when it returns."""
        self.assertEqual(self.put_token(conn, self.h.token(), msg_id="sync")
                         .properties["status-code"], 200)

    def send(self, sender, message):
        """Sends and returns (remote state, condition name)."""
        d = sender.send(message, error_states=[])
        cond = d.remote.condition
        return d.remote_state, (cond.name if cond else None)

    def create(self, device):
        self.assertEqual(self.h.command("create " + device), "ok create " + device)


class SaslTest(Base):
    def test_plain_with_the_legacy_c_client_user_name(self):
        """sdk-wire §7: authcid iothubowner@sas.root.{hub} whatever the key's policy; the
        password is a SAS token for the host with the real policy in skn; no CBS."""
        self.create("legacy1")
        conn = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20,
                                  allowed_mechs="PLAIN", user="iothubowner@sas.root.emuhub",
                                  password=self.h.token("service", ttl=365 * 24 * 3600))
        self.connections.append(conn)
        snd = conn.create_sender("amqps://%s/messages/deviceBound" % self.h.host)
        msg = Message(address="/devices/legacy1/messages/deviceBound", id="legacy-1",
                      body=b"from C", inferred=True, properties={"iothub-ack": "full"})
        self.assertEqual(self.send(snd, msg), (Delivery.ACCEPTED, None))
        self.assertIn('"messageId":"legacy-1"', self.h.command("message legacy1"))
        rcv = conn.create_receiver("amqps://%s/messages/servicebound/feedback" % self.h.host)
        self.assertEqual(self.h.command("complete legacy1"), "ok complete legacy1 legacy-1")
        fb = rcv.receive(timeout=20)
        rcv.accept()
        self.assertIn(b'"statusCode":"Success"', fb.body)

    def test_plain_host_label_as_hub_name(self):
        conn = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20,
                                  allowed_mechs="PLAIN", user="iothubowner@sas.root.localhost",
                                  password=self.h.token("iothubowner"))
        self.connections.append(conn)
        conn.create_sender(C2D)

    def expect_sasl_refused(self, user, password):
        with self.assertRaises(ConnectionException) as ctx:
            c = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20,
                                   allowed_mechs="PLAIN", user=user, password=password)
            self.connections.append(c)
        self.assertIn("unauthorized-access", str(ctx.exception))

    def test_plain_with_a_wrong_key_is_refused(self):
        self.expect_sasl_refused("iothubowner@sas.root.emuhub",
                                 self.h.token("iothubowner", key="AAAA" * 11))

    def test_plain_with_another_hub_name_is_refused(self):
        self.expect_sasl_refused("iothubowner@sas.root.otherhub", self.h.token("iothubowner"))

    def test_plain_with_a_device_user_name_needs_device_connect(self):
        # {deviceId}@sas.{hub} is a device's login (tests/integration/device_amqp): a policy
        # without DeviceConnect cannot use it ...
        self.expect_sasl_refused("dev1@sas.emuhub", self.h.token("service"))
        # ... and one with DeviceConnect gets that device's links only, not the service's.
        conn = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20,
                                  allowed_mechs="PLAIN", user="dev1@sas.emuhub",
                                  password=self.h.token("iothubowner"))
        self.connections.append(conn)
        with self.assertRaises(LinkDetached) as ctx:
            conn.create_sender(C2D)
        self.assertEqual(ctx.exception.link.remote_condition.name, "amqp:unauthorized-access")

    def test_plain_without_service_connect_is_refused(self):
        self.expect_sasl_refused("iothubowner@sas.root.emuhub", self.h.token("registryRead"))

    def test_anonymous_then_cbs(self):
        conn = BlockingConnection(self.h.url, ssl_domain=self.h.ssl_domain(), timeout=20,
                                  allowed_mechs="ANONYMOUS")
        self.connections.append(conn)
        self.assertEqual(self.put_token(conn, self.h.token()).properties["status-code"], 200)
        snd = conn.create_sender(C2D)
        self.assertEqual(self.send(snd, c2d_message("dev2")), (Delivery.ACCEPTED, None))

    def test_mechanisms_and_mssbcbs(self):
        """The C device SDK's MSSBCBS: an empty initial response, success, then CBS."""
        sock = self.h.tls_socket()
        try:
            r = FrameReader(sock)
            sock.sendall(SASL_HEADER)
            self.assertEqual(r.header(), SASL_HEADER)
            mechs = r.until(0x40)
            self.assertEqual(sorted(str(m) for m in mechs[0]), ["ANONYMOUS", "MSSBCBS", "PLAIN"])
            sock.sendall(performative(0x41, [symbol("MSSBCBS"), b""], frame_type=1))
            outcome = r.until(0x44)
            self.assertEqual(int(outcome[0]), 0)  # ok
            sock.sendall(AMQP_HEADER + performative(0x10, ["mssbcbs-client", "localhost"]))
            self.assertEqual(r.header(), AMQP_HEADER)
            self.assertIsNotNone(r.until(0x10))
        finally:
            sock.close()


class CbsTest(Base):
    def test_reply_types_follow_the_request_id(self):
        """spec §4.2: correlation-id = the request's message-id in the same AMQP type (uAMQP
        needs a ulong, Node compares strings); status-code is an AMQP int."""
        conn = self.connect()
        # (Python decodes a ulong id as int; RawCbsTest checks the ulong on the wire.)
        ids = ["req-string", uuid.UUID("0e9f4b2a-5c3d-4e6f-8a9b-1c2d3e4f5a6b"), b"\x01\x02",
               ulong(42)]
        for request_id in ids:
            reply = self.put_token(conn, self.h.token(), msg_id=request_id)
            self.assertEqual(reply.correlation_id, request_id)
            if not isinstance(request_id, int):
                self.assertIs(type(reply.correlation_id), type(request_id))
            self.assertEqual(type(reply.properties["status-code"]).__name__, "int32")
            self.assertEqual(reply.properties["status-code"], 200)
            self.assertEqual(reply.properties["status-description"], "OK")

    def test_csharp_token_type_and_reply_routing(self):
        """C#: type azure-devices.net:sastoken, reply-to = a GUID that is the target of its
        $cbs receiver; the reply goes to that link."""
        conn = self.connect()
        guid = str(uuid.uuid4())
        # Attached first, so a reply that ignored reply-to would go here.
        conn.create_receiver("$cbs", options=[Target("not-this-one")], name="other")
        reply = self.put_token(conn, self.h.token(), msg_id="cs-1", reply_to=guid,
                               reply_target=guid, token_type="azure-devices.net:sastoken")
        self.assertEqual(reply.properties["status-code"], 200)
        self.assertEqual(reply.address, guid)

    def test_bad_tokens_get_401_with_a_description(self):
        conn = self.connect()
        for token in [self.h.token(key="AAAA" * 11), self.h.token(ttl=-3600 * 2),
                      self.h.token("registryRead"), "not a token"]:
            reply = self.put_token(conn, token)
            self.assertEqual(reply.properties["status-code"], 401, token)
            self.assertIn("ErrorCode:", reply.properties["status-description"])

    def test_unsupported_token_type_gets_400(self):
        conn = self.connect()
        reply = self.put_token(conn, self.h.token(), token_type="jwt")
        self.assertEqual(reply.properties["status-code"], 400)

    def test_attach_before_a_token_is_refused(self):
        conn = self.connect()
        for create in (lambda: conn.create_sender(C2D), lambda: conn.create_receiver(FEEDBACK)):
            with self.assertRaises(LinkDetached) as ctx:
                create()
            self.assertEqual(ctx.exception.link.remote_condition.name, "amqp:unauthorized-access")

    def test_a_policy_without_service_connect_cannot_attach(self):
        conn = self.connect()
        self.assertEqual(self.put_token(conn, self.h.token("registryRead"))
                         .properties["status-code"], 401)
        with self.assertRaises(LinkDetached):
            conn.create_sender(C2D)

    def test_unknown_address_is_not_found(self):
        conn = self.authorised()
        with self.assertRaises(LinkDetached) as ctx:
            conn.create_sender("/messages/nothing")
        self.assertEqual(ctx.exception.link.remote_condition.name, "amqp:not-found")
        # A device's own link needs that device's token, not a service one.
        with self.assertRaises(LinkDetached) as ctx:
            conn.create_receiver("/devices/dev1/messages/devicebound")
        self.assertEqual(ctx.exception.link.remote_condition.name, "amqp:unauthorized-access")
        # The connection survives a refused link.
        self.assertEqual(self.send(conn.create_sender(C2D), c2d_message("dev2")),
                         (Delivery.ACCEPTED, None))

    def test_wrong_direction_is_not_allowed(self):
        conn = self.authorised()
        with self.assertRaises(LinkDetached) as ctx:
            conn.create_receiver(C2D)
        self.assertEqual(ctx.exception.link.remote_condition.name, "amqp:not-allowed")


class C2dTest(Base):
    def test_fields_are_converted(self):
        self.create("conv1")
        conn = self.authorised()
        snd = conn.create_sender("amqps://%s:5671/Messages/DeviceBound" % "localhost")
        expiry = int(time.time() * 1000) + 600000
        msg = c2d_message("conv1", body=b"\x00\x01bin", id=ulong(77),
                          correlation_id=uuid.UUID("11111111-2222-4333-8444-555555555555"),
                          user_id=b"svc-user", content_type="application/octet-stream",
                          content_encoding="binary", expiry_time=expiry / 1000.0,
                          properties={"iothub-ack": "negative", "n": 5, "flag": True,
                                      "s": "text"})
        self.assertEqual(self.send(snd, msg), (Delivery.ACCEPTED, None))
        import json
        q = json.loads(self.h.command("message conv1"))
        self.assertEqual(q["messageId"], "77")
        self.assertEqual(q["correlationId"], "11111111-2222-4333-8444-555555555555")
        self.assertEqual(q["userId"], "svc-user")
        self.assertEqual(q["contentType"], "application/octet-stream")
        self.assertEqual(q["contentEncoding"], "binary")
        self.assertEqual(q["ack"], "negative")
        self.assertEqual(q["absoluteExpiry"], expiry)
        self.assertEqual(q["properties"], {"n": "5", "flag": "true", "s": "text"})

    def test_binary_message_id_is_hex(self):
        self.create("conv2")
        conn = self.authorised()
        snd = conn.create_sender(C2D)
        self.assertEqual(self.send(snd, c2d_message("conv2", id=b"\xab\x01")),
                         (Delivery.ACCEPTED, None))
        self.assertIn('"messageId":"ab01"', self.h.command("message conv2"))

    def test_malformed_messages_are_refused_with_the_defined_conditions(self):
        conn = self.authorised()
        snd = conn.create_sender(C2D)
        cases = [
            (Message(address="/devices/dev2/messages/devicebound", body="a string"),
             "amqp:decode-error"),  # amqp-value body
            (Message(address="/devices/dev2/messages/devicebound", body=[1, 2], inferred=True),
             "amqp:decode-error"),  # amqp-sequence body
            (c2d_message("dev2", properties={"iothub-ack": "always"}), "amqp:invalid-field"),
            (Message(address="/devices/dev2/messages/events", body=b"x", inferred=True),
             "amqp:invalid-field"),
            (Message(body=b"no to", inferred=True), "amqp:invalid-field"),
            (c2d_message("nope"), "amqp:not-found"),
            (c2d_message("off1"), "amqp:not-found"),
            (c2d_message("dev2", body=b"x" * (64 * 1024 + 1)), "amqp:link:message-size-exceeded"),
            # Beyond what the endpoint buffers at all (1 MB): refused while it streams in.
            (c2d_message("dev2", body=b"y" * (3 * 1024 * 1024)), "amqp:link:message-size-exceeded"),
            (c2d_message("dev2", id="bad id with spaces"), "amqp:invalid-field"),
        ]
        for message, condition in cases:
            state, cond = self.send(snd, message)
            self.assertEqual((state, cond), (Delivery.REJECTED, condition), message)
        # Raw bytes: truncated and garbage deliveries.
        good = c2d_message("dev2").encode()
        for raw in (good[:len(good) // 2], b"\x00\x53\x77\xff\xff", b"garbage"):
            link = snd.link
            d = link.delivery(link.delivery_tag())
            link.stream(raw)
            link.advance()
            conn.wait(lambda: d.remote_state != 0, timeout=20)
            self.assertEqual(d.remote_state, Delivery.REJECTED)
            self.assertEqual(d.remote.condition.name, "amqp:decode-error")
            d.settle()
        # Still usable afterwards.
        self.assertEqual(self.send(snd, c2d_message("dev2")), (Delivery.ACCEPTED, None))

    def test_a_sender_keeps_flowing(self):
        """Credit is replenished as messages are settled: more messages than one window."""
        conn = self.authorised()
        snd = conn.create_sender(C2D)
        for i in range(600):
            self.create("flow%d" % i) if i % 40 == 0 else None
            state, cond = self.send(snd, c2d_message("flow%d" % (i - i % 40), id="f-%d" % i))
            self.assertEqual(state, Delivery.ACCEPTED, cond)

    def test_expiry_gives_an_expired_record(self):
        """A 1 s absolute-expiry-time, then the hub's clock moves 5 s: Expired feedback."""
        self.create("exp2")
        conn = self.authorised()
        snd = conn.create_sender(C2D)
        fb = conn.create_receiver(FEEDBACK)
        msg = c2d_message("exp2", id="short-lived", expiry_time=time.time() + 1,
                          properties={"iothub-ack": "full"})
        self.assertEqual(self.send(snd, msg), (Delivery.ACCEPTED, None))
        self.assertEqual(self.h.command("advance 5000"), "ok advance")
        got = fb.receive(timeout=20)
        fb.accept()
        self.assertIn(b'"originalMessageId":"short-lived"', got.body)
        self.assertIn(b'"statusCode":"Expired"', got.body)
        self.assertIn(b'"description":"Expired"', got.body)


class FeedbackTest(Base):
    def produce(self, device, message_id):
        conn = self.authorised()
        snd = conn.create_sender(C2D)
        msg = c2d_message(device, id=message_id, properties={"iothub-ack": "full"})
        self.assertEqual(self.send(snd, msg), (Delivery.ACCEPTED, None))
        self.assertEqual(self.h.command("complete " + device),
                         "ok complete %s %s" % (device, message_id))

    def test_feedback_message_shape(self):
        self.create("shape1")
        conn = self.authorised()
        rcv = conn.create_receiver(FEEDBACK)
        self.produce("shape1", "shape-1")
        msg = rcv.receive(timeout=20)
        dlv = rcv.fetcher.unsettled[0]
        self.assertEqual(len(dlv.tag), 16)
        rcv.accept()
        self.assertEqual(msg.content_type, "application/vnd.microsoft.iothub.feedback.json")
        self.assertEqual(msg.user_id, b"emuhub")
        self.assertIsInstance(msg.annotations[symbol("iothub-enqueuedtime")], timestamp)
        self.assertIsInstance(msg.body, bytes)  # a data section
        self.assertIn(b'"deviceId":"shape1"', msg.body)
        self.sync(conn)
        self.assertTrue(self.h.command("feedback").startswith("feedback pending=0 batches=0"))

    def test_released_is_sent_again_and_rejected_is_dropped(self):
        self.create("rel1")
        conn = self.authorised()
        rcv = conn.create_receiver(FEEDBACK)
        self.produce("rel1", "rel-1")
        first = rcv.receive(timeout=20)
        rcv.release()
        again = rcv.receive(timeout=20)
        self.assertEqual(first.body, again.body)
        rcv.reject()
        self.sync(conn)
        self.assertTrue(self.h.command("feedback").startswith("feedback pending=0 batches=0"))

    def test_rcv_settle_second_gets_a_settled_answer(self):
        """C# style (spec §2.4): an unsettled `accepted`, answered with a settled `accepted`."""
        self.create("sec1")
        conn = self.authorised()
        rcv = conn.create_receiver(FEEDBACK, options=[RcvSecond()])
        self.produce("sec1", "sec-1")
        rcv.receive(timeout=20)
        dlv = rcv.fetcher.unsettled.popleft()
        dlv.update(Delivery.ACCEPTED)
        conn.wait(lambda: dlv.settled, timeout=20)
        self.assertEqual(dlv.remote_state, Delivery.ACCEPTED)
        dlv.settle()
        self.sync(conn)
        self.assertTrue(self.h.command("feedback").startswith("feedback pending=0 batches=0"))

    def test_a_closed_receiver_gives_its_batch_back(self):
        self.create("gone1")
        conn = self.authorised()
        rcv = conn.create_receiver(FEEDBACK)
        self.produce("gone1", "gone-1")
        rcv.receive(timeout=20)
        conn.close()
        self.connections.remove(conn)
        conn2 = self.authorised()
        rcv2 = conn2.create_receiver(FEEDBACK)
        again = rcv2.receive(timeout=20)
        rcv2.accept()
        self.assertIn(b'"originalMessageId":"gone-1"', again.body)

    def test_a_disposition_range_settles_every_delivery(self):
        """rhea merges dispositions into first..last (sdk-wire §4): every batch in the range
        must be settled, not only the first. Raw frames, so the range is exactly one frame."""
        self.create("range1")
        self.create("range2")
        raw = RawClient(self.h)
        try:
            raw.open()
            reply = sections(raw.put_token(self.h.token(), "raw-1"))
            raw.attach_receiver(2, FEEDBACK, 10)
            ids = []
            for device in ("range1", "range2"):
                self.produce(device, device + "-m")
                fields, _ = raw.next_transfer(2)
                ids.append(int(fields[1]))
            self.assertIn("batches=2 locked=2", self.h.command("feedback"))
            # One disposition: role receiver, first..last, settled, accepted.
            raw.send(performative(0x15, [True, uint(min(ids)), uint(max(ids)), True,
                                         Described(ulong(0x24), [])]))
            # A CBS round trip after it: the disposition has reached the hub when it returns.
            raw.transfer(0, Message(id="sync", reply_to="cbs", body=self.h.token(), properties={
                "operation": "put-token", "type": CBS_TYPE, "name": "localhost"}).encode())
            raw.next_transfer(1)
            self.assertIn("batches=0", self.h.command("feedback"))
        finally:
            raw.close()


class RawCbsTest(Base):
    def test_a_ulong_request_id_gets_a_ulong_correlation_id(self):
        """uAMQP's amqp_management reads the correlation-id as a ulong and the status-code as
        an int: check the bytes, which Python's Message would blur (ulong → int)."""
        raw = RawClient(self.h)
        try:
            raw.open()
            props = sections(raw.put_token(self.h.token(), ulong(7)))[0x73]
            props.enter()
            for _ in range(6):  # message-id, user-id, to, subject, reply-to, correlation-id
                props.next()
            self.assertEqual(props.type(), Data.ULONG)
            self.assertEqual(props.get_ulong(), 7)
        finally:
            raw.close()

    def test_status_code_is_an_amqp_int(self):
        raw = RawClient(self.h)
        try:
            raw.open()
            app = sections(raw.put_token(self.h.token(), "s-1"))[0x74]
            app.enter()
            found = {}
            while app.next():
                key = app.get_string()
                app.next()
                found[key] = app.type()
            self.assertEqual(found["status-code"], Data.INT)
            self.assertEqual(found["status-description"], Data.STRING)
        finally:
            raw.close()


class RobustnessTest(Base):
    def raw_close_condition(self, payload, header=AMQP_HEADER):
        """Sends a header and then `payload`; returns the condition of the server's close."""
        sock = self.h.tls_socket()
        try:
            r = FrameReader(sock)
            sock.sendall(header + payload)
            self.assertEqual(r.header(), header)
            close = r.until(0x18)
            return error_condition(close)
        finally:
            sock.close()

    def assert_still_serving(self):
        conn = self.authorised()
        self.assertEqual(self.send(conn.create_sender(C2D), c2d_message("dev2")),
                         (Delivery.ACCEPTED, None))

    def test_an_oversized_frame_ends_the_connection(self):
        self.assertEqual(self.raw_close_condition(b"\x7f\xff\xff\xff\x02\x00\x00\x00"),
                         "amqp:connection:framing-error")
        self.assert_still_serving()

    def test_a_peer_still_sending_reads_the_close_not_a_reset(self):
        # Refused at its first frame header, the peer goes on sending 4 MiB (more than socket
        # buffers hold): the server reads and drops it, so the send completes and the close
        # frame arrives, followed by the end of the stream, instead of a TCP reset.
        refused = b"\x00\x01\x00\x00\x02\x00\x00\x00"
        self.assertEqual(self.raw_close_condition(refused + b"\x00" * (4 << 20)),
                         "amqp:connection:framing-error")
        self.assert_still_serving()

    def test_a_malformed_performative_ends_the_connection(self):
        open_ = performative(0x10, ["bad", "localhost"])
        self.assertEqual(self.raw_close_condition(open_ + frame(b"\x00\x53\x11\xc0\x05\x09")),
                         "amqp:decode-error")
        self.assert_still_serving()

    def test_deep_nesting_is_refused_without_a_crash(self):
        # 60 KB of nesting is over the 4 KiB allowed before the open (issue 7)...
        nested = b"\xc0\x02\x01" * 20000 + b"\x40"
        self.assertEqual(self.raw_close_condition(frame(b"\x00\x53\x10" + nested)),
                         "amqp:connection:framing-error")
        # ...so it comes after one, within the max-frame-size, as a begin.
        open_ = performative(0x10, ["bad", "localhost"])
        self.assertEqual(self.raw_close_condition(open_ + frame(b"\x00\x53\x11" + nested)),
                         "amqp:decode-error")
        self.assert_still_serving()

    def test_a_bad_data_offset_and_tiny_frame(self):
        self.assertEqual(self.raw_close_condition(b"\x00\x00\x00\x04\x02\x00\x00\x00"),
                         "amqp:connection:framing-error")
        self.assertEqual(self.raw_close_condition(b"\x00\x00\x00\x08\x01\x00\x00\x00"),
                         "amqp:connection:framing-error")
        self.assert_still_serving()

    def test_protocol_violations_end_with_an_error(self):
        # A transfer on a session that was never begun.
        open_ = performative(0x10, ["bad", "localhost"])
        transfer = performative(0x14, [uint(0), uint(0), b"t", uint(0), False], channel=5)
        self.assertIsNotNone(self.raw_close_condition(open_ + transfer))
        # An unknown protocol id: the server answers with its own header and hangs up (a close
        # frame, if any, carries an error).
        sock = self.h.tls_socket()
        try:
            sock.sendall(b"AMQP\x07\x01\x00\x00")
            r = FrameReader(sock)
            self.assertEqual(r.header(), AMQP_HEADER)
            close = r.until(0x18)
            if close is not None:
                self.assertIsNotNone(error_condition(close))
            self.assertIsNone(r.frame())
        finally:
            sock.close()
        # Not AMQP at all.
        sock = self.h.tls_socket()
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            FrameReader(sock).header()
        finally:
            sock.close()
        self.assert_still_serving()

    def test_plain_tcp_listener_works_without_tls(self):
        conn = BlockingConnection("amqp://localhost:%d" % self.h.ready["plainPort"],
                                  sasl_enabled=False, timeout=20)
        self.connections.append(conn)
        self.assertEqual(self.put_token(conn, self.h.token()).properties["status-code"], 200)


class IdleTimeoutTest(Base):
    harness_args = ["--idle-timeout-ms", "1000"]

    def test_a_silent_peer_is_disconnected(self):
        sock = self.h.tls_socket()
        try:
            r = FrameReader(sock, timeout=20)
            sock.sendall(AMQP_HEADER + performative(0x10, ["silent", "localhost"]))
            self.assertEqual(r.header(), AMQP_HEADER)
            opened = r.until(0x10)
            self.assertIsNotNone(opened)
            close = r.until(0x18)  # we send nothing: no heartbeats
            self.assertEqual(error_condition(close), "amqp:resource-limit-exceeded")
        finally:
            sock.close()


class HandshakeTimeoutTest(Base):
    harness_args = ["--handshake-timeout-ms", "1000"]

    def read_until_closed(self, sock):
        """Reads until the server closes; fails if it has not after 15 s."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            sock.settimeout(deadline - time.monotonic())
            try:
                if not sock.recv(4096):
                    return
            except (ssl.SSLError, ConnectionResetError):
                return
        self.fail("the server did not close the connection")

    def test_tcp_without_a_tls_handshake_is_cut_off(self):
        sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=20)
        try:
            self.read_until_closed(sock)
        finally:
            sock.close()

    def test_tls_without_an_amqp_header_is_cut_off(self):
        sock = self.h.tls_socket()
        try:
            self.read_until_closed(sock)
        finally:
            sock.close()

    def test_header_without_open_is_cut_off(self):
        sock = self.h.tls_socket()
        try:
            r = FrameReader(sock)
            sock.sendall(AMQP_HEADER)
            self.assertEqual(r.header(), AMQP_HEADER)
            self.read_until_closed(sock)
        finally:
            sock.close()


class ConnectionLimitTest(Base):
    harness_args = ["--max-connections", "2"]

    def test_connections_beyond_the_limit_are_refused(self):
        first = self.connect()
        second = self.connect()
        with self.assertRaises(ConnectionException):
            self.connect()
        first.close()
        self.connections.remove(first)
        deadline = time.monotonic() + 20
        while self.h.command("connections") != "connections 1":
            self.assertLess(time.monotonic(), deadline, "the closed connection was not released")
            second.wait(lambda: True, timeout=1)  # one I/O round, bounded
        self.assertEqual(self.put_token(self.connect(), self.h.token())
                         .properties["status-code"], 200)


class TokenExpiryTest(Base):
    """Each test moves the hub's clock, so each gets its own hub (token skew 0)."""
    harness_args = ["--token-skew-ms", "0"]

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        super().setUp()
        self.h = Harness(self.harness_args).start()

    def tearDown(self):
        super().tearDown()
        self.h.stop()

    def test_an_expired_token_closes_the_connection(self):
        conn = self.connect()
        se = int(time.time()) + 60
        self.assertEqual(self.put_token(conn, self.h.token(se=se)).properties["status-code"], 200)
        snd = conn.create_sender(C2D)
        self.assertEqual(self.send(snd, c2d_message("dev2")), (Delivery.ACCEPTED, None))
        self.assertEqual(self.h.command("advance 120000"), "ok advance")
        with self.assertRaises(ConnectionClosed) as ctx:
            conn.wait(lambda: False, timeout=20)
        self.assertEqual(ctx.exception.connection.remote_condition.name,
                         "amqp:unauthorized-access")

    def test_a_renewed_token_keeps_the_connection(self):
        conn = self.connect()
        now = int(time.time())
        self.assertEqual(self.put_token(conn, self.h.token(se=now + 60)).properties["status-code"],
                         200)
        self.assertEqual(self.put_token(conn, self.h.token(se=now + 3600), msg_id="renew")
                         .properties["status-code"], 200)
        self.assertEqual(self.h.command("advance 120000"), "ok advance")
        snd = conn.create_sender(C2D)
        self.assertEqual(self.send(snd, c2d_message("dev2")), (Delivery.ACCEPTED, None))


if __name__ == "__main__":
    unittest.main()

"""Load for the reliability tests: AMQP senders and MQTT devices that keep working across
emulator restarts, and a ledger of what the emulator acknowledged.

- `Cluster` holds the emulator currently serving (or none while it is down). Clients take its
  endpoints from there, so a restart on new ephemeral ports is transparent to them.
- `AmqpSender` (python3-qpid-proton reactor, SASL PLAIN with the `service` policy) sends C2D
  messages with `iothub-ack: full`, up to `max_inflight` unsettled at once, and records each
  message id whose send was `accepted`, `rejected` (with the condition), or whose outcome never
  came (the connection died first).
- `MqttDevice` (raw MQTT 3.1.1 over TLS, clean session 0) subscribes to its C2D topic and
  PUBACKs every message (= complete), recording each reception; `MqttWsDevice` is the same over
  MQTT over WebSockets. `AmqpDeviceReceiver` (AMQP over TLS), `AmqpWsDeviceReceiver` (AMQP over
  WebSockets) and `HttpsDeviceReceiver` (the device HTTPS API) receive and complete C2D the
  other ways a device can.

Message ids are unique per send attempt (`s{sender}-{n}`), never retried, so a second `Success`
feedback record for an id can only mean a message was completed twice.

Beyond C2D (`DurableLedger`): `TelemetryPublisher` (MQTT telemetry, each body unique, PUBACKed
or not), `TwinPatcher` (desired patches over REST, one new property each, with the version
answered) and `RegistryChurner` (devices created, nine in ten deleted again, over REST).
"""
import collections
import json
import random
import socket
import ssl
import threading

from attack_clients import Hub, MqttClosed, c2d_topic_properties, username_for


class Ledger:
    """What the clients saw, shared by every client thread."""

    def __init__(self):
        self.lock = threading.Condition()
        self.sent = 0
        self.accepted = {}             # message id -> device id
        self.rejected = collections.Counter()  # condition -> count
        self.unknown = set()           # sent, but no outcome seen (connection lost)
        self.received = collections.Counter()  # message id -> receptions on a device
        self.received_by_device = collections.Counter()  # device -> receptions
        self.pubacks = 0
        self.outstanding = collections.Counter()  # device -> accepted and not yet received
        self.errors = []               # client failures (a test must see them at once)
        # original message id -> batch ids in which a feedback receiver got its record
        self.feedback = collections.defaultdict(set)
        self.feedback_batches = collections.Counter()  # batch id -> times received

    def on_error(self, text):
        with self.lock:
            self.errors.append(text)
            self.lock.notify_all()

    def on_sent(self):
        with self.lock:
            self.sent += 1

    def on_accepted(self, message_id, device):
        with self.lock:
            self.accepted[message_id] = device
            if not self.received[message_id]:
                self.outstanding[device] += 1
            self.lock.notify_all()

    def on_rejected(self, condition):
        with self.lock:
            self.rejected[condition] += 1

    def on_unknown(self, message_id):
        with self.lock:
            self.unknown.add(message_id)

    def on_received(self, message_id, device):
        with self.lock:
            self.received[message_id] += 1
            self.received_by_device[device] += 1
            if self.received[message_id] == 1 and message_id in self.accepted:
                self.outstanding[device] -= 1

    def on_puback(self):
        with self.lock:
            self.pubacks += 1
            self.lock.notify_all()

    def on_feedback(self, batch_id, records):
        with self.lock:
            self.feedback_batches[batch_id] += 1
            for r in records:
                self.feedback[(r["originalMessageId"], r["statusCode"])].add(batch_id)

    def feedback_record_count(self):
        with self.lock:
            return sum(len(b) for b in self.feedback.values())

    def progress(self):
        with self.lock:
            return len(self.accepted), self.pubacks

    def wait_progress(self, accepted, pubacks, timeout):
        """Blocks until at least `accepted` sends were accepted and `pubacks` PUBACKs sent.
        False on timeout or as soon as a client failed."""
        with self.lock:
            return self.lock.wait_for(
                lambda: self.errors or (len(self.accepted) >= accepted and
                                        self.pubacks >= pubacks), timeout) and not self.errors

    def least_loaded(self, devices, bound):
        """The device with the fewest accepted-but-unreceived messages, if below `bound`."""
        with self.lock:
            device = min(devices, key=lambda d: (self.outstanding[d], random.random()))
            return device if self.outstanding[device] < bound else None


class Cluster:
    """The emulator serving right now. `up(emu)` after a start, `down()` before a kill."""

    def __init__(self):
        self.cond = threading.Condition()
        self.hub = None
        self.generation = 0
        self.stopping = False

    def up(self, emu):
        with self.cond:
            self.hub = Hub(emu.ready)
            self.generation += 1
            self.cond.notify_all()

    def down(self):
        with self.cond:
            self.hub = None
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def wait_serving(self, after_generation=None, cancelled=lambda: False, retry_after=0.5):
        """(generation, hub) of a serving emulator, or (None, None) when stopping or
        `cancelled()`. With `after_generation`, waits for a newer one, or `retry_after` seconds
        for the same one (a connection that failed while the emulator kept running is
        retried)."""
        with self.cond:
            def done():
                return self.stopping or cancelled()
            if after_generation is not None:
                self.cond.wait_for(lambda: done() or (
                    self.hub is not None and self.generation != after_generation), retry_after)
            self.cond.wait_for(lambda: done() or self.hub is not None)
            if done():
                return None, None
            return self.generation, self.hub

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def current_generation(self):
        with self.cond:
            return self.generation if self.hub is not None and not self.stopping else None


class Client(threading.Thread):
    """A client thread that follows the cluster from emulator to emulator until stopped."""

    def __init__(self, name, cluster, ledger):
        super().__init__(name=name, daemon=True)
        self.cluster = cluster
        self.ledger = ledger
        self.stop_event = threading.Event()
        self.connections = 0

    def stop_soon(self):
        self.stop_event.set()
        self.cluster.wake()

    def active(self, generation):
        """True while this client should keep using the emulator of `generation`."""
        return not self.stop_event.is_set() and self.cluster.current_generation() == generation

    def run(self):
        generation = None
        try:
            while True:
                generation, hub = self.cluster.wait_serving(generation, self.stop_event.is_set)
                if hub is None:
                    return
                self.connections += 1
                self.session(generation, hub)
        except Exception as e:  # reported by the test, never swallowed
            self.ledger.on_error("%s: %r" % (self.name, e))

    def session(self, generation, hub):
        raise NotImplementedError


class AmqpSender(Client):
    """C2D sender over AMQP; reconnects to each new emulator until the cluster stops."""

    def __init__(self, index, cluster, ledger, devices, max_inflight=16, queue_bound=40):
        super().__init__("amqp-sender-%d" % index, cluster, ledger)
        self.index = index
        self.devices = devices
        self.max_inflight = max_inflight
        self.queue_bound = queue_bound
        self.counter = 0

    def session(self, generation, hub):
        from proton.reactor import Container
        Container(_SenderHandler(self, generation, hub)).run()

    def next_id(self):
        self.counter += 1
        return "s%d-%d" % (self.index, self.counter)


def _sender_handler_base():
    from proton.handlers import MessagingHandler
    return MessagingHandler


class _SenderHandler(_sender_handler_base()):
    def __init__(self, owner, generation, hub):
        super().__init__(prefetch=0, auto_accept=False, auto_settle=True)
        self.owner = owner
        self.generation = generation
        self.hub = hub
        self.inflight = {}  # delivery tag -> (message id, device)
        self.connection = None
        self.sender = None
        self.timer = None
        self.finished = False

    def on_start(self, event):
        hub = self.hub
        self.connection = event.container.connect(
            url=hub.amqp_url, ssl_domain=hub.amqp_ssl_domain(), reconnect=False,
            allowed_mechs="PLAIN", sasl_enabled=True,
            user="service@sas.root.%s" % hub.ready["hubName"],
            password=hub.policy_token("service"))
        self.sender = event.container.create_sender(self.connection, "/messages/devicebound")
        self.timer = event.container.schedule(0.02, self)

    def on_timer_task(self, event):
        if self.finished:
            return
        if not self.owner.active(self.generation):
            self._finish(event)  # stopping, or the emulator this connection knew is gone
            return
        self._pump()
        self.timer = event.container.schedule(0.02, self)

    def on_sendable(self, event):
        self._pump()

    def _pump(self):
        from proton import Message
        s = self.sender
        while not self.finished and s.credit > 0 and len(self.inflight) < self.owner.max_inflight:
            device = self.owner.ledger.least_loaded(self.owner.devices, self.owner.queue_bound)
            if device is None:
                return
            message_id = self.owner.next_id()
            d = s.send(Message(address="/devices/%s/messages/devicebound" % device,
                               id=message_id, body=("body of " + message_id).encode(),
                               inferred=True, properties={"iothub-ack": "full"}))
            self.inflight[d.tag] = (message_id, device)
            self.owner.ledger.on_sent()

    def _take(self, event):
        return self.inflight.pop(event.delivery.tag, (None, None))

    def on_accepted(self, event):
        message_id, device = self._take(event)
        if message_id:
            self.owner.ledger.on_accepted(message_id, device)

    def on_rejected(self, event):
        message_id, _ = self._take(event)
        if message_id:
            cond = event.delivery.remote.condition
            self.owner.ledger.on_rejected(cond.name if cond else "rejected")

    def on_released(self, event):
        message_id, _ = self._take(event)
        if message_id:
            self.owner.ledger.on_unknown(message_id)

    def on_modified(self, event):
        self.on_released(event)

    def on_transport_error(self, event):
        self._finish(event)

    def on_connection_error(self, event):
        self._finish(event)

    def on_link_error(self, event):
        self._finish(event)

    def on_disconnected(self, event):
        self._finish(event)

    def _finish(self, event):
        if self.finished:
            return
        self.finished = True
        for message_id, _ in self.inflight.values():
            self.owner.ledger.on_unknown(message_id)
        self.inflight.clear()
        if self.timer is not None:
            self.timer.cancel()
        if self.connection is not None:
            self.connection.close()
        event.container.stop()


class MqttDevice(Client):
    """A device that completes (PUBACKs) every C2D message; reconnects across restarts."""

    prefix = "mqtt-"

    def __init__(self, device_id, cluster, ledger):
        super().__init__(self.prefix + device_id, cluster, ledger)
        self.device_id = device_id

    def open(self, hub):
        return hub.mqtt(timeout=5)

    def session(self, generation, hub):
        try:
            conn = self.open(hub)
        except OSError:
            return
        try:
            code = conn.connect(self.device_id, username_for(hub.host, self.device_id),
                                hub.device_token(self.device_id))
            if code != 0:
                raise AssertionError("CONNACK %d for %s" % (code, self.device_id))
            conn.subscribe("devices/%s/messages/devicebound/#" % self.device_id)
            while self.active(generation):
                try:
                    topic, packet_id, _ = conn.next_publish(timeout=0.2)
                except socket.timeout:
                    continue
                message_id = c2d_topic_properties(topic).get("$.mid")
                self.ledger.on_received(message_id, self.device_id)
                conn.puback(packet_id)
                self.ledger.on_puback()
        except (MqttClosed, OSError, ssl.SSLError):
            pass  # the emulator went away: reconnect to the next one
        finally:
            conn.close()


class MqttWsDevice(MqttDevice):
    """The same device over MQTT over WebSockets (the HTTPS port, subprotocol `mqtt`): the
    WebSocket upgrade and framing sit between the device and the same MQTT session. A server
    that breaks RFC 6455 raises websocket_stream.WebSocketError, which is not caught: a client
    failure the test reports, never mistaken for the emulator going away."""

    prefix = "mqtt-ws-"

    def open(self, hub):
        return hub.mqtt_ws(timeout=5)


def batch_id_of(tag):
    """The emulator's feedback delivery tag is the batch id then the lock id, 8 bytes each
    (big-endian), so a batch delivered twice can be told from two batches."""
    raw = tag if isinstance(tag, (bytes, bytearray)) else tag.encode("utf-8", "surrogateescape")
    return int.from_bytes(raw[:8], "big")


def feedback_records(body):
    return json.loads(body.decode() if isinstance(body, (bytes, bytearray)) else body)


class FeedbackReceiver(Client):
    """Receives feedback batches over AMQP and accepts them; reconnects across restarts."""

    def __init__(self, cluster, ledger):
        super().__init__("feedback-receiver", cluster, ledger)

    def session(self, generation, hub):
        from proton.reactor import Container
        Container(_FeedbackHandler(self, generation, hub)).run()


class _FeedbackHandler(_sender_handler_base()):
    def __init__(self, owner, generation, hub):
        super().__init__(prefetch=10, auto_accept=False)
        self.owner = owner
        self.generation = generation
        self.hub = hub
        self.connection = None
        self.timer = None
        self.finished = False

    def on_start(self, event):
        hub = self.hub
        self.connection = event.container.connect(
            url=hub.amqp_url, ssl_domain=hub.amqp_ssl_domain(), reconnect=False,
            allowed_mechs="PLAIN", sasl_enabled=True,
            user="service@sas.root.%s" % hub.ready["hubName"],
            password=hub.policy_token("service"))
        event.container.create_receiver(self.connection, "/messages/servicebound/feedback")
        self.timer = event.container.schedule(0.05, self)

    def on_timer_task(self, event):
        if self.finished:
            return
        if not self.owner.active(self.generation):
            self._finish(event)
            return
        self.timer = event.container.schedule(0.05, self)

    def on_message(self, event):
        self.owner.ledger.on_feedback(batch_id_of(event.delivery.tag),
                                      feedback_records(event.message.body))
        self.accept(event.delivery)

    def on_transport_error(self, event):
        self._finish(event)

    def on_connection_error(self, event):
        self._finish(event)

    def on_link_error(self, event):
        self._finish(event)

    def on_disconnected(self, event):
        self._finish(event)

    def _finish(self, event):
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
        if self.connection is not None:
            self.connection.close()
        event.container.stop()


class HttpsPoller(Client):
    """Registry reads over one keep-alive HTTPS connection (the `registryRead` policy)."""

    def __init__(self, device_id, cluster, ledger):
        super().__init__("https-poller", cluster, ledger)
        self.device_id = device_id
        self.requests = 0

    def session(self, generation, hub):
        import http.client
        from attack_clients import tls_context
        conn = http.client.HTTPSConnection("localhost", hub.ports["https"], timeout=5,
                                           context=tls_context(hub.ca))
        token = hub.policy_token("registryRead")
        try:
            while self.active(generation):
                conn.request("GET", "/devices/%s?api-version=2021-04-12" % self.device_id,
                             headers={"Authorization": token})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise AssertionError("GET device: %d" % r.status)
                self.requests += 1
        except (OSError, http.client.HTTPException):
            pass  # the emulator went away
        finally:
            conn.close()


# ---- the rest of what is durable (issue 20 item 1) --------------------------------------------

class DurableLedger:
    """What the emulator acknowledged beyond C2D: telemetry PUBACKs, twin patches answered 200,
    registry writes answered 200/204. Each id is used once; an operation whose answer was lost
    in a kill is `unknown` (it may or may not have been applied)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events_acked = set()      # telemetry bodies that got their PUBACK
        self.events_unknown = set()    # published, no PUBACK seen
        self.patches_acked = []        # (n, $version answered), in the order answered
        self.patches_unknown = set()   # n
        self.created, self.deleted = set(), set()    # device ids, answered
        self.create_unknown, self.delete_unknown = set(), set()


class TelemetryPublisher(Client):
    """A device publishing telemetry (QoS 1), each body unique; records which got a PUBACK."""

    def __init__(self, device_id, cluster, ledger, durable):
        super().__init__("telemetry-" + device_id, cluster, ledger)
        self.device_id = device_id
        self.durable = durable
        self.n = 0

    def session(self, generation, hub):
        try:
            conn = hub.mqtt(timeout=5)
        except OSError:
            return
        body = None
        try:
            if conn.connect(self.device_id, username_for(hub.host, self.device_id),
                            hub.device_token(self.device_id), clean=True) != 0:
                raise AssertionError("CONNACK refused for " + self.device_id)
            while self.active(generation):
                self.n += 1
                body = "ev-%s-%d" % (self.device_id, self.n)
                with self.durable.lock:
                    self.durable.events_unknown.add(body)
                conn.publish("devices/%s/messages/events/" % self.device_id, body.encode())
                with self.durable.lock:
                    self.durable.events_unknown.discard(body)
                    self.durable.events_acked.add(body)
        except (MqttClosed, OSError, ssl.SSLError):
            pass  # the emulator went away: the last body's fate is unknown
        finally:
            conn.close()


class TwinPatcher(Client):
    """Desired patches over REST, one new property each (`p<n>`); records the answered
    versions."""

    def __init__(self, device_id, cluster, ledger, durable):
        super().__init__("twin-" + device_id, cluster, ledger)
        self.device_id = device_id
        self.durable = durable
        self.n = 0

    # Bounded: every patch adds a property, and a twin's desired section is at most 32 KB.
    MAX_PATCHES = 600

    def session(self, generation, hub):
        import http.client
        import time
        owner = hub.policy_token("iothubowner")
        while self.active(generation):
            if self.n >= self.MAX_PATCHES:
                time.sleep(0.1)  # done; stay until stopped
                continue
            self.n += 1
            n = self.n
            with self.durable.lock:
                self.durable.patches_unknown.add(n)
            try:
                status, twin = hub.https(
                    "PATCH", "/twins/%s?api-version=2021-04-12" % self.device_id,
                    {"properties": {"desired": {"p%d" % n: n}}}, token=owner, timeout=5)
            except (OSError, ssl.SSLError, http.client.HTTPException):
                return  # the emulator went away: this patch's fate is unknown
            if status != 200:
                if status in (500, 503):
                    return  # dying emulator: unknown
                raise AssertionError("twin patch: %d %s" % (status, twin))
            with self.durable.lock:
                self.durable.patches_unknown.discard(n)
                self.durable.patches_acked.append((n, twin["properties"]["desired"]["$version"]))


class RegistryChurner(Client):
    """Creates devices over REST and deletes nine in ten; records the answered writes."""

    def __init__(self, cluster, ledger, durable):
        super().__init__("registry-churn", cluster, ledger)
        self.durable = durable
        self.n = 0

    def write(self, hub, method, device_id, body, unknown, done, ok):
        import http.client
        with self.durable.lock:
            unknown.add(device_id)
        try:
            status, answer = hub.https(
                method, "/devices/%s?api-version=2021-04-12" % device_id, body,
                token=hub.policy_token("registryReadWrite"), headers={"If-Match": "*"}
                if method == "DELETE" else None, timeout=5)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False
        if status not in ok:
            if status in (500, 503):
                return False
            raise AssertionError("%s device: %d %s" % (method, status, answer))
        with self.durable.lock:
            unknown.discard(device_id)
            done.add(device_id)
        return True

    def session(self, generation, hub):
        d = self.durable
        while self.active(generation):
            self.n += 1
            device_id = "churn-%d" % self.n
            if not self.write(hub, "PUT", device_id, {"deviceId": device_id}, d.create_unknown,
                              d.created, (200,)):
                return
            # Keep one in ten: the registry grows slowly (GET /devices lists up to 1000).
            if self.n % 10 != 0 and not self.write(hub, "DELETE", device_id, None,
                                                  d.delete_unknown, d.deleted, (200, 204)):
                return


class AmqpDeviceReceiver(Client):
    """A device receiving C2D over AMQP (CBS with its own token) and accepting (= completing)
    every message; reconnects across restarts."""

    def __init__(self, device_id, cluster, ledger):
        super().__init__("amqp-device-" + device_id, cluster, ledger)
        self.device_id = device_id

    def session(self, generation, hub):
        from proton import Timeout
        from proton.utils import ConnectionClosed, LinkDetached
        try:
            conn = hub.amqp_bare(timeout=5)
        except Exception:  # noqa: BLE001 - refused or cut while the emulator dies
            return
        try:
            audience = "%s/devices/%s" % (hub.host, self.device_id)
            if hub.cbs_put_token(conn, hub.device_token(self.device_id), audience=audience,
                                 timeout=5) != 200:
                raise AssertionError("device CBS refused for " + self.device_id)
            rcv = conn.create_receiver("/devices/%s/messages/devicebound" % self.device_id,
                                       credit=10)
            while self.active(generation):
                try:
                    m = rcv.receive(timeout=0.2)
                except Timeout:
                    continue
                self.ledger.on_received(m.id, self.device_id)
                rcv.accept()
                self.ledger.on_puback()
        except (ConnectionClosed, LinkDetached, Timeout, OSError):
            pass  # the emulator went away
        except Exception as e:  # proton's own errors while the peer vanishes
            if "closed" not in str(e).lower() and "disconnected" not in str(e).lower():
                raise
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass


class AmqpWsDeviceReceiver(Client):
    """A device receiving C2D over AMQP over WebSockets (the HTTPS port, subprotocol
    `AMQPWSB10`; proton's engine driven over the WebSocket stream, amqp_ws.py), with CBS and
    its own token, accepting (= completing) every message; reconnects across restarts.

    A completion is counted once its disposition (accepted, settled) was handed to the socket;
    if the emulator dies before reading it, the message comes again (at-least-once)."""

    CREDIT = 10

    def __init__(self, device_id, cluster, ledger):
        super().__init__("amqp-ws-device-" + device_id, cluster, ledger)
        self.device_id = device_id

    def session(self, generation, hub):
        from amqp_ws import AmqpClosed
        try:
            conn = hub.amqp_ws(timeout=5)
        except (AmqpClosed, OSError):  # refused or cut while the emulator dies
            return
        try:
            audience = "%s/devices/%s" % (hub.host, self.device_id)
            if conn.cbs_put_token(hub.device_token(self.device_id), audience) != 200:
                raise AssertionError("device CBS refused for " + self.device_id)
            rcv = conn.receiver("/devices/%s/messages/devicebound" % self.device_id,
                                credit=self.CREDIT)
            while self.active(generation):
                try:
                    m, delivery = conn.receive(rcv, timeout=0.2)
                except socket.timeout:
                    continue
                self.ledger.on_received(m.id, self.device_id)
                conn.accept(delivery, rcv, credit=self.CREDIT)
                self.ledger.on_puback()
        except (AmqpClosed, OSError):
            pass  # the emulator went away (a timeout too: the existing AMQP device's rule)
        finally:
            conn.close()


class HttpsDeviceReceiver(Client):
    """A device polling C2D over the device HTTPS API and completing every message (DELETE with
    its lock token); reconnects across restarts."""

    def __init__(self, device_id, cluster, ledger):
        super().__init__("https-device-" + device_id, cluster, ledger)
        self.device_id = device_id

    def session(self, generation, hub):
        import http.client
        import time
        from attack_clients import tls_context
        base = "/devices/%s/messages/deviceBound" % self.device_id
        api = "?api-version=2021-04-12"
        conn = http.client.HTTPSConnection("localhost", hub.ports["https"], timeout=5,
                                           context=tls_context(hub.ca))
        token = hub.device_token(self.device_id)
        try:
            while self.active(generation):
                conn.request("GET", base + api, headers={"Authorization": token})
                r = conn.getresponse()
                r.read()
                if r.status == 204:
                    time.sleep(0.05)  # nothing queued: poll again shortly, as the SDK does
                    continue
                if r.status in (500, 503):
                    return
                if r.status != 200:
                    raise AssertionError("GET deviceBound: %d" % r.status)
                self.ledger.on_received(r.getheader("iothub-messageid"), self.device_id)
                lock = r.getheader("ETag").strip('"')
                conn.request("DELETE", "%s/%s%s" % (base, lock, api),
                             headers={"Authorization": token})
                r = conn.getresponse()
                r.read()
                if r.status in (500, 503):
                    return
                if r.status == 412:
                    continue  # the lock timed out meanwhile: the message comes again
                if r.status != 204:
                    raise AssertionError("DELETE deviceBound: %d" % r.status)
                self.ledger.on_puback()
        except (OSError, http.client.HTTPException):
            pass  # the emulator went away
        finally:
            conn.close()


class MethodDevice(Client):
    """A device answering every direct method (MQTT) with the request's payload."""

    def __init__(self, device_id, cluster, ledger):
        super().__init__("methods-" + device_id, cluster, ledger)
        self.device_id = device_id
        self.answered = 0

    def session(self, generation, hub):
        try:
            conn = hub.mqtt(timeout=5)
        except OSError:
            return
        try:
            if conn.connect(self.device_id, username_for(hub.host, self.device_id),
                            hub.device_token(self.device_id), clean=True) != 0:
                raise AssertionError("CONNACK refused for " + self.device_id)
            conn.subscribe("$iothub/methods/POST/#", qos=0)
            while self.active(generation):
                try:
                    topic, _, payload = conn.next_publish(timeout=0.2)
                except socket.timeout:
                    continue
                rid = topic.rsplit("$rid=", 1)[1]
                conn.publish("$iothub/methods/res/200/?$rid=%s" % rid, payload, qos=0)
                self.answered += 1
        except (MqttClosed, OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


class MethodCaller(Client):
    """Direct methods invoked over REST on a device that answers them; a call either comes back
    200 with its own payload or fails with the emulator (never a wrong answer)."""

    def __init__(self, device_id, cluster, ledger):
        super().__init__("method-caller", cluster, ledger)
        self.device_id = device_id
        self.ok = 0
        self.failed = 0

    def session(self, generation, hub):
        import http.client
        import time
        owner = hub.policy_token("iothubowner")
        n = 0
        while self.active(generation):
            n += 1
            try:
                status, body = hub.https(
                    "POST", "/twins/%s/methods?api-version=2021-04-12" % self.device_id,
                    {"methodName": "echo", "responseTimeoutInSeconds": 5, "payload": {"n": n}},
                    token=owner, timeout=10)
            except (OSError, ssl.SSLError, http.client.HTTPException):
                return
            if status == 200:
                if body.get("status") != 200 or body.get("payload") != {"n": n}:
                    raise AssertionError("a method answered with another call's result: %s"
                                         % body)
                self.ok += 1
            elif status in (404, 500, 503, 504):
                self.failed += 1  # the device is reconnecting, or the hub dying
                time.sleep(0.05)
            else:
                raise AssertionError("method: %d %s" % (status, body))

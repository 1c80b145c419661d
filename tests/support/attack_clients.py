"""Small, honest clients for the reliability and attack tests: raw MQTT 3.1.1 over TLS, HTTPS
with SAS, the test-control routes, and (lazily, because only Debian's /usr/bin/python3 can
import it) AMQP with python3-qpid-proton.

They speak the protocols byte by byte so that tests can also speak them *badly* (half a
packet, a wrong token, garbage). Every blocking call has a deadline; nothing sleeps to wait for
the emulator.

    from attack_clients import Hub
    hub = Hub(emu.ready)               # ports, CA, keys from the emulator's ready file
    mqtt = hub.mqtt_device("dev1")     # TLS + CONNECT (CONNACK 0 asserted) + nothing else
    mqtt.subscribe_c2d()
    status, body = hub.https("GET", "/health")
"""
import base64
import hashlib
import hmac
import http.client
import json
import re
import socket
import ssl
import struct
import time
import urllib.parse

API_VERSION = "2021-04-12"

# ---- SAS tokens (spec §5.1) -------------------------------------------------------------------


def sas_token(sr, key, skn=None, se=None, ttl=3600):
    """A SAS token as the SDKs make it: HMAC-SHA256 over url-encoded sr + "\\n" + se."""
    if se is None:
        se = int(time.time()) + ttl
    encoded = urllib.parse.quote(sr, safe="")
    digest = hmac.new(base64.b64decode(key), (encoded + "\n" + str(se)).encode(),
                      hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    token = "SharedAccessSignature sr=%s&sig=%s&se=%d" % (encoded, sig, se)
    return token + ("&skn=" + skn if skn else "")


def parse_connection_string(cs):
    return dict(part.split("=", 1) for part in cs.split(";") if part)


# The development policies' public keys (README "Well-known development credentials",
# emulator/app/dev_credentials.hpp); the ready file only lists iothubowner and service.
DEV_POLICY_KEYS = {
    "iothubowner": "OdtOwlXnHd2Pw8RmbhiPaCN+ZahPZ44vvv4QQtf1LII=",
    "service": "mSPKvd4lm+mwyFqIsJOOKl16X4E1nE7ZZWjpGvjygyQ=",
    "device": "hlccyWauEqbjzFOucVtcVuIk/w85lsbVHRaHTncBuMc=",
    "registryRead": "dKtzz8AK0B3LiWfvpLezBP3StGxAD5NAFceLx+MxdLo=",
    "registryReadWrite": "2s7TW+uYcEm7E3DjKS3gyyMoB65evzjqyaLeIgA44YU=",
}

WRONG_KEY = base64.b64encode(b"not the key, not the key, not it").decode()


# ---- TLS ---------------------------------------------------------------------------------------


def tls_context(ca_file, client_cert=None):
    """`client_cert`: (certificate file, key file) to present (X.509 devices)."""
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    if client_cert:
        context.load_cert_chain(*client_cert)
    return context


def tcp_connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def tls_connect(port, ca_file, timeout=10, client_cert=None):
    raw = tcp_connect(port, timeout)
    try:
        return tls_context(ca_file, client_cert).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def wait_closed(sock, timeout):
    """Reads and discards until the peer closes. Returns the seconds it took, or None if the
    connection was still open after `timeout` seconds."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return time.monotonic() - start
        except socket.timeout:
            return None
        except ssl.SSLError:
            return time.monotonic() - start  # a TLS alert or a cut record: closed by the peer
        except OSError:
            return time.monotonic() - start  # reset by the peer


# ---- MQTT 3.1.1 --------------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 10, 11, 12, 13, 14


class MqttClosed(Exception):
    """The server closed the connection."""


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def mqtt_packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(client_id, username=None, password=None, keep_alive=60, clean=False):
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | \
        (0x40 if password is not None else 0)
    body = mqtt_str("MQTT") + bytes([4, flags]) + struct.pack(">H", keep_alive) + mqtt_str(client_id)
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_str(password)
    return mqtt_packet(0x10, body)


def subscribe_packet(packet_id, topic, qos=1):
    return mqtt_packet(0x82, struct.pack(">H", packet_id) + mqtt_str(topic) + bytes([qos]))


def publish_packet(topic, payload, qos=1, packet_id=1):
    body = mqtt_str(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return mqtt_packet(0x30 | (qos << 1), body)


def puback_packet(packet_id):
    return mqtt_packet(0x40, struct.pack(">H", packet_id))


def username_for(host, device_id):
    return "%s/%s/?api-version=%s" % (host, device_id, API_VERSION)


def c2d_topic_properties(topic):
    """devices/{id}/messages/devicebound/{bag} -> the bag's properties, percent-decoded."""
    parts = topic.split("/", 4)
    bag = parts[4] if len(parts) > 4 else ""
    props = {}
    for pair in filter(None, bag.split("&")):
        key, _, value = pair.partition("=")
        props[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
    return props


class MqttConnection:
    """One MQTT connection over TLS (or plain TCP with ca_file=None), read packet by packet.
    `sock`: a stream already open instead (anything with sendall/recv/settimeout/close, e.g. a
    websocket_stream.WebSocketStream for MQTT over WebSockets)."""

    def __init__(self, port, ca_file, timeout=10, client_cert=None, sock=None):
        self.timeout = timeout
        if sock is not None:
            self.sock = sock
        else:
            self.sock = (tls_connect(port, ca_file, timeout, client_cert) if ca_file
                         else tcp_connect(port, timeout))
        self.buffer = b""
        self.next_id = 1
        self.early_publishes = []  # PUBLISH packets read while waiting for another answer

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no MQTT packet in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ssl.SSLError as e:
                raise MqttClosed(str(e))
            except ConnectionError as e:
                raise MqttClosed(str(e))
            if not chunk:
                raise MqttClosed("closed by the server")
            self.buffer += chunk

    def read_packet(self, timeout=None):
        """(type, flags, body). Raises MqttClosed at end of stream, socket.timeout on time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(2, deadline)
        length, multiplier, i = 0, 1, 1
        while True:
            self._fill(i + 1, deadline)
            byte = self.buffer[i]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            i += 1
            if not byte & 0x80:
                break
        self._fill(i + length, deadline)
        first = self.buffer[0]
        body = self.buffer[i:i + length]
        self.buffer = self.buffer[i + length:]
        return first >> 4, first & 0x0F, body

    def connect(self, client_id, username, password, keep_alive=60, clean=False):
        """Sends CONNECT and returns the CONNACK return code."""
        self.send(connect_packet(client_id, username, password, keep_alive, clean))
        kind, _, body = self.read_packet()
        if kind != CONNACK:
            raise AssertionError("expected CONNACK, got packet type %d" % kind)
        return body[1]

    def subscribe(self, topic, qos=1):
        """Returns the SUBACK return codes."""
        pid = self._id()
        self.send(subscribe_packet(pid, topic, qos))
        while True:
            kind, flags, body = self.read_packet()
            if kind == SUBACK and struct.unpack(">H", body[:2])[0] == pid:
                return list(body[2:])
            if kind == PUBLISH:  # a durable session resumes delivery right after CONNACK
                self.early_publishes.append((flags, body))

    def publish(self, topic, payload, qos=1):
        """Publishes; for QoS 1 waits for the PUBACK."""
        pid = self._id()
        self.send(publish_packet(topic, payload, qos, pid))
        if qos:
            while True:
                kind, flags, body = self.read_packet()
                if kind == PUBACK and struct.unpack(">H", body[:2])[0] == pid:
                    return
                if kind == PUBLISH:
                    self.early_publishes.append((flags, body))

    def next_publish(self, timeout=None):
        """(topic, packet id or None, payload) of the next PUBLISH, skipping other packets."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if self.early_publishes:
                flags, body = self.early_publishes.pop(0)
            else:
                kind, flags, body = self.read_packet(max(0.0, deadline - time.monotonic()))
                if kind != PUBLISH:
                    continue
            n = struct.unpack(">H", body[:2])[0]
            topic = body[2:2 + n].decode()
            rest = body[2 + n:]
            qos = (flags >> 1) & 3
            if qos:
                return topic, struct.unpack(">H", rest[:2])[0], rest[2:]
            return topic, None, rest

    def puback(self, packet_id):
        self.send(puback_packet(packet_id))

    def wait_closed(self, timeout):
        """Seconds until the server closed the connection, or None if it stayed open."""
        return wait_closed(self.sock, timeout)

    def _id(self):
        pid = self.next_id
        self.next_id = pid % 65535 + 1
        return pid


# ---- the emulator's endpoints -----------------------------------------------------------------


class Hub:
    """What a test needs from the ready file: ports, CA, keys, host name."""

    def __init__(self, ready):
        self.ready = ready
        self.host = ready["hostName"]
        self.ca = ready["caCertificate"]
        self.ports = ready["ports"]
        self.policy_keys = dict(DEV_POLICY_KEYS)
        self.policy_keys.update({name: parse_connection_string(cs)["SharedAccessKey"]
                            for name, cs in ready["connectionStrings"].items()
                            if name != "devices"})
        # X.509 devices' strings carry `x509=true` instead of a key.
        self.device_keys = {name: parse_connection_string(cs)["SharedAccessKey"]
                            for name, cs in ready["connectionStrings"]["devices"].items()
                            if "SharedAccessKey" in parse_connection_string(cs)}

    # tokens
    def device_token(self, device_id, key=None, se=None, ttl=3600):
        return sas_token("%s/devices/%s" % (self.host, device_id),
                         key or self.device_keys[device_id], se=se, ttl=ttl)

    def policy_token(self, policy, key=None, se=None, ttl=3600, sr=None):
        return sas_token(sr or self.host, key or self.policy_keys[policy], skn=policy, se=se,
                         ttl=ttl)

    # MQTT
    def mqtt(self, timeout=10, client_cert=None):
        return MqttConnection(self.ports["mqtt"], self.ca, timeout, client_cert)

    def mqtt_ws(self, timeout=10):
        """MQTT over WebSockets: the HTTPS port, `/$iothub/websocket`, subprotocol `mqtt` (the
        SDKs' MqttWs transport). Not yet CONNECTed."""
        from websocket_stream import websocket_connect
        ws = websocket_connect(self.ports["https"], self.ca, "mqtt", timeout=timeout)
        return MqttConnection(None, None, timeout, sock=ws)

    def mqtt_device(self, device_id, token=None, timeout=10, clean=False, keep_alive=60):
        """A connected device (CONNACK 0 checked)."""
        c = self.mqtt(timeout)
        try:
            code = c.connect(device_id, username_for(self.host, device_id),
                             token or self.device_token(device_id), keep_alive, clean)
            if code != 0:
                raise AssertionError("CONNACK %d for %s" % (code, device_id))
        except BaseException:
            c.close()
            raise
        return c

    # HTTPS
    def https(self, method, path, body=None, token=None, headers=None, timeout=15):
        """(status, parsed JSON body or text)."""
        conn = http.client.HTTPSConnection("localhost", self.ports["https"], timeout=timeout,
                                           context=tls_context(self.ca))
        try:
            h = dict(headers or {})
            if token:
                h["Authorization"] = token
            data = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json; charset=utf-8")
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def health(self):
        return self.https("GET", "/health")[0] == 200

    # test control (the emulator must run with --test-control)
    def queue(self, device_id):
        status, body = self.https("GET", "/admin/devices/%s/messages" %
                                  urllib.parse.quote(device_id, safe=""))
        if status != 200:
            raise AssertionError("GET queue of %s: %d %s" % (device_id, status, body))
        return body

    def feedback(self):
        status, body = self.https("GET", "/admin/feedback")
        if status != 200:
            raise AssertionError("GET /admin/feedback: %d %s" % (status, body))
        return body

    def enqueue(self, device_id, message_id, body="x", ack=None):
        msg = {"messageId": message_id, "body": body}
        if ack:
            msg["ack"] = ack
        status, answer = self.https("POST", "/admin/devices/%s/messages" % device_id, msg)
        if status != 201:
            raise AssertionError("POST C2D: %d %s" % (status, answer))
        return answer["seq"]

    def advance_clock(self, seconds):
        status, body = self.https("POST", "/admin/clock/advance", {"seconds": seconds})
        if status != 200:
            raise AssertionError("clock advance: %d %s" % (status, body))

    # AMQP (python3-qpid-proton)
    @property
    def amqp_url(self):
        return "amqps://localhost:%d" % self.ports["amqp"]

    def amqp_ssl_domain(self):
        from proton import SSLDomain
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(self.ca)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        return domain

    def amqp_plain(self, policy="service", token=None, timeout=15):
        """A BlockingConnection authenticated with SASL PLAIN (the C service SDK's way)."""
        from proton.utils import BlockingConnection
        return BlockingConnection(self.amqp_url, ssl_domain=self.amqp_ssl_domain(),
                                  timeout=timeout, allowed_mechs="PLAIN",
                                  user="%s@sas.root.%s" % (policy, self.ready["hubName"]),
                                  password=token or self.policy_token(policy))

    def amqp_bare(self, timeout=15):
        """A BlockingConnection without SASL (the Node and C# SDKs' way), not yet authorised."""
        from proton.utils import BlockingConnection
        return BlockingConnection(self.amqp_url, ssl_domain=self.amqp_ssl_domain(),
                                  timeout=timeout, sasl_enabled=False)

    def amqp_ws(self, timeout=15):
        """AMQP over WebSockets: the HTTPS port, `/$iothub/websocket`, subprotocol `AMQPWSB10`
        (the SDKs' AmqpWs transport), opened without SASL and not yet authorised: an
        amqp_ws.AmqpStreamConnection (proton's engine over the WebSocket stream)."""
        from amqp_ws import AmqpStreamConnection
        from websocket_stream import websocket_connect
        ws = websocket_connect(self.ports["https"], self.ca, "AMQPWSB10", timeout=timeout)
        try:
            return AmqpStreamConnection(ws, self.host, timeout)
        except BaseException:
            ws.close()
            raise

    def cbs_put_token(self, conn, token, audience=None, timeout=15):
        """CBS put-token (spec §4.2); returns the status code of the reply."""
        import uuid
        from proton import Message
        tag = uuid.uuid4().hex
        snd = conn.create_sender("$cbs", name="cbs-s-" + tag)
        rcv = conn.create_receiver("$cbs", name="cbs-r-" + tag)
        snd.send(Message(id="put-" + tag, reply_to="cbs", body=token, properties={
            "operation": "put-token", "type": "servicebus.windows.net:sastoken",
            "name": audience or self.host}))
        reply = rcv.receive(timeout=timeout)
        rcv.accept()
        snd.close()
        rcv.close()
        return int(reply.properties["status-code"])


def c2d_message(device_id, message_id, body=b"payload", ack=None, **properties):
    from proton import Message
    props = dict(properties)
    if ack:
        props["iothub-ack"] = ack
    return Message(address="/devices/%s/messages/devicebound" % device_id, id=message_id,
                   body=body, inferred=True, properties=props)


def send_outcome(sender, message, timeout=None):
    """Sends one message on a BlockingSender; returns (remote state name, condition name)."""
    from proton import Delivery
    d = sender.send(message, timeout=timeout, error_states=[])
    names = {Delivery.ACCEPTED: "accepted", Delivery.REJECTED: "rejected",
             Delivery.RELEASED: "released", Delivery.MODIFIED: "modified"}
    cond = d.remote.condition
    return names.get(d.remote_state, str(d.remote_state)), (cond.name if cond else None)


def process_rss_kib(pid):
    """Resident set size of a process in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(re.findall(r"\d+", line)[0])
    raise RuntimeError("no VmRSS for pid %d" % pid)

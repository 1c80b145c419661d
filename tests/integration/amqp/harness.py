"""Starts amqp_harness (the AMQP endpoint in-process with a hub) for python3-qpid-proton tests.

    with Harness() as h:
        h.ready["amqpPort"], h.command("complete dev1"), h.url, h.ssl_domain()

Every wait is bounded (no sleeps as synchronisation): the ready line and each answer are read by
a thread into a queue and taken with a timeout. stop() ends the process and checks its exit code
(the harness runs under ASan/LSan in the test build).
"""
import base64
import hashlib
import hmac
import json
import os
import queue
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse

from proton import Data, Described, SSLDomain, uint, ulong


class Harness:
    def __init__(self, args=None, timeout=30):
        self.binary = os.environ["AMQP_HARNESS"]
        self.cert_dir = os.environ["AMQP_CERT_DIR"]
        self.args = list(args or [])
        self.timeout = timeout
        self.proc = None
        self.ready = None
        self._lines = queue.Queue()
        self._stderr = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.proc = subprocess.Popen([self.binary, "--cert-dir", self.cert_dir] + self.args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines),
                                          daemon=True),
                         threading.Thread(target=self._drain, daemon=True)]
        for t in self._threads:
            t.start()
        try:
            self.ready = json.loads(self._next("the ready line"))
        except BaseException:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdin.close()
            self._close_pipes()
            raise
        return self

    def _pump(self, stream, q):
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def _drain(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def stderr(self):
        return "".join(self._stderr)

    def _next(self, what):
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise AssertionError("timed out waiting for %s\n%s" % (what, self.stderr()))
        if line is None:
            raise AssertionError("harness exited while waiting for %s\n%s" % (what, self.stderr()))
        return line

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._next("the answer to %r" % text)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
            code = self.proc.wait(20)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait(10)
            self._close_pipes()
            raise AssertionError("harness did not exit\n" + self.stderr())
        self._close_pipes()
        if code != 0:
            raise AssertionError("harness exited with %d\n%s" % (code, self.stderr()))

    def _close_pipes(self):
        for t in self._threads:
            t.join(10)  # the pipes reach end-of-file once the process has exited
        self.proc.stdout.close()
        self.proc.stderr.close()

    # ---- client helpers ----------------------------------------------------------------
    @property
    def port(self):
        return self.ready["amqpPort"]

    @property
    def url(self):
        return "amqps://localhost:%d" % self.port

    @property
    def host(self):
        return "localhost:%d" % self.port

    def key(self, policy):
        return self.ready["keys"][policy]

    def ssl_domain(self):
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(self.ready["caCertificate"])
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        return domain

    def token(self, policy="iothubowner", sr=None, ttl=3600, se=None, key=None):
        return sas_token(sr or "localhost", key or self.key(policy), policy,
                         se if se is not None else int(time.time()) + ttl)

    def tls_socket(self):
        context = ssl.create_default_context(cafile=self.ready["caCertificate"])
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        return context.wrap_socket(raw, server_hostname="localhost")


def sas_token(sr, key, skn, se):
    """As the SDKs make it: sig over url-encoded sr + "\\n" + se (spec §5.1)."""
    encoded = urllib.parse.quote(sr, safe="")
    digest = hmac.new(base64.b64decode(key), (encoded + "\n" + str(se)).encode(),
                      hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    return "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s" % (encoded, sig, se, skn)


# ---- raw AMQP frames (for what no client library will send) ---------------------------------
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"


def encode(value):
    d = Data()
    d.put_object(value)
    return d.encode()


def frame(body, frame_type=0, channel=0):
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, channel) + body


def performative(code, fields, frame_type=0, channel=0):
    return frame(encode(Described(ulong(code), fields)), frame_type, channel)


class FrameReader:
    """Reads protocol headers and frames from a socket, each with a deadline."""

    def __init__(self, sock, timeout=20):
        self.sock = sock
        self.buffer = b""
        self.timeout = timeout

    def _fill(self, n):
        deadline = time.monotonic() + self.timeout
        while len(self.buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out reading from the server")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def header(self):
        if not self._fill(8):
            return None
        h, self.buffer = self.buffer[:8], self.buffer[8:]
        return h

    def frame(self):
        """(type, channel, performative or None, payload) or None at end of stream."""
        if not self._fill(8):
            return None
        size, doff, ftype, channel = struct.unpack(">IBBH", self.buffer[:8])
        if not self._fill(size):
            return None
        body, self.buffer = self.buffer[doff * 4:size], self.buffer[size:]
        if not body:
            return (ftype, channel, None, b"")
        d = Data()
        used = d.decode(body)
        d.rewind()
        d.next()
        return (ftype, channel, d.get_object(), body[used:])

    def until(self, descriptor, with_payload=False):
        """Frames until one with this descriptor code; returns its fields (and payload) or None
        at end of stream."""
        while True:
            f = self.frame()
            if f is None:
                return None
            if f[2] is not None and int(f[2].descriptor) == descriptor:
                return (f[2].value, f[3]) if with_payload else f[2].value


class RawClient:
    """A hand-driven AMQP client over TLS: header, open, one session, links by handle."""

    def __init__(self, harness):
        self.h = harness
        self.sock = harness.tls_socket()
        self.r = FrameReader(self.sock)
        self.next_delivery = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def open(self):
        self.send(AMQP_HEADER + performative(0x10, ["raw", "localhost"]))
        assert self.r.header() == AMQP_HEADER
        assert self.r.until(0x10) is not None
        self.send(performative(0x11, [None, uint(0), uint(1000), uint(1000)]))
        assert self.r.until(0x11) is not None

    def attach_sender(self, handle, target, name=None):
        self.send(performative(0x12, [name or "s%d" % handle, uint(handle), False, None, None,
                                      Described(ulong(0x28), [None]),
                                      Described(ulong(0x29), [target]), None, False, uint(0)]))

    def attach_receiver(self, handle, source, credit, name=None):
        self.send(performative(0x12, [name or "r%d" % handle, uint(handle), True, None, None,
                                      Described(ulong(0x28), [source]),
                                      Described(ulong(0x29), [None])]))
        self.send(performative(0x13, [uint(0), uint(1000), uint(0), uint(1000), uint(handle),
                                      uint(0), uint(credit)]))

    def transfer(self, handle, payload, tag=None, settled=False):
        delivery = self.next_delivery
        self.next_delivery += 1
        tag = tag or b"t%d" % delivery
        self.send(frame(encode(Described(ulong(0x14), [uint(handle), uint(delivery), tag,
                                                       uint(0), settled])) + payload))
        return delivery

    def next_transfer(self, handle):
        """(fields, payload) of the next transfer on `handle` (single-frame deliveries)."""
        while True:
            got = self.r.until(0x14, with_payload=True)
            assert got is not None, "connection ended"
            if int(got[0][0]) == handle:
                return got

    def put_token(self, token, message_id):
        """CBS over raw frames (handles 0 and 1); returns the reply's raw message bytes."""
        from proton import Message
        self.attach_sender(0, "$cbs")
        self.attach_receiver(1, "$cbs", 10)
        request = Message(id=message_id, reply_to="cbs", body=token, properties={
            "operation": "put-token", "type": "servicebus.windows.net:sastoken",
            "name": "localhost"})
        self.transfer(0, request.encode())
        return self.next_transfer(1)[1]


def sections(message_bytes):
    """{descriptor: Data positioned on the section's value} of an encoded message."""
    out = {}
    while message_bytes:
        d = Data()
        used = d.decode(message_bytes)
        message_bytes = message_bytes[used:]
        d.rewind()
        d.next()
        d.enter()
        d.next()
        code = int(d.get_ulong())
        d.next()
        out[code] = d
    return out


def error_condition(fields, index=0):
    """The condition symbol of an `error` held in a performative's field list."""
    if fields is None or len(fields) <= index or fields[index] is None:
        return None
    err = fields[index]
    return str(err.value[0]) if isinstance(err, Described) else None

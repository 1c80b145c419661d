"""The client side of a WebSocket (RFC 6455) as a byte stream, so that clients written for a
socket (attack_clients.MqttConnection, the AMQP engine driver in amqp_ws.py) run unchanged over
`wss://…/$iothub/websocket`, the way the SDKs' MqttWs and AmqpWs transports reach the hub
through its HTTPS port.

    ws = websocket_connect(hub.ports["https"], hub.ca, "mqtt")
    ws.sendall(bytes)      # one masked binary frame
    ws.recv(65536)         # payload bytes of binary/continuation frames; b"" once closed

MQTT and AMQP over WebSockets are streams (MQTT 3.1.1 §6, AMQP WebSocket Binding §2): message
boundaries mean nothing, so data frames are simply concatenated. Control frames are answered
as the RFC says (ping → pong with the same payload, close → close). The frame parser keeps
partial frames across timeouts, so `recv` may time out at any moment without losing sync.

A server that breaks the protocol (a masked or text frame, reserved bits, a bad handshake)
raises `WebSocketError`, which is not an OSError: a test sees it instead of taking it for the
emulator going away.
"""
import base64
import hashlib
import os
import struct

from attack_clients import tls_connect

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The server broke RFC 6455 (or refused the upgrade)."""


def frame(opcode, payload, fin=True):
    """A client frame: always masked (RFC 6455 §5.3)."""
    header = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        header.append(0x80 | n)
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack(">Q", n)
    key = os.urandom(4)
    stream = (key * (n // 4 + 1))[:n]  # XOR all at once, as one big integer
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return bytes(header) + key + masked


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


class WebSocketStream:
    """An upgraded connection; socket-like: sendall, recv, settimeout, close."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.raw = bytearray(initial)   # bytes read from the socket, not yet a whole frame
        self.data = bytearray()         # payload bytes not yet returned by recv
        self.closed = False             # a close frame came (or the socket ended)
        self.close_sent = False
        self.in_message = False         # a fragmented data message is under way

    # socket-like -----------------------------------------------------------------------------

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def gettimeout(self):
        return self.sock.gettimeout()

    def fileno(self):
        return self.sock.fileno()

    def sendall(self, data):
        if data:
            self.sock.sendall(frame(BINARY, bytes(data)))

    send = sendall

    def recv(self, n):
        """Up to `n` payload bytes; b"" once the server closed (close frame or end of stream).
        Raises socket.timeout (partial frames are kept) and OSError like a socket."""
        while not self.data:
            if self.closed:
                return b""
            if not self._parse_one():
                chunk = self.sock.recv(65536)
                if not chunk:
                    if self.raw:
                        raise ConnectionResetError("the stream ended inside a WebSocket frame")
                    self.closed = True
                    return b""
                self.raw += chunk
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def close(self):
        """Sends a close frame (best effort: the peer may be gone) and closes the socket."""
        try:
            if not self.close_sent:
                self.close_sent = True
                self.sock.settimeout(0.5)
                self.sock.sendall(frame(CLOSE, struct.pack(">H", 1000)))
        except OSError:
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    # frames ----------------------------------------------------------------------------------

    def _parse_one(self):
        """Takes one whole frame off `raw` if there is one; False if more bytes are needed."""
        raw = self.raw
        if len(raw) < 2:
            return False
        first, second = raw[0], raw[1]
        if first & 0x70:
            raise WebSocketError("reserved bits set (no extension was negotiated): %#x" % first)
        if second & 0x80:
            raise WebSocketError("a masked server frame (RFC 6455 §5.1)")
        opcode, fin = first & 0x0F, bool(first & 0x80)
        length, at = second & 0x7F, 2
        if length == 126:
            if len(raw) < 4:
                return False
            length, at = struct.unpack(">H", raw[2:4])[0], 4
        elif length == 127:
            if len(raw) < 10:
                return False
            length, at = struct.unpack(">Q", raw[2:10])[0], 10
        if len(raw) < at + length:
            return False
        payload = bytes(raw[at:at + length])
        del raw[:at + length]
        self._on_frame(opcode, fin, payload)
        return True

    def _on_frame(self, opcode, fin, payload):
        if opcode in (CLOSE, PING, PONG):
            if not fin or len(payload) > 125:
                raise WebSocketError("a fragmented or long control frame")
            if opcode == PING:
                self.sock.sendall(frame(PONG, payload))
            elif opcode == CLOSE:
                self.closed = True
                if not self.close_sent:  # echo the close (§5.5.1), then the server ends TCP
                    self.close_sent = True
                    try:
                        self.sock.sendall(frame(CLOSE, payload[:2]))
                    except OSError:
                        pass
            return
        if opcode == BINARY:
            if self.in_message:
                raise WebSocketError("a new data frame inside a fragmented message")
        elif opcode == CONTINUATION:
            if not self.in_message:
                raise WebSocketError("a continuation frame with no message under way")
        elif opcode == TEXT:
            raise WebSocketError("a text frame on a binary subprotocol")
        else:
            raise WebSocketError("unknown opcode %#x" % opcode)
        self.in_message = not fin
        self.data += payload


def websocket_connect(port, ca_file, subprotocol, path="/$iothub/websocket", timeout=10,
                      host="localhost"):
    """TLS to `port`, the HTTP/1.1 upgrade offering `subprotocol`, checked (101, the accept
    key, the subprotocol chosen). Returns a WebSocketStream. OSError if the connection fails or
    ends during the upgrade; WebSocketError if the server answers it wrongly."""
    sock = tls_connect(port, ca_file, timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
                      % (path, host, key, subprotocol)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            if len(head) > 16384:
                raise WebSocketError("an upgrade answer without end: %r" % head[:200])
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("closed during the WebSocket upgrade")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WebSocketError("upgrade refused: %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket" or \
                "upgrade" not in headers.get("connection", "").lower():
            raise WebSocketError("a 101 without Upgrade: websocket: %r" % headers)
        if headers.get("sec-websocket-accept") != accept_for(key):
            raise WebSocketError("wrong Sec-WebSocket-Accept: %r" %
                                 headers.get("sec-websocket-accept"))
        if headers.get("sec-websocket-protocol") != subprotocol:
            raise WebSocketError("subprotocol %r chosen, %r offered" %
                                 (headers.get("sec-websocket-protocol"), subprotocol))
        return WebSocketStream(sock, rest)
    except BaseException:
        sock.close()
        raise

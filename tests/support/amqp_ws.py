"""AMQP 1.0 over any byte stream, with python3-qpid-proton's protocol engine driven by hand.

proton's reactor and BlockingConnection only open TCP/TLS sockets of their own; AMQP over
WebSockets (subprotocol `AMQPWSB10` on the HTTPS port, the SDKs' AmqpWs transport) needs the
engine fed from a websocket_stream.WebSocketStream instead. The engine (Connection + Transport)
does the AMQP; this module only moves bytes: `transport.peek/pop` → `stream.sendall`,
`stream.recv` → `transport.push`, and waits, with a deadline, for what a caller asks.

    conn = hub.amqp_ws()                          # upgrade + AMQP open, no SASL (Node, C#)
    conn.cbs_put_token(token, audience)           # 200 expected
    rcv = conn.receiver("/devices/d1/messages/devicebound", credit=10)
    message, delivery = conn.receive(rcv, timeout=1)
    conn.accept(delivery)                         # returns once the disposition is written

Only /usr/bin/python3 can import proton, so import this module lazily.

Errors: `AmqpClosed` when the server ended the stream or closed the connection or a link (the
emulator went away, for a crash test); socket.timeout when a deadline passed;
`AmqpProtocolError` when the engine found the server's bytes malformed while the stream was
still open (a real bug, never taken for a crash).
"""
import socket
import time
import uuid

from proton import Connection, Delivery, Endpoint, Message, Transport


class AmqpClosed(Exception):
    """The server ended the stream, or closed the connection or a link."""


class AmqpProtocolError(Exception):
    """The engine rejected what the server sent while the stream was open."""


class AmqpStreamConnection:
    """One AMQP connection (one session) over `stream`, opened without SASL."""

    def __init__(self, stream, hostname, timeout=10):
        self.stream = stream
        self.timeout = timeout
        self.conn = Connection()
        self.conn.hostname = hostname
        self.conn.container = "amqp-ws-" + uuid.uuid4().hex
        self.transport = Transport()
        self.transport.bind(self.conn)  # no transport.sasl(): the plain AMQP header
        self.conn.open()
        self.session = self.conn.session()
        self.session.open()
        self.wait(lambda: self.conn.state & Endpoint.REMOTE_ACTIVE and
                  self.session.state & Endpoint.REMOTE_ACTIVE, "the AMQP open")

    # moving bytes ----------------------------------------------------------------------------

    def flush(self):
        """Hands every byte the engine has to send to the stream (then it is in the kernel)."""
        self.transport.tick(time.monotonic())  # heartbeats, if the server asked for them
        while True:
            n = self.transport.pending()
            if n <= 0:
                return
            self.stream.sendall(self.transport.peek(n))
            self.transport.pop(n)

    def _read(self, timeout):
        self.stream.settimeout(max(timeout, 0.001))
        try:
            data = self.stream.recv(65536)
        except socket.timeout:
            return
        if not data:
            self.transport.close_tail()
            raise AmqpClosed("the server ended the stream")
        while data:
            room = self.transport.capacity()
            if room <= 0:
                raise AmqpProtocolError("the engine takes no more input: %s" %
                                        self.transport.condition)
            self.transport.push(data[:room])
            data = data[room:]

    def _check(self, links=()):
        for endpoint, what in [(self.conn, "connection"), (self.session, "session")] + \
                [(link, "link " + link.name) for link in links]:
            if endpoint.state & Endpoint.REMOTE_CLOSED:
                condition = endpoint.remote_condition
                raise AmqpClosed("%s closed by the server: %s" % (
                    what, "%s %s" % (condition.name, condition.description) if condition
                    else "no error"))
        condition = self.transport.condition
        if condition is not None:
            raise AmqpProtocolError("%s: %s" % (condition.name, condition.description))

    def wait(self, predicate, what, timeout=None, links=()):
        """Moves bytes until `predicate()` holds; socket.timeout after `timeout` seconds."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            self.flush()
            self._check(links)
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no %s in time" % what)
            self._read(remaining)

    # links -----------------------------------------------------------------------------------

    def sender(self, address):
        link = self.session.sender("s-" + uuid.uuid4().hex)
        link.target.address = address
        link.open()
        self.wait(lambda: link.state & Endpoint.REMOTE_ACTIVE, "attach of " + address,
                  links=[link])
        return link

    def receiver(self, address, credit=10):
        link = self.session.receiver("r-" + uuid.uuid4().hex)
        link.source.address = address
        link.open()
        link.flow(credit)
        self.wait(lambda: link.state & Endpoint.REMOTE_ACTIVE, "attach of " + address,
                  links=[link])
        return link

    def receive(self, link, timeout=None):
        """(message, delivery) of the next whole message on `link`, not yet settled."""
        def ready():
            d = link.current
            return d is not None and d.readable and not d.partial
        self.wait(ready, "message on " + link.source.address, timeout, links=[link])
        message = Message()
        delivery = message.recv(link)
        return message, delivery

    def accept(self, delivery, link=None, credit=10):
        """Accepts and settles `delivery`; returns once the disposition frame was handed to the
        stream (the emulator gets it unless the connection dies now). Tops the credit up."""
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if link is not None and link.credit < credit // 2:
            link.flow(credit - link.credit)
        self.flush()

    def cbs_put_token(self, token, audience, timeout=None):
        """CBS put-token (spec §4.2) on links of their own; returns the reply's status code."""
        tag = uuid.uuid4().hex
        snd = self.sender("$cbs")
        rcv = self.receiver("$cbs", credit=1)
        Message(id="put-" + tag, reply_to="cbs", body=token, properties={
            "operation": "put-token", "type": "servicebus.windows.net:sastoken",
            "name": audience}).send(snd)
        reply, delivery = self.receive(rcv, timeout)
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        snd.close()
        rcv.close()
        self.flush()
        return int(reply.properties["status-code"])

    def close(self):
        """Closes the connection (best effort: the server may be gone) and the stream."""
        try:
            self.conn.close()
            self.flush()
        except Exception:  # noqa: BLE001 - the peer vanished; nothing left to tell it
            pass
        finally:
            self.stream.close()

#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_mqtt_session (format: tests/fuzz/mqtt_session_fuzz.cpp).

Run from this directory: python3 make_seeds.py. Each seed is a short scripted conversation
(CONNECT, the hub's answers, SUBSCRIBE, C2D deliveries, PUBACKs, telemetry, timers, closes)
so the fuzzer starts from the interesting states instead of finding CONNECT by chance.
"""
import struct

def varint(n):
    out = b''
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def s(text):
    b = text.encode()
    return struct.pack('>H', len(b)) + b

def packet(first, body):
    return bytes([first]) + varint(len(body)) + body

def connect(client='dev1', clean=False, keep_alive=60, level=4,
            user='localhost/dev1/?api-version=2021-04-12',
            password='SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=x&se=1'):
    flags = 0xC0 | (0x02 if clean else 0)
    body = s('MQTT') + bytes([level, flags]) + struct.pack('>H', keep_alive)
    body += s(client) + s(user) + s(password)
    return packet(0x10, body)

def subscribe(pid, *filters):
    body = struct.pack('>H', pid)
    for f, q in filters:
        body += s(f) + bytes([q])
    return packet(0x82, body)

def unsubscribe(pid, *filters):
    return packet(0xA2, struct.pack('>H', pid) + b''.join(s(f) for f in filters))

def publish(topic, qos, pid, payload, retain=False):
    body = s(topic) + (struct.pack('>H', pid) if qos else b'') + payload
    return packet(0x30 | (qos << 1) | (1 if retain else 0), body)

def puback(pid):
    return packet(0x40, struct.pack('>H', pid))

PINGREQ = packet(0xC0, b'')
DISCONNECT = packet(0xE0, b'')
C2D = 'devices/dev1/messages/devicebound/#'
EVENTS = 'devices/dev1/messages/events/%24.mid=m1&k=v'

# ops
def wire(*packets):
    data = b''.join(packets)
    return bytes([0]) + struct.pack('>H', len(data)) + data

def auth(outcome=0, stored=0, expiry_s=200):
    return bytes([1, outcome, stored, expiry_s])

def delivery(present=1, seq=1, lock=1, secs=60):
    return bytes([2, present, seq, lock, secs])

def stored(ok=1):
    return bytes([3, ok])

def telemetry_stored(pid, ok=1):
    return bytes([4]) + struct.pack('>H', pid) + bytes([ok])

AVAILABLE = bytes([5])

def timer(secs):
    return bytes([6, secs])

def close(reason=1):
    return bytes([7, reason])

OPEN = bytes([8])

seeds = {
    'happy_path': bytes([0]) + OPEN + wire(connect()) + auth(0, 2) + delivery(1, 1, 1) +
                  wire(puback(1)) + delivery(0) + AVAILABLE + delivery(1, 2, 2) +
                  wire(publish(EVENTS, 1, 5, b'{"t":1}')) + telemetry_stored(5) +
                  wire(PINGREQ) + timer(30) + wire(DISCONNECT),
    'subscribe_then_deliver': bytes([1]) + OPEN + wire(connect(clean=False)) + auth() +
                              wire(subscribe(1, (C2D, 1), ('$iothub/twin/res/#', 0))) +
                              stored(1) + delivery(1, 3, 9) + delivery(1, 4, 10) +
                              wire(puback(2), puback(1)) + close(1),
    'clean_qos0': bytes([2]) + OPEN + wire(connect(clean=True)) + auth(0, 2) +
                  wire(subscribe(7, (C2D, 0))) + delivery(1, 5, 5) + delivery(0) +
                  wire(unsubscribe(8, C2D)) + delivery(1, 6, 6),
    'refused': bytes([0]) + OPEN + wire(connect()) + auth(1) + wire(PINGREQ),
    'store_failed': bytes([0]) + OPEN + wire(connect()) + auth(2),
    'pipelined': bytes([3]) + OPEN + wire(connect(), subscribe(1, (C2D, 2)), PINGREQ,
                                          publish(EVENTS, 1, 3, b'x')) + auth(0, 0) + stored(1) +
                 telemetry_stored(3, 0),
    'keep_alive_timeout': bytes([0]) + OPEN + wire(connect(keep_alive=10)) + auth(0, 2) +
                          delivery(1, 1, 1, 5) + timer(10) + timer(10),
    'lock_timeout': bytes([0]) + OPEN + wire(connect()) + auth(0, 2) + delivery(1, 1, 1, 2) +
                    timer(5) + AVAILABLE + delivery(1, 1, 2) + wire(puback(1), puback(2)),
    'bad_level': bytes([0]) + OPEN + wire(connect(level=3)),
    'other_device': bytes([0]) + OPEN + wire(connect(clean=True)) + auth() +
                    wire(subscribe(1, ('devices/dev2/messages/devicebound/#', 1))),
    'qos2_publish': bytes([0]) + OPEN + wire(connect()) + auth() +
                    wire(publish(EVENTS, 2, 4, b'x')),
    'connect_timeout': bytes([0]) + OPEN + timer(5) + timer(5),
    'will': bytes([0]) + OPEN + wire(packet(0x10, s('MQTT') + bytes([4, 0xC4 | 0x08]) +
                                             struct.pack('>H', 60) + s('dev1') +
                                             s('devices/dev1/messages/events/a=b') + s('bye') +
                                             s('localhost/dev1/') + s('SharedAccessSignature x'))) +
            auth() + close(1),
}

for name, data in seeds.items():
    with open(name, 'wb') as f:
        f.write(data)

#!/usr/bin/python3
"""Soak of iothub-emulator (issue 7 item 5, issue 20 item 7): bounded loopback load of every
feature for --duration seconds while the emulator's resident set size (RSS) and open file
descriptors are sampled; fails if either keeps growing or any operation fails.

How to run (not part of the test suite; a Release build, because ASan's quarantine grows RSS
by design):

    cmake -S . -B build/soak -G Ninja -DCMAKE_BUILD_TYPE=Release
    cmake --build build/soak --target iothub-emulator
    /usr/bin/python3 bench/soak.py --binary build/soak/emulator/app/iothub-emulator

    --duration 1800    seconds of load (default 1800 = 30 minutes)
    --interval 5       seconds between RSS samples
    --warmup 90        seconds before the first sample that counts (caches, pools, the
                       telemetry ring filling up)
    --bound-mib 16     allowed growth: median RSS of the last third of the counted samples
                       minus that of the first third (plus --bound-percent of the latter)
    --bound-percent 10
    --fd-bound 32      allowed growth of open file descriptors (last third minus first third)
    --in-memory        no database file (default: a database in a temporary data directory)

It needs Debian's /usr/bin/python3 (python3-qpid-proton). Everything listens on 127.0.0.1 with
ephemeral ports; the emulator and every client are stopped at the end. Exit code 0: bounded;
1: RSS or file descriptors grew past the bound; 2: the load failed.

The load, all at once, all bounded (no queue or buffer grows with time):
  - 3 AMQP senders (unsettled, iothub-ack full) to 8 MQTT devices that complete everything;
    at most 40 messages accepted but not yet received per device;
  - a feedback receiver accepting every batch;
  - a registry reader on a keep-alive HTTPS connection;
  - a churner: devices connecting, publishing telemetry (2 KB, into the emulator's telemetry
    ring, capacity 1000 here) and disconnecting; a wrong-key CONNECT; garbage on every port;
    a device created and deleted over the registry REST API;
  - a feature tour, one step after the other on one MQTT device: twin GET and reported patch,
    a desired patch over REST and its notification, a direct method invoked over REST and
    answered by the device, telemetry over the device HTTPS API; every 10th round telemetry
    over device AMQP (CBS with the device's token) and a read of the Event Hubs-compatible
    endpoint (CBS with the service policy).
"""
import argparse
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests", "support"),
                os.path.join(ROOT, "tests", "integration", "reliability")]

from attack_clients import (WRONG_KEY, process_rss_kib, tcp_connect, tls_connect,  # noqa: E402
                            username_for)
from emulator import Emulator  # noqa: E402
from load import (AmqpSender, Client, Cluster, FeedbackReceiver, HttpsPoller,  # noqa: E402
                  Ledger, MqttDevice)

DEVICES = ["soak-%d" % i for i in range(8)]
CHURN_DEVICES = ["churn-%d" % i for i in range(4)]
TOUR_DEVICE = "soak-tour"
API = "?api-version=2021-04-12"


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Churner(Client):
    """Connections that come and go, telemetry, refusals, garbage, registry writes."""

    def __init__(self, cluster, ledger):
        super().__init__("churner", cluster, ledger)
        self.rng = random.Random(1)
        self.cycles = 0
        self.telemetry = 0

    def session(self, generation, hub):
        payload = b"t" * 2048
        while self.active(generation):
            device = self.rng.choice(CHURN_DEVICES)
            with hub.mqtt_device(device, clean=True) as m:
                for _ in range(3):
                    m.publish("devices/%s/messages/events/kind=soak" % device, payload)
                    self.telemetry += 1
            with hub.mqtt() as m:
                if m.connect(device, username_for(hub.host, device),
                             hub.device_token(device, key=WRONG_KEY)) != 5:
                    raise AssertionError("a wrong key was not refused")
            port = hub.ports[self.rng.choice(["mqtt", "amqp", "https"])]
            garbage = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 512)))
            for connect in (lambda: tcp_connect(port), lambda: tls_connect(port, hub.ca)):
                try:
                    with connect() as s:
                        s.sendall(garbage)
                except (OSError, ssl.SSLError):
                    pass  # refused or cut: what garbage deserves
            token = hub.policy_token("registryReadWrite")
            path = "/devices/soak-temp?api-version=2021-04-12"
            status, body = hub.https("PUT", path, {"deviceId": "soak-temp"}, token=token)
            if status != 200:
                raise AssertionError("create device: %d %s" % (status, body))
            status, body = hub.https("DELETE", path, token=token, headers={"If-Match": "*"})
            if status not in (200, 204):
                raise AssertionError("delete device: %d %s" % (status, body))
            self.cycles += 1


class FeatureTour(Client):
    """Twins, methods, device HTTPS and AMQP, Event Hubs reads: each step checked."""

    def __init__(self, cluster, ledger, hub_name):
        super().__init__("tour", cluster, ledger)
        self.hub_name = hub_name
        self.rounds = 0
        self.rid = 0

    def response(self, m, prefix):
        """The next PUBLISH whose topic starts with `prefix` (twin answers, notifications)."""
        for _ in range(20):
            topic, _, payload = m.next_publish(timeout=15)
            if topic.startswith(prefix):
                return topic, payload
        raise AssertionError("no %s" % prefix)

    def session(self, generation, hub):
        owner = hub.policy_token("iothubowner")
        with hub.mqtt_device(TOUR_DEVICE, clean=True) as m:
            for topic in ("$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#",
                          "$iothub/methods/POST/#"):
                if m.subscribe(topic, qos=0) != [0]:
                    raise AssertionError("SUBACK for " + topic)
            while self.active(generation):
                self.tour_round(hub, m, owner)
                self.rounds += 1

    def tour_round(self, hub, m, owner):
        k = self.rounds
        # Twin: GET, reported patch.
        self.rid += 1
        m.publish("$iothub/twin/GET/?$rid=%d" % self.rid, b"", qos=0)
        self.response(m, "$iothub/twin/res/200/?$rid=%d" % self.rid)
        self.rid += 1
        m.publish("$iothub/twin/PATCH/properties/reported/?$rid=%d" % self.rid,
                  json.dumps({"round": k}).encode(), qos=0)
        self.response(m, "$iothub/twin/res/204/?$rid=%d" % self.rid)
        # Desired patch over REST, and its notification.
        status, body = hub.https("PATCH", "/twins/%s%s" % (TOUR_DEVICE, API),
                                 {"properties": {"desired": {"round": k}}}, token=owner)
        if status != 200:
            raise AssertionError("desired patch: %d %s" % (status, body))
        self.response(m, "$iothub/twin/PATCH/properties/desired/")
        # A direct method, answered by the device.
        answer = {}

        def invoke():
            answer["r"] = hub.https("POST", "/twins/%s/methods%s" % (TOUR_DEVICE, API),
                                    {"methodName": "ping", "responseTimeoutInSeconds": 15,
                                     "payload": {"round": k}}, token=owner, timeout=30)
        t = threading.Thread(target=invoke)
        t.start()
        topic, _ = self.response(m, "$iothub/methods/POST/ping/")
        rid = topic.rsplit("$rid=", 1)[1]
        m.publish("$iothub/methods/res/200/?$rid=%s" % rid, json.dumps({"pong": k}).encode(),
                  qos=0)
        t.join(30)
        status, body = answer.get("r", (None, None))
        if status != 200 or body.get("payload") != {"pong": k}:
            raise AssertionError("method: %s %s" % (status, body))
        # Telemetry over the device HTTPS API.
        status, body = hub.https("POST", "/devices/%s/messages/events%s" % (TOUR_DEVICE, API),
                                 b"tour %d" % k, token=hub.device_token(TOUR_DEVICE),
                                 headers={"iothub-app-round": str(k)})
        if status != 204:
            raise AssertionError("HTTPS telemetry: %d %s" % (status, body))
        if k % 10 == 0:
            self.amqp_round(hub, k)

    def amqp_round(self, hub, k):
        from proton import Message, Timeout
        # Device AMQP: telemetry with the device's own token.
        conn = hub.amqp_bare()
        try:
            audience = "%s/devices/%s" % (hub.host, TOUR_DEVICE)
            if hub.cbs_put_token(conn, hub.device_token(TOUR_DEVICE), audience=audience) != 200:
                raise AssertionError("device CBS refused")
            snd = conn.create_sender("/devices/%s/messages/events" % TOUR_DEVICE)
            for i in range(3):
                snd.send(Message(body=b"amqp tour %d.%d" % (k, i), inferred=True))
            snd.close()
        finally:
            conn.close()
        # The Event Hubs-compatible endpoint: read what partition 0 holds, a little.
        conn = hub.amqp_bare()
        try:
            if hub.cbs_put_token(conn, hub.policy_token("service")) != 200:
                raise AssertionError("service CBS refused")
            rcv = conn.create_receiver("%s/ConsumerGroups/$Default/Partitions/0" % self.hub_name,
                                       credit=10)
            try:
                for _ in range(10):
                    rcv.receive(timeout=0.5)  # events come settled (Event Hubs' receive mode)
            except Timeout:
                pass
            rcv.close()
        finally:
            conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.environ.get("EMU_BINARY"))
    parser.add_argument("--duration", type=float, default=1800)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=90)
    parser.add_argument("--bound-mib", type=float, default=16)
    parser.add_argument("--bound-percent", type=float, default=10)
    parser.add_argument("--fd-bound", type=int, default=32)
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args()
    if not args.binary:
        parser.error("--binary (or EMU_BINARY) is required")

    config = {"devices": [{"deviceId": d} for d in DEVICES + CHURN_DEVICES + [TOUR_DEVICE]],
              "telemetryCapacity": 1000,
              # The churner reconnects its 4 devices as fast as the machine allows: the soak
              # measures the emulator's resources, not the per-identity connect bound.
              "deviceConnectRate": {"perSecond": 100000, "burst": 100000}}
    tmp = tempfile.TemporaryDirectory(prefix="emu-soak-")
    emu = Emulator(os.path.abspath(args.binary), args=["--log-level", "warn"],
                   data_dir=os.path.join(tmp.name, "data"), in_memory=args.in_memory,
                   config=config)
    cluster, ledger = Cluster(), Ledger()
    clients = []
    samples = []  # (seconds, rss KiB, open fds)
    try:
        emu.start()
        cluster.up(emu)
        clients = [AmqpSender(i, cluster, ledger, DEVICES) for i in range(3)]
        clients += [MqttDevice(d, cluster, ledger) for d in DEVICES]
        clients += [FeedbackReceiver(cluster, ledger), HttpsPoller(DEVICES[0], cluster, ledger)]
        churner = Churner(cluster, ledger)
        tour = FeatureTour(cluster, ledger, emu.ready["hubName"])
        clients += [churner, tour]
        for c in clients:
            c.start()

        print("%8s %10s %6s %10s %10s %10s %8s %8s %8s" % (
            "seconds", "RSS MiB", "fds", "accepted", "PUBACKs", "batches", "churn", "tour",
            "errors"))
        started = time.monotonic()
        next_sample = started
        while True:
            now = time.monotonic()
            if now >= next_sample:
                t = now - started
                rss = process_rss_kib(emu.proc.pid)
                fds = open_fds(emu.proc.pid)
                samples.append((t, rss, fds))
                accepted, pubacks = ledger.progress()
                print("%8.0f %10.1f %6d %10d %10d %10d %8d %8d %8d" % (
                    t, rss / 1024, fds, accepted, pubacks, len(ledger.feedback_batches),
                    churner.cycles, tour.rounds, len(ledger.errors)), flush=True)
                next_sample += args.interval
            if ledger.errors or emu.proc.poll() is not None or now - started >= args.duration:
                break
            # Sampling on a schedule is what this program is for (not a synchronisation).
            time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
    finally:
        cluster.stop()
        for c in clients:
            c.join(30)
        code = emu.terminate() if emu.proc else None
        emu.__exit__(None, None, None)
        emu.cleanup()
        tmp.cleanup()

    if ledger.errors or code != 0:
        print("load failed: errors %s, emulator exit code %s" % (ledger.errors, code))
        return 2
    counted = [rss for t, rss, _ in samples if t >= args.warmup]
    fds = [n for t, _, n in samples if t >= args.warmup]
    if len(counted) < 6:
        print("too few samples after the warm-up (%d); run longer" % len(counted))
        return 2
    third = len(counted) // 3
    first = statistics.median(counted[:third]) / 1024
    last = statistics.median(counted[-third:]) / 1024
    bound = args.bound_mib + first * args.bound_percent / 100
    print("\nRSS after warm-up: first third median %.1f MiB, last third median %.1f MiB, "
          "growth %.1f MiB (bound %.1f MiB); peak %.1f MiB" %
          (first, last, last - first, bound, max(counted) / 1024))
    fd_first = statistics.median(fds[:third])
    fd_last = statistics.median(fds[-third:])
    print("open file descriptors after warm-up: first third median %d, last third median %d, "
          "peak %d (bound +%d)" % (fd_first, fd_last, max(fds), args.fd_bound))
    accepted, pubacks = ledger.progress()
    print("load: %d C2D accepted, %d completed by devices, %d feedback batches, %d churn "
          "cycles, %d telemetry messages; %d tour rounds (twin GET + reported patch, desired "
          "patch + notification, direct method, HTTPS telemetry; device AMQP telemetry and an "
          "Event Hubs read every 10th)" % (accepted, pubacks, len(ledger.feedback_batches),
                                           churner.cycles, churner.telemetry, tour.rounds))
    if last - first > bound:
        print("FAIL: RSS keeps growing")
        return 1
    if fd_last - fd_first > args.fd_bound:
        print("FAIL: open file descriptors keep growing")
        return 1
    print("OK: memory and file descriptors bounded")
    return 0


if __name__ == "__main__":
    sys.exit(main())

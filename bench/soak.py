#!/usr/bin/python3
"""Memory soak of iothub-emulator (issue 7, item 5): ten minutes of bounded loopback load while
the emulator's resident set size (RSS) is sampled; fails if the RSS keeps growing.

How to run (not part of the test suite; a Release build, because ASan's quarantine grows RSS
by design):

    cmake -S . -B build/soak -G Ninja -DCMAKE_BUILD_TYPE=Release
    cmake --build build/soak --target iothub-emulator
    /usr/bin/python3 bench/soak.py --binary build/soak/emulator/app/iothub-emulator

    --duration 600     seconds of load (default 600 = 10 minutes)
    --interval 5       seconds between RSS samples
    --warmup 90        seconds before the first sample that counts (caches, pools, the
                       telemetry ring filling up)
    --bound-mib 16     allowed growth: median RSS of the last third of the counted samples
                       minus that of the first third (plus --bound-percent of the latter)
    --bound-percent 10
    --in-memory        no database file (default: a database in a temporary data directory)

It needs Debian's /usr/bin/python3 (python3-qpid-proton). Everything listens on 127.0.0.1 with
ephemeral ports; the emulator and every client are stopped at the end. Exit code 0: bounded;
1: RSS grew past the bound; 2: the load failed.

The load, all at once, all bounded (no queue or buffer grows with time):
  - 3 AMQP senders (unsettled, iothub-ack full) to 8 MQTT devices that complete everything;
    at most 40 messages accepted but not yet received per device;
  - a feedback receiver accepting every batch;
  - a registry reader on a keep-alive HTTPS connection;
  - a churner: devices connecting, publishing telemetry (2 KB, into the emulator's telemetry
    ring, capacity 1000 here) and disconnecting; a wrong-key CONNECT; garbage on every port;
    a device created and deleted over the registry REST API.
"""
import argparse
import os
import random
import ssl
import statistics
import sys
import tempfile
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.environ.get("EMU_BINARY"))
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=90)
    parser.add_argument("--bound-mib", type=float, default=16)
    parser.add_argument("--bound-percent", type=float, default=10)
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args()
    if not args.binary:
        parser.error("--binary (or EMU_BINARY) is required")

    config = {"devices": [{"deviceId": d} for d in DEVICES + CHURN_DEVICES],
              "telemetryCapacity": 1000}
    tmp = tempfile.TemporaryDirectory(prefix="emu-soak-")
    emu = Emulator(os.path.abspath(args.binary), args=["--log-level", "warn"],
                   data_dir=os.path.join(tmp.name, "data"), in_memory=args.in_memory,
                   config=config)
    cluster, ledger = Cluster(), Ledger()
    clients = []
    samples = []  # (seconds, rss KiB)
    try:
        emu.start()
        cluster.up(emu)
        clients = [AmqpSender(i, cluster, ledger, DEVICES) for i in range(3)]
        clients += [MqttDevice(d, cluster, ledger) for d in DEVICES]
        clients += [FeedbackReceiver(cluster, ledger), HttpsPoller(DEVICES[0], cluster, ledger)]
        churner = Churner(cluster, ledger)
        clients.append(churner)
        for c in clients:
            c.start()

        print("%8s %10s %10s %10s %10s %8s %8s" % ("seconds", "RSS MiB", "accepted", "PUBACKs",
                                                   "batches", "churn", "errors"))
        started = time.monotonic()
        next_sample = started
        while True:
            now = time.monotonic()
            if now >= next_sample:
                t = now - started
                rss = process_rss_kib(emu.proc.pid)
                samples.append((t, rss))
                accepted, pubacks = ledger.progress()
                print("%8.0f %10.1f %10d %10d %10d %8d %8d" % (
                    t, rss / 1024, accepted, pubacks, len(ledger.feedback_batches),
                    churner.cycles, len(ledger.errors)), flush=True)
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
    counted = [rss for t, rss in samples if t >= args.warmup]
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
    accepted, pubacks = ledger.progress()
    print("load: %d C2D accepted, %d completed by devices, %d feedback batches, %d churn "
          "cycles, %d telemetry messages" % (accepted, pubacks, len(ledger.feedback_batches),
                                              churner.cycles, churner.telemetry))
    if last - first > bound:
        print("FAIL: RSS keeps growing")
        return 1
    print("OK: memory bounded")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Attack matrix, misbehaving clients (issue 20, item 5): peers that stop reading while the
emulator keeps sending them something. Each is bounded in memory (the emulator's RSS, without
ASan's quarantine) and ends with a clear log line; the well-behaved clients are unaffected
(attack_base.py).

- a device that subscribes to desired-property notifications and never reads: the service keeps
  patching its twin; past `16 x mqtt.maxOutputBacklogBytes` (here 64 KiB, so 1 MiB) of unread
  output the connection is cut ("the peer does not read"), and may connect again;
- a reconnect storm (an SDK's retry loop gone wild) over MQTT and AMQP: each identity's
  connects are bounded (`deviceConnectRate`; Azure's own connection throttle is hub-wide,
  `--throttling`), refusals are throttling that the SDKs retry with back-off, memory and CPU
  bounded, the other clients served during it;
- a service that takes feedback batches and never settles them: it holds no more than its
  credit, and the batches go to a settling receiver once their locks time out;
- dashboard clients that open the event stream and never read it (NeverReadingDashboard).
"""
import json
import os
import re
import socket
import time
import unittest

from attack_base import DEVICES, AttackTest, emulator_config, without_asan_quarantine
from attack_clients import process_rss_kib, username_for

API = "?api-version=2021-04-12"


STORM_RATE = {"perSecond": 2, "burst": 10}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MisbehavingClients(AttackTest):
    emulator_config = emulator_config(mqtt={"maxOutputBacklogBytes": 64 * 1024},
                                      deviceConnectRate=STORM_RATE)
    emulator_env = without_asan_quarantine(os.environ)

    def test_a_device_that_never_reads_its_notifications_is_cut_with_bounded_memory(self):
        hub = self.hub
        lazy = hub.mqtt_device("dev-a", clean=True)
        self.addCleanup(lazy.close)
        lazy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.assertEqual(lazy.subscribe("$iothub/twin/PATCH/properties/desired/#", qos=0), [0])
        owner = hub.policy_token("iothubowner")
        before = process_rss_kib(self.emu.proc.pid)
        value = "x" * 3990
        patches = 0
        # Each patch makes a ~24 KB notification; the device reads none of them. Bounded: the
        # cut must come within 600 patches (14 MB), whatever the kernel's buffers hold.
        for i in range(600):
            desired = {"k%d" % j: value + "%04d%02d" % (i, j) for j in range(6)}
            status, body = hub.https("PATCH", "/twins/dev-a" + API,
                                     {"properties": {"desired": desired}}, token=owner)
            self.assertEqual(status, 200, body)
            patches += 1
            if "the peer does not read" in self.emu.log():
                break
        grown_mib = (process_rss_kib(self.emu.proc.pid) - before) / 1024
        # The emulator closed its side (what the kernel still holds for the peer is the
        # kernel's, not the process's; the peer, reading nothing, would take long to see it).
        cut = [l for l in self.emu.log().splitlines()
               if "device 'dev-a' closed" in l and "the peer does not read" in l]
        self.assertEqual(len(cut), 1, self.emu.log()[-3000:])
        self.assertIn("(limit 1048576)", cut[0])
        with hub.mqtt_device("dev-a", clean=True):  # the device may come back
            pass
        self.assertLess(grown_mib, 32, "RSS grew %.1f MiB" % grown_mib)  # sanity: the cut is the test
        print("\nnever-reading device: cut after %d notifications (~%d KB), RSS +%.1f MiB" %
              (patches, patches * 24, grown_mib))
        self.assert_others_unaffected()


    def test_a_reconnect_storm_on_each_transport_is_bounded_and_others_are_served(self):
        """An SDK retry loop gone wild: one device reconnecting as fast as it can over MQTT
        (CONNECT, each connection taking over the last) and another over AMQP (a connection,
        a CBS put-token, a C2D receiver link: a device session, a close), for 8 s, from 4
        threads each. Each identity's connects are bounded (deviceConnectRate, here 2 a second
        after a burst of 10): past it MQTT gets CONNACK 3, a second late, and AMQP the link's
        `com.microsoft:device-container-throttled`, which the SDKs retry with back-off. The
        process's memory and CPU stay bounded, the canary keeps being served, and the stormy
        device connects again once it calms down."""
        import threading
        from proton import Timeout
        from proton.utils import LinkDetached
        hub = self.hub
        stop = threading.Event()
        counts = {"mqtt": 0, "mqtt refused": 0, "amqp attempts": 0}
        errors = []
        lock = threading.Lock()

        def count(key):
            with lock:
                counts[key] += 1

        def mqtt_storm():
            while not stop.is_set():
                try:
                    c = hub.mqtt(10)
                    try:
                        code = c.connect("dev-a", username_for(hub.host, "dev-a"),
                                         hub.device_token("dev-a"), clean=False)
                    finally:
                        c.close()
                except Exception as e:  # noqa: BLE001 - a cut is an outcome too
                    with lock:
                        errors.append(repr(e))
                    continue
                if code not in (0, 3):
                    with lock:
                        errors.append("CONNACK %d" % code)
                count("mqtt" if code == 0 else "mqtt refused")

        def amqp_storm():
            audience = "%s/devices/dev-b" % hub.host
            while not stop.is_set():
                try:
                    conn = hub.amqp_bare(timeout=10)
                    try:
                        if hub.cbs_put_token(conn, hub.device_token("dev-b"),
                                             audience=audience) != 200:
                            raise AssertionError("CBS refused")
                        # Each attach asks the hub for a session, granted or refused; the
                        # refusal's detach comes a second later, after this client has moved
                        # on, so the hub's count tells the refused ones (below).
                        try:
                            rcv = conn.create_receiver("/devices/dev-b/messages/devicebound")
                            try:
                                rcv.receive(timeout=0.3)
                            except Timeout:
                                pass
                        except LinkDetached as e:
                            if not ("amqp:link:stolen" in str(e) or  # a newer one took over
                                    "device-container-throttled" in str(e)):
                                raise
                        count("amqp attempts")
                    finally:
                        conn.close()
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(repr(e))

        threads = [threading.Thread(target=mqtt_storm) for _ in range(4)]
        threads += [threading.Thread(target=amqp_storm) for _ in range(4)]
        before = process_rss_kib(self.emu.proc.pid)
        cpu_before = cpu_seconds(self.emu.proc.pid)
        started = time.monotonic()
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            self.assert_others_unaffected()  # during the storm
            time.sleep(max(0.0, 8 - (time.monotonic() - started)))
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(self.emu.proc.pid) - cpu_before
        grown_mib = (process_rss_kib(self.emu.proc.pid) - before) / 1024
        # The hub's refusals: MQTT's are known exactly (CONNACK 3), the rest were AMQP's.
        status, metrics = hub.https("GET", "/metrics")
        self.assertEqual(status, 200)
        refused_total = int(re.search(r"^iothub_device_connects_refused_total (\d+)$",
                                      str(metrics), re.M).group(1))
        counts["amqp refused"] = refused_total - counts["mqtt refused"]
        counts["amqp"] = counts["amqp attempts"] - counts["amqp refused"]
        print("\nreconnect storm in %.0f s: MQTT %d connected, %d refused; AMQP %d sessions, %d "
              "refused; %d failed; emulator CPU %.1f s, RSS +%.1f MiB" %
              (seconds, counts["mqtt"], counts["mqtt refused"], counts["amqp"],
               counts["amqp refused"], len(errors), cpu, grown_mib))
        self.assertEqual(errors, [])
        # Bounded: the burst, then the rate (a little slack for the canary's own seconds).
        bound = STORM_RATE["burst"] + STORM_RATE["perSecond"] * (seconds + 1)
        for transport in ("mqtt", "amqp"):
            self.assertGreaterEqual(counts[transport], STORM_RATE["burst"], transport)
            self.assertLessEqual(counts[transport], bound, transport)
            self.assertGreater(counts[transport + " refused"], 0, transport)
        # A refused MQTT CONNECT gets its CONNACK 3 after a second, not at once: each storming
        # connection makes one attempt a second (without the hold: ~2,500 in these 8 s).
        self.assertLessEqual(counts["mqtt refused"], 4 * (seconds + 1))
        self.assertLess(grown_mib, 32, "RSS grew %.1f MiB" % grown_mib)
        # Calm again: one connect's refill later (clock travel: the bucket refills in hub time)
        # the device is back; the canary is served.
        hub.advance_clock(1.0 / STORM_RATE["perSecond"])
        with hub.mqtt_device("dev-a", clean=False):
            pass
        self.assert_others_unaffected()


    def test_a_service_that_never_settles_its_feedback_holds_no_more_than_its_credit(self):
        """A feedback receiver that takes batches and never settles them holds no more than the
        credit it gave (the others stay free); once the locks time out (60 s) every batch goes
        to a receiver that settles. Time is driven by test control."""
        from proton import Timeout
        hub = self.hub
        # Ten completed messages asking for feedback, each cut into its own batch.
        with hub.mqtt_device("dev-b", clean=True) as dev:
            dev.subscribe("devices/dev-b/messages/devicebound/#")
            for i in range(10):
                hub.enqueue("dev-b", "unsettled-%d" % i, ack="full")
                _, pid, _ = dev.next_publish()
                dev.puback(pid)
                hub.advance_clock(16)  # past the batch interval: a batch per record
        ours = lambda: [b for b in hub.feedback()["batches"]  # noqa: E731
                        if b["records"][0]["originalMessageId"].startswith("unsettled-")]
        self.assertEqual(len(ours()), 10)
        lazy = hub.amqp_plain()
        self.addCleanup(lazy.close)
        lazy.create_receiver("/messages/servicebound/feedback", credit=3)  # never read
        deadline = time.monotonic() + 10
        while sum(b["locked"] for b in ours()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Would more come? A later hub round (clock travel, then the read) delivers whatever a
        # receiver has credit for: none may, its credit is spent.
        hub.advance_clock(1)
        self.assertEqual(sum(b["locked"] for b in ours()), 3, ours())
        # The locks time out; a receiver that settles takes every batch.
        hub.advance_clock(61)
        good = hub.amqp_plain()
        self.addCleanup(good.close)
        taker = good.create_receiver("/messages/servicebound/feedback", credit=20)
        taken = set()
        try:
            while len(taken) < 10:
                m = taker.receive(timeout=10)
                taker.accept()
                taken |= {r["originalMessageId"] for r in json.loads(m.body)}
        except Timeout:
            pass
        self.assertEqual(taken, {"unsettled-%d" % i for i in range(10)})
        # Its settlements reach the hub while the connection runs: then the batches are gone.
        deadline = time.monotonic() + 10
        while ours() and time.monotonic() < deadline:
            try:
                good.wait(lambda: False, timeout=0.2)  # lets Proton send the dispositions
            except Timeout:
                pass
        self.assertEqual(ours(), [])
        self.assert_others_unaffected()

if __name__ == "__main__":
    unittest.main()


DASHBOARD_DEVICES = ["dashboard-device-%03d-%s" % (i, "x" * 80) for i in range(400)]


class NeverReadingDashboard(AttackTest):
    """Dashboard clients that open the event stream (`GET /dashboard/events`, Server-Sent
    Events) and never read it, while the view keeps changing: each holds at most one unread
    event (~100 KB here: 400 devices with their connection strings) and is closed once that
    event stayed unread for `https.writeTimeoutSeconds` ("event stream not read"); memory stays
    bounded, the other clients are served. The clients' receive buffers are shrunk to 4 KiB
    so that the kernel cannot absorb the events for them."""
    emulator_args = ["--test-control", "--log-level", "debug"]
    emulator_config = emulator_config(
        devices=[{"deviceId": d} for d in DEVICES + DASHBOARD_DEVICES],
        https={"writeTimeoutSeconds": 2})
    emulator_env = without_asan_quarantine(os.environ)

    def open_stream(self):
        import ssl
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
        raw.settimeout(10)
        raw.connect(("127.0.0.1", self.hub.ports["https"]))
        context = ssl.create_default_context(cafile=self.hub.ca)
        sock = context.wrap_socket(raw, server_hostname="localhost")
        sock.sendall(b"GET /dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return sock

    def test_event_streams_that_are_never_read_are_closed_with_bounded_memory(self):
        streams = 20
        needle = "closed: event stream not read"
        before = process_rss_kib(self.emu.proc.pid)
        socks = [self.open_stream() for _ in range(streams)]
        self.addCleanup(lambda: [s.close() for s in socks])
        # The view changes every half second (a C2D message more in a queue): a new event each
        # refresh for every stream, none of them read.
        deadline = time.monotonic() + 30
        sent = 0
        while time.monotonic() < deadline:
            device = DASHBOARD_DEVICES[sent // 40]  # under the queue depth (50)
            status, _ = self.hub.https("POST", "/admin/devices/%s/messages" % device,
                                       {"messageId": "view-%d" % sent, "body": "x"})
            self.assertEqual(status, 201)
            sent += 1
            if len([l for l in self.emu.log().splitlines() if needle in l]) >= streams:
                break
            time.sleep(0.1)
        closed = [l for l in self.emu.log().splitlines() if needle in l]
        grown_mib = (process_rss_kib(self.emu.proc.pid) - before) / 1024
        print("\nnever-reading dashboards: %d of %d streams closed after %d view changes; RSS "
              "+%.1f MiB" % (len(closed), streams, sent, grown_mib))
        self.assertEqual(len(closed), streams, "streams not closed")
        self.assertLess(grown_mib, 32, "RSS grew %.1f MiB" % grown_mib)
        self.assert_others_unaffected()

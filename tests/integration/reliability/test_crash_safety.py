"""Crash safety under load (issue 7 item 1, issue 20 item 1).

The real iothub-emulator is driven by concurrent AMQP senders (unsettled sends, `iothub-ack:
full`) and devices that complete every C2D message over every device transport (MQTT, AMQP,
HTTPS, MQTT and AMQP over WebSockets), and at the same time by MQTT devices publishing
telemetry, desired twin patches over REST and registry churn (devices created and deleted over
REST), and killed with SIGKILL at random moments under that load, 40 times, each time
restarted on the same data directory.
At the end the ledger is checked against the hub's state (test control):

- every message whose send was `accepted` is either completed (exactly one `Success` feedback
  record) or still in its device's queue: nothing acknowledged is ever lost;
- no message is completed twice (two `Success` records for one message id), and none is both
  completed and still queued;
- every completed message was really received by its device;
- the feedback records read as AMQP batches at the end are exactly the records of the hub's
  state, each once.

Beyond C2D (load.DurableLedger):

- every telemetry event that got its PUBACK is stored, exactly once; nothing stored that was
  never published; each partition's sequence numbers run 0, 1, 2, … with no number reused or
  skipped across the restarts;
- every desired patch answered 200 is in the twin; the versions answered only ever grew; the
  twin's version is 1 + the number of patches it holds (no patch applied twice or lost);
- every direct method invoked over REST comes back with its own payload, or fails (the device
  is reconnecting, the hub dying): never with another call's answer;
- every device whose creation was answered exists unless its deletion was answered (or its
  fate is unknown); every device whose deletion was answered is gone; no device nobody made.

A device may *receive* a message twice (a kill between the PUBLISH and the commit of its
PUBACK): that is at-least-once delivery, counted as "redelivered", not an error.

Knobs (environment): RELIABILITY_KILLS (default 40), RELIABILITY_SEED (default: random,
printed), RELIABILITY_SENDERS (3), RELIABILITY_DEVICES (4), EMU_IO_THREADS (the fronts'
I/O threads; default the emulator's).
"""
import collections
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import unittest

from emulator import Emulator
from attack_clients import Hub
from load import (AmqpDeviceReceiver, AmqpSender, AmqpWsDeviceReceiver, Cluster, DurableLedger,
                  FeedbackReceiver, HttpsDeviceReceiver, Ledger, MethodCaller, MethodDevice,
                  MqttDevice, MqttWsDevice, RegistryChurner, TelemetryPublisher, TwinPatcher)

BINARY = os.environ["EMU_BINARY"]
KILLS = int(os.environ.get("RELIABILITY_KILLS", "40"))
SENDERS = int(os.environ.get("RELIABILITY_SENDERS", "3"))
DEVICES = int(os.environ.get("RELIABILITY_DEVICES", "4"))
VERBOSE = bool(os.environ.get("RELIABILITY_VERBOSE"))
# How long one emulator life may take to show load before the test gives up (ASan/TSan builds
# are slow; a healthy run needs well under a second).
PROGRESS_TIMEOUT = 60


TELEMETRY_DEVICES = ["crash-tel-0", "crash-tel-1"]
TWIN_DEVICE = "crash-twin"
METHOD_DEVICE = "crash-methods"


def config(devices):
    c = {
        "devices": [{"deviceId": d}
                    for d in devices + TELEMETRY_DEVICES + [TWIN_DEVICE, METHOD_DEVICE]],
        # Every event stays readable for the ledger (no retention cut).
        "telemetryCapacity": 1000000,
        # Delivery counts grow with every redelivery after a kill; the ledger must not be
        # muddied by dead-lettering, so allow the maximum.
        "c2d": {"maxDeliveryCount": 100},
    }
    if os.environ.get("EMU_IO_THREADS"):  # scripts/tsan.sh: the fronts on several I/O threads
        c["ioThreads"] = int(os.environ["EMU_IO_THREADS"])
    return c


class CrashSafetyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="emu-crash-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.emulators = []
        self.cluster = Cluster()
        self.ledger = Ledger()
        self.durable = DurableLedger()
        self.clients = []
        self.receiver = None

    def tearDown(self):
        self.cluster.stop()
        for c in self.clients + ([self.receiver] if self.receiver else []):
            c.join(30)
        for emu in self.emulators:
            emu.kill()
            if getattr(emu, "_log", None):
                emu._log.close()
            emu.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_emulator(self, devices):
        emu = Emulator(BINARY, args=["--test-control", "--log-level", "warn"],
                       data_dir=self.data_dir, config=config(devices))
        self.emulators.append(emu)
        emu.start()
        return emu

    def fail_with_log(self, emu, message):
        self.fail("%s\nclient errors: %s\n--- emulator log ---\n%s" %
                  (message, self.ledger.errors, emu.log()[-8000:]))

    def test_sigkill_under_load_loses_nothing_and_completes_nothing_twice(self):
        seed = int(os.environ.get("RELIABILITY_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        random.seed(seed)
        devices = ["crash-%d" % i for i in range(DEVICES)]
        # C2D to a device on every other transport too: AMQP, HTTPS, and MQTT and AMQP over
        # WebSockets (the HTTPS port).
        amqp_device, https_device = "crash-amqp", "crash-https"
        mqtt_ws_device, amqp_ws_device = "crash-mqtt-ws", "crash-amqp-ws"
        other_transports = [amqp_device, https_device, mqtt_ws_device, amqp_ws_device]
        devices += other_transports
        print("\ncrash safety: seed %d, %d kills, %d AMQP senders, C2D to %d MQTT devices, 1 "
              "AMQP device, 1 HTTPS device, 1 MQTT-over-WebSockets device and 1 "
              "AMQP-over-WebSockets device" % (seed, KILLS, SENDERS, DEVICES), file=sys.stderr)

        emu = self.start_emulator(devices)
        self.cluster.up(emu)
        self.clients = [AmqpSender(i, self.cluster, self.ledger, devices)
                        for i in range(SENDERS)]
        self.clients += [MqttDevice(d, self.cluster, self.ledger)
                         for d in devices if d not in other_transports]
        self.clients += [AmqpDeviceReceiver(amqp_device, self.cluster, self.ledger),
                         HttpsDeviceReceiver(https_device, self.cluster, self.ledger),
                         MqttWsDevice(mqtt_ws_device, self.cluster, self.ledger),
                         AmqpWsDeviceReceiver(amqp_ws_device, self.cluster, self.ledger)]
        self.clients += [TelemetryPublisher(d, self.cluster, self.ledger, self.durable)
                         for d in TELEMETRY_DEVICES]
        self.clients += [TwinPatcher(TWIN_DEVICE, self.cluster, self.ledger, self.durable),
                         RegistryChurner(self.cluster, self.ledger, self.durable)]
        self.method_caller = MethodCaller(METHOD_DEVICE, self.cluster, self.ledger)
        self.clients += [MethodDevice(METHOD_DEVICE, self.cluster, self.ledger),
                         self.method_caller]
        self.receiver = FeedbackReceiver(self.cluster, self.ledger)
        self.receiver.start()
        for c in self.clients:
            c.start()

        started = time.monotonic()
        kills = 0
        while kills < KILLS:
            # Kill at a random moment *under load*: after a random amount of new work was
            # acknowledged by this emulator life, plus a random few milliseconds.
            # One kill in five comes early, while the clients are still reconnecting.
            accepted, pubacks = self.ledger.progress()
            early = rng.random() < 0.2
            more_accepted = rng.randint(1, 3) if early else rng.randint(5, 60)
            more_pubacks = 0 if early else rng.randint(1, 20)
            if not self.ledger.wait_progress(accepted + more_accepted, pubacks + more_pubacks,
                                             PROGRESS_TIMEOUT):
                self.fail_with_log(emu, "no progress within %ds after start %d (accepted %d, "
                                   "pubacks %d)" % (PROGRESS_TIMEOUT, kills + 1,
                                                    *self.ledger.progress()))
            time.sleep(rng.uniform(0, 0.05))  # the random moment itself, not a synchronisation
            self.cluster.down()
            emu.kill()
            kills += 1
            self.assertEqual(emu.proc.returncode, -9)
            if VERBOSE:
                print("  kill %d at %.1f s: accepted %d, pubacks %d" %
                      (kills, time.monotonic() - started, *self.ledger.progress()),
                      file=sys.stderr)
            emu = self.start_emulator(devices)
            self.cluster.up(emu)
        load_seconds = time.monotonic() - started

        # Let the last life do some work too, then stop every client.
        accepted, pubacks = self.ledger.progress()
        self.assertTrue(self.ledger.wait_progress(accepted + 1, pubacks + 1, PROGRESS_TIMEOUT))
        for c in self.clients:
            c.stop_soon()
        for c in self.clients:
            c.join(30)
            self.assertFalse(c.is_alive(), c.name + " did not stop")
        self.assertEqual(self.ledger.errors, [])

        for d in other_transports:  # every transport took part
            self.assertGreater(self.ledger.received_by_device[d], 0, d + " received nothing")
        self.assertGreater(self.method_caller.ok, 0, "no direct method came back")
        self.check_durable(emu)
        self.check_ledger(emu, devices, kills, load_seconds)
        self.assertEqual(emu.terminate(), 0, emu.log()[-4000:])

    # ---- the ledger -----------------------------------------------------------------------

    def check_ledger(self, emu, devices, kills, load_seconds):
        """Called with the last emulator running, the senders and devices stopped and the
        feedback receiver still running."""
        hub = Hub(emu.ready)
        ledger = self.ledger

        queued = {}  # message id -> device
        for d in devices:
            for m in hub.queue(d):
                self.assertNotIn(m["messageId"], queued, "a message id queued twice")
                queued[m["messageId"]] = d

        # The hub's state: each record once; a record the receiver already got may still be
        # there (its accept was lost in a kill) but only in the batch it was received in.
        state = hub.feedback()
        in_state = collections.defaultdict(list)  # (message id, status) -> batch ids (0: pending)
        for r in state["pending"]:
            in_state[(r["originalMessageId"], r["statusCode"])].append(0)
        for b in state["batches"]:
            for r in b["records"]:
                in_state[(r["originalMessageId"], r["statusCode"])].append(b["id"])
        twice_in_state = sorted(k for k, v in in_state.items() if len(v) > 1)
        self.assertEqual(twice_in_state, [], "feedback records present twice in the hub's state")
        with ledger.lock:
            seen = {k: set(v) for k, v in ledger.feedback.items()}
        moved = sorted(k for k, v in in_state.items() if k in seen and set(v) != seen[k])
        self.assertEqual(moved, [], "a received record is in the state under another batch")

        # Drain: cut pending records into batches and let the receiver take every batch.
        records_in_hub = len(in_state) + sum(1 for k in seen if k not in in_state)
        hub.advance_clock(16)  # past the 15 s batch interval: pending records are cut now
        self.assertTrue(self.wait_until(lambda: ledger.feedback_record_count() >= records_in_hub
                                        and not self.feedback_left(hub), 60),
                        "feedback was not drained: %s" % hub.feedback())
        self.cluster.stop()
        self.receiver.join(30)
        self.assertFalse(self.receiver.is_alive())
        self.assertEqual(ledger.errors, [])

        # Each (message, status) was received in exactly one batch (maybe more than once).
        two_batches = sorted(k for k, v in ledger.feedback.items() if len(v) > 1)
        self.assertEqual(two_batches, [], "records received in two different batches "
                                          "(completed twice)")
        statuses = collections.Counter(status for _, status in ledger.feedback)
        self.assertEqual(set(statuses), {"Success"},
                         "feedback other than Success (expired or dead-lettered?)")
        completed_ids = {m for m, _ in ledger.feedback}

        lost, both, completed, still_queued = [], [], 0, 0
        for message_id, device in ledger.accepted.items():
            done = message_id in completed_ids
            waiting = message_id in queued
            if done and waiting:
                both.append(message_id)
            elif done:
                completed += 1
            elif waiting:
                still_queued += 1
                self.assertEqual(queued[message_id], device)
            else:
                lost.append(message_id)
        self.assertEqual(lost, [], "accepted messages lost (neither completed nor queued)")
        self.assertEqual(both, [], "messages both completed and still queued")

        never_received = sorted(m for m in completed_ids if not ledger.received[m])
        self.assertEqual(never_received, [], "completed without a device receiving it")
        # Whatever is queued or completed was sent by us (accepted, or outcome unknown).
        known = set(ledger.accepted) | ledger.unknown
        self.assertEqual(sorted(set(queued) - known), [], "queued messages nobody sent")
        self.assertEqual(sorted(completed_ids - known), [], "completed messages nobody sent")

        delivered = sum(1 for n in ledger.received.values() if n)
        redelivered = sum(n - 1 for n in ledger.received.values() if n > 1)
        unknown_completed = sum(1 for m in ledger.unknown if m in completed_ids)
        unknown_queued = sum(1 for m in ledger.unknown if m in queued)
        batches_again = sum(1 for n in ledger.feedback_batches.values() if n > 1)

        print("crash safety: %d kills survived in %.1f s of load" % (kills, load_seconds),
              file=sys.stderr)
        print("  AMQP sends: %d, accepted %d, rejected %s, outcome unknown %d "
              "(of which completed %d, queued %d)" %
              (ledger.sent, len(ledger.accepted), dict(ledger.rejected) or 0,
               len(ledger.unknown), unknown_completed, unknown_queued), file=sys.stderr)
        print("  devices: %d messages delivered (%s), %d redelivered (at-least-once), %d "
              "completions" % (delivered, ", ".join(
                  "%s %d" % (d, n) for d, n in sorted(ledger.received_by_device.items())),
                  redelivered, ledger.pubacks), file=sys.stderr)
        print("  ledger of %d accepted: %d completed (one Success each), %d still queued, "
              "0 lost, 0 completed twice" % (len(ledger.accepted), completed, still_queued),
              file=sys.stderr)
        print("  feedback: %d Success records, each in exactly one batch; %d batches received "
              "(%d of them more than once, at-least-once)" %
              (len(completed_ids), len(ledger.feedback_batches), batches_again),
              file=sys.stderr)

    def check_durable(self, emu):
        """Telemetry, twin patches and registry writes against what was acknowledged."""
        hub = Hub(emu.ready)
        d = self.durable
        owner = hub.policy_token("iothubowner")

        # Telemetry: every PUBACKed event once, nothing invented, sequence numbers contiguous.
        status, events = hub.https("GET", "/admin/telemetry")
        self.assertEqual(status, 200)
        ours = collections.Counter(e["body"] for e in events if e["body"].startswith("ev-"))
        self.assertEqual(sorted(b for b, n in ours.items() if n > 1), [], "events stored twice")
        self.assertEqual(sorted(d.events_acked - set(ours)), [], "PUBACKed events lost")
        self.assertEqual(sorted(set(ours) - d.events_acked - d.events_unknown), [],
                         "events nobody published")
        by_partition = collections.defaultdict(list)
        for e in events:
            by_partition[e["partition"]].append(e["sequenceNumber"])
        for partition, numbers in by_partition.items():
            self.assertEqual(sorted(numbers), list(range(len(numbers))),
                             "partition %s: sequence numbers reused or skipped" % partition)

        # Twin: every answered patch present, versions only grew, version = 1 + patches held.
        status, twin = hub.https("GET", "/twins/%s?api-version=2021-04-12" % TWIN_DEVICE,
                                 token=owner)
        self.assertEqual(status, 200, twin)
        desired = twin["properties"]["desired"]
        held = {int(k[1:]) for k in desired if re.fullmatch(r"p\d+", k)}
        acked = [n for n, _ in d.patches_acked]
        self.assertEqual(sorted(set(acked) - held), [], "answered twin patches lost")
        self.assertEqual(sorted(held - set(acked) - d.patches_unknown), [],
                         "twin patches nobody sent")
        versions = [v for _, v in d.patches_acked]
        self.assertEqual(versions, sorted(set(versions)), "twin versions went backwards")
        self.assertEqual(desired["$version"], 1 + len(held))
        if versions:
            self.assertGreaterEqual(desired["$version"], versions[-1])

        # Registry: answered creations and deletions hold.
        status, listed = hub.https("GET", "/devices?api-version=2021-04-12&top=1000",
                                   token=owner)
        self.assertEqual(status, 200, listed)
        self.assertLess(len(listed), 1000, "the listing may be cut: keep fewer devices")
        present = {x["deviceId"] for x in listed if x["deviceId"].startswith("churn-")}
        must_exist = d.created - d.deleted - d.delete_unknown
        self.assertEqual(sorted(must_exist - present), [], "created devices lost")
        self.assertEqual(sorted(present & d.deleted), [], "deleted devices back")
        self.assertEqual(sorted(present - d.created - d.create_unknown), [],
                         "devices nobody created")
        print("  durable: %d telemetry events PUBACKed (%d unknown), all stored once, sequence "
              "numbers contiguous in %d partitions; %d twin patches answered (%d unknown), twin "
              "version %d = 1 + %d held; %d devices created, %d deleted, all as answered" %
              (len(d.events_acked), len(d.events_unknown), len(by_partition),
               len(d.patches_acked), len(d.patches_unknown), desired["$version"], len(held),
               len(d.created), len(d.deleted)), file=sys.stderr)
        print("  direct methods: %d answered with their own payload, %d failed with the process "
              "(404/504 while the device reconnected)" % (self.method_caller.ok,
                                                           self.method_caller.failed),
              file=sys.stderr)

    @staticmethod
    def feedback_left(hub):
        state = hub.feedback()
        return state["pending"] or state["batches"]

    @staticmethod
    def wait_until(predicate, timeout, interval=0.1):
        """Polls a condition of the emulator's state until it holds or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)  # polling the state we wait for, with a deadline
        return predicate()


if __name__ == "__main__":
    unittest.main()

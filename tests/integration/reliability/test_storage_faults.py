"""Storage faults (issue 20, item 2): a disk that fills up, and writes / fsyncs that fail.

A full disk is real: the data directory is a small tmpfs, filled by a filler file until the
kernel says ENOSPC (the test runs as root, as the test command does; without the right to mount
it fails, it does not skip). I/O errors are injected under SQLite by the fault shim
(storage/fault_vfs.hpp, `PATCH /admin/chaos {"failNextSyncs": n, "failNextWrites": n}`), so
SQLite meets them where it would meet EIO.

Each time, the emulator
  - refuses every change with the protocol's storage error (AMQP `amqp:internal-error`, MQTT
    telemetry: no PUBACK and the connection closed, HTTPS 500) and keeps nothing of it;
  - keeps serving reads (registry, twins, the queue, the telemetry log);
  - does not spin while something due (an expiry) cannot be committed;
  - says so once in its log, and once when commits succeed again;
  - recovers by itself: when space returns, what was due is committed and new work accepted,
    with no restart;
  - loses nothing it acknowledged, also across a SIGKILL right after; a change whose fsync
    failed is not taken for durable (it is absent after the restart).
"""
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from attack_clients import Hub, MqttClosed, c2d_message, send_outcome
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
API = "?api-version=2021-04-12"
DEVICE = "myDevice"
TELEMETRY = "devices/%s/messages/events/" % DEVICE


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc/PID/stat, clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Service:
    """An AMQP C2D sender (python3-qpid-proton, SASL PLAIN as the C service SDK)."""

    def __init__(self, hub):
        self.conn = hub.amqp_plain()
        self.sender = self.conn.create_sender("/messages/devicebound")

    def send(self, message_id, body=b"payload", expiry_time=None):
        """(state, condition) of one C2D send asking for full feedback; `expiry_time`: the
        AMQP absolute expiry (seconds since 1970)."""
        m = c2d_message(DEVICE, message_id, body=body, ack="full")
        if expiry_time is not None:
            m.expiry_time = expiry_time
        return send_outcome(self.sender, m)

    def close(self):
        self.conn.close()


def publish_outcome(hub, body):
    """'acked' when the telemetry got its PUBACK, 'closed' when the connection ended first,
    'no answer' when neither happened in 10 s."""
    c = hub.mqtt_device(DEVICE)
    try:
        c.publish(TELEMETRY, body)
        return "acked"
    except TimeoutError:
        return "no answer"
    except (MqttClosed, ConnectionError, OSError):
        return "closed"
    finally:
        c.close()


def patch_desired(hub, value):
    status, twin = hub.https("PATCH", "/twins/%s%s" % (DEVICE, API),
                             {"properties": {"desired": {"level": value}}},
                             token=hub.policy_token("iothubowner"))
    return status, twin


def telemetry_bodies(hub):
    status, events = hub.https("GET", "/admin/telemetry")
    if status != 200:
        raise AssertionError("GET /admin/telemetry: %d %s" % (status, events))
    return [e["body"] for e in events]


def log_lines(emu, needle):
    return [l for l in emu.log().splitlines() if needle in l]


class StorageFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="emu-storage-faults-")
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        self.mounted = False
        self.emulators = []
        self.services = []

    def close_services(self):
        """Before a kill: a connection to a dead peer waits out its close timeout."""
        for s in self.services:
            try:
                s.close()
            except Exception:
                pass
        self.services = []

    def tearDown(self):
        self.close_services()
        for emu in self.emulators:
            emu.kill()
            if getattr(emu, "_log", None):
                emu._log.close()
        if self.mounted:
            subprocess.run(["umount", self.data], check=False)
        for emu in self.emulators:
            emu.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        emu = Emulator(BINARY, args=["--test-control"], data_dir=self.data)
        self.emulators.append(emu)
        emu.start()
        return emu, Hub(emu.ready)

    def service(self, hub):
        s = Service(hub)
        self.services.append(s)
        return s

    def feedback_records(self, hub):
        fb = hub.feedback()
        return fb["pending"] + [r for b in fb["batches"] for r in b["records"]]

    def test_a_full_disk_refuses_changes_serves_reads_and_recovers_by_itself(self):
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.data],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0,
                         "the test needs to mount a small tmpfs (run as root): " + r.stderr)
        self.mounted = True
        emu, hub = self.start()
        svc = self.service(hub)

        # Acknowledged before the disk fills: 3 C2D messages, 3 telemetry events, a desired patch.
        accepted, refused, acked_events = [], [], []
        for i in range(3):
            self.assertEqual(svc.send("before-%d" % i), ("accepted", None))
            accepted.append("before-%d" % i)
            self.assertEqual(publish_outcome(hub, b"event-before-%d" % i), "acked")
            acked_events.append("event-before-%d" % i)
        status, twin = patch_desired(hub, 1)
        self.assertEqual(status, 200, twin)
        desired_version = twin["properties"]["desired"]["$version"]
        # One message expires while the disk is full: due work that cannot be committed.
        expires_at = time.time() + 4
        self.assertEqual(svc.send("short-ttl", expiry_time=expires_at), ("accepted", None))

        # Fill the file system.
        filler = os.path.join(self.data, "filler")
        with open(filler, "wb") as f:
            chunk = b"\0" * (1 << 20)
            try:
                for _ in range(64):  # bounded: the mount is 24 MiB
                    f.write(chunk)
                    f.flush()
                self.fail("the tmpfs did not fill up")
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        # Fill the last partial page too (the file's buffered tail may have been refused).
        with open(filler, "ab", buffering=0) as f:
            for size in (4096, 512, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError:
                    pass

        # Every change is refused with its protocol's storage error, nothing of it kept. The
        # first sends may still fit in the log's last page: up to 20 tries of 60 KB.
        for i in range(20):
            mid = "full-%d" % i
            outcome = svc.send(mid, body=b"x" * 60000)
            if outcome == ("accepted", None):
                accepted.append(mid)
                continue
            self.assertEqual(outcome, ("rejected", "amqp:internal-error"))
            refused.append(mid)
            break
        self.assertTrue(refused, "no send was refused on a full disk")
        self.assertEqual(svc.send("full-again"), ("rejected", "amqp:internal-error"))
        refused.append("full-again")
        self.assertEqual(publish_outcome(hub, b"event-while-full"), "closed")
        status, body = patch_desired(hub, 2)
        self.assertEqual(status, 500, body)
        status, body = hub.https("PUT", "/devices/newDevice" + API, {"deviceId": "newDevice"},
                                 token=hub.policy_token("iothubowner"))
        self.assertEqual(status, 500, body)

        # Reads are served from the committed state.
        owner = hub.policy_token("iothubowner")
        status, device = hub.https("GET", "/devices/%s%s" % (DEVICE, API), token=owner)
        self.assertEqual(status, 200, device)
        status, twin = hub.https("GET", "/twins/%s%s" % (DEVICE, API), token=owner)
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["properties"]["desired"]["level"], 1)
        self.assertEqual(twin["properties"]["desired"]["$version"], desired_version)
        self.assertEqual(sorted(m["messageId"] for m in hub.queue(DEVICE)),
                         sorted(accepted + ["short-ttl"]))
        self.assertEqual(sorted(b for b in telemetry_bodies(hub) if b.startswith("event-")),
                         sorted(acked_events))
        status, _ = hub.https("GET", "/devices/newDevice" + API, token=owner)
        self.assertEqual(status, 404)

        # Something due that cannot be committed (the expiry of short-ttl) is tried again
        # every 100 ms, not in a loop: the process stays nearly idle.
        self.assertLess(time.time(), expires_at, "too slow: the disk filled after the expiry")
        time.sleep(expires_at - time.time() + 0.2)
        before = cpu_seconds(emu.proc.pid)
        time.sleep(3)
        busy = cpu_seconds(emu.proc.pid) - before
        self.assertLess(busy, 1.5, "%.2f s of CPU in 3 s while the disk is full" % busy)
        self.assertEqual(len(log_lines(emu, "commits are failing")), 1, emu.log())
        self.assertEqual(log_lines(emu, "commits succeed again"), [])

        # Space returns: the hub commits what was due by itself, no restart, no request.
        os.remove(filler)
        freed = time.monotonic()
        deadline = time.monotonic() + 20
        while not log_lines(emu, "commits succeed again") and time.monotonic() < deadline:
            time.sleep(0.1)
        recovered = log_lines(emu, "commits succeed again")
        self.assertEqual(len(recovered), 1, emu.log())
        # About 10 tries a second for the 3.2 s after the expiry (plus the refused requests).
        rounds = int(re.search(r"after (\d+) failed rounds", recovered[0]).group(1))
        self.assertGreaterEqual(rounds, 15, recovered[0])
        self.assertLessEqual(rounds, 100, recovered[0])
        print("\nfull disk: %d sends accepted after the fill (the log's last page), %d refused; "
              "%.2f s CPU in 3 s with an expiry due; %d failed rounds; recovered %.1f s after "
              "the filler went" % (len(accepted) - 3, len(refused), busy, rounds,
                                   time.monotonic() - freed), file=sys.stderr)
        self.assertEqual(sorted(m["messageId"] for m in hub.queue(DEVICE)), sorted(accepted))
        self.assertEqual(svc.send("after"), ("accepted", None))
        self.assertEqual(publish_outcome(hub, b"event-after"), "acked")
        acked_events.append("event-after")
        status, twin = patch_desired(hub, 3)
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["properties"]["desired"]["$version"], desired_version + 1)
        self.check_ledger(hub, accepted + ["after"], ["short-ttl"], acked_events)

        # Nothing acknowledged is lost across a crash right after, nothing refused appears.
        self.close_services()
        emu.kill()
        emu2, hub2 = self.start()
        self.check_ledger(hub2, accepted + ["after"], ["short-ttl"], acked_events)
        status, twin = hub2.https("GET", "/twins/%s%s" % (DEVICE, API),
                                  token=hub2.policy_token("iothubowner"))
        self.assertEqual((twin["properties"]["desired"]["level"],
                          twin["properties"]["desired"]["$version"]), (3, desired_version + 1))
        self.assertEqual(emu2.terminate(), 0)

    def check_ledger(self, hub, queued, expired, acked_events):
        """Each accepted message is queued once, or has exactly one Expired record; no refused
        message has either; every acknowledged event is stored once, nothing else."""
        records = self.feedback_records(hub)
        by_id = {}
        for r in records:
            by_id.setdefault(r["originalMessageId"], []).append(r["statusCode"])
        self.assertEqual(sorted(by_id), sorted(expired))
        for mid in expired:
            self.assertEqual(by_id[mid], ["Expired"], mid)
        self.assertEqual(sorted(m["messageId"] for m in hub.queue(DEVICE)), sorted(queued))
        bodies = [b for b in telemetry_bodies(hub) if b.startswith("event-")]
        self.assertEqual(sorted(bodies), sorted(acked_events))

    def test_a_failed_fsync_or_write_refuses_that_change_only(self):
        emu, hub = self.start()
        svc = self.service(hub)
        owner = hub.policy_token("iothubowner")

        def chaos(**kw):
            status, body = hub.https("PATCH", "/admin/chaos", kw)
            self.assertEqual(status, 200, body)
            return body

        # C2D: the send whose commit meets the failed fsync is refused; the next is accepted.
        self.assertEqual(chaos(failNextSyncs=1)["failNextSyncs"], 1)
        self.assertEqual(svc.send("fsync-failed"), ("rejected", "amqp:internal-error"))
        self.assertEqual(chaos()["failNextSyncs"], 0)
        self.assertEqual(svc.send("kept"), ("accepted", None))
        self.assertEqual([m["messageId"] for m in hub.queue(DEVICE)], ["kept"])

        # Telemetry: a failed WAL write ends the connection without a PUBACK; the SDK's resend
        # on a new connection is stored, the failed one is not.
        chaos(failNextWrites=1)
        self.assertEqual(publish_outcome(hub, b"event-write-failed"), "closed")
        self.assertEqual(publish_outcome(hub, b"event-kept"), "acked")

        # A twin patch whose fsync failed: 500, and the twin keeps its version.
        status, twin = hub.https("GET", "/twins/%s%s" % (DEVICE, API), token=owner)
        version = twin["properties"]["desired"]["$version"]
        chaos(failNextSyncs=1)
        status, body = patch_desired(hub, 7)
        self.assertEqual(status, 500, body)
        status, twin = hub.https("GET", "/twins/%s%s" % (DEVICE, API), token=owner)
        self.assertEqual(twin["properties"]["desired"]["$version"], version)
        self.assertNotIn("level", twin["properties"]["desired"])
        status, twin = patch_desired(hub, 8)
        self.assertEqual(status, 200, twin)

        # Three episodes, each said once when it began and once when it ended.
        self.assertEqual(len(log_lines(emu, "commits are failing")), 3, emu.log())
        self.assertEqual(len(log_lines(emu, "commits succeed again")), 3, emu.log())
        self.assertTrue(any("disk I/O error" in l for l in log_lines(emu, "commits are failing")),
                        emu.log())

        # The file holds what was acknowledged, and nothing whose fsync failed.
        self.close_services()
        emu.kill()
        emu2, hub2 = self.start()
        self.assertEqual([m["messageId"] for m in hub2.queue(DEVICE)], ["kept"])
        bodies = [b for b in telemetry_bodies(hub2) if b.startswith("event-")]
        self.assertEqual(bodies, ["event-kept"])
        status, twin = hub2.https("GET", "/twins/%s%s" % (DEVICE, API),
                                  token=hub2.policy_token("iothubowner"))
        self.assertEqual((twin["properties"]["desired"]["level"],
                          twin["properties"]["desired"]["$version"]), (8, version + 1))
        self.assertEqual(emu2.terminate(), 0)


if __name__ == "__main__":
    unittest.main()

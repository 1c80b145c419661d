"""Graceful shutdown under load (issue 7, item 2).

SIGTERM while AMQP senders, MQTT devices, a feedback receiver and a registry reader on a
keep-alive HTTPS connection are busy: the emulator must
exit 0 within a bounded time, leave the database checkpointed (the -wal file empty or gone),
hold no lock on a C2D message (the gateway releases them as its connections close), and a
second start on the same data directory must find exactly the state the first one left: the
same queues (sequence numbers, ids, states, delivery counts) and the same feedback records.
Nothing whose send was accepted may be missing.
"""
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
import unittest

from attack_clients import Hub
from emulator import Emulator
from load import AmqpSender, Cluster, FeedbackReceiver, HttpsPoller, Ledger, MqttDevice

BINARY = os.environ["EMU_BINARY"]
# SIGTERM to exit. The HTTPS front may wait for an idle keep-alive connection (5 s); the rest
# is closing sockets and one last commit.
SHUTDOWN_BOUND = float(os.environ.get("SHUTDOWN_BOUND_SECONDS", "15"))
DEVICES = ["stop-%d" % i for i in range(3)]


def database_state(db_path):
    """The C2D queues and feedback records as stored, read without the emulator."""
    db = sqlite3.connect("file:%s?mode=ro&immutable=1" % db_path, uri=True)
    try:
        queues = {}
        for seq, device, message_id, state, count in db.execute(
                "SELECT seq, device_id, message_id, state, delivery_count FROM c2d_messages "
                "ORDER BY seq"):
            queues.setdefault(device, []).append((seq, message_id, state.capitalize(), count))
        records = sorted(db.execute(
            "SELECT id, original_message_id, status FROM feedback_records ORDER BY id"))
        return queues, records
    finally:
        db.close()


STATUS = {"Success": "success", "Expired": "expired",
          "DeliveryCountExceeded": "delivery_count_exceeded", "Rejected": "rejected",
          "Purged": "purged"}


def served_state(hub, devices):
    """The same, as the running emulator shows it through test control."""
    queues = {}
    for d in devices:
        q = [(m["seq"], m["messageId"], m["state"], m["deliveryCount"]) for m in hub.queue(d)]
        if q:
            queues[d] = q
    state = hub.feedback()
    records = [(r["id"], r["originalMessageId"], STATUS[r["statusCode"]])
               for r in state["pending"] + [r for b in state["batches"] for r in b["records"]]]
    return queues, sorted(records)


class GracefulShutdownTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="emu-stop-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.emulators = []
        self.cluster = Cluster()
        self.ledger = Ledger()
        self.clients = []

    def tearDown(self):
        self.cluster.stop()
        for c in self.clients:
            c.join(30)
        for emu in self.emulators:
            emu.kill()
            if getattr(emu, "_log", None):
                emu._log.close()
            emu.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_emulator(self):
        config = {"devices": [{"deviceId": d} for d in DEVICES], "c2d": {"maxDeliveryCount": 100}}
        if os.environ.get("EMU_IO_THREADS"):  # scripts/tsan.sh
            config["ioThreads"] = int(os.environ["EMU_IO_THREADS"])
        emu = Emulator(BINARY, args=["--test-control"], data_dir=self.data_dir, config=config)
        self.emulators.append(emu)
        return emu.start()

    def sigterm(self, emu):
        """SIGTERM; returns (exit code, seconds to exit)."""
        started = time.monotonic()
        emu.proc.send_signal(signal.SIGTERM)
        try:
            code = emu.proc.wait(SHUTDOWN_BOUND)
        except Exception:
            emu.kill()
            self.fail("no exit within %.0f s of SIGTERM\n%s" % (SHUTDOWN_BOUND,
                                                                emu.log()[-6000:]))
        return code, time.monotonic() - started

    def assert_checkpointed(self):
        wal = os.path.join(self.data_dir, "iothub.db-wal")
        size = os.path.getsize(wal) if os.path.exists(wal) else 0
        self.assertEqual(size, 0, "the WAL was not checkpointed: %d bytes left" % size)

    def test_sigterm_under_load_exits_0_checkpointed_and_restarts_with_the_same_state(self):
        emu = self.start_emulator()
        self.cluster.up(emu)
        self.clients = [AmqpSender(i, self.cluster, self.ledger, DEVICES) for i in range(3)]
        self.clients += [MqttDevice(d, self.cluster, self.ledger) for d in DEVICES]
        self.clients.append(FeedbackReceiver(self.cluster, self.ledger))
        self.clients.append(HttpsPoller(DEVICES[0], self.cluster, self.ledger))
        for c in self.clients:
            c.start()
        self.assertTrue(self.ledger.wait_progress(150, 100, 60),
                        "no load: %s %s" % (self.ledger.errors, emu.log()[-4000:]))

        # The clients keep sending, completing and reconnecting while the emulator stops.
        code, seconds = self.sigterm(emu)
        log = emu.log()
        self.cluster.stop()
        for c in self.clients:
            c.join(30)
            self.assertFalse(c.is_alive(), c.name + " did not stop")
        self.assertEqual(self.ledger.errors, [])
        self.assertEqual(code, 0, log[-6000:])
        self.assertIn("received SIGTERM", log)
        self.assertIn("stopped", log)
        self.assertLessEqual(seconds, SHUTDOWN_BOUND)
        self.assert_checkpointed()

        stored_queues, stored_records = database_state(os.path.join(self.data_dir, "iothub.db"))
        locked = [m for q in stored_queues.values() for m in q if m[2] != "Enqueued"]
        self.assertEqual(locked, [], "messages still locked after a graceful stop")

        second = self.start_emulator()
        hub = Hub(second.ready)
        served_queues, served_records = served_state(hub, DEVICES)
        self.assertEqual(served_queues, stored_queues, "queues differ after the restart")
        self.assertEqual(served_records, stored_records, "feedback differs after the restart")

        # Nothing accepted is missing: queued, or completed (a Success record stored, or
        # already received by the feedback receiver).
        queued = {m[1] for q in served_queues.values() for m in q}
        completed = {r[1] for r in served_records if r[2] == "success"}
        completed |= {m for m, status in self.ledger.feedback if status == "Success"}
        missing = sorted(m for m in self.ledger.accepted if m not in queued | completed)
        self.assertEqual(missing, [], "accepted messages missing after a graceful stop")

        code2, seconds2 = self.sigterm(second)
        self.assertEqual(code2, 0, second.log()[-4000:])
        self.assert_checkpointed()
        self.assertEqual(database_state(os.path.join(self.data_dir, "iothub.db")),
                         (stored_queues, stored_records), "an idle run changed the state")
        print("\ngraceful shutdown: SIGTERM under load (%d accepted, %d PUBACKs) exited 0 in "
              "%.2f s; %d queued messages and %d feedback records identical after restart; "
              "idle stop %.2f s" % (len(self.ledger.accepted), self.ledger.pubacks, seconds,
                                    len(queued), len(served_records), seconds2),
              file=sys.stderr)

    def test_sigterm_with_pipelined_https_requests_in_flight(self):
        """30 TLS clients each keep 8 pipelined requests in flight when SIGTERM comes: every
        request handed to the hub is answered or its connection closed, the emulator exits
        0 (an ASan build would exit non-zero on a leaked connection) within the bound, and no
        client is left hanging on an open connection. The HTTPS front once lost requests that
        were parsed while it stopped: their connections stayed open and leaked."""
        for attempt in range(3):
            emu = self.start_emulator()
            port = emu.ready["ports"]["https"]
            context = ssl.create_default_context(cafile=emu.ready["caCertificate"])
            request = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n" * 8
            outcome = {"answered": 0, "ended": 0, "hung": 0, "serving": 0}
            lock = threading.Lock()
            serving = threading.Condition(lock)  # a client got its first answers
            deadline = time.monotonic() + 60

            def client():
                try:
                    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
                    sock = context.wrap_socket(raw, server_hostname="localhost")
                except OSError:
                    return
                sock.settimeout(20)  # longer than any bound of the stop
                try:
                    first = True
                    while time.monotonic() < deadline:
                        sock.sendall(request)
                        data = sock.recv(65536)
                        if not data:
                            break
                        with lock:
                            outcome["answered"] += data.count(b"HTTP/1.1 ")
                            if first:
                                first = False
                                outcome["serving"] += 1
                                serving.notify_all()
                    with lock:
                        outcome["ended"] += 1
                except socket.timeout:
                    with lock:
                        outcome["hung"] += 1
                except OSError:
                    with lock:
                        outcome["ended"] += 1  # reset / TLS EOF: the server closed
                finally:
                    sock.close()

            threads = [threading.Thread(target=client) for _ in range(30)]
            for t in threads:
                t.start()
            # SIGTERM once every client is in its request loop (so requests are in flight on
            # all 30 connections), not after a guessed pause.
            with serving:
                self.assertTrue(serving.wait_for(lambda: outcome["serving"] == len(threads), 30),
                                "only %d of %d clients were answered" %
                                (outcome["serving"], len(threads)))
            code, seconds = self.sigterm(emu)
            for t in threads:
                t.join(30)
            log = emu.log()
            self.assertFalse(any(t.is_alive() for t in threads), "a client is still blocked")
            self.assertEqual(outcome["hung"], 0, "clients left on an open, silent connection")
            self.assertGreater(outcome["answered"], 0, "no request was answered before the stop")
            self.assertEqual(code, 0, log[-6000:])
            self.assertNotIn("LeakSanitizer", log)
            self.assertLessEqual(seconds, SHUTDOWN_BOUND)
            print("\nHTTPS stop %d: %d answers, %d clients closed, exit 0 in %.2f s" %
                  (attempt, outcome["answered"], outcome["ended"], seconds), file=sys.stderr)
            shutil.rmtree(self.data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

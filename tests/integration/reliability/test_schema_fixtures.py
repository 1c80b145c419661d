"""Schema upgrades (issue 20, item 3): every released schema version's fixture database
(tests/fixtures/schema/vN.sql, written by the emulator of that version) is opened by the current
binary, which migrates it up the user_version ladder and serves its data; a file of a newer
schema than the binary knows is refused with exit 3 and left untouched.

Time is driven, so the outcome does not depend on the fixtures' age: right after the start the
test moves the emulator's clock 3 days ahead (test control), past every TTL. Then:
  - the devices answer with their keys; the desired property written by that version is there;
  - every queued message of the fixture comes back as an `Expired` feedback record with its
    message id (all of them asked for negative feedback), each exactly once: the queues were
    read whole. A fixture older than its messages' TTL (1 hour) has them expire at the start,
    and their feedback batch (itself kept 1 hour) would expire during the 3-day step: the test
    reads the feedback before the step and after it, and counts each record once by its id;
  - a new telemetry event continues its partition's sequence numbers after the fixture's
    events (numbers are never reused across the migration);
  - the file now has the current user_version, and a second start opens it unchanged.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from attack_clients import Hub
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
FIXTURES = os.environ["EMU_SCHEMA_FIXTURES"]
KEYS = {"fixture-dev-1": "Rml4dHVyZURldmljZUtleU9uZTAxMjM0NTY3ODlhYmM=",
        "fixture-dev-2": "Rml4dHVyZURldmljZUtleVR3bzAxMjM0NTY3ODlhYmNk"}
API = "?api-version=2021-04-12"


def fixtures():
    out = []
    for sql in sorted(glob.glob(os.path.join(FIXTURES, "v*.sql"))):
        version = int(re.search(r"v(\d+)\.sql$", sql).group(1))
        with open(sql[:-4] + ".json") as f:
            out.append((version, sql, json.load(f)))
    return out


def materialise(sql_path, db_path):
    os.makedirs(os.path.dirname(db_path), exist_ok=True)
    db = sqlite3.connect(db_path)
    with open(sql_path) as f:
        db.executescript(f.read())
    db.execute("PRAGMA journal_mode = WAL")  # as every file the emulator writes
    db.close()


def user_version(db_path):
    db = sqlite3.connect(db_path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def current_schema_version():
    """The newest fixture is written by the current code: its version is the binary's."""
    return max(v for v, _, _ in fixtures())


class SchemaFixtures(unittest.TestCase):
    def test_there_is_a_fixture_for_every_version_up_to_the_current_one(self):
        versions = [v for v, _, _ in fixtures()]
        self.assertEqual(versions, list(range(1, len(versions) + 1)))
        self.assertGreaterEqual(len(versions), 5)
        # A file of the current version is what a fresh start writes.
        with tempfile.TemporaryDirectory(prefix="emu-schema-") as tmp:
            emu = Emulator(BINARY, data_dir=os.path.join(tmp, "data"))
            with emu:
                self.assertEqual(emu.terminate(), 0)
            self.assertEqual(user_version(os.path.join(tmp, "data", "iothub.db")), versions[-1])
            emu.cleanup()

    def test_each_version_is_migrated_and_its_data_served(self):
        for version, sql, facts in fixtures():
            with self.subTest(version=version):
                self.check_fixture(version, sql, facts)

    @staticmethod
    def collect_feedback(hub, records):
        """Adds the hub's feedback records (pending and batched) to `records`, by record id."""
        fb = hub.feedback()
        for r in fb["pending"] + [r for b in fb["batches"] for r in b["records"]]:
            records[r["id"]] = r

    def check_fixture(self, version, sql, facts):
        self.assertEqual(facts["user_version"], version)
        with tempfile.TemporaryDirectory(prefix="emu-schema-v%d-" % version) as tmp:
            data = os.path.join(tmp, "data")
            db_path = os.path.join(data, "iothub.db")
            materialise(sql, db_path)
            self.assertEqual(user_version(db_path), version)
            emu = Emulator(BINARY, args=["--test-control"], data_dir=data)
            with emu:
                hub = Hub(emu.ready)
                # Messages whose TTL passed while the fixture sat in the repository expire at
                # the start; the others during the step. Either way each has one record.
                records = {}
                self.collect_feedback(hub, records)
                hub.advance_clock(3 * 24 * 3600)
                self.collect_feedback(hub, records)
                # Tokens expire by the emulator's clock, which is 3 days ahead now.
                status, clock = hub.https("GET", "/admin/clock")
                self.assertEqual(status, 200, clock)
                se = clock["nowUnixMs"] // 1000 + 3600
                owner = hub.policy_token("iothubowner", se=se)

                # Devices, with the keys they had.
                for device in facts["devices"]:
                    status, body = hub.https("GET", "/devices/%s%s" % (device, API), token=owner)
                    self.assertEqual(status, 200, body)
                    self.assertEqual(
                        body["authentication"]["symmetricKey"]["primaryKey"], KEYS[device])
                    with hub.mqtt_device(device, token=hub.device_token(device, KEYS[device],
                                                                        se=se)):
                        pass

                # The desired property that version wrote (twins exist from version 2).
                if version >= 2:
                    status, twin = hub.https("GET", "/twins/fixture-dev-1" + API, token=owner)
                    self.assertEqual(status, 200, twin)
                    self.assertEqual(twin["properties"]["desired"]["fixtureVersion"], version)

                # Every queued message: expired now, one Expired record each.
                queued = [m for q in facts["queues"].values() for m in q]
                self.assertGreater(len(queued), 0)
                for device in facts["devices"]:
                    self.assertEqual(hub.queue(device), [])
                self.collect_feedback(hub, records)
                expired = sorted(r["originalMessageId"] for r in records.values()
                                 if r["statusCode"] == "Expired")
                self.assertEqual(expired, sorted(queued))

                # Telemetry numbering continues after the fixture's events.
                with hub.mqtt_device("fixture-dev-1",
                                     token=hub.device_token("fixture-dev-1",
                                                            KEYS["fixture-dev-1"], se=se)) as dev:
                    dev.publish("devices/fixture-dev-1/messages/events/", b"after migration")
                status, events = hub.https("GET", "/admin/telemetry")
                self.assertEqual(status, 200, events)
                mine = [e for e in events if e["body"] == "after migration"]
                self.assertEqual(len(mine), 1)
                before = sum(1 for e in facts["telemetry"] if e["partition"] == mine[0]["partition"])
                self.assertEqual(mine[0]["sequenceNumber"], before)
                self.assertEqual(emu.terminate(), 0)
            emu.cleanup()
            self.assertEqual(user_version(db_path), current_schema_version())

            # A second start opens the migrated file as it is.
            again = Emulator(BINARY, data_dir=data)
            with again:
                self.assertEqual(again.terminate(), 0)
            again.cleanup()
            self.assertEqual(user_version(db_path), current_schema_version())

    def test_a_newer_schema_is_refused_with_exit_3_and_left_alone(self):
        _, sql, _ = fixtures()[-1]
        with tempfile.TemporaryDirectory(prefix="emu-schema-newer-") as tmp:
            data = os.path.join(tmp, "data")
            db_path = os.path.join(data, "iothub.db")
            materialise(sql, db_path)
            newer = current_schema_version() + 1
            db = sqlite3.connect(db_path)
            db.execute("PRAGMA user_version = %d" % newer)
            db.close()
            with open(db_path, "rb") as f:
                before = hashlib.sha256(f.read()).hexdigest()
            emu = Emulator(BINARY, data_dir=data)
            r = subprocess.run(emu.command(), capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("database schema version %d is newer than this iothub-emulator supports"
                          % newer, r.stderr)
            with open(db_path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), before)
            self.assertFalse(os.path.exists(db_path + "-wal"))
            emu.cleanup()


if __name__ == "__main__":
    unittest.main()

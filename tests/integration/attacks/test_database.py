"""Attack matrix: a database file replaced by garbage, or damaged inside. The emulator must
refuse it with exit code 3 and a clear `database: …` message, leave the file untouched (no
repair, no truncation, no WAL left behind), and start normally once the real file is back.

A damaged database is one a user can really have (a disk error, a copy of a file in use);
the variants are reproducible from DATABASE_SEED.
"""
import hashlib
import os
import random
import shutil
import tempfile
import unittest

from attack_clients import Hub
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
SEED = int(os.environ.get("DATABASE_SEED", "7"))
DEVICES = ["db-%d" % i for i in range(10)]
CONFIG = {"devices": [{"deviceId": d} for d in DEVICES]}


def fingerprint(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), st.st_size, st.st_mtime_ns


class DatabaseAttacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """A real database with devices and queued messages, stopped cleanly."""
        cls.tmp = tempfile.mkdtemp(prefix="emu-db-")
        cls.data_dir = os.path.join(cls.tmp, "data")
        emu = Emulator(BINARY, args=["--test-control"], data_dir=cls.data_dir, config=CONFIG)
        with emu:
            hub = Hub(emu.ready)
            for d in DEVICES:
                for i in range(20):
                    hub.enqueue(d, "%s-m%d" % (d, i), body="x" * 400, ack="full")
            cls.queues = {d: [m["messageId"] for m in hub.queue(d)] for d in DEVICES}
            assert emu.terminate() == 0
        emu.cleanup()
        cls.db = os.path.join(cls.data_dir, "iothub.db")
        with open(cls.db, "rb") as f:
            cls.good = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        self.restore()

    def restore(self):
        with open(self.db, "wb") as f:
            f.write(self.good)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.remove(self.db + suffix)

    def start(self, args=()):
        """Starts the emulator on the data directory: (exit code or None if it started, log)."""
        emu = Emulator(BINARY, args=["--test-control"] + list(args), data_dir=self.data_dir,
                       config=CONFIG)
        try:
            emu.start()
        except RuntimeError:
            code = emu.proc.returncode
            log = emu.log()
            emu._log.close()
            emu.cleanup()
            return code, log, None
        self.addCleanup(emu.cleanup)
        self.addCleanup(emu.__exit__, None, None, None)
        return None, emu.log(), emu

    def assert_refused(self, content, what, harmless_start_allowed=False):
        """Writes `content` as the database and starts the emulator: exit 3 with a clear
        message and the file untouched. With `harmless_start_allowed`, starting is accepted
        too if the emulator then serves exactly the original state (damage SQLite never reads,
        such as free space)."""
        with open(self.db, "wb") as f:
            f.write(content)
        before = fingerprint(self.db)
        code, log, emu = self.start()
        if emu is not None:
            if harmless_start_allowed:
                hub = Hub(emu.ready)
                served = {d: [m["messageId"] for m in hub.queue(d)] for d in DEVICES}
                emu.terminate()
                self.assertEqual(served, self.queues,
                                 "%s: started and served a different state" % what)
                return "started"
            emu.terminate()
            self.fail("%s: the emulator started on it (and replaced the file: %s)" %
                      (what, fingerprint(self.db) != before))
        self.assertEqual(code, 3, "%s: exit code %s (expected 3)\n%s" % (what, code, log[-3000:]))
        self.assertIn("iothub-emulator: database: ", log)
        self.assertEqual(fingerprint(self.db), before, "%s: the file was modified" % what)
        wal = self.db + "-wal"
        self.assertFalse(os.path.exists(wal) and os.path.getsize(wal) > 0,
                         "%s: a WAL was written" % what)
        return "refused"

    def test_garbage_file_is_refused_with_exit_3(self):
        rng = random.Random(SEED)
        for size in (2, 100, 4096, len(self.good)):
            with self.subTest(size=size):
                self.assert_refused(bytes(rng.getrandbits(8) for _ in range(size)),
                                    "%d random bytes" % size)
                self.restore()
        self.assert_starts_with_the_original_state()

    def test_one_byte_file_is_refused_with_exit_3(self):
        """SQLite alone takes a 1-byte file for an empty database and would overwrite it with a
        new hub; the emulator checks for the SQLite header first (found by this test)."""
        self.assert_refused(b"\x42", "a 1-byte file")

    def test_sqlite_header_then_garbage_is_refused_with_exit_3(self):
        rng = random.Random(SEED + 1)
        content = b"SQLite format 3\x00" + bytes(rng.getrandbits(8) for _ in range(8192))
        self.assert_refused(content, "an SQLite header followed by garbage")
        self.restore()
        self.assert_starts_with_the_original_state()

    def test_damaged_pages_are_refused_with_exit_3(self):
        """Garbage written over a few KB inside a real database: exit 3, or (damage in a part
        SQLite never reads) a normal start with the original state, never a crash. (This test
        found SQLite's "database disk image is malformed" during the load ending in
        std::terminate, SIGABRT, instead of exit code 3.)"""
        rng = random.Random(SEED + 2)
        page = 4096
        pages = len(self.good) // page
        outcomes = []
        for _ in range(6):
            damaged = bytearray(self.good)
            start = rng.randrange(2, pages) * page + rng.randrange(0, page // 2)
            for i in range(start, min(len(damaged), start + rng.randint(512, 4096))):
                damaged[i] = rng.getrandbits(8)
            with self.subTest(offset=start):
                outcomes.append(self.assert_refused(bytes(damaged), "garbage at offset %d" % start,
                                                    harmless_start_allowed=True))
            self.restore()
        self.assertIn("refused", outcomes)  # the variants do reach pages SQLite reads
        self.assert_starts_with_the_original_state()

    def assert_starts_with_the_original_state(self):
        code, log, emu = self.start()
        self.assertIsNone(code, log)
        hub = Hub(emu.ready)
        self.assertEqual({d: [m["messageId"] for m in hub.queue(d)] for d in DEVICES},
                         self.queues)
        self.assertEqual(emu.terminate(), 0)


if __name__ == "__main__":
    unittest.main()

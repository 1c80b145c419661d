"""Clock steps (issue 20, item 4): the machine's wall clock stepping back or forward by hours
while the emulator runs.

The test steps the emulator's wall clock through the clock seam of the real binary: test
control's `POST /admin/clock/wall-step {"seconds": N}` makes the hub clock's wall source read N
seconds more or less than the system clock, exactly what a step of the machine's clock does to
it, while the steady clock runs on. (libfaketime, preloaded, would step the process's clock
itself, but its start recurses into clock_gettime under ASan and under jemalloc and hangs.)
What the README documents ("Reliability and security", executor/hub_clock.hpp):

  - back: hub time does not go back and nothing waits for the wall clock to return: a lock
    times out and the message is delivered again after its timeout, a completion's feedback
    batch comes after the batch interval; a token a client makes from its (stepped) wall clock
    is valid; the emulator stays idle; the log says so once;
  - forward: hub time follows within a second: a message whose TTL passed meanwhile expires,
    by itself, with exactly one `Expired` record; a connection whose token expired by the new
    wall clock is closed; a token made from the new wall clock is valid; the log says so once.
"""
import os
import time
import unittest

from attack_clients import Hub, sas_token, username_for
from emulator import Emulator

BINARY = os.environ["EMU_BINARY"]
DEVICE = "myDevice"
C2D_FILTER = "devices/%s/messages/devicebound/#" % DEVICE
CONFIG = {
    "devices": [{"deviceId": DEVICE}, {"deviceId": "other"}],
    "c2d": {"lockTimeoutSeconds": 2},
    "feedback": {"batchIntervalSeconds": 1},
    "tokenClockSkewSeconds": 0,
}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ClockSteps(unittest.TestCase):
    def setUp(self):
        self.offset_hours = 0
        self.emu = Emulator(BINARY, args=["--test-control"], config=CONFIG)
        self.emu.start()
        self.addCleanup(self.cleanup)
        self.hub = Hub(self.emu.ready)

    def cleanup(self):
        self.emu.kill()
        if getattr(self.emu, "_log", None):
            self.emu._log.close()
        self.emu.cleanup()

    def step(self, hours):
        """The emulator's wall clock steps by `hours`."""
        status, body = self.hub.https("POST", "/admin/clock/wall-step", {"seconds": hours * 3600})
        self.assertEqual(status, 200, body)
        self.offset_hours += hours

    def emulator_wall(self):
        """The emulator's wall clock, in Unix seconds."""
        return time.time() + self.offset_hours * 3600

    def token(self, device, se):
        return sas_token("%s/devices/%s" % (self.hub.host, device), self.hub.device_keys[device],
                         se=int(se))

    def connect(self, device, se):
        c = self.hub.mqtt()
        code = c.connect(device, username_for(self.hub.host, device), self.token(device, se))
        return c, code

    def hub_now_ms(self):
        status, clock = self.hub.https("GET", "/admin/clock")
        self.assertEqual(status, 200, clock)
        return clock["nowUnixMs"]

    def feedback_records(self):
        fb = self.hub.feedback()
        return fb["pending"] + [r for b in fb["batches"] for r in b["records"]]

    def wait_for(self, what, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        self.fail("timed out waiting for " + what)

    def log_lines(self, needle):
        return [l for l in self.emu.log().splitlines() if needle in l]

    def test_a_backward_step_delays_nothing_and_fresh_tokens_stay_valid(self):
        device, code = self.connect(DEVICE, self.emulator_wall() + 3600)
        self.addCleanup(device.close)
        self.assertEqual(code, 0)
        self.assertEqual(device.subscribe(C2D_FILTER), [1])
        before = self.hub_now_ms()

        self.step(-2)
        self.hub.enqueue(DEVICE, "m-back", ack="full")
        # Delivered, not settled: the 2 s lock times out and it comes again (not in 2 hours).
        topic, pid, _ = device.next_publish(timeout=10)
        self.assertIn("m-back", topic)
        sent = time.monotonic()
        topic, pid, _ = device.next_publish(timeout=10)
        self.assertIn("m-back", topic)
        self.assertLess(time.monotonic() - sent, 8)
        device.puback(pid)
        # Its Success record is batched after the 1 s interval.
        records = self.wait_for("the Success record", lambda: [
            r for r in self.feedback_records() if r["originalMessageId"] == "m-back"])
        self.assertEqual([r["statusCode"] for r in records], ["Success"])
        # Hub time went on from where it was.
        self.assertGreaterEqual(self.hub_now_ms(), before)
        # A token made now from the stepped wall clock, valid for an hour by it, is accepted
        # (hub time is 2 h ahead of its `se`); one expired by the wall clock is not.
        fresh, code = self.connect("other", self.emulator_wall() + 3600)
        fresh.close()
        self.assertEqual(code, 0)
        stale, code = self.connect("other", self.emulator_wall() - 60)
        stale.close()
        self.assertEqual(code, 5)
        # Idle: no timer spins.
        cpu = cpu_seconds(self.emu.proc.pid)
        time.sleep(2)
        self.assertLess(cpu_seconds(self.emu.proc.pid) - cpu, 0.5)
        self.assertEqual(len(self.log_lines("the wall clock stepped back by 7200 s")), 1,
                         self.emu.log())

    def test_a_forward_step_expires_what_is_due_once_and_ends_expired_tokens(self):
        # Queued while its device is away: TTL 1 hour.
        self.hub.enqueue(DEVICE, "m-fwd", ack="full")
        # Connected with a token valid for an hour by the wall clock.
        other, code = self.connect("other", self.emulator_wall() + 3600)
        self.addCleanup(other.close)
        self.assertEqual(code, 0)
        before = self.hub_now_ms()

        self.step(+2)
        # By itself (no request), within about a second: the message expires, once.
        records = self.wait_for("the Expired record", lambda: [
            r for r in self.feedback_records() if r["originalMessageId"] == "m-fwd"])
        self.assertEqual([r["statusCode"] for r in records], ["Expired"])
        self.assertEqual(self.hub.queue(DEVICE), [])
        self.assertGreaterEqual(self.hub_now_ms() - before, 2 * 3600 * 1000)
        # The connection whose token expired by the new wall clock is closed.
        self.assertIsNotNone(other.wait_closed(10), "a connection with an expired token stayed")
        # A token made from the new wall clock is valid.
        fresh, code = self.connect("other", self.emulator_wall() + 3600)
        fresh.close()
        self.assertEqual(code, 0)
        # Later rounds apply what is due again (clock travel, then the read): nothing expires
        # twice.
        self.hub.advance_clock(10)
        self.assertEqual([r["statusCode"] for r in self.feedback_records()
                          if r["originalMessageId"] == "m-fwd"], ["Expired"])
        self.assertEqual(len(self.log_lines("the wall clock stepped forward by 7200 s")), 1,
                         self.emu.log())


if __name__ == "__main__":
    unittest.main()

"""Starts the real iothub-emulator binary for integration tests and stops it again.

    with Emulator(binary, args=[...]) as emu:
        emu.ready            # the ready-file JSON: ports, CA path, connection strings
        emu.ports["mqtt"]

Every emulator listens on 127.0.0.1 with ephemeral ports (0) and its own data directory, so
tests run in parallel without clashing. Readiness is the ready file appearing (no sleeps).
"""
import json
import os
import signal
import subprocess
import tempfile
import time


class Emulator:
    def __init__(self, binary, args=None, data_dir=None, in_memory=False, config=None,
                 env=None, timeout=30):
        self.binary = binary
        self.extra = list(args or [])
        self._tmp = tempfile.TemporaryDirectory(prefix="emu-it-")
        self.data_dir = data_dir or os.path.join(self._tmp.name, "data")
        self.in_memory = in_memory
        self.config = config
        self.env = env
        self.timeout = timeout
        self.proc = None
        self.ready = None
        self.ready_file = os.path.join(self._tmp.name, "ready.json")
        self.log_path = os.path.join(self._tmp.name, "emulator.log")

    def command(self):
        cmd = [self.binary, "--mqtt-port", "0", "--amqp-port", "0", "--https-port", "0",
               "--bind", "127.0.0.1",
               "--data-dir", self.data_dir, "--ready-file", self.ready_file]
        if self.in_memory:
            cmd.append("--in-memory")
        if self.config is not None:
            path = os.path.join(self._tmp.name, "config.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["--config", path]
        return cmd + self.extra

    def start(self):
        if os.path.exists(self.ready_file):
            os.remove(self.ready_file)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env)
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited with %d:\n%s" % (self.proc.returncode,
                                                                    self.log()))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("emulator not ready in time:\n" + self.log())
            time.sleep(0.02)  # polling a file the emulator writes atomically once ready
        with open(self.ready_file) as f:
            self.ready = json.load(f)
        return self

    @property
    def ports(self):
        return self.ready["ports"]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("emulator did not stop within %ss after SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        """SIGKILL: a crash, as far as the emulator can tell."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.kill()
        finally:
            if getattr(self, "_log", None):
                self._log.close()
        return False

    def cleanup(self):
        self._tmp.cleanup()

'use strict';
// Starts the MQTT gateway under test and talks to it over stdin/stdout: one JSON ready line,
// then one JSON answer line per command (tests/integration/mqtt/mqtt_test_server.cpp).
// startServer() is the ONE place that knows how the server is started, so the tests can move
// to the iothub-emulator binary and its test control later.
//
// Environment (set by CTest): MQTT_TEST_SERVER (the binary), MQTT_CERT_DIR (the development CA
// made by the mqtt_certs fixture; NODE_EXTRA_CA_CERTS points at its ca.crt, because Node reads
// it at start-up). Every wait is bounded; stop() ends the process and waits for it.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Re-checks `cond` (async) every 50 ms until it holds, for at most `ms`. */
async function eventually(cond, ms = 10000, what = 'a condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class TestServer {
  static async start(args = []) {
    const binary = process.env.MQTT_TEST_SERVER;
    const certDir = process.env.MQTT_CERT_DIR;
    if (!binary || !certDir) throw new Error('MQTT_TEST_SERVER and MQTT_CERT_DIR must be set');
    const s = new TestServer();
    s.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-node-'));
    s.proc = spawn(binary, ['--data-dir', s.dataDir, '--cert-dir', certDir, ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    s.log = '';
    s.logWaiters = [];
    s.proc.stderr.on('data', (d) => {
      s.log += d.toString();
      s.logWaiters = s.logWaiters.filter((w) => !w());
    });
    s.exited = new Promise((resolve) => s.proc.on('exit', (code, signal) => resolve({ code, signal })));
    s.lines = [];
    s.waiters = [];
    readline.createInterface({ input: s.proc.stdout }).on('line', (line) => {
      const w = s.waiters.shift();
      if (w) w(line); else s.lines.push(line);
    });
    s.ready = JSON.parse(await withTimeout(s.nextLine(), 30000, 'the server ready line'));
    return s;
  }

  nextLine() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async command(obj) {
    this.proc.stdin.write(JSON.stringify(obj) + '\n');
    return JSON.parse(await withTimeout(this.nextLine(), 30000, `the answer to ${JSON.stringify(obj)}`));
  }

  /** A device connection string for the Node SDK: HostName stays the hub's name (it goes into
   *  the user name and the SAS sr), GatewayHostName carries the ephemeral port (sdk-wire §1.1). */
  deviceConnectionString(device, key = undefined) {
    return `HostName=${this.ready.hostName};DeviceId=${device};` +
      `SharedAccessKey=${key || this.ready.devices[device].key};` +
      `GatewayHostName=localhost:${this.ready.port}`;
  }

  /** Number of server log lines matching `re` so far. */
  countLog(re) {
    return this.log.split('\n').filter((l) => re.test(l)).length;
  }

  /** Resolves once the server log has at least `n` lines matching `re` (event-driven). */
  waitForLog(re, n = 1, ms = 20000) {
    return withTimeout(new Promise((resolve) => {
      const check = () => {
        if (this.countLog(re) >= n) { resolve(); return true; }
        return false;
      };
      if (!check()) this.logWaiters.push(check);
    }), ms, `${n} log line(s) matching ${re}`);
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.stdin.end('quit\n');
      const done = await withTimeout(this.exited, 20000, 'the server to exit').catch((e) => {
        this.proc.kill('SIGKILL');
        throw e;
      });
      if (done.code !== 0) throw new Error(`server exited with ${done.code}/${done.signal}:\n${this.log}`);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function startServer(args = []) {
  return TestServer.start(args);
}

module.exports = { startServer, withTimeout, eventually };

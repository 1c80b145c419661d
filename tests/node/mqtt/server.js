'use strict';
// Starts the iothub-emulator executable for the MQTT tests and drives it through its HTTPS test
// control (docs/test-control.md): enqueue C2D messages, read queues, feedback and telemetry.
// startServer() is the ONE place that knows how the server is started.
//
// Like tests/node/registry/emulator.js (whose start-up this follows), plus what these tests
// need and it does not offer: a config file (the devices dev1..dev3, debug logging), a real
// SQLite file in a fresh data directory, and a server log the tests can wait on.
//
// Environment (set by CTest): EMU_BINARY (the executable), MQTT_CERT_DIR (the development CA made
// by the mqtt_certs fixture; NODE_EXTRA_CA_CERTS points at its ca.crt, because Node reads it at
// start-up; each emulator gets a copy in its data directory and reuses it). Readiness is the
// `iothub-emulator ready {json}` line; every wait is bounded; stop() ends the process and waits.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const READY_PREFIX = 'iothub-emulator ready ';

// Fixed keys, so the tests know them without asking (the ready line confirms them).
const DEVICES = ['dev1', 'dev2', 'dev3'].map((id, i) => ({
  deviceId: id,
  primaryKey: Buffer.alloc(32, String(i + 1)).toString('base64'),
  secondaryKey: Buffer.alloc(32, 'x').toString('base64'),
  status: 'enabled',
}));

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
  /**
   * @param {object} [config] merged over the generated config file (e.g. {mqtt: {...}})
   * @param {object} [options] {httpsPort}: 443 for the service SDKs, which always use 443;
   *   {amqpPort}: 5671 for @azure/event-hubs 1.x, which always uses 5671; {reuse}: a server
   *   stopped with stop({keepData: true}), whose data directory this one starts on (restart);
   *   {mqttPort}: 8883 for X.509 devices of the Node SDK, which ignores GatewayHostName then
   */
  static async start(config = {}, options = {}) {
    const binary = process.env.EMU_BINARY;
    const certDir = process.env.MQTT_CERT_DIR;
    if (!binary || !certDir) throw new Error('EMU_BINARY and MQTT_CERT_DIR must be set');
    const s = new TestServer();
    s.tmp = options.reuse ? options.reuse.tmp : fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-node-'));
    const dataDir = path.join(s.tmp, 'data');
    if (!options.reuse) fs.cpSync(certDir, path.join(dataDir, 'certs'), { recursive: true });
    const configFile = path.join(s.tmp, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify({ devices: DEVICES, logLevel: 'debug', ...config }));
    s.proc = spawn(binary, ['--mqtt-port', String(options.mqttPort ?? 0), '--amqp-port', String(options.amqpPort ?? 0),
      '--https-port', String(options.httpsPort ?? 0),
      '--bind', '127.0.0.1', '--data-dir', dataDir, '--ready-file', path.join(s.tmp, 'ready.json'),
      '--config', configFile, '--test-control'], { stdio: ['ignore', 'pipe', 'pipe'] });
    s.log = '';
    s.logWaiters = [];
    s.proc.stderr.on('data', (d) => {
      s.log += d.toString();
      s.logWaiters = s.logWaiters.filter((w) => !w());
    });
    s.exited = new Promise((resolve) => s.proc.once('exit', (code, signal) => resolve({ code, signal })));
    const ready = new Promise((resolve, reject) => {
      readline.createInterface({ input: s.proc.stdout }).on('line', (line) => {
        if (line.startsWith(READY_PREFIX)) resolve(JSON.parse(line.slice(READY_PREFIX.length)));
      });
      s.exited.then(({ code, signal }) =>
        reject(new Error(`emulator exited with ${code}/${signal} before it was ready:\n${s.log}`)));
    });
    try {
      s.ready = await withTimeout(ready, 30000, 'the emulator ready line');
    } catch (e) {
      await s.kill();
      throw e;
    }
    s.ca = fs.readFileSync(s.ready.caCertificate);
    s.keys = {};
    for (const [id, cs] of Object.entries(s.ready.connectionStrings.devices)) {
      s.keys[id] = /SharedAccessKey=([^;]+)/.exec(cs)[1];
    }
    return s;
  }

  /** A device connection string for the Node SDK: HostName stays the hub's name (it goes into
   *  the user name and the SAS sr), GatewayHostName carries the ephemeral port (sdk-wire §1.1). */
  deviceConnectionString(device, key = undefined) {
    return `HostName=${this.ready.hostName};DeviceId=${device};` +
      `SharedAccessKey=${key || this.keys[device]};` +
      `GatewayHostName=localhost:${this.ready.ports.mqtt}`;
  }

  /** A service connection string (`iothubowner`, `service`, …) for azure-iothub. */
  serviceConnectionString(policy = 'iothubowner') {
    return this.ready.connectionStrings[policy];
  }

  /**
   * One HTTPS request to 127.0.0.1:<https port>, trusting only the emulator's CA; the status
   * must be `expected`. Resolves to the parsed JSON body. The client waits 15 s, longer than the
   * HTTPS front's hub timeout (10 s), so a hub that does not answer shows as the front's 503
   * rather than as a client timeout racing it.
   */
  request(method, urlPath, expected, body = undefined, headers = {}) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: this.ready.ports.https, method, path: urlPath, ca: this.ca,
        servername: 'localhost', agent: false, timeout: 15000,
        headers: payload === undefined ? headers
          : { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== expected) {
            reject(new Error(`${method} ${urlPath} answered ${res.statusCode} (expected ${expected}): ${text}`));
          } else {
            resolve(text ? JSON.parse(text) : undefined);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Enqueues a C2D message (POST /admin/devices/{id}/messages); resolves to {seq}. */
  sendC2d(device, message) {
    return this.request('POST', `/admin/devices/${encodeURIComponent(device)}/messages`, 201, message);
  }

  /** The device's C2D queue: [{seq, messageId, state, deliveryCount, …}]. */
  queue(device) {
    return this.request('GET', `/admin/devices/${encodeURIComponent(device)}/messages`, 200);
  }

  /** Every feedback record, pending or already in a batch: [{originalMessageId, statusCode, …}]. */
  async feedback() {
    const { pending, batches } = await this.request('GET', '/admin/feedback', 200);
    return pending.concat(...batches.map((b) => b.records));
  }

  /** Received telemetry: [{id, deviceId, properties: {name: value}, body, …}]. */
  telemetry() {
    return this.request('GET', '/admin/telemetry', 200);
  }

  /**
   * The first `count` events of `device` read from the Event Hubs-compatible endpoint with the
   * official @azure/event-hubs client (all partitions, from the earliest), in the order read.
   */
  async readEvents(device, count, ms = 20000) {
    const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
    const reader = new EventHubConsumerClient('$Default', this.ready.connectionStrings.eventHubsCompatible);
    const events = [];
    let wake = () => {};
    const sub = reader.subscribe({
      processEvents: async (list) => {
        for (const e of list) {
          if (e.systemProperties['iothub-connection-device-id'] === device) events.push(e);
        }
        wake();
      },
      processError: async () => {},
    }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
    try {
      await withTimeout(new Promise((resolve) => {
        wake = () => { if (events.length >= count) resolve(); };
        wake();
      }), ms, `${count} events of ${device} from the Event Hubs-compatible endpoint`);
    } finally {
      await sub.close();
      await reader.close();
    }
    return events.slice(0, count);
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

  async kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** SIGTERM, then at most 20 s for a clean exit (0); SIGKILL and an error otherwise. The
   *  data directory goes too, unless {keepData: true} (then start({reuse: this}) restarts). */
  async stop({ keepData = false } = {}) {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const done = await withTimeout(this.exited, 20000, 'the emulator to exit').catch(async (e) => {
        await this.kill();
        throw e;
      });
      if (done.code !== 0) throw new Error(`emulator exited with ${done.code}/${done.signal}:\n${this.log}`);
    }
    if (!keepData) fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/**
 * The desired-property deltas a device SDK twin emits, in order: `next()` the next one,
 * `until(pred)` the first that matches (skipping others, e.g. the initial GET's); `all` keeps
 * every one seen.
 */
function desiredDeltas(twin) {
  const all = [];
  const seen = [];
  const waiters = [];
  twin.on('properties.desired', (delta) => {
    all.push(delta);
    const w = waiters.shift();
    if (w) w(delta); else seen.push(delta);
  });
  return {
    all,
    next(ms = 15000) {
      if (seen.length) return Promise.resolve(seen.shift());
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), ms, 'a desired delta');
    },
    async until(pred, ms = 15000) {
      for (;;) {
        const d = await this.next(ms);
        if (pred(d)) return d;
      }
    },
  };
}

async function startServer(config = {}, options = {}) {
  return TestServer.start(config, options);
}

module.exports = { startServer, withTimeout, eventually, desiredDeltas };

'use strict';
// Starts an emulator process for a test and stops it again: the Node twin of
// tests/support/emulator.py. The binary is EMU_BINARY (today tests/integration/https's
// https_test_server; the iothub-emulator executable once the HTTPS front is wired into it: the
// flags and the `iothub-emulator ready {json}` line are the same).
//
// Readiness is the ready line on stdout (no polling, no sleeps); every wait is bounded.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const READY_PREFIX = 'iothub-emulator ready ';

class StartError extends Error {
  constructor(message, exitCode, log) {
    super(message);
    this.exitCode = exitCode;
    this.log = log;
  }
}

/**
 * @param {object} options
 * @param {number} [options.httpsPort=0]   0 = ephemeral
 * @param {boolean} [options.testControl=false]
 * @param {string} [options.dataDir]       default: a fresh temporary directory
 * @param {number} [options.timeoutMs=30000]
 * @returns {Promise<Emulator>}
 */
async function startEmulator(options = {}) {
  const binary = process.env.EMU_BINARY;
  if (!binary) throw new Error('EMU_BINARY is not set');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-node-'));
  const dataDir = options.dataDir || path.join(tmp, 'data');
  const args = ['--in-memory', '--bind', '127.0.0.1', '--data-dir', dataDir,
    '--https-port', String(options.httpsPort ?? 0), '--mqtt-port', '0', '--amqp-port', '0',
    '--ready-file', path.join(tmp, 'ready.json')];
  if (options.testControl) args.push('--test-control');
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d.toString(); });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));

  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new StartError('emulator not ready in time', null, log));
    }, options.timeoutMs ?? 30000);
    const lines = readline.createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      log += line + '\n';
      if (line.startsWith(READY_PREFIX)) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(READY_PREFIX.length)));
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new StartError(`emulator exited with ${code} before it was ready:\n${log}`, code, log));
    });
  });
  return new Emulator(proc, exited, ready, tmp, () => log);
}

class Emulator {
  constructor(proc, exited, ready, tmp, log) {
    this.proc = proc;
    this.exited = exited;
    this.ready = ready;
    this.tmp = tmp;
    this.log = log;
    this.ca = fs.readFileSync(ready.caCertificate);
  }

  get httpsPort() { return this.ready.ports.https; }

  /** SIGTERM, then at most 20 s for a clean exit (SIGKILL after that). Resolves to the code. */
  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
    const { code } = await this.exited;
    clearTimeout(timer);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    return code;
  }

  /**
   * One HTTPS request to 127.0.0.1:<https port>, trusting only the emulator's CA.
   * Resolves to { status, headers, text, json } (json undefined when the body is not JSON).
   */
  request(method, urlPath, { body, headers = {}, timeoutMs = 10000 } = {}) {
    const payload = body === undefined ? undefined
      : (typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: this.httpsPort, method, path: urlPath, ca: this.ca,
        servername: 'localhost', agent: false, timeout: timeoutMs,
        headers: payload === undefined ? headers
          : { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload), ...headers },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json;
          try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

module.exports = { startEmulator, StartError };

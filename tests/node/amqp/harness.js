'use strict';
// Starts tests/integration/amqp/amqp_harness (path in $AMQP_HARNESS, certificates in
// $AMQP_CERT_DIR) and talks to it over stdin/stdout: one JSON ready line, then one answer line
// per command. Every wait is bounded; stop() ends the process and waits for it.
const { spawn } = require('node:child_process');
const readline = require('node:readline');

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Harness {
  static async start(args = []) {
    const binary = process.env.AMQP_HARNESS;
    const certDir = process.env.AMQP_CERT_DIR;
    if (!binary || !certDir) throw new Error('AMQP_HARNESS and AMQP_CERT_DIR must be set');
    const h = new Harness();
    h.proc = spawn(binary, ['--cert-dir', certDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    h.stderr = '';
    h.proc.stderr.on('data', (d) => { h.stderr += d.toString(); });
    h.exited = new Promise((resolve) => h.proc.on('exit', (code, signal) => resolve({ code, signal })));
    h.lines = [];
    h.waiters = [];
    readline.createInterface({ input: h.proc.stdout }).on('line', (line) => {
      const w = h.waiters.shift();
      if (w) w(line); else h.lines.push(line);
    });
    try {
      h.ready = JSON.parse(await withTimeout(h.nextLine(), 30000, 'the harness ready line'));
    } catch (e) {
      h.proc.kill('SIGKILL');
      await h.exited;
      throw new Error(`${e.message}\n${h.stderr}`);
    }
    return h;
  }

  nextLine() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async command(text) {
    this.proc.stdin.write(text + '\n');
    return withTimeout(this.nextLine(), 30000, `the answer to '${text}'`);
  }

  connectionString(policy = 'iothubowner', key = undefined) {
    return `HostName=localhost:${this.ready.amqpPort};SharedAccessKeyName=${policy};` +
      `SharedAccessKey=${key || this.ready.keys[policy]}`;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.stdin.end('quit\n');
      const done = await withTimeout(this.exited, 20000, 'the harness to exit').catch((e) => {
        this.proc.kill('SIGKILL');
        throw e;
      });
      if (done.code !== 0) throw new Error(`harness exited with ${done.code}/${done.signal}:\n${this.stderr}`);
    }
  }
}

module.exports = { Harness, withTimeout };

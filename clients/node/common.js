'use strict';
// Small helpers shared by the Node samples: settings from the environment, and turning the
// SDKs' errors into a sentence and an exit code (the same codes as the C++ samples).
const net = require('node:net');
const tls = require('node:tls');

const EXIT = { ok: 0, failure: 1, badInput: 2, unauthorized: 3, tls: 4, connection: 5, rejected: 6, timeout: 7 };

function setting(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function usageError(program, usageText, problem) {
  console.error(`${program}: ${problem}`);
  console.error(`usage: ${usageText}`);
  process.exit(EXIT.badInput);
}

function wholeNumber(name, fallback, min, max, onError) {
  const text = setting(name, undefined);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) onError(`${name} must be a whole number from ${min} to ${max} (got '${text}')`);
  return n;
}

// The SDKs wrap errors (transportError, amqpError); look through all of them.
function errorChain(err) {
  const chain = [];
  for (let e = err; e && !chain.includes(e) && chain.length < 5; e = e.transportError || e.amqpError || e.cause) chain.push(e);
  return chain;
}

function classify(err) {
  const text = errorChain(err)
    .map((e) => `${e.name || ''} ${e.code || ''} ${e.condition || ''} ${e.message || ''} ${e.description || ''}`)
    .join(' | ');
  if (/CERT_|certificate|self[- ]signed|UNABLE_TO_VERIFY|altnames|ERR_TLS|SSL routines/i.test(text)) return EXIT.tls;
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN/.test(text)) return EXIT.connection;
  if (/Unauthorized|unauthorized-access|Not authorized|401/i.test(text)) return EXIT.unauthorized;
  return EXIT.failure;
}

function describe(err) {
  const parts = [];
  for (const e of errorChain(err)) {
    for (const t of [e.message, e.description]) if (t && !parts.includes(t)) parts.push(t);
  }
  return parts.join(': ');
}

// "host", "host:port", "[::1]:port" → { host, port }.
function splitHostPort(text, defaultPort) {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) || /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) return { host: text, port: defaultPort };
  return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
}

// One TLS handshake of our own, trusting what Node trusts (NODE_EXTRA_CA_CERTS included):
// resolves null when it succeeds, else the error (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE).
function probeTls(host, port, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const options = { host, port };
    if (!net.isIP(host)) options.servername = host;
    const socket = tls.connect(options);
    const done = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(new Error(`TLS handshake with ${host}:${port} timed out`)), timeoutMs);
    socket.once('secureConnect', () => done(null));
    socket.once('error', (e) => done(e));
  });
}

module.exports = { EXIT, setting, usageError, wholeNumber, classify, describe, splitHostPort, probeTls };

'use strict';
// The HTTPS front on ephemeral ports (no 443 needed): health, error shapes, limits, test
// control with clock travel, and two emulators side by side.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startEmulator, StartError } = require('./emulator');

const API = '?api-version=2021-04-12';
const OWNER_KEY = 'OdtOwlXnHd2Pw8RmbhiPaCN+ZahPZ44vvv4QQtf1LII='; // README: iothubowner (development only)

/** A hub SAS token as the SDKs make it (spec §5.1): sr = host, skn = policy. */
function sas(policy = 'iothubowner', key = OWNER_KEY, host = 'localhost') {
  const se = Math.floor(Date.now() / 1000) + 3600;
  const sr = encodeURIComponent(host);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${policy}`;
}
const auth = () => ({ Authorization: sas() });

test('health answers without auth and without secrets', async () => {
  const emu = await startEmulator();
  try {
    const r = await emu.request('GET', '/health');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'healthy' });
  } finally {
    assert.equal(await emu.stop(), 0);
  }
});

test('registry errors have the IoT Hub shape; bodies are limited', async () => {
  const emu = await startEmulator();
  try {
    const missing = await emu.request('GET', `/devices/nope${API}`, { headers: auth() });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['iothub-errorcode'], 'DeviceNotFound');
    assert.match(missing.headers['content-type'], /application\/json/);
    assert.match(missing.json.Message, /^ErrorCode:DeviceNotFound;/);
    assert.equal(missing.json.ExceptionMessage, '');

    const noAuth = await emu.request('GET', `/devices/${API}`);
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');

    const created = await emu.request('PUT', `/devices/dev1${API}`, { headers: auth(), body: { deviceId: 'dev1' } });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.headers.etag, `"${created.json.etag}"`);
    assert.equal(created.json.statusReason, null);
    assert.deepEqual(created.json.capabilities, { iotEdge: false });
    assert.deepEqual(created.json.authentication.x509Thumbprint, { primaryThumbprint: null, secondaryThumbprint: null });

    const mismatch = await emu.request('PUT', `/devices/dev1${API}`, { headers: auth(), body: { deviceId: 'other' } });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.headers['iothub-errorcode'], 'ArgumentInvalid');
    const notJson = await emu.request('PUT', `/devices/dev2${API}`, { headers: auth(), body: '{nope' });
    assert.equal(notJson.status, 400);
    const x509 = await emu.request('PUT', `/devices/dev3${API}`, { headers: auth(), body: { authentication: { type: 'selfSigned' } } });
    assert.equal(x509.status, 400);

    const huge = await emu.request('PUT', `/devices/big${API}`, { headers: auth(), body: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(huge.status, 413);
    assert.equal(huge.headers['iothub-errorcode'], 'MessageTooLarge');

    const unknown = await emu.request('GET', '/nothing/here');
    assert.equal(unknown.status, 404);
  } finally {
    assert.equal(await emu.stop(), 0);
  }
});

test('test control is off without --test-control', async () => {
  const emu = await startEmulator();
  try {
    for (const [method, path] of [['GET', '/admin/clock'], ['POST', '/admin/reset'], ['GET', '/admin/feedback']]) {
      const r = await emu.request(method, path, { body: method === 'POST' ? {} : undefined });
      assert.equal(r.status, 404, `${method} ${path}`);
    }
  } finally {
    assert.equal(await emu.stop(), 0);
  }
});

test('clock travel expires a C2D message and its Expired feedback appears at once', async () => {
  const emu = await startEmulator({ testControl: true });
  try {
    const sent = await emu.request('POST', '/admin/devices/myDevice/messages', {
      body: { messageId: 'ttl-1', ack: 'full', body: 'hello', properties: { color: 'red' } },
    });
    assert.equal(sent.status, 201, sent.text);
    const queue = await emu.request('GET', '/admin/devices/myDevice/messages');
    assert.equal(queue.json.length, 1);
    const m = queue.json[0];
    assert.equal(m.messageId, 'ttl-1');
    assert.equal(m.state, 'Enqueued');
    assert.equal(m.deliveryCount, 0);
    assert.equal(m.ack, 'full');
    assert.equal(m.body, 'hello');
    assert.equal(m.bodyBase64, Buffer.from('hello').toString('base64'));
    assert.deepEqual(m.properties, { color: 'red' });
    assert.equal(m.lockExpiryUtc, null);
    // Default TTL 1 h (spec §1.2).
    assert.equal(Date.parse(m.expiryTimeUtc) - Date.parse(m.enqueuedTimeUtc), 3600 * 1000);

    const before = await emu.request('GET', '/admin/clock');
    const advanced = await emu.request('POST', '/admin/clock/advance', { body: { seconds: 7200 } });
    assert.equal(advanced.status, 200, advanced.text);
    assert.ok(advanced.json.offsetMs >= 7200 * 1000);
    assert.ok(advanced.json.nowUnixMs - before.json.nowUnixMs >= 7200 * 1000);

    // No waiting: the answer came after a round at the new time.
    const after = await emu.request('GET', '/admin/devices/myDevice/messages');
    assert.deepEqual(after.json, []);
    const feedback = await emu.request('GET', '/admin/feedback');
    const records = [...feedback.json.pending, ...feedback.json.batches.flatMap((b) => b.records)];
    const expired = records.find((r) => r.originalMessageId === 'ttl-1');
    assert.ok(expired, JSON.stringify(feedback.json));
    assert.equal(expired.statusCode, 'Expired');
    assert.equal(expired.description, 'Expired');
    assert.equal(expired.deviceId, 'myDevice');

    const bad = await emu.request('POST', '/admin/clock/advance', { body: { seconds: -1 } });
    assert.equal(bad.status, 400);
  } finally {
    assert.equal(await emu.stop(), 0);
  }
});

test('test control: admission errors, telemetry, reset', async () => {
  const emu = await startEmulator({ testControl: true });
  try {
    const unknown = await emu.request('POST', '/admin/devices/ghost/messages', { body: { body: 'x' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['iothub-errorcode'], 'DeviceNotFound');
    const tooBig = await emu.request('POST', '/admin/devices/myDevice/messages', { body: { body: 'x'.repeat(70 * 1024) } });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.headers['iothub-errorcode'], 'MessageTooLarge');
    const badAck = await emu.request('POST', '/admin/devices/myDevice/messages', { body: { ack: 'FULL' } });
    assert.equal(badAck.status, 400);
    const binary = await emu.request('POST', '/admin/devices/myDevice/messages',
      { body: { bodyBase64: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), ttlSeconds: 60 } });
    assert.equal(binary.status, 201, binary.text);
    const [m] = (await emu.request('GET', '/admin/devices/myDevice/messages')).json;
    assert.equal(m.body, null);
    assert.equal(m.bodyBase64, Buffer.from([0xff, 0x00, 0xfe]).toString('base64'));
    assert.equal(Date.parse(m.expiryTimeUtc) - Date.parse(m.enqueuedTimeUtc), 60 * 1000);

    const telemetry = await emu.request('GET', '/admin/telemetry');
    assert.deepEqual(telemetry.json, []);

    const reset = await emu.request('POST', '/admin/reset', { body: {} });
    assert.equal(reset.status, 200);
    const gone = await emu.request('GET', '/admin/devices/myDevice/messages');
    assert.equal(gone.status, 404);
  } finally {
    assert.equal(await emu.stop(), 0);
  }
});

test('two emulators side by side do not share ports or state', async () => {
  const [a, b] = await Promise.all([startEmulator(), startEmulator()]);
  try {
    assert.notEqual(a.httpsPort, b.httpsPort);
    const created = await a.request('PUT', `/devices/only-in-a${API}`, { headers: auth(), body: {} });
    assert.equal(created.status, 200, created.text);
    assert.equal((await a.request('GET', `/devices/only-in-a${API}`, { headers: auth() })).status, 200);
    assert.equal((await b.request('GET', `/devices/only-in-a${API}`, { headers: auth() })).status, 404);
  } finally {
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  }
});

test('a port in use is refused (exit 5), not shared', async () => {
  const a = await startEmulator();
  try {
    await assert.rejects(startEmulator({ httpsPort: a.httpsPort }),
      (e) => e instanceof StartError && e.exitCode === 5);
    assert.equal((await a.request('GET', '/health')).status, 200);
  } finally {
    assert.equal(await a.stop(), 0);
  }
});

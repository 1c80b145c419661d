'use strict';
// The device HTTPS API (issue 15 item 2, next-capabilities §5) with the official device SDK,
// unmodified: azure-iot-device + azure-iot-device-http (`Http`), against the iothub-emulator
// executable. The Http transport always calls port 443 of HostName (no GatewayHostName), so
// this file binds 127.0.0.1:443 (CTest runs it alone: RESOURCE_LOCK https443) and the
// connection strings are exactly the ones a user copies: HostName=localhost;DeviceId;key.
const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');
const { anHourFromNow, SharedAccessSignature } = require('azure-iot-common');
const { startServer, withTimeout } = require('../mqtt/server');

let server;
const closers = [];

function connectionString(device, key = server.keys[device]) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${key}`;
}

/** A device client over HTTPS; polling for C2D every second only once `message` is listened to. */
async function openDevice(id, key) {
  const client = DeviceClient.fromConnectionString(connectionString(id, key), Http);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  return client;
}

function sasFor(device, key = server.keys[device], expiry = anHourFromNow()) {
  return SharedAccessSignature.create(`${server.ready.hostName}/devices/${device}`, undefined,
    key, expiry).toString();
}

/** Resolves with the next `message` event of a client (messages queue up when none waits). */
function messages(client) {
  const seen = [];
  const waiters = [];
  client.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m); else seen.push(m);
  });
  return {
    next(ms = 15000) {
      if (seen.length) return Promise.resolve(seen.shift());
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), ms, 'a C2D message over HTTPS');
    },
  };
}

/** A raw HTTPS request to the device API (what the SDK cannot be made to send). */
function raw(method, path, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: server.ready.ports.https, method, path, ca: server.ca,
      servername: 'localhost', agent: false, timeout: 10000,
      headers: body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function sendEvent(client, message) {
  return new Promise((resolve, reject) =>
    client.sendEvent(message, (err, res) => (err ? reject(err) : resolve(res))));
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

test('telemetry over Http: body, properties, system properties and the hub\'s stamps', async () => {
  const client = await openDevice('dev1');
  const m = new Message(JSON.stringify({ t: 21.5 }));
  m.messageId = 'http-m1';
  m.correlationId = 'http-c1';
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('level', 'high');
  m.properties.add('iothub-connection-device-id', 'spoofed');
  const result = await client.sendEvent(m);
  assert.equal(result.constructor.name, 'MessageEnqueued');
  const all = await server.telemetry();
  const got = all.filter((e) => e.deviceId === 'dev1');
  assert.equal(got.length, 1);
  assert.equal(got[0].body, JSON.stringify({ t: 21.5 }));
  assert.equal(got[0].properties.level, 'high');
  assert.equal(got[0].properties['$.mid'], 'http-m1');
  assert.equal(got[0].properties['$.cid'], 'http-c1');
  assert.equal(got[0].properties['$.ct'], 'application/json');
  assert.equal(got[0].properties['$.ce'], 'utf-8');
  assert.equal(got[0].properties['iothub-connection-device-id'], 'dev1');
  assert.match(got[0].properties['iothub-connection-auth-method'], /"scope":"device"/);
});

test('a batch keeps its order, and @azure/event-hubs reads Http telemetry like MQTT telemetry', async () => {
  const client = await openDevice('dev2');
  const batch = [1, 2, 3].map((n) => {
    const m = new Message(`batch-${n}`);
    m.properties.add('n', String(n));
    return m;
  });
  await client.sendEventBatch(batch);
  const events = await server.readEvents('dev2', 3);
  assert.deepEqual(events.map((e) => Buffer.from(e.body).toString()), ['batch-1', 'batch-2', 'batch-3']);
  assert.deepEqual(events.map((e) => e.properties.n), ['1', '2', '3']);
});

test('C2D over Http: receive, complete (feedback Success), reject (Rejected), abandon (redelivered)', async () => {
  const client = await openDevice('dev3');
  const inbox = messages(client);
  await server.sendC2d('dev3', { body: 'complete-me', messageId: 'h-1', ack: 'full', properties: { color: 'red' } });
  const first = await inbox.next();
  assert.equal(first.data.toString(), 'complete-me');
  assert.equal(first.messageId, 'h-1');
  assert.equal(first.properties.getValue('iothub-app-color'), 'red');
  assert.match(first.lockToken, /^[0-9a-f-]{36}$/);
  await client.complete(first);

  await server.sendC2d('dev3', { body: 'reject-me', messageId: 'h-2', ack: 'full' });
  const second = await inbox.next();
  assert.equal(second.data.toString(), 'reject-me');
  await client.reject(second);

  await server.sendC2d('dev3', { body: 'abandon-me', messageId: 'h-3', ack: 'full' });
  const third = await inbox.next();
  await client.abandon(third);
  const again = await inbox.next();
  assert.equal(again.data.toString(), 'abandon-me');
  assert.notEqual(again.lockToken, third.lockToken);
  const queued = await server.queue('dev3');
  assert.equal(queued.length, 1);
  assert.equal(queued[0].deliveryCount, 1);
  await client.complete(again);

  // Each settlement was answered 204 after its commit: the records are there now.
  const byId = Object.fromEntries((await server.feedback()).map((r) => [r.originalMessageId, r.statusCode]));
  assert.equal(byId['h-1'], 'Success');
  assert.equal(byId['h-2'], 'Rejected');
  assert.equal(byId['h-3'], 'Success');
  assert.deepEqual(await server.queue('dev3'), []);
  // A settled lock token is gone: settling it again is refused (412), as Azure's lock lost.
  await assert.rejects(client.complete(first), (e) => e.response && e.response.statusCode === 412);
});

test('a device connected with a SAS token, then renewed with updateSharedAccessSignature', async () => {
  const client = DeviceClient.fromSharedAccessSignature(sasFor('dev1'), Http);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  await client.sendEvent(new Message('with-sas'));
  await client.updateSharedAccessSignature(sasFor('dev1', server.keys.dev1, anHourFromNow() + 60));
  await client.sendEvent(new Message('after-renewal'));
  const bodies = (await server.telemetry()).filter((e) => e.deviceId === 'dev1').map((e) => e.body);
  assert.ok(bodies.includes('with-sas') && bodies.includes('after-renewal'));
});

test('bad input: wrong key, expired token, oversized message', async () => {
  const wrong = await openDevice('dev1', Buffer.alloc(32, 'w').toString('base64'));
  await assert.rejects(wrong.sendEvent(new Message('nope')), (e) => e.constructor.name === 'UnauthorizedError');

  const expired = DeviceClient.fromSharedAccessSignature(sasFor('dev1', server.keys.dev1, 1000), Http);
  expired.on('error', () => {});
  closers.push(() => expired.close());
  await expired.open();
  await assert.rejects(expired.sendEvent(new Message('late')), (e) => e.constructor.name === 'UnauthorizedError');

  const big = await openDevice('dev2');
  await assert.rejects(sendEvent(big, new Message(Buffer.alloc(256 * 1024 + 1, 'x'))),
    (e) => e.constructor.name === 'MessageTooLargeError');
  const bodies = (await server.telemetry()).map((e) => e.body);
  assert.ok(!bodies.includes('nope') && !bodies.includes('late'));
});

test('a device token cannot touch another device\'s URLs; lock tokens are checked', async () => {
  const auth = { Authorization: sasFor('dev1') };
  const other = await raw('GET', '/devices/dev2/messages/devicebound?api-version=2021-04-12', auth);
  assert.equal(other.status, 401);
  const post = await raw('POST', '/devices/dev2/messages/events?api-version=2021-04-12', auth, 'x');
  assert.equal(post.status, 401);
  const none = await raw('GET', '/devices/dev1/messages/devicebound?api-version=2021-04-12');
  assert.equal(none.status, 401);
  const empty = await raw('GET', '/devices/dev1/messages/deviceBound?api-version=2021-04-12', auth);
  assert.equal(empty.status, 204);

  await server.sendC2d('dev1', { body: 'locked', messageId: 'raw-1' });
  const got = await raw('GET', '/devices/dev1/messages/devicebound?api-version=2021-04-12', auth);
  assert.equal(got.status, 200);
  assert.equal(got.body, 'locked');
  assert.match(got.headers.etag, /^"[0-9a-f-]{36}"$/);  // quoted: the C SDK insists
  assert.equal(got.headers['iothub-messageid'], 'raw-1');
  assert.equal(got.headers['iothub-deliverycount'], '0');
  const token = got.headers.etag.slice(1, -1);
  const malformed = await raw('DELETE', '/devices/dev1/messages/devicebound/nonsense?api-version=2021-04-12', auth);
  assert.equal(malformed.status, 400);
  const foreign = await raw('DELETE', `/devices/dev2/messages/devicebound/${token}?api-version=2021-04-12`,
    { Authorization: sasFor('dev2') });
  assert.equal(foreign.status, 412);
  const mismatch = await raw('DELETE', `/devices/dev1/messages/devicebound/${token}?api-version=2021-04-12`,
    { ...auth, 'If-Match': '"00000000-0000-0001-0000-000000000001"' });
  assert.equal(mismatch.status, 412);
  const done = await raw('DELETE', `/devices/dev1/messages/devicebound/${token}?api-version=2021-04-12`,
    { ...auth, 'If-Match': `"${token}"` });
  assert.equal(done.status, 204);
  const badBatch = await raw('POST', '/devices/dev1/messages/events?api-version=2021-04-12',
    { ...auth, 'Content-Type': 'application/vnd.microsoft.iothub.json' }, '{"not":"an array"}');
  assert.equal(badBatch.status, 400);
});

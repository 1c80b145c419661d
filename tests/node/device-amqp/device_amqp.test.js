'use strict';
// Device telemetry over AMQP (issue 15 item 1, first part; next-capabilities §4) with the
// official device SDK, unmodified: azure-iot-device-amqp `Amqp` (TLS, the AMQP port given by
// GatewayHostName) and `AmqpWs` (wss://HostName:443/$iothub/websocket, so this file binds
// 127.0.0.1:443: RESOURCE_LOCK https443). The device authenticates with a CBS put-token of
// its own SAS token; the telemetry lands in the same log as MQTT's (read back through test
// control and @azure/event-hubs). Twins and methods: twins_methods_amqp.test.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message, SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');
const { SharedAccessSignature } = require('azure-iot-common');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { startServer, withTimeout } = require('../mqtt/server');

let server;
const closers = [];

function amqpString(device, key = server.keys[device]) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${key};` +
    `GatewayHostName=localhost:${server.ready.ports.amqp}`;
}

function wsString(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]}`;
}

async function open(connectionString, transport) {
  const client = DeviceClient.fromConnectionString(connectionString, transport);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  return client;
}

async function telemetryOf(device) {
  return (await server.telemetry()).filter((e) => e.deviceId === device);
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

test('Amqp: sendEvent is accepted once stored, with properties, system properties and stamps', async () => {
  const client = await open(amqpString('dev1'), Amqp);
  const m = new Message(JSON.stringify({ t: 1 }));
  m.messageId = 'amqp-m1';
  m.correlationId = 'amqp-c1';
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('level', 'high');
  m.properties.add('iothub-connection-device-id', 'spoofed');
  const result = await client.sendEvent(m);
  assert.equal(result.constructor.name, 'MessageEnqueued');
  const [event] = await telemetryOf('dev1');
  assert.equal(event.body, JSON.stringify({ t: 1 }));
  assert.equal(event.properties['$.mid'], 'amqp-m1');
  assert.equal(event.properties['$.cid'], 'amqp-c1');
  assert.equal(event.properties['$.ct'], 'application/json');
  assert.equal(event.properties['$.ce'], 'utf-8');
  assert.equal(event.properties.level, 'high');
  assert.equal(event.properties['iothub-connection-device-id'], 'dev1');
  assert.match(event.properties['iothub-connection-auth-method'], /"scope":"device"/);
});

test('AmqpWs: telemetry over WebSocket on 443, in order, readable with @azure/event-hubs', async () => {
  const client = await open(wsString('dev2'), AmqpWs);
  for (const n of [1, 2, 3]) await client.sendEvent(new Message(`ws-${n}`));
  const events = await server.readEvents('dev2', 3);
  assert.deepEqual(events.map((e) => Buffer.from(e.body).toString()), ['ws-1', 'ws-2', 'ws-3']);
});

/** The client's C2D messages in order. One listener stays attached: the SDK detaches its C2D
 *  link when the last 'message' listener goes, and then cannot settle. */
function inbox(client) {
  const seen = [];
  const waiters = [];
  client.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m); else seen.push(m);
  });
  return (ms = 15000) => (seen.length ? Promise.resolve(seen.shift())
    : withTimeout(new Promise((resolve) => waiters.push(resolve)), ms, 'a C2D message'));
}

/**
 * The feedback outcome of each message id. A disposition is not answered, so first a telemetry
 * send on the same connection: its `accepted` comes after a hub round that follows the
 * dispositions sent before it (one connection, one hub queue), so the settlements are stored.
 */
async function feedbackAfter(client) {
  await client.sendEvent(new Message('barrier'));
  return Object.fromEntries((await server.feedback()).map((r) => [r.originalMessageId, r.statusCode]));
}

test('Amqp: C2D with complete (Success), reject (Rejected) and abandon (redelivered)', async () => {
  const client = await open(amqpString('dev1'), Amqp);
  const nextMessage = inbox(client);
  const first = nextMessage();
  await server.sendC2d('dev1', { body: 'complete-me', messageId: 'a-1', ack: 'full', properties: { color: 'red' } });
  const m1 = await first;
  assert.equal(m1.data.toString(), 'complete-me');
  assert.equal(m1.messageId, 'a-1');
  assert.equal(m1.ack, 'full');
  assert.equal(m1.properties.getValue('color'), 'red');
  await client.complete(m1);

  const second = nextMessage();
  await server.sendC2d('dev1', { body: 'reject-me', messageId: 'a-2', ack: 'full' });
  await client.reject(await second);

  const third = nextMessage();
  await server.sendC2d('dev1', { body: 'abandon-me', messageId: 'a-3', ack: 'full' });
  await client.abandon(await third);
  const m3 = await nextMessage();
  assert.equal(m3.messageId, 'a-3');
  assert.equal((await server.queue('dev1'))[0].deliveryCount, 1);
  await client.complete(m3);

  const byId = await feedbackAfter(client);
  assert.equal(byId['a-1'], 'Success');
  assert.equal(byId['a-2'], 'Rejected');
  assert.equal(byId['a-3'], 'Success');
  assert.deepEqual(await server.queue('dev1'), []);
});

test('AmqpWs: C2D over WebSocket; an MQTT connection of the same device takes the session over', async () => {
  const client = await open(wsString('dev2'), AmqpWs);
  const nextMessage = inbox(client);
  const got = nextMessage();
  await server.sendC2d('dev2', { body: 'over wss', messageId: 'w-1' });
  const m = await got;
  assert.equal(m.data.toString(), 'over wss');
  await client.complete(m);
  // One connection per device (spec §3.3): MQTT takes over, the AMQP C2D link is closed.
  const { Mqtt } = require('azure-iot-device-mqtt');
  const mqtt = DeviceClient.fromConnectionString(server.deviceConnectionString('dev2'), Mqtt);
  mqtt.on('error', () => {});
  closers.push(() => mqtt.close());
  const viaMqtt = new Promise((resolve) => mqtt.once('message', resolve));
  await mqtt.open();
  await server.waitForLog(/device 'dev2' C2D link closed: amqp:link:stolen/);
  await server.sendC2d('dev2', { body: 'to mqtt', messageId: 'w-2' });
  const m2 = await withTimeout(viaMqtt, 15000, 'the message over MQTT');
  assert.equal(m2.messageId, 'w-2');
});

test('Amqp: a wrong key is refused by the CBS put-token (UnauthorizedError)', async () => {
  const client = DeviceClient.fromConnectionString(amqpString('dev3', Buffer.alloc(32, 'w').toString('base64')), Amqp);
  client.on('error', () => {});
  closers.push(() => client.close());
  await assert.rejects(client.open(), (e) => e.constructor.name === 'UnauthorizedError');
  assert.deepEqual(await telemetryOf('dev3'), []);
});

test('Amqp: an oversized message is rejected, not stored', async () => {
  const client = await open(amqpString('dev3'), Amqp);
  await assert.rejects(client.sendEvent(new Message(Buffer.alloc(256 * 1024 + 1, 'x'))));
  await client.sendEvent(new Message('small'));
  assert.deepEqual((await telemetryOf('dev3')).map((e) => e.body), ['small']);
});

test('Amqp: tokenRenewal puts each new token on the open connection; the session and C2D go on', async () => {
  // Tokens valid 6 s, renewed 4 s before expiry: a CBS put-token every 2 s on the same
  // connection (next-capabilities §4 "on renewal newTokenAvailable → put-token again").
  const provider = SharedAccessKeyAuthenticationProvider.fromConnectionString(amqpString('dev3'), 6, 4);
  const client = DeviceClient.fromAuthenticationProvider(provider, Amqp);
  client.on('error', () => {});
  const nextMessage = inbox(client);
  await client.open();
  const authorised = /authorised for device 'dev3'/;
  const before = server.countLog(authorised);
  await server.waitForLog(authorised, before + 2, 30000);
  const got = nextMessage();
  await server.sendC2d('dev3', { body: 'after renewals', messageId: 'r-1' });
  assert.equal((await got).messageId, 'r-1');
  await client.sendEvent(new Message('renewed'));
  assert.ok((await telemetryOf('dev3')).some((e) => e.body === 'renewed'));
  assert.equal(server.countLog(/device 'dev3' has a session over AMQP/), 1, 'no reconnect');
  await client.close();
});

// Last in this file: it moves the hub's clock by 400 s (the other tests' tokens are 1 h).
test('AmqpWs and MqttWs: connect with a SAS token; updateSharedAccessSignature keeps the connection past the old token', async () => {
  const { MqttWs } = require('azure-iot-device-mqtt');
  const sas = (device, seconds) => SharedAccessSignature.create(
    `${server.ready.hostName}/devices/${device}`, undefined, server.keys[device],
    Math.floor(Date.now() / 1000) + seconds).toString();
  const clients = [];
  // dev3 for MQTT: dev2's session belongs to the MQTT client of an earlier test, which would
  // take it back.
  for (const [device, transport] of [['dev1', AmqpWs], ['dev3', MqttWs]]) {
    const client = DeviceClient.fromSharedAccessSignature(sas(device, 60), transport);
    client.on('error', () => {});
    closers.push(() => client.close());
    await client.open();
    await client.sendEvent(new Message(`sas-${device}`));
    await client.updateSharedAccessSignature(sas(device, 3600));
    clients.push([device, client]);
  }
  // Past the first tokens' expiry + the 5-minute skew (spec §5.1), well before the new ones'.
  await server.request('POST', '/admin/clock/advance', 200, { seconds: 400 });
  for (const [device, client] of clients) {
    await client.sendEvent(new Message(`renewed-${device}`));
    const bodies = (await telemetryOf(device)).map((e) => e.body);
    assert.ok(bodies.includes(`sas-${device}`) && bodies.includes(`renewed-${device}`), device);
  }
  assert.equal(server.countLog(/device 'dev1': The SAS token .* expired/), 0);
  assert.equal(server.countLog(/device 'dev3' closed: token_expired/), 0,
    'the MQTT/WS connection runs on the renewed token');
});

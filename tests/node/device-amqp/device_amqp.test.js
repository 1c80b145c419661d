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

/** A device on a bare rhea connection (no SASL, a CBS put-token of its SAS token), for what the
 *  Node SDK cannot send: a batched message (message-format 0x80013700), as the C SDK sends all
 *  its telemetry (next-capabilities §4). */
async function rawDeviceSender(device) {
  const rhea = require('rhea');
  const conn = rhea.create_container().connect({
    host: 'localhost', port: server.ready.ports.amqp, transport: 'tls', servername: 'localhost',
    reconnect: false, idle_time_out: 0,
  });
  closers.push(async () => conn.close());
  const once = (emitter, event) => withTimeout(new Promise((resolve) => emitter.once(event, resolve)), 15000, event);
  const cbsOut = conn.open_sender('$cbs');
  const cbsIn = conn.open_receiver({ source: '$cbs', target: 'cbs-reply' });
  await Promise.all([once(cbsOut, 'sendable'), once(cbsIn, 'receiver_open')]);
  const token = SharedAccessSignature.create(`${server.ready.hostName}/devices/${device}`, undefined,
    server.keys[device], Math.floor(Date.now() / 1000) + 3600).toString();
  const reply = once(cbsIn, 'message');
  cbsOut.send({
    reply_to: 'cbs-reply',
    application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken',
      name: `${server.ready.hostName}%2Fdevices%2F${device}` },
    body: token,
  });
  assert.equal((await reply).message.application_properties['status-code'], 200);
  const sender = conn.open_sender({ target: `/devices/${device}/messages/events` });
  await once(sender, 'sendable');
  return {
    /** The max-message-size of our attach (the C SDK sizes its batches from it). */
    maxMessageSize: Number(sender.remote.attach.max_message_size),
    /** Sends the encoded message `bytes` with `format`; resolves with the outcome's name. */
    send(bytes, format) {
      return withTimeout(new Promise((resolve) => {
        const d = sender.send(bytes, undefined, format);
        const done = (ctx) => {
          if (ctx.delivery !== d) return;
          sender.removeListener('accepted', onAccepted);
          sender.removeListener('rejected', onRejected);
          resolve(ctx.delivery.remote_state && ctx.delivery.remote_state.error
            ? `rejected: ${ctx.delivery.remote_state.error.condition}` : 'accepted');
        };
        const onAccepted = (ctx) => done(ctx);
        const onRejected = (ctx) => done(ctx);
        sender.on('accepted', onAccepted);
        sender.on('rejected', onRejected);
      }), 15000, 'the outcome');
    },
  };
}

test('Amqp: a batched message (format 0x80013700, the C SDK\'s telemetry) is stored as its messages, in order', async () => {
  const rhea = require('rhea');
  const raw = await rawDeviceSender('dev2');
  assert.equal(raw.maxMessageSize, 256 * 1024);  // Azure's D2C limit, as its attach announces
  const inner = (id, text, k) => rhea.message.encode({
    message_id: id, content_type: 'text/plain', application_properties: { k },
    body: rhea.message.data_section(Buffer.from(text)),
  });
  const batch = rhea.message.encode({
    application_properties: { AzIoTHub_FaultOperationType: 'none' },  // the C SDK copies these out
    body: rhea.message.data_sections([inner('b-1', 'one', 'v1'), inner('b-2', 'two', 'v2')]),
  });
  const before = (await telemetryOf('dev2')).length;
  assert.equal(await raw.send(batch, 0x80013700), 'accepted');
  const stored = (await telemetryOf('dev2')).slice(before);
  assert.deepEqual(stored.map((e) => [e.body, e.properties['$.mid'], e.properties.k, e.properties['$.ct']]),
    [['one', 'b-1', 'v1', 'text/plain'], ['two', 'b-2', 'v2', 'text/plain']]);
  assert.ok(stored.every((e) => e.properties.AzIoTHub_FaultOperationType === undefined));

  // The same bytes without the format are one message whose body is the encoded batch's.
  assert.equal(await raw.send(rhea.message.encode({ body: rhea.message.data_section(inner('x', 'y', 'z')) }), 0), 'accepted');
  assert.equal((await telemetryOf('dev2')).length, before + 3);

  // A batch refused as a whole: its second section is not a message.
  const bad = rhea.message.encode({
    body: rhea.message.data_sections([inner('c-1', 'ok', 'v'), Buffer.from('not a message')]),
  });
  assert.equal(await raw.send(bad, 0x80013700), 'rejected: amqp:decode-error');
  assert.equal((await telemetryOf('dev2')).length, before + 3);
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

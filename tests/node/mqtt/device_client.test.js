'use strict';
// The official Node device SDK (azure-iot-device + azure-iot-device-mqtt, unmodified) against
// the iothub-emulator executable's MQTT gateway over TLS (issue 3, sdk-wire §1): C2D with its properties, token renewal
// reconnects without a new SUBSCRIBE, telemetry with properties, a wrong key refused.
const test = require('node:test');
const assert = require('node:assert');
const { Client, Message, SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { startServer, withTimeout, eventually } = require('./server');

let server;
const clients = [];

function track(client) {
  clients.push(client);
  return client;
}

/**
 * Receives C2D messages with ONE 'message' listener for the client's life (adding and removing
 * listeners makes the SDK subscribe and unsubscribe), completing each like an application.
 */
function inbox(client) {
  const queue = [];
  const waiters = [];
  client.on('message', (msg) => {
    client.complete(msg, () => {
      const w = waiters.shift();
      if (w) w(msg); else queue.push(msg);
    });
  });
  return {
    next(ms = 20000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), ms, 'a C2D message');
    },
  };
}

test.before(async () => {
  server = await startServer();
});

test.after(async () => {
  for (const c of clients) {
    await c.close().catch(() => {});
  }
  if (server) await server.stop();
});

test('Client.fromConnectionString(Mqtt) receives a C2D message with its properties', async () => {
  const client = track(Client.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt));
  // Adding the 'message' listener connects and subscribes (sdk-wire §1.4).
  const messages = inbox(client);
  client.on('error', () => {});
  await client.open();
  const sent = await server.sendC2d('dev1', {
    messageId: 'node-m1', correlationId: 'node-c1', ack: 'full',
    properties: { color: 'blue/green', 'a b': 'x&y=z' }, body: 'hello node',
  });
  assert.ok(Number.isInteger(sent.seq), JSON.stringify(sent));
  const msg = await messages.next();
  assert.strictEqual(msg.messageId, 'node-m1');
  assert.strictEqual(msg.correlationId, 'node-c1');
  assert.strictEqual(msg.to, '/devices/dev1/messages/devicebound');
  assert.strictEqual(msg.properties.getValue('color'), 'blue/green');
  assert.strictEqual(msg.properties.getValue('a b'), 'x&y=z');
  assert.strictEqual(msg.properties.getValue('iothub-ack'), 'full');
  assert.strictEqual(msg.data.toString(), 'hello node');

  // The SDK's automatic PUBACK completed it: queue empty, positive feedback (spec §1.5, §2.1).
  await eventually(async () => (await server.queue('dev1')).length === 0,
    10000, 'the queue to be empty');
  await eventually(async () => {
    const fb = await server.feedback();
    return fb.some((r) => r.originalMessageId === 'node-m1' && r.statusCode === 'Success');
  }, 10000, 'a Success feedback record');
});

test('a short tokenRenewal keeps receiving across reconnects, with no new SUBSCRIBE', async () => {
  // Tokens valid 6 s, renewed 4 s before expiry: a DISCONNECT + CONNECT every 2 s (sdk-wire §1.3).
  const provider = SharedAccessKeyAuthenticationProvider.fromConnectionString(
    server.deviceConnectionString('dev2'), 6, 4);
  const client = track(Client.fromAuthenticationProvider(provider, Mqtt));
  client.on('error', () => {});
  const messages = inbox(client);
  await client.open();
  const connected = /device 'dev2' connected/;
  await server.waitForLog(connected, 1);
  await server.sendC2d('dev2', { messageId: 'before-renewal' });
  assert.strictEqual((await messages.next()).messageId, 'before-renewal');

  // Two renewals later (three connections in all), a new message still arrives.
  await server.waitForLog(connected, 3, 30000);
  await server.sendC2d('dev2', { messageId: 'after-renewal', properties: { n: '2' } });
  const msg = await messages.next();
  assert.strictEqual(msg.messageId, 'after-renewal');
  assert.strictEqual(msg.properties.getValue('n'), '2');
  assert.strictEqual(server.countLog(/device 'dev2' SUBSCRIBE/), 1,
    'the SDK subscribed once; later connections resumed the stored session');
  assert.ok(server.countLog(/device 'dev2' connected .*c2d subscription QoS 1/) >= 2);
});

test('sendEvent is acknowledged and the telemetry is stored with its properties', async () => {
  const client = track(Client.fromConnectionString(server.deviceConnectionString('dev3'), Mqtt));
  client.on('error', () => {});
  await client.open();
  const m = new Message(JSON.stringify({ temperature: 21.5 }));
  m.messageId = 'evt-1';
  m.correlationId = 'corr-evt';
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('temperatureAlert', 'false');
  m.properties.add('a b', 'x&y=z');
  await client.sendEvent(m);  // resolves on the PUBACK, which follows the commit

  const messages = await server.telemetry();
  const t = messages.find((x) => x.deviceId === 'dev3');
  assert.ok(t, JSON.stringify(messages));
  assert.strictEqual(t.body, JSON.stringify({ temperature: 21.5 }));
  const props = t.properties;
  assert.strictEqual(props['$.mid'], 'evt-1');
  assert.strictEqual(props['$.cid'], 'corr-evt');
  assert.strictEqual(props['$.ct'], 'application/json');
  assert.strictEqual(props['$.ce'], 'utf-8');
  assert.strictEqual(props.temperatureAlert, 'false');
  assert.strictEqual(props['a b'], 'x&y=z');
  assert.strictEqual(props['iothub-connection-device-id'], 'dev3');
  assert.strictEqual(props['iothub-connection-auth-method'],
    '{"scope":"device","type":"sas","issuer":"iothub"}');
  assert.ok(props['iothub-connection-auth-generation-id']);
});

test('a wrong key is refused with CONNACK 5, which the SDK reports as UnauthorizedError', async () => {
  const wrong = Buffer.alloc(32, 7).toString('base64');
  const client = track(Client.fromConnectionString(server.deviceConnectionString('dev1', wrong), Mqtt));
  client.on('error', () => {});
  await assert.rejects(client.open(), (err) => {
    assert.strictEqual(err.constructor.name, 'UnauthorizedError', String(err));
    return true;
  });
});

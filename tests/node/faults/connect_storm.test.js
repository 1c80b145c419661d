'use strict';
// Reconnect storms (issue 20 item 5; README "Reconnect storms"): each identity's connects are
// bounded (deviceConnectRate, here 2 at once, then one every 2 s). What matters is how the
// official SDK meets the refusal: over MQTT a CONNACK 3 (sent a second late), which it must take
// as transient and retry with its back-off until the bound lets it in, never as a storm of
// attempts and never as a final error; over AMQP the C2D link detached with
// `com.microsoft:device-container-throttled`, also a second late (without the hold the SDK
// re-attached 21 times in two seconds).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { startServer, withTimeout } = require('../mqtt/server');

let server;

test.before(async () => {
  server = await startServer({ deviceConnectRate: { perSecond: 0.5, burst: 2 } });
});

test.after(async () => {
  if (server) await server.stop();
});

const REFUSED = /connects too often/;

test('MQTT: past the bound the SDK is refused with CONNACK 3, backs off and gets in once the bound allows', async () => {
  for (let i = 0; i < 2; i++) {  // the burst
    const c = DeviceClient.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt);
    await c.open();
    await c.close();
  }
  assert.equal(server.countLog(REFUSED), 0);
  const client = DeviceClient.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt);
  client.on('error', () => {});
  const started = Date.now();
  await withTimeout(client.open(), 60000, 'the third open');
  const took = Date.now() - started;
  const refused = server.countLog(REFUSED);
  await client.close();
  console.log(`# MQTT: refused ${refused} times before CONNACK 0 (${took} ms)`);
  // Refused at least once (the bucket was empty), and only a few times: the SDK's back-off plus
  // the held CONNACK pace its retries (one every 2 s would be let in).
  assert.ok(refused >= 1, `refused ${refused} times`);
  assert.ok(refused <= 5, `refused ${refused} times in ${took} ms: a storm`);
  // The other devices never noticed.
  const other = DeviceClient.fromConnectionString(server.deviceConnectionString('dev2'), Mqtt);
  await other.open();
  await other.close();
});

test('AMQP: a C2D link refused as throttled is retried by the SDK until the bound lets it in, and messages arrive', async () => {
  const { Amqp } = require('azure-iot-device-amqp');
  const amqpString = `HostName=${server.ready.hostName};DeviceId=dev3;SharedAccessKey=${server.keys.dev3};` +
    `GatewayHostName=localhost:${server.ready.ports.amqp}`;
  for (let i = 0; i < 2; i++) {  // the burst: two sessions (a C2D link each)
    const c = DeviceClient.fromConnectionString(amqpString, Amqp);
    c.on('message', () => {});
    await c.open();
    await server.waitForLog(/device 'dev3' has a session over AMQP/, i + 1);
    await c.close();
  }
  const before = server.countLog(REFUSED);
  const client = DeviceClient.fromConnectionString(amqpString, Amqp);
  client.on('error', () => {});
  const received = new Promise((resolve) => client.on('message', (m) => {
    client.complete(m, () => resolve(m.messageId));
  }));
  await client.open();
  await server.sendC2d('dev3', { messageId: 'after-the-storm', body: 'hi' });
  assert.equal(await withTimeout(received, 60000, 'the C2D message'), 'after-the-storm');
  const refused = server.countLog(REFUSED) - before;
  console.log(`# AMQP: the C2D link was refused ${refused} times before the session opened`);
  assert.ok(refused >= 1 && refused <= 5, `refused ${refused} times`);
  await client.close();
});

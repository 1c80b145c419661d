'use strict';
// Reconnect storms (issue 20 item 5; README "Reconnect storms"): each identity's connects are
// bounded (deviceConnectRate, here 2 at once, then one every 100 s of hub time, so that no
// token comes back by itself while the test runs: the test gives one back by clock travel).
// What matters is how the official SDK meets the refusal: over MQTT a CONNACK 3 (sent a second
// late), which it must take as transient and retry with its back-off until the bound lets it
// in, never as a storm of attempts and never as a final error; over AMQP the C2D link detached
// with `com.microsoft:device-container-throttled`, also a second late (without the hold the SDK
// re-attached 21 times in two seconds).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
const { startServer, withTimeout } = require('../mqtt/server');

let server;

test.before(async () => {
  server = await startServer({ deviceConnectRate: { perSecond: 0.01, burst: 2 } });
});

test.after(async () => {
  if (server) await server.stop();
});

const REFUSED = /connects too often/;

/** Unix ms of the log's refusal lines from the `skip`-th on (the emulator's own timestamps). */
function refusalTimes(skip) {
  return server.log.split('\n').filter((l) => REFUSED.test(l)).slice(skip)
    .map((l) => Date.parse(l.split(' ')[0]));
}

/** After `start()` met an exhausted bound: waits for two refusals, checks they came a second
 *  apart (the held refusal paces the SDK's retries), then gives the bound one connect back
 *  (clock travel) and waits for `done`. The refusals taken. */
async function pastTheBound(start, done) {
  const before = server.countLog(REFUSED);
  const started = start();
  await server.waitForLog(REFUSED, before + 2);
  const [first, second] = refusalTimes(before);
  assert.ok(second - first >= 900, `retried ${second - first} ms after a refusal`);
  await server.request('POST', '/admin/clock/advance', 200, { seconds: 100 });
  await withTimeout(Promise.all([started, done()]), 60000, 'the connect past the bound');
  return server.countLog(REFUSED) - before;
}

test('MQTT: past the bound the SDK is refused with CONNACK 3, backs off and gets in once the bound allows', async () => {
  for (let i = 0; i < 2; i++) {  // the burst
    const c = DeviceClient.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt);
    await c.open();
    await c.close();
  }
  const client = DeviceClient.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt);
  client.on('error', () => {});
  const refused = await pastTheBound(() => client.open(), async () => {});
  await client.close();
  console.log(`# MQTT: refused ${refused} times before CONNACK 0`);
  // Refused while the bucket was empty, and only a few times: the SDK's back-off plus the held
  // CONNACK pace its retries until the bound lets it in.
  assert.ok(refused >= 2 && refused <= 5, `refused ${refused} times: a storm`);
  // The other devices never noticed.
  const other = DeviceClient.fromConnectionString(server.deviceConnectionString('dev2'), Mqtt);
  await other.open();
  await other.close();
});

test('AMQP: a C2D link refused as throttled is retried by the SDK until the bound lets it in, and messages arrive', async () => {
  const amqpString = `HostName=${server.ready.hostName};DeviceId=dev3;SharedAccessKey=${server.keys.dev3};` +
    `GatewayHostName=localhost:${server.ready.ports.amqp}`;
  for (let i = 0; i < 2; i++) {  // the burst: two sessions (a C2D link each)
    const c = DeviceClient.fromConnectionString(amqpString, Amqp);
    c.on('message', () => {});
    await c.open();
    await server.waitForLog(/device 'dev3' has a session over AMQP/, i + 1);
    await c.close();
  }
  const client = DeviceClient.fromConnectionString(amqpString, Amqp);
  client.on('error', () => {});
  const received = new Promise((resolve) => client.on('message', (m) => {
    client.complete(m, () => resolve(m.messageId));
  }));
  // The C2D link attaches with the open (a 'message' listener): its session is refused.
  const refused = await pastTheBound(() => client.open(),
    () => server.waitForLog(/device 'dev3' has a session over AMQP/, 3));
  await server.sendC2d('dev3', { messageId: 'after-the-storm', body: 'hi' });
  assert.equal(await withTimeout(received, 60000, 'the C2D message'), 'after-the-storm');
  console.log(`# AMQP: the C2D link was refused ${refused} times before the session opened`);
  assert.ok(refused >= 2 && refused <= 5, `refused ${refused} times: a storm`);
  await client.close();
});

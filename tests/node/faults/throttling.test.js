'use strict';
// Throttling and the daily quota of a tier (issue 17 item 3; spec §6.1): the emulator started
// with throttling {tier: F1} refuses what a Free hub refuses, the way each protocol answers it on
// Azure, so an application sees its back-off work; clock travel refills the throttles and moves
// the quota to the next day. F1: identity registry operations and C2D sends 100 a minute each,
// 8,000 messages of 0.5 KB a day.
//
// The Registry and the service Client's REST calls always go to port 443 (RESOURCE_LOCK
// https443 of the faults directory).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Amqp } = require('azure-iot-device-amqp');
const { Registry, Client: ServiceClient, AmqpWs } = require('azure-iothub');
const { startServer } = require('../mqtt/server');

let server;
let registry;
const closers = [];

function amqpString(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]};` +
    `GatewayHostName=localhost:${server.ready.ports.amqp}`;
}

async function travel(seconds) {
  await server.request('POST', '/admin/clock/advance', 200, { seconds });
}

test.before(async () => {
  server = await startServer({ throttling: { tier: 'F1' } }, { httpsPort: 443 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

/** Tokens an F1 bucket (100 a minute) can have regained since `started` (ms, real clock). */
function refilled(started) {
  return Math.ceil((Date.now() - started) / 600);
}

test('F1 registry throttle: 100 operations pass in a burst, the next gets ThrottlingError (429); a minute later it passes', async () => {
  // The bucket also refills while the burst runs (100 a minute: one every 600 ms of the hub's
  // clock, which here is the real one), so a slow machine may fit one or two more.
  const started = Date.now();
  let passed = 0;
  let err = null;
  for (let i = 0; i < 120 && !err; i++) {  // bounded
    await registry.get('dev1').then(() => { passed++; }, (e) => { err = e; });
  }
  assert.ok(err, 'a registry operation past the bucket must be throttled');
  assert.ok(passed >= 100 && passed <= 100 + refilled(started), `${passed} passed`);
  assert.equal(err.constructor.name, 'ThrottlingError');
  assert.equal(err.response.statusCode, 429);
  assert.match(err.responseBody, /ThrottlingException/);
  await travel(60);  // the bucket refills at 100 a minute
  const { responseBody } = await registry.get('dev1');
  assert.equal(responseBody.deviceId, 'dev1');
});

test('F1 C2D send throttle: the service Client gets ThrottlingError (com.microsoft:device-container-throttled) past 100 a minute', async () => {
  // AMQP over WebSocket on 443: the service Client's plain AMQP always uses port 5671.
  const service = ServiceClient.fromConnectionString(server.serviceConnectionString('iothubowner'), AmqpWs);
  // Its default policy retries a ThrottlingError for minutes (as on Azure): the application
  // that wants to see it sets NoRetry.
  service.setRetryPolicy(new NoRetry());
  closers.push(() => service.close());
  await service.open();
  let sent = 0;
  let err = null;
  const started = Date.now();
  // At most 120 attempts (bounded): 100 fit in the minute's bucket (plus its refill meanwhile). Spread over three devices,
  // whose queues (50 each) hold them all, so the queue limit is not what refuses.
  for (let i = 0; i < 120 && !err; i++) {
    await service.send(`dev${1 + (i % 3)}`, new Message(`c2d-${i}`))
      .then(() => { sent++; }, (e) => { err = e; });
  }
  assert.ok(err, 'a C2D send must be throttled');
  assert.ok(sent >= 100 && sent <= 100 + refilled(started), `${sent} sent`);
  assert.equal(err.constructor.name, 'ThrottlingError', err.message);
});

test('F1 daily quota: past 8,000 units of 0.5 KB (C2D sends count too) telemetry fails with IotHubQuotaExceededError', async () => {
  const client = DeviceClient.fromConnectionString(amqpString('dev3'), Amqp);
  client.setRetryPolicy(new NoRetry());
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  const big = 'x'.repeat(200 * 1024);  // 400 units of 512 bytes each
  let sent = 0;
  let err = null;
  for (let i = 0; i < 25 && !err; i++) {  // bounded: the quota ends at 20
    await client.sendEvent(new Message(big)).then(() => { sent++; }, (e) => { err = e; });
  }
  assert.ok(err, 'the quota must end the sends');
  assert.equal(err.constructor.name, 'IotHubQuotaExceededError', err.message);
  assert.ok(sent <= 20, `${sent} sent`);
  // Refused sends were not stored; the day's reset at 00:00 UTC is a unit test (clock travel
  // of hours would outlive the SDK's own token, signed with the real clock).
  const stored = (await server.telemetry()).filter((e) => e.deviceId === 'dev3').length;
  assert.equal(stored, sent);
});

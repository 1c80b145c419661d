'use strict';
// Hub-wide faults from test control (issue 17 item 2): slow and failing commits, refused
// put-tokens, expired tokens and paused fronts, each met by the official Node SDKs as they would
// meet it on Azure, so an application's own retry logic can be tested deterministically.
// PATCH /admin/chaos sets them, GET /admin/chaos shows what is left of them.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
const { startServer, withTimeout, eventually } = require('../mqtt/server');

let server;
const closers = [];

function connectionString(device, transport) {
  const port = transport === Amqp ? server.ready.ports.amqp : server.ready.ports.mqtt;
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]};` +
    `GatewayHostName=localhost:${port}`;
}

function client(device, transport, { retry = true } = {}) {
  const c = DeviceClient.fromConnectionString(connectionString(device, transport), transport);
  if (!retry) c.setRetryPolicy(new NoRetry());
  c.on('error', () => {});
  closers.push(() => c.close());
  return c;
}

function chaos(patch) {
  return patch === undefined ? server.request('GET', '/admin/chaos', 200)
    : server.request('PATCH', '/admin/chaos', 200, patch);
}

async function stored(device, body) {
  return (await server.telemetry()).filter((e) => e.deviceId === device && e.body === body).length;
}

/** Whether `promise` is still pending after `ms` (it must not have been answered). */
async function stillPending(promise, ms) {
  const marker = Symbol('pending');
  const r = await Promise.race([promise.then(() => 'resolved', (e) => `rejected: ${e.message}`),
    new Promise((resolve) => setTimeout(() => resolve(marker), ms))]);
  return r === marker;
}

test.before(async () => {
  server = await startServer({}, {});
});

test.afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  await chaos({ commitDelayMs: 0, failNextCommits: 0, failNextWrites: 0, failNextSyncs: 0,
    rejectNextPutTokens: 0, pausedFronts: [] });
});

test.after(async () => {
  if (server) await server.stop();
});

test('GET /admin/chaos shows nothing set; PATCH refuses unknown members and bad values with 400', async () => {
  assert.deepEqual(await chaos(),
    { commitDelayMs: 0, failNextCommits: 0, failNextWrites: 0, failNextSyncs: 0,
      rejectNextPutTokens: 0, pausedFronts: [] });
  for (const bad of [[], { failNextCommits: -1 }, { failNextCommits: 1.5 }, { commitDelayMs: 60001 },
    { failNextSyncs: -1 }, { failNextWrites: 'x' },
    { rejectNextPutTokens: '1' }, { pausedFronts: ['https'] }, { pausedFronts: 'mqtt' }, { explode: true }]) {
    await server.request('PATCH', '/admin/chaos', 400, bad);
  }
});

test('failNextCommits over AMQP: the send is rejected (amqp:internal-error), the SDK retries it and it is stored once', async () => {
  const c = client('dev1', Amqp);
  await c.open();
  await chaos({ failNextCommits: 2 });
  await withTimeout(c.sendEvent(new Message('through a full disk')), 30000, 'the retried send');
  assert.equal(await stored('dev1', 'through a full disk'), 1);
  assert.equal((await chaos()).failNextCommits, 0);
  // Said once for the episode (two failed commits), and once when commits work again.
  assert.equal(server.log.match(/commits are failing: database or disk is full \(injected by test control/g).length, 1);
  assert.match(server.log, /commits succeed again, after \d+ failed rounds/);
});

test('failNextCommits with NoRetry: the application sees InternalServerError; nothing is stored', async () => {
  const c = client('dev2', Amqp, { retry: false });
  await c.open();
  await chaos({ failNextCommits: 1 });
  const err = await c.sendEvent(new Message('lost?')).then(() => null, (e) => e);
  assert.ok(err, 'the send must fail');
  assert.equal(err.constructor.name, 'InternalServerError');
  assert.equal(await stored('dev2', 'lost?'), 0);
  await c.sendEvent(new Message('lost?'));  // the application's own retry
  assert.equal(await stored('dev2', 'lost?'), 1);
});

test('failNextCommits over MQTT: the connection ends without a PUBACK; the SDK sends again and it is stored (at least once)', async () => {
  const c = client('dev3', Mqtt);
  await c.open();
  const closedBefore = server.countLog(/device 'dev3' closed: store_failed/);
  await chaos({ failNextCommits: 1 });
  await withTimeout(c.sendEvent(new Message('mqtt through a full disk')), 30000, 'the resent message');
  assert.equal(server.countLog(/device 'dev3' closed: store_failed/), closedBefore + 1);
  assert.ok(await stored('dev3', 'mqtt through a full disk') >= 1);
});

test('commitDelayMs: every acknowledged send waits for the slow commit', async () => {
  const c = client('dev1', Mqtt);
  await c.open();
  await chaos({ commitDelayMs: 400 });
  const started = Date.now();
  await c.sendEvent(new Message('slow disk'));
  assert.ok(Date.now() - started >= 400, `acknowledged after ${Date.now() - started} ms`);
  await chaos({ commitDelayMs: 0 });
  assert.equal(await stored('dev1', 'slow disk'), 1);
});

test('rejectNextPutTokens: the next AMQP open is refused with UnauthorizedError, the one after succeeds', async () => {
  await chaos({ rejectNextPutTokens: 1 });
  const first = client('dev2', Amqp, { retry: false });
  const err = await first.open().then(() => null, (e) => e);
  assert.ok(err, 'the open must fail');
  assert.equal(err.constructor.name, 'UnauthorizedError');
  assert.match(server.log, /put-token refused: .*test control: rejectNextPutTokens/);
  assert.equal((await chaos()).rejectNextPutTokens, 0);
  const second = client('dev2', Amqp, { retry: false });
  await second.open();
  await second.sendEvent(new Message('after the refusal'));
});

test('POST /admin/tokens/expire over MQTT: the connection ends as at a token\'s expiry; the SDK reconnects with a new token, C2D resumes', async () => {
  const c = client('dev3', Mqtt);
  const received = [];
  c.on('message', (m) => { received.push(m.messageId); c.complete(m, () => {}); });
  await c.open();
  await eventually(async () => (await server.request('GET', '/admin/devices/dev3/twin', 200))
    .twin.connectionState === 'Connected', 10000, 'dev3 connected');
  const closed = server.countLog(/device 'dev3' closed: token_expired \(test control expired every token\)/);
  const connects = server.countLog(/device 'dev3' connected/);
  await server.request('POST', '/admin/tokens/expire', 200);
  await server.waitForLog(/device 'dev3' closed: token_expired \(test control expired every token\)/, closed + 1);
  await server.waitForLog(/device 'dev3' connected/, connects + 1);
  await withTimeout(c.sendEvent(new Message('after expiry mqtt')), 30000, 'a send after the expiry');
  await server.sendC2d('dev3', { messageId: 'c2d-expiry-mqtt', body: 'x' });
  await eventually(() => received.includes('c2d-expiry-mqtt'), 30000, 'the C2D message');
});

test('POST /admin/tokens/expire over AMQP: the links and the connection close with amqp:unauthorized-access; the next send puts a new token', async () => {
  const c = client('dev3', Amqp);
  c.on('message', (m) => c.complete(m, () => {}));
  await c.open();
  await eventually(async () => (await server.request('GET', '/admin/devices/dev3/twin', 200))
    .twin.connectionState === 'Connected', 10000, 'dev3 connected');
  const putTokens = server.countLog(/CBS: put-token for '127\.0\.0\.1%2Fdevices%2Fdev3'/);
  await server.request('POST', '/admin/tokens/expire', 200);
  await server.waitForLog(/closing: amqp:unauthorized-access: .*The SAS tokens of this connection expired and were not renewed/);
  await eventually(async () => (await server.request('GET', '/admin/devices/dev3/twin', 200))
    .twin.connectionState === 'Disconnected', 10000, 'dev3 disconnected');
  await withTimeout(c.sendEvent(new Message('after expiry amqp')), 30000, 'a send after the expiry');
  assert.equal(await stored('dev3', 'after expiry amqp'), 1);
  assert.ok(server.countLog(/CBS: put-token for '127\.0\.0\.1%2Fdevices%2Fdev3'/) > putTokens);
});

test('pausedFronts ["mqtt"]: connections are accepted but never answered; on resume both the waiting open and a pending send go through', async () => {
  const connected = client('dev1', Mqtt);
  await connected.open();
  await chaos({ pausedFronts: ['mqtt'] });
  const pendingSend = connected.sendEvent(new Message('sent while paused'));
  const newcomer = client('dev2', Mqtt);
  const pendingOpen = newcomer.open();
  assert.ok(await stillPending(pendingSend, 1500), 'a paused front must not acknowledge');
  assert.ok(await stillPending(pendingOpen, 10), 'a paused front must not accept the CONNECT');
  assert.equal(await stored('dev1', 'sent while paused'), 0);
  // AMQP is not paused.
  const amqp = client('dev3', Amqp);
  await amqp.open();
  await amqp.sendEvent(new Message('amqp runs'));
  await chaos({ pausedFronts: [] });
  await withTimeout(pendingSend, 20000, 'the send after resume');
  await withTimeout(pendingOpen, 20000, 'the open after resume');
  assert.equal(await stored('dev1', 'sent while paused'), 1);
  await newcomer.sendEvent(new Message('newcomer'));
});

'use strict';
// Fault injection (issue 17 items 1 and 2; next-capabilities §7) with the official SDKs,
// unmodified. A device sends telemetry carrying the AzIoTHub_Fault* properties, as the SDKs'
// own e2e disconnect suites do, and the emulator (started with faultInjection on) carries out
// the fault on that device's connection: the SDK must see it and recover as it does on Azure.
// Test control asks for the same faults without a message (POST /admin/devices/{id}/faults)
// and shows what happened (GET /admin/faults), so nothing here sleeps to "let a fault happen".
//
// The service Client's invokeDeviceMethod always calls port 443 (RESOURCE_LOCK https443).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { Client: ServiceClient } = require('azure-iothub');
const { startServer, withTimeout, eventually } = require('../mqtt/server');

let server;
let service;
const closers = [];

function connectionString(device, transport) {
  // Over WebSocket the SDKs always use wss://HostName:443 (no GatewayHostName).
  if (transport === AmqpWs || transport === MqttWs)
    return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]}`;
  const port = transport === Amqp ? server.ready.ports.amqp : server.ready.ports.mqtt;
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]};` +
    `GatewayHostName=localhost:${port}`;
}

/** The message the SDKs' e2e suites send to ask for a fault (next-capabilities §7.1). The delay
 *  goes as a number, as Node's tests add it (a uint over AMQP, text over MQTT). */
function faultMessage(type, { delay = 1, duration, reason = ' boom ' } = {}) {
  const m = new Message(' ');
  m.properties.add('AzIoTHub_FaultOperationType', type);
  m.properties.add('AzIoTHub_FaultOperationCloseReason', reason);
  m.properties.add('AzIoTHub_FaultOperationDelayInSecs', delay);
  if (duration !== undefined) m.properties.add('AzIoTHub_FaultOperationDurationInSecs', duration);
  return m;
}

function faultLog() {
  return server.request('GET', '/admin/faults', 200);
}

// Each test reads only the fault-log records made after it started (the log is the hub's,
// and a reset would also remove the configured devices).
let since = 0;
test.beforeEach(async () => {
  since = (await faultLog()).reduce((max, f) => Math.max(max, f.id), 0);
});

/** Resolves to the fault-log record once `device` has one of `type` with `event`. */
async function faultEvent(device, type, event = 'applied', ms = 15000) {
  let found;
  await eventually(async () => {
    found = (await faultLog()).find((f) => f.id > since && f.deviceId === device &&
      f.type === type && f.event === event);
    return found !== undefined;
  }, ms, `a "${event}" ${type} fault of ${device}`);
  return found;
}

/**
 * A device client using everything that can break: C2D (completing what it receives), a twin,
 * and a direct method `echo`. `retry`: false sets NoRetry (the "noted by the client" variants
 * of the SDK's tests); the default keeps the SDK's retry policy (the "never seen" variants).
 */
async function fullDevice(device, transport, { retry = true } = {}) {
  const client = DeviceClient.fromConnectionString(connectionString(device, transport), transport);
  if (!retry) client.setRetryPolicy(new NoRetry());
  client.on('error', () => {});
  const received = [];
  client.on('message', (m) => {
    received.push(m.messageId);
    client.complete(m, () => {});
  });
  closers.push(() => client.close());
  await client.open();
  client.onDeviceMethod('echo', (req, res) => res.send(200, req.payload, () => {}));
  const twin = await client.getTwin();
  return { device, client, received, twin };
}

function reported(twin, patch) {
  return withTimeout(new Promise((resolve, reject) =>
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()))),
  20000, 'a reported-properties update');
}

/** Telemetry, C2D, twin and a direct method all work for `d` (after a fault: once recovered). */
async function everythingWorks(d, tag) {
  await withTimeout(d.client.sendEvent(new Message(`after-${tag}`)), 20000, 'sendEvent');
  await eventually(async () => (await server.telemetry())
    .some((e) => e.deviceId === d.device && e.body === `after-${tag}`), 10000, 'the telemetry');
  await server.sendC2d(d.device, { messageId: `c2d-${tag}`, body: tag });
  await eventually(() => d.received.includes(`c2d-${tag}`), 20000, `the C2D message c2d-${tag}`);
  await reported(d.twin, { tag });
  const twin = await server.request('GET', `/admin/devices/${d.device}/twin`, 200);
  assert.equal(twin.twin.properties.reported.tag, tag);
  const { result } = await service.invokeDeviceMethod(d.device, {
    methodName: 'echo', payload: { tag }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 15,
  });
  assert.equal(result.status, 200);
  assert.deepEqual(result.payload, { tag });
}

test.before(async () => {
  server = await startServer({ faultInjection: true }, { httpsPort: 443 });
  service = ServiceClient.fromConnectionString(server.serviceConnectionString('iothubowner'));
});

test.afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
});

test.after(async () => {
  if (service) await service.close().catch(() => {});
  if (server) await server.stop();
});

// ---- MQTT ------------------------------------------------------------------------------------

for (const type of ['KillTcp', 'ShutDownMqtt']) {
  test(`Mqtt ${type}: the fault message is acknowledged first, then the client sees its connection end (NoRetry: 'disconnect')`, async () => {
    const d = await fullDevice('dev1', Mqtt, { retry: false });
    const disconnected = new Promise((resolve) => d.client.once('disconnect', resolve));
    const before = server.countLog(/device 'dev1' closed: fault_injection/);
    // Resolves with the PUBACK: the device will not send it again after the fault (§7.2).
    await d.client.sendEvent(faultMessage(type, { delay: 1 }));
    await withTimeout(disconnected, 15000, "the client's disconnect event");
    const applied = await faultEvent('dev1', type);
    assert.match(applied.detail, /^MQTT/);
    assert.equal(server.countLog(/device 'dev1' closed: fault_injection/), before + 1);
    // The message that asked for the fault was stored once.
    const asked = (await server.telemetry()).filter((e) => e.deviceId === 'dev1' &&
      e.properties.AzIoTHub_FaultOperationType === type);
    assert.equal(asked.length, 1);
    assert.equal(asked[0].properties.AzIoTHub_FaultOperationDelayInSecs, '1');
  });

  test(`Mqtt ${type}: with its retry policy the client reconnects by itself; telemetry, C2D, twin and methods work after`, async () => {
    const d = await fullDevice('dev2', Mqtt);
    const connectsBefore = server.countLog(/device 'dev2' connected/);
    await d.client.sendEvent(faultMessage(type, { delay: 1 }));
    await faultEvent('dev2', type);
    await server.waitForLog(/device 'dev2' connected/, connectsBefore + 1);
    await everythingWorks(d, `mqtt-${type}`);
  });
}

test('Mqtt: an AMQP-only fault on an MQTT connection is ignored and said so in the fault log', async () => {
  const d = await fullDevice('dev3', Mqtt, { retry: false });
  let disconnected = false;
  d.client.on('disconnect', () => { disconnected = true; });
  await d.client.sendEvent(faultMessage('KillAmqpConnection', { delay: 0 }));
  const ignored = await faultEvent('dev3', 'KillAmqpConnection', 'ignored');
  assert.match(ignored.detail, /AMQP fault on an MQTT connection/);
  await everythingWorks(d, 'mqtt-amqp-fault');
  assert.equal(disconnected, false);
});

test('Mqtt: an unknown fault type or a delay that is no number is stored as telemetry and logged as ignored', async () => {
  const d = await fullDevice('dev3', Mqtt, { retry: false });
  await d.client.sendEvent(faultMessage('KillEverything', { delay: 0 }));
  await d.client.sendEvent(faultMessage('KillTcp', { delay: 'soon' }));
  const ignored = (await faultLog()).filter((f) => f.id > since && f.deviceId === 'dev3' &&
    f.event === 'ignored');
  assert.equal(ignored.length, 2, JSON.stringify(ignored));
  assert.ok(ignored.some((f) => /unknown fault type 'KillEverything'/.test(f.detail)));
  assert.ok(ignored.some((f) => /DelayInSecs is not a number of seconds: 'soon'/.test(f.detail)));
  await everythingWorks(d, 'mqtt-unknown');
});

// ---- AMQP ------------------------------------------------------------------------------------

// Every AMQP fault of the SDK suites (next-capabilities §7.1) with the retry policy on: the
// SDK recovers and every feature works after it, no message lost (at-least-once).
//
// The Node SDK answers an error on any one link by tearing the whole connection down (it
// detaches every link, ends its session, closes, then connects again). An operation started
// during that rundown can make it re-attach its D2C link on the session it has just ended: an
// attach on an ended channel, which Proton (like Microsoft.Azure.Amqp) answers by closing the
// connection with amqp:not-allowed, after which that SDK version waits forever for the session's
// end. So each case waits until the device has authorised again on a new connection (its
// recovery) before it uses the device.
const amqpFaults = ['KillTcp', 'KillAmqpConnection', 'ShutDownAmqp', 'KillAmqpSession',
  'KillAmqpCBSLinkReq', 'KillAmqpCBSLinkResp', 'KillAmqpD2CLink', 'KillAmqpC2DLink',
  'KillAmqpTwinLinkReq', 'KillAmqpTwinLinkResp', 'KillAmqpMethodReqLink', 'KillAmqpMethodRespLink'];
for (const type of amqpFaults) {
  test(`Amqp ${type}: the fault is carried out on the device's connection and the SDK recovers (telemetry, C2D, twin, methods)`, async () => {
    const d = await fullDevice('dev1', Amqp);
    await everythingWorks(d, `amqp-before-${type}`);  // every link is attached now
    const authorised = server.countLog(/authorised for device 'dev1'/);
    await d.client.sendEvent(faultMessage(type, { delay: 1 }));
    const applied = await faultEvent('dev1', type);
    assert.match(applied.detail, /^AMQP: /);
    await server.waitForLog(/authorised for device 'dev1'/, authorised + 1);
    await everythingWorks(d, `amqp-${type}`);
  });
}

for (const transport of [AmqpWs, MqttWs]) {
  test(`${transport.name} KillTcp: the WebSocket's TCP connection is cut under it and the SDK recovers`, async () => {
    const d = await fullDevice('dev2', transport);
    await everythingWorks(d, `${transport.name}-before`);
    await d.client.sendEvent(faultMessage('KillTcp', { delay: 1 }));
    await faultEvent('dev2', 'KillTcp');
    await everythingWorks(d, `${transport.name}-KillTcp`);
  });
}

test('Amqp KillAmqpConnection with NoRetry: the client is told (disconnect event)', async () => {
  const d = await fullDevice('dev2', Amqp, { retry: false });
  await everythingWorks(d, 'amqp-noretry-before');
  const disconnected = new Promise((resolve) => d.client.once('disconnect', resolve));
  await d.client.sendEvent(faultMessage('KillAmqpConnection', { delay: 1 }));
  await withTimeout(disconnected, 15000, "the client's disconnect event");
  await faultEvent('dev2', 'KillAmqpConnection');
  assert.match(server.log, /closing: amqp:internal-error: Fault injection: KillAmqpConnection \( boom \)/);
});

test('Amqp: ShutDownMqtt on an AMQP connection is ignored and said so', async () => {
  const d = await fullDevice('dev3', Amqp);
  await d.client.sendEvent(faultMessage('ShutDownMqtt', { delay: 0 }));
  const ignored = await faultEvent('dev3', 'ShutDownMqtt', 'ignored');
  assert.match(ignored.detail, /MQTT fault on an AMQP connection/);
});

// ---- Invoke* windows: no disconnect, operations refused for the duration ---------------------

const windows = [
  { type: 'InvokeThrottling', error: 'ThrottlingError', status: 429 },
  { type: 'InvokeMaxMessageQuota', error: 'IotHubQuotaExceededError', status: 403 },
  { type: 'InvokeAuthError', error: 'UnauthorizedError', status: 401 },
];
for (const w of windows) {
  test(`Amqp ${w.type}: for its duration sendEvent fails with ${w.error} and the link stays; afterwards it works (clock travel ends it)`, async () => {
    const d = await fullDevice('dev1', Amqp, { retry: false });
    await d.client.sendEvent(faultMessage(w.type, { delay: 0, duration: 600 }));
    await faultEvent('dev1', w.type);
    const failed = await d.client.sendEvent(new Message('refused')).then(() => null, (e) => e);
    assert.ok(failed, 'sendEvent must fail in the window');
    assert.equal(failed.constructor.name, w.error);
    // The twin refuses too, with the window's status.
    const twinError = await reported(d.twin, { in: 'window' }).then(() => null, (e) => e);
    assert.ok(twinError, 'the twin update must fail in the window');
    await server.request('POST', '/admin/clock/advance', 200, { seconds: 601 });
    await faultEvent('dev1', w.type, 'ended');
    await everythingWorks(d, `amqp-${w.type}`);
    const refused = (await server.telemetry()).filter((e) => e.deviceId === 'dev1' && e.body === 'refused');
    assert.equal(refused.length, 0, 'a refused message is not stored');
  });
}

test('Mqtt InvokeThrottling: a twin request gets 429 over $iothub/twin/res; telemetry ends the connection without a PUBACK and is sent again after the window (nothing lost)', async () => {
  const d = await fullDevice('dev2', Mqtt);
  await d.client.sendEvent(faultMessage('InvokeThrottling', { delay: 0, duration: 600 }));
  await faultEvent('dev2', 'InvokeThrottling');
  const twinError = await reported(d.twin, { in: 'window' }).then(() => null, (e) => e);
  assert.ok(twinError, 'the twin update must fail in the window');
  assert.match(twinError.message, /throttled/);
  const closedBefore = server.countLog(/device 'dev2' closed: operation_refused/);
  const sent = d.client.sendEvent(new Message('held'));
  await server.waitForLog(/device 'dev2' closed: operation_refused/, closedBefore + 1);
  // Its reconnection is refused with CONNACK 3 while the window lasts: the SDK backs off
  // instead of being admitted and cut again without end.
  await server.waitForLog(/device 'dev2' closed: server_unavailable.*InvokeThrottling/);
  await server.request('POST', '/admin/clock/advance', 200, { seconds: 601 });
  await withTimeout(sent, 60000, 'the held message after the window');
  const held = (await server.telemetry()).filter((e) => e.deviceId === 'dev2' && e.body === 'held');
  assert.ok(held.length >= 1);
  await everythingWorks(d, 'mqtt-throttling');
});

// ---- test control ------------------------------------------------------------------------------

test('POST /admin/devices/{id}/faults cuts a connected device as its message would; 404103 when offline; 400 for a bad type', async () => {
  const d = await fullDevice('dev3', Mqtt);
  const connectsBefore = server.countLog(/device 'dev3' connected/);
  await server.request('POST', '/admin/devices/dev3/faults', 200, { type: 'KillTcp' });
  await faultEvent('dev3', 'KillTcp');
  await server.waitForLog(/device 'dev3' connected/, connectsBefore + 1);
  await everythingWorks(d, 'admin-killtcp');
  await d.client.close();
  await eventually(async () => (await server.request('GET', '/admin/devices/dev3/twin', 200))
    .twin.connectionState === 'Disconnected', 10000, 'dev3 to be disconnected');
  const offline = await server.request('POST', '/admin/devices/dev3/faults', 404, { type: 'ShutDownMqtt' });
  assert.match(offline.Message, /^ErrorCode:DeviceNotOnline;/);
  await server.request('POST', '/admin/devices/dev1/faults', 400, { type: 'Explode' });
  await server.request('POST', '/admin/devices/nobody/faults', 404, { type: 'KillTcp' });
});

test('Without faultInjection the properties are ordinary telemetry: no fault, nothing in the fault log', async () => {
  const plain = await startServer({}, {});
  try {
    const client = DeviceClient.fromConnectionString(
      `HostName=${plain.ready.hostName};DeviceId=dev1;SharedAccessKey=${plain.keys.dev1};GatewayHostName=localhost:${plain.ready.ports.mqtt}`, Mqtt);
    client.setRetryPolicy(new NoRetry());
    let disconnected = false;
    client.on('disconnect', () => { disconnected = true; });
    await client.open();
    await client.sendEvent(faultMessage('KillTcp', { delay: 0 }));
    await client.sendEvent(new Message('still-here'));
    const events = (await plain.telemetry()).filter((e) => e.deviceId === 'dev1');
    assert.deepEqual(events.map((e) => e.body), [' ', 'still-here']);
    assert.deepEqual(await plain.request('GET', '/admin/faults', 200), []);
    assert.equal(disconnected, false);
    await client.close();
  } finally {
    await plain.stop();
  }
});

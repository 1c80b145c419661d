'use strict';
// Device twins and direct methods over AMQP (issue 15 item 1; next-capabilities §2.5, §3.3)
// with the official SDKs, unmodified: azure-iot-device-amqp `Amqp` and `AmqpWs` on the device
// side, azure-iothub Registry and Client on the service side. The same cases as the MQTT file
// (tests/node/twins): GET, reported patches, desired pushes, method round trips, timeouts.
// Binds 127.0.0.1:443 (RESOURCE_LOCK https443).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient } = require('azure-iot-device');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { startServer, withTimeout, desiredDeltas } = require('../mqtt/server');

let server;
let registry;
let service;
const closers = [];

function amqpString(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]};` +
    `GatewayHostName=localhost:${server.ready.ports.amqp}`;
}

function wsString(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]}`;
}

async function open(device, transport = Amqp) {
  const cs = transport === AmqpWs ? wsString(device) : amqpString(device);
  const client = DeviceClient.fromConnectionString(cs, transport);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  return client;
}

function reportedUpdate(twin, patch) {
  return new Promise((resolve, reject) =>
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve())));
}

/** A call that waits (connectTimeoutInSeconds) until the device's method links are attached:
 *  `onDeviceMethod` attaches them in the background without telling when it is done. */
function invoke(device, methodName, payload, responseTimeoutInSeconds = 10) {
  return service.invokeDeviceMethod(device,
    { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds: 10 });
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
  service = ServiceClient.fromConnectionString(server.serviceConnectionString('service'));
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

for (const [name, transport] of [['Amqp', Amqp], ['AmqpWs', AmqpWs]]) {
  test(`${name}: getTwin, reported patches reach the service twin, desired patches reach the device`, async () => {
    const device = name === 'Amqp' ? 'dev1' : 'dev2';
    const client = await open(device, transport);
    const twin = await client.getTwin();
    const { responseBody: before } = await registry.getTwin(device);
    assert.equal(twin.properties.desired.$version, before.properties.desired.$version);
    assert.equal(twin.properties.reported.$version, before.properties.reported.$version);

    await reportedUpdate(twin, { firmware: { version: '2.0' }, battery: 50 });
    await reportedUpdate(twin, { battery: null, mode: 'amqp' });
    const { responseBody: t } = await registry.getTwin(device);
    assert.deepEqual(t.properties.reported.firmware, { version: '2.0' });
    assert.equal(t.properties.reported.mode, 'amqp');
    assert.equal(t.properties.reported.battery, undefined, 'null deleted the property');
    assert.equal(t.properties.reported.$version, before.properties.reported.$version + 2);

    const deltas = desiredDeltas(twin);
    const { responseBody: after } = await registry.updateTwin(device,
      { properties: { desired: { interval: 11 } } }, t.etag);
    const d = await deltas.until((x) => x.interval === 11);
    assert.equal(d.$version, after.properties.desired.$version);
    assert.equal(twin.properties.desired.interval, 11);
  });

  test(`${name}: direct methods round-trip payloads and status; silence is 504`, async () => {
    const device = name === 'Amqp' ? 'dev1' : 'dev2';
    const client = await open(device, transport);
    let seen;
    client.onDeviceMethod('reboot', (request, response) => {
      seen = { name: request.methodName, payload: request.payload };
      response.send(201, { accepted: true, delay: request.payload.delay }, () => {});
    });
    client.onDeviceMethod('echo', (request, response) => response.send(200, request.payload, () => {}));
    client.onDeviceMethod('silent', () => { /* never answers */ });
    const r = await invoke(device, 'reboot', { delay: 3 });
    assert.equal(r.result.status, 201);
    assert.deepEqual(r.result.payload, { accepted: true, delay: 3 });
    assert.deepEqual(seen, { name: 'reboot', payload: { delay: 3 } });
    for (const payload of [null, 'foo', { k1: 'v1' }, {}]) {
      const e = await invoke(device, 'echo', payload);
      assert.equal(e.result.status, 200);
      assert.deepEqual(e.result.payload, payload);
    }
    await assert.rejects(invoke(device, 'silent', 1, 5),
      (err) => err.constructor.name === 'GatewayTimeoutError' && err.response.statusCode === 504);
  });
}

test('Amqp: C2D, twin and methods share the device session; closing the C2D link keeps the others', async () => {
  const client = await open('dev3');
  const received = new Promise((resolve) => client.once('message', resolve));
  client.onDeviceMethod('ping', (request, response) => response.send(200, 'pong', () => {}));
  const twin = await client.getTwin();
  await server.sendC2d('dev3', { body: 'hello', messageId: 's-1' });
  const m = await withTimeout(received, 15000, 'the C2D message');
  assert.equal(m.messageId, 's-1');
  // The SDK detaches its C2D link when the last 'message' listener goes ('once'), before the
  // message could be settled: it goes back to the queue at once (one delivery counted), and
  // twin and methods stay on the same session.
  await server.waitForLog(/device 'dev3' C2D link detached; its session stays/);
  await server.sendC2d('dev3', { body: 'later', messageId: 's-2' });
  const r = await invoke('dev3', 'ping', null);
  assert.equal(r.result.payload, 'pong');
  await reportedUpdate(twin, { still: 'here' });
  const { responseBody: t } = await registry.getTwin('dev3');
  assert.equal(t.properties.reported.still, 'here');
  const queued = await server.queue('dev3');
  assert.deepEqual(queued.map((q) => [q.messageId, q.state, q.deliveryCount]),
    [['s-1', 'Enqueued', 1], ['s-2', 'Enqueued', 0]]);
  assert.equal(server.countLog(/device 'dev3' has a session over AMQP/), 1, 'one session for all links');
});

test('Amqp: an MQTT connection of the device takes the session over: twin and method links close', async () => {
  const { responseBody: created } = await registry.create({ deviceId: 'dev4' });
  server.keys.dev4 = created.authentication.symmetricKey.primaryKey;
  const client = await open('dev4');
  client.onDeviceMethod('ping', (request, response) => response.send(200, 'amqp', () => {}));
  await client.getTwin();
  assert.equal((await invoke('dev4', 'ping', null)).result.payload, 'amqp');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const mqtt = DeviceClient.fromConnectionString(server.deviceConnectionString('dev4'), Mqtt);
  mqtt.on('error', () => {});
  closers.push(() => mqtt.close());
  await mqtt.open();
  await server.waitForLog(/device 'dev4' twin link closed: amqp:link:stolen/);
  await server.waitForLog(/device 'dev4' methods link closed: amqp:link:stolen/);
  mqtt.onDeviceMethod('ping', (request, response) => response.send(200, 'mqtt', () => {}));
  assert.equal((await invoke('dev4', 'ping', null)).result.payload, 'mqtt');
});

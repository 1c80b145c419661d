'use strict';
// Device twins and direct methods with the official SDKs, unmodified (issue 13,
// next-capabilities §2-§3): azure-iot-device + azure-iot-device-mqtt on the device side,
// azure-iothub Registry and Client on the service side, against the iothub-emulator
// executable. The service SDK always calls port 443 of HostName, so this file binds
// 127.0.0.1:443 (CTest runs it alone: RESOURCE_LOCK https443).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { startServer, withTimeout, desiredDeltas } = require('../mqtt/server');

let server;
let registry;
let service;
const devices = [];

async function openDevice(id) {
  const client = DeviceClient.fromConnectionString(server.deviceConnectionString(id), Mqtt);
  client.on('error', () => {});
  devices.push(client);
  await client.open();
  return client;
}

/**
 * Invokes a method once the device is reachable: `onDeviceMethod` subscribes in the background
 * without telling when it is done, so a 404 DeviceNotOnline before that is retried (bounded).
 */
async function invokeWhenReachable(deviceId, params, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await service.invokeDeviceMethod(deviceId, params);
    } catch (e) {
      const notOnline = e.response && e.response.statusCode === 404;
      if (!notOnline || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function reportedUpdate(twin, patch) {
  return new Promise((resolve, reject) =>
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve())));
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
  service = ServiceClient.fromConnectionString(server.serviceConnectionString('service'));
});

test.after(async () => {
  for (const c of devices) await c.close().catch(() => {});
  if (server) await server.stop();
});

test('getTwin returns the desired and reported sections of a new device, each at $version 1', async () => {
  const client = await openDevice('dev1');
  const twin = await client.getTwin();
  assert.equal(twin.properties.desired.$version, 1);
  assert.equal(twin.properties.reported.$version, 1);
  await client.close();
});

test('reported properties: patches from the device reach the service twin with $metadata', async () => {
  const client = await openDevice('dev2');
  const twin = await client.getTwin();
  await reportedUpdate(twin, { firmware: { version: '1.2.3' }, battery: 87 });
  await reportedUpdate(twin, { battery: null, mode: 'eco' });
  const { responseBody: t } = await registry.getTwin('dev2');
  assert.equal(t.deviceId, 'dev2');
  assert.deepEqual(t.properties.reported.firmware, { version: '1.2.3' });
  assert.equal(t.properties.reported.mode, 'eco');
  assert.equal(t.properties.reported.battery, undefined, 'null deleted the property');
  assert.equal(t.properties.reported.$version, 3);
  assert.ok(t.properties.reported.$metadata.mode.$lastUpdated);
  await client.close();
});

test('desired properties: Registry.updateTwin pushes each patch to the device, $version +1 each', async () => {
  const client = await openDevice('dev3');
  const twin = await client.getTwin();
  const deltas = desiredDeltas(twin);
  const { responseBody: before } = await registry.getTwin('dev3');
  const start = before.properties.desired.$version;
  const { responseBody: after } = await registry.updateTwin('dev3',
    { tags: { site: 'lab' }, properties: { desired: { interval: 5 } } }, before.etag);
  assert.equal(after.properties.desired.$version, start + 1);
  assert.deepEqual(after.tags, { site: 'lab' });
  const d1 = await deltas.until((d) => d.interval === 5);
  assert.equal(d1.$version, start + 1);
  // The SDK keeps its twin document up to date from the pushed patches.
  assert.equal(twin.properties.desired.interval, 5);

  // A stale etag is refused with 412, and nothing changes.
  await assert.rejects(
    registry.updateTwin('dev3', { properties: { desired: { interval: 99 } } }, before.etag),
    (err) => err.response && err.response.statusCode === 412);
  const { responseBody: unchanged } = await registry.getTwin('dev3');
  assert.equal(unchanged.properties.desired.interval, 5);

  // The service's Twin object: update() with its own etag.
  const { responseBody: svcTwin } = await registry.getTwin('dev3');
  await svcTwin.update({ properties: { desired: { interval: 7, nested: { a: 1 } } } });
  const d2 = await deltas.until((d) => d.interval === 7);
  assert.deepEqual(d2.nested, { a: 1 });
  assert.equal(d2.$version, start + 2);
  await client.close();
});

test('after a reconnect the SDK gets the twin again and sees desired changes made while offline', async () => {
  const client = await openDevice('dev1');
  const twin = await client.getTwin();
  const versionBefore = twin.properties.desired.$version;
  await client.close();
  const { responseBody: t } = await registry.getTwin('dev1');
  await registry.updateTwin('dev1', { properties: { desired: { offlineChange: true } } }, t.etag);
  await client.open();
  const again = await client.getTwin();
  assert.equal(again.properties.desired.offlineChange, true);
  // (The SDK updates the same twin object in place.)
  assert.equal(again.properties.desired.$version, versionBefore + 1);
  await client.close();
});

test('direct method: payload and status round trip through the device handler', async () => {
  const client = await openDevice('dev2');
  let seen;
  client.onDeviceMethod('reboot', (request, response) => {
    seen = { name: request.methodName, payload: request.payload };
    response.send(201, { accepted: true, delay: request.payload.delay }, () => {});
  });
  const r = await invokeWhenReachable('dev2',
    { methodName: 'reboot', payload: { delay: 3 }, responseTimeoutInSeconds: 10 });
  assert.equal(r.result.status, 201);
  assert.deepEqual(r.result.payload, { accepted: true, delay: 3 });
  assert.deepEqual(seen, { name: 'reboot', payload: { delay: 3 } });
  await client.close();
});

test('direct method: payloads null, string, object round-trip unchanged', async () => {
  const client = await openDevice('dev3');
  client.onDeviceMethod('echo', (request, response) => response.send(200, request.payload, () => {}));
  for (const payload of [null, 'foo', { k1: 'v1' }, {}]) {
    const r = await invokeWhenReachable('dev3', { methodName: 'echo', payload, responseTimeoutInSeconds: 10 });
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.result.payload, payload);
  }
  await client.close();
});

test('direct method: an offline device is 404 DeviceNotOnline at once', async () => {
  const started = Date.now();
  await assert.rejects(
    service.invokeDeviceMethod('dev1', { methodName: 'reboot', responseTimeoutInSeconds: 10 }),
    (err) => err.response && err.response.statusCode === 404 &&
      /DeviceNotOnline/.test(err.responseBody || err.message));
  assert.ok(Date.now() - started < 5000, 'answered at once (connectTimeoutInSeconds 0)');
});

test('direct method: a device that does not answer gives 504 GatewayTimeoutError before the SDK times out', async () => {
  const client = await openDevice('dev1');
  client.onDeviceMethod('silent', () => { /* never answers */ });
  // Reachable first (an unknown method gets no answer either).
  client.onDeviceMethod('ping', (request, response) => response.send(200, null, () => {}));
  await invokeWhenReachable('dev1', { methodName: 'ping', responseTimeoutInSeconds: 5 });
  const started = Date.now();
  await assert.rejects(
    service.invokeDeviceMethod('dev1', { methodName: 'silent', responseTimeoutInSeconds: 5 }),
    (err) => err.constructor.name === 'GatewayTimeoutError' && err.response.statusCode === 504);
  const took = Date.now() - started;
  assert.ok(took >= 4000 && took < 6000, `answered after the response timeout (${took} ms)`);
  await client.close();
});

test('direct method: connectTimeoutInSeconds waits for the device to come online', async () => {
  const pending = service.invokeDeviceMethod('dev2',
    { methodName: 'late', payload: 1, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 20 });
  const client = await openDevice('dev2');
  client.onDeviceMethod('late', (request, response) => response.send(200, request.payload + 1, () => {}));
  const r = await pending;
  assert.equal(r.result.status, 200);
  assert.equal(r.result.payload, 2);
  await client.close();
});

test('queries: WHERE on tags and reported properties, COUNT(), paging with continuation tokens', async () => {
  for (const [id, site] of [['dev1', 'lab'], ['dev2', 'lab'], ['dev3', 'plant']]) {
    const { responseBody: t } = await registry.getTwin(id);
    await registry.updateTwin(id, { tags: { site, rank: id === 'dev1' ? 1 : 2 } }, t.etag);
  }
  const lab = registry.createQuery("SELECT * FROM devices WHERE tags.site = 'lab'", 1);
  const ids = [];
  while (lab.hasMoreResults) {
    const { result } = await lab.nextAsTwin();
    assert.ok(result.length <= 1, 'one twin per page');
    ids.push(...result.map((t) => t.deviceId));
  }
  assert.deepEqual(ids.sort(), ['dev1', 'dev2']);

  const q = registry.createQuery("SELECT * FROM devices WHERE tags.site = 'lab' AND NOT (tags.rank > 1) OR properties.reported.mode = 'eco'");
  const { result: mixed } = await q.nextAsTwin();
  assert.deepEqual(mixed.map((t) => t.deviceId).sort(), ['dev1', 'dev2'],
    'dev1 by its tags, dev2 by the reported mode set in an earlier test');

  const { result: count } = await registry.createQuery('SELECT COUNT() AS total FROM devices').next();
  assert.deepEqual(count, [{ total: 3 }]);

  await assert.rejects(registry.createQuery('SELECT * FROM nowhere').next(),
    (err) => err.response && err.response.statusCode === 400);
});

test('the registry shows connectionState and lastActivityTime of a connected device', async () => {
  const client = await openDevice('dev3');
  const { responseBody: on } = await registry.get('dev3');
  assert.equal(on.connectionState, 'Connected');
  assert.notEqual(on.lastActivityTime, '0001-01-01T00:00:00Z');
  const { result: online } = await registry.createQuery("SELECT * FROM devices WHERE connectionState = 'Connected'").nextAsTwin();
  assert.deepEqual(online.map((t) => t.deviceId), ['dev3']);
  await client.close();
  const deadline = Date.now() + 10000;
  let state;
  do {
    ({ responseBody: { connectionState: state } } = await registry.get('dev3'));
    if (state === 'Disconnected') break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  assert.equal(state, 'Disconnected');
});

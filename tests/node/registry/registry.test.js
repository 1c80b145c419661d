'use strict';
// The official Node `Registry` (azure-iothub) against the emulator's HTTPS front, unmodified:
// it always connects to port 443 on HostName (sdk-wire §3), so this file binds 127.0.0.1:443
// (CTest runs it alone: RESOURCE_LOCK https443) and trusts the CA through NODE_EXTRA_CA_CERTS.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Registry } = require('azure-iothub');
const { startEmulator } = require('./emulator');

const API = '?api-version=2021-04-12';
let emu;
let registry;
let skipReason;

/** The SDK's own signed REST call, for the operations `Registry` has no method for. */
function rawCall(reg, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    reg._restApiClient.executeApiCall(method, path, headers, body, (err, result, response) => {
      if (err) reject(err); else resolve({ result, response });
    });
  });
}

function registryFor(policy) {
  const cs = emu.ready.connectionStrings[policy] ?? policy;
  return Registry.fromConnectionString(cs);
}

test.before(async () => {
  try {
    emu = await startEmulator({ httpsPort: 443, testControl: true, dataDir: process.env.EMU_DATA_DIR });
  } catch (e) {
    if (e.exitCode === 5) { skipReason = 'cannot bind 127.0.0.1:443 (needs root)'; return; }
    throw e;
  }
  registry = registryFor('iothubowner');
});

test.after(async () => {
  if (emu) assert.equal(await emu.stop(), 0);
});

function maybe(name, fn) {
  test(name, async (t) => {
    if (skipReason) { t.skip(skipReason); return; }
    await fn(t);
  });
}

maybe('create without keys returns generated keys and an etag', async () => {
  const { responseBody: d, httpResponse } = await registry.create({ deviceId: 'created-1' });
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(d.deviceId, 'created-1');
  assert.equal(d.status, 'enabled');
  assert.equal(d.connectionState, 'Disconnected');
  assert.equal(d.cloudToDeviceMessageCount, 0);
  assert.equal(d.authentication.type, 'sas');
  for (const key of [d.authentication.symmetricKey.primaryKey, d.authentication.symmetricKey.secondaryKey]) {
    assert.equal(Buffer.from(key, 'base64').length, 32);
  }
  assert.notEqual(d.authentication.symmetricKey.primaryKey, d.authentication.symmetricKey.secondaryKey);
  assert.ok(d.etag);
  assert.ok(d.generationId);
  assert.equal(httpResponse.headers.etag, `"${d.etag}"`);
});

maybe('create keeps the keys the caller gives', async () => {
  const primaryKey = Buffer.alloc(32, 1).toString('base64');
  const secondaryKey = Buffer.alloc(32, 2).toString('base64');
  const { responseBody: d } = await registry.create({
    deviceId: 'created-keys', status: 'disabled',
    authentication: { symmetricKey: { primaryKey, secondaryKey } },
  });
  assert.equal(d.authentication.symmetricKey.primaryKey, primaryKey);
  assert.equal(d.authentication.symmetricKey.secondaryKey, secondaryKey);
  assert.equal(d.status, 'disabled');
});

maybe('get returns the device; ids are percent-decoded once', async () => {
  const id = 'odd%id+with$chars';
  await registry.create({ deviceId: id });
  const { responseBody: d } = await registry.get(id);
  assert.equal(d.deviceId, id);
  const { responseBody: dev } = await registry.get('myDevice');
  assert.equal(dev.deviceId, 'myDevice');
});

maybe('list returns every device', async () => {
  await registry.create({ deviceId: 'listed-1' });
  const { responseBody: devices } = await registry.list();
  const ids = devices.map((d) => d.deviceId);
  assert.ok(ids.includes('myDevice'), ids.join(','));
  assert.ok(ids.includes('listed-1'), ids.join(','));
});

maybe('update with If-Match "*" and with the current etag; a stale etag is 412', async () => {
  const { responseBody: created } = await registry.create({ deviceId: 'updated-1' });
  const { responseBody: forced } = await registry.update({ deviceId: 'updated-1', status: 'disabled' });
  assert.equal(forced.status, 'disabled');
  assert.notEqual(forced.etag, created.etag);
  // The current etag: accepted. Registry.update always sends "*", so use the SDK's REST client.
  const body = { deviceId: 'updated-1', status: 'enabled' };
  const path = `/devices/updated-1${API}`;
  const headers = (etag) => ({ 'If-Match': `"${etag}"`, 'Content-Type': 'application/json; charset=utf-8' });
  const { result: current } = await rawCall(registry, 'PUT', path, headers(forced.etag), body);
  assert.equal(current.status, 'enabled');
  // The etag from before the update: InvalidEtagError (412 PreconditionFailed).
  await assert.rejects(rawCall(registry, 'PUT', path, headers(created.etag), body),
    (e) => e.name === 'InvalidEtagError');
  await assert.rejects(rawCall(registry, 'DELETE', path, { 'If-Match': `"${created.etag}"` }),
    (e) => e.name === 'InvalidEtagError');
});

maybe('delete answers 204 and the device is gone', async () => {
  await registry.create({ deviceId: 'deleted-1' });
  const { httpResponse } = await registry.delete('deleted-1');
  assert.equal(httpResponse.statusCode, 204);
  await assert.rejects(registry.get('deleted-1'), (e) => e.name === 'DeviceNotFoundError');
});

maybe('purge removes the queued C2D messages', async () => {
  await registry.create({ deviceId: 'purged-1' });
  for (const messageId of ['m1', 'm2']) {
    const r = await emu.request('POST', '/admin/devices/purged-1/messages', { body: { messageId, body: 'hi' } });
    assert.equal(r.status, 201, r.text);
  }
  const { responseBody: before } = await registry.get('purged-1');
  assert.equal(before.cloudToDeviceMessageCount, 2);
  const { result } = await rawCall(registry, 'DELETE', `/devices/purged-1/commands${API}`, {});
  assert.deepEqual(result, { deviceId: 'purged-1', totalMessagesPurged: 2 });
  const { responseBody: after } = await registry.get('purged-1');
  assert.equal(after.cloudToDeviceMessageCount, 0);
  await assert.rejects(rawCall(registry, 'DELETE', `/devices/nope/commands${API}`, {}),
    (e) => e.name === 'DeviceNotFoundError');
});

maybe('an unknown device is DeviceNotFoundError', async () => {
  await assert.rejects(registry.get('no-such-device'), (e) => {
    assert.equal(e.name, 'DeviceNotFoundError');
    assert.match(e.message, /no-such-device/);
    return true;
  });
  await assert.rejects(registry.delete('no-such-device'), (e) => e.name === 'DeviceNotFoundError');
});

maybe('creating a device twice is DeviceAlreadyExistsError', async () => {
  await registry.create({ deviceId: 'twice' });
  await assert.rejects(registry.create({ deviceId: 'twice' }),
    (e) => e.name === 'DeviceAlreadyExistsError');
});

maybe('a wrong key is UnauthorizedError', async () => {
  const wrong = `HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`;
  await assert.rejects(Registry.fromConnectionString(wrong).get('myDevice'),
    (e) => e.name === 'UnauthorizedError');
  const unknownPolicy = `HostName=localhost;SharedAccessKeyName=nobody;SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`;
  await assert.rejects(Registry.fromConnectionString(unknownPolicy).list(),
    (e) => e.name === 'UnauthorizedError');
});

maybe('registryRead can read but not write; service cannot read the registry', async () => {
  const readKey = 'dKtzz8AK0B3LiWfvpLezBP3StGxAD5NAFceLx+MxdLo='; // README: registryRead (development only)
  const reader = Registry.fromConnectionString(`HostName=localhost;SharedAccessKeyName=registryRead;SharedAccessKey=${readKey}`);
  const { responseBody: devices } = await reader.list();
  assert.ok(devices.length > 0);
  await assert.rejects(reader.create({ deviceId: 'by-reader' }), (e) => e.name === 'UnauthorizedError');
  await assert.rejects(reader.delete('myDevice'), (e) => e.name === 'UnauthorizedError');
  const service = registryFor('service');
  await assert.rejects(service.get('myDevice'), (e) => e.name === 'UnauthorizedError');
});

maybe('registry and service statistics count devices as the registry lists them', async () => {
  await registry.create({ deviceId: 'stats-off', status: 'disabled' });
  const { Client } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  // The MQTT port is ephemeral here: GatewayHostName carries it (sdk-wire §8).
  const device = Client.fromConnectionString(`${emu.ready.connectionStrings.devices.myDevice};` +
    `GatewayHostName=127.0.0.1:${emu.ready.ports.mqtt}`, Mqtt);
  await device.open();
  try {
    const { responseBody: list } = await registry.list();
    const { responseBody: stats } = await registry.getRegistryStatistics();
    assert.deepEqual(stats, {
      totalDeviceCount: list.length,
      enabledDeviceCount: list.filter((d) => d.status === 'enabled').length,
      disabledDeviceCount: list.filter((d) => d.status === 'disabled').length,
    });
    assert.ok(stats.disabledDeviceCount >= 1);
    // The Node Registry has no call for the service statistics: the SDK's own signed request.
    const service = (await rawCall(registry, 'GET', `/statistics/service${API}`, {})).result;
    assert.deepEqual(service, { connectedDeviceCount: 1 });
    // ServiceConnect reads the service statistics, not the registry's (RegistryRead).
    const serviceOnly = registryFor('service');
    assert.deepEqual((await rawCall(serviceOnly, 'GET', `/statistics/service${API}`, {})).result,
      { connectedDeviceCount: 1 });
    await assert.rejects(serviceOnly.getRegistryStatistics(), (e) => e.name === 'UnauthorizedError');
  } finally {
    await device.close();
    await registry.delete('stats-off');
  }
});

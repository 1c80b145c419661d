'use strict';
// The rest of the registry the official azure-iothub Registry uses (issue 16 item 3), as the
// SDK's own e2e registry tests use it (e2etests/test/registry.js): IoT Edge devices and their
// scopes, nested edge, bulk identity operations with per-device errors, `GET /devices?top=`.
// The Registry always calls port 443 (RESOURCE_LOCK https443).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Registry } = require('azure-iothub');
const { startServer } = require('../mqtt/server');

let server;
let registry;

const keys = () => ({ symmetricKey: {
  primaryKey: Buffer.from('1234567890qwerty').toString('base64'),
  secondaryKey: Buffer.from('ytrewq0987654321').toString('base64'),
} });

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
});

test.after(async () => {
  if (server) await server.stop();
});

test('an edge device gets a scope; a device in its scope cannot move to a made-up scope', async () => {
  const { responseBody: edge } = await registry.create({ deviceId: 'edge-1',
    authentication: keys(), status: 'enabled', capabilities: { iotEdge: true } });
  assert.equal(edge.capabilities.iotEdge, true);
  assert.match(edge.deviceScope, /^ms-azure-iot-edge:\/\/edge-1-\d+$/);
  const { responseBody: leaf } = await registry.create({ deviceId: 'leaf-1',
    authentication: keys(), status: 'enabled', deviceScope: edge.deviceScope });
  assert.equal(leaf.deviceScope, edge.deviceScope);
  assert.deepEqual(leaf.parentScopes, [edge.deviceScope]);
  leaf.deviceScope = 'a-scope-that-names-no-edge-device';
  await assert.rejects(registry.update(leaf), (e) => e.name === 'ArgumentError');
  // The edge device's own scope is the hub's to choose.
  edge.deviceScope = 'ms-azure-iot-edge://mine';
  await assert.rejects(registry.update(edge), (e) => e.name === 'ArgumentError');
  const { responseBody: twin } = await registry.getTwin('edge-1');
  assert.equal(twin.capabilities.iotEdge, true);
  assert.equal(twin.deviceScope, (await registry.get('edge-1')).responseBody.deviceScope);
});

test('nested edge: a child edge names its parent in parentScopes, a leaf its child edge', async () => {
  const { responseBody: root } = await registry.create({ deviceId: 'edge-root',
    authentication: keys(), capabilities: { iotEdge: true } });
  const { responseBody: child } = await registry.create({ deviceId: 'edge-child',
    authentication: keys(), capabilities: { iotEdge: true }, parentScopes: [root.deviceScope] });
  assert.ok(child.deviceScope);
  assert.notEqual(child.deviceScope, root.deviceScope);
  assert.deepEqual(child.parentScopes, [root.deviceScope]);
  const { responseBody: leaf } = await registry.create({ deviceId: 'nested-leaf',
    authentication: keys(), deviceScope: child.deviceScope, parentScopes: [child.deviceScope] });
  assert.equal(leaf.deviceScope, child.deviceScope);
  assert.deepEqual(leaf.parentScopes, [child.deviceScope]);
  // Scopes are stored (schema 4): they survive a restart of the emulator on its database.
  await server.stop({ keepData: true });
  server = await startServer({}, { httpsPort: 443, reuse: server });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
  const { responseBody: again } = await registry.get('nested-leaf');
  assert.deepEqual(again.parentScopes, [child.deviceScope]);
  assert.equal(again.deviceScope, child.deviceScope);
  assert.equal((await registry.get('edge-child')).responseBody.capabilities.iotEdge, true);
  await assert.rejects(registry.create({ deviceId: 'orphan', authentication: keys(),
    capabilities: { iotEdge: true }, parentScopes: ['ms-azure-iot-edge://nobody-1'] }),
  (e) => e.name === 'ArgumentError');
});

test('bulk identity add/update/remove, as the SDK e2e test does', async () => {
  const ids = ['bulk-a', 'bulk-b', 'bulk-c'];
  const add = ids.map((deviceId) => ({ deviceId, status: 'disabled', authentication: keys() }));
  const { responseBody: added } = await registry.addDevices(add);
  assert.equal(added.isSuccessful, true);
  assert.deepEqual(added.errors, []);
  for (const id of ids) assert.equal((await registry.get(id)).responseBody.status, 'disabled');
  const { responseBody: updated } =
    await registry.updateDevices(ids.map((deviceId) => ({ deviceId, status: 'enabled' })), true);
  assert.equal(updated.isSuccessful, true);
  for (const id of ids) {
    const { responseBody: d } = await registry.get(id);
    assert.equal(d.status, 'enabled');
    // An update without keys keeps them (the SDK sends empty ones).
    assert.equal(d.authentication.symmetricKey.primaryKey, keys().symmetricKey.primaryKey);
  }
  const { responseBody: removed } =
    await registry.removeDevices(ids.map((deviceId) => ({ deviceId })), true);
  assert.equal(removed.isSuccessful, true);
  for (const id of ids) {
    await assert.rejects(registry.get(id), (e) => e.name === 'DeviceNotFoundError');
  }
});

test('bulk: each bad entry gets its own error, the good ones are applied', async () => {
  await registry.create({ deviceId: 'bulk-existing', authentication: keys() });
  const err = await registry.addDevices([
    { deviceId: 'bulk-new', authentication: keys() },
    { deviceId: 'bulk-existing', authentication: keys() },
    { deviceId: 'bad id with spaces', authentication: keys() },
  ]).then(() => null, (e) => e);
  assert.ok(err, 'a bulk call with failed entries answers 400');
  assert.equal(err.name, 'ArgumentError');
  const body = JSON.parse(err.responseBody);
  assert.equal(body.isSuccessful, false);
  assert.deepEqual(body.errors.map((e) => [e.deviceId, e.errorCode]),
    [['bulk-existing', 'DeviceAlreadyExists'], ['bad id with spaces', 'ArgumentInvalid']]);
  assert.equal((await registry.get('bulk-new')).responseBody.deviceId, 'bulk-new');
  // IfMatchETag modes check each entry's eTag.
  const { responseBody: d } = await registry.get('bulk-new');
  const stale = await registry.updateDevices([{ ...d, etag: 'stale', status: 'disabled' }], false)
    .then(() => null, (e) => e);
  assert.ok(stale);
  assert.deepEqual(JSON.parse(stale.responseBody).errors.map((e) => e.errorCode),
    ['PreconditionFailed']);
  const fresh = await registry.removeDevices([{ deviceId: 'bulk-new', eTag: d.etag }], false);
  assert.equal(fresh.responseBody.isSuccessful, true);
});

test('GET /devices?top=N returns at most N devices', async () => {
  const cs = server.serviceConnectionString('iothubowner');
  const { ConnectionString, SharedAccessSignature } = require('azure-iothub');
  const c = ConnectionString.parse(cs);
  const sas = SharedAccessSignature.create(c.HostName, c.SharedAccessKeyName, c.SharedAccessKey,
    Math.floor(Date.now() / 1000) + 3600).toString();
  const two = await server.request('GET', '/devices?top=2&api-version=2021-04-12', 200, undefined,
    { Authorization: sas });
  assert.equal(two.length, 2);
  const all = (await registry.list()).responseBody;
  assert.ok(all.length > 2);
  await server.request('GET', '/devices?top=0', 400, undefined, { Authorization: sas });
});

test('what the emulator lacks answers 501 naming it, not a bare 404', async () => {
  await assert.rejects(registry.listJobs(), (e) => /jobs/.test(e.message));
  await assert.rejects(registry.getConfigurations(), (e) => /configurations/.test(e.message));
});

'use strict';
// Module identities (issue 16) with the official SDKs, unmodified: the azure-iothub Registry
// creates, reads, updates and removes modules and their twins; azure-iot-device's ModuleClient
// connects over MQTT and AMQP with a module's own key, sends telemetry (read back from the
// Event Hubs-compatible endpoint with @azure/event-hubs), reads and patches its twin and
// answers direct methods the azure-iothub Client invokes. A module is its own identity: its key
// opens neither its device nor another module, its twin is not its device's twin, and a device
// and its modules are connected side by side.
//
// The Registry and the service Client's invokeDeviceMethod (REST) always call port 443 of
// HostName (RESOURCE_LOCK https443). ModuleClient with a SharedAccessKey honours GatewayHostName
// (sak_authentication_provider.js fromConnectionString), so modules use the emulator's
// ephemeral MQTT and AMQP ports as devices do.
//
// How the SDK maps the REST answers (azure-iothub/dist/common-http/rest_api_client.js
// translateError): 404 with code DeviceNotFound is DeviceNotFoundError, any other 404
// (ModuleNotFound, DeviceNotOnline) a plain Error('Not found'); every 409 is
// DeviceAlreadyExistsError; every 412 is InvalidEtagError. The code itself is read from the
// body (`{"Message":"ErrorCode:<code>;…"}`) or the iothub-errorcode header.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, ModuleClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { startServer, withTimeout, desiredDeltas } = require('../mqtt/server');

let server;
let registry;
let service;

const TRANSPORTS = [['Mqtt', Mqtt], ['Amqp', Amqp]];

let seq = 0;
/** A fresh id for this file's server: `prefix-N`. */
function uid(prefix) {
  seq += 1;
  return `${prefix}-${seq}`;
}


/** The IoT Hub error code of a REST failure (`DeviceNotFound`, …), or its number when the
 *  body has the newer `{errorCode: 404103}` form. */
function errorCode(e) {
  try {
    const body = JSON.parse(e.responseBody);
    const m = /^ErrorCode:([^;]+);/.exec(body.Message || '');
    if (m) return m[1];
    if (body.errorCode !== undefined) return String(body.errorCode);
  } catch {
    // not JSON: fall back on the header
  }
  const header = e.response && e.response.headers && e.response.headers['iothub-errorcode'];
  return header ? String(header) : undefined;
}

function hasCode(e, name, number) {
  const code = errorCode(e);
  return code === name || code === String(number);
}

/** Resolves to the error `promise` rejects with; fails the test if it resolves. */
async function failure(promise, what) {
  const e = await promise.then(() => null, (err) => err);
  assert.ok(e, `${what} should have failed`);
  return e;
}

/** A device with generated keys and one module on it (also with generated keys). */
async function deviceWithModule(prefix, moduleExtra = {}) {
  const deviceId = uid(`${prefix}-dev`);
  const { responseBody: device } = await registry.create({ deviceId });
  const { responseBody: module } =
    await registry.addModule({ deviceId, moduleId: uid(`${prefix}-mod`), ...moduleExtra });
  return { deviceId, moduleId: module.moduleId, device, module };
}

function port(transport) {
  return transport === Amqp ? server.ready.ports.amqp : server.ready.ports.mqtt;
}

/** A module connection string: HostName stays the hub's name (it goes into the MQTT user name
 *  and the SAS sr), GatewayHostName carries the ephemeral port. */
function moduleString(deviceId, moduleId, key, transport) {
  return `HostName=${server.ready.hostName};DeviceId=${deviceId};ModuleId=${moduleId};` +
    `SharedAccessKey=${key};GatewayHostName=localhost:${port(transport)}`;
}

function deviceString(deviceId, key, transport) {
  return `HostName=${server.ready.hostName};DeviceId=${deviceId};SharedAccessKey=${key};` +
    `GatewayHostName=localhost:${port(transport)}`;
}

/** Counts the client's 'connect' and 'disconnect' events (a session taken over shows as a
 *  disconnect, or as a second connect when the SDK reconnects on its own). */
function watch(client) {
  client.connects = 0;
  client.disconnects = [];
  client.on('connect', () => { client.connects += 1; });
  client.on('disconnect', (d) => client.disconnects.push(d));
  client.on('error', () => {});
  return client;
}

async function openModule(clients, deviceId, moduleId, key, transport) {
  const client = watch(ModuleClient.fromConnectionString(
    moduleString(deviceId, moduleId, key, transport), transport));
  clients.push(client);
  await withTimeout(client.open(), 20000, `module ${deviceId}/${moduleId} to open`);
  return client;
}

async function openDevice(clients, deviceId, key, transport) {
  const client = watch(DeviceClient.fromConnectionString(deviceString(deviceId, key, transport), transport));
  clients.push(client);
  await withTimeout(client.open(), 20000, `device ${deviceId} to open`);
  return client;
}

async function closeAll(clients) {
  for (const c of clients.reverse()) await withTimeout(c.close(), 10000, 'a client to close').catch(() => {});
}

function reportedUpdate(twin, patch) {
  return withTimeout(new Promise((resolve, reject) =>
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()))),
  15000, 'a reported-properties update');
}

/**
 * Invokes a direct method (on the module when `moduleId` is given); resolves to the result
 * {status, payload}. onMethod/onDeviceMethod subscribe (MQTT) or attach the method links (AMQP)
 * in the background without telling when they are done: `connectTimeoutInSeconds` makes the hub
 * wait for that (as Azure does) instead of answering 404 DeviceNotOnline at once.
 */
async function invoke(deviceId, moduleId, methodName, payload, connectTimeoutInSeconds = 10) {
  const params = { methodName, payload, responseTimeoutInSeconds: 10, connectTimeoutInSeconds };
  const { result } = moduleId === undefined
    ? await service.invokeDeviceMethod(deviceId, params)
    : await service.invokeDeviceMethod(deviceId, moduleId, params);
  return result;
}

/** One invocation that must find its target reachable already (404 DeviceNotOnline at once). */
function invokeOnce(deviceId, moduleId, methodName, payload) {
  return invoke(deviceId, moduleId, methodName, payload, 0);
}

function textMessage(text, messageId) {
  const m = new Message(text);
  m.messageId = messageId;
  return m;
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
  service = ServiceClient.fromConnectionString(server.serviceConnectionString('iothubowner'));
});

test.after(async () => {
  if (server && process.env.DUMP_LOG) require('node:fs').writeFileSync(process.env.DUMP_LOG, server.log);
  if (server) await server.stop();
});

// ---------------------------------------------------------------------------------------------
// Registry

test('Registry: addModule answers 200 with generated SAS keys, a generationId, an etag and managedBy; getModule and getModulesOnDevice find it', async () => {
  const deviceId = uid('crud-dev');
  await registry.create({ deviceId });
  const { responseBody: none } = await registry.getModulesOnDevice(deviceId);
  assert.deepEqual(none, [], 'a new device has no modules');

  const { responseBody: m, httpResponse } =
    await registry.addModule({ deviceId, moduleId: 'm-one', managedBy: 'module-tests' });
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(m.deviceId, deviceId);
  assert.equal(m.moduleId, 'm-one');
  assert.equal(m.managedBy, 'module-tests');
  assert.equal(m.authentication.type, 'sas');
  const { primaryKey, secondaryKey } = m.authentication.symmetricKey;
  for (const key of [primaryKey, secondaryKey]) {
    assert.match(key, /^[A-Za-z0-9+/]+=*$/, 'a generated key is base64');
    assert.ok(Buffer.from(key, 'base64').length >= 16, 'a generated key is not empty');
  }
  assert.notEqual(primaryKey, secondaryKey);
  assert.equal(typeof m.generationId, 'string');
  assert.ok(m.generationId.length > 0);
  assert.equal(typeof m.etag, 'string');
  assert.ok(m.etag.length > 0);

  const { responseBody: got } = await registry.getModule(deviceId, 'm-one');
  assert.equal(got.deviceId, deviceId);
  assert.equal(got.moduleId, 'm-one');
  assert.equal(got.managedBy, 'module-tests');
  assert.equal(got.generationId, m.generationId);
  assert.equal(got.etag, m.etag);
  assert.deepEqual(got.authentication.symmetricKey, { primaryKey, secondaryKey });

  await registry.addModule({ deviceId, moduleId: 'm-two' });
  const { responseBody: list } = await registry.getModulesOnDevice(deviceId);
  assert.ok(Array.isArray(list));
  assert.deepEqual(list.map((x) => x.moduleId).sort(), ['m-one', 'm-two']);
  for (const x of list) assert.equal(x.deviceId, deviceId);
  // Another device's modules are its own.
  const other = uid('crud-other');
  await registry.create({ deviceId: other });
  assert.deepEqual((await registry.getModulesOnDevice(other)).responseBody, []);
});

test('Registry: updateModule with the current etag or forceUpdate (If-Match *) is applied; a stale etag is 412, the SDK\'s InvalidEtagError', async () => {
  const { deviceId, moduleId, module } = await deviceWithModule('upd');
  const { primaryKey, secondaryKey } = module.authentication.symmetricKey;

  // Swap the keys, with the module's etag (If-Match: "<etag>").
  const swapped = { ...module, authentication: { type: 'sas',
    symmetricKey: { primaryKey: secondaryKey, secondaryKey: primaryKey } } };
  const { responseBody: after } = await registry.updateModule(swapped, false);
  assert.equal(after.authentication.symmetricKey.primaryKey, secondaryKey);
  assert.equal(after.authentication.symmetricKey.secondaryKey, primaryKey);
  assert.notEqual(after.etag, module.etag, 'an update changes the etag');
  assert.equal(after.generationId, module.generationId, 'an update keeps the generationId');
  const { responseBody: got } = await registry.getModule(deviceId, moduleId);
  assert.equal(got.authentication.symmetricKey.primaryKey, secondaryKey);
  assert.equal(got.etag, after.etag);

  // The old etag is stale now: 412, nothing changes.
  const stale = await failure(registry.updateModule({ ...module, managedBy: 'stale-writer' }, false),
    'updateModule with a stale etag');
  assert.equal(stale.name, 'InvalidEtagError');
  assert.equal(stale.response.statusCode, 412);
  assert.ok(hasCode(stale, 'PreconditionFailed', 412001), `error code ${errorCode(stale)}`);
  const { responseBody: unchanged } = await registry.getModule(deviceId, moduleId);
  assert.notEqual(unchanged.managedBy, 'stale-writer');
  assert.equal(unchanged.etag, after.etag);

  // forceUpdate: If-Match "*", whatever etag the body has (here none, as the SDK's e2e test).
  const forced = { ...unchanged, managedBy: 'forced-writer' };
  delete forced.etag;
  const { responseBody: f } = await registry.updateModule(forced, true);
  assert.equal(f.managedBy, 'forced-writer');
  assert.equal((await registry.getModule(deviceId, moduleId)).responseBody.managedBy, 'forced-writer');
});

test('Registry: adding an existing module is 409 ModuleAlreadyExistsOnDevice (the SDK\'s DeviceAlreadyExistsError); a module of an unknown device is DeviceNotFoundError', async () => {
  const { deviceId, moduleId, module } = await deviceWithModule('dup');
  const dup = await failure(registry.addModule({ deviceId, moduleId }), 'a second addModule');
  assert.equal(dup.name, 'DeviceAlreadyExistsError');
  assert.equal(dup.response.statusCode, 409);
  assert.ok(hasCode(dup, 'ModuleAlreadyExistsOnDevice', 409301), `error code ${errorCode(dup)}`);
  // The existing module is untouched.
  const { responseBody: got } = await registry.getModule(deviceId, moduleId);
  assert.equal(got.etag, module.etag);
  assert.equal(got.authentication.symmetricKey.primaryKey, module.authentication.symmetricKey.primaryKey);

  const orphan = await failure(registry.addModule({ deviceId: uid('no-such-device'), moduleId: 'm' }),
    'addModule on an unknown device');
  assert.equal(orphan.name, 'DeviceNotFoundError');
  assert.equal(orphan.response.statusCode, 404);
});

test('Registry: removeModule by ids (If-Match *) and by module object (its etag); a removed module is 404 ModuleNotFound', async () => {
  const { deviceId, moduleId } = await deviceWithModule('rm');
  await registry.removeModule(deviceId, moduleId);
  const gone = await failure(registry.getModule(deviceId, moduleId), 'getModule of a removed module');
  // Any 404 but DeviceNotFound is a plain Error('Not found') in the SDK.
  assert.equal(gone.response.statusCode, 404);
  assert.ok(hasCode(gone, 'ModuleNotFound', 404010), `error code ${errorCode(gone)}`);
  assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody, []);

  // By object: the SDK sends If-Match with the module's etag. Its promise form cannot take a
  // module object (it loses the callback), so the callback form is used.
  const { responseBody: second } = await registry.addModule({ deviceId, moduleId: 'by-object' });
  await new Promise((resolve, reject) =>
    registry.removeModule(second, (err) => (err ? reject(err) : resolve())));
  await assert.rejects(registry.getModule(deviceId, 'by-object'),
    (e) => e.response.statusCode === 404 && hasCode(e, 'ModuleNotFound', 404010));
  // The device is still there.
  assert.equal((await registry.get(deviceId)).responseBody.deviceId, deviceId);
});

test('Registry: deleting a device deletes its modules; a device of the same id starts with none', async () => {
  const { deviceId, moduleId, module } = await deviceWithModule('del');
  await registry.addModule({ deviceId, moduleId: 'second' });
  await registry.delete(deviceId);
  await assert.rejects(registry.getModule(deviceId, moduleId), (e) => e.response.statusCode === 404);

  await registry.create({ deviceId });
  assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody, []);
  await assert.rejects(registry.getModule(deviceId, moduleId),
    (e) => e.response.statusCode === 404 && hasCode(e, 'ModuleNotFound', 404010));
  // The deleted module's key opens nothing.
  const clients = [];
  try {
    await assert.rejects(openModule(clients, deviceId, moduleId, module.authentication.symmetricKey.primaryKey, Mqtt),
      (e) => e.name === 'UnauthorizedError');
  } finally {
    await closeAll(clients);
  }
});

test('Registry: a selfSigned module keeps its thumbprints', async () => {
  const deviceId = uid('thumb-dev');
  await registry.create({ deviceId });
  const primaryThumbprint = '0123456789ABCDEF0123456789ABCDEF01234567';
  const secondaryThumbprint = 'FEDCBA9876543210FEDCBA9876543210FEDCBA98';
  const { responseBody: m } = await registry.addModule({ deviceId, moduleId: 'x509-module',
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint, secondaryThumbprint } } });
  assert.equal(m.authentication.type, 'selfSigned');
  assert.equal(m.authentication.x509Thumbprint.primaryThumbprint, primaryThumbprint);
  assert.equal(m.authentication.x509Thumbprint.secondaryThumbprint, secondaryThumbprint);
  const { responseBody: got } = await registry.getModule(deviceId, 'x509-module');
  assert.equal(got.authentication.type, 'selfSigned');
  assert.deepEqual(got.authentication.x509Thumbprint, { primaryThumbprint, secondaryThumbprint });
});

// ---------------------------------------------------------------------------------------------
// Module clients

for (const [name, transport] of TRANSPORTS) {
  test(`${name}: a ModuleClient opens with the module's key; its telemetry carries the device id, the module id and the module's generationId`, async () => {
    const { deviceId, moduleId, module } = await deviceWithModule(`tel-${name}`);
    const clients = [];
    try {
      const client = await openModule(clients, deviceId, moduleId,
        module.authentication.symmetricKey.primaryKey, transport);
      const m = textMessage(`hello from ${moduleId}`, `${moduleId}-1`);
      m.properties.add('kind', 'module');
      await client.sendEvent(m);
    } finally {
      await closeAll(clients);
    }
    const [e] = await server.readEvents(deviceId, 1);
    assert.equal(e.body.toString(), `hello from ${moduleId}`);
    assert.equal(e.messageId, `${moduleId}-1`);
    assert.equal(e.properties.kind, 'module');
    assert.equal(e.systemProperties['iothub-connection-device-id'], deviceId);
    assert.equal(e.systemProperties['iothub-connection-module-id'], moduleId);
    assert.equal(e.systemProperties['iothub-connection-auth-generation-id'], module.generationId);
  });

  test(`${name}: the module twin: the service's desired properties reach the ModuleClient (getTwin and patches), its reported properties reach getModuleTwin; the device twin stays apart`, async () => {
    const { deviceId, moduleId, module } = await deviceWithModule(`twin-${name}`);
    const { responseBody: initial } = await registry.getModuleTwin(deviceId, moduleId);
    assert.equal(initial.deviceId, deviceId);
    assert.equal(initial.moduleId, moduleId);
    assert.ok(initial.etag);
    const v0 = initial.properties.desired.$version;
    assert.equal(typeof v0, 'number');

    const { responseBody: afterX } = await registry.updateModuleTwin(deviceId, moduleId,
      { properties: { desired: { x: 1 } } }, initial.etag);
    assert.equal(afterX.properties.desired.x, 1);
    assert.equal(afterX.properties.desired.$version, v0 + 1);
    assert.equal(afterX.moduleId, moduleId);

    const clients = [];
    try {
      const client = await openModule(clients, deviceId, moduleId,
        module.authentication.symmetricKey.primaryKey, transport);
      const twin = await withTimeout(client.getTwin(), 15000, 'the module twin');
      assert.equal(twin.properties.desired.x, 1);
      assert.equal(twin.properties.desired.$version, v0 + 1);

      // Listening asks the hub for desired patches; the reported update that follows on the same
      // connection is answered only after that request was handled.
      const deltas = desiredDeltas(twin);
      await reportedUpdate(twin, { seen: 1, transport: name });
      const { responseBody: reported } = await registry.getModuleTwin(deviceId, moduleId);
      assert.equal(reported.properties.reported.seen, 1);
      assert.equal(reported.properties.reported.transport, name);

      const { responseBody: afterY } = await registry.updateModuleTwin(deviceId, moduleId,
        { properties: { desired: { x: 2, y: 'b' } } }, reported.etag);
      const d = await deltas.until((delta) => delta.x === 2);
      assert.equal(d.y, 'b');
      assert.equal(d.$version, afterY.properties.desired.$version);
      assert.equal(twin.properties.desired.x, 2);

      // The device's twin is another document: none of the module's properties, and a patch of
      // the device's desired properties does not reach the module.
      const { responseBody: deviceTwin } = await registry.getTwin(deviceId);
      assert.equal(deviceTwin.moduleId, undefined);
      assert.equal(deviceTwin.properties.desired.x, undefined);
      assert.equal(deviceTwin.properties.reported.seen, undefined);
      await registry.updateTwin(deviceId, { properties: { desired: { deviceOnly: true } } }, deviceTwin.etag);
      const { responseBody: moduleTwin } = await registry.getModuleTwin(deviceId, moduleId);
      assert.equal(moduleTwin.properties.desired.deviceOnly, undefined);
      assert.equal(moduleTwin.properties.desired.x, 2);
      await registry.updateModuleTwin(deviceId, moduleId, { properties: { desired: { x: 3 } } }, moduleTwin.etag);
      await deltas.until((delta) => delta.x === 3);
      assert.ok(deltas.all.every((delta) => delta.deviceOnly === undefined),
        'the device\'s desired patch did not reach the module');
      assert.equal(twin.properties.desired.deviceOnly, undefined);
    } finally {
      await closeAll(clients);
    }
  });

  test(`${name}: a direct method invoked on the module reaches the ModuleClient's onMethod handler; the device is not online through its module; an unknown module is 404`, async () => {
    const { deviceId, moduleId, module } = await deviceWithModule(`meth-${name}`);
    const clients = [];
    try {
      const client = await openModule(clients, deviceId, moduleId,
        module.authentication.symmetricKey.primaryKey, transport);
      const seen = [];
      client.onMethod('doIt', (request, response) => {
        seen.push({ name: request.methodName, payload: request.payload });
        response.send(200, { done: true, echo: request.payload, by: moduleId }, () => {});
      });
      const r = await invoke(deviceId, moduleId, 'doIt', { n: 7 });
      assert.equal(r.status, 200);
      assert.deepEqual(r.payload, { done: true, echo: { n: 7 }, by: moduleId });
      assert.deepEqual(seen, [{ name: 'doIt', payload: { n: 7 } }]);

      // The module's connection does not make its device reachable.
      const offline = await failure(invokeOnce(deviceId, undefined, 'doIt', { n: 8 }),
        'a method on the device, which is not connected');
      assert.equal(offline.response.statusCode, 404);
      assert.ok(hasCode(offline, 'DeviceNotOnline', 404103), `error code ${errorCode(offline)}`);
      assert.equal(seen.length, 1, 'the module did not get the device\'s call');

      // A module the device does not have: 404, not a wait for it to come online.
      const unknown = await failure(invokeOnce(deviceId, 'no-such-module', 'doIt', null),
        'a method on an unknown module');
      assert.equal(unknown.response.statusCode, 404);
      assert.ok(hasCode(unknown, 'ModuleNotFound', 404010) || hasCode(unknown, 'DeviceNotFound', 404001),
        `error code ${errorCode(unknown)}`);
      assert.equal(seen.length, 1);
    } finally {
      await closeAll(clients);
    }
  });

  test(`${name}: refused as UnauthorizedError: a wrong module key, the module's key for its device, the device's key for its module, the module's key under another device or module id`, async () => {
    const { deviceId, moduleId, device, module } = await deviceWithModule(`deny-${name}`);
    const otherDevice = uid(`deny-${name}-other`);
    await registry.create({ deviceId: otherDevice });
    const moduleKey = module.authentication.symmetricKey.primaryKey;
    const deviceKey = device.authentication.symmetricKey.primaryKey;
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    const clients = [];
    const unauthorized = (e) => {
      assert.equal(e.name, 'UnauthorizedError', String(e));
      return true;
    };
    try {
      await assert.rejects(openModule(clients, deviceId, moduleId, wrongKey, transport), unauthorized);
      await assert.rejects(openDevice(clients, deviceId, moduleKey, transport), unauthorized);
      await assert.rejects(openModule(clients, deviceId, moduleId, deviceKey, transport), unauthorized);
      await assert.rejects(openModule(clients, otherDevice, moduleId, moduleKey, transport), unauthorized);
      await assert.rejects(openModule(clients, deviceId, uid('no-such-module'), moduleKey, transport), unauthorized);
      // The right keys still open both (the module with its secondary key).
      await openModule(clients, deviceId, moduleId, module.authentication.symmetricKey.secondaryKey, transport);
      await openDevice(clients, deviceId, deviceKey, transport);
    } finally {
      await closeAll(clients);
    }
  });
}

for (const [name, transport] of TRANSPORTS) {
  test(`a device over ${name} and two of its modules (over Mqtt and Amqp) are connected at once: each one's telemetry, methods and reported properties reach the right identity`, async () => {
    const { deviceId, moduleId: a, device, module: moduleA } = await deviceWithModule(`both-${name}`);
    const { responseBody: moduleB } = await registry.addModule({ deviceId, moduleId: uid(`both-${name}-b`) });
    const b = moduleB.moduleId;
    const clients = [];
    try {
      const dev = await openDevice(clients, deviceId, device.authentication.symmetricKey.primaryKey, transport);
      dev.onDeviceMethod('who', (request, response) => response.send(200, { who: 'device' }, () => {}));
      assert.deepEqual((await invoke(deviceId, undefined, 'who', null)).payload, { who: 'device' });
      const devTwin = await withTimeout(dev.getTwin(), 15000, 'the device twin');

      const modA = await openModule(clients, deviceId, a, moduleA.authentication.symmetricKey.primaryKey, Mqtt);
      const modB = await openModule(clients, deviceId, b, moduleB.authentication.symmetricKey.primaryKey, Amqp);
      modA.onMethod('who', (request, response) => response.send(200, { who: a }, () => {}));
      modB.onMethod('who', (request, response) => response.send(200, { who: b }, () => {}));
      assert.deepEqual((await invoke(deviceId, a, 'who', null)).payload, { who: a });
      assert.deepEqual((await invoke(deviceId, b, 'who', null)).payload, { who: b });

      // The modules' connections left the device's session alone: it answers at once.
      assert.deepEqual((await invokeOnce(deviceId, undefined, 'who', null)).payload, { who: 'device' });
      await dev.sendEvent(textMessage('from the device', `${deviceId}-dev`));
      await modA.sendEvent(textMessage(`from ${a}`, `${deviceId}-a`));
      await modB.sendEvent(textMessage(`from ${b}`, `${deviceId}-b`));

      await reportedUpdate(devTwin, { who: 'device' });
      const twinA = await withTimeout(modA.getTwin(), 15000, 'module A twin');
      await reportedUpdate(twinA, { who: a });
      const twinB = await withTimeout(modB.getTwin(), 15000, 'module B twin');
      await reportedUpdate(twinB, { who: b });
      assert.equal((await registry.getTwin(deviceId)).responseBody.properties.reported.who, 'device');
      assert.equal((await registry.getModuleTwin(deviceId, a)).responseBody.properties.reported.who, a);
      assert.equal((await registry.getModuleTwin(deviceId, b)).responseBody.properties.reported.who, b);

      // Still all three, each on its first connection.
      assert.deepEqual((await invokeOnce(deviceId, undefined, 'who', null)).payload, { who: 'device' });
      assert.deepEqual((await invokeOnce(deviceId, a, 'who', null)).payload, { who: a });
      assert.deepEqual((await invokeOnce(deviceId, b, 'who', null)).payload, { who: b });
      for (const [label, c] of [['device', dev], ['module A', modA], ['module B', modB]]) {
        assert.equal(c.connects, 1, `${label} connected once`);
        assert.deepEqual(c.disconnects, [], `${label} was not disconnected`);
      }
    } finally {
      await closeAll(clients);
    }

    const events = await server.readEvents(deviceId, 3);
    const byId = Object.fromEntries(events.map((e) => [e.messageId, e]));
    assert.deepEqual(Object.keys(byId).sort(), [`${deviceId}-a`, `${deviceId}-b`, `${deviceId}-dev`]);
    assert.equal(byId[`${deviceId}-dev`].systemProperties['iothub-connection-module-id'], undefined,
      'the device\'s own telemetry names no module');
    assert.equal(byId[`${deviceId}-dev`].body.toString(), 'from the device');
    assert.equal(byId[`${deviceId}-a`].systemProperties['iothub-connection-module-id'], a);
    assert.equal(byId[`${deviceId}-a`].body.toString(), `from ${a}`);
    assert.equal(byId[`${deviceId}-b`].systemProperties['iothub-connection-module-id'], b);
    assert.equal(byId[`${deviceId}-b`].body.toString(), `from ${b}`);
  });
}

'use strict';
// X.509 device authentication (issue 16 item 1) with the official SDKs, unmodified: the
// azure-iothub Registry creates `selfSigned` and `certificateAuthority` devices, the device SDK
// connects with `x509=true` and its certificate over MQTT and AMQP, receives C2D sent with the
// service Client and sends telemetry. CA certificates are registered and proven with the
// certificates REST (generateVerificationCode / verify). The TLS refusals: a wrong thumbprint,
// an expired certificate (the hub's clock moved past notAfter), an unverified CA and a CN
// that is not the device id. The service SDKs always call ports 443 and 5671 (RESOURCE_LOCK
// https443 and amqp5671).
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp } = require('azure-iot-device-amqp');
const { Http } = require('azure-iot-device-http');
const { Registry, Client: ServiceClient, ConnectionString, SharedAccessSignature } =
  require('azure-iothub');
const { startServer, withTimeout, eventually } = require('../mqtt/server');
const { CertFactory } = require('./certs');

let server;
let registry;
let service;
let certs;
const closers = [];

const transports = { mqtt: Mqtt, amqp: Amqp, http: Http };

// The Node SDK ignores GatewayHostName for X.509 devices (device_client.ts fromConnectionString
// gives X509AuthenticationProvider only HostName): they always use ports 8883 and 5671.
function x509String(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};x509=true`;
}

async function openX509(device, kind, cert) {
  const client = DeviceClient.fromConnectionString(x509String(device), transports[kind]);
  client.on('error', () => {});
  client.setOptions({ cert: cert.cert, key: cert.key });
  // One listener for the client's life: removing the last 'message' listener makes the SDK
  // detach its C2D link (AMQP) or unsubscribe (MQTT).
  client.received = [];
  client.wake = () => {};
  client.on('message', (m) => {
    client.complete(m).then(() => {
      client.received.push(m.data.toString());
      client.wake();
    }, (e) => { client.completeError = e; });
  });
  closers.push(() => client.close());
  await withTimeout(client.open(), 20000, `${device} to open over ${kind}`);
  return client;
}

/**
 * The certificate must not admit `device`. MQTT refuses the CONNECT (CONNACK 5, the SDK's
 * UnauthorizedError); an AMQP connection of an X.509 device names no device until it attaches
 * a link, so the refusal is the link's (amqp:unauthorized-access): sendEvent fails.
 */
async function refused(device, kind, cert) {
  if (kind === 'mqtt') {
    await assert.rejects(openX509(device, kind, cert), (e) => e.name === 'UnauthorizedError');
    return;
  }
  const client = DeviceClient.fromConnectionString(x509String(device), Amqp);
  client.on('error', () => {});
  client.setOptions({ cert: cert.cert, key: cert.key });
  closers.push(() => client.close());
  await client.open();
  await assert.rejects(withTimeout(client.sendEvent(new Message('x')), 20000, 'sendEvent'),
    (e) => e.name === 'UnauthorizedError' || /unauthorized/i.test(String(e.amqpError?.condition)));
  await client.close();
}

/** Sends one C2D message with the service Client and waits for the device to get it. */
async function roundTrip(client, device, text) {
  const got = new Promise((resolve) => {
    client.wake = () => { if (client.received.includes(text)) resolve(); };
  });
  await service.send(device, new Message(text));
  await withTimeout(got, 20000, `C2D "${text}" to ${device}`);
  await eventually(async () => (await server.queue(device)).length === 0, 10000, 'completion');
}

/** The certificates REST with an iothubowner token (as the registry REST). */
function certRequest(method, urlPath, expected, body = undefined) {
  const cs = ConnectionString.parse(server.serviceConnectionString('iothubowner'));
  const sas = SharedAccessSignature.create(cs.HostName, cs.SharedAccessKeyName, cs.SharedAccessKey,
    Math.floor(Date.now() / 1000) + 3600).toString();
  return server.request(method, urlPath, expected, body, { Authorization: sas });
}

async function putCertificate(name, cert, extra = {}) {
  return certRequest('PUT', `/certificates/${name}`, 200,
    { properties: { certificate: cert.cert, ...extra } });
}

test.before(async () => {
  // The service SDKs always call 443 (Registry) and 5671 (Client), X.509 devices 8883 and 5671.
  server = await startServer({}, { httpsPort: 443, amqpPort: 5671, mqttPort: 8883 });
  registry = Registry.fromConnectionString(server.serviceConnectionString('iothubowner'));
  service = ServiceClient.fromConnectionString(server.serviceConnectionString('iothubowner'));
  await service.open();
  certs = new CertFactory();
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (service) await service.close().catch(() => {});
  if (server && process.env.DUMP_LOG) require('node:fs').writeFileSync(process.env.DUMP_LOG, server.log);
  if (server) await server.stop();
  if (certs) certs.cleanup();
});

test('Registry: a selfSigned device keeps its thumbprints and has no keys', async () => {
  const { responseBody: created } = await registry.create({
    deviceId: 'thumbs',
    authentication: { x509Thumbprint: { primaryThumbprint: '0'.repeat(40),
      secondaryThumbprint: 'a'.repeat(64) } },
    status: 'disabled',
  });
  assert.equal(created.authentication.type, 'selfSigned');
  const { responseBody: got } = await registry.get('thumbs');
  assert.equal(got.authentication.x509Thumbprint.primaryThumbprint, '0'.repeat(40));
  assert.equal(got.authentication.x509Thumbprint.secondaryThumbprint, 'A'.repeat(64));
  assert.equal(got.authentication.symmetricKey.primaryKey, null);
  assert.equal(got.status, 'disabled');
  await assert.rejects(registry.create({ deviceId: 'bad-print', authentication:
    { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'xyz' } } }),
  (e) => e.name === 'ArgumentError' && /thumbprint/.test(e.message));
  await assert.rejects(registry.create({ deviceId: 'keys-and-x509', authentication:
    { type: 'selfSigned', symmetricKey: { primaryKey: Buffer.alloc(32, 1).toString('base64') },
      x509Thumbprint: { primaryThumbprint: '1'.repeat(40) } } }),
  (e) => e.name === 'ArgumentError');
});

for (const kind of ['mqtt', 'amqp']) {
  test(`${kind}: a selfSigned device connects with its certificate, gets C2D, sends telemetry`, async () => {
    const id = `self-${kind}`;
    const cert = certs.selfSigned(id);
    // SHA-1 as primary (the Node e2e helper's pem.getFingerprint), SHA-256 as secondary.
    await registry.create({ deviceId: id, status: 'enabled', authentication:
      { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.sha1 } } });
    const client = await openX509(id, kind, cert);
    await roundTrip(client, id, `hello ${kind}`);
    await client.sendEvent(new Message(`from ${id}`));
    const events = await server.readEvents(id, 1);
    assert.equal(events[0].body.toString(), `from ${id}`);
    assert.equal(events[0].systemProperties['iothub-connection-device-id'], id);
    await client.close();

    // The secondary thumbprint (SHA-256 of another certificate) admits that one too.
    const other = certs.selfSigned(`${id}-2`);
    const { responseBody: d } = await registry.get(id);
    d.authentication.x509Thumbprint.secondaryThumbprint = other.sha256;
    await registry.update(d);
    const second = await openX509(id, kind, other);
    await roundTrip(second, id, `second ${kind}`);
    await second.close();
  });

  test(`${kind}: a certificate with another thumbprint is refused as unauthorized`, async () => {
    const id = `wrong-${kind}`;
    const registered = certs.selfSigned(id);
    const stranger = certs.selfSigned(id);  // same CN, different key and thumbprint
    await registry.create({ deviceId: id, authentication:
      { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: registered.sha1 } } });
    await refused(id, kind, stranger);
    await server.waitForLog(new RegExp(`thumbprint is not the device's`));
    // A SAS token cannot stand in for the certificate: the device has no keys.
    await assert.rejects(
      DeviceClient.fromConnectionString(
        `HostName=${server.ready.hostName};DeviceId=${id};` +
        `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')};` +
        `GatewayHostName=localhost:${server.ready.ports.mqtt}`, Mqtt).open(),
      (e) => e.name === 'UnauthorizedError');
  });
}

test('CA: an unverified CA admits nobody; after proof of possession its devices connect', async () => {
  const ca = certs.selfSigned('Identity Test Root', { ca: true, days: 30 });
  const created = await putCertificate('test-root', ca);
  assert.equal(created.name, 'test-root');
  assert.equal(created.properties.isVerified, false);
  assert.equal(created.properties.thumbprint, ca.sha1);

  await registry.create({ deviceId: 'ca-dev', authentication: { type: 'certificateAuthority' } });
  const leaf = certs.signedBy(ca, 'ca-dev');
  await refused('ca-dev', 'mqtt', leaf);
  await refused('ca-dev', 'amqp', leaf);
  await server.waitForLog(/does not chain to a verified CA|no verified CA/);

  // Proof of possession: a certificate with CN = the code, signed with the CA's key.
  const { properties: withCode, etag } =
    await certRequest('POST', '/certificates/test-root/generateVerificationCode', 200);
  assert.match(withCode.verificationCode, /^[0-9A-F]{48}$/);
  const wrongSigner = certs.signedBy(certs.selfSigned('Other Root', { ca: true }), withCode.verificationCode);
  await certRequest('POST', '/certificates/test-root/verify', 400, { certificate: wrongSigner.cert });
  const wrongCode = certs.signedBy(ca, 'not-the-code');
  await certRequest('POST', '/certificates/test-root/verify', 400, { certificate: wrongCode.cert });
  assert.ok(etag);
  const proof = certs.signedBy(ca, withCode.verificationCode);
  const verified = await certRequest('POST', '/certificates/test-root/verify', 200, { certificate: proof.cert });
  assert.equal(verified.properties.isVerified, true);
  const { value: list } = await certRequest('GET', '/certificates', 200);
  assert.deepEqual(list.map((c) => c.name), ['test-root']);

  for (const kind of ['mqtt', 'amqp']) {
    const client = await openX509('ca-dev', kind, leaf);
    await roundTrip(client, 'ca-dev', `via CA over ${kind}`);
    await client.close();
  }

  // A CA-signed certificate whose CN is another device is refused.
  await registry.create({ deviceId: 'ca-dev-2', authentication: { type: 'certificateAuthority' } });
  await refused('ca-dev-2', 'mqtt', leaf);
  await server.waitForLog(/subject CN is not the device id/);
  // A chain from an unrelated CA is refused.
  const stranger = certs.signedBy(certs.selfSigned('Stranger Root', { ca: true }), 'ca-dev-2');
  await refused('ca-dev-2', 'amqp', stranger);
  await server.waitForLog(/client certificate refused for device 'ca-dev-2'/);

  // Uploading with isVerified (ARM's "verify upon upload") skips the proof.
  const other = certs.selfSigned('Second Root', { ca: true });
  const up = await putCertificate('second-root', other, { isVerified: true });
  assert.equal(up.properties.isVerified, true);
  await certRequest('DELETE', '/certificates/second-root', 204);
  await certRequest('GET', '/certificates/second-root', 404);
  // Not a CA certificate: refused.
  await certRequest('PUT', '/certificates/leaf', 400, { properties: { certificate: leaf.cert } });
});

test('http: a selfSigned device sends telemetry and receives C2D with its certificate', async () => {
  const id = 'self-http';
  const cert = certs.selfSigned(id);
  await registry.create({ deviceId: id, authentication:
    { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.sha256 } } });
  const client = await openX509(id, 'http', cert);
  await client.sendEvent(new Message(`from ${id}`));
  const events = await server.readEvents(id, 1);
  assert.equal(events[0].body.toString(), `from ${id}`);
  await roundTrip(client, id, 'polled over https');
  await client.close();
  // Another certificate gets 401 (the SDK's UnauthorizedError).
  const stranger = certs.selfSigned(id);
  const other = DeviceClient.fromConnectionString(x509String(id), Http);
  other.on('error', () => {});
  other.setOptions({ cert: stranger.cert, key: stranger.key });
  await other.open();
  await assert.rejects(other.sendEvent(new Message('x')), (e) => e.name === 'UnauthorizedError');
  await other.close();
});

test('mosquitto_sub with --cert/--key receives C2D as an X.509 device', async () => {
  const id = 'mosq-x509';
  const cert = certs.selfSigned(id);
  await registry.create({ deviceId: id, authentication:
    { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.sha256 } } });
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(server.ready.ports.mqtt),
    '--cafile', server.ready.caCertificate, '--cert', cert.certPath, '--key', cert.keyPath,
    '-i', id, '-u', `${server.ready.hostName}/${id}/?api-version=2021-04-12`,
    '-t', `devices/${id}/messages/devicebound/#`, '-q', '1', '-C', '1', '-W', '20'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  sub.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => sub.once('exit', resolve));
  await server.waitForLog(new RegExp(`device '${id}' SUBSCRIBE`));
  await service.send(id, new Message('to mosquitto'));
  assert.equal(await withTimeout(exited, 20000, 'mosquitto_sub to exit'), 0);
  assert.equal(out.trim(), 'to mosquitto');
});

// Last: it moves the hub's clock past the certificates' notAfter (1 day).
test('an expired certificate is refused, and a connection ends when its certificate expires', async () => {
  const id = 'expiring';
  const cert = certs.selfSigned(id, { days: 1 });
  await registry.create({ deviceId: id, authentication:
    { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.sha1 } } });
  const client = await openX509(id, 'mqtt', cert);
  await server.request('POST', '/admin/clock/advance', 200, { seconds: 2 * 24 * 3600 });
  // The hub ends the connection at the certificate's notAfter, as at a SAS token's expiry;
  // the SDK's reconnects (with its back-off) are then refused.
  await server.waitForLog(new RegExp(`device '${id}' closed: token_expired`));
  await server.waitForLog(/client certificate has expired/);
  await client.close();
  await refused(id, 'mqtt', cert);
  await refused(id, 'amqp', cert);
});

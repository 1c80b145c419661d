'use strict';
// MQTT and AMQP over WebSocket on the HTTPS port (issue 15 item 3, next-capabilities §6), with
// the official SDKs unmodified: the device SDK's MqttWs transport and the service SDK's Client
// over AmqpWs, both of which always use wss://<HostName>:443/$iothub/websocket, so this file
// binds 127.0.0.1:443 (CTest runs it alone: RESOURCE_LOCK https443). Then the handshake and
// framing rules with a raw TLS socket: what a broken client gets.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const tls = require('node:tls');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { MqttWs } = require('azure-iot-device-mqtt');
const { Client: ServiceClient, AmqpWs } = require('azure-iothub');
const { startServer, withTimeout } = require('../mqtt/server');

let server;
const closers = [];

function deviceString(device) {
  return `HostName=${server.ready.hostName};DeviceId=${device};SharedAccessKey=${server.keys[device]}`;
}

async function openDevice(id) {
  const client = DeviceClient.fromConnectionString(deviceString(id), MqttWs);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  return client;
}

function nextMessage(client, ms = 15000) {
  return withTimeout(new Promise((resolve) => client.once('message', resolve)), ms, 'a C2D message');
}

/** A raw TLS connection to the HTTPS port: send bytes, read what comes back. */
async function rawTls() {
  const socket = tls.connect({ host: '127.0.0.1', port: server.ready.ports.https, ca: server.ca, servername: 'localhost' });
  await new Promise((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  let data = Buffer.alloc(0);
  const waiters = [];
  let ended = false;
  socket.on('data', (d) => { data = Buffer.concat([data, d]); for (const w of waiters.splice(0)) w(); });
  socket.on('close', () => { ended = true; for (const w of waiters.splice(0)) w(); });
  socket.on('error', () => {});
  closers.push(async () => socket.destroy());
  return {
    socket,
    /** Resolves once `pred(bytes so far)` holds (or the socket ended). */
    async until(pred, what, ms = 10000) {
      await withTimeout(new Promise((resolve) => {
        const check = () => { if (pred(data) || ended) resolve(); else waiters.push(check); };
        check();
      }), ms, what);
      return data;
    },
    get ended() { return ended; },
  };
}

function upgradeRequest({ protocol = 'mqtt', version = '13', key = crypto.randomBytes(16).toString('base64'), extra = '' } = {}) {
  return `GET /$iothub/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n` +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + extra + '\r\n';
}

/** A masked client frame. */
function frame(opcode, payload, { fin = true, masked = true, rsv = 0 } = {}) {
  const body = Buffer.from(payload);
  const header = [((fin ? 0x80 : 0) | rsv | opcode)];
  const mask = masked ? 0x80 : 0;
  if (body.length < 126) header.push(mask | body.length);
  else if (body.length < 65536) header.push(mask | 126, body.length >> 8, body.length & 0xff);
  else {
    header.push(mask | 127);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(body.length));
    header.push(...len);
  }
  if (!masked) return Buffer.concat([Buffer.from(header), body]);
  const key = crypto.randomBytes(4);
  const masked_ = Buffer.from(body.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(header), key, masked_]);
}

/** The close code of the first server close frame in `bytes` after the 101 head, if any. */
function closeCode(bytes) {
  let at = bytes.indexOf('\r\n\r\n') + 4;
  while (at + 2 <= bytes.length) {
    const op = bytes[at] & 0x0f;
    let len = bytes[at + 1] & 0x7f;
    let hdr = 2;
    if (len === 126) { len = bytes.readUInt16BE(at + 2); hdr = 4; }
    if (op === 0x8) return len >= 2 ? bytes.readUInt16BE(at + hdr) : 1005;
    at += hdr + len;
  }
  return undefined;
}

test.before(async () => {
  server = await startServer({}, { httpsPort: 443 });
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

test('MqttWs device and AmqpWs service: C2D with feedback, telemetry, twin', async () => {
  const device = await openDevice('dev1');
  const service = ServiceClient.fromConnectionString(server.serviceConnectionString('service'), AmqpWs);
  closers.push(() => service.close());
  await service.open();

  const received = nextMessage(device);
  const m = new Message('over websockets');
  m.messageId = 'ws-1';
  m.ack = 'full';
  m.properties.add('color', 'green');
  await service.send('dev1', m);
  const got = await received;
  assert.equal(got.data.toString(), 'over websockets');
  assert.equal(got.messageId, 'ws-1');
  assert.equal(got.properties.getValue('color'), 'green');
  await device.complete(got);

  const { result: receiver } = await withTimeout(service.getFeedbackReceiver(), 20000, 'feedback receiver');
  const batch = await withTimeout(new Promise((resolve) => receiver.once('message', resolve)), 30000, 'feedback');
  const records = JSON.parse(batch.data.toString());
  assert.equal(records[0].originalMessageId, 'ws-1');
  assert.equal(records[0].statusCode, 'Success');
  await receiver.complete(batch);

  await device.sendEvent(new Message('telemetry over wss'));
  // The PUBACK came after the commit: the event is stored now.
  assert.ok((await server.telemetry()).some((e) => e.body === 'telemetry over wss'));
  const twin = await device.getTwin();
  await new Promise((resolve, reject) =>
    twin.properties.reported.update({ transport: 'MqttWs' }, (e) => (e ? reject(e) : resolve())));
  const stored = await server.request('GET', '/admin/devices/dev1/twin', 200);
  assert.equal(stored.twin.properties.reported.transport, 'MqttWs');
});

test('the device SDK over MqttWs with a wrong key is refused, not retried into a storm', async () => {
  const bad = DeviceClient.fromConnectionString(
    `HostName=${server.ready.hostName};DeviceId=dev2;SharedAccessKey=${Buffer.alloc(32, 'w').toString('base64')}`, MqttWs);
  bad.on('error', () => {});
  closers.push(() => bad.close());
  await assert.rejects(bad.open(), (e) => e.constructor.name === 'UnauthorizedError');
  // The refusal ends the attempt: the SDK does not reconnect on its own (a second of quiet is
  // enough to see a retry loop, which would reconnect within milliseconds).
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(server.countLog(/device 'dev2' closed: not_authorized/), 1);
});

test('handshake: the 101 echoes the subprotocol as sent; refusals are plain HTTP errors', async () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const ok = await rawTls();
  ok.socket.write(upgradeRequest({ protocol: 'MQTT', key }));
  const head = (await ok.until((b) => b.includes('\r\n\r\n'), 'the 101')).toString();
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);  // RFC 6455 §1.3
  assert.match(head, /\r\nSec-WebSocket-Protocol: MQTT\r\n/);
  assert.doesNotMatch(head, /Content-Length|Sec-WebSocket-Extensions/);

  const cases = [
    [upgradeRequest({ protocol: '' }), 400],
    [upgradeRequest({ protocol: 'stomp' }), 400],
    [upgradeRequest({ version: '8' }), 426],
    [upgradeRequest({ key: 'short' }), 400],
    ['GET /$iothub/websocket HTTP/1.1\r\nHost: localhost\r\n\r\n', 400],
    ['POST /$iothub/websocket HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', 405],
  ];
  for (const [request, status] of cases) {
    const c = await rawTls();
    c.socket.write(request);
    const answer = (await c.until((b) => b.includes('\r\n\r\n'), `the answer to ${request.split('\r\n')[0]}`)).toString();
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), request);
    if (status === 426) assert.match(answer, /\r\nSec-WebSocket-Version: 13\r\n/);
    // The server drains what the client still sends, then closes once the client is done.
    c.socket.end();
    await c.until(() => false, 'the connection to close', 5000).catch(() => {});
    assert.ok(c.ended, 'a refused upgrade closes the connection');
  }
});

test('framing: ping gets a pong; text, unmasked, RSV and oversized frames get a close', async () => {
  const ping = await rawTls();
  ping.socket.write(upgradeRequest());
  await ping.until((b) => b.includes('\r\n\r\n'), 'the 101');
  ping.socket.write(frame(0x9, 'hello'));
  const pong = await ping.until((b) => {
    const at = b.indexOf('\r\n\r\n') + 4;
    return b.length >= at + 7;
  }, 'the pong');
  const at = pong.indexOf('\r\n\r\n') + 4;
  assert.equal(pong[at], 0x8a);
  assert.equal(pong.subarray(at + 2, at + 7).toString(), 'hello');

  const cases = [
    [frame(0x1, 'text'), 1003],
    [frame(0x2, 'x', { masked: false }), 1002],
    [frame(0x2, 'x', { rsv: 0x40 }), 1002],
    [frame(0x0, 'x'), 1002],                              // continuation outside a message
    [frame(0x9, 'p', { fin: false }), 1002],               // fragmented control frame
    [frame(0x2, Buffer.alloc(1024 * 1024 + 1)), 1009],
  ];
  for (const [bytes, code] of cases) {
    const c = await rawTls();
    c.socket.write(upgradeRequest());
    await c.until((b) => b.includes('\r\n\r\n'), 'the 101');
    c.socket.write(bytes);
    const answer = await c.until((b) => closeCode(b) !== undefined, `a close frame ${code}`);
    assert.equal(closeCode(answer), code);
  }
});

test('MQTT split across WebSocket frames and frames holding several packets', async () => {
  // CONNECT of dev3 with a SAS token, sent in 3-byte frames, then PINGREQ twice in one frame.
  const { SharedAccessSignature, anHourFromNow } = require('azure-iot-common');
  const sas = SharedAccessSignature.create(`${server.ready.hostName}/devices/dev3`, undefined,
    server.keys.dev3, anHourFromNow()).toString();
  const str = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]); };
  const variable = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc0, 0, 60])]);
  const payload = Buffer.concat([str('dev3'), str(`${server.ready.hostName}/dev3/?api-version=2021-04-12`), str(sas)]);
  const body = Buffer.concat([variable, payload]);
  const len = [];
  let n = body.length;
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; len.push(b); } while (n > 0);
  const connect = Buffer.concat([Buffer.from([0x10, ...len]), body]);
  const c = await rawTls();
  c.socket.write(upgradeRequest());
  await c.until((b) => b.includes('\r\n\r\n'), 'the 101');
  // The first 9 bytes as one fragmented message (binary + 2 continuations), the rest as
  // separate 3-byte messages: a packet spans frames and messages alike.
  c.socket.write(frame(0x2, connect.subarray(0, 3), { fin: false }));
  c.socket.write(frame(0x0, connect.subarray(3, 6), { fin: false }));
  c.socket.write(frame(0x0, connect.subarray(6, 9), { fin: true }));
  for (let i = 9; i < connect.length; i += 3) c.socket.write(frame(0x2, connect.subarray(i, i + 3)));
  const afterHead = (b) => b.subarray(b.indexOf('\r\n\r\n') + 4);
  const connack = await c.until((b) => afterHead(b).length >= 6, 'the CONNACK frame');
  assert.deepEqual([...afterHead(connack).subarray(0, 6)], [0x82, 4, 0x20, 2, 0, 0]);
  c.socket.write(frame(0x2, Buffer.from([0xc0, 0, 0xc0, 0])));
  const pongs = await c.until((b) => afterHead(b).length >= 6 + 4 * 2 - 2, 'two PINGRESPs');
  assert.ok(afterHead(pongs).subarray(6).includes(Buffer.from([0xd0, 0])));
});

'use strict';
// The official Node service SDK (azure-iothub Client, unmodified) against the AMQP endpoint
// (issue 4, sdk-wire §2): open, send, the refusals the SDK maps to its errors, feedback.
const test = require('node:test');
const assert = require('node:assert');
const { Client } = require('azure-iothub');
const { Message, NoRetry } = require('azure-iot-common');
const { Harness, withTimeout } = require('./harness');

let harness;
const clients = [];

function client(policy, key) {
  const c = Client.fromConnectionString(harness.connectionString(policy, key));
  c.setRetryPolicy(new NoRetry());
  clients.push(c);
  return c;
}

function message(body, { id, ack } = {}) {
  const m = new Message(body);
  if (id !== undefined) m.messageId = id;
  if (ack !== undefined) m.ack = ack;
  return m;
}

test.before(async () => { harness = await Harness.start(); });
test.after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await harness.stop();
});

test('open with the right key', async () => {
  const c = client('iothubowner');
  await withTimeout(c.open(), 20000, 'open');
});

test('open with the service policy', async () => {
  const c = client('service');
  await withTimeout(c.open(), 20000, 'open');
});

test('open with a wrong key fails', async () => {
  const c = client('iothubowner', Buffer.alloc(32, 7).toString('base64'));
  await assert.rejects(withTimeout(c.open(), 20000, 'open'));
});

test('open with a policy without ServiceConnect fails', async () => {
  const c = client('registryRead');
  await assert.rejects(withTimeout(c.open(), 20000, 'open'));
});

test('send with a messageId and ack full is enqueued', async () => {
  const c = client('iothubowner');
  await c.open();
  const r = await withTimeout(c.send('dev1', message('hello', { id: 'msg-1', ack: 'full' })), 20000, 'send');
  assert.strictEqual(r.result.constructor.name, 'MessageEnqueued');
  const queued = JSON.parse(await harness.command('message dev1'));
  assert.strictEqual(queued.messageId, 'msg-1');
  assert.strictEqual(queued.ack, 'full');
  assert.strictEqual(queued.body, 'hello');
  assert.strictEqual(queued.to, '/devices/dev1/messages/devicebound');
});

test('a UUID messageId (sent as AMQP uuid) and an encoded device id', async () => {
  const c = client('iothubowner');
  await c.open();
  const id = '0e9f4b2a-5c3d-4e6f-8a9b-1c2d3e4f5a6b';
  const m = message('x', { id });
  m.properties.add('color', 'blue');
  await withTimeout(c.send('dev#3', m), 20000, 'send');
  const queued = JSON.parse(await harness.command('message dev#3'));
  assert.strictEqual(queued.messageId, id);
  assert.strictEqual(queued.to, '/devices/dev%233/messages/devicebound');
  assert.strictEqual(queued.properties.color, 'blue');
});

test('unknown device → DeviceNotFoundError', async () => {
  const c = client('iothubowner');
  await c.open();
  await assert.rejects(withTimeout(c.send('nope', message('x')), 20000, 'send'),
    (e) => e.name === 'DeviceNotFoundError');
});

test('disabled device → DeviceNotFoundError', async () => {
  const c = client('iothubowner');
  await c.open();
  await assert.rejects(withTimeout(c.send('off1', message('x')), 20000, 'send'),
    (e) => e.name === 'DeviceNotFoundError');
});

test('the 51st queued message → DeviceMaximumQueueDepthExceededError', async () => {
  const c = client('iothubowner');
  await c.open();
  const sends = [];
  for (let i = 0; i < 50; ++i) sends.push(c.send('full1', message(`m${i}`, { id: `q-${i}` })));
  await withTimeout(Promise.all(sends), 30000, '50 sends');
  assert.strictEqual(await harness.command('count full1'), 'count full1 50');
  await assert.rejects(withTimeout(c.send('full1', message('one too many')), 20000, 'send'),
    (e) => e.name === 'DeviceMaximumQueueDepthExceededError');
});

test('65 KB → MessageTooLargeError', async () => {
  const c = client('iothubowner');
  await c.open();
  await assert.rejects(withTimeout(c.send('dev2', message(Buffer.alloc(65 * 1024, 0x61))), 20000, 'send'),
    (e) => e.name === 'MessageTooLargeError');
});

test('the feedback receiver gets the Success record', async () => {
  const c = client('iothubowner');
  await c.open();
  const { result: receiver } = await withTimeout(c.getFeedbackReceiver(), 20000, 'feedback receiver');
  const got = new Promise((resolve) => receiver.on('message', resolve));
  await c.send('fb1', message('feedback please', { id: 'fb-msg-1', ack: 'full' }));
  assert.match(await harness.command('complete fb1'), /^ok complete fb1 fb-msg-1$/);
  const msg = await withTimeout(got, 20000, 'the feedback message');
  assert.strictEqual(msg.contentType, 'application/vnd.microsoft.iothub.feedback.json');
  const records = JSON.parse(msg.data.toString());
  assert.strictEqual(records.length, 1);
  assert.strictEqual(records[0].originalMessageId, 'fb-msg-1');
  assert.strictEqual(records[0].statusCode, 'Success');
  assert.strictEqual(records[0].description, 'Success');
  assert.strictEqual(records[0].deviceId, 'fb1');
});

'use strict';
// Telemetry read from the built-in Event Hubs-compatible endpoint (issue 14,
// next-capabilities §1) with the official clients, unmodified: the device SDK
// (azure-iot-device + azure-iot-device-mqtt) sends, @azure/event-hubs 6 (EventHubConsumerClient)
// reads, given only the `eventHubsCompatible` connection string the emulator prints and its CA
// (NODE_EXTRA_CA_CERTS, set by CTest).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const {
  EventHubConsumerClient, earliestEventPosition, latestEventPosition,
} = require('@azure/event-hubs');
const { startServer, withTimeout, eventually } = require('../mqtt/server');

const CONFIG = {
  eventHubs: { partitionCount: 4, consumerGroups: ['analytics'] },
  listen: { amqpPlainPort: 0 },  // for the UseDevelopmentEmulator=true string
};
let server;
const closers = [];

function consumer(group = '$Default', connectionString = server.ready.connectionStrings.eventHubsCompatible,
  options = {}) {
  const c = new EventHubConsumerClient(group, connectionString, options);
  closers.push(() => c.close());
  return c;
}

async function openDevice(id) {
  const client = DeviceClient.fromConnectionString(server.deviceConnectionString(id), Mqtt);
  client.on('error', () => {});
  closers.push(() => client.close());
  await client.open();
  return client;
}

function message(device, n, extra = {}) {
  const m = new Message(JSON.stringify({ device, n }));
  m.messageId = `${device}-m${n}`;
  m.correlationId = `${device}-c${n}`;
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('level', n % 2 ? 'odd' : 'even');
  for (const [k, v] of Object.entries(extra)) m.properties.add(k, v);
  return m;
}

/**
 * Subscribes and collects events (of `device` when given) until `until(events)` holds; returns
 * them and the errors processError saw. `target` is a partition id or undefined (all).
 */
async function collect(client, { target, startPosition = earliestEventPosition, device, until, ms = 20000 }) {
  const events = [];
  const errors = [];
  let wake = () => {};
  const handlers = {
    processEvents: async (batch, context) => {
      for (const e of batch) {
        if (!device || e.systemProperties['iothub-connection-device-id'] === device) {
          events.push(Object.assign(e, { partitionId: context.partitionId }));
        }
      }
      wake();
    },
    processError: async (err) => { errors.push(err); wake(); },
  };
  const options = { startPosition, maxWaitTimeInSeconds: 1, maxBatchSize: 10 };
  const sub = target === undefined ? client.subscribe(handlers, options)
    : client.subscribe(target, handlers, options);
  try {
    await withTimeout(new Promise((resolve) => {
      wake = () => { if (until(events, errors)) resolve(); };
      wake();
    }), ms, 'events from the Event Hubs-compatible endpoint');
  } finally {
    await sub.close();
  }
  return { events, errors };
}

async function partitionOf(client, device) {
  const { events } = await collect(client, { device, until: (ev) => ev.length > 0 });
  return events[0].partitionId;
}

test.before(async () => {
  server = await startServer(CONFIG);
});

test.after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  if (server) await server.stop();
});

test('the endpoint describes itself: partitions, and each partition\'s properties', async () => {
  const client = consumer();
  const props = await client.getEventHubProperties();
  assert.equal(props.name, server.ready.hubName);
  assert.deepEqual(props.partitionIds, ['0', '1', '2', '3']);
  assert.ok(props.createdOn instanceof Date);
  const p = await client.getPartitionProperties('2');
  assert.equal(p.partitionId, '2');
  assert.equal(typeof p.isEmpty, 'boolean');
  assert.equal(typeof p.lastEnqueuedOffset, 'string');
});

test('telemetry of the device SDK arrives with its body, properties and the hub\'s stamps, in order', async () => {
  const device = await openDevice('dev1');
  for (let n = 0; n < 5; n++) await device.sendEvent(message('dev1', n));
  const { events, errors } = await collect(consumer(), { device: 'dev1', until: (ev) => ev.length >= 5 });
  assert.deepEqual(errors, []);
  assert.deepEqual(events.map((e) => e.body.n), [0, 1, 2, 3, 4], 'one device keeps its order');
  const e = events[0];
  assert.deepEqual(e.body, { device: 'dev1', n: 0 });
  assert.equal(e.messageId, 'dev1-m0');
  assert.equal(e.correlationId, 'dev1-c0');
  assert.equal(e.contentType, 'application/json');
  assert.equal(e.systemProperties.contentEncoding, 'utf-8');
  assert.equal(e.properties.level, 'even');
  assert.equal(e.systemProperties['iothub-connection-device-id'], 'dev1');
  assert.equal(e.systemProperties['iothub-message-source'], 'Telemetry');
  assert.deepEqual(JSON.parse(e.systemProperties['iothub-connection-auth-method']),
    { scope: 'device', type: 'sas', issuer: 'iothub' });
  assert.match(e.systemProperties['iothub-connection-auth-generation-id'], /^\d+$/);
  assert.equal(typeof e.systemProperties['iothub-enqueuedtime'], 'number');
  assert.ok(e.enqueuedTimeUtc instanceof Date);
  assert.ok(Math.abs(e.enqueuedTimeUtc.getTime() - Date.now()) < 60000, 'enqueued on the real clock');
  for (let i = 1; i < events.length; i++) {
    assert.equal(events[i].sequenceNumber, events[i - 1].sequenceNumber + 1, 'sequence numbers step by 1');
    assert.ok(BigInt(events[i].offset) > BigInt(events[i - 1].offset), 'offsets grow');
  }
});

test('a body that is not JSON arrives as the device\'s bytes, up to the 256 KB D2C limit', async () => {
  const device = await openDevice('dev2');
  const big = Buffer.alloc(65023, 0xab);
  const m = new Message(big);
  m.messageId = 'dev2-big';
  await device.sendEvent(m);
  const { events } = await collect(consumer(), { device: 'dev2', until: (ev) => ev.some((x) => x.messageId === 'dev2-big') });
  const got = events.find((x) => x.messageId === 'dev2-big');
  assert.ok(Buffer.isBuffer(got.body));
  assert.ok(got.body.equals(big));
});

test('start positions: earliest, latest, sequence number, enqueued time', async () => {
  const client = consumer();
  const device = await openDevice('dev3');
  for (let n = 0; n < 4; n++) await device.sendEvent(message('dev3', n));
  const partition = await partitionOf(client, 'dev3');
  const all = (await collect(client, { target: partition, device: 'dev3', until: (ev) => ev.length >= 4 })).events;
  assert.deepEqual(all.map((e) => e.body.n), [0, 1, 2, 3]);

  const fromSeq = await collect(client, {
    target: partition, device: 'dev3', startPosition: { sequenceNumber: all[2].sequenceNumber, isInclusive: true },
    until: (ev) => ev.length >= 2,
  });
  assert.deepEqual(fromSeq.events.map((e) => e.body.n), [2, 3]);

  const afterSeq = await collect(client, {
    target: partition, device: 'dev3', startPosition: { sequenceNumber: all[2].sequenceNumber },
    until: (ev) => ev.length >= 1,
  });
  assert.deepEqual(afterSeq.events.map((e) => e.body.n), [3]);

  const fromOffset = await collect(client, {
    target: partition, device: 'dev3', startPosition: { offset: all[1].offset, isInclusive: true },
    until: (ev) => ev.length >= 3,
  });
  assert.deepEqual(fromOffset.events.map((e) => e.body.n), [1, 2, 3]);

  const byTime = await collect(client, {
    target: partition, device: 'dev3', startPosition: { enqueuedOn: all[3].enqueuedTimeUtc.getTime() - 1 },
    until: (ev) => ev.length >= 1,
  });
  assert.equal(byTime.events[0].body.n, 3);

  // Latest: only what is sent after the reader started.
  const events = [];
  // The reader's position is fixed when the hub attaches it, which the emulator logs (debug).
  const readers = /event hubs: reader \d+ on partition/;
  const attached = server.countLog(readers);
  const sub = client.subscribe(partition, {
    processEvents: async (batch) => { events.push(...batch.filter((e) => e.body && e.body.device === 'dev3')); },
    processError: async () => {},
  }, { startPosition: latestEventPosition, maxWaitTimeInSeconds: 1 });
  await server.waitForLog(readers, attached + 1);
  await device.sendEvent(message('dev3', 99));
  await eventually(async () => events.length >= 1, 15000, 'the event sent after the latest reader started');
  await sub.close();
  assert.deepEqual(events.map((e) => e.body.n), [99]);
});

test('two consumer groups read the same events independently', async () => {
  const device = await openDevice('dev1');
  await device.sendEvent(message('dev1', 1000, { tag: 'groups' }));
  const until = (ev) => ev.some((e) => e.properties.tag === 'groups');
  const a = await collect(consumer('$Default'), { device: 'dev1', until });
  const b = await collect(consumer('analytics'), { device: 'dev1', until });
  const pick = (r) => r.events.filter((e) => e.properties.tag === 'groups').map((e) => e.sequenceNumber);
  assert.deepEqual(pick(a), pick(b));
  assert.equal(pick(a).length, 1);
});

test('an unknown consumer group and a partition out of range are refused with a clear error', async () => {
  const unknown = await collect(consumer('nosuchgroup'), { target: '0', until: (ev, errs) => errs.length > 0 });
  assert.equal(unknown.events.length, 0);
  assert.match(String(unknown.errors[0].message), /consumer group 'nosuchgroup' does not exist/);
  const client = consumer();
  await assert.rejects(client.getPartitionProperties('9'), /partition '9' does not exist/);
  const outOfRange = await collect(client, { target: '9', until: (ev, errs) => errs.length > 0 });
  assert.match(String(outOfRange.errors[0].message), /partition '9' does not exist/);
});

test('UseDevelopmentEmulator=true reads the same log over plain TCP, without the CA', async () => {
  const cs = server.ready.connectionStrings.eventHubsCompatibleDevelopment;
  assert.match(cs, /;UseDevelopmentEmulator=true$/);
  const device = await openDevice('dev1');
  await device.sendEvent(message('dev1', 2000, { tag: 'plain' }));
  const { events } = await collect(consumer('$Default', cs), {
    device: 'dev1', until: (ev) => ev.some((e) => e.properties.tag === 'plain'),
  });
  assert.equal(events.find((e) => e.properties.tag === 'plain').body.n, 2000);
});

test('a wrong key is refused (UnauthorizedError)', async () => {
  const cs = server.ready.connectionStrings.eventHubsCompatible
    .replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  const client = consumer('$Default', cs, { retryOptions: { maxRetries: 0, timeoutInMs: 10000 } });
  await assert.rejects(client.getEventHubProperties(), (e) => {
    assert.equal(e.code, 'UnauthorizedError');
    return true;
  });
});

test('a restart keeps the log and its sequence numbers; retention trims the oldest', async () => {
  const device = await openDevice('dev2');
  await device.sendEvent(message('dev2', 500));
  const before = await collect(consumer(), { device: 'dev2', until: (ev) => ev.some((e) => e.body && e.body.n === 500) });
  const last = before.events.find((e) => e.body && e.body.n === 500);
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});

  await server.stop({ keepData: true });
  server = await startServer(CONFIG, { reuse: server });
  const client = consumer();
  const after = await collect(client, { device: 'dev2', until: (ev) => ev.some((e) => e.body && e.body.n === 500) });
  const again = after.events.find((e) => e.body && e.body.n === 500);
  assert.equal(again.sequenceNumber, last.sequenceNumber);
  assert.equal(again.offset, last.offset);
  assert.equal(again.messageId, last.messageId);

  const device2 = await openDevice('dev2');
  await device2.sendEvent(message('dev2', 501));
  const next = await collect(client, { device: 'dev2', until: (ev) => ev.some((e) => e.body && e.body.n === 501) });
  const e501 = next.events.find((e) => e.body && e.body.n === 501);
  assert.ok(e501.sequenceNumber > last.sequenceNumber, 'numbering goes on after the restart');

  const props = await client.getPartitionProperties(e501.partitionId);
  assert.equal(props.lastEnqueuedSequenceNumber, e501.sequenceNumber);
  assert.equal(props.isEmpty, false);
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});

  // Retention (1 day by default): a day and a bit of clock travel trims everything. The
  // clients' tokens are signed with the real clock, so they would be expired on the emulator's
  // moved clock: test control shows the log instead.
  assert.ok((await server.telemetry()).some((t) => t.sequenceNumber === e501.sequenceNumber
    && t.partition === Number(e501.partitionId)));
  await server.request('POST', '/admin/clock/advance', 200, { seconds: 90000 });
  assert.deepEqual(await server.telemetry(), []);
});


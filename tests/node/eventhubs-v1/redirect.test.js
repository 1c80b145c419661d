'use strict';
// The IoT Hub way to the built-in endpoint (issue 14, next-capabilities §1.7): @azure/event-hubs
// 1.0.8, the reader of the Azure IoT SDKs' e2e tests before 2026-04, is given only the IoT Hub
// connection string (`iothubowner`). It connects to port 5671 of HostName (fixed), puts a token
// for `sb://<host>/messages/events/$management`, attaches to `/messages/events/$management`,
// follows the amqp:link:redirect to the Event Hubs-compatible name and reads the device's
// telemetry from there. The emulator must therefore listen on 5671 (CTest: RESOURCE_LOCK).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { EventHubClient, EventPosition } = require('event-hubs-v1');
const { startServer, withTimeout } = require('../mqtt/server');

let server;

test.before(async () => {
  server = await startServer({}, { amqpPort: 5671 });
});

test.after(async () => {
  if (server) await server.stop();
});

test('EventHubClient.createFromIotHubConnectionString follows the redirect and reads telemetry', async () => {
  const client = await EventHubClient.createFromIotHubConnectionString(
    server.serviceConnectionString('iothubowner'));
  const received = [];
  const receivers = [];
  let wake = () => {};
  try {
    const ids = await client.getPartitionIds();
    assert.deepEqual(ids, ['0', '1', '2', '3']);
    // As the e2e tests do: every partition from five seconds ago.
    for (const id of ids) {
      receivers.push(client.receive(id, (e) => {
        if (e.annotations['iothub-connection-device-id'] === 'dev1') { received.push(e); wake(); }
      }, (err) => { received.push(err); wake(); },
      { eventPosition: EventPosition.fromEnqueuedTime(Date.now() - 5000) }));
    }
    const device = DeviceClient.fromConnectionString(server.deviceConnectionString('dev1'), Mqtt);
    device.on('error', () => {});
    await device.open();
    const m = new Message('through the redirect');
    m.messageId = 'v1-1';
    await device.sendEvent(m);
    await device.close();
    await withTimeout(new Promise((resolve) => {
      wake = () => { if (received.length > 0) resolve(); };
      wake();
    }), 30000, 'the event through the redirected client');
    const e = received[0];
    assert.ok(!(e instanceof Error), String(e));
    assert.equal(e.body.toString(), 'through the redirect');
    assert.equal(e.properties.message_id, 'v1-1');
    assert.equal(e.annotations['iothub-connection-device-id'], 'dev1');
    assert.ok(server.countLog(/redirected link/) >= 1, 'the emulator answered with a redirect');
  } finally {
    for (const r of receivers) await r.stop().catch(() => {});
    await client.close().catch(() => {});
  }
});

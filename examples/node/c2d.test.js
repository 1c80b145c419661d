'use strict';
// A hermetic integration test with the official Azure IoT Node SDKs against iothub-emulator:
// start a throw-away hub, create a device with the Registry, send a C2D message with the
// service Client, receive it with the device SDK over MQTT, and check the delivery feedback.
// No Azure, no network beyond localhost, a few seconds.
//
// Run (the SDKs trust a CA only through NODE_EXTRA_CA_CERTS, read when node starts, so ask the
// emulator for its development CA first):
//   npm install azure-iot-device azure-iot-device-mqtt azure-iothub
//   NODE_EXTRA_CA_CERTS=$(iothub-emulator ca-path --in-memory) \
//     IOTHUB_EMULATOR=/path/to/iothub-emulator node --test c2d.test.js
//
// The Registry always talks HTTPS to port 443 of HostName (it has no port option), so the
// emulator binds 127.0.0.1:443 here: run as root, with CAP_NET_BIND_SERVICE, or after
// `sysctl net.ipv4.ip_unprivileged_port_start=443`. MQTT and AMQP use free ports, which the
// connection strings carry (`GatewayHostName=localhost:PORT`, `HostName=localhost:PORT`).
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { Registry, Client: ServiceClient } = require('azure-iothub');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

/** Starts `iothub-emulator --in-memory` and resolves with its ready information. */
function startEmulator() {
  const binary = process.env.IOTHUB_EMULATOR || 'iothub-emulator';
  // Feedback batches every 0.5 s instead of Azure's 15 s, so the test is fast.
  const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iothub-')), 'config.json');
  fs.writeFileSync(config, JSON.stringify({ feedback: { batchIntervalSeconds: 0.5 } }));
  const proc = spawn(binary, ['--in-memory', '--bind', '127.0.0.1', '--mqtt-port', '0',
    '--amqp-port', '0', '--https-port', process.env.IOTHUB_EMULATOR_HTTPS_PORT || '443',
    '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('emulator not ready')); }, 30000);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`emulator exited with ${code}`)); });
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      if (!line.startsWith('iothub-emulator ready ')) return;
      clearTimeout(timer);
      resolve({ proc, ready: JSON.parse(line.slice('iothub-emulator ready '.length)) });
    });
  });
}

test('C2D message with full feedback, end to end', async (t) => {
  const { proc, ready } = await startEmulator();
  // Clean up in reverse order: clients first, the emulator last (node:test runs after-hooks
  // in the order they were added, so keep one hook that knows the order).
  const cleanup = [() => proc.kill('SIGTERM')];
  t.after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  const { ports } = ready;
  const owner = ready.connectionStrings.iothubowner;

  // Registry (HTTPS 443): create a device; the emulator generates its keys.
  const registry = Registry.fromConnectionString(owner);
  const { responseBody: device } = await registry.create({ deviceId: 'test-device' });
  assert.ok(device.authentication.symmetricKey.primaryKey);

  // The device (MQTT over TLS) listens for C2D messages.
  const deviceCs = `HostName=${ready.hostName};DeviceId=test-device;` +
    `SharedAccessKey=${device.authentication.symmetricKey.primaryKey};` +
    `GatewayHostName=localhost:${ports.mqtt}`;
  const deviceClient = DeviceClient.fromConnectionString(deviceCs, Mqtt);
  cleanup.push(() => deviceClient.close());
  const received = new Promise((resolve) => deviceClient.on('message', (msg) => {
    deviceClient.complete(msg, () => resolve(msg));
  }));
  await deviceClient.open();

  // The back-end (AMQP over TLS) sends with ack=full and reads the feedback.
  const service = ServiceClient.fromConnectionString(owner.replace(
    `HostName=${ready.hostName}`, `HostName=${ready.hostName}:${ports.amqp}`));
  await service.open();
  cleanup.push(() => service.close());
  const { result: feedbackReceiver } = await service.getFeedbackReceiver();
  const feedback = new Promise((resolve) => feedbackReceiver.on('message', (m) => resolve(JSON.parse(m.data))));

  const message = new Message('Cloud to device message.');
  message.messageId = 'example-1';
  message.ack = 'full';
  message.properties.add('color', 'blue');
  await service.send('test-device', message);

  const msg = await received;
  assert.strictEqual(msg.messageId, 'example-1');
  assert.strictEqual(msg.data.toString(), 'Cloud to device message.');
  assert.ok(msg.properties.propertyList.some((p) => p.key === 'color' && p.value === 'blue'));

  const records = await feedback;
  assert.strictEqual(records.length, 1);
  assert.strictEqual(records[0].originalMessageId, 'example-1');
  assert.strictEqual(records[0].deviceId, 'test-device');
  assert.strictEqual(records[0].statusCode, 'Success');
});

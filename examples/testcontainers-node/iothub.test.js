'use strict';
// iothub-emulator as a throw-away container in a Node test, with Testcontainers
// (https://node.testcontainers.org) and the official Azure IoT device SDK: the container starts
// on free host ports, the test waits until Docker calls it healthy (its healthcheck asks
// GET /health), a device connects over MQTT with the emulator's CA, sends telemetry and
// reports twin properties, and the emulator's /metrics shows the telemetry arrived.
//
// Run (after building the image: `docker-compose build` or `docker build -t iothub-emulator:local .`):
//   npm ci && npm test
// Where no image registry is reachable, turn off Testcontainers' reaper, whose image would be
// pulled: TESTCONTAINERS_RYUK_DISABLED=true npm test (the test stops its container itself).
const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const { GenericContainer, Wait } = require('testcontainers');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const IMAGE = process.env.IOTHUB_EMULATOR_IMAGE || 'iothub-emulator:local';
// The image's default device and its well-known development key (README).
const DEVICE_KEY = 'SFLuYJxmAK3qF70FLO6fIiRxRUV+YLwFaUSvij7CKnI=';

let container;
let ca;

test.before(async () => {
  container = await new GenericContainer(IMAGE)
    .withExposedPorts(8883, 5671, 443)
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(120000)
    .start();
  // The development CA the emulator made in its data directory: trust only it.
  const { output, exitCode } = await container.exec(['cat', '/data/certs/ca.crt']);
  assert.equal(exitCode, 0);
  ca = output;
});

test.after(async () => {
  if (container) await container.stop();
});

function metrics() {
  return new Promise((resolve, reject) => {
    https.get({
      host: container.getHost(), port: container.getMappedPort(443), path: '/metrics', ca,
      servername: 'localhost',
    }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('a device sends telemetry and reports twin properties to the containerized hub', async () => {
  // HostName is the hub's name (it goes into the SAS token); GatewayHostName is where the
  // container's MQTT port is published on this machine.
  const cs = `HostName=iothub-emulator.internal;DeviceId=myDevice;SharedAccessKey=${DEVICE_KEY};` +
    `GatewayHostName=localhost:${container.getMappedPort(8883)}`;
  const client = Client.fromConnectionString(cs, Mqtt);
  await client.setOptions({ ca });
  await client.open();
  try {
    await client.sendEvent(new Message(JSON.stringify({ temperature: 21.5 })));
    const twin = await client.getTwin();
    await new Promise((resolve, reject) =>
      twin.properties.reported.update({ firmware: '1.2.3' }, (e) => (e ? reject(e) : resolve())));
    const refreshed = await client.getTwin();
    assert.equal(refreshed.properties.reported.firmware, '1.2.3');
  } finally {
    await client.close();
  }
  const appended = (await metrics()).split('\n')
    .filter((l) => l.startsWith('iothub_telemetry_appended_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
  assert.equal(appended, 1, 'the emulator counted the one telemetry message');
});

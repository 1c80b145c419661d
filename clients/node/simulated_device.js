'use strict';
// simulated_device.js: receive cloud-to-device (C2D) messages with the official Azure IoT device
// SDK for Node (azure-iot-device + azure-iot-device-mqtt), as the Node version of the tutorial
// "Send cloud-to-device messages with IoT Hub" does. Nothing here knows about the emulator.
//
// What it shows:
//  1. Client.fromConnectionString(cs, Mqtt): a device connection string; the SDK speaks MQTT
//     over TLS to port 8883 and signs a SAS token from the device key. To reach another host or
//     port (the emulator with ephemeral ports, a container), add GatewayHostName=host:port; the
//     identity stays HostName.
//  2. client.on('message'): subscribes to the device's C2D messages. Each message has data,
//     system properties (messageId, correlationId, ...) and the sender's custom properties.
//  3. client.complete(msg): over MQTT the SDK has already acknowledged the message (PUBACK), so
//     the hub counts it as delivered and the sender gets "Success" feedback.
//
// Settings (environment):
//   IOTHUB_DEVICE_CONNECTION_STRING  device connection string (required)
//   IOTHUB_MESSAGE_COUNT             exit 0 after this many messages (default: run until Ctrl-C)
//   IOTHUB_TIMEOUT_SECONDS           give up after this long (exit 7 if a count was not reached)
//   NODE_EXTRA_CA_CERTS              the CA to trust (the emulator's <data-dir>/certs/ca.crt)
//
// Run:   NODE_PATH=tests/node/node_modules node clients/node/simulated_device.js
// Exit codes as the C++ samples: 2 bad settings, 3 not authorized, 4 TLS failure,
// 5 cannot connect, 7 timeout.

const { Client } = require('azure-iot-device');
const { Mqtt: Protocol } = require('azure-iot-device-mqtt');
const { ConnectionString } = require('azure-iot-common');
const { EXIT, setting, usageError, wholeNumber, classify, describe } = require('./common.js');

const USAGE = 'IOTHUB_DEVICE_CONNECTION_STRING=... [IOTHUB_MESSAGE_COUNT=N] [IOTHUB_TIMEOUT_SECONDS=S] ' +
  'NODE_EXTRA_CA_CERTS=ca.crt node simulated_device.js';
const usage = (problem) => usageError('simulated_device', USAGE, problem);

const connectionString = setting('IOTHUB_DEVICE_CONNECTION_STRING', undefined);
if (!connectionString) usage('IOTHUB_DEVICE_CONNECTION_STRING is not set (a device connection string)');
const expected = wholeNumber('IOTHUB_MESSAGE_COUNT', 0, 1, 1000000, usage);
const timeoutSeconds = wholeNumber('IOTHUB_TIMEOUT_SECONDS', 0, 1, 86400, usage);

let client;
try {
  // The SDK checks only some parts up front; a string without HostName fails later, inside the
  // transport. Check the parts a device needs first.
  ConnectionString.parse(connectionString, ['HostName', 'DeviceId']);
  client = Client.fromConnectionString(connectionString, Protocol);
} catch (err) {
  // The message names the missing part; the connection string itself (with its key) is not printed.
  console.error(`simulated_device: bad device connection string: ${err.message}`);
  process.exit(EXIT.badInput);
}

let received = 0;
let finished = false;
let timer;

function finish(code, problem) {
  if (finished) return;
  finished = true;
  if (problem) console.error(`simulated_device: ${problem}`);
  clearTimeout(timer);
  const fallback = setTimeout(() => process.exit(code), 5000);
  client.close(() => {
    clearTimeout(fallback);
    process.exit(code);
  });
}

if (timeoutSeconds > 0) {
  timer = setTimeout(() => {
    if (expected > 0) {
      finish(EXIT.timeout, `timed out after ${timeoutSeconds} s with ${received} of ${expected} messages`);
    } else {
      finish(EXIT.ok);
    }
  }, timeoutSeconds * 1000);
}

process.on('SIGINT', () => {
  console.log('IoTHubDeviceClient sample stopped');
  finish(EXIT.ok);
});

function onMessage(msg) {
  received++;
  const properties = {};
  for (let i = 0; i < msg.properties.count(); i++) {
    const item = msg.properties.getItem(i);
    properties[item.key] = item.value;
  }
  console.log('Message received');
  console.log(`    Data: <<${msg.data.toString('utf-8')}>>`);
  console.log(`    Properties: ${JSON.stringify(properties)}`);
  console.log(`    System properties: ${JSON.stringify({ messageId: msg.messageId, correlationId: msg.correlationId })}`);
  console.log(`    Total calls received: ${received}`);
  client.complete(msg, (err) => {
    if (err) console.error(`simulated_device: complete failed: ${describe(err)}`);
    if (expected > 0 && received >= expected) finish(EXIT.ok);
  });
}

console.log('Starting the IoT Hub Node simulated device sample...');
client.on('error', (err) => finish(classify(err), describe(err)));
client.on('disconnect', () => finish(EXIT.connection, 'disconnected from the hub'));
client.open((err) => {
  if (err) {
    const code = classify(err);
    const hint = code === EXIT.tls ? " (is the emulator's ca.crt in NODE_EXTRA_CA_CERTS?)" : '';
    finish(code, `could not connect: ${describe(err)}${hint}`);
    return;
  }
  client.on('message', onMessage);
  console.log('IoTHubDeviceClient waiting for commands, press Ctrl-C to exit');
});

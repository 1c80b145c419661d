'use strict';
// send_c2d.js: send cloud-to-device (C2D) messages and read the delivery feedback, with the
// official Azure IoT service SDK for Node (azure-iothub), exactly as the Node version of the
// tutorial "Send cloud-to-device messages with IoT Hub" does. Nothing here knows about the
// emulator: point it at Azure IoT Hub and it works the same.
//
// What it shows:
//  1. Client.fromConnectionString(): a hub connection string with ServiceConnect permission
//     (the `service` policy). The SDK speaks AMQP over TLS to port 5671 and authenticates with
//     a CBS put-token; a `:port` in HostName moves the port (HostName=localhost:PORT).
//  2. getFeedbackReceiver(): the hub's feedback records, a JSON array per message, which this
//     app parses itself (the SDK hands over the raw bytes).
//  3. send(): messages with a messageId, a correlationId, a custom property, and ack = 'full'
//     (ask for positive and negative delivery feedback).
//
// Settings (environment):
//   IOTHUB_CONNECTION_STRING  hub connection string (required)
//   IOTHUB_DEVICE_ID          target device (required)
//   IOTHUB_MESSAGE_COUNT      how many messages to send (default 1)
//   IOTHUB_TIMEOUT_SECONDS    give up after this long without all feedback (default 120)
//   IOTHUB_NO_FEEDBACK=1      stop once every message is accepted
//   NODE_EXTRA_CA_CERTS       the CA to trust (the emulator's <data-dir>/certs/ca.crt): the
//                             service client has no other way to take a CA
//
// Run:   NODE_PATH=tests/node/node_modules node clients/node/send_c2d.js
// Exit codes as the C++ samples: 2 bad settings, 3 not authorized, 4 TLS failure,
// 5 cannot connect, 6 a message was not accepted, 7 timeout.

const crypto = require('node:crypto');
const { Client } = require('azure-iothub');
const { Message, NoRetry, ExponentialBackOffWithJitter, ConnectionString } = require('azure-iot-common');
const { EXIT, setting, usageError, wholeNumber, classify, describe, splitHostPort, probeTls } = require('./common.js');

const AVG_WIND_SPEED = 10.0;
const USAGE = 'IOTHUB_CONNECTION_STRING=... IOTHUB_DEVICE_ID=... [IOTHUB_MESSAGE_COUNT=N] ' +
  '[IOTHUB_TIMEOUT_SECONDS=S] [IOTHUB_NO_FEEDBACK=1] NODE_EXTRA_CA_CERTS=ca.crt node send_c2d.js';
const usage = (problem) => usageError('send_c2d', USAGE, problem);

const connectionString = setting('IOTHUB_CONNECTION_STRING', undefined);
const deviceId = setting('IOTHUB_DEVICE_ID', undefined);
if (!connectionString) usage('IOTHUB_CONNECTION_STRING is not set (a hub connection string, e.g. the service policy)');
if (!deviceId) usage('IOTHUB_DEVICE_ID is not set');
const messageCount = wholeNumber('IOTHUB_MESSAGE_COUNT', 1, 1, 1000, usage);
const timeoutSeconds = wholeNumber('IOTHUB_TIMEOUT_SECONDS', 120, 1, 86400, usage);
const waitForFeedback = setting('IOTHUB_NO_FEEDBACK', '0') === '0';

let serviceClient;
try {
  serviceClient = Client.fromConnectionString(connectionString);
} catch (err) {
  // The message names the missing part; the connection string itself (with its key) is not printed.
  console.error(`send_c2d: bad hub connection string: ${err.message}`);
  process.exit(EXIT.badInput);
}

console.log('Starting the IoT Hub Service Client Messaging Node sample...');
console.log(`    Device ID         = ${deviceId}`);

// message_{i}_{run}: like the tutorial's ids, plus a per-run tag so feedback from an earlier
// run is not mistaken for ours.
const runTag = crypto.randomBytes(4).toString('hex');
const pendingFeedback = new Set();
let outcomes = 0;
let failures = 0;
let negativeFeedback = 0;
let finished = false;

function finish(code, problem) {
  if (finished) return;
  finished = true;
  if (problem) console.error(`send_c2d: ${problem}`);
  clearTimeout(timer);
  // close() can hang on a broken connection: bound it, then exit either way.
  const fallback = setTimeout(() => process.exit(code), 5000);
  serviceClient.close(() => {
    clearTimeout(fallback);
    process.exit(code);
  });
}

const timer = setTimeout(() => {
  const stage = outcomes < messageCount
    ? `waiting for send outcomes (${outcomes} of ${messageCount})`
    : `waiting for feedback (${pendingFeedback.size} messages without feedback; is the device connected and receiving?)`;
  finish(EXIT.timeout, `timed out after ${timeoutSeconds} s ${stage}`);
}, timeoutSeconds * 1000);

function receiveFeedback(err, receiver) {
  if (err) {
    finish(classify(err), `cannot open the feedback receiver: ${describe(err)}`);
    return;
  }
  receiver.on('message', (msg) => {
    const text = msg.getData().toString('utf-8');
    let records;
    try {
      records = JSON.parse(text);
    } catch (e) {
      console.log(`Feedback message with a body that is not JSON: ${text}`);
      return;
    }
    console.log(`Feedback message received (${records.length} record${records.length === 1 ? '' : 's'})`);
    for (const r of records) {
      console.log(`    originalMessageId: ${r.originalMessageId}, statusCode: ${r.statusCode}, ` +
        `description: ${r.description}, deviceId: ${r.deviceId}, enqueuedTimeUtc: ${r.enqueuedTimeUtc}`);
      if (pendingFeedback.delete(r.originalMessageId) && r.statusCode !== 'Success') negativeFeedback++;
    }
    if (outcomes === messageCount && pendingFeedback.size === 0) allFeedbackReceived();
  });
  receiver.on('error', (e) => finish(classify(e), `feedback receiver: ${describe(e)}`));
}

function allFeedbackReceived() {
  if (negativeFeedback > 0) {
    finish(EXIT.failure, `${negativeFeedback} messages were not delivered (negative feedback)`);
  } else {
    console.log(`Feedback received for all ${messageCount} messages: Success`);
    finish(EXIT.ok);
  }
}

function sendMessage(i) {
  const windSpeed = AVG_WIND_SPEED + (Math.random() * 4 + 2);
  const message = new Message(JSON.stringify({ 'service client sent a message': Number(windSpeed.toFixed(2)) }));
  message.messageId = `message_${i}_${runTag}`;
  message.correlationId = `correlation_${i}_${runTag}`;
  message.properties.add('Property', `PropMsg_${i}`);
  message.ack = 'full';
  console.log(`Sending message: ${i} (message id ${message.messageId}): ${message.getData()}`);
  pendingFeedback.add(message.messageId);
  serviceClient.send(deviceId, message, (err) => {
    outcomes++;
    if (err) {
      failures++;
      pendingFeedback.delete(message.messageId);
      console.log(`Send outcome for ${message.messageId}: error ${err.name}: ${describe(err)}`);
    } else {
      console.log(`Send outcome for ${message.messageId}: MessageEnqueued`);
    }
    if (outcomes < messageCount) return;
    if (failures > 0) {
      finish(EXIT.rejected, `${failures} of ${messageCount} messages were not accepted`);
    } else if (!waitForFeedback) {
      console.log(`All ${messageCount} messages accepted (not waiting for feedback)`);
      finish(EXIT.ok);
    } else {
      console.log(`All ${messageCount} messages accepted; waiting for delivery feedback from the device...`);
      // Feedback may have arrived before the last outcome.
      if (pendingFeedback.size === 0) allFeedbackReceived();
    }
  });
}

// Fail fast on the first connection: with its default retry policy the SDK would retry a
// refused or untrusted connection for up to 4 minutes. Retries come back once connected.
serviceClient.setRetryPolicy(new NoRetry());
serviceClient.open(async (err) => {
  if (err) {
    await explainOpenFailure(err);
    return;
  }
  serviceClient.setRetryPolicy(new ExponentialBackOffWithJitter());
  console.log('Service client connected');
  if (waitForFeedback) serviceClient.getFeedbackReceiver(receiveFeedback);
  for (let i = 0; i < messageCount; i++) sendMessage(i);
});

// A failed open says "could not connect"; when the cause is the network or TLS the SDK only
// reports "connection disconnected", so one TLS handshake of our own finds out why.
async function explainOpenFailure(err) {
  let code = classify(err);
  let why = describe(err);
  if (code === EXIT.failure) {
    const { host, port } = splitHostPort(ConnectionString.parse(connectionString).HostName, 5671);
    const tlsError = await probeTls(host, port);
    if (tlsError) {
      code = classify(tlsError);
      if (code === EXIT.failure) code = EXIT.connection;
      why = `${host}:${port}: ${tlsError.message}`;
      if (code === EXIT.tls) why += ' (is the emulator\'s ca.crt in NODE_EXTRA_CA_CERTS?)';
    }
  }
  finish(code, `could not connect: ${why}`);
}

'use strict';
// read_telemetry.js: read device-to-cloud telemetry from the hub's built-in Event Hubs-compatible
// endpoint with the official Event Hubs client for Node (@azure/event-hubs), as the Node version
// of the quickstart "Send telemetry from a device to an IoT hub" does (ReadDeviceToCloudMessages).
// Nothing here knows about the emulator: point it at Azure IoT Hub and it works the same.
//
// What it shows:
//  1. new EventHubConsumerClient(consumerGroup, connectionString): the Event Hubs-compatible
//     connection string (Endpoint=sb://…/;SharedAccessKeyName=service;SharedAccessKey=…;
//     EntityPath=<Event Hubs-compatible name>), from the portal (Built-in endpoints) or
//     `az iot hub connection-string show --default-eventhub`. The client speaks AMQP over TLS to
//     port 5671 (a `:port` in Endpoint moves it) and authenticates with a CBS put-token.
//  2. getPartitionIds(): the partitions; a device's events always go to the same one.
//  3. subscribe(): one receiver per partition, all starting at the same position: "now" (events
//     enqueued after the reader started), earliest, latest or a point in time. The body is read
//     as the device's bytes (skipParsingBodyAsJson) and printed as text.
//  4. Per event: the hub's stamps in systemProperties (iothub-connection-device-id, …), the
//     partition, sequenceNumber, enqueuedTimeUtc; the device's messageId and its own
//     application properties (properties).
//
// Settings (environment):
//   EVENTHUB_CONNECTION_STRING  Event Hubs-compatible connection string (required)
//   EVENTHUB_CONSUMER_GROUP     consumer group (default $Default)
//   EVENTHUB_START_POSITION     now (default) | earliest | latest | a time (2026-01-31T12:00:00Z)
//   IOTHUB_DEVICE_ID            print and count only this device's events (default: all devices)
//   IOTHUB_MESSAGE_COUNT        exit 0 after this many events (default: run until Ctrl-C)
//   IOTHUB_TIMEOUT_SECONDS      give up after this long (exit 7 if a count was not reached)
//   NODE_EXTRA_CA_CERTS         the CA to trust (the emulator's <data-dir>/certs/ca.crt)
//
// Run:   NODE_PATH=tests/node/node_modules node clients/node/read_telemetry.js
// Exit codes as the C++ samples: 2 bad settings, 3 not authorized, 4 TLS failure,
// 5 cannot connect, 7 timeout; 1 for other refusals (e.g. an unknown consumer group).

const {
  EventHubConsumerClient, earliestEventPosition, latestEventPosition, parseEventHubConnectionString,
} = require('@azure/event-hubs');
const { EXIT, setting, usageError, wholeNumber, classify, describe, splitHostPort, probeTls } = require('./common.js');

const USAGE = 'EVENTHUB_CONNECTION_STRING=... [EVENTHUB_CONSUMER_GROUP=G] ' +
  '[EVENTHUB_START_POSITION=now|earliest|latest|TIME] [IOTHUB_DEVICE_ID=...] [IOTHUB_MESSAGE_COUNT=N] ' +
  '[IOTHUB_TIMEOUT_SECONDS=S] NODE_EXTRA_CA_CERTS=ca.crt node read_telemetry.js';
const usage = (problem) => usageError('read_telemetry', USAGE, problem);

const startedAt = new Date();
const connectionString = setting('EVENTHUB_CONNECTION_STRING', undefined);
if (!connectionString) usage('EVENTHUB_CONNECTION_STRING is not set (the hub\'s Event Hubs-compatible connection string)');
const consumerGroup = setting('EVENTHUB_CONSUMER_GROUP', '$Default');
const deviceFilter = setting('IOTHUB_DEVICE_ID', undefined);
const expected = wholeNumber('IOTHUB_MESSAGE_COUNT', 0, 1, 1000000, usage);
const timeoutSeconds = wholeNumber('IOTHUB_TIMEOUT_SECONDS', 0, 1, 86400, usage);
const start = startPosition(setting('EVENTHUB_START_POSITION', 'now'));

// now: events enqueued after this program started (so none sent while it connects is missed);
// latest: events enqueued after each partition's receiver attached.
function startPosition(text) {
  switch (text.toLowerCase()) {
    case 'now': return { position: { enqueuedOn: startedAt }, text: `now (${startedAt.toISOString()})` };
    case 'earliest': return { position: earliestEventPosition, text: 'earliest' };
    case 'latest': return { position: latestEventPosition, text: 'latest' };
    default: {
      const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(text) ? new Date(text) : new Date(NaN);
      if (Number.isNaN(time.getTime())) {
        usage(`EVENTHUB_START_POSITION must be now, earliest, latest or an ISO 8601 time such as 2026-01-31T12:00:00Z (got '${text}')`);
      }
      return { position: { enqueuedOn: time }, text: `enqueued after ${time.toISOString()}` };
    }
  }
}

let endpoint;
let client;
try {
  // The SDK's own parser names the missing part; the connection string (with its key) is never printed.
  if (/(^|;)\s*HostName=/i.test(connectionString) && !/(^|;)\s*Endpoint=/i.test(connectionString)) {
    throw new Error('this looks like an IoT Hub connection string (HostName=…); the Event Hubs-compatible one ' +
      'starts with Endpoint=sb://… and ends with EntityPath=…');
  }
  const parts = parseEventHubConnectionString(connectionString);
  if (!parts.eventHubName) throw new Error('EntityPath is missing (the Event Hubs-compatible name)');
  if (!parts.sharedAccessKey && !parts.sharedAccessSignature) throw new Error('SharedAccessKey is missing');
  endpoint = { namespace: parts.fullyQualifiedNamespace, eventHub: parts.eventHubName };
  client = new EventHubConsumerClient(consumerGroup, connectionString, {
    // Fail fast on the first request (a refused or untrusted connection, a wrong key): with its
    // default retry policy the client would retry for minutes. The subscription keeps retrying
    // transient errors on its own.
    retryOptions: { maxRetries: 0, timeoutInMs: 30000 },
  });
} catch (err) {
  console.error(`read_telemetry: bad Event Hubs-compatible connection string: ${err.message}`);
  process.exit(EXIT.badInput);
}

console.log('Starting the IoT Hub telemetry reader Node sample (Event Hubs-compatible endpoint)...');
console.log(`    Endpoint          = ${endpoint.namespace}`);
console.log(`    Event Hub         = ${endpoint.eventHub}`);
console.log(`    Consumer group    = ${consumerGroup}`);
console.log(`    Start position    = ${start.text}`);
console.log(`    Device ID         = ${deviceFilter || '(all devices)'}`);

let received = 0;
let finished = false;
let subscription;
let timer;

function finish(code, problem) {
  if (finished) return;
  finished = true;
  if (problem) console.error(`read_telemetry: ${problem}`);
  clearTimeout(timer);
  // close() can hang on a broken connection: bound it, then exit either way.
  const fallback = setTimeout(() => process.exit(code), 5000);
  (async () => {
    if (subscription) await subscription.close().catch(() => {});
    await client.close().catch(() => {});
  })().finally(() => {
    clearTimeout(fallback);
    process.exit(code);
  });
}

if (timeoutSeconds > 0) {
  timer = setTimeout(() => {
    if (expected > 0) {
      finish(EXIT.timeout, `timed out after ${timeoutSeconds} s with ${received} of ${expected} events`);
    } else {
      finish(EXIT.ok);
    }
  }, timeoutSeconds * 1000);
}

// Ctrl-C, and `docker stop` (SIGTERM; as PID 1 in a container Node has no default handler).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log('Telemetry reader stopped');
    finish(EXIT.ok);
  });
}

function bodyText(body) {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString('utf-8');
  return typeof body === 'string' ? body : JSON.stringify(body);
}

function printEvent(event, partitionId) {
  const device = event.systemProperties['iothub-connection-device-id'];
  if (deviceFilter && device !== deviceFilter) return;
  received++;
  console.log(`Telemetry received from device '${device === undefined ? '(none)' : device}'`);
  console.log(`    Partition: ${partitionId}, sequence number: ${event.sequenceNumber}, ` +
    `enqueued: ${event.enqueuedTimeUtc.toISOString()}`);
  console.log(`    Message id: ${event.messageId === undefined ? '(none)' : event.messageId}`);
  console.log(`    Application properties: ${JSON.stringify(event.properties || {})}`);
  console.log(`    Body: <<${bodyText(event.body)}>>`);
  console.log(`    Total events received: ${received}`);
  if (expected > 0 && received >= expected) finish(EXIT.ok);
}

// The first request says "could not connect" in many ways; when the cause is the network or TLS
// the error may only say the connection closed, so one TLS handshake of our own finds out why.
async function explainFailure(err) {
  let code = classify(err);
  let why = describe(err);
  if (code === EXIT.failure && !/not-found|does not exist/i.test(why)) {
    const { host, port } = splitHostPort(endpoint.namespace, 5671);
    const tlsError = await probeTls(host, port);
    if (tlsError) {
      code = classify(tlsError);
      if (code === EXIT.failure) code = EXIT.connection;
      why = `${host}:${port}: ${tlsError.message}`;
    }
  }
  if (code === EXIT.tls) why += ' (is the emulator\'s ca.crt in NODE_EXTRA_CA_CERTS?)';
  if (code === EXIT.unauthorized) why += ' (check the policy name and key)';
  finish(code, `could not connect: ${why}`);
}

async function main() {
  let partitionIds;
  try {
    partitionIds = await client.getPartitionIds();
  } catch (err) {
    await explainFailure(err);
    return;
  }
  if (finished) return;
  subscription = client.subscribe({
    processEvents: async (events, context) => {
      for (const event of events) {
        if (finished) return;
        printEvent(event, context.partitionId);
      }
    },
    processError: async (err, context) => {
      if (finished) return;
      const where = context && context.partitionId !== '' ? ` (partition ${context.partitionId})` : '';
      // An unknown consumer group or partition, a revoked key: retrying will not help.
      if (err.retryable === false || classify(err) === EXIT.unauthorized) {
        finish(classify(err), `the hub refused the reader${where}: ${describe(err)}`);
      } else {
        console.error(`read_telemetry: ${describe(err)}${where} (the client retries)`);
      }
    },
  }, { startPosition: start.position, maxBatchSize: 10, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true });
  console.log(`Reading partitions ${partitionIds.join(', ')} of '${endpoint.eventHub}', press Ctrl-C to exit`);
}

main();

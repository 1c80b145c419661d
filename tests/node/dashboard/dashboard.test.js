'use strict';
// The dashboard (issue 18) in a real browser: Debian's headless Chromium, driven with
// playwright-core, loads https://localhost:<port>/ from the real emulator and sees what the
// official device SDK does over MQTT; every action is clicked on the page (create and delete a
// device, send a C2D message, update desired properties, invoke a method, purge a queue) and
// checked on the device's side. Remote peers are checked with a name that is not this
// machine's (Chromium's host-resolver rules map it to 127.0.0.1: traffic stays on loopback).
// Screenshots are kept in $DASHBOARD_ARTEFACTS (CTest: build/test/artefacts/dashboard).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { Client: DeviceClient } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Mqtt } = require('azure-iot-device-mqtt');
const { startServer, withTimeout, eventually } = require('../mqtt/server');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTEFACTS = process.env.DASHBOARD_ARTEFACTS || path.join(__dirname, 'artefacts');
const REMOTE_NAME = 'dashboard.test';  // not this machine's name: the page is "remote"

let browser;
const servers = [];
const closers = [];

test.before(async () => {
  fs.mkdirSync(ARTEFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', `--host-resolver-rules=MAP ${REMOTE_NAME} 127.0.0.1`],
  });
});

test.after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  if (browser) await browser.close();
  for (const s of servers) await s.stop();
});

async function server(config = {}) {
  const s = await startServer(config);
  servers.push(s);
  return s;
}

async function newPage(s, host = 'localhost', query = '') {
  // The emulator's CA is not in Chromium's store: the context trusts any certificate, and the
  // page is still a secure context (WebCrypto signs the SAS tokens).
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
  closers.push(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(`https://${host}:${s.ready.ports.https}/${query}`);
  page.errors = errors;
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTEFACTS, `${name}.png`), fullPage: true });
}

async function device(s, id, key = undefined) {
  const client = DeviceClient.fromConnectionString(s.deviceConnectionString(id, key), Mqtt);
  client.setRetryPolicy(new NoRetry());
  client.received = [];
  client.on('message', (m) => {
    client.received.push(m);
    client.complete(m, () => {});
  });
  await withTimeout(client.open(), 15000, `${id} to connect`);
  closers.push(() => client.close());
  return client;
}

/** The text of the first element `selector` matches, once it satisfies `check`. */
async function textOf(page, selector, check, what) {
  let last = '';
  await eventually(async () => {
    const loc = page.locator(selector).first();
    if ((await loc.count()) === 0) return false;
    last = (await loc.textContent()) || '';
    return check(last);
  }, 15000, `${what} (last: ${JSON.stringify(last)})`);
  return last;
}

function get(s, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: s.ready.ports.https, path: urlPath, ca: s.ca, servername: 'localhost',
      agent: false, timeout: 10000, headers,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function sas(resource, keyName, key, expirySeconds = 3600) {
  const crypto = require('node:crypto');
  const sr = encodeURIComponent(resource);
  const se = Math.floor(Date.now() / 1000) + expirySeconds;
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}` + (keyName ? `&skn=${keyName}` : '');
}

test('the page shows a device connecting, sends it a C2D message and shows the feedback', async () => {
  const s = await server();
  const page = await newPage(s);
  await page.locator('#live.on').waitFor({ timeout: 15000 });
  await page.locator('tr.device[data-device="dev1"]').waitFor();
  await textOf(page, 'tr.device[data-device="dev1"] td.connection', (t) => t.startsWith('disconnected'),
    'dev1 shown disconnected');

  const dev1 = await device(s, 'dev1');
  const connection = await textOf(page, 'tr.device[data-device="dev1"] td.connection',
    (t) => t.startsWith('connected'), 'dev1 shown connected');
  assert.match(connection, /MQTT/, 'the transport is shown');
  await textOf(page, '#tile-connected b', (t) => t === '1', 'one connected device');

  await page.click('tr.device[data-device="dev1"]');
  await textOf(page, '#sel-name', (t) => t === 'dev1', 'dev1 selected');
  await page.fill('#c2d-body', 'hello from the dashboard');
  await page.selectOption('#c2d-ack', 'full');
  await page.click('#c2d-send');
  await eventually(() => dev1.received.some((m) => m.getData().toString() === 'hello from the dashboard'),
    15000, 'the device to receive the message sent from the page');
  const sent = dev1.received.find((m) => m.getData().toString() === 'hello from the dashboard');
  assert.match(sent.messageId, /^dash-/, 'the page gives the message an id');
  // The device completed it: Success feedback for that message id appears on the page.
  const status = await textOf(page, `#feedback tr.feedback:has(td:text-is("${sent.messageId}")) td:nth-child(3)`,
    (t) => t === 'Success', 'Success feedback on the page');
  assert.equal(status, 'Success');
  await textOf(page, '#activity', (t) => t.includes('C2D message') && t.includes('delivered'),
    'the delivery in the activity feed');
  await shot(page, '1-c2d-feedback');
  // The CA the header offers is the emulator's.
  const ca = await get(s, '/dashboard/ca.pem');
  assert.equal(ca.status, 200);
  assert.equal(ca.body, s.ca.toString());
  assert.deepEqual(page.errors, [], 'no script errors');
});

test('create a device, update its desired properties, invoke a method, purge and delete it, all from the page', async () => {
  const s = await server();
  const page = await newPage(s);
  await page.locator('#live.on').waitFor({ timeout: 15000 });

  await page.fill('#create-id', 'made-on-page');
  await page.click('#create-form button');
  await textOf(page, '#toast', (t) => t.length > 0, 'the answer to the create');
  assert.equal(await page.locator('#toast').textContent(), 'Created device made-on-page');
  await page.locator('tr.device[data-device="made-on-page"]').waitFor();
  await textOf(page, '#sel-name', (t) => t === 'made-on-page', 'the new device selected');
  // Its connection string is offered to this (loopback) page; the device connects with it.
  const state = JSON.parse((await get(s, '/dashboard/state')).body);
  const cs = state.connectionStrings.devices['made-on-page'];
  assert.ok(cs, 'a connection string for the new device');
  const key = /SharedAccessKey=([^;]+)/.exec(cs)[1];
  const dev = await device(s, 'made-on-page', key);
  const twin = await withTimeout(dev.getTwin(), 15000, 'the twin');
  const desired = [];
  twin.on('properties.desired', (d) => desired.push(d));
  dev.onDeviceMethod('reboot', (req, res) => res.send(200, { rebooted: true, asked: req.payload }, () => {}));
  await textOf(page, 'tr.device[data-device="made-on-page"] td.connection', (t) => t.startsWith('connected'),
    'the new device connected');

  await page.fill('#desired-patch', '{"telemetryInterval": 7}');
  await page.click('#desired-form button');
  await eventually(() => desired.some((d) => d.telemetryInterval === 7), 15000,
    'the device to get the desired property set on the page');
  await textOf(page, '#twin-desired', (t) => t.includes('"telemetryInterval": 7'), 'the desired property on the page');
  await textOf(page, '#activity', (t) => t.includes('desired properties changed'), 'the twin change in the feed');
  // The device reports back: the page shows the reported property and the write.
  await withTimeout(new Promise((resolve, reject) =>
    twin.properties.reported.update({ applied: 7 }, (e) => (e ? reject(e) : resolve()))), 15000, 'the reported patch');
  await textOf(page, '#twin-reported', (t) => t.includes('"applied": 7'), 'the reported property on the page');
  await textOf(page, '#twin-history', (t) => t.includes('device reported'), 'the reported write on the page');

  await page.fill('#method-name', 'reboot');
  await page.fill('#method-payload', '{"delay": 1}');
  await page.click('#method-form button');
  const result = await textOf(page, '#method-result', (t) => t.startsWith('status'), 'the method result');
  assert.match(result, /^status 200/);
  assert.match(result, /"rebooted": true/);
  assert.match(result, /"delay": 1/, 'the device saw the payload typed on the page');
  await textOf(page, '#activity', (t) => t.includes("method 'reboot' answered 200"), 'the method in the feed');
  await shot(page, '2-twin-method');

  // Purge: dev2 is not connected, so its messages wait in the queue.
  await page.click('tr.device[data-device="dev2"]');
  await textOf(page, '#sel-name', (t) => t === 'dev2', 'dev2 selected');
  for (const body of ['one', 'two']) {
    await page.fill('#c2d-body', body);
    await page.click('#c2d-send');
    await eventually(async () => (await s.queue('dev2')).some((m) => m.body === body), 10000, `${body} queued`);
  }
  await textOf(page, 'tr.device[data-device="dev2"] td.queued', (t) => t === '2', 'two queued for dev2');
  assert.equal(await page.locator('#queue tr.message').count() >= 1, true);
  await textOf(page, '#queue tbody', (t) => t.includes('Enqueued') && t.includes('two'), 'the queue on the page');
  await shot(page, '3-queue');
  await page.click('#purge');
  await eventually(async () => (await s.queue('dev2')).length === 0, 10000, 'the queue purged');
  await textOf(page, '#queue tbody', (t) => t.includes('The queue is empty'), 'the empty queue on the page');

  await page.click('tr.device[data-device="made-on-page"] button.danger');
  await eventually(async () => (await page.locator('tr.device[data-device="made-on-page"]').count()) === 0, 15000,
    'the deleted device gone from the page');
  const gone = await get(s, '/dashboard/state?device=made-on-page');
  assert.equal(JSON.parse(gone.body).selected, null);
  assert.deepEqual(page.errors, [], 'no script errors');
});

test('loopback only by default; --dashboard-remote asks other peers to sign in and never shows them keys', async () => {
  const local = await server();
  // A page of another name that resolves to 127.0.0.1 (DNS rebinding) is not trusted.
  const rebound = await get(local, '/dashboard/state', { Host: `${REMOTE_NAME}:${local.ready.ports.https}` });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body, /loopback peers only/);
  const page403 = await get(local, '/', { Host: 'example.org' });
  assert.equal(page403.status, 403);
  // A form post from another site (no JSON content type) cannot send C2D.
  const form = await new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: local.ready.ports.https, method: 'POST',
      path: '/dashboard/devices/dev1/messages', ca: local.ca, servername: 'localhost', agent: false,
      headers: { 'Content-Type': 'text/plain' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end('{"body": "x"}');
  });
  assert.equal(form, 415);
  assert.equal((await local.queue('dev1')).length, 0, 'nothing was queued');

  const off = await server({ dashboard: 'off' });
  assert.equal((await get(off, '/')).status, 404);
  assert.equal((await get(off, '/dashboard/state')).status, 404);

  const remote = await server({ dashboard: 'remote' });
  const host = { Host: `${REMOTE_NAME}:${remote.ready.ports.https}` };
  assert.equal((await get(remote, '/dashboard/state', host)).status, 401);
  const hubName = remote.ready.hostName;
  const deviceToken = sas(`${hubName}/devices/dev1`, '', remote.keys.dev1);
  assert.equal((await get(remote, '/dashboard/state', { ...host, Authorization: deviceToken })).status, 401,
    'a device token does not open the dashboard');
  const owner = /SharedAccessKey=([^;]+)/.exec(remote.serviceConnectionString('iothubowner'))[1];
  const ok = await get(remote, '/dashboard/state', { ...host, Authorization: sas(hubName, 'iothubowner', owner) });
  assert.equal(ok.status, 200);
  const view = JSON.parse(ok.body);
  assert.equal(view.connectionStrings, undefined, 'no keys for a remote peer');
  assert.ok(!ok.body.includes(owner) && !ok.body.includes(remote.keys.dev1), 'no key anywhere in the view');

  // In the browser: the page asks for a connection string, then shows the hub without keys.
  const page = await newPage(remote, REMOTE_NAME);
  await page.locator('#login').waitFor({ state: 'visible', timeout: 15000 });
  await shot(page, '4-remote-sign-in');
  await page.fill('#login-cs', remote.serviceConnectionString('iothubowner'));
  await page.click('#login-form button');
  await page.locator('#live.on').waitFor({ timeout: 15000 });
  await page.locator('tr.device[data-device="dev1"]').waitFor();
  assert.equal(await page.locator('#strings .cs').count(), 0, 'no connection strings shown remotely');
  // Its actions are signed with the pasted string: a C2D message from the remote page.
  await page.click('tr.device[data-device="dev3"]');
  await page.fill('#c2d-body', 'from afar');
  await page.click('#c2d-send');
  await eventually(async () => (await remote.queue('dev3')).some((m) => m.body === 'from afar'), 10000,
    'the remote page to queue a message');
  assert.deepEqual(page.errors, [], 'no script errors');
});

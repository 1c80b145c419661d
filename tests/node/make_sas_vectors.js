#!/usr/bin/env node
// Generates tests/fixtures/sas_vectors.json: SAS tokens and connection-string parses produced by
// the OFFICIAL Azure IoT Node SDK packages (versions pinned in package.json), so that the C++
// unit tests (tests/unit/sas/) can check the emulator against what real clients send.
//
// How to regenerate:
//   cd tests/node && npm ci && node make_sas_vectors.js
// The output is deterministic (fixed keys, fixed expiry values, Date.now pinned), so
// regenerating with the same package versions must give a byte-identical file.
//
// Paths exercised (spec: sdk-wire.md §1.3, §2.3, §3; iothub-protocol.md §5):
//   * device tokens from azure-iot-device's SharedAccessKeyAuthenticationProvider (the code path
//     Client.fromConnectionString(..., Mqtt) uses): sr = encodeUriComponentStrict(host +
//     '/devices/' + id [+ '/modules/' + mod]), expiry = floor(now/1000) + 3600;
//   * azure-iot-device's own shared_access_signature.create(host, deviceId, key, expiry);
//   * hub tokens from azure-iothub's Client.fromConnectionString (AMQP CBS put-token path):
//     SharedAccessSignature.create(HostName, policy, key, anHourFromNow()), sr = raw HostName;
//     and azure-iothub's own shared_access_signature.create(host, policy, key, expiry);
//   * plain azure-iot-common SharedAccessSignature.create(resourceUri, keyName, key, expiry).
'use strict';

const fs = require('fs');
const path = require('path');

const common = require('azure-iot-common');
const deviceSas = require('azure-iot-device/dist/shared_access_signature');
const deviceCs = require('azure-iot-device/dist/connection_string');
const { SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');
const hubSas = require('azure-iothub/dist/shared_access_signature');
const hubCommonSas = require('azure-iothub/dist/common-core/shared_access_signature');
const hubCs = require('azure-iothub/dist/connection_string');
const iothub = require('azure-iothub');

const pkgVersion = (name) => require(`${name}/package.json`).version;

// Fixed inputs, written out so the file is reproducible. KEY_A and KEY_C are 32 bytes (what
// Azure generates) and end in one `=`; KEY_B is 43 bytes of ASCII and KEY_D 16 bytes, both
// ending in `==` (connection-string parsers must split each pair at the FIRST `=`).
const KEY_A = 'q0r2FvU3mVtj3m0S8JzSxn2pV8Hz1kq6Jr2yI0nUy7A=';
const KEY_B = 'Zm9vYmFyYmF6cXV4Y29ycmVjdGhvcnNlYmF0dGVyeXN0YXBsZTEyMzQ1Ng==';
const KEY_C = 'hR8j3Kq1Wm9+Zx/4Lc0Tn5Vb7Yp2Qs6Ue8Io1Aa3Df4=';
const KEY_D = 'AAECAwQFBgcICQoLDA0ODw==';
const FIXED_NOW_MS = 1700000000500; // Date.now() while generating (note the .5 s)

// Node's encodeUriComponentStrict with UPPER-case hex everywhere: what the emulator's
// url_encode does. Node's own version escapes `!'()*` as `'%' + charCode.toString(16)`, which
// is lower-case hex, so `*` becomes `%2a` (the others are all digits); every other escape comes
// from encodeURIComponent and is upper-case.
function encodeStrictUpper(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g,
      (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function withFixedNow(fn) {
  const realNow = Date.now;
  Date.now = () => FIXED_NOW_MS;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

function tokenFields(token) {
  const parsed = common.SharedAccessSignature.parse(token, ['sr', 'sig', 'se']);
  return { sr: parsed.sr, sig: parsed.sig, se: Number(parsed.se), skn: parsed.skn || '' };
}

// One vector. `resource_uri` is the decoded resource (what make_sas_token takes); `sr_raw` is
// `sr` as the SDK wrote it. make_sas_token_equal says whether the emulator's make_sas_token
// (which always applies url_encode with upper-case hex) reproduces the token byte for byte.
function vector(name, source, token, key, extra) {
  const f = tokenFields(token);
  const resourceUri = decodeURIComponent(f.sr);
  const keyName = f.skn ? decodeURIComponent(f.skn) : '';
  const makeEqual = encodeStrictUpper(resourceUri) === f.sr &&
      (!f.skn || encodeStrictUpper(keyName) === f.skn);
  return Object.assign({
    name,
    source,
    key,
    key_name: keyName,
    expiry: f.se,
    resource_uri: resourceUri,
    sr_raw: f.sr,
    sig_raw: f.sig,
    token,
    make_sas_token_equal: makeEqual,
  }, extra || {});
}

async function deviceProviderToken(connStr) {
  return withFixedNow(() => {
    const provider = SharedAccessKeyAuthenticationProvider.fromConnectionString(connStr);
    let token;
    // getDeviceCredentials calls back synchronously for key-based providers.
    provider.getDeviceCredentials((err, creds) => {
      if (err) throw err;
      token = creds.sharedAccessSignature;
    });
    provider.stop();
    if (!token) throw new Error('provider did not call back synchronously');
    return token;
  });
}

function hubClientToken(connStr) {
  // Client.fromConnectionString builds the SAS object the AMQP transport extends with
  // anHourFromNow() and sends in the CBS put-token (sdk-wire §2.3). Nothing connects here.
  return withFixedNow(() => {
    const client = iothub.Client.fromConnectionString(connStr);
    const sas = client._transport._config.sharedAccessSignature;
    return sas.extend(common.anHourFromNow());
  });
}

async function main() {
  const sasVectors = [];
  const add = (v) => sasVectors.push(v);

  // --- device tokens through the real device client's authentication provider ---------------
  const deviceConnStrs = [
    ['device_provider_dev1', `HostName=localhost;DeviceId=dev1;SharedAccessKey=${KEY_A}`],
    ['device_provider_special_id', `HostName=localhost;DeviceId=dev 1+x;SharedAccessKey=${KEY_A}`],
    ['device_provider_host_port', `HostName=localhost:15671;DeviceId=dev1;SharedAccessKey=${KEY_B}`],
    ['device_provider_gateway', `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY_C};GatewayHostName=localhost:18883`],
    ['device_provider_module', `HostName=localhost;DeviceId=dev1;ModuleId=mod-A;SharedAccessKey=${KEY_D}`],
    ['device_provider_policy_signed', `HostName=localhost;DeviceId=dev1;SharedAccessKeyName=device;SharedAccessKey=${KEY_B}`],
    ['device_provider_star_id', `HostName=localhost;DeviceId=dev*1(x)!;SharedAccessKey=${KEY_A}`],
  ];
  for (const [name, cs] of deviceConnStrs) {
    const token = await deviceProviderToken(cs);
    const parsed = common.ConnectionString.parse(cs);
    add(vector(name, 'azure-iot-device SharedAccessKeyAuthenticationProvider.getDeviceCredentials',
        token, parsed.SharedAccessKey, { connection_string: cs }));
  }

  // --- azure-iot-device shared_access_signature.create(host, deviceId, key, expiry) ---------
  for (const [name, host, id, key, se] of [
    ['device_create_dev1', 'localhost', 'dev1', KEY_A, 1700003600],
    ['device_create_special_id', 'localhost', 'dev 1+x', KEY_A, 1700003600],
    ['device_create_host_port', 'localhost:15671', 'dev1', KEY_C, 4102444800],
    ['device_create_unicode_id', 'localhost', 'd\u00e9v/\u00fc', KEY_D, 1],
  ]) {
    add(vector(name, 'azure-iot-device shared_access_signature.create',
        deviceSas.create(host, id, key, se).toString(), key));
  }

  // --- hub tokens through the real service client (CBS put-token path) ----------------------
  for (const [name, cs] of [
    ['hub_client_iothubowner', `HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY_A}`],
    ['hub_client_service', `HostName=localhost;SharedAccessKeyName=service;SharedAccessKey=${KEY_B}`],
    ['hub_client_host_port', `HostName=localhost:15671;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY_C}`],
  ]) {
    const parsed = common.ConnectionString.parse(cs);
    add(vector(name, 'azure-iothub Client.fromConnectionString + extend(anHourFromNow())',
        hubClientToken(cs), parsed.SharedAccessKey, { connection_string: cs }));
  }

  // --- azure-iothub shared_access_signature.create(host, policy, key, expiry) ---------------
  for (const [name, host, policy, key, se] of [
    ['hub_create_iothubowner', 'localhost', 'iothubowner', KEY_A, 1700003600],
    ['hub_create_service', 'localhost', 'service', KEY_B, 4102444800],
    ['hub_create_host_port', 'localhost:15671', 'service', KEY_A, 1700003600],
    ['hub_create_ms_expiry', 'localhost', 'registryReadWrite', KEY_D, 1700000000500],
  ]) {
    add(vector(name, 'azure-iothub shared_access_signature.create',
        hubSas.create(host, policy, key, se).toString(), key));
  }

  // --- azure-iot-common SharedAccessSignature.create with pre-encoded resource URIs ----------
  for (const [name, uri, policy, key, se] of [
    ['common_create_devices_scope', encodeStrictUpper('localhost/devices'), 'registryRead', KEY_C, 1700003600],
    ['common_create_feedback_scope', encodeStrictUpper('localhost/messages/servicebound/feedback'), 'service', KEY_A, 1700003600],
    ['common_create_device_scope_policy', common.encodeUriComponentStrict('localhost/devices/dev1'), 'device', KEY_B, 1700003600],
    ['common_create_host_port_encoded', common.encodeUriComponentStrict('localhost:15671'), 'iothubowner', KEY_B, 1700003600],
  ]) {
    add(vector(name, 'azure-iot-common SharedAccessSignature.create',
        common.SharedAccessSignature.create(uri, policy, key, se).toString(), key));
  }

  // azure-iothub ships its own copy of the common core; record whether it produces the same
  // tokens (it does in these versions), so a future version bump that diverges is noticed.
  const sameCopies = sasVectors.every((v) => {
    const again = hubCommonSas.SharedAccessSignature.create(
        v.sr_raw, v.key_name ? v.key_name : null, v.key, v.expiry).toString();
    return again === v.token;
  });
  if (!sameCopies) throw new Error('azure-iothub common-core copy differs from azure-iot-common');

  // --- connection strings as the SDK parsers see them --------------------------------------
  // `sdk` is the dictionary azure-iot-common's parser returns (last duplicate wins, segments
  // without '=' or with an empty value dropped); `device_parse_ok` / `hub_parse_ok` say whether
  // the client-specific parsers (required fields) accept it.
  const tokenForCs = common.SharedAccessSignature.create(
      common.encodeUriComponentStrict('localhost/devices/dev1'), null, KEY_A, 1700003600).toString();
  const connectionStrings = [
    ['hub_iothubowner', `HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY_A}`],
    ['hub_service_port', `HostName=localhost:15671;SharedAccessKeyName=service;SharedAccessKey=${KEY_B}`],
    ['hub_signature', `HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessSignature=${hubSas.create('localhost', 'iothubowner', KEY_A, 1700003600).toString()}`],
    ['device_key', `HostName=localhost;DeviceId=dev1;SharedAccessKey=${KEY_A}`],
    ['device_key_double_pad', `HostName=localhost;DeviceId=dev1;SharedAccessKey=${KEY_D}`],
    ['device_gateway', `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY_C};GatewayHostName=localhost:18883`],
    ['device_module', `HostName=localhost;DeviceId=dev1;ModuleId=mod-A;SharedAccessKey=${KEY_D}`],
    ['device_signature', `HostName=localhost;DeviceId=dev1;SharedAccessSignature=${tokenForCs}`],
    ['device_special_id', `HostName=localhost;DeviceId=dev 1+x;SharedAccessKey=${KEY_A}`],
    ['device_unknown_keys', `HostName=localhost;DeviceId=dev1;SharedAccessKey=${KEY_A};UseProvisioning=false;Foo=bar`],
    ['device_trailing_semicolon', `HostName=localhost;DeviceId=dev1;SharedAccessKey=${KEY_A};`],
    ['device_x509', 'HostName=localhost;DeviceId=dev1;x509=true'],
    ['device_missing_host', `DeviceId=dev1;SharedAccessKey=${KEY_A}`],
    ['device_duplicate_key', `HostName=localhost;DeviceId=dev1;DeviceId=dev2;SharedAccessKey=${KEY_A}`],
  ];
  const tryParse = (fn, cs) => {
    try {
      fn(cs);
      return true;
    } catch (e) {
      return false;
    }
  };
  const csVectors = connectionStrings.map(([name, cs]) => ({
    name,
    text: cs,
    sdk: common.ConnectionString.parse(cs),
    device_parse_ok: tryParse(deviceCs.parse, cs),
    hub_parse_ok: tryParse(hubCs.parse, cs),
  }));

  const out = {
    comment: 'Generated by tests/node/make_sas_vectors.js from the official Azure IoT Node SDK. ' +
        'Do not edit by hand; regenerate with `cd tests/node && npm ci && node make_sas_vectors.js`.',
    packages: Object.fromEntries(['azure-iot-common', 'azure-iot-device', 'azure-iot-device-mqtt',
      'azure-iot-device-amqp', 'azure-iothub'].map((p) => [p, pkgVersion(p)])),
    node: process.version,
    fixed_now_ms: FIXED_NOW_MS,
    sas_tokens: sasVectors,
    connection_strings: csVectors,
  };
  const target = path.join(__dirname, '..', 'fixtures', 'sas_vectors.json');
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${sasVectors.length} tokens and ${csVectors.length} connection strings to ${target}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

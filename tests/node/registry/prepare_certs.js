'use strict';
// CTest fixture setup: start the emulator once with `--data-dir <dir>` so that it creates its
// development CA in <dir>/certs/ca.crt, then stop it. The registry tests run afterwards with
// NODE_EXTRA_CA_CERTS=<dir>/certs/ca.crt, the only way to make the Node `Registry` trust a CA
// (sdk-wire §3), and the emulators they start reuse the same CA.
const { startEmulator } = require('./emulator');

(async () => {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: prepare_certs.js <data-dir>');
  const emu = await startEmulator({ dataDir: dir });
  const code = await emu.stop();
  if (code !== 0) throw new Error(`emulator exited with ${code}`);
  console.log(`CA certificate: ${emu.ready.caCertificate}`);
})().catch((e) => { console.error(e); process.exit(1); });

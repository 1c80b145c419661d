'use strict';
// X.509 material for the identity tests, made with the openssl CLI in a temporary directory
// (as the SDK's own e2e tests make theirs with the `pem` package, which also runs openssl).
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

class CertFactory {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-certs-'));
    this.n = 0;
  }

  file(name) { return path.join(this.dir, name); }

  openssl(...args) {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** A new EC P-256 key; returns its path. */
  key() {
    const k = this.file(`k${++this.n}.key`);
    this.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', k);
    return k;
  }

  /** A self-signed certificate with subject CN `cn`: {cert, key, sha1, sha256} (PEM strings,
   *  upper-case hex thumbprints of the DER, as Azure's x509Thumbprint). `ca`: a CA certificate. */
  selfSigned(cn, { days = 1, ca = false } = {}) {
    const key = this.key();
    const crt = this.file(`c${++this.n}.crt`);
    const args = ['req', '-new', '-x509', '-key', key, '-subj', `/CN=${cn}`, '-days', String(days),
      '-out', crt];
    if (ca) {
      args.push('-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,digitalSignature');
    }
    this.openssl(...args);
    return this.describe(crt, key);
  }

  /** A certificate with subject CN `cn` signed by `issuer` ({cert, key} as returned here). */
  signedBy(issuer, cn, { days = 1 } = {}) {
    const key = this.key();
    const csr = this.file(`r${++this.n}.csr`);
    const crt = this.file(`c${this.n}.crt`);
    this.openssl('req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr);
    const issuerCrt = this.file(`i${this.n}.crt`);
    const issuerKey = this.file(`i${this.n}.key`);
    fs.writeFileSync(issuerCrt, issuer.cert);
    fs.writeFileSync(issuerKey, issuer.key);
    this.openssl('x509', '-req', '-in', csr, '-CA', issuerCrt, '-CAkey', issuerKey,
      '-set_serial', String(1000 + this.n), '-days', String(days), '-out', crt);
    return this.describe(crt, key);
  }

  describe(crtPath, keyPath) {
    const cert = fs.readFileSync(crtPath, 'utf8');
    const der = new crypto.X509Certificate(cert).raw;
    const hex = (alg) => crypto.createHash(alg).update(der).digest('hex').toUpperCase();
    return { cert, key: fs.readFileSync(keyPath, 'utf8'), certPath: crtPath, keyPath,
      sha1: hex('sha1'), sha256: hex('sha256') };
  }

  cleanup() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

module.exports = { CertFactory };

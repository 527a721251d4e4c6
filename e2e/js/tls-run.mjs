// Runs the JS end-to-end suite over TLS: generates a self-signed certificate
// for 127.0.0.1 (openssl, into a temp dir removed afterwards), then runs
// `node --test` on the given files (default: the whole suite) with
// NODE_EXTRA_CA_CERTS, so ws, fetch and centrifuge-js verify the server as they
// would a real one, ROTOR_E2E_TLS_CERT/KEY, which make harness.mjs start every
// server with http_server.tls and hand out https:// and wss:// URLs, and
// ROTOR_E2E_TLS_SPKI, with which browser.mjs makes Chromium trust that key.
//
//   ROTOR_BIN=../../bin/rotor node tls-run.mjs [test files...]
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'rotor-e2e-js-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
let status = 1;
try {
  const gen = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=rotor e2e',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (gen.status !== 0) throw new Error('openssl could not make the test certificate');
  // Chromium (browser tests) trusts the certificate by its key's SPKI hash
  // (browser.mjs passes --ignore-certificate-errors-spki-list).
  const spkiDer = new X509Certificate(readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' });
  const spki = createHash('sha256').update(spkiDer).digest('base64');
  const args = ['--test', ...process.argv.slice(2)];
  const run = spawnSync(process.execPath, args, {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, ROTOR_E2E_TLS_CERT: cert, ROTOR_E2E_TLS_KEY: key, ROTOR_E2E_TLS_SPKI: spki },
  });
  status = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);

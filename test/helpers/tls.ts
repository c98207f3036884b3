// Certificates made at test time with the openssl command: a self-signed one for 127.0.0.1 and localhost,
// which is also the CA a client is given to trust it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate, PEM: what a client trusts as its CA. */
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed certificate and its key in `dir`, as `<name>.crt` and `<name>.key`, valid for a day. An EC key
 * unless `rsa` (the suites with RSA key exchange need an RSA certificate).
 */
export function makeCert(dir: string, name = 'broker', key: 'ec' | 'rsa' = 'ec'): TestCert {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  // An EC key: made in milliseconds, where RSA 2048 takes a good part of a second on a busy machine.
  const newKey = key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  execFileSync('openssl', [
    'req', '-x509', ...newKey, '-nodes',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

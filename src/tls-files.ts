// The PEM files the TLS settings name (EVENTBUS_TLS_CERT, EVENTBUS_TLS_KEY, EVENTBUS_PUSH_CA), read and
// checked once at start-up: a file that is missing, unreadable or not what it should be stops start-up with
// one line naming the setting, rather than failing every handshake later.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { brokerError, type BrokerError } from './errors.js';

/** What a listener serves TLS with. */
export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** EVENTBUS_TLS_CIPHERS: the TLS 1.2 suites offered (checked when the settings were parsed). */
  readonly ciphers: string;
}

export interface TlsFiles {
  /** Undefined when the listeners speak plain text. */
  readonly credentials: TlsCredentials | undefined;
  /** The CAs https:// and wss:// push endpoints are checked against; undefined: Node's default store. */
  readonly pushCa: readonly string[] | undefined;
}

/** A file a TLS setting names that the broker cannot use: a setting it cannot start with. */
export type TlsFileError = BrokerError<'BAD_ARGS'>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function loadTlsFiles(config: Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsCiphers' | 'pushCa'>): Result<TlsFiles, TlsFileError> {
  let credentials: TlsCredentials | undefined;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    const cert = readPem('EVENTBUS_TLS_CERT', config.tlsCert, (pem) => new X509Certificate(pem), 'a PEM certificate');
    if (cert.isErr()) return err(cert.error);
    const key = readPem('EVENTBUS_TLS_KEY', config.tlsKey, (pem) => createPrivateKey(pem), 'an unencrypted PEM private key');
    if (key.isErr()) return err(key.error);
    try {
      tls.createSecureContext({ cert: cert.value, key: key.value });
    } catch (e) {
      return err(brokerError('BAD_ARGS', `EVENTBUS_TLS_KEY: ${config.tlsKey} is not the key of the certificate in ${config.tlsCert} (${(e as Error).message})`, e));
    }
    credentials = { cert: cert.value, key: key.value, ciphers: config.tlsCiphers };
  }
  let pushCa: string[] | undefined;
  if (config.pushCa !== undefined) {
    const file = readPem('EVENTBUS_PUSH_CA', config.pushCa, (pem) => pemCertificates(pem).forEach((c) => new X509Certificate(c)), 'PEM certificates');
    if (file.isErr()) return err(file.error);
    const extra = pemCertificates(file.value);
    if (extra.length === 0) return err(brokerError('BAD_ARGS', `EVENTBUS_PUSH_CA: ${config.pushCa} holds no PEM certificate`));
    // Given a `ca`, Node trusts only it: the public CAs stay trusted beside the ones added.
    pushCa = [...tls.rootCertificates, ...extra];
  }
  return ok({ credentials, pushCa });
}

const pemCertificates = (pem: Buffer): string[] => pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];

/** The file's bytes once `check` accepts them; otherwise one line naming the setting, the file and the fault. */
function readPem(setting: string, path: string, check: (pem: Buffer) => unknown, expected: string): Result<Buffer, TlsFileError> {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    return err(brokerError('BAD_ARGS', `${setting}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e));
  }
  try {
    check(pem);
  } catch (e) {
    return err(brokerError('BAD_ARGS', `${setting}: ${path} is not ${expected} (${(e as Error).message})`, e));
  }
  return ok(pem);
}

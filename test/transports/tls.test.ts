// TLS on every listener (PROTOCOL.md §1, EVENTBUS_TLS_CERT / EVENTBUS_TLS_KEY) with a certificate made at test
// time: both line ports as TLS sockets, HTTPS, wss:// with the TypeScript client (trusted only given the CA),
// curl --cacert, the limits (connections, line timeout, payload) over TLS, handshakes that never finish, a
// plain-text client on a TLS port, and what start-up refuses.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { connect } from '../../src/client/index.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig } from '../helpers/broker.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { until } from '../helpers/until.js';
import { lineClient, type LineClient } from '../helpers/line-client.js';
import { testScope } from '../helpers/scope.js';
import { makeCert, type TestCert } from '../helpers/tls.js';

const scope = testScope();
let cert: TestCert;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-cert-'));
  cert = makeCert(dir);
  return () => rm(dir, { recursive: true, force: true });
});

/** The whole app with TLS on every listener, on a fresh database; `env` adds or overrides settings. */
async function openTlsBus(env: Record<string, string> = {}): Promise<{ app: App; stop: () => Promise<void> }> {
  const db = await tempDir();
  const config = testAppConfig(db, { EVENTBUS_TLS_CERT: cert.certFile, EVENTBUS_TLS_KEY: cert.keyFile, ...env });
  const app = (await startApp(config, silentLogger))._unsafeUnwrap();
  return { app, stop: () => app.stop().finally(() => db.cleanup()) };
}

/** openTlsBus, stopped after the test. */
async function startTlsBus(env: Record<string, string> = {}): Promise<App> {
  const { app, stop } = await openTlsBus(env);
  scope.defer(stop);
  return app;
}

async function tlsLine(port: number): Promise<LineClient> {
  const client = await lineClient(port, { ca: cert.cert });
  scope.defer(() => client.destroy());
  return client;
}

/** A plain TCP connection, kept open until the test ends; `closed` resolves when the broker closes it. */
async function rawSocket(port: number): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  scope.defer(() => socket.destroy());
  const opened = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed };
}

/** GET or POST over HTTPS trusting the test CA: the status and the body's text. */
function httpsRequest(port: number, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', ca: cert.cert, agent: false, headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('a broker with TLS', () => {
  let app: App;
  beforeAll(async () => {
    const bus = await openTlsBus();
    app = bus.app;
    return bus.stop;
  });

  test('answers a TLS line client on the ingress port and on the registration port', async () => {
    const ingress = await tlsLine(app.ports.transport);
    expect(await ingress.send('orders.created:{"id":1}')).toMatch(/^OK \d+$/);
    expect(await ingress.send('bad topic:x')).toMatch(/^ERR BAD_TOPIC /);
    const registration = await tlsLine(app.ports.registration);
    expect(await registration.send('REGISTER audit tcp://127.0.0.1:9 orders.#')).toBe('OK registered audit');
    expect(await registration.send('UNREGISTER audit')).toBe('OK unregistered audit');
  });

  test('a TLS client that sends its lines and closes its side still gets every reply', async () => {
    const client = await tlsLine(app.ports.transport);
    await client.write('a.b:1\na.b:2\n');
    client.socket.end();
    expect(await client.readLines(2)).toEqual([expect.stringMatching(/^OK \d+$/), expect.stringMatching(/^OK \d+$/)]);
    await client.closed();
  });

  test('serves /healthz and the HTTP API over HTTPS', async () => {
    const health = await httpsRequest(app.ports.http, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'ok' });
    const published = await httpsRequest(app.ports.http, '/api/publish', { topic: 'orders.created', payload: 'over https' });
    expect(published.status).toBe(200);
    const { seq } = JSON.parse(published.text) as { seq: number };
    expect(JSON.parse((await httpsRequest(app.ports.http, `/api/messages/${seq}`)).text)).toMatchObject({ seq, payload: 'over https' });
  });

  test('curl --cacert reads /healthz; curl without the CA refuses the certificate', async () => {
    const run = promisify(execFile);
    const url = `https://127.0.0.1:${app.ports.http}/healthz`;
    const { stdout } = await run('curl', ['-sS', '--cacert', cert.certFile, url]);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'ok' });
    await expect(run('curl', ['-sS', url])).rejects.toMatchObject({ stderr: expect.stringMatching(/certificate/i) });
  });

  test('the TypeScript client subscribes and publishes over wss:// given the CA', async () => {
    const client = await connect(`wss://127.0.0.1:${app.ports.http}/ws`, { ca: cert.cert });
    scope.defer(() => client.close());
    const sub = await client.subscribe('tls.#');
    const seq = await client.publish('tls.hello', 'secret');
    expect(await sub.next(5000)).toMatchObject({ seq, topic: 'tls.hello', payload: 'secret' });
  });

  test('without the CA the client fails at once, saying the certificate is not trusted', async () => {
    const started = Date.now();
    await expect(connect(`wss://127.0.0.1:${app.ports.http}/ws`, { maxRetries: 20 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT: .*give its CA as the ca option/),
    });
    expect(Date.now() - started).toBeLessThan(2000); // no reconnect attempts
  });

  test('a plain-text client on a TLS port is closed unanswered, and the port serves TLS clients on', async () => {
    for (const port of [app.ports.transport, app.ports.registration]) {
      const { socket, closed } = await rawSocket(port);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.write('orders.created:plain\r\n\r\n');
      await closed;
      expect(received).not.toMatch(/OK|ERR/);
    }
    const { socket, closed } = await rawSocket(app.ports.http);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    const client = await tlsLine(app.ports.transport);
    expect(await client.send('orders.created:still serving')).toMatch(/^OK \d+$/);
  });
});

describe('limits over TLS', () => {
  test('a handshake that never finishes is cut after the line timeout, on every port', async () => {
    const app = await startTlsBus({ EVENTBUS_LINE_TIMEOUT_MS: '300' });
    const sockets = await Promise.all([app.ports.transport, app.ports.registration, app.ports.http].map(rawSocket));
    // Half a handshake: the first bytes of a ClientHello, then nothing.
    for (const { socket } of sockets) socket.write(Buffer.from([0x16, 0x03, 0x01]));
    for (const { closed } of sockets) expect(await closed).toBeLessThan(3000);
  });

  test('past EVENTBUS_MAX_CONNECTIONS handshakes under way, one more connection is cut at once', async () => {
    const app = await startTlsBus({ EVENTBUS_MAX_CONNECTIONS: '2' });
    for (const port of [app.ports.transport, app.ports.http]) {
      const waiting = [await rawSocket(port), await rawSocket(port)];
      const extra = await rawSocket(port);
      expect(await extra.closed).toBeLessThan(1000);
      let stillOpen = true;
      for (const w of waiting) void w.closed.then(() => (stillOpen = false));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(stillOpen).toBe(true);
    }
  });

  test('one TLS line connection past EVENTBUS_MAX_CONNECTIONS is answered ERR UNAVAILABLE', async () => {
    const app = await startTlsBus({ EVENTBUS_MAX_CONNECTIONS: '1' });
    const first = await tlsLine(app.ports.transport);
    expect(await first.send('a.b:1')).toMatch(/^OK/);
    const second = await tlsLine(app.ports.transport);
    expect(await second.readLine()).toMatch(/^ERR UNAVAILABLE too many connections/);
  });

  test('one HTTPS connection past EVENTBUS_MAX_CONNECTIONS is answered 503', async () => {
    const app = await startTlsBus({ EVENTBUS_MAX_CONNECTIONS: '1' });
    const held = tls.connect({ port: app.ports.http, host: '127.0.0.1', ca: cert.cert });
    scope.defer(() => held.destroy());
    await new Promise((resolve) => held.once('secureConnect', resolve));
    // One request answered on it: the broker has counted it (the client may finish its handshake first).
    held.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => held.once('data', resolve));
    const over = await httpsRequest(app.ports.http, '/healthz');
    expect(over.status).toBe(503);
    expect(JSON.parse(over.text)).toMatchObject({ code: 'UNAVAILABLE' });
  });

  test('a line begun must end within the line timeout, and a long line is refused TOO_LARGE', async () => {
    const app = await startTlsBus({ EVENTBUS_LINE_TIMEOUT_MS: '300', EVENTBUS_MAX_PAYLOAD: '100' });
    const client = await tlsLine(app.ports.transport);
    expect(await client.send(`a.b:${'x'.repeat(2000)}`)).toMatch(/^ERR TOO_LARGE /);
    await client.write('a.b:half a line');
    expect(await client.readLine()).toMatch(/^ERR BAD_FORMAT a line must arrive whole within 300 ms/);
    await client.closed();
  });
});

describe('renegotiation, cipher suites and HSTS, in a broker process', () => {
  // An RSA certificate: the suites without forward secrecy (RSA key exchange) need one to be offered at all.
  let rsa: TestCert;
  let bus: BrokerProcess;
  beforeAll(async () => {
    const dir = await tempDir('sqlite');
    rsa = makeCert(dir.dir, 'rsa', 'rsa');
    bus = await startBrokerProcess({ EVENTBUS_DB: dir.dbPath, EVENTBUS_TLS_CERT: rsa.certFile, EVENTBUS_TLS_KEY: rsa.keyFile });
    return async () => {
      await killIfRunning(bus);
      await dir.cleanup();
    };
  });

  /** A TLS 1.2 line client (renegotiation exists only up to TLS 1.2). */
  async function tls12Line(port: number): Promise<LineClient> {
    const client = await lineClient(port, { ca: rsa.cert, tls: { maxVersion: 'TLSv1.2' } });
    scope.defer(() => client.destroy());
    return client;
  }

  /** The suite a handshake settles on, or `refused`. */
  function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
    return new Promise((resolve) => {
      const socket = tls.connect({ ...options, port, host: '127.0.0.1', ca: rsa.cert });
      socket.once('secureConnect', () => {
        resolve(socket.getCipher().name);
        socket.destroy();
      });
      socket.once('error', () => resolve('refused'));
      socket.once('close', () => resolve('refused')); // settled already when the handshake went through
    });
  }

  test('a client that asks to renegotiate is cut and logged; other connections publish on', async () => {
    const other = await tls12Line(bus.ports.transport);
    const served: [number, string, RegExp][] = [
      [bus.ports.transport, 'reneg.before:1', /^OK \d+$/],
      [bus.ports.registration, 'LIST', /^END$/],
    ];
    for (const [port, line, reply] of served) {
      const client = await tls12Line(port);
      expect(await client.send(line)).toMatch(reply);
      const socket = client.socket;
      if (!(socket instanceof tls.TLSSocket)) throw new Error('a TLS line client has a TLS socket');
      socket.on('error', () => {});
      socket.renegotiate({}, () => {});
      await client.closed(10_000);
    }
    await until('the refused renegotiation logged as a warning', () => bus.logs.some((l) => l.msg === 'TLS renegotiation refused; connection closed' && l.level === 40));
    expect(await other.send('reneg.after:1')).toMatch(/^OK \d+$/);
    const fresh = await tls12Line(bus.ports.transport);
    expect(await fresh.send('reneg.after:2')).toMatch(/^OK \d+$/);
  });

  test('TLS 1.2 offers ECDHE with AEAD only, on every port; TLS 1.3 as before', async () => {
    const suites: [string, string][] = [
      ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
      ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
      ['ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'],
      ['ECDHE-RSA-AES128-SHA', 'refused'], // CBC
      ['ECDHE-RSA-AES128-SHA256', 'refused'], // CBC
      ['AES128-GCM-SHA256', 'refused'], // no forward secrecy
      ['AES128-SHA256', 'refused'],
      ['DHE-RSA-AES128-GCM-SHA256', 'refused'],
    ];
    for (const port of [bus.ports.transport, bus.ports.registration, bus.ports.http]) {
      for (const [ciphers, expected] of suites) expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers }), `${ciphers} on ${port}`).toBe(expected);
      expect(await handshake(port, {})).toMatch(/^TLS_/);
    }
    const client = await lineClient(bus.ports.transport, { ca: rsa.cert, tls: { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' } });
    scope.defer(() => client.destroy());
    expect(await client.send('suites.gcm:1')).toMatch(/^OK \d+$/);
  });

  test('every HTTPS answer carries Strict-Transport-Security', async () => {
    const paths = ['/healthz', '/api/consumers', '/api/nowhere', '/'];
    const answers = await Promise.all(
      paths.map(
        (path) =>
          new Promise<http.IncomingMessage>((resolve, reject) => {
            const request = https.get({ host: '127.0.0.1', port: bus.ports.http, path, ca: rsa.cert, agent: false }, (response) => {
              response.resume();
              resolve(response);
            });
            request.on('error', reject);
          }),
      ),
    );
    for (const [i, response] of answers.entries()) expect(response.headers['strict-transport-security'], paths[i]).toBe('max-age=31536000');
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 404, 200]);
  });

  test('EVENTBUS_TLS_CIPHERS widens the suites for clients that need more', async () => {
    const dir = await scope.dir();
    const wide = await startBrokerProcess({
      EVENTBUS_DB: dir.dbPath,
      EVENTBUS_TLS_CERT: rsa.certFile,
      EVENTBUS_TLS_KEY: rsa.keyFile,
      EVENTBUS_TLS_CIPHERS: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256',
    });
    scope.defer(() => killIfRunning(wide));
    for (const port of [wide.ports.transport, wide.ports.http]) {
      expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA' })).toBe('ECDHE-RSA-AES128-SHA');
      expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' })).toBe('AES128-GCM-SHA256');
      expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' })).toBe('refused');
    }
  });
});

describe('start-up', () => {
  /** startApp's failure with these settings over a fresh database. */
  async function startFailure(env: Record<string, string>): Promise<{ code?: string; message: string }> {
    const db = await scope.dir();
    const started = await startApp(testAppConfig(db, env), silentLogger);
    if (started.isOk()) {
      scope.defer(() => started.value.stop());
      throw new Error('the broker started');
    }
    return started.error;
  }

  test('a certificate or key that is missing, not PEM or not a pair stops start-up with one line naming the setting', async () => {
    const dir = (await scope.dir()).dir;
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const other = makeCert(dir, 'other');
    const cases: [Record<string, string>, string][] = [
      [{ EVENTBUS_TLS_CERT: join(dir, 'missing.crt'), EVENTBUS_TLS_KEY: cert.keyFile }, `EVENTBUS_TLS_CERT: cannot read ${join(dir, 'missing.crt')} (ENOENT)`],
      [{ EVENTBUS_TLS_CERT: garbage, EVENTBUS_TLS_KEY: cert.keyFile }, `EVENTBUS_TLS_CERT: ${garbage} is not a PEM certificate (`],
      [{ EVENTBUS_TLS_CERT: cert.certFile, EVENTBUS_TLS_KEY: cert.certFile }, `EVENTBUS_TLS_KEY: ${cert.certFile} is not an unencrypted PEM private key (`],
      [{ EVENTBUS_TLS_CERT: cert.certFile, EVENTBUS_TLS_KEY: other.keyFile }, `EVENTBUS_TLS_KEY: ${other.keyFile} is not the key of the certificate in ${cert.certFile} (`],
      [{ EVENTBUS_PUSH_CA: garbage }, `EVENTBUS_PUSH_CA: ${garbage} holds no PEM certificate`],
      [{ EVENTBUS_PUSH_CA: dir }, `EVENTBUS_PUSH_CA: cannot read ${dir} (EISDIR)`],
    ];
    for (const [env, line] of cases) {
      const failure = await startFailure(env);
      expect(failure.code).toBe('BAD_ARGS');
      expect(failure.message.startsWith(line), `${failure.message} starts with ${line}`).toBe(true);
      expect(failure.message).not.toContain('\n');
    }
  });
});

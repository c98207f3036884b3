// https:// and wss:// push: the broker delivers to endpoints that speak TLS with a certificate of the test's
// own, trusted through EVENTBUS_PUSH_CA; without it the certificate is refused, and each refused attempt is a
// delivery_failures row naming why. The whole app on a temp database; each endpoint a real server.
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { WebSocketServer } from 'ws';
import { pushBus } from '../helpers/consumers.js';
import { query, testScope } from '../helpers/scope.js';
import { makeCert, type TestCert } from '../helpers/tls.js';
import { until } from '../helpers/until.js';

const scope = testScope();
let cert: TestCert;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-cert-'));
  cert = makeCert(dir, 'endpoint');
  return () => rm(dir, { recursive: true, force: true });
});

/** An HTTPS server (for https:// push, and for wss:// once a WebSocket server is on it), recording payloads. */
async function tlsEndpoint(kind: 'https' | 'wss'): Promise<{ url: string; payloads: string[] }> {
  const payloads: string[] = [];
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      payloads.push((JSON.parse(body) as { payload: string }).payload);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  );
  if (kind === 'wss') {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data) => payloads.push((JSON.parse((data as Buffer).toString('utf8')) as { payload: string }).payload)));
    // Before the server closes (deferred steps run last first): its upgraded sockets are not its to close.
    scope.defer(() => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    });
  }
  return { url: `${kind}://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, payloads };
}

describe.each(['https', 'wss'] as const)('%s push', (kind) => {
  test('delivers to an endpoint whose certificate EVENTBUS_PUSH_CA trusts, in order', async () => {
    const bus = await pushBus(scope, { EVENTBUS_PUSH_CA: cert.certFile });
    const ep = await tlsEndpoint(kind);
    await bus.register('secure', ep.url, 'orders.#');
    await bus.publish('orders.created', ['one', 'two', 'three']);
    await until(() => `three payloads (have ${JSON.stringify(ep.payloads)})`, () => ep.payloads.length >= 3);
    expect(ep.payloads).toEqual(['one', 'two', 'three']);
    expect(await bus.list()).toEqual([expect.stringMatching(new RegExp(`^secure ${kind}://127\\.0\\.0\\.1:\\d+/hook orders\\.# connected `))]);
  });

  test('refuses a certificate nothing trusts, and records why', async () => {
    const bus = await pushBus(scope, { EVENTBUS_ACK_TIMEOUT_MS: '400' });
    const ep = await tlsEndpoint(kind);
    await bus.register('untrusted', ep.url, 'orders.#');
    await bus.publish('orders.created', ['secret']);
    const failures = await until('a delivery failure', () => {
      const rows = query<{ error: string }>(bus.db, 'SELECT error FROM delivery_failures WHERE consumer = ?', 'untrusted');
      return rows.length > 0 && rows;
    });
    expect(failures[0]!.error).toMatch(/self-signed certificate/);
    expect(ep.payloads).toEqual([]);
  });
});

// Connection floods, slow clients and wrong tokens, on every port of a running app, each while a
// well-behaved client publishes beside them: EVENTBUS_MAX_CONNECTIONS holds (one more is refused with
// UNAVAILABLE, and a new client is served once the flood is gone), a line or HTTP headers dripped a byte at a
// time are cut after EVENTBUS_LINE_TIMEOUT_MS, an idle telnet connection after EVENTBUS_IDLE_TIMEOUT_MS, and
// refused authentications are logged with the peer's address, never the token, at most a line a second.
import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startTestApp } from '../helpers/app.js';
import { lineClient, type LineClient } from '../helpers/line-client.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();
const MAX = 20;
const LINE_TIMEOUT_MS = 800;
const IDLE_TIMEOUT_MS = 1500;
const LIMITS = { EVENTBUS_MAX_CONNECTIONS: String(MAX), EVENTBUS_LINE_TIMEOUT_MS: String(LINE_TIMEOUT_MS), EVENTBUS_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS) };

/** Publishes on an open telnet connection every 50 ms until stopped; the slowest answer, in ms. */
function steadyPublisher(c: LineClient, topic: string): { stop(): Promise<{ answered: number; slowest: number }> } {
  let stopped = false;
  let answered = 0;
  let slowest = 0;
  const run = (async () => {
    while (!stopped) {
      const t = performance.now();
      expect(await c.send(`${topic}:${answered}`, 5000)).toMatch(/^OK \d+$/);
      slowest = Math.max(slowest, performance.now() - t);
      answered++;
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await run;
      return { answered, slowest };
    },
  };
}

/** A raw socket that records whether and when the server closed it, and what it said. */
async function rawSocket(port: number): Promise<{ socket: net.Socket; text: () => string; closedAt: Promise<number> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  scope.defer(() => socket.destroy());
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  return { socket, text: () => text, closedAt };
}

describe('connection floods', () => {
  test.each(['transport', 'registration'] as const)('the %s port serves EVENTBUS_MAX_CONNECTIONS, refuses more, and serves again once they are gone', async (port) => {
    const { app } = await startTestApp(scope, LIMITS);
    const good = await lineClient(app.ports.transport);
    scope.defer(() => good.destroy());
    const publisher = steadyPublisher(good, 'flood.good');
    const flood = await Promise.all(Array.from({ length: MAX * 4 }, () => rawSocket(app.ports[port])));
    // Everyone past the limit (the good client holds a place on the transport port) is told and let go.
    await until('the refused connections to be closed', () => flood.filter((f) => f.socket.closed).length >= MAX * 3 - (port === 'transport' ? -1 : 0));
    const refused = flood.filter((f) => f.socket.closed);
    for (const f of refused) expect(f.text()).toMatch(/^ERR UNAVAILABLE too many connections/);
    await sleep(500); // the good client goes on publishing beside the connections that were let in
    for (const f of flood) f.socket.destroy();
    const { answered, slowest } = await publisher.stop();
    expect(answered).toBeGreaterThan(3);
    expect(slowest).toBeLessThan(1000);
    // The flood gone, a new client is served.
    await until('the flood to be let go', async () => {
      const c = await lineClient(app.ports[port]);
      try {
        return (await c.send(port === 'transport' ? 'after.flood:1' : 'LIST', 2000)).startsWith('ERR UNAVAILABLE') ? undefined : true;
      } finally {
        c.destroy();
      }
    });
  });

  test('the HTTP port: plain connections over the limit get 503 UNAVAILABLE; WebSocket sessions are counted apart and keep working', async () => {
    const { app } = await startTestApp(scope, LIMITS);
    const ws = await wsConnect(app.ports.http);
    scope.defer(() => ws.close());
    const idle = await Promise.all(Array.from({ length: MAX * 2 }, () => rawSocket(app.ports.http)));
    await until('the first idle connections to be counted', async () => (await fetch(`http://127.0.0.1:${app.ports.http}/healthz`)).status === 503);
    const answer = await fetch(`http://127.0.0.1:${app.ports.http}/healthz`);
    expect(await answer.json()).toMatchObject({ code: 'UNAVAILABLE' });
    expect((await ws.publish({ topic: 'flood.ws', payload: 'still here' })).seq).toBeGreaterThan(0);
    for (const s of idle) s.socket.destroy();
    await until('HTTP to serve again', async () => (await fetch(`http://127.0.0.1:${app.ports.http}/healthz`)).status === 200);
  });
});

describe('slow clients', () => {
  test.each(['transport', 'registration'] as const)('the %s port: a line dripped a byte at a time is cut after the line timeout; an idle connection after the idle timeout', async (port) => {
    const { app } = await startTestApp(scope, LIMITS);
    const good = await lineClient(app.ports.transport);
    scope.defer(() => good.destroy());
    const publisher = steadyPublisher(good, 'slow.good');
    const drip = await rawSocket(app.ports[port]);
    const idle = await rawSocket(app.ports[port]);
    const started = performance.now();
    const dripping = setInterval(() => drip.socket.write('x'), 100);
    const dripClosed = await drip.closedAt;
    clearInterval(dripping);
    expect(dripClosed - started).toBeGreaterThanOrEqual(LINE_TIMEOUT_MS - 50);
    expect(dripClosed - started).toBeLessThan(LINE_TIMEOUT_MS + 1500);
    expect(drip.text()).toMatch(/^ERR BAD_FORMAT a line must arrive whole within 800 ms/);
    const idleClosed = await idle.closedAt;
    expect(idleClosed - started).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 50);
    expect(idle.text()).toMatch(/^ERR UNAVAILABLE closing a connection idle for 1500 ms/);
    // The good client, which publishes every 50 ms, is never idle and never cut.
    const { answered, slowest } = await publisher.stop();
    expect(good.isClosed).toBe(false);
    expect(answered).toBeGreaterThan(10);
    expect(slowest).toBeLessThan(1000);
  });

  test('HTTP: headers dripped a byte at a time are cut after the line timeout', async () => {
    const { app } = await startTestApp(scope, LIMITS);
    const drip = await rawSocket(app.ports.http);
    const started = performance.now();
    const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(100);
    let i = 0;
    const dripping = setInterval(() => {
      if (i < request.length) drip.socket.write(request[i++]!);
    }, 50);
    const closed = await drip.closedAt;
    clearInterval(dripping);
    expect(closed - started).toBeLessThan(LINE_TIMEOUT_MS + 2000);
    expect(drip.text()).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('authentication', () => {
  test('a wrong token is refused on every front-end, logged with the peer address and never the token, at most a line a second; before AUTH the line timeout applies', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const { app } = await startTestApp(scope, { ...LIMITS, EVENTBUS_TOKEN: 'right-token' }, { logger: createLogger('info', sink) });
    const started = performance.now();
    for (let i = 0; i < 30; i++) {
      const c = await lineClient(app.ports.transport);
      expect(await c.send('AUTH wrong-token-123')).toMatch(/^ERR UNAUTHORIZED/);
      c.destroy();
    }
    const registration = await lineClient(app.ports.registration);
    expect(await registration.send('AUTH nope')).toMatch(/^ERR UNAUTHORIZED/);
    expect((await fetch(`http://127.0.0.1:${app.ports.http}/healthz?token=wrong-token-123`)).status).toBe(401);
    await expect(wsConnect(app.ports.http, { headers: { authorization: 'Bearer wrong-token-123' } }).then((c) => c.closed())).resolves.toMatchObject({ code: 1008 });
    const seconds = (performance.now() - started) / 1000;
    // A second later, the next refusal's line counts those not logged.
    await sleep(1100);
    const late = await lineClient(app.ports.transport);
    expect(await late.send('AUTH wrong-token-123')).toMatch(/^ERR UNAUTHORIZED/);
    late.destroy();
    const good = await lineClient(app.ports.transport);
    expect(await good.send('AUTH right-token')).toBe('OK');
    good.destroy();
    // Not authenticated within the line timeout: let go.
    const silent = await rawSocket(app.ports.transport);
    await silent.closedAt;
    expect(silent.text()).toMatch(/^ERR UNAUTHORIZED send AUTH <token> within 800 ms/);

    // 34 refusals: at most a line for each second they took (per front-end), the others counted in the next line.
    const refusals = lines.filter((l) => l['msg'] === 'authentication refused');
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(3 * (Math.ceil(seconds) + 1) + 1);
    expect(refusals.length).toBeLessThan(20);
    expect(refusals.some((l) => typeof l['more_since_last'] === 'number' && l['more_since_last'] > 10)).toBe(true);
    expect(refusals[0]).toMatchObject({ peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown });
    expect(JSON.stringify(lines)).not.toContain('wrong-token-123');
    expect(JSON.stringify(lines)).not.toContain('right-token');
  });

  test.each([
    ['0.0.0.0', undefined, true],
    ['0.0.0.0', 'a-token', false],
    ['127.0.0.1', undefined, false],
  ] as const)('bound to %s with token %s: a warning at start-up is %s', async (host, token, warned) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    await startTestApp(scope, { ...LIMITS, EVENTBUS_HOST: host, ...(token === undefined ? {} : { EVENTBUS_TOKEN: token }) }, { logger: createLogger('info', sink) });
    expect(lines.some((l) => l.includes('listening beyond this machine with no token to check'))).toBe(warned);
  });
});

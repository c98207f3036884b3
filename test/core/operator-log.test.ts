// What an operator does to consumers is logged by the broker, one line each, once done, whichever front-end it
// came through (registration lines, the HTTP API): adding and removing a consumer, pausing, resuming, replaying,
// requeueing and purging its dead letters. A broker process, its JSON log lines read as they come.
import { afterEach, expect, test } from 'vitest';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { lineClient } from '../helpers/line-client.js';
import { until } from '../helpers/until.js';

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
afterEach(async () => {
  await killIfRunning(bus);
  await dir?.cleanup();
  bus = undefined;
  dir = undefined;
});

const ACTIONS = new Set(['consumer saved', 'consumer removed', 'consumer paused', 'consumer resumed', 'consumer replayed', 'dead letters requeued', 'dead letters purged']);

test('each operator action on a consumer is one log line naming it, over the line port and the HTTP API alike', async () => {
  dir = await tempDir();
  bus = await startBrokerProcess(dir.env);
  const base = `http://127.0.0.1:${bus.ports.http}`;
  const call = async (method: string, path: string, body?: unknown): Promise<number> =>
    (await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })).status;
  const registration = await lineClient(bus.ports.registration);
  expect(await registration.send('REGISTER hook udp://127.0.0.1:9 alerts.*')).toBe('OK registered hook');
  expect(await call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] })).toBe(200);
  expect(await call('POST', '/api/consumers/billing/pause')).toBe(200);
  expect(await call('POST', '/api/consumers/billing/resume')).toBe(200);
  expect(await registration.send('PAUSE hook')).toBe('OK paused hook');
  expect(await call('POST', '/api/consumers/billing/replay', { from_seq: 1 })).toBe(200);
  expect(await registration.send('REPLAY hook 1')).toBe('OK replaying hook from 1');
  expect(await call('POST', '/api/consumers/billing/dead-letters/requeue', {})).toBe(200);
  expect(await call('DELETE', '/api/consumers/billing/dead-letters', {})).toBe(200);
  expect(await call('DELETE', '/api/consumers/billing')).toBe(200);
  expect(await registration.send('UNREGISTER hook')).toBe('OK unregistered hook');
  registration.destroy();
  // A refused action changes nothing and is no such line.
  expect(await call('POST', '/api/consumers/nobody/pause')).toBe(404);

  const logged = () => bus!.logs.filter((l) => ACTIONS.has(l.msg)).map((l) => ({ msg: l.msg, consumer: l['consumer'] }));
  await until('the last action logged', () => logged().length >= 11);
  expect(logged()).toEqual([
    { msg: 'consumer saved', consumer: 'hook' },
    { msg: 'consumer saved', consumer: 'billing' },
    { msg: 'consumer paused', consumer: 'billing' },
    { msg: 'consumer resumed', consumer: 'billing' },
    { msg: 'consumer paused', consumer: 'hook' },
    { msg: 'consumer replayed', consumer: 'billing' },
    { msg: 'consumer replayed', consumer: 'hook' },
    { msg: 'dead letters requeued', consumer: 'billing' },
    { msg: 'dead letters purged', consumer: 'billing' },
    { msg: 'consumer removed', consumer: 'billing' },
    { msg: 'consumer removed', consumer: 'hook' },
  ]);
  expect(bus.logs.find((l) => l.msg === 'consumer saved' && l['consumer'] === 'hook')).toMatchObject({ address: 'udp://127.0.0.1:9', patterns: 'alerts.*' });
  expect(bus.logs.find((l) => l.msg === 'consumer replayed' && l['consumer'] === 'billing')).toMatchObject({ from_seq: 1 });
});

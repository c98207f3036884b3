// The delivery pool: one push consumer per registered address, kept in step by sync(),
// and forwardTo / forwardToMany / forwardToAll sending one message straight to endpoints, with a result per
// target. A real broker on a temp database, real tcp endpoints on 127.0.0.1.
import { describe, expect, test } from 'vitest';
import { pushHost } from '../../src/app.js';
import { DEFAULT_BACKOFF } from '../../src/delivery/backoff.js';
import type { StoredMessage } from '../../src/core/types.js';
import { DeliveryPool } from '../../src/delivery/pool.js';
import { silentLogger } from '../../src/logger.js';
import { deadAddress, startEndpoint, type Endpoint } from '../helpers/consumers.js';
import { sleep, testScope } from '../helpers/scope.js';

const scope = testScope();

const message: StoredMessage = { seq: 0, topic: 'direct', payload: 'hello, all', messageId: null, metadata: '{}', ttlSeconds: 0, orderingKey: null, createdAt: 0 };

async function endpoint(): Promise<Endpoint> {
  const ep = await startEndpoint('tcp');
  scope.defer(() => ep.stop());
  return ep;
}

async function poolWith(consumers: Record<string, string>): Promise<DeliveryPool> {
  const { broker } = await scope.start();
  const pool = new DeliveryPool(
    pushHost(broker, silentLogger),
    { timeouts: { connectTimeoutMs: 1000, sendTimeoutMs: 1000 }, backoff: DEFAULT_BACKOFF, now: Date.now, failureLogIntervalMs: 60_000, nodeId: 'test-node' },
    silentLogger,
  );
  scope.defer(() => pool.stop());
  for (const [id, address] of Object.entries(consumers)) {
    (await broker.saveConsumer({ id, address, patterns: ['direct'] }))._unsafeUnwrap();
    await pool.sync(id, address);
  }
  // Connection-based consumers connect in the background.
  for (let i = 0; i < 100 && Object.keys(consumers).some((id) => pool.state(id) === 'offline' && !id.startsWith('dead')); i++) await sleep(10);
  return pool;
}

describe('forwarding one message straight to endpoints', () => {
  test('forwardToAll sends to every consumer and answers per target, failures included', async () => {
    const a = await endpoint();
    const b = await endpoint();
    const pool = await poolWith({ a: a.url, b: b.url, dead: await deadAddress('tcp') });
    const results = await pool.forwardToAll(message);
    expect([...results.keys()].sort()).toEqual(['a', 'b', 'dead']);
    expect(results.get('a')!.isOk()).toBe(true);
    expect(results.get('b')!.isOk()).toBe(true);
    expect(results.get('dead')!.isErr()).toBe(true);
    await a.waitFor(1);
    await b.waitFor(1);
    expect(a.payloads()).toEqual(['hello, all']);
    expect(b.payloads()).toEqual(['hello, all']);
  });

  test('forwardTo and forwardToMany reach only the named consumers; an unknown one is an error, not a throw', async () => {
    const a = await endpoint();
    const b = await endpoint();
    const c = await endpoint();
    const pool = await poolWith({ a: a.url, b: b.url, c: c.url });
    expect((await pool.forwardTo('b', { ...message, payload: 'just b' })).isOk()).toBe(true);
    const many = await pool.forwardToMany(['a', 'c', 'nobody'], { ...message, payload: 'a and c' });
    expect(many.get('a')!.isOk()).toBe(true);
    expect(many.get('c')!.isOk()).toBe(true);
    expect(many.get('nobody')!._unsafeUnwrapErr().reason).toMatch(/no push consumer nobody/);
    await a.waitFor(1);
    await b.waitFor(1);
    await c.waitFor(1);
    await sleep(50);
    expect([a.payloads(), b.payloads(), c.payloads()]).toEqual([['a and c'], ['just b'], ['a and c']]);
  });

  test('sync replaces a consumer whose address changed and stops one whose address is gone', async () => {
    const first = await endpoint();
    const second = await endpoint();
    const pool = await poolWith({ moving: first.url });
    await pool.sync('moving', second.url);
    for (let i = 0; i < 100 && pool.state('moving') !== 'connected'; i++) await sleep(10);
    expect((await pool.forwardTo('moving', message)).isOk()).toBe(true);
    await second.waitFor(1);
    expect(first.payloads()).toEqual([]);
    await pool.sync('moving', null);
    expect(pool.state('moving')).toBeUndefined();
    expect((await pool.forwardTo('moving', message)).isErr()).toBe(true);
  });
});

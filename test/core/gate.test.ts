// The core's Gate (PROTOCOL.md §12) over a real store and a clock the test moves: publish_rate as a budget that
// refills continuously with at most a second saved up, the connections it follows told when their credential
// is narrowed or revoked (and not when it is unchanged), last_used_at written, and every refusal audited.
import { describe, expect, test } from 'vitest';
import { Access } from '../../src/core/access.js';
import { Audit } from '../../src/core/audit.js';
import { Gate, type CredentialChange } from '../../src/core/gate.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { testScope } from '../helpers/scope.js';

const scope = testScope();
const caller = { front: 'test', peer: '127.0.0.1:1' };

async function gate(): Promise<{ gate: Gate; access: Access; store: SqliteStore; clock: { now: number } }> {
  const { dbPath } = await scope.dir();
  const store = (await SqliteStore.open({ path: dbPath, sync: 'normal', logger: silentLogger }))._unsafeUnwrap();
  scope.defer(() => store.close());
  const clock = { now: 1_000_000 };
  const now = (): number => clock.now;
  const access = new Access(store.credentials, 'admin-token', now);
  (await access.load())._unsafeUnwrap();
  const g = new Gate(access, new Audit({ store: store.credentials, maxAgeMs: undefined, now, logger: silentLogger }), now, silentLogger);
  scope.defer(() => g.close());
  return { gate: g, access, store, clock };
}

describe('gate', () => {
  test('publish_rate: a second of publishes at once, then as the budget refills, never more than a second saved up', async () => {
    const { gate: g, access, clock } = await gate();
    const { token } = (await access.create('slow', { publish: ['#'], publishRate: 10 }))._unsafeUnwrap();
    const p = g.enter(token, caller)._unsafeUnwrap();
    const publishes = (n: number): string[] => Array.from({ length: n }, () => 't');
    expect(p.publish(publishes(10)).isOk()).toBe(true);
    expect(p.publish(['t'])._unsafeUnwrapErr()).toMatchObject({ code: 'RATE_LIMITED', message: 'publish: credential slow is over its publish_rate of 10 a second' });
    clock.now += 100; // one more
    expect(p.publish(['t']).isOk()).toBe(true);
    expect(p.publish(['t']).isErr()).toBe(true);
    clock.now += 60_000; // an idle minute saves up a second's worth, no more
    expect(p.publish(publishes(10)).isOk()).toBe(true);
    expect(p.publish(['t']).isErr()).toBe(true);
    expect(p.publish(publishes(11))._unsafeUnwrapErr().message).toBe('publish: credential slow 11 messages at once are more than its publish_rate of 10 a second');
    // Refused for its topic before its rate is spent.
    const narrow = (await access.create('narrow', { publish: ['a'], publishRate: 1 }))._unsafeUnwrap();
    const q = g.enter(narrow.token, caller)._unsafeUnwrap();
    expect(q.publish(['b'])._unsafeUnwrapErr().code).toBe('FORBIDDEN');
    expect(q.publish(['a']).isOk()).toBe(true);
  });

  test('followed connections hear of a narrowing or a revocation, and nothing of an unrelated change', async () => {
    const { gate: g, access } = await gate();
    const { token } = (await access.create('orders', { subscribe: ['orders.#'] }))._unsafeUnwrap();
    const p = g.enter(token, caller)._unsafeUnwrap();
    const heard: CredentialChange[] = [];
    const unwatch = g.watch(p, (change) => heard.push(change));
    (await access.create('other', { monitor: true }))._unsafeUnwrap();
    (await access.update('other', { admin: true }))._unsafeUnwrap();
    expect(heard).toEqual([]);
    expect(p.read('orders.eu.*').isOk()).toBe(true);
    (await access.update('orders', { subscribe: ['orders.us.#'] }))._unsafeUnwrap();
    expect(heard).toEqual(['changed']);
    expect(p.read('orders.eu.*')._unsafeUnwrapErr().code).toBe('FORBIDDEN');
    (await access.rotate('orders'))._unsafeUnwrap();
    expect(heard).toEqual(['changed', 'revoked']);
    unwatch();
    // The admin token's connections are never revoked by a stored credential's change.
    const admin = g.enter('admin-token', caller)._unsafeUnwrap();
    g.watch(admin, (change) => heard.push(change));
    (await access.remove('other'))._unsafeUnwrap();
    expect(heard).toEqual(['changed', 'revoked']);
  });

  test('refusals and unknown tokens go to the audit log; a credential let in has last_used_at written', async () => {
    const { gate: g, access, store, clock } = await gate();
    const { token } = (await access.create('orders', { publish: ['orders.#'] }))._unsafeUnwrap();
    expect(g.enter('nope', caller)._unsafeUnwrapErr()).toMatchObject({ code: 'UNAUTHORIZED', message: 'not a valid token' });
    expect(g.enter(undefined, caller)._unsafeUnwrapErr().message).toBe('a token is needed');
    const p = g.enter(token, caller)._unsafeUnwrap();
    expect(p.publish(['payments.x'], 'ws publish')._unsafeUnwrapErr().message).toBe('ws publish: credential orders may not publish to payments.x');
    expect(p.monitor('GET /api/stats').isErr()).toBe(true);
    expect(p.mayAdminister('PAUSE', 'billing').isErr()).toBe(true);
    // A topic that is not one is left for the broker to refuse as BAD_TOPIC.
    expect(p.publish(['bad..topic']).isOk()).toBe(true);
    await g.close();
    const entries = (await store.credentials.auditPage(0, 0, 100))._unsafeUnwrap();
    expect(entries.map((e) => [e.credential, e.action, e.target, e.outcome])).toEqual([
      [null, 'test authenticate', null, 'UNAUTHORIZED no such token'],
      [null, 'test authenticate', null, 'UNAUTHORIZED no such token'],
      ['orders', 'test ws publish', 'payments.x', 'FORBIDDEN may not publish to payments.x'],
      ['orders', 'test GET /api/stats', null, 'FORBIDDEN may not monitor the broker'],
      ['orders', 'test PAUSE', 'billing', 'FORBIDDEN is not an admin'],
    ]);
    expect(entries.every((e) => e.peer === caller.peer && e.at === clock.now)).toBe(true);
    const [stored] = (await store.credentials.list())._unsafeUnwrap();
    expect(stored!.lastUsedAt).toBe(clock.now);
  });
});

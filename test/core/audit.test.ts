// The audit log's writer (PROTOCOL.md §12) over a real store: entries written together within a moment, in
// order; a flood beyond what may wait in memory counted and said, never grown without bound; pruned by age.
import { describe, expect, test } from 'vitest';
import { Audit } from '../../src/core/audit.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

async function openStore(): Promise<SqliteStore> {
  const { dbPath } = await scope.dir();
  const store = (await SqliteStore.open({ path: dbPath, sync: 'normal', logger: silentLogger }))._unsafeUnwrap();
  scope.defer(() => store.close());
  return store;
}

const entry = (i: number) => ({ credential: 'svc', peer: '127.0.0.1:9', action: 'ws subscribe', target: `orders.${i}`, outcome: 'FORBIDDEN' });

describe('the audit log', () => {
  test('entries are written in order, together, shortly after they are recorded; close writes what waits', async () => {
    const store = await openStore();
    const audit = new Audit({ store: store.credentials, maxAgeMs: undefined, now: Date.now, logger: silentLogger });
    for (let i = 0; i < 3; i++) audit.record(entry(i));
    await until('written', async () => (await store.credentials.auditPage(0, 0, 10))._unsafeUnwrap().length === 3);
    audit.record(entry(3));
    await audit.close();
    const rows = (await store.credentials.auditPage(0, 0, 10))._unsafeUnwrap();
    expect(rows.map((r) => r.target)).toEqual(['orders.0', 'orders.1', 'orders.2', 'orders.3']);
    expect(rows[0]).toMatchObject({ credential: 'svc', peer: '127.0.0.1:9', action: 'ws subscribe', outcome: 'FORBIDDEN' });
  });

  test("what a client sent is kept as both stores can hold it: U+0000 as U+FFFD, a huge field cut", async () => {
    const store = await openStore();
    const audit = new Audit({ store: store.credentials, maxAgeMs: undefined, now: Date.now, logger: silentLogger });
    audit.record({ credential: null, peer: '127.0.0.1:9', action: 'http GET /a\0b', target: 'x'.repeat(10_000), outcome: 'UNAUTHORIZED' });
    await audit.close();
    const [row] = (await store.credentials.auditPage(0, 0, 10))._unsafeUnwrap();
    expect(row!.action).toBe('http GET /a\uFFFDb');
    expect(row!.target).toBe(`${'x'.repeat(500)}…`);
  });

  test('a flood beyond what may wait keeps the newest and says how many it dropped', async () => {
    const store = await openStore();
    const audit = new Audit({ store: store.credentials, maxAgeMs: undefined, now: Date.now, logger: silentLogger });
    for (let i = 0; i < 10_005; i++) audit.record(entry(i));
    await audit.close();
    const rows = [];
    for (let after = 0; ; ) {
      const page = (await store.credentials.auditPage(0, after, 5000))._unsafeUnwrap();
      if (page.length === 0) break;
      rows.push(...page);
      after = page.at(-1)!.id;
    }
    expect(rows).toHaveLength(10_001);
    expect(rows[0]!.target).toBe('orders.5');
    expect(rows.at(-1)).toMatchObject({ action: 'audit', outcome: '5 entries dropped: more came than could be written' });
  });

  test('pruned by age, the oldest first', async () => {
    const store = await openStore();
    let clock = 1_000_000;
    const audit = new Audit({ store: store.credentials, maxAgeMs: 60_000, now: () => clock, logger: silentLogger });
    audit.record(entry(0));
    clock += 30_000;
    audit.record(entry(1));
    await audit.flush();
    clock += 40_000;
    await audit.prune();
    expect((await store.credentials.auditPage(0, 0, 10))._unsafeUnwrap().map((r) => r.target)).toEqual(['orders.1']);
    await audit.close();
  });
});

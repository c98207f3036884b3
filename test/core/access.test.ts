// Who may do what (PROTOCOL.md §12) over a real store: nothing checked without EVENTBUS_TOKEN or a stored
// credential; EVENTBUS_TOKEN the admin; credentials made with a token shown once and kept as a hash, changed,
// rotated (the old token stops working) and removed; a second broker's view read again from the store.
import { describe, expect, test } from 'vitest';
import { Access } from '../../src/core/access.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sqliteFile } from '../helpers/broker.js';
import { query, testScope } from '../helpers/scope.js';

const scope = testScope();

async function store(): Promise<{ store: SqliteStore; dbPath: string }> {
  const { dbPath } = await scope.dir();
  const opened = (await SqliteStore.open({ path: dbPath, sync: 'normal', logger: silentLogger }))._unsafeUnwrap();
  scope.defer(() => opened.close());
  return { store: opened, dbPath };
}

describe('access', () => {
  test('without EVENTBUS_TOKEN and credentials anyone may do anything; with EVENTBUS_TOKEN only its holder, as admin', async () => {
    const { store: s } = await store();
    const open = new Access(s.credentials, undefined, Date.now);
    (await open.load())._unsafeUnwrap();
    expect(open.enabled).toBe(false);
    expect(open.grantFor(undefined)?.mayAdminister()).toBe(true);

    const guarded = new Access(s.credentials, 'the-admin-token', Date.now);
    (await guarded.load())._unsafeUnwrap();
    expect(guarded.enabled).toBe(true);
    expect(guarded.grantFor('the-admin-token')?.name).toBe('admin');
    expect(guarded.grantFor('the-admin-token')?.mayAdminister()).toBe(true);
    for (const wrong of [undefined, null, '', 'the-admin-toke', 'the-admin-token ']) expect(guarded.grantFor(wrong), String(wrong)).toBeUndefined();
  });

  test('a credential: its token shown once and stored as a hash; changed, rotated and removed', async () => {
    const { store: s, dbPath } = await store();
    const access = new Access(s.credentials, undefined, Date.now);
    (await access.load())._unsafeUnwrap();
    let changes = 0;
    access.onChange(() => changes++);
    const { credential, token } = (await access.create('orders-svc', { publish: ['orders.#'], subscribe: ['orders.*'], consumers: ['billing-*'], publishRate: 100 }))._unsafeUnwrap();
    expect(credential).toMatchObject({ name: 'orders-svc', publish: ['orders.#'], monitor: false, admin: false, publishRate: 100, lastUsedAt: null });
    // Stored credentials turn checking on: a token is now needed.
    expect(access.enabled).toBe(true);
    expect(access.grantFor(undefined)).toBeUndefined();
    const grant = access.grantFor(token)!;
    expect([grant.name, grant.mayPublish('orders.eu'), grant.mayPublish('payments.x'), grant.maySubscribe('orders.#'), grant.mayUseConsumer('billing-eu')]).toEqual([
      'orders-svc',
      true,
      false,
      false,
      true,
    ]);
    const stored = query<{ token_hash: string; publish: string }>(sqliteFile(dbPath), 'SELECT token_hash, publish FROM credentials');
    expect(stored).toEqual([{ token_hash: expect.stringMatching(/^[0-9a-f]{64}$/) as string, publish: '["orders.#"]' }]);
    expect(JSON.stringify(stored)).not.toContain(token);

    expect((await access.create('orders-svc', {}))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: 'a credential orders-svc exists already' });
    expect((await access.create('admin', {}))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect((await access.create('bad', { subscribe: ['a..b'] }))._unsafeUnwrapErr().code).toBe('BAD_PATTERN');

    const narrowed = (await access.update('orders-svc', { publish: ['orders.eu.#'], publishRate: null }))._unsafeUnwrap();
    expect(narrowed).toMatchObject({ publish: ['orders.eu.#'], subscribe: ['orders.*'], publishRate: null });
    expect(access.grantFor(token)!.mayPublish('orders.us')).toBe(false);

    const rotated = (await access.rotate('orders-svc'))._unsafeUnwrap();
    expect(rotated.token).not.toBe(token);
    expect(access.grantFor(token)).toBeUndefined();
    expect(access.grantFor(rotated.token)?.name).toBe('orders-svc');

    // Removed, and with it the last credential: nothing is checked again (no EVENTBUS_TOKEN here).
    (await access.remove('orders-svc'))._unsafeUnwrap();
    expect(access.list()).toEqual([]);
    expect(access.enabled).toBe(false);
    expect((await access.remove('orders-svc'))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: 'no credential orders-svc' });
    expect(changes).toBe(4);
  });

  test("another broker's view of the same store knows a credential once it reads the store again", async () => {
    const { store: s } = await store();
    const here = new Access(s.credentials, 'admin-token', Date.now);
    const there = new Access(s.credentials, 'admin-token', Date.now);
    (await here.load())._unsafeUnwrap();
    (await there.load())._unsafeUnwrap();
    const { token } = (await here.create('reader', { subscribe: ['#'] }))._unsafeUnwrap();
    expect(there.grantFor(token)).toBeUndefined();
    (await there.load())._unsafeUnwrap();
    expect(there.grantFor(token)?.maySubscribe('anything.#')).toBe(true);
    (await here.remove('reader'))._unsafeUnwrap();
    (await there.load())._unsafeUnwrap();
    expect(there.grantFor(token)).toBeUndefined();
  });
});

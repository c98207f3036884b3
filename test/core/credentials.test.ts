// A credential's permissions (PROTOCOL.md §12) as the core decides them: publish by topic pattern, read by
// pattern containment, consumers by glob, monitor and admin; tokens random and kept as a hash; bad
// permissions refused with a reason.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ADMIN_GRANT, checkCredentialName, checkPermissions, globMatches, Grant, newToken, sameHash, tokenHash } from '../../src/core/credentials.js';
import { topicMatches } from '../../src/protocol/topics.js';
import { smallPattern, smallTopic } from '../helpers/topic-arbitraries.js';

const grant = (input: Parameters<typeof checkPermissions>[0]): Grant => new Grant('svc', checkPermissions(input)._unsafeUnwrap());

describe('permissions', () => {
  test('publish by topic pattern; read only patterns covered; consumers by glob; nothing else unless given', () => {
    const g = grant({ publish: ['orders.>'], subscribe: ['orders.#', 'audit.*'], consumers: ['billing', 'audit-*'] });
    expect(['orders', 'orders.eu.created'].map((t) => g.mayPublish(t))).toEqual([true, true]);
    expect(['payments.created', 'ordersx'].map((t) => g.mayPublish(t))).toEqual([false, false]);
    expect(['orders.*', 'orders.#', 'audit.x', 'audit.*'].map((p) => g.maySubscribe(p))).toEqual([true, true, true, true]);
    expect(['#', '*', '*.created', 'audit.#', 'payments.*'].map((p) => g.maySubscribe(p))).toEqual([false, false, false, false, false]);
    expect(['billing', 'audit-eu', 'audit-'].map((c) => g.mayUseConsumer(c))).toEqual([true, true, true]);
    expect(['billing2', 'xaudit-eu', 'Billing'].map((c) => g.mayUseConsumer(c))).toEqual([false, false, false]);
    expect([g.mayMonitor(), g.mayAdminister()]).toEqual([false, false]);
    expect(grant({ monitor: true }).mayMonitor()).toBe(true);
    expect(grant({}).mayPublish('a')).toBe(false);
  });

  test('admin may do everything, monitor included', () => {
    for (const g of [ADMIN_GRANT, grant({ admin: true })]) {
      expect([g.mayPublish('x.y'), g.maySubscribe('#'), g.mayUseConsumer('any'), g.mayMonitor(), g.mayAdminister()]).toEqual([true, true, true, true, true]);
    }
  });

  test('a credential allowed some patterns never reads a topic outside them, whatever pattern it asks for', () => {
    fc.assert(
      fc.property(fc.array(smallPattern, { maxLength: 3 }), smallPattern, fc.array(smallTopic, { maxLength: 20 }), (allowed, asked, topics) => {
        const g = grant({ subscribe: allowed });
        if (!g.maySubscribe(asked)) return;
        for (const t of topics) if (topicMatches(asked, t)) expect(allowed.some((a) => topicMatches(a, t)), `${asked} lets ${t} through`).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('the same question answered again gives the same answer (decisions are cached)', () => {
    const g = grant({ publish: ['a.*'], subscribe: ['a.#'] });
    for (let i = 0; i < 3; i++) expect([g.mayPublish('a.b'), g.mayPublish('b.a'), g.maySubscribe('a.*'), g.maySubscribe('#')]).toEqual([true, false, true, false]);
  });

  test('globs: * is any run of characters, anywhere, any number of times', () => {
    const cases: [string, string, boolean][] = [
      ['billing', 'billing', true],
      ['billing', 'billing-2', false],
      ['*', 'anything', true],
      ['audit-*', 'audit-', true],
      ['*-eu', 'orders-eu', true],
      ['*-eu', 'orders-us', false],
      ['a*b*c', 'abc', true],
      ['a*b*c', 'aXbYc', true],
      ['a*b*c', 'acb', false],
      ['a*a', 'a', false],
      ['a*a', 'aa', true],
    ];
    for (const [glob, id, expected] of cases) expect(globMatches(glob, id), `${glob} ~ ${id}`).toBe(expected);
  });

  test('bad permissions are refused with a reason', () => {
    expect(checkPermissions({ publish: ['orders..x'] })._unsafeUnwrapErr().code).toBe('BAD_PATTERN');
    expect(checkPermissions({ subscribe: ['a.#.b'] })._unsafeUnwrapErr().code).toBe('BAD_PATTERN');
    expect(checkPermissions({ consumers: ['bad id'] })._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('"bad id"') as string });
    for (const publishRate of [0, -1, 1.5]) expect(checkPermissions({ publishRate })._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect(checkCredentialName('team.orders@eu')._unsafeUnwrap()).toBe('team.orders@eu');
    for (const name of ['', '-x', 'a b', 'x'.repeat(65)]) expect(checkCredentialName(name).isErr(), name).toBe(true);
  });
});

describe('tokens', () => {
  test('random, 256 bits, URL-safe; kept as a hash that never equals another token’s', () => {
    const tokens = Array.from({ length: 1000 }, newToken);
    expect(new Set(tokens).size).toBe(1000);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hash = tokenHash(tokens[0]!);
    expect(hash).not.toContain(tokens[0]!);
    expect(sameHash(hash, tokenHash(tokens[0]!))).toBe(true);
    expect(sameHash(hash, tokenHash(tokens[1]!))).toBe(false);
    expect(sameHash(hash, 'short')).toBe(false);
  });
});

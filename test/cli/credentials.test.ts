// The commands for credentials and the audit log (PROTOCOL.md §9, §12) against one real broker on port 0 with
// EVENTBUS_TOKEN (the admin): `credentials [list]`, `credentials add|change|rotate|rm`, `audit`, run through
// the program as the bin runs it; what they print, that the tokens they print work (and stop working) as the
// other commands use them, the `error: <CODE> ...` lines and their exit codes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig, type TestDir } from '../helpers/broker.js';
import { runAgainst, type CliRun as Run } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import type { z } from 'zod';
import type { Credential } from '../../src/protocol/credential-bodies.js';

type WireCredential = z.infer<typeof Credential> & { token?: string };

interface WireAuditEntry {
  at: number;
  credential: string | null;
  peer: string;
  action: string;
  target: string | null;
  outcome: string;
}

const ADMIN = 'admin-token-of-the-test';
const TOKEN_NOTE = 'token (shown only this once: the broker keeps only its hash):';

let db: TestDir;
let app: App;
let base: string;

beforeAll(async () => {
  db = await tempDir();
  app = (await startApp(testAppConfig(db, { EVENTBUS_TOKEN: ADMIN }), silentLogger))._unsafeUnwrap();
  base = `http://127.0.0.1:${app.ports.http}`;
});
afterAll(async () => {
  await app.stop();
  await db.cleanup();
});

/** `eventbus <args> --token <token>` through the program, against the test's broker (EVENTBUS_URL). */
const cli = (args: readonly string[], token = ADMIN): Promise<Run> => runAgainst(base, [...args, '--token', token]);

function expectFailure(run: Run, exitCode: number, line: RegExp): void {
  expect({ code: run.code, stdout: run.stdout }, run.stderr).toEqual({ code: exitCode, stdout: '' });
  expect(run.stderr.trimEnd()).toMatch(line);
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
}

/** `credentials add <name> ...`: the token on its last line, after the note that says it is shown once. */
async function add(name: string, ...options: string[]): Promise<{ run: Run; token: string }> {
  const run = await cli(['credentials', 'add', name, ...options]);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines.at(-2)).toBe(TOKEN_NOTE);
  return { run, token: lines.at(-1)! };
}

/** The audit log's entries at or after `from`, once `ready` holds for them (the broker writes it a batch at a time). */
async function auditUntil(from: number, what: string, ready: (entries: WireAuditEntry[]) => boolean): Promise<WireAuditEntry[]> {
  return until(what, async () => {
    const run = await cli(['audit', '--from-time', String(from), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const { entries } = JSON.parse(run.stdout) as { entries: WireAuditEntry[] };
    return ready(entries) && entries;
  });
}

describe('credentials add|change|rotate|rm and credentials', () => {
  test('add prints the credential and its token last; the token publishes where its patterns allow, FORBIDDEN elsewhere', async () => {
    const { run, token } = await add('shop', '--publish', 'orders.#', '--publish', 'refunds.*', '--subscribe', 'orders.#', '--consumers', 'billing-*', '--publish-rate', '50');
    expect(run.stdout).toMatch(/│ name +│ publish +│ subscribe +│ consumers +│ monitor +│ admin +│ publish rate +│ created +│ last used +│/);
    expect(run.stdout).toMatch(/│ shop +│ orders\.#,refunds\.\* +│ orders\.# +│ billing-\* +│ no +│ no +│ 50\/s +│ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z +│ - +│/);
    expect(token).toMatch(/^[\w-]{20,}$/);

    const allowed = await cli(['publish', 'orders.created', '{"id":7}'], token);
    expect(allowed).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) as unknown, stderr: '' });
    expectFailure(await cli(['publish', 'payments.made', 'x'], token), 1, /^error: FORBIDDEN .*credential shop .*payments\.made$/);

    const json = await cli(['credentials', 'add', 'shop-json', '--monitor', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const issued = JSON.parse(json.stdout) as WireCredential;
    expect(issued).toMatchObject({ name: 'shop-json', publish: [], subscribe: [], consumers: [], monitor: true, admin: false, publish_rate: null, token: expect.stringMatching(/^[\w-]{20,}$/) as unknown });
    expect((await cli(['stats'], issued.token)).code).toBe(0);
  });

  test('credentials lists every credential with its permissions and never a token; --json is the API\'s answer', async () => {
    const { token } = await add('lister', '--subscribe', 'audit.#', '--admin');
    const run = await cli(['credentials']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/│ lister +│ - +│ audit\.# +│ - +│ no +│ yes +│ - +│ \S+Z +│ - +│/);
    expect(run.stdout).not.toContain(token);
    expect(await cli(['credentials', 'list'])).toEqual(run);

    const json = await cli(['credentials', 'list', '--json']);
    const listed = JSON.parse(json.stdout) as WireCredential[];
    expect(listed.find((c) => c.name === 'lister')).toEqual({
      name: 'lister',
      publish: [],
      subscribe: ['audit.#'],
      consumers: [],
      monitor: false,
      admin: true,
      publish_rate: null,
      created_at: expect.any(Number) as unknown,
      updated_at: expect.any(Number) as unknown,
      last_used_at: null,
    });
    expect(listed.every((c) => !('token' in c))).toBe(true);
    expect(json.stdout).not.toContain(token);
  });

  test('change replaces the permissions given and keeps the others and the token; the --no- forms take them away', async () => {
    const { token } = await add('changer', '--publish', 'a.#', '--monitor', '--publish-rate', '10');
    const changed = await cli(['credentials', 'change', 'changer', '--publish', 'b.#', '--publish', 'c.*']);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/│ changer +│ b\.#,c\.\* +│ - +│ - +│ yes +│ no +│ 10\/s +│/);
    expect(changed.stdout).not.toContain(TOKEN_NOTE);
    expect((await cli(['publish', 'b.x', 'y'], token)).code).toBe(0);
    expectFailure(await cli(['publish', 'a.x', 'y'], token), 1, /^error: FORBIDDEN .*a\.x/);

    const cleared = await cli(['credentials', 'change', 'changer', '--no-publish', '--no-monitor', '--no-publish-rate', '--consumers', 'jobs', '--json']);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ name: 'changer', publish: [], consumers: ['jobs'], monitor: false, publish_rate: null });
    expect(JSON.parse(cleared.stdout)).not.toHaveProperty('token');
    expectFailure(await cli(['publish', 'b.x', 'y'], token), 1, /^error: FORBIDDEN /);
    expectFailure(await cli(['stats'], token), 1, /^error: FORBIDDEN /);
  });

  test('rotate prints a new token: the old one is UNAUTHORIZED, the new one works', async () => {
    const { token: old } = await add('rotated', '--publish', 'r.#');
    const run = await cli(['credentials', 'rotate', 'rotated']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/│ rotated +│ r\.# +│/);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.at(-2)).toBe(TOKEN_NOTE);
    const token = lines.at(-1)!;
    expect(token).not.toBe(old);
    expectFailure(await cli(['publish', 'r.x', 'y'], old), 1, /^error: UNAUTHORIZED /);
    expect((await cli(['publish', 'r.x', 'y'], token)).code).toBe(0);

    const json = JSON.parse((await cli(['credentials', 'rotate', 'rotated', '--json'])).stdout) as WireCredential;
    expect(json).toMatchObject({ name: 'rotated', publish: ['r.#'], token: expect.stringMatching(/^[\w-]{20,}$/) as unknown });
    expectFailure(await cli(['publish', 'r.x', 'y'], token), 1, /^error: UNAUTHORIZED /);
  });

  test('rm prints the name removed and its token stops working; an unknown name is the broker\'s BAD_ARGS', async () => {
    const { token } = await add('removed', '--publish', 'x.#');
    expect(await cli(['credentials', 'rm', 'removed'])).toEqual({ code: 0, stdout: 'removed removed\n', stderr: '' });
    expectFailure(await cli(['publish', 'x.y', 'z'], token), 1, /^error: UNAUTHORIZED /);
    expect((await cli(['credentials'])).stdout).not.toMatch(/│ removed /);
    await add('removed-json');
    expect(await cli(['credentials', 'rm', 'removed-json', '--json'])).toEqual({ code: 0, stdout: '{"name":"removed-json"}\n', stderr: '' });
    expectFailure(await cli(['credentials', 'rm', 'no-such']), 1, /^error: BAD_ARGS no credential no-such$/);
    expectFailure(await cli(['credentials', 'rotate', 'no-such']), 1, /^error: BAD_ARGS no credential no-such$/);
    expectFailure(await cli(['credentials', 'add', 'admin']), 1, /^error: BAD_ARGS admin is EVENTBUS_TOKEN's credential/);
  });

  test('only the admin: a narrower token is FORBIDDEN, none at all UNAUTHORIZED', async () => {
    const { token } = await add('narrow', '--publish', 'n.#', '--monitor');
    expectFailure(await cli(['credentials'], token), 1, /^error: FORBIDDEN .*narrow/);
    expectFailure(await cli(['credentials', 'add', 'sneaky', '--admin'], token), 1, /^error: FORBIDDEN .*narrow/);
    expectFailure(await cli(['credentials', 'rm', 'narrow'], token), 1, /^error: FORBIDDEN .*narrow/);
    expectFailure(await cli(['audit'], token), 1, /^error: FORBIDDEN .*narrow/);
    expectFailure(await runAgainst(base, ['credentials']), 1, /^error: UNAUTHORIZED /);
    expect((await cli(['credentials'])).stdout).not.toMatch(/│ sneaky /);
  });

  test('usage errors exit 2 and reach no broker', async () => {
    expectFailure(await cli(['credentials', 'add']), 2, /^error: BAD_ARGS missing required argument 'name'/);
    expectFailure(await cli(['credentials', 'add', 'x', '--publish-rate', '0']), 2, /^error: BAD_ARGS option '--publish-rate <n>' argument '0' is invalid\. expected a whole number, 1 or more$/);
    expectFailure(await cli(['credentials', 'add', 'x', '--no-admin']), 2, /^error: BAD_ARGS .*--no-admin/);
    expectFailure(await cli(['credentials', 'change', 'x']), 2, /^error: BAD_ARGS give at least one permission to change/);
    expectFailure(await cli(['credentials', 'ad', 'x']), 2, /^error: UNKNOWN_COMMAND unknown command 'ad' \(commands: list, add, change, rotate, rm;/);
    expectFailure(await cli(['audit', '--from-time', 'yesterday']), 2, /^error: BAD_ARGS option '--from-time <t>' argument 'yesterday' is invalid\./);
    expectFailure(await cli(['audit', '--limit', '0']), 2, /^error: BAD_ARGS option '--limit <n>' argument '0' is invalid\./);
    expect((await cli(['credentials', 'list', '--json'])).stdout).not.toContain('"name":"x"');
  });
});

describe('audit', () => {
  test('lists the administrative actions and the refusals, oldest first, with who, from where, and the outcome', async () => {
    const from = Date.now();
    const { token } = await add('audited', '--publish', 'ok.#');
    expectFailure(await cli(['publish', 'secret.plans', 'x'], token), 1, /^error: FORBIDDEN /);
    expect((await cli(['credentials', 'change', 'audited', '--monitor'])).code).toBe(0);

    const entries = await auditUntil(from, 'the three entries', (e) => e.length >= 3);
    expect(entries.map((e) => [e.credential, e.action, e.target, e.outcome.split(' ')[0]])).toEqual([
      ['admin', 'http POST /api/credentials', 'audited', 'ok'],
      ['audited', 'http POST /api/publish', 'secret.plans', 'FORBIDDEN'],
      ['admin', 'http PATCH /api/credentials/audited', 'audited', 'ok'],
    ]);
    expect(entries[1]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(entries.every((e, i) => e.at >= from && (i === 0 || e.at >= entries[i - 1]!.at))).toBe(true);

    const run = await cli(['audit', '--from-time', new Date(from).toISOString()]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/│ at +│ credential +│ peer +│ action +│ target +│ outcome +│/);
    expect(run.stdout).toMatch(/│ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z +│ admin +│ 127\.0\.0\.1:\d+ +│ http POST \/api\/credentials +│ audited +│ ok +│/);
    expect(run.stdout).toMatch(/│ audited +│ 127\.0\.0\.1:\d+ +│ http POST \/api\/publish +│ secret\.plans +│ FORBIDDEN .*secret\.plans/);

    const one = await cli(['audit', '--from-time', String(from), '--limit', '1', '--json']);
    expect(JSON.parse(one.stdout)).toEqual({ entries: [entries[0]] });
  });

  test('reads every page (more than the 1000 of one), stops at --limit, and says so on stderr once it pages', async () => {
    const from = Date.now();
    // Each request with a token that is none is refused, and written down as one entry.
    for (let i = 0; i < 1005; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, 1005 - i) }, () => fetch(`${base}/api/stats`, { headers: { authorization: 'Bearer nobody' } })));
    }
    const entries = await auditUntil(from, '1005 refusals', (e) => e.length >= 1005);
    expect(entries).toHaveLength(1005);
    expect(entries[0]).toMatchObject({ credential: null, action: 'http authenticate', target: null, outcome: 'UNAUTHORIZED no such token' });

    const limited = await cli(['audit', '--from-time', String(from), '--limit', '1002', '--json']);
    expect(limited.stderr).toBe('read 1002 audit log entries\n');
    expect(JSON.parse(limited.stdout)).toEqual({ entries: entries.slice(0, 1002) });

    const table = await cli(['audit', '--from-time', String(from)]);
    expect(table.code).toBe(0);
    expect(table.stderr).toBe('read 1005 audit log entries\n');
    expect(table.stdout.match(/│ UNAUTHORIZED no such token +│/g)).toHaveLength(1005);

    const onePage = await cli(['audit', '--from-time', String(from), '--limit', '1000', '--json']);
    expect({ code: onePage.code, stderr: onePage.stderr, count: (JSON.parse(onePage.stdout) as { entries: unknown[] }).entries.length }).toEqual({ code: 0, stderr: '', count: 1000 });
  });
});

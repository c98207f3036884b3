// `eventbus export` and `eventbus import` between stores: a log exported from a SQLite broker imports into a
// PostgreSQL broker (twice, storing it once) and from there into another SQLite broker, each copy holding the
// same messages. Runs once, on both stores itself (not in BOTH_STORES).
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig, type TestDir, type TestStore } from '../helpers/broker.js';

interface Bus {
  readonly db: TestDir;
  readonly app: App;
  readonly url: string;
}

const buses: Bus[] = [];

async function bus(store: TestStore): Promise<Bus> {
  const db = await tempDir(store);
  const app = (await startApp(testAppConfig(db), silentLogger))._unsafeUnwrap();
  const b = { db, app, url: `http://127.0.0.1:${app.ports.http}` };
  buses.push(b);
  return b;
}

let sqlite: Bus;
let postgres: Bus;
let sqliteAgain: Bus;
beforeAll(async () => {
  [sqlite, postgres, sqliteAgain] = await Promise.all([bus('sqlite'), bus('postgres'), bus('sqlite')]);
});
afterAll(async () => {
  for (const b of buses) {
    await b.app.stop();
    await b.db.cleanup();
  }
});

async function cli(target: Bus, args: readonly string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { env: { EVENTBUS_URL: target.url }, stdin: Readable.from([stdin]), stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

interface Exported {
  seq: number;
  topic: string;
  payload: string;
  message_id: string | null;
  metadata: Record<string, unknown>;
  ordering_key: string | null;
}

async function exportOf(from: Bus): Promise<{ text: string; messages: Exported[] }> {
  const run = await cli(from, ['export']);
  expect(run.code, run.stderr).toBe(0);
  return { text: run.stdout, messages: run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Exported) };
}

/** What a copy keeps: everything but the seq, the commit time and the message_id a copy gives one without. */
const kept = (messages: readonly Exported[]) =>
  messages.map(({ topic, payload, metadata: { timestamp: _, ...metadata }, ordering_key }) => ({ topic, payload, metadata, ordering_key }));

test('SQLite → PostgreSQL (twice) → SQLite: every copy holds the same messages, each once', async () => {
  const body = {
    messages: [
      { topic: 'orders.created', payload: { id: 1, items: ['a', 'b'] }, message_id: 'order-1', metadata: { region: 'eu' }, ordering_key: 'customer-7' },
      { topic: 'orders.paid', payload: 'paid\nwith a newline' },
      { topic: 'audit.login', payload: 'ann', metadata: { ip: '10.0.0.1' } },
      { topic: 'orders.created', payload: 'ünïcødé ✓', message_id: 'order-2' },
    ],
  };
  const published = await fetch(`${sqlite.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(published.status).toBe(200);
  const original = await exportOf(sqlite);
  expect(original.messages).toHaveLength(4);

  // The second run stores nothing, and says so.
  expect(await cli(postgres, ['import'], original.text)).toMatchObject({ code: 0, stderr: 'imported 4 messages: 4 new, 0 already stored (not stored again)\n' });
  expect(await cli(postgres, ['import'], original.text)).toMatchObject({ code: 0, stderr: 'imported 4 messages: 0 new, 4 already stored (not stored again)\n' });
  const onPostgres = await exportOf(postgres);
  expect(onPostgres.messages).toHaveLength(4);
  expect(kept(onPostgres.messages)).toEqual(kept(original.messages));
  expect(onPostgres.messages.map((m) => m.message_id)).toEqual(original.messages.map((m) => m.message_id ?? `import:${m.seq}`));

  for (let i = 0; i < 2; i++) expect((await cli(sqliteAgain, ['import'], onPostgres.text)).code).toBe(0);
  const back = await exportOf(sqliteAgain);
  expect(kept(back.messages)).toEqual(kept(original.messages));
  expect(back.messages.map((m) => m.message_id)).toEqual(onPostgres.messages.map((m) => m.message_id));
});

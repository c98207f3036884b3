// `npx tsx bench/pg-drivers.ts`: the two PostgreSQL drivers on the store's two hot paths, bare, on the
// local PostgreSQL: multi-row INSERTs of 256 messages per transaction (one unnest() statement, as the store
// appends) and paged SELECTs of 512 rows by seq (as catch-up reads). Several alternating rounds; a table
// and a JSON line. The figures chose the store's driver (docs/internals.md).
import pg from 'pg';
import postgres from 'postgres';
import { parseArgs } from 'node:util';
import { int8AsNumber } from '../src/store/postgres/connect.js';

const { values: args } = parseArgs({ options: { url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' }, rows: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' } } });
const URL_ = args.url;
const N = Number(args.rows);
const ROUNDS = Number(args.rounds);
const BATCH = 256;
const PAGE = 512;
const SCHEMA = 'eventbus_driver_bench';
const PAYLOAD = 'x'.repeat(100);
const META = '{"timestamp":1795447541305}';

const INSERT = `INSERT INTO messages (seq, topic, payload, metadata, created_at)
  SELECT $1::bigint + o, t, p, m, $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(t, p, m, o)`;
const SELECT = `SELECT seq, message_id, topic, payload, metadata, ttl, ordering_key, created_at FROM messages WHERE seq >= $1 ORDER BY seq LIMIT $2`;

interface Driver {
  name: string;
  reset(): Promise<void>;
  insert(base: number, n: number): Promise<void>;
  select(from: number): Promise<number>;
  end(): Promise<void>;
}

const topics = Array.from({ length: BATCH }, (_, i) => `bench.t${i % 8}`);
const payloads = new Array<string>(BATCH).fill(PAYLOAD);
const metas = new Array<string>(BATCH).fill(META);
const DDL = `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
  CREATE TABLE ${SCHEMA}.messages (seq bigint PRIMARY KEY, message_id text, topic text NOT NULL, payload text NOT NULL,
    metadata text NOT NULL, ttl integer NOT NULL DEFAULT 0, status text NOT NULL DEFAULT 'pending', ordering_key text, created_at bigint NOT NULL)`;

function nodePostgres(): Driver {
  const client = new pg.Client({ connectionString: URL_, options: `-c search_path=${SCHEMA}`, types: int8AsNumber() });
  const ready = client.connect();
  return {
    name: 'pg (node-postgres)',
    reset: async () => {
      await ready;
      await client.query(DDL);
    },
    insert: async (base, n) => {
      await client.query('BEGIN');
      await client.query({ name: 'ins', text: INSERT, values: [base, topics.slice(0, n), payloads.slice(0, n), metas.slice(0, n), Date.now()] });
      await client.query('COMMIT');
    },
    select: async (from) => (await client.query({ name: 'sel', text: SELECT, values: [from, PAGE], rowMode: 'array' })).rows.length,
    end: () => client.end(),
  };
}

function postgresJs(): Driver {
  const sql = postgres(URL_, { max: 1, connection: { search_path: SCHEMA }, onnotice: () => undefined, types: { bigint: postgres.BigInt } });
  return {
    name: 'postgres (postgres.js)',
    reset: async () => {
      await sql.unsafe(DDL);
    },
    insert: async (base, n) => {
      await sql.begin((tx) => tx.unsafe(INSERT, [base, topics.slice(0, n), payloads.slice(0, n), metas.slice(0, n), Date.now()], { prepare: true }));
    },
    select: async (from) => (await sql.unsafe(SELECT, [from, PAGE], { prepare: true }).values()).length,
    end: () => sql.end(),
  };
}

async function measure(d: Driver): Promise<{ insert: number; select: number }> {
  await d.reset();
  let t = performance.now();
  for (let seq = 0; seq < N; seq += BATCH) await d.insert(seq, Math.min(BATCH, N - seq));
  const insert = N / ((performance.now() - t) / 1000);
  t = performance.now();
  let read = 0;
  for (let from = 1; read < N; from += PAGE) read += await d.select(from);
  const select = N / ((performance.now() - t) / 1000);
  return { insert, select };
}

const results: Record<string, { insert: number[]; select: number[] }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const make of round % 2 === 0 ? [nodePostgres, postgresJs] : [postgresJs, nodePostgres]) {
    const d = make();
    const r = await measure(d);
    await d.end();
    (results[d.name] ??= { insert: [], select: [] }).insert.push(r.insert);
    results[d.name]!.select.push(r.select);
    process.stderr.write(`round ${round + 1}: ${d.name} insert ${Math.round(r.insert)}/s select ${Math.round(r.select)}/s\n`);
  }
}
const range = (xs: number[]): string => `${Math.round(Math.min(...xs)).toLocaleString('en')}–${Math.round(Math.max(...xs)).toLocaleString('en')}`;
console.table(Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { 'INSERT 256/txn rows/s': range(r.insert), 'SELECT 512/page rows/s': range(r.select) }])));
console.log(JSON.stringify({ bench: 'pg-drivers', rows: N, rounds: ROUNDS, results }));
const cleanup = new pg.Client({ connectionString: URL_ });
await cleanup.connect();
await cleanup.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
await cleanup.end();

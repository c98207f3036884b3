// The PostgreSQL the tests use: the one on 127.0.0.1:5432 of these machines, role eventbus, a database of the
// run's own (test/global-setup.ts makes both and sets EVENTBUS_TEST_PG_URL). Each test file works in schemas
// of its own, dropped when the file is done: files running side by side never see each other's tables.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { int8AsNumber } from '../../src/store/postgres/connect.js';

export const PG_URL = process.env.EVENTBUS_TEST_PG_URL ?? 'postgres://eventbus@127.0.0.1:5432/eventbus_test';

// bigint as a number, as the store reads it, so that rows compare with what the SQLite store's tests expect.
const INT8_AS_NUMBER = int8AsNumber();

/** Runs a statement (or several, without values) on a connection of its own. */
export async function pgQuery<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = [], schema?: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL, types: INT8_AS_NUMBER, ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }) });
  await client.connect();
  try {
    // Several statements in one text (no values) answer a result each: the last one's rows are the answer.
    const results = ([] as pg.QueryResult<T>[]).concat(await client.query<T>(text, values));
    return results[results.length - 1]!.rows;
  } finally {
    await client.end();
  }
}

/** Call once at the top of a test file: `schema()` then names a new schema, dropped after the file. */
export function pgSchemas(): { schema: () => string } {
  const made: string[] = [];
  afterAll(async () => {
    for (const s of made) await pgQuery(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  });
  return {
    schema: () => {
      const name = `t_${randomBytes(6).toString('hex')}`;
      made.push(name);
      return name;
    },
  };
}

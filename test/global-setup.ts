// Before any test file: dist/ built and fresh, for the tests that run the broker as a child process
// (test/helpers/dist.ts); a failed build fails the run here, with the compiler's output. Then the PostgreSQL
// role and database the tests use (test/helpers/postgres.ts), the database made anew each run, as the
// machine's superuser over trust auth. A PostgreSQL that does not answer fails the run here, with one line,
// rather than every PostgreSQL test on its own. Then Debian's chromium for the dashboard's tests, installed when missing; when
// it cannot be, those tests fail saying why, and the others run.
import pg from 'pg';
import { ensureChromium } from './helpers/chromium.js';
import { ensureBuilt } from './helpers/dist.js';

const ADMIN_URL = process.env.EVENTBUS_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export default async function setup(): Promise<void> {
  ensureBuilt();
  const noChromium = ensureChromium();
  if (noChromium !== undefined) console.warn(noChromium);
  if (process.env.EVENTBUS_TEST_PG_URL !== undefined) return; // given by the caller, who made it
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`the tests need PostgreSQL at ${ADMIN_URL} (start it, or set EVENTBUS_TEST_PG_URL): ${(e as Error).message}`, { cause: e });
  }
  try {
    if ((await admin.query(`SELECT 1 FROM pg_roles WHERE rolname = 'eventbus'`)).rowCount === 0) await admin.query(`CREATE ROLE eventbus LOGIN`);
    // A fresh database each run: the files drop their schemas, but what they leave in the catalogs grows with
    // every run (hundreds of MB over a day of runs) and slows the next ones. A run that is still using it
    // (another vitest beside this one) keeps it: PostgreSQL refuses to drop a database others are connected to.
    await admin.query(`DROP DATABASE IF EXISTS eventbus_test`).catch((e: unknown) => {
      if ((e as { code?: string }).code !== '55006') throw e;
    });
    if ((await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'eventbus_test'`)).rowCount === 0) {
      await admin.query(`CREATE DATABASE eventbus_test OWNER eventbus`).catch((e: unknown) => {
        // Two runs creating it at once: the other one did.
        if ((e as { code?: string }).code !== '42P04') throw e;
      });
    }
  } finally {
    await admin.end();
  }
}

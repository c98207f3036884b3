// Before any test file: dist/ built and fresh, for the tests that run the broker as a child process
// (test/helpers/dist.ts); a failed build fails the run here, with the compiler's output. Then the PostgreSQL
// role and a database of this run's own (test/helpers/postgres.ts reads its address from
// EVENTBUS_TEST_PG_URL, set here before any worker starts), made as the machine's superuser over trust auth
// and dropped when the run ends. A PostgreSQL that does not answer fails the run here, with one line, rather
// than every PostgreSQL test on its own. Then Debian's chromium for the dashboard's tests and prometheus for
// the metrics test's promtool, installed when missing; when they cannot be, those tests fail saying why, and the
// others run.
import pg from 'pg';
import { ensureChromium } from './helpers/chromium.js';
import { ensureDebianPackage } from './helpers/debian-package.js';
import { ensureBuilt } from './helpers/dist.js';

const ADMIN_URL = process.env.EVENTBUS_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'eventbus_test_';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  ensureBuilt();
  for (const missing of [ensureChromium(), ensureDebianPackage('prometheus', '/usr/bin/promtool', "the metrics test's promtool")]) {
    if (missing !== undefined) console.warn(missing);
  }
  if (process.env.EVENTBUS_TEST_PG_URL !== undefined) return undefined; // given by the caller, who made it
  const admin = await connectAdmin();
  // A database per run: two runs side by side (a file run while the whole suite runs) never drop each other's
  // schemas, and each starts without the catalog bloat earlier runs' dropped schemas leave behind.
  const name = `${PREFIX}${process.pid}`;
  try {
    if ((await admin.query(`SELECT 1 FROM pg_roles WHERE rolname = 'eventbus'`)).rowCount === 0) await admin.query(`CREATE ROLE eventbus LOGIN`);
    await dropLeftovers(admin);
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name} OWNER eventbus`);
  } finally {
    await admin.end();
  }
  process.env.EVENTBUS_TEST_PG_URL = `postgres://eventbus@127.0.0.1:5432/${name}`;
  return async () => {
    const end = await connectAdmin();
    try {
      await end.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await end.end();
    }
  };
}

async function connectAdmin(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`the tests need PostgreSQL at ${ADMIN_URL} (start it, or set EVENTBUS_TEST_PG_URL): ${(e as Error).message}`, { cause: e });
  }
  return admin;
}

/** The databases of earlier runs that ended without their teardown (killed): those whose process is gone. */
async function dropLeftovers(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}%' OR datname = 'eventbus_test'`);
  for (const { datname } of rows) {
    const pid = Number(datname.slice(PREFIX.length));
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Transactional consume on PostgreSQL, with several brokers: two broker processes share one database, and
// a ledger service embeds a third broker whose durable consumer `ledger` applies each `orders.placed` to the
// service's own table inside the transaction that records its ack. The run publishes orders on both
// brokers, kills the ledger with SIGKILL half-way, starts it again, and checks that every order was applied
// exactly once.
//   npm run example:ledger-postgres       EVENTBUS_DB (default postgres://postgres@127.0.0.1:5432/postgres),
//                                         EVENTBUS_PG_SCHEMA (default ledger_demo, dropped and made again),
//                                         ORDERS (default 200)
//   tsx examples/ledger-postgres.ts ledger   the ledger service alone
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from '../src/client/index.js';
import { EventBusError, openPostgresEventBus } from '../src/embed/index.js';

const DB = process.env['EVENTBUS_DB'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SCHEMA = process.env['EVENTBUS_PG_SCHEMA'] ?? 'ledger_demo';
const ORDERS = Number(process.env['ORDERS'] ?? 200);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Short, so that the demo's kill is over quickly: a dead broker's deliveries move on within this.
const ACK_TIMEOUT_MS = '2000';

if (process.argv[2] === 'ledger') await ledger();
else await demo();

/** The ledger service: a broker in this process, and a consumer that writes to the service's table. */
async function ledger(): Promise<void> {
  const bus = await openPostgresEventBus({ dbPath: DB, pgSchema: SCHEMA, nodeId: 'ledger', ackTimeoutMs: Number(ACK_TIMEOUT_MS) }).catch((e: unknown) => {
    console.error(e instanceof EventBusError ? e.message : e);
    process.exit(1);
  });
  // The service's own table, in the broker's schema. A primary key on the order: applying one twice would fail.
  await bus.pool.query('CREATE TABLE IF NOT EXISTS ledger (order_id text PRIMARY KEY, amount integer NOT NULL, seq bigint NOT NULL)');
  const consumer = await bus.consume({ pattern: 'orders.placed', consumer: 'ledger' }, async (message, tx) => {
    const order = JSON.parse(message.payload) as { id: string; amount: number };
    // On the transaction's own connection: this row and the consumer's ack commit together.
    await tx.query('INSERT INTO ledger (order_id, amount, seq) VALUES ($1, $2, $3)', [order.id, order.amount, message.seq]);
    console.log(`applied ${order.id} (seq ${message.seq})`);
  });
  console.log('ledger consuming');
  const stop = async (): Promise<void> => {
    await consumer.close();
    await bus.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** Two brokers, the ledger, orders on both brokers, a SIGKILL of the ledger half-way, and the check. */
async function demo(): Promise<void> {
  const admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', cleanup);
  try {
    const ports: number[] = [];
    for (const node of ['node-0', 'node-1']) ports.push(await startBroker(node, children));
    console.log(`brokers node-0 and node-1 on ws://127.0.0.1:${ports[0]}/ws and ws://127.0.0.1:${ports[1]}/ws`);
    let service = startLedger(children);
    await lineOf(service, /ledger consuming/);
    const clients = await Promise.all(ports.map((port) => connect(`ws://127.0.0.1:${port}/ws`)));
    const applied = async (): Promise<{ n: number; distinct: number; total: number }> => {
      const r = await admin.query<{ n: number; distinct: number; total: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT order_id)::int AS distinct, coalesce(sum(amount), 0)::int AS total FROM "${SCHEMA}".ledger`,
      );
      return r.rows[0]!;
    };
    let expectedTotal = 0;
    // Published in the background, alternating between the brokers, while the ledger is killed mid-stream.
    const publishing = (async () => {
      for (let i = 0; i < ORDERS; i++) {
        const amount = 1 + (i % 9);
        expectedTotal += amount;
        await clients[i % 2]!.publish('orders.placed', { id: `o${i}`, amount });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await lineOf(service, new RegExp(`applied o${Math.floor(ORDERS / 3)} `));
    service.kill('SIGKILL');
    await new Promise((resolve) => service.once('exit', resolve));
    console.log(`ledger killed with SIGKILL after ${(await applied()).n} orders applied; starting it again`);
    service = startLedger(children);
    await lineOf(service, /ledger consuming/);
    await publishing;
    console.log(`published ${ORDERS} orders on the two brokers`);
    const deadline = Date.now() + 30_000;
    let now = await applied();
    while (now.n < ORDERS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      now = await applied();
    }
    for (const c of clients) c.close();
    if (now.n !== ORDERS || now.distinct !== ORDERS || now.total !== expectedTotal) {
      console.error(`FAILED: ${now.n} rows, ${now.distinct} orders, total ${now.total} (expected ${ORDERS} once each, total ${expectedTotal})`);
      process.exitCode = 1;
    } else {
      console.log(`each order applied once: ${now.n} rows for ${ORDERS} orders, total ${now.total}`);
    }
  } finally {
    cleanup();
    await admin.end();
  }
}

function startLedger(children: ChildProcess[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/ledger-postgres.ts', 'ledger'], { cwd: ROOT, env: { ...process.env, EVENTBUS_DB: DB, EVENTBUS_PG_SCHEMA: SCHEMA } });
  child.stderr.pipe(process.stderr);
  children.push(child);
  return child;
}

/** A broker process on ephemeral ports; resolves with its HTTP port. */
function startBroker(node: string, children: ChildProcess[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      EVENTBUS_DB: DB,
      EVENTBUS_PG_SCHEMA: SCHEMA,
      EVENTBUS_NODE_ID: node,
      EVENTBUS_ACK_TIMEOUT_MS: ACK_TIMEOUT_MS,
      EVENTBUS_TRANSPORT_PORT: '0',
      EVENTBUS_REGISTRATION_PORT: '0',
      EVENTBUS_HTTP_PORT: '0',
    },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`broker ${node} exited (${code}): ${out}`)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /"websocket":"ws:\/\/[^"]*:(\d+)\/ws"/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
  });
}

/** Resolves once the child prints a line matching `re` (from now on). */
function lineOf(child: ChildProcess, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} from the ledger within 20 s`)), 20_000);
    const onData = (chunk: Buffer): void => {
      if (!re.test(chunk.toString())) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
  });
}

// `npm run cluster`: three brokers on one PostgreSQL log, on this machine. EVENTBUS_DB (a postgres:// URL,
// default the local server's postgres database) and EVENTBUS_PG_SCHEMA are shared; broker i listens on
// 49152+10i (telnet), 49153+10i (registration) and 3000+i (HTTP and /ws), and is node-i. Ctrl-C stops all
// three (each drains as on SIGTERM). --brokers N for another count.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { brokers: { type: 'string', default: '3' } } });
const count = Number(values.brokers);
const db = process.env.EVENTBUS_DB ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (!/^postgres(ql)?:\/\//.test(db)) {
  console.error(`npm run cluster: EVENTBUS_DB must be a PostgreSQL URL (got ${db})`);
  process.exit(2);
}
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const children = [];
const start = (i) => {
  const env = {
    ...process.env,
    EVENTBUS_DB: db,
    EVENTBUS_NODE_ID: `node-${i}`,
    EVENTBUS_TRANSPORT_PORT: String(49152 + 10 * i),
    EVENTBUS_REGISTRATION_PORT: String(49153 + 10 * i),
    EVENTBUS_HTTP_PORT: String(3000 + i),
  };
  const child = spawn(process.execPath, ['--single-threaded-gc', '--max-semi-space-size=4', main], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    console.error(`node-${i} exited (${signal ?? code})`);
    children.splice(children.indexOf(child), 1);
    if (children.length === 0) process.exit(0);
  });
  children.push(child);
  return new Promise((resolve) => setTimeout(resolve, 500)); // the first applies the migrations
};
for (let i = 0; i < count; i++) await start(i);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => children.forEach((c) => c.kill('SIGTERM')));

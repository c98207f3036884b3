// `npm run docs:screenshot`: docs/dashboard.png, the dashboard with real data. A broker on a temp SQLite file,
// a minute of mixed load (orders, payments, logins) through the client, consumers that keep up, fall behind,
// stay paused or dead-letter what they cannot take, a few schedules, and headless Chromium
// (test/helpers/chromium.ts) watching the page from the start so that its charts hold that minute. Run with tsx: it loads the sources.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startApp } from '../src/app.ts';
import { connect } from '../src/client/index.ts';
import { parseConfig } from '../src/config/parse.ts';
import { silentLogger } from '../src/logger.ts';
import { launchChromium } from '../test/helpers/chromium.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, out: { type: 'string', default: fileURLToPath(new URL('../docs/dashboard.png', import.meta.url)) } } });
const seconds = Number(values.seconds);
const dir = await mkdtemp(join(tmpdir(), 'eventbus-screenshot-'));
const parsed = parseConfig({
  EVENTBUS_DB: join(dir, 'bus.db'),
  EVENTBUS_TRANSPORT_PORT: '0',
  EVENTBUS_REGISTRATION_PORT: '0',
  EVENTBUS_HTTP_PORT: '0',
  EVENTBUS_NODE_ID: 'broker-1',
  EVENTBUS_MAX_DELIVERIES: '3',
});
if (parsed.isErr()) throw new Error(parsed.error.message);
const opened = await startApp(parsed.value, silentLogger);
if (opened.isErr()) throw new Error(opened.error.message);
const app = opened.value;
const base = `http://127.0.0.1:${app.ports.http}`;
const bus = await connect(`ws://127.0.0.1:${app.ports.http}/ws`);
const api = (method, path, body) =>
  fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());

// shipping keeps up; billing acks at most 40 a second and falls behind; payments dead-letters large amounts;
// audit is registered, paused, and only counts.
const drain = async (sub, handle) => {
  for await (const m of sub) handle(m);
};
void drain(await bus.subscribe('orders.*', { consumer: 'shipping', maxInFlight: 200 }), (m) => m.ack());
const billing = [];
void drain(await bus.subscribe(['orders.created', 'payments.*'], { consumer: 'billing', maxInFlight: 1000 }), (m) => billing.push(m));
const billingTimer = setInterval(() => billing.splice(0, 4).forEach((m) => m.ack()), 100);
void drain(await bus.subscribe('payments.*', { consumer: 'payments', maxInFlight: 100 }), (m) => (m.json().amount > 950 ? m.nack(0) : m.ack()));
await api('PUT', '/api/consumers/audit', { patterns: ['#'] });
await api('POST', '/api/consumers/audit/pause');
// Schedules: a nightly report in Berlin time, a heartbeat that fires all along, a paused digest, reminders due later.
await api('PUT', '/api/schedules/nightly-report', { topic: 'reports.daily', payload: { report: 'sales' }, cron: '0 2 * * *', timezone: 'Europe/Berlin' });
await api('PUT', '/api/schedules/heartbeat', { topic: 'health.ping', payload: 'ping', every_ms: 5000 });
await api('PUT', '/api/schedules/weekly-digest', { topic: 'mail.digest', payload: 'digest', cron: '0 8 * * MON' });
await api('POST', '/api/schedules/weekly-digest/pause');
for (const hours of [2, 24]) await bus.publish('mail.reminder', { user: `user-${hours}` }, { delayMs: hours * 3_600_000 });

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 1280 }, deviceScaleFactor: 1 });
await page.goto(`${base}/`);

const started = Date.now();
let n = 0;
let loading = true;
const load = (async () => {
  while (loading) {
    const t = (Date.now() - started) / 1000;
    // A load that swells and ebbs, so that the charts have a shape.
    const orders = Math.round(25 + 20 * Math.sin(t / 9));
    const batch = [];
    for (let i = 0; i < orders; i++) batch.push({ topic: i % 3 === 0 ? 'orders.shipped' : 'orders.created', payload: { id: ++n, total: (n * 37) % 500 } });
    for (let i = 0; i < 4; i++) batch.push({ topic: 'payments.captured', payload: { order: n - i, amount: (n * 131 + i * 17) % 1000 } });
    if (n % 3 === 0) batch.push({ topic: 'users.login', payload: { user: `user-${n % 17}` } });
    await bus.publishBatch(batch);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
})();
while (Date.now() - started < seconds * 1000) {
  process.stderr.write(`\r${Math.round((Date.now() - started) / 1000)}/${seconds} s, ${n} orders published`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
process.stderr.write('\n');
// The page as someone would leave it: the dead letters of payments, the payments in the browser.
await page.selectOption('#dead-letters-consumer', 'payments');
await page.fill('#browse input[name=pattern]', 'payments.*');
await page.fill('#browse input[name=limit]', '6');
await page.click('#browse button[type=submit]');
await page.waitForTimeout(1500);
await page.screenshot({ path: values.out, fullPage: true });
console.log(`wrote ${values.out}`);
loading = false;
await load;

clearInterval(billingTimer);
await browser.close();
bus.close();
await app.stop();
await rm(dir, { recursive: true, force: true });

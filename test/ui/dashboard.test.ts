// The dashboard (GET /, docs/dashboard.md) end to end, in headless Chromium against a real broker on either
// store, with a token: the page shows the topics, consumers and schedules made through the API, follows new
// messages and fires without a reload, and its buttons act on the broker (pause and resume, requeue, purge,
// cancel a schedule) as the API then says. What the page's token may do (PROTOCOL.md §12) decides what it shows:
// an admin makes, rotates and removes credentials in its Credentials panel; a credential with monitor alone gets
// the same figures without a button that acts; one without monitor is told so, and shown nothing else. One
// browser for the file; the page as `npm run build` makes it, built again first.
import axe from 'axe-core';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApi, type ApiBus, type StoreKind } from '../helpers/http-api.js';
import { launchChromium } from '../helpers/chromium.js';
import { deadAddress } from '../helpers/consumers.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();
const STORES: StoreKind[] = ['sqlite', 'postgres'];
const TOKEN = 'dash-secret';
const AUTH = { authorization: `Bearer ${TOKEN}` };

let browser: Browser;

beforeAll(async () => {
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-ui.mjs', import.meta.url))]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

type Json = Record<string, unknown>;

async function publish(bus: ApiBus, topic: string, n: number): Promise<void> {
  const messages = Array.from({ length: n }, (_, i) => ({ topic, payload: { n: i } }));
  expect((await bus.call('POST', '/api/publish', { messages }, AUTH)).status).toBe(200);
}

const consumer = async (bus: ApiBus, id: string): Promise<Json> => (await bus.call<Json>('GET', `/api/consumers/${id}`, undefined, AUTH)).body;

/**
 * The page of the broker at `base`, opened with `token`; a test fails on an error the page logs (a refused call
 * among them). `before` sees the page before it is opened.
 */
async function openPage(bus: { base: string }, token = TOKEN, before?: (page: Page) => void): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  scope.defer(() => context.close());
  // A step that cannot happen fails with what it waited for, well before the test's own timeout.
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (e) => failures.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') failures.push(m.text());
  });
  scope.defer(() => expect(failures).toEqual([]));
  before?.(page);
  await page.goto(`${bus.base}/?token=${token}`);
  return page;
}

/** The text of a table cell: `row` picks the row by its data attribute, `cls` the cell. */
const cellText = (page: Page, row: string, cls: string): Promise<string> => page.locator(`${row} td.${cls.replaceAll(' ', '.')}`).innerText();

/** The seqs of a table's rows, in order, read at once (the page may rebuild the table between two reads). */
const seqs = (page: Page, table: string): Promise<string[]> => page.locator(`#${table} tr[data-seq] td:first-child`).allInnerTexts();

describe.each(STORES)('the dashboard on %s', (store) => {
  test('shows the topics and consumers the broker has, and follows new messages live, without a reload', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: TOKEN });
    expect((await fetch(`${bus.base}/`)).status).toBe(401); // the page is behind the token, as every route
    expect((await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'], ack_timeout_ms: 90_000, max_deliveries: 4 }, AUTH)).status).toBe(200);
    await publish(bus, 'orders.created', 3);
    await publish(bus, 'audit.login', 2);

    const page = await openPage(bus);
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));
    await until('the topics on the page', async () => (await page.locator('#topics tr[data-topic]').count()) === 2);
    expect(await page.locator('#topics tr[data-topic="orders.created"] td').allInnerTexts()).toEqual(['orders.created', '3', '1', '3', expect.any(String)]);
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'lag')).toBe('3');
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'patterns')).toBe('orders.*');
    // Its own limits, and the setting's where it has none.
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'ack-timeout')).toBe('90 s');
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'max-deliveries')).toBe('4');
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'max-in-flight')).toBe('256');
    expect(await page.locator('#live').innerText()).toBe('live');

    await publish(bus, 'orders.created', 4);
    await until('the lag and the count to follow', async () =>
      (await cellText(page, '#consumers tr[data-consumer="billing"]', 'lag')) === '7' &&
      (await page.locator('#topics tr[data-topic="orders.created"] td').nth(1).innerText()) === '7');
    // The rate of the second those were published in, as /api/stats/stream sampled it.
    await until('a publish rate', async () => Number(await page.locator('#published-rate').innerText()) > 0);
    expect(await page.locator('#head-seq').innerText()).toBe('9');
    expect(await page.locator('#lag-chart .uplot').count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);

    // A push consumer on a refused port: its last failure, with the address, in its row; none for billing.
    const refused = await deadAddress('tcp');
    expect((await bus.call('PUT', '/api/consumers/hook', { address: refused, patterns: ['orders.*'] }, AUTH)).status).toBe(200);
    const hostPort = refused.replace('tcp://', '');
    await until('the refusal on the page', async () =>
      (await page.locator('#consumers tr[data-consumer="hook"] td.last-failure').count()) === 1 &&
      (await cellText(page, '#consumers tr[data-consumer="hook"]', 'last-failure')).includes(`ECONNREFUSED ${hostPort}`));
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'last-failure')).toBe('');

    // The message browser: by pattern, then by seq.
    await page.fill('#browse input[name=pattern]', 'orders.*');
    await page.click('#browse button[type=submit]');
    await until('the orders in the browser', async () => (await page.locator('#messages tr[data-seq]').count()) === 7);
    await page.fill('#browse input[name=from_seq]', '8');
    await page.click('#browse button[type=submit]');
    await until('the orders from seq 8', async () => (await seqs(page, 'messages')).join() === '8,9');
    expect(await cellText(page, '#messages tr[data-seq="8"]', 'topic')).toBe('orders.created');
  });

  test('lists the schedules with their next and last fire, follows fires live, filters by kind, pages, pauses and cancels', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: TOKEN });
    const put = async (id: string, body: Json): Promise<Json> => {
      const made = await bus.call<Json>('PUT', `/api/schedules/${id}`, body, AUTH);
      expect(made.status, JSON.stringify(made.body)).toBe(200);
      return made.body;
    };
    const nightly = await put('nightly', { topic: 'reports.daily', payload: 'go', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    await put('tick', { topic: 'health.tick', payload: 'x', every_ms: 1000 });
    const later = await bus.call<Json>('POST', '/api/publish', { topic: 'mail.reminder', payload: 'r', delay_ms: 3_600_000 }, AUTH);
    const laterId = later.body['schedule_id'] as string;
    const schedule = async (id: string) => bus.call<Json>('GET', `/api/schedules/${id}`, undefined, AUTH);

    const page = await openPage(bus);
    const row = (id: string): string => `#schedules tr[data-schedule="${id}"]`;
    await until('the schedules on the page', async () => (await page.locator('#schedules tr[data-schedule]').count()) === 3);
    expect(await page.locator(`${row('nightly')} td`).allInnerTexts()).toEqual([
      'nightly', 'cron', 'reports.daily', '0 2 * * *', 'Europe/Berlin', expect.any(String), '–', '0', '0', 'active', expect.stringMatching(/^Pause\s*Cancel$/),
    ]);
    expect(await page.locator(`${row('nightly')} td.next-fire`).getAttribute('title')).toBe(new Date(nightly['next_at'] as number).toISOString());
    expect(await cellText(page, row(laterId), 'kind')).toBe('once');
    expect(await page.locator(`${row(laterId)} td.next-fire`).getAttribute('title')).toBe(new Date(later.body['deliver_at'] as number).toISOString());
    expect(await cellText(page, row('tick'), 'rule')).toBe('every 1s');

    // The interval fires once a second: its count and last fire follow on the page, without a reload.
    await until('fires of tick on the page', async () => Number(await cellText(page, row('tick'), 'fires')) >= 2);
    const [nextFire, lastFire] = await page.locator(`${row('tick')} td.time`).evaluateAll((tds: { getAttribute(name: string): string | null }[]) => tds.map((td) => td.getAttribute('title') ?? ''));
    expect(Date.parse(nextFire!)).toBeGreaterThan(Date.parse(lastFire!));
    const stored = (await schedule('tick')).body;
    // The page's last fire is one the broker made, a tick or two ago at most.
    expect(stored['last_at'] as number).toBeGreaterThanOrEqual(Date.parse(lastFire!));
    expect((stored['last_at'] as number) - Date.parse(lastFire!)).toBeLessThan(5000);

    await page.selectOption('#schedules-kind', 'cron');
    await until('only the cron schedule', async () => (await page.locator('#schedules tr[data-schedule] td.name').allInnerTexts()).join() === 'nightly');
    await page.selectOption('#schedules-kind', '');

    await page.locator(`${row('nightly')} button`, { hasText: 'Pause' }).click();
    await until('the schedule paused', async () => (await schedule('nightly')).body['paused'] === true);
    await until('the page to show it paused', async () => (await cellText(page, row('nightly'), 'state')) === 'paused');
    await page.locator(`${row('nightly')} button`, { hasText: 'Resume' }).click();
    await until('the schedule resumed', async () => (await schedule('nightly')).body['paused'] === false);

    page.once('dialog', (d) => void d.accept());
    await page.locator(`${row(laterId)} button`, { hasText: 'Cancel' }).click();
    await until('the delayed message cancelled', async () => (await schedule(laterId)).status === 404);
    await until('its row gone', async () => (await page.locator(row(laterId)).count()) === 0);

    // 100 a page: the 101st of these is on the next page, by id.
    for (let i = 0; i < 100; i++) await put(`p${String(i).padStart(3, '0')}`, { topic: 'paged', payload: 'x', every_ms: 3_600_000, start_at: Date.now() + 86_400_000 });
    // All of them put: a full page shown while some were still to come (tick on it) would have no next page,
    // and one read before the last put had its next at tick. The cron page shown proves every read from before
    // the puts answered (one at a time); the pages shown after it are read after the puts.
    await page.selectOption('#schedules-kind', 'cron');
    await until('only the cron schedule again', async () => (await page.locator('#schedules tr[data-schedule] td.name').allInnerTexts()).join() === 'nightly');
    await page.selectOption('#schedules-kind', '');
    const firstPage = ['nightly', ...Array.from({ length: 99 }, (_, i) => `p${String(i).padStart(3, '0')}`)].join();
    await until('a full first page', async () => (await page.locator('#schedules tr[data-schedule] td.name').allInnerTexts()).join() === firstPage);
    await page.click('#schedules-next');
    await until('the rest on the next page', async () => (await page.locator('#schedules tr[data-schedule] td.name').allInnerTexts()).join() === 'p099,tick');
    await page.click('#schedules-first');
    await until('the first page again', async () => (await page.locator('#schedules tr[data-schedule] td.name').first().innerText()) === 'nightly');
  });

  test('pauses and resumes a consumer, requeues a dead letter (delivered again) and purges the others', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: TOKEN, EVENTBUS_MAX_DELIVERIES: '1' });
    const ws = await wsConnect(bus.app.ports.http, { headers: AUTH });
    scope.defer(() => ws.close());
    const sub = await ws.subscribe({ pattern: 'pay', consumer: 'payments' });
    await publish(bus, 'pay', 3);
    for (let i = 0; i < 3; i++) {
      const m = await ws.next((f) => f.type === 'message');
      ws.send({ type: 'nack', subscription: sub, seq: m['seq'] });
    }
    await until('three dead letters', async () => (await consumer(bus, 'payments'))['dead_letters'] === 3);

    const page = await openPage(bus);
    const row = '#consumers tr[data-consumer="payments"]';
    await page.locator(`${row} button`, { hasText: 'Pause' }).click();
    await until('the consumer paused', async () => (await consumer(bus, 'payments'))['paused'] === true);
    await until('the page to show it paused', async () => (await cellText(page, row, 'state')) === 'paused');
    await page.locator(`${row} button`, { hasText: 'Resume' }).click();
    await until('the consumer resumed', async () => (await consumer(bus, 'payments'))['paused'] === false);

    await page.selectOption('#dead-letters-consumer', 'payments');
    await until('the dead letters listed', async () => (await page.locator('#dead-letters tr[data-seq]').count()) === 3);
    await page.locator('#dead-letters tr[data-seq="2"] button', { hasText: 'Requeue' }).click();
    const again = await ws.next((f) => f.type === 'message');
    expect(again).toMatchObject({ seq: 2, delivery: 1 });
    ws.send({ type: 'ack', subscription: sub, seq: 2 });
    await until('the requeued one to leave the list', async () => (await seqs(page, 'dead-letters')).join() === '1,3');
    expect((await consumer(bus, 'payments'))['dead_letters']).toBe(2);

    page.once('dialog', (d) => void d.accept());
    await page.click('#purge-all');
    await until('no dead letter left', async () => (await consumer(bus, 'payments'))['dead_letters'] === 0);
    await until('the list to be empty', async () => (await page.locator('#dead-letters tr[data-seq]').count()) === 0);
    expect((await bus.call<{ dead_letters: unknown[] }>('GET', '/api/consumers/payments/dead-letters', undefined, AUTH)).body.dead_letters).toEqual([]);
    expect(ws.pending((f) => f.type === 'message')).toEqual([]);
  });

});

// The store plays no part (the credentials' API is held to both stores by test/transports/credentials.test.ts):
// what the page shows for what its token may do.
describe('the dashboard and credentials', () => {
  const store: StoreKind = 'sqlite';

  test('an admin makes a credential with the form, is shown its token once, rotates it and removes it', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: TOKEN });
    const whoami = (token: string) => bus.call<Json>('GET', '/api/whoami', undefined, { authorization: `Bearer ${token}` });
    const stored = async (): Promise<string[]> => (await bus.call<Json[]>('GET', '/api/credentials', undefined, AUTH)).body.map((c) => c['name'] as string);
    const page = await openPage(bus);
    const panel = page.locator('#credentials-panel');
    const row = '#credentials tr[data-credential="deployer"]';
    await until('the empty list', async () => (await page.locator('#credentials tr.empty').count()) === 1);
    expect(await page.locator('#credential').innerText()).toBe('as admin');

    // Pattern lists typed comma- or space-separated; every field found by its label.
    await panel.getByLabel('name').fill('deployer');
    await panel.getByLabel('publish', { exact: true }).fill('deploy.*, audit.#');
    await panel.getByLabel('subscribe').fill('deploy.#  audit.#');
    await panel.getByLabel('consumers').fill('deployer-*');
    await panel.getByLabel('publish rate /s').fill('50');
    await panel.getByLabel('monitor').check();
    await panel.getByRole('button', { name: 'Make credential' }).click();
    await until('the token shown', async () => (await page.locator('#issued').isVisible()) && (await page.locator('#issued-token').innerText()) !== '');
    const token = await page.locator('#issued-token').innerText();
    expect(await page.locator('#issued').innerText()).toMatch(/deployer.*will not be shown again/s);
    expect((await whoami(token)).body).toEqual({
      name: 'deployer', publish: ['deploy.*', 'audit.#'], subscribe: ['deploy.#', 'audit.#'], consumers: ['deployer-*'], monitor: true, admin: false, publish_rate: 50,
    });
    await until('the credential listed', async () => (await page.locator(row).count()) === 1);
    expect(await page.locator(`${row} td`).allInnerTexts()).toEqual([
      'deployer', 'deploy.*, audit.#', 'deploy.#, audit.#', 'deployer-*', 'yes', 'no', '50/s', expect.any(String), expect.any(String), expect.stringMatching(/^Rotate\s*Remove$/),
    ]);
    expect(await panel.getByLabel('name').inputValue()).toBe(''); // the form is ready for the next one
    // Once: the list never shows it, and Done takes it off the page.
    expect(await page.locator('#credentials').innerText()).not.toContain(token);
    await panel.getByRole('button', { name: 'Done' }).click();
    expect(await page.locator('#issued').isHidden()).toBe(true);
    expect(await page.content()).not.toContain(token);

    page.once('dialog', (d) => void d.accept());
    await page.locator(`${row} button`, { hasText: 'Rotate' }).click();
    const rotated = await until('the new token shown', async () => (await page.locator('#issued').isVisible()) && (await page.locator('#issued-token').innerText()));
    expect(rotated).not.toBe(token);
    expect((await whoami(token)).status).toBe(401);
    expect((await whoami(rotated)).body['name']).toBe('deployer');

    page.once('dialog', (d) => void d.accept());
    await page.locator(`${row} button`, { hasText: 'Remove' }).click();
    await until('the credential removed', async () => !(await stored()).includes('deployer'));
    await until('its row gone', async () => (await page.locator(row).count()) === 0);
    expect((await whoami(rotated)).status).toBe(401);
  });

  test('a credential with monitor alone sees consumers, dead letters and schedules read-only: no button that acts, no Credentials panel', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: TOKEN, EVENTBUS_MAX_DELIVERIES: '1' });
    const made = await bus.call<Json>('POST', '/api/credentials', { name: 'ops', monitor: true }, AUTH);
    expect(made.status).toBe(201);
    // A consumer with a dead letter (delivered, then nacked: its one delivery spent) and a message to go, and a schedule.
    const ws = await wsConnect(bus.app.ports.http, { headers: AUTH });
    scope.defer(() => ws.close());
    const sub = await ws.subscribe({ pattern: 'pay', consumer: 'payments' });
    await publish(bus, 'pay', 1);
    ws.send({ type: 'nack', subscription: sub, seq: (await ws.next((f) => f.type === 'message'))['seq'] });
    await until('a dead letter', async () => (await consumer(bus, 'payments'))['dead_letters'] === 1);
    await publish(bus, 'pay', 1);
    expect((await bus.call('PUT', '/api/schedules/nightly', { topic: 'reports.daily', payload: 'go', cron: '0 2 * * *' }, AUTH)).status).toBe(200);

    // Every call the page makes is one ops may make: a refused one would fail the test (openPage).
    const page = await openPage(bus, made.body['token'] as string);
    await until('the consumer with its lag, its dead letter and the schedule on the page', async () =>
      (await page.locator('#consumers tr[data-consumer="payments"] td.lag').count()) === 1 &&
      (await cellText(page, '#consumers tr[data-consumer="payments"]', 'lag')) === '1' &&
      (await page.locator('#dead-letters tr[data-seq="1"]').count()) === 1 &&
      (await page.locator('#schedules tr[data-schedule="nightly"]').count()) === 1);
    expect(await page.locator('#credential').innerText()).toBe('as ops, read-only');
    expect(await cellText(page, '#dead-letters tr[data-seq="1"]', 'topic')).toBe('pay');
    expect(await cellText(page, '#schedules tr[data-schedule="nightly"]', 'state')).toBe('active');
    // Absent, not disabled: no button in the consumers and dead letters, none on a schedule, and no column for them.
    expect(await page.locator('#consumers-panel button, #dead-letters-panel button, #schedules button').count()).toBe(0);
    for (const table of ['consumers', 'dead-letters', 'schedules']) {
      expect(await page.locator(`#${table} tbody tr:first-child td`).count(), table).toBe(await page.locator(`#${table} thead th`).count());
    }
    // What is left on the page only turns the schedules' pages; no form, and no Credentials panel. Nor the
    // message browser: ops may read no topic.
    expect(await page.locator('main button').allInnerTexts()).toEqual(['First page', 'Next page']);
    expect(await page.locator('main form, #credentials-panel, #messages-panel').count()).toBe(0);
  });
});

// The store plays no part: what the page does with what GET /api/whoami says.
describe('the dashboard for a token that may not monitor', () => {
  test('is told so, in one message, and shown nothing else', async () => {
    const publisher = { name: 'publisher', publish: ['orders.#'] };
    // The page itself holds nothing: any valid token gets it, and its calls are what is checked.
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: TOKEN });
    const issued = await bus.call<Json>('POST', '/api/credentials', publisher, AUTH);
    expect(issued.status).toBe(201);
    const base = bus.base;
    const calls: string[] = [];
    const page = await openPage({ base }, issued.body['token'] as string, (p) => p.on('request', (r) => calls.push(new URL(r.url()).pathname)));
    await until('the message', async () => (await page.locator('#problem').isVisible()) && (await page.locator('#problem').innerText()));
    expect(await page.locator('#problem').innerText()).toBe(
      'the credential publisher may not monitor this broker: the dashboard needs a token whose credential has monitor (to watch) or admin (to act as well)',
    );
    expect(await page.locator('main').isHidden()).toBe(true);
    expect(await page.locator('#live').isHidden()).toBe(true);
    // It asked who it is, and nothing it would be refused (openPage fails the test on a refused call).
    expect(calls).toEqual(['/', '/api/whoami']);
  });
});

// axe-core (the engine of Lighthouse's accessibility audit) over the page with every panel filled: rows with
// buttons, dead letters, schedules, the credentials form, and the charts drawn.
describe('the dashboard for people using assistive technology', () => {
  test('axe-core finds no violation on the page with every panel filled', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: TOKEN, EVENTBUS_MAX_DELIVERIES: '1' });
    expect((await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] }, AUTH)).status).toBe(200);
    expect((await bus.call('PUT', '/api/schedules/nightly', { topic: 'reports.daily', payload: 'go', cron: '0 2 * * *' }, AUTH)).status).toBe(200);
    expect((await bus.call('POST', '/api/credentials', { name: 'reader', monitor: true }, AUTH)).status).toBe(201);
    const ws = await wsConnect(bus.app.ports.http, { headers: AUTH });
    scope.defer(() => ws.close());
    const sub = await ws.subscribe({ pattern: 'orders.*', consumer: 'billing' });
    await publish(bus, 'orders.created', 2);
    const m = await ws.next((f) => f.type === 'message');
    ws.send({ type: 'nack', subscription: sub, seq: m['seq'] });
    await until('a dead letter', async () => (await consumer(bus, 'billing'))['dead_letters'] === 1);

    const page = await openPage(bus);
    await until('the panels filled', async () =>
      (await page.locator('#consumers tr[data-consumer]').count()) === 1 &&
      (await page.locator('#schedules tr[data-schedule]').count()) === 1 &&
      (await page.locator('#credentials tr[data-credential]').count()) >= 1 &&
      (await page.locator('#lag-chart .uplot').count()) === 1);
    await page.selectOption('#dead-letters-consumer', 'billing');
    await until('the dead letter listed', async () => (await page.locator('#dead-letters tr[data-seq]').count()) === 1);
    await page.click('#browse button[type=submit]');
    await until('the browser filled', async () => (await page.locator('#messages tr[data-seq]').count()) === 2);

    await page.evaluate(axe.source); // through the debugger protocol, which the page's script-src does not govern
    const violations = await page.evaluate(async () => {
      const result = await (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; nodes: { target: unknown[] }[] }[] }> } }).axe.run();
      return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(' ')}`);
    });
    expect(violations).toEqual([]);
  });

  test('with their first samples, the charts span the last minute, not years', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: TOKEN });
    const page = await openPage(bus);
    await until('both charts drawn', async () => (await page.locator('.chart .uplot').count()) === 2);
    for (const chart of ['#rates-chart', '#lag-chart']) {
      const span = Number(await page.locator(chart).getAttribute('data-span-seconds'));
      expect(span, chart).toBeGreaterThan(0);
      expect(span, chart).toBeLessThanOrEqual(120);
    }
  });
});

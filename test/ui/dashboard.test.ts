// The dashboard (GET /, docs/dashboard.md) end to end, in headless Chromium against a real broker on either
// store, with a token: the page shows the topics, consumers and schedules made through the API, follows new
// messages and fires without a reload, and its buttons act on the broker (pause and resume, requeue, purge,
// cancel a schedule) as the API then says. One browser for the file; the page as `npm run build` makes it, built again first.
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

async function openPage(bus: ApiBus): Promise<Page> {
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
  await page.goto(`${bus.base}/?token=${TOKEN}`);
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
    expect((await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] }, AUTH)).status).toBe(200);
    await publish(bus, 'orders.created', 3);
    await publish(bus, 'audit.login', 2);

    const page = await openPage(bus);
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));
    await until('the topics on the page', async () => (await page.locator('#topics tr[data-topic]').count()) === 2);
    expect(await page.locator('#topics tr[data-topic="orders.created"] td').allInnerTexts()).toEqual(['orders.created', '3', '1', '3', expect.any(String)]);
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'lag')).toBe('3');
    expect(await cellText(page, '#consumers tr[data-consumer="billing"]', 'patterns')).toBe('orders.*');
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
    // All of them put: a full page shown while some were still to come (tick on it) would have no next page.
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

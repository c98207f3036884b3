// http:// push (PROTOCOL.md §4): a POST of JSON per message, any 2xx acks it, anything else is retried with
// backoff up to EVENTBUS_MAX_DELIVERIES and then dead-lettered; every failed attempt is a delivery_failures
// row (§6). The whole app on a temp database; each consumer a real HTTP server that records every request.
// EVENTBUS_ACK_TIMEOUT_MS is small because due retries are picked up on the ack-deadline tick (a quarter of
// the ack timeout, at most 250 ms): 400 ms makes that tick 100 ms.
import { describe, expect, test } from 'vitest';
import { pushBus, startEndpoint, type Endpoint, type EndpointOptions } from '../helpers/consumers.js';
import type { TestDb } from '../helpers/broker.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

const TICK_MS = 100;
const RETRY_ENV = { EVENTBUS_ACK_TIMEOUT_MS: '400' };

async function consumerOf(options: EndpointOptions = {}): Promise<Endpoint> {
  const ep = await startEndpoint('http', options);
  scope.defer(() => ep.stop());
  return ep;
}

interface FailureRow {
  consumer: string;
  address: string;
  seq: number | null;
  attempt: number;
  error: string;
  http_status: number | null;
}

const failuresOf = (db: TestDb, consumer: string): FailureRow[] =>
  query<FailureRow>(
    db,
    'SELECT consumer, address, seq, attempt, error, http_status FROM delivery_failures WHERE consumer = ? ORDER BY attempt, id',
    consumer,
  );

const attemptsOf = (ep: Endpoint): { seq: unknown; delivery: unknown }[] =>
  ep.received.map((r) => ({ seq: r.body?.seq, delivery: r.body?.delivery }));

describe('http push: failures', () => {
  test('an endpoint answering 500 gets EVENTBUS_MAX_DELIVERIES attempts, then the message is dead-lettered', async () => {
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_MAX_DELIVERIES: '4' });
    const failing = await consumerOf({ status: () => 500 });
    await bus.register('failing', failing.url, 'billing.*');
    const [seq] = await bus.publish('billing.charge', ['charge-1']);
    const dead = await until('a dead letter', () => {
      const rows = query<{ consumer: string; seq: number; payload: string; deliveries: number }>(bus.db, 'SELECT consumer, seq, payload, deliveries FROM dead_letters');
      return rows.length > 0 && rows;
    });
    expect(dead).toEqual([{ consumer: 'failing', seq, payload: 'charge-1', deliveries: 4 }]);
    expect(query(bus.db, 'SELECT status FROM messages WHERE seq = ?', seq)).toEqual([{ status: 'dead' }]);
    expect(attemptsOf(failing)).toEqual([1, 2, 3, 4].map((delivery) => ({ seq, delivery })));
    const failures = await until('four delivery_failures rows', () => {
      const rows = failuresOf(bus.db, 'failing');
      return rows.length >= 4 && rows;
    });
    expect(failures.map((f) => [f.seq, f.attempt, f.http_status])).toEqual([1, 2, 3, 4].map((attempt) => [seq, attempt, 500]));
    for (const f of failures) {
      expect(f.address).toBe(failing.url);
      expect(f.error).toContain('500');
    }
    await sleep(400);
    expect(failing.received).toHaveLength(4); // nothing after the last attempt
  });

  test("the dead letter's reason, the failure log and the consumer's last_failure name the status and the start of the body", async () => {
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_MAX_DELIVERIES: '3' });
    // A line break inside, to be folded, and more than the 200 characters shown.
    const page = `database is down\r\n  at pool.acquire (db.js:12)\n${'x'.repeat(300)}`;
    const failing = await consumerOf({ status: () => 500, answer: () => page });
    await bus.register('failing', failing.url, 'billing.*');
    const [seq] = await bus.publish('billing.charge', ['charge-1']);
    const reason = await until('a dead letter', () => query<{ reason: string }>(bus.db, 'SELECT reason FROM dead_letters WHERE seq = ?', seq)[0]?.reason);
    const shown = `database is down at pool.acquire (db.js:12) ${'x'.repeat(200 - 'database is down at pool.acquire (db.js:12) '.length)}…`;
    expect(reason).toBe(`nacked after 3 deliveries: HTTP 500 Internal Server Error: ${shown}`);
    const failures = await until('three delivery_failures rows', () => {
      const rows = failuresOf(bus.db, 'failing');
      return rows.length >= 3 && rows;
    });
    for (const f of failures) expect(f.error).toBe(`HTTP 500 Internal Server Error: ${shown}`);
    const consumer = (await (await fetch(`http://127.0.0.1:${bus.app.ports.http}/api/consumers/failing`)).json()) as { last_failure: { at: number; error: string } | null };
    expect(consumer.last_failure).toEqual({ at: expect.any(Number), error: `HTTP 500 Internal Server Error: ${shown}` });
    expect(Math.abs(consumer.last_failure!.at - Date.now())).toBeLessThan(60_000);
  });

  test('the delay before each retry grows with the attempt number and stays within the backoff ceiling', async () => {
    // Twelve consumers fail the same message five times each; full jitter makes single delays random, so the
    // growth is checked on their mean, and each delay against its ceiling (100 ms doubling, plus one tick).
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_MAX_DELIVERIES: '5' });
    const consumers: Endpoint[] = [];
    for (let i = 0; i < 12; i++) {
      const ep = await consumerOf({ status: () => 503 });
      await bus.register(`failing-${i}`, ep.url, 'billing.*');
      consumers.push(ep);
    }
    await bus.publish('billing.charge', ['charge-1']);
    for (const ep of consumers) await ep.waitFor(5, 10_000);
    const gaps = consumers.map((ep) => ep.received.slice(1).map((r, i) => r.at - ep.received[i]!.at));
    const ceilings = [100, 200, 400, 800];
    for (const perConsumer of gaps) {
      perConsumer.forEach((gap, k) => {
        expect(gap, `retry ${k + 1} waited ${gap} ms`).toBeLessThanOrEqual(ceilings[k]! + TICK_MS + 100);
      });
    }
    const mean = (k: number): number => gaps.reduce((sum, g) => sum + g[k]!, 0) / gaps.length;
    expect(mean(3), `mean delays by attempt: ${[0, 1, 2, 3].map((k) => Math.round(mean(k))).join(', ')} ms`).toBeGreaterThan(mean(0) + 50);
    for (const ep of consumers) expect(attemptsOf(ep).map((a) => a.delivery)).toEqual([1, 2, 3, 4, 5]);
  });

  test('any 2xx acks at once; a 3xx or 4xx answer counts as a failed attempt', async () => {
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_MAX_DELIVERIES: '2' });
    const noContent = await consumerOf({ status: () => 204 });
    const redirect = await consumerOf({ status: () => 302 });
    const notFound = await consumerOf({ status: () => 404 });
    await bus.register('no-content', noContent.url, 'orders.*');
    await bus.register('redirect', redirect.url, 'orders.*');
    await bus.register('not-found', notFound.url, 'orders.*');
    const [seq] = await bus.publish('orders.created', ['o-1']);
    await until('two dead letters', () => query<{ consumer: string }>(bus.db, 'SELECT consumer FROM dead_letters ORDER BY consumer').length >= 2);
    expect(query(bus.db, 'SELECT consumer, seq FROM dead_letters ORDER BY consumer')).toEqual([
      { consumer: 'not-found', seq },
      { consumer: 'redirect', seq },
    ]);
    expect(noContent.received).toHaveLength(1);
    expect(redirect.received).toHaveLength(2);
    expect(notFound.received).toHaveLength(2);
    const statuses = await until('the failures of redirect and not-found', () => {
      const rows = query<{ consumer: string; http_status: number }>(bus.db, 'SELECT consumer, http_status FROM delivery_failures ORDER BY consumer, attempt');
      return rows.length >= 4 && rows;
    });
    expect(statuses).toEqual([
      { consumer: 'not-found', http_status: 404 },
      { consumer: 'not-found', http_status: 404 },
      { consumer: 'redirect', http_status: 302 },
      { consumer: 'redirect', http_status: 302 },
    ]);
  });

  test('an endpoint that does not answer within EVENTBUS_PUSH_TIMEOUT_MS counts as a failed attempt', async () => {
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_PUSH_TIMEOUT_MS: '200', EVENTBUS_MAX_DELIVERIES: '2' });
    const silent = await consumerOf({ stalled: true });
    await bus.register('silent', silent.url, 'orders.*');
    const [seq] = await bus.publish('orders.created', ['o-1']);
    const rows = await until('two failed attempts', () => {
      const r = failuresOf(bus.db, 'silent');
      return r.length >= 2 && r;
    });
    expect(rows.map((r) => [r.seq, r.attempt, r.http_status])).toEqual([
      [seq, 1, null],
      [seq, 2, null],
    ]);
    expect(rows[0]!.error).toMatch(/no answer within 200 ms/);
    await until('the dead letter', () => query(bus.db, 'SELECT consumer, seq FROM dead_letters').length === 1);
    expect(silent.received).toHaveLength(2);
  });
});

describe('http push: recovery and order', () => {
  test('a 2xx after two 500s acks the message (its delivery field is 3) and the next message follows, in order', async () => {
    const bus = await pushBus(scope, { ...RETRY_ENV, EVENTBUS_MAX_DELIVERIES: '5' });
    const flaky = await consumerOf({ status: (body) => (body.payload === 'first' && Number(body.delivery) < 3 ? 500 : 200) });
    await bus.register('flaky', flaky.url, 'orders.*');
    const [first, second] = await bus.publish('orders.created', ['first', 'second']);
    await flaky.waitFor(4);
    await sleep(200);
    expect(attemptsOf(flaky)).toEqual([
      { seq: first, delivery: 1 },
      { seq: first, delivery: 2 },
      { seq: first, delivery: 3 },
      { seq: second, delivery: 1 },
    ]);
    const processed = await until('both messages processed', () => {
      const rows = query<{ seq: number; delivery: number }>(bus.db, "SELECT seq, delivery FROM processed_messages WHERE consumer = 'flaky' ORDER BY seq");
      return rows.length >= 2 && rows;
    });
    expect(processed).toEqual([
      { seq: first, delivery: 3 },
      { seq: second, delivery: 1 },
    ]);
    expect(query(bus.db, 'SELECT seq FROM dead_letters')).toEqual([]);
    expect(failuresOf(bus.db, 'flaky').map((f) => [f.seq, f.attempt, f.http_status])).toEqual([
      [first, 1, 500],
      [first, 2, 500],
    ]);
    await until('the status column to say processed', () => query<{ status: string }>(bus.db, 'SELECT status FROM messages WHERE seq IN (?, ?)', first, second).every((r) => r.status === 'processed'));
  });

  test('requests are POSTs of application/json to the registered path and query', async () => {
    const bus = await pushBus(scope);
    const consumer = await consumerOf();
    await bus.register('hooked', `${consumer.url}/hooks/events?source=bus`, 'orders.*');
    await bus.publish('orders.created', ['o-1']);
    await consumer.waitFor(1);
    expect(consumer.received[0]!.request).toMatchObject({ method: 'POST', path: '/hooks/events?source=bus', contentType: 'application/json' });
  });
});

// /metrics for messages in time (PROTOCOL.md §11) on both stores, over real HTTP: eventbus_schedules_pending
// follows what the store holds as schedules are made, fired and removed, and each fire is one observation of
// eventbus_schedule_fire_delay_seconds, as late as it was.
import { describe, expect, test } from 'vitest';
import { metric, startApi, type StoreKind } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const STORES: StoreKind[] = ['sqlite', 'postgres'];

describe.each(STORES)('schedule metrics on %s', (store) => {
  test('eventbus_schedules_pending counts delayed messages waiting and recurring schedules; a fire and a removal take theirs away', async () => {
    const bus = await startApi(scope, store);
    const pending = async (): Promise<number | undefined> => (await metric(bus.base, 'eventbus_schedules_pending')).get('');
    expect(await pending()).toBe(0);
    await bus.call('POST', '/api/publish', { topic: 'm.later', payload: 'a', delay_ms: 3_600_000 });
    const soon = await bus.call<{ schedule_id: string }>('POST', '/api/publish', { topic: 'm.soon', payload: 'b', delay_ms: 300 });
    const put = await bus.call('PUT', '/api/schedules/nightly', { topic: 'm.cron', payload: 'c', cron: '0 2 * * *' });
    expect(put.status).toBe(200);
    expect(await pending()).toBe(3);
    await until('the delayed message fired', async () => (await bus.call('GET', `/api/schedules/${soon.body.schedule_id}`)).status === 404);
    expect(await pending()).toBe(2);
    await bus.call('DELETE', '/api/schedules/nightly');
    expect(await pending()).toBe(1);
  });

  test('eventbus_schedule_fire_delay_seconds observes each fire once, due to appended, in seconds', async () => {
    const bus = await startApi(scope, store);
    const delay = (part: string) => metric(bus.base, `eventbus_schedule_fire_delay_seconds_${part}`);
    expect((await delay('count')).get('')).toBe(0);
    for (const topic of ['d.one', 'd.two']) await bus.call('POST', '/api/publish', { topic, payload: 'x', delay_ms: 200 });
    await until('both fired', async () => (await bus.call<{ messages: unknown[] }>('GET', '/api/messages?pattern=d.*')).body.messages.length === 2);
    await until('both observed', async () => (await delay('count')).get('') === 2);
    const sum = (await delay('sum')).get('')!;
    // Appended after their time and, on a broker with nothing else to do, well within the 1 s §11 allows.
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(sum).toBeLessThan(2);
    const buckets = await delay('bucket');
    expect(buckets.get('{le="1"}')).toBe(2);
    expect(buckets.get('{le="+Inf"}')).toBe(2);
    // No other fire: the count stays at two.
    await bus.call('POST', '/api/publish', { topic: 'd.now', payload: 'y' });
    expect((await delay('count')).get('')).toBe(2);
  });
});

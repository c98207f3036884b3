// Messages in time over the HTTP API (PROTOCOL.md §11), on both stores: a publish with delay_ms or deliver_at
// answered with its schedule once stored and appended once due; a batch's schedule_ids; recurring schedules
// made, read, listed a page at a time, paused, resumed and removed; errors with their codes and statuses.
import { describe, expect, test } from 'vitest';
import * as b from '../../src/protocol/http-bodies.js';
import { startApi, type StoreKind } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const STORES: StoreKind[] = ['sqlite', 'postgres'];
type Json = Record<string, unknown>;

describe.each(STORES)('schedules over HTTP on %s', (store) => {
  test('a delayed publish is answered with its schedule, listed until due, then appended with a new seq', async () => {
    const bus = await startApi(scope, store);
    const before = Date.now();
    const s = await bus.call<Json>('POST', '/api/publish', { topic: 'mail.reminder', payload: { to: 'ann' }, delay_ms: 600, message_id: 'remind-ann' });
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(b.Scheduled.parse(s.body)).toMatchObject({ message_id: 'remind-ann', duplicate: false });
    expect(s.body['deliver_at']).toBeGreaterThanOrEqual(before + 600);
    const id = s.body['schedule_id'] as string;
    const again = await bus.call<Json>('POST', '/api/publish', { topic: 'mail.reminder', payload: 'x', delay_ms: 600, message_id: 'remind-ann' });
    expect(again.body).toEqual({ ...s.body, duplicate: true });
    const listed = await bus.call<{ schedules: Json[]; next: string | null }>('GET', '/api/schedules?kind=once');
    expect(listed.body.schedules.map((x) => [x['id'], x['kind'], x['next_at']])).toEqual([[id, 'once', s.body['deliver_at']]]);
    const now = await bus.call<Json>('POST', '/api/publish', { topic: 'mail.now', payload: 'n' });
    expect(now.body).toMatchObject({ seq: 1 });
    await until('appended once due', async () => (await bus.call<{ messages: Json[] }>('GET', '/api/messages?pattern=mail.reminder')).body.messages.length === 1);
    const [message] = (await bus.call<{ messages: Json[] }>('GET', '/api/messages?pattern=mail.reminder')).body.messages;
    expect(message).toMatchObject({ seq: 2, message_id: 'remind-ann', payload: '{"to":"ann"}' });
    expect((message!['metadata'] as Json)['schedule_id']).toBe(id);
    expect(message!['created_at']).toBeGreaterThanOrEqual(s.body['deliver_at'] as number);
    expect((await bus.call('GET', `/api/schedules/${id}`)).status).toBe(404);
  });

  test('a batch with delayed messages answers schedule_ids beside seqs; DELETE cancels one', async () => {
    const bus = await startApi(scope, store);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const r = await bus.call<{ seqs: (number | null)[]; schedule_ids: (string | null)[]; message_ids: (string | null)[] }>('POST', '/api/publish', {
      messages: [
        { topic: 'a', payload: '1' },
        { topic: 'a', payload: '2', deliver_at: at },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.seqs).toEqual([1, null]);
    expect(r.body.schedule_ids[0]).toBeNull();
    const id = r.body.schedule_ids[1]!;
    expect((await bus.call<Json>('GET', `/api/schedules/${id}`)).body).toMatchObject({ id, kind: 'once', topic: 'a', payload: '2', next_at: Date.parse(at), paused: false });
    expect((await bus.call('DELETE', `/api/schedules/${id}`)).body).toEqual({ id });
    expect((await bus.call<Json>('DELETE', `/api/schedules/${id}`))).toMatchObject({ status: 404, body: { code: 'UNKNOWN_SCHEDULE' } });
  });

  test('recurring schedules: PUT, GET, pages of the listing, pause and resume, DELETE', async () => {
    const bus = await startApi(scope, store);
    for (const id of ['c', 'a', 'b']) {
      const made = await bus.call<Json>('PUT', `/api/schedules/${id}`, { topic: 'reports', payload: 'r', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
      expect(made.status, JSON.stringify(made.body)).toBe(200);
      expect(b.Schedule.parse(made.body)).toMatchObject({ id, kind: 'cron', cron: '0 2 * * *', timezone: 'Europe/Berlin', fires: 0, missed: 0, paused: false });
    }
    const first = await bus.call<{ schedules: Json[]; next: string | null }>('GET', '/api/schedules?limit=2');
    expect([first.body.schedules.map((s) => s['id']), first.body.next]).toEqual([['a', 'b'], 'c']);
    const second = await bus.call<{ schedules: Json[]; next: string | null }>('GET', '/api/schedules?limit=2&from=c');
    expect([second.body.schedules.map((s) => s['id']), second.body.next]).toEqual([['c'], null]);
    expect((await bus.call<Json>('POST', '/api/schedules/a/pause')).body).toMatchObject({ id: 'a', paused: true });
    expect((await bus.call<Json>('POST', '/api/schedules/a/resume')).body).toMatchObject({ id: 'a', paused: false });
    const every = await bus.call<Json>('PUT', '/api/schedules/a', { topic: 'ticks', payload: 't', every_ms: 1000 });
    expect(every.body).toMatchObject({ id: 'a', kind: 'every', every_ms: 1000, cron: null });
    await until('a fire appended', async () => (await bus.call<{ messages: Json[] }>('GET', '/api/messages?pattern=ticks')).body.messages.length >= 1);
    expect((await bus.call<{ messages: Json[] }>('GET', '/api/messages?pattern=ticks')).body.messages[0]).toMatchObject({ topic: 'ticks', payload: 't', message_id: expect.stringMatching(/^schedule:a:\d+$/) });
    expect((await bus.call<Json>('GET', '/api/schedules/a')).body['fires']).toBeGreaterThanOrEqual(1);
    expect((await bus.call('DELETE', '/api/schedules/a')).status).toBe(200);
    expect((await bus.call<Json>('GET', '/api/schedules/a'))).toMatchObject({ status: 404, body: { code: 'UNKNOWN_SCHEDULE' } });
  });

  test('bad input: 400 BAD_ARGS with a reason, nothing stored', async () => {
    const bus = await startApi(scope, store);
    const bad: [string, string, Json][] = [
      ['POST', '/api/publish', { topic: 'a', payload: 'x', delay_ms: 5, deliver_at: Date.now() + 1000 }],
      ['POST', '/api/publish', { topic: 'a', payload: 'x', delay_ms: -1 }],
      ['POST', '/api/publish', { topic: 'a', payload: 'x', deliver_at: 'next tuesday' }],
      ['POST', '/api/publish', { topic: 'a', payload: 'x', delay_ms: 400 * 24 * 3600 * 1000 }],
      ['PUT', '/api/schedules/s', { topic: 'a', payload: 'x', cron: 'every day' }],
      ['PUT', '/api/schedules/s', { topic: 'a', payload: 'x', cron: '0 2 * * *', timezone: 'Europe/Nowhere' }],
      ['PUT', '/api/schedules/s', { topic: 'a', payload: 'x', every_ms: 10 }],
      ['PUT', '/api/schedules/s', { topic: 'a', payload: 'x' }],
    ];
    for (const [method, path, body] of bad) {
      const r = await bus.call<Json>(method, path, body);
      expect([r.status, r.body['code']], JSON.stringify(body)).toEqual([400, 'BAD_ARGS']);
      expect(r.body['message']).toEqual(expect.any(String));
    }
    expect((await bus.call<{ schedules: Json[] }>('GET', '/api/schedules')).body.schedules).toEqual([]);
    expect((await bus.call<Json>('GET', '/api/stats')).body['head_seq']).toBe(0);
  });
});

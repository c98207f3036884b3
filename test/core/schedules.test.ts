// Messages in time through the broker API (PROTOCOL.md §11), on either store: delayed publishes appended once
// due with a new seq and never before, cancelled, idempotent by message_id; recurring schedules made, fired,
// paused, resumed and removed; what fell due while stopped appended once after it; bad input refused.
import { describe, expect, test } from 'vitest';
import type { Broker, Scheduled } from '../../src/core/broker.js';
import type { Published } from '../../src/core/types.js';
import { query, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const { start, open, subscribe } = testScope();

const scheduled = (r: Published | Scheduled): Scheduled => {
  if (!('scheduleId' in r)) throw new Error(`published at once: ${JSON.stringify(r)}`);
  return r;
};

async function later(broker: Broker, topic: string, payload: string, time: { deliverAt?: number | string; delayMs?: number }, messageId?: string): Promise<Scheduled> {
  return scheduled((await broker.publishLater({ topic, payload, messageId }, time))._unsafeUnwrap());
}

describe('delayed publish', () => {
  test('appended once due, with a new seq and schedule_id and scheduled_at in its metadata, never before', async () => {
    const { broker, db } = await start();
    const sub = await subscribe(broker, { pattern: 'remind.*' });
    const published = Date.now();
    const s = await later(broker, 'remind.me', 'later', { delayMs: 400 });
    const after = await later(broker, 'remind.me', 'after', { delayMs: 1200 });
    expect(s).toMatchObject({ messageId: null, duplicate: false });
    expect(s.deliverAt).toBeGreaterThanOrEqual(published + 400);
    const ordinary = (await broker.publish({ topic: 'remind.now', payload: 'now' }))._unsafeUnwrap();
    const [first, second] = await sub.take(2, 5000);
    expect(first!.message.seq).toBe(ordinary.seq);
    expect(second!.message).toMatchObject({ seq: ordinary.seq + 1, topic: 'remind.me', payload: 'later', messageId: `schedule:${s.scheduleId}:${s.deliverAt}` });
    expect(second!.message.createdAt).toBeGreaterThanOrEqual(s.deliverAt);
    const metadata = JSON.parse(second!.message.metadata) as Record<string, unknown>;
    expect(metadata).toMatchObject({ schedule_id: s.scheduleId, content_type: 'text/plain' });
    expect(metadata['scheduled_at']).toBeGreaterThanOrEqual(published);
    // One due a little later is not taken along with it.
    const [third] = await sub.take(1, 5000);
    expect(third!.message.payload).toBe('after');
    expect(third!.message.createdAt).toBeGreaterThanOrEqual(after.deliverAt);
    // Appended, it is no longer a schedule.
    await until('the schedule removed once appended', () => query(db, 'SELECT id FROM schedules').length === 0);
    expect((await broker.schedules.get(s.scheduleId))._unsafeUnwrapErr().code).toBe('UNKNOWN_SCHEDULE');
  });

  test('deliver_at as ms or ISO 8601 text; one not in the future publishes at once', async () => {
    const { broker } = await start();
    const at = Date.now() + 60_000;
    expect((await later(broker, 't', 'a', { deliverAt: at })).deliverAt).toBe(at);
    expect((await later(broker, 't', 'b', { deliverAt: new Date(at).toISOString() })).deliverAt).toBe(at);
    const now = (await broker.publishLater({ topic: 't', payload: 'c' }, { deliverAt: Date.now() - 1000 }))._unsafeUnwrap();
    expect(now).toMatchObject({ seq: 1, duplicate: false });
    expect((await broker.publishLater({ topic: 't', payload: 'd' }, {}))._unsafeUnwrap()).toMatchObject({ seq: 2 });
  });

  test('cancelled before it fires: never appended', async () => {
    const { broker, db } = await start();
    const s = await later(broker, 'c', 'never', { delayMs: 300 });
    const kept = await later(broker, 'c', 'kept', { delayMs: 300 });
    (await broker.schedules.remove(s.scheduleId))._unsafeUnwrap();
    expect((await broker.schedules.remove(s.scheduleId))._unsafeUnwrapErr().code).toBe('UNKNOWN_SCHEDULE');
    await until('the other one appended', () => query(db, `SELECT seq FROM messages WHERE payload = 'kept'`).length === 1);
    expect(query<{ payload: string }>(db, 'SELECT payload FROM messages').map((r) => r.payload)).toEqual(['kept']);
    expect(kept.duplicate).toBe(false);
  });

  test('a message_id repeated while it waits answers the same schedule, duplicate, and stores nothing new', async () => {
    const { broker, db } = await start();
    const first = await later(broker, 'o', 'x', { delayMs: 60_000 }, 'order-1');
    const again = await later(broker, 'o', 'y', { delayMs: 5_000 }, 'order-1');
    expect(again).toEqual({ ...first, duplicate: true });
    expect(query(db, 'SELECT id FROM schedules')).toHaveLength(1);
    // Twice in one batch, beside one already waiting: one schedule each.
    const batch = (
      await broker.publishBatchLater(
        ['order-2', 'order-2', 'order-1'].map((messageId) => ({ input: { topic: 'o', payload: 'z', messageId }, time: { delayMs: 60_000 } })),
      )
    )._unsafeUnwrap() as Scheduled[];
    expect(batch.map((s) => s.duplicate)).toEqual([false, true, true]);
    expect(batch[1]!.scheduleId).toBe(batch[0]!.scheduleId);
    expect(batch[2]!.scheduleId).toBe(first.scheduleId);
    expect(query(db, 'SELECT id FROM schedules')).toHaveLength(2);
  });

  test('publishes made at the same time are stored together and each answered with its own schedules', async () => {
    const { broker, db } = await start();
    // Started in one turn, so they share the store's writes; one message_id given by three callers.
    const calls = Array.from({ length: 60 }, (_, i) =>
      broker.publishBatchLater(
        [0, 1].map((k) => ({ input: { topic: 'together', payload: `${i}.${k}`, messageId: i % 20 === 0 && k === 0 ? 'shared' : undefined }, time: { delayMs: 60_000 } })),
      ),
    );
    const answers = (await Promise.all(calls)).map((r) => r._unsafeUnwrap() as Scheduled[]);
    const stored = query<{ id: string; payload: string }>(db, 'SELECT id, payload FROM schedules');
    const payloadOf = new Map(stored.map((r) => [r.id, r.payload]));
    expect(stored).toHaveLength(60 * 2 - 2);
    for (const [i, pair] of answers.entries()) {
      for (const [k, a] of pair.entries()) {
        if (i % 20 === 0 && k === 0 && i > 0) expect(a).toEqual({ ...answers[0]![0], duplicate: true });
        else expect(payloadOf.get(a.scheduleId), `${i}.${k}`).toBe(`${i}.${k}`);
      }
    }
  });

  test('a batch with delayed and immediate messages: seqs and schedule ids in input order', async () => {
    const { broker } = await start();
    const answers = (
      await broker.publishBatchLater([
        { input: { topic: 'b', payload: '1' }, time: {} },
        { input: { topic: 'b', payload: '2' }, time: { delayMs: 60_000 } },
        { input: { topic: 'b', payload: '3' }, time: {} },
      ])
    )._unsafeUnwrap();
    expect(answers.map((a) => ('seq' in a ? a.seq : 'later'))).toEqual([1, 'later', 2]);
  });

  test('bad times are BAD_ARGS and store nothing', async () => {
    const { broker, db } = await start({ maxDelayMs: 3_600_000 });
    const bad = [{ deliverAt: Date.now() + 1000, delayMs: 5 }, { delayMs: -1 }, { delayMs: 1.5 }, { delayMs: 3_600_001 }, { deliverAt: 'tomorrow' }, { deliverAt: -5 }];
    for (const time of bad) {
      const e = (await broker.publishLater({ topic: 't', payload: 'x' }, time))._unsafeUnwrapErr();
      expect(e.code, JSON.stringify(time)).toBe('BAD_ARGS');
    }
    expect(query(db, 'SELECT id FROM schedules')).toEqual([]);
    expect(query(db, 'SELECT seq FROM messages')).toEqual([]);
  });

  test('schedules due while the broker was stopped are appended once at the next start', async () => {
    const { broker, db } = await start();
    const due: Scheduled[] = [];
    for (let i = 0; i < 20; i++) due.push(await later(broker, 'down', `m${i}`, { delayMs: 3_600_000 }, `down-${i}`));
    await broker.close();
    // Due while it is stopped: moved in the table, so that how long the publishes took decides nothing.
    query(db, `UPDATE schedules SET next_at = ${Date.now() - 1000}`);
    const again = await open(db);
    await until('every one appended', () => query(db, `SELECT seq FROM messages`).length === 20);
    await until('the schedules cleared', () => query(db, 'SELECT id FROM schedules').length === 0);
    const ids = query<{ message_id: string }>(db, 'SELECT message_id FROM messages ORDER BY seq').map((r) => r.message_id);
    expect(new Set(ids).size).toBe(20);
    // The broker's head follows its commits (on PostgreSQL its own notification may come first, and is read).
    await until('the head at the last', () => again.headSeq() === 20);
  });
});

describe('recurring schedules', () => {
  test('every_ms fires once per interval with message_id schedule:<id>:<time>; paused, it fires none; removed, none again', async () => {
    const { broker, db } = await start();
    const made = (await broker.schedules.put('tick', { topic: 'ticks', payload: 't', everyMs: 1000 }))._unsafeUnwrap();
    expect(made).toMatchObject({ id: 'tick', kind: 'every', everyMs: 1000, timezone: 'UTC', fires: 0, paused: false });
    expect(made.nextAt).toBe(made.createdAt + 1000);
    await until('two fires', () => query(db, `SELECT seq FROM messages WHERE topic = 'ticks'`).length >= 2, 10_000);
    const ids = query<{ message_id: string }>(db, `SELECT message_id FROM messages WHERE topic = 'ticks' ORDER BY seq`).map((r) => r.message_id);
    expect(ids.slice(0, 2)).toEqual([`schedule:tick:${made.nextAt!}`, `schedule:tick:${made.nextAt! + 1000}`]);
    const paused = (await broker.schedules.setPaused('tick', true))._unsafeUnwrap();
    expect(paused.paused).toBe(true);
    const count = (): number => query(db, `SELECT seq FROM messages WHERE topic = 'ticks'`).length;
    const atPause = count();
    const resumed = (await broker.schedules.setPaused('tick', false))._unsafeUnwrap();
    expect(resumed.nextAt).toBeGreaterThan(Date.now() - 50);
    await until('a fire after the resume', () => count() > atPause, 10_000);
    (await broker.schedules.remove('tick'))._unsafeUnwrap();
    expect((await broker.schedules.list(undefined, undefined, 10))._unsafeUnwrap()).toEqual({ schedules: [], next: null });
  });

  test('cron in a time zone: the next fire is the expression read in that zone', async () => {
    const { broker } = await start();
    const s = (await broker.schedules.put('nightly', { topic: 'reports', payload: 'r', cron: '0 2 * * *', timezone: 'Europe/Berlin' }))._unsafeUnwrap();
    const next = new Date(s.nextAt!);
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hour12: false }).format(next);
    expect(berlin).toBe('02:00');
    expect(s.nextAt! - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
    const listed = (await broker.schedules.list('cron', undefined, 10))._unsafeUnwrap();
    expect(listed.schedules.map((l) => l.id)).toEqual(['nightly']);
  });

  test('missed fires while no broker ran: the latest fired once, the others counted in missed', async () => {
    const { broker, db } = await start();
    const s = (await broker.schedules.put('beat', { topic: 'beats', payload: 'b', everyMs: 1000 }))._unsafeUnwrap();
    await broker.close();
    // As if the broker had been down for five intervals.
    query(db, `UPDATE schedules SET next_at = ?`, s.nextAt! - 5000);
    const again = await open(db);
    await until('the catch-up fire', () => query(db, `SELECT seq FROM messages`).length >= 1);
    const row = (await again.schedules.get('beat'))._unsafeUnwrap();
    expect(row.missed).toBeGreaterThanOrEqual(4);
    expect(row.fires).toBeGreaterThanOrEqual(1);
    const first = query<{ message_id: string }>(db, `SELECT message_id FROM messages ORDER BY seq LIMIT 1`)[0]!.message_id;
    expect(Number(first.split(':')[2])).toBeGreaterThan(s.nextAt! - 5000);
  });

  test('bad schedules are BAD_ARGS and store nothing', async () => {
    const { broker, db } = await start();
    const bad = [
      { topic: 't', payload: 'x' },
      { topic: 't', payload: 'x', cron: '* * * * *', everyMs: 1000 },
      { topic: 't', payload: 'x', cron: '61 * * * *' },
      { topic: 't', payload: 'x', cron: '* * *' },
      { topic: 't', payload: 'x', cron: '* * * * *', timezone: 'Mars/Olympus' },
      { topic: 't', payload: 'x', everyMs: 999 },
      { topic: 'bad..topic', payload: 'x', everyMs: 1000 },
      { topic: 't', payload: 'x', everyMs: 1000, startAt: 5000, endAt: 10 },
    ];
    for (const input of bad) expect((await broker.schedules.put('s', input))._unsafeUnwrapErr().code, JSON.stringify(input)).toMatch(/^BAD_/);
    expect((await broker.schedules.put('has space', { topic: 't', payload: 'x', everyMs: 1000 }))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect(query(db, 'SELECT id FROM schedules')).toEqual([]);
  });
});

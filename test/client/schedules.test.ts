// The client SDK's publish for later (PROTOCOL.md §11) against a real broker (either store) over a real
// WebSocket: `publish(…, { deliverAt | delayMs })` and the batch form resolve with the schedule once it is
// stored, the message reaches a subscriber when due and not before, a repeated message id answers the same
// schedule, and refusals reject with the broker's code.
import { describe, expect, it } from 'vitest';
import { startApp } from '../../src/app.js';
import { connect, EventBusError, type EventBusClient, type Scheduled } from '../../src/client/index.js';
import { silentLogger } from '../../src/logger.js';
import { testAppConfig } from '../helpers/broker.js';
import { testScope } from '../helpers/scope.js';

const scope = testScope();

async function fresh(): Promise<{ c: EventBusClient; http: string }> {
  const dir = await scope.dir();
  const app = (await startApp(testAppConfig(dir), silentLogger))._unsafeUnwrap();
  scope.defer(() => app.stop());
  const c = await connect(`ws://127.0.0.1:${app.ports.http}/ws`, { requestTimeoutMs: 10_000 });
  scope.defer(() => c.close());
  return { c, http: `http://127.0.0.1:${app.ports.http}` };
}

async function scheduleOf(http: string, id: string): Promise<{ status: number; body: { kind?: string; topic?: string; next_at?: number } }> {
  const res = await fetch(`${http}/api/schedules/${encodeURIComponent(id)}`);
  return { status: res.status, body: (await res.json()) as { kind?: string; topic?: string; next_at?: number } };
}

async function rejection(p: Promise<unknown>): Promise<EventBusError> {
  const error = await p.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EventBusError);
  return error as EventBusError;
}

describe('publish later', () => {
  it('delayMs resolves with the schedule once stored; the message reaches a subscriber when due, not before', async () => {
    const { c } = await fresh();
    const sub = await c.subscribe('later.#');
    const before = Date.now();
    const scheduled = await c.publish('later.one', { n: 1 }, { delayMs: 400, messageId: 'later-1' });
    expect(scheduled).toEqual({ scheduleId: expect.any(String) as unknown, deliverAt: expect.any(Number) as unknown, messageId: 'later-1', duplicate: false });
    const { scheduleId, deliverAt } = scheduled as Scheduled;
    expect(deliverAt).toBeGreaterThanOrEqual(before + 400);
    const m = await sub.next(5000);
    expect(Date.now()).toBeGreaterThanOrEqual(deliverAt);
    expect(m).toMatchObject({ topic: 'later.one', payload: '{"n":1}', messageId: 'later-1' });
    expect(m!.metadata).toMatchObject({ schedule_id: scheduleId });
    expect(m!.metadata.timestamp).toBeGreaterThanOrEqual(deliverAt);
  });

  it('deliverAt as ms, a Date or ISO 8601; a repeated message id answers the same schedule; a time passed publishes at once', async () => {
    const { c, http } = await fresh();
    const at = Date.now() + 3_600_000;
    const first = (await c.publish('later.at', 'x', { deliverAt: at, messageId: 'same' })) as Scheduled;
    expect(first).toMatchObject({ deliverAt: at, duplicate: false });
    expect(await c.publish('later.at', 'x', { deliverAt: new Date(at), messageId: 'same' })).toEqual({ ...first, duplicate: true });
    const iso = (await c.publish('later.at', 'y', { deliverAt: new Date(at).toISOString() })) as Scheduled;
    expect(iso.deliverAt).toBe(at);
    expect((await scheduleOf(http, iso.scheduleId)).body).toMatchObject({ kind: 'once', topic: 'later.at', next_at: at });
    expect(await c.publish('later.at', 'z', { deliverAt: Date.now() - 1000 })).toEqual(expect.any(Number));
  });

  it('a batch with delayed messages: each one a seq or a schedule id, in order, all stored', async () => {
    const { c, http } = await fresh();
    const entries = await c.publishBatch([
      { topic: 'batch.now', payload: 'a' },
      { topic: 'batch.later', payload: 'b', delayMs: 60_000, messageId: 'batch-b' },
      { topic: 'batch.now', payload: 'c' },
    ]);
    expect(entries).toEqual([expect.any(Number), { scheduleId: expect.any(String) as unknown, messageId: 'batch-b' }, expect.any(Number)]);
    expect(entries[2]).toBe((entries[0] as number) + 1);
    const { scheduleId } = entries[1] as { scheduleId: string };
    expect((await scheduleOf(http, scheduleId)).body).toMatchObject({ kind: 'once', topic: 'batch.later' });
    // Without times the batch form still resolves with plain seqs.
    const seqs: number[] = await c.publishBatch([{ topic: 'batch.now', payload: 'd' }]);
    expect(seqs).toEqual([(entries[2] as number) + 1]);
  });

  it('refusals reject with BAD_FRAME and store nothing: both times, a negative delay, past EVENTBUS_MAX_DELAY', async () => {
    const { c, http } = await fresh();
    for (const options of [{ deliverAt: Date.now() + 10_000, delayMs: 1000 }, { delayMs: -1 }, { delayMs: 400 * 86_400_000 }, { deliverAt: 'next tuesday' }]) {
      const e = await rejection(c.publish('later.bad', 'x', options));
      expect(e.code, JSON.stringify(options)).toBe('BAD_FRAME');
    }
    const listed = (await (await fetch(`${http}/api/schedules`)).json()) as { schedules: unknown[] };
    expect(listed.schedules).toEqual([]);
  });
});

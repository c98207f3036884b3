// The delivery count of PROTOCOL.md §5 across broker restarts, as a WebSocket consumer meets it: a message
// received twice without an ack per broker lifetime, with the broker stopped (SIGTERM) or killed (SIGKILL)
// in between, is delivered EVENTBUS_MAX_DELIVERIES times in all and then dead-lettered, not once more per
// lifetime. A kill may lose the increments of the last few tens of milliseconds; these tests wait past that.
import { afterEach, describe, expect, test } from 'vitest';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from './helpers/broker-process.js';
import { tempDir, type TestDb, type TestDir } from './helpers/broker.js';
import { query, sleep } from './helpers/scope.js';
import { wsConnect, type MessageFrame } from './helpers/ws-client.js';

// Longer than the broker takes to write a count (a delivery unacked through one 20 ms flush interval).
const WRITTEN_MS = 150;

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
afterEach(async () => {
  await killIfRunning(bus);
  await dir?.cleanup();
});

/**
 * One broker lifetime: subscribes as the consumer, takes up to two deliveries of the poison message without
 * acking either (the first, and any at the cap, are nacked), then ends the broker with `signal`. Returns the
 * delivery counts seen.
 */
async function lifetime(db: TestDb, signal: NodeJS.Signals, publish: boolean): Promise<number[]> {
  bus = await startBrokerProcess({ ...db.env, EVENTBUS_MAX_DELIVERIES: '3' });
  const ws = await wsConnect(bus.ports.http);
  const sub = await ws.subscribe({ pattern: 'poison.*', consumer: 'poisoned' });
  if (publish) await ws.publish({ topic: 'poison.pill', payload: 'boom' });
  const seen: number[] = [];
  for (let i = 0; i < 2; i++) {
    let m: MessageFrame;
    try {
      [m] = (await ws.messages(sub, 1, 1000)) as [MessageFrame];
    } catch {
      break; // nothing (more) comes
    }
    seen.push(m.delivery);
    // The consumer crashes on it, every time: a nack, which counts as a failed attempt.
    if (i === 0 || m.delivery >= 3) ws.send({ type: 'nack', subscription: sub, seq: m.seq });
  }
  await sleep(WRITTEN_MS);
  await ws.close();
  bus.signal(signal);
  const exit = await bus.exited();
  expect(exit).toEqual(signal === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 0, signal: null });
  return seen;
}

describe.each(['SIGTERM', 'SIGKILL'] as const)('restarts by %s', (signal) => {
  test('EVENTBUS_MAX_DELIVERIES=3 holds across broker lifetimes: 1, 2 | 3, then the dead letters', async () => {
    dir = await tempDir();
    const lifetimes: number[][] = [];
    for (let i = 0; i < 4; i++) lifetimes.push(await lifetime(dir, signal, i === 0));
    expect(lifetimes).toEqual([[1, 2], [3], [], []]);
    expect(query(dir, 'SELECT consumer, payload, deliveries FROM dead_letters')).toEqual([{ consumer: 'poisoned', payload: 'boom', deliveries: 3 }]);
    expect(query(dir, "SELECT status FROM messages WHERE topic = 'poison.pill'")).toEqual([{ status: 'dead' }]);
    expect(query(dir, 'SELECT count(*) AS n FROM delivery_counts')).toEqual([{ n: 0 }]);
  });
});

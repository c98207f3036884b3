// SIGKILL, again and again, under mixed load, on the file's store (vitest.config.ts runs the file once per
// store): telnet and WebSocket publishers with and without message ids, batches, and a durable consumer that
// acks everything but a few poison messages. After every kill the broker is started again on the same
// database. What must hold: every publish that was answered is stored with its seq and payload; nothing is
// stored twice (a publish left unanswered by a kill is sent again only with its message id); a seq answered
// once is never given to another message; the consumer is never sent again what it had durably acked, and
// receives everything else; the poison messages' delivery count goes on across the kills up to
// EVENTBUS_MAX_DELIVERIES, and then they are in the dead letters.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { tempDir, TEST_STORE, type TestDir } from '../helpers/broker.js';
import { lineClient, type LineClient } from '../helpers/line-client.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';
import { sleep } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect, type Frame, type WsClient } from '../helpers/ws-client.js';

const CYCLES = 10;
const MAX_DELIVERIES = 5;
const ACK_TIMEOUT_MS = 300;
const POISON = 3;
const schemas = pgSchemas();

interface Store {
  readonly env: Record<string, string>;
  sql<T>(text: string): Promise<T[]>;
}

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
afterEach(async () => {
  await killIfRunning(bus);
  await dir?.cleanup();
});

const STORES: Record<typeof TEST_STORE, () => Promise<Store>> = {
  sqlite: async () => {
    dir = await tempDir('sqlite');
    const path = dir.dbPath;
    return {
      env: { EVENTBUS_DB: path, EVENTBUS_SYNC: 'full' },
      sql: <T,>(text: string) => {
        const db = new Database(path, { readonly: true, fileMustExist: true });
        try {
          return Promise.resolve(db.prepare(text).all() as T[]);
        } finally {
          db.close();
        }
      },
    };
  },
  postgres: () => {
    const schema = schemas.schema();
    return Promise.resolve({
      env: { EVENTBUS_DB: PG_URL, EVENTBUS_PG_SCHEMA: schema, EVENTBUS_NODE_ID: 'cycles' },
      sql: <T,>(text: string) => pgQuery(text, [], schema) as Promise<T[]>,
    });
  },
};

/** What every client saw, over all the broker's lifetimes. */
class Ledger {
  /** seq → the payload it was answered for. */
  readonly answered = new Map<number, string>();
  /** Publishes with a message id that no lifetime answered yet: sent again in the next. */
  readonly unansweredWithId = new Map<string, { topic: string; payload: string }>();
  /** Every seq the consumer was sent, with its delivery counts, in arrival order. */
  readonly deliveries = new Map<number, number[]>();
  /** The seqs the consumer had durably acked when each lifetime began, must never come again. */
  readonly forbidden = new Set<number>();
  readonly redelivered: number[] = [];
  #next = 0;

  fresh(kind: string): string {
    return `${kind}-${this.#next++}`;
  }

  answer(seq: number, payload: string): void {
    const before = this.answered.get(seq);
    if (before !== undefined && before !== payload) throw new Error(`seq ${seq} answered for ${before} and again for ${payload}`);
    this.answered.set(seq, payload);
  }
}

/** A publisher loop that runs until `alive()` says stop or its connection fails. */
type Loop = (alive: () => boolean) => Promise<void>;

function telnetPublisher(port: number, ledger: Ledger, withIds: boolean): Loop {
  return async (alive) => {
    const c: LineClient = await lineClient(port);
    try {
      while (alive()) {
        // A window of 32 pipelined lines; the replies come in order.
        const batch = Array.from({ length: 32 }, () => {
          const payload = ledger.fresh(withIds ? 'tel-id' : 'tel');
          return withIds ? { id: payload, payload } : { id: undefined, payload };
        });
        for (const b of batch) if (b.id !== undefined) ledger.unansweredWithId.set(b.id, { topic: 'kc.telnet', payload: b.payload });
        const lines = batch.map((b) => (b.id === undefined ? `kc.telnet:${b.payload}` : JSON.stringify({ event_name: 'kc.telnet', msg: b.payload, message_id: b.id })));
        await c.write(lines.map((l) => `${l}\n`).join(''));
        const replies = await c.readLines(batch.length, 10_000);
        replies.forEach((reply, i) => {
          const m = /^OK (\d+)( DUPLICATE)?$/.exec(reply);
          if (m === null) throw new Error(`unexpected reply ${reply}`);
          ledger.answer(Number(m[1]), batch[i]!.payload);
          const id = batch[i]!.id;
          if (id !== undefined) ledger.unansweredWithId.delete(id);
        });
      }
    } catch {
      // The kill: replies not read are not answered.
    } finally {
      c.destroy();
    }
  };
}

function wsPublisher(ws: WsClient, ledger: Ledger): Loop {
  return async (alive) => {
    try {
      for (let i = 0; alive(); i++) {
        if (i % 3 === 2) {
          const messages = Array.from({ length: 8 }, () => {
            const payload = ledger.fresh('ws-batch');
            ledger.unansweredWithId.set(payload, { topic: 'kc.ws', payload });
            return { topic: 'kc.ws', payload, message_id: payload };
          });
          const reply = await ws.request({ type: 'publish_batch', messages }, 10_000);
          if (reply.type !== 'published') throw new Error(`unexpected ${JSON.stringify(reply)}`);
          (reply['seqs'] as number[]).forEach((seq, k) => {
            ledger.answer(seq, messages[k]!.payload);
            ledger.unansweredWithId.delete(messages[k]!.payload);
          });
          continue;
        }
        const withId = i % 3 === 1;
        const payload = ledger.fresh(withId ? 'ws-id' : 'ws');
        if (withId) ledger.unansweredWithId.set(payload, { topic: 'kc.ws', payload });
        const reply = await ws.request({ type: 'publish', data: { topic: 'kc.ws', payload, ...(withId ? { message_id: payload } : {}) } }, 10_000);
        if (reply.type !== 'published') throw new Error(`unexpected ${JSON.stringify(reply)}`);
        ledger.answer(reply['seq'] as number, payload);
        ledger.unansweredWithId.delete(payload);
      }
    } catch {
      // The kill.
    }
  };
}

/** The durable consumer: acks everything but the poison messages, records every delivery. */
async function consume(ws: WsClient, ledger: Ledger): Promise<void> {
  const sub = await ws.subscribe({ pattern: 'kc.>', consumer: 'cycles', max_in_flight: 200 });
  ws.ws.on('message', (data) => {
    const f = JSON.parse((data as Buffer).toString('utf8')) as Frame;
    if (f.type !== 'message' || f['subscription'] !== sub) return;
    const seq = f['seq'] as number;
    if (ledger.forbidden.has(seq)) ledger.redelivered.push(seq);
    const seen = ledger.deliveries.get(seq) ?? [];
    seen.push(f['delivery'] as number);
    ledger.deliveries.set(seq, seen);
    if (!String(f['payload']).startsWith('poison')) ws.send({ type: 'ack', subscription: sub, seq });
  });
}

/** Publishes again, with their ids, what no lifetime answered. */
async function resend(ws: WsClient, ledger: Ledger): Promise<void> {
  for (const [id, m] of [...ledger.unansweredWithId]) {
    const reply = await ws.request({ type: 'publish', data: { topic: m.topic, payload: m.payload, message_id: id } }, 10_000);
    expect(reply.type).toBe('published');
    ledger.answer(reply['seq'] as number, m.payload);
    ledger.unansweredWithId.delete(id);
  }
}

/**
 * Starts the broker on the store: what the consumer had durably acked in the lifetimes before is noted
 * (never to be sent again), the consumer subscribes, and what no lifetime answered is published again with its ids.
 */
async function begin(store: Store, ledger: Ledger, first: boolean): Promise<{ broker: BrokerProcess; consumer: WsClient; publisher: WsClient }> {
  if (!first) for (const r of await store.sql<{ seq: number }>(`SELECT seq FROM processed_messages WHERE consumer = 'cycles'`)) ledger.forbidden.add(r.seq);
  const broker = (bus = await startBrokerProcess({ ...store.env, EVENTBUS_MAX_DELIVERIES: String(MAX_DELIVERIES), EVENTBUS_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) }));
  const consumer = await wsConnect(broker.ports.http, { consume: (f) => f.type === 'message' });
  await consume(consumer, ledger);
  const publisher = await wsConnect(broker.ports.http);
  await resend(publisher, ledger);
  return { broker, consumer, publisher };
}

async function lifetime(store: Store, ledger: Ledger, first: boolean): Promise<void> {
  const { broker, consumer, publisher } = await begin(store, ledger, first);
  if (first) {
    for (let i = 0; i < POISON; i++) {
      const payload = `poison-${i}`;
      ledger.answer((await publisher.publish({ topic: 'kc.poison', payload })).seq, payload);
    }
  }
  let alive = true;
  const loops = [telnetPublisher(broker.ports.transport, ledger, false), telnetPublisher(broker.ports.transport, ledger, true), wsPublisher(publisher, ledger)].map((loop) => loop(() => alive));
  await sleep(400 + Math.floor(Math.random() * 800));
  broker.signal('SIGKILL');
  await broker.exited();
  alive = false;
  await Promise.all(loops);
  await consumer.close();
  await publisher.close();
}

describe(`SIGKILL cycles under mixed load, on ${TEST_STORE}`, () => {
  test(`${CYCLES} kills: nothing answered lost, nothing stored twice, seqs never reused, acks and delivery counts kept`, async () => {
    const store = await STORES[TEST_STORE]();
    const ledger = new Ledger();
    for (let i = 0; i < CYCLES; i++) await lifetime(store, ledger, i === 0);

    // A last lifetime, stopped cleanly once the consumer is done: everything is delivered in the end.
    const { broker, consumer, publisher } = await begin(store, ledger, false);
    const stored = await store.sql<{ seq: number; payload: string; message_id: string | null }>('SELECT seq, payload, message_id FROM messages ORDER BY seq');
    let progress = '';
    await until('the consumer to have acked every message but the poison, and the poison to be dead', async () => {
      const acked = (await store.sql<{ n: number }>(`SELECT count(*) AS n FROM processed_messages WHERE consumer = 'cycles'`))[0]!.n;
      const dead = (await store.sql<{ n: number }>(`SELECT count(*) AS n FROM dead_letters WHERE consumer = 'cycles'`))[0]!.n;
      progress = `${acked} of ${stored.length - POISON} acked, ${dead} of ${POISON} dead`;
      return acked === stored.length - POISON && dead === POISON;
    }, 30_000).catch(async (e: unknown) => {
      const acked = new Set((await store.sql<{ seq: number }>(`SELECT seq FROM processed_messages WHERE consumer = 'cycles'`)).map((r) => r.seq));
      const notAcked = stored.filter((r) => !acked.has(r.seq) && !r.payload.startsWith('poison')).map((r) => r.seq);
      throw new Error(`${(e as Error).message}: ${progress}; not acked: ${notAcked.slice(0, 20).join(',')}; deliveries of those: ${notAcked.slice(0, 5).map((s) => `${s}:${(ledger.deliveries.get(s) ?? []).join('/')}`).join(' ')}`);
    });
    await consumer.close();
    await publisher.close();
    broker.signal('SIGTERM');
    expect(await broker.exited()).toEqual({ code: 0, signal: null });

    // Every answered publish is stored under the seq it was answered with.
    const bySeq = new Map(stored.map((r) => [r.seq, r.payload]));
    const missing = [...ledger.answered].filter(([seq, payload]) => bySeq.get(seq) !== payload);
    expect(missing, 'answered publishes not stored as answered').toEqual([]);
    // Nothing stored twice: every payload is unique, and every stored message was sent by this test.
    const payloads = stored.map((r) => r.payload);
    expect(payloads.length - new Set(payloads).size, 'payloads stored twice').toBe(0);
    expect(ledger.unansweredWithId.size).toBe(0);
    // The consumer was never sent what it had durably acked.
    expect(ledger.redelivered, 'durably acked messages sent again').toEqual([]);
    // The poison messages: counts went on across the kills (a kill may lose the last attempt's count, so an
    // attempt may be seen twice, never lower) up to the cap, and no further.
    const dead = await store.sql<{ seq: number; deliveries: number }>(`SELECT seq, deliveries FROM dead_letters WHERE consumer = 'cycles' ORDER BY seq`);
    expect(dead.map((d) => d.deliveries)).toEqual(Array.from({ length: POISON }, () => MAX_DELIVERIES));
    for (const { seq } of dead) {
      const seen = ledger.deliveries.get(seq) ?? [];
      expect(Math.max(...seen), `deliveries of poison ${seq}: ${seen.join(',')}`).toBeLessThanOrEqual(MAX_DELIVERIES);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!, `deliveries of poison ${seq}: ${seen.join(',')}`).toBeGreaterThanOrEqual(seen[i - 1]!);
      expect(seen.length, `deliveries of poison ${seq}: ${seen.join(',')}`).toBeLessThanOrEqual(MAX_DELIVERIES + CYCLES);
    }
  }, 240_000);
});

// The broker API end to end on a real database: publish and subscribe, the error codes users see,
// deduplication, atomic batches, seq order under concurrency, replay from a seq or a time with a seamless
// switch to live delivery, patterns, content filters and request/reply.
import { describe, expect, test } from 'vitest';
import type { Broker, SubscribeOptions } from '../../src/core/broker.js';
import type { LocalSubscriber } from '../../src/embed/local-subscriber.js';
import type { Published } from '../../src/core/types.js';
import { onPostgres, type TestDb } from '../helpers/broker.js';
import { query, sleep, takeExactly, testScope } from '../helpers/scope.js';
import { until, UNTIL_TIMEOUT_MS } from '../helpers/until.js';

const scope = testScope();
const { start, subscribe } = scope;

async function publish(broker: Broker, topic: string, payload: string, extra: { messageId?: string } = {}): Promise<Published> {
  return (await broker.publish({ topic, payload, ...extra }))._unsafeUnwrap();
}

const messageCount = (db: TestDb): number => query<{ n: number }>(db, 'SELECT count(*) AS n FROM messages')[0]!.n;

/** Takes deliveries until `timeoutMs` passes with none; returns their seqs. */
async function drainSeqs(sub: LocalSubscriber, timeoutMs = 150): Promise<number[]> {
  const seqs: number[] = [];
  for (;;) {
    const d = await sub.next(timeoutMs);
    if (d === undefined) return seqs;
    seqs.push(d.message.seq);
  }
}

describe('publish and subscribe', () => {
  test('a subscriber receives what is published after it subscribed, with topic, payload and metadata', async () => {
    const { broker } = await start();
    expect(await publish(broker, 'orders.created', 'before')).toEqual({ seq: 1, messageId: null, duplicate: false });
    const sub = await subscribe(broker, { pattern: 'orders.created' });
    expect(sub.headSeq).toBe(1);

    const before = Date.now();
    const a = (await broker.publish({ topic: 'orders.created', payload: '{"id":1}', messageId: 'm-1', metadata: { region: 'eu' } }))._unsafeUnwrap();
    const b = (await broker.publish({ topic: 'orders.created', payload: 'plain', metadata: { content_type: 'application/x-test' } }))._unsafeUnwrap();
    expect(a).toEqual({ seq: 2, messageId: 'm-1', duplicate: false });
    expect(b).toEqual({ seq: 3, messageId: null, duplicate: false });

    const got = await sub.take(2, 2000);
    expect(got.map((d) => [d.message.seq, d.message.topic, d.message.payload, d.message.messageId, d.delivery])).toEqual([
      [2, 'orders.created', '{"id":1}', 'm-1', 1],
      [3, 'orders.created', 'plain', null, 1],
    ]);
    expect(got.every((d) => d.subscriptionId === sub.subscriptionId)).toBe(true);
    const meta = JSON.parse(got[0]!.message.metadata) as Record<string, unknown>;
    expect(meta).toEqual({ timestamp: got[0]!.message.createdAt, content_type: 'text/plain', region: 'eu' });
    expect(got[0]!.message.createdAt).toBeGreaterThanOrEqual(before - 1);
    expect(JSON.parse(got[1]!.message.metadata)).toMatchObject({ content_type: 'application/x-test' });
    expect(await sub.next(100)).toBeUndefined();
  });

  test('a publisher-supplied timestamp does not replace the commit time', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 't' });
    (await broker.publish({ topic: 't', payload: 'x', metadata: { timestamp: 5 } }))._unsafeUnwrap();
    const [d] = await sub.take(1, 2000);
    expect((JSON.parse(d!.message.metadata) as { timestamp: number }).timestamp).toBe(d!.message.createdAt);
    expect(d!.message.createdAt).toBeGreaterThan(5);
  });

  test('an unsubscribed subscription receives nothing more; unknown subscriptions are refused', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'a' });
    await publish(broker, 'a', '1');
    expect((await sub.take(1, 2000)).map((d) => d.message.payload)).toEqual(['1']);
    expect(broker.unsubscribe(sub.subscriptionId).isOk()).toBe(true);
    await publish(broker, 'a', '2');
    expect(await sub.next(150)).toBeUndefined();
    expect(broker.unsubscribe(sub.subscriptionId)._unsafeUnwrapErr().code).toBe('UNKNOWN_SUBSCRIPTION');
    expect(broker.ack('sub-999', 1)._unsafeUnwrapErr().code).toBe('UNKNOWN_SUBSCRIPTION');
    expect(broker.nack('sub-999', 1)._unsafeUnwrapErr().code).toBe('UNKNOWN_SUBSCRIPTION');
  });
});

describe('errors', () => {
  test('bad topics are refused with BAD_TOPIC and nothing is stored', async () => {
    const { broker, db } = await start();
    for (const topic of ['', 'bad topic', 'a..b', '.a', 'a.', 'orders.*', 'orders.#', 'caf\u00e9', 'x'.repeat(256)]) {
      const e = (await broker.publish({ topic, payload: 'x' }))._unsafeUnwrapErr();
      expect(e.code, `topic ${JSON.stringify(topic)}`).toBe('BAD_TOPIC');
    }
    expect(messageCount(db)).toBe(0);
    // The limit is inclusive, and every allowed character is allowed.
    expect((await broker.publish({ topic: 'x'.repeat(255), payload: 'x' })).isOk()).toBe(true);
    expect((await broker.publish({ topic: 'A_z-0:9.b', payload: 'x' })).isOk()).toBe(true);
    expect(messageCount(db)).toBe(2);
  });

  test('payloads over maxPayloadBytes are refused with TOO_LARGE, counted in UTF-8 bytes', async () => {
    const { broker, db } = await start({ maxPayloadBytes: 100 });
    expect((await broker.publish({ topic: 't', payload: 'x'.repeat(101) }))._unsafeUnwrapErr().code).toBe('TOO_LARGE');
    expect((await broker.publish({ topic: 't', payload: '\u00e9'.repeat(51) }))._unsafeUnwrapErr().code).toBe('TOO_LARGE'); // 102 bytes
    expect(messageCount(db)).toBe(0);
    expect((await broker.publish({ topic: 't', payload: 'x'.repeat(100) })).isOk()).toBe(true);
    expect((await broker.publish({ topic: 't', payload: '\u00e9'.repeat(50) })).isOk()).toBe(true); // exactly 100 bytes
    expect(messageCount(db)).toBe(2);
  });

  test('bad patterns are refused with BAD_PATTERN', async () => {
    const { broker } = await start();
    const sink = { deliver: () => true };
    for (const pattern of ['', 'a..b', 'chat.#.x', 'chat.>.x', 'ch*t', 'chat.us#', 'bad pattern', 'x'.repeat(256)]) {
      const e = (await broker.subscribe({ pattern }, sink))._unsafeUnwrapErr();
      expect(e.code, `pattern ${JSON.stringify(pattern)}`).toBe('BAD_PATTERN');
    }
    expect((await broker.subscribe({ pattern: [] }, sink))._unsafeUnwrapErr().code).toBe('BAD_PATTERN');
    expect((await broker.subscribe({ pattern: ['ok', 'a..b'] }, sink))._unsafeUnwrapErr().code).toBe('BAD_PATTERN');
    expect(broker.stats().subscriptions).toBe(0);
  });

  test('bad ttl, metadata, message ids and subscribe arguments are refused with BAD_ARGS', async () => {
    const { broker, db } = await start();
    const bad: unknown[] = [
      { topic: 't', payload: 'x', ttlSeconds: -1 },
      { topic: 't', payload: 'x', ttlSeconds: 1.5 },
      { topic: 't', payload: 'x', ttlSeconds: Number.NaN },
      { topic: 't', payload: 'x', ttlSeconds: Number.POSITIVE_INFINITY },
      // Beyond PostgreSQL's integer column: refused before the store is asked.
      { topic: 't', payload: 'x', ttlSeconds: 7283004422866221 },
      { topic: 't', payload: 'x', metadata: ['a'] },
      { topic: 't', payload: 'x', metadata: 'text' },
      { topic: 't', payload: 'x', metadata: { content_type: 5 } },
      { topic: 't', payload: 'x', messageId: '' },
      { topic: 't', payload: 'x', messageId: 'm'.repeat(256) },
      // U+0000: PostgreSQL's text cannot hold it, and a log must move between the stores whole.
      { topic: 't', payload: 'a\u0000b' },
      { topic: 't', payload: 'x', messageId: '\u0000' },
      { topic: 't', payload: 'x', orderingKey: 'k\u0000' },
    ];
    for (const input of bad) {
      const e = (await broker.publish(input as never))._unsafeUnwrapErr();
      expect(e.code, JSON.stringify(input)).toBe('BAD_ARGS');
    }
    expect(messageCount(db)).toBe(0);
    // In metadata it is escaped in the stored JSON text, so it is kept.
    const withNul = (await broker.publish({ topic: 't', payload: 'x', metadata: { note: 'a\u0000b' } }))._unsafeUnwrap();
    const stored = (await broker.message(withNul.seq))._unsafeUnwrap();
    expect((JSON.parse(stored.metadata) as { note: string }).note).toBe('a\u0000b');

    const sink = { deliver: () => true };
    const badSubscribe: SubscribeOptions[] = [
      { pattern: 't', maxInFlight: 0 },
      { pattern: 't', start: { kind: 'seq', seq: -1 } },
      { pattern: 't', start: { kind: 'time', timeMs: Number.NaN } },
      // Beyond what PostgreSQL's bigint takes, or not whole: refused before the store is asked.
      { pattern: 't', start: { kind: 'time', timeMs: -1.4124035786913417e104 } },
      { pattern: 't', start: { kind: 'time', timeMs: 1.5 } },
      { pattern: 't', consumer: 'c', start: { kind: 'time', timeMs: -1 } },
      { pattern: 't', consumer: 'has space' },
      { pattern: 't', filter: { 'payload.a': { $regex: 'x' } } },
      { pattern: 't', filter: 'not an object' },
    ];
    for (const options of badSubscribe) {
      expect((await broker.subscribe(options, sink))._unsafeUnwrapErr().code, JSON.stringify(options)).toBe('BAD_ARGS');
    }
    expect(broker.consumers()).toEqual([]);
  });
});

describe('duplicate message ids', () => {
  test('a repeated id answers with the original seq, stores nothing and is delivered once', async () => {
    const { broker, db } = await start();
    const sub = await subscribe(broker, { pattern: 'd' });
    expect(await publish(broker, 'd', 'first', { messageId: 'id-1' })).toEqual({ seq: 1, messageId: 'id-1', duplicate: false });
    expect(await publish(broker, 'd', 'second', { messageId: 'id-1' })).toEqual({ seq: 1, messageId: 'id-1', duplicate: true });
    const other = await publish(broker, 'd', 'third', { messageId: 'id-2' });
    expect(other.duplicate).toBe(false);
    expect(other.seq).toBe(2); // a duplicate uses up no seq

    expect(query(db, 'SELECT seq, message_id AS id, payload FROM messages ORDER BY seq')).toEqual([
      { seq: 1, id: 'id-1', payload: 'first' },
      { seq: other.seq, id: 'id-2', payload: 'third' },
    ]);
    expect((await takeExactly(sub, 2)).map((d) => d.message.payload)).toEqual(['first', 'third']);
  });

  test('two concurrent publishes of one id store it once', async () => {
    const { broker, db } = await start();
    const [a, b] = await Promise.all([
      broker.publish({ topic: 'd', payload: 'a', messageId: 'same' }),
      broker.publish({ topic: 'd', payload: 'b', messageId: 'same' }),
    ]);
    expect(a._unsafeUnwrap()).toEqual({ seq: 1, messageId: 'same', duplicate: false });
    expect(b._unsafeUnwrap()).toEqual({ seq: 1, messageId: 'same', duplicate: true });
    expect(query(db, 'SELECT payload FROM messages')).toEqual([{ payload: 'a' }]);
  });

  test('duplicates inside a batch, and of earlier messages, are answered with the original seqs', async () => {
    const { broker, db } = await start();
    const sub = await subscribe(broker, { pattern: 'd' });
    await publish(broker, 'd', 'old', { messageId: 'old' });
    const out = (
      await broker.publishBatch([
        { topic: 'd', payload: 'n1', messageId: 'new' },
        { topic: 'd', payload: 'dup-old', messageId: 'old' },
        { topic: 'd', payload: 'dup-new', messageId: 'new' },
        { topic: 'd', payload: 'anon' },
      ])
    )._unsafeUnwrap();
    expect(out.map((p) => [p.messageId, p.duplicate])).toEqual([
      ['new', false],
      ['old', true],
      ['new', true],
      [null, false],
    ]);
    expect(out[1]!.seq).toBe(1);
    expect(out[2]!.seq).toBe(out[0]!.seq);
    expect(out[0]!.seq).toBeGreaterThan(1);
    expect(out[3]!.seq).toBeGreaterThan(out[0]!.seq);
    expect(query(db, 'SELECT seq, payload FROM messages ORDER BY seq')).toEqual([
      { seq: 1, payload: 'old' },
      { seq: out[0]!.seq, payload: 'n1' },
      { seq: out[3]!.seq, payload: 'anon' },
    ]);
    expect((await takeExactly(sub, 3)).map((d) => d.message.payload)).toEqual(['old', 'n1', 'anon']);
  });
});

describe('publishBatch', () => {
  test('a batch with one invalid message stores none of it', async () => {
    const { broker, db } = await start({ maxPayloadBytes: 10 });
    const sub = await subscribe(broker, { pattern: '#' });
    const badTopic = await broker.publishBatch([
      { topic: 'b', payload: '1' },
      { topic: 'b', payload: '2' },
      { topic: 'bad topic', payload: '3' },
      { topic: 'b', payload: '4' },
    ]);
    expect(badTopic._unsafeUnwrapErr().code).toBe('BAD_TOPIC');
    const tooLarge = await broker.publishBatch([
      { topic: 'b', payload: '1' },
      { topic: 'b', payload: 'x'.repeat(11) },
    ]);
    expect(tooLarge._unsafeUnwrapErr().code).toBe('TOO_LARGE');
    const badTtl = await broker.publishBatch([
      { topic: 'b', payload: '1' },
      { topic: 'b', payload: '2', ttlSeconds: -5 },
    ]);
    expect(badTtl._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect(messageCount(db)).toBe(0);
    expect(await sub.next(100)).toBeUndefined();

    const ok = (await broker.publishBatch([1, 2, 3, 4, 5].map((i) => ({ topic: 'b', payload: String(i) }))))._unsafeUnwrap();
    expect(ok.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(query(db, 'SELECT seq, payload FROM messages ORDER BY seq')).toEqual(
      [1, 2, 3, 4, 5].map((i) => ({ seq: i, payload: String(i) })),
    );
    expect((await sub.take(5, 2000)).map((d) => d.message.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  test('an empty batch stores nothing and answers an empty list', async () => {
    const { broker, db } = await start();
    expect((await broker.publishBatch([]))._unsafeUnwrap()).toEqual([]);
    expect(messageCount(db)).toBe(0);
  });
});

describe('seq', () => {
  test('2,000 concurrent publishes get distinct, strictly increasing seqs in call order', async () => {
    const { broker, db } = await start();
    const pending = Array.from({ length: 2000 }, (_, i) => broker.publish({ topic: `load.t${i % 7}`, payload: String(i) }));
    const seqs = (await Promise.all(pending)).map((r) => r._unsafeUnwrap().seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(new Set(seqs).size).toBe(2000);
    const rows = query<{ seq: number; payload: string }>(db, 'SELECT seq, payload FROM messages ORDER BY seq');
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    expect(rows.map((r) => r.payload)).toEqual(seqs.map((_, i) => String(i)));
    expect(broker.headSeq()).toBe(seqs[seqs.length - 1]);
  });

  // SQLite only: a PostgreSQL broker sends each group when the turn ends.
  test.skipIf(onPostgres)('a burst of publishes made in one turn has its first 64 committed while the turn still runs, the rest after, in call order', async () => {
    const { broker, db } = await start();
    const pending = Array.from({ length: 100 }, (_, i) => broker.publish({ topic: 'burst', payload: String(i) }));
    // Still the same turn: only the writer thread can store them now.
    const deadline = Date.now() + UNTIL_TIMEOUT_MS;
    let stored = messageCount(db);
    while (stored < 64 && Date.now() < deadline) stored = messageCount(db);
    expect(stored).toBe(64);
    const seqs = (await Promise.all(pending)).map((r) => r._unsafeUnwrap().seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(messageCount(db)).toBe(100);
  });

  test('interleaved single publishes and batches keep call order', async () => {
    const { broker } = await start();
    const a = broker.publish({ topic: 'o', payload: 'a' });
    const batch = broker.publishBatch([
      { topic: 'o', payload: 'b' },
      { topic: 'o', payload: 'c' },
    ]);
    const d = broker.publish({ topic: 'o', payload: 'd' });
    const seqA = (await a)._unsafeUnwrap().seq;
    const seqsBC = (await batch)._unsafeUnwrap().map((p) => p.seq);
    const seqD = (await d)._unsafeUnwrap().seq;
    expect([seqA, ...seqsBC, seqD]).toEqual([1, 2, 3, 4]);
  });

  test('seqs are never reused after the newest rows expire and the broker is reopened', async () => {
    const dir = await scope.dir();
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const first = await scope.open(dir, {}, now);
    for (let i = 1; i <= 3; i++) expect(await publish(first, 'keep', `k${i}`)).toMatchObject({ seq: i });
    const shortLived = (await first.publishBatch([4, 5].map((i) => ({ topic: 'gone', payload: `g${i}`, ttlSeconds: 1 }))))._unsafeUnwrap();
    expect(shortLived.map((p) => p.seq)).toEqual([4, 5]);
    offsetMs = 1000;
    expect(await first.runRetention()).toBe(2);
    expect(query(dir, 'SELECT seq FROM messages ORDER BY seq')).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
    await first.close();

    const second = await scope.open(dir, {}, now);
    expect(second.headSeq()).toBe(5);
    expect(await publish(second, 'keep', 'after-restart')).toMatchObject({ seq: 6, duplicate: false });
    const replay = await subscribe(second, { pattern: '#', start: { kind: 'seq', seq: 1 } });
    expect((await replay.take(4, 2000)).map((d) => [d.message.seq, d.message.payload])).toEqual([
      [1, 'k1'],
      [2, 'k2'],
      [3, 'k3'],
      [6, 'after-restart'],
    ]);
    expect(await replay.next(100)).toBeUndefined();
  });
});

describe('replay', () => {
  test('from a seq: the stored messages from that seq, then live ones', async () => {
    const { broker } = await start();
    for (let i = 1; i <= 10; i++) await publish(broker, i % 2 === 0 ? 'r.even' : 'r.odd', String(i));
    const sub = await subscribe(broker, { pattern: 'r.*', start: { kind: 'seq', seq: 4 } });
    expect(sub.headSeq).toBe(10);
    expect((await sub.take(7, 2000)).map((d) => d.message.seq)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    await publish(broker, 'r.live', '11');
    expect((await sub.take(1, 2000)).map((d) => d.message.seq)).toEqual([11]);
    expect(await sub.next(100)).toBeUndefined();
  });

  test('from seq 0 replays everything; start at head only gets live messages', async () => {
    const { broker } = await start();
    for (let i = 1; i <= 3; i++) await publish(broker, 'z', String(i));
    const all = await subscribe(broker, { pattern: 'z', start: { kind: 'seq', seq: 0 } });
    const head = await subscribe(broker, { pattern: 'z', start: { kind: 'head' } });
    const next = await subscribe(broker, { pattern: 'z', start: { kind: 'seq', seq: 4 } });
    await publish(broker, 'z', '4');
    expect(await drainSeqs(all)).toEqual([1, 2, 3, 4]);
    expect(await drainSeqs(head)).toEqual([4]);
    expect(await drainSeqs(next)).toEqual([4]);
  });

  test('a start seq beyond the head delivers nothing below that seq', async () => {
    const { broker } = await start();
    for (let i = 1; i <= 3; i++) await publish(broker, 'z', String(i));
    const future = await subscribe(broker, { pattern: 'z', start: { kind: 'seq', seq: 6 } });
    for (let i = 4; i <= 7; i++) await publish(broker, 'z', String(i));
    expect(await drainSeqs(future)).toEqual([6, 7]);
  });

  test('from a time: the first message committed at or after it, then live ones', async () => {
    const { broker } = await start();
    for (let i = 1; i <= 5; i++) await publish(broker, 'tm', `old${i}`);
    await sleep(15);
    const t = Date.now();
    for (let i = 6; i <= 10; i++) await publish(broker, 'tm', `new${i}`);

    const fromT = await subscribe(broker, { pattern: 'tm', start: { kind: 'time', timeMs: t } });
    const fromZero = await subscribe(broker, { pattern: 'tm', start: { kind: 'time', timeMs: 0 } });
    const fromFuture = await subscribe(broker, { pattern: 'tm', start: { kind: 'time', timeMs: Date.now() + 60_000 } });
    await publish(broker, 'tm', 'live11');
    expect(await drainSeqs(fromT)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(await drainSeqs(fromZero)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(await drainSeqs(fromFuture, 50)).toEqual([11]);
  });

  test('replays from seq 1, then continues live without a gap or a duplicate while publishes go on', async () => {
    const { broker } = await start();
    const TOTAL = 3000;
    const CHUNK = 30;
    const isFeed = (i: number): boolean => i % 4 !== 3; // every fourth message is noise the pattern excludes
    const expected: number[] = [];
    let publishedSoFar = 0;
    const publisher = (async () => {
      for (let i = 0; i < TOTAL; i += CHUNK) {
        const chunk: ReturnType<Broker['publish']>[] = [];
        for (let j = i; j < i + CHUNK; j++) {
          chunk.push(broker.publish({ topic: isFeed(j) ? `feed.p${j % 3}` : 'noise.x', payload: String(j) }));
        }
        const results = await Promise.all(chunk);
        results.forEach((r, k) => {
          if (isFeed(i + k)) expected.push(r._unsafeUnwrap().seq);
        });
        publishedSoFar += CHUNK;
        // Let the subscriber in between commits, so that the switch to live happens mid-stream.
        if (i % (CHUNK * 4) === 0) await sleep(1);
      }
    })();

    await until('the publisher to be 600 messages in', () => publishedSoFar >= 600, UNTIL_TIMEOUT_MS, 1);
    // A queue of 8 makes the subscriber pause again and again, falling back from live delivery to disk.
    const sub = await subscribe(broker, { pattern: 'feed.*', start: { kind: 'seq', seq: 1 } }, 8);
    const expectedCount = Array.from({ length: TOTAL }, (_, i) => i).filter(isFeed).length;
    const received: number[] = [];
    while (received.length < expectedCount) {
      const d = await sub.next(2000);
      if (d === undefined) break;
      received.push(d.message.seq);
      if (!d.message.topic.startsWith('feed.')) throw new Error(`unexpected topic ${d.message.topic}`);
      if (received.length % 97 === 0) await sleep(2);
    }
    await publisher;
    expect(received.length).toBe(expected.length);
    expect(received).toEqual(expected);
    expect(await sub.next(100)).toBeUndefined();
  });
});

describe('patterns and filters', () => {
  test('a pattern subscription receives exactly the matching topics', async () => {
    const { broker } = await start();
    const star = await subscribe(broker, { pattern: 'chat.*' });
    const suffix = await subscribe(broker, { pattern: '*.created' });
    const rest = await subscribe(broker, { pattern: 'orders.#' });
    const restAlias = await subscribe(broker, { pattern: 'orders.>' });
    const several = await subscribe(broker, { pattern: ['orders.created', 'orders.*', 'chat.user1'] });
    const topics = ['chat.user1', 'chat', 'chat.a.b', 'chatx.user1', 'orders.created', 'orders', 'orders.eu.created', 'chat.user2', 'x.created'];
    const seqOf = new Map<string, number>();
    for (const t of topics) seqOf.set(t, (await publish(broker, t, t)).seq);
    const seqs = (...ts: string[]): number[] => ts.map((t) => seqOf.get(t)!);

    expect(await drainSeqs(star)).toEqual(seqs('chat.user1', 'chat.user2'));
    expect(await drainSeqs(suffix)).toEqual(seqs('orders.created', 'x.created'));
    expect(await drainSeqs(rest)).toEqual(seqs('orders.created', 'orders', 'orders.eu.created'));
    expect(await drainSeqs(restAlias)).toEqual(seqs('orders.created', 'orders', 'orders.eu.created'));
    // A message matching several of a subscription's patterns is delivered once.
    expect(await drainSeqs(several)).toEqual(seqs('chat.user1', 'orders.created'));
  });

  test('a pattern replay from disk applies the same matching as live delivery', async () => {
    const { broker } = await start();
    const topics = ['chat.user1', 'chat', 'chat.a.b', 'chatx.user1', 'chat.user2'];
    for (const t of topics) await publish(broker, t, t);
    const sub = await subscribe(broker, { pattern: 'chat.*', start: { kind: 'seq', seq: 1 } });
    expect((await drainSeqs(sub))).toEqual([1, 5]);
  });

  test('a content filter delivers only the messages it accepts, from disk and live', async () => {
    const { broker } = await start();
    const amounts = [500, 1500, 1000, 2500];
    for (const a of amounts) (await broker.publish({ topic: 'pay', payload: JSON.stringify({ amount: a }), metadata: { region: a > 2000 ? 'us' : 'eu' } }))._unsafeUnwrap();
    const big = await subscribe(broker, { pattern: 'pay', start: { kind: 'seq', seq: 1 }, filter: { 'payload.amount': { $gt: 1000 } } });
    const euBig = await subscribe(broker, {
      pattern: 'pay',
      start: { kind: 'seq', seq: 1 },
      filter: { 'payload.amount': { $gte: 1000 }, 'attributes.region': 'eu' },
    });
    (await broker.publish({ topic: 'pay', payload: JSON.stringify({ amount: 3000 }), metadata: { region: 'eu' } }))._unsafeUnwrap();
    (await broker.publish({ topic: 'pay', payload: 'not json' }))._unsafeUnwrap();
    (await broker.publish({ topic: 'pay', payload: JSON.stringify({ amount: 10 }) }))._unsafeUnwrap();
    expect(await drainSeqs(big)).toEqual([2, 4, 5]);
    expect(await drainSeqs(euBig)).toEqual([2, 3, 5]);
  });
});

describe('request/reply', () => {
  test('a request resolves with the reply its responder publishes', async () => {
    const { broker } = await start();
    const responder = await subscribe(broker, { pattern: 'rpc.echo' });
    const answering = (async () => {
      const d = await responder.next(2000);
      if (d === undefined) throw new Error('no request arrived');
      expect(JSON.parse(d.message.metadata)).toMatchObject({ reply_to: expect.stringMatching(/^_inbox\./), trace: 't-1' });
      (await broker.reply(d.message, `echo:${d.message.payload}`, { answered: true }))._unsafeUnwrap();
    })();
    const reply = (await broker.request('rpc.echo', 'ping', { timeoutMs: 2000, metadata: { trace: 't-1' } }))._unsafeUnwrap();
    await answering;
    expect(reply.payload).toBe('echo:ping');
    expect(reply.topic).toMatch(/^_inbox\./);
    expect(JSON.parse(reply.metadata)).toMatchObject({ answered: true });
    // The request's inbox subscription is gone once answered.
    expect(broker.stats().subscriptions).toBe(1);
  });

  test('concurrent requests each get their own reply', async () => {
    const { broker } = await start();
    const responder = await subscribe(broker, { pattern: 'rpc.double' });
    const answering = (async () => {
      for (let i = 0; i < 3; i++) {
        const d = await responder.next(2000);
        if (d === undefined) throw new Error('missing request');
        (await broker.reply(d.message, String(Number(d.message.payload) * 2)))._unsafeUnwrap();
      }
    })();
    const replies = await Promise.all(['1', '2', '3'].map((p) => broker.request('rpc.double', p, { timeoutMs: 2000 })));
    await answering;
    expect(replies.map((r) => r._unsafeUnwrap().payload)).toEqual(['2', '4', '6']);
  });

  test('a request nobody answers fails with UNAVAILABLE after its timeout', async () => {
    const { broker } = await start();
    const started = Date.now();
    const e = (await broker.request('rpc.nobody', 'hello', { timeoutMs: 100 }))._unsafeUnwrapErr();
    expect(e.code).toBe('UNAVAILABLE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(broker.stats().subscriptions).toBe(0);
  });

  test('replying to a message that is not a request is BAD_ARGS', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'plain' });
    await publish(broker, 'plain', 'x');
    const [d] = await sub.take(1, 2000);
    expect((await broker.reply(d!.message, 'y'))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
  });
});

// The WebSocket API's frames (PROTOCOL.md §5) as pure functions: every client frame parsed into its typed
// value (prk_eventbus's frames unchanged), every malformed frame a BAD_FRAME carrying the id when one could
// be read, and the server frames built as JSON text a client can parse.
import { describe, expect, test } from 'vitest';
import {
  errorFrame,
  messageFrame,
  parseClientFrame,
  publishedBatchFrame,
  publishedFrame,
  subscribedFrame,
  unsubscribedFrame,
  type ClientFrame,
} from '../../src/protocol/ws-frames.js';
import { brokerError } from '../../src/errors.js';

const parse = (frame: unknown): ClientFrame => {
  const r = parseClientFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));
  if (r.isErr()) throw new Error(`expected ${JSON.stringify(frame)} to parse, got ${r.error.error.message}`);
  return r.value;
};

const bad = (frame: unknown): { id: unknown; code: string; reason: string } => {
  const r = parseClientFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));
  if (r.isOk()) throw new Error(`expected ${JSON.stringify(frame)} to be refused, got ${JSON.stringify(r.value)}`);
  return { id: r.error.id, code: r.error.error.code, reason: r.error.error.message };
};

describe('publish', () => {
  test('topic, payload, message_id, metadata and the frame ttl; the id is kept', () => {
    const f = parse({ type: 'publish', id: 'p1', data: { topic: 'orders.created', payload: 'hi', message_id: 'm-1', metadata: { region: 'eu' } }, ttl: 60 });
    expect(f).toEqual({
      type: 'publish',
      id: 'p1',
      message: { topic: 'orders.created', payload: 'hi', messageId: 'm-1', ttlSeconds: 60, orderingKey: undefined, metadata: { region: 'eu' } },
    });
  });

  test('without id, message_id, metadata or ttl (prk_eventbus publish)', () => {
    const f = parse({ type: 'publish', data: { topic: 't', payload: '' } });
    expect(f.type).toBe('publish');
    expect(f.id).toBeUndefined();
    if (f.type !== 'publish') throw new Error('unreachable');
    expect(f.message.topic).toBe('t');
    expect(f.message.payload).toBe('');
    expect(f.message.messageId).toBeUndefined();
    expect(f.message.ttlSeconds).toBeUndefined();
    expect(f.message.metadata).toBeUndefined();
  });

  test('a numeric id is echoed as it came; an id of another type is dropped', () => {
    expect(parse({ type: 'publish', id: 7, data: { topic: 't', payload: 'x' } }).id).toBe(7);
    expect(parse({ type: 'publish', id: { a: 1 }, data: { topic: 't', payload: 'x' } }).id).toBeUndefined();
  });

  test.each([
    [{ id: 7, items: [1, 2] }, '{"id":7,"items":[1,2]}'],
    [[1, 'a'], '[1,"a"]'],
    [42, '42'],
    [true, 'true'],
    [null, 'null'],
  ])('a non-string payload %j is stored as its JSON text %s, content type application/json', (payload, text) => {
    const f = parse({ type: 'publish', data: { topic: 't', payload, metadata: { a: 1 } } });
    if (f.type !== 'publish') throw new Error('unreachable');
    expect(f.message.payload).toBe(text);
    expect(f.message.metadata).toEqual({ a: 1, content_type: 'application/json' });
  });

  test("a JSON payload keeps the publisher's content_type; a string payload gets none added", () => {
    const json = parse({ type: 'publish', data: { topic: 't', payload: {}, metadata: { content_type: 'application/x-thing' } } });
    const text = parse({ type: 'publish', data: { topic: 't', payload: '{}' } });
    if (json.type !== 'publish' || text.type !== 'publish') throw new Error('unreachable');
    expect(json.message.metadata).toEqual({ content_type: 'application/x-thing' });
    expect(text.message.payload).toBe('{}');
    expect(text.message.metadata).toBeUndefined();
  });

  test("the message's own ttl wins over the frame's", () => {
    const f = parse({ type: 'publish', data: { topic: 't', payload: 'x', ttl: 5 }, ttl: 60 });
    if (f.type !== 'publish') throw new Error('unreachable');
    expect(f.message.ttlSeconds).toBe(5);
  });

  test.each([
    [{ type: 'publish', id: 'a' }, /"data"/],
    [{ type: 'publish', id: 'a', data: 'x' }, /"data"/],
    [{ type: 'publish', id: 'a', data: { payload: 'x' } }, /"topic" is missing/],
    [{ type: 'publish', id: 'a', data: { topic: 3, payload: 'x' } }, /"topic"/],
    [{ type: 'publish', id: 'a', data: { topic: 't' } }, /"payload" is missing/],
    [{ type: 'publish', id: 'a', data: { topic: 't', payload: 'x', message_id: 5 } }, /"message_id"/],
    [{ type: 'publish', id: 'a', data: { topic: 't', payload: 'x', metadata: [1] } }, /"metadata"/],
    [{ type: 'publish', id: 'a', data: { topic: 't', payload: 'x' }, ttl: -1 }, /"ttl"/],
    [{ type: 'publish', id: 'a', data: { topic: 't', payload: 'x' }, ttl: 1.5 }, /"ttl"/],
  ])('%j is a BAD_FRAME naming the field, with the id', (frame, reason) => {
    const e = bad(frame);
    expect(e).toMatchObject({ id: 'a', code: 'BAD_FRAME' });
    expect(e.reason).toMatch(reason);
  });
});

describe('publish_batch', () => {
  test('every message, the frame ttl applied to those without their own', () => {
    const f = parse({
      type: 'publish_batch',
      id: 'b',
      messages: [
        { topic: 'a', payload: 'one' },
        { topic: 'b', payload: { n: 2 }, message_id: 'two', ttl: 3 },
      ],
      ttl: 9,
    });
    if (f.type !== 'publish_batch') throw new Error('unreachable');
    expect(f.id).toBe('b');
    expect(f.messages.map((m) => [m.topic, m.payload, m.messageId, m.ttlSeconds])).toEqual([
      ['a', 'one', undefined, 9],
      ['b', '{"n":2}', 'two', 3],
    ]);
  });

  test.each([
    [{ type: 'publish_batch', id: 'b' }, /"messages"/],
    [{ type: 'publish_batch', id: 'b', messages: [] }, /"messages"/],
    [{ type: 'publish_batch', id: 'b', messages: {} }, /"messages"/],
    [{ type: 'publish_batch', id: 'b', messages: [{ topic: 't', payload: 'x' }, 3] }, /messages\[1\]/],
    [{ type: 'publish_batch', id: 'b', messages: [{ topic: 't', payload: 'x' }, { topic: 't' }] }, /"payload"/],
  ])('%j is a BAD_FRAME', (frame, reason) => {
    const e = bad(frame);
    expect(e).toMatchObject({ id: 'b', code: 'BAD_FRAME' });
    expect(e.reason).toMatch(reason);
  });
});

describe('subscribe', () => {
  test('every option', () => {
    const f = parse({ type: 'subscribe', id: 's', pattern: 'chat.*', starting_seq: 0, starting_time: 1700000000000, consumer: 'c', group: 'g', max_in_flight: 5, backoff_ms: [0, 250, 86_400_000] });
    expect(f).toEqual({
      type: 'subscribe',
      id: 's',
      request: { pattern: 'chat.*', startingSeq: 0, startingTime: 1700000000000, consumer: 'c', group: 'g', maxInFlight: 5, filter: undefined, backoffMs: [0, 250, 86_400_000] },
    });
  });

  test('a list of patterns; null options count as absent', () => {
    const f = parse({ type: 'subscribe', pattern: ['a', 'b.#'], starting_seq: null, consumer: null, backoff_ms: null });
    if (f.type !== 'subscribe') throw new Error('unreachable');
    expect(f.request.pattern).toEqual(['a', 'b.#']);
    expect(f.request.startingSeq).toBeUndefined();
    expect(f.request.consumer).toBeUndefined();
    expect(f.request.backoffMs).toBeUndefined();
  });

  test.each([
    [{ type: 'subscribe', id: 's' }, /"pattern" is missing/],
    [{ type: 'subscribe', id: 's', pattern: 5 }, /"pattern"/],
    [{ type: 'subscribe', id: 's', pattern: ['a', 1] }, /"pattern"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', starting_seq: -1 }, /"starting_seq"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', starting_seq: '5' }, /"starting_seq"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', starting_time: 'yesterday' }, /"starting_time"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', starting_time: -1.4124035786913417e104 }, /"starting_time"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', starting_time: 1.5 }, /"starting_time"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 1 }, /"consumer"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', group: false }, /"group"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', max_in_flight: 0 }, /"max_in_flight"/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: 100 }, /backoff_ms must be an array of 1 to 32 whole numbers of ms, each from 0 to 86400000/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: [] }, /backoff_ms must be an array of 1/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: [100, -1] }, /backoff_ms must be/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: [1.5] }, /backoff_ms must be/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: ['100'] }, /backoff_ms must be/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: [86_400_001] }, /backoff_ms must be/],
    [{ type: 'subscribe', id: 's', pattern: 'a', consumer: 'c', backoff_ms: Array.from({ length: 33 }, () => 1) }, /backoff_ms must be/],
  ])('%j is a BAD_FRAME', (frame, reason) => {
    const e = bad(frame);
    expect(e).toMatchObject({ id: 's', code: 'BAD_FRAME' });
    expect(e.reason).toMatch(reason);
  });
});

describe('ack, nack, unsubscribe', () => {
  test('ack with a subscription', () => {
    expect(parse({ type: 'ack', subscription: 'sub-1', seq: 4 })).toEqual({ type: 'ack', id: undefined, subscription: 'sub-1', seqs: [4] });
  });

  test('ack of many seqs in one frame; seq and seqs together, or an empty or bad seqs, are refused', () => {
    expect(parse({ type: 'ack', subscription: 'sub-1', seqs: [4, 5, 9] })).toEqual({ type: 'ack', id: undefined, subscription: 'sub-1', seqs: [4, 5, 9] });
    expect(bad({ type: 'ack', subscription: 's', seq: 1, seqs: [2] })).toMatchObject({ code: 'BAD_FRAME', reason: 'give "seq" or "seqs", not both' });
    for (const seqs of [[], [1, -2], [1, 'x'], 'x', [1.5]]) {
      expect(bad({ type: 'ack', subscription: 's', seqs })).toMatchObject({ code: 'BAD_FRAME', reason: '"seqs" must be a non-empty array of seqs' });
    }
  });

  test('the ack of one delivery reads as JSON.parse reads it, at the edges of its quick form too', () => {
    const ack = (subscription: string, seq: number) => ({ type: 'ack', id: undefined, subscription, seqs: [seq] });
    expect(parse('{"type":"ack","subscription":"sub-12","seq":0}')).toEqual(ack('sub-12', 0));
    expect(parse('{"type":"ack","subscription":"","seq":9007199254740991}')).toEqual(ack('', Number.MAX_SAFE_INTEGER));
    expect(parse(String.raw`{"type":"ack","subscription":"caf\u00e9 \\ \"x\"","seq":3}`)).toEqual(ack('café \\ "x"', 3));
    expect(parse('{"type":"ack","subscription":"é✓","seq":3}')).toEqual(ack('é✓', 3));
    expect(parse('{ "type": "ack", "subscription": "s", "seq": 3 }')).toEqual(ack('s', 3));
    expect(parse('{"type":"ack","subscription":"s","seq":3,"id":"a1"}')).toEqual({ ...ack('s', 3), id: 'a1' });
    expect(bad('{"type":"ack","subscription":"s","seq":03}')).toMatchObject({ code: 'BAD_FRAME', reason: expect.stringMatching(/^invalid JSON/) as unknown });
    expect(bad('{"type":"ack","subscription":"a\u0001b","seq":3}')).toMatchObject({ code: 'BAD_FRAME', reason: expect.stringMatching(/^invalid JSON/) as unknown });
    expect(bad('{"type":"ack","subscription":"s","seq":9007199254740993}')).toMatchObject({ code: 'BAD_FRAME', reason: '"seq" must be a seq' });
    expect(bad('{"type":"ack","subscription":"s","seq":3}x')).toMatchObject({ code: 'BAD_FRAME', reason: expect.stringMatching(/^invalid JSON/) as unknown });
  });

  test("prk_eventbus's ack: by seq and message_id, no subscription", () => {
    expect(parse({ type: 'ack', seq: 9, message_id: 'abc' })).toEqual({ type: 'ack', id: undefined, subscription: undefined, seqs: [9] });
  });

  test('nack with and without delay_ms', () => {
    expect(parse({ type: 'nack', subscription: 's', seq: 2, delay_ms: 250 })).toMatchObject({ type: 'nack', subscription: 's', seq: 2, delayMs: 250 });
    // None: the consumer's backoff decides, which a delay of 0 would override.
    expect(parse({ type: 'nack', subscription: 's', seq: 2 })).toEqual({ type: 'nack', id: undefined, subscription: 's', seq: 2, delayMs: undefined });
  });

  test('unsubscribe', () => {
    expect(parse({ type: 'unsubscribe', id: 'u', subscription: 'sub-3' })).toEqual({ type: 'unsubscribe', id: 'u', subscription: 'sub-3' });
  });

  test.each([
    [{ type: 'ack', id: 'x', subscription: 's' }, /"seq" is missing/],
    [{ type: 'ack', id: 'x', seq: '3' }, /"seq"/],
    [{ type: 'ack', id: 'x', seq: -3 }, /"seq"/],
    [{ type: 'ack', id: 'x', seq: 3, subscription: 4 }, /"subscription"/],
    [{ type: 'nack', id: 'x', subscription: 's' }, /"seq"/],
    [{ type: 'nack', id: 'x', subscription: 's', seq: 1, delay_ms: -5 }, /"delay_ms"/],
    [{ type: 'unsubscribe', id: 'x' }, /"subscription" is missing/],
  ])('%j is a BAD_FRAME', (frame, reason) => {
    const e = bad(frame);
    expect(e).toMatchObject({ id: 'x', code: 'BAD_FRAME' });
    expect(e.reason).toMatch(reason);
  });
});

describe('frames that are not frames', () => {
  test.each(['', 'not json', '{"type":', '[1,2]', '"publish"', '42', 'null'])('%j is a BAD_FRAME without id', (text) => {
    const e = bad(text);
    expect(e.code).toBe('BAD_FRAME');
    expect(e.id).toBeUndefined();
  });

  test('a missing or unknown type is a BAD_FRAME that keeps the id and names the types', () => {
    expect(bad({ id: 'q' })).toMatchObject({ id: 'q', code: 'BAD_FRAME', reason: expect.stringMatching(/"type" is missing/) });
    const e = bad({ type: 'fetch', id: 'q' });
    expect(e).toMatchObject({ id: 'q', code: 'BAD_FRAME' });
    expect(e.reason).toMatch(/fetch/);
    expect(e.reason).toMatch(/publish/);
  });
});

describe('server frames', () => {
  test('published: seq and message_id with the id; duplicate only when it is one', () => {
    expect(JSON.parse(publishedFrame('p', { seq: 3, messageId: 'm', duplicate: false }))).toEqual({ type: 'published', id: 'p', seq: 3, message_id: 'm' });
    expect(JSON.parse(publishedFrame(undefined, { seq: 3, messageId: null, duplicate: true }))).toEqual({
      type: 'published',
      seq: 3,
      message_id: null,
      duplicate: true,
    });
    expect((JSON.parse(publishedFrame(12, { seq: 1, messageId: null, duplicate: false })) as { id: unknown }).id).toBe(12);
  });

  test('published for a batch: seqs in order', () => {
    const f = JSON.parse(
      publishedBatchFrame('b', [
        { seq: 4, messageId: null, duplicate: false },
        { seq: 5, messageId: 'x', duplicate: false },
      ]),
    );
    expect(f).toMatchObject({ type: 'published', id: 'b', seqs: [4, 5] });
  });

  test('subscribed, unsubscribed, error', () => {
    expect(JSON.parse(subscribedFrame('s', 'sub-1', 10))).toEqual({ type: 'subscribed', id: 's', subscription: 'sub-1', head_seq: 10 });
    expect(JSON.parse(unsubscribedFrame('u', 'sub-1'))).toEqual({ type: 'unsubscribed', id: 'u', subscription: 'sub-1' });
    expect(JSON.parse(errorFrame('e', brokerError('BAD_TOPIC', 'no')))).toEqual({ type: 'error', id: 'e', code: 'BAD_TOPIC', message: 'no' });
  });

  test('message: every field of §5, the stored metadata inlined, payload escaped', () => {
    const message = {
      seq: 17,
      messageId: 'id-"1"',
      topic: 'chat.user1',
      payload: 'line1\nline2 "quoted" \u2028 é',
      metadata: '{"timestamp":1700000000000,"content_type":"text/plain","region":"eu"}',
      ttlSeconds: 0,
      orderingKey: null,
      createdAt: 1700000000000,
    };
    expect(JSON.parse(messageFrame('sub-2', message, 3))).toEqual({
      type: 'message',
      subscription: 'sub-2',
      seq: 17,
      message_id: 'id-"1"',
      topic: 'chat.user1',
      payload: 'line1\nline2 "quoted" \u2028 é',
      metadata: { timestamp: 1700000000000, content_type: 'text/plain', region: 'eu' },
      delivery: 3,
    });
    const withKey = JSON.parse(messageFrame('sub-2', { ...message, messageId: null, orderingKey: 'k' }, 3));
    expect(withKey).toMatchObject({ message_id: null, ordering_key: 'k' });
  });
});

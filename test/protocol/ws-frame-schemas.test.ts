// The WebSocket frames' zod schemas (ws-frame-schemas.ts) against the code that really reads and writes frames:
// over hand-picked and generated client frames, the hand-written parser of ws-frames.ts accepts exactly what the
// schemas accept, as zod and as the JSON Schema in the AsyncAPI document; the broker's frame builders and the
// client's make frames the schemas accept; and the document's examples are frames both sides take.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { asyncApiDocument } from '../../src/protocol/asyncapi.js';
import * as client from '../../src/protocol/client-frames.js';
import { CLIENT_FRAMES, SERVER_FRAMES, WS_ERROR_CODES } from '../../src/protocol/ws-frame-schemas.js';
import * as frames from '../../src/protocol/ws-frames.js';
import { MAX_BACKOFF_STEPS, MAX_BACKOFF_WAIT_MS } from '../../src/protocol/redelivery-backoff.js';
import { brokerError } from '../../src/errors.js';
import type { StoredMessage } from '../../src/core/types.js';
import { payloadValidators } from '../helpers/asyncapi.js';

type Json = Record<string, unknown>;

const document = asyncApiDocument({ version: 'test', webSocketPath: '/ws' });
const validators = payloadValidators(document);
const clientNames = Object.keys(CLIENT_FRAMES);

/**
 * Where the parser is more lenient than the schemas, on purpose, each with what it does: the value the schemas
 * are asked about has these taken out. A frame the schemas refuse for another reason must be refused.
 */
const LENIENCIES: readonly { readonly what: string; readonly apply: (frame: Json) => Json }[] = [
  {
    what: 'an id that is neither a string nor a number (true, {}, []) is not refused: the frame is read as having no id',
    apply: (frame) => {
      const id = frame['id'];
      if (id === undefined || id === null || typeof id === 'string' || typeof id === 'number') return frame;
      const { id: _, ...rest } = frame;
      return rest;
    },
  },
];

const lenient = (value: unknown): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? LENIENCIES.reduce((frame, l) => l.apply(frame), value as Json) : value;

const parserTakes = (text: string): boolean => frames.parseClientFrame(text).isOk();
const zodTakes = (value: unknown): boolean => Object.values(CLIENT_FRAMES).some((schema) => schema.safeParse(value).success);
const documentTakes = (value: unknown): boolean => clientNames.some((name) => validators.check(name, value) === undefined);

/** The three verdicts on one frame's text, for a failure message that shows which side differs. */
function verdicts(text: string): { parser: boolean; zod: boolean; document: boolean } {
  let value: unknown;
  try {
    value = lenient(JSON.parse(text));
  } catch {
    return { parser: parserTakes(text), zod: false, document: false };
  }
  return { parser: parserTakes(text), zod: zodTakes(value), document: documentTakes(value) };
}

function expectAgreement(text: string, expected?: boolean): void {
  const v = verdicts(text);
  expect({ text, ...v }).toEqual({ text, parser: expected ?? v.parser, zod: expected ?? v.parser, document: expected ?? v.parser });
}

// §5's frames and their near misses. `true`: every side takes it.
const HAND_PICKED: readonly [string, boolean][] = [
  ['{"type":"publish","id":"p1","data":{"topic":"orders.created","payload":"hi","message_id":"m-1","metadata":{"region":"eu"}},"ttl":60}', true],
  ['{"type":"publish","data":{"topic":"t","payload":""}}', true],
  ['{"type":"publish","id":7,"data":{"topic":"t","payload":{"n":1}}}', true],
  ['{"type":"publish","data":{"topic":"t","payload":null}}', true],
  ['{"type":"publish","data":{"topic":"t","payload":"x","message_id":null,"metadata":null,"ttl":null,"ordering_key":null},"ttl":null}', true],
  ['{"type":"publish","data":{"topic":"t","payload":"x","deliver_at":"2030-01-01T00:00:00Z"}}', true],
  ['{"type":"publish","data":{"topic":"t","payload":"x","deliver_at":1893456000000,"delay_ms":5}}', true],
  ['{"type":"publish","data":{"topic":"t","payload":"x","ordering_key":"k"},"extra":1}', true],
  ['{"type":"publish","data":{"topic":"t"}}', false],
  ['{"type":"publish","data":{"payload":"x"}}', false],
  ['{"type":"publish","data":{"topic":null,"payload":"x"}}', false],
  ['{"type":"publish","data":{"topic":1,"payload":"x"}}', false],
  ['{"type":"publish","data":["t","x"]}', false],
  ['{"type":"publish"}', false],
  ['{"type":"publish","data":{"topic":"t","payload":"x","metadata":[1]}}', false],
  ['{"type":"publish","data":{"topic":"t","payload":"x","ttl":-1}}', false],
  ['{"type":"publish","data":{"topic":"t","payload":"x"},"ttl":1.5}', false],
  ['{"type":"publish","data":{"topic":"t","payload":"x","deliver_at":true}}', false],
  ['{"type":"publish","data":{"topic":"t","payload":"x","delay_ms":"5"}}', false],
  ['{"type":"publish_batch","id":"b1","messages":[{"topic":"a","payload":"1"},{"topic":"b","payload":{"x":2},"delay_ms":1000}],"ttl":5}', true],
  ['{"type":"publish_batch","messages":[]}', false],
  ['{"type":"publish_batch","messages":null}', false],
  ['{"type":"publish_batch","messages":[{"topic":"a","payload":"1"},"x"]}', false],
  ['{"type":"subscribe","id":"s1","pattern":"orders.*"}', true],
  ['{"type":"subscribe","pattern":["a.#","b.*"],"starting_seq":0,"starting_time":null,"consumer":"billing","group":"g","max_in_flight":1,"filter":{"payload.n":{"$gt":1}},"backoff_ms":[0,86400000]}', true],
  ['{"type":"subscribe","pattern":[]}', true],
  ['{"type":"subscribe","pattern":"a","backoff_ms":null}', true],
  ['{"type":"subscribe"}', false],
  ['{"type":"subscribe","pattern":1}', false],
  ['{"type":"subscribe","pattern":["a",1]}', false],
  ['{"type":"subscribe","pattern":"a","max_in_flight":0}', false],
  ['{"type":"subscribe","pattern":"a","starting_seq":-1}', false],
  ['{"type":"subscribe","pattern":"a","backoff_ms":[]}', false],
  ['{"type":"subscribe","pattern":"a","backoff_ms":[86400001]}', false],
  [`{"type":"subscribe","pattern":"a","backoff_ms":[${Array.from({ length: MAX_BACKOFF_STEPS + 1 }, () => 1).join(',')}]}`, false],
  ['{"type":"subscribe","pattern":"a","consumer":5}', false],
  ['{"type":"ack","subscription":"sub-1","seq":3}', true],
  ['{"type":"ack","seq":3,"message_id":"m-1"}', true],
  ['{"type":"ack","subscription":"sub-1","seqs":[1,2,3]}', true],
  ['{"type":"ack","subscription":"sub-1","seq":3,"seqs":null}', true],
  ['{"type":"ack","subscription":"sub-1","seqs":[1],"seq":2}', false],
  ['{"type":"ack","subscription":"sub-1","seqs":[1],"seq":null}', false],
  ['{"type":"ack","subscription":"sub-1","seqs":[]}', false],
  ['{"type":"ack","subscription":"sub-1"}', false],
  ['{"type":"ack","subscription":"sub-1","seq":9007199254740992}', false],
  ['{"type":"ack","subscription":1,"seq":3}', false],
  ['{"type":"nack","subscription":"sub-1","seq":3,"delay_ms":100}', true],
  ['{"type":"nack","seq":3}', true],
  ['{"type":"nack","subscription":"sub-1","seq":3,"delay_ms":-1}', false],
  ['{"type":"nack","subscription":"sub-1"}', false],
  ['{"type":"unsubscribe","id":"u1","subscription":"sub-1"}', true],
  ['{"type":"unsubscribe","id":"u1"}', false],
  ['{"type":"ping","id":"k"}', true],
  ['{"type":"ping"}', true],
  ['{"type":"pong"}', false],
  ['{"type":"PUBLISH","data":{"topic":"t","payload":"x"}}', false],
  ['{"data":{"topic":"t","payload":"x"}}', false],
  ['[{"type":"ping"}]', false],
  ['"ping"', false],
  ['null', false],
  ['{"type":"ping"', false],
];

describe('the parser and the schemas take the same client frames', () => {
  test.each(HAND_PICKED)('%s', (text, expected) => {
    expectAgreement(text, expected);
  });

  test('each leniency of the parser is what it says: taken by the parser, refused by the schemas as it came', () => {
    const text = '{"type":"ping","id":true}';
    expect(parserTakes(text)).toBe(true);
    expect(zodTakes(JSON.parse(text))).toBe(false);
    expect(frames.parseClientFrame(text)._unsafeUnwrap().id).toBeUndefined();
    expect(LENIENCIES.map((l) => l.what)).toHaveLength(1);
  });

  // What the broker checks once a frame is read: the parser and the schemas both take these frames, and the
  // broker answers them with the error named (test/transports/asyncapi.test.ts sees some of them on the wire).
  // The schemas' descriptions say each rule in words; JSON Schema would say it only by copying the code.
  test.each([
    ['a topic that is not one (§2): BAD_TOPIC', '{"type":"publish","data":{"topic":"a..b","payload":"x"}}'],
    ['a pattern that is not one, or none: BAD_PATTERN', '{"type":"subscribe","pattern":["a.#.b"]}'],
    ['a filter that is not one: BAD_FRAME', '{"type":"subscribe","pattern":"a","filter":5}'],
    ['deliver_at that is not a time, delay_ms not a whole number ≥ 0, both, or past EVENTBUS_MAX_DELAY: BAD_FRAME', '{"type":"publish","data":{"topic":"t","payload":"x","delay_ms":-1.5,"deliver_at":"soon"}}'],
    ['a message_id empty or over 255 bytes, a ttl over 2^31 - 1 s, a content_type not a string: BAD_FRAME', '{"type":"publish","data":{"topic":"t","payload":"x","message_id":"","ttl":3000000000,"metadata":{"content_type":1}}}'],
    ['a payload over EVENTBUS_MAX_PAYLOAD, a frame over it + 64 KiB: TOO_LARGE', `{"type":"publish","data":{"topic":"t","payload":"${'x'.repeat(2000)}"}}`],
    ['a subscription not of this connection: UNKNOWN_SUBSCRIPTION', '{"type":"unsubscribe","subscription":"sub-999"}'],
  ])('checked by the broker after parsing: %s', (_rule, text) => {
    expectAgreement(text, true);
  });

  // JSON.stringify never writes one, so the generated frames below have none.
  test('a number past the range of a double (1e400) reads as Infinity: the parser and JSON Schema take it as delay_ms, zod does not, the broker refuses it', () => {
    const text = '{"type":"publish","data":{"topic":"t","payload":"x","delay_ms":1e400}}';
    expect({ parser: parserTakes(text), zod: zodTakes(JSON.parse(text)), document: documentTakes(JSON.parse(text)) }).toEqual({ parser: true, zod: false, document: true });
  });

  test('generated frames: each field absent, valid, null or any JSON value, and unknown fields beside them', () => {
    fc.assert(
      fc.property(clientFrameText, (text) => {
        expectAgreement(text);
      }),
      { numRuns: 3000 },
    );
  });

  test('generated frames are accepted and refused alike, both often', () => {
    const sample = fc.sample(clientFrameText, { numRuns: 2000, seed: 42 }).map((text) => parserTakes(text));
    expect(sample.filter(Boolean).length).toBeGreaterThan(200);
    expect(sample.filter((taken) => !taken).length).toBeGreaterThan(200);
  });
});

describe('the frames the code builds are frames of the schemas', () => {
  test('the examples in the document: client frames the parser takes, broker frames their schemas take', () => {
    const messages = (document['components'] as { messages: Record<string, { examples?: { payload: unknown }[] }> }).messages;
    let seen = 0;
    for (const [name, message] of Object.entries(messages)) {
      for (const { payload } of message.examples ?? []) {
        seen++;
        expect(validators.check(name, payload), `${name}: ${JSON.stringify(payload)}`).toBeUndefined();
        if (name in CLIENT_FRAMES) expect(parserTakes(JSON.stringify(payload)), JSON.stringify(payload)).toBe(true);
      }
    }
    expect(seen).toBeGreaterThan(15);
  });

  test("the client's frame builders (client-frames.ts) make frames the parser and the schemas take", () => {
    const built = [
      client.publishFrame('p1', { topic: 't', payload: { a: 1 }, message_id: 'm', metadata: { k: 'v' }, ordering_key: 'o', delay_ms: 5 }, 60),
      client.publishFrame('p2', { topic: 't', payload: 'x', deliver_at: '2030-01-01T00:00:00Z' }),
      client.publishBatchFrame('b1', [{ topic: 't', payload: 'x' }, { topic: 'u', payload: 2, deliver_at: 1 }], 5),
      client.subscribeFrame('s1', { pattern: ['a.*'], starting_seq: 1, consumer: 'c', group: 'g', max_in_flight: 3, filter: { topic: 'a.b' }, backoff_ms: [10] }),
      client.subscribeFrame('s2', { pattern: 'a', starting_time: 1 }),
      client.unsubscribeFrame('u1', 'sub-1'),
      client.unsubscribeFrame(undefined, 'sub-1'),
      client.pingFrame('k1'),
      client.ackFrame('sub-1', 3),
      client.ackManyFrame('sub-1', [3, 4]),
      client.nackFrame('sub-1', 3),
      client.nackFrame('sub-1', 3, 100),
    ];
    for (const text of built) expectAgreement(text, true);
  });

  const storedMessage = fc.record({
    seq: fc.integer({ min: 1, max: 2 ** 40 }),
    messageId: fc.option(fc.string({ minLength: 1 }), { nil: null }),
    topic: fc.string({ minLength: 1 }),
    payload: fc.string(),
    metadata: fc.dictionary(fc.string().filter((k) => k !== 'timestamp' && k !== 'content_type' && k !== '__proto__'), fc.jsonValue(), { maxKeys: 3 }),
    contentType: fc.string(),
    orderingKey: fc.option(fc.string(), { nil: null }),
    createdAt: fc.integer({ min: 0, max: 2 ** 45 }),
  });
  const asStored = (m: { seq: number; messageId: string | null; topic: string; payload: string; metadata: Json; contentType: string; orderingKey: string | null; createdAt: number }): StoredMessage => ({
    seq: m.seq,
    messageId: m.messageId,
    topic: m.topic,
    payload: m.payload,
    // As the committer writes it: the timestamp first, then content_type, then the publisher's attributes.
    metadata: JSON.stringify({ timestamp: m.createdAt, content_type: m.contentType, ...m.metadata }),
    ttlSeconds: 0,
    orderingKey: m.orderingKey,
    createdAt: m.createdAt,
  });
  const id = fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined });

  test("the broker's frame builders (ws-frames.ts) make frames their schemas take, and no other schema of that type", () => {
    fc.assert(
      fc.property(
        id,
        storedMessage,
        fc.integer({ min: 1, max: 100 }),
        fc.boolean(),
        fc.constantFrom(...WS_ERROR_CODES),
        fc.string(),
        (reqId, m, delivery, duplicate, code, text) => {
          const built: [string, string][] = [
            ['message', frames.messageFrame(text, asStored(m), delivery)],
            ['published', frames.publishedFrame(reqId, { seq: m.seq, messageId: m.messageId, duplicate })],
            ['published_batch', frames.publishedBatchFrame(reqId, [{ seq: m.seq, messageId: m.messageId, duplicate }])],
            ['published_batch', frames.publishedLaterFrame(reqId, [{ seq: m.seq, messageId: null, duplicate: false }, { scheduleId: text, deliverAt: m.createdAt, messageId: m.messageId, duplicate }])],
            ['scheduled', frames.scheduledFrame(reqId, { scheduleId: text, deliverAt: m.createdAt, messageId: m.messageId, duplicate })],
            ['subscribed', frames.subscribedFrame(reqId, text, m.seq)],
            ['unsubscribed', frames.unsubscribedFrame(reqId, text)],
            ['unsubscribed', frames.unsubscribedFrame(undefined, text, 'the consumer was removed')],
            ['pong', frames.pongFrame(reqId)],
            ['error', frames.errorFrame(reqId, brokerError(code, text))],
          ];
          for (const [name, frame] of built) {
            const value = JSON.parse(frame) as { type: string };
            expect(validators.check(name, value), frame).toBeUndefined();
            expect(SERVER_FRAMES[name as keyof typeof SERVER_FRAMES].safeParse(value).success, frame).toBe(true);
            const others = validators.byType(value.type).filter((other) => other !== name && validators.check(other, value) === undefined);
            expect(others, frame).toEqual([]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("every frame type the client reads (client-frames.ts) has a message in the document, and no other", () => {
    const types = new Set(Object.values(SERVER_FRAMES).map((schema) => schema.shape.type.value));
    const read = ['published', 'scheduled', 'subscribed', 'unsubscribed', 'error', 'pong', 'message'].filter((type) => client.readServerFrame(JSON.stringify({ type })) !== undefined);
    expect([...types].sort()).toEqual(read.sort());
    expect(client.readServerFrame(JSON.stringify({ type: 'nothing' }))).toBeUndefined();
  });
});

// --- the generator ---

const anyJson = fc.jsonValue({ maxDepth: 2 });
/** A field's value: mostly a valid one, sometimes null or any JSON value (often of the wrong type). */
const field = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyJson });

const whole = fc.oneof({ weight: 6, arbitrary: fc.nat() }, fc.integer({ min: -3, max: -1 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 53));
const text = fc.string({ maxLength: 8 });
const requestId = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant({}), fc.constant([]));
const time = fc.oneof(fc.integer(), text, fc.double({ noNaN: true, noDefaultInfinity: true }));
const publishData = fc.record(
  {
    topic: field(text),
    payload: anyJson,
    message_id: field(text),
    metadata: field(fc.dictionary(fc.constantFrom('a', 'b', 'content_type'), anyJson, { maxKeys: 2 })),
    ttl: field(whole),
    ordering_key: field(text),
    deliver_at: field(time),
    delay_ms: field(fc.oneof(whole, fc.double({ noNaN: true, noDefaultInfinity: true }))),
  },
  { requiredKeys: [] },
);
// Usually the fields a valid message needs, so that the other fields decide.
const usualData = fc.oneof({ weight: 3, arbitrary: publishData.map((d) => ({ topic: 't', payload: 'x', ...d })) }, { weight: 1, arbitrary: publishData });
const backoff = fc.oneof(
  fc.array(fc.integer({ min: 0, max: MAX_BACKOFF_WAIT_MS }), { minLength: 1, maxLength: 4 }),
  fc.array(fc.oneof(fc.integer({ min: -2, max: MAX_BACKOFF_WAIT_MS + 2 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 3 }),
  fc.array(fc.nat(10), { minLength: MAX_BACKOFF_STEPS, maxLength: MAX_BACKOFF_STEPS + 1 }),
);
const extra = fc.record({ extra: anyJson, x_client: text }, { requiredKeys: [] });

const shapes: Record<string, fc.Arbitrary<Json>> = {
  publish: fc.record({ id: requestId, data: field(usualData), ttl: field(whole) }, { requiredKeys: [] }),
  publish_batch: fc.record({ id: requestId, messages: field(fc.array(field(usualData), { maxLength: 3 })), ttl: field(whole) }, { requiredKeys: [] }),
  subscribe: fc.record(
    {
      id: requestId,
      pattern: field(fc.oneof(text, fc.array(text, { maxLength: 3 }))),
      starting_seq: field(whole),
      starting_time: field(whole),
      consumer: field(text),
      group: field(text),
      max_in_flight: field(whole),
      filter: field(fc.dictionary(text, anyJson, { maxKeys: 2 })),
      backoff_ms: field(backoff),
    },
    { requiredKeys: [] },
  ),
  // subscription and seq first: a frame of only these three takes the parser's quick path for acks.
  ack: fc.record({ subscription: field(text), seq: field(whole), seqs: field(fc.array(whole, { maxLength: 3 })), id: requestId, message_id: field(text) }, { requiredKeys: [] }),
  nack: fc.record({ subscription: field(text), seq: field(whole), delay_ms: field(whole), id: requestId }, { requiredKeys: [] }),
  unsubscribe: fc.record({ id: requestId, subscription: field(text) }, { requiredKeys: [] }),
  ping: fc.record({ id: requestId }, { requiredKeys: [] }),
};

const clientFrameText: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.constantFrom(...Object.keys(shapes)), fc.boolean()).chain(([type, withExtra]) => fc.tuple(shapes[type]!, withExtra ? extra : fc.constant({})).map(([fields, more]) => JSON.stringify({ type, ...fields, ...more }))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(text, fc.integer(), fc.constant(null)), shapes['publish']!).map(([type, fields]) => JSON.stringify({ type, ...fields })) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
);

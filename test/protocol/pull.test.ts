// The pull bodies and bounds (PROTOCOL.md §8 fetch, ack, nack, extend; a consumer's own limits): each check
// takes what is in range and refuses the rest with BAD_ARGS, and a fetch's answer, written as text, is the JSON
// of the Fetched schema for any message (quotes, line breaks, any Unicode in its fields).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Pulled } from '../../src/core/pull.js';
import { Fetched, fetchedJson, streamedMessage } from '../../src/protocol/http-bodies.js';
import { checkConsumerLimits, checkExtendMs, checkFetch, checkNackDelay, checkSeqs, MAX_ACK_DEADLINE_MS, MAX_FETCH, MAX_FETCH_WAIT_MS } from '../../src/protocol/pull.js';

describe('bounds', () => {
  test('fetch takes max 1 to 1000 (default 10) and wait_ms 0 to 30000 (default 0)', () => {
    expect(checkFetch(undefined, undefined)._unsafeUnwrap()).toEqual({ max: 10, waitMs: 0 });
    expect(checkFetch(MAX_FETCH, MAX_FETCH_WAIT_MS)._unsafeUnwrap()).toEqual({ max: 1000, waitMs: 30_000 });
    for (const [max, wait] of [[0, 0], [1001, 0], [1.5, 0], [1, -1], [1, 30_001], [1, 0.5], [Number.NaN, 0]] as const) {
      expect(checkFetch(max, wait)._unsafeUnwrapErr().code, `${max} ${wait}`).toBe('BAD_ARGS');
    }
  });

  test('seqs are whole numbers from 1; extend takes 0 to 12 h; a nack delay 0 to 24 h or none', () => {
    expect(checkSeqs([1, 2, 2 ** 40])._unsafeUnwrap()).toEqual([1, 2, 2 ** 40]);
    expect(checkSeqs([])._unsafeUnwrap()).toEqual([]);
    for (const seqs of [[0], [-1], [1.5], ['1']]) expect(checkSeqs(seqs)._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect(checkExtendMs(0)._unsafeUnwrap()).toBe(0);
    expect(checkExtendMs(MAX_ACK_DEADLINE_MS)._unsafeUnwrap()).toBe(MAX_ACK_DEADLINE_MS);
    for (const ms of [-1, MAX_ACK_DEADLINE_MS + 1, 1.5, undefined]) expect(checkExtendMs(ms).isErr(), String(ms)).toBe(true);
    expect(checkNackDelay(undefined)._unsafeUnwrap()).toBeUndefined();
    expect(checkNackDelay(86_400_000)._unsafeUnwrap()).toBe(86_400_000);
    for (const ms of [-1, 86_400_001, 0.5]) expect(checkNackDelay(ms).isErr(), String(ms)).toBe(true);
  });

  test("a consumer's own limits: whole numbers in range, null (back to the setting) or absent", () => {
    expect(checkConsumerLimits({ ackTimeoutMs: 1, maxDeliveries: 1_000_000, maxInFlight: null }).isOk()).toBe(true);
    expect(checkConsumerLimits({}).isOk()).toBe(true);
    const refused = [{ ackTimeoutMs: 0 }, { ackTimeoutMs: MAX_ACK_DEADLINE_MS + 1 }, { maxDeliveries: 1_000_001 }, { maxInFlight: 2.5 }];
    for (const limits of refused) {
      const e = checkConsumerLimits(limits)._unsafeUnwrapErr();
      expect(e.code).toBe('BAD_ARGS');
      expect(e.message).toMatch(/^(ack_timeout_ms|max_deliveries|max_in_flight) must be a whole number from 1 to \d+, or null for EVENTBUS_/);
    }
  });
});

describe('the answer to a fetch', () => {
  // Any Unicode, and often what JSON must escape.
  const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u2028', '\u0000', 'é', 'a'), maxLength: 8 }));
  const message = fc.record({
    seq: fc.integer({ min: 1, max: 2 ** 40 }),
    topic: text,
    payload: text,
    messageId: fc.option(text, { nil: null }),
    orderingKey: fc.option(text, { nil: null }),
    createdAt: fc.integer({ min: 0, max: 2 ** 42 }),
    metadata: fc.dictionary(text, fc.jsonValue()).map((attributes) => JSON.stringify({ timestamp: 1, content_type: 'text/plain', ...attributes })),
    status: fc.constantFrom(undefined, 'pending' as const, 'processed' as const),
  });

  test('is the Fetched schema, each message as GET /api/messages shows it with its delivery and deadline', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(message, fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 2 ** 42 })), { maxLength: 5 }), (rows) => {
        const pulled = rows.map(([m, delivery, deadline]) => new Pulled({ ...m, ttlSeconds: 0 }, delivery, deadline));
        const parsed: unknown = JSON.parse(fetchedJson(pulled));
        expect(Fetched.parse(parsed)).toEqual(parsed);
        expect(parsed).toEqual({ messages: pulled.map((p) => ({ ...streamedMessage(p.message), delivery: p.delivery, ack_deadline: p.ackDeadline })) });
      }),
    );
  });
});

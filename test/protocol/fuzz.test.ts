// Property-based fuzzing of the parsers the other protocol tests do not already fuzz: WebSocket frames,
// subscribe filters, HTTP bodies, settings (environment and flags, PostgreSQL URLs, retention rules) and the
// client's reading of server frames. Whatever the input, each answers a typed value or a typed error (a code
// of the error contract and a reason, or a setting's name and a line), and never throws.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { SETTINGS_HELP } from '../../src/config/help.js';
import { parseConfig } from '../../src/config/parse.js';
import { parseRetention } from '../../src/config/values.js';
import { compileFilter } from '../../src/protocol/filter.js';
import { ERROR_CODES } from '../../src/errors.js';
import { readServerFrame } from '../../src/protocol/client-frames.js';
import * as bodies from '../../src/protocol/http-bodies.js';
import { parseClientFrame } from '../../src/protocol/ws-frames.js';
import { anyTopic } from '../helpers/topic-arbitraries.js';

const RUNS = { numRuns: 2000 };
const CODES = new Set<string>(ERROR_CODES);

// Text of every kind: ASCII, any UTF-16 code unit (lone surrogates too), and whole graphemes.
const anyText = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 30 }));
const scalar = fc.oneof(anyText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(-1), fc.constant(2 ** 53), fc.constant(1e308));
const anyValue = fc.oneof(scalar, fc.anything({ maxDepth: 3 }), fc.array(scalar, { maxLength: 4 }), fc.dictionary(anyText, scalar, { maxKeys: 4 }));

function expectTyped(error: { code: string; message: string }): void {
  expect(CODES.has(error.code), `code ${error.code}`).toBe(true);
  expect(error.message.length).toBeGreaterThan(0);
}

describe('WebSocket client frames', () => {
  const type = fc.constantFrom('publish', 'publish_batch', 'subscribe', 'unsubscribe', 'ack', 'nack', 'ping', 'Publish', '');
  const frame = fc.oneof(
    fc
      .record(
        {
          type: fc.oneof(type, scalar),
          id: fc.oneof(anyText, fc.integer(), fc.constant(null)),
          data: fc.oneof(fc.record({ topic: fc.oneof(anyTopic, anyText), payload: anyValue, message_id: anyValue, metadata: anyValue, ordering_key: anyValue }, { requiredKeys: [] }), anyValue),
          messages: fc.oneof(fc.array(fc.record({ topic: anyText, payload: anyValue }, { requiredKeys: [] }), { maxLength: 3 }), anyValue),
          pattern: fc.oneof(anyText, anyValue),
          patterns: anyValue,
          subscription: anyValue,
          consumer: anyValue,
          from_seq: anyValue,
          from_time: anyValue,
          filter: anyValue,
          seq: anyValue,
          delay_ms: anyValue,
          ttl: anyValue,
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.json({ maxDepth: 4 }),
    anyText,
  );

  test('property: any text is a frame or a BAD_FRAME-style typed error, never a throw', () => {
    fc.assert(
      fc.property(frame, (text) => {
        const r = parseClientFrame(text);
        if (r.isErr()) expectTyped(r.error.error);
      }),
      RUNS,
    );
  });
});

describe('subscribe filters', () => {
  const key = fc.oneof(fc.constantFrom('topic', 'payload', 'payload.a', 'payload.a.b', 'metadata.x', 'metadata', 'seq', 'created_at', 'payload.', '.x', 'payload..a', '$and', '$or'), anyText);
  const operator = fc.constantFrom('$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex', '$prefix', '$and', '$or', '$not', '$frob');
  const condition = fc.oneof(scalar, fc.dictionary(operator, anyValue, { maxKeys: 3 }), fc.array(anyValue, { maxLength: 3 }));
  const spec = fc.oneof(anyValue, fc.dictionary(key, condition, { maxKeys: 4 }), fc.constantFrom({ payload: { $regex: '(' } }, { payload: { $regex: '(a+)+$' } }));

  test('property: any value compiles to a filter or is BAD_ARGS with a reason, and a filter tests any message', () => {
    const json = fc.oneof(fc.json({ maxDepth: 3 }), anyText);
    const message = fc.record({ seq: fc.nat(), messageId: fc.constant(null), topic: anyText, payload: json, metadata: json, ttlSeconds: fc.nat(), orderingKey: fc.constant(null), createdAt: fc.nat() });
    fc.assert(
      fc.property(spec, message, (s, m) => {
        const r = compileFilter(s);
        if (r.isErr()) return expectTyped(r.error);
        expect(typeof r.value(m)).toBe('boolean');
      }),
      RUNS,
    );
  });
});

describe('HTTP bodies', () => {
  // Every body and query the HTTP API validates: a failure must describe itself in a line.
  const schemas: Record<string, z.ZodType> = {
    PublishBody: bodies.PublishBody,
    MessagesQuery: bodies.MessagesQuery,
    SubscribeQuery: bodies.SubscribeQuery,
    SeqParam: bodies.SeqParam,
    ConsumerBody: bodies.ConsumerBody,
    ReplayBody: bodies.ReplayBody,
    DeadLettersQuery: bodies.DeadLettersQuery,
    RequeueBody: bodies.RequeueBody,
    DeleteDeadLettersBody: bodies.DeleteDeadLettersBody,
  };
  const body = fc.oneof(
    anyValue,
    fc.record({ topic: fc.oneof(anyTopic, anyText), payload: anyValue, message_id: anyValue, metadata: anyValue, ttl: anyValue, ordering_key: anyValue }, { requiredKeys: [] }),
    fc.record({ messages: fc.oneof(fc.array(fc.record({ topic: anyText, payload: anyValue }, { requiredKeys: [] }), { maxLength: 3 }), anyValue) }),
    fc.record({ from_seq: fc.oneof(anyText, anyValue), from_time: fc.oneof(anyText, anyValue), limit: fc.oneof(anyText, anyValue), pattern: anyValue, seq: anyValue, seqs: anyValue, filter: anyValue, address: anyValue, patterns: anyValue }, { requiredKeys: [] }),
  );

  test.each(Object.keys(schemas))('property: %s parses any value or explains itself in one line', (name) => {
    fc.assert(
      fc.property(body, (value) => {
        const r = schemas[name]!.safeParse(value);
        if (r.success) return;
        const reason = bodies.describeIssues(r.error);
        expect(reason.length).toBeGreaterThan(0);
        expect(reason).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });
});

describe('settings', () => {
  const names = SETTINGS_HELP.map((s) => s.env);
  const value = fc.oneof(
    anyText,
    fc.constantFrom('0', '-1', '65536', '1e3', '0x10', ' 80', 'NaN', 'Infinity', '9'.repeat(30), 'full', 'normal', 'debug', 'orders.# max_age=1d', 'a;b', '*.*.# max_messages=0'),
    fc.integer().map(String),
  );
  const pgUrl = fc.oneof(
    fc.constantFrom('postgres://', 'postgres://@/', 'postgres://h', 'postgres://h/', 'postgresql://u:p@h:99999/db', 'postgres://u:%zz@h/db', 'postgres://[::1/db', 'POSTGRES://h/db', 'postgres://u@h:5432/db?sslmode=frob'),
    fc.webUrl().map((u) => u.replace(/^https?/, 'postgres')),
    anyText.map((t) => `postgres://${t}`),
  );
  const env = fc.oneof(
    fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 4 }),
    fc.record({ EVENTBUS_DB: pgUrl, EVENTBUS_PG_SCHEMA: fc.oneof(anyText, fc.constantFrom('eventbus', 'a b', '"x', 'pg_x')) }, { requiredKeys: ['EVENTBUS_DB'] }),
    fc.dictionary(fc.oneof(fc.constantFrom('EVENTBUS_FROB', 'EVENTBUS_CONSUMER_', 'EVENTBUS_CONSUMER_c1', 'EVENTBUS_CONSUMER_bad id'), anyText.map((t) => `EVENTBUS_${t}`)), value, { maxKeys: 3 }),
  );
  const argv = fc.array(fc.oneof(fc.constantFrom(...names.map((n) => `--${n.slice(9).toLowerCase().replace(/_/g, '-')}`), '--', '-', '--frob', '--http-port=', '-x'), value), { maxLength: 5 });

  test('property: any environment and flags give a config or one line naming the setting', () => {
    fc.assert(
      fc.property(env, argv, (e, a) => {
        const r = parseConfig(e, a);
        if (r.isOk()) return;
        expect(r.error.setting.length).toBeGreaterThan(0);
        expect(r.error.message.length).toBeGreaterThan(0);
        expect(r.error.message).not.toContain('\n');
      }),
      RUNS,
    );
  });

  test('property: a PostgreSQL URL that is refused is refused by name, and its password is never shown', () => {
    fc.assert(
      fc.property(pgUrl, fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((s) => `Pw~${s}~`), (url, password) => {
        const withPassword = url.replace(/^postgres(ql)?:\/\//i, (scheme) => `${scheme}user:${password}@`);
        const r = parseConfig({ EVENTBUS_DB: withPassword });
        if (r.isOk()) return;
        expect(r.error.setting).toBe('EVENTBUS_DB');
        expect(r.error.message).not.toContain(password);
      }),
      RUNS,
    );
  });

  test('property: retention rules parse or say which rule is wrong', () => {
    const rule = fc.tuple(fc.oneof(anyTopic, anyText), fc.array(fc.oneof(fc.constantFrom('max_age=1d', 'max_age=', 'max_age=5x', 'max_messages=10', 'max_messages=0', 'max_messages=-1'), anyText), { maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 3 }), fc.constantFrom(';', ' ; ', ';;'), (rules, sep) => {
        const r = parseRetention(rules.map(([p, o]) => [p, ...o].join(' ')).join(sep));
        if (r.isErr()) expect(r.error).toMatchObject({ code: 'BAD_ARGS', message: expect.stringMatching(/^rule /) });
      }),
      RUNS,
    );
  });
});

describe("the client's reading of server frames", () => {
  test('property: any text is a server frame or nothing, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 3 }), anyText, fc.record({ type: fc.oneof(fc.constantFrom('message', 'published', 'error', 'pong', 'subscribed'), anyText), id: anyValue }).map((o) => JSON.stringify(o))), (text) => {
        const frame = readServerFrame(text);
        if (frame !== undefined) expect(typeof frame.type).toBe('string');
      }),
      RUNS,
    );
  });
});

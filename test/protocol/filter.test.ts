// Content filters: each operator, absent fields, non-JSON content, path synonyms, and the reasons a spec
// is refused.

import { describe, expect, test } from 'vitest';
import { compileFilter, type MessageFilter } from '../../src/protocol/filter.js';
import type { StoredMessage } from '../../src/core/types.js';

function message(fields: { topic?: string; payload?: string; metadata?: string } = {}): StoredMessage {
  return {
    seq: 1,
    messageId: null,
    topic: fields.topic ?? 'orders.created',
    payload: fields.payload ?? '{"amount":1500,"kind":"a","customer":{"tier":"gold","tags":["x","y"]},"note":null}',
    metadata: fields.metadata ?? '{"timestamp":1700000000000,"region":"eu","vip":true,"a.b":"dotted"}',
    ttlSeconds: 0,
    orderingKey: null,
    createdAt: 1_700_000_000_000,
  };
}

const compile = (spec: unknown): MessageFilter => compileFilter(spec)._unsafeUnwrap();
const matches = (spec: unknown, m: StoredMessage = message()): boolean => compile(spec)(m);

describe('literal values', () => {
  test('compare for equality against payload, attributes and topic', () => {
    expect(matches({ 'payload.kind': 'a' })).toBe(true);
    expect(matches({ 'payload.kind': 'b' })).toBe(false);
    expect(matches({ 'payload.amount': 1500 })).toBe(true);
    expect(matches({ 'payload.amount': '1500' })).toBe(false);
    expect(matches({ topic: 'orders.created' })).toBe(true);
    expect(matches({ topic: 'orders.deleted' })).toBe(false);
  });

  test('seq bounds a range of the log', () => {
    const at = (seq: number): StoredMessage => ({ ...message(), seq });
    const range = compile({ seq: { $gte: 3, $lte: 5 } });
    expect([2, 3, 5, 6].map((seq) => range(at(seq)))).toEqual([false, true, true, false]);
    expect(matches({ seq: 1 })).toBe(true);
  });

  test('follow nested payload paths and array indices', () => {
    expect(matches({ 'payload.customer.tier': 'gold' })).toBe(true);
    expect(matches({ 'payload.customer.tags.1': 'y' })).toBe(true);
    expect(matches({ 'payload.customer.tags.2': 'y' })).toBe(false);
  });

  test('null equals a JSON null but not an absent field', () => {
    expect(matches({ 'payload.note': null })).toBe(true);
    expect(matches({ 'payload.absent': null })).toBe(false);
  });

  test('an empty spec accepts every message', () => {
    expect(matches({})).toBe(true);
  });

  test('all keys must hold', () => {
    expect(matches({ 'payload.kind': 'a', 'attributes.region': 'eu' })).toBe(true);
    expect(matches({ 'payload.kind': 'a', 'attributes.region': 'us' })).toBe(false);
  });
});

describe('operators', () => {
  test.each([
    [{ $eq: 1500 }, true],
    [{ $eq: 1 }, false],
    [{ $ne: 1 }, true],
    [{ $ne: 1500 }, false],
    [{ $gt: 1000 }, true],
    [{ $gt: 1500 }, false],
    [{ $gte: 1500 }, true],
    [{ $gte: 1501 }, false],
    [{ $lt: 2000 }, true],
    [{ $lt: 1500 }, false],
    [{ $lte: 1500 }, true],
    [{ $lte: 1499 }, false],
    [{ $in: [1, 1500] }, true],
    [{ $in: [1, 2] }, false],
    [{ $nin: [1, 2] }, true],
    [{ $nin: [1500] }, false],
    [{ $exists: true }, true],
    [{ $exists: false }, false],
    [{ $gt: 1000, $lt: 2000 }, true],
    [{ $gt: 1000, $lt: 1200 }, false],
  ])('payload.amount = 1500 against %j is %s', (operators, expected) => {
    expect(matches({ 'payload.amount': operators })).toBe(expected);
  });

  test('order strings against strings', () => {
    expect(matches({ 'payload.kind': { $gt: 'A', $lt: 'b' } })).toBe(true);
    expect(matches({ 'payload.kind': { $gte: 'b' } })).toBe(false);
  });

  test('never order across types', () => {
    expect(matches({ 'payload.amount': { $gt: '1000' } })).toBe(false);
    expect(matches({ 'payload.amount': { $lt: '9' } })).toBe(false);
    expect(matches({ 'payload.kind': { $gt: 0 } })).toBe(false);
    expect(matches({ 'payload.note': { $lte: 0 } })).toBe(false);
  });

  test('$in matches scalars only, never an array or object field', () => {
    expect(matches({ 'payload.kind': { $in: ['a', 'b'] } })).toBe(true);
    expect(matches({ 'payload.customer.tags': { $in: ['x'] } })).toBe(false);
    expect(matches({ 'payload.note': { $in: [null] } })).toBe(true);
  });

  test('on an absent field only $ne, $nin and $exists: false hold', () => {
    const field = 'payload.absent';
    expect(matches({ [field]: { $ne: 1 } })).toBe(true);
    expect(matches({ [field]: { $nin: [1] } })).toBe(true);
    expect(matches({ [field]: { $exists: false } })).toBe(true);
    for (const op of ['$eq', '$gt', '$gte', '$lt', '$lte']) expect(matches({ [field]: { [op]: 1 } })).toBe(false);
    expect(matches({ [field]: { $in: [1, null] } })).toBe(false);
    expect(matches({ [field]: { $exists: true } })).toBe(false);
  });

  test('$exists is true for a field holding null', () => {
    expect(matches({ 'payload.note': { $exists: true } })).toBe(true);
  });
});

describe('attributes and metadata', () => {
  test('are synonyms for the metadata object', () => {
    expect(matches({ 'attributes.region': 'eu' })).toBe(true);
    expect(matches({ 'metadata.region': 'eu' })).toBe(true);
    expect(matches({ 'metadata.vip': { $exists: true }, 'attributes.vip': true })).toBe(true);
    expect(matches({ 'attributes.region': 'us' })).toBe(false);
    expect(matches({ 'metadata.timestamp': { $gt: 0 } })).toBe(true);
  });

  test('take the rest of the key as one attribute name, dots included', () => {
    expect(matches({ 'attributes.a.b': 'dotted' })).toBe(true);
    expect(matches({ 'attributes.a': { $exists: true } })).toBe(false);
  });

  test('read as absent when the metadata is not a JSON object', () => {
    for (const metadata of ['not json', '[1,2]', '"eu"', '']) {
      expect(matches({ 'attributes.region': { $exists: false } }, message({ metadata }))).toBe(true);
      expect(matches({ 'attributes.region': 'eu' }, message({ metadata }))).toBe(false);
    }
  });
});

describe('message content never breaks a filter', () => {
  test('a non-JSON payload has no fields', () => {
    const plain = message({ payload: 'hello {world' });
    expect(matches({ 'payload.kind': 'a' }, plain)).toBe(false);
    expect(matches({ 'payload.kind': { $exists: false } }, plain)).toBe(true);
    expect(matches({ 'attributes.region': 'eu' }, plain)).toBe(true);
  });

  test('scalar and array payloads have no named fields', () => {
    for (const payload of ['42', '"text"', 'null', '[{"kind":"a"}]', '']) {
      expect(matches({ 'payload.kind': { $exists: true } }, message({ payload }))).toBe(false);
    }
    expect(matches({ 'payload.0.kind': 'a' }, message({ payload: '[{"kind":"a"}]' }))).toBe(true);
  });

  test('inherited properties are not fields', () => {
    for (const key of ['payload.constructor', 'payload.toString', 'payload.customer.tags.length', 'payload.__proto__']) {
      expect(matches({ [key]: { $exists: true } })).toBe(false);
    }
    expect(matches({ 'payload.__proto__.x': 1 }, message({ payload: '{"__proto__":{"x":1}}' }))).toBe(true);
  });

  test('the payload is not parsed when no condition reads it', () => {
    let reads = 0;
    const m = message();
    const counting = {
      ...m,
      get payload() {
        reads++;
        return m.payload;
      },
    };
    expect(matches({ 'attributes.region': 'eu', topic: 'orders.created' }, counting)).toBe(true);
    expect(reads).toBe(0);
    expect(matches({ 'payload.kind': 'a', 'payload.amount': 1500, 'payload.customer.tier': 'gold' }, counting)).toBe(true);
    expect(reads).toBe(1);
  });

  test('a cheap topic mismatch skips parsing the payload', () => {
    let reads = 0;
    const m = message();
    const counting = {
      ...m,
      get payload() {
        reads++;
        return m.payload;
      },
    };
    expect(matches({ 'payload.kind': 'a', topic: 'other' }, counting)).toBe(false);
    expect(reads).toBe(0);
  });
});

describe('validation', () => {
  test.each([
    [null, /JSON object, not null/],
    [[], /JSON object, not an array/],
    ['payload.kind', /JSON object, not a string/],
    [{ 'body.kind': 'a' }, /must be "seq", "topic" or start with/],
    [{ payload: 'a' }, /needs non-empty field names/],
    [{ 'payload.': 'a' }, /non-empty field names/],
    [{ 'payload.a..b': 'a' }, /non-empty field names/],
    [{ 'attributes.': 'a' }, /needs a name/],
    [{ 'payload.kind': ['a'] }, /JSON scalar or an operator object, not an array/],
    [{ 'payload.kind': { $regex: 'a' } }, /unknown operator "\$regex"/],
    [{ 'payload.kind': { $eq: 'a', kind: 'a' } }, /unknown operator "kind"/],
    [{ 'payload.kind': {} }, /empty/],
    [{ 'payload.kind': { $in: 'a' } }, /\$in .* takes an array/],
    [{ 'payload.kind': { $nin: [{}] } }, /\$nin .* takes an array of JSON scalars/],
    [{ 'payload.kind': { $gt: true } }, /\$gt .* takes a number or a string/],
    [{ 'payload.kind': { $lte: null } }, /\$lte .* takes a number or a string/],
    [{ 'payload.kind': { $eq: [1] } }, /\$eq .* takes a JSON scalar/],
    [{ 'payload.kind': { $exists: 1 } }, /\$exists .* takes true or false/],
    [{ 'payload.amount': Number.NaN }, /JSON scalar/],
  ])('refuses %j with BAD_ARGS', (spec, reason) => {
    const error = compileFilter(spec)._unsafeUnwrapErr();
    expect(error.code).toBe('BAD_ARGS');
    expect(error.message).toMatch(reason);
  });

  test('accepts the spec from the documentation', () => {
    const spec = JSON.parse(
      '{"attributes.region": "eu", "payload.amount": {"$gt": 1000}, "payload.kind": {"$in": ["a","b"]}, "attributes.vip": {"$exists": true}}',
    ) as unknown;
    const filter = compile(spec);
    expect(filter(message())).toBe(true);
    expect(filter(message({ payload: '{"amount":999,"kind":"a"}' }))).toBe(false);
  });
});

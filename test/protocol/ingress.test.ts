// parsePublishLine: the transport's two line forms (PROTOCOL.md §3) → PublishInput, and BAD_FORMAT with a
// reason a telnet user can act on for every malformed line. Topic rules are the broker's, not checked here.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { PublishInput } from '../../src/core/types.js';
import { parsePublishLine } from '../../src/protocol/ingress.js';

const parsed = (line: string): PublishInput => parsePublishLine(line)._unsafeUnwrap();
const refused = (line: string) => parsePublishLine(line)._unsafeUnwrapErr();

describe('event_name:msg', () => {
  test('the telnet walkthrough: splits at the colon', () => {
    expect(parsed('user_message:Hello from producer!')).toEqual({ topic: 'user_message', payload: 'Hello from producer!' });
  });

  test.each([
    ['further colons', 'orders.created:a:b::c', 'orders.created', 'a:b::c'],
    ['spaces kept, leading and trailing', 'chat.user1:  two  spaces  ', 'chat.user1', '  two  spaces  '],
    ['JSON text', 'orders.created:{"id":1,"tags":["a:b"],"note":"x: y"}', 'orders.created', '{"id":1,"tags":["a:b"],"note":"x: y"}'],
    ['an empty payload', 'ping:', 'ping', ''],
    ['unicode', 'chat:héllo 世界 🎉', 'chat', 'héllo 世界 🎉'],
    ['a tab and a \\r inside', 'chat:a\tb\rc', 'chat', 'a\tb\rc'],
  ])('keeps the rest of the line verbatim: %s', (_name, line, topic, payload) => {
    expect(parsed(line)).toEqual({ topic, payload });
  });

  test('the topic part is not judged here: a bad topic is passed on for the broker to refuse', () => {
    expect(parsed('bad topic:x')).toEqual({ topic: 'bad topic', payload: 'x' });
    expect(parsed(':x')).toEqual({ topic: '', payload: 'x' });
  });

  test('property: any topic without a colon and any rest come back split at the first colon', () => {
    const topic = fc.string({ minLength: 1, maxLength: 30 }).filter((t) => !t.includes(':') && !/^\s*[{[]/.test(t) && t.trim() !== ''); // such lines are read as JSON
    fc.assert(
      fc.property(topic, fc.string({ unit: 'binary', maxLength: 60 }), (t, rest) => {
        expect(parsed(`${t}:${rest}`)).toEqual({ topic: t, payload: rest });
      }),
    );
  });
});

describe('the JSON form', () => {
  test('the telnet walkthrough: msg and event_name, in either order', () => {
    const expected = { topic: 'user_message', payload: 'Hello from producer!' };
    expect(parsed('{"msg": "Hello from producer!", "event_name": "user_message"}')).toMatchObject(expected);
    expect(parsed('{"event_name":"user_message","msg":"Hello from producer!"}')).toMatchObject(expected);
  });

  test('a string msg is the payload as is, with no content type forced on it', () => {
    const input = parsed('{"event_name":"t","msg":"{\\"not\\": \\"parsed\\"}"}');
    expect(input.payload).toBe('{"not": "parsed"}');
    expect(input.metadata?.['content_type']).toBeUndefined();
  });

  test.each([
    ['an object', '{"id":1,"items":[1,2]}', '{"id":1,"items":[1,2]}'],
    ['an object with spaces (stored compact)', '{ "id" : 1 }', '{"id":1}'],
    ['an array', '[1,"a",null]', '[1,"a",null]'],
    ['a number', '42.5', '42.5'],
    ['true', 'true', 'true'],
    ['null', 'null', 'null'],
  ])('a msg that is %s is stored as its JSON text, with content_type application/json', (_name, msgJson, payload) => {
    const input = parsed(`{"event_name":"t","msg":${msgJson}}`);
    expect(input.payload).toBe(payload);
    expect(JSON.parse(input.payload)).toEqual(JSON.parse(msgJson));
    expect(input.metadata).toEqual({ content_type: 'application/json' });
  });

  test('message_id, ttl, metadata and ordering_key are read into the input', () => {
    const line = JSON.stringify({
      event_name: 'orders.created',
      msg: 'x',
      message_id: 'order-1',
      ttl: 60,
      metadata: { region: 'eu', priority: 2 },
      ordering_key: 'customer-7',
    });
    expect(parsed(line)).toEqual({
      topic: 'orders.created',
      payload: 'x',
      messageId: 'order-1',
      ttlSeconds: 60,
      metadata: { region: 'eu', priority: 2 },
      orderingKey: 'customer-7',
    });
  });

  test('ttl 0 is kept (it means no expiry), not dropped as absent', () => {
    expect(parsed('{"event_name":"t","msg":"x","ttl":0}').ttlSeconds).toBe(0);
  });

  test('a non-string msg keeps the publisher metadata and adds content_type application/json', () => {
    expect(parsed('{"event_name":"t","msg":{"a":1},"metadata":{"region":"eu"}}').metadata).toEqual({
      region: 'eu',
      content_type: 'application/json',
    });
  });

  test('a content_type the publisher gave wins over application/json', () => {
    expect(parsed('{"event_name":"t","msg":{"a":1},"metadata":{"content_type":"application/vnd.x+json"}}').metadata).toEqual({
      content_type: 'application/vnd.x+json',
    });
  });

  test('optional fields that are absent stay absent', () => {
    const input = parsed('{"event_name":"t","msg":"x"}');
    expect(input.messageId).toBeUndefined();
    expect(input.ttlSeconds).toBeUndefined();
    expect(input.metadata).toBeUndefined();
    expect(input.orderingKey).toBeUndefined();
  });

  test('a msg string with unicode and escapes is decoded', () => {
    expect(parsed('{"event_name":"t","msg":"line1\\nline2 \\u00e9 🎉"}').payload).toBe('line1\nline2 é 🎉');
  });
});

describe('malformed lines are BAD_FORMAT with a reason', () => {
  test.each([
    ['an empty line', '', /empty/],
    ['a whitespace-only line', ' \t  ', /empty/],
    ['a line without a colon', 'just some words', /event_name:msg/],
    ['invalid JSON', '{"event_name":"t","msg":', /invalid JSON/],
    ['JSON with trailing text', '{"event_name":"t","msg":"x"} extra', /invalid JSON/],
    ['a JSON object cut short', '{"event_name":"t"', /invalid JSON/],
    ['missing event_name', '{"msg":"x"}', /event_name/],
    ['event_name not a string', '{"event_name":5,"msg":"x"}', /event_name.*string/],
    ['event_name null', '{"event_name":null,"msg":"x"}', /event_name/],
    ['missing msg', '{"event_name":"t"}', /"msg" is missing/],
    ['message_id not a string', '{"event_name":"t","msg":"x","message_id":7}', /message_id.*string/],
    ['ttl a string', '{"event_name":"t","msg":"x","ttl":"60"}', /ttl/],
    ['ttl negative', '{"event_name":"t","msg":"x","ttl":-1}', /ttl/],
    ['ttl fractional', '{"event_name":"t","msg":"x","ttl":1.5}', /ttl/],
    ['metadata an array', '{"event_name":"t","msg":"x","metadata":["a"]}', /metadata.*object/],
    ['metadata a string', '{"event_name":"t","msg":"x","metadata":"eu"}', /metadata.*object/],
    ['metadata null', '{"event_name":"t","msg":"x","metadata":null}', /metadata.*object/],
    ['ordering_key not a string', '{"event_name":"t","msg":"x","ordering_key":1}', /ordering_key.*string/],
  ])('%s', (_name, line, reason) => {
    const e = refused(line);
    expect(e.code).toBe('BAD_FORMAT');
    expect(e.message).toMatch(reason);
  });

  test('a JSON array is BAD_FORMAT saying a JSON object is expected, even when it holds colons', () => {
    for (const line of ['["event_name","msg"]', '[{"event_name":"t","msg":"x"}]']) {
      const e = parsePublishLine(line);
      expect(e.isErr() ? e.error : e.value, line).toMatchObject({ code: 'BAD_FORMAT', message: expect.stringMatching(/JSON object/) });
    }
  });
});

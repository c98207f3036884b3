// W3C trace context carried through the broker (PROTOCOL.md §13): a publish's `traceparent` and `tracestate`,
// as HTTP headers or in metadata on any JSON form, are kept in the message's metadata and handed on with it:
// in WebSocket frames, SSE events, the log as the API reads it, replays, and as the headers of an http:// push.
import { describe, expect, test } from 'vitest';
import { parseTraceContext } from '../../src/protocol/trace-context.js';
import { startEndpoint } from '../helpers/consumers.js';
import { sseConnect, startApi } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const STATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';

type Json = Record<string, unknown>;

describe('trace context', () => {
  test('from the headers of POST /api/publish into the metadata, and on to every reader', async () => {
    const bus = await startApi(scope, 'sqlite');
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    const sub = await ws.subscribe({ pattern: 'orders.*' });
    const stream = await sseConnect(bus.app.ports.http, '/api/subscribe?pattern=orders.*');
    scope.defer(() => stream.close());

    const one = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.created', payload: 'one' }, { traceparent: PARENT, tracestate: STATE });
    expect(one.status).toBe(200);
    const stored = await bus.call<Json>('GET', `/api/messages/${one.body.seq}`);
    expect(stored.body['metadata']).toMatchObject({ traceparent: PARENT, tracestate: STATE });
    expect((await ws.messages(sub, 1))[0]!.metadata).toMatchObject({ traceparent: PARENT, tracestate: STATE });
    expect(JSON.parse((await stream.take(1))[0]!.data)).toMatchObject({ metadata: { traceparent: PARENT, tracestate: STATE } });

    // A batch: the headers go to each message that carries no trace context of its own.
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const batch = await bus.call<{ seqs: number[] }>(
      'POST',
      '/api/publish',
      { messages: [{ topic: 'orders.a', payload: '1' }, { topic: 'orders.b', payload: '2', metadata: { traceparent: own } }] },
      { traceparent: PARENT },
    );
    const [first, second] = await Promise.all(batch.body.seqs.map(async (seq) => (await bus.call<Json>('GET', `/api/messages/${seq}`)).body['metadata'] as Json));
    expect([first!['traceparent'], second!['traceparent']]).toEqual([PARENT, own]);
    expect(second!['tracestate']).toBeUndefined();

    // One that is not a traceparent is not kept, and its tracestate with it.
    const bad = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.c', payload: '3' }, { traceparent: '00-123-456-01', tracestate: STATE });
    const badMeta = (await bus.call<Json>('GET', `/api/messages/${bad.body.seq}`)).body['metadata'] as Json;
    expect([badMeta['traceparent'], badMeta['tracestate']]).toEqual([undefined, undefined]);

    // A replay hands it on as the live delivery did.
    const replay = await ws.subscribe({ pattern: 'orders.created', starting_seq: 1 });
    expect((await ws.messages(replay, 1))[0]!.metadata).toMatchObject({ traceparent: PARENT, tracestate: STATE });
  });

  test('an http:// push carries the message\'s trace context as headers, from any front-end\'s metadata', async () => {
    const bus = await startApi(scope, 'sqlite');
    const target = await startEndpoint('http');
    scope.defer(() => target.stop());
    expect((await bus.call('PUT', '/api/consumers/traced', { address: target.url, patterns: ['orders.*'] })).status).toBe(200);
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    await ws.publish({ topic: 'orders.created', payload: 'traced', metadata: { traceparent: PARENT, tracestate: STATE } });
    await ws.publish({ topic: 'orders.created', payload: 'plain' });
    await target.waitFor(2);
    const [traced, plain] = target.received;
    expect(traced!.request!.headers).toMatchObject({ traceparent: PARENT, tracestate: STATE });
    expect(plain!.request!.headers['traceparent']).toBeUndefined();
  });
});

describe('parseTraceContext', () => {
  test('what W3C Trace Context has a receiver take, and what it has it drop', () => {
    expect(parseTraceContext(PARENT, STATE)).toEqual({ traceparent: PARENT, tracestate: STATE });
    expect(parseTraceContext(` ${PARENT.toUpperCase()} `, undefined)).toEqual({ traceparent: PARENT });
    for (const bad of ['', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, 'zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) {
      expect(parseTraceContext(bad, STATE), bad).toBeUndefined();
    }
    // A tracestate an HTTP header could not carry as it is, or far past what vendors keep, is dropped.
    expect(parseTraceContext(PARENT, 'a=1\nb=2')).toEqual({ traceparent: PARENT });
    expect(parseTraceContext(PARENT, `a=${'x'.repeat(9000)}`)).toEqual({ traceparent: PARENT });
  });
});

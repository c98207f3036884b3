// CloudEvents 1.0 into the log over POST /api/publish (PROTOCOL.md §13), sent with the `cloudevents` SDK as a
// user's program sends them: binary, structured and batch mode; the topic from ?topic= or the event's type; the
// id as message_id (the same event twice stored once); datacontenttype as the content type; the other
// attributes and extensions in metadata.cloudevents; the distributed-tracing extension as the trace context.
import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, test } from 'vitest';
import { sseConnect, startApi, type ApiBus } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';

const scope = testScope();
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

type Json = Record<string, unknown>;

async function post(bus: ApiBus, message: { headers: Record<string, unknown>; body: unknown }, query = ''): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${bus.base}/api/publish${query}`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  return { status: res.status, body: (await res.json()) as Json };
}

const stored = async (bus: ApiBus, seq: unknown): Promise<Json> => (await bus.call<Json>('GET', `/api/messages/${String(seq)}`)).body;

describe('CloudEvents out: GET /api/subscribe?format=cloudevents', () => {
  test("each event's data is the message as a structured CloudEvent the SDK reads", async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_NODE_ID: 'node-a:7' });
    const stream = await sseConnect(bus.app.ports.http, '/api/subscribe?pattern=orders.*&format=cloudevents');
    scope.defer(() => stream.close());
    await bus.call('POST', '/api/publish', { topic: 'orders.created', payload: { id: 7 }, message_id: 'order-7', metadata: { traceparent: PARENT } });
    const plain = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.noted', payload: 'just text' });
    const [first, second] = (await stream.take(2)).map((e) => HTTP.toEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: e.data }) as CloudEvent<unknown>);
    expect(first).toMatchObject({ specversion: '1.0', id: 'order-7', source: 'node-a%3A7', type: 'orders.created', datacontenttype: 'application/json', data: { id: 7 }, sequence: '1', traceparent: PARENT });
    expect(second).toMatchObject({ id: `eventbus-${plain.body.seq}`, type: 'orders.noted', datacontenttype: 'text/plain', data: 'just text', sequence: String(plain.body.seq) });
    expect(Date.parse(first!.time!)).toBeGreaterThan(0);
  });
});

describe('CloudEvents on POST /api/publish', () => {
  test('binary mode: the headers are the attributes, the body the data; the same event twice is stored once', async () => {
    const bus = await startApi(scope, 'sqlite');
    const event = new CloudEvent({ type: 'orders.created', source: '/shop', id: 'order-7', subject: 'order/7', data: { id: 7 }, traceparent: PARENT, region: 'eu' });
    const first = await post(bus, HTTP.binary(event));
    expect(first).toMatchObject({ status: 200, body: { message_id: 'order-7', duplicate: false } });
    expect(await post(bus, HTTP.binary(event))).toMatchObject({ status: 200, body: { seq: first.body['seq'], duplicate: true } });
    const message = await stored(bus, first.body['seq']);
    expect(message).toMatchObject({ topic: 'orders.created', payload: '{"id":7}', message_id: 'order-7' });
    expect(message['metadata']).toEqual({
      content_type: 'application/json; charset=utf-8',
      cloudevents: { source: '/shop', subject: 'order/7', time: event.time, traceparent: PARENT, region: 'eu' },
      traceparent: PARENT,
      timestamp: expect.any(Number) as number,
    });
    // Text data, and the topic from the query rather than the type.
    const text = new CloudEvent({ type: 'com.example.note', source: '/notes', data: 'plain words', datacontenttype: 'text/plain' });
    const noted = await post(bus, HTTP.binary(text), '?topic=notes.added');
    expect(await stored(bus, noted.body['seq'])).toMatchObject({ topic: 'notes.added', payload: 'plain words', message_id: text.id, metadata: { content_type: 'text/plain' } });
  });

  test('structured mode, and a batch stored all or none', async () => {
    const bus = await startApi(scope, 'sqlite');
    const event = new CloudEvent({ type: 'orders.paid', source: '/shop', id: 'paid-7', data: { id: 7, total: 12.5 } });
    const one = await post(bus, HTTP.structured(event));
    expect(one.status).toBe(200);
    expect(await stored(bus, one.body['seq'])).toMatchObject({ topic: 'orders.paid', payload: '{"id":7,"total":12.5}', message_id: 'paid-7', metadata: { content_type: 'application/json', cloudevents: { source: '/shop' } } });

    const events = ['a', 'b', 'c'].map((id) => new CloudEvent({ type: 'orders.shipped', source: '/shop', id: `ship-${id}`, data: id }));
    const batch = await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events.map((e) => e.toJSON())) });
    expect(batch).toMatchObject({ status: 200, body: { message_ids: ['ship-a', 'ship-b', 'ship-c'] } });
    const head = (await bus.call<{ head_seq: number }>('GET', '/api/stats')).body.head_seq;
    // One bad event refuses the whole batch: nothing stored.
    const bad = [new CloudEvent({ type: 'orders.shipped', source: '/shop', data: 'd' }).toJSON(), { specversion: '1.0', id: 'x', source: '/shop', type: 'not a topic' }];
    const refused = await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(bad) });
    expect(refused).toMatchObject({ status: 400, body: { code: 'BAD_TOPIC' } });
    expect((refused.body['message'] as string).startsWith('event 1: ')).toBe(true);
    expect((await bus.call<{ head_seq: number }>('GET', '/api/stats')).body.head_seq).toBe(head);
  });

  test('what is not a CloudEvent is refused with a code that says why', async () => {
    const bus = await startApi(scope, 'sqlite');
    const structured = (body: string) => post(bus, { headers: { 'content-type': 'application/cloudevents+json' }, body });
    expect((await structured('{nope')).body).toMatchObject({ code: 'BAD_FORMAT' });
    expect((await structured('{"specversion":"0.3","id":"1","source":"/s","type":"a"}')).body).toMatchObject({ code: 'BAD_ARGS', message: 'specversion must be "1.0" (got "0.3")' });
    expect((await structured('{"specversion":"1.0","id":"1","type":"a"}')).body).toMatchObject({ code: 'BAD_ARGS', message: 'a CloudEvent needs a non-empty source' });
    expect((await structured('{"specversion":"1.0","id":"1","source":"/s","type":"a","data_base64":"/w=="}')).body).toMatchObject({ code: 'BAD_ARGS' });
    expect((await structured('{"specversion":"1.0","id":"1","source":"/s","type":"a","data_base64":"aGk="}')).status).toBe(200);
    expect((await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '{}' })).body).toMatchObject({ code: 'BAD_FORMAT' });
    expect((await post(bus, { headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'content-type': 'text/plain' }, body: 'x' })).body).toMatchObject({ code: 'BAD_ARGS', message: 'a CloudEvent needs a non-empty type' });
  });
});

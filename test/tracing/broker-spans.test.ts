// The broker's spans (PROTOCOL.md §13), as a collector receives them: a broker process started with the
// standard OTEL_EXPORTER_OTLP_ENDPOINT exports, over OTLP/HTTP, a publish span that is a child of the
// publisher's traceparent and a span per delivery attempt linked to the message's context, with the messaging
// conventions' attributes and error.type on a nack and a dead letter. A message published with no context
// carries the publish span's on, and its deliveries link to it.
import { afterEach, describe, expect, test } from 'vitest';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { until } from '../helpers/until.js';
import { wsConnect, type WsClient } from '../helpers/ws-client.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const SERVER = 2;
const PRODUCER = 4;
const ERROR = 2;

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
let receiver: OtlpReceiver | undefined;
let ws: WsClient | undefined;
afterEach(async () => {
  await ws?.close();
  await killIfRunning(bus);
  await receiver?.stop();
  await dir?.cleanup();
});

async function publish(port: number, body: object, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { seq: number }).seq;
}

describe('spans of the broker over OTLP/HTTP', () => {
  test('a publish span under the publisher\'s traceparent, and a span per delivery attempt linked to the message', async () => {
    receiver = await startOtlpReceiver();
    dir = await tempDir();
    bus = await startBrokerProcess({
      ...dir.env,
      EVENTBUS_NODE_ID: 'traced-node',
      EVENTBUS_MAX_DELIVERIES: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    expect(bus.logs.some((l) => l.msg.startsWith('tracing: spans exported'))).toBe(true);
    ws = await wsConnect(bus.ports.http);
    const sub = await ws.subscribe({ pattern: 'orders.*', consumer: 'auditors' });

    // Given a context: nacked twice, so the second attempt is the last and dead-letters it.
    const traced = await publish(bus.ports.http, { topic: 'orders.created', payload: { n: 1 }, message_id: 'order-1' }, { traceparent: `00-${TRACE}-${PARENT}-01` });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const [m] = await ws.messages(sub, 1);
      expect([m!.seq, m!.delivery]).toEqual([traced, attempt]);
      ws.send({ type: 'nack', subscription: sub, seq: traced });
    }
    // Without one: acked.
    const plain = await publish(bus.ports.http, { topic: 'orders.paid', payload: { n: 2 } });
    const [m] = await ws.messages(sub, 1);
    expect(m!.seq).toBe(plain);
    ws.send({ type: 'ack', subscription: sub, seq: plain });

    const spans = receiver.spans;
    const named = (name: string): ReceivedSpan[] => spans.filter((s) => s.name === name);
    await until(
      () => `the spans: ${JSON.stringify(spans.map((s) => s.name))}`,
      () => named('publish orders.created').length === 1 && named('deliver orders.created').length === 2 && named('publish orders.paid').length === 1 && named('deliver orders.paid').length === 1,
    );
    expect(receiver.refused).toEqual([]);

    const [publishTraced] = named('publish orders.created');
    expect(publishTraced).toMatchObject({
      traceId: TRACE,
      parentSpanId: PARENT,
      kind: SERVER,
      status: { code: 0 },
      attributes: {
        'messaging.system': 'eventbus',
        'messaging.destination.name': 'orders.created',
        'messaging.message.id': 'order-1',
        'messaging.operation.type': 'send',
        'messaging.eventbus.seq': traced,
      },
      resource: { 'service.name': 'eventbus', 'service.instance.id': 'traced-node' },
    });
    expect(publishTraced!.attributes['messaging.eventbus.created_at']).toBeTypeOf('number');

    const attempts = named('deliver orders.created').sort((a, b) => Number(a.attributes['messaging.eventbus.delivery']) - Number(b.attributes['messaging.eventbus.delivery']));
    for (const [i, span] of attempts.entries()) {
      expect(span).toMatchObject({
        kind: PRODUCER,
        parentSpanId: '',
        links: [{ traceId: TRACE, spanId: PARENT }],
        status: { code: ERROR },
        attributes: {
          'messaging.system': 'eventbus',
          'messaging.destination.name': 'orders.created',
          'messaging.message.id': 'order-1',
          'messaging.consumer.group.name': 'auditors',
          'messaging.eventbus.delivery': i + 1,
        },
      });
    }
    expect(attempts.map((s) => s.attributes['error.type'])).toEqual(['nack', 'dead_letter']);

    // The plain message carries the publish span's context, and its delivery links to it.
    const [publishPlain] = named('publish orders.paid');
    expect(publishPlain!.parentSpanId).toBe('');
    const stored = (await (await fetch(`http://127.0.0.1:${bus.ports.http}/api/messages/${plain}`)).json()) as { metadata: Record<string, unknown> };
    expect(stored.metadata['traceparent']).toBe(`00-${publishPlain!.traceId}-${publishPlain!.spanId}-01`);
    const [delivered] = named('deliver orders.paid');
    expect(delivered).toMatchObject({ links: [{ traceId: publishPlain!.traceId, spanId: publishPlain!.spanId }], status: { code: 0 }, attributes: { 'messaging.message.id': `eventbus-${plain}` } });
    expect(delivered!.attributes['error.type']).toBeUndefined();
  });
});

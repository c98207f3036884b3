// The client's spans (PROTOCOL.md §13) as a program that registered the OpenTelemetry SDK gets them, end to
// end with the broker's, all received by one OTLP/HTTP collector: the client's producer span is a child of
// the caller's active span and its context travels in the message; the broker's publish span is a child of
// it, its delivery spans and the client's consumer span link to it, and the work a handler runs in
// `withTrace` is a child of the consumer span.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connect, type EventBusClient } from '../../src/client/index.js';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { until } from '../helpers/until.js';

const PRODUCER = 4;
const CONSUMER = 5;

let receiver: OtlpReceiver;
let provider: BasicTracerProvider;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${receiver.endpoint}/v1/traces` }))] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  await receiver.stop();
});

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
let client: EventBusClient | undefined;
afterEach(async () => {
  client?.close();
  await killIfRunning(bus);
  await dir?.cleanup();
});

describe('the client\'s spans with the OpenTelemetry API and a tracer provider registered', () => {
  test('producer span under the caller\'s, its context in the message; consumer span linked to it; the broker\'s between', async () => {
    dir = await tempDir();
    bus = await startBrokerProcess({ ...dir.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50' });
    client = await connect(`ws://127.0.0.1:${bus.ports.http}/ws`);
    const sub = await client.subscribe('orders.*', { consumer: 'auditors' });
    const tracer = trace.getTracer('checkout-service');

    const checkout = tracer.startSpan('checkout');
    const seq = await context.with(trace.setSpan(context.active(), checkout), () => client!.publish('orders.created', { n: 1 }, { messageId: 'order-7' }));
    checkout.end();
    const message = (await sub.next(10_000))!;
    expect(message.seq).toBe(seq);
    message.withTrace(() => tracer.startSpan('apply order').end());
    message.ack();

    const spans = receiver.spans;
    const one = (name: string, kind?: number): ReceivedSpan | undefined => spans.find((s) => s.name === name && (kind === undefined || s.kind === kind));
    await until(
      () => `the spans: ${JSON.stringify(spans.map((s) => `${s.name} (${s.kind})`))}`,
      () => ['checkout', 'apply order', 'deliver orders.created'].every((n) => one(n) !== undefined) && one('publish orders.created', PRODUCER) !== undefined && one('process orders.created', CONSUMER) !== undefined && spans.filter((s) => s.name === 'publish orders.created').length === 2,
    );
    const root = one('checkout')!;
    const produced = one('publish orders.created', PRODUCER)!;
    expect(produced).toMatchObject({
      traceId: root.traceId,
      parentSpanId: root.spanId,
      attributes: { 'messaging.system': 'eventbus', 'messaging.destination.name': 'orders.created', 'messaging.operation.type': 'send', 'messaging.message.id': 'order-7', 'messaging.eventbus.seq': seq },
    });
    expect(message.metadata['traceparent']).toBe(`00-${produced.traceId}-${produced.spanId}-01`);

    const stored = spans.find((s) => s.name === 'publish orders.created' && s.kind !== PRODUCER)!;
    expect(stored).toMatchObject({ traceId: root.traceId, parentSpanId: produced.spanId, resource: { 'service.name': 'eventbus' } });
    const toProducer = [{ traceId: produced.traceId, spanId: produced.spanId }];
    expect(one('deliver orders.created')!.links).toEqual(toProducer);

    const processed = one('process orders.created', CONSUMER)!;
    expect(processed).toMatchObject({
      links: toProducer,
      status: { code: 0 },
      attributes: { 'messaging.operation.type': 'process', 'messaging.consumer.group.name': 'auditors', 'messaging.eventbus.seq': seq, 'messaging.eventbus.delivery': 1 },
    });
    expect(one('apply order')).toMatchObject({ traceId: processed.traceId, parentSpanId: processed.spanId });
  });
});

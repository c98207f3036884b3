// The client's spans (PROTOCOL.md §13) through @opentelemetry/api, an optional peer dependency: looked for
// once, when the first client is made. Without it nothing is made and nothing changes; with it, the spans go
// to whatever tracer provider the program registered (none registered: the API's no-op one).
// The declarations here name none of the API's types: the client's published types must compile where the
// API is not installed.
import type { SpanContext } from '@opentelemetry/api';
import type { MessageFrame } from '../protocol/client-frames.js';

type OtelApi = typeof import('@opentelemetry/api');
type Metadata = Readonly<Record<string, unknown>> | undefined;

const NAME = 'eventbus-broker-client';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A publish's producer span: its context goes in the message's metadata. */
export interface PublishSpan {
  readonly metadata: Metadata;
  /** Stored (seq), or scheduled for later (no seq yet). */
  published(seq: number | undefined): void;
  failed(error: unknown): void;
}

/** A received message's consumer span: ended when the message is acked, nacked or left behind. */
export interface ProcessSpan {
  end(nacked?: boolean): void;
  /** Runs `work` with the span as the active one, so that the spans `work` makes are its children. */
  run<T>(work: () => T): T;
}

export interface ClientTracing {
  publish(topic: string, messageId: string, metadata: Metadata): PublishSpan;
  /** Undefined when no tracer provider is registered: there is nothing to end or run in. */
  process(frame: MessageFrame, delivery: number, consumer: string | undefined): ProcessSpan | undefined;
}

let api: OtelApi | undefined;
let looking: Promise<void> | undefined;

/** Looks for @opentelemetry/api once; resolves when the answer is known. */
export function findTracing(): Promise<void> {
  looking ??= import('@opentelemetry/api').then(
    (found) => {
      api = found;
    },
    () => undefined,
  );
  return looking;
}

/** The spans to make, when @opentelemetry/api was found. */
export function clientTracing(): ClientTracing | undefined {
  return api === undefined ? undefined : (tracing ??= otelTracing(api));
}
let tracing: ClientTracing | undefined;

function otelTracing(otel: OtelApi): ClientTracing {
  const { trace, context, SpanKind, SpanStatusCode, ROOT_CONTEXT } = otel;
  const tracer = (): ReturnType<typeof trace.getTracer> => trace.getTracer(NAME);
  const base = (topic: string, operation: 'send' | 'process'): Record<string, string> => ({
    'messaging.system': 'eventbus',
    'messaging.destination.name': topic,
    'messaging.operation.type': operation,
    'messaging.operation.name': operation === 'send' ? 'publish' : 'process',
  });
  return {
    publish(topic, messageId, metadata) {
      const span = tracer().startSpan(`publish ${topic}`, { kind: SpanKind.PRODUCER, attributes: { ...base(topic, 'send'), 'messaging.message.id': messageId } });
      const sc = span.spanContext();
      // A context the caller put in the metadata is the message's own and stays.
      const carried = typeof metadata?.['traceparent'] === 'string' || !trace.isSpanContextValid(sc);
      const traceparent = `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}`;
      const tracestate = sc.traceState?.serialize();
      return {
        metadata: carried ? metadata : { ...metadata, traceparent, ...(tracestate ? { tracestate } : {}) },
        published(seq) {
          if (seq !== undefined) span.setAttribute('messaging.eventbus.seq', seq);
          span.end();
        },
        failed(error) {
          const code = (error as { code?: unknown }).code;
          span.setAttribute('error.type', typeof code === 'string' ? code : 'Error');
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
          span.end();
        },
      };
    },
    process(frame, delivery, consumer) {
      const origin = linkOf(otel, frame.metadata);
      const span = tracer().startSpan(`process ${frame.topic}`, { kind: SpanKind.CONSUMER, links: origin === undefined ? [] : [{ context: origin }] }, ROOT_CONTEXT);
      // The API's no-op tracer (no provider registered): every message would carry a span that does nothing.
      if (!span.isRecording() && !trace.isSpanContextValid(span.spanContext())) return undefined;
      span.setAttributes({
        ...base(frame.topic, 'process'),
        'messaging.message.id': frame.message_id ?? `eventbus-${frame.seq}`,
        'messaging.eventbus.seq': frame.seq,
        'messaging.eventbus.delivery': delivery,
        ...(consumer === undefined ? {} : { 'messaging.consumer.group.name': consumer }),
      });
      let ended = false;
      return {
        end(nacked) {
          if (ended) return;
          ended = true;
          if (nacked === true) {
            span.setAttribute('error.type', 'nack');
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        },
        run: (work) => context.with(trace.setSpan(context.active(), span), work),
      };
    },
  };
}

/** The span context a message's metadata carries (traceparent, tracestate), to link to. */
function linkOf(otel: OtelApi, metadata: Metadata): SpanContext | undefined {
  const value = metadata?.['traceparent'];
  const parts = typeof value === 'string' ? TRACEPARENT.exec(value) : null;
  if (parts === null) return undefined;
  const state = metadata?.['tracestate'];
  const sc: SpanContext = { traceId: parts[1]!, spanId: parts[2]!, traceFlags: parseInt(parts[3]!, 16), isRemote: true, ...(typeof state === 'string' ? { traceState: otel.createTraceState(state) } : {}) };
  return otel.trace.isSpanContextValid(sc) ? sc : undefined;
}
